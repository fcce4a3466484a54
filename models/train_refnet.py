"""Train the coverrefs reference-aware refinement network (resumable, time-budgeted, CPU).

    python -m models.train_refnet retrieved --data DIR --val-data DIR \\
        --state runs/refnet/retrieved.pt --export models/checkpoints/refnet.pt --minutes 20
    python -m models.train_refnet perturbed --data DIR --val-data DIR \\
        --state runs/refnet/perturbed.pt --export models/checkpoints/refnet_perturbed.pt --minutes 20

Data: shards written by ``python -m generators.coverrefs`` (one size). Each
query's 12 network channels (:func:`models.refnet.network_inputs`: the
retrieval pipeline and the PatchMatch fill run once per query) and its target are
decoded once into uint8 arrays, cached as ``.npz`` beside ``--state``.

The reference channels (9-11) differ between the two roles:

* ``retrieved``: the retrieval pipeline's references, as at test time;
* ``perturbed``: the ground truth, perturbed afresh at every step by
  :func:`perturb_reference` (gamma, padding, crop, rotation, shear), and
  with probability ``--drop`` (0.3) replaced by zeros (no reference), which
  is what the pipeline gives when nothing is retrieved.

Recipe: Adam (lr ``--lr`` 1e-3, halved every 3,000 steps), batches of
``--batch`` (12) ``--crop`` (64) px crops centred on a random hole pixel,
random horizontal flips, bf16 autocast on the CPU, one torch thread. Not
channels-last: with it, the backward pass of the dilated stride-1 transposed
convolutions under bf16 autocast gives NaN gradients on this CPU build
(torch 2.x, oneDNN), from the first step; contiguous NCHW trains normally. Loss: mean squared error over the hole's pixels (the paper's loss).
Validation (every ``--val-every`` steps): mean PSNR inside the hole of the
composited prediction on the full validation queries; ``--export`` gets the
best validation weights. State saved atomically (also on SIGTERM / Ctrl-C);
re-running the same command resumes. A line is appended to ``--ledger``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from baselines.patchmatch import VERSION as PATCHMATCH_VERSION
from models.kit import UserError, add_common_flags, bf16_native, fit, load_arrays, pin_threads, run_cli, start
from models.refnet import INPUT_VERSION, build_model, make_checkpoint, network_inputs

STATE_FORMAT = "restorebench.refnet-train/1"
ROLES = ("retrieved", "perturbed")


def load_data(path: str | Path, cache_dir: Path) -> dict[str, np.ndarray]:
    """uint8 arrays ``x`` (N, H, W, 12), ``clean`` (N, H, W, 3), bool ``hole`` (N, H, W); ``data_version``."""
    to8 = lambda a: np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8)  # noqa: E731

    def decode(samples, manifest) -> dict:
        xs, clean, hole = [], [], []
        for s in samples:
            xs.append(to8(network_inputs(s.inputs)))
            clean.append(to8(s.target["clean"]))
            hole.append(s.inputs["mask"])
        return {"x": np.stack(xs), "clean": np.stack(clean), "hole": np.stack(hole)}

    # The cache holds the PatchMatch fill (channels 6-8): keyed by the fill's algorithm version too.
    tag = f"refnet-in{INPUT_VERSION}-pm{PATCHMATCH_VERSION}"
    return load_arrays(path, generator="coverrefs", cache_dir=cache_dir, decode=decode, tag=tag)


def perturb_reference(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The ground truth as a misaligned, re-exposed reference (uint8 in, uint8 out, same shape).

    sRGB gamma U(0.8, 1.25); an affine map about the image centre with
    rotation U(-3, 3) degrees, shear U(-0.04, 0.04), scale U(1.0, 1.06)
    (a crop, resized back) and a shift of U(-4, 4) px per axis; pixels the
    map brings in from outside are 0 (padding).
    """
    h, w = clean.shape[:2]
    a = math.radians(rng.uniform(-3, 3))
    sh, sc = rng.uniform(-0.04, 0.04), rng.uniform(1.0, 1.06)
    m = sc * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ np.array([[1, sh], [0, 1]])
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    t = c - m @ c + rng.uniform(-4, 4, size=2)
    warped = cv2.warpAffine(clean, np.hstack([m, t[:, None]]).astype(np.float32), (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    lut = np.clip(np.rint(255 * (np.arange(256) / 255.0) ** rng.uniform(0.8, 1.25)), 0, 255).astype(np.uint8)
    return lut[warped]


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255).contiguous()


def evaluate(model, data: dict) -> dict[str, float]:
    """Mean PSNR and MSE inside the hole of the composited prediction on full validation queries."""
    model.eval()
    ps, ms = [], []
    with torch.inference_mode():
        for i in range(len(data["clean"])):
            y = model(_tensor(data["x"][i : i + 1]))[0].permute(1, 2, 0).numpy()
            hole = data["hole"][i]
            ref = data["clean"][i].astype(np.float32) / 255
            err = float(np.mean((y[hole] - ref[hole]) ** 2))
            ms.append(err)
            ps.append(10 * np.log10(1.0 / max(err, 1e-10)))
    model.train()
    return {"psnr_hole": float(np.mean(ps)), "mse_hole": float(np.mean(ms))}


def train(args: argparse.Namespace) -> int:
    pin_threads(args.threads)
    torch.manual_seed(args.seed)
    cache_dir = Path(args.state).parent / "cache"
    data = load_data(args.data, cache_dir)
    val = load_data(args.val_data, cache_dir)
    version = int(data["data_version"])
    if int(val["data_version"]) != version:
        raise UserError("training and validation data come from different formation-model versions")
    config = {"role": args.role, "width": args.width, "inputs": INPUT_VERSION}
    model = build_model(config)  # NCHW: see the module docstring
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    state, rng = start(args, model=model, optimizer=opt, fmt=STATE_FORMAT, what="refnet training-state",
                       config=config, data_version=version, key="psnr_hole")
    n, h, w = data["hole"].shape
    holes = [np.flatnonzero(data["hole"][i]) for i in range(n)]
    c = args.crop

    def step_fn(step: int) -> float:
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 ** (step / 3000)
        xs, ys, ms = [], [], []
        for i in rng.integers(0, n, size=args.batch):
            x = data["x"][i]
            clean = data["clean"][i]
            if args.role == "perturbed":
                ref = perturb_reference(clean, rng) if rng.random() >= args.drop else np.zeros_like(clean)
                x = np.concatenate([x[..., :9], ref], -1)
            p = int(holes[i][int(rng.integers(len(holes[i])))]) if len(holes[i]) else int(rng.integers(h * w))
            y0 = int(np.clip(p // w - c // 2 + rng.integers(-c // 4, c // 4 + 1), 0, h - c))
            x0 = int(np.clip(p % w - c // 2 + rng.integers(-c // 4, c // 4 + 1), 0, w - c))
            sl = (slice(y0, y0 + c), slice(x0, x0 + c))
            flip = slice(None, None, -1) if rng.random() < 0.5 else slice(None)
            xs.append(x[sl][:, flip])
            ys.append(clean[sl][:, flip])
            ms.append(data["hole"][i][sl][:, flip])
        xt, yt = _tensor(np.stack(xs)), _tensor(np.stack(ys))
        mt = torch.from_numpy(np.ascontiguousarray(np.stack(ms)))[:, None].float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_native()):
            pred = model(xt)
        sq = ((pred.float() - yt) ** 2) * mt
        loss = sq.sum() / (3 * mt.sum()).clamp(min=1.0)  # MSE over the occluded pixels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.item())

    fit(args, state, model=model, optimizer=opt, config=config, step_fn=step_fn, evaluate=lambda: evaluate(model, val),
        make_checkpoint=make_checkpoint, ledger_lead={"role": args.role},
        ledger_val=(("val_psnr_hole_n40", "psnr_hole", 3), ("val_mse_hole_n40", "mse_hole", 5)))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.train_refnet", description=__doc__.splitlines()[0])
    p.add_argument("role", choices=ROLES)
    add_common_flags(p, minutes=20.0, batch=12, crop=64, val_every=200, save_every=200)
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--drop", type=float, default=0.3, help="perturbed: share of steps without a reference")

    def check(p, args):
        if not 0 <= args.drop <= 1:
            p.error("--drop must lie in [0, 1]")

    return run_cli(p, train, argv, check=check)


if __name__ == "__main__":
    raise SystemExit(main())
