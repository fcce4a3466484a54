"""Fingerprints (issue 17): minutiae ground truth, compact fields, the ``sensor`` preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.morphology import skeletonize

from generators.dataset import read_dataset, select_extras
from generators.fingerprints import (
    FREQUENCY_RANGE,
    ORIENTATION_STEP,
    PRESETS,
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
from generators.fingerprints.master import HEIGHT, WIDTH, render_master, sample_master
from generators.fingerprints.minutiae import BIFURCATION, ENDING, binarise_print, crossing_number, extract_minutiae
from generators.task import check_image, sample_rng
from tests.tolerances import FLOAT32_ROUNDING_ATOL, PNG_ATOL

SHAPE = (HEIGHT, WIDTH, 1)
PRESET_NAMES = sorted(PRESETS)
_SAMPLES: dict = {}


def _samples(preset: str, n: int = 12) -> list:
    """n prints of a preset (seed 77), made once for the module."""
    if preset not in _SAMPLES:
        _SAMPLES[preset] = [make_sample(sample_rng(77, i), preset=preset) for i in range(12)]
    return _SAMPLES[preset][:n]


@pytest.fixture(scope="module")
def sensor_sample():
    return make_sample(sample_rng(3, 1), preset="sensor", severity=(0.6, 0.6))


# --------------------------------------------------------------------------- minutiae


def _close_fraction(minutiae: list, singular: list, *, distance: float = 6.0, exclude: float = 16.0) -> tuple[int, int]:
    """(minutiae within ``distance`` px of another, all minutiae), not counting those within ``exclude``
    px of a core or delta, where ridges converge and genuinely end side by side."""
    m = np.array([[x, y] for x, y, *_ in minutiae], float)
    d = np.hypot(m[:, None, 0] - m[None, :, 0], m[:, None, 1] - m[None, :, 1])
    np.fill_diagonal(d, np.inf)
    near = np.zeros(len(m), bool)
    for x, y in singular:
        near |= np.hypot(m[:, 0] - x, m[:, 1] - y) < exclude
    return int(((d.min(axis=1) <= distance) & ~near).sum()), len(m)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_minutiae_are_not_crowded(preset):
    """Before the post-processing 10.4 % of the minutiae lay within 6 px of another (16 % within 8 px):
    break pairs, spurs and junction clusters. Now at most 1 %, short ridges of two endings at the
    loop's core aside (measured on 30 prints: 0.5 % chalearn, 0.2 % sensor)."""
    close = total = 0
    for s in _samples(preset):
        c, t = _close_fraction(s.params["minutiae"], s.params["cores"] + s.params["deltas"])
        close, total = close + c, total + t
    assert total > 12 * 25  # 30-80 per real full print; ~40 here
    assert close <= 0.01 * total, f"{close} of {total} minutiae within 6 px of another"


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_minutia_sits_on_an_ending_or_fork_of_the_rendered_print(preset):
    """Against the plain skeleton of the binarised clean print (no post-processing): filling pore-sized
    holes moves a skeleton by a few px at most."""
    dist = []
    for s in _samples(preset, 6):
        clean, ex = s.target["clean"][..., 0], s.extras
        skel = skeletonize(binarise_print(clean, ex["ridges"], ex["mask"]))
        cn = crossing_number(skel)
        for x, y, kind, _ in s.params["minutiae"]:
            ys, xs = np.nonzero(cn == 1) if kind == ENDING else np.nonzero(cn >= 3)
            dist.append(float(np.hypot(xs - x, ys - y).min()))
    dist = np.array(dist)
    assert dist.max() <= 5.0 and np.mean(dist <= 1.0) >= 0.98, (dist.max(), np.mean(dist <= 1.0))


def test_minutia_records_type_position_and_direction():
    s = _samples("chalearn", 1)[0]
    theta = decode_fields(s.extras)["orientation"]
    kinds = {k for _, _, k, _ in s.params["minutiae"]}
    assert kinds == {ENDING, BIFURCATION}
    for x, y, kind, angle in s.params["minutiae"]:
        assert isinstance(x, int) and isinstance(y, int) and s.extras["mask"][y, x]
        # The direction lies along the ridge orientation (either way along it).
        d = np.angle(np.exp(2j * (angle - float(theta[y, x]))))
        assert abs(d) < 2 * ORIENTATION_STEP + 1e-3


def test_post_processing_removes_a_break_and_a_spur():
    """A straight ridge with a 3 px gap has no minutia in the gap; a 5 px spur adds no fork."""
    ridges = np.zeros((60, 120), bool)
    ridges[28:32, 5:115] = True
    mask = np.ones_like(ridges)
    theta = np.zeros(ridges.shape, np.float32)
    whole = extract_minutiae(ridges, mask, theta, border=10)
    broken = ridges.copy()
    broken[:, 58:61] = False
    spur = ridges.copy()
    spur[24:28, 80:82] = True
    for r in (broken, spur):
        assert len(extract_minutiae(r, mask, theta, border=10)) == len(whole) == 0


# --------------------------------------------------------------------------- compact fields


def test_compact_fields_round_trip():
    master = render_master(sample_master(sample_rng(5, 0)))
    freq = 1.0 / master.period
    o8, f8 = encode_fields(master.orientation, freq)
    back = decode_fields({"orientation_u8": o8, "frequency_u8": f8})
    err = np.abs(np.angle(np.exp(2j * (back["orientation"].astype(np.float64) - master.orientation)))) / 2
    assert err.max() <= ORIENTATION_STEP / 2 + 1e-6  # 0.35 degrees
    step = (FREQUENCY_RANGE[1] - FREQUENCY_RANGE[0]) / 255
    assert np.abs(back["frequency"] - freq).max() <= step / 2 + 1e-6
    assert back["orientation"].dtype == back["frequency"].dtype == np.float32
    # Out of range frequencies are clipped to the range ends.
    _, f8 = encode_fields(np.zeros((1, 2), np.float32), np.array([[0.01, 0.5]], np.float32))
    assert f8.tolist() == [[0, 255]]


def test_compact_fields_are_small_on_disk(tmp_path):
    assert main(["--n", "2", "--out", str(tmp_path / "d"), "--workers", "1", "--no-progress"]) == 0
    import tarfile

    with tarfile.open(next((tmp_path / "d").glob("shard-*.tar"))) as tar:
        sizes = {m.name.split(".", 1)[1]: m.size for m in tar.getmembers() if m.name.startswith("000000000000.")}
    # float16 .npy took 2 x 220 kB; the 8-bit PNGs take about 30 kB each (measured 28 and 35 kB).
    assert sizes["extras.orientation_u8.png"] + sizes["extras.frequency_u8.png"] < 90_000, sizes


# --------------------------------------------------------------------------- sensor preset


def test_sensor_task_contract(sensor_sample):
    assert SENSOR_TASK.name == "fingerprints-sensor" and SENSOR_TASK.family == "fingerprints"
    assert SENSOR_TASK.input_kind == TASK.input_kind and SENSOR_TASK.target_key == TASK.target_key
    assert set(SENSOR_TASK.metrics) == set(TASK.metrics) and SENSOR_TASK.higher_is_better == TASK.higher_is_better
    assert (SENSOR_TASK.test_size, SENSOR_TASK.quick_size) == (TASK.test_size, TASK.quick_size)
    assert SENSOR_TASK.params["preset"] == "sensor" and "preset" not in TASK.params
    s = sensor_sample
    for x in (s.inputs["image"], s.target["clean"], s.extras["quality"]):
        assert x.shape == SHAPE
        check_image(x)
    assert set(s.extras) == {"orientation_u8", "frequency_u8", "mask", "ridges", "quality"}
    q = s.extras["quality"][..., 0]
    assert (q[~s.extras["mask"]] == 0).all() and q[s.extras["mask"]].max() > 0.2
    assert s.params["preset"] == "sensor" and set(s.params["degradations"]) == set(sensor.STEPS)
    assert set(s.params["master"]["sensor"]) >= {"pore_spacing_px", "edge_fade", "width_variation", "grey_variation"}
    json.dumps(s.params)


def test_sensor_quality_map_round_trips_through_the_codec(sensor_sample, tmp_path):
    """Stored as k/255 so that the PNG codec gives it back exactly."""
    q = sensor_sample.extras["quality"]
    np.testing.assert_array_equal(np.rint(q * 255).astype(np.uint8).astype(np.float32) / np.float32(255), q)


def test_sensor_sample_is_recreated_from_params_and_deterministic(sensor_sample):
    again = render_sample(json.loads(json.dumps(sensor_sample.params)))
    for group in ("inputs", "target", "extras"):
        for k, v in getattr(sensor_sample, group).items():
            np.testing.assert_array_equal(getattr(again, group)[k], v)
    other = make_sample(sample_rng(3, 2), preset="sensor", severity=(0.6, 0.6))
    assert not np.array_equal(other.inputs["image"], sensor_sample.inputs["image"])


def test_sensor_clean_print_looks_like_a_live_scan(sensor_sample):
    """Grey ridges of varying darkness (not near-binary), pores, and the ridge map still matches the ink."""
    clean, ex = sensor_sample.target["clean"][..., 0], sensor_sample.extras
    ridge, valley = ex["ridges"] & ex["mask"], ex["mask"] & ~ex["ridges"]
    assert clean[ridge].mean() + 0.3 < clean[valley].mean()
    assert np.std(clean[ridge]) > 0.06  # darkness varies along the ridges
    assert sensor_sample.params["master"]["sensor"]["pore_spacing_px"] >= 11


@pytest.mark.parametrize("name", sorted(set(sensor.STEPS) - set(sensor.GEOMETRIC)))
def test_every_sensor_step_is_sampled_then_applied(name, sensor_sample):
    sample_fn, apply_fn = sensor.STEPS[name]
    clean = sensor_sample.target["clean"][..., 0]
    ex = sensor_sample.extras
    ridge = np.where(ex["ridges"], 0.8, -0.8).astype(np.float32)
    ctx = sensor.Context(ridge=ridge, mask=ex["mask"], softness=0.5, skin=ex["mask"].astype(np.float32))
    x = (1.0 - clean) if name in sensor.INK else clean
    for severity in (0.0, 0.5, 1.0):
        params = sample_fn(sample_rng(9, int(severity * 10)), severity)
        assert json.loads(json.dumps(params)) == params
        out, damage = apply_fn(x, params, ctx)
        assert out.shape == damage.shape == x.shape and out.dtype == damage.dtype == np.float32
        assert 0 <= out.min() and out.max() <= 1 and 0 <= damage.min() and damage.max() <= 1
        assert np.abs(out - x).max() > 0.008, (name, severity)
        out2, damage2 = apply_fn(x, params, ctx)
        np.testing.assert_array_equal(out, out2)
        np.testing.assert_array_equal(damage, damage2)


def test_sensor_distortion_warps_target_and_ground_truth_together():
    params = sample_params(sample_rng(6, 0), preset="sensor")
    params["degradations"] = {k: None for k in sensor.STEPS}
    plain = render_sample(params)
    np.testing.assert_allclose(plain.inputs["image"], plain.target["clean"], atol=FLOAT32_ROUNDING_ATOL)  # 1 - (1 - x)
    params["degradations"]["distortion"] = sensor.sample_distortion(sample_rng(6, 1), 1.0)
    warped = render_sample(params)
    assert not np.array_equal(warped.target["clean"], plain.target["clean"])
    np.testing.assert_allclose(warped.inputs["image"], warped.target["clean"], atol=FLOAT32_ROUNDING_ATOL)
    # The warped ridge map still matches the warped ink.
    clean, ex = warped.target["clean"][..., 0], warped.extras
    assert clean[ex["ridges"]].mean() + 0.3 < clean[ex["mask"] & ~ex["ridges"]].mean()


def test_sensor_severity_orders_difficulty():
    def err(sev):
        return np.mean([np.mean((s.inputs["image"] - s.target["clean"]) ** 2) for s in
                        (make_sample(sample_rng(8, i), preset="sensor", severity=(sev, sev)) for i in range(4))])  # fmt: skip

    def quality(sev):
        return np.mean([s.extras["quality"][s.extras["mask"]].mean() for s in
                        (make_sample(sample_rng(8, i), preset="sensor", severity=(sev, sev)) for i in range(4))])  # fmt: skip

    assert err(0.0) < err(1.0)
    assert quality(0.0) > quality(1.0) + 0.1


def test_presets_share_the_master_print():
    """The sensor preset draws the same master (same ridges, orientation) and then its own look."""
    a, b = sample_params(sample_rng(4, 0)), sample_params(sample_rng(4, 0), preset="sensor")
    assert {k: v for k, v in b["master"].items() if k != "sensor"} == a["master"]


def test_bad_preset_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="choose from"):
        make_task(preset="optical")
    assert main(["--preset", "optical", "--out", str(tmp_path / "x"), "--no-progress"]) == 2


def test_cli_sensor_preset_and_extras_option(tmp_path):
    out = tmp_path / "fp"
    assert main(["--n", "2", "--out", str(out), "--seed", "2", "--workers", "1", "--preset", "sensor",
                 "--no-progress"]) == 0  # fmt: skip
    samples = dict(read_dataset(out))
    got = samples[sorted(samples)[1]]
    direct = SENSOR_TASK.make_sample(sample_rng(2, 1))
    np.testing.assert_allclose(got.inputs["image"], direct.inputs["image"], atol=PNG_ATOL)
    np.testing.assert_array_equal(got.extras["quality"], direct.extras["quality"])
    np.testing.assert_array_equal(got.extras["orientation_u8"], direct.extras["orientation_u8"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["preset"] == "sensor"
    masks_only = select_extras(SENSOR_TASK.make_sample, sample_rng(2, 1), extras="masks")
    assert set(masks_only.extras) == {"mask", "ridges"}
