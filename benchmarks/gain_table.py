"""How much of each method's raw bookcovers error is a global gain: ``python -m benchmarks.gain_table RESULTS_DIR``.

Reads ``aggregates.csv`` of a results directory and prints a Markdown table
of raw PSNR, gain-invariant PSNR and the gain share
``1 - MSE_gain-invariant / MSE_raw = 1 - 10^((PSNR_raw - PSNR_gi) / 10)``
per method for n = 3, 4, 6, 9 views (the Deep Set model card's table).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

NS = (3, 4, 6, 9)


def gain_table(results_dir: str | Path, *, task: str = "bookcovers", ns=NS) -> str:
    """The Markdown table for ``task`` in ``results_dir`` (gain-corrected variants left out)."""
    agg = pd.read_csv(Path(results_dir) / "aggregates.csv")
    sel = (agg.task == task) & agg.metric.isin(["psnr", "psnr_gi"]) & agg.condition.isin(ns)
    t = agg[sel & ~agg.method.str.contains("gain-corrected")]
    t = t.pivot_table(index=["method", "condition"], columns="metric", values="mean").reset_index()
    t["share"] = 1 - 10 ** ((t["psnr"] - t["psnr_gi"]) / 10)
    w = t.pivot(index="method", columns="condition", values=["psnr", "psnr_gi", "share"])
    ns = [n for n in ns if ("psnr", n) in w.columns]
    lines = ["| method | " + " | ".join(f"n = {n} raw / gain-inv. / share" for n in ns) + " |",
             "|---|" + "---|" * len(ns)]
    for m in w.sort_values(("psnr", ns[-1]), ascending=False).index:
        cells = [f"{w.loc[m, ('psnr', n)]:.2f} / {w.loc[m, ('psnr_gi', n)]:.2f} / {100 * w.loc[m, ('share', n)]:.0f} %"
                 for n in ns]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not (Path(argv[0]) / "aggregates.csv").is_file():
        print("usage: python -m benchmarks.gain_table RESULTS_DIR (a benchmarks.run results directory)", file=sys.stderr)
        return 2
    print(gain_table(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
