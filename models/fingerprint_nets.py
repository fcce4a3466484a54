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

Both are trained by :mod:`models.train_fingerprints` on the same data, crops,
loss (MSE), optimiser (Adam with a cosine schedule) and wall-clock budget; see
the model cards next to the checkpoints.

Checkpoints are plain dicts readable with ``torch.load(path,
weights_only=True)``: ``{"format", "version", "arch", "config",
"state_dict", "meta"}``. :func:`load_checkpoint` turns every problem
(missing, corrupt, other format, wrong architecture, mismatched weights)
into one ``ValueError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from generators.task import check_image
from models.kit import CHECKPOINT_DIR, NetMethod, build_network, plain, read_checkpoint, save_checkpoint

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
]

CHECKPOINT_FORMAT = "restorebench-fingerprint-net"
CHECKPOINT_VERSION = 1
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
        "config": plain(config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": plain(meta),
    }


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
        truncated), not a fingerprint checkpoint, another version or
        architecture, bad config or weights that do not fit the network.
    """
    ckpt = read_checkpoint(path, fmt=CHECKPOINT_FORMAT, what="fingerprint-network", version=CHECKPOINT_VERSION,
                           keys=("arch", "config", "state_dict"))
    if arch is not None and ckpt["arch"] != arch:
        raise ValueError(f"{path}: checkpoint holds a {ckpt['arch']!r} network, expected {arch!r}")
    return build_network(path, ckpt, lambda config: build_model(ckpt["arch"], config), weights="state_dict"), ckpt


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


class _FingerprintNetMethod(NetMethod):
    arch = ""
    tasks = ("fingerprints",)

    def __init__(self, checkpoint: str | Path | None = None, *, preset: str = "chalearn"):
        super().__init__(checkpoint=PRESET_CHECKPOINTS[preset][self.arch] if checkpoint is None else checkpoint)
        self.preset = preset

    def for_task(self, task) -> "_FingerprintNetMethod":
        """The network for ``task``'s preset (``generators.task.bind``): each preset has its own weights;
        bound to the task's formation version (:meth:`models.kit.NetMethod.for_task`)."""
        preset = task.params.get("preset", "chalearn")
        if preset == self.preset:
            return super().for_task(task)
        if preset not in PRESET_CHECKPOINTS:
            raise ValueError(f"{self.name}: no weights for fingerprint preset {preset!r}; "
                             f"have {sorted(PRESET_CHECKPOINTS)}")
        return type(self)(preset=preset).for_task(task)

    def load(self, path: Path) -> tuple[nn.Module, dict]:
        """The network of ``path`` and its checkpoint; weights trained on another preset are refused."""
        model, ckpt = load_checkpoint(path, arch=self.arch)
        trained = ckpt.get("meta", {}).get("trained_on")
        if trained is not None and not any(t.split("/")[0] == self.preset for t in trained):
            raise ValueError(f"{path}: trained on {', '.join(trained)}, not on the "
                             f"{self.preset!r} preset this task scores")
        return model, ckpt

    def trained_on(self, ckpt: Mapping) -> int | tuple[int, ...]:
        """The formation version in the ``meta["trained_on"]`` tags (``preset/vN``). Tags ``v0`` (datasets
        written before versions were recorded) and checkpoints without tags were trained on version 1's
        data: the formation did not change when version 1 began to be recorded."""
        tags = ckpt.get("meta", {}).get("trained_on") or []
        versions = sorted({max(1, int(t.rsplit("/v", 1)[1])) for t in tags if "/v" in t} or {1})
        return versions[0] if len(versions) == 1 else tuple(versions)

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
