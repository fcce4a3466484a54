"""Train the Deep Set on *bookcovers* shards (Wieschollek et al. 2018, sec. 4.2).

    python -m models.train_deepset --data DIR --val-data DIR \\
        --state runs/deepset/last.pt --export models/checkpoints/deepset_bookcovers.pt

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
  (``StepLR``), and the validation set is scored after every epoch (or every
  ``--val-every`` steps).
* Validation: every held-out sequence with ``n = 1 + (i mod 9)`` views drawn
  with a fixed generator, full frames; PSNR of the model and, for comparison,
  of the per-pixel mean and median of the same views.
* Training state (``--state``, also spelt ``--out``): a :class:`models.kit.TrainState`
  (model, optimizer, step, CPU seconds, best validation) whose ``extra`` holds
  the scheduler, the validation history, the torch and numpy generator states
  and the run's flags; written atomically every ``--save-every`` steps, after
  each validation and on exit (also on SIGTERM or Ctrl-C, exit status 128 +
  signal). Re-running with the same ``--state`` continues it when it exists
  (exactly: the same batches as one long run; ``--resume`` makes a missing
  state an error). The weights of the best validation go to ``<state>_best.pt`` as
  they happen and ``--export`` receives them at the end (no optimizer state).

The training set is decoded once into memory as 8-bit arrays (the shards are
8-bit PNG, so this loses nothing): 3000 sequences of 10 views at 128x128 take
1.6 GB. The decoded arrays are cached as ``.npz`` in ``cache/`` beside ``--state`` (named by
the dataset manifest's sha256), so a resumed run starts in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from models.deepset import CHECKPOINT_FORMAT, DeepSet, DeepSetConfig, make_checkpoint, same_views
from models.kit import (TrainState, UserError, add_common_flags, append_ledger, dataset_version, pin_threads, use_bf16,
                        read_checkpoint, run_budget, run_cli, save_checkpoint, warm_start)
from models.losses import ssim_loss

__all__ = ["main", "make_parser", "train", "load_view_dataset", "evaluate_views", "baseline_scores"]

STATE_FORMAT = "restorebench.deepset-train/1"


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
        raise UserError(f"dataset directory not found: {path}")
    views, clean = [], []
    for _, sample in read_dataset(path):
        if "views" not in sample.inputs or "clean" not in sample.target:
            raise UserError(f"{path}: samples need inputs['views'] and target['clean']")
        views.append(_to_uint8(sample.inputs["views"]))
        clean.append(_to_uint8(sample.target["clean"]))
        if limit is not None and len(views) >= limit:
            break
    if not views:
        raise UserError(f"{path}: no samples")
    shapes = {v.shape for v in views}
    if len(shapes) != 1:
        raise UserError(f"{path}: samples differ in shape {sorted(shapes)}; training needs one size")
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
# The trainer
# ---------------------------------------------------------------------------


def _parse_channels(text: str) -> DeepSetConfig:
    try:
        c1, c2, c3 = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--channels must be three integers like 16,32,64, got {text!r}") from None
    if min(c1, c2, c3) < 1:
        raise UserError(f"--channels must be positive, got {text!r}")
    return DeepSetConfig(c1=c1, c2=c2, c3=c3)


def _check_args(args: argparse.Namespace) -> None:
    for name in ("steps", "batch", "accum", "crop", "save_every", "log_every", "lr_step_epochs"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.val_every is not None and args.val_every < 1:
        raise UserError(f"--val-every must be >= 1, got {args.val_every}")
    if not 1 <= args.min_views <= args.max_views:
        raise UserError(f"need 1 <= --min-views <= --max-views, got {args.min_views}, {args.max_views}")
    if args.crop % 4:
        raise UserError(f"--crop must be a multiple of 4, got {args.crop}")
    if args.lr <= 0:
        raise UserError(f"--lr must be > 0, got {args.lr}")
    if args.ssim_weight < 0:
        raise UserError(f"--ssim-weight must be >= 0, got {args.ssim_weight}")


def train(args: argparse.Namespace) -> int:
    """Train the Deep Set on a bookcovers dataset; see the module docstring."""
    _check_args(args)
    pin_threads(args.threads)
    out = Path(args.state)
    log = _Logger(out.with_suffix(".log"))

    views, clean = _load_cached(args.data, limit=args.limit, cache_dir=out.parent / "cache")
    if views.shape[-1] != 3:
        raise UserError(f"{args.data}: expected RGB views, got shape {views.shape[1:]}")
    if args.max_views > views.shape[1]:
        raise UserError(f"--max-views {args.max_views} exceeds the {views.shape[1]} views per sequence in {args.data}")
    val = None
    if args.val_data:
        vviews, vclean = _load_cached(args.val_data, limit=args.val_limit, cache_dir=out.parent / "cache")
        subsets = _validation_subsets(len(vviews), vviews.shape[1], max_views=min(args.max_views, vviews.shape[1]), seed=12345)
        val = (vviews, vclean, subsets)
    data_version = dataset_version(args.data)
    if args.val_data and dataset_version(args.val_data) != data_version:
        raise UserError(f"--val-data is image-formation version {dataset_version(args.val_data)}, "
                        f"--data version {data_version}")
    epoch_size = args.epoch_size or 3 * len(views)
    steps_per_epoch = max(1, math.ceil(epoch_size / (args.batch * args.accum)))
    log(f"train {args.data}: {views.shape[0]} sequences x {views.shape[1]} views {views.shape[2]}x{views.shape[3]}; "
        f"val {args.val_data or '-'}: {0 if val is None else len(val[0])}; epoch = {epoch_size} sequences "
        f"= {steps_per_epoch} steps")

    config = _parse_channels(args.channels)
    train_config = {k: v for k, v in vars(args).items() if k not in ("resume", "export")}
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = DeepSet(config)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    if args.schedule == "cosine":
        # Per-step cosine from lr to lr * lr_gamma over --steps.
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda t: args.lr_gamma + (1 - args.lr_gamma) * 0.5 * (1 + math.cos(math.pi * min(t, args.steps) / args.steps)))
    else:
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=args.lr_step_epochs, gamma=args.lr_gamma)
    state = TrainState(out, fmt=STATE_FORMAT, what="Deep Set training-state", config=config.to_dict(),
                       data_version=data_version, same_data=same_views)
    history, wall0 = [], 0.0
    if state.resume(model, opt, required=args.resume):
        sched.load_state_dict(state.extra["scheduler"])
        history = json.loads(state.extra["history"])
        wall0 = float(state.extra["wall_time_s"])
        torch.set_rng_state(state.extra["torch_rng"])
        rng.bit_generator.state = json.loads(state.extra["numpy_rng"])
        log(f"resumed from {out} at step {state.step} (lr {sched.get_last_lr()[0]:.2e})")
    elif args.init:
        init = warm_start(model, args.init)
        log(f"initialised from {args.init} (trained on data version {init.get('data_version', 1)})")
    log(f"model {sum(p.numel() for p in model.parameters())} parameters, config {config.to_dict()}")
    t_start = time.time()
    state.collect = lambda: {"scheduler": sched.state_dict(), "history": json.dumps(history),
                             "wall_time_s": wall0 + time.time() - t_start, "torch_rng": torch.get_rng_state(),
                             "numpy_rng": json.dumps(rng.bit_generator.state), "train_config": json.dumps(train_config)}

    def weights() -> dict:
        """What ships in models/checkpoints: the weights and the run's record, no optimizer state."""
        return make_checkpoint(model, step=state.step, best_val_psnr=state.best.get("psnr", -math.inf),
                               history=json.dumps(history), wall_time_s=wall0 + time.time() - t_start,
                               cpu_time_s=state.cpu_s, data_version=data_version, train_config=json.dumps(train_config))

    baselines = None
    if val is not None:
        baselines = baseline_scores(*val)
        log("validation baselines (fixed):\n" + _format_table(baselines))
    loss_acc = {"sum": 0.0, "n": 0, "t": time.time()}

    def step_fn(step: int) -> float:
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(args.accum):
            n = int(rng.integers(args.min_views, args.max_views + 1))
            x, y = _draw_batch(views, clean, batch=args.batch, n=n, crop=args.crop, rng=rng)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16(args.bf16)):
                pred = model(x)
            loss = _loss(pred.float(), y, args.loss, args.ssim_weight) / args.accum
            loss.backward()
            total += float(loss.detach())
            loss_acc["sum"], loss_acc["n"] = loss_acc["sum"] + float(loss.detach()) * args.accum, loss_acc["n"] + 1
        opt.step()
        done = step + 1
        if done % args.log_every == 0:
            dt = time.time() - loss_acc["t"]
            log(f"step {done} loss {loss_acc['sum'] / loss_acc['n']:.5f} lr {sched.get_last_lr()[0]:.1e} "
                f"{dt / args.log_every:.2f} s/step")
            loss_acc.update(sum=0.0, n=0, t=time.time())
        if args.schedule == "cosine" or done % steps_per_epoch == 0:
            sched.step()
        return total

    def evaluate() -> dict:
        scores = {**evaluate_views(model, *val, baselines=False), **baselines}
        history.append({"step": state.step, "epoch": state.step // steps_per_epoch, "val": scores})
        log(f"validation after epoch {state.step // steps_per_epoch} (step {state.step}):\n{_format_table(scores)}")
        return {"psnr": float(np.mean(list(scores["deepset"].values())))}

    best_path = out.with_name(out.stem + "_best.pt")
    run_budget(state=state, model=model, optimizer=opt, step_fn=step_fn, minutes=args.minutes, max_steps=args.steps,
               evaluate=None if val is None else evaluate, key="psnr", val_every=args.val_every or steps_per_epoch,
               save_every=args.save_every, export=lambda last: save_checkpoint(weights(), best_path), log=log)
    log(f"saved {out} at step {state.step}" + (f" (stopped by signal {state.stopped_by})" if state.stopped_by else ""))
    _append_deepset_ledger(args.ledger, state, history, data_version, args)
    if args.export:
        src = best_path if best_path.is_file() else None
        if src is None and val is not None:
            # Stopped before its first validation (the best-weights file is not committed): the weights at
            # --export, chosen on validation by an earlier run, must not be replaced by unvalidated ones.
            log(f"no validation in this run yet: {args.export} left unchanged")
        else:
            try:
                best = read_checkpoint(src, fmt=CHECKPOINT_FORMAT, what="Deep Set") if src else weights()
            except ValueError as e:
                raise UserError(str(e)) from None
            save_checkpoint(best, args.export)
            log(f"exported {'best-validation' if src else 'last'} weights to {args.export}")
    return 0 if state.stopped_by is None else 128 + int(state.stopped_by)


LEDGER_NS = (3, 4, 6, 9)  # view counts whose validation scores go into the ledger


def _append_deepset_ledger(path, state: TrainState, history: list, data_version: int, args) -> None:
    """One ledger row per run: steps, cumulative CPU-hours, data version, last validation per n."""
    if not path or not history:
        return
    last = history[-1]["val"]
    cols = ["steps", "cpu_hours", "data_version", "val_sequences"]
    row = [state.step, round(state.cpu_s / 3600, 3), data_version, args.val_limit or "all"]
    for n in LEDGER_NS:
        cols += [f"psnr_n{n}", f"psnr_gi_n{n}", f"ssim_n{n}", f"weiss_psnr_n{n}", f"weiss_gi_n{n}"]
        row += [round(last[k].get(n, float("nan")), 3) for k in ("deepset", "deepset_gi", "deepset_ssim", "weiss", "weiss_gi")]
    cols += ["best_val_psnr"]
    row += [round(state.best.get("psnr", -math.inf), 3)]
    append_ledger(path, cols, row)


SSIM_WEIGHT = 0.05  # default weight of (1 - SSIM) in the "mse+l1+ssim" loss (--ssim-weight)


def _loss(pred: torch.Tensor, target: torch.Tensor, kind: str, ssim_weight: float = SSIM_WEIGHT) -> torch.Tensor:
    """``mse``; ``mse+l1``: MSE plus 0.1 x L1 (the L1 term keeps a gradient on small errors);
    ``mse+l1+ssim``: that plus ``ssim_weight`` x (1 - SSIM) (:func:`models.losses.ssim_loss`, a 7x7 box-window
    SSIM), the structural term issue 26 asks for: the Deep Set trailed raw Weiss on SSIM."""
    mse = torch.nn.functional.mse_loss(pred, target)
    if kind == "mse":
        return mse
    loss = mse + 0.1 * torch.nn.functional.l1_loss(pred, target)
    if kind == "mse+l1+ssim":
        loss = loss + ssim_weight * ssim_loss(pred, target)
    return loss


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


def make_parser() -> argparse.ArgumentParser:
    """The flags of ``python -m models.train_deepset``: the common ones (:func:`models.kit.add_common_flags`) and the Deep Set's."""
    p = argparse.ArgumentParser(prog="python -m models.train_deepset", description=__doc__.split("\n\n")[0])
    add_common_flags(p, minutes=None, batch=10, crop=96, lr=1e-4, threads=2, val_every=None, save_every=200,
                     val_required=False, state_default="runs/deepset_bookcovers/last.pt", state_aliases=("--out",),
                     minutes_aliases=("--time-limit",))
    p.add_argument("--steps", type=int, default=10_000, help="total optimizer steps")
    p.add_argument("--accum", type=int, default=1, help="batches per optimizer step (gradient accumulation)")
    p.add_argument("--min-views", type=int, default=1)
    p.add_argument("--max-views", type=int, default=9)
    p.add_argument("--lr-gamma", type=float, default=0.1, help="StepLR factor")
    p.add_argument("--lr-step-epochs", type=int, default=5, help="StepLR period in epochs")
    p.add_argument("--epoch-size", type=int, default=None, help="sequences per epoch (default 3 x training-set size)")
    p.add_argument("--channels", default="16,32,64", help="widths c1,c2,c3 of the network")
    p.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training sequences")
    p.add_argument("--val-limit", type=int, default=None, help="use only the first N validation sequences")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast for the forward pass (default: on where the CPU has oneDNN's bf16 kernels, "
                        "models.kit.bf16_native; the loss and weights stay float32)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="channels-last memory format (default on)")
    p.add_argument("--loss", choices=("mse", "mse+l1", "mse+l1+ssim"), default="mse", help="training loss")
    p.add_argument("--ssim-weight", type=float, default=SSIM_WEIGHT,
                   help=f"weight of (1 - SSIM) in the mse+l1+ssim loss (default {SSIM_WEIGHT})")
    p.add_argument("--schedule", choices=("step", "cosine"), default="step",
                   help="step: x lr-gamma every lr-step-epochs; cosine: per step from lr to lr x lr-gamma over --steps")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse flags and train; bad input -> one ``error:`` line on stderr, exit 2."""
    return run_cli(make_parser(), train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
