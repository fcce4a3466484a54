"""The Blender (Cycles) renderer of bookcovers agrees with the scene model and the fast renderer.

Tests marked ``blender`` need ``bpy`` and are skipped with the reason when it
cannot be imported; the mesh and option tests run everywhere.

How the agreement tolerances (``tests/tolerances.py``, ``BLENDER_*``) were
measured: ``sample_scene(default_rng(seed), views=2, size=96)`` for seeds
0..15 (32 views), rendered by ``render(scene, "fast")`` and by
``render_scene_blender(scene, samples=16)`` (default bounces, seed 0), PSNR
and SSIM of ``generators.metrics`` between the two view stacks per view and
IoU of the occlusion masks. The thresholds sit below the measured minimum with
the margin stated next to each value. The test below uses seeds 0..2 and 203,
a subset of the measured scenes, so it cannot fail by drawing a scene worse
than the ones measured; it fails when either renderer changes what it draws.

Seeds 200..215 (another 32 views, 2026-12-02) widened the sample after a
view with one small torus (seed 203) gave mask IoU 0.877: Cycles' 16 random
samples per pixel find occluder slivers on silhouette pixels that the fast
renderer's four colour rays missed. Since bookcovers version 3 the fast
renderer looks for slivers with 4x4 stratified rays there (colours
unchanged): over the 64 views IoU min 0.962 / mean 0.988 (was 0.877 / 0.959
on seeds 200..205); PSNR min 23.6 / mean 32.9 dB, SSIM min 0.876 / mean
0.972. Seed 203 is in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from generators.metrics import psnr, ssim
from generators.shared.colour import linear_to_srgb
from generators.shared.coverscene import render, render_blender as rb
from generators.shared.coverscene.render_fast import SHADING_SCALE
from generators.shared.coverscene.scene import SHAPES, camera_distance, sample_scene
from tests.tolerances import (
    BLENDER_FAST_MASK_IOU_MIN,
    BLENDER_FAST_PSNR_DB_MEAN,
    BLENDER_FAST_PSNR_DB_MIN,
    BLENDER_FAST_SSIM_MEAN,
    BLENDER_FAST_SSIM_MIN,
    BLENDER_SRGB_ATOL,
    BLENDER_UNITS_RTOL,
    FLOAT64_ATOL,
)

_NO_BPY = rb.check_blender()
needs_bpy = pytest.mark.skipif(_NO_BPY is not None, reason=_NO_BPY or "")
AGREEMENT_SEEDS = (0, 1, 2, 203)
AGREEMENT_SIZE = 96
AGREEMENT_VIEWS = 2
AGREEMENT_SAMPLES = 16


# --------------------------------------------------------------------------- #
# no bpy needed
# --------------------------------------------------------------------------- #


def _analytic_uv(shape: str, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(u, v) of unit-shape points, transcribed from the scene docstring.

    On edges and rims, which face a point belongs to is ambiguous; the
    analytic normal ``n`` of the mesh vertex decides (the face whose normal it is).
    """
    x, y, z = p.T
    two_pi = 2 * math.pi
    if shape == "sphere":
        return np.stack([np.arctan2(y, x) / two_pi + 0.5, 0.5 + np.arcsin(np.clip(z, -1, 1)) / math.pi], -1)
    if shape in ("cube", "sheet"):
        axis = np.argmax(np.abs(n), axis=1)
        others = np.array([[1, 2], [0, 2], [0, 1]])[axis]
        return (np.take_along_axis(p, others, 1) + 1) / 2
    if shape in ("cylinder", "cone"):
        cap = (np.abs(z) >= 1 - 1e-4) & (np.abs(n[:, 2]) > 1 - 1e-9)
        side = np.stack([np.arctan2(y, x) / two_pi + 0.5, (z + 1) / 2], -1)
        return np.where(cap[:, None], (p[:, :2] + 1) / 2, side)
    rho = np.hypot(x, y)
    return np.stack([np.arctan2(y, x) / two_pi + 0.5, np.arctan2(z, rho - 1) / two_pi + 0.5], -1)


def _wrap_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| modulo 1 (u = 0 and u = 1 are the same seam)."""
    d = np.abs(a - b) % 1.0
    return np.minimum(d, 1.0 - d)


@pytest.mark.parametrize("shape", SHAPES)
def test_unit_meshes_follow_the_scene_model(shape):
    verts, normals, uvs, faces = rb._unit_mesh(shape, 0.3, 32)
    # On the surface: the implicit function of each unit shape vanishes.
    x, y, z = verts.T
    rho = np.hypot(x, y)
    surface = {
        "sphere": np.linalg.norm(verts, axis=1) - 1,
        "cube": np.abs(verts).max(1) - 1,
        "sheet": np.abs(verts).max(1) - 1,
        "cylinder": np.minimum(np.abs(rho - 1), np.abs(np.abs(z) - 1) + np.maximum(rho - 1, 0)),
        "cone": np.minimum(np.abs(rho - (1 - z) / 2), np.abs(z + 1) + np.maximum(rho - 1, 0)),
        "torus": np.hypot(rho - 1, z) - 0.3,
    }[shape]
    np.testing.assert_allclose(surface, 0, atol=FLOAT64_ATOL)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, atol=FLOAT64_ATOL)
    # UVs are the docstring's, except at the poles/apex where u is undefined.
    defined = rho > 1e-6 if shape not in ("cube", "sheet") else np.ones(len(verts), bool)
    expected = _analytic_uv(shape, verts, normals)
    assert _wrap_distance(uvs[defined, 0], expected[defined, 0]).max() < FLOAT64_ATOL
    np.testing.assert_allclose(uvs[defined, 1], expected[defined, 1], atol=FLOAT64_ATOL)
    # Every face is wound outwards; no face on an azimuthal parametrisation
    # (u = atan2(y, x) / 2 pi + 0.5) straddles the seam, where u jumps from 1 to 0.
    azimuthal = np.abs(normals[:, 2]) < 1 - 1e-9 if shape not in ("cube", "sheet") else np.zeros(len(verts), bool)
    for face in faces:
        assert max(face) < len(verts)
        if azimuthal[face].all():
            u = uvs[face, 0]
            assert u.max() - u.min() < 0.5
        p = verts[face]
        if len(face) == 3 or not np.allclose(p[0], p[1]) and not np.allclose(p[2], p[3]):
            geo = np.cross(p[1] - p[0], p[2] - p[0]) if len(face) == 3 else np.cross(p[2] - p[0], p[3] - p[1])
            assert geo @ normals[face].sum(0) > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"samples": 0}, "samples"),
        ({"samples": 2.5}, "samples"),
        ({"seed": -1}, "seed"),
        ({"device": "tpu"}, "device"),
        ({"threads": -2}, "threads"),
        ({"recycle_every": 0}, "recycle_every"),
    ],
)
def test_bad_options_raise_one_value_error(kwargs, message):
    scene = sample_scene(np.random.default_rng(0), views=1, size=64)
    with pytest.raises(ValueError, match=message):
        rb.render_scene_blender(scene, **kwargs)


def test_bad_scene_raises_value_error():
    with pytest.raises(ValueError, match="scene"):
        rb.render_scene_blender({"size": [64, 64]})
    scene = sample_scene(np.random.default_rng(0), views=1, size=64)
    scene["views"][0]["occluders"][0]["shape"] = "teapot"
    with pytest.raises(ValueError, match="teapot"):
        rb.render_scene_blender(scene)


# --------------------------------------------------------------------------- #
# bpy
# --------------------------------------------------------------------------- #


def _single_light_scene(size: int, roughness: float, radius: float) -> dict:
    fov = 40.0
    d = camera_distance(fov)
    return {
        "version": 1,
        "size": [size, size],
        "camera": {"fov_y_deg": fov, "distance": d},
        "plane": {"width": 1.0, "height": 1.0},
        "cover": {"kind": "procedural", "seed": 3},
        "material": {"roughness": roughness, "specular_f0": 0.05},
        "views": [{
            "ambient": [0.0, 0.0, 0.0],
            "lights": [{"position": [0.1, 0.05, 1.5 * d], "radius": radius, "color": [1.2, 1.0, 0.8], "power": 60.0}],
            "occluders": [],
        }],
    }  # fmt: skip


def _analytic_terms(scene: dict) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse factor S and GGX specular radiance at the pixel centres (scene docstring, point light)."""
    h, w = scene["size"]
    d = scene["camera"]["distance"]
    light = scene["views"][0]["lights"][0]
    x = ((np.arange(w) + 0.5) / w - 0.5) * w / h
    y = 0.5 - (np.arange(h) + 0.5) / h
    px, py = np.meshgrid(x, y)
    to_l = np.stack([light["position"][0] - px, light["position"][1] - py, np.full_like(px, light["position"][2])], -1)
    r2 = (to_l**2).sum(-1)
    l = to_l / np.sqrt(r2)[..., None]
    v = np.stack([-px, -py, np.full_like(px, d)], -1)
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    e = np.asarray(light["color"]) * light["power"] * (l[..., 2] / (4 * math.pi * r2))[..., None]
    shading = e / math.pi
    a2 = scene["material"]["roughness"] ** 4
    hv = l + v
    hv /= np.linalg.norm(hv, axis=-1, keepdims=True)
    nh, nl, nv = hv[..., 2], l[..., 2], v[..., 2]
    dist = a2 / (math.pi * (nh**2 * (a2 - 1) + 1) ** 2)

    def g1(c):
        return 2 * c / (c + np.sqrt(a2 + (1 - a2) * c * c))

    f0 = scene["material"]["specular_f0"]
    fresnel = f0 + (1 - f0) * (1 - (v * hv).sum(-1)) ** 5
    spec = e * (dist * g1(nl) * g1(nv) * fresnel / (4 * nl * nv))[..., None]
    return shading, spec


@needs_bpy
@pytest.mark.blender
def test_light_units_and_camera_match_the_scene_model():
    """Cycles' sphere light in watts, the camera and the GGX lobe are the scene docstring's.

    A small light, no occluders, no ambient, direct light only: Blender's
    diffuse factor and specular radiance equal the closed forms at every
    pixel centre (a wrong watt convention would be off by pi or 4 pi, a wrong
    field of view would move the falloff, a wrong lobe the highlight).
    """
    scene = _single_light_scene(64, roughness=0.3, radius=1e-3)
    out = rb.render_scene_blender(scene, samples=16, max_bounces=0)
    shading, spec = _analytic_terms(scene)
    np.testing.assert_allclose(out["shading"][0], np.clip(shading / SHADING_SCALE, 0, 1), rtol=BLENDER_UNITS_RTOL)
    lobe = spec > 0.2 * spec.max()
    np.testing.assert_allclose(out["specular"][0][lobe], np.clip(spec, 0, 1)[lobe], rtol=BLENDER_UNITS_RTOL)
    assert not out["occlusion"].any()


@needs_bpy
@pytest.mark.blender
def test_standard_view_transform_is_clip_then_srgb_oetf(tmp_path):
    """Blender's "Standard" view transform is what the renderer applies to the linear EXR in numpy."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.display_settings.display_device = "sRGB"
    settings = scene.render.image_settings
    settings.file_format, settings.color_depth, settings.color_mode = "PNG", "16", "RGB"
    ramp = np.linspace(0.0, 1.25, 300, dtype=np.float32)
    img = bpy.data.images.new("ramp", len(ramp), 1, alpha=True, float_buffer=True)
    rgba = np.ones((len(ramp), 4), np.float32)
    rgba[:, :3] = ramp[:, None]
    img.pixels.foreach_set(rgba.ravel())
    img.save_render(str(tmp_path / "ramp.png"), scene=scene)
    import cv2

    back = cv2.imread(str(tmp_path / "ramp.png"), cv2.IMREAD_UNCHANGED)[0, :, 2] / 65535.0
    # 16-bit PNG: half a step is 7.6e-6; Blender's OCIO maths adds a few 1e-6.
    np.testing.assert_allclose(back, linear_to_srgb(ramp), atol=BLENDER_SRGB_ATOL)


@needs_bpy
@pytest.mark.blender
def test_same_contract_as_the_fast_renderer_and_deterministic():
    scene = sample_scene(np.random.default_rng(5), views=2, size=64)
    fast = render(scene, "fast")
    first = rb.render_scene_blender(scene, samples=2, recycle_every=1)
    pid = rb._WORKER.proc.pid
    again = rb.render_scene_blender(scene, samples=2, recycle_every=1)
    assert rb._WORKER.proc.pid != pid, "the child process was not recycled"
    assert set(first) == set(fast) - {"clean"}
    for key, value in first.items():
        assert value.shape == fast[key].shape and value.dtype == fast[key].dtype, key
        assert np.array_equal(value, again[key]), f"{key} differs between two runs with the same seed"
        if value.dtype == np.float32:
            assert np.isfinite(value).all() and value.min() >= 0 and value.max() <= 1, key
    other_seed = rb.render_scene_blender(scene, samples=2, seed=1)
    assert not np.array_equal(first["views"], other_seed["views"])


@pytest.fixture(scope="module")
def agreement_pairs():
    pairs = []
    for seed in AGREEMENT_SEEDS:
        scene = sample_scene(np.random.default_rng(seed), views=AGREEMENT_VIEWS, size=AGREEMENT_SIZE)
        pairs.append((render(scene, "fast"), rb.render_scene_blender(scene, samples=AGREEMENT_SAMPLES)))
    return pairs


@needs_bpy
@pytest.mark.blender
@pytest.mark.slow
def test_blender_and_fast_renderer_draw_the_same_picture(agreement_pairs):
    psnrs, ssims = [], []
    for k, (fast, blender) in enumerate(agreement_pairs):
        for v in range(AGREEMENT_VIEWS):
            where = f"scene {AGREEMENT_SEEDS[k]} view {v}"
            psnrs.append(psnr(fast["views"][v], blender["views"][v]))
            ssims.append(ssim(fast["views"][v], blender["views"][v]))
            assert psnrs[-1] > BLENDER_FAST_PSNR_DB_MIN, where
            assert ssims[-1] > BLENDER_FAST_SSIM_MIN, where
            a, b = fast["occlusion"][v], blender["occlusion"][v]
            assert (a & b).sum() / max(1, (a | b).sum()) > BLENDER_FAST_MASK_IOU_MIN, where
    assert np.mean(psnrs) > BLENDER_FAST_PSNR_DB_MEAN, psnrs
    assert np.mean(ssims) > BLENDER_FAST_SSIM_MEAN, ssims
