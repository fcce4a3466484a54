"""Snow removal: classical single-image and multi-frame baselines.

Inputs are ``{"image": (H, W, 3)}`` float32 sRGB in [0, 1] (task ``snow``)
or ``{"frames": (N, H, W, 3)}`` with the reference at ``N // 2`` (task
``snow-frames``); every method predicts the clean image (of the reference
frame). See :mod:`generators.snow` for the formation model.

Single image:

* ``snow-identity``: the input itself (the floor; on ``snow-frames`` the reference frame);
* ``snow-median``: a 3x3 median per channel (removes specks of one or two
  pixels, nothing larger);
* ``snow-detect-telea`` / ``snow-detect-ns``: snow *detection* then
  inpainting. A pixel is snow when it is bright, achromatic and part of a
  small blob (:func:`detect_snow`): its luma white top-hat (luma minus its
  morphological opening by a ``TOPHAT_SIZE`` disc: what is brighter than its
  surroundings and smaller than the disc) exceeds ``TOPHAT_MIN``, and its
  HSV saturation is below ``SATURATION_MAX``; the mask is dilated by one
  pixel and filled with OpenCV's Telea (2004) or Navier-Stokes (Bertalmio
  et al. 2001) inpainting, radius 3. The mask (as 0/1) is the method's
  estimate of ``z`` for the mask metrics;
* ``snow-wmgf``: Shi et al., "Weighted median guided filtering method for
  single image rain removal", EURASIP J. Image Video Process. 2018:35 -- a
  weighted median filter of the input gives a coarse snow-free image, which
  then guides a guided filter (He, Sun and Tang, "Guided Image Filtering",
  ECCV 2010, eq. 1-8) of the input: the output follows the input's
  intensities but only the edges the coarse image keeps. The paper's
  parameter values were not available to us; ours: a 7x7 joint weighted
  median (Zhang, Xu and Jia, CVPR 2014: weights ``exp(-||I(p) - I(q)||^2 /
  (2 * 0.1^2))`` from the input's colours, times a spatial Gaussian of sigma
  2 px), guided-filter radius 4 and ``eps = 1e-3``, per channel with that
  channel of the coarse image as the guide.

Multi-frame (``snow-frames``):

* ``snow-temporal-median``: every frame aligned to the reference by a
  translation (phase correlation of the luma, OpenCV), then the per-pixel
  median over frames: a flake rarely covers the same scene point in most
  frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import cv2
import numba
import numpy as np

from generators.task import check_image, check_views

__all__ = ["detect_snow", "remove_snow_wmgf", "guided_filter", "weighted_median", "temporal_median",
           "SnowIdentity", "SnowMedian", "SnowDetectInpaint", "SnowWMGF", "SnowDCPWMGF", "SnowTemporalMedian", "dehaze_dark_channel", "SNOW_BASELINES"]

TOPHAT_SIZE = 7  # px: blobs smaller than this disc count as flakes
TOPHAT_MIN = 0.06  # luma above the opening
SATURATION_MAX = 0.15
INPAINT_RADIUS = 3
DILATE = False
WMF_RADIUS = 3
WMF_SIGMA_COLOUR = 0.1
WMF_SIGMA_SPACE = 2.0
GF_RADIUS = 4
GF_EPS = 1e-3
DCP_PATCH = 15
DCP_OMEGA = 0.95
DCP_T0 = 0.1
DCP_TOP = 0.001
DCP_GF_RADIUS = 15
DCP_GF_EPS = 1e-3


def _luma(img: np.ndarray) -> np.ndarray:
    return (img @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


def detect_snow(image: np.ndarray) -> np.ndarray:
    """Bool (H, W) mask of bright, achromatic, small blobs (see the module docstring)."""
    check_image(image)
    luma = _luma(image)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (TOPHAT_SIZE, TOPHAT_SIZE))
    tophat = cv2.morphologyEx(luma, cv2.MORPH_TOPHAT, disc)
    mx, mn = image.max(axis=2), image.min(axis=2)
    sat = np.where(mx > 1e-6, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    mask = (tophat > TOPHAT_MIN) & (sat < SATURATION_MAX)
    if DILATE:
        mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return mask


def _inpaint(image: np.ndarray, mask: np.ndarray, flag: int) -> np.ndarray:
    if not mask.any():
        return image.copy()
    u8 = np.rint(image * 255).astype(np.uint8)
    out = cv2.inpaint(u8, mask.astype(np.uint8), INPAINT_RADIUS, flag)
    # Only masked pixels change (8-bit inpainting elsewhere would just requantise).
    return np.where(mask[..., None], out.astype(np.float32) / 255, image).astype(np.float32)


def weighted_median(image: np.ndarray, *, radius: int = WMF_RADIUS, sigma_colour: float = WMF_SIGMA_COLOUR,
                    sigma_space: float = WMF_SIGMA_SPACE) -> np.ndarray:
    """Joint weighted median of each channel, the image its own guide (weights: colour affinity x space).

    Per pixel and channel: the window's values sorted, their weights accumulated in that order (float32),
    and the first value whose cumulative weight reaches half the total. The weights are computed with
    numpy; the sort and selection run in a numba kernel (:func:`_weighted_median_kernel`)."""
    h, w, c = image.shape
    image = np.ascontiguousarray(image, np.float32)
    pad = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    wts = np.empty((len(offsets), h, w), np.float32)
    for k, (dy, dx) in enumerate(offsets):
        nb = pad[radius + dy : radius + dy + h, radius + dx : radius + dx + w]
        d2 = ((nb - image) ** 2).sum(axis=2)
        wts[k] = np.exp(-d2 / (2 * sigma_colour**2) - (dy * dy + dx * dx) / (2 * sigma_space**2))
    return _weighted_median_kernel(pad, wts, radius)


@numba.njit(cache=True, nogil=True)
def _weighted_median_kernel(pad, wts, radius):  # pragma: no cover - compiled
    # Each row of pixels keeps the window's entries sorted by (value, window offset): moving one pixel
    # right replaces the left column's entries by the new right column's (same rows) and re-sorts by
    # insertion, about (window side) x (window size) / 2 moves instead of a full sort. Equal values are
    # ordered by window offset, as a stable sort of the offset-ordered window would: the chosen value does
    # not depend on the order of equal values except through float32 rounding of the running weight sum.
    n, h, w = wts.shape
    c = pad.shape[2]
    side = 2 * radius + 1
    wpix = np.ascontiguousarray(wts.transpose(1, 2, 0))  # (h, w, n): one pixel's weights side by side
    out = np.empty((h, w, c), np.float32)
    ro = np.empty(n, np.int64)  # window row / column offsets of the sorted entries
    co = np.empty(n, np.int64)
    val = np.empty(n, np.float32)
    for ch in range(c):
        plane = np.ascontiguousarray(pad[:, :, ch])
        for y in range(h):
            for k in range(n):
                ro[k] = k // side
                co[k] = k % side
                val[k] = plane[y + ro[k], co[k]]
            for x in range(w):
                if x > 0:  # the window moves right: its left column leaves, a new right column enters
                    for k in range(n):
                        if co[k] == 0:
                            co[k] = side - 1
                            val[k] = plane[y + ro[k], x + side - 1]
                        else:
                            co[k] -= 1
                for i in range(1, n):  # insertion sort by (value, window offset)
                    r, q, v = ro[i], co[i], val[i]
                    o = r * side + q
                    j = i
                    while j > 0 and (val[j - 1] > v or (val[j - 1] == v and ro[j - 1] * side + co[j - 1] > o)):
                        ro[j] = ro[j - 1]
                        co[j] = co[j - 1]
                        val[j] = val[j - 1]
                        j -= 1
                    ro[j] = r
                    co[j] = q
                    val[j] = v
                wt = wpix[y, x]
                total = np.float32(0.0)
                for k in range(n):
                    total = np.float32(total + wt[ro[k] * side + co[k]])
                half = np.float32(0.5) * total
                acc = np.float32(0.0)
                pick = n - 1
                for k in range(n):
                    acc = np.float32(acc + wt[ro[k] * side + co[k]])
                    if not acc < half:
                        pick = k
                        break
                out[y, x, ch] = val[pick]
    return out


def guided_filter(guide: np.ndarray, src: np.ndarray, *, radius: int = GF_RADIUS, eps: float = GF_EPS) -> np.ndarray:
    """He et al. 2010, grey guide: ``q = mean(a) I + mean(b)``, ``a = cov(I, p) / (var(I) + eps)``, ``b = mean(p) - a mean(I)``."""
    ksize = (2 * radius + 1, 2 * radius + 1)
    box = lambda x: cv2.boxFilter(x, -1, ksize, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mi, mp = box(guide), box(src)
    a = (box(guide * src) - mi * mp) / (box(guide * guide) - mi * mi + eps)
    b = mp - a * mi
    return box(a) * guide + box(b)


def remove_snow_wmgf(image: np.ndarray) -> np.ndarray:
    """Shi et al. 2018: weighted median -> coarse image -> guided filter of the input (see the module docstring)."""
    check_image(image)
    coarse = weighted_median(image)
    out = np.stack([guided_filter(coarse[..., c], image[..., c]) for c in range(image.shape[2])], axis=-1)
    return np.clip(out, 0, 1).astype(np.float32)


def dehaze_dark_channel(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """He, Sun and Tang's dark channel prior (CVPR 2009 / TPAMI 2011): ``(J, t, A)``.

    Dark channel: per-pixel channel minimum, then a ``DCP_PATCH`` minimum
    filter; airlight ``A``: of the brightest ``DCP_TOP`` fraction of the dark
    channel, the input pixel of highest intensity; transmission ``t = 1 -
    omega dark(I / A)`` (omega 0.95), refined by a guided filter with the
    input's luma as guide (the TPAMI version's replacement of soft matting);
    ``J = (I - A) / max(t, 0.1) + A``, clipped to [0, 1].
    """
    check_image(image)
    h, w, _ = image.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (DCP_PATCH, DCP_PATCH))
    dark = cv2.erode(image.min(axis=2), kernel, borderType=cv2.BORDER_REFLECT)
    n_top = max(1, int(round(DCP_TOP * h * w)))
    top = np.argpartition(dark.ravel(), -n_top)[-n_top:]
    best = top[np.argmax(image.reshape(-1, 3)[top].sum(axis=1))]
    airlight = np.maximum(image.reshape(-1, 3)[best], 1e-3).astype(np.float32)
    norm_dark = cv2.erode((image / airlight).min(axis=2).astype(np.float32), kernel, borderType=cv2.BORDER_REFLECT)
    t = 1.0 - DCP_OMEGA * norm_dark
    t = guided_filter(_luma(image), t.astype(np.float32), radius=DCP_GF_RADIUS, eps=DCP_GF_EPS)
    j = (image - airlight) / np.maximum(t, DCP_T0)[..., None] + airlight
    return np.clip(j, 0, 1).astype(np.float32), t.astype(np.float32), airlight


def _shift_to(reference: np.ndarray, frame: np.ndarray) -> np.ndarray:
    (dx, dy), _ = cv2.phaseCorrelate(_luma(reference).astype(np.float64), _luma(frame).astype(np.float64))
    mat = np.float32([[1, 0, -dx], [0, 1, -dy]])
    h, w = reference.shape[:2]
    return cv2.warpAffine(frame, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def temporal_median(frames: np.ndarray) -> np.ndarray:
    """Per-pixel median of the frames aligned (translation) to the reference ``N // 2``."""
    check_views(frames, name="frames")
    r = frames.shape[0] // 2
    aligned = [frames[k] if k == r else _shift_to(frames[r], frames[k]) for k in range(frames.shape[0])]
    return np.clip(np.median(np.stack(aligned), axis=0), 0, 1).astype(np.float32)


@dataclass(frozen=True)
class SnowIdentity:
    """The input (``snow``) or the reference frame (``snow-frames``) unchanged: the floor of both."""

    name: str = "snow-identity"
    tasks: tuple[str, ...] = ("snow", "snow-real", "snow-frames")

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        if "image" in inputs:
            return check_image(inputs["image"]).copy()
        frames = check_views(inputs["frames"], name="frames")
        return frames[frames.shape[0] // 2].copy()


@dataclass(frozen=True)
class SnowMedian:
    name: str = "snow-median"
    tasks: tuple[str, ...] = ("snow", "snow-real")

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return cv2.medianBlur(check_image(inputs["image"]), 3)


@dataclass(frozen=True)
class SnowDetectInpaint:
    name: str
    method: str  # "telea" | "ns"
    tasks: tuple[str, ...] = ("snow", "snow-real")

    def estimate(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """``{"clean": (H, W, 3), "z": (H, W, 1)}``: the restoration and the detection mask as 0/1."""
        mask = detect_snow(image)
        flag = cv2.INPAINT_TELEA if self.method == "telea" else cv2.INPAINT_NS
        return {"clean": _inpaint(image, mask, flag), "z": mask[..., None].astype(np.float32)}

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.estimate(inputs["image"])["clean"]


@dataclass(frozen=True)
class SnowWMGF:
    name: str = "snow-wmgf"
    tasks: tuple[str, ...] = ("snow", "snow-real")

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return remove_snow_wmgf(inputs["image"])


@dataclass(frozen=True)
class SnowDCPWMGF:
    name: str = "snow-dcp-wmgf"
    tasks: tuple[str, ...] = ("snow", "snow-real")

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return remove_snow_wmgf(dehaze_dark_channel(check_image(inputs["image"]))[0])


@dataclass(frozen=True)
class SnowTemporalMedian:
    name: str = "snow-temporal-median"
    tasks: tuple[str, ...] = ("snow-frames",)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return temporal_median(inputs["frames"])


SNOW_BASELINES = (SnowIdentity(), SnowMedian(), SnowDetectInpaint("snow-detect-telea", "telea"),
                  SnowDetectInpaint("snow-detect-ns", "ns"), SnowWMGF(), SnowDCPWMGF(), SnowTemporalMedian())
