"""reflections: formation model, flows, CLI errors, determinism, baselines and networks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from generators import reflections
from generators.reflections import make_task, render_sequence, sample_sequence
from generators.shared.colour import linear_to_srgb_table as linear_to_srgb, srgb_to_linear
from generators.reflections.__main__ import main as cli
from generators.task import sample_rng
from tests.tolerances import (
    CENTRE_PIXEL_FRESNEL_RTOL,
    FLOAT32_ROUNDING_ATOL,
    FLOAT32_ROUNDING_RTOL,
    FLOAT64_ATOL,
    FLOAT64_RTOL,
    FLOW_WARP_MEAN_ATOL,
    SRGB_RECOMPOSE_ATOL,
)

SIZE = 96


@pytest.fixture(scope="module")
def task():
    return make_task(frames=5, size=SIZE)


@pytest.fixture(scope="module")
def samples(task):
    return [task.make_sample(sample_rng(11, i)) for i in range(6)]


def test_layout_and_ranges(samples):
    for s in samples:
        f = s.inputs["frames"]
        assert f.shape == (5, SIZE, SIZE, 3) and f.dtype == np.float32
        assert s.target["clean"].shape == (SIZE, SIZE, 3)
        assert 0 <= f.min() and f.max() <= 1
        a = s.extras["alpha"]
        assert a.shape == (5, SIZE, SIZE, 1) and 0 < a.min() and a.max() <= reflections.RADIANCE_RATIO[1]
        assert s.extras["flow_t"].shape == (5, SIZE, SIZE, 2) and s.extras["flow_t"].dtype == np.float16
        assert json.dumps(s.params)  # JSON-able
        np.testing.assert_array_equal(s.target["clean"], s.extras["transmission"][s.params["reference"]])


def test_frames_recompose_from_recorded_layers(samples):
    """frames = oetf(eotf(transmission) + eotf(reflection)), the formation model's last step."""
    for s in samples:
        recomposed = linear_to_srgb(srgb_to_linear(s.extras["transmission"]) + srgb_to_linear(s.extras["reflection"]))
        # The stored layers are float32 sRGB, each already encoded: only float rounding separates them.
        assert np.abs(recomposed - s.inputs["frames"]).max() < SRGB_RECOMPOSE_ATOL


def test_render_is_a_pure_function_of_params(samples):
    s = samples[0]
    p = {k: v for k, v in s.params.items() if k not in reflections.DERIVED_PARAMS}
    again = render_sequence(p)
    np.testing.assert_array_equal(again["frames"], s.inputs["frames"])


def test_flows_map_layers_onto_the_reference(samples):
    """Warping frame k's layer by its recorded flow reproduces the reference's layer (inside the view)."""
    for s in samples[:3]:
        r = s.params["reference"]
        p = {k: v for k, v in s.params.items() if k not in reflections.DERIVED_PARAMS}
        out = render_sequence(p)
        for k in range(5):
            if k == r:
                continue
            # flow_k(p) points from frame k to the reference, so frame_k(p) = ref(p + flow_k(p)).
            flow = s.extras["flow_t"][k].astype(np.float32)
            ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
            warped = cv2.remap(out["transmission"][r], xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR)
            inside = ((xs + flow[..., 0] >= 1) & (xs + flow[..., 0] <= SIZE - 2)
                      & (ys + flow[..., 1] >= 1) & (ys + flow[..., 1] <= SIZE - 2))
            err = np.abs(warped - out["transmission"][k])[inside].mean()
            assert err < FLOW_WARP_MEAN_ATOL, f"sample layer T frame {k}: mean error {err:.4f}"


def test_transmission_and_reflection_flows_differ(samples):
    diffs = []
    for s in samples:
        d = np.abs(s.extras["flow_t"].astype(np.float32) - s.extras["flow_r"].astype(np.float32))
        diffs.append(d.max())
    assert np.median(diffs) > 1.0  # pixels, at 96 px


def test_homography_of_a_plane_is_exact():
    """A 3-D point on the plane projects where the homography sends its reference pixel."""
    k = reflections._intrinsics(100.0, 64, 64)
    rot = reflections._rot(0.02, -0.01, 0.03)
    t = np.array([0.05, -0.02, 0.01])
    n = reflections._unit(0.2, -0.1)
    d = 3.0
    hom = reflections.plane_homography(k, rot, t, n, d)
    ray = np.linalg.inv(k) @ np.array([10.0, 40.0, 1.0])
    x = ray * d / (n @ ray)  # on the plane
    xk = k @ (rot @ x + t)
    p = hom @ np.array([10.0, 40.0, 1.0])
    np.testing.assert_allclose(p[:2] / p[2], xk[:2] / xk[2], atol=FLOAT64_ATOL)


def test_fresnel_at_normal_incidence():
    assert reflections.fresnel_glass(np.array(1.0)) == pytest.approx(2 * 0.04 / 1.04, rel=FLOAT32_ROUNDING_RTOL)
    assert reflections.fresnel_glass(np.array(0.2)) > reflections.fresnel_glass(np.array(0.9))


def test_sample_depends_only_on_seed_and_index(task):
    a = task.make_sample(sample_rng(3, 7))
    b = task.make_sample(sample_rng(3, 7))
    np.testing.assert_array_equal(a.inputs["frames"], b.inputs["frames"])
    assert a.params == b.params


def test_cli_is_byte_identical_for_any_worker_count(tmp_path):
    args = ["--n", "4", "--size", "64", "--frames", "3", "--seed", "5", "--shard-size", "2", "--no-progress"]
    assert cli([*args, "--out", str(tmp_path / "a"), "--workers", "1"]) == 0
    assert cli([*args, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    for shard in sorted((tmp_path / "a").glob("*.tar")):
        assert shard.read_bytes() == (tmp_path / "b" / shard.name).read_bytes()


@pytest.mark.parametrize("argv, needle", [
    (["--frames", "1"], "frames must lie in 2..10"),
    (["--size", "32"], "size must lie in 64..1024"),
    (["--images", "/nonexistent/folder"], "does not exist"),
    (["--glass", "mirror"], "--glass must be one of fresnel, strong"),
    (["--content", "stock"], "--content must be one of mix, photos"),
    (["--content", "photos", "--images", "."], "not both"),
])
def test_bad_arguments_give_one_clear_error(tmp_path, capsys, argv, needle):
    rc = cli(["--n", "1", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_images_folder_gives_one_clear_error(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not a png at all")
    rc = cli(["--n", "1", "--out", str(tmp_path / "o"), "--images", str(tmp_path / "imgs")])
    err = capsys.readouterr().err
    assert rc == 2 and "no readable image" in err and "Traceback" not in err


def test_user_images_are_used(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), (rng.random((80, 90, 3)) * 255).astype(np.uint8))
    task = make_task(frames=3, size=64, images=str(folder))
    s = task.make_sample(sample_rng(0, 0))
    assert s.params["transmission"]["source"]["kind"] == "user" and s.params["content"] == "user"
    assert s.params["transmission"]["key"] != s.params["reflection"]["key"]


# ---------------------------------------------------------------- formation version 2


def _flat_params(glass: str = "fresnel", size: int = 64) -> dict:
    """Sampled parameters with the defocus blur off (a constant texture then shows the weights alone)."""
    p = sample_sequence(sample_rng(4, 2), frames=3, size=(size, size), glass=glass)
    return {**p, "blur_sigma": 0.0}


def _constant_layers(monkeypatch, t_value, r_value):
    def canvas(desc, size, margin, root):
        h, w = size[0] + 2 * margin, size[1] + 2 * margin
        v = t_value if desc is canvas.p["transmission"] else r_value
        return np.broadcast_to(np.asarray(v(h, w) if callable(v) else v, np.float32), (h, w, 3)).copy()

    monkeypatch.setattr(reflections, "_layer_canvas", canvas)
    return canvas


def test_fresnel_weight_is_the_glass_reflectance_at_the_centre_ray(samples):
    for s in samples:
        p = s.params
        g = reflections._unit(np.deg2rad(p["glass"]["yaw_deg"]), np.deg2rad(p["glass"]["pitch_deg"]))
        want = p["reflection"]["radiance"] * float(reflections.fresnel_glass(abs(g[2])))
        assert p["alpha_centre"] == pytest.approx(want, rel=FLOAT64_RTOL)
        # the centre pixel's ray is half a pixel off the optical axis at an even size
        got = float(s.extras["alpha"][p["reference"], SIZE // 2, SIZE // 2, 0])
        assert got == pytest.approx(want, rel=CENTRE_PIXEL_FRESNEL_RTOL)
        assert 0.25 <= p["reflection"]["radiance"] <= 8.0 and 3.0 <= p["glass"]["thickness_mm"] <= 12.0


def test_ghost_energy_is_inside_the_fresnel_budget(monkeypatch):
    """Equal constant scenes on both sides, radiance ratio 1: a lossless pane passes 1 - F and reflects
    F1 + (F - F1) = F, so every frame is the scene's radiance exactly; the reflection is F of it."""
    p = _flat_params()
    p = {**p, "reflection": {**p["reflection"], "radiance": 1.0}}
    canvas = _constant_layers(monkeypatch, 0.4, 0.4)
    canvas.p = p
    out = render_sequence(p)
    s = out["exposure"]
    np.testing.assert_allclose(srgb_to_linear(out["frames"]), 0.4 * s, atol=SRGB_RECOMPOSE_ATOL)
    refl = srgb_to_linear(out["reflection"])
    f_centre = float(reflections.fresnel_glass(np.float32(abs(reflections._geometry(p)[-1][2]))))
    c = 64 // 2
    assert refl[p["reference"], c, c].mean() == pytest.approx(0.4 * s * f_centre, rel=CENTRE_PIXEL_FRESNEL_RTOL)
    assert refl.max() < 0.4 * s * 0.2  # never more than the glass's reflectance at these angles


def test_ghost_follows_the_glass_geometry(samples):
    """The ghost's offset comes from its own homography: it varies over the frame and between frames."""
    for s in samples:
        p = s.params
        hg, hr = np.asarray(p["homographies_ghost"]), np.asarray(p["homographies_r"])
        ys, xs = np.mgrid[0:SIZE:16, 0:SIZE:16]
        pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
        offsets = []
        for k in range(len(hg)):
            a, b = hg[k] @ pts, hr[k] @ pts
            offsets.append(np.hypot(*(a[:2] / a[2] - b[:2] / b[2])))
        offsets = np.array(offsets)
        assert offsets.max() < 5.0  # a few mm of glass: at most a few pixels
        assert np.ptp(offsets) > 1e-4


def test_transmission_is_never_mirrored_and_the_reflection_always_is(monkeypatch):
    ramp = lambda h, w: np.linspace(0.1, 0.9, w, dtype=np.float32)[None, :, None].repeat(h, 0)  # noqa: E731
    for glass in ("fresnel", "strong"):
        for i in range(6):
            p = {**sample_sequence(sample_rng(9, i), frames=3, size=(64, 64), glass=glass), "blur_sigma": 0.0}
            if glass == "strong":
                p["ghost"] = None  # the v1 ghost (a shifted copy) is tested with the preset
            canvas = _constant_layers(monkeypatch, ramp, ramp)
            canvas.p = p
            out = render_sequence(p)
            r = p["reference"]
            t_row = out["transmission"][r, 32, :, 0]
            r_row = out["reflection"][r, 32, :, 0]
            assert t_row[-4] > t_row[3], f"{glass} sample {i}: transmission mirrored"
            assert r_row[-4] < r_row[3], f"{glass} sample {i}: reflection not mirrored"
            assert "flip" not in p["transmission"]


def test_relative_motion_floor_holds():
    size = 96
    floor = reflections.MOTION_FLOOR_PX * size / 256
    scaled = 0
    for i in range(30):
        p = sample_sequence(sample_rng(0, i), frames=5, size=(size, size))
        _, _, homs_t, homs_r, _, _ = reflections._geometry(p)
        m = reflections.relative_motion_px(homs_t, homs_r, p["reference"], (size, size))
        assert m >= floor * 0.99, f"sample {i}: {m:.3f} px per frame"
        assert m == pytest.approx(p["relative_motion_px"], rel=FLOAT64_RTOL)
        scaled += p["motion_scale"] > 1
    assert 0 < scaled < 30  # the floor binds on some sequences only


def test_strong_preset_reproduces_the_published_regime(tmp_path):
    from generators.dataset import read_dataset, read_manifest

    out = tmp_path / "strong"
    assert cli(["--n", "2", "--size", "64", "--frames", "3", "--glass", "strong", "--out", str(out),
                "--no-progress"]) == 0
    assert read_manifest(out)["params"]["glass"] == "strong"
    for _, s in read_dataset(out):
        p = s.params
        assert p["glass"]["preset"] == "strong" and 0.1 <= p["alpha_centre"] <= 0.45
        a = s.extras["alpha"]
        assert 0.02 - FLOAT32_ROUNDING_ATOL <= a.min() and a.max() <= 0.6 + FLOAT32_ROUNDING_ATOL


def test_content_comes_from_the_shared_mix_and_photos_on_request():
    mix = make_task(frames=2, size=64)
    kinds = set()
    for i in range(8):
        p = sample_sequence(sample_rng(1, i), frames=2, size=(64, 64))
        kinds |= {p["transmission"]["source"]["kind"], p["reflection"]["source"]["kind"]}
        assert p["transmission"]["key"] != p["reflection"]["key"]
    assert kinds <= {"dead_leaves", "procedural"} and "dead_leaves" in kinds and mix.params["content"] == "mix"
    photos = make_task(frames=2, size=64, content="photos")
    s = photos.make_sample(sample_rng(1, 0))
    assert s.params["transmission"]["source"]["kind"] == "photo" == s.params["reflection"]["source"]["kind"]
    assert s.params["transmission"]["key"] != s.params["reflection"]["key"]


# ---------------------------------------------------------------- baselines


def test_alignment_recovers_the_transmission_homography(samples):
    from baselines.reflection import estimate_homography_ecc

    s = samples[1]
    r = s.params["reference"]
    hom_true = np.asarray(s.params["homographies_t"][0])
    est = estimate_homography_ecc(s.inputs["frames"][r], s.inputs["frames"][0])
    pts = np.array([[20, 20, 1], [70, 30, 1], [48, 48, 1], [30, 75, 1]], float)
    pe, pt = pts @ est.T, pts @ hom_true.T
    err = np.abs(pe[:, :2] / pe[:, 2:] - pt[:, :2] / pt[:, 2:]).max()
    assert err < 1.5, f"ECC misaligns the dominant layer by {err:.2f} px"


def test_relative_smoothness_keeps_bounds_and_removes_smooth_layers():
    from baselines.reflection import remove_reflection_relative_smoothness

    rng = np.random.default_rng(0)
    t = np.kron(rng.random((8, 8, 3)), np.ones((12, 12, 1))).astype(np.float32) * 0.6  # sharp edges
    ys, xs = np.mgrid[0:96, 0:96]
    r = (0.25 * (1 + np.sin(xs / 15.0) * np.cos(ys / 19.0)) / 2)[..., None].astype(np.float32)  # smooth
    img = np.clip(t + r, 0, 1)
    out = remove_reflection_relative_smoothness(img)
    assert out.shape == img.shape and out.dtype == np.float32
    assert (out >= 0).all() and (out <= img + 1e-6).all()
    assert np.abs(out - t).mean() < np.abs(img - t).mean()


def test_given_homographies_replace_ecc(samples):
    from baselines.reflection import align_to_reference

    f = samples[0].inputs["frames"]
    same, homs = align_to_reference(f, homographies=np.repeat(np.eye(3)[None], 5, axis=0))
    np.testing.assert_allclose(same, f, atol=FLOAT32_ROUNDING_ATOL)
    np.testing.assert_array_equal(homs, np.repeat(np.eye(3, dtype=np.float32)[None], 5, axis=0))
    true = np.asarray(samples[0].params["homographies_t"])
    _, used = align_to_reference(f, homographies=true)
    np.testing.assert_allclose(used, true, rtol=FLOAT32_ROUNDING_RTOL, atol=FLOAT32_ROUNDING_ATOL)


def _veiled_sequence():
    """Static sharp transmission with black pixels; a textured, smooth reflection that slides 3 px per
    frame, on a constant veil: linear light, sRGB-encoded like the generator's frames."""
    rng = np.random.default_rng(3)
    t = np.kron(rng.random((8, 8, 3)), np.ones((12, 12, 1))).astype(np.float32) * 0.6
    t[:12, :12] = 0.0
    ys, xs = np.mgrid[0:96, 0:140].astype(np.float32)
    pattern = 0.5 * (1 + np.sin(xs / 3.0) * np.cos(ys / 4.0))
    frames = []
    for k in range(5):
        moving = pattern[:, 3 * k : 3 * k + 96, None]
        frames.append(linear_to_srgb(t + 0.12 * moving + 0.10))
    return np.stack(frames).astype(np.float32), linear_to_srgb(t)


def test_min_veil_removes_the_moving_reflection_and_the_veil():
    """The minimum removes what moves; the dark prior the constant veil the minimum keeps."""
    from baselines.reflection import AlignedMinVeil, remove_reflection_min_veil
    from generators.metrics import psnr

    frames, clean = _veiled_sequence()
    eye = np.repeat(np.eye(3)[None], 5, axis=0)
    out = remove_reflection_min_veil(frames, homographies=eye)
    assert out.shape == clean.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    minimum = frames.min(axis=0)
    assert psnr(clean, out) > psnr(clean, minimum) + 3 > psnr(clean, frames[2]) + 3
    no_veil = remove_reflection_min_veil(frames, homographies=eye, omega=0.0)
    assert psnr(clean, out) > psnr(clean, no_veil) + 3  # the veil is the larger error here
    estimated = AlignedMinVeil().restore({"frames": frames})  # ECC finds the static transmission
    assert psnr(clean, estimated) > psnr(clean, frames[2]) + 3


def test_reflection_diagnosis_rows_and_cli(tmp_path, capsys):
    from benchmarks.reflection_diagnosis import main, map_error_px

    assert map_error_px(np.eye(3), np.eye(3), (32, 32)) == 0.0
    shift = np.array([[1, 0, 3], [0, 1, 4], [0, 0, 1.0]])
    assert map_error_px(shift, np.eye(3), (32, 32)) == pytest.approx(5.0)
    out = tmp_path / "rows.csv"
    assert main(["--n", "2", "--csv", str(out)]) == 0
    report = capsys.readouterr().out
    for row in ("identity-frame", "ecc-min", "oracle-min", "oracle-median", "oracle-weiss", "aligned-min-veil",
                "bound I - mean R", "ECC error"):
        assert row in report
    import pandas as pd

    df = pd.read_csv(out)
    assert len(df) == 2 and (df["ecc_error_px"] >= 0).all() and (df["valid_fraction"] <= 1).all()
    # With everything exact, removing the reflection's minimum along its path never loses to the frame.
    assert (df["psnr bound T + min_k R_k"] >= df["psnr identity-frame"] - 1e-6).all()
    with pytest.raises(SystemExit) as exc:
        main(["--n", "0"])
    assert exc.value.code == 2 and "--n must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--motion-scale", "0"])
    assert exc.value.code == 2 and "--motion-scale must lie in (0, 10]" in capsys.readouterr().err


def test_counterfactual_rerender_changes_only_what_it_says(samples):
    from benchmarks.reflection_diagnosis import rerender

    s = samples[2]
    same = rerender(s)
    np.testing.assert_array_equal(same.inputs["frames"], s.inputs["frames"])
    np.testing.assert_array_equal(same.extras["reflection"], s.extras["reflection"])
    weak = rerender(s, fresnel_strength=True)
    assert 0.07 < weak.params["alpha_centre"] < 0.09
    share = [float(srgb_to_linear(x.extras["reflection"]).mean()) for x in (s, weak)]
    assert (share[1] < share[0]) == (weak.params["alpha_centre"] < s.params["alpha_centre"])
    far = rerender(s, motion_scale=3.0)
    ref = s.params["reference"]
    for k, pose in enumerate(far.params["poses"]):
        np.testing.assert_allclose(pose["centre"], np.asarray(s.params["poses"][k]["centre"]) * 3.0)
    # The reference view does not move; only the exposure (a percentile over all frames) may change.
    np.testing.assert_allclose(srgb_to_linear(far.target["clean"]) / far.params["exposure"],
                               srgb_to_linear(s.target["clean"]) / s.params["exposure"], atol=SRGB_RECOMPOSE_ATOL)
    assert not np.array_equal(far.inputs["frames"][0], s.inputs["frames"][0]) and ref == 2


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize("frames", [1, 3])
@pytest.mark.parametrize("hw", [(64, 64), (50, 70)])
def test_network_shapes(frames, hw):
    from models.reflection_nets import LayerSeparationNet, _pad4

    net = LayerSeparationNet(frames=frames, width=4).eval()
    x, (h, w) = _pad4(torch.rand(2, 3 * frames, *hw))
    out = net(x)
    assert out["t"][..., :h, :w].shape == (2, 3, *hw) and len(out["features"]) == 3


def test_checkpoint_round_trip_and_errors(tmp_path):
    from models.reflection_nets import LayerSeparationNet, load_model, make_checkpoint, save_checkpoint

    net = LayerSeparationNet(frames=3, width=4)
    path = tmp_path / "t.pt"
    save_checkpoint(make_checkpoint(net, {"role": "teacher", "frames": 3, "width": 4}), path)
    loaded, _ = load_model(path)
    x = torch.rand(1, 9, 32, 32)
    torch.testing.assert_close(loaded(x)["t"], net.eval()(x)["t"])
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_model(path)
    with pytest.raises(ValueError, match="not found"):
        load_model(tmp_path / "missing.pt")
    torch.save({"format": "other"}, tmp_path / "o.pt")
    with pytest.raises(ValueError, match="not a reflection-network checkpoint"):
        load_model(tmp_path / "o.pt")


def test_trainer_refuses_a_state_of_another_config(tmp_path, capsys):
    from models.train_reflection import main as train_main

    data = tmp_path / "d"
    assert cli(["--n", "3", "--size", "64", "--frames", "3", "--out", str(data), "--no-progress"]) == 0
    common = ["--data", str(data), "--val-data", str(data), "--state", str(tmp_path / "s.pt"),
              "--minutes", "0.02", "--width", "4", "--batch", "2", "--crop", "32", "--val-every", "1"]
    assert train_main(["teacher", *common]) == 0
    assert train_main(["teacher", *common[:-6], "--width", "8", "--batch", "2", "--crop", "32"]) == 2
    assert "differs" in capsys.readouterr().err


@pytest.mark.parametrize("extras, keys", [("none", set()), ("masks", set()), ("all", {"transmission", "reflection",
                                                                                      "alpha", "flow_t", "flow_r"})])
def test_extras_flag_controls_what_is_stored(tmp_path, extras, keys):
    from generators.dataset import read_dataset, read_manifest

    out = tmp_path / extras
    assert cli(["--n", "1", "--size", "64", "--frames", "3", "--extras", extras, "--out", str(out), "--no-progress"]) == 0
    (_, s), = list(read_dataset(out))
    assert set(s.extras) == keys and "frames" in s.inputs
    assert read_manifest(out)["params"].get("extras", "all") == extras


def test_attenuate_reflection_is_the_generators_sum(task):
    """s = 1 re-forms the stored frame (within one 8-bit step); s = 0 leaves the transmission."""
    from models.train_reflection import attenuate_reflection

    s = task.make_sample(sample_rng(0, 3))
    r = s.inputs["frames"].shape[0] // 2
    to8 = lambda a: np.rint(a * 255).astype(np.uint8)  # noqa: E731
    t, refl = to8(s.extras["transmission"][r][None]), to8(s.extras["reflection"][r][None])
    frames, rr = attenuate_reflection(t, refl, np.array([1.0]))
    assert np.abs(frames[0] - s.inputs["frames"][r]).max() <= 1.5 / 255
    assert np.abs(rr[0] - refl[0] / 255).max() <= 1e-3
    frames, rr = attenuate_reflection(t, refl, np.array([0.0]))
    np.testing.assert_allclose(frames[0], t[0] / 255, atol=1e-6)
    assert rr.max() == 0
    full, _ = attenuate_reflection(t, refl, np.array([1.0]))
    part, _ = attenuate_reflection(t, refl, np.array([0.3]))
    assert (part[0] <= full[0] + 1e-6).all() and (part[0] >= frames[0] - 1e-6).all()
    assert np.abs(part[0] - frames[0]).mean() < np.abs(full[0] - frames[0]).mean()


def test_trainer_weak_reflections_runs_for_both_roles(tmp_path):
    from models.train_reflection import main as train_main

    data = tmp_path / "d"
    assert cli(["--n", "3", "--size", "64", "--frames", "3", "--out", str(data), "--no-progress"]) == 0
    base = ["--data", str(data), "--val-data", str(data), "--minutes", "0.02", "--width", "4", "--batch", "2",
            "--crop", "32", "--val-every", "1", "--gate", "1"]
    common = [*base, "--weak-reflections", "1"]
    assert train_main(["teacher", *common, "--state", str(tmp_path / "t.pt"), "--export", str(tmp_path / "t_x.pt")]) == 0
    assert train_main(["student", *common, "--state", str(tmp_path / "s.pt"), "--teacher", str(tmp_path / "t_x.pt")]) == 0
    with pytest.raises(SystemExit) as e:  # a fraction above 1 is refused by the argument parser
        train_main(["student", *base, "--weak-reflections", "2", "--state", str(tmp_path / "u.pt"), "--distill", "0"])
    assert e.value.code == 2


def test_gated_network_warm_starts_from_ungated_weights(tmp_path):
    """The gate is the one module an ungated checkpoint lacks; it starts open, so the output barely moves."""
    from models.kit import UserError, warm_start
    from models.reflection_nets import GATE_INIT_BIAS, LayerSeparationNet, make_checkpoint

    torch.manual_seed(0)
    old = LayerSeparationNet(frames=1, width=4).eval()
    path = tmp_path / "old.pt"
    torch.save(make_checkpoint(old, {"role": "student", "frames": 1, "width": 4}), path)
    new = LayerSeparationNet(frames=1, width=4, gate=True).eval()
    with pytest.raises(UserError, match="missing: gate.bias"):
        warm_start(new, path)
    warm_start(new, path, new_modules=("gate.",))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        d_old, d_new = old(x)["t"] - x, new(x)["t"] - x
    torch.testing.assert_close(d_new, d_old * torch.sigmoid(torch.tensor(GATE_INIT_BIAS)))
