"""Semantic-layout inpainting network for roadseg (DeepFill-style, sized for CPU).

Input: the populated label map one-hot over the task's ``classes`` (zeros on
the unknown pixels) plus the mask, (B, K + 1, H, W). Two stages, as in
DeepFill v2 (Yu et al. 2019) with gated convolutions
(``ELU(conv_f(x)) * sigmoid(conv_g(x))``) throughout:

* coarse: gated convs down to 1/4 resolution, three residual dilated gated
  convs (dilation 2, 4, 8: a receptive field of about 120 px at full
  resolution, so a car is filled from the layout around it), logits over
  the K classes at 1/4 resolution;
* refine: the input and the upsampled coarse probabilities, gated convs at
  1/2 resolution with a dilation-2 residual block and a skip at full
  resolution, logits at full resolution.

Known pixels are copied through (``restore`` only fills the mask). Loss:
softmax cross-entropy on the masked pixels of the refined logits plus 0.5 x
that of the coarse logits (against the target downsampled by nearest
neighbour). The network predicts static classes only in practice (the
targets never hold dynamic ones). Checkpoint format
``restorebench.layout/1``; training in :mod:`models.train_layout`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.kit import NetMethod, load_network, save_checkpoint
from models.kit import make_checkpoint as _make_checkpoint

__all__ = ["LayoutInpaintNet", "build_model", "load_model", "make_checkpoint", "save_checkpoint", "one_hot_input",
           "LayoutNetMethod", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "restorebench.layout/1"


class _G(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.f = nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation)
        self.g = nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.f(x)) * torch.sigmoid(self.g(x))


class LayoutInpaintNet(nn.Module):
    """Coarse-to-fine gated label-map inpainting network (see the module docstring)."""

    def __init__(self, num_classes: int = 9, width: int = 16):
        super().__init__()
        k, w = int(num_classes), int(width)
        self.num_classes = k
        self.c1 = _G(k + 1, w)
        self.c2 = _G(w, 2 * w, stride=2)
        self.c3 = _G(2 * w, 2 * w, stride=2)
        self.cmid = nn.ModuleList([_G(2 * w, 2 * w, dilation=d) for d in (2, 4, 8)])
        self.cout = nn.Conv2d(2 * w, k, 3, padding=1)
        self.r1 = _G(2 * k + 1, w)
        self.r2 = _G(w, 2 * w, stride=2)
        self.rmid = nn.ModuleList([_G(2 * w, 2 * w, dilation=d) for d in (2,)])
        self.rup = _G(3 * w, w)
        self.rout = nn.Conv2d(w, k, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (B, K + 1, H, W), H and W multiples of 4 -> {"coarse": 1/4 logits, "logits": full logits}."""
        h = self.c3(self.c2(self.c1(x)))
        for blk in self.cmid:
            h = h + blk(h)
        coarse = self.cout(h)
        prob = F.interpolate(torch.softmax(coarse, 1), size=x.shape[-2:], mode="bilinear", align_corners=False)
        a = self.r1(torch.cat([x, prob], 1))
        b = self.r2(a)
        for blk in self.rmid:
            b = b + blk(b)
        up = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
        return {"coarse": coarse, "logits": self.rout(self.rup(torch.cat([up, a], 1)))}


def one_hot_input(labels: np.ndarray, mask: np.ndarray, num_classes: int) -> torch.Tensor:
    """(N, H, W) uint8 labels + bool masks -> (N, K + 1, H, W) float: one-hot (0 under the mask) and the mask."""
    lab = torch.from_numpy(np.where(mask, 0, labels).astype(np.int64))
    oh = F.one_hot(lab.clamp(0, num_classes - 1), num_classes).permute(0, 3, 1, 2).float()
    m = torch.from_numpy(mask.astype(np.float32))[:, None]
    return torch.cat([oh * (1 - m), m], 1)


def build_model(config: Mapping) -> LayoutInpaintNet:
    return LayoutInpaintNet(num_classes=int(config["num_classes"]), width=int(config["width"]))


def make_checkpoint(model: nn.Module, config: Mapping, **meta) -> dict:
    return _make_checkpoint(model, config, fmt=CHECKPOINT_FORMAT, **meta)


def load_model(path: str | Path) -> tuple[LayoutInpaintNet, dict]:
    """``(model in eval mode, raw checkpoint)``; ValueError naming the file on any problem."""
    return load_network(path, fmt=CHECKPOINT_FORMAT, what="layout-network", build=build_model)


def predict_labels(model: LayoutInpaintNet, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill ``labels`` (H, W) where ``mask`` with the network's argmax; known pixels unchanged."""
    h, w = labels.shape
    ph, pw = (-h) % 4, (-w) % 4
    x = one_hot_input(labels[None], mask[None], model.num_classes)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    with torch.inference_mode():
        pred = model(x)["logits"][0, :, :h, :w].argmax(0).numpy().astype(labels.dtype)
    return np.where(mask, pred, labels)


class LayoutNetMethod(NetMethod):
    """The shipped layout-inpainting network on roadseg (MICC classes)."""

    name, checkpoint_name, tasks = "layout-gated-net", "layout_net.pt", ("roadseg",)

    def load(self, path: Path) -> tuple[LayoutInpaintNet, dict]:
        return load_model(path)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        labels, mask = inputs["labels"], np.asarray(inputs["mask"], bool)
        known = labels[~mask]
        if known.size and int(known.max()) >= self.model.num_classes:
            raise ValueError(f"labels hold class {int(known.max())} but the network knows "
                             f"{self.model.num_classes} classes (trained on --classes micc)")
        return predict_labels(self.model, labels, mask)
