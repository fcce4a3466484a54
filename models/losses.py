"""Training losses the trainers share (torch, BCHW, values on the [0, 1] scale)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["grad_l1", "ssim_loss"]


def ssim_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - SSIM with a 7x7 box window (a cheap training surrogate of the metric's Gaussian SSIM).

    Constants as the metric's (K1 0.01, K2 0.03, data range 1); mean over
    batch, channels and pixels.
    """
    c1, c2 = 0.01**2, 0.03**2
    pool = lambda x: F.avg_pool2d(x, 7, 1, 3, count_include_pad=False)  # noqa: E731
    ma, mb = pool(a), pool(b)
    va, vb, cov = pool(a * a) - ma**2, pool(b * b) - mb**2, pool(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return 1 - s.mean()


def grad_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of horizontal plus vertical finite differences."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()
