"""Master fingerprints: class, shape, orientation, frequency, ridges, impression.

A master fingerprint is the clean target of the ``fingerprints`` task: a
275 x 400 greyscale impression (white background, dark ridges) of a synthetic
finger, made the way SFinGe makes one (Cappelli, Maio & Maltoni, "Synthetic
fingerprint generation", Handbook of Fingerprint Recognition, ch. 6):

1. the fingerprint area, a union of an elliptic top and a rounded-rectangle
   (superellipse) bottom (:func:`sample_master`, ``shape``);
2. the class, drawn with the natural frequencies of Wilson, Candela & Watson
   (1994) or uniformly (:func:`sample_class`), which places the singular
   points (cores and deltas);
3. the orientation field of the zero-pole model (Sherlock & Monro 1993),
   each singularity's angle passed through a piecewise-linear correction in
   the style of Vizcaya & Gerhardt (1996); arches use a closed-form field;
4. a smooth random ridge-period map (8-11 px at 500 dpi);
5. the ridge pattern, grown from random seeds by iterated contextual Gabor
   filtering until it stops changing (:func:`grow_ridges`);
6. a grey-level rendering with ridge-thickness variation, pressure, pores and
   ink texture (:func:`render_master`).

Everything random is drawn in :func:`sample_master` (small arrays as lists,
large noise fields as integer sub-seeds); :func:`render_master` is a pure
function of those parameters.

Conventions: image coordinates, x to the right, y down, in pixels of the
275 x 400 output. An orientation ``theta`` in [0, pi) is the direction of the
ridges, the unit vector ``(cos theta, sin theta)`` in (x, y).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import cv2
import numpy as np

from generators.fingerprints.minutiae import extract_minutiae  # noqa: F401  (re-exported)

__all__ = [
    "HEIGHT",
    "WIDTH",
    "CLASSES",
    "CLASS_DISTRIBUTIONS",
    "PERIOD_RANGE",
    "MasterPrint",
    "sample_class",
    "sample_master",
    "sample_sensor_impression",
    "render_master",
    "orientation_field",
    "grow_ridges",
    "extract_minutiae",
]

HEIGHT, WIDTH = 400, 275
CLASSES = ("arch", "tented_arch", "left_loop", "right_loop", "whorl")
# Wilson, Candela & Watson (1994), NIST: frequencies of the five classes, with
# double loops counted as whorls.
CLASS_DISTRIBUTIONS: Mapping[str, Mapping[str, float]] = {
    "natural": {"arch": 0.037, "tented_arch": 0.029, "left_loop": 0.338, "right_loop": 0.317, "whorl": 0.279},
    "uniform": {c: 0.2 for c in CLASSES},
}
PERIOD_RANGE = (8.0, 11.0)  # ridge period in px at 500 dpi
MAX_SHIFT = 5.0  # px, pose translation
MAX_ROTATION = 10.0  # degrees, pose rotation
_DOUBLE_LOOP_FRACTION = 0.25  # of whorls drawn as double loops (SFinGe-like)

# Ridge growth runs at half resolution: periods of 4-5.5 px are still well
# sampled, and a 9x9 contextual kernel at half resolution costs 16x less than
# the 17x17 one at full resolution.
_SCALE = 2
_TAP_RADIUS = 4
_N_THETA = 32  # orientation bins of the Gabor bank
_N_PERIOD = 7  # period bins of the Gabor bank
_GAIN = 3.0  # amplification before clipping to [-1, 1] (soft binarisation)
_MIN_ITER, _MAX_ITER = 6, 30
# Stop when the mean absolute update over the fingerprint area falls below
# this. The grown pattern never freezes completely (minutiae keep creeping at
# ~3 % per iteration), so this is the point where growth is over.
_TOL = 0.04
_VG_KNOTS = 8  # Vizcaya-Gerhardt correction: knots per singularity
_OUTLINE_CELLS = (9, 6)  # control grid of the sensor preset's irregular outline
_PORE_RADIUS = (0.8, 1.6)  # px: pores of 80-160 um at 500 dpi


@dataclass(frozen=True)
class MasterPrint:
    """A rendered master fingerprint and its ground-truth fields.

    Attributes
    ----------
    image : ndarray, (H, W) float32 in [0, 1]
        Grey-level impression, white background, dark ridges.
    ridge_field : ndarray, (H, W) float32
        Signed ridge field; ridges (dark) where it is positive.
    orientation : ndarray, (H, W) float32 in [0, pi)
        Ridge orientation in radians.
    period : ndarray, (H, W) float32
        Ridge period in pixels (the frequency map is its inverse).
    mask : ndarray, (H, W) bool
        Fingerprint area.
    cores, deltas : list of [x, y]
        Singular points in image coordinates.
    iterations : int
        Gabor-growth iterations run before convergence (or the cap).
    """

    image: np.ndarray
    ridge_field: np.ndarray
    orientation: np.ndarray
    period: np.ndarray
    mask: np.ndarray
    cores: list
    deltas: list
    iterations: int


# ---------------------------------------------------------------------------
# Sample parameters
# ---------------------------------------------------------------------------


def _class_probabilities(distribution: str) -> np.ndarray:
    if distribution not in CLASS_DISTRIBUTIONS:
        raise ValueError(f"unknown class distribution {distribution!r}; choose from {sorted(CLASS_DISTRIBUTIONS)}")
    probs = np.array([CLASS_DISTRIBUTIONS[distribution][c] for c in CLASSES], dtype=np.float64)
    return probs / probs.sum()


def sample_class(rng: np.random.Generator, distribution: str = "natural") -> str:
    """Draw a fingerprint class.

    Parameters
    ----------
    rng : numpy.random.Generator
    distribution : {"natural", "uniform"}
        ``"natural"``: arch 3.7 %, tented arch 2.9 %, left loop 33.8 %, right
        loop 31.7 %, whorl 27.9 % (double loops counted with whorls; Wilson et
        al. 1994). ``"uniform"``: 20 % each.

    Returns
    -------
    str
        One of :data:`CLASSES`. This is the first draw of
        :func:`sample_master`, so class statistics of a dataset can be
        checked without rendering prints.
    """
    probs = _class_probabilities(distribution)
    return CLASSES[int(rng.choice(len(CLASSES), p=probs))]


def _uniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    v = rng.uniform(lo, hi, size)
    return float(v) if size is None else np.round(v, 5).tolist()


def _sample_singularities(rng: np.random.Generator, fp_class: str) -> tuple[str, list, list]:
    """Cores and deltas in finger coordinates (px, origin at the finger centre)."""
    if fp_class == "arch":
        return "arch", [], []
    if fp_class == "tented_arch":
        core = [_uniform(rng, -15, 15), _uniform(rng, -40, 0)]
        delta = [core[0] + _uniform(rng, -8, 8), core[1] + _uniform(rng, 35, 75)]
        return "tented_arch", [core], [delta]
    if fp_class in ("left_loop", "right_loop"):
        # A left loop opens to the left: its delta lies to the lower right.
        side = 1.0 if fp_class == "left_loop" else -1.0
        core = [_uniform(rng, -20, 20) - side * 10, _uniform(rng, -55, 5)]
        delta = [core[0] + side * _uniform(rng, 55, 105), core[1] + _uniform(rng, 65, 130)]
        return fp_class, [core], [delta]
    # Whorl: two cores, two deltas low on either side.
    cx, cy = _uniform(rng, -12, 12), _uniform(rng, -40, 0)
    double = bool(rng.uniform() < _DOUBLE_LOOP_FRACTION)
    half = _uniform(rng, 18, 32) if double else _uniform(rng, 4, 18)
    ang = _uniform(rng, 0.4, 1.2) * (1 if rng.uniform() < 0.5 else -1) if double else _uniform(rng, -0.5, 0.5)
    # Plain whorl: cores stacked vertically (a small circle); double loop:
    # cores apart along a diagonal.
    dx, dy = half * np.sin(ang), half * np.cos(ang)
    cores = [[cx + dx, cy - dy], [cx - dx, cy + dy]]
    deltas = [
        [cx - _uniform(rng, 70, 110), cy + _uniform(rng, 80, 140)],
        [cx + _uniform(rng, 70, 110), cy + _uniform(rng, 80, 140)],
    ]
    cores = [[round(float(a), 3), round(float(b), 3)] for a, b in cores]
    deltas = [[round(float(a), 3), round(float(b), 3)] for a, b in deltas]
    return ("double_loop" if double else "plain_whorl"), cores, deltas


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def sample_master(rng: np.random.Generator, *, classes: str = "natural") -> dict:
    """Sample every parameter of a master fingerprint.

    Parameters
    ----------
    rng : numpy.random.Generator
    classes : {"natural", "uniform"}
        Class distribution, see :func:`sample_class`.

    Returns
    -------
    dict
        JSON-able parameters; :func:`render_master` turns them into a print.
    """
    fp_class = sample_class(rng, classes)
    subclass, cores, deltas = _sample_singularities(rng, fp_class)
    shape = {
        "centre_dy": _uniform(rng, -12, 12),
        "half_width": _uniform(rng, 100, 128),
        "top": _uniform(rng, 125, 170),
        "bottom": _uniform(rng, 130, 210),
        "bottom_exponent": _uniform(rng, 2.5, 4.5),
        "edge_noise": _uniform(rng, -1, 1, (4, 3)),
    }
    base = rng.uniform(PERIOD_RANGE[0] + 0.5, PERIOD_RANGE[1] - 0.5)
    period_grid = np.clip(base + rng.uniform(-0.9, 0.9, (4, 3)), *PERIOD_RANGE)
    orientation = {
        "theta_inf": _uniform(rng, -0.12, 0.12),
        # Vizcaya-Gerhardt: per singularity, angle offsets at 8 knots.
        "vg_cores": [_uniform(rng, -0.3, 0.3, _VG_KNOTS) for _ in cores],
        "vg_deltas": [_uniform(rng, -0.3, 0.3, _VG_KNOTS) for _ in deltas],
        "perturbation": _uniform(rng, -0.08, 0.08, (5, 4)),
    }
    if fp_class == "arch":
        orientation["arch"] = {
            "amplitude": _uniform(rng, 0.6, 2.0),
            "width": _uniform(rng, 40, 80),
            "peak_y": _uniform(rng, -60, 20),
            "extent": _uniform(rng, 70, 140),
            "x0": _uniform(rng, -15, 15),
        }
    return {
        "class": fp_class,
        "subclass": subclass,
        "cores_finger": cores,
        "deltas_finger": deltas,
        "shape": shape,
        "orientation": orientation,
        "period_grid": np.round(period_grid, 4).tolist(),
        "pose": {"dx": _uniform(rng, -MAX_SHIFT, MAX_SHIFT), "dy": _uniform(rng, -MAX_SHIFT, MAX_SHIFT),
                 "rotation_deg": _uniform(rng, -MAX_ROTATION, MAX_ROTATION)},
        "growth": {"n_seeds": int(rng.integers(100, 260)), "seed": _seed(rng)},
        "impression": {
            "thickness": _uniform(rng, -0.1, 0.5),
            "thickness_variation": _uniform(rng, 0.05, 0.3),
            "softness": _uniform(rng, 0.35, 0.8),
            "pressure_min": _uniform(rng, 0.55, 0.95),
            "pore_density": _uniform(rng, 0.0, 0.012),
            "texture": _uniform(rng, 0.02, 0.12),
            "seed": _seed(rng),
        },
    }


def sample_sensor_impression(rng: np.random.Generator) -> dict:
    """Sample the live-scan look of a master print (the ``sensor`` preset's clean target).

    Drawn after :func:`sample_master` and stored as ``params["sensor"]`` of
    the master; :func:`render_master` then renders the print the way an
    optical or capacitive live-scan sensor shows good skin: ridge width and
    darkness varying along the ridges, sweat pores, contact fading towards
    the edge of an irregular outline. Orientation, frequency and the ridge
    map stay exact (they are computed before, or from the same field as,
    the ink).

    Returns
    -------
    dict
        ``outline`` (amplitude of the outline's irregularity in units of
        the silhouette radius, and its control grid), ``edge_fade`` (width
        of the contact fade, same unit), ``edge_thinning`` (ridge threshold
        raise at the edge), ``width_variation`` (amplitude of the ridge
        threshold's fine noise, ~20 px cells), ``grey_variation`` (relative
        ink loss along ridges, ~12 px cells), ``ridge_ink`` (darkness of a
        full ridge), ``pore_spacing_px`` (mean distance between pores along
        a ridge), ``pore_depth`` (lightness of a pore), ``seed``.
    """
    return {
        "outline": {"amplitude": _uniform(rng, 0.01, 0.035), "grid": _uniform(rng, -1, 1, _OUTLINE_CELLS)},
        "edge_fade": _uniform(rng, 0.08, 0.2),
        "edge_thinning": _uniform(rng, 0.2, 0.6),
        "width_variation": _uniform(rng, 0.08, 0.22),
        "grey_variation": _uniform(rng, 0.1, 0.3),
        "ridge_ink": _uniform(rng, 0.75, 0.95),
        # Ashbaugh (1999): 9-18 pores per cm of ridge, i.e. one every 11-22 px at 500 dpi.
        "pore_spacing_px": _uniform(rng, 11.0, 22.0),
        "pore_depth": _uniform(rng, 0.25, 0.7),
        "seed": _seed(rng),
    }


# ---------------------------------------------------------------------------
# Geometry and fields
# ---------------------------------------------------------------------------


def _finger_coords(params: dict, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates -> finger coordinates (inverse of the pose)."""
    pose = params["pose"]
    phi = np.deg2rad(pose["rotation_deg"])
    cx = WIDTH / 2.0 + pose["dx"]
    cy = HEIGHT / 2.0 + params["shape"]["centre_dy"] + pose["dy"]
    u, v = xs - cx, ys - cy
    c, s = np.cos(phi), np.sin(phi)
    return (c * u + s * v).astype(np.float32), (-s * u + c * v).astype(np.float32)


def _to_image(params: dict, points: list) -> list:
    """Finger coordinates -> image coordinates (the pose)."""
    pose = params["pose"]
    phi = np.deg2rad(pose["rotation_deg"])
    cx = WIDTH / 2.0 + pose["dx"]
    cy = HEIGHT / 2.0 + params["shape"]["centre_dy"] + pose["dy"]
    c, s = np.cos(phi), np.sin(phi)
    return [[round(float(cx + c * x - s * y), 3), round(float(cy + s * x + c * y), 3)] for x, y in points]


def _smooth_grid(values, shape: tuple[int, int]) -> np.ndarray:
    """Bicubic upsampling of a small grid of control values to ``shape`` (H, W)."""
    grid = np.asarray(values, dtype=np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _vg_angle(alpha: np.ndarray, offsets) -> np.ndarray:
    """Vizcaya-Gerhardt correction g(alpha): piecewise linear, g(a_k) = a_k + offset_k.

    The offsets are periodic, so g(alpha + 2 pi) = g(alpha) + 2 pi and the
    doubled-angle field stays continuous (Vizcaya & Gerhardt 1996, eq. 5).
    """
    knots = np.linspace(-np.pi, np.pi, _VG_KNOTS + 1)
    off = np.append(np.asarray(offsets, dtype=np.float64), offsets[0])
    return alpha + np.interp(alpha, knots, off).astype(alpha.dtype)


def orientation_field(params: dict, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Ridge orientation of a master print at image coordinates ``(xs, ys)``.

    Zero-pole model (Sherlock & Monro 1993, eq. 1) with the Vizcaya-Gerhardt
    correction of each singularity's angle::

        theta = theta_inf + 1/2 sum_cores g_c(arg(z - z_c))
                          - 1/2 sum_deltas g_d(arg(z - z_d))

    Arches (no singularity) use a closed-form field: ridges
    ``y = y0 - A w exp(-x^2 / 2 w^2)`` whose height fades away from
    ``peak_y``. A small smooth perturbation is added to every class.

    Returns
    -------
    ndarray, float32 in [0, pi)
    """
    fx, fy = _finger_coords(params, xs, ys)
    o = params["orientation"]
    if params["class"] == "arch":
        a = o["arch"]
        u = (fx - a["x0"]) / a["width"]
        fade = np.exp(-(((fy - a["peak_y"]) / a["extent"]) ** 2))
        theta = np.arctan(a["amplitude"] * fade * u * np.exp(-0.5 * u * u))
    else:
        theta = np.full(fx.shape, o["theta_inf"], dtype=np.float32)
        for (cx, cy), off in zip(params["cores_finger"], o["vg_cores"]):
            theta += 0.5 * _vg_angle(np.arctan2(fy - cy, fx - cx), off)
        for (dx, dy), off in zip(params["deltas_finger"], o["vg_deltas"]):
            theta -= 0.5 * _vg_angle(np.arctan2(fy - dy, fx - dx), off)
    if xs.ndim == 2:
        theta = theta + _smooth_grid(o["perturbation"], xs.shape)
    theta = theta + np.deg2rad(params["pose"]["rotation_deg"])
    return np.mod(theta, np.pi).astype(np.float32)


def _mask_level(params: dict, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Normalised radius of the fingerprint silhouette: < 1 inside.

    Top half: ellipse; bottom half: superellipse (a rounded rectangle) with
    the same half-width, so the union is a closed convex-ish blob.
    """
    s = params["shape"]
    fx, fy = _finger_coords(params, xs, ys)
    ax = np.abs(fx) / s["half_width"]
    top = np.sqrt(ax**2 + (fy / s["top"]) ** 2)
    n = s["bottom_exponent"]
    bottom = (ax**n + np.abs(fy / s["bottom"]) ** n) ** (1.0 / n)
    level = np.where(fy < 0, top, bottom)
    return level + 0.03 * _smooth_grid(s["edge_noise"], xs.shape)


def _grid(h: int, w: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates of pixel centres of a grid subsampled by ``step``."""
    off = (step - 1) / 2.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs * step + off, ys * step + off


# ---------------------------------------------------------------------------
# Ridge growth
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _gabor_bank() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Even Gabor kernels (N_THETA, N_PERIOD, taps) on a disc of taps.

    Each kernel is zero-mean (a flat region stays flat) and has unit gain at
    its own frequency and orientation, so ``clip(gain * filter(x))`` grows
    ridges of the right period and saturates them at +-1.
    """
    r = _TAP_RADIUS
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    disc = dx * dx + dy * dy <= r * r + 2
    dx, dy = dx[disc], dy[disc]
    lo, hi = PERIOD_RANGE[0] / _SCALE, PERIOD_RANGE[1] / _SCALE
    bank = np.zeros((_N_THETA, _N_PERIOD, dx.size), np.float32)
    for a in range(_N_THETA):
        t = a * np.pi / _N_THETA
        across = -dx * np.sin(t) + dy * np.cos(t)  # distance across the ridges
        for b, period in enumerate(np.linspace(lo, hi, _N_PERIOD)):
            sigma = 0.45 * period
            g = np.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
            wave = np.cos(2 * np.pi * across / period)
            k = g * wave
            k -= g * (k.sum() / g.sum())
            bank[a, b] = k / (k * wave).sum()
    return bank, dy.astype(np.int64), dx.astype(np.int64)


def grow_ridges(
    theta: np.ndarray,
    period: np.ndarray,
    mask: np.ndarray,
    *,
    n_seeds: int,
    seed: int,
    max_iter: int = _MAX_ITER,
    tol: float = _TOL,
) -> tuple[np.ndarray, int]:
    """Grow a ridge pattern by iterated contextual Gabor filtering (SFinGe).

    Starting from ``n_seeds`` random +-1 dots, each pixel is replaced by the
    response of the even Gabor filter tuned to its own orientation and period
    (nearest of 32 x 7 bank kernels), amplified and clipped to [-1, 1]. Ridges
    grow out of the seeds along the orientation field; where two fronts meet
    out of phase, minutiae form. Iteration stops when the mean absolute
    update over ``mask`` falls below ``tol`` and less than 2 % of it is
    still empty, or after ``max_iter`` steps.

    Parameters
    ----------
    theta : ndarray, (h, w) float32 in [0, pi)
        Ridge orientation on the growth grid.
    period : ndarray, (h, w) float32
        Ridge period in pixels of the growth grid.
    mask : ndarray, (h, w) bool
        Where convergence is measured.
    n_seeds, seed : int
        Number of seed dots and the seed of their positions and signs.

    Returns
    -------
    field : ndarray, (h, w) float32 in [-1, 1]
    iterations : int

    Notes
    -----
    Each iteration is one pass of 61 shifted multiply-adds of whole planes
    (the per-pixel kernels are gathered once from the bank), about 1.5 ms
    for a 200 x 138 grid in numpy on one core; growth converges in 9-12
    iterations. A torch/GPU path was left out on purpose: the CPU result is
    bit-reproducible, which keeps shards byte-identical across workers and
    machines, and a GPU would not pay for its transfers at this size.
    """
    bank, tap_dy, tap_dx = _gabor_bank()
    bank = bank.reshape(_N_THETA * _N_PERIOD, -1).T  # (taps, kernels)
    h, w = theta.shape
    lo, hi = PERIOD_RANGE[0] / _SCALE, PERIOD_RANGE[1] / _SCALE
    ti = np.rint(theta * (_N_THETA / np.pi)).astype(np.int64) % _N_THETA
    pi_ = np.clip(np.rint((period - lo) * ((_N_PERIOD - 1) / (hi - lo))), 0, _N_PERIOD - 1).astype(np.int64)
    # Per-pixel kernels, taps first so that each tap is one contiguous plane.
    kernels = np.take(bank, ti * _N_PERIOD + pi_, axis=1)
    rng = np.random.default_rng(seed)
    x = np.zeros((h, w), np.float32)
    x[rng.integers(0, h, n_seeds), rng.integers(0, w, n_seeds)] = rng.choice(np.array([-1.0, 1.0], np.float32), n_seeds)
    r = _TAP_RADIUS
    pad = np.zeros((h + 2 * r, w + 2 * r), np.float32)
    out = np.empty_like(x)
    tmp = np.empty_like(x)
    weight = mask.astype(np.float32) / max(int(mask.sum()), 1)
    it = 0
    for it in range(1, max_iter + 1):
        pad[r:-r, r:-r] = x
        out.fill(0.0)
        for k in range(tap_dy.size):
            a, b = r + tap_dy[k], r + tap_dx[k]
            np.multiply(kernels[k], pad[a : a + h, b : b + w], out=tmp)
            out += tmp
        out *= _GAIN
        np.clip(out, -1.0, 1.0, out=out)
        if it < _MIN_ITER:
            x, out = out, x
            continue
        np.subtract(out, x, out=tmp)
        np.abs(tmp, out=tmp)
        change = float(np.vdot(tmp, weight))
        empty = float(np.vdot(np.abs(out) < 0.05, weight))
        x, out = out, x
        if change < tol and empty < 0.02:
            break
    return x, it


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _noise_field(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Smooth random field in about [-1, 1]: random control grid, bicubic."""
    return np.clip(_smooth_grid(rng.uniform(-1, 1, cells), shape), -1.0, 1.0)


def _upsample(field: np.ndarray, interpolation=cv2.INTER_CUBIC) -> np.ndarray:
    up = cv2.resize(field, (field.shape[1] * _SCALE, field.shape[0] * _SCALE), interpolation=interpolation)
    return up[:HEIGHT, :WIDTH]


def _upsample_orientation(theta: np.ndarray) -> np.ndarray:
    # Interpolate the doubled-angle vector, not the angle (which wraps at pi).
    c = _upsample(np.cos(2 * theta), cv2.INTER_LINEAR)
    s = _upsample(np.sin(2 * theta), cv2.INTER_LINEAR)
    return np.mod(0.5 * np.arctan2(s, c), np.pi).astype(np.float32)


def _render_ink(imp: dict, field: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ChaLearn preset's impression: (signed ridge field, grey image)."""
    rng = np.random.default_rng(imp["seed"])
    thresh = imp["thickness"] + imp["thickness_variation"] * _noise_field(rng, (HEIGHT, WIDTH), (6, 4))
    ridge = field - thresh
    ink = _smoothstep(ridge / imp["softness"] + 0.5)
    # Pores: small light dots on ridge centres (sweat pores, ~0.1-0.2 mm).
    centre = ridge > 0.55
    dots = (rng.random((HEIGHT, WIDTH), dtype=np.float32) < imp["pore_density"]) & centre
    pores = cv2.GaussianBlur(dots.astype(np.float32), (0, 0), 0.9) * 5.0
    ink *= 1.0 - np.clip(pores, 0.0, 0.85)
    pressure = imp["pressure_min"] + (1 - imp["pressure_min"]) * 0.5 * (1 + _noise_field(rng, (HEIGHT, WIDTH), (5, 4)))
    # Uniform noise, blurred: near-Gaussian grain of the ink (std ~ texture).
    texture = cv2.GaussianBlur(rng.random((HEIGHT, WIDTH), dtype=np.float32) - 0.5, (0, 0), 0.8)
    ink = np.clip(ink * (pressure + imp["texture"] * 10.0 * texture), 0.0, 1.0)
    image = 1.0 - ink * alpha
    image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.5)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return ridge, image


def _render_sensor_ink(imp: dict, sensor: dict, field: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sensor preset's impression: (signed ridge field, grey image).

    Same ink model as :func:`_render_ink` (a ridge is where ``field``
    exceeds a smooth threshold), plus fine width and darkness variation
    along the ridges, pores on ridge centres at ``pore_spacing_px`` along a
    ridge, and contact that fades (and thins the ridges) over ``edge_fade``
    of the silhouette radius.
    """
    rng = np.random.default_rng(sensor["seed"])
    shape = (HEIGHT, WIDTH)
    contact = _smoothstep((1.0 - level) / sensor["edge_fade"])
    thresh = (imp["thickness"] + imp["thickness_variation"] * _noise_field(rng, shape, (6, 4))
              + sensor["width_variation"] * _noise_field(rng, shape, (20, 14))
              + sensor["edge_thinning"] * (1.0 - contact))  # fmt: skip
    ridge = field - thresh
    ink = _smoothstep(ridge / imp["softness"] + 0.5)
    darkness = sensor["ridge_ink"] * (1.0 - sensor["grey_variation"] * 0.5 * (1.0 + _noise_field(rng, shape, (33, 23))))
    # Pores: on ridge centres, one per pore_spacing_px of ridge length (a
    # ridge centre line is ~2.5 px wide where ridge > 0.45).
    centre = ridge > 0.45
    dots = (rng.random(shape, dtype=np.float32) < 1.0 / (2.5 * sensor["pore_spacing_px"])) & centre
    radius = float(rng.uniform(*_PORE_RADIUS))
    pores = np.clip(cv2.GaussianBlur(dots.astype(np.float32), (0, 0), radius) * (2 * np.pi * radius * radius), 0, 1)
    ink = ink * (1.0 - sensor["pore_depth"] * pores)
    texture = cv2.GaussianBlur(rng.random(shape, dtype=np.float32) - 0.5, (0, 0), 0.8)
    ink = np.clip(ink * (darkness * (0.6 + 0.4 * contact) + imp["texture"] * 4.0 * texture), 0.0, 1.0)
    image = 1.0 - ink * contact
    image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.5)
    return ridge, np.clip(image, 0.0, 1.0).astype(np.float32)


def render_master(params: dict) -> MasterPrint:
    """Render the master fingerprint described by ``params``.

    Parameters
    ----------
    params : dict
        From :func:`sample_master`.

    Returns
    -------
    MasterPrint
        Image and ground-truth fields at 275 x 400.
    """
    h2, w2 = -(-HEIGHT // _SCALE), -(-WIDTH // _SCALE)
    xs2, ys2 = _grid(h2, w2, _SCALE)
    theta2 = orientation_field(params, xs2, ys2)
    period = np.clip(_smooth_grid(params["period_grid"], (HEIGHT, WIDTH)), *PERIOD_RANGE)
    period2 = period[::_SCALE, ::_SCALE] / _SCALE

    # The silhouette is smooth: evaluate it on the half-resolution grid.
    level2 = _mask_level(params, xs2, ys2)
    sensor = params.get("sensor")
    if sensor is not None:
        level2 = level2 + sensor["outline"]["amplitude"] * _smooth_grid(sensor["outline"]["grid"], xs2.shape)
    level = _upsample(level2, cv2.INTER_LINEAR)
    alpha = _smoothstep((1.0 - level) / 0.06)
    mask = alpha > 0.5
    grow_mask = mask[::_SCALE, ::_SCALE]

    g = params["growth"]
    field2, iterations = grow_ridges(theta2, period2, grow_mask, n_seeds=g["n_seeds"], seed=g["seed"])
    # A light blur turns the saturated square wave into a rounded profile,
    # so that the thickness threshold below moves ridge edges smoothly.
    field = cv2.GaussianBlur(_upsample(field2), (0, 0), 1.0)

    if sensor is None:
        ridge, image = _render_ink(params["impression"], field, alpha)
    else:
        ridge, image = _render_sensor_ink(params["impression"], sensor, field, level)
        mask = level < 1.0 - 0.5 * sensor["edge_fade"]  # where the contact fade is half way

    return MasterPrint(
        image=image,
        ridge_field=ridge.astype(np.float32),
        orientation=_upsample_orientation(theta2),
        period=period.astype(np.float32),
        mask=mask,
        cores=_to_image(params, params["cores_finger"]),
        deltas=_to_image(params, params["deltas_finger"]),
        iterations=int(iterations),
    )
