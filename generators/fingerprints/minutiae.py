"""Minutiae ground truth: the ridge endings and bifurcations a print shows.

Minutiae are read off the binarised clean print (:func:`binarise_print`)
the classical way (Maltoni et al., Handbook of Fingerprint Recognition, 2nd
ed., secs. 3.9-3.10): thin the ridges to a one-pixel skeleton, mark skeleton
pixels whose crossing number is 1 (ending) or 3 (bifurcation), then remove
the false minutiae that thinning a binary map creates. Without the last
step about 10 % of the minutiae of a grown print lie within 6 px of another
one (pairs of endings on either side of a faint break, skeleton spurs,
clusters of bifurcations at one junction), where the image shows a
continuous ridge; an independent extractor finds only a third of those.

Post-processing (:func:`extract_minutiae`), with distances in pixels at
500 dpi (ridge period 8-11 px):

1. *holes*: valley components of less than :data:`HOLE_AREA` px enclosed by
   ridge (a pore-sized lake) are filled before thinning;
2. *dots*: ridge components of less than :data:`DOT_AREA` px are dropped;
3. *junction clusters*: crossing-number-3 pixels within 2 px (chessboard)
   of each other are one bifurcation, placed at the member pixel nearest
   their centroid;
4. *spurs*: an ending whose skeleton branch reaches a bifurcation within
   :data:`SPUR_LENGTH` px of skeleton path is a spur: both are dropped (the
   ridge goes on without a fork);
5. *short islands*: a ridge whose two endings are joined by less than
   :data:`SPUR_LENGTH` px of skeleton is a dot: both endings are dropped;
6. *breaks*: two endings closer than :data:`BREAK_DISTANCE` px that face
   each other (each one's direction within 60 degrees of the line to the
   other, and less than 4 px apart across the local ridge direction) are
   the two sides of a faint gap in one ridge: both are dropped;
7. *bridges and holes*: two bifurcations joined by less than
   :data:`BRIDGE_LENGTH` px of skeleton (a hole not filled in step 1, or a
   one-pixel bridge) are dropped;
8. *twins*: of two endings closer than :data:`TWIN_DISTANCE` px (the
   skeleton of a blunt ridge end split in two tips) only one is kept.

Genuine close minutiae remain: a short ridge longer than
:data:`SPUR_LENGTH` px, two endings of neighbouring ridges that stop near
each other, a bifurcation next to an ending of the neighbouring ridge. On
the grown prints they are about 1 % of all minutiae within 6 px (see
``tests/test_fingerprints.py::test_minutiae_are_not_crowded``).

Every minutia kept is a crossing-number-1 or -3 pixel of the skeleton of the
cleaned ridge map, so it sits on an ending or a fork of the rendered ridges.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.morphology import skeletonize

__all__ = ["ENDING", "BIFURCATION", "HOLE_AREA", "DOT_AREA", "SPUR_LENGTH", "BREAK_DISTANCE", "BRIDGE_LENGTH",
           "TWIN_DISTANCE", "BINARISE_SIGMA",
           "binarise_print", "crossing_number", "extract_minutiae"]  # fmt: skip

ENDING, BIFURCATION = 1, 3  # minutia types: the crossing number
HOLE_AREA = 16  # px: enclosed valley areas below this are filled (pore-sized lakes)
DOT_AREA = 12  # px: ridge islands below this are dropped
SPUR_LENGTH = 10  # px of skeleton path, about one ridge period
BREAK_DISTANCE = 10.0  # px between two facing endings
BRIDGE_LENGTH = 6  # px of skeleton path between two bifurcations
TWIN_DISTANCE = 3.0  # px between two endings of one blunt ridge end
BINARISE_SIGMA = 1.0  # px, Gaussian smoothing of the print before thresholding
_FACING_COS = 0.5  # cos 60 degrees
_BREAK_ACROSS = 4.0  # px across the ridge direction (half a period)
# Eight neighbours in circular order (dy, dx), for the crossing number.
_RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def binarise_print(image: np.ndarray, ridges: np.ndarray, mask: np.ndarray, *, sigma: float = BINARISE_SIGMA) -> np.ndarray:
    """The ridges a rendered print shows: smoothed grey level below the ridge/valley midpoint.

    The ridge map of the generator (ridge field > 0) and the rendered print
    disagree on about 4 % of the fingerprint area: the soft ink profile,
    pressure and texture draw a faint gap in a ridge as a continuous dark
    line and a near-touch of two ridges as a thin link. Minutiae are read
    off what the print shows, so they are extracted from this binarisation.

    Parameters
    ----------
    image : ndarray, (H, W) float32 in [0, 1]
        The clean print (dark ridges on white).
    ridges, mask : ndarray, (H, W) bool
        The generator's ridge map (to measure the ridge and valley grey
        levels) and the fingerprint area.
    sigma : float
        Gaussian smoothing in px before thresholding (removes ink grain).

    Returns
    -------
    ndarray, (H, W) bool
        ``blur(image, sigma) < (median(image[ridges]) + median(image[valleys])) / 2``
        inside ``mask``.
    """
    valleys = mask & ~ridges
    if not ridges.any() or not valleys.any():
        return ridges & mask
    level = 0.5 * (float(np.median(image[ridges])) + float(np.median(image[valleys])))
    return (cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma) < level) & mask


def _clean_ridges(ridges: np.ndarray) -> np.ndarray:
    """Fill enclosed valley specks (< HOLE_AREA px) and drop ridge dots (< DOT_AREA px)."""
    r = ridges.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(1 - r, connectivity=4)
    small = stats[:, cv2.CC_STAT_AREA] < HOLE_AREA
    # A component touching the image border is not enclosed.
    x, y, w, h = (stats[:, k] for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    small &= (x > 0) & (y > 0) & (x + w < r.shape[1]) & (y + h < r.shape[0])
    small[0] = False  # label 0 is the ridge pixels themselves
    out = r.astype(bool) | small[labels] & (r == 0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(out.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= DOT_AREA
    keep[0] = False
    return keep[labels]


# Crossing number of each 8-bit neighbourhood code.
_CN = np.array([sum((c >> k & 1) != (c >> ((k + 1) % 8) & 1) for k in range(8)) // 2 for c in range(256)], np.int16)
# Offsets of the set neighbours for each 8-bit neighbourhood code (bit k: _RING[k]).
_OFFSETS = tuple(tuple(_RING[k] for k in range(8) if code >> k & 1) for code in range(256))


def _neighbour_codes(skel: np.ndarray) -> np.ndarray:
    """(H+2, W+2) int array: bit k set when neighbour ``_RING[k]`` is on the (padded) skeleton."""
    p = np.pad(skel.astype(np.int32), 2)
    h, w = skel.shape[0] + 2, skel.shape[1] + 2
    code = sum(p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] << k for k, (dy, dx) in enumerate(_RING))
    return np.where(p[1:-1, 1:-1] > 0, code, 0)


def crossing_number(skeleton: np.ndarray) -> np.ndarray:
    """Crossing number ``CN = 1/2 sum_k |P_k - P_k+1|`` of every pixel (Rutovitz 1966).

    Parameters
    ----------
    skeleton : ndarray, (H, W) bool or uint8
        One-pixel-wide ridge skeleton.

    Returns
    -------
    ndarray, (H, W) int16
        CN over the eight neighbours in circular order, 0 off the skeleton.
    """
    return _CN[_neighbour_codes(skeleton)[1:-1, 1:-1]]


class _Skeleton:
    """Neighbour look-ups on a padded skeleton (coordinates shifted by +1)."""

    def __init__(self, codes: np.ndarray, junction_label: dict[tuple[int, int], int]):
        self.code = codes.tolist()
        self.junction = junction_label  # padded (y, x) of CN >= 3 pixels -> fork id

    def neighbours(self, y: int, x: int) -> list[tuple[int, int]]:
        return [(y + dy, x + dx) for dy, dx in _OFFSETS[self.code[y][x]]]

    def walk(self, y: int, x: int, limit: int, *, seen: set, fork: int = -1) -> tuple[str, int, tuple[int, int]]:
        """Follow the skeleton from (y, x) for at most ``limit`` steps, not revisiting ``seen``.

        Returns ``(what, steps, (y, x))``: "junction" (reached a CN >= 3
        pixel of another fork than ``fork``), "ending" (ran out of skeleton)
        or "open" (still running after ``limit`` steps).
        """
        cy, cx = y, x
        for step in range(1, limit + 1):
            cand = [p for p in self.neighbours(cy, cx) if p not in seen]
            if not cand:
                return "ending", step - 1, (cy, cx)
            hit = [p for p in cand if self.junction.get(p, fork) != fork]
            if hit:
                return "junction", step, hit[0]
            seen.update(cand)
            straight = [p for p in cand if p[0] == cy or p[1] == cx]
            cy, cx = (straight or cand)[0]
        return "open", limit, (cy, cx)


def _directions(skel: np.ndarray, xs: np.ndarray, ys: np.ndarray, types: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """Minutia angles in [0, 2 pi): along the ridge orientation, from the ridge body
    to the ending, or from the fork towards its two branches (9 x 9 skeleton centroid)."""
    r = 4
    off = np.arange(-r, r + 1)
    wins = np.pad(skel, r)[(ys + r)[:, None, None] + off[None, :, None], (xs + r)[:, None, None] + off[None, None, :]]
    n = np.maximum(wins.sum(axis=(1, 2)), 1).astype(np.float64)
    mx = xs + (wins * off[None, None, :]).sum(axis=(1, 2)) / n
    my = ys + (wins * off[None, :, None]).sum(axis=(1, 2)) / n
    sign = np.where(types == ENDING, 1.0, -1.0)
    vx, vy = sign * (xs - mx), sign * (ys - my)
    th = orientation[ys, xs].astype(np.float64)
    flip = (np.cos(th) * vx + np.sin(th) * vy) < 0
    return np.mod(th + np.pi * flip, 2 * np.pi)


def extract_minutiae(ridges: np.ndarray, mask: np.ndarray, orientation: np.ndarray, *, border: float = 10.0) -> np.ndarray:
    """Ridge endings and bifurcations of a binary ridge map, false minutiae removed.

    Thinning (``skimage.morphology.skeletonize``), crossing number, then the
    post-processing of the module docstring (holes, dots, junction clusters,
    spurs, short islands, breaks, bridges). Points closer than ``border`` px
    to the edge of ``mask`` are dropped afterwards (the silhouette cuts
    ridges there).

    Parameters
    ----------
    ridges, mask : ndarray, (H, W) bool
        Ridge pixels and the fingerprint area.
    orientation : ndarray, (H, W) float in [0, pi)
        Ridge orientation in radians (direction ``(cos, sin)`` in x right, y down).
    border : float
        Margin in pixels.

    Returns
    -------
    ndarray, (N, 4) float32
        Rows ``x, y, type, angle`` in pixels and radians: type
        :data:`ENDING` (1) or :data:`BIFURCATION` (3); angle in [0, 2 pi)
        along the ridge orientation, pointing from the ridge body to the
        ending, or from the fork towards its two branches.
    """
    skel = skeletonize(_clean_ridges(ridges & mask))
    codes = _neighbour_codes(skel)
    cn = _CN[codes[1:-1, 1:-1]]
    # Junction clusters (step 3): CN>=3 pixels within 2 px are one fork.
    jy, jx = np.nonzero(cn >= 3)
    _, labels = cv2.connectedComponents(cv2.dilate((cn >= 3).astype(np.uint8), np.ones((3, 3), np.uint8)), connectivity=8)
    jlab = labels[jy, jx]
    forks: dict[int, tuple[int, int]] = {}
    for lab in np.unique(jlab).tolist():
        sel = jlab == lab
        py, px = jy[sel], jx[sel]
        k = int(np.argmin((py - py.mean()) ** 2 + (px - px.mean()) ** 2))
        forks[lab] = (int(py[k]), int(px[k]))
    sk = _Skeleton(codes, {(y + 1, x + 1): lab for y, x, lab in zip(jy.tolist(), jx.tolist(), jlab.tolist())})
    ey, ex = np.nonzero(cn == 1)
    dropped_forks: set[int] = set()
    dropped_ends: set[tuple[int, int]] = set()
    for y, x in zip(ey.tolist(), ex.tolist()):
        what, _, (ty, tx) = sk.walk(y + 1, x + 1, SPUR_LENGTH, seen={(y + 1, x + 1)})
        if what == "junction":  # step 4: spur
            dropped_ends.add((y, x))
            dropped_forks.add(sk.junction[ty, tx])
        elif what == "ending":  # step 5: short island, both ends
            dropped_ends.update({(y, x), (ty - 1, tx - 1)})
    # Step 7: bifurcations joined by a short path: walk each branch leaving a fork.
    for lab, (y, x) in forks.items():
        start = sk.neighbours(y + 1, x + 1)
        for p in start:
            if sk.junction.get(p) == lab:
                continue
            what, _, q = sk.walk(*p, BRIDGE_LENGTH - 1, seen={(y + 1, x + 1), *start}, fork=lab)
            if what == "junction":
                dropped_forks.update({lab, sk.junction[q]})
    ends = [(y, x) for y, x in zip(ey.tolist(), ex.tolist()) if (y, x) not in dropped_ends]
    kept_forks = [p for lab, p in sorted(forks.items()) if lab not in dropped_forks]
    if not ends and not kept_forks:
        return np.zeros((0, 4), np.float32)
    ys = np.array([p[0] for p in ends + kept_forks], np.int64)
    xs = np.array([p[1] for p in ends + kept_forks], np.int64)
    types = np.array([ENDING] * len(ends) + [BIFURCATION] * len(kept_forks), np.float32)
    angle = _directions(skel.astype(np.uint8), xs, ys, types, orientation)
    # Step 6: facing endings across a faint break.
    keep = np.ones(xs.size, bool)
    e = np.nonzero(types == ENDING)[0]
    if e.size > 1:
        dx = xs[e][None, :] - xs[e][:, None]
        dy = ys[e][None, :] - ys[e][:, None]
        dist = np.hypot(dx, dy)
        ux, uy = np.cos(angle[e])[:, None], np.sin(angle[e])[:, None]
        along = (ux * dx + uy * dy) / np.maximum(dist, 1e-9)  # i's direction vs the line i -> j
        across = np.abs(-uy * dx + ux * dy)
        facing = (along > _FACING_COS) & (along.T > _FACING_COS) & (across < _BREAK_ACROSS) & (dist < BREAK_DISTANCE)
        np.fill_diagonal(facing, False)
        keep[e[facing.any(axis=1)]] = False
        # Step 8: twin endings (two skeleton tips of one blunt ridge end): keep the first.
        twin = np.triu(dist < TWIN_DISTANCE, 1) & keep[e][:, None] & keep[e][None, :]
        keep[e[twin.any(axis=0)]] = False
    inside = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1] > border
    keep &= inside[ys, xs]
    return np.stack([xs, ys, types, angle], axis=1)[keep].astype(np.float32)
