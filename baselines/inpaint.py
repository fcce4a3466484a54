"""Single-image inpainting baselines: OpenCV's Telea and "NS", nearest fill, label maps.

Inputs follow the suite's convention: an ``(H, W, C)`` float32 image in
[0, 1] and an ``(H, W)`` bool mask, True where a pixel is missing. Every
function returns a new array in which the unmasked pixels are bit-for-bit the
input's; only masked pixels are written (and clipped to [0, 1]). An empty
mask returns a copy; a fully masked image raises ``ValueError`` (there is
nothing to propagate from).

What the OpenCV methods actually are
------------------------------------
``cv2.inpaint`` (OpenCV 4.10, ``modules/photo/src/inpaint.cpp``) offers two
flags, and both are *single-pass* fast-marching methods: the hole is filled
once, pixel by pixel, in order of increasing distance to its boundary (the
fast marching method of Sethian 1996, as Telea uses it), and every new pixel
is a weighted average of the already known pixels within ``radius`` of it.

* ``INPAINT_TELEA`` is Telea, "An image inpainting technique based on the
  fast marching method", J. Graphics Tools 2004: weights combine a distance
  term, a level-set term and the alignment of the offset with the normal of
  the marching front. OpenCV replaces Telea's first-order gradient
  correction by a *normalised* term ``(Jx + Jy) / |J|``, which has magnitude
  up to sqrt(2) in intensity units whatever the data range (on a constant
  8-bit image of value 94 we saw filled pixels between 93 and 97; on a
  constant float32 image in [0, 1], errors of order 1).
* ``INPAINT_NS`` is named after Bertalmio, Bertozzi & Sapiro, "Navier-Stokes,
  fluid dynamics, and image and video inpainting", CVPR 2001, but it is *not*
  their method: there is no iterative PDE, no vorticity transport and no
  Poisson solve. It uses the same fast-marching order, and weights each known
  neighbour by ``1 / (|r|^2 + 1)`` times ``|cos|`` of the angle between the
  offset ``r`` and a direction built from *absolute* finite differences of
  the image (meant to follow the isophotes, the idea borrowed from
  Bertalmio et al.; pairs with ``|r . g| <= 0.01`` in intensity units get a
  near-zero weight).

Float handling: ``cv2.inpaint`` accepts 8-bit 1- or 3-channel images but
float32 only with one channel. We never quantise to 8 bits: each channel is
inpainted separately as float32 (the fast-marching order depends only on the
mask, so this is the same computation OpenCV does on 3-channel 8-bit input,
channel by channel) on a scaled copy ``x * S``:

* NS: ``S = 255``, so that its absolute 0.01 threshold means what it means
  on the 8-bit images the code was written for;
* Telea: ``S = 65535``, which shrinks OpenCV's normalised extra term to at
  most ``sqrt(2)/65535 ~ 2.2e-5`` on the [0, 1] scale (at ``S = 1`` it would
  add errors of order 1).

``radius`` is the neighbourhood radius in pixels (OpenCV's
``inpaintRadius``); default 3 as in OpenCV's own samples.

Nearest-neighbour fill gives every masked pixel the value of the closest
unmasked pixel in Euclidean distance (``scipy.ndimage.distance_transform_edt``
with ``return_indices``; ties are broken by scipy's scan order,
deterministically).

Label maps
----------
:func:`inpaint_labels` inpaints an ``(H, W)`` int32 label map: the labels
present among the unmasked pixels are one-hot encoded (one float32 channel
per label), the channels are inpainted by the chosen method, and each masked
pixel takes the label of the largest channel (ties: the smallest label).
The output therefore only contains labels present in the unmasked input. For
the OpenCV methods only labels within ``radius + 2`` pixels of the hole can
propagate into it, so only those are encoded; nearest fill copies labels
directly (no encoding). Label variants are registered as separate methods
("telea-labels", ...) declaring the ``"labels+mask"`` input kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import cv2
import numpy as np
import scipy.ndimage

from baselines.patchmatch import fill_channels_patchmatch
from generators.task import check_image, check_mask

__all__ = [
    "inpaint_telea",
    "inpaint_navier_stokes",
    "inpaint_nearest",
    "inpaint_labels",
    "TeleaInpainting",
    "NavierStokesInpainting",
    "NearestInpainting",
    "LabelInpainting",
]

RADIUS = 3
_SCALE_NS = 255.0
_SCALE_TELEA = 65535.0


def _check_inpainting(image: np.ndarray, mask: np.ndarray) -> None:
    check_image(image)
    check_mask(mask, image.shape)
    if mask.all():
        raise ValueError("mask: every pixel is masked; inpainting needs at least one known pixel")


def _check_radius(radius: float) -> None:
    if not 1 <= radius <= 100:
        raise ValueError(f"radius must lie in [1, 100] pixels (OpenCV's range), got {radius}")


def _fill_opencv(x: np.ndarray, mask: np.ndarray, *, radius: float, flag: int, scale: float) -> np.ndarray:
    """Channel-by-channel float32 ``cv2.inpaint`` of ``x`` (H, W, K); see module docstring."""
    mask8 = mask.astype(np.uint8)
    out = x.copy()
    for k in range(x.shape[2]):
        chan = np.ascontiguousarray(x[..., k]) * np.float32(scale)
        filled = cv2.inpaint(chan, mask8, float(radius), flag)
        out[..., k][mask] = np.clip(filled[mask] / np.float32(scale), 0.0, 1.0)
    return out


def _fill_telea(x: np.ndarray, mask: np.ndarray, *, radius: float = RADIUS) -> np.ndarray:
    return _fill_opencv(x, mask, radius=radius, flag=cv2.INPAINT_TELEA, scale=_SCALE_TELEA)


def _fill_navier_stokes(x: np.ndarray, mask: np.ndarray, *, radius: float = RADIUS) -> np.ndarray:
    return _fill_opencv(x, mask, radius=radius, flag=cv2.INPAINT_NS, scale=_SCALE_NS)


def _nearest_indices(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = scipy.ndimage.distance_transform_edt(mask, return_distances=False, return_indices=True)
    return idx[0][mask], idx[1][mask]


def _fill_nearest(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = x.copy()
    iy, ix = _nearest_indices(mask)
    out[mask] = x[iy, ix]
    return out


def inpaint_telea(image: np.ndarray, mask: np.ndarray, *, radius: float = RADIUS) -> np.ndarray:
    """Telea 2004 fast-marching inpainting via ``cv2.inpaint(..., INPAINT_TELEA)``.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float32 in [0, 1]
    mask : ndarray, shape (H, W), bool
        True where the pixel is missing.
    radius : float
        Neighbourhood radius in pixels, in [1, 100].

    Returns
    -------
    ndarray, shape (H, W, C), float32 in [0, 1]
        Unmasked pixels equal ``image`` exactly. Computed in float32 on the
        image scaled by 65535 (no 8-bit quantisation; see module docstring).
    """
    _check_inpainting(image, mask)
    _check_radius(radius)
    if not mask.any():
        return image.copy()
    return _fill_telea(image, mask, radius=radius)


def inpaint_navier_stokes(image: np.ndarray, mask: np.ndarray, *, radius: float = RADIUS) -> np.ndarray:
    """OpenCV's ``INPAINT_NS``: fast marching with isophote-aligned weights.

    Not Bertalmio et al.'s iterative Navier-Stokes PDE (see module
    docstring for what OpenCV computes).

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float32 in [0, 1]
    mask : ndarray, shape (H, W), bool
        True where the pixel is missing.
    radius : float
        Neighbourhood radius in pixels, in [1, 100].

    Returns
    -------
    ndarray, shape (H, W, C), float32 in [0, 1]
        Unmasked pixels equal ``image`` exactly. Computed in float32 on the
        image scaled by 255 (no quantisation).
    """
    _check_inpainting(image, mask)
    _check_radius(radius)
    if not mask.any():
        return image.copy()
    return _fill_navier_stokes(image, mask, radius=radius)


def inpaint_nearest(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Give every masked pixel the value of the closest unmasked pixel.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float32 in [0, 1]
    mask : ndarray, shape (H, W), bool
        True where the pixel is missing.

    Returns
    -------
    ndarray, shape (H, W, C), float32 in [0, 1]
    """
    _check_inpainting(image, mask)
    if not mask.any():
        return image.copy()
    return _fill_nearest(image, mask)


def _check_labels(labels: np.ndarray, mask: np.ndarray) -> None:
    if not isinstance(labels, np.ndarray) or labels.dtype not in (np.uint8, np.int32):
        raise ValueError(f"labels: expected a uint8 or int32 numpy array, got {getattr(labels, 'dtype', type(labels))}")
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(f"labels: expected a non-empty (H, W) array, got shape {labels.shape}")
    check_mask(mask, labels.shape)
    if mask.all():
        raise ValueError("mask: every pixel is masked; inpainting needs at least one known pixel")


# Channel-generic fills: fill(x (H, W, K) float32, mask) -> (H, W, K).
_LABEL_FILLS: dict[str, Callable[..., np.ndarray]] = {
    "telea": _fill_telea,
    "navier-stokes": _fill_navier_stokes,
    "patchmatch": fill_channels_patchmatch,
}


def inpaint_labels(labels: np.ndarray, mask: np.ndarray, *, method: str = "nearest", **options: Any) -> np.ndarray:
    """Inpaint a label map by one-hot encoding, channel inpainting and argmax.

    Parameters
    ----------
    labels : ndarray, shape (H, W), uint8 or int32
    mask : ndarray, shape (H, W), bool
        True where the label is missing (the values there are ignored).
    method : {"nearest", "telea", "navier-stokes", "patchmatch"}
        How the one-hot channels are filled. "nearest" copies the label of the
        closest known pixel directly.
    **options
        Keyword arguments of the fill (``radius`` for the OpenCV methods;
        ``rng`` (required), ``patch_size`` ... for PatchMatch, see
        :func:`baselines.patchmatch.fill_channels_patchmatch`).

    Returns
    -------
    ndarray, shape (H, W), the dtype of ``labels``
        Unmasked labels unchanged; masked ones drawn from the labels present
        among the unmasked pixels.
    """
    _check_labels(labels, mask)
    if method != "nearest" and method not in _LABEL_FILLS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(['nearest', *_LABEL_FILLS])}")
    if "radius" in options:
        _check_radius(options["radius"])
    out = labels.copy()
    if not mask.any():
        return out
    if method == "nearest":
        iy, ix = _nearest_indices(mask)
        out[mask] = labels[iy, ix]
        return out
    if method == "patchmatch":
        candidates = np.unique(labels[~mask])
    else:
        # Fast marching only ever averages known pixels within `radius` of
        # pixels it fills, so labels farther from the hole cannot win.
        reach = int(np.ceil(options.get("radius", RADIUS))) + 2
        square = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
        band = cv2.dilate(mask.astype(np.uint8), square).astype(bool) & ~mask
        candidates = np.unique(labels[band])
    if candidates.size == 1:
        out[mask] = candidates[0]
        return out
    onehot = (labels[..., None] == candidates).astype(np.float32)
    filled = _LABEL_FILLS[method](onehot, mask, **options)
    out[mask] = candidates[np.argmax(filled[mask], axis=1)]
    return out


@dataclass(frozen=True)
class TeleaInpainting:
    """Registry wrapper for :func:`inpaint_telea`."""

    name: str = "telea"
    tasks: tuple[str, ...] = ("image+mask",)
    radius: float = RADIUS

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return inpaint_telea(inputs["image"], inputs["mask"], radius=self.radius)


@dataclass(frozen=True)
class NavierStokesInpainting:
    """Registry wrapper for :func:`inpaint_navier_stokes`."""

    name: str = "navier-stokes"
    tasks: tuple[str, ...] = ("image+mask",)
    radius: float = RADIUS

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return inpaint_navier_stokes(inputs["image"], inputs["mask"], radius=self.radius)


@dataclass(frozen=True)
class NearestInpainting:
    """Registry wrapper for :func:`inpaint_nearest`."""

    name: str = "nearest"
    tasks: tuple[str, ...] = ("image+mask",)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return inpaint_nearest(inputs["image"], inputs["mask"])


@dataclass(frozen=True)
class LabelInpainting:
    """Registry wrapper for :func:`inpaint_labels` with a fixed method.

    ``options`` is a tuple of ``(keyword, value)`` pairs (hashable, so the
    dataclass stays frozen), e.g. ``(("radius", 3),)``. When ``seed`` is not
    None, every call passes ``rng=numpy.random.default_rng(seed)`` (for the
    randomised PatchMatch), so ``restore`` is deterministic.
    """

    name: str
    method: str
    options: tuple[tuple[str, Any], ...] = ()
    seed: int | None = None
    tasks: tuple[str, ...] = ("labels+mask",)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        options = dict(self.options)
        if self.seed is not None:
            options["rng"] = np.random.default_rng(self.seed)
        return inpaint_labels(inputs["labels"], inputs["mask"], method=self.method, **options)

