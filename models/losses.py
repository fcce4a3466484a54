"""Training losses the trainers share (torch, BCHW, values on the [0, 1] scale)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["grad_l1", "ssim_loss", "pyramid_loss", "log_mse"]


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


def log_mse(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean over the batch of ``10 log10(MSE_b + eps)``: minus each example's PSNR (peak 1), averaged.

    Unlike an L1 or MSE over the whole batch, every example counts in
    decibels: halving the RMS error of any example gains the same 6 dB, whether
    it is an almost clean crop at 50 dB or a hard one at 20 dB, so the clean
    crop's gradient is not 1000x smaller than the hard one's. ``eps`` (1e-5,
    50 dB) caps the weight of an already perfect example.
    """
    mse = (pred - target).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(mse + eps)).mean()


def grad_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of horizontal plus vertical finite differences."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


def pyramid_loss(pred: torch.Tensor, target: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """DesnowNet's pyramid loss (Liu et al. 2018, eq. 12-13): ``sum_{tau < levels} MSE(P_tau(pred), P_tau(target))``.

    ``P_tau`` is max-pooling by ``2^tau`` (``P_0`` the identity); the MSE is
    the mean over batch, channels and pixels of each level. The desnow
    trainer applies it to the translucency ``z`` and to the clean image ``y``.
    """
    loss = pred.new_zeros(())
    for tau in range(levels):
        k = 2**tau
        p, t = (pred, target) if k == 1 else (F.max_pool2d(pred, k), F.max_pool2d(target, k))
        loss = loss + F.mse_loss(p, t)
    return loss
