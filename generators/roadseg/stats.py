"""Class statistics of roadseg's embedded backend against Cityscapes (the table in :mod:`generators.roadseg`).

    python -m generators.roadseg.stats --n 1000 --size 160x120 --seed 0 --workers 2

Prints, over frames 0..n-1 of ``--seed`` (CARLA tags): the mean share of
the pixels of the populated maps for the seven classes issue 24 checks,
beside the Cityscapes fine-train class frequencies (:data:`CITYSCAPES`) and
their ratio; the shares of frames without people and without vehicles;
visible objects per frame and their heights; and the layout diversity, the
mean pixel agreement of the static maps of 5,000 random pairs of frames, on
CARLA tags and on the MICC classes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys

import numpy as np

from generators.dataset import add_size_argument
from generators.shared.streets.classes import to_micc

__all__ = ["CITYSCAPES", "measure", "summarise", "main"]

# Share (%) of the 19 evaluation classes' pixels in the Cityscapes fine train split (Cordts et al., CVPR 2016,
# Fig. 1); CARLA tags counted for each.
CITYSCAPES = {"road": (36.9, (1, 24)), "sidewalk": (6.1, (2,)), "building": (22.8, (3,)), "vegetation": (15.9, (9,)),
              "sky": (4.0, (11,)), "car": (7.0, (14,)), "person": (1.2, (12,))}
OBJECTS = {12: "pedestrian", 13: "rider", 14: "car", 15: "truck", 16: "bus", 18: "motorcycle", 19: "bicycle"}


def measure(job: tuple) -> dict:
    """Counts, static maps and object heights of frames ``range(a, b)``."""
    import cv2

    from generators.roadseg import make_task
    from generators.task import sample_rng

    a, b, size, seed = job
    task = make_task(size=size, classes="carla")
    counts, statics, heights = [], [], []
    for i in range(a, b):
        s = task.make_sample(sample_rng(seed, i))
        pop = s.extras["populated"]
        counts.append(np.bincount(pop.ravel(), minlength=256)[:29])
        statics.append(s.target["labels"])
        for tag in OBJECTS:
            k, _, st, _ = cv2.connectedComponentsWithStats((pop == tag).astype(np.uint8), connectivity=8)
            heights += [(tag, int(st[j, cv2.CC_STAT_HEIGHT])) for j in range(1, k)]
    return {"counts": np.array(counts), "statics": np.array(statics), "heights": heights}


def summarise(counts: np.ndarray, statics: np.ndarray, heights: list, *, pairs: int = 5000) -> list[str]:
    """The report's lines (see the module docstring)."""
    n, h = len(counts), statics.shape[1]
    share = counts / counts.sum(1, keepdims=True) * 100
    lines = [f"{n} frames; class: roadseg % / Cityscapes % (ratio)"]
    for name, (ref, tags) in CITYSCAPES.items():
        v = float(share[:, list(tags)].sum(1).mean())
        lines.append(f"  {name:10s} {v:5.1f} / {ref:4.1f} ({v / ref:.2f})")
    lines.append(f"frames without people {np.mean(counts[:, [12, 13]].sum(1) == 0):.1%}, "
                 f"without vehicles {np.mean(counts[:, 14:20].sum(1) == 0):.1%}")
    hs = np.array(heights).reshape(-1, 2)
    for tag, name in OBJECTS.items():
        x = hs[hs[:, 0] == tag, 1] / h * 100
        if len(x):
            p = np.percentile(x, [10, 50, 90])
            lines.append(f"{name}: {len(x) / n:.1f} per frame, height % of frame p10/p50/p90 "
                         f"{p[0]:.1f}/{p[1]:.1f}/{p[2]:.1f}")
    rng = np.random.default_rng(1)
    idx = [rng.choice(n, 2, replace=False) for _ in range(pairs)]
    micc = to_micc(statics.reshape(-1, statics.shape[2])).reshape(statics.shape)
    for name, maps in (("CARLA tags", statics), ("MICC classes", micc)):
        lines.append(f"static-map agreement ({name}, {pairs} random pairs): "
                     f"{np.mean([np.mean(maps[a] == maps[b]) for a, b in idx]):.1%}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generators.roadseg.stats", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    add_size_argument(p, default="160x120", sides="64..3840 x 64..2160")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    if args.n < 2 or args.workers < 1:
        print(f"{p.prog}: error: --n must be >= 2 and --workers >= 1", file=sys.stderr)
        return 2
    chunks = [(a, min(a + 50, args.n), args.size[::-1], args.seed) for a in range(0, args.n, 50)]
    if args.workers == 1:
        parts = [measure(c) for c in chunks]
    else:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            parts = pool.map(measure, chunks)
    lines = summarise(np.concatenate([q["counts"] for q in parts]), np.concatenate([q["statics"] for q in parts]),
                      [x for q in parts for x in q["heights"]])
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
