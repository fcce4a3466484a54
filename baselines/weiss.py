"""Weiss 2001: maximum-likelihood intrinsic image from an image sequence.

Y. Weiss, "Deriving intrinsic images from image sequences", ICCV 2001.

Model: every view is reflectance times illumination, ``I_n = R * L_n``, so in
the log domain ``i_n = r + l_n``. Weiss assumes that the outputs of
derivative filters applied to the illumination images are sparse (Laplacian
distributed). The maximum-likelihood estimate of the reflectance-filter
output is then the per-pixel median over the views of the filtered log
images (Weiss 2001, eq. 4),

    r_hat_k = median_n (f_k * i_n),   k in {horizontal, vertical},

and the log-reflectance is recovered by the pseudo-inverse (eq. 5)

    r = g * sum_k (f_k^rev * r_hat_k),   g = (sum_k f_k^rev * f_k)^-1,

which we evaluate in the Fourier domain. Here ``f_x = [-1, 1]`` and ``f_y``
its transpose (forward differences), with circular boundaries: the
pseudo-inverse is then exact (a division by the eigenvalues of the periodic
Laplacian) and the jump across the wrap-around seam is handled like any other
edge, by the median.

Conventions fixed here:

* Log domain: ``log(I + eps)`` with ``eps = 1/255`` (one 8-bit step) so that
  black pixels give a finite log; ``eps`` is subtracted again after the
  exponential.
* Gain: the reconstruction is defined up to an additive constant per channel
  in the log domain (a gain per channel). We fix it without looking at any
  target: the mean over pixels of the output log-reflectance of channel c is
  set equal to the mean over pixels of the per-pixel median (over views) of
  ``log(I_n + eps)`` in that channel, i.e. the output's geometric mean per
  channel matches that of the median image. The result is clipped to [0, 1].
  Methods whose output carries such a gain set ``output_gain_unknown = True``
  so that the harness also reports gain-corrected scores.
* One view (N = 1): the median is the view's own derivatives, so the estimate
  is the input view itself (within 1e-4: float32 log, FFT and exp
  round-off). Defined, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numba
import numpy as np
import scipy.fft

from generators.task import check_views

__all__ = ["estimate_reflectance_weiss", "WeissReflectance"]

LOG_EPS = 1.0 / 255.0


@lru_cache(maxsize=64)
def _sorting_network(n: int) -> np.ndarray:
    """Comparators (i, j), i < j, of Batcher's odd-even merge sort for n items.

    Built for the next power of two; comparators touching an index >= n are
    dropped, which is valid because the missing items behave as +inf.
    """
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        pairs.append((a, b))
            k //= 2
        p *= 2
    out = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    out.setflags(write=False)
    return out


@numba.njit(cache=True, nogil=True)
def _sort_columns(buf: np.ndarray, network: np.ndarray) -> None:
    # Branch-free compare-exchange of whole rows: vectorises, unlike a
    # per-pixel sort whose branches are unpredictable on image data.
    m = buf.shape[1]
    for q in range(network.shape[0]):
        a = network[q, 0]
        b = network[q, 1]
        for j in range(m):
            u = buf[a, j]
            v = buf[b, j]
            buf[a, j] = min(u, v)
            buf[b, j] = max(u, v)


@numba.njit(cache=True, nogil=True)
def _take_median(buf: np.ndarray, out: np.ndarray) -> None:
    n = buf.shape[0]
    if n % 2 == 1:
        out[:] = buf[n // 2]
    else:
        for j in range(out.shape[0]):
            out[j] = 0.5 * (buf[n // 2 - 1, j] + buf[n // 2, j])


@numba.njit(cache=True, nogil=True)
def _median_filter_outputs(logv: np.ndarray, network: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel medians over views of d/dx, d/dy (circular) and the value itself."""
    n, h, w, c = logv.shape
    m = w * c
    flat = logv.reshape(n, h, m)
    rx = np.empty((h, m), np.float32)
    ry = np.empty((h, m), np.float32)
    med = np.empty((h, m), np.float32)
    bx = np.empty((n, m), np.float32)
    by = np.empty((n, m), np.float32)
    bv = np.empty((n, m), np.float32)
    for y in range(h):
        yn = y + 1 if y + 1 < h else 0
        for k in range(n):
            for j in range(m - c):
                bx[k, j] = flat[k, y, j + c] - flat[k, y, j]
            for j in range(m - c, m):
                bx[k, j] = flat[k, y, j + c - m] - flat[k, y, j]
            for j in range(m):
                by[k, j] = flat[k, yn, j] - flat[k, y, j]
                bv[k, j] = flat[k, y, j]
        _sort_columns(bx, network)
        _sort_columns(by, network)
        _sort_columns(bv, network)
        _take_median(bx, rx[y])
        _take_median(by, ry[y])
        _take_median(bv, med[y])
    return rx.reshape(h, w, c), ry.reshape(h, w, c), med.reshape(h, w, c)


@lru_cache(maxsize=16)
def _laplacian_eigenvalues(h: int, w: int) -> np.ndarray:
    """Fourier symbol of ``Dx^T Dx + Dy^T Dy`` (periodic), rfft2 layout.

    The DC entry (zero: the constant is unobservable) is replaced by 1; the
    caller zeroes the DC of the numerator instead.
    """
    ky = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(h) / h)
    kx = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(w // 2 + 1) / w)
    den = (ky[:, None] + kx[None, :]).astype(np.float32)
    den[0, 0] = 1.0
    den.setflags(write=False)
    return den


def estimate_reflectance_weiss(views: np.ndarray, *, eps: float = LOG_EPS) -> np.ndarray:
    """Reflectance image from views under varying illumination (Weiss 2001).

    Parameters
    ----------
    views : ndarray, shape (N, H, W, C), float32 in [0, 1]
        Aligned views of a static scene under different illumination.
    eps : float
        Offset inside the logarithm, ``log(I + eps)``, on the [0, 1] scale.

    Returns
    -------
    ndarray, shape (H, W, C), float32 in [0, 1]
        The reflectance estimate, up to one unknown gain per channel fixed by
        the rule in the module docstring (geometric-mean match to the median
        view), then clipped to [0, 1].
    """
    check_views(views)
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    _, h, w, c = views.shape
    logv = np.log(views + np.float32(eps))
    rx, ry, med = _median_filter_outputs(logv, _sorting_network(views.shape[0]))
    # Dx^T g (adjoint of the circular forward difference) = g[x-1] - g[x].
    div = np.roll(rx, 1, axis=1) - rx
    div += np.roll(ry, 1, axis=0) - ry
    spec = scipy.fft.rfft2(div, axes=(0, 1))
    spec /= _laplacian_eigenvalues(h, w)[..., None]
    spec[0, 0, :] = 0.0
    logr = scipy.fft.irfft2(spec, s=(h, w), axes=(0, 1))
    logr += (med.mean(axis=(0, 1), dtype=np.float64) - logr.mean(axis=(0, 1), dtype=np.float64)).astype(np.float32)
    out = np.exp(logr)
    out -= np.float32(eps)
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)


@dataclass(frozen=True)
class WeissReflectance:
    """Registry wrapper for :func:`estimate_reflectance_weiss`.

    ``output_gain_unknown`` tells the harness that the prediction is only
    defined up to a gain, so it reports raw and gain-corrected scores.
    """

    name: str = "weiss"
    tasks: tuple[str, ...] = ("views",)
    output_gain_unknown: bool = True
    eps: float = LOG_EPS

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return estimate_reflectance_weiss(inputs["views"], eps=self.eps)
