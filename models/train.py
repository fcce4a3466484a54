"""Train the learned models on generated shards.

    python -m models.train --task bookcovers --data DIR --val-data DIR \\
        --out runs/deepset/last.pt --export models/checkpoints/deepset_bookcovers.pt

``TRAINERS`` maps a task name to its training function ``train(args) -> int``
(the exit code); every trainer reads the common flags of :func:`make_parser`
and may ignore those it has no use for.

Deep Set training on *bookcovers* (Wieschollek et al. 2018, sec. 4.2)
--------------------------------------------------------------------
* Adam, lr 1e-4, betas (0.9, 0.999), eps 1e-8; MSE loss on the unclamped
  output.
* Batches of ``--batch`` (10) sequences. Each batch draws one sequence length
  n uniformly in ``[--min-views, --max-views]`` = [1, 9]; each sequence in it
  contributes n of its views chosen at random, in random order, and one random
  ``--crop`` x ``--crop`` window shared by its views and its target (the
  paper trains on full frames; crops make CPU training affordable and the
  network is fully convolutional).
* ``--accum k`` sums the gradients of k such batches (each with its own n)
  before one optimizer step.
* An *epoch* is ``--epoch-size`` sequences drawn, i.e.
  ``ceil(epoch_size / (batch * accum))`` optimizer steps; the default is
  three times the training-set size (each sequence seen about three times per
  epoch, each time with another crop and subset of views). The learning rate
  is multiplied by ``--lr-gamma`` (0.1) every ``--lr-step-epochs`` (5) epochs
  (``StepLR``), and the validation set is scored after every epoch.
* Validation: every held-out sequence with ``n = 1 + (i mod 9)`` views drawn
  with a fixed generator, full frames; PSNR of the model and, for comparison,
  of the per-pixel mean and median of the same views.
* Checkpoints (``--out``): model, optimizer, scheduler, step, epoch, the torch
  and numpy generator states and the configuration, written atomically every
  ``--save-every`` steps, after each validation and on exit (also on SIGTERM
  or Ctrl-C). ``--resume`` continues from ``--out``. ``--export`` writes the
  weights of the best validation epoch (no optimizer state) for shipping.

The training set is decoded once into memory as 8-bit arrays (the shards are
8-bit PNG, so this loses nothing): 3000 sequences of 10 views at 128x128 take
1.6 GB. The decoded arrays are cached as ``.npz`` in ``cache/`` beside ``--out`` (named by
the dataset manifest's sha256), so a resumed run starts in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models.deepset import (
    CHECKPOINT_FORMAT,
    DeepSet,
    DeepSetConfig,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from models._training import UserError, append_ledger, dataset_version
from models.losses import ssim_loss
from models.fingerprint_nets import train_fingerprints

__all__ = ["TRAINERS", "make_parser", "main", "train_bookcovers", "load_view_dataset", "evaluate_views"]


_UserError = UserError  # bad input: one line on stderr and exit code 2


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def load_view_dataset(path: str | Path, *, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode a multi-view dataset directory into uint8 arrays.

    Parameters
    ----------
    path : path
        A directory written by :func:`generators.dataset.write_dataset` whose
        samples have ``inputs["views"]`` (N, H, W, 3) and ``target["clean"]``.
    limit : int, optional
        Read at most this many samples.

    Returns
    -------
    views : ndarray, (M, N, H, W, 3) uint8
    clean : ndarray, (M, H, W, 3) uint8
        ``round(x * 255)`` of the float32 images, exact for 8-bit shards.
    """
    from generators.dataset import read_dataset

    path = Path(path)
    if not path.is_dir():
        raise _UserError(f"dataset directory not found: {path}")
    views, clean = [], []
    for _, sample in read_dataset(path):
        if "views" not in sample.inputs or "clean" not in sample.target:
            raise _UserError(f"{path}: samples need inputs['views'] and target['clean']")
        views.append(_to_uint8(sample.inputs["views"]))
        clean.append(_to_uint8(sample.target["clean"]))
        if limit is not None and len(views) >= limit:
            break
    if not views:
        raise _UserError(f"{path}: no samples")
    shapes = {v.shape for v in views}
    if len(shapes) != 1:
        raise _UserError(f"{path}: samples differ in shape {sorted(shapes)}; training needs one size")
    return np.stack(views), np.stack(clean)


def _load_cached(path: str | Path, *, limit: int | None, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """:func:`load_view_dataset` with a uint8 ``.npz`` cache in ``cache_dir``.

    The cache name holds the sha256 of the dataset's manifest (which lists
    every shard's sha256) and ``limit``, so a changed dataset is re-read.
    Saves the PNG decoding (minutes for thousands of sequences) on --resume.
    """
    import hashlib

    manifest = Path(path) / "manifest.json"
    if not manifest.is_file():
        return load_view_dataset(path, limit=limit)  # raises the clear error
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    cache = cache_dir / f"cache_{Path(path).name}_{digest}_{limit or 'all'}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as z:
                return z["views"], z["clean"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: rebuild it
    views, clean = load_view_dataset(path, limit=limit)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, views=views, clean=clean)
    os.replace(tmp, cache)
    return views, clean


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _draw_batch(
    views: np.ndarray, clean: np.ndarray, *, batch: int, n: int, crop: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: (batch, n, 3, crop, crop) views and (batch, 3, crop, crop) targets."""
    m, nv, h, w = views.shape[:4]
    idx = rng.integers(0, m, size=batch)
    ch, cw = min(crop, h), min(crop, w)
    xs = np.empty((batch, n, ch, cw, 3), np.uint8)
    ys = np.empty((batch, ch, cw, 3), np.uint8)
    for b, i in enumerate(idx):
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        sel = rng.permutation(nv)[:n]
        xs[b] = views[i, sel, y0 : y0 + ch, x0 : x0 + cw]
        ys[b] = clean[i, y0 : y0 + ch, x0 : x0 + cw]
    xt = torch.from_numpy(xs).permute(0, 1, 4, 2, 3).float().div_(255.0)
    yt = torch.from_numpy(ys).permute(0, 3, 1, 2).float().div_(255.0)
    return xt, yt


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _validation_subsets(m: int, nv: int, *, max_views: int, seed: int) -> list[np.ndarray]:
    """View subsets for validation: sequence i gets ``1 + (i mod max_views)`` views."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(nv)[: 1 + (i % max_views)] for i in range(m)]


@torch.no_grad()
def evaluate_views(
    model: DeepSet, views: np.ndarray, clean: np.ndarray, subsets: list[np.ndarray], *, baselines: bool = True
) -> dict[str, dict[int, float]]:
    """Scores per number of views of the model and, for comparison, classical methods.

    Parameters
    ----------
    views, clean : uint8 arrays from :func:`load_view_dataset`
    subsets : list of int arrays
        The views of sequence i to use.
    baselines : bool
        Also score the per-pixel mean, the median and Weiss's
        maximum-likelihood reflectance (raw and gain-invariant PSNR) on the
        same views; these do not change during training, so the trainer
        computes them once (:func:`baseline_scores`).

    Returns
    -------
    dict
        ``{"deepset": {n: psnr}, "deepset_gi": ..., "deepset_ssim": ...}``
        (raw PSNR, gain-invariant PSNR, SSIM, each the average over the
        sequences evaluated with n views) plus, with ``baselines``, the
        same for ``mean``, ``median``, ``weiss`` and ``weiss_gi``.
    """
    from generators.metrics import psnr, psnr_gain_invariant, ssim

    model.eval()
    scores: dict[str, dict[int, list[float]]] = {"deepset": {}, "deepset_gi": {}, "deepset_ssim": {}}
    h, w = views.shape[2:4]
    hp, wp = -(-h // 4) * 4, -(-w // 4) * 4
    for i, sel in enumerate(subsets):
        x = views[i, sel].astype(np.float32) / 255.0
        ref = clean[i].astype(np.float32) / 255.0
        xt = torch.from_numpy(np.pad(x, ((0, 0), (0, hp - h), (0, wp - w), (0, 0)), mode="edge"))
        out = model(xt.permute(0, 3, 1, 2)[None]).clamp_(0, 1)[0, :, :h, :w].permute(1, 2, 0).contiguous().numpy()
        n = len(sel)
        scores["deepset"].setdefault(n, []).append(psnr(ref, out))
        scores["deepset_gi"].setdefault(n, []).append(psnr_gain_invariant(ref, out))
        scores["deepset_ssim"].setdefault(n, []).append(ssim(ref, out))
    result = {k: {n: float(np.mean(v)) for n, v in sorted(d.items())} for k, d in scores.items()}
    if baselines:
        result.update(baseline_scores(views, clean, subsets))
    return result


def baseline_scores(views: np.ndarray, clean: np.ndarray, subsets: list[np.ndarray]) -> dict[str, dict[int, float]]:
    """PSNR per n of the mean, the median and Weiss (raw and gain-invariant) on the validation draws."""
    from baselines.weiss import estimate_reflectance_weiss
    from generators.metrics import psnr, psnr_gain_invariant

    scores: dict[str, dict[int, list[float]]] = {"mean": {}, "median": {}, "weiss": {}, "weiss_gi": {}}
    for i, sel in enumerate(subsets):
        x = views[i, sel].astype(np.float32) / 255.0
        ref = clean[i].astype(np.float32) / 255.0
        n = len(sel)
        weiss = np.clip(estimate_reflectance_weiss(x), 0.0, 1.0)
        for name, val in (("mean", psnr(ref, x.mean(0))), ("median", psnr(ref, np.median(x, axis=0))),
                          ("weiss", psnr(ref, weiss)), ("weiss_gi", psnr_gain_invariant(ref, weiss))):
            scores[name].setdefault(n, []).append(val)
    return {k: {n: float(np.mean(v)) for n, v in sorted(d.items())} for k, d in scores.items()}


def _format_table(scores: dict[str, dict[int, float]]) -> str:
    ns = sorted(next(iter(scores.values())))
    head = "n            " + " ".join(f"{n:>6d}" for n in ns) + "    all"
    rows = [head]
    for name, d in scores.items():
        rows.append(f"{name:<12s} " + " ".join(f"{d[n]:6.2f}" for n in ns) + f" {np.mean(list(d.values())):6.2f}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------
# The bookcovers trainer
# ---------------------------------------------------------------------------


def _parse_channels(text: str) -> DeepSetConfig:
    try:
        c1, c2, c3 = (int(v) for v in text.split(","))
    except ValueError:
        raise _UserError(f"--channels must be three integers like 16,32,64, got {text!r}") from None
    if min(c1, c2, c3) < 1:
        raise _UserError(f"--channels must be positive, got {text!r}")
    return DeepSetConfig(c1=c1, c2=c2, c3=c3)


def _check_args(args: argparse.Namespace) -> None:
    for name in ("steps", "batch", "accum", "crop", "save_every", "log_every", "lr_step_epochs"):
        if getattr(args, name) < 1:
            raise _UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 1 <= args.min_views <= args.max_views:
        raise _UserError(f"need 1 <= --min-views <= --max-views, got {args.min_views}, {args.max_views}")
    if args.crop % 4:
        raise _UserError(f"--crop must be a multiple of 4, got {args.crop}")
    if args.lr <= 0:
        raise _UserError(f"--lr must be > 0, got {args.lr}")


def train_bookcovers(args: argparse.Namespace) -> int:
    """Train the Deep Set on a bookcovers dataset; see the module docstring."""
    _check_args(args)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    log = _Logger(out.with_suffix(".log"))

    views, clean = _load_cached(args.data, limit=args.limit, cache_dir=out.parent / "cache")
    if views.shape[-1] != 3:
        raise _UserError(f"{args.data}: expected RGB views, got shape {views.shape[1:]}")
    if args.max_views > views.shape[1]:
        raise _UserError(f"--max-views {args.max_views} exceeds the {views.shape[1]} views per sequence in {args.data}")
    val = None
    if args.val_data:
        vviews, vclean = _load_cached(args.val_data, limit=args.val_limit, cache_dir=out.parent / "cache")
        subsets = _validation_subsets(len(vviews), vviews.shape[1], max_views=min(args.max_views, vviews.shape[1]), seed=12345)
        val = (vviews, vclean, subsets)
    data_version = dataset_version(args.data)
    if args.val_data and dataset_version(args.val_data) != data_version:
        raise _UserError(f"--val-data is image-formation version {dataset_version(args.val_data)}, "
                         f"--data version {data_version}")
    epoch_size = args.epoch_size or 3 * len(views)
    steps_per_epoch = max(1, math.ceil(epoch_size / (args.batch * args.accum)))
    log(f"train {args.data}: {views.shape[0]} sequences x {views.shape[1]} views {views.shape[2]}x{views.shape[3]}; "
        f"val {args.val_data or '-'}: {0 if val is None else len(val[0])}; epoch = {epoch_size} sequences "
        f"= {steps_per_epoch} steps")

    config = _parse_channels(args.channels)
    train_config = {k: v for k, v in vars(args).items() if k not in ("resume", "export", "func")}
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = DeepSet(config)
    if args.init and not args.resume:
        try:
            init, init_ckpt = load_checkpoint(args.init)
        except ValueError as e:
            raise _UserError(str(e)) from None
        if init.config != config:
            raise _UserError(f"--init: {args.init} holds a network with {init.config}, not {config}")
        model.load_state_dict(init.state_dict())
        log(f"initialised from {args.init} (trained on data version {init_ckpt.get('data_version', 1)})")
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    if args.schedule == "cosine":
        # Per-step cosine from lr to lr * lr_gamma over --steps.
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda t: args.lr_gamma + (1 - args.lr_gamma) * 0.5 * (1 + math.cos(math.pi * min(t, args.steps) / args.steps)))
    else:
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=args.lr_step_epochs, gamma=args.lr_gamma)
    step, best, history, elapsed0, cpu0 = 0, -math.inf, [], 0.0, 0.0
    if args.resume:
        if not out.is_file():
            raise _UserError(f"--resume: no checkpoint at {out}")
        try:
            loaded, ckpt = load_checkpoint(out)
        except ValueError as e:
            raise _UserError(str(e)) from None
        if loaded.config != config:
            raise _UserError(f"--resume: {out} holds a network with {loaded.config}, not {config}")
        if "optimizer" not in ckpt:
            raise _UserError(f"--resume: {out} is a weights-only checkpoint (no optimizer state)")
        if not _same_views(int(ckpt.get("data_version", 1)), data_version):
            raise _UserError(f"--resume: {out} was trained on image-formation version {ckpt.get('data_version', 1)}, "
                             f"--data is version {data_version}; start a new run (--init to warm-start)")
        model.load_state_dict(loaded.state_dict())
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        step, best = int(ckpt["step"]), float(ckpt["best_val_psnr"])
        history = json.loads(ckpt["history"])
        elapsed0 = float(ckpt["wall_time_s"])
        cpu0 = float(ckpt.get("cpu_time_s", 0.0))
        torch.set_rng_state(ckpt["torch_rng"])
        rng.bit_generator.state = json.loads(ckpt["numpy_rng"])
        log(f"resumed from {out} at step {step} (lr {sched.get_last_lr()[0]:.2e})")
    log(f"model {sum(p.numel() for p in model.parameters())} parameters, config {config.to_dict()}")

    def checkpoint() -> dict:
        return make_checkpoint(
            model,
            optimizer=opt.state_dict(),
            scheduler=sched.state_dict(),
            step=step,
            best_val_psnr=best,
            history=json.dumps(history),
            wall_time_s=elapsed0 + time.time() - t_start,
            cpu_time_s=cpu0 + time.process_time() - c_start,
            data_version=data_version,
            torch_rng=torch.get_rng_state(),
            numpy_rng=json.dumps(rng.bit_generator.state),
            train_config=json.dumps(train_config),
        )

    stop = {"signal": None}

    def on_signal(signum, frame):
        stop["signal"] = signum

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    t_start, c_start = time.time(), time.process_time()
    baselines = None
    if val is not None:
        baselines = baseline_scores(*val)
        log("validation baselines (fixed):\n" + _format_table(baselines))
    run_limit = args.time_limit * 60 if args.time_limit else math.inf
    loss_sum, loss_n, t_log = 0.0, 0, time.time()
    try:
        while step < args.steps and stop["signal"] is None and time.time() - t_start < run_limit:
            model.train()
            opt.zero_grad(set_to_none=True)
            for _ in range(args.accum):
                n = int(rng.integers(args.min_views, args.max_views + 1))
                x, y = _draw_batch(views, clean, batch=args.batch, n=n, crop=args.crop, rng=rng)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                    pred = model(x)
                loss = _loss(pred.float(), y, args.loss) / args.accum
                loss.backward()
                loss_sum, loss_n = loss_sum + float(loss.detach()) * args.accum, loss_n + 1
            opt.step()
            step += 1
            if step % args.log_every == 0:
                dt = time.time() - t_log
                log(f"step {step} loss {loss_sum / loss_n:.5f} lr {sched.get_last_lr()[0]:.1e} "
                    f"{dt / args.log_every:.2f} s/step")
                loss_sum, loss_n, t_log = 0.0, 0, time.time()
            if args.schedule == "cosine":
                sched.step()
            if step % steps_per_epoch == 0:
                if args.schedule == "step":
                    sched.step()
                if val is not None:
                    scores = {**evaluate_views(model, *val, baselines=False), **baselines}
                    psnr_all = float(np.mean(list(scores["deepset"].values())))
                    history.append({"step": step, "epoch": step // steps_per_epoch, "val": scores})
                    log(f"validation after epoch {step // steps_per_epoch} (step {step}):\n{_format_table(scores)}")
                    if psnr_all > best:
                        best = psnr_all
                        save_checkpoint(_weights_only(checkpoint()), out.with_name(out.stem + "_best.pt"))
                save_checkpoint(checkpoint(), out)
            elif step % args.save_every == 0:
                save_checkpoint(checkpoint(), out)
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
        final = checkpoint()
        save_checkpoint(final, out)
        log(f"saved {out} at step {step}" + (f" (stopped by signal {stop['signal']})" if stop["signal"] else ""))
        _append_deepset_ledger(args.ledger, final, history, data_version, args)
    if args.export:
        best_path = out.with_name(out.stem + "_best.pt")
        src = best_path if best_path.is_file() else None
        ckpt = torch.load(src, weights_only=True) if src else _weights_only(checkpoint())
        save_checkpoint(ckpt, args.export)
        log(f"exported {'best-validation' if src else 'last'} weights to {args.export}")
    return 0 if stop["signal"] is None else 128 + int(stop["signal"])


LEDGER_NS = (3, 4, 6, 9)  # view counts whose validation scores go into the ledger


def _append_deepset_ledger(path, ckpt: dict, history: list, data_version: int, args) -> None:
    """One ledger row per run: steps, cumulative CPU-hours, data version, last validation per n."""
    if not path or not history:
        return
    last = history[-1]["val"]
    cols = ["steps", "cpu_hours", "data_version", "val_sequences"]
    row = [ckpt["step"], round(ckpt["cpu_time_s"] / 3600, 3), data_version, args.val_limit or "all"]
    for n in LEDGER_NS:
        cols += [f"psnr_n{n}", f"psnr_gi_n{n}", f"ssim_n{n}", f"weiss_psnr_n{n}", f"weiss_gi_n{n}"]
        row += [round(last[k].get(n, float("nan")), 3) for k in ("deepset", "deepset_gi", "deepset_ssim", "weiss", "weiss_gi")]
    cols += ["best_val_psnr"]
    row += [round(ckpt["best_val_psnr"], 3)]
    append_ledger(path, cols, row)


def _same_views(a: int, b: int) -> bool:
    """Whether bookcovers formation versions ``a`` and ``b`` have the same views and targets (resumable together)."""
    from generators.bookcovers import MODEL_VERSION, VIEWS_SINCE

    return a == b or (VIEWS_SINCE <= a <= MODEL_VERSION and VIEWS_SINCE <= b <= MODEL_VERSION)


SSIM_WEIGHT = 0.05  # weight of (1 - SSIM) in the "mse+l1+ssim" loss


def _loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """``mse``; ``mse+l1``: MSE plus 0.1 x L1 (the L1 term keeps a gradient on small errors);
    ``mse+l1+ssim``: that plus ``SSIM_WEIGHT`` x (1 - SSIM) (:func:`models.losses.ssim_loss`, a 7x7 box-window
    SSIM), the structural term issue 26 asks for: the Deep Set trailed raw Weiss on SSIM."""
    mse = torch.nn.functional.mse_loss(pred, target)
    if kind == "mse":
        return mse
    loss = mse + 0.1 * torch.nn.functional.l1_loss(pred, target)
    if kind == "mse+l1+ssim":
        loss = loss + SSIM_WEIGHT * ssim_loss(pred, target)
    return loss


def _weights_only(ckpt: dict) -> dict:
    """Drop the optimizer/scheduler/rng state: what ships in models/checkpoints."""
    keep = ("format", "config", "model", "step", "best_val_psnr", "history", "wall_time_s", "cpu_time_s",
            "data_version", "train_config")
    return {k: ckpt[k] for k in keep if k in ckpt}


class _Logger:
    """Print to stdout and append to a log file beside the checkpoint."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


TRAINERS: dict[str, Callable[[argparse.Namespace], int]] = {"bookcovers": train_bookcovers, "fingerprints": train_fingerprints}


def make_parser() -> argparse.ArgumentParser:
    """The command-line flags shared by every trainer."""
    p = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, help=f"one of {sorted(TRAINERS)}")
    p.add_argument("--data", required=True, help="training dataset directory (generators.dataset layout)")
    p.add_argument("--val-data", default=None, help="held-out dataset directory (another generator seed)")
    p.add_argument("--out", default="runs/deepset_bookcovers/last.pt", help="training checkpoint (resumable)")
    p.add_argument("--export", default=None, help="write the best weights here when done (weights only)")
    p.add_argument("--resume", action="store_true", help="continue from --out")
    p.add_argument("--steps", type=int, default=10_000, help="total optimizer steps")
    p.add_argument("--time-limit", type=float, default=None, help="stop (and save) after this many minutes")
    p.add_argument("--batch", type=int, default=10, help="sequences per batch")
    p.add_argument("--accum", type=int, default=1, help="batches per optimizer step (gradient accumulation)")
    p.add_argument("--crop", type=int, default=96, help="random crop side in pixels (multiple of 4)")
    p.add_argument("--min-views", type=int, default=1)
    p.add_argument("--max-views", type=int, default=9)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    p.add_argument("--lr-gamma", type=float, default=0.1, help="StepLR factor")
    p.add_argument("--lr-step-epochs", type=int, default=5, help="StepLR period in epochs")
    p.add_argument("--epoch-size", type=int, default=None, help="sequences per epoch (default 3 x training-set size)")
    p.add_argument("--channels", default="16,32,64", help="widths c1,c2,c3 of the network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training sequences")
    p.add_argument("--val-limit", type=int, default=None, help="use only the first N validation sequences")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                   help="bf16 autocast for the forward pass (default on; the loss and weights stay float32)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="channels-last memory format (default on)")
    p.add_argument("--loss", choices=("mse", "mse+l1", "mse+l1+ssim"), default="mse", help="training loss")
    p.add_argument("--schedule", choices=("step", "cosine"), default="step",
                   help="step: x lr-gamma every lr-step-epochs; cosine: per step from lr to lr x lr-gamma over --steps")
    p.add_argument("--init", default=None, help="warm-start from the weights of this checkpoint (new run)")
    p.add_argument("--ledger", default=None, help="append one CSV row per run (steps, CPU-hours, validation)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse flags and run the trainer of ``--task``; bad input -> one line on stderr, exit 2."""
    from generators.dataset import UserError as DatasetError

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task")
    known, rest = pre.parse_known_args(argv)
    if known.task == "fingerprints":
        # The fingerprint trainer has its own flags and defaults: hand it the words as given, so an
        # explicit flag is never mistaken for "left at the default" (it once was, when equal to ours).
        return train_fingerprints(rest)
    args = make_parser().parse_args(argv)
    try:
        if args.task not in TRAINERS:
            raise _UserError(f"unknown task {args.task!r}; choose from {sorted(TRAINERS)}")
        return TRAINERS[args.task](args)
    except (_UserError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
