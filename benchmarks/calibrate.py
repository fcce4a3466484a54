"""Write ``benchmarks/thresholds.toml`` from a real quick benchmark run.

Usage::

    python -m benchmarks.calibrate [--results DIR] [--out PATH] [--workers N] [--task NAME ...]

Without ``--results`` it runs ``python -m benchmarks.run --task all --quick``
(registered tasks and methods, results under ``results/calibrate-<time>``)
and derives one floor per scored (task, method, metric, n views) aggregate
with the margin rule of :mod:`benchmarks._thresholds`; with ``--results`` it
uses a results directory such a run already wrote (it must be a quick run
over every registered task). The file records when, where and from which
command and git sha the floors were measured.

With ``--task NAME`` (repeatable) only those tasks' floors are re-derived,
from a quick run that covers them (``--results DIR``, or one run here with
``--task NAME --quick``); every other task keeps its floors from the current
file, and the file's ``recalibrated`` list records, per task, when, from which
command and at which git sha its floors were measured. A change confined to
one task (a metric, a method) is recalibrated without re-measuring the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from generators._runtime import UserError

from . import _thresholds
from .run import main as run_main, tasks_on_another_seed


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate",
                                     description="Measure the quick benchmark and write regression floors.")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="use this quick-run results directory instead of running the benchmark")
    parser.add_argument("--out", default=str(_thresholds.THRESHOLDS), metavar="PATH",
                        help="thresholds file to write (default: benchmarks/thresholds.toml)")
    parser.add_argument("--workers", type=int, default=None, metavar="N", help="passed to benchmarks.run")
    parser.add_argument("--task", action="append", default=None, metavar="NAME",
                        help="recalibrate only this task (repeatable); the other floors stay as they are in --out")
    args = parser.parse_args(argv)
    try:
        results = Path(args.results) if args.results else _run_quick(args.workers, args.task)
        floors, meta = _calibrate(results, args.task)
        if args.task:
            floors, meta = _merge_tasks(Path(args.out), floors, meta, args.task)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    Path(args.out).write_text(_thresholds.format_thresholds(floors, meta))
    print(f"{len(floors)} floors from {results} -> {args.out}")
    return 0


def _run_quick(workers: int | None, tasks: list[str] | None = None) -> Path:
    from ._provenance import now_iso

    out = Path("results") / ("calibrate-" + now_iso().replace(":", "").replace("+0000", "Z"))
    argv = ["--task", ",".join(tasks or ["all"]), "--quick", "--out", str(out)]  # run's --task: one comma list
    if workers is not None:
        argv += ["--workers", str(workers)]
    rc = run_main(argv)
    if rc != 0:
        raise UserError(f"the quick benchmark failed (exit {rc})")
    return out


def _calibrate(results: Path, tasks: list[str] | None = None) -> tuple[list, dict]:
    run_json = results / "run.json"
    if not run_json.is_file():
        raise UserError(f"{results}: no run.json; not a benchmarks.run results directory")
    run = json.loads(run_json.read_text())
    if not run.get("quick"):
        raise UserError(f"{results} is not a --quick run; floors are for the quick benchmark")
    from .registry import TASKS

    wanted = set(TASKS) if tasks is None else set(tasks)
    unknown = sorted(wanted - set(TASKS))
    if unknown:
        raise UserError(f"unknown task(s) {unknown}; choose from {sorted(TASKS)}")
    missing = sorted(wanted - set(run.get("tasks", {})))
    if missing:
        raise UserError(f"{results} lacks task(s) {missing}; run them with --quick" if tasks else
                         f"{results} lacks registered task(s) {missing}; run --task all")
    other_seed = [t for t in tasks_on_another_seed(run, TASKS) if t in wanted]
    if other_seed:
        raise UserError(f"{results} scored task(s) {other_seed} on a split of another seed (--seed); floors are "
                         f"for the test split")
    agg = pd.read_parquet(results / "aggregates.parquet")
    host = run.get("host", {})
    meta = {
        "measured_at": run.get("finished", "?"),
        "command": run.get("command", "?"),
        "git_sha": run.get("git_sha", "?"),
        "git_dirty": bool(run.get("git_dirty")),
        "host": f"{host.get('cpu', '?')}, {host.get('cpu_count', '?')} CPUs, {run.get('workers', '?')} workers",
        "results": str(results),
        "margin_rule": f"max(ci half-width, {_thresholds.REL_MARGIN}*|measured|, {_thresholds.ABS_MARGIN})",
    }
    if tasks is not None:
        agg = agg[agg["task"].isin(wanted)]
    return _thresholds.derive_floors(agg), meta


def _merge_tasks(path: Path, floors: list, meta: dict, tasks: list[str]) -> tuple[list, dict]:
    """``floors`` (of ``tasks``) in place of those tasks' floors in the thresholds file at ``path``."""
    if not path.is_file():
        raise UserError(f"{path}: no thresholds file to recalibrate {sorted(tasks)} in; run without --task first")
    old_meta, old_floors = _thresholds.load_floors(path)
    tasks = set(tasks)
    kept = [f for f in old_floors if f.task not in tasks]
    note = (f"{', '.join(sorted(tasks))}: measured {meta['measured_at']} on {meta['host']}, command: "
            f"{meta['command']}, git sha: {meta['git_sha']}" + (" (with uncommitted changes)" if meta["git_dirty"] else ""))
    # An earlier note stays while any task it names keeps floors from that run.
    earlier = [r for r in old_meta.get("recalibrated", []) if not set(r.split(":", 1)[0].split(", ")) <= tasks]
    merged = sorted(kept + floors, key=lambda f: (f.task, f.method, f.metric, -1 if f.condition is None else f.condition))
    return merged, {**old_meta, "recalibrated": [*earlier, note]}


if __name__ == "__main__":
    raise SystemExit(main())
