"""Video decaptioning networks: the ChaLearn organisers' autoencoder baseline
and a gated spatio-temporal U-Net.

``CaptionAutoencoder`` (after the challenge's "baseline 1", B1, a lighter
variant): a VGG-like convolutional autoencoder without skip connections,
frame by frame: three stages of two 3x3 conv + ReLU followed by 2x2
max-pooling (32, 64, 128 channels; 1/8 resolution), a 3x3 conv bottleneck,
and a mirrored decoder of bilinear upsampling + two 3x3 convs; sigmoid
output; trained with MSE. The organisers' B1 (chalearnlap.cvc.uab.es,
challenge 26, track 31, "Baseline") has 64/128/256 filters with batch
normalisation, four decoder blocks and 256x256 frames; their B2, 32x32
patches through a lighter patch autoencoder trained jointly with a
text-patch classifier, non-text patches copied to the output, is not
implemented here. The model card says which one the challenge's results
table scores.

``GatedVideoUNet`` (in the style of the winning entries: gated convolutions,
Yu et al. 2019, and temporal context): input a window of ``window`` (5)
frames centred on the frame to restore, (B, 3, 5, H, W). Two 3-D gated
convolutions (3x3x3, no temporal padding) reduce the window 5 -> 3 -> 1 while
the second halves the resolution; a 2-D gated U-Net follows (1/4
resolution, two dilated gated blocks, dilation 2 and 4; bilinear upsampling
with skips from both 3-D layers, the first one's middle-frame slice). A
gated convolution is ``phi(conv_f(x)) * sigmoid(conv_g(x))`` (ELU for phi),
so the network learns where to act. Heads: an RGB image and a soft caption
mask ``m``; the output is ``x_t + m (y - x_t)`` with ``m = clamp(1.2 s - 0.1,
0, 1)`` of a sigmoid ``s``, exactly 0 where the network is sure there is no
caption, so such pixels pass through bit-exactly. At inference (eval mode)
``m`` is further kept only where the 3x3 maximum of ``s`` exceeds 0.7 and
only in frames where that region covers at least 60 pixels per 128x128
(0.37 %), so caption-free frames come out bit-identical to the input: the
capped per-frame PSNR (the task's ``psnr_frame``, the headline when this
gate was added) gives such frames 100 dB and punishes any stray change
there. Loss: L1 + 0.5 L1 of
gradients + 0.2 (1 - SSIM) on the frame, + 0.2 BCE of the mask logits
against the caption mask (ground truth is used in training only).

Checkpoints: format ``restorebench.decaption/1`` (config: arch, width,
window; model; meta); :mod:`models.train_decaption` trains both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.kit import NetMethod, bf16_native, load_network, save_checkpoint
from models.kit import make_checkpoint as _make_checkpoint

__all__ = ["CaptionAutoencoder", "GatedVideoUNet", "build_model", "load_model", "make_checkpoint",
           "save_checkpoint", "restore_video", "AutoencoderMethod", "GatedUNetMethod", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "restorebench.decaption/1"


class CaptionAutoencoder(nn.Module):
    """VGG-like autoencoder without skips (after ChaLearn 2018 track 2 baseline 1, lighter)."""

    window = 1

    def __init__(self, width: int = 32):
        super().__init__()
        w = int(width)

        def stage(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1),
                    nn.ReLU(inplace=True)]

        self.encoder = nn.Sequential(*stage(3, w), nn.MaxPool2d(2), *stage(w, 2 * w), nn.MaxPool2d(2),
                                     *stage(2 * w, 4 * w), nn.MaxPool2d(2),
                                     nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU(inplace=True))
        up = lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        self.decoder = nn.Sequential(up(), *stage(4 * w, 2 * w), up(), *stage(2 * w, w), up(), *stage(w, w),
                                     nn.Conv2d(w, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, 1, H, W) or (B, 3, H, W) in [0, 1], H, W multiples of 8 -> {"image"}."""
        if x.ndim == 5:
            x = x[:, :, x.shape[2] // 2]
        return {"image": torch.sigmoid(self.decoder(self.encoder(x)))}


class _FoldedConv3d(nn.Conv3d):
    """A Conv3d without temporal padding, stride or dilation, computed as one 2-D convolution: each
    output slot's ``kt`` input frames are stacked as channels (``C * kt``), the weight reshaped to match.

    The same function, parameters and state-dict keys as :class:`torch.nn.Conv3d` (outputs equal to
    float32 rounding, a different summation order). Why: PyTorch sends a 3-input-channel Conv3d to its
    reference kernel (``slow_conv3d``) on the CPU, but the folded 2-D convolution to oneDNN: the gated
    U-Net's first layer, (1, 3, 8, 128, 128) in, 16 out, 27.5 -> 5.6 ms in float32 on the AVX2 EPYC, one
    thread, idle; a 125-frame clip 5.6-6.3 -> 4.5-4.6 s (the reference kernel was 35 % of it). Only worth
    it for few input channels: the second layer (16 in, already oneDNN) is slower folded (7.9 -> 18 ms),
    so it stays a Conv3d.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if (self.stride[0] != 1 or self.padding[0] != 0 or self.dilation != (1, 1, 1) or self.groups != 1
                or self.padding_mode != "zeros"):
            raise ValueError("_FoldedConv3d takes no temporal stride, padding or dilation, no groups, zero padding only")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kt = self.kernel_size[0]
        b, c, t, h, w = x.shape
        slots = t - kt + 1
        stacked = x.unfold(2, kt, 1).permute(0, 2, 1, 5, 3, 4).reshape(b * slots, c * kt, h, w)
        y = F.conv2d(stacked.contiguous(memory_format=torch.channels_last),
                     self.weight.reshape(self.out_channels, c * kt, *self.kernel_size[1:]), self.bias,
                     stride=self.stride[1:], padding=self.padding[1:])
        return y.reshape(b, slots, *y.shape[1:]).transpose(1, 2)


class _Gated(nn.Module):
    def __init__(self, conv: type, cin: int, cout: int, k, stride=1, padding=0, dilation=1):
        super().__init__()
        self.f = conv(cin, cout, k, stride=stride, padding=padding, dilation=dilation)
        self.g = conv(cin, cout, k, stride=stride, padding=padding, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.f(x)) * torch.sigmoid(self.g(x))


class GatedVideoUNet(nn.Module):
    """Gated spatio-temporal U-Net predicting the middle frame of a window."""

    CONFIDENT = 0.7
    MIN_AREA = 60 / 128**2  # fraction of the frame (60 pixels at 128x128)

    def __init__(self, width: int = 16, window: int = 5):
        super().__init__()
        if window != 5:
            raise ValueError("GatedVideoUNet is built for a window of 5 frames")
        w = int(width)
        self.window = 5
        self.t1 = _Gated(_FoldedConv3d, 3, w, (3, 3, 3), padding=(0, 1, 1))  # T 5 -> 3, full res
        self.t2 = _Gated(nn.Conv3d, w, 2 * w, (3, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))  # T 3 -> 1, 1/2
        self.down = _Gated(nn.Conv2d, 2 * w, 4 * w, 3, stride=2, padding=1)  # 1/4
        self.mid = nn.ModuleList([_Gated(nn.Conv2d, 4 * w, 4 * w, 3, padding=d, dilation=d) for d in (2, 4)])
        self.up2 = _Gated(nn.Conv2d, 6 * w, 2 * w, 3, padding=1)
        self.up1 = _Gated(nn.Conv2d, 3 * w + 3, w, 3, padding=1)
        self.head = nn.Conv2d(w, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, 5, H, W) in [0, 1], H, W multiples of 4 -> {"image", "mask_logit"} for the middle frame."""
        return self.forward_from_first_layer(x, self.t1(2 * x - 1))

    def first_layer_of_windows(self, video: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """``t1(2 x - 1)`` of the windows centred on ``frames`` (consecutive indices into the (T, 3, H, W)
        ``video``, edges replicated as :func:`windows` does), (F, w, 3, H, W).

        Neighbouring windows share frame triples, and ``t1`` (no temporal padding) maps each triple to
        one of its three output slots: it runs once over the frames the windows span, as one sequence,
        and each window takes its three consecutive slots (a third of the work of one run per window;
        the same values, bit for bit, as ``self.t1`` of :func:`windows`).
        """
        t, lo, hi = video.shape[0], int(frames[0]), int(frames[-1])
        if not torch.equal(frames, torch.arange(lo, hi + 1)):
            raise ValueError("frames must be consecutive")
        span = torch.clamp(torch.arange(lo - 2, hi + 3), 0, t - 1)
        a = self.t1(2 * video[span].permute(1, 0, 2, 3)[None] - 1)[0]  # (w, F + 2, H, W): slot j is span[j..j+2]
        return torch.stack([a[:, j : j + 3] for j in range(hi - lo + 1)])

    def forward_from_first_layer(self, x: torch.Tensor, a: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`forward` of the windows ``x`` given their first layer's output ``a = t1(2 x - 1)``."""
        mid = x[:, :, 2]
        b = self.t2(a)[:, :, 0]  # (B, 2w, H/2, W/2)
        c = self.down(b)
        for blk in self.mid:
            c = c + blk(c)
        up = lambda u, ref: F.interpolate(u, size=ref.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        d = self.up2(torch.cat([up(c, b), b], 1))
        e = self.up1(torch.cat([up(d, mid), a[:, :, 1], mid], 1))
        o = self.head(e)
        s = torch.sigmoid(o[:, 3:4])
        m = torch.clamp(1.2 * s - 0.1, 0, 1)
        if not self.training:
            # Inference: act only where the mask head is confident (3x3 max of s > 0.7) and only in frames
            # where that region covers at least MIN_AREA of the frame, so caption-free frames and pixels
            # pass through bit-exactly (the per-frame metrics reward exactly that).
            hard = F.max_pool2d(s, 3, 1, 1) > self.CONFIDENT
            enough = hard.flatten(1).float().mean(1) >= self.MIN_AREA
            m = torch.where(hard & enough[:, None, None, None], m, torch.zeros_like(m))
        y = torch.sigmoid(o[:, :3])
        return {"image": mid + m * (y - mid), "mask_logit": o[:, 3:4]}


ARCHS = {"autoencoder": CaptionAutoencoder, "gated": GatedVideoUNet}


def build_model(config: Mapping) -> nn.Module:
    arch = config["arch"]
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}")
    kw = {"width": int(config["width"])}
    if arch == "gated":
        kw["window"] = int(config.get("window", 5))
    return ARCHS[arch](**kw)


def make_checkpoint(model: nn.Module, config: Mapping, **meta) -> dict:
    return _make_checkpoint(model, config, fmt=CHECKPOINT_FORMAT, **meta)


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """``(model in eval mode, raw checkpoint)``; ValueError naming the file on any problem."""
    return load_network(path, fmt=CHECKPOINT_FORMAT, what="decaptioning-network", build=build_model)


def windows(video: torch.Tensor, window: int, frames: torch.Tensor | None = None) -> torch.Tensor:
    """(T, 3, H, W) -> (F, 3, window, H, W): the frames around each of ``frames`` (default all T), edges
    replicated."""
    t = video.shape[0]
    r = window // 2
    centre = torch.arange(t) if frames is None else frames
    idx = torch.clamp(centre[:, None] + torch.arange(-r, r + 1)[None], 0, t - 1)
    return video[idx].permute(0, 2, 1, 3, 4)


def restore_video(model: nn.Module, video: np.ndarray, *, batch: int | None = None) -> np.ndarray:
    """Run ``model`` over every frame of a (T, H, W, 3) float32 clip; same shape out.

    Inference runs under bf16 autocast (the precision the networks were trained in) where the CPU has
    oneDNN's bf16 kernels, in float32 elsewhere (:func:`models.kit.bf16_native`: emulated bf16 is ~70x
    slower on an AVX2-only CPU), ``batch`` windows at a time (default 16 for the autoencoder; 4 for the
    gated network, whose first layer runs once per batch over the frames its windows span,
    :meth:`GatedVideoUNet.first_layer_of_windows`: on the 2-core reference CPU 4 is about 25 % faster than
    16 windows of the first layer each, with the same output bits in bf16, to float32 rounding in
    float32), 2-D networks in channels-last layout; the output is float32 in [0, 1]. The gated
    network's pass-through (``x + m (y - x)`` with ``m = 0``) stays bit-exact: the blend is computed in
    float32.
    """
    t, h, w, _ = video.shape
    mult = 8 if isinstance(model, CaptionAutoencoder) else 4
    ph, pw = (-h) % mult, (-w) % mult
    x = torch.from_numpy(np.ascontiguousarray(video.transpose(0, 3, 1, 2))).float()
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    flat = model.window == 1
    gated = isinstance(model, GatedVideoUNet)
    batch = batch or (4 if gated else 16)
    out = np.empty_like(video)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_native()):
        for s in range(0, t, batch):
            idx = torch.arange(s, min(t, s + batch))
            win = x[idx].contiguous(memory_format=torch.channels_last) if flat else windows(x, model.window, idx)
            if gated:
                y = model.forward_from_first_layer(win, model.first_layer_of_windows(x, idx))["image"]
            else:
                y = model(win)["image"]
            y = y.float()[..., :h, :w].clamp(0, 1)
            out[s : s + len(idx)] = y.permute(0, 2, 3, 1).numpy()
    return out


class _DecaptionMethod(NetMethod):
    tasks = ("captions",)
    inference_dtype = "bfloat16"  # restore_video runs under bf16 autocast (float32 where not bf16_native())

    def load(self, path: Path) -> tuple[nn.Module, dict]:
        model, ckpt = load_model(path)
        return (model.to(memory_format=torch.channels_last) if model.window == 1 else model), ckpt

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        v = inputs["video"]
        if not isinstance(v, np.ndarray) or v.ndim != 4 or v.shape[3] != 3:
            raise ValueError(f"video: expected (T, H, W, 3), got {getattr(v, 'shape', type(v).__name__)}")
        return restore_video(self.model, v.astype(np.float32, copy=False))


class AutoencoderMethod(_DecaptionMethod):
    """The ChaLearn organisers' autoencoder baseline (trained here, shipped)."""

    name, checkpoint_name = "chalearn-autoencoder", "decaption_autoencoder.pt"


class GatedUNetMethod(_DecaptionMethod):
    """Gated spatio-temporal U-Net (5-frame window)."""

    name, checkpoint_name = "gated-video-unet", "decaption_gated.pt"
