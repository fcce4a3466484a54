"""Rasterise sampled snowflakes into per-pixel translucency (the apply step).

Implements the "Flakes" and "Rasterisation" paragraphs of the specification
in :mod:`generators.snow`; deterministic given the flake arrays.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

__all__ = ["rasterise_flakes", "DEPTH_BINS", "SIGMA_MIN"]

DEPTH_BINS = 10  # log-spaced depth bins per population
SIGMA_MIN = 0.5  # px: the smallest spot a flake makes (lens PSF + pixel footprint)
LAYER_MIN = 0.01  # a pixel belongs to no flake layer when the strongest covers less than this


@functools.lru_cache(maxsize=256)
def _line_kernel(length_q: int, angle_q: int) -> np.ndarray:
    """Normalised anti-aliased segment of ``length_q / 4`` px at ``angle_q`` degrees (sums to 1)."""
    length = length_q / 4.0
    half = int(np.ceil(length / 2)) + 1
    size = 2 * half + 1
    canvas = np.zeros((size * 4, size * 4), np.uint8)
    ang = np.deg2rad(angle_q)
    c = (size * 4 - 1) / 2
    dx, dy = np.cos(ang) * length * 2, np.sin(ang) * length * 2  # half-length in the 4x canvas
    shift = 4  # fixed-point bits of cv2.line coordinates
    p0 = (int(round((c - dx) * 16)), int(round((c - dy) * 16)))
    p1 = (int(round((c + dx) * 16)), int(round((c + dy) * 16)))
    cv2.line(canvas, p0, p1, 255, thickness=4, lineType=cv2.LINE_AA, shift=shift)
    k = cv2.resize(canvas.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    k /= max(float(k.sum()), 1e-12)
    k.setflags(write=False)
    return k


def _splat(h: int, w: int, u: np.ndarray, v: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Bilinear splat of point weights at sub-pixel positions ``(u, v)`` (px) into an (H, W) image."""
    x0, y0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fx, fy = (u - x0).astype(np.float32), (v - y0).astype(np.float32)
    gx, gy = 1 - fx, 1 - fy
    # The four corners in one bincount (one pass over the image instead of four).
    xx = np.concatenate([x0, x0 + 1, x0, x0 + 1])
    yy = np.concatenate([y0, y0, y0 + 1, y0 + 1])
    wt = np.concatenate([weight * (gx * gy), weight * (fx * gy), weight * (gx * fy), weight * (fx * fy)])
    ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
    out = np.bincount(yy[ok] * w + xx[ok], weights=wt[ok], minlength=h * w)
    return out.reshape(h, w).astype(np.float32)


def rasterise_flakes(flakes: dict, *, size: tuple[int, int], focal_px: float, aperture_m: float, focus_m: float,
                     exposure_s: float, shift_px: tuple[float, float] = (0.0, 0.0),
                     time_s: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translucency of one frame and which flake layer dominates each pixel.

    Parameters
    ----------
    flakes : dict of arrays
        ``u, v`` (px, image position at ``time_s = 0``), ``z`` (m, depth),
        ``diameter`` (m), ``opacity`` ([0, 1]), ``vx, vy`` (m/s, camera
        axes: x right, y down), ``population`` (1 small, 2 medium, 3 large),
        all of length F.
    size : (H, W)
    focal_px, aperture_m, focus_m, exposure_s
        Pinhole focal length in px, aperture diameter (m), focus distance
        (m), exposure time (s) (spec: "Rasterisation").
    shift_px : (dx, dy)
        Camera pan of this frame in px (the scene and flakes shift by it;
        flakes also by their parallax-free image motion).
    time_s : float
        Time of this frame's exposure start relative to the reference.

    Returns
    -------
    z : (H, W) float32 in [0, 1]
        ``1 - prod_k (1 - min(1, L_k))`` over the layers ``L_k``.
    layer_depth : (H, W) float32
        Mean depth (m) of the layer with the largest ``L_k`` (0 where no
        layer reaches ``LAYER_MIN``).
    layer_class : (H, W) uint8
        Population of that layer (0 where none reaches ``LAYER_MIN``).
    """
    h, w = size
    layer_depth = np.zeros((h, w), np.float32)
    layer_class = np.zeros((h, w), np.uint8)
    if len(flakes["z"]) == 0:
        return np.zeros((h, w), np.float32), layer_depth, layer_class
    z = flakes["z"]
    # Image velocity (px/s) of a flake: f v / z (lateral motion; the depth component is neglected).
    ux, uy = focal_px * flakes["vx"] / z, focal_px * flakes["vy"] / z
    u = flakes["u"] + ux * time_s - shift_px[0]
    v = flakes["v"] + uy * time_s - shift_px[1]
    d_px = focal_px * flakes["diameter"] / z
    weight = flakes["opacity"] * np.pi / 4 * d_px**2  # opacity-area (px^2): conserved by normalised kernels
    edges = np.geomspace(max(float(z.min()), 1e-3), float(z.max()) * 1.0001, DEPTH_BINS + 1)
    bins = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, DEPTH_BINS - 1)
    # Visit the (population, bin) groups in order; a stable sort keeps each group's flakes in their
    # sampled order, so the splat sums (and the output) do not depend on how the groups are found.
    key = flakes["population"].astype(np.int64) * DEPTH_BINS + bins
    order = np.argsort(key, kind="stable")
    groups, starts = np.unique(key[order], return_index=True)
    bounds = [*starts[1:], len(order)]
    layers, depths, pops = [], [], []
    for g, start, stop in zip(groups, starts, bounds):
        pop = int(g) // DEPTH_BINS
        sel = order[start:stop]
        zb = float(np.exp(np.mean(np.log(z[sel]))))  # the bin's geometric-mean depth
        db = float(np.exp(np.mean(np.log(d_px[sel]))))
        coc = focal_px * aperture_m * abs(1.0 / zb - 1.0 / focus_m)  # thin-lens blur circle, px
        sigma = float(np.sqrt(max(SIGMA_MIN, db / 4) ** 2 + (coc / 4) ** 2))  # a disc of diameter d: sigma d/4
        speed = float(np.hypot(np.mean(ux[sel]), np.mean(uy[sel])))
        streak = speed * exposure_s
        layer = _splat(h, w, u[sel] + ux[sel] * exposure_s / 2, v[sel] + uy[sel] * exposure_s / 2,
                       weight[sel].astype(np.float64))
        if streak >= 0.75:
            angle = float(np.degrees(np.arctan2(np.mean(uy[sel]), np.mean(ux[sel]))))
            k = _line_kernel(int(round(min(streak, 4 * max(h, w)) * 4)), int(round(angle)) % 360)
            layer = cv2.filter2D(layer, -1, k, borderType=cv2.BORDER_CONSTANT)
        layer = cv2.GaussianBlur(layer, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        np.clip(layer, 0.0, 1.0, out=layer)
        layers.append(layer)
        depths.append(zb)
        pops.append(pop)
    if not layers:
        return np.zeros((h, w), np.float32), layer_depth, layer_class
    # z = 1 - prod_k (1 - L_k), multiplied in layer order; the dominant layer is the first largest L_k.
    keep_all = np.subtract(np.float32(1.0), layers[0])
    best = layers[0].copy()
    tmp = np.empty_like(best)
    for layer in layers[1:]:
        np.subtract(np.float32(1.0), layer, out=tmp)
        keep_all *= tmp
        np.maximum(best, layer, out=best)
    top = np.zeros((h, w), np.intp)
    for k in range(len(layers) - 1, 0, -1):  # descending, so the first layer reaching the maximum wins
        np.copyto(top, k, where=layers[k] == best)
    zmap = np.clip(1.0 - keep_all, 0.0, 1.0).astype(np.float32)
    strong = best >= LAYER_MIN
    layer_depth[strong] = np.asarray(depths, np.float32)[top[strong]]
    layer_class[strong] = np.asarray(pops, np.uint8)[top[strong]]
    return zmap, layer_depth, layer_class
