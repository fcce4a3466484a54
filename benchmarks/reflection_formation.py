"""Formation statistics of the reflections generator: ``python -m benchmarks.reflection_formation [--n 200]``.

Makes ``--n`` sequences of the task with the given flags (default: the
generator's defaults, 5 frames at 256x256, seed 0) and prints the 10th, 50th
and 90th percentiles over sequences of:

* ``weight_centre``: the reflected layer's weight at the centre pixel of the
  reference frame (``extras["alpha"]``: Fresnel reflectance times the
  radiance ratio, ghost included, for the fresnel preset; the clipped
  ``alpha`` for strong);
* ``share``: the share of the reference frame's light (linear, mean over
  pixels and channels) carried by the reflection;
* ``ghost_px``: the ghost's offset from the primary reflection, px, mean over
  a 5 x 5 grid of the reference frame (strong: the constant shift of the
  sequences that have a ghost), and ``ghost_spread_px``: its largest minus
  smallest value over that grid and every frame;
* ``relative_motion``: the two layers' relative motion, px per frame
  (:func:`generators.reflections.relative_motion_px`), and ``t_motion``,
  the transmission's own motion measured the same way against the identity;
* ``motion_scale``: the factor the motion floor applied to the camera path.

The numbers are written in the generator's module docstring.
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np

from generators.dataset import add_size_argument
from generators.shared.colour import srgb_to_linear
from generators.task import sample_rng

__all__ = ["formation_row", "main"]


def _grid_points(h: int, w: int) -> np.ndarray:
    ys, xs = np.meshgrid(np.linspace(0, h - 1, 5), np.linspace(0, w - 1, 5), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])


def _offsets(ha: np.ndarray, hb: np.ndarray, pts: np.ndarray) -> np.ndarray:
    a, b = np.asarray(ha) @ pts, np.asarray(hb) @ pts
    return np.sqrt(((a[:2] / a[2] - b[:2] / b[2]) ** 2).sum(axis=0))


def formation_row(sample) -> dict:
    """One sequence's statistics (see the module docstring)."""
    from generators.reflections import relative_motion_px

    p = sample.params
    r = int(p["reference"])
    h, w = p["size"]
    pts = _grid_points(h, w)
    homs_t, homs_r = np.asarray(p["homographies_t"]), np.asarray(p["homographies_r"])
    eye = np.repeat(np.eye(3)[None], len(homs_t), axis=0)
    refl = srgb_to_linear(sample.extras["reflection"][r])
    frame = srgb_to_linear(sample.inputs["frames"][r])
    row = {"weight_centre": float(sample.extras["alpha"][r, h // 2, w // 2, 0]),
           "share": float(refl.mean() / max(float(frame.mean()), 1e-9)),
           "relative_motion": relative_motion_px(homs_t, homs_r, r, (h, w)),
           "t_motion": relative_motion_px(homs_t, eye, r, (h, w)),
           "motion_scale": float(p.get("motion_scale", 1.0)),
           "ghost_px": np.nan, "ghost_spread_px": np.nan}
    if "homographies_ghost" in p:
        homs_g = np.asarray(p["homographies_ghost"])
        per_frame = [_offsets(homs_g[k], homs_r[k], pts) for k in range(len(homs_g))]
        row["ghost_px"] = float(per_frame[r].mean())
        row["ghost_spread_px"] = float(np.ptp(np.concatenate(per_frame)))
    elif p.get("ghost"):
        row["ghost_px"] = float(np.hypot(*p["ghost"]["shift"]))
        row["ghost_spread_px"] = 0.0
    return row


def main(argv: Sequence[str] | None = None) -> int:
    from generators.reflections import make_task

    ap = argparse.ArgumentParser(prog="python -m benchmarks.reflection_formation", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="sequences (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    add_size_argument(ap, default="256", sides="64..1024", square=True)
    ap.add_argument("--frames", type=int, default=5, help="frames per sequence (default 5)")
    ap.add_argument("--glass", default=None, help="glass preset (default: the generator's)")
    ap.add_argument("--content", default=None, help="content mix (default: the generator's)")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be >= 1")
    kw = {k: v for k, v in (("glass", args.glass), ("content", args.content)) if v is not None}
    try:
        task = make_task(frames=args.frames, size=args.size, **kw)
    except ValueError as exc:
        ap.error(str(exc))
    rows = [formation_row(task.make_sample(sample_rng(args.seed, i))) for i in range(args.n)]
    print(f"{args.n} sequences, seed {args.seed}, {args.frames} frames at {args.size} px, task params {task.params}")
    print(f"{'statistic':18s} {'p10':>8s} {'p50':>8s} {'p90':>8s}  notes")
    for key in rows[0]:
        v = np.array([row[key] for row in rows], np.float64)
        ok = v[np.isfinite(v)]
        if not len(ok):
            print(f"{key:18s} {'--':>8s} {'--':>8s} {'--':>8s}  none")
            continue
        q = np.percentile(ok, [10, 50, 90])
        note = f"{len(ok)} of {len(v)} sequences" if len(ok) < len(v) else ""
        if key == "share":
            note = f"> 0.5 in {(ok > 0.5).sum()} of {len(v)}"
        if key == "relative_motion":
            note = f"< 0.5 px in {(ok < 0.5).sum()}, < 1 px in {(ok < 1).sum()} of {len(v)}"
        print(f"{key:18s} {q[0]:8.3f} {q[1]:8.3f} {q[2]:8.3f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
