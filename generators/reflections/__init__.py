"""reflections: multi-view sequences through glass, transmission as target.

A camera moving past a pane of glass sees the transmitted scene *T* behind
the glass and the virtual image of the scene in front of it, *R*, reflected
by the glass. Both are (approximately) planar layers at different depths, so
as the camera moves they slide over each other along different trajectories.
A method sees the frames and predicts *T* of the reference (middle) frame.
The setting of "Distilling Reflection Dynamics for Single-Image Reflection
Removal" (multi-frame teacher, single-frame student); the formation model
is ours (the paper's Seq1K data are real photographs).

Formation model (version ``FORMATION_VERSION``)
-------------------------------------------
Units: metres, radians, pixels; images are sRGB in [0, 1] on disk and mixed
in linear light (IEC 61966-2-1 EOTF / OETF).

Camera. Pinhole, square pixels, principal point at the image centre,
horizontal field of view ``fov`` ~ U(50, 75) degrees, so ``f = W / (2 tan(fov
/ 2))`` px. Reference frame ``r = N // 2``. Frame ``k`` has the pose
``X_k = R_k X + t_k`` (reference-camera coordinates ``X`` to frame-``k``
coordinates) with ``R_r = I, t_r = 0``. The trajectory is smooth: a velocity
``v`` (``|v|`` ~ U(0.02, 0.10) m per frame, a hand-held sweep, direction mostly parallel to the
glass: horizontal within +-25 degrees, a forward component ~ N(0, 0.15 |v|)),
plus a per-frame acceleration jitter N(0, 0.15 |v|); small rotations with an
angular velocity of N(0, 0.4) degrees per frame about each axis. Frame ``k``
is ``k - r`` steps from the reference.

Glass. A plane ``g^T X = d_g`` (``d_g`` ~ U(0.3, 1.2) m, normal ``g`` tilted
by yaw ~ U(-30, 30) and pitch ~ U(-15, 15) degrees from the optical axis),
refractive index ``n = 1.5``, thickness ``t`` ~ U(3, 12) mm (a window pane
to shop-window glass). The transmitted layer is not displaced (a few mm of
lateral shift is far below a pixel at 2-25 m).

Layers. *T* is a textured plane ``n_T^T X = Z_T`` behind the glass
(``Z_T`` log-uniform in [2, 25] m, ``n_T`` tilted by up to 25 degrees, so
its flow varies inside the layer). *R* is the mirror image across the glass
plane of a textured plane in front of the glass (distance from the camera
``D_R`` log-uniform in [0.3, 4] m, parallel to the glass): a planar mirror
maps it to a plane ``g^T X = 2 d_g + D_R`` that is static in the world, so it
moves like a real plane at that depth. A plane ``n^T X = d`` maps reference
pixels to frame ``k`` by the homography ``H_k = K (R_k + t_k n^T / d) K^-1``
(Hartley and Zisserman, eq. 13.2). The flow of a layer from frame ``k`` to
the reference is ``H_k^-1 p - p``, exact by construction; the two layers'
flows differ whenever the camera translates.

Ghost (the back surface). Light reflected by the back surface leaves the
glass parallel to the front surface's reflection, displaced as if by a
mirror ``s = t cos(theta_i) / (n cos(theta_t))`` behind the front surface
(the apparent thickness, ``t / n`` at normal incidence; evaluated at the
centre ray). Its virtual image *G* is therefore *R*'s virtual plane
translated by ``2 s g``: the same texture seen from the camera translated by
``2 s R_k g``, ``H^G_k = K (R_k + (t_k + 2 s R_k g) g^T / (2 d_g + D_R))
K^-1``. Its offset from *R* follows the geometry: it grows with the
obliquity of the glass and changes over the frame and between frames, and is
mostly sub-pixel at 256 px (statistics below).

Motion floor. After sampling, the layers' relative motion ``m`` (px per
frame: for every non-reference frame, the mean distance between where the
two layers' homographies send a 5 x 5 grid of reference pixels, divided by
``|k - r|``; then the mean over frames, :func:`relative_motion_px`) is
measured; if it is below ``MOTION_FLOOR_PX`` = 1 px per frame at 256 px
(scaled with the width), every camera centre is scaled by the factor that
lifts it to the floor (recorded as ``motion_scale``; rotations move both
layers alike, so relative motion comes from the translation, nearly
linearly; re-measured, up to four times). Without motion the multi-view
task has no answer.

Layer contents (``--content``). ``mix`` (default): the shared content mix
(:func:`generators.shared.content.sample_content` with ``DEFAULT_MIX``: 75 %
VibrantLeaves-style dead-leaves images, 25 % procedural book covers);
``photos``: the packaged scikit-image photographs, held out of the mix as a
real-content test split; ``--images DIR``: the user's images. *T* and *R*
always come from different sources. Dead-leaves images are drawn at the
canvas size from a pool of ``content.DEAD_LEAVES_POOL`` = 256 plates (the content
seed modulo the pool) kept in the on-disk content cache and per process (a plate costs ~270 ms at
384 px, the generator ~90 ms per sequence; see "Speed"). A random crop
(scale 0.5-1 of the side for dead leaves, 0.35-1 otherwise) is resized to
the canvas, which is larger than the view by a margin, so no frame sees past
the texture. *T* is never mirrored; *R* is mirrored left-right (it is seen in
a mirror) and scaled by the reflected-to-transmitted scene radiance ratio
``rho``.

Mixing (per frame, linear light), ``--glass fresnel`` (default)::

    I = s * ( (1 - F) T + rho F1 (K * R) + rho (F - F1) (K * G) )

* ``F1(theta)`` is the unpolarised Fresnel reflectance of one air-glass
  surface at the angle of incidence ``theta`` of each pixel's ray on the
  glass (:func:`fresnel_surface`, 0.040 at normal incidence) and
  ``F = 2 F1 / (1 + F1)`` that of the pane with both surfaces and their
  incoherent multiple reflections (:func:`fresnel_glass`, 0.077): the front
  surface reflects ``F1``, the ghost carries the rest, ``F - F1``, so the
  ghost is inside the Fresnel budget; a lossless pane passes ``1 - F``;
* ``rho`` ~ log-uniform [0.25, 8], the radiance of the reflected scene over
  that of the transmitted one: 1/4 is a lit room seen from outside in
  daylight, the street in front of it dimmer than the interior; 8 a
  sunlit street reflected in a shop window or a lit interior reflected in a
  window at dusk. Reflections much weaker than ~2 % of the light are not
  what reflection removal is asked to fix, and beyond ~8 the transmitted
  scene is practically invisible (about half the light at the upper end).
  Log-uniform: the ratio is a ratio of illuminations, spread over decades;
* ``K`` is a Gaussian defocus blur of *R* and *G* (the camera focuses on *T*),
  ``sigma`` ~ U(0, 5) px at 256 px (scaled with the width): sampled, as in
  the synthetic recipes below, because real reflections are more blurred
  than a thin-lens model with a phone aperture predicts.

``--glass strong``: the strong-reflection regime of the published synthetic
recipes, Fan et al. 2017 (CEILNet) and Zhang et al. 2018 ("Single image
reflection separation with perceptual losses"), which is formation version
1's strength and ghost::

    I = s * ( T + alpha * (K * R') ),     alpha = a0 * F(theta) / F(theta_c)

with ``a0`` ~ U(0.1, 0.45) the strength at the centre ray (``theta_c``),
falling off or rising across the frame as Fresnel's law says, clipped to
[0.02, 0.6]; *R*'s radiance scaled by U(0.6, 1.6); with probability 0.35,
``R' = R`` plus a copy shifted by a constant 2-8 px (at 256 px) attenuated by
U(0.3, 0.7), otherwise ``R' = R``. (Version 1 also mirrored *T* half the
time; no preset does now.)

Both presets: ``s`` is the exposure, ``s = min(1, 1 / q)`` with ``q`` the
99.5th percentile of the mixed linear image over all frames and channels
(taken on every 7th value), so bright reflections are rescaled instead of
clipped into flat white (the few values still above 1 are clipped); frames
are then sRGB-encoded.

Statistics (formation version 2, defaults, 200 sequences, seed 0:
``python -m benchmarks.reflection_formation --n 200``; version 1 measured
the same way on its own code; p10 / p50 / p90 over sequences)
::

    statistic                               version 1             version 2 (fresnel)
    reflection weight at the centre pixel   0.14 / 0.28 / 0.42    0.031 / 0.13 / 0.46
    share of the light in the reflection    0.06 / 0.27 / 0.65    0.029 / 0.13 / 0.38
      sequences with a share > 0.5          36 of 200             4 of 200
    ghost offset, px (reference frame)      2.2 / 4.7 / 6.9,      0.19 / 0.38 / 0.77,
                                            constant, 71 of 200   every sequence
    ghost offset range over frame + frames  0                     0.26 / 0.52 / 1.15 px
    ghost's energy                          + 30-70 % of R        F - F1: 41-48 % of rho F
    relative layer motion, px per frame     0.66 / 2.5 / 6.3      1.00 / 2.4 / 6.6
      sequences below 0.5 / 1 px per frame  11 / 37 of 200        0 / 0 of 200 (floor)
    transmission's own motion, px / frame   1.4 / 2.9 / 6.7       1.5 / 3.0 / 6.9
    camera path scaled by the floor         --                    41 of 200, x1.64 p90, x5.6 max

(version 1's weight excludes its ghost's gain; its mirrored *T* is gone in
both presets.) The relative motion is measured by :func:`relative_motion_px`
(a 5 x 5 grid mean, per frame of offset); issue 23 measured version 1's
below 0.5 px in the lowest tenth with the diagnosis's per-frame measure at
128 px.

Speed
-----
``python -m benchmarks.generator_profile reflections --n 8`` (CPU ms per
sequence, 5 frames at 256 px, one thread, 2026-12-05, a shared 2-core
machine): version 1, 85 (make 53 + encode 33); version 2 with every
dead-leaves plate already cached, 85 (make 51 + encode 34), of which the
content costs ~6 ms (7 %: crops, resizes and the procedural covers, which
are drawn fresh, ~10 ms each at 384 px); with an empty cache (the profile's
8 samples), 533 (make 499), because each first use of a plate costs ~270 ms.
Plates go to the on-disk content cache (``generators.shared.content``), so
the pool (256 plates, ~70 s of CPU at 256 px) is drawn once per machine and
cache folder, not once per worker; a plate read back costs ~2 ms. The
benchmark measures both the first run on a machine and later runs
(``tests/test_bench_reflections.py``). A pool is repetition: each plate
is seen with other crops (scale 0.5-1), mirror and radiance, ~1,000 times in
such a job, and the train and test splits share the pool.

Sample layout
-------------
* ``inputs["frames"]``: (N, H, W, 3) float32 sRGB, the captured frames;
  the reference is frame ``N // 2``;
* ``target["clean"]``: (H, W, 3) float32 sRGB, the transmitted layer of the
  reference frame, ``oetf(s (1 - F) T)`` (fresnel; ``oetf(s T)`` strong): the
  view through the glass with nothing reflected;
* ``extras["transmission"]``: (N, H, W, 3) that layer per frame;
* ``extras["reflection"]``: (N, H, W, 3) the reflected light, ``oetf(s rho
  (F1 K*R + (F - F1) K*G))`` (fresnel) or ``oetf(s alpha K*R')`` (strong), so
  ``frames = oetf(clip(eotf(transmission) + eotf(reflection), 0, 1))``;
* ``extras["alpha"]``: (N, H, W, 1) float32, the reflected layer's weight
  per frame: ``rho F`` (fresnel: front surface and ghost) or ``alpha``
  (strong);
* ``extras["flow_t"]``, ``extras["flow_r"]``: (N, H, W, 2) float16, pixels,
  ``(dx, dy)`` from frame ``k`` to the reference frame for *T* and *R*
  (float16: the flows are smooth and below 256 px, so the error is below
  0.125 px);
* ``params``: every sampled parameter (``glass.preset``, ``content``,
  ``motion_scale``, ``relative_motion_px``; ``alpha_centre`` is derived,
  ``rho F(theta_c)``, for the fresnel preset) and the layers' homographies
  (``homographies_ghost`` for the fresnel preset).

Command line::

    python -m generators.reflections --n N --out DIR [--frames 5] [--size 256]
        [--glass fresnel|strong] [--content mix|photos | --images DIR]
        [--seed S] [--workers N] [--engine local|ray]
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from typing import Any, Mapping

import cv2
import numpy as np

from generators.shared.colour import linear_to_srgb_table, srgb_to_linear
from generators.shared.content import CONTENT_MIXES, load_content, pooled, sample_content
from generators.shared.covers import CoverFolder
from generators.metrics import lmse, ncc, psnr, ssim
from generators.task import Sample, Task

__all__ = ["NAME", "FORMATION_VERSION", "TASK", "GLASS_PRESETS", "CONTENT_MIXES", "make_task", "make_sample",
           "sample_sequence", "render_sequence", "fresnel_surface", "fresnel_glass", "relative_motion_px",
           "DERIVED_PARAMS"]

NAME = "reflections"
FORMATION_VERSION = 2
MAX_FRAMES = 10
_MARGIN = 0.25  # canvas margin on each side, fraction of the view size
_N_GLASS = 1.5
GLASS_PRESETS = ("fresnel", "strong")
RADIANCE_RATIO = (0.25, 8.0)  # reflected / transmitted scene radiance, log-uniform (fresnel preset)
THICKNESS_MM = (3.0, 12.0)  # glass thickness, uniform (fresnel preset)
MOTION_FLOOR_PX = 1.0  # least relative layer motion, px per frame at 256 px (scaled with the width)
PLATE_CACHE_MB = 160  # the plate cache's bound, MiB per process


# ---------------------------------------------------------------- colour


def fresnel_surface(cos_theta: np.ndarray, n: float = _N_GLASS) -> np.ndarray:
    """Unpolarised reflectance ``F1`` of one air-glass surface at incidence ``theta`` (0.04 at normal
    incidence for n = 1.5): the mean of the s and p Fresnel reflectances (Hecht, Optics, eqs. 4.43-4.44).
    ``cos_theta`` float32 or float64, any shape; the result has its dtype."""
    ci = np.clip(np.asarray(cos_theta, np.float32 if np.asarray(cos_theta).dtype == np.float32 else np.float64),
                 1e-6, 1.0)
    st = np.sqrt(np.maximum(0.0, 1.0 - ci**2)) / n
    ct = np.sqrt(np.maximum(0.0, 1.0 - st**2))
    rs = ((ci - n * ct) / (ci + n * ct)) ** 2
    rp = ((ct - n * ci) / (ct + n * ci)) ** 2
    return 0.5 * (rs + rp)


def fresnel_glass(cos_theta: np.ndarray, n: float = _N_GLASS) -> np.ndarray:
    """Unpolarised reflectance of a pane (both surfaces, incoherent): ``2 F1 / (1 + F1)`` with ``F1``
    :func:`fresnel_surface` (0.077 at normal incidence for n = 1.5). ``F1`` of it comes off the front
    surface; the rest, ``F - F1``, is the back surface's ghost (multiple internal reflections included).
    """
    f1 = fresnel_surface(cos_theta, n)
    return 2 * f1 / (1 + f1)


# ---------------------------------------------------------------- geometry


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation about y (yaw), x (pitch), z (roll), radians; R = Rz Rx Ry."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def _intrinsics(f: float, h: int, w: int) -> np.ndarray:
    return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])


def plane_homography(k: np.ndarray, rot: np.ndarray, t: np.ndarray, normal: np.ndarray, dist: float) -> np.ndarray:
    """Reference pixels -> frame pixels for the plane ``normal^T X = dist``.

    ``H = K (R + t n^T / d) K^-1`` with ``X_k = R X + t`` (Hartley and
    Zisserman, eq. 13.2); normalised so that ``H[2, 2] = 1``.
    """
    h = k @ (rot + np.outer(t, normal) / dist) @ np.linalg.inv(k)
    return h / h[2, 2]


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    ys.setflags(write=False)
    xs.setflags(write=False)
    return ys, xs


def _flow_to_reference(hom: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H, W, 2) float32: ``H^-1 p - p`` for every pixel ``p`` of the frame."""
    inv = np.linalg.inv(hom)
    ys, xs = _grid(h, w)
    den = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    u = (inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) / den
    v = (inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) / den
    return np.stack([u - xs, v - ys], axis=-1).astype(np.float32)


def _unit(yaw: float, pitch: float) -> np.ndarray:
    """Unit normal facing the camera's +z axis, tilted by yaw and pitch (radians)."""
    return _rot(yaw, pitch, 0.0) @ np.array([0.0, 0.0, 1.0])


# ---------------------------------------------------------------- sampling


def _sample_source(rng: np.random.Generator, mix: Mapping[str, float], user: CoverFolder | None,
                   exclude: str | None) -> dict:
    """A layer's content description (``generators.shared.content``) and its crop; never ``exclude``."""
    for _ in range(20):
        desc = pooled(sample_content(rng, mix=mix, user=user))
        key = json.dumps(desc, sort_keys=True)
        if key != exclude:
            break
    else:
        raise ValueError("--images needs at least two different images (T and R must differ)")
    # Dead leaves are scale invariant: a smaller crop only upsamples (softens) the plate.
    scale = float(rng.uniform(0.5 if desc["kind"] == "dead_leaves" else 0.35, 1.0))
    cx, cy = (float(v) for v in rng.uniform(0.0, 1.0, size=2))
    return {"source": desc, "key": key, "crop_scale": scale, "crop_centre": [cx, cy]}


def relative_motion_px(homs_t: np.ndarray, homs_r: np.ndarray, reference: int, size: tuple[int, int]) -> float:
    """Mean relative displacement of the two layers, px per frame of offset from the reference.

    For every frame ``k != reference``, the distance between where the two layers' homographies send
    the reference pixels of a 5 x 5 grid over the view, averaged and divided by ``|k - reference|``;
    then the mean over those frames.
    """
    h, w = size
    ys, xs = np.meshgrid(np.linspace(0, h - 1, 5), np.linspace(0, w - 1, 5), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    per_frame = []
    for k in range(len(homs_t)):
        if k == reference:
            continue
        a, b = np.asarray(homs_t[k]) @ pts, np.asarray(homs_r[k]) @ pts
        d = np.sqrt(((a[:2] / a[2] - b[:2] / b[2]) ** 2).sum(axis=0)).mean()
        per_frame.append(d / abs(k - reference))
    return float(np.mean(per_frame)) if per_frame else 0.0


def _scale_translation(p: dict, factor: float) -> dict:
    return {**p, "poses": [{**pose, "centre": [c * factor for c in pose["centre"]]} for pose in p["poses"]]}


def _apply_motion_floor(p: dict) -> dict:
    """Scale the camera translation so that the layers' relative motion reaches the floor (rotation
    moves both layers alike; relative motion comes from translation, nearly linearly)."""
    floor = MOTION_FLOOR_PX * p["size"][1] / 256.0
    total = 1.0
    for _ in range(4):
        _, _, homs_t, homs_r, _, _ = _geometry(p)
        m = relative_motion_px(homs_t, homs_r, p["reference"], tuple(p["size"]))
        if m >= floor or m <= 0:
            break
        factor = floor / m * 1.001
        p, total = _scale_translation(p, factor), total * factor
    return {**p, "motion_scale": float(total), "relative_motion_px": float(m)}


def sample_sequence(rng: np.random.Generator, *, frames: int, size: tuple[int, int], glass: str = "fresnel",
                    content: str = "mix", images: CoverFolder | None = None) -> dict[str, Any]:
    """Sample every parameter of one sequence (JSON-able); see the module docstring."""
    if glass not in GLASS_PRESETS:
        raise ValueError(f"glass {glass!r}; choose from {list(GLASS_PRESETS)}")
    h, w = size
    scale = w / 256.0
    n, r = int(frames), int(frames) // 2
    fov = float(np.deg2rad(rng.uniform(50, 75)))
    speed = float(rng.uniform(0.02, 0.10))
    heading = float(np.deg2rad(rng.uniform(-25, 25))) + (np.pi if rng.random() < 0.5 else 0.0)
    vel = speed * np.array([np.cos(heading), np.sin(heading), 0.0]) + [0, 0, rng.normal(0, 0.15 * speed)]
    omega = np.deg2rad(rng.normal(0, 0.4, size=3))
    poses = []
    # Positions and orientations relative to the reference, integrated step by step from it.
    for k in range(n):
        steps = k - r
        jitter = rng.normal(0, 0.15 * speed, size=(abs(steps), 3)).sum(axis=0) if steps else np.zeros(3)
        centre = vel * steps + jitter  # camera centre in reference coordinates
        angles = omega * steps + (np.deg2rad(rng.normal(0, 0.1, size=3)) if steps else 0.0)
        poses.append({"centre": [float(c) for c in centre], "yaw_pitch_roll": [float(a) for a in angles]})
    mix = {"user": 1.0} if images is not None else CONTENT_MIXES[content]
    t_src = _sample_source(rng, mix, images, None)
    r_src = _sample_source(rng, mix, images, t_src["key"])
    p: dict[str, Any] = {
        "version": FORMATION_VERSION,
        "frames": n, "reference": r, "size": [h, w],
        "content": "user" if images is not None else content,
        "fov_deg": float(np.rad2deg(fov)),
        "poses": poses,
        "glass": {"preset": glass, "n": _N_GLASS, "distance": float(rng.uniform(0.3, 1.2)),
                  "yaw_deg": float(rng.uniform(-30, 30)), "pitch_deg": float(rng.uniform(-15, 15))},
        "transmission": {**t_src, "depth": float(np.exp(rng.uniform(np.log(2.0), np.log(25.0)))),
                         "tilt_deg": [float(v) for v in rng.uniform(-25, 25, size=2)]},
        "reflection": {**r_src, "distance": float(np.exp(rng.uniform(np.log(0.3), np.log(4.0))))},
        "blur_sigma": float(rng.uniform(0.0, 5.0) * scale),
    }
    g = _unit(np.deg2rad(p["glass"]["yaw_deg"]), np.deg2rad(p["glass"]["pitch_deg"]))
    cos_c = abs(float(g[2]))  # the centre ray of the reference frame is the optical axis
    if glass == "fresnel":
        ratio = float(np.exp(rng.uniform(np.log(RADIANCE_RATIO[0]), np.log(RADIANCE_RATIO[1]))))
        thickness = float(rng.uniform(*THICKNESS_MM))
        p["reflection"]["radiance"] = ratio
        p["glass"]["thickness_mm"] = thickness
        p["alpha_centre"] = float(ratio * fresnel_glass(cos_c))  # derived: the weight at the centre ray
        p["ghost"] = {"thickness_mm": thickness, "apparent_mm": float(_apparent_thickness(thickness, cos_c))}
    else:
        p["reflection"]["radiance"] = float(rng.uniform(0.6, 1.6))
        p["alpha_centre"] = float(rng.uniform(0.1, 0.45))
        ghost = None
        if rng.random() < 0.35:
            ang = rng.uniform(0, 2 * np.pi)
            mag = rng.uniform(2, 8) * scale
            ghost = {"shift": [float(mag * np.cos(ang)), float(mag * np.sin(ang))],
                     "gain": float(rng.uniform(0.3, 0.7))}
        p["ghost"] = ghost
    return _apply_motion_floor(p)


def _apparent_thickness(thickness_mm: float, cos_i: float, n: float = _N_GLASS) -> float:
    """Mirror displacement (mm) that shifts a ray reflected at incidence ``theta_i`` as the back surface
    does: ``t cos(theta_i) / (n cos(theta_t))`` (``t / n`` at normal incidence)."""
    sin_t = np.sqrt(max(0.0, 1.0 - cos_i**2)) / n
    return float(thickness_mm * cos_i / (n * np.sqrt(1.0 - sin_t**2)))


# ---------------------------------------------------------------- apply


_PLATES: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()


def _plate(desc: dict, side: int) -> np.ndarray:
    """A dead-leaves plate (``side`` x ``side`` uint8), from a per-process LRU cache of at most
    ``PLATE_CACHE_MB`` (the whole pool at 256 px: 256 plates of 384 px, 113 MB). A plate costs
    ~270 ms at 384 px, so a plate is drawn once per process and reused with other crops."""
    key = (json.dumps(desc, sort_keys=True), int(side))
    img = _PLATES.get(key)
    if img is not None:
        _PLATES.move_to_end(key)
        return img
    img = load_content(desc, (side, side))
    img.setflags(write=False)
    _PLATES[key] = img
    while sum(v.nbytes for v in _PLATES.values()) > PLATE_CACHE_MB * 2**20 and len(_PLATES) > 1:
        _PLATES.popitem(last=False)
    return img


def _layer_canvas(desc: dict, size: tuple[int, int], margin: int, user_root: str | None) -> np.ndarray:
    """The layer's texture on the reference canvas: (H + 2m, W + 2m, 3) linear float32."""
    h, w = size[0] + 2 * margin, size[1] + 2 * margin
    src = desc["source"]
    side = max(h, w)
    if src["kind"] == "dead_leaves":
        img = _plate(src, side)
    else:
        img = load_content(src, (side, side), user_root)
    sh, sw = img.shape[:2]
    crop_side = max(8, int(desc["crop_scale"] * min(sh, sw)))
    ch, cw = (crop_side, int(crop_side * w / h)) if w <= h else (int(crop_side * h / w), crop_side)
    ch, cw = min(ch, sh), min(cw, sw)
    y0 = int(round(desc["crop_centre"][1] * (sh - ch)))
    x0 = int(round(desc["crop_centre"][0] * (sw - cw)))
    crop = np.ascontiguousarray(img[y0 : y0 + ch, x0 : x0 + cw])
    interp = cv2.INTER_AREA if ch >= h else cv2.INTER_LINEAR
    return _LUT[cv2.resize(crop, (w, h), interpolation=interp)]


_LUT = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)


def _geometry(p: dict) -> tuple[np.ndarray, list, list, list, list | None, np.ndarray]:
    """Intrinsics, rotations, and per frame the homographies of T, R and (fresnel preset) R's ghost."""
    h, w = p["size"]
    f = w / (2 * np.tan(np.deg2rad(p["fov_deg"]) / 2))
    k = _intrinsics(f, h, w)
    g = _unit(np.deg2rad(p["glass"]["yaw_deg"]), np.deg2rad(p["glass"]["pitch_deg"]))
    n_t = _unit(*np.deg2rad(p["transmission"]["tilt_deg"]))
    d_t = p["transmission"]["depth"] * float(n_t[2])  # the plane passes through (0, 0, depth)
    d_r = 2 * p["glass"]["distance"] + p["reflection"]["distance"]
    ghost = p.get("ghost") if p["glass"]["preset"] == "fresnel" else None
    # The back surface is a mirror displaced by the apparent thickness s: its virtual image of the scene
    # is R's virtual plane translated by 2 s g, i.e. R's plane seen from a camera translated by 2 s R_k g.
    lift = 2e-3 * ghost["apparent_mm"] * g if ghost is not None else None
    rots, homs_t, homs_r, homs_g = [], [], [], []
    for pose in p["poses"]:
        rot = _rot(*pose["yaw_pitch_roll"])
        t = -rot @ np.asarray(pose["centre"], np.float64)  # X_k = R (X - c)
        rots.append(rot)
        homs_t.append(plane_homography(k, rot, t, n_t, d_t))
        homs_r.append(plane_homography(k, rot, t, g, d_r))
        if lift is not None:
            homs_g.append(plane_homography(k, rot, t + rot @ lift, g, d_r))
    return k, rots, homs_t, homs_r, (homs_g if lift is not None else None), g


def render_sequence(p: dict, images_root: str | None = None) -> dict[str, np.ndarray]:
    """Apply the formation model to sampled parameters ``p`` (deterministic).

    Returns
    -------
    dict with ``frames``, ``transmission``, ``reflection`` (N, H, W, 3)
    float32 sRGB; ``alpha`` (N, H, W, 1) float32; ``flow_t``, ``flow_r``
    (N, H, W, 2) float32; ``clean`` (H, W, 3); ``exposure`` (float);
    ``homographies_t`` / ``homographies_r`` (N, 3, 3); ``homographies_ghost``
    (N, 3, 3) for the fresnel preset.
    """
    h, w = p["size"]
    n = p["frames"]
    fresnel = p["glass"]["preset"] == "fresnel"
    m = int(round(_MARGIN * max(h, w)))
    k, rots, homs_t, homs_r, homs_g, g = _geometry(p)
    tex_t = _layer_canvas(p["transmission"], (h, w), m, images_root)
    # R is seen in a mirror: its texture is mirror-imaged (T never is).
    tex_r = _layer_canvas(p["reflection"], (h, w), m, images_root)[:, ::-1] * np.float32(p["reflection"]["radiance"])
    shift = np.array([[1, 0, -m], [0, 1, -m], [0, 0, 1.0]])  # canvas -> reference pixels

    sigma = p["blur_sigma"]
    if sigma > 0.05:
        tex_r = cv2.GaussianBlur(np.ascontiguousarray(tex_r), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    if not fresnel and p["ghost"] is not None:  # strong preset: the v1 ghost, a constant shift with a gain
        dx, dy = p["ghost"]["shift"]
        moved = cv2.warpAffine(tex_r, np.float32([[1, 0, dx], [0, 1, dy]]), (tex_r.shape[1], tex_r.shape[0]),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        tex_r = tex_r + np.float32(p["ghost"]["gain"]) * moved
    tex_r = np.ascontiguousarray(tex_r, np.float32)

    kinv = np.linalg.inv(k)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rays = np.stack([xs, ys, np.ones_like(xs)], -1) @ kinv.T.astype(np.float32)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    f_centre = fresnel_glass(abs(float(g[2])))

    def warp(tex: np.ndarray, hom: np.ndarray) -> np.ndarray:
        return cv2.warpPerspective(tex, hom @ shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    t_lin, r_lin, alphas = [], [], []
    for i in range(n):
        t_warp, r_warp = warp(tex_t, homs_t[i]), warp(tex_r, homs_r[i])
        g_k = rots[i] @ g  # glass normal in frame-k coordinates
        cos = np.abs(rays @ g_k.astype(np.float32))
        if fresnel:
            f1 = fresnel_surface(cos)
            f_all = 2 * f1 / (1 + f1)
            ghost = warp(tex_r, homs_g[i])
            t_lin.append((1 - f_all)[..., None] * t_warp)  # a lossless pane passes what it does not reflect
            r_lin.append(f1[..., None] * r_warp + (f_all - f1)[..., None] * ghost)
            alpha = f_all * np.float32(p["reflection"]["radiance"])
        else:
            alpha = np.clip(p["alpha_centre"] * fresnel_glass(cos) / f_centre, 0.02, 0.6).astype(np.float32)
            t_lin.append(t_warp)
            r_lin.append(alpha[..., None] * r_warp)
        alphas.append(alpha.astype(np.float32)[..., None])
    t_lin, r_lin = np.stack(t_lin), np.stack(r_lin)
    mixed = t_lin + r_lin
    q = float(np.percentile(mixed.reshape(-1)[::7], 99.5))  # every 7th value: the percentile to ~0.1 %
    s = np.float32(min(1.0, 1.0 / q) if q > 0 else 1.0)
    frames = linear_to_srgb_table(s * mixed)
    transmission = linear_to_srgb_table(s * t_lin)
    out = {
        "frames": frames,
        "transmission": transmission,
        "reflection": linear_to_srgb_table(s * r_lin),
        "alpha": np.stack(alphas),
        "flow_t": np.stack([_flow_to_reference(hh, h, w) for hh in homs_t]),
        "flow_r": np.stack([_flow_to_reference(hh, h, w) for hh in homs_r]),
        "clean": transmission[p["reference"]].copy(),
        "exposure": float(s),
        "homographies_t": np.stack(homs_t),
        "homographies_r": np.stack(homs_r),
    }
    if homs_g is not None:
        out["homographies_ghost"] = np.stack(homs_g)
    return out


DERIVED_PARAMS = (  # params make_sample adds after rendering; render_sequence ignores them
    "exposure", "homographies_t", "homographies_r", "homographies_ghost")


def make_sample(rng: np.random.Generator, *, frames: int = 5, size: tuple[int, int] = (256, 256),
                glass: str = "fresnel", content: str = "mix", images: CoverFolder | None = None) -> Sample:
    """One sequence: inputs {"frames"}, target {"clean"}, extras per frame (see the module docstring)."""
    p = sample_sequence(rng, frames=frames, size=size, glass=glass, content=content, images=images)
    out = render_sequence(p, images.root if images is not None else None)
    params = {**p, "exposure": out["exposure"]}
    for key in DERIVED_PARAMS[1:]:
        if key in out:
            params[key] = out[key].round(10).tolist()
    return Sample(
        inputs={"frames": out["frames"]},
        target={"clean": out["clean"]},
        extras={"transmission": out["transmission"], "reflection": out["reflection"], "alpha": out["alpha"],
                "flow_t": out["flow_t"].astype(np.float16), "flow_r": out["flow_r"].astype(np.float16)},
        params=params,
    )


def make_task(*, frames: int = 5, size: int = 256, images: str | None = None, glass: str = "fresnel",
              content: str = "mix") -> Task:
    """The reflections task with its generator parameters fixed (cheap; nothing rendered).

    ``glass``: ``"fresnel"`` (default, physically calibrated) or ``"strong"`` (the published
    strong-reflection regime, formation version 1's strength and ghost); ``content``: ``"mix"``
    (dead leaves and procedural covers) or ``"photos"`` (the packaged photographs, the real-content
    split); ``images`` (a folder) replaces ``content``. The photographs make the task
    ``reflections-real`` (family ``reflections``): the sim-to-real check scores the networks trained
    on the default mix on the same formation with real content.
    """
    if not 2 <= int(frames) <= MAX_FRAMES:
        raise ValueError(f"frames must lie in 2..{MAX_FRAMES}, got {frames}")
    if not 64 <= int(size) <= 1024:
        raise ValueError(f"size must lie in 64..1024, got {size}")
    if glass not in GLASS_PRESETS:
        raise ValueError(f"--glass must be one of {', '.join(GLASS_PRESETS)}, got {glass!r}")
    if content not in CONTENT_MIXES:
        raise ValueError(f"--content must be one of {', '.join(CONTENT_MIXES)}, got {content!r}")
    if images is not None and content != "mix":
        raise ValueError("give either --images DIR or --content photos, not both")
    folder = CoverFolder(images) if images is not None else None
    hw = (int(size), int(size))
    params: dict[str, Any] = {"version": FORMATION_VERSION, "frames": int(frames), "size": list(hw), "images": None,
                              "glass": glass, "content": content if folder is None else "user"}
    if folder is not None:
        params["images"], params["images_count"] = folder.root, len(folder)
    return Task(
        name=f"{NAME}-real" if content == "photos" and folder is None else NAME,
        family=NAME,
        make_sample=functools.partial(make_sample, frames=int(frames), size=hw, glass=glass, content=content,
                                      images=folder),
        metrics={"psnr": psnr, "ssim": ssim, "lmse": lmse, "ncc": ncc},
        input_kind="frames",
        target_key="clean",
        test_size=60,
        quick_size=10,
        params=params,
        higher_is_better={"psnr": True, "ssim": True, "lmse": False, "ncc": True},
    )


TASK = make_task()
