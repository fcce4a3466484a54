"""Triangle meshes of the street scenes' primitives (the apply step of :mod:`generators.shared.streets.scene`).

A primitive is a JSON-able dict with a ``kind``, a CARLA ``tag`` and
``dynamic`` (see :mod:`generators.shared.streets.scene` for the coordinates):

* ``box``: ``centre`` (x, y, z), ``size`` (x, y, z);
* ``cylinder``: ``centre``, ``radius``, ``height`` (along the local y axis);
* ``cone``: ``centre`` (of its base), ``radius``, ``height`` (apex up the local y axis);
* ``ellipsoid``: ``centre``, ``radii``;
* ``prism``: ``centre``, ``profile`` (a convex polygon, counter-clockwise,
  in the local (z, y) plane: z forward, y up), ``width`` (along local x);
* ``strip``: ``left`` and ``right`` polylines of equal length (world
  points); the surface between them, visible from both sides.

Every kind but ``strip`` takes optional ``yaw`` (about y), ``pitch`` (about
the local x axis) and ``roll`` (about the local z axis), in radians, applied
as R = R_y(yaw) R_x(pitch) R_z(roll) to the unit template, after scaling.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["build_geometry"]

_TEMPLATES: dict | None = None


def _templates() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Unit templates (vertices, triangles): a box of side 1, a 12-sided cylinder of radius 1 and
    height 1 along y, a 12-sided cone of radius 1 and height 1 (base at y = 0), an icosphere of radius 1."""
    import trimesh

    box = trimesh.creation.box(extents=(1, 1, 1))
    to_y = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # trimesh's run along z
    cyl = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=12)
    cyl.apply_transform(to_y)
    cone = trimesh.creation.cone(radius=1.0, height=1.0, sections=12)
    cone.apply_transform(to_y)
    ico = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    return {k: (np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.uint32))
            for k, m in (("box", box), ("cylinder", cyl), ("cone", cone), ("ellipsoid", ico))}


def _rotation(p: dict) -> np.ndarray:
    a, b, c = p.get("yaw", 0.0), p.get("pitch", 0.0), p.get("roll", 0.0)
    m = np.eye(3)
    if c:
        m = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    if b:
        m = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]]) @ m
    if a:
        m = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]) @ m
    return m


def _prism(profile: list, width: float) -> tuple[np.ndarray, np.ndarray]:
    """A convex (z, y) polygon extruded along x, centred on x = 0."""
    pts = np.asarray(profile, np.float64)
    n = len(pts)
    left = np.column_stack([np.full(n, -width / 2), pts[:, 1], pts[:, 0]])
    right = np.column_stack([np.full(n, width / 2), pts[:, 1], pts[:, 0]])
    verts = np.concatenate([left, right])
    faces = []
    for i in range(1, n - 1):  # caps as fans
        faces += [(0, i, i + 1), (n, n + i, n + i + 1)]
    for i in range(n):  # sides
        j = (i + 1) % n
        faces += [(i, j, n + j), (i, n + j, n + i)]
    faces = np.asarray(faces, np.uint32)
    return verts, np.concatenate([faces, faces[:, ::-1]])  # both windings: right whatever the profile's order


def _strip(left: list, right: list) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(left, np.float64), np.asarray(right, np.float64)
    n = len(a)
    verts = np.concatenate([a, b])
    i = np.arange(n - 1)
    one = np.column_stack([i, n + i, i + 1])
    two = np.column_stack([n + i, n + i + 1, i + 1])
    faces = np.concatenate([one, two])
    return verts, np.concatenate([faces, faces[:, ::-1]]).astype(np.uint32)  # both windings: never culled


def build_geometry(prims: list[dict]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Triangle soup per tag: ``{tag: (vertices (V, 3) float32, triangles (F, 3) uint32)}``.

    Each primitive is a unit template scaled, rotated and moved (or, for
    ``prism`` and ``strip``, built from its points); plain numpy. Within a
    tag, triangles keep the order of ``prims``.
    """
    global _TEMPLATES
    if _TEMPLATES is None:
        _TEMPLATES = _templates()
    parts: dict[int, list] = {}
    for p in prims:
        kind = p["kind"]
        if kind == "strip":
            parts.setdefault(p["tag"], []).append(_strip(p["left"], p["right"]))
            continue
        if kind == "prism":
            v, f = _prism(p["profile"], p["width"])
            s = np.eye(3)
        else:
            v, f = _TEMPLATES[kind]
            if kind == "box":
                s = np.diag(p["size"])
            elif kind in ("cylinder", "cone"):
                s = np.diag([p["radius"], p["height"], p["radius"]])
            else:
                s = np.diag(p["radii"])
        m = _rotation(p) @ s
        parts.setdefault(p["tag"], []).append((v @ m.T + np.asarray(p["centre"]), f))
    out = {}
    for tag in sorted(parts):
        items = parts[tag]
        offsets = np.cumsum([0] + [len(v) for v, _ in items[:-1]])
        verts = np.concatenate([v for v, _ in items]).astype(np.float32)
        faces = np.concatenate([f + np.uint32(o) for (_, f), o in zip(items, offsets)])
        out[tag] = (verts, faces)
    return out
