"""Photographic content that no task owns: parametric dead-leaves images and a content mix.

Restoration networks learn the statistics of what they are trained on. The
tasks that need photographic layers (reflections, captions, coverfill, snow,
new tasks) drew them from ten scikit-image photographs plus procedural book
covers; over a large dataset a network learns those ten pictures. This module
offers content with natural-image statistics and no reuse, after the
principles of the VibrantLeaves generator (Achddou, Gousseau, Ladjal and
Susstrunk, "VibrantLeaves: A principled parametric image generator for
training deep restoration models", 2025), who report that denoising and
super-resolution networks trained only on such images come within about
0.3 dB of the same networks trained on natural images. Written from the
model's description (no code was consulted).

Dead-leaves model (:func:`draw_dead_leaves`), implemented as a specification
------------------------------------------------------------------------------
Units: pixels of the output image; colours sRGB in [0, 1].

* **Occlusion.** Opaque shapes ("leaves") fall on the image plane one after
  another; each pixel shows the first leaf that covered it (front to back:
  the first leaf drawn is the nearest). Leaves are added until fewer than
  0.05 % of the pixels are uncovered (the rest takes the last leaf's colour).
* **Scale invariance.** Leaf size ``r`` (the radius of the shape's
  circumscribed disc) has density proportional to ``r^-alpha`` on
  ``[r_min, r_max]`` with ``alpha`` ~ U(2.6, 3.2) (alpha = 3 gives a
  scale-invariant image, Lee, Mumford and Huang 2001), ``r_min`` = 1.5 px
  (at the supersampled resolution 3 px), ``r_max`` = ``k`` times the image
  diagonal with ``k`` ~ U(0.25, 0.6). Centres are uniform over the image
  extended by ``r_max / 2`` on every side.
* **Shapes.** Per leaf: a disc (25 %), an ellipse with aspect ratio U(0.2, 1)
  (25 %), a convex polygon with 3-8 vertices at random angles on the
  circumscribed circle (25 %), or a rectangle with aspect ratio U(0.1, 1)
  (25 %; straight edges and right angles are common in man-made scenes);
  random orientation.
* **Colour.** Per leaf a base colour drawn in HSV: hue U(0, 1), saturation
  Beta(1.3, 3.0) (most natural surfaces are weakly saturated), value
  Beta(2.2, 1.8); the image has a global colour cast (hue shift and
  saturation scale) so that images differ in palette, not only in layout.
* **Texture.** Per leaf one of: flat (20 %); a linear shading gradient (20 %);
  a warped sinusoid between two colours, period log-uniform in [3, 40] px,
  its phase warped by a smooth random field (20 %; stripes, wood, fabric);
  a coloured-noise micro-texture with power spectrum ``1/f^beta``, ``beta`` ~
  U(1.5, 3), mapping the leaf's colour to a second colour (40 %). Textures
  are drawn from a few full-image texture planes per image, so a leaf costs
  only its bounding box.
* **Depth of field.** With probability 0.5 the leaves behind a depth index
  (the last 5-20 % of the leaves painted, about half the image, are in focus) are blurred by a Gaussian
  of sigma U(1, 4) px before the in-focus leaves are composited over them.
* **Acquisition.** Rendering happens at twice the output resolution; the
  image is then blurred by a Gaussian lens PSF of sigma U(0.3, 0.7) output px
  and downsampled by area averaging (anti-aliased edges, no ringing). No
  noise: content serves as *clean* layers and targets.

Measured (``python -m benchmarks.content_stats``) and written in the
README ("Content library"): power-spectrum slope, gradient kurtosis,
perceptual-hash near-duplicate rate, against the packaged photographs.

Plates are cached on disk (``<cache>/content/``, :func:`generators._runtime.default_cache_dir`,
``$RESTOREBENCH_CACHE`` to move it): a plate at 384 px costs ~270 ms to
draw and ~2 ms to read back, so a pool of plates is drawn once per machine
rather than once per worker process; a cached file whose pixel digest fails
is redrawn, and a cache that cannot be written is skipped.

Content mix (:func:`sample_content`): a JSON-able description is drawn first
(``{"kind": "dead_leaves", "seed": ...}`` or a procedural cover or a user
image), then materialised by :func:`load_content`; sample ``i`` of a task
depends only on its rng as everywhere else. The packaged photographs are kept
out of :data:`DEFAULT_MIX` so that they can serve as the real-content test
split.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from generators._runtime import default_cache_dir
from generators.dataset._atomic import write_bytes_atomic
from generators.shared.covers import CoverFolder, draw_procedural_cover, load_cover, photographs

__all__ = ["draw_dead_leaves", "sample_content", "load_content", "pooled", "DEFAULT_MIX", "CONTENT_MIXES",
           "CONTENT_KINDS", "CONTENT_VERSION", "DEAD_LEAVES_POOL", "SCENE_MIX", "draw_scene"]

CONTENT_VERSION = 1
CONTENT_KINDS = ("dead_leaves", "procedural", "photo", "user", "scene")
DEFAULT_MIX: Mapping[str, float] = {"dead_leaves": 0.75, "procedural": 0.25}
# The mixes a task's --content names: the default mix, or the packaged photographs alone (the real-content
# split, e.g. reflections-real and captions-real).
CONTENT_MIXES: Mapping[str, Mapping[str, float]] = {"mix": DEFAULT_MIX, "photos": {"photo": 1.0}}
# Rendered 3-D scenes (kind "scene", see draw_scene): not in any task's mix yet, since adding them to
# DEFAULT_MIX changes every task that draws from it (a formation version each, and retrained networks).
SCENE_MIX: Mapping[str, float] = {"scene": 1.0}
# Distinct dead-leaves plates a task draws from (the content seed modulo the pool): a plate costs ~270 ms
# at 384 px, so tasks reuse a pool of plates (cached on disk, see _cached_dead_leaves) with fresh crops.
DEAD_LEAVES_POOL = 256
_SUPERSAMPLE = 2
_MAX_LEAVES = 60000
ALPHA_RANGE = (2.5, 3.0)  # leaf-size exponent (3: scale invariant)
R_MIN_PX = 1.5  # smallest leaf radius, output pixels
COVER_DEPTH = 6.0  # expected number of leaves over a pixel
TEXTURE_P = (0.2, 0.2, 0.2, 0.4)  # flat, shading, warped sinusoid, 1/f micro-texture


def _powerlaw_noise(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """Zero-mean, unit-range Gaussian noise whose power spectrum falls as ``1/f^beta`` (float32 in [0, 1])."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2)
    amp[0, 0] = 0.0
    spec = amp * (rng.normal(size=amp.shape) + 1j * rng.normal(size=amp.shape))
    n = np.fft.irfft2(spec, s=(h, w))
    lo, hi = np.percentile(n, (1, 99))
    return np.clip((n - lo) / max(hi - lo, 1e-9), 0, 1).astype(np.float32)


def _leaf_polygons(leaf: dict, shape: np.ndarray) -> np.ndarray:
    """(N, 8, 2) int32 fixed-point (4 bits) vertices of the polygon and rectangle leaves (unused rows 0)."""
    n = len(shape)
    ang = leaf["ang"][:, None].astype(np.float64)
    # polygons: the leaf's first nv random angles, sorted (the rest pushed past them and unused)
    poly = np.sort(np.where(np.arange(8)[None] < leaf["nv"][:, None], leaf["angles"], 10.0), axis=1)
    t = np.arctan(leaf["ar"])[:, None]
    rect = np.concatenate([t, np.pi - t, np.pi + t, -t, np.repeat(-t, 4, axis=1)], axis=1)
    a = np.where((shape == 3)[:, None], rect, poly) + ang
    r = leaf["r"][:, None].astype(np.float64)
    pts = np.stack([leaf["cx"][:, None] + r * np.cos(a), leaf["cy"][:, None] + r * np.sin(a)], -1)
    return np.rint(pts * 16).astype(np.int32).reshape(n, 8, 2)


def _colourise(labels: np.ndarray, leaf: dict, planes: dict, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 colours of a label map: each pixel its leaf's base colour and texture."""
    lab = labels.ravel()
    base, other = leaf["base"][lab], leaf["other"][lab]
    kind = leaf["kind"][lab]
    t = np.zeros(lab.shape, np.float32)
    x, y = xx.ravel(), yy.ravel()
    sel = kind == 1  # linear shading across the leaf
    if sel.any():
        lk = lab[sel]
        tt = (np.cos(leaf["ang"][lk]) * (x[sel] - leaf["cx"][lk]) + np.sin(leaf["ang"][lk]) * (y[sel] - leaf["cy"][lk]))
        shade = np.clip(1.0 + 0.35 * leaf["depth"][lk] * tt / np.maximum(leaf["r"][lk], 1.0), 0.2, 1.8)
        base[sel] *= shade[:, None].astype(np.float32)
    sel = kind == 2  # warped sinusoid between the two colours
    if sel.any():
        lk = lab[sel]
        ph = (np.cos(leaf["ang"][lk]) * x[sel] + np.sin(leaf["ang"][lk]) * y[sel]) * (2 * np.pi / leaf["period"][lk])
        ph += leaf["phase"][lk] + leaf["warp"][lk] * (planes["warp"].ravel()[sel] - 0.5)
        t[sel] = leaf["depth"][lk] * (0.5 + 0.5 * np.sin(ph))
    sel = kind == 3  # 1/f^beta micro-texture
    if sel.any():
        lk = lab[sel]
        noise = planes["noise"].reshape(len(planes["noise"]), -1)
        t[sel] = leaf["depth"][lk] * noise[leaf["plane"][lk], np.flatnonzero(sel)]
    col = base + (other - base) * t[:, None]
    return np.clip(col, 0, 1).reshape(labels.shape + (3,)).astype(np.float32)


def draw_dead_leaves(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A VibrantLeaves-style dead-leaves image (uint8 RGB, ``size`` = (H, W)); see the module docstring.

    A pure function of ``seed`` and ``size``.
    """
    h, w = int(size[0]), int(size[1])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xDEAD1EAF]))
    s = _SUPERSAMPLE
    H, W = h * s, w * s
    alpha = rng.uniform(ALPHA_RANGE[0], ALPHA_RANGE[1])
    r_min = R_MIN_PX * s
    r_max = rng.uniform(0.25, 0.6) * math.hypot(H, W)
    margin = r_max / 2
    # Leaves are painted back to front (the last drawn is the nearest): enough of them that the expected
    # number of leaves over a pixel is COVER_DEPTH (the background shows through with e^-COVER_DEPTH).
    a1 = 1 - alpha
    u = rng.random(_MAX_LEAVES)
    r_all = (r_min**a1 + u * (r_max**a1 - r_min**a1)) ** (1 / a1)
    shape_all = rng.integers(0, 4, _MAX_LEAVES)
    fill = np.where(shape_all == 0, math.pi, np.where(shape_all == 1, 0.6 * math.pi, 1.3))  # area / r^2, roughly
    area = (W + 2 * margin) * (H + 2 * margin)
    n = int(min(_MAX_LEAVES, np.searchsorted(np.cumsum(fill * r_all**2), COVER_DEPTH * area) + 1))
    r, shape = r_all[:n].astype(np.float32), shape_all[:n]
    hue_shift, sat_scale = rng.uniform(0, 1), rng.uniform(0.5, 1.4)
    hsv = np.stack([(rng.uniform(0, 1, n) + hue_shift) % 1.0, np.minimum(1.0, rng.beta(1.3, 3.0, n) * sat_scale),
                    rng.beta(2.2, 1.8, n)], -1)
    hsv2 = np.stack([rng.uniform(0, 1, n), rng.beta(1.3, 3.0, n), rng.beta(2.2, 1.8, n)], -1)
    leaf = {
        "r": r, "cx": rng.uniform(-margin, W + margin, n).astype(np.float32),
        "cy": rng.uniform(-margin, H + margin, n).astype(np.float32),
        "ang": rng.uniform(0, 2 * np.pi, n).astype(np.float32), "ar": rng.uniform(0.15, 1.0, n),
        "nv": rng.integers(3, 9, n), "angles": rng.uniform(0, 2 * np.pi, (n, 8)),
        "base": _hsv_to_rgb_array(hsv), "other": _hsv_to_rgb_array(hsv2),
        "kind": rng.choice(4, size=n, p=TEXTURE_P),
        "period": np.exp(rng.uniform(np.log(3 * s), np.log(40 * s), n)).astype(np.float32),
        "depth": rng.uniform(0.3, 1.0, n).astype(np.float32), "plane": rng.integers(0, 3, n),
        "phase": rng.uniform(0, 2 * np.pi, n).astype(np.float32), "warp": rng.uniform(0, 20, n).astype(np.float32),
    }
    planes = {"noise": np.stack([_powerlaw_noise(rng, H, W, rng.uniform(1.5, 3.0)) for _ in range(3)]),
              "warp": _powerlaw_noise(rng, H, W, 3.5)}
    focus = int(rng.uniform(0.8, 0.95) * n) if rng.random() < 0.5 else None  # in front: the last 5-20 %
    blur_sigma = rng.uniform(1.0, 4.0) * s
    psf = rng.uniform(0.3, 0.7) * s

    labels = np.zeros((H, W), np.int32)  # leaf 0 is the background plane
    back = None
    polys = _leaf_polygons(leaf, shape)
    nverts = np.where(shape == 3, 4, leaf["nv"])
    cx16, cy16 = np.rint(leaf["cx"] * 16).astype(int).tolist(), np.rint(leaf["cy"] * 16).astype(int).tolist()
    r16 = np.maximum(1, np.rint(r * 16)).astype(int).tolist()
    icx, icy = np.rint(leaf["cx"]).astype(int).tolist(), np.rint(leaf["cy"]).astype(int).tolist()
    axes_a = np.maximum(1, np.rint(r)).astype(int).tolist()
    axes_b = np.maximum(1, np.rint(r * leaf["ar"])).astype(int).tolist()
    degs = np.degrees(leaf["ang"]).tolist()
    shapes, nv = shape.tolist(), nverts.tolist()
    for k in range(1, n):
        if k == focus:
            back = labels.copy()
        sh = shapes[k]
        if sh == 0:
            cv2.circle(labels, (cx16[k], cy16[k]), r16[k], k, -1, cv2.LINE_8, 4)
        elif sh == 1:
            cv2.ellipse(labels, (icx[k], icy[k]), (axes_a[k], axes_b[k]), degs[k], 0, 360, k, -1)
        else:
            cv2.fillPoly(labels, [polys[k, : nv[k]]], k, cv2.LINE_8, 4)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    canvas = _colourise(labels, leaf, planes, xx, yy)
    if back is not None:
        blurred = cv2.GaussianBlur(_colourise(back, leaf, planes, xx, yy), (0, 0), blur_sigma)
        canvas = np.where((labels >= focus)[..., None], canvas, blurred)
    canvas = cv2.GaussianBlur(canvas, (0, 0), psf)
    out = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)


def _hsv_to_rgb_array(hsv: np.ndarray) -> np.ndarray:
    """(N, 3) HSV in [0, 1] to (N, 3) float32 RGB."""
    img = cv2.cvtColor((hsv[None] * np.array([360.0, 1.0, 1.0])).astype(np.float32), cv2.COLOR_HSV2RGB)
    return img[0]


def sample_content(rng: np.random.Generator, *, mix: Mapping[str, float] = DEFAULT_MIX,
                   user: CoverFolder | None = None) -> dict[str, Any]:
    """Draw a JSON-able content description from ``mix`` (kind -> weight); see :func:`load_content`.

    ``"user"`` needs ``user`` (a :class:`CoverFolder` of the user's images); ``"photo"`` picks one of
    the packaged photographs (kept out of :data:`DEFAULT_MIX`: they are the real-content test split).
    """
    kinds = [k for k, v in mix.items() if v > 0]
    unknown = sorted(set(kinds) - set(CONTENT_KINDS))
    if unknown:
        raise ValueError(f"unknown content kind {unknown[0]!r}; choose from {list(CONTENT_KINDS)}")
    if "user" in kinds and user is None:
        raise ValueError("the content mix names user images but no folder was given")
    p = np.array([mix[k] for k in kinds], np.float64)
    kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
    if kind == "user":
        f = user.sample(rng)
        return {"kind": "user", "path": f["path"], "sha256": f["sha256"]}
    if kind == "photo":
        return {"kind": "photo", "index": int(rng.integers(len(photographs())))}
    return {"kind": kind, "seed": int(rng.integers(2**31 - 1))}


def pooled(desc: Mapping[str, Any]) -> dict[str, Any]:
    """``desc`` with a dead-leaves seed folded into the pool of :data:`DEAD_LEAVES_POOL` plates (other kinds
    unchanged)."""
    if desc["kind"] == "dead_leaves":
        return {"kind": "dead_leaves", "seed": int(desc["seed"]) % DEAD_LEAVES_POOL}
    return dict(desc)


def _plate_path(seed: int, h: int, w: int) -> Path:
    # The libraries that draw a plate are part of its key: another NumPy or OpenCV may round differently.
    folder = f"dead_leaves-v{CONTENT_VERSION}-numpy{np.__version__}-opencv{cv2.__version__}"
    return default_cache_dir() / "content" / folder / f"{seed}-{h}x{w}.npz"


def _read_plate(path: Path, h: int, w: int) -> np.ndarray | None:
    """The cached plate at ``path``, or None when it is missing, unreadable, of another shape or its
    digest does not match its pixels (a torn or corrupted file is redrawn, never used)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            img, digest = z["image"], bytes(z["blake2b"])
    except Exception:  # missing, truncated, not an npz: redraw
        return None
    if img.shape != (h, w, 3) or img.dtype != np.uint8:
        return None
    if hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=16).digest() != digest:
        return None
    return img


def _write_plate(path: Path, img: np.ndarray) -> None:
    """Write a plate atomically (temporary file + rename); any OS error (read-only or full disk) leaves
    the cache as it was: the cache only saves time."""
    digest = np.frombuffer(hashlib.blake2b(img.tobytes(), digest_size=16).digest(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, image=img, blake2b=digest)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buf.getvalue())


@functools.lru_cache(maxsize=8)
def _cached_dead_leaves(seed: int, h: int, w: int) -> np.ndarray:
    """:func:`draw_dead_leaves`, through the on-disk plate cache (``<cache>/content/``, see
    :func:`generators._runtime.default_cache_dir`): a plate costs ~270 ms at 384 px and is a pure
    function of ``(seed, size, CONTENT_VERSION)``, so it is drawn once per machine, not once per
    process. The cached file carries a digest of its pixels; one that fails it is redrawn."""
    path = _plate_path(seed, h, w)
    img = _read_plate(path, h, w)
    if img is None:
        img = draw_dead_leaves(seed, (h, w))
        _write_plate(path, img)
    img.setflags(write=False)
    return img


def draw_scene(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A still of a rendered 3-D scene (:mod:`generators.shared.planescene`): a backdrop, a ground in 60 %
    of scenes and 2-5 cut-outs in perspective, seen by a camera 1.2-2 m above the ground, each plane
    textured from :data:`DEFAULT_MIX` (dead-leaves plates of the pool and procedural covers, loaded at
    1.5x the image side, the size the tasks cache plates at); uint8 RGB of ``size``, a pure function of ``(seed, size)``. Content for
    receding surfaces, occlusion at depth edges and perspective texture gradients, which flat
    dead-leaves plates lack; no lighting or shadows. ~10-25 ms at 256x256 with the plates cached."""
    from generators.shared import planescene

    rng = np.random.default_rng([int(seed), 0x5CE4E])
    shot = planescene.sample_shot(rng, 0, 1.0, lambda r: pooled(sample_content(r, mix=DEFAULT_MIX)))
    return planescene.render_still(shot, (int(size[0]), int(size[1])), lambda d, side: load_content(d, (side, side)),
                                   has_text=lambda d: d["kind"] != "dead_leaves")


def load_content(desc: Mapping[str, Any], size: tuple[int, int], user_root: str | None = None) -> np.ndarray:
    """Materialise a content description as uint8 RGB of ``size`` = (H, W) (photos and user images are
    resized to cover it, keeping their aspect ratio, and centre-cropped)."""
    h, w = int(size[0]), int(size[1])
    kind = desc["kind"]
    if kind == "dead_leaves":
        return _cached_dead_leaves(int(desc["seed"]), h, w)
    if kind == "procedural":
        return draw_procedural_cover(int(desc["seed"]), (h, w))
    if kind == "scene":
        return draw_scene(int(desc["seed"]), (h, w))
    if kind == "photo":
        src = photographs()[int(desc["index"])]
    elif kind == "user":
        file = {"kind": "file", "path": desc["path"], "sha256": desc["sha256"]}
        return np.rint(load_cover(file, (h, w), user_root) * 255).astype(np.uint8)
    else:
        raise ValueError(f"unknown content kind {kind!r}; choose from {list(CONTENT_KINDS)}")
    sh, sw = src.shape[:2]
    scale = max(h / sh, w / sw)
    img = cv2.resize(src, (max(w, int(round(sw * scale))), max(h, int(round(sh * scale)))),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y0, x0 = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[y0 : y0 + h, x0 : x0 + w])
