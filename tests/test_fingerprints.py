"""The fingerprints task: generator, degradations, CLI, baselines, networks."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from baselines.fingerprint import (
    FingerprintIdentity,
    FingerprintMedian,
    GaborEnhancement,
    estimate_orientation,
    estimate_period,
)
from generators.dataset import read_dataset
from generators.fingerprints import (
    FORMATION_VERSION,
    FREQUENCY_RANGE,
    ORIENTATION_STEP,
    SENSOR_TASK,
    TASK,
    decode_fields,
    encode_fields,
    make_sample,
    make_task,
    render_sample,
    sample_params,
)
from generators.fingerprints import sensor
from generators.fingerprints.__main__ import main
from generators.fingerprints.degrade import DEGRADATIONS, GEOMETRIC, apply_rotation, sample_rotation
from generators.fingerprints.minutiae import BIFURCATION, ENDING, binarise_print, crossing_number
from generators.fingerprints.master import (
    CLASS_DISTRIBUTIONS,
    CLASSES,
    HEIGHT,
    WIDTH,
    render_master,
    sample_class,
    sample_master,
)
from generators.task import Method, check_image, sample_rng, supports
from models.fingerprint_nets import (
    CHECKPOINTS,
    ResidualCNNMethod,
    UNetMethod,
    build_model,
    load_checkpoint,
    make_checkpoint,
    restore_image,
    save_checkpoint,
)
from tests.tolerances import (
    CLASS_FREQUENCY_ATOL,
    CLASS_FREQUENCY_SDS,
    PNG_ATOL,
    POINCARE_INDEX_ATOL,
    RIDGE_PERIOD_ESTIMATE_ATOL_PX,
    RIDGE_PERIOD_FFT_RTOL,
    ROTATED_PRINT_MEAN_ATOL,
)

SHAPE = (HEIGHT, WIDTH, 1)
# Masters of every class, rendered once for the module.
_MASTER_SEEDS = {}


def _master_of(fp_class: str):
    if fp_class not in _MASTER_SEEDS:
        for i in range(200):
            p = sample_master(sample_rng(42, i), classes="uniform")
            if p["class"] == fp_class:
                _MASTER_SEEDS[fp_class] = (p, render_master(p))
                break
    return _MASTER_SEEDS[fp_class]


@pytest.fixture(scope="module")
def sample():
    return make_sample(sample_rng(3, 1))


# --------------------------------------------------------------------------- generator


def test_task_contract(sample):
    assert TASK.name == "fingerprints" and TASK.input_kind == "image" and TASK.target_key == "clean"
    assert TASK.test_seed > 1000 and TASK.test_size == 50 and TASK.quick_size == 10
    assert set(TASK.metrics) == {"mse", "psnr", "ssim"}
    assert TASK.higher_is_better == {"mse": False, "psnr": True, "ssim": True}
    assert set(sample.inputs) == {"image"} and set(sample.target) == {"clean"}
    for x in (sample.inputs["image"], sample.target["clean"]):
        assert x.shape == SHAPE
        check_image(x)
    ex = sample.extras
    assert set(ex) == {"orientation_u8", "frequency_u8", "mask", "ridges"}
    assert ex["orientation_u8"].shape == ex["frequency_u8"].shape == ex["mask"].shape == ex["ridges"].shape == SHAPE[:2]
    assert ex["mask"].dtype == ex["ridges"].dtype == np.bool_
    assert ex["orientation_u8"].dtype == ex["frequency_u8"].dtype == np.uint8
    fields = decode_fields(ex)
    assert 0 <= fields["orientation"].min() and fields["orientation"].max() < np.pi
    freq = fields["frequency"][ex["mask"]].astype(np.float64)
    assert 1 / 12 < np.median(freq) < 1 / 7.5
    json.dumps(sample.params)  # JSON-able
    p = sample.params
    assert p["class"] in CLASSES and 0 <= p["severity"] <= 1
    assert len(p["minutiae"]) > 5
    for x, y, kind, angle in p["minutiae"]:
        assert ex["mask"][y, x] and kind in (1, 3) and 0 <= angle < 2 * np.pi + 1e-3
    assert p["degradations"]["background"] is not None
    assert "preset" not in p  # the ChaLearn preset's params are as before presets existed


def test_clean_and_ridges_are_aligned(sample):
    """Dark pixels of the target are the ground-truth ridges (after any warp)."""
    clean, ex = sample.target["clean"][..., 0], sample.extras
    ridge, valley = ex["ridges"], ex["mask"] & ~ex["ridges"]
    assert clean[ridge].mean() + 0.3 < clean[valley].mean()


def test_determinism():
    a, b = make_sample(sample_rng(5, 7)), make_sample(sample_rng(5, 7))
    for group in ("inputs", "target", "extras"):
        for k, v in getattr(a, group).items():
            np.testing.assert_array_equal(v, getattr(b, group)[k])
    assert a.params == b.params
    c = make_sample(sample_rng(5, 8))
    assert not np.array_equal(a.target["clean"], c.target["clean"])


def test_render_sample_recreates_from_params(sample):
    again = render_sample(json.loads(json.dumps(sample.params)))
    np.testing.assert_array_equal(again.inputs["image"], sample.inputs["image"])
    np.testing.assert_array_equal(again.target["clean"], sample.target["clean"])


@pytest.mark.parametrize("distribution", sorted(CLASS_DISTRIBUTIONS))
def test_class_frequencies(distribution):
    n = 1000
    counts = Counter(sample_class(sample_rng(11, i), distribution) for i in range(n))
    for c in CLASSES:
        p = CLASS_DISTRIBUTIONS[distribution][c]
        sd = np.sqrt(p * (1 - p) / n)
        assert abs(counts[c] / n - p) <= CLASS_FREQUENCY_SDS * sd + CLASS_FREQUENCY_ATOL, (c, counts[c])


def test_class_sampler_is_the_generators_first_draw():
    for i in range(20):
        for dist in CLASS_DISTRIBUTIONS:
            params = sample_params(sample_rng(12, i), classes=dist)
            assert params["master"]["class"] == sample_class(sample_rng(12, i), dist)


def _doubled_angle_step(theta: np.ndarray) -> np.ndarray:
    """Largest change of 2*theta (wrapped) to the right or lower neighbour, per pixel."""
    z = np.exp(2j * theta.astype(np.float64))
    dx = np.abs(np.angle(z[:, 1:] * np.conj(z[:, :-1])))[:-1, :]
    dy = np.abs(np.angle(z[1:, :] * np.conj(z[:-1, :])))[:, :-1]
    return np.maximum(dx, dy)


def _poincare_index(theta: np.ndarray, x: float, y: float, radius: float) -> float:
    a = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    px = np.clip(np.rint(x + radius * np.cos(a)).astype(int), 0, theta.shape[1] - 1)
    py = np.clip(np.rint(y + radius * np.sin(a)).astype(int), 0, theta.shape[0] - 1)
    d = np.diff(np.append(2 * theta[py, px], 2 * theta[py[0], px[0]]).astype(np.float64))
    d = (d + np.pi) % (2 * np.pi) - np.pi
    return float(d.sum() / (4 * np.pi))


@pytest.mark.parametrize("fp_class", CLASSES)
def test_orientation_smooth_away_from_singular_points(fp_class):
    params, master = _master_of(fp_class)
    step = _doubled_angle_step(master.orientation)
    ys, xs = np.mgrid[0 : HEIGHT - 1, 0 : WIDTH - 1]
    far = np.ones(step.shape, bool)
    for x, y in master.cores + master.deltas:
        far &= np.hypot(xs - x, ys - y) > 20
    assert step[far].max() < 0.15  # rad per px of 2*theta
    # ... and the singular points are real: Poincare index +1/2 at cores, -1/2 at deltas.
    for (x, y), index in [(c, 0.5) for c in master.cores] + [(d, -0.5) for d in master.deltas]:
        if 12 <= x < WIDTH - 12 and 12 <= y < HEIGHT - 12:
            assert _poincare_index(master.orientation, x, y, 8) == pytest.approx(index, abs=POINCARE_INDEX_ATOL)


def test_singular_points_match_class():
    expected = {"arch": (0, 0), "tented_arch": (1, 1), "left_loop": (1, 1), "right_loop": (1, 1), "whorl": (2, 2)}
    for c in CLASSES:
        params = _master_of(c)[0]
        assert (len(params["cores_finger"]), len(params["deltas_finger"])) == expected[c]
    # Loops: the delta lies on the side opposite to the loop's opening.
    assert _master_of("left_loop")[0]["deltas_finger"][0][0] > _master_of("left_loop")[0]["cores_finger"][0][0]
    assert _master_of("right_loop")[0]["deltas_finger"][0][0] < _master_of("right_loop")[0]["cores_finger"][0][0]


def _fft_period(patch: np.ndarray, pad: int = 512) -> float:
    """Ridge period in px: peak of the radially summed, zero-padded power spectrum (periods 6-14 px)."""
    p = (patch - patch.mean()) * np.outer(np.hanning(patch.shape[0]), np.hanning(patch.shape[1]))
    power = np.abs(np.fft.fft2(p, s=(pad, pad))) ** 2
    f = np.fft.fftfreq(pad)
    radius = np.hypot(f[:, None], f[None, :])
    ring = np.rint(radius * pad).astype(int)
    energy = np.bincount(ring.ravel(), power.ravel())
    lo, hi = int(pad / 14), int(pad / 6)
    k = lo + int(np.argmax(energy[lo : hi + 1]))
    return pad / k


@pytest.mark.parametrize("fp_class", ["arch", "left_loop", "whorl"])
def test_measured_ridge_period_in_range(fp_class):
    params, master = _master_of(fp_class)
    cy, cx = HEIGHT // 2, WIDTH // 2
    window = (slice(cy - 64, cy + 64), slice(cx - 64, cx + 64))
    measured = _fft_period(master.image[window])
    # Nominal periods are 8-11 px; a 128-px window measures them to about 6 %
    # (checked on 48 windows of 16 prints: ratio to the map 1.00 +- 0.06).
    assert 7.5 <= measured <= 12.0
    assert measured == pytest.approx(float(np.median(master.period[window])), rel=RIDGE_PERIOD_FFT_RTOL)


def test_growth_converges_before_the_cap():
    iterations = [_master_of(c)[1].iterations for c in CLASSES]
    assert all(6 <= it < 30 for it in iterations), iterations


# --------------------------------------------------------------------------- degradations


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_every_degradation_changes_the_image_and_records_params(name, sample):
    sample_fn, apply_fn = DEGRADATIONS[name]
    clean = sample.target["clean"][..., 0]
    for severity in (0.0, 0.5, 1.0):
        params = sample_fn(sample_rng(9, int(severity * 10)), severity)
        assert params and json.loads(json.dumps(params)) == params
        out = apply_fn(clean, params)
        assert out.shape == clean.shape and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
        assert np.abs(out - clean).max() > 0.02 and np.abs(out - clean).mean() > 1e-4, (name, severity)
        np.testing.assert_array_equal(out, apply_fn(clean, params))  # apply is deterministic
    recorded = [make_sample(sample_rng(4, i), severity=(1.0, 1.0)).params["degradations"][name] for i in range(4)]
    assert any(r is not None for r in recorded)


def test_severity_orders_difficulty():
    def err(sev):
        return np.mean([np.mean((s.inputs["image"] - s.target["clean"]) ** 2)
                        for s in (make_sample(sample_rng(8, i), severity=(sev, sev)) for i in range(4))])  # fmt: skip

    assert err(0.0) < err(1.0)


def test_geometric_degradations_warp_the_target_too():
    params = sample_params(sample_rng(6, 0))
    params["degradations"] = {k: None for k in DEGRADATIONS}
    plain = render_sample(params)
    params["degradations"]["rotation"] = sample_rotation(sample_rng(6, 1), 1.0)
    rotated = render_sample(params)
    assert set(GEOMETRIC) == {"rotation", "elastic"}
    # The target is the rotated clean print (up to interpolation), the input equals the target.
    expected = apply_rotation(plain.target["clean"][..., 0], params["degradations"]["rotation"])
    assert np.abs(rotated.target["clean"][..., 0] - expected).mean() < ROTATED_PRINT_MEAN_ATOL
    np.testing.assert_array_equal(rotated.inputs["image"], rotated.target["clean"])
    # The orientation field turned with it (mean doubled-angle difference).
    a = np.deg2rad(params["degradations"]["rotation"]["angle_deg"])
    m = rotated.extras["mask"] & plain.extras["mask"]
    z = np.exp(2j * decode_fields(rotated.extras)["orientation"][m].astype(np.float64))
    z0 = np.exp(2j * decode_fields(plain.extras)["orientation"][m].astype(np.float64))
    assert abs(np.angle(np.mean(z * np.conj(z0))) / 2 - a) < np.deg2rad(3)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"classes": "zoo"}, "choose from"), ({"severity": (0.5, 2.0)}, "severity"), ({"severity": (0.8, 0.2)}, "severity"),
     ({"severity": "hard"}, "severity")],  # fmt: skip
)
def test_bad_arguments_give_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_task(**kwargs)
    with pytest.raises(ValueError, match=match):
        make_sample(sample_rng(0, 0), **kwargs)


def test_degradations_reject_bad_images():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        DEGRADATIONS["blur"][1](np.zeros((4, 4, 1), np.float32), {"sigma_px": 1.0})


# --------------------------------------------------------------------------- command line


def test_cli_writes_a_readable_dataset(tmp_path, capsys):
    out = tmp_path / "fp"
    assert main(["--n", "3", "--out", str(out), "--seed", "2", "--workers", "1", "--shard-size", "2",
                 "--classes", "uniform", "--no-progress"]) == 0  # fmt: skip
    samples = dict(read_dataset(out))
    assert len(samples) == 3
    direct = make_task(classes="uniform").make_sample(sample_rng(2, 1))
    got = samples[sorted(samples)[1]]
    np.testing.assert_allclose(got.target["clean"], direct.target["clean"], atol=PNG_ATOL)
    np.testing.assert_allclose(got.inputs["image"], direct.inputs["image"], atol=PNG_ATOL)
    np.testing.assert_array_equal(got.extras["orientation_u8"], direct.extras["orientation_u8"])
    np.testing.assert_array_equal(got.extras["ridges"], direct.extras["ridges"])
    assert got.params == json.loads(json.dumps(direct.params))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generator"] == "fingerprints" and manifest["params"]["classes"] == "uniform"


@pytest.mark.parametrize("argv", [["--severity", "0.2", "1.5"], ["--classes", "plain"], ["--n", "0"]])
def test_cli_bad_arguments(argv, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err and "Traceback" not in err


# --------------------------------------------------------------------------- baselines


@pytest.mark.parametrize("method", [FingerprintIdentity(), FingerprintMedian(), GaborEnhancement()])
def test_baselines_contract(method, sample):
    assert isinstance(method, Method) and method.tasks == ("fingerprints",)
    assert supports(method, TASK) and supports(method, SENSOR_TASK)  # the sensor task is of the family
    out = method.restore(sample.inputs)
    assert out.shape == SHAPE
    check_image(out)


def test_gabor_estimates_orientation_and_period_of_a_clean_print():
    params, master = _master_of("left_loop")
    theta, coherence = estimate_orientation(master.image)
    m = master.mask & (coherence > 0.3)
    err = np.angle(np.exp(2j * (theta[m].astype(np.float64) - master.orientation[m])))
    assert np.median(np.abs(err)) / 2 < np.deg2rad(10)
    assert estimate_period(master.image) == pytest.approx(float(np.median(master.period[master.mask])), abs=RIDGE_PERIOD_ESTIMATE_ATOL_PX)


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("arch", ["rescnn", "unet"])
def test_networks_restore_any_size(arch):
    model = build_model(arch).eval()
    x = np.random.default_rng(0).random((37, 53, 1), dtype=np.float32)
    y = restore_image(model, x)
    assert y.shape == x.shape
    check_image(y)


def test_checkpoint_round_trip(tmp_path):
    model = build_model("unet", {"widths": [4, 4, 4, 4], "dilations": [2]})
    path = tmp_path / "tiny.pt"
    save_checkpoint(make_checkpoint(model, "unet", {"widths": [4, 4, 4, 4], "dilations": [2]}, note="test"), path)
    raw = torch.load(path, weights_only=True)
    assert raw["meta"] == {"note": "test"}
    loaded, ckpt = load_checkpoint(path, arch="unet")
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_checkpoint_errors_are_clear(tmp_path):
    tiny = {"widths": [4, 4, 4, 4], "dilations": [2]}
    cases = {}
    cases["missing"] = (tmp_path / "nope.pt", "not found")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 10)
    cases["corrupt"] = (tmp_path / "junk.pt", "not a readable")
    good = make_checkpoint(build_model("unet", tiny), "unet", tiny)
    path = tmp_path / "good.pt"
    save_checkpoint(good, path)
    (tmp_path / "trunc.pt").write_bytes(path.read_bytes()[:200])
    cases["truncated"] = (tmp_path / "trunc.pt", "not a readable")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    cases["other format"] = (tmp_path / "other.pt", "not a fingerprint-network checkpoint")
    bad = dict(good, config={"widths": [8, 8, 8, 8], "dilations": [2]})
    save_checkpoint(bad, tmp_path / "mismatch.pt")
    cases["mismatch"] = (tmp_path / "mismatch.pt", "do not match")
    save_checkpoint(dict(good, config={"depth": 3}), tmp_path / "config.pt")
    cases["config"] = (tmp_path / "config.pt", "bad unet config")
    for what, (p, match) in cases.items():
        with pytest.raises(ValueError, match=match):
            load_checkpoint(p)
    with pytest.raises(ValueError, match="expected 'rescnn'"):
        load_checkpoint(path, arch="rescnn")
    with pytest.raises(ValueError, match="not found"):
        ResidualCNNMethod(tmp_path / "nope.pt").restore({"image": np.zeros(SHAPE, np.float32)})


@pytest.mark.parametrize("method_cls", [ResidualCNNMethod, UNetMethod])
def test_shipped_networks(method_cls, sample):
    path = CHECKPOINTS[method_cls.arch]
    assert path.is_file() and path.stat().st_size < 4 * 2**20
    method = method_cls()
    assert isinstance(method, Method) and method.tasks == ("fingerprints",)
    assert supports(method, SENSOR_TASK)
    out = method.restore(sample.inputs)
    assert out.shape == SHAPE
    check_image(out)
    ref = sample.target["clean"]
    assert TASK.metrics["mse"](ref, out) < TASK.metrics["mse"](ref, sample.inputs["image"])


def test_trainer_takes_both_presets_and_refuses_a_resume_on_other_data(tmp_path, capsys):
    from models.train_fingerprints import main as train_fingerprints

    dirs = []
    for preset in ("chalearn", "sensor"):
        d = tmp_path / preset
        assert main(["--preset", preset, "--n", "2", "--out", str(d), "--workers", "1", "--extras", "none",
                     "--no-progress"]) == 0  # fmt: skip
        dirs.append(str(d))
    state = tmp_path / "state.pt"
    common = ["--arch", "rescnn", "--out", str(state), "--steps", "2", "--batch", "2", "--crop", "32",
              "--val-every", "1000", "--ema", "0"]  # fmt: skip
    assert train_fingerprints(["--data", *dirs, "--val-data", *dirs, "--val-limit", "1", *common]) == 0
    ckpt = torch.load(state, weights_only=True)
    v = f"v{FORMATION_VERSION}"  # recorded since issue 22; datasets written before it read as v0
    assert ckpt["data_version"] == [f"chalearn/{v}", f"sensor/{v}"] and ckpt["step"] == 2
    capsys.readouterr()
    assert train_fingerprints(["--data", dirs[1], *common]) == 2  # the existing --state is resumed, so refused
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"chalearn/{v}" in err and f"sensor/{v}" in err


def test_states_trained_before_versions_were_recorded_resume_on_version_1_data():
    from models.train_fingerprints import _same_data

    assert _same_data(["chalearn/v0", "sensor/v0"], ["chalearn/v1", "sensor/v1"])
    assert _same_data("sensor/v0", ["sensor/v1"])
    assert not _same_data(["sensor/v0"], ["chalearn/v1"])
    assert not _same_data(["sensor/v1"], ["sensor/v2"])
