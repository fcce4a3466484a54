"""Fingerprint restoration networks for the ``fingerprints`` task.

Two fully convolutional networks map a degraded print (1, H, W) in [0, 1] to
the clean print, both ending in ``tanh`` mapped to [0, 1]:

* :class:`ResidualCNN` - the ChaLearn LAP 2018 track-3 organisers' baseline
  (Escalera et al. 2018, "ChaLearn Looking at People: Inpainting and
  Denoising challenges"): four convolutions (the last two strided), five
  residual blocks of two convolutions, two transposed convolutions and a
  final convolution; batch norm + ReLU, tanh output, MSE loss, Adam.
* :class:`DilatedUNet` - a U-Net (Ronneberger et al. 2015) whose bottleneck
  is a stack of dilated convolutions (dilations 2, 4, 8), as in the top
  entries of the challenge (U-Finger, Prabhu et al. 2018; FPD-M-net,
  Adhikari et al. 2018; the winning U-Net): the encoder-decoder sees the
  whole ridge neighbourhood, which background removal and inpainting need.

Both are trained by :func:`train_fingerprints` on the same data, crops, loss
(MSE), optimiser (Adam with a cosine schedule) and wall-clock budget; see the
model cards next to the checkpoints.

Checkpoints are plain dicts readable with ``torch.load(path,
weights_only=True)``: ``{"format", "version", "arch", "config",
"state_dict", "meta"}``. :func:`load_checkpoint` turns every problem
(missing, corrupt, other format, wrong architecture, mismatched weights)
into one ``ValueError`` naming the file.

Commands::

    python -m models.fingerprint_nets train --arch unet --data DIR --val-data DIR \\
        --out runs/fp_unet/last.pt --export models/checkpoints/fingerprint_unet.pt --time-limit 30
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from generators.task import check_image
from models._checkpoint import save_checkpoint as _save
from models._training import UserError, append_ledger, dataset_version

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINTS",
    "ARCHS",
    "ResidualCNN",
    "DilatedUNet",
    "build_model",
    "make_checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "restore_image",
    "ResidualCNNMethod",
    "UNetMethod",
    "load_pairs",
    "train_fingerprints",
    "main",
]

CHECKPOINT_FORMAT = "restorebench-fingerprint-net"
CHECKPOINT_VERSION = 1
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
CHECKPOINTS = {
    "rescnn": CHECKPOINT_DIR / "fingerprint_rescnn.pt",
    "unet": CHECKPOINT_DIR / "fingerprint_unet.pt",
}
# One checkpoint per preset (generators.fingerprints.PRESETS); the ChaLearn ones above predate the field.
PRESET_CHECKPOINTS = {
    "chalearn": CHECKPOINTS,
    "sensor": {arch: CHECKPOINT_DIR / f"fingerprint_{arch}_sensor.pt" for arch in CHECKPOINTS},
}
_MULTIPLE = 8  # inputs are reflect-padded to a multiple of this


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------


def _cbr(cin: int, cout: int, k: int = 3, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Convolution, batch norm, ReLU ('same' padding)."""
    pad = dilation * (k - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class ResidualCNN(nn.Module):
    """The ChaLearn track-3 baseline: 4 conv, 5 residual blocks, 2 deconv, 1 conv, tanh.

    Parameters
    ----------
    width : int
        Channels of the first layers; the residual blocks run at ``4 * width``
        channels and 1/4 resolution.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        w = int(width)
        self.head = nn.Sequential(
            _cbr(1, w, 5), _cbr(w, w), _cbr(w, 2 * w, stride=2), _cbr(2 * w, 4 * w, stride=2)
        )  # fmt: skip
        self.blocks = nn.Sequential(*[_ResBlock(4 * w) for _ in range(5)])
        self.tail = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
            nn.Conv2d(w, 1, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [0, 1], H and W multiples of 4 -> (B, 1, H, W) in [0, 1]."""
        y = self.tail(self.blocks(self.head(2.0 * x - 1.0)))
        return 0.5 * (torch.tanh(y) + 1.0)


class _DilatedResBlock(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(_cbr(c, c, dilation=dilation), nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class DilatedUNet(nn.Module):
    """U-Net with residual, dilated convolutions (U-Finger / FPD-M-net style).

    Encoder: two convolutions at full resolution, then strided convolutions
    down to 1/2, 1/4 (two residual blocks) and 1/8 resolution, where
    residual blocks whose first convolution is dilated (``dilations``) see
    the whole print. Decoder: bilinear upsampling, a convolution, and
    concatenation with the encoder features of the same resolution (the
    U-Net skips) fused by a convolution, up to full resolution.

    Parameters
    ----------
    widths : sequence of 4 ints
        Channels at full, 1/2, 1/4 and 1/8 resolution.
    dilations : sequence of ints
        One residual block per entry at 1/8 resolution, with that dilation.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 96), dilations: Sequence[int] = (2, 4)):
        super().__init__()
        c1, c2, c3, c4 = (int(c) for c in widths)
        self.enc1 = nn.Sequential(_cbr(1, c1, 5), _cbr(c1, c1))
        self.enc2 = _cbr(c1, c2, stride=2)
        self.enc3 = nn.Sequential(_cbr(c2, c3, stride=2), _ResBlock(c3), _ResBlock(c3))
        self.bottleneck = nn.Sequential(_cbr(c3, c4, stride=2), *[_DilatedResBlock(c4, int(d)) for d in dilations])
        self.up3, self.fuse3 = _cbr(c4, c3), _cbr(2 * c3, c3)
        self.up2, self.fuse2 = _cbr(c3, c2), _cbr(2 * c2, c2)
        self.up1, self.fuse1 = _cbr(c2, c1), _cbr(2 * c1, c1)
        self.out = nn.Conv2d(c1, 1, 3, padding=1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [0, 1], H and W multiples of 8 -> (B, 1, H, W) in [0, 1]."""
        e1 = self.enc1(2.0 * x - 1.0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        b = self.bottleneck(e3)
        d3 = self.fuse3(torch.cat([self.up3(self._up(b)), e3], 1))
        d2 = self.fuse2(torch.cat([self.up2(self._up(d3)), e2], 1))
        d1 = self.fuse1(torch.cat([self.up1(self._up(d2)), e1], 1))
        return 0.5 * (torch.tanh(self.out(d1)) + 1.0)


ARCHS: dict[str, type[nn.Module]] = {"rescnn": ResidualCNN, "unet": DilatedUNet}
_DEFAULT_CONFIGS: dict[str, dict] = {
    "rescnn": {"width": 16},
    "unet": {"widths": [16, 32, 64, 96], "dilations": [2, 4]},
}


def build_model(arch: str, config: Mapping[str, Any] | None = None) -> nn.Module:
    """A fresh network ``arch`` ("rescnn" or "unet") with ``config`` (defaults when None)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHS)}")
    cfg = dict(_DEFAULT_CONFIGS[arch] if config is None else config)
    try:
        return ARCHS[arch](**cfg)
    except TypeError as e:
        raise ValueError(f"bad {arch} config {cfg!r}: {e}") from None


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------


def make_checkpoint(model: nn.Module, arch: str, config: Mapping[str, Any], **meta: Any) -> dict:
    """A plain-dict checkpoint (weights on CPU) loadable with ``weights_only=True``."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "arch": arch,
        "config": json.loads(json.dumps(dict(config))),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": json.loads(json.dumps(meta)),
    }


def save_checkpoint(ckpt: Mapping[str, Any], path: str | Path) -> None:
    """Write ``ckpt`` atomically (temporary file, fsync, rename): :func:`models._checkpoint.save_checkpoint`."""
    _save(dict(ckpt), path)


def load_checkpoint(path: str | Path, *, arch: str | None = None) -> tuple[nn.Module, dict]:
    """Load a fingerprint network; returns ``(model in eval mode, checkpoint dict)``.

    Parameters
    ----------
    path : path
    arch : str, optional
        Expected architecture; a checkpoint of another one is refused.

    Raises
    ------
    ValueError
        One message naming the file: missing, unreadable (corrupt or
        truncated), not a fingerprint checkpoint, another architecture, bad
        config or weights that do not fit the network.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip/pickle errors, EOF, the weights-only unpickler refusing an object ...
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise ValueError(f"{path}: not a readable torch checkpoint (corrupt, truncated, or holding objects other "
                         f"than tensors and plain containers): {type(e).__name__}: {first}") from None  # fmt: skip
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: not a fingerprint-network checkpoint (format {got!r}, expected {CHECKPOINT_FORMAT!r})")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {ckpt.get('version')!r}, this code reads {CHECKPOINT_VERSION}")
    for key in ("arch", "config", "state_dict"):
        if key not in ckpt:
            raise ValueError(f"{path}: checkpoint has no {key!r} entry")
    if arch is not None and ckpt["arch"] != arch:
        raise ValueError(f"{path}: checkpoint holds a {ckpt['arch']!r} network, expected {arch!r}")
    try:
        model = build_model(ckpt["arch"], ckpt["config"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (RuntimeError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()
        raise ValueError(f"{path}: weights do not match the {ckpt['arch']} network: {' '.join(first[:3])[:300]}") from None
    return model.eval(), ckpt


# ---------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------


def restore_image(model: nn.Module, image: np.ndarray) -> np.ndarray:
    """Run ``model`` on one (H, W, 1) float32 image in [0, 1]; returns (H, W, 1) float32 in [0, 1].

    The image is reflect-padded to a multiple of 8 and cropped back.
    """
    check_image(image)
    if image.shape[2] != 1:
        raise ValueError(f"fingerprint networks take greyscale (H, W, 1) images, got {image.shape}")
    h, w = image.shape[:2]
    ph, pw = (-h) % _MULTIPLE, (-w) % _MULTIPLE
    x = torch.from_numpy(np.ascontiguousarray(image[..., 0]))[None, None]
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    with torch.inference_mode():
        y = model.eval()(x)[0, 0, :h, :w]
    return np.clip(y.numpy(), 0.0, 1.0).astype(np.float32)[..., None]


class _FingerprintNetMethod:
    arch = ""
    name = ""
    tasks = ("fingerprints",)

    def __init__(self, checkpoint: str | Path | None = None, *, preset: str = "chalearn"):
        self.preset = preset
        self.checkpoint = Path(checkpoint) if checkpoint is not None else PRESET_CHECKPOINTS[preset][self.arch]
        self._model: nn.Module | None = None

    def for_task(self, task) -> "_FingerprintNetMethod":
        """The network for ``task``'s preset (``generators.task.bind``): each preset has its own weights."""
        preset = task.params.get("preset", "chalearn")
        if preset == self.preset:
            return self
        if preset not in PRESET_CHECKPOINTS:
            raise ValueError(f"{self.name}: no weights for fingerprint preset {preset!r}; "
                             f"have {sorted(PRESET_CHECKPOINTS)}")
        return type(self)(preset=preset)

    def __getstate__(self) -> dict:  # workers load the weights themselves
        return {**self.__dict__, "_model": None}

    @property
    def model(self) -> nn.Module:
        """The network, loaded from the checkpoint on first use; weights of another preset are refused."""
        if self._model is None:
            model, ckpt = load_checkpoint(self.checkpoint, arch=self.arch)
            trained = ckpt.get("meta", {}).get("trained_on")
            if trained is not None and not any(t.split("/")[0] == self.preset for t in trained):
                raise ValueError(f"{self.checkpoint}: trained on {', '.join(trained)}, not on the "
                                 f"{self.preset!r} preset this task scores")
            self._model = model
        return self._model

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """``inputs["image"]`` (H, W, 1) float32 in [0, 1] -> clean print (H, W, 1)."""
        if "image" not in inputs:
            raise ValueError(f"{self.name} needs inputs['image'], got keys {sorted(inputs)}")
        return restore_image(self.model, inputs["image"])


class ResidualCNNMethod(_FingerprintNetMethod):
    """The ChaLearn organisers' residual CNN, trained here (``models/checkpoints/fingerprint_rescnn.pt``)."""

    arch = "rescnn"
    name = "fp-residual-cnn"


class UNetMethod(_FingerprintNetMethod):
    """The dilated U-Net (``models/checkpoints/fingerprint_unet.pt``)."""

    arch = "unet"
    name = "fp-unet"


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


_UserError = UserError  # bad input: one line on stderr, exit code 2


def load_pairs(path: str | Path, *, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode a fingerprints dataset into uint8 arrays ``(inputs, targets)``, each (N, H, W).

    The shards hold 8-bit PNGs, so ``round(x * 255)`` loses nothing.
    """
    from generators.dataset import read_dataset

    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise _UserError(f"not a dataset directory (no manifest.json): {path}")
    xs, ys = [], []
    for _, sample in read_dataset(path):
        if "image" not in sample.inputs or "clean" not in sample.target:
            raise _UserError(f"{path}: samples need inputs['image'] and target['clean'] (a fingerprints dataset)")
        xs.append(np.rint(sample.inputs["image"][..., 0] * 255).astype(np.uint8))
        ys.append(np.rint(sample.target["clean"][..., 0] * 255).astype(np.uint8))
        if limit is not None and len(xs) >= limit:
            break
    if not xs:
        raise _UserError(f"{path}: no samples")
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
        raise _UserError(f"{path}: cannot read the preset from its manifest.json ({type(e).__name__})") from None
    return f"{params.get('preset', 'chalearn')}/v{dataset_version(path)}"


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
    """Flags of ``python -m models.fingerprint_nets train`` (names shared with ``models.train``)."""
    p = argparse.ArgumentParser(prog="python -m models.fingerprint_nets train",
                                description="Train a fingerprint restoration network on generated shards.")  # fmt: skip
    p.add_argument("--arch", choices=sorted(ARCHS), default="unet", help="network (default unet)")
    p.add_argument("--data", required=True, nargs="+",
                   help="training dataset directories (python -m generators.fingerprints; several, e.g. one per "
                        "preset, are concatenated)")
    p.add_argument("--val-data", default=None, nargs="+",
                   help="held-out dataset directories (another seed; --val-limit prints of each)")
    p.add_argument("--out", default=None, help="resumable training checkpoint (default runs/fp_ARCH/last.pt)")
    p.add_argument("--export", default=None, help="write the best validation weights here (weights only)")
    p.add_argument("--resume", action="store_true", help="continue from --out")
    p.add_argument("--steps", type=int, default=100_000, help="maximum optimizer steps")
    p.add_argument("--time-limit", type=float, default=30.0, help="wall-clock budget in minutes (cosine lr over it)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=96, help="random crop side (multiple of 8)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate at the start")
    p.add_argument("--ema", type=float, default=0.999, help="decay of the weight average that is validated and exported (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=100, help="steps between checkpoints")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--val-every", type=float, default=5.0, help="minutes between validations")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--val-limit", type=int, default=20, help="use only the first N validation samples")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                   help="bf16 autocast for the forward pass (default on; weights and loss stay float32)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="channels-last memory format (default on)")
    p.add_argument("--init", default=None, help="warm-start a new run from the weights of this checkpoint")
    p.add_argument("--ledger", default=None, help="append one CSV row per run (steps, hours, validation)")
    return p


def train_fingerprints(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Train a fingerprint network; the ``TRAINERS["fingerprints"]`` entry of :mod:`models.train`.

    Parameters
    ----------
    args : argparse.Namespace, list of str or None
        A namespace from this module's parser (a namespace without ``arch``
        trains the U-Net) or command-line words (``models.train --task
        fingerprints`` passes its words here unparsed, so this trainer's own
        defaults and every explicit flag apply).

    Returns
    -------
    int
        Exit code: 0 done, 2 bad input.

    Notes
    -----
    Schedule: Adam (betas 0.9, 0.999), MSE on random ``crop`` x ``crop``
    windows with random flips, ``lr * (0.01 + 0.99 * (1 + cos(pi t)) / 2)``
    where ``t`` is the fraction of the time budget (or of ``steps``, if that
    comes first) spent. An exponential moving average of the weights (and
    batch-norm statistics; decay ``ema``) is what is validated (MSE / PSNR /
    SSIM on whole prints, every ``val_every`` minutes and at the end) and
    exported: the one with the best validation MSE.
    The training checkpoint (model, optimiser, step, elapsed time, generator
    state) is written atomically every ``save_every`` steps and on SIGTERM.
    """
    if args is None or isinstance(args, (list, tuple)):
        args = make_parser().parse_args(args)
    defaults = vars(make_parser().parse_args(["--data", "-"]))
    given = vars(args)
    opt = argparse.Namespace(**{k: given.get(k, v) for k, v in defaults.items()})
    try:
        return _train(opt)
    except _UserError as e:
        print(f"train: error: {e}", file=sys.stderr)
        return 2


def _log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def _train(a: argparse.Namespace) -> int:
    if a.arch not in ARCHS:
        raise _UserError(f"unknown architecture {a.arch!r}; choose from {sorted(ARCHS)}")
    if a.crop % _MULTIPLE or a.crop <= 0:
        raise _UserError(f"--crop must be a positive multiple of {_MULTIPLE}, got {a.crop}")
    torch.set_num_threads(max(1, int(a.threads)))
    out = Path(a.out or f"runs/fp_{a.arch}/last.pt")
    t_load = time.time()
    data, val_data = _paths(a.data), _paths(a.val_data)
    x, y = _load_all(data, limit=a.limit)
    vx, vy = _load_all(val_data, limit=a.val_limit) if val_data else (x[:0], y[:0])
    _log(f"{a.arch}: {len(x)} training / {len(vx)} validation prints loaded in {time.time() - t_load:.0f}s")
    config = _DEFAULT_CONFIGS[a.arch]
    torch.manual_seed(a.seed)
    model = build_model(a.arch, config).train()
    if a.init and not a.resume:
        try:
            init, _ = load_checkpoint(a.init, arch=a.arch)
        except ValueError as e:
            raise _UserError(str(e)) from None
        model.load_state_dict(init.state_dict())
        _log(f"initialised from {a.init}")
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optim = torch.optim.Adam(model.parameters(), lr=a.lr)
    ema = _EMA(model, a.ema) if a.ema else None
    rng = np.random.default_rng(a.seed)
    step, elapsed, best, history = 0, 0.0, None, []
    if a.resume:
        if not out.is_file():
            raise _UserError(f"--resume: no checkpoint at {out}")
        state = torch.load(out, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        trained_on = state.get("data", [_describe(p) for p in data])
        if trained_on != [_describe(p) for p in data]:
            raise _UserError(f"--resume: {out} was trained on {trained_on}, not on {[_describe(p) for p in data]} "
                             "(a changed preset or data version starts a new run with --init)")
        step, elapsed, best, history = state["step"], state["elapsed"], state["best"], state["history"]
        rng.bit_generator.state = state["rng"]
        _log(f"resumed at step {step}, {elapsed / 60:.1f} min")
    budget = math.inf if a.time_limit is None else a.time_limit * 60.0
    n_params = sum(p.numel() for p in model.parameters())
    _log(f"{a.arch} {config}: {n_params} parameters, budget {a.time_limit} min / {a.steps} steps, "
         f"batch {a.batch}, crop {a.crop}")

    def save() -> None:
        save_checkpoint({"model": model.state_dict(), "optim": optim.state_dict(), "step": step, "elapsed": elapsed,
                         "ema": None if ema is None else ema.state_dict(),
                         "best": best, "history": history, "rng": rng.bit_generator.state, "arch": a.arch,
                         "config": config, "data": [_describe(p) for p in data]}, out)  # fmt: skip

    def validate() -> None:
        nonlocal best
        if not len(vx):
            return
        net = model if ema is None else ema.module
        scores = _evaluate(net, vx, vy)
        history.append({"step": step, "minutes": round(elapsed / 60, 2), **scores})
        _log(f"val step {step}: mse {scores['mse']:.5f} psnr {scores['psnr']:.2f} ssim {scores['ssim']:.4f}")
        if best is None or scores["mse"] < best["mse"]:
            best = {"step": step, **scores}
            if a.export:
                meta = {"train_data": [str(p) for p in data], "val_data": [str(p) for p in val_data],
                        "trained_on": [_describe(p) for p in data], "steps": step,
                        "minutes": round(elapsed / 60, 2), "batch": a.batch, "crop": a.crop, "lr": a.lr,
                        "threads": a.threads, "ema": a.ema, "val": scores, "torch": torch.__version__}  # fmt: skip
                save_checkpoint(make_checkpoint(net, a.arch, config, **meta), a.export)

    stop = {"now": False}
    old = signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    last_val, loss_acc = elapsed, 0.0
    t0 = time.time() - elapsed
    try:
        while step < a.steps and elapsed < budget and not stop["now"]:
            frac = min(1.0, max(elapsed / budget, step / a.steps))
            for g in optim.param_groups:
                g["lr"] = a.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac)))
            bx, by = _batch(rng, x, y, a.batch, a.crop)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                pred = model(bx)
            loss = F.mse_loss(pred.float(), by)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            step += 1
            if ema is not None:
                ema.update(model, step)
            elapsed = time.time() - t0
            loss_acc += loss.item()
            if step % a.log_every == 0:
                _log(f"step {step} loss {loss_acc / a.log_every:.5f} lr {optim.param_groups[0]['lr']:.2e} "
                     f"{elapsed / 60:.1f} min ({elapsed / step:.2f} s/step)")  # fmt: skip
                loss_acc = 0.0
            if step % a.save_every == 0:
                save()
            if elapsed - last_val >= a.val_every * 60:
                validate()
                last_val = elapsed = time.time() - t0
        validate()
        save()
    finally:
        signal.signal(signal.SIGTERM, old)
    _log(f"done: {step} steps in {elapsed / 60:.1f} min; best val {best}")
    if a.ledger and best is not None:
        last = history[-1] if history else best
        append_ledger(a.ledger, ["arch", "steps", "wall_hours", "data_version", "val_mse", "val_psnr", "val_ssim",
                                 "best_mse", "best_psnr", "best_ssim", "best_step"],
                      [a.arch, step, round(elapsed / 3600, 3), "+".join(_describe(p) for p in data), round(last["mse"], 6),
                       round(last["psnr"], 3), round(last["ssim"], 4), round(best["mse"], 6), round(best["psnr"], 3),
                       round(best["ssim"], 4), best["step"]])
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m models.fingerprint_nets train ...``"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "train":
        print("usage: python -m models.fingerprint_nets train --arch {rescnn,unet} --data DIR [...] (see train --help)",
              file=sys.stderr)  # fmt: skip
        return 2
    return train_fingerprints(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
