"""Reflection removal networks: a three-frame teacher and a one-frame student.

After "Distilling Reflection Dynamics for Single-Image Reflection Removal":
a teacher that sees frames ``t-1, t, t+1`` learns to separate transmission
and reflection from their different motion; a student that sees frame ``t``
only is trained with the ground truth plus distillation from the frozen
teacher (its output and its intermediate features).

Architecture (both, :class:`LayerSeparationNet`): a U-Net at full, 1/2 and
1/4 resolution (``width``, 2x, 4x channels; two 3x3 conv + ReLU per level,
strided-conv downsampling, bilinear upsampling + skip concatenation), with
a bottleneck of dilated residual blocks (dilation 2, 4) for context. Input:
``3 * frames`` channels (frames in [0, 1], mapped to [-1, 1]); output: six
channels, the transmission as a residual on the reference frame
(``T = I_t + d``; reflections mostly add light, so the residual is mostly
negative) and the reflected contribution ``R``. With ``gate`` (config key
``gate``; tried 2026-12-07, not in the shipped weights) a seventh output, through a sigmoid,
scales the residual per pixel, ``T = I_t + g d``: "nothing reflected here"
is then a saturated gate rather than a residual that must cancel to 50 dB
precision (ungated version-2 weights turned photograph sequences whose input
was at 47-58 dB into 37-40 dB outputs). ``forward`` also returns the
decoder features at 1/4, 1/2 and full resolution: the distillation targets.

The teacher's motion cue: its two neighbour frames are aligned to frame
``t`` on the dominant (transmission) layer by an ECC homography
(:func:`baselines.reflection.align_to_reference`) before the network sees
them, so inside the network *T* is static and *R* is what moves; the network
learns the separation from that residual motion. Alignment runs in
``restore`` (and once per training sequence, cached), not by backprop.

Checkpoints: format ``restorebench.reflection/1``, a plain dict
(``config``: role, frames, width; ``model``: state dict; ``meta``), loadable
with ``torch.load(weights_only=True)``. Training: :mod:`models.train_reflection`.
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

__all__ = ["LayerSeparationNet", "build_model", "load_model", "make_checkpoint", "save_checkpoint",
           "teacher_inputs", "ReflectionTeacherMethod", "ReflectionStudentMethod", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "restorebench.reflection/1"
TEACHER_FRAMES = 3
GATE_INIT_BIAS = 4.0  # sigmoid(4) = 0.982: a gate added to trained weights starts almost open


def _conv(cin: int, cout: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation),
                         nn.ReLU(inplace=True))


class _DilatedBlock(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(F.relu(self.a(x))))


class LayerSeparationNet(nn.Module):
    """U-Net separating transmission and reflection (see the module docstring).

    Parameters
    ----------
    frames : int
        Input frames (1 for the student, 3 for the teacher); the reference is
        the middle one.
    width : int
        Channels at full resolution.
    """

    def __init__(self, frames: int = 1, width: int = 24, gate: bool = False):
        super().__init__()
        w, cin = int(width), 3 * int(frames)
        self.frames = int(frames)
        self.enc1 = nn.Sequential(_conv(cin, w), _conv(w, w))
        self.enc2 = nn.Sequential(_conv(w, 2 * w, stride=2), _conv(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_conv(2 * w, 4 * w, stride=2), _conv(4 * w, 4 * w))
        self.mid = nn.Sequential(_DilatedBlock(4 * w, 2), _DilatedBlock(4 * w, 4))
        self.dec2 = nn.Sequential(_conv(6 * w, 2 * w), _conv(2 * w, 2 * w))
        self.dec1 = nn.Sequential(_conv(3 * w, w), _conv(w, w))
        self.out = nn.Conv2d(w, 6, 3, padding=1)
        self.gate = None
        if gate:  # per-pixel sigmoid gate on the transmission residual; starts open (0.982)
            self.gate = nn.Conv2d(w, 1, 3, padding=1)
            nn.init.zeros_(self.gate.weight)
            nn.init.constant_(self.gate.bias, GATE_INIT_BIAS)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``x``: (B, 3 * frames, H, W) in [0, 1], H and W multiples of 4.

        Returns ``{"t": (B, 3, H, W), "r": (B, 3, H, W), "features": [1/4, 1/2, 1]}``
        (``t`` and ``r`` unclamped; clamp to [0, 1] for images).
        """
        ref = x[:, 3 * (self.frames // 2) : 3 * (self.frames // 2) + 3]
        e1 = self.enc1(2 * x - 1)
        e2 = self.enc2(e1)
        m = self.mid(self.enc3(e2))
        up = lambda a, b: F.interpolate(a, size=b.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        d2 = self.dec2(torch.cat([up(m, e2), e2], 1))
        d1 = self.dec1(torch.cat([up(d2, e1), e1], 1))
        o = self.out(d1)
        d = o[:, :3] if self.gate is None else torch.sigmoid(self.gate(d1)) * o[:, :3]
        return {"t": ref + d, "r": o[:, 3:], "features": [m, d2, d1]}


def build_model(config: Mapping) -> LayerSeparationNet:
    return LayerSeparationNet(frames=int(config["frames"]), width=int(config["width"]),
                              gate=bool(config.get("gate", False)))


def make_checkpoint(model: nn.Module, config: Mapping, **meta) -> dict:
    return _make_checkpoint(model, config, fmt=CHECKPOINT_FORMAT, **meta)


def load_model(path: str | Path) -> tuple[LayerSeparationNet, dict]:
    """``(model in eval mode, raw checkpoint)``; ValueError naming the file on any problem."""
    return load_network(path, fmt=CHECKPOINT_FORMAT, what="reflection-network", build=build_model)


def teacher_inputs(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) frames -> (3, H, W, 3): frames r-1, r, r+1 (r = N // 2), the
    neighbours aligned to frame r by ECC; missing neighbours repeat frame r."""
    from baselines.reflection import align_to_reference

    n = frames.shape[0]
    r = n // 2
    pick = [max(r - 1, 0), r, min(r + 1, n - 1)]
    sub = np.ascontiguousarray(frames[pick])
    aligned, _ = align_to_reference(sub, 1)
    return aligned


def _pad4(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    return (F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x), (h, w)


class _ReflectionMethod(NetMethod):
    tasks = ("reflections",)

    def load(self, path: Path) -> tuple[LayerSeparationNet, dict]:
        return load_model(path)

    def _run(self, stack: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(stack.transpose(0, 3, 1, 2).reshape(1, -1, *stack.shape[1:3])))
        x, (h, w) = _pad4(x.float())
        with torch.inference_mode():
            t = self.model(x)["t"][..., :h, :w]
        return t[0].clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)


class ReflectionTeacherMethod(_ReflectionMethod):
    """Three-frame teacher: frames t-1, t, t+1 aligned on the transmission."""

    name, checkpoint_name = "reflection-teacher", "reflection_teacher.pt"

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._run(teacher_inputs(inputs["frames"]))


class ReflectionStudentMethod(_ReflectionMethod):
    """Single-frame student: sees the reference frame only."""

    name, checkpoint_name = "reflection-student", "reflection_student.pt"

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        f = inputs["frames"]
        return self._run(f[f.shape[0] // 2 : f.shape[0] // 2 + 1])
