"""Tests of the bookcovers generator (scene sampling, covers, fast renderer, CLI)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from PIL import Image

import generators.bookcovers as bc
from generators.bookcovers.__main__ import main
from generators.dataset import read_dataset
from generators.shared import colour, coverscene
from generators.shared import covers as bcovers
from generators.shared.coverscene import render_fast
from generators.shared.coverscene.scene import SHAPES, camera_distance, sample_scene
from generators.task import check_image, check_mask, check_views, sample_rng
from tests.tolerances import (
    FAST_RENDER_MODEL_ATOL,
    FAST_SHADOW_MEAN_ERROR_MAX,
    FAST_SHADOW_P99_ERROR_MAX,
    FLOAT32_ROUNDING_ATOL,
    FLOAT64_ATOL,
    PNG_ATOL,
    POINT_LIGHT_RTOL,
    SPECULAR_PEAK_CENTRE_ATOL_PX,
)


def _hand_scene(size=(64, 64), *, occluders=(), lights=(), ambient=(1.0, 1.0, 1.0), f0=0.0, roughness=0.5):
    """A one-view scene written by hand (see the schema in generators.shared.coverscene.scene)."""
    fov = 40.0
    d = camera_distance(fov)
    return {
        "version": 1,
        "size": list(size),
        "camera": {"fov_y_deg": fov, "distance": d},
        "plane": {"width": size[1] / size[0], "height": 1.0},
        "cover": {"kind": "procedural", "seed": 7},
        "material": {"roughness": roughness, "specular_f0": f0},
        "views": [{"ambient": list(ambient), "lights": list(lights), "occluders": list(occluders)}],
    }


def _occluder(shape, position=(0.0, 0.0, 0.5), scale=(0.12, 0.12, 0.12), rotation=(1.0, 0.0, 0.0, 0.0)):
    return {
        "shape": shape,
        "position": list(position),
        "rotation": list(rotation),
        "scale": list(scale),
        "minor_radius": 0.35 if shape == "torus" else 0.0,
        "texture": {"kind": "checker", "colors": [[0.9, 0.1, 0.1], [0.1, 0.1, 0.9]], "frequency": 4.0,
                    "angle_deg": 0.0, "seed": 1},
        "uv_scale": 1.0,
    }  # fmt: skip


def _light(position, power=30.0, radius=0.02, color=(1.0, 1.0, 1.0)):
    return {"position": list(position), "radius": radius, "color": list(color), "power": power}


def _reconstruct(clean, shading, specular):
    """What an unoccluded pixel must show: oetf(albedo * S + spec)."""
    albedo = colour.srgb_to_linear(clean)
    return colour.linear_to_srgb(albedo * render_fast.SHADING_SCALE * shading + specular)


@pytest.fixture(scope="module")
def sample():
    return bc.make_sample(sample_rng(0, 3), views=4, size=64)


def test_sample_layout(sample):
    check_views(sample.inputs["views"])
    assert sample.inputs["views"].shape == (4, 64, 64, 3)
    check_image(sample.target["clean"])
    assert sample.extras["occlusion"].dtype == np.bool_ and sample.extras["occlusion"].shape == (4, 64, 64)
    for key in ("shading", "specular"):
        check_views(sample.extras[key], name=key)
    for v in range(4):
        check_mask(sample.extras["occlusion"][v], (64, 64))
    # every view has at least one occluder, and it is visible
    assert all(m.any() for m in sample.extras["occlusion"])
    # the clean target is 8-bit quantised
    np.testing.assert_array_equal(np.round(sample.target["clean"] * 255) / 255, sample.target["clean"])


def test_deterministic(sample):
    again = bc.make_sample(sample_rng(0, 3), views=4, size=64)
    for group in ("inputs", "target", "extras"):
        for k, a in getattr(sample, group).items():
            np.testing.assert_array_equal(a, getattr(again, group)[k], err_msg=k)
    assert again.params == sample.params
    other = bc.make_sample(sample_rng(0, 4), views=4, size=64)
    assert not np.array_equal(other.target["clean"], sample.target["clean"])


def test_params_round_trip(sample):
    scene = json.loads(json.dumps(sample.params))
    assert scene == sample.params
    out = coverscene.render(scene)
    np.testing.assert_array_equal(out["views"], sample.inputs["views"])
    np.testing.assert_array_equal(out["clean"], sample.target["clean"])
    np.testing.assert_array_equal(out["occlusion"], sample.extras["occlusion"])


def test_unoccluded_pixels_follow_the_intrinsic_model(sample):
    views, occ = sample.inputs["views"], sample.extras["occlusion"]
    sh, sp = sample.extras["shading"], sample.extras["specular"]
    recon = _reconstruct(sample.target["clean"][None], sh, sp)
    # exclude pixels where the stored maps were clipped
    ok = ~occ & (sh < 1).all(-1) & (sp < 1).all(-1)
    assert ok.mean() > 0.5
    err = np.abs(views - recon).max(-1)
    assert err[ok].max() < FAST_RENDER_MODEL_ATOL
    # occluded pixels mostly do not look like the cover
    inner = occ.copy()
    inner[:, 1:-1, 1:-1] &= occ[:, :-2, 1:-1] & occ[:, 2:, 1:-1] & occ[:, 1:-1, :-2] & occ[:, 1:-1, 2:]
    assert inner.sum() > 20
    assert (err[inner] > 2 / 255).mean() > 0.8


def test_neutral_light_shows_the_target():
    # White uniform light of radiance 1, no specular: unoccluded pixels are the target.
    scene = _hand_scene(occluders=[_occluder("sphere")], f0=0.0)
    out = coverscene.render(scene)
    free = ~out["occlusion"][0]
    assert 0.05 < out["occlusion"][0].mean() < 0.5
    np.testing.assert_allclose(out["views"][0][free], out["clean"][free], atol=FAST_RENDER_MODEL_ATOL)
    np.testing.assert_allclose(out["shading"][0], 1 / render_fast.SHADING_SCALE, atol=FLOAT32_ROUNDING_ATOL)
    assert out["specular"].max() == 0


def test_point_light_falloff_at_the_centre():
    # A small light straight above: S = P / (4 pi z^2) / pi at the cover centre.
    z, power = 2.0, 40.0
    scene = _hand_scene(size=(65, 65), lights=[_light((0.0, 0.0, z), power=power, radius=1e-4)], ambient=(0, 0, 0))
    out = coverscene.render(scene)
    s_centre = out["shading"][0, 32, 32, 0] * render_fast.SHADING_SCALE
    assert s_centre == pytest.approx(power / (4 * math.pi * z * z) / math.pi, rel=POINT_LIGHT_RTOL)
    # off-centre: cos / r^2 = z / r^3
    x = ((10 + 0.5) / 65 - 0.5)
    r = math.hypot(x, z)
    s_edge = out["shading"][0, 32, 10, 0] * render_fast.SHADING_SCALE
    assert s_edge == pytest.approx(power * z / r**3 / (4 * math.pi * math.pi), rel=POINT_LIGHT_RTOL)


def test_sphere_projects_to_the_predicted_disc():
    # Sphere of radius rb on the optical axis at height z: its image is a disc of
    # radius d * rb / sqrt((d - z)^2 - rb^2) on the cover plane.
    size = 128
    scene = _hand_scene(size=(size, size), occluders=[_occluder("sphere", (0, 0, 0.6), (0.1, 0.1, 0.1))])
    d = scene["camera"]["distance"]
    out = coverscene.render(scene)
    radius_px = d * 0.1 / math.sqrt((d - 0.6) ** 2 - 0.1**2) * size
    area = out["occlusion"][0].sum()
    # the mask is conservative on the silhouette (any sub-pixel ray): allow one pixel ring
    assert math.pi * (radius_px - 1) ** 2 < area < math.pi * (radius_px + 1) ** 2


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_occludes_and_casts_a_shadow(shape):
    rot = [math.cos(0.3), math.sin(0.3), 0.0, 0.0]  # tilt so caps and sides show
    occ = _occluder(shape, (0.0, 0.0, 0.4), (0.12, 0.12, 0.03 if shape == "sheet" else 0.12), rot)
    light = _light((0.6, 0.3, 2.0), power=200.0, radius=0.05)
    scene = _hand_scene(size=(96, 96), occluders=[occ], lights=[light], ambient=(0.1, 0.1, 0.1))
    out = coverscene.render(scene)
    mask = out["occlusion"][0]
    assert mask[38:58, 38:58].mean() > 0.3, "the occluder sits on the optical axis"
    assert mask[48, 48] != (shape == "torus"), "the torus has a hole there"
    assert 0.02 < mask.mean() < 0.6
    # textured: the checker's red and blue both show
    px = out["views"][0][mask]
    assert (px[:, 0] > px[:, 2] + 0.05).any() and (px[:, 2] > px[:, 0] + 0.05).any()
    # shadow: the same scene without the occluder is brighter somewhere, never darker
    free = coverscene.render(_hand_scene(size=(96, 96), lights=[light], ambient=(0.1, 0.1, 0.1)))
    diff = free["shading"][0] - out["shading"][0]
    assert diff.min() > -FLOAT32_ROUNDING_ATOL
    assert (diff > 0.05).sum() > 20


def test_glossy_cover_shows_a_highlight():
    # Light mirrored through the cover centre into the camera: a specular peak there.
    d = camera_distance(40.0)
    scene = _hand_scene(size=(64, 64), lights=[_light((0.0, 0.0, 1.5 * d), radius=0.02)], f0=0.08, roughness=0.2)
    spec = coverscene.render(scene)["specular"][0, ..., 0]
    assert spec[32, 32] > 5 * np.median(spec)
    ys, xs = np.nonzero(spec > 0.5 * spec.max())
    assert abs(ys.mean() - 31.5) < SPECULAR_PEAK_CENTRE_ATOL_PX and abs(xs.mean() - 31.5) < SPECULAR_PEAK_CENTRE_ATOL_PX


@pytest.mark.parametrize("size", [64, (64, 96), (80, 64)])
def test_sizes(size):
    s = bc.make_sample(sample_rng(1, 0), views=2, size=size)
    h, w = (size, size) if isinstance(size, int) else size
    assert s.inputs["views"].shape == (2, h, w, 3)
    assert s.target["clean"].shape == (h, w, 3)
    assert s.extras["occlusion"].shape == (2, h, w)


def test_scene_is_json_and_within_the_frustum():
    rng = np.random.default_rng(11)
    for _ in range(5):
        scene = sample_scene(rng, views=6, size=(64, 128))
        assert json.loads(json.dumps(scene)) == scene
        d = scene["camera"]["distance"]
        for view in scene["views"]:
            assert 1 <= len(view["lights"]) <= 4 and len(view["occluders"]) >= 1
            for light in view["lights"]:
                assert light["position"][2] > 0
            for o in view["occluders"]:
                assert o["shape"] in SHAPES
                assert 0 < o["position"][2] < d
                q = np.array(o["rotation"])
                assert abs(np.linalg.norm(q) - 1) < FLOAT64_ATOL


def test_bad_arguments():
    with pytest.raises(ValueError, match="between 64 and 4096"):
        bc.make_task(size=10)
    with pytest.raises(ValueError, match="between 64 and 4096"):
        bc.make_sample(np.random.default_rng(0), size=(64, 5000))
    with pytest.raises(ValueError, match="views"):
        bc.make_task(views=0)
    with pytest.raises(ValueError, match="unknown renderer"):
        bc.make_task(renderer="povray")


def test_task():
    task = bc.TASK
    assert task.name == "bookcovers" and task.input_kind == "views" and task.target_key == "clean"
    assert set(task.metrics) == {"psnr", "ssim", "dssim", "lmse", "mse", "psnr_gi", "ssim_gi"}
    assert set(task.higher_is_better) == set(task.metrics)
    assert json.loads(json.dumps(dict(task.params))) == dict(task.params)
    s = bc.make_task(views=2, size=64).make_sample(sample_rng(0, 0))
    assert s.inputs["views"].shape == (2, 64, 64, 3)


def test_covers_folder(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 80, 3)) * 255).astype(np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(np.full((100, 50, 3), 200, np.uint8)).save(tmp_path / "a.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored")
    folder = bcovers.CoverFolder(tmp_path)
    assert folder.files == ("a.jpg", "b.png") and folder.skipped == 1
    task = bc.make_task(views=2, size=64, covers=str(tmp_path))
    assert task.params["covers_count"] == 2
    s = task.make_sample(sample_rng(0, 0))
    assert s.params["cover"]["kind"] == "file" and s.params["cover"]["path"] in folder.files
    again = coverscene.render(json.loads(json.dumps(s.params)), covers_dir=str(tmp_path))
    np.testing.assert_array_equal(again["views"], s.inputs["views"])
    with pytest.raises(ValueError, match="does not exist"):
        bcovers.CoverFolder(tmp_path / "missing")


def test_empty_covers_folder(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(ValueError, match="no readable image"):
        bc.make_task(covers=str(tmp_path))


def test_cover_fit_centre_crops():
    src = np.zeros((100, 300, 3), np.uint8)
    src[:, 100:200] = 255  # the centre square is white
    out = bcovers._fit(src, 64, 64)
    assert out.shape == (64, 64, 3) and out.min() == 255


def test_procedural_covers_vary():
    a = bcovers.draw_procedural_cover(1, (96, 64))
    b = bcovers.draw_procedural_cover(2, (96, 64))
    assert a.shape == (96, 64, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 10
    np.testing.assert_array_equal(a, bcovers.draw_procedural_cover(1, (96, 64)))


def test_cli_writes_a_readable_dataset(tmp_path):
    out = tmp_path / "ds"
    assert main(["--n", "4", "--out", str(out), "--size", "64", "--views", "3", "--workers", "1", "--no-progress"]) == 0
    items = list(read_dataset(out))
    assert len(items) == 4
    key, s = items[0]
    assert s.inputs["views"].shape == (3, 64, 64, 3) and s.inputs["views"].dtype == np.float32
    assert s.extras["occlusion"].dtype == np.bool_
    assert s.params["size"] == [64, 64]
    direct = bc.make_sample(sample_rng(0, 0), views=3, size=64)
    np.testing.assert_array_equal(s.target["clean"], direct.target["clean"])
    assert np.abs(s.inputs["views"] - direct.inputs["views"]).max() <= PNG_ATOL


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_bad_size(tmp_path, capsys):
    assert main(["--n", "2", "--out", str(tmp_path / "o"), "--size", "10"]) == 2
    assert "between 64 and 4096" in _one_error_line(capsys)


def test_cli_empty_covers(tmp_path, capsys):
    (tmp_path / "covers").mkdir()
    assert main(["--n", "2", "--out", str(tmp_path / "o"), "--covers", str(tmp_path / "covers")]) == 2
    assert "no readable image" in _one_error_line(capsys)


def test_cli_blender_without_bpy(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "bpy", None)  # makes `import bpy` fail
    assert main(["--n", "2", "--out", str(tmp_path / "o"), "--renderer", "blender"]) == 2
    assert "bpy" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="bpy"):
        coverscene.render(_hand_scene(), "blender")


def test_shadows_match_brute_force():
    # The renderer culls shadow tests with cone spans and evaluates wide penumbrae
    # on coarse interleaved grids; compare its cover shading with a brute-force
    # estimate that tests 64 disc samples against every occluder at every pixel.
    scene = sample_scene(np.random.default_rng(5), views=3, size=(64, 80))
    textures, tex_of = coverscene._load_textures(scene)
    out = render_fast.render_views(scene, bcovers.load_cover(scene["cover"], (64, 80)), textures, tex_of)
    ambient, lights, nlights, _, _, occ, nocc, *_ = render_fast.pack_scene(scene, tex_of)
    spiral = render_fast._spiral(64)
    h, w = 64, 80
    errs = []
    for v in range(3):
        everyone = np.arange(nocc[v], dtype=np.int64)
        ref = np.empty((h, w, 3))
        for i in range(h):
            y = 0.5 - (i + 0.5) / h
            for j in range(w):
                x = ((j + 0.5) / w - 0.5) * (w / h)
                s = ambient[v].copy()
                for li in range(nlights[v]):
                    light = lights[v, li]
                    d = light[:3] - (x, y, 0.0)
                    r2 = d @ d
                    vis = render_fast._visibility(occ[v], everyone, nocc[v], x, y, 0.0, light, spiral, 1.0, 0.0, 1e-7)
                    s += vis * light[4:7] * (d[2] / np.sqrt(r2)) / r2 / np.pi
                ref[i, j] = s
        got = out["shading"][v] * render_fast.SHADING_SCALE
        ok = got < render_fast.SHADING_SCALE - 1e-3
        errs.append(np.abs(got - ref)[ok] / ref.max())
    err = np.concatenate(errs)
    assert err.mean() < FAST_SHADOW_MEAN_ERROR_MAX
    assert np.quantile(err, 0.99) < FAST_SHADOW_P99_ERROR_MAX


def test_cli_size_is_width_by_height(tmp_path):
    """--size is WxH as image tools write it (issue 22: bookcovers once read HxW, roadseg WxH)."""
    out = tmp_path / "d"
    assert main(["--n", "1", "--views", "1", "--size", "96x64", "--out", str(out), "--workers", "1",
                 "--extras", "none", "--no-progress"]) == 0  # fmt: skip
    (_, sample), = read_dataset(out)
    assert sample.inputs["views"].shape == (1, 64, 96, 3)


@pytest.mark.parametrize("size", ["64x", "0", "axb", "64x64x3"])
def test_cli_bad_size_is_one_line(tmp_path, capsys, size):
    assert main(["--n", "1", "--size", size, "--out", str(tmp_path / "d"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "WxH" in err[0]
