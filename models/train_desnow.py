"""Train the DesnowNet-style network (resumable, time-budgeted, one CPU core).

    python -m models.train_desnow --data DIR --val-data DIR --state runs/snow/desnownet.pt \\
        --export models/checkpoints/desnownet.pt --ledger models/checkpoints/desnownet_ledger.csv --minutes 30

Data: shards written by ``python -m generators.snow`` (single images, one
size, extras including ``z``). They are decoded once into uint8 arrays (the
snowy image, the clean target and ``z``: 8-bit PNGs, so nothing is lost) and
cached as ``.npz`` beside ``--state``, named by the dataset hash.

Recipe: Adam (lr ``--lr`` 1e-3, halved every 4,000 steps), batches of
``--batch`` (8) random ``--crop`` (64) px crops with random horizontal flips,
bf16 autocast on the CPU, channels-last, one torch thread. Loss:
DesnowNet's pyramid loss on ``z`` plus the same on ``y``
(:func:`models.losses.pyramid_loss`).

The state (model, optimizer, step, cumulative CPU seconds, best validation)
is saved atomically every ``--save-every`` steps and on exit (also on
SIGTERM / Ctrl-C); re-running the same command resumes it. Validation (every
``--val-every`` steps) scores full images of the validation set (PSNR, SSIM
of the clamped output, MAE of ``z``); ``--export`` receives the best
validation (PSNR) weights. A line is appended to ``--ledger`` at the end of
each run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from models.kit import UserError, add_common_flags, bf16_native, fit, load_arrays, pin_threads, run_cli, start
from models.desnow_nets import build_model, make_checkpoint
from models.losses import pyramid_loss

STATE_FORMAT = "restorebench.desnow-train/1"


def load_data(path: str | Path, cache_dir: Path) -> dict[str, np.ndarray]:
    """uint8 arrays ``x``, ``clean`` (M, H, W, 3), ``z`` (M, H, W, 1), ``condition`` (M,); plus ``data_version``."""
    to8 = lambda a: np.rint(np.asarray(a, np.float32) * 255).astype(np.uint8)  # noqa: E731

    def decode(samples, manifest) -> dict:
        x, clean, z, cond = [], [], [], []
        for s in samples:
            if "image" not in s.inputs or "z" not in s.extras:
                raise UserError("the snow trainer needs single-image samples with the z extra (--frames 1, --extras all)")
            x.append(to8(s.inputs["image"]))
            clean.append(to8(s.target["clean"]))
            z.append(to8(s.extras["z"]))
            cond.append(int(s.params["condition"]))
        return {"x": np.stack(x), "clean": np.stack(clean), "z": np.stack(z), "condition": np.array(cond)}

    return load_arrays(path, generator="snow", cache_dir=cache_dir, decode=decode)


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255).contiguous(
        memory_format=torch.channels_last)


def evaluate(model, data: dict) -> dict[str, float]:
    """Mean PSNR / SSIM of the clamped output and MAE of ``z`` on full validation images."""
    from generators.metrics import psnr, ssim

    model.eval()
    ps, ss, mae = [], [], []
    with torch.inference_mode():
        for i in range(len(data["clean"])):
            out = model(_to_tensor(data["x"][i : i + 1]))
            y = out["y"].clamp(0, 1)[0].permute(1, 2, 0).numpy()
            ref = data["clean"][i].astype(np.float32) / 255
            ps.append(psnr(ref, y))
            ss.append(ssim(ref, y))
            mae.append(float((out["z"][0, 0].numpy() - data["z"][i, ..., 0] / 255.0).__abs__().mean()))
    model.train()
    return {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)), "z_mae": float(np.mean(mae))}


def train(args: argparse.Namespace) -> int:
    pin_threads(args.threads)
    torch.manual_seed(args.seed)
    cache_dir = Path(args.state).parent / "cache"
    train_data = load_data(args.data, cache_dir)
    val_data = load_data(args.val_data, cache_dir)
    version = int(train_data["data_version"])
    if int(val_data["data_version"]) != version:
        raise UserError("training and validation data come from different formation-model versions")
    config = {"width": args.width}
    model = build_model(config).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    state, rng = start(args, model=model, optimizer=opt, fmt=STATE_FORMAT, what="desnow training-state",
                       config=config, data_version=version, key="psnr")
    m = len(train_data["clean"])
    h, w = train_data["clean"].shape[1:3]
    if args.crop > min(h, w) or args.crop % 4:
        raise UserError(f"--crop {args.crop} must be a multiple of 4 and at most the image side {min(h, w)}")

    def step_fn(step: int) -> float:
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 ** (step / 4000)
        idx = rng.integers(0, m, size=args.batch)
        y0, x0 = int(rng.integers(0, h - args.crop + 1)), int(rng.integers(0, w - args.crop + 1))
        flip = bool(rng.random() < 0.5)

        def crop(a: np.ndarray) -> torch.Tensor:
            a = a[idx, y0 : y0 + args.crop, x0 : x0 + args.crop]
            return _to_tensor(a[:, :, ::-1] if flip else a)

        xt, yt, zt = crop(train_data["x"]), crop(train_data["clean"]), crop(train_data["z"])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_native()):
            out = model(xt)
            loss = pyramid_loss(out["z"].float(), zt) + pyramid_loss(out["y"].float(), yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.item())

    fit(args, state, model=model, optimizer=opt, config=config, step_fn=step_fn,
        evaluate=lambda: evaluate(model, val_data), make_checkpoint=make_checkpoint,
        ledger_val=(("val_psnr", "psnr", 3), ("val_ssim", "ssim", 4), ("val_z_mae", "z_mae", 4)))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.train_desnow", description=__doc__.splitlines()[0])
    add_common_flags(p, batch=8, crop=64, val_every=250, save_every=250)
    p.add_argument("--width", type=int, default=16)
    return run_cli(p, train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
