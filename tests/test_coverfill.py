"""coverfill: deterministic masks in the stated range, a working CLI, and the
inpainting baselines beat a mean-colour fill on it."""

import numpy as np
import pytest

from benchmarks.registry import BASELINES
from generators.metrics import psnr
from generators import coverfill
from generators.dataset import read_dataset
from generators.task import sample_rng


def test_deterministic_and_aligned():
    a = coverfill.TASK.make_sample(sample_rng(7, 3))
    b = coverfill.TASK.make_sample(sample_rng(7, 3))
    for k in ("image", "mask"):
        np.testing.assert_array_equal(a.inputs[k], b.inputs[k])
    known = ~a.inputs["mask"]
    np.testing.assert_array_equal(a.inputs["image"][known], a.target["clean"][known])
    assert np.all(a.inputs["image"][a.inputs["mask"]] == 0)


def test_hole_fraction_mostly_in_range():
    """The module docstring's 5-25 %: the drawn target lies in HOLE_FRACTION, and the fraction reached
    (strokes and boxes until the target, or until they run out) stays within 5-30 % for 90 % of the
    samples (the last stroke may overshoot by a few percent)."""
    samples = [coverfill.TASK.make_sample(sample_rng(0, i)) for i in range(40)]
    fr = np.array([s.params["hole_fraction"] for s in samples])
    target = np.array([s.params["mask"]["fraction"] for s in samples])
    assert ((target >= coverfill.HOLE_FRACTION[0]) & (target <= coverfill.HOLE_FRACTION[1])).all()
    assert np.mean((fr >= 0.05) & (fr <= 0.25 + 0.05)) >= 0.9, np.round(np.sort(fr), 3)


@pytest.mark.parametrize("name", ["telea", "navier-stokes", "patchmatch", "nearest"])
def test_inpainting_beats_mean_fill(name):
    wins = 0
    for i in range(4):
        s = coverfill.TASK.make_sample(sample_rng(1, i))
        img, mask, ref = s.inputs["image"], s.inputs["mask"], s.target["clean"]
        mean_fill = img.copy()
        mean_fill[mask] = img[~mask].mean(axis=0)
        out = BASELINES[name].restore(s.inputs)
        wins += psnr(ref, out) > psnr(ref, mean_fill)
    assert wins >= 3


def test_cli_writes_dataset(tmp_path, capsys):
    assert coverfill.main(["--n", "3", "--out", str(tmp_path), "--size", "64", "--workers", "1", "--no-progress"]) == 0
    samples = list(read_dataset(tmp_path))
    assert len(samples) == 3 and samples[0][1].inputs["mask"].dtype == bool


def test_cli_bad_size(tmp_path, capsys):
    assert coverfill.main(["--n", "1", "--out", str(tmp_path), "--size", "10"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "size" in err[0]
