"""Masked scores, the three distances and the retrieval scores of generators.metrics (issue 29):
hand-computed values and the properties their docstrings state."""

import numpy as np
import pytest

from generators.metrics import (average_precision, chord_distance, euclidean_distance, manhattan_distance, mse,
                                mse_masked, psnr, psnr_masked, recall_at_k, ssim, ssim_masked)
from tests.tolerances import FLOAT32_ROUNDING_RTOL, FLOAT32_ZERO_ATOL, FLOAT64_RTOL


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    t = rng.random((32, 40, 3)).astype(np.float32)
    p = np.clip(t + rng.normal(0, 0.1, t.shape), 0, 1).astype(np.float32)
    return t, p


def test_full_mask_equals_the_unmasked_metrics(pair):
    t, p = pair
    full = np.ones(t.shape[:2], bool)
    assert mse_masked(t, p, mask=full) == pytest.approx(mse(t, p), rel=FLOAT64_RTOL)
    assert psnr_masked(t, p, mask=full) == pytest.approx(psnr(t, p), rel=FLOAT64_RTOL)
    assert ssim_masked(t, p, mask=full) == pytest.approx(ssim(t, p), rel=FLOAT64_RTOL)


def test_masked_scores_see_only_the_region(pair):
    t, p = pair
    mask = np.zeros(t.shape[:2], bool)
    mask[10:20, 10:30] = True
    q = p.copy()
    q[~mask] = 0.0
    assert mse_masked(t, q, mask=mask) == mse_masked(t, p, mask=mask)
    assert mse_masked(t, p, mask=mask) == pytest.approx(float(np.mean((t[mask] - p[mask]) ** 2)))
    assert np.isnan(mse_masked(t, p, mask=np.zeros_like(mask)))
    assert psnr_masked(t, t, mask=mask) == float("inf")
    border = np.zeros_like(mask)
    border[:3] = True  # only pixels outside SSIM's valid region
    assert np.isnan(ssim_masked(t, p, mask=border))


def test_distances_by_hand():
    t = np.zeros((1, 2, 3), np.float32)
    p = np.array([[[0.3, 0.4, 0.0], [0.0, 0.0, 0.5]]], np.float32)
    assert euclidean_distance(t, p) == pytest.approx((0.5 + 0.5) / 2)
    assert manhattan_distance(t, p) == pytest.approx((0.7 + 0.5) / 2)
    # Mean of norms, not the root of the mean of squares: the columns differ from MSE's.
    q = np.array([[[0.6, 0.0, 0.0], [0.0, 0.0, 0.0]]], np.float32)
    assert euclidean_distance(t, q) == pytest.approx(0.3)
    assert np.sqrt(3 * mse(t, q)) == pytest.approx(0.6 / np.sqrt(2))


def test_chord_distance_properties(pair):
    t, p = pair
    assert chord_distance(t, t) == pytest.approx(0.0, abs=FLOAT32_ZERO_ATOL)
    assert chord_distance(t, 0.5 * t) == pytest.approx(0.0, abs=FLOAT32_ZERO_ATOL)  # gain-invariant
    a = np.zeros((1, 2, 1), np.float32)
    b = a.copy()
    a[0, 0, 0], b[0, 1, 0] = 1.0, 1.0
    assert chord_distance(a, b) == pytest.approx(np.sqrt(2.0))  # orthogonal
    assert 0 < chord_distance(t, p) < np.sqrt(2)
    mask = np.zeros(t.shape[:2], bool)
    mask[5, 5] = True
    v = t[5, 5] / np.linalg.norm(t[5, 5]) - p[5, 5] / np.linalg.norm(p[5, 5])
    assert chord_distance(t, p, mask=mask) == pytest.approx(float(np.linalg.norm(v)), rel=FLOAT32_ROUNDING_RTOL)


def test_retrieval_scores_by_hand():
    rel = np.array([False, True, False, True, False])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.5])  # ranking: 0, 1, 2, 4, 3
    assert recall_at_k(rel, scores, k=1) == 0.0
    assert recall_at_k(rel, scores, k=2) == 1.0
    assert average_precision(rel, scores) == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert average_precision(rel, -np.arange(5.0)) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert np.isnan(recall_at_k(np.zeros(5, bool), scores, k=5))
    assert np.isnan(average_precision(np.zeros(5, bool), scores))
    tie = np.zeros(5)  # ties keep gallery order
    assert recall_at_k(rel, tie, k=1) == 0.0 and recall_at_k(rel, tie, k=2) == 1.0
