"""Train the layout-inpainting network on roadseg shards (resumable, time-budgeted, CPU).

    python -m models.train_layout --data DIR --val-data DIR --state runs/roadseg/net.pt \\
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
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.kit import UserError, add_common_flags, bf16_native, fit, load_arrays, pin_threads, run_cli, start
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
    pin_threads(args.threads)
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
    state, rng = start(args, model=model, optimizer=opt, fmt=STATE_FORMAT, what="layout training-state",
                       config=config, data_version=version, key="acc_in")

    def step_fn(step: int) -> float:
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 ** (step / 4000)
        lab, msk, tgt = _batch(data, rng, args.batch, args.crop)
        x = one_hot_input(lab, msk, k)
        t = torch.from_numpy(tgt.astype(np.int64))
        m = torch.from_numpy(msk.astype(np.float32))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_native()):
            out = model(x)
        loss = _masked_ce(out["logits"], t, m) + 0.5 * _masked_ce(out["coarse"], t[:, 2::4, 2::4], m[:, 2::4, 2::4])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.item())

    fit(args, state, model=model, optimizer=opt, config=config, step_fn=step_fn, evaluate=lambda: evaluate(model, val),
        make_checkpoint=make_checkpoint, ledger_val=(("val_acc_in", "acc_in", 4),), best_digits=4)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.train_layout", description=__doc__.splitlines()[0])
    add_common_flags(p, batch=8, crop=96, val_every=400, save_every=400)
    p.add_argument("--width", type=int, default=16)
    return run_cli(p, train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
