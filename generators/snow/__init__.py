"""snow: remove falling snow (flakes, streaks and the snow veil) from a photograph.

After DesnowNet (Liu et al., "DesnowNet: Context-Aware Deep Network for Snow
Removal", IEEE TIP 2018), whose Snow100K composites model a snowy image as
``x = a * z + y * (1 - z)``; the veil follows CSD / SRRS (Chen et al., "JSTASR"
ECCV 2020 and "ALL Snow Removed", ICCV 2021): ``I = K * T + A * (1 - T)``. Our
formation is depth-consistent, which the published sets are not: flakes live
in 3-D camera space, so their apparent size, defocus, density and streak
length follow their depth.

Formation model (version ``FORMATION_VERSION``)
-------------------------------------------
Versions: 1, the formation below with ``content`` backgrounds drawn from the
packaged photographs and procedural covers; 2, the same with the ``roadseg``
backgrounds drawn from the street scenes of roadseg formation 3 (divided
roads, turns up to 40 degrees): samples on content or image backgrounds are
byte-identical to version 1's (:data:`CONTENT_BACKGROUND_VERSIONS`); 3
(current), ``content`` backgrounds from the shared content library's default
mix (dead leaves and procedural covers), the packaged photographs held out as
the ``photos`` background (task ``snow-real``, the sim-to-real check).

Units: metres, seconds, pixels; images sRGB in [0, 1], mixed in sRGB as
Snow100K and CSD do.

Camera. Pinhole, principal point at the centre, horizontal field of view
``fov`` ~ U(50, 80) degrees (roadseg: its scene's own), ``f = W / (2 tan(fov
/ 2))`` px. Thin lens with aperture diameter ``A_ap`` log-uniform in [2, 12]
mm, focused at ``z_f`` log-uniform in [3, 30] m; exposure ``t_e``
log-uniform in [1/500, 1/30] s.

Scene depth ``d(p)``. roadseg backgrounds: the rendered depth (sky and
beyond capped at ``D_MAX`` = 300 m). Image backgrounds have none, so a
smooth prior stands in (most photographs look at nearer things low in the
frame): ``d = d_near (d_far / d_near)^(s^gamma)``, ``s`` the height in the
frame from 0 (bottom row) to 1 (top row) along a direction rolled by U(-5, 5)
degrees, ``d_near`` ~ U(2, 6) m, ``d_far`` ~ U(30, 200) m, ``gamma`` ~ U(0.7,
1.5). (A flat-ground prior with a horizon put a hard veil edge across close-ups.)

Flakes. Size class ``s`` in {small, medium, large} (``mixed``: all three
populations, each at half its density). Per population (table ``CLASSES``):
flake diameter ``D`` log-normal (median ``D50``, log-sd 0.35); flakes lie
uniformly in the camera frustum between ``z_near`` = 0.3 m and the class's
``z_far``, i.e. ``z`` has density proportional to ``z^2`` (uniform in volume),
with number density ``rho`` log-uniform in the class's range (flakes/m^3;
chosen so that the classes look like Snow100K-S/M/L at 256 px, not measured
snowfall); the count is Poisson(``rho * V``), ``V`` the frustum volume (widened
for sequences by the distance flakes travel). Each flake has an opacity
``alpha`` ~ U(0.55, 1.0) and a velocity: fall ``v_y`` ~ U(class range) m/s
plus a wind ``v_x`` ~ N(0, 1.5) m/s shared by all flakes of the sample,
each flake adding turbulence N(0, 0.2) m/s per axis. A flake behind the
scene surface at its pixel (``z > d(p)``) is hidden and dropped.

=======  ========  ========  ===================  ============
class    ``D50``   ``z_far`` ``rho`` (per m^3)    fall (m/s)
=======  ========  ========  ===================  ============
small    4 mm      2.5 m     400 - 1200           0.5 - 1.0
medium   10 mm     5 m       40 - 120             0.8 - 1.5
large    30 mm     10 m      2.5 - 7.5            1.0 - 2.0
=======  ========  ========  ===================  ============

Rasterisation (:mod:`generators.snow._flakes`). A flake at depth ``z`` covers
a disc of diameter ``d = f D / z`` px with opacity-area ``alpha pi d^2 / 4``
(px^2); defocus spreads it by the thin-lens blur circle ``c = f A_ap |1/z -
1/z_f|`` px; during the exposure it moves by ``f v t_e / z`` px (a streak).
All three kernels are normalised, so the opacity-area is conserved: near
flakes become large, soft and translucent, in-focus flakes small and sharp.
For speed, flakes are grouped into ``DEPTH_BINS`` log-spaced depth bins per
population: every flake is splatted (bilinear) at its mid-exposure position
with its own weight, and each bin's splat image is convolved with the bin's
streak (an anti-aliased segment) and a Gaussian of ``sigma = sqrt(max(0.5,
d/4)^2 + (c/4)^2)`` (a disc of diameter ``d`` has ``sigma = d/4``) at the bin's geometric-mean depth and diameter, then
clipped to [0, 1]: a layer ``L_k``. Layers combine as occluders: ``z = 1 -
prod_k (1 - L_k)`` (in [0, 1] by construction).

Snow colour ``a`` (DesnowNet's chromatic aberration map): near white, slightly
blue and lit by the scene: ``a = clip(b * (1 - 0.05 u, 1 - 0.02 u, 1) + 0.025
n(p), 0, 1)`` with ``b`` ~ U(0.72, 0.97) scaled by ``0.75 + 0.25 *`` the
background's mean luma, ``u`` ~ U(0, 1) and ``n`` a smooth random field
(a 4x4 grid of N(0, 1) per channel, bicubically upsampled).

Veil. ``T = exp(-beta d(p))`` with ``beta`` log-uniform in [0.003, 0.03] /m
(visibility ``3 / beta`` of 100-1000 m, light to heavy snowfall), airlight
``A = A_0 (0.97, 0.985, 1)``, ``A_0`` ~ U(0.7, 0.95).

Image::

    K = a * z + y * (1 - z)            (DesnowNet, eq. 1)
    x = K * T + A * (1 - T)            (CSD / SRRS)

all in [0, 1] since ``a, y, A, z, T`` are. The veil uses the scene depth for
the whole pixel, flakes included (the published formula; flakes are nearer
than the surface, so this slightly over-veils far flakes).

Backgrounds ``y``: ``content`` (default) -- the shared content library's
default mix (:data:`generators.shared.content.DEFAULT_MIX`: dead-leaves
plates from the pool of ``DEAD_LEAVES_POOL``, drawn at 1.5x the frame side
and cropped at scale 0.67-1, so never enlarged; procedural book covers, a
crop at scale 0.35-1), the mix the other tasks use; ``photos`` -- the ten
packaged scikit-image photographs alone (a random crop at scale 0.35-1; the
real-content test split ``snow-real``, never trained on); ``roadseg`` -- the
driving scenes roadseg labels (:mod:`generators.shared.streets`, embedded
renderer: shaded RGB and depth, about 0.3 s per 256x256 frame, so about
30 x slower than ``content``); ``--images DIR`` -- the user's photographs
(unreadable files are skipped and counted in the task's params).

Sequences (``frames`` > 1): a static (50 %) or slowly panning camera
(``U(-1.5, 1.5)`` px per frame in x and y), frames at 25 fps; the background
is translated by the pan, every flake moves by ``f v / z`` px/s and the
pan; the reference (target) is frame ``N // 2``.

Sample layout
-------------
* ``inputs["image"]``: (H, W, 3) float32, the snowy image ``x``
  (sequences: ``inputs["frames"]``, (N, H, W, 3));
* ``target["clean"]``: (H, W, 3) float32, ``y`` (of the reference frame);
* ``extras["z"]``: (H, W, 1) float32 translucency (sequences: per frame,
  (N, H, W, 1)); ``extras["a"]``: (H, W, 3) snow colour; ``extras["t"]``:
  (H, W, 1) veil transmission; ``extras["airlight"]``: (3,) float32 ``A``;
  ``extras["depth"]``: (H, W) float16 scene depth (m);
  ``extras["flake_depth"]``: (H, W) float16, mean depth of the dominant
  flake layer (the largest ``L_k``; 0 where no layer reaches 0.01);
  ``extras["flake_class"]``: (H, W) uint8, its population (0 none, 1 small,
  2 medium, 3 large);
* ``params``: every sampled parameter, ``size_class`` (the label) and
  ``condition`` (its id: 1 small, 2 medium, 3 large, 4 mixed), flake counts,
  and measured statistics (``z_gt_0.1``: fraction of pixels with ``z > 0.1``;
  ``mean_t``).

Scoring: PSNR and SSIM of the restored image against ``y``, per size class:
the harness's condition is the class id (:class:`SizeClassCall`).

Measured statistics
-------------------
``python -m generators.snow.stats --n 200 --size 256`` (seed 0, content
backgrounds, formation 3; flakes per image; diameters ``f D / z`` of the flakes in front
of the scene; defocus = thin-lens blur circle):

=======  ==============  =======  ==================  ============  ==========  ======  ======
class    flakes sampled  visible  diameter px p50/p90 defocus p50   z > 0.1     mean z  mean T
=======  ==============  =======  ==================  ============  ==========  ======  ======
small    6747            6738     0.41 / 0.81         0.40 px       3.0 %       0.020   0.76
medium   5406            5123     0.52 / 1.04         0.14 px       6.2 %       0.026   0.75
large    2703            2077     0.80 / 1.62         0.07 px       6.8 %       0.026   0.78
mixed    7187            6778     0.49 / 1.05         0.22 px       8.1 %       0.035   0.77
=======  ==============  =======  ==================  ============  ==========  ======  ======

Most flakes are sub-pixel at 256 px (a 4 mm flake at 1 m is 0.7 px with a
65 degree field of view); what is seen are the few near ones, large, soft
and streaked. Large flakes are fewer and farther-reaching, so more are
hidden behind the scene (``z > d``). The veil does not depend on the class.

What still looks synthetic: the depth prior of photographs is a vertical
ramp, so the veil thickens towards the top of every photograph whatever it
shows (close-ups get fog they could not have); flakes are Gaussian spots and
straight streaks, with no dendritic shape, no sparkle and no lighting of
their own (``a`` is one smooth colour field); a depth bin shares one blur and
one streak, so flakes of one bin never differ in shape; the veil is applied
to the flakes with the scene's depth (the published formula); there is no
accumulated snow on surfaces, no lens droplets and no darkening of the sky.
Snow100K's composites paste photographed snow masks (real flake shapes, no
depth); real snowy photographs mostly show a few large, bright, blurred
near flakes over a dim, low-contrast scene, which the ``large`` and ``mixed``
classes approach and ``small`` does not (its flakes are specks).

Command line::

    python -m generators.snow --n N --out DIR [--size 256] [--size-class any|small|medium|large|mixed]
        [--density-scale 1] [--background content|photos|roadseg] [--images DIR] [--frames 1]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from generators.shared.content import CONTENT_MIXES, load_content, pooled, sample_content
from generators.shared.covers import CoverFolder, draw_procedural_cover, load_cover, photographs
from generators.metrics import psnr, ssim
from generators.snow._flakes import DEPTH_BINS, rasterise_flakes
from generators.task import Call, Sample, Task

__all__ = ["NAME", "FORMATION_VERSION", "TASK", "SIZE_CLASSES", "CLASSES", "make_task", "make_sample",
           "sample_snow", "render_snow", "SizeClassCall", "BACKGROUNDS", "MAX_FRAMES"]

NAME = "snow"
FORMATION_VERSION = 3  # 3: content backgrounds from the shared content mix (photos held out); 2: roadseg streets 3
CONTENT_BACKGROUND_VERSIONS = (1, 2)  # versions whose content-background samples are identical (3 only to itself)
MAX_FRAMES = 10
FPS = 25.0
D_MAX = 300.0  # m: depth cap (sky and beyond)
Z_NEAR = 0.3  # m
SIZE_CLASSES = {"small": 1, "medium": 2, "large": 3, "mixed": 4}  # label -> condition id
BACKGROUNDS = ("content", "photos", "roadseg")
PLATE_SCALE = 1.5  # dead-leaves plates are drawn at this multiple of the frame side

# Per population: median diameter (m), far limit (m), density range (flakes/m^3), fall speed range (m/s).
CLASSES = {
    "small": {"d50": 0.004, "z_far": 2.5, "rho": (400.0, 1200.0), "fall": (0.5, 1.0)},
    "medium": {"d50": 0.010, "z_far": 5.0, "rho": (40.0, 120.0), "fall": (0.8, 1.5)},
    "large": {"d50": 0.030, "z_far": 10.0, "rho": (2.5, 7.5), "fall": (1.0, 2.0)},
}
_POP_ID = {"small": 1, "medium": 2, "large": 3}


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


# ---------------------------------------------------------------- sampling


def _sample_background(rng: np.random.Generator, background: str, images: CoverFolder | None,
                       size: tuple[int, int]) -> dict[str, Any]:
    if images is not None:
        src = images.sample(rng)
    elif background == "roadseg":
        from generators.shared.streets.scene import sample_scene

        return {"kind": "roadseg", "scene": sample_scene(rng, size=size)}
    else:
        src = pooled(sample_content(rng, mix=CONTENT_MIXES["photos" if background == "photos" else "mix"]))
    lo = 0.67 if src["kind"] == "dead_leaves" else 0.35  # a plate is 1.5x the frame: crops never enlarge it
    return {**src, "crop_scale": float(rng.uniform(lo, 1.0)),
            "crop_centre": [float(c) for c in rng.uniform(0, 1, size=2)], "flip": bool(rng.random() < 0.5)}


def _frustum_volume(z0: float, z1: float, tan_x: float, tan_y: float) -> float:
    return 4 * tan_x * tan_y * (z1**3 - z0**3) / 3


def _sample_flakes(rng: np.random.Generator, pop: str, *, density_scale: float, size: tuple[int, int],
                   focal: float, margin_px: float, wind: float) -> dict[str, np.ndarray]:
    h, w = size
    c = CLASSES[pop]
    rho = _loguniform(rng, *c["rho"]) * density_scale
    wide_w, wide_h = w + 2 * margin_px, h + 2 * margin_px
    volume = _frustum_volume(Z_NEAR, c["z_far"], wide_w / (2 * focal), wide_h / (2 * focal))
    n = int(rng.poisson(rho * volume))
    z = np.cbrt(Z_NEAR**3 + rng.random(n) * (c["z_far"] ** 3 - Z_NEAR**3))
    fall = rng.uniform(*c["fall"])
    return {
        "u": rng.uniform(-margin_px, w + margin_px, n), "v": rng.uniform(-margin_px, h + margin_px, n), "z": z,
        "diameter": c["d50"] * np.exp(rng.normal(0, 0.35, n)),
        "opacity": rng.uniform(0.55, 1.0, n),
        "vx": wind + rng.normal(0, 0.2, n), "vy": fall + rng.normal(0, 0.2, n),
        "population": np.full(n, _POP_ID[pop], np.uint8), "rho": np.float64(rho),
    }


def sample_snow(rng: np.random.Generator, *, size: tuple[int, int], size_class: str = "any",
                density_scale: float = 1.0, frames: int = 1, background: str = "content",
                images: CoverFolder | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Sample every parameter of one sample: (JSON-able params, flake arrays); see the module docstring."""
    h, w = size
    label = str(rng.choice(list(SIZE_CLASSES))) if size_class == "any" else size_class
    bg = _sample_background(rng, background, images, size)
    if bg["kind"] == "roadseg":
        fov = float(bg["scene"]["camera"]["hfov_deg"])
    else:
        fov = float(rng.uniform(50, 80))
    focal = w / (2 * np.tan(np.deg2rad(fov) / 2))
    pan = [0.0, 0.0]
    if frames > 1 and rng.random() < 0.5:
        pan = [float(p) for p in rng.uniform(-1.5, 1.5, size=2)]
    exposure = _loguniform(rng, 1 / 500, 1 / 30)
    wind = float(rng.normal(0, 1.5))
    # Sequences widen the flake volume by the largest travel over the clip (fast near flakes).
    span = (frames - 1) / FPS + exposure
    margin = 0.0 if frames == 1 else min(2.0 * max(h, w), focal * (2.5 + abs(wind)) * span / Z_NEAR)
    pops = ["small", "medium", "large"] if label == "mixed" else [label]
    scale = density_scale * (0.5 if label == "mixed" else 1.0)
    flakes = [_sample_flakes(rng, p, density_scale=scale, size=size, focal=focal, margin_px=margin, wind=wind)
              for p in pops]
    prior = None
    if bg["kind"] != "roadseg":
        prior = {"d_near": float(rng.uniform(2.0, 6.0)), "d_far": float(rng.uniform(30.0, 200.0)),
                 "gamma": float(rng.uniform(0.7, 1.5)), "roll_deg": float(rng.uniform(-5, 5))}
    u = float(rng.uniform(0, 1))
    params = {
        "version": FORMATION_VERSION, "size": [h, w], "frames": int(frames), "reference": int(frames) // 2,
        "size_class": label, "condition": SIZE_CLASSES[label], "background": bg, "depth_prior": prior,
        "fov_deg": fov, "focal_px": float(focal), "aperture_m": _loguniform(rng, 0.002, 0.012),
        "focus_m": _loguniform(rng, 3.0, 30.0), "exposure_s": exposure, "wind_ms": wind,
        "pan_px_per_frame": pan, "density_scale": float(density_scale),
        "density": {p: float(f["rho"]) for p, f in zip(pops, flakes)},
        "snow_colour": {"brightness": float(rng.uniform(0.72, 0.97)), "blue": u,
                        "field_seed": int(rng.integers(2**31 - 1))},
        "beta_per_m": _loguniform(rng, 0.003, 0.03),
        "airlight": [float(v) for v in float(rng.uniform(0.7, 0.95)) * np.array([0.97, 0.985, 1.0])],
    }
    keys = ("u", "v", "z", "diameter", "opacity", "vx", "vy", "population")
    arrays = {k: np.concatenate([f[k] for f in flakes]) for k in keys}
    return params, arrays


# ---------------------------------------------------------------- apply


def _crop_resize(img: np.ndarray, bg: dict, h: int, w: int) -> np.ndarray:
    sh, sw = img.shape[:2]
    side = max(8, int(bg["crop_scale"] * min(sh, sw)))
    ch, cw = (side, int(side * w / h)) if w <= h else (int(side * h / w), side)
    ch, cw = min(ch, sh), min(cw, sw)
    y0 = int(round(bg["crop_centre"][1] * (sh - ch)))
    x0 = int(round(bg["crop_centre"][0] * (sw - cw)))
    crop = np.ascontiguousarray(img[y0 : y0 + ch, x0 : x0 + cw])
    out = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if ch >= h else cv2.INTER_LINEAR)
    return out[:, ::-1] if bg["flip"] else out


def _render_background(p: dict, images_root: str | None, h: int, w: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(y as uint8 RGB (h, w, 3), depth (h, w) float32 m or None)`` at the given canvas size."""
    bg = p["background"]
    if bg["kind"] == "roadseg":
        from generators.shared.streets.render_embedded import render_scene

        scene = bg["scene"]
        scene = {**scene, "camera": {**scene["camera"], "size": [h, w]}}
        out = render_scene(scene)
        depth = np.where(out["depth"] > 0, np.minimum(out["depth"], D_MAX), D_MAX).astype(np.float32)
        return np.rint(out["rgb"] * 255).astype(np.uint8), depth
    if bg["kind"] == "photo":
        img = photographs()[int(bg["index"])]
    elif bg["kind"] == "dead_leaves":
        side = int(round(PLATE_SCALE * max(p["size"])))  # of the frame, not the canvas: one plate size per task
        img = load_content(bg, (side, side))
    elif bg["kind"] == "procedural":
        img = draw_procedural_cover(int(bg["seed"]), (max(h, w), max(h, w)))
    else:
        img = np.rint(load_cover(bg, (max(h, w), max(h, w)), images_root) * 255).astype(np.uint8)
    return np.ascontiguousarray(_crop_resize(img, bg, h, w)), None


def _depth_prior(prior: dict, h: int, w: int, m: int) -> np.ndarray:
    """Smooth depth prior (m) on the (h + 2m, w + 2m) canvas whose centre is the reference frame's."""
    ys, xs = np.mgrid[-m : h + m, -m : w + m].astype(np.float32)
    roll = np.deg2rad(prior["roll_deg"])
    s = 1.0 - (ys + np.tan(roll) * (xs - (w - 1) / 2)) / max(h - 1, 1)  # 0 at the bottom, 1 at the top
    s = np.clip(s, 0.0, 1.0) ** prior["gamma"]
    return (prior["d_near"] * (prior["d_far"] / prior["d_near"]) ** s).astype(np.float32)


def _snow_colour(p: dict, y: np.ndarray) -> np.ndarray:
    h, w = y.shape[:2]
    c = p["snow_colour"]
    luma = float((y @ np.array([0.299, 0.587, 0.114], np.float32)).mean())
    b = c["brightness"] * (0.75 + 0.25 * luma)
    tint = np.array([1 - 0.05 * c["blue"], 1 - 0.02 * c["blue"], 1.0], np.float32)
    grid = np.random.default_rng(c["field_seed"]).normal(0, 1, size=(4, 4, 3)).astype(np.float32)
    field = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(b * tint + 0.025 * field, 0.0, 1.0).astype(np.float32)


def render_snow(p: dict, flakes: dict[str, np.ndarray], images_root: str | None = None) -> dict[str, Any]:
    """Apply the formation model to sampled parameters (deterministic).

    Returns
    -------
    dict with ``x`` (N, H, W, 3), ``y`` (H, W, 3), ``z`` (N, H, W, 1), ``a``
    (H, W, 3), ``t`` (H, W, 1), ``airlight`` (3,), ``depth`` (H, W),
    ``flake_depth`` (H, W), ``flake_class`` (H, W) uint8, ``visible`` (count
    of flakes in front of the scene), all float32 unless said.
    """
    h, w = p["size"]
    n, r = p["frames"], p["reference"]
    pan = np.asarray(p["pan_px_per_frame"], np.float64)
    m = int(np.ceil(np.abs(pan).max() * max(r, n - 1 - r))) + 1 if n > 1 and pan.any() else 0
    canvas, depth_c = _render_background(p, images_root, h + 2 * m, w + 2 * m)
    if depth_c is None:
        depth_c = _depth_prior(p["depth_prior"], h, w, m)
    canvas = canvas.astype(np.float32) / np.float32(255)

    def view(img: np.ndarray, k: int) -> np.ndarray:
        if m == 0:
            return img
        dx, dy = pan * (k - r)
        mat = np.float32([[1, 0, m + dx], [0, 1, m + dy]])
        return cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REFLECT)

    # Flakes behind the scene surface at their (reference-frame) pixel are hidden.
    d_ref = view(depth_c, r)
    ui = np.clip(np.rint(flakes["u"]).astype(np.int64), 0, w - 1)
    vi = np.clip(np.rint(flakes["v"]).astype(np.int64), 0, h - 1)
    front = flakes["z"] < d_ref[vi, ui]
    flakes = {k: v[front] for k, v in flakes.items()}
    y_ref = view(canvas, r)
    a = _snow_colour(p, y_ref)
    airlight = np.asarray(p["airlight"], np.float32)
    xs, zs = [], []
    for k in range(n):
        y_k = view(canvas, k) if k != r else y_ref
        d_k = view(depth_c, k) if k != r else d_ref
        z_k, fd, fc = rasterise_flakes(flakes, size=(h, w), focal_px=p["focal_px"], aperture_m=p["aperture_m"],
                                       focus_m=p["focus_m"], exposure_s=p["exposure_s"],
                                       shift_px=tuple(pan * (k - r)), time_s=(k - r) / FPS)
        t_k = np.exp(-p["beta_per_m"] * d_k).astype(np.float32)[..., None]
        z3 = z_k[..., None]
        # x = (a z + y (1 - z)) T + A (1 - T), evaluated in place (same operations, fewer temporaries)
        x_k = y_k * (1 - z3)
        x_k += a * z3
        x_k *= t_k
        x_k += airlight * (1 - t_k)
        np.clip(x_k, 0, 1, out=x_k)
        xs.append(x_k)
        zs.append(z3)
        if k == r:
            t_ref, fd_ref, fc_ref = t_k, fd, fc
    return {"x": np.stack(xs), "y": y_ref.astype(np.float32), "z": np.stack(zs), "a": a, "t": t_ref,
            "airlight": airlight, "depth": d_ref, "flake_depth": fd_ref, "flake_class": fc_ref,
            "visible": int(front.sum())}


def make_sample(rng: np.random.Generator, *, size: tuple[int, int] = (256, 256), size_class: str = "any",
                density_scale: float = 1.0, frames: int = 1, background: str = "content",
                images: CoverFolder | None = None) -> Sample:
    """One snowy sample (see the module docstring for the layout)."""
    p, flakes = sample_snow(rng, size=size, size_class=size_class, density_scale=density_scale, frames=frames,
                            background=background, images=images)
    out = render_snow(p, flakes, images.root if images is not None else None)
    r = p["reference"]
    counts = {name: int((flakes["population"] == pid).sum()) for name, pid in _POP_ID.items()}
    params = {**p, "flakes_sampled": counts, "flakes_visible": out["visible"],
              "z_gt_0.1": float((out["z"][r] > 0.1).mean()), "mean_t": float(out["t"].mean())}
    extras = {"a": out["a"], "t": out["t"], "airlight": out["airlight"],
              "depth": out["depth"].astype(np.float16), "flake_depth": out["flake_depth"].astype(np.float16),
              "flake_class": out["flake_class"]}
    if frames == 1:
        inputs, extras["z"] = {"image": out["x"][0]}, out["z"][0]
    else:
        inputs, extras["z"] = {"frames": out["x"]}, out["z"]
    return Sample(inputs=inputs, target={"clean": out["y"]}, extras=extras, params=params)


@dataclass(frozen=True)
class SizeClassCall:
    """One call per sample, its condition the sample's size-class id (1 small, 2 medium, 3 large, 4 mixed)."""

    axis: str | None = "size class"
    condition_labels = {cid: name for name, cid in SIZE_CLASSES.items()}

    def calls(self, sample: Sample, *, seed: int, index: int) -> Iterator[Call]:
        yield Call(int(sample.params["condition"]), 0, sample.inputs, str(sample.params["size_class"]))


def _images_folder(images: str | None) -> CoverFolder | None:
    if images is None:
        return None
    if not Path(images).is_dir():
        raise ValueError(f"--images {images}: folder does not exist")
    try:
        return CoverFolder(images)
    except ValueError:
        raise ValueError(f"--images {images}: folder holds no readable image") from None


def make_task(*, size: int = 256, size_class: str = "any", density_scale: float = 1.0, frames: int = 1,
              background: str = "content", images: str | None = None) -> Task:
    """The snow task (``frames`` = 1) or its sequence variant ``snow-frames`` (``frames`` > 1)."""
    if not 64 <= int(size) <= 1024:
        raise ValueError(f"size must lie in 64..1024, got {size}")
    if size_class != "any" and size_class not in SIZE_CLASSES:
        raise ValueError(f"unknown size class {size_class!r}; choose from {['any', *SIZE_CLASSES]}")
    if not (np.isfinite(density_scale) and 0 <= density_scale <= 20):
        raise ValueError(f"density scale must lie in [0, 20], got {density_scale}")
    if not 1 <= int(frames) <= MAX_FRAMES:
        raise ValueError(f"frames must lie in 1..{MAX_FRAMES}, got {frames}")
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; choose from {list(BACKGROUNDS)}")
    folder = _images_folder(images)
    hw = (int(size), int(size))
    params: dict[str, Any] = {"version": FORMATION_VERSION, "size": list(hw), "size_class": size_class,
                              "density_scale": float(density_scale), "frames": int(frames),
                              "background": background if folder is None else "images", "images": None,
                              "depth_bins": DEPTH_BINS}
    if folder is not None:
        params.update(images=folder.root, images_count=len(folder), images_skipped=folder.skipped)
    real = background == "photos" and folder is None  # snow-real: the sim-to-real check
    name = (NAME if int(frames) == 1 else f"{NAME}-frames") + ("-real" if real else "")
    return Task(
        name=name,
        make_sample=functools.partial(make_sample, size=hw, size_class=size_class, density_scale=float(density_scale),
                                      frames=int(frames), background=background, images=folder),
        metrics={"psnr": psnr, "ssim": ssim},
        input_kind="image" if int(frames) == 1 else "frames",
        target_key="clean",
        test_size=120,
        quick_size=8 if real else 32,  # the sim-to-real check stays cheap in the quick job
        params=params,
        higher_is_better={"psnr": True, "ssim": True},
        protocol=SizeClassCall(),
    )


TASK = make_task()
