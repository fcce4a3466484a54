"""Metrics equal their references: scikit-image for PSNR/SSIM, definitions for the rest."""

import functools

import numpy as np
import pytest
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from generators import metrics
from tests.tolerances import (
    FLOAT64_SUM_RTOL,
    FLOAT64_ZERO_ATOL,
    GAIN_INVARIANT_PSNR_DB_ATOL,
    METRIC_ATOL,
    ONE_DECIMAL_PSNR_DB_ATOL,
)


def _natural_pair(rng):
    ref = skdata.astronaut()[:200, :240].astype(np.float32) / 255.0
    noisy = np.clip(ref + rng.normal(0, 0.05, ref.shape).astype(np.float32), 0, 1)
    return ref, noisy


def _random_pair(rng, shape):
    ref = rng.random(shape, dtype=np.float32)
    return ref, np.clip(ref + rng.normal(0, 0.1, shape).astype(np.float32), 0, 1)


PAIRS = {
    "random-rgb": lambda rng: _random_pair(rng, (64, 80, 3)),
    "random-grey": lambda rng: _random_pair(rng, (31, 47)),
    "natural-rgb": _natural_pair,
    "natural-grey": lambda rng: tuple(a.mean(axis=2) for a in _natural_pair(rng)),
}


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_ssim_equals_skimage(kind):
    ref, img = PAIRS[kind](np.random.default_rng(0))
    expected = structural_similarity(
        ref, img, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1.0, channel_axis=2 if ref.ndim == 3 else None,
    )
    assert abs(metrics.ssim(ref, img, data_range=1.0) - expected) < METRIC_ATOL


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_psnr_equals_skimage(kind):
    ref, img = PAIRS[kind](np.random.default_rng(1))
    expected = peak_signal_noise_ratio(ref, img, data_range=1.0)
    assert abs(metrics.psnr(ref, img, data_range=1.0) - expected) < METRIC_ATOL


def test_psnr_uses_given_range_not_data():
    ref = np.full((8, 8), 0.5)
    img = ref + 0.1
    assert metrics.psnr(ref, img, data_range=1.0) == pytest.approx(20.0)
    assert metrics.psnr(ref * 255, img * 255, data_range=255.0) == pytest.approx(20.0)


def test_ssim_and_dssim_identity():
    ref, _ = _natural_pair(np.random.default_rng(2))
    assert metrics.ssim(ref, ref) == pytest.approx(1.0)
    assert metrics.dssim(ref, ref) == pytest.approx(0.0)
    assert metrics.dssim(ref, 1 - ref) > 0.5


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(np.zeros((4, 4)), np.zeros((4, 5)))


def test_lmse_properties():
    rng = np.random.default_rng(3)
    ref = rng.random((64, 50, 3))
    assert metrics.lmse(ref, ref) == 0.0
    assert metrics.lmse(ref, 3.7 * ref) == pytest.approx(0.0, abs=FLOAT64_ZERO_ATOL)  # global gain
    assert metrics.lmse(ref, np.zeros_like(ref)) == pytest.approx(1.0)
    noisy = ref + rng.normal(0, 0.1, ref.shape)
    worse = ref + rng.normal(0, 0.3, ref.shape)
    assert 0 < metrics.lmse(ref, noisy) < metrics.lmse(ref, worse)


def test_lmse_matches_direct_window_loop():
    """The integral-image version equals the MIT reference loop written out."""
    rng = np.random.default_rng(4)
    ref, img = rng.random((45, 61)), rng.random((45, 61))
    ssq = total = 0.0
    for i in range(0, 45 - 20 + 1, 10):
        for j in range(0, 61 - 20 + 1, 10):
            t, p = ref[i:i + 20, j:j + 20], img[i:i + 20, j:j + 20]
            a = (t * p).sum() / (p * p).sum()
            ssq += ((t - a * p) ** 2).sum()
            total += (t * t).sum()
    assert metrics.lmse(ref, img) == pytest.approx(ssq / total, rel=FLOAT64_SUM_RTOL)


def test_label_metrics():
    ref = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    assert metrics.label_accuracy(ref, pred) == pytest.approx(4 / 6)
    mask = np.array([[True, True, False], [False, False, False]])
    assert metrics.label_accuracy(ref, pred, mask=mask) == pytest.approx(0.5)
    # IoU: class0 1/3, class1 2/3, class2 1/2; class 3 absent from both -> ignored
    assert metrics.mean_iou(ref, pred, num_classes=4) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)


def test_gain_invariant_metrics_remove_exactly_a_per_channel_gain():
    rng = np.random.default_rng(0)
    ref = rng.random((32, 32, 3)).astype(np.float32) * 0.8
    pred = ref * np.array([0.5, 0.7, 0.9], np.float32)
    assert metrics.psnr(ref, pred) < 20
    assert metrics.psnr_gain_invariant(ref, pred) > 100 or metrics.psnr_gain_invariant(ref, pred) == float("inf")
    assert metrics.ssim_gain_invariant(ref, pred) == pytest.approx(1.0, abs=METRIC_ATOL)
    noisy = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)
    # without a gain to remove the score barely changes (the LS gain is ~1)
    assert metrics.psnr_gain_invariant(ref, noisy) == pytest.approx(metrics.psnr(ref, noisy), abs=GAIN_INVARIANT_PSNR_DB_ATOL)


def test_psnr_cap_only_changes_values_above_it():
    from generators.coverfill import PSNR_MAX_DB, TASK

    x = np.random.default_rng(0).random((128, 128, 3))
    y = x.copy()
    y[0, 0, 0] += 1 / 255  # one 8-bit step in one value: 95.0 dB, below the cap
    psnr = metrics.psnr
    assert psnr(x, x) == float("inf") and psnr(x, x, max_db=100.0) == 100.0
    assert TASK.metrics["psnr"](x, x) == PSNR_MAX_DB
    assert TASK.metrics["psnr"](x, y) == psnr(x, y) == pytest.approx(95.0, abs=ONE_DECIMAL_PSNR_DB_ATOL)


def _lmse_with_numpy_channel_sum(reference, prediction, *, window=20, step=10):
    """:func:`metrics.lmse` as it was written before the channel sum was unrolled (``a.sum(axis=2)``)."""
    ref, pred = (np.asarray(a, np.float64) for a in (reference, prediction))
    if ref.ndim == 2:
        ref, pred = ref[..., None], pred[..., None]
    h, w = ref.shape[:2]
    wh, ww = min(window, h), min(window, w)
    ys, xs = np.arange(0, h - wh + 1, step)[:, None], np.arange(0, w - ww + 1, step)[None, :]

    def patch_sums(a):
        ii = np.zeros((h + 1, w + 1))
        ii[1:, 1:] = a.sum(axis=2).cumsum(0).cumsum(1)
        return ii[ys + wh, xs + ww] - ii[ys, xs + ww] - ii[ys + wh, xs] + ii[ys, xs]

    tp, pp, tt = patch_sums(ref * pred), patch_sums(pred * pred), patch_sums(ref * ref)
    gain = np.where(pp > 0, tp / np.where(pp > 0, pp, 1.0), 0.0)
    return float(max((tt - 2 * gain * tp + gain * gain * pp).sum(), 0.0) / tt.sum())


def _scored_pairs(n=6):
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        shape = ((128, 128, 3), (64, 80, 3), (31, 47), (40, 40, 1))[i % 4]
        ref = rng.random(shape, dtype=np.float32)
        gain = rng.uniform(0.4, 1.6, shape[-1:] if len(shape) == 3 else ())
        out.append((ref, np.clip(ref * gain + rng.normal(0, 0.08, shape), 0, 1).astype(np.float32)))
    return out


def test_lmse_is_bit_identical_to_the_numpy_channel_sum():
    for ref, pred in _scored_pairs(12):
        assert metrics.lmse(ref, pred) == _lmse_with_numpy_channel_sum(ref, pred)


def test_reused_results_are_bit_identical():
    """Inside ``reuse_results`` (the harness opens one per scored prediction) every metric of the
    bookcovers set, and masked SSIM over two regions, gives exactly the value it gives alone."""
    fns = {"psnr": metrics.psnr, "ssim": metrics.ssim, "dssim": metrics.dssim, "lmse": metrics.lmse,
           "mse": metrics.mse, "psnr_gi": metrics.psnr_gain_invariant, "ssim_gi": metrics.ssim_gain_invariant}
    for ref, pred in _scored_pairs():
        hole = np.zeros(ref.shape[:2], bool)
        hole[8:-12, 10:20] = True
        fns["ssim_hole"] = functools.partial(metrics.ssim_masked, mask=hole)  # coverrefs: two regions, one map
        fns["ssim_outside"] = functools.partial(metrics.ssim_masked, mask=~hole)
        alone = {k: f(ref, pred) for k, f in fns.items()}
        with metrics.reuse_results():
            shared = {k: f(ref, pred) for k, f in fns.items()}
        assert shared == alone
        assert alone["dssim"] == (1.0 - alone["ssim"]) / 2.0


def test_reuse_results_counts_calls_and_forgets_at_the_end(monkeypatch):
    calls = []
    real_map = metrics._ssim_map
    monkeypatch.setattr(metrics, "_ssim_map", lambda *a: calls.append("map") or real_map(*a))
    ref, pred = _scored_pairs(1)[0]  # RGB: one SSIM is three channel maps
    with metrics.reuse_results():
        metrics.ssim(ref, pred), metrics.dssim(ref, pred)
        everywhere = np.ones(ref.shape[:2], bool)
        assert metrics.ssim_masked(ref, pred, mask=everywhere) == metrics.ssim(ref, pred)
        assert len(calls) == 3  # ssim, dssim and the masked SSIM share the maps
        gi = metrics.gain_invariant(ref, pred)
        assert metrics.gain_invariant(ref, pred) is gi  # psnr_gi and ssim_gi share it
        metrics.psnr_gain_invariant(ref, pred), metrics.ssim_gain_invariant(ref, pred)
        assert len(calls) == 6  # the second SSIM is of the gain-corrected prediction
        assert metrics.ssim(ref, pred.copy()) == metrics.ssim(ref, pred)  # equal values, another object: computed
        assert len(calls) == 9
        metrics.ssim(ref, pred, data_range=2.0)  # other options: computed
        assert len(calls) == 12
    assert metrics.gain_invariant(ref, pred) is not gi  # outside any block nothing is remembered
    metrics.ssim(ref, pred), metrics.dssim(ref, pred)
    assert len(calls) == 18
    with metrics.reuse_results():  # a new block starts empty
        metrics.dssim(ref, pred)
    assert len(calls) == 21 and metrics._RESULTS.get() is None


def test_reference_statistics_are_reused_with_the_same_bits():
    from generators import metrics

    rng = np.random.default_rng(4)
    ref = rng.random((40, 36, 3)).astype(np.float32)
    preds = [np.clip(ref + rng.normal(0, s, ref.shape), 0, 1).astype(np.float32) for s in (0.02, 0.1)]
    plain = [metrics.ssim(ref, p) for p in preds] + [metrics.ssim(ref[..., 0], preds[0][..., 0])]
    with metrics.reuse_reference_statistics():
        reused = [metrics.ssim(ref, p) for p in preds] + [metrics.ssim(ref[..., 0], preds[0][..., 0])]
        cache = metrics._REFERENCE_STATS.get()
        assert cache[id(ref)][0] is ref and sorted(cache[id(ref)][1]) == [0, 1, 2]  # one entry, all channels
    assert reused == plain
    assert metrics._REFERENCE_STATS.get() is None
    with metrics.reuse_reference_statistics():  # a clip's frames are new views each time: the cache stays small
        frames = [metrics.ssim(ref[..., k], preds[1][..., k]) for k in range(3) for _ in range(3)]
        assert len(metrics._REFERENCE_STATS.get()) <= metrics._REFERENCE_STATS_KEPT
    assert frames == [metrics.ssim(ref[..., k], preds[1][..., k]) for k in range(3) for _ in range(3)]
