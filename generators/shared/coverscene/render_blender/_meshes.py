"""Unit-shape meshes for the Blender renderer (pure numpy, no bpy).

The occluder shapes of :mod:`generators.shared.coverscene.scene` (cube, sheet, sphere,
cylinder, cone, torus) as polygon meshes with the analytic normals and (u, v)
of the scene docstring, finely enough tessellated that the chord error stays
below ~0.05 pixel.
"""

from __future__ import annotations

import math

import numpy as np

from generators.shared.coverscene.scene import SHAPES


def _segments(h: int, w: int) -> int:
    """Segments around curved shapes: the chord error stays below ~0.05 pixel."""
    return int(np.clip(math.ceil(max(h, w) / 256 * 96), 64, 512))


def _grid(fn, nu: int, nv: int):
    """Vertices, normals, uvs and quads of a (u, v) grid surface ``fn(s, t)``, s, t in [0, 1]."""
    s, t = np.meshgrid(np.linspace(0.0, 1.0, nu + 1), np.linspace(0.0, 1.0, nv + 1), indexing="ij")
    p, n = fn(s, t)
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    quads = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    return p.reshape(-1, 3), n.reshape(-1, 3), np.stack([s, t], -1).reshape(-1, 2), quads


def _disc(z: float, nseg: int, normal_z: float):
    """A cap at height z: a centre vertex and a ring, uv ((x + 1) / 2, (y + 1) / 2)."""
    a = np.linspace(-math.pi, math.pi, nseg + 1)[:-1]
    p = np.concatenate([[[0.0, 0.0, z]], np.stack([np.cos(a), np.sin(a), np.full_like(a, z)], -1)])
    n = np.tile([0.0, 0.0, normal_z], (len(p), 1))
    uv = (p[:, :2] + 1.0) / 2.0
    k = np.arange(nseg)
    tris = np.stack([np.zeros(nseg, int), 1 + k, 1 + (k + 1) % nseg], -1)
    return p, n, uv, tris


def _box():
    """The cube [-1, 1]^3, four vertices per face, uv from the two other axes."""
    ps, ns, uvs, faces = [], [], [], []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for sign in (-1.0, 1.0):
            corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
            p = np.zeros((4, 3))
            p[:, axis] = sign
            p[:, others[0]], p[:, others[1]] = corners[:, 0], corners[:, 1]
            n = np.zeros((4, 3))
            n[:, axis] = sign
            ps.append(p)
            ns.append(n)
            uvs.append((corners + 1.0) / 2.0)
            faces.append(np.arange(4)[None])
    verts, normals, uvs, faces = _merge(list(zip(ps, ns, uvs, faces)))
    return verts, normals, uvs, np.concatenate(faces)


def _merge(parts):
    """Concatenate ``(verts, normals, uvs, faces)`` parts; faces (F, k) index their own part."""
    verts, normals, uvs, faces, offset = [], [], [], [], 0
    for p, n, uv, f in parts:
        verts.append(p)
        normals.append(n)
        uvs.append(uv)
        faces.append(np.asarray(f) + offset)
        offset += len(p)
    return np.concatenate(verts), np.concatenate(normals), np.concatenate(uvs), faces


def _orient(verts: np.ndarray, normals: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Wind every face (F, 3|4) so that its geometric normal points along the analytic normals.

    Quads that touch a pole or the cone's apex are degenerate (two corners at
    the same place); they stay quads: Cycles' triangulation gives them one
    zero-area triangle, which no ray ever hits.
    """
    p = verts[faces]
    if faces.shape[1] == 4:
        geo = np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1])
    else:
        geo = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    flip = np.einsum("fk,fk->f", geo, normals[faces].sum(1)) < 0
    faces = faces.copy()
    faces[flip] = faces[flip, ::-1]
    return faces


def _unit_mesh(shape: str, minor_radius: float, segments: int):
    """Vertices (V, 3), unit normals (V, 3), uvs (V, 2) and faces of a unit shape.

    The shapes, normals and (u, v) are those of the scene docstring; seam
    vertices are duplicated so the uvs never wrap inside a face.
    """
    nu, nv = segments, max(8, segments // 2)
    two_pi = 2.0 * math.pi
    if shape in ("cube", "sheet"):
        parts = [_box()]
    elif shape == "sphere":
        def sphere(s, t):
            phi, lat = -math.pi + two_pi * s, -math.pi / 2 + math.pi * t
            p = np.stack([np.cos(lat) * np.cos(phi), np.cos(lat) * np.sin(phi), np.sin(lat)], -1)
            return p, p

        parts = [_grid(sphere, nu, nv)]
    elif shape == "cylinder":
        def side(s, t):
            phi = -math.pi + two_pi * s
            n = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], -1)
            return n + np.stack([0 * s, 0 * s, -1.0 + 2.0 * t], -1), n

        parts = [_grid(side, nu, 2), _disc(1.0, nu, 1.0), _disc(-1.0, nu, -1.0)]
    elif shape == "cone":
        def side(s, t):
            phi, z = -math.pi + two_pi * s, -1.0 + 2.0 * t
            rho = (1.0 - z) / 2.0
            p = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], -1)
            n = np.stack([np.cos(phi), np.sin(phi), np.full_like(phi, 0.5)], -1)
            return p, n / np.linalg.norm(n, axis=-1, keepdims=True)

        parts = [_grid(side, nu, max(2, nv // 4)), _disc(-1.0, nu, -1.0)]
    elif shape == "torus":
        m = minor_radius

        def torus(s, t):
            phi, psi = -math.pi + two_pi * s, -math.pi + two_pi * t
            n = np.stack([np.cos(psi) * np.cos(phi), np.cos(psi) * np.sin(phi), np.sin(psi)], -1)
            ring = np.stack([np.cos(phi), np.sin(phi), 0 * phi], -1)
            return ring + m * n, n

        parts = [_grid(torus, nu, nv)]
    else:
        raise ValueError(f"unknown occluder shape {shape!r}; choose from {list(SHAPES)}")
    verts, normals, uvs, faces = _merge(parts)
    normals = normals / np.linalg.norm(normals, axis=-1, keepdims=True)
    return verts, normals, uvs, [face.tolist() for f in faces for face in _orient(verts, normals, f)]
