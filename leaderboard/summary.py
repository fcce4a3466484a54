"""The README's results table and the per-task run summary, from a results directory.

``python -m leaderboard.summary RESULTS_DIR`` prints two Markdown tables made
only from that run's files (``aggregates.csv``, ``differences.csv``,
``rows.parquet``, ``run.json``), so the README's table is regenerated, never
typed:

* **results**: per task and condition, the best learned model and the best
  classical method by the task's primary metric (means over the split, with
  their rank labels), and the paired difference (learned minus classical)
  with its 95% paired-bootstrap CI;
* **budget**: per task, the split size, the wall time of its scoring, the
  slowest method's cost per sample (seconds of ``restore()`` summed over a
  sample's calls, one thread), the widest half-width over the task's declared
  primary comparisons on the primary metric, and the split size that
  half-width says 0.3 dB (or the metric's target) would need.

``make leaderboard`` writes both into ``leaderboard/full/summary.md``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from benchmarks._aggregate import sizing_target

# Conditions shown for tasks with many (bookcovers: view counts, as the Deep Residual Sets paper's table).
SHOWN_CONDITIONS = {"bookcovers": (4, 6, 9)}
BEST = "best learned − best classical"


def _fmt(x: float, metric: str) -> str:
    return f"{x:.2f}" if "psnr" in metric else f"{x:.3f}" if abs(x) < 10 else f"{x:.2f}"


def _signed(x: float, metric: str) -> str:
    return ("+" if x >= 0 else "−") + _fmt(abs(x), metric)


def _cond(c, labels: dict | None = None) -> str:
    """The condition as shown: its name when the task's protocol names its categories, else the number."""
    if pd.isna(c):
        return ""
    text = f"{int(c)}" if float(c).is_integer() else str(c)
    return str((labels or {}).get(text, text))


def results_table(results_dir: str | Path) -> str:
    """One row per (task, shown condition): learned vs classical on the primary metric."""
    d = Path(results_dir)
    run = json.loads((d / "run.json").read_text())
    agg = pd.read_csv(d / "aggregates.csv")
    diff = pd.read_csv(d / "differences.csv")
    lines = ["| task (split) | condition | metric | best learned | best classical | learned − classical [95% CI] |",
             "|---|---|---|---|---|---|"]
    for task, info in run["tasks"].items():
        metric = info["primary_metric"]
        best = diff[(diff.task == task) & (diff.comparison.str.startswith(BEST)) & (diff.metric == metric)]
        if best.empty:
            continue
        shown = SHOWN_CONDITIONS.get(task)
        for _, r in best.iterrows():
            if shown is not None and (pd.isna(r.condition) or int(r.condition) not in shown):
                continue
            a = agg[(agg.task == task) & (agg.metric == metric)]
            a = a[a.condition.isna()] if pd.isna(r.condition) else a[a.condition == r.condition]
            rank = {m: lab for m, lab in zip(a.method, a.rank_label)}
            lines.append(
                f"| {task} ({info['size']}) | {_cond(r.condition, info.get('condition_labels')) or '—'} | {metric} | "
                f"{r.method} {_fmt(r.method_mean, metric)} (rank {rank.get(r.method, '?')}) | "
                f"{r.reference} {_fmt(r.reference_mean, metric)} (rank {rank.get(r.reference, '?')}) | "
                f"{_signed(r.mean_diff, metric)} [{_fmt(r.ci_low, metric)}, {_fmt(r.ci_high, metric)}] |")
    return "\n".join(lines)


def cost_per_sample(results_dir: str | Path) -> pd.DataFrame:
    """(task, method, seconds per sample): ``restore()`` time summed over each sample's calls, mean over samples."""
    rows = pd.read_parquet(Path(results_dir) / "rows.parquet",
                           columns=["task", "method", "base_method", "sample", "condition", "draw", "runtime_s"])
    rows = rows[rows.method == rows.base_method]  # a gain-corrected variant reuses its base method's call
    calls = rows.drop_duplicates(["task", "method", "sample", "condition", "draw"])
    per_sample = calls.groupby(["task", "method", "sample"], dropna=False)["runtime_s"].sum()
    return per_sample.groupby(["task", "method"]).mean().rename("s_per_sample").reset_index()


def budget_table(results_dir: str | Path) -> str:
    """One row per task: split size, scoring wall time, slowest method, widest primary half-width."""
    d = Path(results_dir)
    run = json.loads((d / "run.json").read_text())
    diff = pd.read_csv(d / "differences.csv")
    cost = cost_per_sample(d)
    host = run["host"]
    traits = ""
    if "avx512" in host:  # recorded since 2026-12-07 (benchmarks._provenance.read_host)
        traits = (f" ({'with' if host['avx512'] else 'without'} AVX-512; bf16-declaring networks in "
                  f"{'bf16' if host.get('bf16_native') else 'float32'})")
    lines = [f"Run: `{run['command']}`, git {run['git_sha'][:7]}, {host['cpu']} x {host['cpu_count']}{traits}, "
             f"{run['wall_s'] / 60:.1f} min wall (`run.json`).", "",
             "| task | split | build split (s) | scoring (worker s / workers) | slowest method (s per sample) | widest primary "
             "half-width (comparison, condition) | size needed for the target |",
             "|---|---|---|---|---|---|---|"]
    for task, info in run["tasks"].items():
        metric = info["primary_metric"]
        if sizing_target(metric, metric) is None and "psnr" in info["metrics"]:
            metric = "psnr"  # fingerprints rank by MSE; the half-width target is in dB
        c = cost[cost.task == task].sort_values("s_per_sample", ascending=False)
        slow = f"{c.iloc[0].method} {c.iloc[0].s_per_sample:.2f}" if len(c) else "—"
        p = diff[(diff.task == task) & (diff.metric == metric)]
        if p.empty:
            width, needed = "— (no comparison)", "—"
        else:
            w = p.loc[p.half_width.idxmax()]
            cond = _cond(w.condition, info.get("condition_labels"))
            cond = f", {cond}" if cond else ""
            width = f"{_fmt(w.half_width, metric)} {metric} ({w.method} vs {w.reference}{cond})"
            n = p.n_needed.dropna()
            needed = f"{int(n.max())} (target {p.target_half_width.dropna().iloc[0]:g})" if len(n) else "— (no target)"
        lines.append(f"| {task} | {info['size']} | {info['build_split_s']:.0f} | {info['score_s']:.0f} | {slow} | "
                     f"{width} | {needed} |")
    return "\n".join(lines)


def summary(results_dir: str | Path) -> str:
    return "## Results\n\n" + results_table(results_dir) + "\n\n## Budget and precision\n\n" + budget_table(results_dir) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m leaderboard.summary RESULTS_DIR", file=sys.stderr)
        return 2
    d = Path(argv[0])
    missing = [f for f in ("run.json", "aggregates.csv", "differences.csv", "rows.parquet") if not (d / f).is_file()]
    if missing:
        print(f"error: {d} is not a results directory (missing {', '.join(missing)})", file=sys.stderr)
        return 2
    print(summary(d), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
