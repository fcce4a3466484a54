"""Degradations of the fingerprints task (after ChaLearn LAP 2018, track 3).

Each degradation is a pair ``sample_NAME(rng, severity) -> params`` and
``apply_NAME(image, params) -> image``: the sample step draws every random
number (JSON-able params, recorded in ``Sample.params``), the apply step is
deterministic. Images are (H, W) float32 in [0, 1], white background, dark
ridges. ``severity`` in [0, 1] scales strengths from easy to hard.

Geometric degradations (:data:`GEOMETRIC`: rotation, elastic deformation)
are applied to the clean target as well, with the same map, so that target
and input stay pixel-aligned as in the ChaLearn data; they model pose and
skin distortion, not misregistration. They expose their sampling map
(``map_NAME(params, shape)``, for ``cv2.remap``) so that the generator can
compose them and warp the ground-truth fields (orientation, frequency, mask)
consistently. The photometric ones (:data:`PHOTOMETRIC`) make the input only.

Backgrounds are procedural textures or greyscale crops of the photographs
bundled with scikit-image (``skimage.data``; no download), multiplied in
like ink on a textured surface.
"""

from __future__ import annotations

import functools
from typing import Callable

import cv2
import numpy as np

__all__ = [
    "GEOMETRIC",
    "PHOTOMETRIC",
    "DEGRADATIONS",
    "MAPS",
    "PHOTOS",
    "sample_rotation",
    "apply_rotation",
    "map_rotation",
    "sample_elastic",
    "apply_elastic",
    "map_elastic",
    "sample_occlusion",
    "apply_occlusion",
    "sample_scratches",
    "apply_scratches",
    "sample_background",
    "apply_background",
    "render_background",
    "sample_resolution",
    "apply_resolution",
    "sample_blur",
    "apply_blur",
    "sample_contrast",
    "apply_contrast",
    "sample_brightness",
    "apply_brightness",
]

# Photographs shipped inside scikit-image's wheel (no pooch download).
PHOTOS = ("astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "grass", "gravel", "moon",
          "page", "rocket", "text", "cell", "hubble_deep_field", "immunohistochemistry")  # fmt: skip
_TEXTURES = ("noise", "stripes", "grid", "gradient")


def _f(x) -> float:
    return round(float(x), 5)


def _check(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 2:
        raise ValueError(f"degradations take (H, W) images, got {getattr(image, 'shape', type(image).__name__)}")
    return image.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------
# Geometric (applied to target and input alike)
# ---------------------------------------------------------------------------


def sample_rotation(rng: np.random.Generator, severity: float) -> dict:
    """Rotation about a point near the image centre: 2 to 2 + 10 * severity degrees, either sign."""
    angle = rng.uniform(2.0, 2.0 + 10.0 * severity) * rng.choice([-1.0, 1.0])
    return {"angle_deg": _f(angle), "centre_offset": [_f(v) for v in rng.uniform(-10, 10, 2)]}


def map_rotation(params: dict, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Sampling map of :func:`apply_rotation`: output pixel -> source coordinates."""
    h, w = shape
    cx = (w - 1) / 2.0 + params["centre_offset"][0]
    cy = (h - 1) / 2.0 + params["centre_offset"][1]
    a = np.deg2rad(params["angle_deg"])
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xs - cx, ys - cy
    # Positive angles turn the content clockwise on screen (y points down).
    return (cx + np.cos(a) * u + np.sin(a) * v).astype(np.float32), (cy - np.sin(a) * u + np.cos(a) * v).astype(np.float32)


def apply_rotation(image: np.ndarray, params: dict) -> np.ndarray:
    """Rotate ``image`` (bilinear, white outside)."""
    image = _check(image)
    return remap(image, *map_rotation(params, image.shape), border=1.0)


def sample_elastic(rng: np.random.Generator, severity: float) -> dict:
    """Smooth random displacement field (skin distortion): 1.5 to 1.5 + 5 * severity px peak."""
    return {
        "amplitude_px": _f(rng.uniform(1.5, 1.5 + 5.0 * severity)),
        "grid": np.round(rng.uniform(-1, 1, (5, 4, 2)), 4).tolist(),
    }


def map_elastic(params: dict, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Sampling map of :func:`apply_elastic`: bicubic control grid times amplitude."""
    h, w = shape
    grid = np.asarray(params["grid"], np.float32)
    disp = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    disp *= params["amplitude_px"] / max(float(np.abs(grid).max()), 1e-6)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + disp[..., 0], ys + disp[..., 1]


def apply_elastic(image: np.ndarray, params: dict) -> np.ndarray:
    """Warp ``image`` by a smooth displacement field (bilinear, white outside)."""
    image = _check(image)
    return remap(image, *map_elastic(params, image.shape), border=1.0)


def remap(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, *, border: float | None,
          interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:  # fmt: skip
    """``cv2.remap`` with a constant ``border`` value, or edge replication when None."""
    mode = cv2.BORDER_REPLICATE if border is None else cv2.BORDER_CONSTANT
    value = 0.0 if border is None else float(border)
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=mode, borderValue=value)


# ---------------------------------------------------------------------------
# Photometric (input only)
# ---------------------------------------------------------------------------


def _fill_value(rng: np.random.Generator, p_white: float) -> float:
    u = rng.uniform()
    if u < p_white:
        return 1.0
    if u < p_white + (1 - p_white) * 0.6:
        return _f(rng.uniform(0.35, 0.9))
    return _f(rng.uniform(0.0, 0.35))


def sample_occlusion(rng: np.random.Generator, severity: float) -> dict:
    """1 to 1 + 3 * severity blobs (ellipses or convex polygons), white (missing print), grey or dark."""
    shapes = []
    for _ in range(1 + int(rng.integers(0, 1 + round(3 * severity)))):
        radius = rng.uniform(12, 20 + 45 * severity)
        centre = [_f(rng.uniform(30, 245)), _f(rng.uniform(40, 360))]
        if rng.uniform() < 0.5:
            shape = {"kind": "ellipse", "centre": centre, "axes": [_f(radius), _f(radius * rng.uniform(0.4, 1.0))],
                     "angle_deg": _f(rng.uniform(0, 180))}  # fmt: skip
        else:
            k = int(rng.integers(3, 8))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = radius * rng.uniform(0.6, 1.0, k)
            pts = [[_f(centre[0] + r * np.cos(a)), _f(centre[1] + r * np.sin(a))] for a, r in zip(ang, rad)]
            shape = {"kind": "polygon", "points": pts}
        shape["value"] = _fill_value(rng, 0.5)
        shape["softness_px"] = _f(rng.uniform(0.5, 3.0))
        shapes.append(shape)
    return {"shapes": shapes}


_SUB = 4  # cv2 drawing: fixed-point coordinates with 4 fractional bits


def _pts(points) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * (1 << _SUB)).astype(np.int32)


def _paint(image: np.ndarray, cover: np.ndarray, value: float, softness: float) -> np.ndarray:
    alpha = cover.astype(np.float32) / 255.0
    if softness > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), softness)
    return image * (1.0 - alpha) + value * alpha


def apply_occlusion(image: np.ndarray, params: dict) -> np.ndarray:
    """Paint the occluding blobs over ``image`` with soft edges."""
    out = _check(image).copy()
    for s in params["shapes"]:
        cover = np.zeros(out.shape, np.uint8)
        if s["kind"] == "ellipse":
            c = tuple(int(v) for v in _pts(s["centre"]))
            axes = tuple(int(v) for v in _pts(s["axes"]))
            cv2.ellipse(cover, c, axes, s["angle_deg"], 0, 360, 255, -1, cv2.LINE_AA, _SUB)
        else:
            cv2.fillPoly(cover, [_pts(s["points"])], 255, cv2.LINE_AA, _SUB)
        out = _paint(out, cover, s["value"], s["softness_px"])
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def sample_scratches(rng: np.random.Generator, severity: float) -> dict:
    """1 to 2 + 8 * severity curved scratches (quadratic Beziers), 1-4 px wide, mostly white."""
    lines = []
    for _ in range(1 + int(rng.integers(0, 2 + round(8 * severity)))):
        p0 = rng.uniform([30, 40], [245, 360])  # starts on or near the print
        length = rng.uniform(50, 150 + 200 * severity)
        a = rng.uniform(0, 2 * np.pi)
        p2 = p0 + length * np.array([np.cos(a), np.sin(a)])
        p1 = (p0 + p2) / 2 + rng.normal(0, 0.25 * length, 2)
        lines.append({
            "points": [[_f(x), _f(y)] for x, y in (p0, p1, p2)],
            "width_px": int(rng.integers(1, 5)),
            "value": _fill_value(rng, 0.7),
        })
    return {"lines": lines}


def apply_scratches(image: np.ndarray, params: dict) -> np.ndarray:
    """Draw the scratches (antialiased polylines along each Bezier curve)."""
    out = _check(image).copy()
    t = np.linspace(0, 1, 24)[:, None]
    for line in params["lines"]:
        p0, p1, p2 = (np.asarray(p, np.float64) for p in line["points"])
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        cover = np.zeros(out.shape, np.uint8)
        cv2.polylines(cover, [_pts(curve)], False, 255, line["width_px"], cv2.LINE_AA, _SUB)
        out = _paint(out, cover, line["value"], 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    """A scikit-image sample photograph as (H, W) float32 grey in [0, 1]."""
    import skimage.data

    im = np.asarray(getattr(skimage.data, name)())
    if im.ndim == 3:
        im = cv2.cvtColor(im[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
    im = im.astype(np.float32)
    return (im / 255.0) if im.max() > 1.0 else im


def sample_background(rng: np.random.Generator, severity: float, shape: tuple[int, int] = (400, 275)) -> dict:
    """A background (photo crop or procedural texture) and its blend strength.

    The print is multiplied onto the background:
    ``out = image * (1 - strength * (1 - background))``, strength 0.25 to
    0.25 + 0.6 * severity.
    """
    h, w = shape
    p = {"strength": _f(rng.uniform(0.25, 0.25 + 0.6 * severity))}
    if rng.uniform() < 0.5:
        name = PHOTOS[int(rng.integers(len(PHOTOS)))]
        ph, pw = _photo(name).shape
        zoom = rng.uniform(0.6, 1.6)
        scale = min(1.0 / zoom, ph / h, pw / w)
        ch, cw = int(h * scale), int(w * scale)
        p.update({
            "kind": "photo",
            "photo": name,
            "crop": [int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1)), cw, ch],
            "flip": bool(rng.uniform() < 0.5),
            "invert": bool(rng.uniform() < 0.2),
        })
    else:
        kind = _TEXTURES[int(rng.integers(len(_TEXTURES)))]
        p.update({
            "kind": kind,
            "seed": int(rng.integers(0, 2**31 - 1)),
            # Stripe / grid periods stay well above the ridge period.
            "period_px": _f(rng.uniform(24, 90)),
            "angle_deg": _f(rng.uniform(0, 180)),
            "levels": sorted([_f(rng.uniform(0.0, 1.0)), _f(rng.uniform(0.0, 1.0))]),
        })
    return p


def render_background(params: dict, shape: tuple[int, int]) -> np.ndarray:
    """The (H, W) float32 background texture in [0, 1] described by ``params``."""
    h, w = shape
    kind = params["kind"]
    if kind == "photo":
        x0, y0, cw, ch = params["crop"]
        bg = cv2.resize(_photo(params["photo"])[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
        if params["flip"]:
            bg = bg[:, ::-1]
        if params["invert"]:
            bg = 1.0 - bg
        return np.ascontiguousarray(bg, dtype=np.float32)
    rng = np.random.default_rng(params["seed"])
    lo, hi = params["levels"]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.deg2rad(params["angle_deg"])
    u = xs * np.cos(a) + ys * np.sin(a)
    if kind == "noise":  # multi-octave value noise
        t = sum(0.5**k * cv2.resize(rng.uniform(-1, 1, (3 * 2**k, 2 * 2**k)).astype(np.float32), (w, h),
                                    interpolation=cv2.INTER_CUBIC) for k in range(5))  # fmt: skip
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif kind == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * u / params["period_px"] + rng.uniform(0, 2 * np.pi))
    elif kind == "grid":  # squared paper: thin dark lines every period_px
        v = -xs * np.sin(a) + ys * np.cos(a)
        period = params["period_px"]
        du, dv = u % period, v % period
        dist = np.minimum(np.minimum(du, period - du), np.minimum(dv, period - dv))
        t = 1.0 - np.clip(1.5 - dist, 0.0, 1.0)
    elif kind == "gradient":
        t = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    else:
        raise ValueError(f"unknown background kind {kind!r}; choose from {['photo', *_TEXTURES]}")
    return (lo + (hi - lo) * t).astype(np.float32)


def apply_background(image: np.ndarray, params: dict) -> np.ndarray:
    """Multiply the print onto its background."""
    image = _check(image)
    bg = render_background(params, image.shape)
    return np.clip(image * (1.0 - params["strength"] * (1.0 - bg)), 0.0, 1.0).astype(np.float32)


def sample_resolution(rng: np.random.Generator, severity: float) -> dict:
    """Downsampling factor 1.5 to 1.5 + 2.5 * severity (area), then bilinear back up."""
    return {"factor": _f(rng.uniform(1.5, 1.5 + 2.5 * severity))}


def apply_resolution(image: np.ndarray, params: dict) -> np.ndarray:
    """Lose resolution: area-downsample by ``factor``, bilinear upsample to the original size."""
    image = _check(image)
    h, w = image.shape
    f = params["factor"]
    small = cv2.resize(image, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0).astype(np.float32)


def sample_blur(rng: np.random.Generator, severity: float) -> dict:
    """Gaussian blur, sigma 0.6 to 0.6 + 1.8 * severity px."""
    return {"sigma_px": _f(rng.uniform(0.6, 0.6 + 1.8 * severity))}


def apply_blur(image: np.ndarray, params: dict) -> np.ndarray:
    """Gaussian blur with ``sigma_px`` (reflected borders)."""
    return cv2.GaussianBlur(_check(image), (0, 0), params["sigma_px"])


def sample_contrast(rng: np.random.Generator, severity: float) -> dict:
    """Contrast factor around 0.5: reduced to 0.9 .. 0.9 - 0.55 * severity, or raised to 1.1-1.4 (1 in 5)."""
    if rng.uniform() < 0.2:
        return {"factor": _f(rng.uniform(1.1, 1.4))}
    return {"factor": _f(rng.uniform(0.9 - 0.55 * severity, 0.9))}


def apply_contrast(image: np.ndarray, params: dict) -> np.ndarray:
    """``0.5 + factor * (image - 0.5)``, clipped."""
    return np.clip(0.5 + params["factor"] * (_check(image) - 0.5), 0.0, 1.0).astype(np.float32)


def sample_brightness(rng: np.random.Generator, severity: float) -> dict:
    """Additive offset of 0.04 to 0.04 + 0.25 * severity, either sign."""
    return {"offset": _f(rng.uniform(0.04, 0.04 + 0.25 * severity) * rng.choice([-1.0, 1.0]))}


def apply_brightness(image: np.ndarray, params: dict) -> np.ndarray:
    """``image + offset``, clipped."""
    return np.clip(_check(image) + params["offset"], 0.0, 1.0).astype(np.float32)


# Name -> (sample, apply), in the order the generator applies them.
GEOMETRIC: dict[str, tuple[Callable, Callable]] = {
    "rotation": (sample_rotation, apply_rotation),
    "elastic": (sample_elastic, apply_elastic),
}
PHOTOMETRIC: dict[str, tuple[Callable, Callable]] = {
    "occlusion": (sample_occlusion, apply_occlusion),
    "scratches": (sample_scratches, apply_scratches),
    "background": (sample_background, apply_background),
    "resolution": (sample_resolution, apply_resolution),
    "blur": (sample_blur, apply_blur),
    "contrast": (sample_contrast, apply_contrast),
    "brightness": (sample_brightness, apply_brightness),
}
DEGRADATIONS: dict[str, tuple[Callable, Callable]] = {**GEOMETRIC, **PHOTOMETRIC}
# Sampling maps of the geometric degradations, composed by the generator.
MAPS: dict[str, Callable] = {"rotation": map_rotation, "elastic": map_elastic}
