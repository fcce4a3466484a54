"""Train the reflection teacher and students (resumable, time-budgeted, CPU).

    python -m models.train_reflection teacher --data DIR --val-data DIR \\
        --state runs/reflections/teacher.pt --export models/checkpoints/reflection_teacher.pt --minutes 40
    python -m models.train_reflection student --teacher models/checkpoints/reflection_teacher.pt \\
        --data DIR --val-data DIR --state runs/reflections/student.pt \\
        --export models/checkpoints/reflection_student.pt --minutes 30 [--distill 0]

Data: shards written by ``python -m generators.reflections`` (any frame
count >= 3, one size). They are decoded once into uint8 arrays (8-bit PNGs:
lossless) and, for the teacher, the two neighbours of the reference frame are
aligned to it by ECC once per sequence; the arrays are cached as ``.npz``
beside ``--state``, named by the dataset hash.

Recipe (both roles): Adam (lr ``--lr`` 1e-3, halved every 4,000 steps),
batches of ``--batch`` (12) random ``--crop`` (64) px crops with random
horizontal flips, bf16 autocast on the CPU, channels-last, one torch thread.
Loss: ``L1(T) + 0.5 L1(grad T) + 0.25 L1(R)`` against the ground-truth
transmission and reflected contribution of the reference frame, plus
``--log-mse`` (default 0.01) times :func:`models.losses.log_mse` of T: minus
each crop's PSNR in dB, so a crop that carries almost no reflection (an
input already at 40-50 dB) weighs as much as a hard one and the network
learns to leave it alone (the L1 alone gives a near-zero residual almost no
weight; version-2 weights lost 3.6 dB on the weakest-reflection quarter of
photographs). ``--log-mse 0`` is the recipe before 2026-12-06. The student
adds, with ``--distill 1`` (default), ``0.5 L1(T, T_teacher)`` and ``0.1`` times
the mean squared difference of the decoder features (1/4, 1/2 and full
resolution) from the frozen teacher's on the same crop.

Weak reflections (``--weak-reflections``, default 0; tried at 0.25 with
``--gate 1`` on 2026-12-07 and not adopted, see the model card): that share of the
crops is re-formed with the reflected light scaled by a factor drawn
log-uniformly from [0.001, 1] (:func:`attenuate_reflection`: the generator's
own sum, ``oetf(clip(eotf(T) + s eotf(R), 0, 1))``, on the stored layers; for
the teacher's three frames, on their layers warped by the frames' alignment
homographies). A reflected scene that is dark (a dim room behind the
camera, a night sky) leaves almost nothing on the glass; the dead-leaves
content rarely draws one, and version-2 weights trained without this lost
9-22 dB on photograph sequences whose input was already at 47-58 dB.
``--gate 1`` adds the network's per-pixel gate on the transmission residual
(:class:`models.reflection_nets.LayerSeparationNet`); ``--init`` from
ungated weights adds the gate, open.

The state (model, optimizer, step, cumulative CPU seconds, best validation)
is saved atomically every ``--save-every`` steps and on exit (also on
SIGTERM / Ctrl-C); re-running the same command resumes it. Validation (every
``--val-every`` steps) scores full frames of the validation set (PSNR, SSIM
of the clamped transmission); ``--export`` receives the best validation
weights. A line is appended to ``--ledger`` at the end of each run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.losses import grad_l1, log_mse
from models.kit import UserError, add_common_flags, bf16_native, fit, load_arrays, pin_threads, run_cli, start
from models.reflection_nets import build_model, load_model, make_checkpoint

STATE_FORMAT = "restorebench.reflection-train/1"
WEAK_FLOOR = 1e-3  # smallest reflection factor of --weak-reflections (log-uniform up to 1)


def load_data(path: str | Path, cache_dir: Path, *, teacher: bool) -> dict[str, np.ndarray]:
    """uint8 arrays ``student`` (M, H, W, 3), ``clean`` and ``reflection`` (M, H, W, 3);
    when asked, ``teacher`` (M, 3, H, W, 3), the teacher's aligned input frames, with
    ``teacher_t`` and ``teacher_r`` (M, 3, H, W, 3): their transmission and reflection
    layers warped by the same homographies (for :func:`attenuate_reflection`);
    plus ``data_version``."""
    from baselines.reflection import align_to_reference

    to8 = lambda a: np.rint(a * 255).astype(np.uint8)  # noqa: E731

    def decode(samples, manifest) -> dict:
        out = {k: [] for k in ("student", "clean", "reflection") + (("teacher", "teacher_t", "teacher_r")
                                                                   if teacher else ())}
        for s in samples:
            f = s.inputs["frames"]
            r = f.shape[0] // 2
            out["student"].append(to8(f[r]))
            out["clean"].append(to8(s.target["clean"]))
            out["reflection"].append(to8(s.extras["reflection"][r]))
            if teacher:
                pick = [max(r - 1, 0), r, min(r + 1, f.shape[0] - 1)]  # as teacher_inputs
                stack, homs = align_to_reference(np.ascontiguousarray(f[pick]), 1)
                out["teacher"].append(to8(stack))
                for key, layer in (("teacher_t", "transmission"), ("teacher_r", "reflection")):
                    sub = np.ascontiguousarray(s.extras[layer][pick])
                    out[key].append(to8(align_to_reference(sub, 1, homographies=homs)[0]))
        return {k: np.stack(v) for k, v in out.items()}

    return load_arrays(path, generator="reflections", cache_dir=cache_dir, decode=decode,
                       tag="teacher-layers" if teacher else "")


def attenuate_reflection(t: np.ndarray, r: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-form frames with the reflected light scaled by ``s`` (the formation's sum).

    ``t``, ``r``: (B, ..., 3) uint8 sRGB transmission and reflection layers;
    ``s``: (B,) factors in [0, 1]. Returns float32 sRGB ``(frames, reflection)``,
    ``oetf(clip(eotf(t) + s eotf(r), 0, 1))`` and ``oetf(s eotf(r))`` (the
    generator's ``frames = oetf(clip(eotf(T) + eotf(R), 0, 1))`` at ``s = 1``).
    """
    from generators.shared.colour import linear_to_srgb, srgb_to_linear

    s = np.asarray(s, np.float32).reshape((-1,) + (1,) * (t.ndim - 1))
    rl = s * srgb_to_linear(r.astype(np.float32) / 255)
    frames = linear_to_srgb(np.clip(srgb_to_linear(t.astype(np.float32) / 255) + rl, 0, 1))
    return frames.astype(np.float32), linear_to_srgb(rl).astype(np.float32)


def _inputs(data: dict, role_frames: int, idx: np.ndarray) -> np.ndarray:
    """(B, H, W, 3*frames) uint8 network inputs for samples ``idx``."""
    if role_frames == 1:
        return data["student"][idx]
    t = data["teacher"][idx]  # (B, 3, H, W, 3)
    return t.transpose(0, 2, 3, 1, 4).reshape(*t.shape[0:1], *t.shape[2:4], -1)


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    """(B, H, W, C) uint8 (or float in [0, 1]) -> (B, C, H, W) float channels-last in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float()
    return (t.div_(255) if a.dtype == np.uint8 else t).contiguous(memory_format=torch.channels_last)


def evaluate(model, data: dict, frames: int) -> dict[str, float]:
    """Mean PSNR / SSIM of the clamped transmission on full validation frames."""
    from generators.metrics import psnr, ssim

    model.eval()
    ps, ss = [], []
    with torch.inference_mode():
        for i in range(len(data["clean"])):
            x = _to_tensor(_inputs(data, frames, np.array([i])))
            t = model(x)["t"].clamp(0, 1)[0].permute(1, 2, 0).numpy()
            ref = data["clean"][i].astype(np.float32) / 255
            ps.append(psnr(ref, t))
            ss.append(ssim(ref, t))
    model.train()
    return {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss))}


def train(args: argparse.Namespace) -> int:
    pin_threads(args.threads)
    torch.manual_seed(args.seed)
    role_frames = 3 if args.role == "teacher" else 1
    cache_dir = Path(args.state).parent / "cache"
    train_data = load_data(args.data, cache_dir, teacher=role_frames == 3 or bool(args.distill))
    val_data = load_data(args.val_data, cache_dir, teacher=role_frames == 3)
    version = int(train_data["data_version"])
    if int(val_data["data_version"]) != version:
        raise UserError("training and validation data come from different formation-model versions")
    config = {"role": args.role, "frames": role_frames, "width": args.width,
              "distill": bool(args.distill) if args.role == "student" else None}
    if args.log_mse:
        config["log_mse"] = float(args.log_mse)
    if args.weak_reflections:
        config["weak_reflections"] = float(args.weak_reflections)
    if args.gate:
        config["gate"] = True
    model = build_model(config).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    teacher = None
    if args.role == "student" and args.distill:
        try:
            teacher, _ = load_model(args.teacher)
        except ValueError as e:
            raise UserError(str(e)) from None
        teacher = teacher.to(memory_format=torch.channels_last)
        for p in teacher.parameters():
            p.requires_grad_(False)
    state, rng = start(args, model=model, optimizer=opt, fmt=STATE_FORMAT, what="reflection training-state",
                       config=config, data_version=version, key="psnr", new_modules=("gate.",))
    m = len(train_data["clean"])
    h, w = train_data["clean"].shape[1:3]

    def step_fn(step: int) -> float:
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 ** (step / 4000)
        idx = rng.integers(0, m, size=args.batch)
        y0, x0 = int(rng.integers(0, h - args.crop + 1)), int(rng.integers(0, w - args.crop + 1))
        flip = bool(rng.random() < 0.5)
        win = (slice(None), slice(y0, y0 + args.crop), slice(x0, x0 + args.crop))

        def cut(a: np.ndarray) -> np.ndarray:  # (B, [3,] H, W, C) -> the crop, flipped
            a = a[win] if a.ndim == 4 else a[:, :, y0 : y0 + args.crop, x0 : x0 + args.crop]
            return a[..., ::-1, :] if flip else a

        def stack(a: np.ndarray) -> np.ndarray:  # (B, 3, c, c, 3) -> (B, c, c, 9)
            return a.transpose(0, 2, 3, 1, 4).reshape(a.shape[0], *a.shape[2:4], -1)

        student = cut(train_data["student"][idx])
        refl = cut(train_data["reflection"][idx])
        tstack = cut(train_data["teacher"][idx]) if "teacher" in train_data else None
        if args.weak_reflections:
            weak = np.flatnonzero(rng.random(args.batch) < args.weak_reflections)
            if weak.size:
                s = np.exp(rng.uniform(np.log(WEAK_FLOOR), 0.0, weak.size))
                student, refl = student.astype(np.float32) / 255, refl.astype(np.float32) / 255
                student[weak], refl[weak] = attenuate_reflection(cut(train_data["clean"][idx[weak]]),
                                                                 cut(train_data["reflection"][idx[weak]]), s)
                if tstack is not None:
                    tstack = tstack.astype(np.float32) / 255
                    tstack[weak] = attenuate_reflection(cut(train_data["teacher_t"][idx[weak]]),
                                                        cut(train_data["teacher_r"][idx[weak]]), s)[0]
        xt = _to_tensor(student if role_frames == 1 else stack(tstack))
        tt, rt = _to_tensor(cut(train_data["clean"][idx])), _to_tensor(refl)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_native()):
            out = model(xt)
            t_pred, r_pred = out["t"].float(), out["r"].float()
            loss = (t_pred - tt).abs().mean() + 0.5 * grad_l1(t_pred, tt) + 0.25 * (r_pred - rt).abs().mean()
            if args.log_mse:
                loss = loss + args.log_mse * log_mse(t_pred, tt)
            if teacher is not None:
                with torch.no_grad():
                    tout = teacher(_to_tensor(stack(tstack)))
                loss = loss + 0.5 * (t_pred - tout["t"].float()).abs().mean()
                loss = loss + 0.1 * sum(F.mse_loss(a.float(), b.float())
                                        for a, b in zip(out["features"], tout["features"]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.item())

    fit(args, state, model=model, optimizer=opt, config=config, step_fn=step_fn,
        evaluate=lambda: evaluate(model, val_data, role_frames), make_checkpoint=make_checkpoint,
        ledger_lead={"role": args.role, "distill": config["distill"]},
        ledger_val=(("val_psnr", "psnr", 3), ("val_ssim", "ssim", 4)))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.train_reflection", description=__doc__.splitlines()[0])
    p.add_argument("role", choices=("teacher", "student"))
    add_common_flags(p, batch=12, crop=64, val_every=250, save_every=250)
    p.add_argument("--teacher", default=None, help="teacher checkpoint (student with --distill 1)")
    p.add_argument("--distill", type=int, choices=(0, 1), default=1)
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--log-mse", type=float, default=0.01,
                   help="weight of the per-crop log-MSE (dB) term on the transmission (0: the older recipe)")
    p.add_argument("--gate", type=int, choices=(0, 1), default=0,
                   help="a per-pixel sigmoid gate on the transmission residual (models.reflection_nets); "
                        "tried 2026-12-07, not the shipped recipe (see the model card)")
    p.add_argument("--weak-reflections", type=float, default=0.0,
                   help="share of training crops whose reflected light is scaled by a log-uniform factor in "
                        "[0.001, 1]; tried 2026-12-07 at 0.25, not the shipped recipe (see the model card)")

    def check(p, args):
        if args.role == "student" and args.distill and not args.teacher:
            p.error("student with --distill 1 needs --teacher")
        if not 0 <= args.weak_reflections <= 1:
            p.error(f"--weak-reflections is a share of crops in [0, 1], not {args.weak_reflections}")

    return run_cli(p, train, argv, check=check)


if __name__ == "__main__":
    raise SystemExit(main())
