"""Train a fingerprint restoration network (resumable, time-budgeted, CPU).

    python -m models.train_fingerprints --arch unet --data DIR --val-data DIR \\
        --state runs/fp_unet/last.pt --export models/checkpoints/fingerprint_unet.pt --minutes 30

Both networks of :mod:`models.fingerprint_nets` are trained here on the same
data, crops, loss and optimiser. ``--data`` / ``--val-data`` take one or more
``python -m generators.fingerprints`` datasets (e.g. one per preset), decoded
into uint8 arrays and concatenated.

Schedule: Adam (betas 0.9, 0.999), MSE on random ``--crop`` x ``--crop``
windows with random flips, ``lr * (0.01 + 0.99 * (1 + cos(pi t)) / 2)`` where
``t`` is the fraction of the time budget (``--minutes``, counted over all runs
of the state) or of ``--steps``, whichever is larger. An exponential moving
average of the weights (and batch-norm statistics; decay ``--ema``) is what
is validated (MSE / PSNR / SSIM on whole prints, every ``--val-every-min``
minutes of training, every ``--val-every`` steps if given, and at the end)
and exported: the one with the best validation MSE. The training state
(model, optimiser, EMA, step, elapsed time, generator state, the datasets'
preset/version) is written atomically every ``--save-every`` steps and on
SIGTERM / Ctrl-C; re-running with the same ``--state`` continues it when it
exists, on the same presets and data versions only (``--init`` warm-starts a
new run; ``--resume`` makes a missing state an error).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.fingerprint_nets import _MULTIPLE, ARCHS, _DEFAULT_CONFIGS, build_model, make_checkpoint, restore_image
from models.kit import (TrainState, UserError, add_common_flags, append_ledger, dataset_version, pin_threads, use_bf16,
                        run_budget, run_cli, save_checkpoint, warm_start)

STATE_FORMAT = "restorebench.fingerprint-train/1"


def load_pairs(path: str | Path, *, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode a fingerprints dataset into uint8 arrays ``(inputs, targets)``, each (N, H, W).

    The shards hold 8-bit PNGs, so ``round(x * 255)`` loses nothing.
    """
    from generators.dataset import read_dataset

    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise UserError(f"not a dataset directory (no manifest.json): {path}")
    xs, ys = [], []
    for _, sample in read_dataset(path):
        if "image" not in sample.inputs or "clean" not in sample.target:
            raise UserError(f"{path}: samples need inputs['image'] and target['clean'] (a fingerprints dataset)")
        xs.append(np.rint(sample.inputs["image"][..., 0] * 255).astype(np.uint8))
        ys.append(np.rint(sample.target["clean"][..., 0] * 255).astype(np.uint8))
        if limit is not None and len(xs) >= limit:
            break
    if not xs:
        raise UserError(f"{path}: no samples")
    return np.stack(xs), np.stack(ys)


def _paths(paths: str | Sequence[str] | None) -> list[Path]:
    """``--data``/``--val-data`` as a list of paths (a namespace built in code may hold one string)."""
    if paths is None:
        return []
    return [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]


def _load_all(paths: Sequence[Path], *, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`load_pairs` of each dataset (``limit`` prints of each), concatenated."""
    pairs = [load_pairs(p, limit=limit) for p in paths]
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def _describe(path: Path) -> str:
    """A dataset's preset and formation version, e.g. ``sensor/v0`` (what a training state was trained on)."""
    import json

    try:
        params = json.loads((Path(path) / "manifest.json").read_text())["params"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: cannot read the preset from its manifest.json ({type(e).__name__})") from None
    return f"{params.get('preset', 'chalearn')}/v{dataset_version(path)}"


def _same_data(saved, current) -> bool:
    """Whether a state trained on ``saved`` datasets may continue on ``current`` ones. Datasets written
    before issue 22 recorded no formation version (``v0``); the formation did not change when version 1
    started being recorded, so ``v0`` and ``v1`` are the same data."""
    norm = lambda tags: [str(t).replace("/v0", "/v1") for t in (tags if isinstance(tags, list) else [tags])]  # noqa: E731
    return norm(saved) == norm(current)


def _batch(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, batch: int, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    n, h, w = x.shape
    idx = rng.integers(0, n, batch)
    top, left = rng.integers(0, h - crop + 1, batch), rng.integers(0, w - crop + 1, batch)
    flips = rng.integers(0, 4, batch)
    bx, by = np.empty((batch, 1, crop, crop), np.float32), np.empty((batch, 1, crop, crop), np.float32)
    for k in range(batch):
        sl = (idx[k], slice(top[k], top[k] + crop), slice(left[k], left[k] + crop))
        a, b = x[sl], y[sl]
        if flips[k] & 1:
            a, b = a[:, ::-1], b[:, ::-1]
        if flips[k] & 2:
            a, b = a[::-1], b[::-1]
        bx[k, 0], by[k, 0] = a, b
    return torch.from_numpy(bx / 255.0), torch.from_numpy(by / 255.0)


def _evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from generators.metrics import mse, psnr, ssim

    scores = {"mse": [], "psnr": [], "ssim": []}
    model.eval()
    for a, b in zip(x, y):
        pred = restore_image(model, (a / 255.0).astype(np.float32)[..., None])
        ref = (b / 255.0).astype(np.float32)[..., None]
        for name, fn in (("mse", mse), ("psnr", psnr), ("ssim", ssim)):
            scores[name].append(fn(ref, pred))
    model.train()
    return {k: float(np.mean(v)) for k, v in scores.items()}


class _EMA:
    """Exponential moving average of weights and float buffers, with warm-up.

    The decay at step ``t`` is ``min(decay, (1 + t) / (10 + t))`` so that the
    random initial weights are forgotten quickly.
    """

    def __init__(self, model: nn.Module, decay: float):
        import copy

        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        ours = list(self.module.parameters()) + [b for b in self.module.buffers() if b.is_floating_point()]
        theirs = list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]
        torch._foreach_mul_(ours, d)
        torch._foreach_add_(ours, [t.detach() for t in theirs], alpha=1.0 - d)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state)


def make_parser() -> argparse.ArgumentParser:
    """Flags of ``python -m models.train_fingerprints`` (the common ones of :func:`models.kit.add_common_flags`)."""
    p = argparse.ArgumentParser(prog="python -m models.train_fingerprints",
                                description="Train a fingerprint restoration network on generated shards.")  # fmt: skip
    p.add_argument("--arch", choices=sorted(ARCHS), default="unet", help="network (default unet)")
    add_common_flags(p, minutes=30.0, batch=4, crop=96, lr=1e-3, val_every=None, save_every=100, data_nargs="+",
                     val_required=False, state_aliases=("--out",), minutes_aliases=("--time-limit",))
    p.add_argument("--val-every-min", type=float, default=5.0,
                   help="minutes of training between validations (as well as every --val-every steps if given)")
    p.add_argument("--steps", type=int, default=100_000, help="maximum optimizer steps")
    p.add_argument("--ema", type=float, default=0.999, help="decay of the weight average that is validated and exported (0: off)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--val-limit", type=int, default=20, help="use only the first N validation samples")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast for the forward pass (default: on where the CPU has oneDNN's bf16 kernels, "
                        "models.kit.bf16_native; weights and loss stay float32)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="channels-last memory format (default on)")
    return p


def _log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def train(a: argparse.Namespace) -> int:
    if a.crop % _MULTIPLE or a.crop <= 0:
        raise UserError(f"--crop must be a positive multiple of {_MULTIPLE}, got {a.crop}")
    if a.val_every is not None and a.val_every < 1:
        raise UserError(f"--val-every must be >= 1 (steps), got {a.val_every}")
    pin_threads(a.threads)
    t_load = time.time()
    data, val_data = _paths(a.data), _paths(a.val_data)
    x, y = _load_all(data, limit=a.limit)
    vx, vy = _load_all(val_data, limit=a.val_limit) if val_data else (x[:0], y[:0])
    _log(f"{a.arch}: {len(x)} training / {len(vx)} validation prints loaded in {time.time() - t_load:.0f}s")
    config = _DEFAULT_CONFIGS[a.arch]
    torch.manual_seed(a.seed)
    model = build_model(a.arch, config).train()
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optim = torch.optim.Adam(model.parameters(), lr=a.lr)
    ema = _EMA(model, a.ema) if a.ema else None
    rng = np.random.default_rng(a.seed)
    trained_on = [_describe(p) for p in data]
    state = TrainState(a.state or f"runs/fp_{a.arch}/last.pt", fmt=STATE_FORMAT, what="fingerprint training-state",
                       config={"arch": a.arch, "net": config}, data_version=trained_on, same_data=_same_data)
    if state.resume(model, optim, required=a.resume):
        if ema is not None and state.extra.get("ema") is not None:
            ema.load_state_dict(state.extra["ema"])
        rng.bit_generator.state = state.extra["rng"]
        _log(f"resumed at step {state.step}, {state.extra['elapsed'] / 60:.1f} min")
    elif a.init:
        warm_start(model, a.init)
        if ema is not None:
            ema.module.load_state_dict(model.state_dict())  # the average starts from the warm-start weights
        _log(f"initialised from {a.init}")
    history = state.extra.setdefault("history", [])
    elapsed0 = float(state.extra.get("elapsed", 0.0))
    t0 = time.time() - elapsed0
    budget = math.inf if a.minutes is None else a.minutes * 60.0
    state.collect = lambda: {"ema": None if ema is None else ema.state_dict(), "history": history,
                             "rng": rng.bit_generator.state, "elapsed": time.time() - t0}
    n_params = sum(p.numel() for p in model.parameters())
    _log(f"{a.arch} {config}: {n_params} parameters, budget {a.minutes} min / {a.steps} steps, "
         f"batch {a.batch}, crop {a.crop}")
    net = model if ema is None else ema.module  # what is validated and exported
    last_val, loss_acc = [elapsed0], [0.0]

    def step_fn(step: int) -> float:
        frac = min(1.0, max((time.time() - t0) / budget, step / a.steps))
        for g in optim.param_groups:
            g["lr"] = a.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac)))
        bx, by = _batch(rng, x, y, a.batch, a.crop)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16(a.bf16)):
            pred = model(bx)
        loss = F.mse_loss(pred.float(), by)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if ema is not None:
            ema.update(model, step + 1)
        loss_acc[0] += loss.item()
        if (step + 1) % a.log_every == 0:
            elapsed = time.time() - t0
            _log(f"step {step + 1} loss {loss_acc[0] / a.log_every:.5f} lr {optim.param_groups[0]['lr']:.2e} "
                 f"{elapsed / 60:.1f} min ({elapsed / (step + 1):.2f} s/step)")  # fmt: skip
            loss_acc[0] = 0.0
        return float(loss.item())

    def evaluate() -> dict:
        scores = _evaluate(net, vx, vy)
        history.append({"step": state.step, "minutes": round((time.time() - t0) / 60, 2), **scores})
        last_val[0] = time.time() - t0
        return scores

    def export(scores: dict) -> None:
        meta = {"train_data": [str(p) for p in data], "val_data": [str(p) for p in val_data], "trained_on": trained_on,
                "steps": state.step, "minutes": round((time.time() - t0) / 60, 2), "batch": a.batch, "crop": a.crop,
                "lr": a.lr, "threads": a.threads, "ema": a.ema, "val": scores, "torch": torch.__version__}  # fmt: skip
        save_checkpoint(make_checkpoint(net, a.arch, config, **meta), a.export)

    run_budget(state=state, model=model, optimizer=optim, step_fn=step_fn, max_steps=a.steps,
               minutes=None if a.minutes is None else (budget - elapsed0) / 60,
               evaluate=evaluate if len(vx) else None, key="mse", higher_is_better=False,
               val_every=lambda step: bool(a.val_every and step % a.val_every == 0)
               or time.time() - t0 - last_val[0] >= a.val_every_min * 60, save_every=a.save_every,
               export=export if a.export else None, validate_at_end=True, log=_log)
    elapsed, best = time.time() - t0, state.best
    _log(f"done: {state.step} steps in {elapsed / 60:.1f} min; best val {best or None}")
    if a.ledger and best:
        last = history[-1] if history else best
        append_ledger(a.ledger, ["arch", "steps", "wall_hours", "data_version", "val_mse", "val_psnr", "val_ssim",
                                 "best_mse", "best_psnr", "best_ssim", "best_step"],
                      [a.arch, state.step, round(elapsed / 3600, 3), "+".join(trained_on), round(last["mse"], 6),
                       round(last["psnr"], 3), round(last["ssim"], 4), round(best["mse"], 6), round(best["psnr"], 3),
                       round(best["ssim"], 4), best["step"]])
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m models.train_fingerprints ...``; bad input -> one ``error:`` line on stderr, exit 2."""
    return run_cli(make_parser(), train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
