"""Golden samples: one tiny sample per generator, compared exactly (see tests/golden/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.registry import TINY_TASKS
from generators.task import Sample, sample_rng
from tests.tolerances import GOLDEN_FLOAT_ATOL

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
SEED, INDEX = 2026, 3


def flatten(sample: Sample) -> dict[str, np.ndarray]:
    return {f"{group}.{k}": np.asarray(v) for group in ("inputs", "target", "extras")
            for k, v in getattr(sample, group).items()}


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
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        if np.issubdtype(want[k].dtype, np.floating):
            # Float fields may differ by an ulp between CPUs (see GOLDEN_FLOAT_ATOL).
            np.testing.assert_allclose(got[k], want[k], rtol=0, atol=GOLDEN_FLOAT_ATOL, err_msg=f"{name}: {k} changed")
        else:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{name}: {k} changed")
    params = json.loads((GOLDEN_DIR / f"{name}.params.json").read_text())
    assert json.loads(json.dumps(sample.params, sort_keys=True)) == params


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
