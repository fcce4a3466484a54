"""Classical baselines: the Method contract for every registered baseline, then properties.

Numba kernels (Weiss, RPCA, PatchMatch) compile on first use and are cached
on disk (``cache=True``), so only the first run in a fresh checkout pays a
few seconds of compilation.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from benchmarks.registry import BASELINES
from baselines.inpaint import inpaint_labels, inpaint_navier_stokes, inpaint_nearest, inpaint_telea
from baselines.multiview import fuse_mean, fuse_median
from baselines.patchmatch import _compute_distances, _improve_nnf, _init_nnf, _Level, _vote, inpaint_patchmatch
from baselines.rpca import _decompose_rpca_fixed_mu, decompose_rpca, estimate_background_rpca
from baselines.weiss import _sorting_network, estimate_reflectance_weiss
from generators.task import Method
from tests.tolerances import (
    PATCHMATCH_PERIODIC_SEED_SPREAD_DB,
    PATCHMATCH_STRIPES_MIN_PSNR_DB,
    PATCHMATCH_STRIPES_SEED_SPREAD_DB,
    RPCA_OBJECTIVE_RTOL_RHO_1_05,
    RPCA_OBJECTIVE_RTOL_RHO_1_5,
    RPCA_RECOVERY_RTOL,
    RPCA_RESIDUAL_MAX,
    RPCA_TRANSPOSE_ATOL,
    WEISS_GAIN_RTOL,
    WEISS_SINGLE_VIEW_ATOL,
)

IMAGE_METHODS = sorted(n for n, m in BASELINES.items() if "image+mask" in m.tasks)
LABEL_METHODS = sorted(n for n, m in BASELINES.items() if "labels+mask" in m.tasks)
VIEW_METHODS = sorted(n for n, m in BASELINES.items() if "views" in m.tasks)


# --- inputs -----------------------------------------------------------------


def _smooth_image(h: int = 48, w: int = 56, c: int = 3) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    chans = [0.5 + 0.3 * np.sin(2.0 * y + 3.0 * x + k) * np.cos(1.5 * x - y + 2 * k) for k in range(c)]
    return np.stack(chans, axis=2).astype(np.float32)


def _photo(size: int = 96) -> np.ndarray:
    img = skdata.astronaut()[:256, 128:384].astype(np.float32) / 255.0
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _periodic_texture(h: int = 96, w: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.25 * np.sin(2 * np.pi * x / 12)[..., None] * np.array([1.0, 0.5, -0.5])
    return (base + 0.2 * np.sin(2 * np.pi * y / 9)[..., None]).astype(np.float32)


def _square_mask(h: int, w: int, y: int, x: int, size: int) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[y : y + size, x : x + size] = True
    return mask


def _scattered_mask(h: int, w: int, rng: np.random.Generator, n: int = 12, size: int = 6) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    for y, x in zip(rng.integers(0, h - size, n), rng.integers(0, w - size, n)):
        mask[y : y + size, x : x + size] = True
    return mask


def _border_mask(h: int, w: int) -> np.ndarray:
    """Holes in the interior and touching every edge and corner."""
    mask = _square_mask(h, w, h // 3, w // 3, 8)
    mask[:3, :] = True
    mask[:, -2:] = True
    mask[-4:, :5] = True
    return mask


def _label_map(h: int = 48, w: int = 56) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (3 * (y // 12) + (x // 16) + 5 * ((x + y) // 40 % 2)).astype(np.int32)


def _views(rng: np.random.Generator, n: int = 5, h: int = 24, w: int = 32, c: int = 3) -> np.ndarray:
    background = _smooth_image(h, w, c)
    views = np.repeat(background[None], n, axis=0)
    for k in range(n):
        y, x = rng.integers(0, h - 6), rng.integers(0, w - 6)
        views[k, y : y + 6, x : x + 6] = rng.random(c, dtype=np.float32)
    return views


def _inputs_for(name: str, *, channels: int = 3) -> dict[str, np.ndarray]:
    method = BASELINES[name]
    if "views" in method.tasks:
        return {"views": _views(np.random.default_rng(0), c=channels)}
    if "image+mask" in method.tasks:
        img = _smooth_image(c=channels)
        return {"image": img, "mask": _border_mask(*img.shape[:2])}
    labels = _label_map()
    return {"labels": labels, "mask": _border_mask(*labels.shape)}


# --- the Method contract, for every registered baseline -----------------------


def test_registry_names_and_protocol():
    from benchmarks.registry import TASKS

    # What a baseline may declare: a registered task, a task family or an input kind (generators.task.supports).
    # Read off the registry, so registering a task is the one edit that lets its baselines name it.
    declarable = {n for t in TASKS.values() for n in (t.name, t.family or t.name, t.input_kind)}
    assert {"mean", "median", "weiss", "rpca", "navier-stokes", "telea", "patchmatch", "nearest"} <= set(BASELINES)
    for name, method in BASELINES.items():
        assert isinstance(method, Method)
        assert method.name == name
        assert method.tasks and set(method.tasks) <= declarable, (name, sorted(set(method.tasks) - declarable))


# Baselines declared by input kind get synthetic inputs here; those declared by task name are covered
# on real tiny task instances in tests/test_contract.py.
KIND_BASELINES = sorted(n for n, m in BASELINES.items() if set(m.tasks) & {"views", "image+mask", "labels+mask"})


@pytest.mark.parametrize("name", KIND_BASELINES)
def test_contract_shape_dtype_range(name):
    inputs = _inputs_for(name)
    out = BASELINES[name].restore(inputs)
    if "labels" in inputs:
        assert out.shape == inputs["labels"].shape and out.dtype == np.int32
        known = inputs["labels"][~inputs["mask"]]
        assert set(np.unique(out)) <= set(np.unique(known))
    else:
        expected = inputs["views"].shape[1:] if "views" in inputs else inputs["image"].shape
        assert out.shape == expected and out.dtype == np.float32
        assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", VIEW_METHODS + IMAGE_METHODS)
def test_contract_single_channel(name):
    inputs = _inputs_for(name, channels=1)
    out = BASELINES[name].restore(inputs)
    assert out.shape == (inputs.get("views", inputs.get("image")).shape[-3:]) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", KIND_BASELINES)
def test_deterministic_and_inputs_untouched(name):
    inputs = _inputs_for(name)
    before = {k: v.copy() for k, v in inputs.items()}
    first = BASELINES[name].restore(inputs)
    second = BASELINES[name].restore(inputs)
    assert np.array_equal(first, second)
    for k in inputs:
        assert np.array_equal(inputs[k], before[k]), f"{name} modified its input {k!r}"


@pytest.mark.parametrize("name", IMAGE_METHODS + LABEL_METHODS)
def test_unmasked_pixels_untouched(name):
    inputs = _inputs_for(name)
    key = "labels" if "labels" in inputs else "image"
    out = BASELINES[name].restore(inputs)
    known = ~inputs["mask"]
    assert np.array_equal(out[known], inputs[key][known])


@pytest.mark.parametrize("name", IMAGE_METHODS + LABEL_METHODS)
def test_empty_mask_returns_a_copy(name):
    inputs = _inputs_for(name)
    key = "labels" if "labels" in inputs else "image"
    inputs["mask"] = np.zeros_like(inputs["mask"])
    out = BASELINES[name].restore(inputs)
    assert np.array_equal(out, inputs[key]) and out is not inputs[key]


@pytest.mark.parametrize("name", IMAGE_METHODS + LABEL_METHODS)
def test_fully_masked_raises(name):
    inputs = _inputs_for(name)
    inputs["mask"] = np.ones_like(inputs["mask"])
    with pytest.raises(ValueError, match="every pixel is masked"):
        BASELINES[name].restore(inputs)


def _bad_image_inputs(img: np.ndarray, mask: np.ndarray) -> dict[str, dict]:
    return {
        "2d image": {"image": img[..., 0], "mask": mask},
        "float64": {"image": img.astype(np.float64), "mask": mask},
        "out of range": {"image": img * 2.0, "mask": mask},
        "nan": {"image": np.where(mask[..., None], np.nan, img).astype(np.float32), "mask": mask},
        "mask shape": {"image": img, "mask": mask[:-1]},
        "mask dtype": {"image": img, "mask": mask.astype(np.uint8)},
    }


def _bad_label_inputs(labels: np.ndarray, mask: np.ndarray) -> dict[str, dict]:
    return {
        "float labels": {"labels": labels.astype(np.float32), "mask": mask},
        "int64 labels": {"labels": labels.astype(np.int64), "mask": mask},
        "3d labels": {"labels": labels[..., None], "mask": mask},
        "mask shape": {"labels": labels, "mask": mask.T},
        "mask dtype": {"labels": labels, "mask": mask.astype(np.int32)},
    }


def _bad_view_inputs(views: np.ndarray) -> dict[str, dict]:
    return {
        "3d views": {"views": views[0]},
        "float64": {"views": views.astype(np.float64)},
        "out of range": {"views": views - 0.5},
        "two channels": {"views": views[..., :2]},
    }


def _bad_inputs(name: str) -> list[tuple[str, dict]]:
    inputs = _inputs_for(name)
    if "views" in inputs:
        cases = _bad_view_inputs(inputs["views"])
    elif "image" in inputs:
        cases = _bad_image_inputs(inputs["image"], inputs["mask"])
    else:
        cases = _bad_label_inputs(inputs["labels"], inputs["mask"])
    return sorted(cases.items())


@pytest.mark.parametrize(
    "name, case, inputs",
    [(name, case, inputs) for name in KIND_BASELINES for case, inputs in _bad_inputs(name)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_inputs_raise_value_error(name, case, inputs):
    with pytest.raises(ValueError):
        BASELINES[name].restore(inputs)


# --- multi-image properties ------------------------------------------------------


def test_median_removes_a_single_view_outlier_exactly():
    rng = np.random.default_rng(3)
    clean = rng.random((20, 24, 3), dtype=np.float32)
    for n in (3, 4, 7):
        views = np.repeat(clean[None], n, axis=0)
        views[rng.integers(n)] = rng.random((20, 24, 3), dtype=np.float32)  # one view entirely wrong
        assert np.array_equal(fuse_median(views), clean)
        assert not np.array_equal(fuse_mean(views), clean)


def test_median_equals_numpy_for_random_stacks():
    views = np.random.default_rng(4).random((6, 10, 12, 3), dtype=np.float32)
    assert np.array_equal(fuse_median(views), np.median(views, axis=0).astype(np.float32))


@pytest.mark.parametrize("fuse", [fuse_mean, fuse_median])
def test_single_view_is_returned(fuse):
    view = _smooth_image()[None]
    out = fuse(view)
    assert np.array_equal(out, view[0]) and not np.shares_memory(out, view)


def test_weiss_single_view_returns_the_view():
    view = _smooth_image()[None]
    assert np.abs(estimate_reflectance_weiss(view) - view[0]).max() < WEISS_SINGLE_VIEW_ATOL


def test_sorting_network_sorts_every_zero_one_sequence():
    # The 0-1 principle: a comparator network sorts everything iff it sorts 0/1 inputs.
    for n in range(1, 13):
        net = _sorting_network(n)
        seqs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int8)
        for a, b in net:
            lo, hi = np.minimum(seqs[:, a], seqs[:, b]), np.maximum(seqs[:, a], seqs[:, b])
            seqs[:, a], seqs[:, b] = lo, hi
        assert np.all(np.diff(seqs, axis=1) >= 0), n


def _relative_error_after_best_gain(estimate: np.ndarray, truth: np.ndarray) -> float:
    gain = float((estimate * truth).sum() / (estimate * estimate).sum())
    return float(np.sqrt(np.mean((gain * estimate - truth) ** 2) / np.mean(truth**2)))


def test_weiss_recovers_reflectance_up_to_gain():
    # Constant reflectance (8x8 colour blocks) under a moving spotlight with a
    # random overall brightness per view: log-illumination derivatives are
    # sparse (Weiss's assumption), the median view keeps the brightness mix.
    rng = np.random.default_rng(1)
    h = w = 64
    reflectance = (0.2 + 0.7 * rng.random((h // 8, w // 8, 3))).repeat(8, 0).repeat(8, 1)
    y, x = np.mgrid[0:h, 0:w]
    views = []
    for _ in range(9):
        cy, cx = rng.uniform(0, h, 2)
        light = rng.uniform(0.4, 1.0) * (0.4 + 0.6 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 6.0**2)))
        views.append(reflectance * light[..., None])
    views = np.asarray(views, np.float32)
    err = _relative_error_after_best_gain(estimate_reflectance_weiss(views), reflectance)
    assert err < WEISS_GAIN_RTOL
    assert err < 0.25 * _relative_error_after_best_gain(np.median(views, axis=0), reflectance)
    assert BASELINES["weiss"].output_gain_unknown is True


def test_weiss_rejects_non_positive_eps():
    with pytest.raises(ValueError, match="eps"):
        estimate_reflectance_weiss(_views(np.random.default_rng(0)), eps=0.0)


def test_rpca_recovers_low_rank_plus_sparse():
    rng = np.random.default_rng(0)
    m, n, rank = 300, 200, 5
    low = rng.normal(size=(m, rank)) @ rng.normal(size=(rank, n))
    sparse = np.where(rng.random((m, n)) < 0.05, rng.uniform(-5, 5, (m, n)), 0.0)
    est_low, est_sparse, info = decompose_rpca(low + sparse)
    assert info["converged"] and info["residual"] < RPCA_RESIDUAL_MAX and info["rank"] == rank
    assert np.linalg.norm(est_low - low) / np.linalg.norm(low) < RPCA_RECOVERY_RTOL
    assert np.linalg.norm(est_sparse - sparse) / np.linalg.norm(sparse) < RPCA_RECOVERY_RTOL


def test_rpca_reaches_the_objective_of_the_fixed_mu_reference():
    # Two different solvers of the same convex programme on a tall matrix
    # (the shape of image stacks) reach the same optimal objective, up to the
    # early stop that fast continuation causes.
    rng = np.random.default_rng(1)
    m, n = 600, 8
    d = rng.normal(size=(m, 1)) @ rng.normal(size=(1, n)) + np.where(rng.random((m, n)) < 0.05, 4.0, 0.0)
    lam = 1.0 / np.sqrt(m)

    def objective(low, sparse):
        return np.linalg.svd(low, compute_uv=False).sum() + lam * np.abs(sparse).sum()

    ref_low, ref_sparse, ref_info = _decompose_rpca_fixed_mu(d, max_iter=5000)
    assert ref_info["converged"]
    best = objective(ref_low, ref_sparse)
    for rho, rtol in ((1.5, RPCA_OBJECTIVE_RTOL_RHO_1_5), (1.05, RPCA_OBJECTIVE_RTOL_RHO_1_05)):
        low, sparse, info = decompose_rpca(d, rho=rho)
        assert info["converged"]
        assert abs(objective(low, sparse) - best) < rtol * best, rho


def test_rpca_logs_iterations_at_debug_level(caplog):
    with caplog.at_level(logging.DEBUG, logger="baselines.rpca"):
        decompose_rpca(np.random.default_rng(0).random((50, 4)))
    assert any("residual" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_rpca_background_beats_mean_on_transient_occluders():
    views = _views(np.random.default_rng(5), n=8)
    background = _smooth_image(24, 32, 3)
    err_rpca = np.abs(estimate_background_rpca(views) - background).mean()
    assert err_rpca < 0.5 * np.abs(fuse_mean(views) - background).mean()


def test_rpca_edge_cases():
    zero_low, zero_sparse, info = decompose_rpca(np.zeros((10, 3)))
    assert not zero_low.any() and not zero_sparse.any() and info["converged"]
    for bad in (np.zeros(5), np.full((4, 3), np.nan), np.zeros((0, 3))):
        with pytest.raises(ValueError):
            decompose_rpca(bad)
    with pytest.raises(ValueError, match="at least 2 views"):
        estimate_background_rpca(_views(np.random.default_rng(0), n=1))


# --- inpainting properties ------------------------------------------------------


def _hole_mse(reference: np.ndarray, estimate: np.ndarray, mask: np.ndarray) -> float:
    return float(np.mean((reference[mask] - estimate[mask]) ** 2))


def _mean_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[mask] = image[~mask].mean(axis=0)
    return out


IMAGES = {
    "smooth": (lambda: _smooth_image(64, 64), lambda: _square_mask(64, 64, 20, 24, 16)),
    "photo": (_photo, lambda: _scattered_mask(96, 96, np.random.default_rng(2))),
    "periodic": (_periodic_texture, lambda: _square_mask(96, 96, 40, 30, 20)),
}


# Smooth propagation (Telea, NS, nearest) cannot continue a periodic texture
# across a 20 px hole, so only PatchMatch is held to the periodic case.
INPAINT_CASES = [(name, kind) for name in IMAGE_METHODS for kind in ("smooth", "photo")] + [("patchmatch", "periodic")]


@pytest.mark.parametrize("name, kind", INPAINT_CASES)
def test_inpainting_beats_mean_fill(name, kind):
    make_image, make_mask = IMAGES[kind]
    clean, mask = make_image(), make_mask()
    damaged = np.where(mask[..., None], 0.0, clean).astype(np.float32)
    out = BASELINES[name].restore({"image": damaged, "mask": mask})
    assert _hole_mse(clean, out, mask) < _hole_mse(clean, _mean_fill(damaged, mask), mask)


def test_patchmatch_beats_propagation_on_periodic_texture():
    clean, mask = _periodic_texture(), _square_mask(96, 96, 40, 30, 20)
    damaged = np.where(mask[..., None], 0.0, clean).astype(np.float32)
    err_pm = _hole_mse(clean, inpaint_patchmatch(damaged, mask, rng=np.random.default_rng(0)), mask)
    for other in (inpaint_telea, inpaint_navier_stokes, inpaint_nearest):
        assert err_pm < 0.1 * _hole_mse(clean, other(damaged, mask), mask), other.__name__


def _stripes(size: int, period: int, *, vertical: bool) -> np.ndarray:
    t = np.mgrid[0:size, 0:size][1 if vertical else 0]
    base = 0.5 + 0.35 * np.sin(2 * np.pi * t / period)
    return np.stack([base, 0.8 - 0.5 * base, 0.3 + 0.4 * base], axis=2).astype(np.float32)


def _square_and_text_mask(size: int, square: int, lines: int) -> np.ndarray:
    """A centred square plus ``lines`` rows of 6 px text strokes running off the right edge."""
    mask = _square_mask(size, size, (size - square) // 2, (size - square) // 2, square).astype(np.uint8)
    for k in range(lines):
        cv2.putText(mask, "Lorem ipsum", (10, 40 + 60 * k), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 1, 6)
    return mask.astype(bool)


def _hole_psnr_db(reference: np.ndarray, estimate: np.ndarray, mask: np.ndarray) -> float:
    return float(10.0 * np.log10(1.0 / max(_hole_mse(reference, estimate, mask), 1e-12)))


@pytest.mark.parametrize("lines", [1, 4])
@pytest.mark.parametrize("vertical", [True, False], ids=["vertical", "horizontal"])
@pytest.mark.parametrize("patch_size", [7, 9])
def test_patchmatch_on_stripes_does_not_depend_on_the_seed(lines, vertical, patch_size):
    # Issue 15 #6. With one text line, targets at the image border and beside
    # strokes that vanish at the coarser level start from random matches,
    # which used to vote at full weight; with four, the 64x64 level kept a
    # single source patch and pasted it over the whole hole.
    clean, mask = _stripes(256, 16, vertical=vertical), _square_and_text_mask(256, 64, lines)
    damaged = np.where(mask[..., None], 0.0, clean).astype(np.float32)
    outs = [inpaint_patchmatch(damaged, mask, rng=np.random.default_rng(s), patch_size=patch_size) for s in range(3)]
    psnr = [_hole_psnr_db(clean, out, mask) for out in outs]
    assert min(psnr) >= PATCHMATCH_STRIPES_MIN_PSNR_DB, psnr
    capped = np.minimum(psnr, 60.0)
    assert capped.max() - capped.min() <= PATCHMATCH_STRIPES_SEED_SPREAD_DB, psnr


def _oblique_stripes(size: int, period: float, angle_deg: float, modulation: float) -> np.ndarray:
    """Sine stripes of ``period`` px whose normal points at ``angle_deg``, their amplitude scaled by
    ``1 - modulation * (0.5 + 0.5 sin)`` of a slow wave (period 2 * size) along the stripe normal."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    t = x * np.cos(np.deg2rad(angle_deg)) + y * np.sin(np.deg2rad(angle_deg))
    slow = 1.0 - modulation * (0.5 + 0.5 * np.sin(2 * np.pi * t / (2 * size)))
    base = 0.5 + 0.35 * np.sin(2 * np.pi * t / period) * slow
    return np.stack([base, 0.8 - 0.5 * base, 0.3 + 0.4 * base], axis=2).astype(np.float32)


# Issue 26 #5: rotations (axis-aligned, rational and irrational slopes), periods 5-32 px (integer
# and not), with and without a slow modulation, under a square plus one line of text.
PERIODIC_GRID = [(period, angle) for angle in (0.0, 30.0, 45.0, 63.435, 97.46, 135.0) for period in (5.0, 9.74, 16.0, 32.0)]


@pytest.mark.slow
@pytest.mark.parametrize("modulation, lines", [
    (0.0, 1),
    (0.4, 1),
    (0.7, 1),
    # Four text lines join the square into one larger hole. Measured 2026-12-08 with version 3 (seeds 0-3,
    # capped at 60 dB): besides the two grids below, modulation 0.7 under four lines 0 of 24 (mean 60.00).
    # Version 2 on the same six grids: 0, 3, 2, 0, 1, 0 of 24, means 59.7, 59.1, 59.2, 33.0, 36.4, 40.2 dB.
    pytest.param(0.0, 4, marks=pytest.mark.xfail(strict=True, reason=(
        "issue 26 #5 unmet on this grid: 1 of 24 spreads more than 3 dB (version 3, 2026-12-08: period 9.74 at "
        "30 deg 28.7 dB for seed 1, 88-92 for seeds 0, 2, 3; mean capped 59.67 dB, version 2: 0 of 24 at a "
        "mean of 33.0, every seed equally wrong). Seed 1 keeps a wrong region in the middle of the hole whose "
        "targets no exact offset of the lattice (+-8 steps; 16 gives the same) maps onto a source patch, so "
        "the region move is refused"))),
    pytest.param(0.4, 4, marks=pytest.mark.xfail(strict=True, reason=(
        "issue 26 #5 unmet on this grid: 1 of 24 spreads more than 3 dB (version 3, 2026-12-08: period 5 at "
        "97.5 deg 52.6-66.0 dB over seeds 0-3; mean capped 59.90, lowest 52.6; version 2: period 5 at 63.4 deg "
        "34.7-42.5, mean 36.40, lowest 24.1: a self-consistent island of stripes half a period out of phase, "
        "which no EM iteration count removed and the region moves of version 3 do)"))),
], ids=["periodic", "modulated", "modulated-strong", "periodic-4-lines", "modulated-4-lines"])
def test_patchmatch_on_rotated_periodic_textures_does_not_depend_on_the_seed(modulation, lines):
    # Stops at the first texture over the bound (the xfail cases cost less that way).
    mask = _square_and_text_mask(256, 64, lines)
    for period, angle in PERIODIC_GRID:
        clean = _oblique_stripes(256, period, angle, modulation)
        damaged = np.where(mask[..., None], 0.0, clean).astype(np.float32)
        psnr = [_hole_psnr_db(clean, inpaint_patchmatch(damaged, mask, rng=np.random.default_rng(s)), mask)
                for s in range(4)]
        capped = np.minimum(psnr, 60.0)
        assert capped.max() - capped.min() <= PATCHMATCH_PERIODIC_SEED_SPREAD_DB, (period, angle, np.round(psnr, 1))


def _run_patchmatch_sweeps(img: np.ndarray, hole: np.ndarray, sweeps: int, seed: int):
    """Random NNF, then ``sweeps`` PatchMatch sweeps with radius-3 patches, on one level."""
    level = _Level(img.copy(), hole, r=3)
    state = np.array([seed], np.uint64)
    no_coarse = np.zeros((0, 0), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    nn_y, nn_x, _ = _init_nnf(level.tgt_y, level.tgt_x, level.valid, level.src_y, level.src_x, *no_coarse, state)
    nn_d = np.empty(nn_y.size)
    flat = level.img.reshape(img.shape[0], -1)
    wflat = np.ones_like(flat)
    _compute_distances(flat, wflat, level.tgt_y, level.tgt_x, nn_y, nn_x, nn_d, 3, img.shape[2])
    args = (level.tgt_y, level.tgt_x, level.tgt_map, level.valid, nn_y, nn_x, nn_d, sweeps, state)
    _improve_nnf(flat, wflat, img.shape[2], 3, *args)
    return level, nn_y, nn_x, nn_d


def test_patchmatch_nnf_only_uses_sources_outside_the_hole():
    hole = _square_mask(64, 64, 20, 20, 14)
    level, nn_y, nn_x, _ = _run_patchmatch_sweeps(_photo(64), hole, sweeps=4, seed=12345)
    assert level.valid[nn_y, nn_x].all()
    # The source window of every match is free of hole pixels and inside the image.
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            assert not hole[nn_y + dy, nn_x + dx].any()


def test_patchmatch_finds_exact_matches():
    # The lower half repeats the upper half shifted by (32, 5): once the lower
    # half is declared a "hole" (its content kept), PatchMatch must find the
    # zero-distance copies for nearly every target patch within 5 sweeps.
    top = np.random.default_rng(7).random((32, 70, 3), dtype=np.float32)
    img = np.concatenate([top[:, :64], top[:, 5:69]], axis=0)
    hole = _square_mask(64, 64, 40, 12, 16)
    level, nn_y, nn_x, nn_d = _run_patchmatch_sweeps(img, hole, sweeps=5, seed=99)
    exact = (nn_y == level.tgt_y - 32) & (nn_x == level.tgt_x + 5)
    assert exact.mean() > 0.95
    assert np.all(nn_d[exact] == 0.0)


def test_patchmatch_vote_does_not_underflow_with_near_exact_matches():
    # Two 3x3 patches centred on the hole pixel vote with exp(-d / 2 sigma^2) = e^-2000 and
    # e^-2001: both underflow to 0.0 in float64, and the pixel used to keep its stale value.
    # Normalised per pixel, the vote is the weighted mean it always meant: (e * 1 + 1 * 0) / (e + 1).
    img = np.zeros((9, 12, 1), np.float32)
    img[1, 1, 0], img[1, 8, 0] = 1.0, 0.0  # the centres of the two matched source patches
    hole = np.zeros((9, 12), bool)
    hole[4, 4] = True
    img[4, 4, 0] = 0.7  # the stale estimate
    tgt_y, tgt_x = np.array([4, 4]), np.array([4, 4])
    nn_y, nn_x = np.array([1, 1]), np.array([1, 8])
    _vote(img, hole, tgt_y, tgt_x, nn_y, nn_x, np.array([-2000.0, -2001.0]), 1)
    assert img[4, 4, 0] == pytest.approx(np.e / (np.e + 1.0), rel=1e-6)
    img[4, 4, 0] = 0.7
    _vote(img, hole, tgt_y, tgt_x, nn_y, nn_x, np.array([-np.inf, -np.inf]), 1)  # no vote: unchanged
    assert img[4, 4, 0] == np.float32(0.7)


@pytest.mark.parametrize("hole_weight", [0.0, -0.1, 1.5])
def test_patchmatch_rejects_a_hole_weight_outside_0_1(hole_weight):
    clean, mask = _photo(32), _square_mask(32, 32, 12, 12, 6)
    with pytest.raises(ValueError, match="hole_weight"):
        inpaint_patchmatch(clean, mask, rng=np.random.default_rng(0), hole_weight=hole_weight)


def test_patchmatch_depends_only_on_the_rng_state():
    clean, mask = _photo(64), _square_mask(64, 64, 20, 20, 12)
    a = inpaint_patchmatch(clean, mask, rng=np.random.default_rng(11))
    b = inpaint_patchmatch(clean, mask, rng=np.random.default_rng(11))
    assert np.array_equal(a, b)


def test_patchmatch_falls_back_to_nearest_without_source_patches(caplog):
    img = _smooth_image(32, 32)
    mask = np.zeros((32, 32), bool)
    mask[::4, ::4] = True  # every 7x7 window touches the hole
    with caplog.at_level(logging.WARNING, logger="baselines.patchmatch"):
        out = inpaint_patchmatch(img, mask, rng=np.random.default_rng(0))
    assert "nearest fill" in caplog.text
    assert np.array_equal(out, inpaint_nearest(img, mask))


@pytest.mark.parametrize("kwargs", [{"patch_size": 4}, {"patch_size": 1}, {"pm_iters": 0}, {"max_levels": 0}])
def test_patchmatch_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        inpaint_patchmatch(_smooth_image(), _square_mask(48, 56, 10, 10, 8), rng=np.random.default_rng(0), **kwargs)


def test_opencv_radius_is_checked():
    img, mask = _smooth_image(), _square_mask(48, 56, 10, 10, 8)
    for fn in (inpaint_telea, inpaint_navier_stokes):
        with pytest.raises(ValueError, match="radius"):
            fn(img, mask, radius=0)


def test_telea_is_not_quantised():
    # An 8-bit round trip would snap values to multiples of 1/255.
    img, mask = _smooth_image(), _square_mask(48, 56, 10, 10, 8)
    filled = inpaint_telea(img, mask)[mask]
    assert np.abs(filled * 255 - np.round(filled * 255)).max() > 0.1


def test_nearest_copies_the_closest_known_pixel():
    img = np.zeros((5, 7, 1), np.float32)
    img[:, 0] = 0.25
    img[:, 6] = 0.75
    mask = np.zeros((5, 7), bool)
    mask[:, 1:6] = True
    out = inpaint_nearest(img, mask)[..., 0]
    assert np.all(out[:, 1:3] == 0.25) and np.all(out[:, 4:6] == 0.75)


@pytest.mark.parametrize("name", LABEL_METHODS)
def test_label_inpainting_beats_majority_fill(name):
    labels = _label_map()
    mask = _square_mask(*labels.shape, 14, 18, 16)
    damaged = np.where(mask, 0, labels).astype(np.int32)
    out = BASELINES[name].restore({"labels": damaged, "mask": mask})
    values, counts = np.unique(damaged[~mask], return_counts=True)
    majority_acc = np.mean(labels[mask] == values[np.argmax(counts)])
    assert np.mean(out[mask] == labels[mask]) > majority_acc
    assert set(np.unique(out)) <= set(values)


def test_inpaint_labels_single_label_and_unknown_method():
    labels = np.full((16, 16), 7, np.int32)
    mask = _square_mask(16, 16, 4, 4, 5)
    for method in ("telea", "navier-stokes", "nearest"):
        assert np.all(inpaint_labels(labels, mask, method=method) == 7)
    with pytest.raises(ValueError, match="unknown method"):
        inpaint_labels(labels, mask, method="bogus")


def test_rpca_wide_matrices_cost_the_better_orientation():
    """Issue 15 #1: a wide matrix is solved as its transpose (a 10 x 196608 stack fits in memory)."""
    from baselines.rpca import decompose_rpca

    rng = np.random.default_rng(0)
    tall = rng.random((1200, 2)) @ rng.random((2, 30))
    tall[rng.random(tall.shape) < 0.05] += 3.0
    lt, st, _ = decompose_rpca(tall)
    lw, sw, info = decompose_rpca(tall.T)
    np.testing.assert_allclose(lw, lt.T, atol=RPCA_TRANSPOSE_ATOL)
    np.testing.assert_allclose(sw, st.T, atol=RPCA_TRANSPOSE_ATOL)
    wide = rng.random((4, 196608)).astype(np.float32)
    low, sparse, info = decompose_rpca(wide, max_iter=3)  # would need a 196608^2 Gram matrix without the fix
    assert low.shape == wide.shape and sparse.shape == wide.shape


def test_temporal_fill_median_equals_numpy_nanmedian():
    """The temporal fill's median of neighbour candidates (issue 25: numpy's nanmedian spent two thirds of the
    fill in per-pixel warnings) gives numpy's values exactly: odd and even counts, all-NaN pixels."""
    import warnings

    from baselines.decaption import _nanmedian_first

    rng = np.random.default_rng(4)
    for k in (2, 3, 4):
        x = rng.random((k, 9, 11, 3)).astype(np.float32)
        x[rng.random(x.shape) < 0.45] = np.nan
        x[:, 0, 0] = np.nan  # a pixel no neighbour reached
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(x, axis=0)
        got = _nanmedian_first(x)
        assert got.dtype == np.float32 and np.isnan(got[0, 0]).all()
        np.testing.assert_array_equal(got, ref)


def test_temporal_fill_flows():
    """Both optical flows of the temporal fill fill a caption on a static clip from its neighbours,
    better than Telea from the frame alone (the flow sees Telea-filled frames, so not exactly)."""
    from baselines.decaption import fill_frames_opencv, fill_temporal

    yy, xx = np.mgrid[0:32, 0:48].astype(np.float32)
    frame = np.stack([0.5 + 0.3 * np.sin(xx / 5), 0.5 + 0.3 * np.cos(yy / 4), 0.3 + xx / 100], axis=-1)
    clean = np.repeat(frame[None], 13, axis=0).astype(np.float32)
    mask = np.zeros((13, 32, 48), bool)
    mask[0, 20:26, 10:30] = True  # only frame 0 is captioned: frames 6 and 12 show what is behind
    video = clean.copy()
    video[mask] = 1.0
    telea = np.abs(fill_frames_opencv(video, mask)[0][mask[0]] - clean[0][mask[0]]).mean()
    for flow in ("farneback", "dis"):
        out = fill_temporal(video, mask, flow=flow)
        assert out.shape == video.shape and out.dtype == np.float32
        assert np.abs(out[0][mask[0]] - clean[0][mask[0]]).mean() < telea, flow  # better than Telea alone
    with pytest.raises(KeyError):
        fill_temporal(video, mask, flow="lucas-kanade")


def test_temporal_fill_uses_dis_and_the_farneback_variant_is_selectable_by_name():
    from baselines.decaption import TemporalFill
    from benchmarks.registry import METHODS
    from benchmarks.run import resolve_methods

    assert METHODS["temporal-fill"].flow == "dis"
    (variant,) = resolve_methods("baselines.decaption:TemporalFillFarneback", METHODS)
    assert isinstance(variant, TemporalFill) and variant.name == "temporal-fill-farneback"
    assert variant.flow == "farneback" and "temporal-fill-farneback" not in METHODS
