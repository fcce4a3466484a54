"""Classical baselines of the ``fingerprints`` task.

* ``fp-identity``: the degraded input as the answer (the floor every method
  must beat);
* ``fp-median``: a 5 x 5 median filter (impulse noise and thin scratches);
* ``fp-gabor``: contextual Gabor enhancement (Hong, Wan & Jain 1998,
  "Fingerprint image enhancement: algorithm and performance evaluation"):
  local normalisation, orientation from the smoothed gradient structure
  tensor, one ridge frequency per print from the spectrum, an even Gabor
  filter tuned to each pixel's orientation, a foreground mask from the share
  of the local energy that the filter keeps, and a white background outside
  it.

All take ``{"image": (H, W, 1) float32 in [0, 1]}`` (white background, dark
ridges) and return the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import cv2
import numpy as np

from generators.task import check_image

__all__ = ["filter_median", "estimate_orientation", "estimate_period", "enhance_gabor",
           "FingerprintIdentity", "FingerprintMedian", "GaborEnhancement"]  # fmt: skip

MEDIAN_SIZE = 5
PERIOD_RANGE = (6.0, 14.0)  # px searched for the ridge period
N_ORIENTATIONS = 16
# Output mapping of enhance_gabor, chosen on 20 held-out prints (test seed,
# indices 50-69, outside the test split) among gain {1, 1.5, 2.5} x ink {0.8, 1}.
GAIN, INK = 1.5, 0.8


def _grey(image: np.ndarray) -> np.ndarray:
    check_image(image)
    if image.shape[2] != 1:
        raise ValueError(f"fingerprint baselines take greyscale (H, W, 1) images, got {image.shape}")
    return image[..., 0]


def filter_median(image: np.ndarray, *, size: int = MEDIAN_SIZE) -> np.ndarray:
    """Median filter with a ``size`` x ``size`` window (3 or 5; replicated borders)."""
    if size not in (3, 5):
        raise ValueError(f"median size must be 3 or 5 for float images, got {size}")
    return cv2.medianBlur(np.ascontiguousarray(_grey(image)), size)[..., None]


def _normalise(x: np.ndarray, sigma: float) -> np.ndarray:
    """Zero local mean, unit local standard deviation (Gaussian windows of ``sigma`` px)."""
    mu = cv2.GaussianBlur(x, (0, 0), sigma)
    d = x - mu
    sd = np.sqrt(cv2.GaussianBlur(d * d, (0, 0), sigma))
    return d / (sd + 0.02)


def estimate_orientation(x: np.ndarray, *, sigma: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """Ridge orientation and coherence from the gradient structure tensor.

    Parameters
    ----------
    x : ndarray, (H, W) float32
    sigma : float
        Smoothing of the tensor in px (Bazen & Gerez 2002, eqs. 5-7).

    Returns
    -------
    theta : ndarray, (H, W) float32 in [0, pi)
        Ridge direction, perpendicular to the dominant gradient.
    coherence : ndarray, (H, W) float32 in [0, 1]
    """
    g = cv2.GaussianBlur(x, (0, 0), 1.0)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    gxx = cv2.GaussianBlur(gx * gx, (0, 0), sigma)
    gyy = cv2.GaussianBlur(gy * gy, (0, 0), sigma)
    gxy = cv2.GaussianBlur(gx * gy, (0, 0), sigma)
    theta = 0.5 * np.arctan2(2 * gxy, gxx - gyy) + np.pi / 2
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / (gxx + gyy + 1e-6)
    return np.mod(theta, np.pi).astype(np.float32), np.clip(coherence, 0, 1).astype(np.float32)


def estimate_period(x: np.ndarray, *, period_range: tuple[float, float] = PERIOD_RANGE) -> float:
    """Dominant ridge period in px: the peak of the radially summed power spectrum in ``period_range``."""
    h, w = x.shape
    win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    power = np.abs(np.fft.rfft2(x * win)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.hypot(fx, fy)
    bins = np.linspace(1 / period_range[1], 1 / period_range[0], 33)
    idx = np.digitize(radius, bins)
    energy = np.bincount(idx.ravel(), power.ravel(), minlength=bins.size + 1)[1 : bins.size]
    k = int(np.argmax(energy))
    return float(2.0 / (bins[k] + bins[k + 1]))


def _gabor_bank(period: float, n: int) -> list[np.ndarray]:
    sigma = 0.5 * period
    r = int(np.ceil(2.5 * sigma))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    bank = []
    for k in range(n):
        t = k * np.pi / n
        across = -xx * np.sin(t) + yy * np.cos(t)
        along = xx * np.cos(t) + yy * np.sin(t)
        g = np.exp(-(across**2) / (2 * sigma**2) - along**2 / (2 * (1.3 * sigma) ** 2))
        kern = g * np.cos(2 * np.pi * across / period)
        kern -= g * (kern.sum() / g.sum())  # zero mean: flat regions give 0
        bank.append((kern / np.abs(kern).sum()).astype(np.float32))
    return bank


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == keep


def enhance_gabor(image: np.ndarray, *, n_orientations: int = N_ORIENTATIONS, sigma_orientation: float = 7.0,
                  gain: float = GAIN, ink: float = INK) -> np.ndarray:  # fmt: skip
    """Contextual Gabor enhancement of a degraded print (Hong, Wan & Jain 1998).

    Parameters
    ----------
    image : ndarray, (H, W, 1) float32 in [0, 1]
    n_orientations : int
        Orientation bins of the filter bank; each pixel blends its two
        nearest bins linearly.
    sigma_orientation : float
        Smoothing of the structure tensor in px.
    gain : float
        Steepness of the ``tanh`` that maps the filter response to ink.
    ink : float
        Darkness of a full ridge (1 = black). Ridges of real impressions are
        rarely black, and a hedged ridge costs less squared error where the
        estimate is wrong.

    Returns
    -------
    ndarray, (H, W, 1) float32 in [0, 1]
        Dark ridges on white inside the estimated fingerprint area, white
        outside it.
    """
    x = _normalise(_grey(image).astype(np.float32), 6.0)
    theta, coherence = estimate_orientation(x, sigma=sigma_orientation)
    period = estimate_period(x)
    responses = np.stack([cv2.filter2D(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT) for k in _gabor_bank(period, n_orientations)])
    pos = theta * (n_orientations / np.pi)
    lo = np.floor(pos).astype(np.int64) % n_orientations
    hi = (lo + 1) % n_orientations
    w = (pos - np.floor(pos)).astype(np.float32)
    rows, cols = np.indices(theta.shape)
    resp = (1 - w) * responses[lo, rows, cols] + w * responses[hi, rows, cols]
    # Foreground: where the oriented band-pass keeps much of the local energy
    # and the orientation is coherent (textured backgrounds do neither).
    kept = cv2.GaussianBlur(resp * resp, (0, 0), 8.0) / (cv2.GaussianBlur(x * x, (0, 0), 8.0) + 1e-6)
    score = cv2.GaussianBlur(np.sqrt(kept / (kept.max() + 1e-6)) * coherence, (0, 0), 4.0)
    u8 = np.clip(score / (score.max() + 1e-6) * 255, 0, 255).astype(np.uint8)
    _, fg = cv2.threshold(u8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15)))
    fg = _largest_component(fg.astype(bool))
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31)))
    alpha = cv2.GaussianBlur(fg.astype(np.float32), (0, 0), 3.0)
    scale = np.sqrt(cv2.GaussianBlur(resp * resp, (0, 0), 8.0)) + 1e-3
    darkness = ink * 0.5 * (1.0 - np.tanh(gain * resp / scale))
    return np.clip(1.0 - alpha * darkness, 0.0, 1.0).astype(np.float32)[..., None]


@dataclass(frozen=True)
class FingerprintIdentity:
    """The degraded input itself."""

    name: str = "fp-identity"
    tasks: tuple[str, ...] = ("fingerprints",)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return _grey(inputs["image"]).copy()[..., None]


@dataclass(frozen=True)
class FingerprintMedian:
    """Registry wrapper for :func:`filter_median`."""

    name: str = "fp-median"
    tasks: tuple[str, ...] = ("fingerprints",)
    size: int = MEDIAN_SIZE

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return filter_median(inputs["image"], size=self.size)


@dataclass(frozen=True)
class GaborEnhancement:
    """Registry wrapper for :func:`enhance_gabor`."""

    name: str = "fp-gabor"
    tasks: tuple[str, ...] = ("fingerprints",)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return enhance_gabor(inputs["image"])
