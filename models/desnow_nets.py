"""A DesnowNet-style network, downscaled to train on one CPU core.

After Liu et al., "DesnowNet: Context-Aware Deep Network for Snow Removal"
(IEEE TIP 2018). A snowy image is modelled as ``x = a * z + y * (1 - z)``
(:mod:`generators.snow`, eq. 1 of the paper); the network recovers ``y`` in
two stages, as the paper's Fig. 3:

1. *Translucency recovery* ``R_t``: a descriptor ``D_t`` (features of ``x``)
   feeds two heads, the translucency ``z`` (sigmoid) and the snow colour
   ``a`` (the paper's chromatic aberration map; sigmoid); the snow-free
   estimate is ``y' = (x - a z) / (1 - z)`` where ``z < 1`` (``1 - z`` is
   clamped to at least ``Z_FLOOR``, the paper's ``z < 1`` case split made
   differentiable) and ``x`` elsewhere.
2. *Residual generation* ``R_r``: a second descriptor ``D_r`` on ``(y', z)``
   predicts a residual ``r`` and ``y = y' + r`` (the paper's residual
   complement: what translucency cannot explain -- fully opaque flakes, and
   here the veil, which the paper's data lack).

Each descriptor is the paper's design shrunk: instead of Inception-v4, a
3x3 stem and two stride-2 convolutions (to 1/4 resolution), then a
*dilation pyramid* (the paper's DP: parallel 3x3 convolutions with dilation
1, 2, 4, 8 on the same features, summed), upsampled and concatenated with the
stem features. Widths ``width`` (stem) and ``2 * width`` (pyramid).

Its training loss, the paper's pyramid loss (eq. 12-13), is
:func:`models.losses.pyramid_loss`.

Checkpoints: format ``restorebench.desnow/1``, a plain dict (``config``:
width; ``model``: state dict; ``meta``), loadable with
``torch.load(weights_only=True)``. Training: :mod:`models.train_desnow`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.kit import NetMethod, load_network
from models.kit import make_checkpoint as _make_checkpoint

__all__ = ["DesnowNet", "build_model", "load_model", "make_checkpoint", "DesnowNetMethod",
           "CHECKPOINT_FORMAT", "Z_FLOOR"]

CHECKPOINT_FORMAT = "restorebench.desnow/1"
Z_FLOOR = 0.05  # 1 - z is clamped to this: y' stays bounded where a flake is (nearly) opaque


class _Descriptor(nn.Module):
    """Stem + stride-2 encoder to 1/4 resolution + dilation pyramid (1, 2, 4, 8), back to full resolution."""

    def __init__(self, cin: int, width: int):
        super().__init__()
        w = int(width)
        self.stem = nn.Sequential(nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(inplace=True))
        self.down = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.pyramid = nn.ModuleList(nn.Conv2d(2 * w, 2 * w, 3, padding=d, dilation=d) for d in (1, 2, 4, 8))
        self.fuse = nn.Sequential(nn.Conv2d(3 * w, w, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        d = self.down(s)
        p = F.relu(sum(conv(d) for conv in self.pyramid))
        up = F.interpolate(p, size=s.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, s], 1))


class DesnowNet(nn.Module):
    """Translucency recovery then residual generation (see the module docstring)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.d_t = _Descriptor(3, width)
        self.head_z = nn.Conv2d(width, 1, 3, padding=1)
        self.head_a = nn.Conv2d(width, 3, 3, padding=1)
        self.d_r = _Descriptor(4, width)
        self.head_r = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x``: (B, 3, H, W) in [0, 1], H and W multiples of 4.

        Returns ``{"z", "a", "y_prime", "y"}``: (B, 1 | 3, H, W); ``y`` unclamped.
        """
        f = self.d_t(2 * x - 1)
        z = torch.sigmoid(self.head_z(f))
        a = torch.sigmoid(self.head_a(f))
        y_prime = (x - a * z) / (1 - z).clamp(min=Z_FLOOR)
        r = self.head_r(self.d_r(torch.cat([2 * y_prime.clamp(0, 1) - 1, z], 1)))
        return {"z": z, "a": a, "y_prime": y_prime, "y": y_prime + r}


def build_model(config: Mapping) -> DesnowNet:
    return DesnowNet(width=int(config["width"]))


def make_checkpoint(model: nn.Module, config: Mapping, **meta) -> dict:
    return _make_checkpoint(model, config, fmt=CHECKPOINT_FORMAT, **meta)


def load_model(path: str | Path) -> tuple[DesnowNet, dict]:
    """``(model in eval mode, raw checkpoint)``; ValueError naming the file on any problem."""
    return load_network(path, fmt=CHECKPOINT_FORMAT, what="desnow-network", build=build_model)


def _pad4(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    return (F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x), (h, w)


class DesnowNetMethod(NetMethod):
    """The shipped DesnowNet-style network as a method on ``snow`` (single image)."""

    name, checkpoint_name, tasks = "desnownet", "desnownet.pt", ("snow", "snow-real")

    def load(self, path: Path) -> tuple[DesnowNet, dict]:
        return load_model(path)

    def same_formation(self, trained, current: int) -> bool:
        """Trained on content backgrounds: snow versions 1 and 2 differ only on roadseg backgrounds."""
        from generators.snow import CONTENT_BACKGROUND_VERSIONS

        return trained == current or {trained, current} <= set(CONTENT_BACKGROUND_VERSIONS)

    def estimate(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """``{"clean": (H, W, 3), "z": (H, W, 1)}`` float32 in [0, 1] for one (H, W, 3) image."""
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
        x, (h, w) = _pad4(x)
        with torch.inference_mode():
            out = self.model(x)
        y = out["y"][0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)
        z = out["z"][0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)
        return {"clean": y, "z": z}

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.estimate(inputs["image"])["clean"]
