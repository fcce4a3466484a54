"""fingerprints: denoise and inpaint a fingerprint (after ChaLearn LAP 2018, track 3).

A sample is one synthetic fingerprint, 275 x 400 greyscale at 500 dpi (white
background, dark ridges), degraded by blur, brightness, contrast, elastic
deformation, occlusion, scratches, resolution loss and rotation and overlaid
on a background (procedural texture or photograph). The task is to recover
the clean print, pixel-aligned with the input.

The master print (class, orientation field, frequency map, ridges grown by
contextual Gabor filtering, impression) is made by
:mod:`generators.fingerprints.master`; the degradations live in
:mod:`generators.fingerprints.degrade`.

Alignment: the geometric degradations (rotation, elastic deformation) warp
the clean target and the ground-truth fields with the same map as the input,
so target and input stay pixel-aligned, as in the ChaLearn data (whose clean
images are aligned with the degraded ones). Only the photometric
degradations separate input from target.

Sample layout
-------------
* ``inputs["image"]``: (400, 275, 1) float32 in [0, 1], the degraded print;
* ``target["clean"]``: (400, 275, 1) float32 in [0, 1], the clean print;
* ``extras["orientation"]``: (400, 275) float16, ridge orientation in
  radians, [0, pi), direction ``(cos, sin)`` in (x right, y down);
* ``extras["frequency"]``: (400, 275) float16, ridge frequency in cycles
  per pixel (1 / period; periods 8-11 px);
* ``extras["mask"]``: (400, 275) bool, the fingerprint area;
* ``extras["ridges"]``: (400, 275) bool, binary ridge map inside the mask
  (the minutiae are extracted from it);
* ``params``: ``class`` (arch, tented_arch, left_loop, right_loop, whorl),
  ``subclass`` (plain_whorl / double_loop for whorls), ``cores`` and
  ``deltas`` ([x, y] in image pixels, only those inside the frame),
  ``minutiae`` ([x, y, type, angle]: type 1 ending, 3 bifurcation; angle in
  radians, see :func:`~generators.fingerprints.master.extract_minutiae`),
  ``severity``, ``master`` (every master parameter), ``degradations``
  (name -> parameters, None when not applied) and ``growth_iterations``.
  :func:`render_sample` re-creates a sample from its params.

On disk a sample takes about 0.57 MB, 0.44 MB of it the two float16 fields.
Making one costs about 50 ms of CPU (master print ~35 ms, of which ridge
growth ~20 ms), so two workers write 30-40 pairs/s on an idle 2-core machine.
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
    params = {"classes": classes, "severity": [lo, hi], "height": HEIGHT, "width": WIDTH}
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
