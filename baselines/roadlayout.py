"""A perspective-aware label-map fill for driving scenes: fill along vanishing lines.

In a road scene seen from a dash cam, the boundaries of the static layout
(road edges, kerbs, lane lines, the foot and top of facades, fences) are
lines parallel to the road, so in the image they run through the vanishing
point of the road. A dynamic object hides a piece of such a layout; walking
from a hidden pixel along the line through the vanishing point stays on the
same layout stripe, so the first visible label on that line is a good guess.

:func:`estimate_vanishing_point`: the horizon is the topmost row where road
is visible (the road is the ground plane running away from the camera) and
the vanishing point's column is the mean column of the road in its top few
visible rows; without road pixels the image centre is used.

:func:`fill_vanishing_lines`: every hidden pixel walks away from the
vanishing point (towards the camera, where the layout is nearer and less
occluded) in steps of one pixel along its vanishing line until it meets a
visible pixel inside the image; pixels whose walk leaves the image walk
towards the vanishing point instead; the few left (rays that meet neither)
take the nearest visible label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from baselines.inpaint import _check_labels, inpaint_labels

__all__ = ["estimate_vanishing_point", "fill_vanishing_lines", "VanishingLineFill"]


def estimate_vanishing_point(labels: np.ndarray, known: np.ndarray, road_ids=(1,)) -> tuple[float, float]:
    """``(x, y)`` of the road's vanishing point, in pixels."""
    h, w = labels.shape
    road = np.isin(labels, road_ids) & known
    rows = np.nonzero(road.any(axis=1))[0]
    if rows.size == 0:
        return (w - 1) / 2, (h - 1) / 2
    top = rows[0]
    band = road[top : top + max(3, h // 50)]
    ys, xs = np.nonzero(band)
    return float(xs.mean()), float(top)


def fill_vanishing_lines(labels: np.ndarray, mask: np.ndarray, *, road_ids=(1,), max_steps: int | None = None
                         ) -> np.ndarray:
    """Fill ``labels`` where ``mask`` along lines through the vanishing point (see the module docstring)."""
    _check_labels(labels, mask)
    out = labels.copy()
    if not mask.any():
        return out
    h, w = labels.shape
    vx, vy = estimate_vanishing_point(labels, ~mask, road_ids)
    ys, xs = np.nonzero(mask)
    dx, dy = xs - vx, ys - vy
    norm = np.hypot(dx, dy)
    norm[norm == 0] = 1.0
    ux, uy = dx / norm, dy / norm
    todo = np.ones(len(ys), bool)
    steps = max_steps or int(np.hypot(h, w))
    for sign in (1.0, -1.0):  # away from the vanishing point first, then towards it
        live = todo.copy()
        for t in range(1, steps):
            idx = np.nonzero(live)[0]
            if idx.size == 0:
                break
            px = np.rint(xs[idx] + sign * t * ux[idx]).astype(np.int64)
            py = np.rint(ys[idx] + sign * t * uy[idx]).astype(np.int64)
            inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            live[idx[~inside]] = False
            idx, px, py = idx[inside], px[inside], py[inside]
            hit = ~mask[py, px]
            out[ys[idx[hit]], xs[idx[hit]]] = labels[py[hit], px[hit]]
            todo[idx[hit]] = False
            live[idx[hit]] = False
    if todo.any():
        rest = np.zeros_like(mask)
        rest[ys[todo], xs[todo]] = True
        filled = inpaint_labels(np.where(rest, 0, out).astype(labels.dtype), rest, method="nearest")
        out[rest] = filled[rest]
    return out


@dataclass(frozen=True)
class VanishingLineFill:
    """Perspective-aware fill of label maps along vanishing lines (road scenes)."""

    name: str = "vanishing-line-fill"
    tasks: tuple[str, ...] = ("roadseg",)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        # Road is id 1 in both class sets; 24 (road line) exists only in CARLA's and never collides.
        return fill_vanishing_lines(inputs["labels"], inputs["mask"], road_ids=(1, 24))
