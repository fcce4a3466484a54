"""Speed of the classical baselines (pytest-benchmark; skipped in the default run).

Run with ``.venv/bin/python -m pytest --benchmark-only tests/test_bench_baselines.py``.
Every test warms up once (numba compilation, FFT plans, caches) before the
timed rounds, and asserts its target on the *fastest* round.

Timer: the tests with a target time *process CPU time*
(``time.process_time``), not wall time. The development machine has two
cores shared with other jobs; at a load average of 10 we measured wall times
2-3x the CPU times, which would make wall-time targets a lottery. The timed
code is single-threaded (numba kernels, ``scipy.fft`` with one worker, no
BLAS-heavy step), so on an idle machine its CPU time is its wall time.

Targets (issue text, 2-core machine):

* Weiss, 10 views of 256x256x3: <= 0.1 s
* RPCA (inexact ALM), 10 views of 256x256x3: <= 1 s; the fixed-mu ADMM
  reference runs on the same matrix in the same session for comparison
  (no target: it is the slow straightforward solver)
* PatchMatch, RGB, 5% hole: <= 0.3 s at 256x256, <= 1 s at 512x512

Hole quality of PatchMatch versus Telea, NS and mean fill is recorded in
``extra_info`` (PSNR inside the hole, dB).
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from baselines.inpaint import inpaint_navier_stokes, inpaint_telea
from baselines.patchmatch import inpaint_patchmatch
from baselines.rpca import _decompose_rpca_fixed_mu, decompose_rpca
from baselines.weiss import estimate_reflectance_weiss

WEISS_TARGET_S = 0.1
RPCA_TARGET_S = 1.0
PATCHMATCH_TARGET_S = {256: 0.3, 512: 1.0}
FIXED_MU_MAX_ITER = 100  # caps the reference solver (a full SVD per iteration) at tens of seconds
CPU_TIMER = pytest.mark.benchmark(timer=time.process_time)


def _photo(size: int) -> np.ndarray:
    img = skdata.astronaut().astype(np.float32) / 255.0
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) if size != 512 else img


def _spotlight_views(n: int = 10, size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    out = []
    for _ in range(n):
        cy, cx = rng.uniform(0, size, 2)
        light = rng.uniform(0.5, 1.0) * (0.4 + 0.6 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 30.0**2)))
        out.append(_photo(size) * light[..., None])
    return np.asarray(out, np.float32)


def _occluded_views(n: int = 10, size: int = 256) -> np.ndarray:
    """Static photo, one random coloured rectangle per view, Gaussian noise sigma 0.01."""
    rng = np.random.default_rng(0)
    views = np.repeat(_photo(size)[None], n, axis=0)
    for k in range(n):
        h, w = rng.integers(size // 8, size // 3, 2)
        y, x = rng.integers(0, size - h), rng.integers(0, size - w)
        views[k, y : y + h, x : x + w] = rng.random(3, dtype=np.float32)
    views += rng.normal(0.0, 0.01, views.shape).astype(np.float32)
    return np.clip(views, 0.0, 1.0)


def _hole(size: int, fraction: float = 0.05) -> np.ndarray:
    side = int(round(np.sqrt(fraction * size * size)))
    mask = np.zeros((size, size), bool)
    y, x = int(0.45 * size), int(0.40 * size)
    mask[y : y + side, x : x + side] = True
    return mask


def _hole_psnr(clean: np.ndarray, out: np.ndarray, mask: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((clean[mask] - out[mask]) ** 2)))


@CPU_TIMER
def test_bench_weiss_10x256(benchmark):
    views = _spotlight_views()
    estimate_reflectance_weiss(views)
    benchmark(estimate_reflectance_weiss, views)
    assert benchmark.stats.stats.min <= WEISS_TARGET_S


@pytest.fixture(scope="module")
def rpca_matrix() -> np.ndarray:
    views = _occluded_views()
    return views.reshape(views.shape[0], -1).T  # m = 196608 pixels x n = 10 views


@CPU_TIMER
def test_bench_rpca_inexact_alm_10x256(benchmark, rpca_matrix):
    decompose_rpca(rpca_matrix)
    _, _, info = benchmark(decompose_rpca, rpca_matrix)
    benchmark.extra_info.update(iterations=info["iterations"], residual=info["residual"], rank=info["rank"])
    assert info["converged"]
    assert benchmark.stats.stats.min <= RPCA_TARGET_S


@CPU_TIMER
def test_bench_rpca_fixed_mu_admm_10x256(benchmark, rpca_matrix):
    """Same matrix, same stopping rule, iteration cap: time and residual reached."""
    _, _, info = benchmark.pedantic(
        _decompose_rpca_fixed_mu, args=(rpca_matrix,), kwargs={"max_iter": FIXED_MU_MAX_ITER}, rounds=1, iterations=1
    )
    benchmark.extra_info.update(iterations=info["iterations"], residual=info["residual"], converged=info["converged"])


@CPU_TIMER
@pytest.mark.parametrize("size", sorted(PATCHMATCH_TARGET_S))
def test_bench_patchmatch_rgb_5pct_hole(benchmark, size):
    clean, mask = _photo(size), _hole(size)
    damaged = np.where(mask[..., None], 0.0, clean).astype(np.float32)
    inpaint_patchmatch(damaged, mask, rng=np.random.default_rng(0))
    out = benchmark(lambda: inpaint_patchmatch(damaged, mask, rng=np.random.default_rng(0)))
    mean_fill = damaged.copy()
    mean_fill[mask] = damaged[~mask].mean(axis=0)
    benchmark.extra_info.update(
        psnr_hole_patchmatch=_hole_psnr(clean, out, mask),
        psnr_hole_telea=_hole_psnr(clean, inpaint_telea(damaged, mask), mask),
        psnr_hole_navier_stokes=_hole_psnr(clean, inpaint_navier_stokes(damaged, mask), mask),
        psnr_hole_mean_fill=_hole_psnr(clean, mean_fill, mask),
    )
    assert benchmark.stats.stats.min <= PATCHMATCH_TARGET_S[size]


@CPU_TIMER
def test_bench_telea_rgb_5pct_hole_512(benchmark):
    """Reference point for PatchMatch: OpenCV's Telea on the same input."""
    clean, mask = _photo(512), _hole(512)
    damaged = np.where(mask[..., None], 0.0, clean).astype(np.float32)
    benchmark(inpaint_telea, damaged, mask)
