"""Reference-aware refinement network for the coverrefs task (de-occlusion with similar images).

Architecture (:class:`RefRefineNet`): three convolutions and three
transposed convolutions, all at full resolution (stride 1), 3x3 kernels with
dilations 1, 2, 4 | 4, 2, 1 (receptive field 29 px), ReLU between layers,
``width``, 2 x ``width``, 2 x ``width`` channels. Input: 12 channels, all in
[0, 1]:

====  =====================================================================
0-2   the occluded query (RGB)
3     modal mask (visible object)
4     occluder mask
5     amodal mask (here the exact one; the paper predicts it)
6-8   the single-image fill of the hole (PatchMatch,
      :func:`baselines.stitching.single_image_fill`; our stand-in for the
      paper's single-image network; Telea until input version 2)
9-11  the reference (RGB) in the query frame: the references the retrieval
      pipeline accepts (:func:`baselines.stitching.retrieved_references`:
      BoW + k-NN re-ranking, SIFT/RANSAC homography, local gain
      correction, ring verification), first that sees a pixel wins; inside
      the hole, the stitching pipeline's Poisson-blended pixels
      (:func:`baselines.stitching.stitch`; raw warped pixels until input
      version 2); 0 where none sees. The network thus starts from what the
      stitching baseline outputs and learns where to trust it.
====  =====================================================================

Output: four channels, a blend logit ``a`` and a residual ``d``; the
prediction is ``sigmoid(a) * reference + (1 - sigmoid(a)) * fill + d``,
clamped to [0, 1], and composited into the hole (known pixels are the
query's). Trained with the mean squared error over the hole's pixels
(:mod:`models.train_refnet`).

Two trainings of the same network (two registry rows): ``refnet`` sees the
retrieved references during training, exactly as at test time;
``refnet-perturbed`` sees the *ground truth* perturbed as the reference
(gamma, padding, crop, rotation, shear; see
:func:`models.train_refnet.perturb_reference`). Both use the retrieval
pipeline at test time.

Checkpoints: format ``restorebench.refnet/1`` (``config``: width; ``model``;
``meta``), loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from models.kit import CHECKPOINT_DIR, NetMethod, load_network
from models.kit import make_checkpoint as _make_checkpoint

__all__ = ["RefRefineNet", "build_model", "load_model", "make_checkpoint", "network_inputs", "RefNetMethod",
           "CHECKPOINT_FORMAT", "IN_CHANNELS"]

CHECKPOINT_FORMAT = "restorebench.refnet/1"
IN_CHANNELS = 12
INPUT_VERSION = 2  # 1: Telea fill, raw references; 2: PatchMatch fill, seam-blended references
_DILATIONS = (1, 2, 4)
RECEPTIVE_RADIUS = 2 * sum(_DILATIONS)  # px: 3x3 kernels, each layer reaches its dilation further


class RefRefineNet(nn.Module):
    """3 conv + 3 transposed conv at full resolution; see the module docstring."""

    def __init__(self, width: int = 24):
        super().__init__()
        w = int(width)
        chans = [IN_CHANNELS, w, 2 * w, 2 * w]
        self.enc = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=d, dilation=d)
                                 for i, d in enumerate(_DILATIONS))
        out = [2 * w, 2 * w, w, 4]
        self.dec = nn.ModuleList(nn.ConvTranspose2d(out[i], out[i + 1], 3, padding=d, dilation=d)
                                 for i, d in enumerate(reversed(_DILATIONS)))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.enc:
            h = self.act(conv(h))
        for i, deconv in enumerate(self.dec):
            h = deconv(h)
            if i < len(self.dec) - 1:
                h = self.act(h)
        fill, ref = x[:, 6:9], x[:, 9:12]
        a = torch.sigmoid(h[:, :1].float())
        return (a * ref + (1 - a) * fill + h[:, 1:4].float()).clamp(0, 1)


def build_model(config: Mapping) -> RefRefineNet:
    """The network of a checkpoint's ``config``; ValueError when it was trained on other input channels."""
    version = int(config.get("inputs", 1))
    if version != INPUT_VERSION:
        raise ValueError(f"trained on input version {version}, this code builds input version {INPUT_VERSION} "
                         "(see models/refnet.py)")
    return RefRefineNet(width=int(config.get("width", 24)))


def make_checkpoint(model: RefRefineNet, config: Mapping, **meta) -> dict:
    return _make_checkpoint(model, config, fmt=CHECKPOINT_FORMAT, **meta)


def load_model(path: str | Path) -> tuple[RefRefineNet, dict]:
    """``(network in eval mode, raw checkpoint)``; one ValueError naming the file on any problem."""
    return load_network(path, fmt=CHECKPOINT_FORMAT, what="refnet", build=build_model)


def network_inputs(inputs: Mapping[str, np.ndarray], references=None) -> np.ndarray:
    """(H, W, 12) float32 network input of a coverrefs query (see the module docstring).

    ``references``: list of ``(warped, seen)`` in the query frame; default the
    retrieval pipeline's (:func:`baselines.stitching.retrieved_references`).
    """
    from baselines.stitching import compose_references, retrieved_references, single_image_fill, stitch

    refs = retrieved_references(inputs) if references is None else references
    image = inputs["image"]
    fill = single_image_fill(inputs)
    ref, seen = compose_references(refs, image.shape)
    take = inputs["mask"] & seen
    if take.any():
        ref[take] = stitch(inputs, refs, base=fill)[take]
    masks = np.stack([inputs["modal"], inputs["occluder"], inputs["amodal"]], -1).astype(np.float32)
    return np.concatenate([image, masks, fill, ref], -1).astype(np.float32)


class RefNetMethod(NetMethod):
    """Registry wrapper: builds the 12 channels, runs the network, composites into the hole."""

    name, checkpoint_name, tasks = "refnet", "refnet.pt", ("coverrefs",)

    def load(self, path: Path) -> tuple[RefRefineNet, dict]:
        return load_model(path)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        x = network_inputs(inputs)
        out = inputs["image"].copy()
        hole = inputs["mask"]
        if not hole.any():
            return out
        # Only the hole is kept, so the network runs on the hole's bounding box widened by its receptive
        # radius (RECEPTIVE_RADIUS px): every kept pixel sees exactly what it sees in the whole image
        # (zero padding only where the box meets the image border, as in the whole image).
        ys, xs = np.nonzero(hole)
        m = RECEPTIVE_RADIUS
        y0, y1 = max(int(ys.min()) - m, 0), min(int(ys.max()) + m + 1, hole.shape[0])
        x0, x1 = max(int(xs.min()) - m, 0), min(int(xs.max()) + m + 1, hole.shape[1])
        t = torch.from_numpy(np.ascontiguousarray(x[y0:y1, x0:x1].transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            y = self.model(t)[0].permute(1, 2, 0).numpy().astype(np.float32)
        box = hole[y0:y1, x0:x1]
        out[y0:y1, x0:x1][box] = y[box]
        return out
