"""fingerprints: denoise and inpaint a fingerprint (after ChaLearn LAP 2018, track 3).

A sample is one synthetic fingerprint, 275 x 400 greyscale at 500 dpi (white
background, dark ridges), degraded; the task is to recover the clean print,
pixel-aligned with the input. Two presets (``--preset``), two tasks:

* ``chalearn`` (default, task ``fingerprints``): the challenge's
  degradations, blur, brightness, contrast, elastic deformation, occlusion,
  scratches, resolution loss and rotation over a background (procedural
  texture or photograph), :mod:`generators.fingerprints.degrade`. Its
  images, targets and masks are byte-identical to those before the sensor
  preset existed: the shipped networks and calibrated thresholds were
  trained and scored on them, so its clean print keeps its near-binary
  look (very dark even ridges, white valleys, smooth outline) on purpose.
* ``sensor`` (task ``fingerprints-sensor``): live-scan captures of real
  fingers, :mod:`generators.fingerprints.sensor` (plastic skin distortion,
  dry/wet pressure, incipient ridges, creases, scars, irregular partial
  contact, latent residue, smudges, grey noisy valleys, optics blur, read
  noise and banding, JPEG), each sampled then applied with its parameters
  recorded, over a clean print with the live-scan look of
  :func:`~generators.fingerprints.master.sample_sensor_impression` (ridge
  width and darkness varying along the ridges, pores at 11-22 px along a
  ridge, contact fading towards an irregular outline). Adds a per-pixel
  quality map. Grid: ``generators/fingerprints/samples_sensor.jpg``.

The master print (class, orientation field, frequency map, ridges grown by
contextual Gabor filtering, impression) is made by
:mod:`generators.fingerprints.master`, the minutiae are read off the clean
print by :mod:`generators.fingerprints.minutiae`.

Formation version ``FORMATION_VERSION`` (1) covers both presets as described
here; it is recorded in the task's and every sample's ``params["version"]``
(recorded since issue 22: older datasets record none, which reads as 0, and
the writer will not extend them with version-1 samples).

Alignment: the geometric degradations (rotation, elastic deformation; skin
distortion in the sensor preset) warp the clean target and the ground-truth
fields with the same map as the input (their Jacobian turns orientation and
period), so target and input stay pixel-aligned, as in the ChaLearn data.
Only the photometric degradations separate input from target.

Sample layout
-------------
* ``inputs["image"]``: (400, 275, 1) float32 in [0, 1], the degraded print;
* ``target["clean"]``: (400, 275, 1) float32 in [0, 1], the clean print;
* ``extras["orientation_u8"]``: (400, 275) uint8, ridge orientation code:
  ``code * ORIENTATION_STEP`` radians (pi / 256, error <= 0.35 degrees),
  in [0, pi), direction ``(cos, sin)`` in (x right, y down);
* ``extras["frequency_u8"]``: (400, 275) uint8, ridge frequency code:
  ``FREQUENCY_RANGE[0] + code / 255 * (FREQUENCY_RANGE[1] - FREQUENCY_RANGE[0])``
  cycles per pixel (1/20 to 1/5, error <= 2.9e-4, 0.3 % of a 10 px period);
  :func:`decode_fields` returns both as float32 fields. Both are smooth, so
  their 8-bit PNGs take about 20 kB each on disk where the float16 arrays
  took 220 kB each;
* ``extras["mask"]``: (400, 275) bool, the fingerprint area;
* ``extras["ridges"]``: (400, 275) bool, binary ridge map inside the mask
  (the generator's ridge field > 0);
* ``extras["quality"]`` (sensor preset only): (400, 275, 1) float32 in
  [0, 1], multiples of 1/255 (exact through the PNG codec): how much ridge
  information the input keeps at each pixel, ``prod_k (1 - damage_k)`` over
  the capture steps, 0 outside the fingerprint area; dropped by
  ``--extras masks|none`` like every non-mask extra;
* ``params``: ``class`` (arch, tented_arch, left_loop, right_loop, whorl),
  ``subclass`` (plain_whorl / double_loop for whorls), ``cores`` and
  ``deltas`` ([x, y] in image pixels, only those inside the frame),
  ``minutiae`` ([x, y, type, angle]: x, y in pixels; type 1 ending, 3
  bifurcation; angle in radians in [0, 2 pi) along the ridge orientation,
  see :func:`~generators.fingerprints.minutiae.extract_minutiae`),
  ``severity``, ``master`` (every master parameter), ``degradations``
  (name -> parameters, None when not applied), ``growth_iterations``,
  ``version`` (the formation version) and, for the sensor preset,
  ``preset``. :func:`render_sample` re-creates a sample from its params.

Minutiae are what the clean print shows: about 42 per print (sensor 39;
real full prints have 30-80), 0.5 % of them within 6 px of another (sensor
0.2 %; genuine neighbouring endings near cores not counted) where the raw
crossing-number minutiae had 10.4 % (16 % within 8 px).

Difficulty (``python -m benchmarks.fingerprint_difficulty --n 12``, means
over 12 prints): RMS error in degrees of the structure-tensor orientation
estimate of the project's Gabor enhancement made from the degraded image
(the ``clean`` row: made from the target), with each degradation alone at
severity 0.5 and 1, all together, and the task's own mix; PSNR (dB) and
SSIM of the identity at severity 1 (PSNR > 100: input equals target, the
geometric steps warp both)::

    chalearn       orient@0.5 orient@1 psnr@1 ssim@1 | sensor      orient@0.5 orient@1 psnr@1 ssim@1
    clean                        4.1                  | clean                     4.2
    task mix                     5.5    13.3   0.784  | task mix                 11.3    11.3   0.545
    rotation          4.1        4.1    >100   1.000  | distortion     4.2        4.2    >100   1.000
    elastic           4.2        4.2    >100   1.000  | pressure       4.7        6.9    12.8   0.669
    occlusion         4.7        8.2    20.2   0.946  | incipient      4.2        4.2    34.1   0.994
    scratches         4.3        4.4    30.8   0.978  | creases        4.3        4.4    27.3   0.984
    background        4.1        4.2    12.5   0.775  | scars          5.2        5.2    25.7   0.979
    resolution        4.2        4.5    18.3   0.855  | contact       11.6       18.7    16.3   0.833
    blur              4.2        4.2    19.0   0.860  | latent         4.4        6.2    25.3   0.943
    contrast          4.1        4.1    22.3   0.959  | smudge         4.7        5.5    27.4   0.974
    brightness        4.1        4.1    18.5   0.936  | valleys        4.3        4.2     9.1   0.503
    all together      5.4       11.7     9.5   0.506  | blur           4.2        4.2    26.8   0.944
                                                      | noise          4.2        4.2    24.8   0.701
                                                      | jpeg           4.2        4.2    30.8   0.988
                                                      | all together  17.5       31.4     7.9   0.163

The ChaLearn mix moves the estimate from 4.1 to 5.5 degrees (its
degradations are global and orientation-preserving); the sensor mix moves
it to 11.3 degrees, near the ~14 degrees of real poor-quality prints, from
easy (severity 0) to unreadable (all steps at severity 1: 31.4 degrees).
Noise, blur, JPEG and grey valleys alone barely move a 7 px structure
tensor; they lower PSNR/SSIM and hurt minutiae instead.

On disk a sample takes about 0.16 MB (sensor 0.18 MB). Making one costs
about 45 ms of CPU (sensor about 50 ms; master print ~35 ms, of which
ridge growth ~20 ms), so two workers write about 30 pairs/s on an idle
2-core machine (benchmarks in ``tests/test_bench_fingerprints.py``).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import cv2
import numpy as np

from generators.metrics import mse, psnr, ssim
from generators.fingerprints import sensor
from generators.fingerprints.degrade import DEGRADATIONS, GEOMETRIC, MAPS, PHOTOMETRIC, remap
from generators.fingerprints.master import (
    CLASS_DISTRIBUTIONS,
    CLASSES,
    HEIGHT,
    WIDTH,
    render_master,
    sample_class,
    sample_master,
    sample_sensor_impression,
)
from generators.fingerprints.minutiae import binarise_print, extract_minutiae
from generators.task import Sample, Task, check_image

__all__ = [
    "NAME",
    "FORMATION_VERSION",
    "TASK",
    "SENSOR_TASK",
    "CLASSES",
    "PRESETS",
    "ORIENTATION_STEP",
    "FREQUENCY_RANGE",
    "encode_fields",
    "decode_fields",
    "make_task",
    "make_sample",
    "sample_params",
    "render_sample",
    "sample_class",
]

NAME = "fingerprints"
# Formation version of both presets (module docstring); bump it when the same parameters make other prints.
FORMATION_VERSION = 1
# Preset -> task name. "chalearn" is the challenge's definition and stays byte-identical.
PRESETS = {"chalearn": NAME, "sensor": f"{NAME}-sensor"}
# Compact ground-truth fields (uint8, stored as PNG): orientation code k means
# k * ORIENTATION_STEP radians (error <= step / 2 = 0.35 degrees); frequency
# code k means FREQUENCY_RANGE[0] + k / 255 * (FREQUENCY_RANGE[1] - FREQUENCY_RANGE[0])
# cycles per px (error <= 2.9e-4 cycles/px, 0.3 % of a 10 px period),
# frequencies outside the range clipped (periods 5-20 px; the prints have 6-14).
ORIENTATION_STEP = np.pi / 256
FREQUENCY_RANGE = (1.0 / 20.0, 1.0 / 5.0)
# Probability that a geometric degradation is applied; the photometric ones
# are applied with probability 0.2 + 0.6 * severity, the background always.
_P_GEOMETRIC = {"rotation": 0.5, "elastic": 0.6}


def encode_fields(orientation: np.ndarray, frequency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantise the orientation (radians, [0, pi)) and frequency (cycles/px) fields to uint8 codes.

    Both fields are smooth by construction, so their 8-bit PNGs compress to
    a few kB (float16 ``.npy`` took 220 kB each). See :func:`decode_fields`
    for the inverse and :data:`ORIENTATION_STEP` / :data:`FREQUENCY_RANGE`
    for the precision.
    """
    o = np.rint(orientation.astype(np.float32) * np.float32(1 / ORIENTATION_STEP)).astype(np.int32) % 256
    lo, hi = FREQUENCY_RANGE
    f = np.clip(np.rint((frequency.astype(np.float32) - np.float32(lo)) * np.float32(255 / (hi - lo))), 0, 255)
    return o.astype(np.uint8), f.astype(np.uint8)


def decode_fields(extras: dict) -> dict[str, np.ndarray]:
    """The ground-truth fields of a sample's extras as float32 (H, W) arrays.

    Returns
    -------
    dict
        ``orientation``: ridge orientation in radians in [0, pi), direction
        ``(cos, sin)`` in (x right, y down); ``frequency``: ridge frequency
        in cycles per px (1 / period).
    """
    lo, hi = FREQUENCY_RANGE
    return {
        "orientation": (extras["orientation_u8"].astype(np.float32) * np.float32(ORIENTATION_STEP)),
        "frequency": (np.float32(lo) + extras["frequency_u8"].astype(np.float32) * np.float32((hi - lo) / 255)),
    }


def _check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    return preset


def _check_arguments(classes: str, severity: Sequence[float]) -> tuple[float, float]:
    if classes not in CLASS_DISTRIBUTIONS:
        raise ValueError(f"unknown class distribution {classes!r}; choose from {sorted(CLASS_DISTRIBUTIONS)}")
    try:
        lo, hi = (float(v) for v in severity)
    except (TypeError, ValueError):
        raise ValueError(f"severity must be two numbers (low, high), got {severity!r}") from None
    if not (0.0 <= lo <= hi <= 1.0):
        raise ValueError(f"severity must satisfy 0 <= low <= high <= 1, got ({lo}, {hi})")
    return lo, hi


def sample_params(rng: np.random.Generator, *, classes: str = "natural", severity: Sequence[float] = (0.0, 1.0),
                  preset: str = "chalearn") -> dict:  # fmt: skip
    """Draw every parameter of a sample: the master print, then the degradations.

    The first draw is the class (:func:`sample_class`). Each degradation is
    sampled whether applied or not, so the random stream does not depend on
    which ones are; inactive ones are recorded as None. The ``sensor``
    preset draws the master's live-scan look (``master["sensor"]``) right
    after the master and records ``"preset": "sensor"``; the ChaLearn
    preset's params are unchanged from before presets existed.
    """
    lo, hi = _check_arguments(classes, severity)
    _check_preset(preset)
    master = sample_master(rng, classes=classes)
    if preset == "sensor":
        master["sensor"] = sample_sensor_impression(rng)
    s = float(rng.uniform(lo, hi))
    degradations: dict[str, Any] = {}
    if preset == "sensor":
        for name, (sample, _) in sensor.STEPS.items():
            p0, p1 = sensor.P_ACTIVE[name]
            active = bool(rng.uniform() < p0 + p1 * s)
            params = sample(rng, s)
            degradations[name] = params if active else None
        return {"preset": "sensor", "severity": round(s, 5), "master": master, "degradations": degradations}
    for name, (sample, _) in DEGRADATIONS.items():
        p_active = _P_GEOMETRIC.get(name, 1.0 if name == "background" else 0.2 + 0.6 * s)
        active = bool(rng.uniform() < p_active)
        params = sample(rng, s)
        degradations[name] = params if active else None
    return {"severity": round(s, 5), "master": master, "degradations": degradations}


def _compose(maps: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sampling map of applying ``maps[0]``, then ``maps[1]``, ...: m0(m1(...(p)))."""
    mx, my = maps[-1]
    for ax, ay in reversed(maps[:-1]):
        mx, my = remap(ax, mx, my, border=None), remap(ay, mx, my, border=None)
    return mx, my


def _warp_fields(master, mx: np.ndarray, my: np.ndarray) -> dict[str, np.ndarray]:
    """Warp the clean print and its ground truth with the sampling map (mx, my).

    Orientation and period are transformed by the map's Jacobian ``J``: a
    source ridge direction ``d`` becomes ``J^-1 d`` and a source period ``P``
    becomes ``P / |J^T n|`` with ``n`` the source ridge normal.
    """
    image = remap(master.image, mx, my, border=1.0)
    ridge = remap(master.ridge_field, mx, my, border=-1.0)
    mask = remap(master.mask.astype(np.float32), mx, my, border=0.0) > 0.5
    period = remap(master.period, mx, my, border=None)
    c2 = remap(np.cos(2 * master.orientation), mx, my, border=None)
    s2 = remap(np.sin(2 * master.orientation), mx, my, border=None)
    theta = 0.5 * np.arctan2(s2, c2)
    jxx, jxy = np.gradient(mx, axis=1), np.gradient(mx, axis=0)
    jyx, jyy = np.gradient(my, axis=1), np.gradient(my, axis=0)
    dx, dy = np.cos(theta), np.sin(theta)
    ex, ey = jyy * dx - jxy * dy, -jyx * dx + jxx * dy  # det(J) J^-1 d; det > 0
    nx, ny = -dy, dx
    gx, gy = jxx * nx + jyx * ny, jxy * nx + jyy * ny  # J^T n
    return {
        "image": np.clip(image, 0.0, 1.0),
        "ridge": ridge,
        "mask": mask,
        "period": (period / np.maximum(np.hypot(gx, gy), 1e-3)).astype(np.float32),
        "orientation": np.mod(np.arctan2(ey, ex), np.pi).astype(np.float32),
    }


def _locate(points: list, mx: np.ndarray, my: np.ndarray) -> list:
    """Image positions after the warp of source points (nearest pixel, then one Newton step)."""
    out = []
    h, w = mx.shape
    for sx, sy in points:
        d2 = (mx - sx) ** 2 + (my - sy) ** 2
        i = int(np.argmin(d2))
        y, x = divmod(i, w)
        if d2.flat[i] > 2.0 or not (0 < x < w - 1 and 0 < y < h - 1):
            continue  # outside the frame
        j = np.array([[mx[y, x + 1] - mx[y, x - 1], mx[y + 1, x] - mx[y - 1, x]],
                      [my[y, x + 1] - my[y, x - 1], my[y + 1, x] - my[y - 1, x]]]) / 2.0  # fmt: skip
        step = np.linalg.solve(j, [sx - mx[y, x], sy - my[y, x]])
        out.append([round(float(x + step[0]), 3), round(float(y + step[1]), 3)])
    return out


def _inside(points: list) -> list:
    return [p for p in points if 0 <= p[0] < WIDTH and 0 <= p[1] < HEIGHT]


def _quantise01(x: np.ndarray) -> np.ndarray:
    """Round to k / 255 the way the dataset's PNG codec reads it back, so it round-trips exactly."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8).astype(np.float32) / np.float32(255)


def _capture(clean: np.ndarray, f: dict, deg: dict, softness: float) -> tuple[np.ndarray, np.ndarray]:
    """The sensor preset's input and quality map (see :mod:`generators.fingerprints.sensor`)."""
    skin = cv2.GaussianBlur(f["mask"].astype(np.float32), (0, 0), 3.0)
    ctx = sensor.Context(ridge=f["ridge"], mask=f["mask"], softness=float(softness), skin=skin)
    keep = np.ones(clean.shape, np.float32)
    x = 1.0 - clean  # ink
    for name, (_, apply) in sensor.INK.items():
        if deg.get(name) is not None:
            x, damage = apply(x, deg[name], ctx)
            keep *= 1.0 - damage
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    if deg.get("valleys") is None:
        x = 1.0 - x
    for name, (_, apply) in sensor.IMAGE.items():
        if deg.get(name) is not None:
            x, damage = apply(x, deg[name], ctx)
            keep *= 1.0 - damage
    return np.clip(x, 0.0, 1.0).astype(np.float32), keep * f["mask"]


def render_sample(params: dict) -> Sample:
    """Make the sample described by ``params`` (from :func:`sample_params`, or a sample's params)."""
    preset = _check_preset(params.get("preset", "chalearn"))
    master = render_master(params["master"])
    deg = params["degradations"]
    geometric = MAPS if preset == "chalearn" else {k: m for k, (_, m) in sensor.GEOMETRIC.items()}
    maps = [geometric[name](deg[name], (HEIGHT, WIDTH)) for name in geometric if deg.get(name) is not None]
    if maps:
        mx, my = _compose(maps)
        f = _warp_fields(master, mx, my)
        cores, deltas = _locate(master.cores, mx, my), _locate(master.deltas, mx, my)
    else:
        f = {"image": master.image, "ridge": master.ridge_field, "mask": master.mask, "period": master.period,
             "orientation": master.orientation}  # fmt: skip
        cores, deltas = _inside(master.cores), _inside(master.deltas)
    clean = f["image"].astype(np.float32)
    extras = {}
    if preset == "chalearn":
        image = clean
        for name, (_, apply) in PHOTOMETRIC.items():
            if deg.get(name) is not None:
                image = apply(image, deg[name])
    else:
        image, quality = _capture(clean, f, deg, params["master"]["impression"]["softness"])
        extras["quality"] = _quantise01(quality)[..., None]
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    ridges = (f["ridge"] > 0) & f["mask"]
    minutiae = extract_minutiae(binarise_print(clean, ridges, f["mask"]), f["mask"], f["orientation"])
    orientation_u8, frequency_u8 = encode_fields(f["orientation"], 1.0 / f["period"])
    m = params["master"]
    return Sample(
        inputs={"image": check_image(image[..., None])},
        target={"clean": check_image(clean[..., None])},
        extras={"orientation_u8": orientation_u8, "frequency_u8": frequency_u8, "mask": f["mask"], "ridges": ridges,
                **extras},  # fmt: skip
        params={
            "version": FORMATION_VERSION,
            **({"preset": preset} if preset != "chalearn" else {}),
            "class": m["class"],
            "subclass": m["subclass"],
            "cores": cores,
            "deltas": deltas,
            "minutiae": [[int(x), int(y), int(t), round(float(a), 4)] for x, y, t, a in minutiae],
            "growth_iterations": master.iterations,
            "severity": params["severity"],
            "master": m,
            "degradations": deg,
        },
    )


def make_sample(rng: np.random.Generator, *, classes: str = "natural", severity: Sequence[float] = (0.0, 1.0),
                preset: str = "chalearn") -> Sample:  # fmt: skip
    """Make one fingerprint sample (see the module docstring for its layout).

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    classes : {"natural", "uniform"}
        Class distribution (:func:`sample_class`).
    severity : (low, high)
        Range of the per-sample severity in [0, 1] (0 easy, 1 hard).
    preset : {"chalearn", "sensor"}
        Degradations and clean-print look (module docstring).
    """
    return render_sample(sample_params(rng, classes=classes, severity=severity, preset=preset))


def make_task(*, classes: str = "natural", severity: Sequence[float] = (0.0, 1.0), preset: str = "chalearn") -> Task:
    """The ``fingerprints`` task (``preset="chalearn"``) or ``fingerprints-sensor`` (``preset="sensor"``).

    Both are scored with MSE, PSNR and SSIM on [0, 1] greyscale as ChaLearn
    did, on 50 test samples (10 quick). ``fingerprints-sensor`` belongs to
    the ``fingerprints`` family: every method declared for ``fingerprints``
    runs on it too (same inputs and target).

    Raises
    ------
    ValueError
        For an unknown class distribution or preset, or a severity range
        outside [0, 1].
    """
    lo, hi = _check_arguments(classes, severity)
    _check_preset(preset)
    params = {"version": FORMATION_VERSION, "classes": classes, "severity": [lo, hi], "height": HEIGHT, "width": WIDTH}
    if preset != "chalearn":  # part of the identity only when not the default, so existing datasets keep theirs
        params["preset"] = preset
    return Task(
        name=PRESETS[preset],
        make_sample=functools.partial(make_sample, classes=classes, severity=(lo, hi), preset=preset),
        metrics={"mse": mse, "psnr": psnr, "ssim": ssim},
        input_kind="image",
        target_key="clean",
        test_size=50,
        test_seed=1_000_003,
        quick_size=10,
        params=params,
        higher_is_better={"mse": False, "psnr": True, "ssim": True},
        family=NAME,
    )


TASK = make_task()
SENSOR_TASK = make_task(preset="sensor")
