"""Train the layout-inpainting network on roadseg shards (resumable, time-budgeted, CPU).

    python -m models.train_roadseg --data DIR --val-data DIR --state runs/roadseg/net.pt \\
        --export models/checkpoints/layout_net.pt --minutes 30

Data: ``python -m generators.roadseg`` shards (one size, one class set),
decoded once into uint8 arrays and cached as ``.npz`` beside ``--state``.
Batches of ``--batch`` random ``--crop`` crops (96 px), 80 % of them centred
on a dynamic pixel, random horizontal flips (street scenes are mirror
symmetric up to driving side). Adam (``--lr`` 1e-3, halved every 4,000
steps), bf16 autocast, one torch thread. Loss: cross-entropy on the masked
pixels (refined + 0.5 coarse). Validation: in-mask accuracy on full frames
of the validation set; ``--export`` receives the best; a ledger line is
appended to ``--ledger``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models._training import TrainState, UserError, append_ledger, best_exporter, load_arrays, run_budget
from models.layout_nets import build_model, make_checkpoint, one_hot_input, predict_labels

STATE_FORMAT = "restorebench.layout-train/1"


def load_data(path: str | Path, cache_dir: Path) -> dict[str, np.ndarray]:
    """uint8 ``labels``/``target`` (M, H, W), bool ``mask``, ``num_classes``, ``data_version``."""

    def decode(samples, manifest) -> dict:
        lab, msk, tgt = [], [], []
        for s in samples:
            lab.append(s.inputs["labels"])
            msk.append(s.inputs["mask"])
            tgt.append(s.target["labels"])
        k = 9 if manifest["params"]["classes"] == "micc" else 29
        return {"labels": np.stack(lab), "mask": np.stack(msk), "target": np.stack(tgt), "num_classes": np.array(k)}

    return load_arrays(path, generator="roadseg", cache_dir=cache_dir, decode=decode)


def _batch(data: dict, rng: np.random.Generator, batch: int, crop: int):
    n, h, w = data["mask"].shape
    labs, msks, tgts = [], [], []
    for _ in range(batch):
        i = int(rng.integers(n))
        m = data["mask"][i]
        if m.any() and rng.random() < 0.8:
            ys, xs = np.nonzero(m)
            k = int(rng.integers(len(ys)))
            y0 = int(np.clip(ys[k] - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, h - crop))
            x0 = int(np.clip(xs[k] - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, w - crop))
        else:
            y0, x0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        sl = (slice(y0, y0 + crop), slice(x0, x0 + crop))
        labs.append(data["labels"][i][sl])
        msks.append(m[sl])
        tgts.append(data["target"][i][sl])
    lab, msk, tgt = np.stack(labs), np.stack(msks), np.stack(tgts)
    if rng.random() < 0.5:
        lab, msk, tgt = lab[:, :, ::-1], msk[:, :, ::-1], tgt[:, :, ::-1]
    return np.ascontiguousarray(lab), np.ascontiguousarray(msk), np.ascontiguousarray(tgt)


def _masked_ce(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    ce = F.cross_entropy(logits.float(), target, reduction="none")
    return (ce * mask).sum() / mask.sum().clamp(min=1.0)


def evaluate(model, data: dict) -> dict[str, float]:
    model.eval()
    accs = []
    for i in range(len(data["mask"])):
        m = data["mask"][i]
        if m.any():
            pred = predict_labels(model, data["labels"][i], m)
            accs.append(float((pred[m] == data["target"][i][m]).mean()))
    model.train()
    return {"acc_in": float(np.mean(accs))}


def train(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cache = Path(args.state).parent / "cache"
    data = load_data(args.data, cache)
    val = load_data(args.val_data, cache)
    version, k = int(data["data_version"]), int(data["num_classes"])
    if int(val["data_version"]) != version or int(val["num_classes"]) != k:
        raise UserError("training and validation data differ in formation-model version or class set")
    config = {"num_classes": k, "width": args.width}
    model = build_model(config)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    state = TrainState(args.state, fmt=STATE_FORMAT, what="layout training-state", config=config,
                       data_version=version)
    state.best = {"acc_in": -1.0}
    rng = np.random.default_rng(args.seed)
    if state.resume(model, opt):
        rng = np.random.default_rng([args.seed, state.step])
        print(f"resumed {state.path} at step {state.step}")
    elif args.init is not None:
        try:  # warm start (e.g. from weights trained on an earlier formation version): weights only
            model.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True)["model"])
        except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is a user error
            raise UserError(f"--init {args.init}: cannot load its weights ({type(e).__name__}: {e})") from None
        print(f"initialised from {args.init}")

    def step_fn(step: int) -> float:
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 ** (step / 4000)
        lab, msk, tgt = _batch(data, rng, args.batch, args.crop)
        x = one_hot_input(lab, msk, k)
        t = torch.from_numpy(tgt.astype(np.int64))
        m = torch.from_numpy(msk.astype(np.float32))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        loss = _masked_ce(out["logits"], t, m) + 0.5 * _masked_ce(out["coarse"], t[:, 2::4, 2::4], m[:, 2::4, 2::4])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.item())

    export = best_exporter(args.export, model=model, config=config, make_checkpoint=make_checkpoint, state=state,
                           data_version=version, data=str(args.data), lr=args.lr, batch=args.batch, crop=args.crop)
    last = run_budget(state=state, model=model, optimizer=opt, minutes=args.minutes, step_fn=step_fn,
                      evaluate=lambda: evaluate(model, val), key="acc_in", val_every=args.val_every,
                      save_every=args.save_every, export=export)
    step, cpu_s, best = state.step, state.cpu_s, state.best
    append_ledger(args.ledger, ["steps", "cpu_hours", "data_version", "val_acc_in", "best_acc_in", "best_step"],
                  [step, round(cpu_s / 3600, 3), version, round(last.get("acc_in", float("nan")), 4),
                   round(best["acc_in"], 4), best.get("step", "")])
    print(f"stopped at step {step}, {cpu_s / 3600:.2f} CPU-h; best val acc_in {best['acc_in']:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.train_roadseg", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--val-data", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--export", default=None)
    p.add_argument("--ledger", default=None)
    p.add_argument("--init", default=None, help="warm start: weights of this checkpoint when --state does not exist")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-every", type=int, default=400)
    p.add_argument("--save-every", type=int, default=400)
    args = p.parse_args(argv)
    try:
        return train(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
