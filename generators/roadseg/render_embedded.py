"""Render a roadseg scene offscreen with pyrender (OpenGL through EGL; Mesa here).

Labels are rendered in pyrender's segmentation mode: every mesh (one per
CARLA tag) is drawn flat in a colour whose red channel is its tag, with no
lighting or anti-aliasing, so each pixel holds exactly one tag; pixels that
no mesh covers are sky (tag 11). The static map draws only the static
meshes, the populated map all of them, from the same camera object in the
same scene, so the two are pixel-aligned by construction. Depth (metres
along the optical axis, 0 for sky) comes from the populated render; the
shaded RGB extra colours each class with CARLA's palette, lit by a fixed sun
from normals estimated from the depth map (Lambert) with distance haze.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # headless: before pyrender imports OpenGL

import numpy as np

from generators.roadseg.classes import CARLA_CLASSES
from generators.roadseg.scene import build_geometry

__all__ = ["render_scene", "camera_pose"]

SKY = 11
_RENDERERS: dict[tuple[int, int], object] = {}
_PALETTE = np.zeros((256, 3), np.float32)
for _c in CARLA_CLASSES:
    _PALETTE[_c.id] = _c.color


def camera_pose(cam: dict) -> np.ndarray:
    """4x4 camera-to-world pose (OpenGL convention: the camera looks down its -z)."""
    import trimesh

    yaw, pitch, roll = (np.deg2rad(cam[k]) for k in ("yaw_deg", "pitch_deg", "roll_deg"))
    r = trimesh.transformations.euler_matrix(yaw, pitch, roll, axes="ryxz")
    r[:3, 3] = cam["position"]
    return r


def _draw_in_name_order(self, scene) -> list:
    """Replaces pyrender's ``Renderer._sorted_mesh_nodes``: every mesh node in
    the order of its name. pyrender sorts nodes by the distance of their pose
    to the camera, ties kept in the iteration order of ``scene.mesh_nodes``, a
    ``set`` of nodes hashed by ``id()``; our nodes all sit at the origin, so the
    draw order followed heap addresses and changed between processes. Where
    two tags' surfaces meet within one step of the depth buffer (a tree crown
    cutting into a far facade), the depth test keeps the first drawn, so that
    order decided the tag of the pixel."""
    return sorted(scene.mesh_nodes, key=lambda n: n.name)


def _renderer(h: int, w: int):
    import pyrender

    key = (h, w)
    if key not in _RENDERERS:  # one GL context per process and size, reused for every scene
        r = pyrender.OffscreenRenderer(w, h)
        inner = r._renderer
        if not hasattr(inner, "_sorted_mesh_nodes"):
            raise RuntimeError(f"pyrender {pyrender.__version__} has no Renderer._sorted_mesh_nodes: "
                               "roadseg's draw order cannot be fixed with this version")
        inner._sorted_mesh_nodes = _draw_in_name_order.__get__(inner)
        _RENDERERS[key] = r
    return _RENDERERS[key]


_STATIC_CACHE: list = [None, None]  # (the static primitive list, its geometry): the re-draw attempts share it


def _static_geometry(prims: list[dict]) -> dict:
    """``build_geometry`` of a scene's static primitives, kept for the last list seen (a pure function of
    it: the list object is held, so its id cannot be reused while cached)."""
    if _STATIC_CACHE[0] is not prims:
        _STATIC_CACHE[:] = [prims, build_geometry(prims)]
    return _STATIC_CACHE[1]


def render_scene(scene: dict, *, rgb: bool = True) -> dict[str, np.ndarray]:
    """Render ``scene`` (see :mod:`generators.roadseg.scene`).

    Returns
    -------
    dict with ``static`` and ``populated`` (H, W) uint8 CARLA tags, ``depth``
    (H, W) float32 metres (0 = sky), and ``rgb`` (H, W, 3) float32 in [0, 1]
    when asked.
    """
    import pyrender

    cam = scene["camera"]
    h, w = cam["size"]
    hfov = np.deg2rad(cam["hfov_deg"])
    yfov = 2 * np.arctan(np.tan(hfov / 2) * h / w)
    sc = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[1, 1, 1])
    static_nodes, dynamic_nodes = {}, {}
    for dynamic, prims, nodes in ((False, scene["static"], static_nodes), (True, scene["dynamic"], dynamic_nodes)):
        for tag, (verts, faces) in (build_geometry(prims) if dynamic else _static_geometry(prims)).items():
            # the name fixes the draw order (see _draw_in_name_order): static before dynamic, then by tag,
            # so where two surfaces tie in depth the static one and then the lower tag wins
            mesh = pyrender.Mesh([pyrender.Primitive(positions=verts, indices=faces, mode=4)])
            node = sc.add(mesh, name=f"{int(dynamic)}-{tag:03d}")
            nodes[node] = (tag, 255, 0)  # green marks "covered", so tag 0 differs from no mesh
    sc.add(pyrender.PerspectiveCamera(yfov=yfov, aspectRatio=w / h, znear=0.1, zfar=1000.0), pose=camera_pose(cam))
    r = _renderer(h, w)
    flags = pyrender.RenderFlags.SEG
    static_rgb, _ = r.render(sc, flags=flags, seg_node_map=static_nodes)
    pop_rgb, depth = r.render(sc, flags=flags, seg_node_map={**static_nodes, **dynamic_nodes})
    static = np.where(static_rgb[..., 1] == 255, static_rgb[..., 0], SKY).astype(np.uint8)
    populated = np.where(pop_rgb[..., 1] == 255, pop_rgb[..., 0], SKY).astype(np.uint8)
    out = {"static": static, "populated": populated, "depth": depth.astype(np.float32)}
    if rgb:
        out["rgb"] = shade(populated, out["depth"], yfov)
    return out


def shade(tags: np.ndarray, depth: np.ndarray, yfov: float) -> np.ndarray:
    """Class colours lit by a sun from normals of the depth map, with haze."""
    import cv2

    h, w = tags.shape
    f = np.float32((h / 2) / np.tan(yfov / 2))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    z = np.where(depth > 0, depth, np.float32(1000.0)).astype(np.float32)
    px, py, pz = (xs - w / 2) * z / f, -(ys - h / 2) * z / f, -z
    d = lambda a, dx, dy: cv2.Sobel(a, cv2.CV_32F, dx, dy, ksize=1)  # noqa: E731
    ax, ay, az = d(px, 1, 0), d(py, 1, 0), d(pz, 1, 0)  # tangent along x
    bx, by, bz = d(px, 0, 1), d(py, 0, 1), d(pz, 0, 1)  # tangent along y
    nx, ny, nz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
    norm = np.sqrt(nx * nx + ny * ny + nz * nz) + np.float32(1e-9)
    sun = np.array([0.4, 0.8, 0.45], np.float32)
    sun /= np.linalg.norm(sun)
    lit = 0.45 + 0.55 * np.clip(np.abs(nx * sun[0] + ny * sun[1] + nz * sun[2]) / norm, 0, 1)
    col = _PALETTE[tags] / 255.0 * lit[..., None]
    haze = 1 - np.exp(-z / 250.0)
    col = col * (1 - haze[..., None]) + np.array([0.75, 0.8, 0.85], np.float32) * haze[..., None]
    col[depth <= 0] = _PALETTE[SKY] / 255.0
    return np.clip(col, 0, 1).astype(np.float32)
