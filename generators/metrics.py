"""Image-restoration metrics with their conventions fixed in the signature.

All functions take ``(reference, prediction)`` numpy arrays of identical shape
and return a Python float. Images are HWC (greyscale may be HW); nothing infers
the data range from the data: pass ``data_range`` explicitly when the images
are not on the [0, 1] scale.

SSIM is Wang et al. 2004 exactly as ``skimage.metrics.structural_similarity``
computes it with ``gaussian_weights=True, sigma=1.5,
use_sample_covariance=False``: an 11x11 Gaussian window (sigma 1.5, truncated
at radius 5), K1 = 0.01, K2 = 0.03, the SSIM map averaged over the *valid*
region (5 pixels cropped on each side) and then over channels. The test suite
checks equality with scikit-image to 1e-6.

Scoring one prediction with several metrics repeats work: ``dssim`` is
``(1 - ssim) / 2``, ``ssim_masked`` over two regions needs the same SSIM
maps, and ``psnr_gain_invariant`` and ``ssim_gain_invariant`` both need
:func:`gain_invariant`. Inside ``with reuse_results():`` (the harness opens
one per scored prediction) a function marked with :func:`compute_once` (the
SSIM maps, :func:`gain_invariant`; a task's own helpers, e.g. the captions
clip's squared error) computes once per tuple of argument objects and
returns the same value to every later call on the very same objects; the
block holds a reference to each array it keyed on, so an ``id`` can never be
reused for another array while it is open, and it forgets everything when it
closes. Values are bit-identical to calling without the block. The arrays
must not be modified in place inside the block, nor the values it returns.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Callable, Iterator, TypeVar

import cv2
import numpy as np

__all__ = ["reuse_results", "reuse_reference_statistics", "compute_once", "mse", "psnr", "ssim", "dssim", "lmse", "ncc", "gain_invariant",
           "psnr_gain_invariant", "ssim_gain_invariant", "label_accuracy", "mean_iou", "mse_masked", "psnr_masked",
           "ssim_masked", "euclidean_distance", "manhattan_distance", "chord_distance", "recall_at_k",
           "average_precision"]

_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): scikit-image's truncate=3.5
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


class _Results:
    """What :func:`reuse_results` remembers: ``(function, arguments, options) -> value``.

    Keys compare the positional arguments (arrays) by identity (``is``) and
    keep them alive, so a key cannot match a different array that happens to
    get the same ``id``.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[Callable, tuple, tuple, object]] = []

    def get(self, fn: Callable, args: tuple, options: tuple, compute: Callable[[], object]):
        for f, a, opts, value in self._entries:
            if f is fn and opts == options and len(a) == len(args) and all(x is y for x, y in zip(a, args)):
                return value
        value = compute()
        self._entries.append((fn, args, options, value))
        return value


_RESULTS: contextvars.ContextVar[_Results | None] = contextvars.ContextVar("restorebench_metric_results", default=None)


@contextlib.contextmanager
def reuse_results() -> Iterator[None]:
    """Within the block, functions marked :func:`compute_once` compute once per tuple of argument objects.

    For scoring one prediction with several metrics (``ssim`` and ``dssim``;
    ``psnr_gain_invariant`` and ``ssim_gain_invariant`` ...): later calls with
    the same ``reference`` and ``prediction`` objects (and options) return
    the first call's value, bit for bit. Arrays are matched by identity and
    held until the block ends, so nothing outlives it or goes stale; do not
    modify them, or the values returned, in place inside the block. Blocks
    nest (the inner one starts empty).
    """
    token = _RESULTS.set(_Results())
    try:
        yield
    finally:
        _RESULTS.reset(token)


_F = TypeVar("_F", bound=Callable)


def compute_once(fn: _F) -> _F:
    """Mark ``fn(*arrays, **options)``, a pure function, as computed once per argument objects inside
    :func:`reuse_results` (outside a block every call computes). Callers must not modify its value."""

    @functools.wraps(fn)
    def once(*args, **options):
        results = _RESULTS.get()
        if results is None:
            return fn(*args, **options)
        return results.get(once, args, tuple(sorted(options.items())), lambda: fn(*args, **options))

    return once  # type: ignore[return-value]


def _pair(reference: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference)
    pred = np.asarray(prediction)
    if ref.shape != pred.shape:
        raise ValueError(f"shape mismatch: reference {ref.shape} vs prediction {pred.shape}")
    if ref.size == 0:
        raise ValueError("empty images")
    return ref.astype(np.float64, copy=False), pred.astype(np.float64, copy=False)


def mse(reference: np.ndarray, prediction: np.ndarray) -> float:
    """Mean squared error over all pixels and channels."""
    ref, pred = _pair(reference, prediction)
    return float(np.mean((ref - pred) ** 2))


def psnr(reference: np.ndarray, prediction: np.ndarray, *, data_range: float = 1.0,
         max_db: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``.

    Returns ``inf`` for identical images (as scikit-image does), or at most
    ``max_db`` when given: a task whose methods can reproduce the target
    exactly (an inpainting hole on a flat region) caps its per-image PSNR so
    that a mean over images stays finite.
    """
    err = mse(reference, prediction)
    value = float("inf") if err == 0.0 else float(10.0 * np.log10(data_range**2 / err))
    return value if max_db is None else min(value, float(max_db))


def _gaussian_kernel() -> np.ndarray:
    x = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / _SSIM_SIGMA) ** 2)
    return k / k.sum()


def _ssim_blur(a: np.ndarray) -> np.ndarray:
    """The SSIM window (Gaussian, sigma 1.5, radius 5) over ``a``, valid region only."""
    r = _SSIM_RADIUS
    k = _gaussian_kernel()
    # Only the valid region is used, so the border mode never matters.
    return cv2.sepFilter2D(a, cv2.CV_64F, k, k, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]


def _ssim_map(x: np.ndarray, y: np.ndarray, data_range: float,
              x_blurs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The SSIM map of one channel over the valid region ((H - 10) x (W - 10)).

    ``x_blurs``: ``(blur(x), blur(x * x))`` when already computed for this reference channel
    (:func:`reuse_reference_statistics`); the same arrays the function would compute. The image size
    is checked by its caller, :func:`_ssim_maps`."""
    blur = _ssim_blur
    ux, bxx = x_blurs if x_blurs is not None else (blur(x), blur(x * x))
    uy = blur(y)
    vx = bxx - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


_REFERENCE_STATS_KEPT = 4  # references whose window sums a block keeps (oldest dropped first)
_REFERENCE_STATS: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "restorebench_reference_stats", default=None)


@contextlib.contextmanager
def reuse_reference_statistics() -> Iterator[None]:
    """Within the block, the SSIM window sums of a reference image (``blur(x)``, ``blur(x * x)`` per
    channel) are computed once per reference object, whatever it is compared with.

    For scoring many predictions against one target (a bookcovers sequence: 9 view counts x its draws,
    raw and gain-corrected): the same arrays as computing them each time, so the same SSIM bits.
    References are matched by identity and held until the block ends; do not modify them inside it.
    """
    token = _REFERENCE_STATS.set({})
    try:
        yield
    finally:
        _REFERENCE_STATS.reset(token)


def _reference_blurs(reference: object, ref: np.ndarray, channel: int) -> tuple[np.ndarray, np.ndarray] | None:
    cache = _REFERENCE_STATS.get()
    if cache is None:
        return None
    entry = cache.get(id(reference))
    if entry is None or entry[0] is not reference:
        if len(cache) >= _REFERENCE_STATS_KEPT:  # e.g. a clip's frames, each a new view: keep the newest few
            del cache[next(iter(cache))]
        entry = cache[id(reference)] = (reference, {})
    per_channel = entry[1]
    if channel not in per_channel:
        x = ref[..., channel]
        per_channel[channel] = (_ssim_blur(x), _ssim_blur(x * x))
    return per_channel[channel]


def ssim(reference: np.ndarray, prediction: np.ndarray, *, data_range: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004), Gaussian window, valid region.

    Parameters
    ----------
    reference, prediction : ndarray
        (H, W) or (H, W, C); multi-channel SSIM is the mean over channels.
    data_range : float
        Dynamic range of the images (1.0 for the suite's [0, 1] convention).
    """
    maps = _ssim_maps(reference, prediction, data_range=float(data_range))
    if np.ndim(reference) == 2:
        return float(maps[0].mean(dtype=np.float64))
    return float(np.mean([float(m.mean(dtype=np.float64)) for m in maps]))


@compute_once
def _ssim_maps(reference: np.ndarray, prediction: np.ndarray, *, data_range: float) -> tuple[np.ndarray, ...]:
    """The SSIM map of every channel (a greyscale (H, W) image is one channel), valid region."""
    ref, pred = _pair(reference, prediction)
    if ref.ndim == 2:
        ref, pred = ref[..., None], pred[..., None]
    if ref.ndim != 3:
        raise ValueError(f"ssim expects (H, W) or (H, W, C), got {ref.shape}")
    if min(ref.shape[:2]) < 2 * _SSIM_RADIUS + 1:
        raise ValueError(f"ssim needs images of at least {2 * _SSIM_RADIUS + 1}x{2 * _SSIM_RADIUS + 1} pixels, "
                         f"got {ref.shape[:2]}")
    return tuple(_ssim_map(ref[..., c], pred[..., c], data_range, _reference_blurs(reference, ref, c))
                 for c in range(ref.shape[2]))


def dssim(reference: np.ndarray, prediction: np.ndarray, *, data_range: float = 1.0) -> float:
    """Structural dissimilarity ``(1 - ssim) / 2``; 0 for identical images."""
    return (1.0 - ssim(reference, prediction, data_range=data_range)) / 2.0


def lmse(reference: np.ndarray, prediction: np.ndarray, *, window: int = 20, step: int = 10) -> float:
    """Local scale-invariant MSE (Grosse et al. 2009, MIT intrinsic images).

    The image is cut into ``window`` x ``window`` patches every ``step``
    pixels (starting at 0, as the MIT reference code does). In each patch the
    prediction is scaled by the least-squares gain
    ``a = <t, p> / <p, p>`` (all channels of the patch share one gain) and the
    squared error ``|t - a p|^2`` is summed. The total is normalised by the sum
    over the same patches of ``|t|^2``, so the score is 0 for a perfect
    prediction, 1 for an all-zero one, and invariant to any gain on the
    prediction, global or local to a patch.

    Windows larger than the image are clipped to the image.
    """
    ref, pred = _pair(reference, prediction)
    if ref.ndim == 2:
        ref, pred = ref[..., None], pred[..., None]
    h, w = ref.shape[:2]
    wh, ww = min(window, h), min(window, w)
    ys = np.arange(0, h - wh + 1, step)
    xs = np.arange(0, w - ww + 1, step)
    # Patch sums via integral images: O(HW) regardless of the window size.
    def patch_sums(a: np.ndarray) -> np.ndarray:
        # Channels added left to right, the order of numpy's a.sum(axis=2) (same bits), without its slow
        # reduction over a 3-long axis.
        s = a[..., 0].copy()
        for c in range(1, a.shape[2]):
            s += a[..., c]
        ii = np.zeros((h + 1, w + 1))
        ii[1:, 1:] = s.cumsum(0).cumsum(1)
        y0, x0 = ys[:, None], xs[None, :]
        return ii[y0 + wh, x0 + ww] - ii[y0, x0 + ww] - ii[y0 + wh, x0] + ii[y0, x0]

    tp, pp, tt = patch_sums(ref * pred), patch_sums(pred * pred), patch_sums(ref * ref)
    gain = np.where(pp > 0, tp / np.where(pp > 0, pp, 1.0), 0.0)
    err = tt - 2 * gain * tp + gain * gain * pp  # |t - a p|^2 expanded
    total = tt.sum()
    if total == 0:
        return 0.0 if err.sum() <= 0 else float("inf")
    return float(max(err.sum(), 0.0) / total)


@compute_once
def gain_invariant(reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """``prediction`` scaled per channel by its least-squares gain against ``reference``.

    ``a_c = <t_c, p_c> / <p_c, p_c>`` over the pixels of channel c (1 for an
    all-zero channel), then clipped to [0, 1]. Scoring this instead of the
    prediction removes the part of the error that is a global per-channel
    gain, which a method cannot know when the target's exposure is not
    observable (bookcovers' light power). Applied identically to every method.
    Inside :func:`reuse_results` the same array (not to be modified) is
    returned for the same pair of arrays (:func:`compute_once`).
    """
    ref, pred = _pair(reference, prediction)
    if ref.ndim == 2:
        ref, pred = ref[..., None], pred[..., None]
    t2, p2 = ref.reshape(-1, ref.shape[-1]), pred.reshape(-1, ref.shape[-1])
    tp, pp = np.einsum("nc,nc->c", t2, p2), np.einsum("nc,nc->c", p2, p2)
    gain = np.where(pp > 0, tp / np.where(pp > 0, pp, 1.0), 1.0)
    out = np.clip(pred * gain, 0.0, 1.0)
    return out.reshape(np.shape(prediction))


def psnr_gain_invariant(reference: np.ndarray, prediction: np.ndarray, *, data_range: float = 1.0) -> float:
    """PSNR of :func:`gain_invariant` (prediction); see there."""
    return psnr(reference, gain_invariant(reference, prediction), data_range=data_range)


def ssim_gain_invariant(reference: np.ndarray, prediction: np.ndarray, *, data_range: float = 1.0) -> float:
    """SSIM of :func:`gain_invariant` (prediction); see there."""
    return ssim(reference, gain_invariant(reference, prediction), data_range=data_range)


def ncc(reference: np.ndarray, prediction: np.ndarray) -> float:
    """Normalised cross-correlation (Pearson's r) over all pixels and channels.

    ``sum((t - mean t)(p - mean p)) / sqrt(sum((t - mean t)^2) sum((p - mean p)^2))``,
    in [-1, 1], invariant to a global gain and offset of the prediction; the
    NCC that the reflection-removal literature reports (e.g. Wan et al. 2017,
    SIR^2). 1 for identical non-constant images; 0 when either is constant.
    """
    ref, pred = _pair(reference, prediction)
    t = ref.ravel() - ref.mean()
    p = pred.ravel() - pred.mean()
    den = float(np.sqrt((t @ t) * (p @ p)))
    return float(t @ p) / den if den > 0 else 0.0


def label_accuracy(reference: np.ndarray, prediction: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Fraction of pixels whose label is right, inside ``mask`` (all pixels if None)."""
    ref, pred = np.asarray(reference), np.asarray(prediction)
    if ref.shape != pred.shape:
        raise ValueError(f"shape mismatch: reference {ref.shape} vs prediction {pred.shape}")
    sel = np.ones(ref.shape, bool) if mask is None else np.asarray(mask, bool)
    if sel.shape != ref.shape:
        raise ValueError(f"mask shape {sel.shape} does not match labels {ref.shape}")
    if not sel.any():
        return float("nan")
    return float(np.mean(ref[sel] == pred[sel]))


def mean_iou(reference: np.ndarray, prediction: np.ndarray, *, num_classes: int) -> float:
    """Mean intersection-over-union over classes ``0..num_classes-1``.

    Classes absent from both reference and prediction are left out of the
    mean (their IoU is undefined).
    """
    ref, pred = np.asarray(reference).ravel(), np.asarray(prediction).ravel()
    if ref.shape != pred.shape:
        raise ValueError(f"shape mismatch: reference {np.shape(reference)} vs prediction {np.shape(prediction)}")
    conf = np.bincount(ref * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    present = union > 0
    return float(np.mean(inter[present] / union[present]))


# ---------------------------------------------------------------- masked scores and distances
#
# Conventions shared by the functions below: images are (H, W, C) arrays on
# the [0, 1] scale as stored (sRGB-encoded values, not linear light); the
# region is a bool (H, W) ``mask`` (True = scored; ``None`` = every pixel);
# an empty region gives NaN.


def _masked_values(reference: np.ndarray, prediction: np.ndarray, mask) -> tuple[np.ndarray, np.ndarray]:
    """(n_pixels, C) float64 values of both images inside ``mask``."""
    ref, pred = _pair(reference, prediction)
    if ref.ndim == 2:
        ref, pred = ref[..., None], pred[..., None]
    sel = np.ones(ref.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    if sel.shape != ref.shape[:2]:
        raise ValueError(f"mask shape {sel.shape} does not match images {ref.shape[:2]}")
    return ref[sel], pred[sel]


def mse_masked(reference: np.ndarray, prediction: np.ndarray, *, mask: np.ndarray | None) -> float:
    """Mean squared error over the pixels of ``mask`` and all channels (NaN when empty)."""
    t, p = _masked_values(reference, prediction, mask)
    return float(np.mean((t - p) ** 2)) if t.size else float("nan")


def psnr_masked(reference: np.ndarray, prediction: np.ndarray, *, mask: np.ndarray | None,
                data_range: float = 1.0) -> float:
    """``10 log10(data_range^2 / mse_masked)`` in dB; ``inf`` for a perfect region, NaN when empty."""
    err = mse_masked(reference, prediction, mask=mask)
    if err == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / err)) if np.isfinite(err) else float("nan")


def ssim_masked(reference: np.ndarray, prediction: np.ndarray, *, mask: np.ndarray | None,
                data_range: float = 1.0) -> float:
    """SSIM (the same window and constants as :func:`ssim`) averaged over the pixels of ``mask``.

    The SSIM map is computed on the whole images (so windows straddling the
    region's border see both sides), restricted to the valid region (5 px
    from the image border) and averaged over the mask pixels in it, then over
    channels. NaN when no mask pixel lies in the valid region.
    """
    ref, pred = _pair(reference, prediction)
    if ref.ndim == 2:
        ref, pred = ref[..., None], pred[..., None]
    r = _SSIM_RADIUS
    sel = np.ones(ref.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    if sel.shape != ref.shape[:2]:
        raise ValueError(f"mask shape {sel.shape} does not match images {ref.shape[:2]}")
    inner = sel[r:-r, r:-r]
    if not inner.any():
        return float("nan")
    maps = _ssim_maps(reference, prediction, data_range=float(data_range))  # shared by every region's score
    return float(np.mean([m[inner].mean(dtype=np.float64) for m in maps]))


def euclidean_distance(reference: np.ndarray, prediction: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean per-pixel Euclidean colour distance inside ``mask``.

    ``(1 / |R|) sum_{p in R} || t_p - y_p ||_2`` where ``t_p``, ``y_p`` are the
    C-channel values of pixel ``p`` (sRGB-encoded, [0, 1] scale) and ``R`` the
    mask's pixels. Range ``[0, sqrt(C)]``. It is the mean of per-pixel norms,
    not ``sqrt(MSE)`` (the root of the mean of squared norms, divided by
    ``sqrt(C)``), so it weighs many small errors more than MSE does and its
    column differs from MSE's.
    """
    t, p = _masked_values(reference, prediction, mask)
    return float(np.mean(np.sqrt(np.sum((t - p) ** 2, axis=1)))) if t.size else float("nan")


def manhattan_distance(reference: np.ndarray, prediction: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean per-pixel Manhattan (L1) colour distance inside ``mask``.

    ``(1 / |R|) sum_{p in R} sum_c | t_pc - y_pc |`` (sRGB-encoded, [0, 1]
    scale; channels summed, pixels averaged), range ``[0, C]``; ``C`` times the
    mean absolute error.
    """
    t, p = _masked_values(reference, prediction, mask)
    return float(np.mean(np.sum(np.abs(t - p), axis=1))) if t.size else float("nan")


def chord_distance(reference: np.ndarray, prediction: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Chord distance between the two regions as vectors: ``|| t / ||t|| - y / ||y|| ||_2``.

    ``t`` and ``y`` are all values inside ``mask`` (pixels x channels,
    sRGB-encoded, [0, 1] scale) flattened into one vector each; the distance is
    the length of the chord between their projections on the unit sphere,
    ``sqrt(2 - 2 cos theta)`` with ``theta`` the angle between them, in
    ``[0, sqrt(2)]`` for non-negative images. Invariant to a global gain of
    either image, so it scores structure and colour balance but not exposure.
    0 when both vectors are zero; ``1`` (orthogonal) when exactly one is.
    """
    t, p = _masked_values(reference, prediction, mask)
    if not t.size:
        return float("nan")
    nt, npred = float(np.linalg.norm(t)), float(np.linalg.norm(p))
    if nt == 0.0 or npred == 0.0:
        return 0.0 if nt == npred else 1.0
    return float(np.linalg.norm(t.ravel() / nt - p.ravel() / npred))


# ---------------------------------------------------------------- retrieval


def _ranking(scores: np.ndarray) -> np.ndarray:
    """Gallery indices by decreasing score; ties keep gallery order (stable)."""
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def recall_at_k(relevant: np.ndarray, scores: np.ndarray, *, k: int) -> float:
    """Retrieval hit rate at ``k``: 1.0 if any relevant item is among the ``k`` best-scored, else 0.0.

    ``relevant`` is a bool (K,) array in gallery order, ``scores`` (K,) (higher
    = more similar). NaN when nothing is relevant (the query is then left out
    of the mean).
    """
    rel = np.asarray(relevant, bool)
    if rel.shape != np.shape(scores):
        raise ValueError(f"relevant {rel.shape} and scores {np.shape(scores)} differ in shape")
    if not rel.any():
        return float("nan")
    return float(rel[_ranking(scores)[: int(k)]].any())


def average_precision(relevant: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of the ranking: mean over relevant items of the precision at their rank.

    ``AP = (1 / R) sum_{i relevant} (relevant items ranked <= rank_i) / rank_i``;
    its mean over queries is mAP. NaN when nothing is relevant.
    """
    rel = np.asarray(relevant, bool)
    if rel.shape != np.shape(scores):
        raise ValueError(f"relevant {rel.shape} and scores {np.shape(scores)} differ in shape")
    if not rel.any():
        return float("nan")
    hits = rel[_ranking(scores)]
    ranks = np.nonzero(hits)[0] + 1
    return float(np.mean(np.arange(1, ranks.size + 1) / ranks))
