"""Golden samples: one tiny sample per generator, compared exactly (see tests/golden/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.registry import TINY_TASKS
from generators.task import Sample, sample_rng
from tests.tolerances import (GOLDEN_CROSS_CPU_ATOL, GOLDEN_CROSS_CPU_FRACTION, GOLDEN_FLOAT_ATOL,
                              GOLDEN_PARAMS_RTOL)

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
SEED, INDEX = 2026, 3


def flatten(sample: Sample) -> dict[str, np.ndarray]:
    return {f"{group}.{k}": np.asarray(v) for group in ("inputs", "target", "extras")
            for k, v in getattr(sample, group).items()}


def assert_matches_golden(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Equal (floats to GOLDEN_FLOAT_ATOL), except that at most GOLDEN_CROSS_CPU_FRACTION of the values may
    sit one quantisation step away (float32 GOLDEN_CROSS_CPU_ATOL, one float16 ulp, one integer step), as
    they do between CPUs with and without AVX-512 (tests/tolerances.py)."""
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if np.issubdtype(want.dtype, np.floating):
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        off = diff > GOLDEN_FLOAT_ATOL
        if want.dtype == np.float16:
            step = np.spacing(np.abs(want)).astype(np.float64)
        else:
            step = np.full(want.shape, GOLDEN_CROSS_CPU_ATOL)
        far = diff > np.maximum(step, GOLDEN_FLOAT_ATOL)
    else:
        diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
        off, far = diff > 0, diff > 1
    n_off = int(np.count_nonzero(off))
    assert not far.any() and n_off <= GOLDEN_CROSS_CPU_FRACTION * want.size, (
        f"{what} changed: {n_off} of {want.size} values differ, {int(np.count_nonzero(far))} by more than one "
        f"step (largest difference {float(diff.max()):.3g})")


def assert_params_match(got, want, what: str) -> None:
    """The same JSON structure; floats equal to GOLDEN_PARAMS_RTOL (last-bit CPU differences)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), what
        for k in want:
            assert_params_match(got[k], want[k], f"{what}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), what
        for i, (g, w) in enumerate(zip(got, want)):
            assert_params_match(g, w, f"{what}[{i}]")
    elif isinstance(want, float) or isinstance(got, float):
        assert got == pytest.approx(want, rel=GOLDEN_PARAMS_RTOL, abs=1e-300), what
    else:
        assert got == want, what


@pytest.mark.parametrize("name", sorted(TINY_TASKS))
def test_generator_output_matches_its_golden_sample(name):
    path = GOLDEN_DIR / f"{name}.npz"
    assert path.is_file(), f"no golden sample for {name}: run python tests/golden/make_golden.py"
    sample = TINY_TASKS[name]().make_sample(sample_rng(SEED, INDEX))
    got = flatten(sample)
    with np.load(path) as z:
        want = {k: z[k] for k in z.files}
    assert sorted(got) == sorted(want)
    for k in want:
        assert_matches_golden(got[k], want[k], f"{name}: {k}")
    params = json.loads((GOLDEN_DIR / f"{name}.params.json").read_text())
    assert_params_match(json.loads(json.dumps(sample.params, sort_keys=True)), params, f"{name}: params")


@pytest.mark.parametrize("kind", ["float32", "float16", "uint8"])
def test_golden_comparison_allows_a_rare_one_step_difference_and_nothing_more(kind):
    """The cross-CPU allowance catches what a change of a generator does: many values off, or one far off."""
    rng = np.random.default_rng(0)
    want = (rng.random(20_000) * (200 if kind == "uint8" else 1)).astype(kind)
    step = {"float32": GOLDEN_CROSS_CPU_ATOL / 2, "float16": None, "uint8": 1}[kind]

    def bumped(idx, scale=1.0):
        g = want.copy()
        if kind == "float16":
            g[idx] = np.nextafter(g[idx], np.float16(2)) if scale == 1 else g[idx] + np.float16(0.25)
        else:
            g[idx] = g[idx] + np.asarray(step * scale).astype(kind)
        return g

    assert_matches_golden(bumped(np.arange(5)), want, "rare one-step")  # 5 of 20,000: allowed
    with pytest.raises(AssertionError, match="changed"):
        assert_matches_golden(bumped(np.arange(100)), want, "many one-step")  # 0.5 %
    with pytest.raises(AssertionError, match="changed"):
        assert_matches_golden(bumped(np.arange(1), scale=10), want, "one far")


def test_every_registered_task_has_a_golden_sample():
    from benchmarks.registry import TASKS

    assert set(TASKS) <= set(TINY_TASKS)


# How a dataset may store images losslessly: the PNG encoders (imagecodecs, the default
# since issue 27; OpenCV, before it and for extending older datasets) and the lossless
# --image-format choices. Each must give back the same arrays.
LOSSLESS_STORAGE = {
    "png": {"image_format": "png"},
    "png-opencv": {"image_format": "png", "png_encoder": "opencv"},
    "jxl": {"image_format": "jxl"},
    "webp": {"image_format": "webp"},
}


@pytest.mark.parametrize("storage", sorted(LOSSLESS_STORAGE))
@pytest.mark.parametrize("name", sorted(TINY_TASKS))
def test_stored_golden_sample_decodes_to_its_8_bit_values(name, storage):
    """The golden sample written to shard members and read back: every array exactly as the
    writer promises (float images as round(x * 255) / 255, everything else unchanged), whatever
    the lossless encoder; so changing the encoder changes bytes, never the data."""
    from generators.dataset._codec import _decode_sample, _encode_sample

    with np.load(GOLDEN_DIR / f"{name}.npz") as z:
        want = {k: z[k] for k in z.files}
    groups = {g: {k.split(".", 1)[1]: v for k, v in want.items() if k.startswith(g + ".")}
              for g in ("inputs", "target", "extras")}  # fmt: skip
    members = _encode_sample(Sample(**groups, params={}), INDEX, **LOSSLESS_STORAGE[storage])
    files = {m.split(".", 1)[1]: bytes(d) for m, d in members}
    fields = json.loads(files["meta.json"])["fields"]
    got = flatten(_decode_sample(f"{INDEX:012d}", files, storage))
    assert sorted(got) == sorted(want)
    images = 0
    for k, x in want.items():
        if fields[k]["encoding"] in ("png8", "jxl8", "webp8"):
            x = np.rint(x * np.float32(255)).astype(np.uint8).astype(np.float32) / np.float32(255)
        images += fields[k]["encoding"] != "npy"
        assert got[k].dtype == x.dtype and got[k].shape == x.shape, k
        np.testing.assert_array_equal(got[k], x, err_msg=f"{name} stored as {storage}: {k}")
    assert images >= 2  # at least the input and the target went through an image codec
