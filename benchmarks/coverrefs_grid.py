"""Picture grid of coverrefs queries with every method's fill (look before you ship).

    python -m benchmarks.coverrefs_grid --out generators/coverrefs/samples.jpg [--n 4] [--seed 1000003]
        [--methods telea,patchmatch,retrieval-stitch,oracle-stitch,refnet,refnet-perturbed]

One row per query of the registered task's test split (``sample_rng(seed, i)``):
the occluded query, the hole, the target, each method's prediction
composited into the hole (as the task scores it), then the gallery with the
true references framed in green. Above each row: the condition and the best
reference's visible share of the hole.
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

__all__ = ["render_grid", "main"]

_FRAME = (0.0, 0.85, 0.0)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray((tile * 255).astype(np.uint8))
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return out.astype(np.float32) / 255


def render_grid(task, methods: dict, *, n: int, seed: int) -> np.ndarray:
    """(rows * S, columns * S, 3) float32 grid (see the module docstring)."""
    from generators.coverrefs._scoring import METRICS, composite
    from generators.task import metric_value, sample_rng

    rows = []
    for i in range(n):
        s = task.make_sample(sample_rng(seed, i))
        p = s.params
        tiles = [_label(s.inputs["image"], f"{p['condition']} best {p['best_visible_fraction']:.2f}"),
                 _label(np.repeat(s.inputs["mask"][..., None], 3, -1).astype(np.float32), "hole"),
                 _label(s.target["clean"], "target")]
        for name, method in methods.items():
            pred = composite(method.restore(s.inputs), s.inputs)
            score = metric_value(METRICS["psnr_hole"], s.target["clean"], pred, s)
            tiles.append(_label(pred, f"{name} {score:.1f}dB"))
        for g, img in enumerate(s.inputs["gallery"]):
            t = img.copy()
            if s.extras["is_reference"][g]:
                t[:5], t[-5:], t[:, :5], t[:, -5:] = _FRAME, _FRAME, _FRAME, _FRAME
                t = _label(t, f"ref sees {s.extras['visible_fraction'][g]:.2f}")
            tiles.append(t)
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.registry import METHODS, TASKS

    p = argparse.ArgumentParser(prog="python -m benchmarks.coverrefs_grid", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seed", type=int, default=None, help="default: the test split's seed")
    p.add_argument("--methods", default="telea,patchmatch,retrieval-stitch,oracle-stitch,refnet,refnet-perturbed")
    p.add_argument("--scale", type=float, default=0.5, help="output scale (default 0.5)")
    args = p.parse_args(argv)
    task = TASKS["coverrefs"]
    names = [m for m in args.methods.split(",") if m]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not 1 <= args.n <= 50:
        print(f"error: unknown method(s) {unknown}; choose from {sorted(METHODS)}" if unknown
              else "error: --n must lie in 1..50", file=sys.stderr)
        return 2
    grid = render_grid(task, {m: METHODS[m] for m in names}, n=args.n,
                       seed=task.test_seed if args.seed is None else args.seed)
    if args.scale != 1:
        grid = cv2.resize(grid, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(np.rint(np.clip(grid, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
    from pathlib import Path

    tmp = Path(args.out).with_name(Path(args.out).name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
