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
by yaw ~ U(-30, 30) and pitch ~ U(-15, 15) degrees from the optical axis).
Thin glass, refractive index 1.5: the transmitted layer is not displaced.

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

Layer contents. Photographs: the user's ``--images DIR`` or, embedded, the
scikit-image sample photographs and the bookcovers procedural covers; *T*
and *R* always come from different images. A random crop (scale 0.35-1 of
the short side) is resized to a canvas larger than the view by a margin, so
no frame sees past the texture; *R* is mirrored left-right (it is seen in a
mirror) and its brightness scaled by a reflected-scene radiance ratio.

Mixing (per frame, linear light), after Fan et al. 2017 (CEILNet) and Zhang
et al. 2018 ("Single image reflection separation with perceptual losses")::

    I = s * ( T + alpha * (K * R) ),     alpha = a0 * F(theta) / F(theta_c)

* ``K`` is a Gaussian defocus blur of *R* (the camera focuses on *T*),
  ``sigma`` ~ U(0, 5) px at 256 px (scaled with the width): sampled, as in
  those recipes, because real reflections are more blurred than a thin-lens
  model with a phone aperture predicts;
* with probability 0.35, ghosting of thick glass: ``K * R`` plus a copy
  shifted by 2-8 px (at 256 px) attenuated by ``g`` ~ U(0.3, 0.7);
* ``F(theta)`` is the unpolarised Fresnel reflectance of both glass surfaces,
  ``2 F1 / (1 + F1)`` with ``F1`` the single-surface Fresnel term, at the
  angle of incidence ``theta`` of each pixel's ray on the glass; ``theta_c``
  is that of the centre ray and ``a0`` ~ U(0.1, 0.45) the reflection strength
  there, so ``alpha`` falls off or rises across the frame as Fresnel's law
  says, clipped to [0.02, 0.6];
* ``s`` is the exposure: ``s = min(1, 1 / q)`` with ``q`` the 99.5th
  percentile of ``T + alpha (K * R)`` over all frames and channels (taken on
  every 7th value), so
  bright reflections are rescaled instead of clipped into flat white (the
  few values still above 1 are clipped); frames are then sRGB-encoded.

Sample layout
-------------
* ``inputs["frames"]``: (N, H, W, 3) float32 sRGB, the captured frames;
  the reference is frame ``N // 2``;
* ``target["clean"]``: (H, W, 3) float32 sRGB, ``oetf(s T)`` of the reference;
* ``extras["transmission"]``: (N, H, W, 3) ``oetf(s T_k)`` per frame;
* ``extras["reflection"]``: (N, H, W, 3) ``oetf(s alpha_k (K * R)_k)``, so
  ``frames = oetf(clip(eotf(transmission) + eotf(reflection), 0, 1))``;
* ``extras["alpha"]``: (N, H, W, 1) float32, ``alpha`` per frame;
* ``extras["flow_t"]``, ``extras["flow_r"]``: (N, H, W, 2) float16, pixels,
  ``(dx, dy)`` from frame ``k`` to the reference frame for *T* and *R*
  (float16: the flows are smooth and below 256 px, so the error is below
  0.125 px);
* ``params``: every sampled parameter and both layers' homographies.

Command line::

    python -m generators.reflections --n N --out DIR [--frames 5] [--size 256]
        [--images DIR] [--seed S] [--workers N] [--engine local|ray]
"""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np

from generators.shared.colour import linear_to_srgb_table, srgb_to_linear
from generators.shared.covers import CoverFolder, draw_procedural_cover, load_cover, photographs
from generators.metrics import lmse, ncc, psnr, ssim
from generators.task import Sample, Task

__all__ = ["NAME", "FORMATION_VERSION", "TASK", "make_task", "make_sample", "sample_sequence", "render_sequence",
           "fresnel_glass"]

NAME = "reflections"
FORMATION_VERSION = 1
MAX_FRAMES = 10
_MARGIN = 0.25  # canvas margin on each side, fraction of the view size
_N_GLASS = 1.5


# ---------------------------------------------------------------- colour


def fresnel_glass(cos_theta: np.ndarray, n: float = _N_GLASS) -> np.ndarray:
    """Unpolarised reflectance of a thin pane (both surfaces, incoherent).

    ``F1`` is the average of the s and p Fresnel reflectances of one
    air-glass surface at incidence ``theta``; two surfaces with multiple
    incoherent reflections give ``2 F1 / (1 + F1)`` (0.077 at normal
    incidence for n = 1.5).
    """
    ci = np.clip(np.asarray(cos_theta, np.float32 if np.asarray(cos_theta).dtype == np.float32 else np.float64),
                 1e-6, 1.0)
    st = np.sqrt(np.maximum(0.0, 1.0 - ci**2)) / n
    ct = np.sqrt(np.maximum(0.0, 1.0 - st**2))
    rs = ((ci - n * ct) / (ci + n * ct)) ** 2
    rp = ((ct - n * ci) / (ct + n * ci)) ** 2
    f1 = 0.5 * (rs + rp)
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


def _sample_source(rng: np.random.Generator, images: CoverFolder | None, exclude: tuple | None) -> dict:
    """A layer's picture: a photograph, a procedural cover or a user file, plus its crop."""
    for _ in range(20):
        if images is not None:
            desc = images.sample(rng)
            key = ("file", desc["path"])
        else:
            n_photos = len(photographs())
            pick = int(rng.integers(n_photos + 2))  # photos, plus procedural covers 2 / (n + 2) of the time
            if pick < n_photos:
                desc, key = {"kind": "photo", "index": pick}, ("photo", pick)
            else:
                seed = int(rng.integers(2**31 - 1))
                desc, key = {"kind": "procedural", "seed": seed}, ("procedural", seed)
        if key != exclude or (images is not None and len(images) == 1):
            break
    if images is not None and key == exclude:
        raise ValueError("--images needs at least two different images (T and R must differ)")
    scale = float(rng.uniform(0.35, 1.0))
    cx, cy = (float(v) for v in rng.uniform(0.0, 1.0, size=2))
    return {"source": desc, "key": list(key), "crop_scale": scale, "crop_centre": [cx, cy],
            "flip": bool(rng.random() < 0.5)}


def sample_sequence(rng: np.random.Generator, *, frames: int, size: tuple[int, int],
                    images: CoverFolder | None = None) -> dict[str, Any]:
    """Sample every parameter of one sequence (JSON-able); see the module docstring."""
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
    t_src = _sample_source(rng, images, None)
    r_src = _sample_source(rng, images, tuple(t_src["key"]))
    ghost = None
    if rng.random() < 0.35:
        ang = rng.uniform(0, 2 * np.pi)
        mag = rng.uniform(2, 8) * scale
        ghost = {"shift": [float(mag * np.cos(ang)), float(mag * np.sin(ang))], "gain": float(rng.uniform(0.3, 0.7))}
    return {
        "version": FORMATION_VERSION,
        "frames": n, "reference": r, "size": [h, w],
        "fov_deg": float(np.rad2deg(fov)),
        "poses": poses,
        "glass": {"distance": float(rng.uniform(0.3, 1.2)),
                  "yaw_deg": float(rng.uniform(-30, 30)), "pitch_deg": float(rng.uniform(-15, 15))},
        "transmission": {**t_src, "depth": float(np.exp(rng.uniform(np.log(2.0), np.log(25.0)))),
                         "tilt_deg": [float(v) for v in rng.uniform(-25, 25, size=2)]},
        "reflection": {**r_src, "distance": float(np.exp(rng.uniform(np.log(0.3), np.log(4.0)))),
                       "radiance": float(rng.uniform(0.6, 1.6))},
        "alpha_centre": float(rng.uniform(0.1, 0.45)),
        "blur_sigma": float(rng.uniform(0.0, 5.0) * scale),
        "ghost": ghost,
    }


# ---------------------------------------------------------------- apply


def _layer_canvas(desc: dict, size: tuple[int, int], margin: int, images_root: str | None) -> np.ndarray:
    """The layer's texture on the reference canvas: (H + 2m, W + 2m, 3) linear float32."""
    h, w = size[0] + 2 * margin, size[1] + 2 * margin
    src = desc["source"]
    if src["kind"] == "photo":
        img = photographs()[int(src["index"])]
    elif src["kind"] == "procedural":
        img = draw_procedural_cover(int(src["seed"]), (max(h, w), max(h, w)))
    else:
        img = (load_cover(src, (max(h, w), max(h, w)), images_root) * 255).round().astype(np.uint8)
    sh, sw = img.shape[:2]
    side = max(8, int(desc["crop_scale"] * min(sh, sw)))
    ch, cw = (side, int(side * w / h)) if w <= h else (int(side * h / w), side)
    ch, cw = min(ch, sh), min(cw, sw)
    y0 = int(round(desc["crop_centre"][1] * (sh - ch)))
    x0 = int(round(desc["crop_centre"][0] * (sw - cw)))
    crop = np.ascontiguousarray(img[y0 : y0 + ch, x0 : x0 + cw])
    interp = cv2.INTER_AREA if ch >= h else cv2.INTER_LINEAR
    out = cv2.resize(crop, (w, h), interpolation=interp)
    if desc["flip"]:
        out = out[:, ::-1]
    return _LUT[out]


_LUT = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)


def _geometry(p: dict) -> tuple[np.ndarray, list, list, list, np.ndarray]:
    h, w = p["size"]
    f = w / (2 * np.tan(np.deg2rad(p["fov_deg"]) / 2))
    k = _intrinsics(f, h, w)
    g = _unit(np.deg2rad(p["glass"]["yaw_deg"]), np.deg2rad(p["glass"]["pitch_deg"]))
    n_t = _unit(*np.deg2rad(p["transmission"]["tilt_deg"]))
    d_t = p["transmission"]["depth"] * float(n_t[2])  # the plane passes through (0, 0, depth)
    d_r = 2 * p["glass"]["distance"] + p["reflection"]["distance"]
    rots, homs_t, homs_r = [], [], []
    for pose in p["poses"]:
        rot = _rot(*pose["yaw_pitch_roll"])
        t = -rot @ np.asarray(pose["centre"], np.float64)  # X_k = R (X - c)
        rots.append(rot)
        homs_t.append(plane_homography(k, rot, t, n_t, d_t))
        homs_r.append(plane_homography(k, rot, t, g, d_r))
    return k, rots, homs_t, homs_r, g


def render_sequence(p: dict, images_root: str | None = None) -> dict[str, np.ndarray]:
    """Apply the formation model to sampled parameters ``p`` (deterministic).

    Returns
    -------
    dict with ``frames``, ``transmission``, ``reflection`` (N, H, W, 3)
    float32 sRGB; ``alpha`` (N, H, W, 1) float32; ``flow_t``, ``flow_r``
    (N, H, W, 2) float32; ``clean`` (H, W, 3); ``exposure`` (float);
    ``homographies_t`` / ``homographies_r`` (N, 3, 3).
    """
    h, w = p["size"]
    n = p["frames"]
    m = int(round(_MARGIN * max(h, w)))
    k, rots, homs_t, homs_r, g = _geometry(p)
    tex_t = _layer_canvas(p["transmission"], (h, w), m, images_root)
    tex_r = _layer_canvas(p["reflection"], (h, w), m, images_root)[:, ::-1] * np.float32(p["reflection"]["radiance"])
    shift = np.array([[1, 0, -m], [0, 1, -m], [0, 0, 1.0]])  # canvas -> reference pixels

    sigma = p["blur_sigma"]
    if sigma > 0.05:
        tex_r = cv2.GaussianBlur(np.ascontiguousarray(tex_r), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    if p["ghost"] is not None:
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
        t_lin.append(warp(tex_t, homs_t[i]))
        r_warp = warp(tex_r, homs_r[i])
        g_k = rots[i] @ g  # glass normal in frame-k coordinates
        cos = np.abs(rays @ g_k.astype(np.float32))
        alpha = np.clip(p["alpha_centre"] * fresnel_glass(cos) / f_centre, 0.02, 0.6).astype(np.float32)
        alphas.append(alpha[..., None])
        r_lin.append(alpha[..., None] * r_warp)
    t_lin, r_lin = np.stack(t_lin), np.stack(r_lin)
    mixed = t_lin + r_lin
    q = float(np.percentile(mixed.reshape(-1)[::7], 99.5))  # every 7th value: the percentile to ~0.1 %
    s = np.float32(min(1.0, 1.0 / q) if q > 0 else 1.0)
    frames = linear_to_srgb_table(s * mixed)
    transmission = linear_to_srgb_table(s * t_lin)
    return {
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


def make_sample(rng: np.random.Generator, *, frames: int = 5, size: tuple[int, int] = (256, 256),
                images: CoverFolder | None = None) -> Sample:
    """One sequence: inputs {"frames"}, target {"clean"}, extras per frame (see the module docstring)."""
    p = sample_sequence(rng, frames=frames, size=size, images=images)
    out = render_sequence(p, images.root if images is not None else None)
    params = {**p, "exposure": out["exposure"],
              "homographies_t": out["homographies_t"].round(10).tolist(),
              "homographies_r": out["homographies_r"].round(10).tolist()}
    return Sample(
        inputs={"frames": out["frames"]},
        target={"clean": out["clean"]},
        extras={"transmission": out["transmission"], "reflection": out["reflection"], "alpha": out["alpha"],
                "flow_t": out["flow_t"].astype(np.float16), "flow_r": out["flow_r"].astype(np.float16)},
        params=params,
    )


def make_task(*, frames: int = 5, size: int = 256, images: str | None = None) -> Task:
    """The reflections task with its generator parameters fixed (cheap; nothing rendered)."""
    if not 2 <= int(frames) <= MAX_FRAMES:
        raise ValueError(f"frames must lie in 2..{MAX_FRAMES}, got {frames}")
    if not 64 <= int(size) <= 1024:
        raise ValueError(f"size must lie in 64..1024, got {size}")
    folder = CoverFolder(images) if images is not None else None
    hw = (int(size), int(size))
    params: dict[str, Any] = {"version": FORMATION_VERSION, "frames": int(frames), "size": list(hw), "images": None}
    if folder is not None:
        params["images"], params["images_count"] = folder.root, len(folder)
    return Task(
        name=NAME,
        make_sample=functools.partial(make_sample, frames=int(frames), size=hw, images=folder),
        metrics={"psnr": psnr, "ssim": ssim, "lmse": lmse, "ncc": ncc},
        input_kind="frames",
        target_key="clean",
        test_size=60,
        quick_size=10,
        params=params,
        higher_is_better={"psnr": True, "ssim": True, "lmse": False, "ncc": True},
    )


TASK = make_task()
