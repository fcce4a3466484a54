"""coverrefs: fill an occluded book cover with the help of a gallery of similar images.

Reference-guided de-occlusion: a *query* photograph shows a book cover lying
on a table, partly hidden by objects in front of it; a *gallery* of ``K``
photographs holds ``M`` other pictures of the same cover (other poses, other
lights, close-ups that show only part of it, other exposure and colour) and
``K - M`` distractors (other covers, and near-duplicates of the query cover
whose text differs). A method predicts the query as it would look without
the occluders. Retrieval (which gallery items show the query's cover),
alignment (where they show it) and filling are all part of the task.

Formation model (version ``FORMATION_VERSION``)
-------------------------------------------
Every picture of a cover starts from a *canonical* render of the cover scene
that bookcovers also uses (:mod:`generators.shared.coverscene.scene`, fast
renderer): the cover fills an ``S x S`` image, texel ``(i, j)`` at pixel
``(x = j, y = i)``, lit by that view's lights and ambient, with that view's
occluders and their shadows. One
scene is sampled per sample; its view 0 is the query, views ``1..M`` are the
references (each with its own lights and occluders), and one more render of
view 0 with its occluders removed is the unoccluded query.

*Poses.* A picture is the canonical render mapped onto the image by a
homography ``H`` (canonical pixel -> picture pixel, OpenCV's convention:
pixel centres at integer coordinates): a plane seen by a pinhole camera is
exactly a homography (Hartley and Zisserman, sec. 2.3), so the cover's
texture is placed exactly; occluders are 3D objects and are carried along
as if painted on the plane (see "What looks synthetic" below). ``H`` maps
the cover's corners to a quadrilateral: the corners of a square of side
``scale * S`` rotated by ``rotation`` about ``centre``, each then displaced
by up to ``jitter * S`` pixels (perspective). Query: scale U(0.65, 0.9),
rotation U(-12, 12) degrees, jitter 0.04, the whole cover inside the frame.
Full references: scale U(0.55, 0.95), rotation U(-30, 30), jitter 0.08,
whole cover inside the frame. Partial references (close-ups): scale
U(1.3, 2.4), rotation U(-20, 20), jitter 0.06, centre anywhere on the
cover, so only part of it is in the frame. Warping is bilinear
(``cv2.warpPerspective``); the warped cover is composited (premultiplied by
the warped coverage ``alpha``) over a background texture (a bookcovers
pattern texture, muted, per picture).

*Masks of the query.* ``amodal``: pixels where ``alpha >= 0.5`` or the
occluders reach; ``occluder``: pixels to which the canonical occlusion mask
contributes (warped coverage > 0); the hole (``inputs["mask"]``) is
``occluder`` (occluders lie over the cover only, so it is inside
``amodal``); ``modal = amodal & ~mask``. The occluded query equals the
target exactly outside the hole, by construction: it is the target with the
occluder pixels pasted in (the occluder's cast shadow is *not* kept in the
query: the target is the cover lit without occluders, and so are the query's
known pixels).

*Photometric changes* (every gallery item, references and distractors
alike, so they are no retrieval cue): in sRGB, ``out = clip(gain_c *
in^gamma)`` with ``gamma`` U(0.75, 1.35), ``gain_c`` = U(0.8, 1.2) times a
per-channel U(0.88, 1.12); with probability 0.3 a Gaussian blur of sigma
U(0.3, 1.2) px; with probability 0.5 Gaussian noise of sigma U(0, 0.015).

*References and the condition.* ``M`` and the usefulness of the best
reference are drawn as a *condition*: ``m0`` (no reference), ``m1-low``,
``m1-high``, ``m3-low``, ``m3-high``. A reference *sees* a hole pixel when
the pixel's canonical point falls inside the reference's frame and is not
hidden there by the reference's own occluders; its *visible fraction* is the
share of hole pixels it sees. ``high``: the best reference sees >= 50 % of
the hole; ``low``: every reference sees < 50 %. Poses are drawn (full or
partial, 50/50; the designated best reference of ``high`` starts full) and
redrawn up to ``_POSE_TRIES`` times until the requested class holds; the
class that holds in the end is what is recorded (``params["condition"]``,
and the integer code ``params["condition_code"] = 100 + 10 * M + (1 if
the best reference sees >= 50 % else 0)``: 100, 110, 111, 130, 131 — read
"1, M, useful"; the leading 1 keeps every code a positive integer, as the
harness's condition column requires), so every score is filed under the
truth.

*Distractors.* Each is, with probability 0.3, a near-duplicate of the query
cover (the same design with a band of 10-20 % of its height repainted in its
median colour and new words written on it; a re-issue with another title or
volume number), rendered under a fresh scene's lighting; otherwise an item
of a pool of ``DISTRACTOR_POOL`` other covers, each rendered once under its
own lights and occluders (pool item ``j`` is a pure function of ``j``, so it
is cached per process: the gallery's dominant cost is paid once). Every
distractor gets its own pose (full or partial) and photometric change.
Gallery order is a random permutation.

Sample layout
-------------
* ``inputs["image"]``: (S, S, 3) float32 sRGB, the occluded query;
* ``inputs["mask"]``: (S, S) bool, the hole (occluded part of the cover);
* ``inputs["modal"]``, ``inputs["occluder"]``, ``inputs["amodal"]``: (S, S) bool;
* ``inputs["gallery"]``: (K, S, S, 3) float32 sRGB;
* ``inputs["oracle_best"]``: (1,) int32, the gallery index of the reference
  that sees most of the hole (-1 without references). Oracle information:
  only methods named ``oracle-*`` may read it (a test checks that the others
  ignore it);
* ``target["clean"]``: (S, S, 3) float32 sRGB, the query without occluders;
* ``extras["is_reference"]``: (K,) bool;
* ``extras["homographies"]``: (K, 3, 3) float64, query pixel -> gallery
  pixel (``x_g ~ H x_q``, homogeneous, pixel centres at integers); NaN for
  distractors;
* ``extras["visible"]``: (K, S, S) bool, the hole pixels each gallery item
  sees (all False for distractors);
* ``extras["visible_fraction"]``: (K,) float32;
* ``params``: condition, scene, poses, photometric changes, distractor
  descriptions, hole fraction.

What looks synthetic
--------------------
Occluders are carried by the cover's homography, so at oblique poses they
look like decals on the cover rather than objects standing on it, and they
never reach past the cover's edge (so ``occluder`` equals the hole); the
occluder casts no shadow in the query; backgrounds are flat patterns; all
pictures share the renderer's lighting model (no camera noise model beyond
the Gaussian noise, no lens distortion, no motion blur); procedural covers
are text and shapes on gradients, simpler than real covers.

Command line::

    python -m generators.coverrefs --n 1000 --out DIR [--size 256] [--gallery 10]
        [--conditions m0,m1-low,m1-high,m3-low,m3-high] [--covers DIR] [--seed S] [--workers N]
"""

from __future__ import annotations

import functools
import math
from typing import Any, Iterator

import cv2
import numpy as np

from generators.shared.colour import linear_to_srgb, srgb_to_linear
from generators.shared.covers import CoverFolder, load_cover, load_texture
from generators.shared.coverscene import render
from generators.shared.coverscene.scene import sample_scene
from generators.task import Call, Sample, Task

__all__ = ["NAME", "FORMATION_VERSION", "CONDITIONS", "TASK", "make_task", "make_sample", "condition_code",
           "ReferenceCondition", "warp_to_query", "open_cover_folder"]

NAME = "coverrefs"
FORMATION_VERSION = 1
# name -> (M, wanted class of the best reference: None, "low" or "high")
CONDITIONS: dict[str, tuple[int, str | None]] = {
    "m0": (0, None), "m1-low": (1, "low"), "m1-high": (1, "high"), "m3-low": (3, "low"), "m3-high": (3, "high"),
}
USEFUL_FRACTION = 0.5  # a reference seeing at least this share of the hole is "useful"
MAX_GALLERY = 32
DISTRACTOR_POOL = 256
NEAR_DUPLICATE_SHARE = 0.3
MIN_HOLE_FRACTION = 0.01  # of the cover's area; smaller holes are redrawn
_POSE_TRIES = 40
_SCENE_TRIES = 8
_POOL_SALT = 0xC0FE
_POSES = {  # kind -> (scale range, max rotation deg, corner jitter as a fraction of S)
    "query": ((0.65, 0.9), 12.0, 0.04),
    "full": ((0.55, 0.95), 30.0, 0.08),
    "partial": ((1.3, 2.4), 20.0, 0.06),
}


def condition_code(m: int, best_fraction: float) -> int:
    """The harness's condition number: ``100 + 10 * M + (best visible fraction >= 0.5)``
    (m0 100, m1-low 110, m1-high 111, m3-low 130, m3-high 131)."""
    return 100 + 10 * int(m) + int(m > 0 and best_fraction >= USEFUL_FRACTION)


# ---------------------------------------------------------------- poses


def _corners(size: int) -> np.ndarray:
    s = float(size)
    return np.array([[-0.5, -0.5], [s - 0.5, -0.5], [s - 0.5, s - 0.5], [-0.5, s - 0.5]], np.float64)


def _sample_pose(rng: np.random.Generator, kind: str, size: int) -> dict[str, Any]:
    """Draw a pose of ``kind`` (see ``_POSES``); full and query poses keep the cover in the frame."""
    (s0, s1), rot, jit = _POSES[kind]
    for _ in range(100):
        scale = float(rng.uniform(s0, s1))
        angle = float(rng.uniform(-rot, rot))
        jitter = (rng.uniform(-jit, jit, size=(4, 2)) * size).tolist()
        if kind == "partial":
            centre = (rng.uniform(-0.35, 0.35, size=2) * scale * size + (size - 1) / 2).tolist()
        else:
            centre = ((rng.uniform(-0.5, 0.5, size=2) * (1 - scale) * size) + (size - 1) / 2).tolist()
        pose = {"kind": kind, "scale": scale, "rotation_deg": angle, "centre": centre, "jitter": jitter}
        dst = _pose_corners(pose, size)
        if kind == "partial" or (dst.min() >= 0 and dst.max() <= size - 1):
            return pose
    return pose


def _pose_corners(pose: dict[str, Any], size: int) -> np.ndarray:
    src = _corners(size)
    c = (size - 1) / 2.0
    a = math.radians(pose["rotation_deg"])
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (src - c) @ rot.T * pose["scale"] + np.asarray(pose["centre"]) + np.asarray(pose["jitter"])


def pose_homography(pose: dict[str, Any], size: int) -> np.ndarray:
    """(3, 3) float64: canonical pixel -> picture pixel for ``pose``."""
    return cv2.getPerspectiveTransform(_corners(size).astype(np.float32),
                                       _pose_corners(pose, size).astype(np.float32)).astype(np.float64)


def _apply_h(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    p = xy @ h[:, :2].T + h[:, 2]
    return p[:, :2] / p[:, 2:3]


# ---------------------------------------------------------------- pictures


def _background(desc: dict[str, Any], size: int) -> np.ndarray:
    return load_texture(desc, size).astype(np.float32) / 255.0


def _sample_background(rng: np.random.Generator) -> dict[str, Any]:
    base = rng.uniform(0.15, 0.75, size=3)
    other = np.clip(base + rng.normal(0, 0.08, size=3), 0, 1)
    return {"kind": str(rng.choice(["noise", "noise", "stripes", "solid"])),
            "colors": [[float(c) for c in base], [float(c) for c in other]],
            "frequency": float(rng.uniform(2.0, 8.0)), "angle_deg": float(rng.uniform(0, 180)),
            "seed": int(rng.integers(2**31))}


def _warp(canon: np.ndarray, h: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpPerspective(canon, h, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)


def _picture(canon: np.ndarray, h: np.ndarray, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(picture, alpha): ``canon`` warped by ``h`` over ``bg`` (premultiplied by the warped coverage)."""
    size = bg.shape[0]
    alpha = _warp(np.ones(canon.shape[:2], np.float32), h, size)
    out = _warp(canon, h, size) + (1.0 - alpha)[..., None] * bg
    return np.clip(out, 0.0, 1.0).astype(np.float32), alpha


def _sample_photometric(rng: np.random.Generator) -> dict[str, Any]:
    gain = float(rng.uniform(0.8, 1.2)) * rng.uniform(0.88, 1.12, size=3)
    return {"gamma": float(rng.uniform(0.75, 1.35)), "gain": [float(g) for g in gain],
            "blur_sigma": float(rng.uniform(0.3, 1.2)) if rng.random() < 0.3 else 0.0,
            "noise_sigma": float(rng.uniform(0.0, 0.015)) if rng.random() < 0.5 else 0.0,
            "noise_seed": int(rng.integers(2**31))}


def _photometric(img: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    out = np.power(img, np.float32(p["gamma"])) * np.asarray(p["gain"], np.float32)
    if p["blur_sigma"] > 0:
        out = cv2.GaussianBlur(out, (0, 0), p["blur_sigma"])
    if p["noise_sigma"] > 0:
        noise = np.random.default_rng(p["noise_seed"]).standard_normal(out.shape, dtype=np.float32)
        out = out + np.float32(p["noise_sigma"]) * noise
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _unoccluded(rendered: dict[str, np.ndarray], v: int, cover: np.ndarray) -> np.ndarray:
    """View ``v`` of the cover from the renderer's shading and specular terms (no occluder pixels)."""
    lin = srgb_to_linear(cover) * (2.0 * rendered["shading"][v]) + rendered["specular"][v]
    return linear_to_srgb(lin)


# ---------------------------------------------------------------- covers


def open_cover_folder(path: str) -> CoverFolder:
    """A user's cover folder; ValueError (one line) when it is missing, empty or holds unreadable images."""
    folder = CoverFolder(path)
    if folder.skipped:
        raise ValueError(f"covers folder {path}: {folder.skipped} image file(s) cannot be read; "
                         "fix or remove them (every file must decode)")
    return folder


def _sample_retitle(rng: np.random.Generator) -> dict[str, Any]:
    syll = ["ka", "ri", "mo", "sa", "le", "na", "to", "vi", "ber", "dor", "fen", "gal", "mar", "nor", "quin"]
    words = [("".join(rng.choice(syll, size=int(rng.integers(2, 4))))).upper() for _ in range(int(rng.integers(1, 3)))]
    if rng.random() < 0.4:
        words.append(str(int(rng.integers(2, 10))))
    return {"y0": float(rng.uniform(0.05, 0.75)), "height": float(rng.uniform(0.1, 0.2)), "text": " ".join(words),
            "dark": bool(rng.random() < 0.5)}


@functools.lru_cache(maxsize=4)
def _font(px: int):
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSans-Bold.ttf", px)


def _retitle(cover: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """The near-duplicate: a band of ``cover`` repainted in its median colour, new text on it."""
    from PIL import Image, ImageDraw

    h, w = cover.shape[:2]
    y0, y1 = int(p["y0"] * h), int((p["y0"] + p["height"]) * h)
    u8 = np.rint(cover * 255).astype(np.uint8)
    band = np.median(u8[y0:y1].reshape(-1, 3), axis=0).astype(np.uint8)
    u8[y0:y1] = band
    img = Image.fromarray(u8)
    ink = (20, 20, 20) if float(band.astype(np.float32) @ [0.299, 0.587, 0.114]) > 128 else (235, 235, 235)
    font = _font(max(8, int(0.7 * (y1 - y0))))
    ImageDraw.Draw(img).text((w / 2, (y0 + y1) / 2), p["text"], font=font, fill=ink, anchor="mm")
    return np.asarray(img).astype(np.float32) / 255.0


@functools.lru_cache(maxsize=DISTRACTOR_POOL)
def _pool_item(j: int, size: int, folder: CoverFolder | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Pool distractor ``j``: its canonical render (uint8, read-only) and cover description."""
    rng = np.random.default_rng(np.random.SeedSequence([_POOL_SALT, int(j)]))
    scene = sample_scene(rng, views=1, size=(size, size), cover_source=folder)
    out = render(scene, covers_dir=folder.root if folder is not None else None)
    img = np.rint(out["views"][0] * 255).astype(np.uint8)
    img.setflags(write=False)
    return img, scene["cover"]


# ---------------------------------------------------------------- visibility


def _seen(hole_xy: np.ndarray, h_q: np.ndarray, h_r: np.ndarray, occ_r: np.ndarray) -> np.ndarray:
    """Per hole pixel (query coordinates), whether a reference with pose ``h_r`` and canonical
    occlusion ``occ_r`` sees it: inside its frame and not behind its own occluders."""
    size = occ_r.shape[0]
    canon = _apply_h(np.linalg.inv(h_q), hole_xy)
    in_ref = _apply_h(h_r, canon)
    inside = np.all((in_ref >= -0.5) & (in_ref <= size - 0.5), axis=1)
    ci = np.clip(np.rint(canon).astype(np.int64), 0, size - 1)
    return inside & ~occ_r[ci[:, 1], ci[:, 0]]


def _draw_reference_poses(rng, wanted: str | None, m: int, hole_xy, h_q, occs, size) -> list[dict[str, Any]]:
    """Poses of the ``m`` references, redrawn until the condition class ``wanted`` holds (or tries run out)."""
    poses = []
    for k in range(m):
        kind = "full" if (wanted == "high" and k == 0) else str(rng.choice(["full", "partial"]))
        for _ in range(_POSE_TRIES):
            pose = _sample_pose(rng, kind, size)
            frac = float(_seen(hole_xy, h_q, pose_homography(pose, size), occs[k]).mean())
            ok = frac >= USEFUL_FRACTION if (wanted == "high" and k == 0) else (
                frac < USEFUL_FRACTION if wanted == "low" else True)
            if ok:
                break
            if wanted == "low":
                kind = "partial"  # a full view almost always sees the hole
        poses.append(pose)
    return poses


# ---------------------------------------------------------------- the sample


def make_sample(rng: np.random.Generator, *, size: int = 256, gallery: int = 10,
                conditions: tuple[str, ...] = tuple(CONDITIONS), covers: CoverFolder | None = None) -> Sample:
    """One query, its gallery and the unoccluded target (see the module docstring)."""
    s = int(size)
    name = str(conditions[int(rng.integers(len(conditions)))])
    m, wanted = CONDITIONS[name]
    covers_dir = covers.root if covers is not None else None
    for _ in range(_SCENE_TRIES):
        scene = sample_scene(rng, views=1 + m, size=(s, s), cover_source=covers)
        # One more render of view 0 without occluders: the unoccluded query.
        full = {**scene, "views": [*scene["views"], {**scene["views"][0], "occluders": []}]}
        cover = load_cover(scene["cover"], (s, s), covers_dir)
        out = render(full, covers_dir=covers_dir, cover=cover)
        q_pose = _sample_pose(rng, "query", s)
        h_q = pose_homography(q_pose, s)
        occ_w = _warp(out["occlusion"][0].astype(np.float32), h_q, s)
        hole = occ_w > 1e-6
        alpha_q = _warp(np.ones((s, s), np.float32), h_q, s)
        if hole.sum() >= MIN_HOLE_FRACTION * max(float(alpha_q.sum()), 1.0) and not hole.all():
            break
    bg_q = _sample_background(rng)
    bg = _background(bg_q, s)
    clean_canon = out["views"][1 + m]
    query_canon = np.where(out["occlusion"][0][..., None], out["views"][0], clean_canon)
    target, alpha = _picture(clean_canon, h_q, bg)
    occluded, _ = _picture(query_canon, h_q, bg)
    image = np.where(hole[..., None], occluded, target).astype(np.float32)
    amodal = (alpha >= 0.5) | hole

    ys, xs = np.nonzero(hole)
    hole_xy = np.stack([xs, ys], axis=1).astype(np.float64)
    occs = [out["occlusion"][1 + k] for k in range(m)]
    poses = _draw_reference_poses(rng, wanted, m, hole_xy, h_q, occs, s)

    items: list[dict[str, Any]] = []  # gallery items before shuffling
    for k in range(m):
        items.append({"kind": "reference", "view": 1 + k, "pose": poses[k]})
    for _ in range(gallery - m):
        if rng.random() < NEAR_DUPLICATE_SHARE:
            d_scene = sample_scene(rng, views=1, size=(s, s))
            items.append({"kind": "near-duplicate", "retitle": _sample_retitle(rng), "view": d_scene["views"][0],
                          "material": d_scene["material"], "camera": d_scene["camera"]})
        else:
            items.append({"kind": "other", "pool": int(rng.integers(DISTRACTOR_POOL))})
        items[-1]["pose"] = _sample_pose(rng, str(rng.choice(["full", "full", "partial"])), s)
    for it in items:
        it["background"] = _sample_background(rng)
        it["photometric"] = _sample_photometric(rng)
    order = rng.permutation(len(items))

    g_imgs = np.empty((gallery, s, s, 3), np.float32)
    is_ref = np.zeros(gallery, bool)
    homs = np.full((gallery, 3, 3), np.nan)
    visible = np.zeros((gallery, s, s), bool)
    fractions = np.zeros(gallery, np.float32)
    for g, idx in enumerate(order):
        it = items[int(idx)]
        h_g = pose_homography(it["pose"], s)
        if it["kind"] == "reference":
            canon = out["views"][it["view"]]
            is_ref[g] = True
            homs[g] = h_g @ np.linalg.inv(h_q)
            homs[g] /= homs[g][2, 2]
            seen = _seen(hole_xy, h_q, h_g, out["occlusion"][it["view"]])
            visible[g][ys[seen], xs[seen]] = True
            fractions[g] = float(seen.mean())
        elif it["kind"] == "near-duplicate":
            d_scene = {**scene, "camera": it["camera"], "material": it["material"], "views": [it["view"]]}
            canon = render(d_scene, cover=_retitle(cover, it["retitle"]))["views"][0]
        else:
            pooled, it["cover"] = _pool_item(it["pool"], s, covers)
            canon = pooled.astype(np.float32) / 255.0
        pic, _ = _picture(canon, h_g, _background(it["background"], s))
        g_imgs[g] = _photometric(pic, it["photometric"])

    best = float(fractions.max()) if m else 0.0
    oracle = int(np.argmax(np.where(is_ref, fractions, -1.0))) if m else -1
    params = {
        "version": FORMATION_VERSION, "size": [s, s], "gallery": int(gallery), "references": m,
        "condition_requested": name,
        "condition": "m0" if m == 0 else f"m{m}-{'high' if best >= USEFUL_FRACTION else 'low'}",
        "condition_code": condition_code(m, best), "best_visible_fraction": best,
        "hole_fraction": float(hole.sum() / max(amodal.sum(), 1)),
        "scene": scene, "query_pose": q_pose, "query_background": bg_q,
        "gallery_items": [items[int(i)] for i in order],
    }
    return Sample(
        inputs={"image": image, "mask": hole, "modal": amodal & ~hole, "occluder": hole.copy(), "amodal": amodal,
                "gallery": g_imgs, "oracle_best": np.array([oracle], np.int32)},
        target={"clean": target},
        extras={"is_reference": is_ref, "homographies": homs, "visible": visible, "visible_fraction": fractions},
        params=params,
    )


def warp_to_query(gallery_image: np.ndarray, h_query_to_gallery: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bring a gallery picture into the query's frame with a query -> gallery homography.

    Returns ``(warped (S, S, 3) float32, seen (S, S) bool)``: ``seen`` marks
    query pixels whose preimage lies inside the gallery picture.
    """
    h, w = gallery_image.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(gallery_image, h_query_to_gallery, (w, h), flags=flags,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cover = cv2.warpPerspective(np.ones((h, w), np.float32), h_query_to_gallery, (w, h), flags=flags,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(warped, 0, 1).astype(np.float32), cover > 0.999


# ---------------------------------------------------------------- protocol and task


class ReferenceCondition:
    """One call per sample, filed under the sample's condition code (``params["condition_code"]``):
    ``100 + 10 * M + 1`` when the best reference sees >= 50 % of the hole, else ``100 + 10 * M``."""

    axis = "refs"
    condition_labels = {100 + 10 * m + int(useful == "high"):
                        f"M = {m}" if useful is None else f"M = {m}, best sees {'>=' if useful == 'high' else '<'} 50%"
                        for m, useful in CONDITIONS.values()}

    def calls(self, sample: Sample, *, seed: int, index: int) -> Iterator[Call]:
        yield Call(int(sample.params["condition_code"]), 0, sample.inputs, sample.params.get("condition", ""))


def _validate(size: int, gallery: int, conditions) -> tuple[str, ...]:
    if not 64 <= int(size) <= 1024:
        raise ValueError(f"size must lie in 64..1024, got {size}")
    conds = tuple(conditions)
    if not conds:
        raise ValueError("conditions: give at least one")
    for c in conds:
        if c not in CONDITIONS:
            raise ValueError(f"unknown condition {c!r}; choose from {list(CONDITIONS)}")
    need = max(CONDITIONS[c][0] for c in conds)
    if not need <= int(gallery) <= MAX_GALLERY or int(gallery) < 1:
        raise ValueError(f"gallery size {gallery} must lie in {max(need, 1)}..{MAX_GALLERY} "
                         f"(conditions {','.join(conds)} need up to {need} reference(s))")
    return conds


def make_task(*, size: int = 256, gallery: int = 10, conditions=tuple(CONDITIONS), covers: str | None = None,
              test_size: int = 100, quick_size: int = 30) -> Task:
    """The coverrefs task (cheap: nothing rendered). ValueError on bad parameters (one line)."""
    from generators.coverrefs._scoring import HIGHER_IS_BETTER, METRICS

    conds = _validate(size, gallery, conditions)
    folder = open_cover_folder(covers) if covers is not None else None
    params: dict[str, Any] = {"version": FORMATION_VERSION, "size": [int(size), int(size)], "gallery": int(gallery),
                              "conditions": list(conds), "covers": None}
    if folder is not None:
        params["covers"], params["covers_count"] = folder.root, len(folder)
    return Task(
        name=NAME,
        make_sample=functools.partial(make_sample, size=int(size), gallery=int(gallery), conditions=conds,
                                      covers=folder),
        metrics=METRICS,
        input_kind="image+mask",
        target_key="clean",
        test_size=int(test_size),
        quick_size=int(quick_size),
        params=params,
        higher_is_better=HIGHER_IS_BETTER,
        protocol=ReferenceCondition(),
    )


TASK = make_task()
