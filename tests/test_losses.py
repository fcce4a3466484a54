"""The shared training losses (models.losses)."""

from __future__ import annotations

import numpy as np
import torch

from generators.metrics import psnr
from models.losses import log_mse


def test_log_mse_is_minus_the_mean_psnr_of_the_examples():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 3, 16, 16, generator=g)
    pred = (target + torch.randn(3, 3, 16, 16, generator=g) * torch.tensor([0.003, 0.03, 0.1]).view(3, 1, 1, 1))
    want = -np.mean([psnr(target[i].permute(1, 2, 0).numpy(), pred[i].permute(1, 2, 0).numpy(), data_range=1.0)
                     for i in range(3)])
    # eps = 0 here: the metric's PSNR exactly (the loss's eps caps an already perfect example at 50 dB)
    assert abs(float(log_mse(pred, target, eps=0.0)) - want) < 1e-3


def test_log_mse_weighs_a_nearly_clean_example_as_much_as_a_hard_one_in_decibels():
    """A tenth of the error on the clean example buys as many dB as a tenth on the hard one; with a plain
    MSE over the batch the clean example's gradient is 100x smaller."""
    target = torch.zeros(2, 1, 8, 8)
    pred = torch.stack([torch.full((1, 8, 8), 0.003), torch.full((1, 8, 8), 0.1)]).requires_grad_(True)
    log_mse(pred, target).backward()
    g = pred.grad.abs().flatten(1).sum(1)
    # d/dp 10 log10(mean p^2) = 20 / (p ln 10) per unit of p: 33x larger for the 33x smaller error
    assert float(g[0] / g[1]) > 10
    pred.grad = None
    torch.nn.functional.mse_loss(pred, target).backward()
    g = pred.grad.abs().flatten(1).sum(1)
    assert float(g[0] / g[1]) < 0.1
