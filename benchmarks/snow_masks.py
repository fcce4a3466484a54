"""Snow-mask scores of methods that estimate the translucency ``z``: ``python -m benchmarks.snow_masks``.

The harness scores one prediction per call (the clean image), so the
estimated ``z`` of a snow-removal method is scored here instead, on the same
fixed test split of the registered ``snow`` task (built or reused through the
harness's split cache): every registered method with an ``estimate(image) ->
{"clean", "z"}`` (DesnowNet's ``z``; the detection baselines' 0/1 mask) is
run on every sample, and per size class this prints

* ``IoU``: of ``z_hat > 0.1`` and ``z > 0.1`` (the snow pixels; a sample
  where both are empty counts 1);
* ``MAE``: mean ``|z_hat - z|`` over all pixels,

with 95% bootstrap intervals over samples (:func:`benchmarks._aggregate.bootstrap_ci`).
``--quick`` uses the task's quick split. Output: a Markdown table (the
DesnowNet model card's), and ``--csv PATH`` writes the per-sample values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._aggregate import bootstrap_ci
from benchmarks._cache import build_split, default_cache_dir

THRESHOLD = 0.1
CLASS_NAMES = {1: "small", 2: "medium", 3: "large", 4: "mixed"}


def mask_iou(z_true: np.ndarray, z_hat: np.ndarray, *, threshold: float = THRESHOLD) -> float:
    """IoU of the two masks ``> threshold`` (1 when both are empty)."""
    t, p = np.asarray(z_true) > threshold, np.asarray(z_hat) > threshold
    union = np.count_nonzero(t | p)
    return 1.0 if union == 0 else float(np.count_nonzero(t & p) / union)


def mask_mae(z_true: np.ndarray, z_hat: np.ndarray) -> float:
    """Mean absolute difference of the translucency maps."""
    return float(np.mean(np.abs(np.asarray(z_true, np.float64) - np.asarray(z_hat, np.float64))))


def score_masks(*, quick: bool = False, cache_dir: Path | None = None, methods=None) -> pd.DataFrame:
    """Per-sample rows (method, sample, condition, iou, mae) on the snow test split."""
    from benchmarks.registry import METHODS, TASKS
    from generators.dataset import SampleDataset

    task = TASKS["snow"]
    size = task.quick_size if quick else task.test_size
    split, _, _ = build_split(task, size=size, cache_dir=Path(cache_dir or default_cache_dir()))
    methods = methods or {n: m for n, m in METHODS.items() if "snow" in m.tasks and hasattr(m, "estimate")}
    data = SampleDataset(str(split))
    rows = []
    for i in range(len(data)):
        s = data[i]
        z = s.extras["z"]
        for name, m in methods.items():
            est = m.estimate(s.inputs["image"])
            rows.append({"method": name, "sample": i, "condition": int(s.params["condition"]),
                         "iou": mask_iou(z, est["z"]), "mae": mask_mae(z, est["z"])})
    return pd.DataFrame(rows)


def table(rows: pd.DataFrame) -> str:
    """Markdown: per method and size class, mean IoU and MAE with 95% intervals."""
    lines = ["| method | size class | n | IoU (z > 0.1) [95% CI] | MAE [95% CI] |", "|---|---|---|---|---|"]
    for (method, cond), g in rows.groupby(["method", "condition"]):
        cells = []
        for metric in ("iou", "mae"):
            lo, hi = bootstrap_ci(g[metric].to_numpy(), key=f"snow-masks/{method}/{cond}/{metric}")
            cells.append(f"{g[metric].mean():.3f} [{lo:.3f}, {hi:.3f}]")
        lines.append(f"| {method} | {CLASS_NAMES.get(cond, cond)} | {len(g)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.snow_masks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the task's quick split")
    p.add_argument("--cache", default=None, metavar="DIR", help="split cache (default: the harness's)")
    p.add_argument("--csv", default=None, metavar="PATH", help="write the per-sample rows here")
    args = p.parse_args(argv)
    rows = score_masks(quick=args.quick, cache_dir=args.cache)
    if args.csv:
        rows.to_csv(args.csv, index=False)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
