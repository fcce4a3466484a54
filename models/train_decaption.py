"""Train the decaptioning networks (resumable, time-budgeted, CPU).

    python -m models.train_decaption autoencoder|gated --data DIR --val-data DIR \\
        --state runs/captions/gated.pt --export models/checkpoints/decaption_gated.pt --minutes 30

Data: shards of ``python -m generators.captions`` (short clips suffice, e.g.
``--frames 25``), decoded once into uint8 arrays and cached as ``.npz``
beside ``--state``. A training example is one frame (with its window of
neighbours for the gated U-Net, edges replicated) and a random ``--crop``
window; 80 % of the examples are frames with caption pixels, and 70 % of the
crops are centred on a caption pixel, so the budget goes where the task is.
Adam (lr ``--lr``, halved every 4,000 steps), bf16 autocast, channels-last
where it applies, one torch thread. Losses: MSE for the autoencoder (as the
organisers trained it); L1 + 0.5 L1(grad) + 0.2 (1 - SSIM) + 0.2 BCE(mask)
for the gated U-Net. Validation every ``--val-every`` steps on whole
validation clips: per-frame PSNR averaged over clips (the task metric);
``--export`` receives the best weights; a line is appended to ``--ledger``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.losses import grad_l1, ssim_loss
from models.decaption_nets import build_model, make_checkpoint, restore_video
from models.kit import UserError, add_common_flags, bf16_native, fit, load_arrays, pin_threads, run_cli, start

STATE_FORMAT = "restorebench.decaption-train/1"


def load_data(path: str | Path, cache_dir: Path) -> dict[str, np.ndarray]:
    """uint8 ``video``/``clean`` (M, T, H, W, 3), bool ``mask`` (M, T, H, W), ``data_version``."""

    def decode(samples, manifest) -> dict:
        v, c, m = [], [], []
        for s in samples:
            v.append(np.rint(s.inputs["video"] * 255).astype(np.uint8))
            c.append(np.rint(s.target["clean"] * 255).astype(np.uint8))
            m.append(s.extras["mask"])
        return {"video": np.stack(v), "clean": np.stack(c), "mask": np.stack(m)}

    return load_arrays(path, generator="captions", cache_dir=cache_dir, decode=decode)


def _batch(data: dict, rng: np.random.Generator, batch: int, crop: int, window: int):
    m, t, h, w = data["mask"].shape
    has = data["mask"].any(axis=(2, 3))  # (M, T)
    xs, ys, ms = [], [], []
    r = window // 2
    for _ in range(batch):
        if rng.random() < 0.8 and has.any():
            cands = np.argwhere(has)
            ci, ti = cands[int(rng.integers(len(cands)))]
        else:
            ci, ti = int(rng.integers(m)), int(rng.integers(t))
        mk = data["mask"][ci, ti]
        if mk.any() and rng.random() < 0.7:
            py, px = np.argwhere(mk)[int(rng.integers(mk.sum()))]
            y0 = int(np.clip(py - crop // 2, 0, h - crop))
            x0 = int(np.clip(px - crop // 2, 0, w - crop))
        else:
            y0, x0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        idx = np.clip(np.arange(ti - r, ti + r + 1), 0, t - 1)
        xs.append(data["video"][ci, idx, y0 : y0 + crop, x0 : x0 + crop])
        ys.append(data["clean"][ci, ti, y0 : y0 + crop, x0 : x0 + crop])
        ms.append(mk[y0 : y0 + crop, x0 : x0 + crop])
    x = torch.from_numpy(np.stack(xs)).permute(0, 4, 1, 2, 3).float().div_(255)  # (B, 3, window, c, c)
    y = torch.from_numpy(np.stack(ys)).permute(0, 3, 1, 2).float().div_(255)
    mk = torch.from_numpy(np.stack(ms)[:, None].astype(np.float32))
    if rng.random() < 0.5:
        x, y, mk = x.flip(-1), y.flip(-1), mk.flip(-1)
    return x, y, mk


def evaluate(model, data: dict) -> dict[str, float]:
    from generators.captions import video_psnr

    model.eval()
    ps = [video_psnr(data["clean"][i].astype(np.float32) / 255,
                     restore_video(model, data["video"][i].astype(np.float32) / 255)) for i in range(len(data["video"]))]
    model.train()
    return {"psnr": float(np.mean(ps))}


def train(args: argparse.Namespace) -> int:
    pin_threads(args.threads)
    torch.manual_seed(args.seed)
    cache = Path(args.state).parent / "cache"
    train_data = load_data(args.data, cache)
    val_data = load_data(args.val_data, cache)
    version = int(train_data["data_version"])
    if int(val_data["data_version"]) != version:
        raise UserError("training and validation data come from different formation-model versions")
    config = {"arch": args.arch, "width": args.width, "window": 1 if args.arch == "autoencoder" else 5}
    model = build_model(config)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    state, rng = start(args, model=model, optimizer=opt, fmt=STATE_FORMAT, what="decaptioning training-state",
                       config=config, data_version=version, key="psnr")

    def step_fn(step: int) -> float:
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 ** (step / 4000)
        x, y, mk = _batch(train_data, rng, args.batch, args.crop, config["window"])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_native()):
            out = model(x)
            pred = out["image"].float()
            if args.arch == "autoencoder":
                loss = F.mse_loss(pred, y)
            else:
                loss = (pred - y).abs().mean() + 0.5 * grad_l1(pred, y) + 0.2 * ssim_loss(pred, y) + \
                    0.2 * F.binary_cross_entropy_with_logits(out["mask_logit"].float(), mk)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.item())

    fit(args, state, model=model, optimizer=opt, config=config, step_fn=step_fn,
        evaluate=lambda: evaluate(model, val_data), make_checkpoint=make_checkpoint,
        ledger_lead={"arch": args.arch}, ledger_val=(("val_psnr", "psnr", 3),))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.train_decaption", description=__doc__.splitlines()[0])
    p.add_argument("arch", choices=("autoencoder", "gated"))
    add_common_flags(p, batch=8, crop=64, val_every=300, save_every=300)
    p.add_argument("--width", type=int, default=None, help="default: 32 (autoencoder), 16 (gated)")

    def check(p, args):
        if args.width is None:
            args.width = 32 if args.arch == "autoencoder" else 16

    return run_cli(p, train, argv, check=check)


if __name__ == "__main__":
    raise SystemExit(main())
