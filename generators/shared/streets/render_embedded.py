"""Render a street scene offscreen with pyrender (OpenGL through EGL; Mesa here).

Labels are rendered in pyrender's segmentation mode: every mesh (one per
CARLA tag) is drawn flat in a colour whose red channel is its tag, with no
lighting or anti-aliasing, so each pixel holds exactly one tag; pixels that
no mesh covers are sky (tag 11). The static meshes are drawn in one pass and the
dynamic ones in another, from the same camera; the populated map and the
depth (metres along the optical axis, 0 for sky) are the two composited by
depth (a dynamic pixel wins where strictly nearer), so the static and
populated maps are pixel-aligned by construction and agree wherever no road
user is in front. The static pass is shared by a scene's re-draw attempts. the
shaded RGB extra colours each class with CARLA's palette, lit by a fixed sun
from normals estimated from the depth map (Lambert) with distance haze.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # headless: before pyrender imports OpenGL

import numpy as np

from generators.shared.streets.classes import CARLA_CLASSES
from generators.shared.streets.scene import build_geometry

__all__ = ["render_scene", "render_layers", "dynamic_coverage", "camera_pose"]

SKY = 11
_RENDERERS: dict[tuple[int, int], object] = {}
_PALETTE = np.zeros((256, 3), np.float32)
for _c in CARLA_CLASSES:
    _PALETTE[_c.id] = _c.color
_PALETTE_U8 = _PALETTE.astype(np.uint8).reshape(256, 1, 3)


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
                               "the street renderer's draw order cannot be fixed with this version")
        inner._sorted_mesh_nodes = _draw_in_name_order.__get__(inner)
        _RENDERERS[key] = r
    return _RENDERERS[key]


def _render_layer(prims: list[dict], cam: dict, dynamic: bool) -> tuple[np.ndarray, np.ndarray]:
    """One offscreen pass over ``prims`` alone: (H, W) uint8 tags (SKY where nothing is drawn) and (H, W)
    float32 depth in metres along the optical axis (0 where nothing is drawn)."""
    import pyrender

    h, w = cam["size"]
    sc = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[1, 1, 1])
    nodes = {}
    for tag, (verts, faces) in build_geometry(prims).items():
        # the name fixes the draw order (see _draw_in_name_order): by tag, so where two surfaces tie in
        # depth the lower tag wins
        mesh = pyrender.Mesh([pyrender.Primitive(positions=verts, indices=faces, mode=4)])
        node = sc.add(mesh, name=f"{int(dynamic)}-{tag:03d}")
        nodes[node] = (tag, 255, 0)  # green marks "covered", so tag 0 differs from no mesh
    sc.add(pyrender.PerspectiveCamera(yfov=_yfov(cam), aspectRatio=w / h, znear=0.1, zfar=1000.0),
           pose=camera_pose(cam))
    colour, depth = _renderer(h, w).render(sc, flags=pyrender.RenderFlags.SEG, seg_node_map=nodes)
    tags = np.where(colour[..., 1] == 255, colour[..., 0], SKY).astype(np.uint8)
    return tags, np.asarray(depth, np.float32)


def _yfov(cam: dict) -> float:
    h, w = cam["size"]
    return float(2 * np.arctan(np.tan(np.deg2rad(cam["hfov_deg"]) / 2) * h / w))


# The last static layer and the last composite, each with the objects it was made from (held, so their
# ids cannot be reused while cached): the re-draw attempts of one scene share the static pass, and the
# final render reuses the pass that measured the accepted attempt's coverage.
_STATIC_CACHE: list = [None, None, None]  # (static prims, camera, (tags, depth))
_LAYERS_CACHE: list = [None, None]  # (scene dict's dynamic prims, layers)


def clear_cache() -> None:
    """Forget the cached passes (tests that re-render one scene under other conditions)."""
    _STATIC_CACHE[:] = [None, None, None]
    _LAYERS_CACHE[:] = [None, None]


def render_layers(scene: dict) -> dict[str, np.ndarray]:
    """``static`` and ``populated`` (H, W) uint8 CARLA tags and ``depth`` (H, W) float32 metres (0 = sky).

    Two passes composited by depth: the static primitives alone (cached per scene, so each re-draw
    attempt renders only its road users), then the dynamic ones alone; a dynamic pixel replaces the
    static one where it is strictly nearer (ties keep the static surface, as one depth-tested pass
    drawing the static meshes first would).
    """
    cam = scene["camera"]
    if _STATIC_CACHE[0] is not scene["static"] or _STATIC_CACHE[1] != cam:
        _STATIC_CACHE[:] = [scene["static"], dict(cam), _render_layer(scene["static"], cam, dynamic=False)]
    if _LAYERS_CACHE[0] is scene["dynamic"] and _LAYERS_CACHE[1]["camera"] == cam and \
            _LAYERS_CACHE[1]["static_prims"] is scene["static"]:
        return _LAYERS_CACHE[1]["layers"]
    static, static_depth = _STATIC_CACHE[2]
    dyn, dyn_depth = _render_layer(scene["dynamic"], cam, dynamic=True)
    front = (dyn_depth > 0) & ((static_depth <= 0) | (dyn_depth < static_depth))
    layers = {"static": static, "populated": np.where(front, dyn, static),
              "depth": np.where(front, dyn_depth, static_depth)}
    _LAYERS_CACHE[:] = [scene["dynamic"], {"camera": dict(cam), "static_prims": scene["static"], "layers": layers}]
    return layers


def dynamic_coverage(scene: dict) -> float:
    """Fraction of the frame where a road user is in front of the static scene (the re-draw rule)."""
    out = render_layers(scene)
    return float(np.count_nonzero(out["populated"] != out["static"]) / out["static"].size)


def render_scene(scene: dict, *, rgb: bool = True) -> dict[str, np.ndarray]:
    """Render ``scene`` (see :mod:`generators.shared.streets.scene`).

    Returns
    -------
    dict with ``static`` and ``populated`` (H, W) uint8 CARLA tags, ``depth``
    (H, W) float32 metres (0 = sky), and ``rgb`` (H, W, 3) float32 in [0, 1]
    when asked.
    """
    out = dict(render_layers(scene))
    if rgb:
        out["rgb"] = shade(out["populated"], out["depth"], _yfov(scene["camera"]))
    return out


def shade(tags: np.ndarray, depth: np.ndarray, yfov: float) -> np.ndarray:
    """Class colours lit by a sun from normals of the depth map, with haze.

    The normal of the back-projected surface P(x, y) = (u z / f, -v z / f, -z)
    (u, v pixel offsets from the centre, z the depth, f the focal length in
    pixels) is dP/dx x dP/dy, which divided by z is (-f z_x, f z_y,
    -(z + u z_x + v z_y)); z_x, z_y are central differences. Lambert term
    |n . sun| lit from 0.45 to 1; haze 1 - exp(-z / 250 m) towards a pale sky.
    """
    import cv2

    h, w = tags.shape
    f = np.float32((h / 2) / np.tan(yfov / 2))
    z = np.where(depth > 0, depth, np.float32(1000.0)).astype(np.float32)
    zx = cv2.Sobel(z, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)
    zy = cv2.Sobel(z, cv2.CV_32F, 0, 1, ksize=1, scale=0.5)
    u = np.arange(w, dtype=np.float32) - np.float32(w / 2)
    v = (np.arange(h, dtype=np.float32) - np.float32(h / 2))[:, None]
    nz = -(z + u * zx + v * zy)
    zx *= f
    zy *= f
    sun = np.array([0.4, 0.8, 0.45], np.float32)
    sun /= np.linalg.norm(sun)
    dot = np.abs(-zx * sun[0] + zy * sun[1] + nz * sun[2])
    norm = cv2.sqrt(zx * zx + zy * zy + nz * nz) + np.float32(1e-9)
    haze = 1 - cv2.exp(z * np.float32(-1 / 250.0))
    k = (0.45 + 0.55 * np.minimum(dot / norm, 1)) * (1 - haze) * np.float32(1 / 255)
    palette = cv2.LUT(cv2.merge([tags, tags, tags]), _PALETTE_U8)
    col = palette * k[..., None]
    col += haze[..., None] * np.array([0.75, 0.8, 0.85], np.float32)
    col[depth <= 0] = _PALETTE[SKY] / 255.0
    return np.clip(col, 0, 1, out=col)
