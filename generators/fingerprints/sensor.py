"""Degradations of the ``sensor`` preset: what live-scan captures of real fingers show.

The ChaLearn preset (:mod:`generators.fingerprints.degrade`) damages a print
with global, orientation-preserving operations. Real poor-quality captures
from optical and capacitive sensors fail differently (Maltoni et al.,
Handbook of Fingerprint Recognition, 2nd ed., secs. 2.3-2.5 and 3.6;
Cappelli, Maio & Maltoni 2001 for skin distortion; Ashbaugh 1999 for
pores and incipient ridges). Formation model of a capture, in order:

1. *distortion* (geometric, warps target and ground truth too): plastic skin
   distortion, Cappelli et al. (2001), eq. 3: a close-contact disc of radius
   ``r`` stays put, outside it points follow a rigid motion ``T`` (rotation
   about the disc centre, translation) through the brake
   ``b(d) = 1 - exp(-d^2 / (2 k^2))`` of their distance ``d`` to the disc;
2. *pressure*: a smooth map ``d(x)`` in about [-1, 1] of too little (dry,
   < 0) or too much (wet, > 0) pressure and moisture. Dry skin thins the
   ridges (the ink threshold rises by ``-d``) and breaks them (fine-grained
   dropout); wet skin widens them (the threshold falls by ``d``) until
   neighbouring ridges merge, and leaves dark moisture blotches;
3. *incipient*: thin, faint, fragmented ridges along the valley centres;
4. *creases*: flexion creases, thin white curves (1.5-4 px) mostly across the
   finger; *scars*: wide white curves with a blotchy border;
5. *contact*: the irregular area that touched the sensor, a thresholded
   smooth random field plus a half-plane (finger placed off the platen);
   outside it there is no ridge at all;
6. *latent*: the residue of an earlier finger on the platen, a faint foreign
   ridge pattern (another orientation, curved lines of the same period) over
   a blob-shaped area;
7. *smudge*: a blob-shaped area smeared along one direction (a slip);
8. *valleys*: the grey level of the image: valleys and background are not
   white but a smooth, noisy grey (``valley`` level), ridges not black
   (``ridge`` level), optical (light background) or capacitive (mid-grey,
   row/column banding in *noise*);
9. *blur* (optics / electrode pitch), *noise* (Gaussian read noise, banding,
   dust specks) and *jpeg* (``cv2.imencode`` at ``quality``).

Steps 2-7 act on *ink* (0 white, 1 full ridge), 8 turns ink into grey
levels, 9 acts on the image. Every step is a ``sample_NAME(rng, severity)``
that draws all of its random numbers (JSON-able params) and an
``apply_NAME(x, params, ctx)`` that is deterministic and returns the new
``x`` and a per-pixel *damage* map in [0, 1] (0 untouched, 1 no ridge
information left). The quality map of a sample is
``prod_k (1 - damage_k)`` inside the fingerprint area, 0 outside.
``severity`` in [0, 1] scales the strengths from easy (0: a good capture
with grey valleys, mild noise, pressure variation and light JPEG) to very
hard (1: a dry or wet, partial, creased, smudged capture with a latent over
it, heavy noise and JPEG quality 15-35).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

__all__ = [
    "Context",
    "GEOMETRIC",
    "INK",
    "IMAGE",
    "STEPS",
    "P_ACTIVE",
    "sample_distortion",
    "map_distortion",
    "sample_pressure",
    "apply_pressure",
    "sample_incipient",
    "apply_incipient",
    "sample_creases",
    "apply_creases",
    "sample_scars",
    "apply_scars",
    "sample_contact",
    "apply_contact",
    "sample_latent",
    "apply_latent",
    "sample_smudge",
    "apply_smudge",
    "sample_valleys",
    "apply_valleys",
    "sample_blur",
    "apply_blur",
    "sample_noise",
    "apply_noise",
    "sample_jpeg",
    "apply_jpeg",
]

_SUB = 4  # cv2 drawing: fixed-point coordinates with 4 fractional bits


@dataclass(frozen=True)
class Context:
    """What the capture steps may read besides the image (all (H, W), aligned with the target).

    Attributes
    ----------
    ridge : ndarray, float32
        Signed ridge field of the clean print (ridge where > 0; about -1.5
        at valley centres, +1 at ridge centres).
    mask : ndarray, bool
        Fingerprint area.
    softness : float
        Width of the ink edge in ridge-field units (the master's impression).
    skin : ndarray, float32 in [0, 1]
        Where there is finger to print: the mask, feathered (steps that add
        ink, such as wet pressure, stay on the finger).
    """

    ridge: np.ndarray
    mask: np.ndarray
    softness: float
    skin: np.ndarray


def _f(x) -> float:
    return round(float(x), 5)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _field(seed: int, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Smooth random field in [-1, 1] from a seed: random control grid (rows, cols), bicubic."""
    grid = np.random.default_rng(seed).uniform(-1, 1, cells).astype(np.float32)
    return np.clip(cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), -1.0, 1.0)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _pts(points) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * (1 << _SUB)).astype(np.int32)


def _bezier(p0, p1, p2, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _sample_curve(rng: np.random.Generator, length: tuple[float, float], angle: float, bend: float) -> list:
    mid = rng.uniform([50, 70], [225, 330])  # on the print
    n = rng.uniform(*length)
    half = 0.5 * n * np.array([np.cos(angle), np.sin(angle)])
    p0, p2 = mid - half, mid + half
    p1 = mid + rng.normal(0, bend * n, 2)
    return [[_f(x), _f(y)] for x, y in (p0, p1, p2)]


def _blob(params: dict, shape: tuple[int, int]) -> np.ndarray:
    """Soft irregular blob in [0, 1]: an ellipse whose radius is modulated by a smooth field."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = params["centre"]
    a = np.deg2rad(params["angle_deg"])
    u, v = xs - cx, ys - cy
    ru = (np.cos(a) * u + np.sin(a) * v) / params["axes"][0]
    rv = (-np.sin(a) * u + np.cos(a) * v) / params["axes"][1]
    r = np.sqrt(ru * ru + rv * rv) + 0.35 * _field(params["seed"], shape, (6, 4))
    return _smoothstep((1.0 - r) / 0.3)


def _sample_blob(rng: np.random.Generator, radius: tuple[float, float]) -> dict:
    r = rng.uniform(*radius)
    return {"centre": [_f(rng.uniform(40, 235)), _f(rng.uniform(60, 340))], "axes": [_f(r), _f(r * rng.uniform(0.5, 1.0))],
            "angle_deg": _f(rng.uniform(0, 180)), "seed": _seed(rng)}  # fmt: skip


# ---------------------------------------------------------------------------
# Geometric (applied to target, ground truth and input alike)
# ---------------------------------------------------------------------------


def sample_distortion(rng: np.random.Generator, severity: float) -> dict:
    """Plastic skin distortion: rotation 1-(1 + 5 * severity) degrees and translation 1-(1 + 7 * severity) px
    outside a close-contact disc of radius 30-70 px, brake width k 40-100 px."""
    angle = rng.uniform(1.0, 1.0 + 5.0 * severity) * rng.choice([-1.0, 1.0])
    shift = rng.uniform(1.0, 1.0 + 7.0 * severity)
    direction = rng.uniform(0, 2 * np.pi)
    return {
        "centre": [_f(rng.uniform(107, 167)), _f(rng.uniform(150, 250))],
        "radius_px": _f(rng.uniform(30, 70)),
        "brake_px": _f(rng.uniform(40, 100)),
        "angle_deg": _f(angle),
        "shift_px": [_f(shift * np.cos(direction)), _f(shift * np.sin(direction))],
    }


def map_distortion(params: dict, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Sampling map of the plastic distortion (Cappelli et al. 2001, eq. 3): output pixel -> source."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = params["centre"]
    u, v = xs - cx, ys - cy
    d = np.maximum(np.sqrt(u * u + v * v) - params["radius_px"], 0.0)
    brake = 1.0 - np.exp(-(d * d) / (2.0 * params["brake_px"] ** 2))
    a = np.deg2rad(params["angle_deg"])
    tx = cx + np.cos(a) * u - np.sin(a) * v + params["shift_px"][0]
    ty = cy + np.sin(a) * u + np.cos(a) * v + params["shift_px"][1]
    return (xs + brake * (tx - xs)).astype(np.float32), (ys + brake * (ty - ys)).astype(np.float32)


# ---------------------------------------------------------------------------
# Ink steps: x is ink, 0 (nothing) to 1 (full ridge)
# ---------------------------------------------------------------------------


def sample_pressure(rng: np.random.Generator, severity: float) -> dict:
    """Dry/wet map: bias in [-1, 1] (dry < 0 < wet), amplitude 0.15-(0.25 + 0.85 * severity), breaks
    0.1-(0.25 + 0.75 * severity) (dropout of dry ridges), 0-(4 * severity) wet blotches."""
    wet = bool(rng.uniform() < 0.45)
    return {
        "bias": _f(rng.uniform(0.2, 1.0) * (1 if wet else -1)),
        "amplitude": _f(rng.uniform(0.15, 0.25 + 0.85 * severity)),
        "seed": _seed(rng),
        "breaks": _f(rng.uniform(0.1, 0.25 + 0.75 * severity)),
        "blotches": [_sample_blob(rng, (8, 14 + 24 * severity)) for _ in range(int(rng.integers(0, 1 + round(4 * severity))))],
    }


def apply_pressure(ink: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Shift the ink threshold by the local pressure ``d``: dry thins and breaks ridges, wet merges them."""
    shape = ink.shape
    d = params["amplitude"] * np.clip(params["bias"] + 0.8 * _field(params["seed"], shape, (5, 4)), -1.0, 1.0)
    dry, wet = np.maximum(-d, 0.0), np.maximum(d, 0.0)
    soft = ctx.softness
    thin = _smoothstep((ctx.ridge - 1.1 * dry) / soft + 0.5) / np.maximum(_smoothstep(ctx.ridge / soft + 0.5), 1e-3)
    grain = _field(params["seed"] + 1, shape, (48, 34))
    broken = _smoothstep((grain + 1.0 - 2.2 * params["breaks"] * dry) / 0.25)
    out = ink * np.clip(thin, 0.0, 1.0) * broken
    # Wet: only the extra width is new ink, so the print's own grey variation and pores stay.
    fat = np.maximum(_smoothstep((ctx.ridge + 1.6 * wet) / soft + 0.5) - _smoothstep(ctx.ridge / soft + 0.5), 0.0)
    out = np.clip(out + 0.9 * fat * ctx.skin, 0.0, 1.0)
    blot = np.zeros(shape, np.float32)
    for b in params["blotches"]:
        blot = np.maximum(blot, _blob(b, shape) * ctx.skin)
    # Moisture blotches: dark, with the merged ridges still showing through.
    merged = 0.5 + 0.35 * _smoothstep(ctx.ridge / soft + 0.5)
    out = np.maximum(out, merged * blot * (params["bias"] > 0))
    damage = np.clip(1.3 * np.abs(d), 0.0, 1.0)
    if params["bias"] > 0:
        damage = np.maximum(damage, blot)
    return out.astype(np.float32), damage.astype(np.float32)


def sample_incipient(rng: np.random.Generator, severity: float) -> dict:
    """Incipient ridges: faint (0.25-0.6 ink) thin ridges in valley centres over 20-(30 + 50 * severity) % of the print."""
    return {"strength": _f(rng.uniform(0.25, 0.6)), "coverage": _f(rng.uniform(0.2, 0.3 + 0.5 * severity)), "seed": _seed(rng)}


def apply_incipient(ink: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Add thin fragmented ridges where the ridge field is lowest (valley centres)."""
    shape = ink.shape
    # Valley centres: local minima of the ridge field (within 2 px), well inside the valleys.
    low = cv2.erode(ctx.ridge, np.ones((5, 5), np.uint8))
    centre = cv2.GaussianBlur(_smoothstep((low + 0.08 - ctx.ridge) / 0.08) * (ctx.ridge < -0.3), (0, 0), 0.6)
    where = _smoothstep((_field(params["seed"], shape, (8, 6)) + 1.0 - 2.0 * params["coverage"]) / 0.3)
    pieces = _smoothstep((_field(params["seed"] + 1, shape, (40, 28)) + 0.2) / 0.3)
    inc = params["strength"] * centre * where * pieces * ctx.skin
    return np.maximum(ink, inc).astype(np.float32), (0.3 * where * pieces * ctx.skin).astype(np.float32)


def sample_creases(rng: np.random.Generator, severity: float) -> dict:
    """1-(1 + 8 * severity) flexion creases, white curves 1.5-4 px wide, within 30 degrees of horizontal (80 %)."""
    lines = []
    for _ in range(1 + int(rng.integers(0, 1 + round(8 * severity)))):
        across = rng.uniform() < 0.8
        angle = rng.uniform(-0.5, 0.5) + (0.0 if across else rng.uniform(0.6, 2.5))
        lines.append({"points": _sample_curve(rng, (30, 90 + 140 * severity), angle, 0.12),
                      "width_px": _f(rng.uniform(1.5, 4.0)), "depth": _f(rng.uniform(0.7, 1.0))})  # fmt: skip
    return {"lines": lines}


def _draw_curves(lines: list, shape: tuple[int, int], *, soft: float) -> np.ndarray:
    cover = np.zeros(shape, np.float32)
    for line in lines:
        c = np.zeros(shape, np.uint8)
        cv2.polylines(c, [_pts(_bezier(*line["points"]))], False, 255, max(1, round(line["width_px"])), cv2.LINE_AA, _SUB)
        cover = np.maximum(cover, c.astype(np.float32) / 255.0 * line["depth"])
    return cv2.GaussianBlur(cover, (0, 0), soft) if soft > 0 else cover


def apply_creases(ink: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Erase the ink along the crease curves (soft edges)."""
    cover = np.clip(_draw_curves(params["lines"], ink.shape, soft=0.8) * 1.3, 0.0, 1.0)
    return (ink * (1.0 - cover)).astype(np.float32), cover


def sample_scars(rng: np.random.Generator, severity: float) -> dict:
    """1-2 scars: white curves 5-(8 + 8 * severity) px wide, 40-(80 + 120 * severity) px long, blotchy border."""
    lines = [{"points": _sample_curve(rng, (40, 80 + 120 * severity), rng.uniform(0, np.pi), 0.25),
              "width_px": _f(rng.uniform(5.0, 8.0 + 8.0 * severity)), "depth": 1.0}
             for _ in range(1 + int(rng.integers(0, 2)))]  # fmt: skip
    return {"lines": lines, "seed": _seed(rng)}


def apply_scars(ink: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Erase the ink in the scars; their border gets blotchy scar-tissue ink."""
    cover = _draw_curves(params["lines"], ink.shape, soft=1.5)
    rim = np.clip(cover * (1.0 - cover) * 4.0, 0.0, 1.0) * (0.5 + 0.5 * _field(params["seed"], ink.shape, (50, 35)))
    out = ink * (1.0 - cover) + 0.6 * rim
    return np.clip(out, 0.0, 1.0).astype(np.float32), np.clip(cover + rim, 0.0, 1.0).astype(np.float32)


def sample_contact(rng: np.random.Generator, severity: float) -> dict:
    """Irregular contact area: 5-(10 + 45 * severity) % of the print missing, partly cut by a half-plane."""
    return {
        "missing": _f(rng.uniform(0.05, 0.1 + 0.45 * severity)),
        "cut": _f(rng.uniform(0.0, 1.0)),  # weight of the half-plane against the random field
        "cut_angle_deg": _f(rng.uniform(0, 360)),
        "edge_px": _f(rng.uniform(2.0, 8.0)),
        "seed": _seed(rng),
    }


def apply_contact(ink: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ink only where the finger touched: the ``1 - missing`` highest part of
    ``(1 - cut) * random field + cut * ramp`` over the print, with soft edges."""
    h, w = ink.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.deg2rad(params["cut_angle_deg"])
    ramp = ((xs - w / 2) * np.cos(a) + (ys - h / 2) * np.sin(a)) / (0.5 * h)
    f = (1.0 - params["cut"]) * _field(params["seed"], (h, w), (5, 4)) + params["cut"] * ramp
    inside = ctx.mask if ctx.mask.any() else np.ones((h, w), bool)
    level = float(np.quantile(f[inside], params["missing"]))
    gy, gx = np.gradient(f)
    step = max(float(np.median(np.hypot(gx, gy)[inside])), 1e-6)  # field change per px at a typical edge
    contact = _smoothstep((f - level) / (step * params["edge_px"]) + 0.5)
    return (ink * contact).astype(np.float32), (1.0 - contact).astype(np.float32)


def sample_latent(rng: np.random.Generator, severity: float) -> dict:
    """Latent residue: a foreign ridge pattern (period 8-11 px, curved) of ink 0.15-(0.2 + 0.5 * severity)
    over a blob of radius 40-(60 + 80 * severity) px."""
    return {
        "blob": _sample_blob(rng, (40, 60 + 80 * severity)),
        "period_px": _f(rng.uniform(8.0, 11.0)),
        "angle_deg": _f(rng.uniform(0, 180)),
        "bend_rad": _f(rng.uniform(8.0, 20.0)),
        "strength": _f(rng.uniform(0.15, 0.2 + 0.5 * severity)),
        "seed": _seed(rng),
    }


def apply_latent(ink: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Add ``strength * blob * ridges`` of the foreign pattern ``cos(2 pi u / period + bend * field)``."""
    h, w = ink.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.deg2rad(params["angle_deg"])
    u = -xs * np.sin(a) + ys * np.cos(a)
    phase = 2 * np.pi * u / params["period_px"] + params["bend_rad"] * _field(params["seed"], (h, w), (4, 3))
    pattern = _smoothstep(np.cos(phase) * 1.5 + 0.5)
    region = _blob(params["blob"], (h, w))
    ghost = params["strength"] * region * pattern
    return np.maximum(ink, ghost).astype(np.float32), np.clip(2.0 * params["strength"] * region, 0.0, 1.0).astype(np.float32)


def sample_smudge(rng: np.random.Generator, severity: float) -> dict:
    """A slip: blob of radius 30-(45 + 60 * severity) px smeared 4-(6 + 14 * severity) px along one direction."""
    return {"blob": _sample_blob(rng, (30, 45 + 60 * severity)), "length_px": _f(rng.uniform(4.0, 6.0 + 14.0 * severity)),
            "angle_deg": _f(rng.uniform(0, 180)), "darken": _f(rng.uniform(0.0, 0.3))}  # fmt: skip


def apply_smudge(ink: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Motion-blur the ink along ``angle_deg`` by ``length_px`` inside the blob, darkening it slightly."""
    n = max(3, int(round(params["length_px"])) | 1)
    k = np.zeros((n, n), np.float32)
    a = np.deg2rad(params["angle_deg"])
    c = (n - 1) / 2
    cv2.line(k, (int(round(c - c * np.cos(a))), int(round(c - c * np.sin(a)))),
             (int(round(c + c * np.cos(a))), int(round(c + c * np.sin(a)))), 1.0, 1)  # fmt: skip
    k /= k.sum()
    smeared = cv2.filter2D(ink, -1, k, borderType=cv2.BORDER_REFLECT)
    region = _blob(params["blob"], ink.shape)
    smeared = np.clip(smeared * (1.0 + params["darken"]) + 0.5 * params["darken"], 0.0, 1.0)
    out = ink * (1.0 - region) + smeared * region
    return out.astype(np.float32), np.clip(region * params["length_px"] / 10.0, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------
# Ink -> grey levels, then image steps
# ---------------------------------------------------------------------------


def sample_valleys(rng: np.random.Generator, severity: float) -> dict:
    """Sensor kind (optical 60 %, capacitive), valley grey 0.7-0.95 (optical) or 0.45-0.75 (capacitive) minus
    up to 0.2 * severity, its variation, ridge grey 0.0-0.25, valley grain 0.01-(0.03 + 0.07 * severity)."""
    optical = bool(rng.uniform() < 0.6)
    valley = rng.uniform(0.7, 0.95) if optical else rng.uniform(0.45, 0.75)
    return {
        "kind": "optical" if optical else "capacitive",
        "valley": _f(valley - rng.uniform(0.0, 0.2 * severity)),
        "variation": _f(rng.uniform(0.03, 0.08 + 0.15 * severity)),
        "ridge": _f(rng.uniform(0.0, 0.25)),
        "grain": _f(rng.uniform(0.01, 0.03 + 0.07 * severity)),
        "seed": _seed(rng),
    }


def apply_valleys(ink: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Grey image ``valley(x) - (valley(x) - ridge) * ink`` with grainy valleys; damage = lost contrast."""
    shape = ink.shape
    valley = params["valley"] * (1.0 - params["variation"] * _field(params["seed"], shape, (4, 3)))
    grain = cv2.GaussianBlur(np.random.default_rng(params["seed"] + 1).standard_normal(shape, dtype=np.float32), (0, 0), 0.7)
    valley = valley + params["grain"] * 2.0 * grain * (1.0 - ink)
    image = valley - (valley - params["ridge"]) * ink
    contrast = np.clip(valley - params["ridge"], 0.0, 1.0)
    return np.clip(image, 0.0, 1.0).astype(np.float32), np.clip(0.9 - contrast, 0.0, 1.0).astype(np.float32)


def sample_blur(rng: np.random.Generator, severity: float) -> dict:
    """Gaussian optics / electrode-pitch blur, sigma 0.3-(0.6 + 1.4 * severity) px."""
    return {"sigma_px": _f(rng.uniform(0.3, 0.6 + 1.4 * severity))}


def apply_blur(image: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blur; damage ``(sigma - 0.5) / 2`` everywhere."""
    out = cv2.GaussianBlur(image, (0, 0), params["sigma_px"])
    return out, np.full(image.shape, np.clip((params["sigma_px"] - 0.5) / 2.0, 0.0, 1.0), np.float32)


def sample_noise(rng: np.random.Generator, severity: float) -> dict:
    """Gaussian read noise sigma 0.005-(0.015 + 0.08 * severity), row/column banding (capacitive look)
    0-(0.01 + 0.05 * severity), 0-(5 + 40 * severity) dust specks."""
    return {
        "sigma": _f(rng.uniform(0.005, 0.015 + 0.08 * severity)),
        "banding": _f(rng.uniform(0.0, 0.01 + 0.05 * severity)),
        "specks": int(rng.integers(0, 6 + round(40 * severity))),
        "seed": _seed(rng),
    }


def apply_noise(image: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Add read noise, banding and dark/light specks; damage ``sigma / 0.1`` everywhere plus the specks."""
    rng = np.random.default_rng(params["seed"])
    h, w = image.shape
    out = image + np.float32(params["sigma"]) * rng.standard_normal((h, w), dtype=np.float32)
    out = out + params["banding"] * (rng.standard_normal((h, 1)) + 0.5 * rng.standard_normal((1, w))).astype(np.float32)
    specks = np.zeros((h, w), np.float32)
    n = params["specks"]
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    specks[ys, xs] = rng.choice(np.array([-1.0, 1.0], np.float32), n)
    specks = cv2.GaussianBlur(specks, (0, 0), 0.6) * 2.0
    out = np.clip(out + specks, 0.0, 1.0)
    damage = np.clip(params["sigma"] / 0.1 + np.abs(specks), 0.0, 1.0)
    return out.astype(np.float32), damage.astype(np.float32)


def sample_jpeg(rng: np.random.Generator, severity: float) -> dict:
    """JPEG quality (95 - 60 * severity) +- 10, clipped to [15, 98]."""
    return {"quality": int(np.clip(round(95 - 60 * severity + rng.uniform(-10, 10)), 15, 98))}


def apply_jpeg(image: np.ndarray, params: dict, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Encode and decode with ``cv2.imencode(".jpg")`` (8-bit greyscale); damage ``(95 - quality) / 100``."""
    u8 = np.rint(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(params["quality"])])
    out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / np.float32(255)
    return out, np.full(image.shape, max(0.0, (95 - params["quality"]) / 100.0), np.float32)


# Name -> (sample, map) for the geometric step, (sample, apply) for the others, in the order applied.
GEOMETRIC: dict[str, tuple[Callable, Callable]] = {"distortion": (sample_distortion, map_distortion)}
INK: dict[str, tuple[Callable, Callable]] = {
    "pressure": (sample_pressure, apply_pressure),
    "incipient": (sample_incipient, apply_incipient),
    "creases": (sample_creases, apply_creases),
    "scars": (sample_scars, apply_scars),
    "contact": (sample_contact, apply_contact),
    "latent": (sample_latent, apply_latent),
    "smudge": (sample_smudge, apply_smudge),
}
IMAGE: dict[str, tuple[Callable, Callable]] = {
    "valleys": (sample_valleys, apply_valleys),
    "blur": (sample_blur, apply_blur),
    "noise": (sample_noise, apply_noise),
    "jpeg": (sample_jpeg, apply_jpeg),
}
STEPS: dict[str, tuple[Callable, Callable]] = {**GEOMETRIC, **INK, **IMAGE}
# Probability that a step is applied at severity s: p0 + p1 * s (valleys, blur, noise and jpeg always are).
P_ACTIVE: dict[str, tuple[float, float]] = {
    "distortion": (0.5, 0.5),
    "pressure": (0.7, 0.3),
    "incipient": (0.15, 0.45),
    "creases": (0.15, 0.6),
    "scars": (0.03, 0.25),
    "contact": (0.3, 0.6),
    "latent": (0.05, 0.45),
    "smudge": (0.05, 0.4),
    "valleys": (1.0, 0.0),
    "blur": (1.0, 0.0),
    "noise": (1.0, 0.0),
    "jpeg": (1.0, 0.0),
}
