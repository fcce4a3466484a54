"""Training-step speed of the CPU recipe (run with ``pytest --benchmark-only``).

One optimizer step (forward, loss, backward, Adam) on one torch thread, as the
trainers run it, in float32 with the default memory format ("before") and
with bf16 autocast plus channels-last ("after", the trainers' default):

* Deep Set: 10 sequences x 5 views x 64x64 crops (issue 14's measurement);
* fingerprint U-Net and residual CNN: 4 crops of 96x96.

``extra_info["steps_per_s"]`` holds the rate. Each benchmark also checks
that the timed steps train: the loss on the fixed batch falls from the
first step to the last (7 Adam steps at 1e-4; the Deep Set's zero-initialised
head makes its fall small, about 1e-5, but steady), and the weights stay
finite. Measured on this 2-core AMD EPYC
machine (one thread, other jobs running, 2026-12-02): Deep Set 380 -> 159 ms
per step, U-Net 142 -> 52 ms, residual CNN 90 -> 31 ms.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.tolerances import BF16_AUTOCAST_LOSS_RTOL


def _step_fn(model, x, y, *, bf16: bool, losses: list[float]):
    """One optimizer step on ``(x, y)``; appends the step's loss to ``losses``."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred = model(x)
        loss = F.mse_loss(pred.float(), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    return step


def _network(name: str):
    if name == "deepset":
        from models.deepset import DeepSet

        return DeepSet(), torch.rand(10, 5, 3, 64, 64), torch.rand(10, 3, 64, 64)
    from models.fingerprint_nets import build_model

    return build_model(name).train(), torch.rand(4, 1, 96, 96), torch.rand(4, 1, 96, 96)


@pytest.mark.parametrize("recipe", ["fp32", "bf16-channels-last"])
@pytest.mark.parametrize("name", ["deepset", "unet", "rescnn"])
def test_bench_training_step(benchmark, name, recipe):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model, x, y = _network(name)
        fast = recipe != "fp32"
        if fast:
            model = model.to(memory_format=torch.channels_last)
        losses: list[float] = []
        step = _step_fn(model, x, y, bf16=fast, losses=losses)
        step()  # warm-up: oneDNN primitive creation
        benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
        benchmark.extra_info["steps_per_s"] = round(1.0 / benchmark.stats.stats.mean, 2)
    finally:
        torch.set_num_threads(threads)
    # The timed steps trained the network: every loss finite, falling over the run, weights finite.
    assert len(losses) >= 2 and all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < losses[0], f"{name} {recipe}: loss {losses[0]:.6g} -> {losses[-1]:.6g} over {len(losses)} steps"
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bf16_step_matches_fp32_direction():
    """bf16 autocast changes the loss by well under 1 % on a fixed batch: the recipe trains the same network."""
    from models.deepset import DeepSet

    torch.manual_seed(0)
    model = DeepSet()
    for p in model.head.parameters():  # leave the zero-initialised identity start
        torch.nn.init.normal_(p, std=0.01)
    x, y = torch.rand(2, 3, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ref = F.mse_loss(model(x), y).item()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = F.mse_loss(model(x).float(), y).item()
    assert abs(low - ref) < BF16_AUTOCAST_LOSS_RTOL * ref, (low, ref)
