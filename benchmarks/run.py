"""Score every method on every task's fixed test split; write results + report.

Usage::

    python -m benchmarks.run --task all|NAME[,NAME] [--methods NAME,...|module:object]
                             [--quick] [--seed S] [--out DIR] [--workers N] [--cache DIR]

For each task the fixed test split (``Task.test_size`` samples made from
``sample_rng(Task.test_seed, i)``; ``--quick``: the first ``Task.quick_size``
of them; ``--seed S``: a second split of the same size drawn from seed ``S``
instead, for a check on data no model was selected on) is generated once and
cached by dataset hash (see
:mod:`benchmarks._cache`). Every method that supports the task
(:func:`generators.task.supports`) restores every sample and the task's
metrics score the prediction against ``Sample.target[Task.target_key]``.

* The calls per sample come from the task's protocol (``Task.protocol``):
  one by default; bookcovers follows Deep Residual Sets, section 5.1: for
  ``n = 1 .. N-1`` views, 10 random subsets of ``n`` views per sequence, each
  scored, ``n`` in the ``condition`` column. ``--quick`` scores the cheaper
  protocol a task declares for it (:func:`generators.task.quick_protocol`):
  bookcovers' first draw of every ``n``, the same subset as the full
  protocol's draw 0 (``ViewSubsets.quick_draws``); ``run.json`` records the
  protocol scored per task (``tasks.<name>.protocol``, the full one in
  ``full_protocol``). A method that cannot take some
  calls declares it (``min_views = k``, see :class:`generators.task.Method`
  and :func:`generators.task.not_applicable`): those calls are *not
  applicable*, not failures; they are counted per (task, method, n) in
  ``run.json`` (``not_applicable``), in the aggregates' ``n_not_applicable``
  column and in the report. A method that raises instead is recorded as
  failing for that ``n``.
* A method with ``output_gain_unknown = True`` gets, next to its raw score, a
  score labelled ``"<name> (gain-corrected)"`` (``variant`` column) after the
  least-squares global gain against the target; this is the only place where
  the target is used to adjust a prediction.
* A method that raises, returns NaN/Inf, a non-array, a wrong shape or
  values outside [0, 1] is recorded in ``failures.csv`` for that call and the
  run goes on; so is one that kills its worker process (segfault,
  ``os._exit``): the units the dead pool was scoring are re-run one at a time
  in a fresh process, so the crash is pinned on its method and sample.
* Aggregates carry 95% bootstrap intervals over sequences
  (:mod:`benchmarks._aggregate`).
* Primary comparisons, per task and n: the best learned model (the
  registry's ``MODELS``, or a method with ``learned = True``) against
  the best classical method (best mean of the task's first metric, raw
  scores only), and every pair the task declares (``Task.comparisons``,
  declared in :mod:`benchmarks.registry`): the paired difference over the
  same sequences with a 95% paired-bootstrap interval, and from its width
  the test-split size at which it would be known to +-0.3 dB PSNR (0.005
  SSIM, 0.005 in-mask accuracy; printed at the end of the run).

An interrupted run (Ctrl-C, a killed job) resumes where it stopped: run the
same command with the same ``--out`` again. Finished units are saved under
``<out>/partial/`` as they come in and reused when they were scored on the
same dataset hash, split size, seed, git sha and library versions; saved
units of another are refused with one line, never mixed in
(:mod:`benchmarks._resume`).

``--methods`` takes registered names and/or ``module:object`` entries: the
module is imported and ``object`` (a dotted attribute path) is either a
method (``name``, ``tasks``, ``restore``) or a zero-argument factory/class
returning one, so a model can be scored without editing the repository.

Results directory (``--out``, default ``results/<UTC timestamp>``)::

    rows.parquet, rows.csv            one row per (task, method, metric, sample, n, draw)
    aggregates.parquet, aggregates.csv  mean, 95% CI, rank group, runtime per (task, method, metric, n)
    differences.parquet, differences.csv  primary comparisons per (task, n, metric): paired difference, 95% CI
    split_sizes.parquet, split_sizes.csv  per task and sized metric: split size for the target half-width
    failures.parquet, failures.csv    failed calls with the error message
    run.json                          provenance: command, git sha/dirty, versions, host, times, hashes
    examples/                         example images + examples.json (per-image metrics)
    report/index.html                 the static leaderboard (python -m leaderboard DIR re-renders it)

Registered tasks and methods come from :mod:`benchmarks.registry`;
:func:`main` also accepts registries as arguments (tests use toy ones).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import json
import multiprocessing
import os
import pickle
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import pandas as pd

from generators._runtime import UserError, single_thread_env
from generators.dataset._atomic import write_bytes_atomic
from generators.task import Method, Task, bind, is_oracle, lookup, quick_protocol, supports

from . import _aggregate, _cache, _examples, _provenance, _resume, _scoring

__all__ = ["main", "run_benchmark", "resolve_methods", "resolve_tasks", "check_comparisons"]

ROW_COLUMNS = [
    "task", "method", "base_method", "variant", "metric", "value", "sample", "condition", "draw", "views",
    "runtime_s", "seed", "split_size", "dataset_hash", "git_sha", "versions",
]
NOT_APPLICABLE_COLUMNS = ["task", "base_method", "sample", "condition", "draw", "reason"]
FAILURE_COLUMNS = [
    "task", "method", "base_method", "sample", "condition", "draw", "views", "stage", "error", "where",
    "seed", "dataset_hash", "git_sha",
]


def _make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Score restoration methods on RestoreBench tasks and write a static leaderboard report.",
    )
    p.add_argument("--task", default="all", metavar="all|NAME[,NAME]",
                   help="tasks to run: 'all' (default) or comma-separated registered names")
    p.add_argument("--methods", default=None, metavar="NAME,...|module:object",
                   help="methods to score (default: every registered method that supports the task); "
                        "'module:object' imports a user method or a zero-argument factory returning one")
    p.add_argument("--quick", action="store_true",
                   help="score the first Task.quick_size samples of the test split instead of Task.test_size "
                        "(same seed) with the quick protocol a task declares (bookcovers: the first of its view "
                        "draws per n, ViewSubsets.quick_draws)")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="score a second split drawn from seed S (>= %d; below are training and validation seeds "
                        "by convention) instead of each task's test seed; the seed is recorded with every row"
                        % MIN_SPLIT_SEED)
    p.add_argument("--out", default=None, metavar="DIR", help="results directory (default: results/<UTC time>)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes scoring samples in parallel (default: CPU count); results do not depend on N")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="where generated test splits are cached (default: $RESTOREBENCH_CACHE or "
                        ".restorebench-cache/ in the checkout)")
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    tasks: Mapping[str, Task] | None = None,
    methods: Mapping[str, Method] | None = None,
) -> int:
    """Command-line entry point; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).
    tasks, methods : mapping, optional
        Registries; default :data:`benchmarks.registry.TASKS` / ``METHODS``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _make_parser().parse_args(argv)
    try:
        learned: frozenset[str] = frozenset()
        if tasks is None or methods is None:
            reg_tasks, reg_methods, learned = _load_registry()
            tasks = reg_tasks if tasks is None else tasks
            methods = reg_methods if methods is None else methods
        if args.seed is not None:
            tasks = with_split_seed(tasks, args.seed)
        out = run_benchmark(
            task_spec=args.task,
            method_spec=args.methods,
            quick=args.quick,
            out=args.out,
            workers=args.workers,
            cache_dir=args.cache,
            tasks=tasks,
            methods=methods,
            learned=learned,
            command="python -m benchmarks.run " + shlex.join(argv),
        )
    except UserError as err:  # bad flags, and bad input found by the dataset layer (e.g. no disk space)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    from leaderboard.render import render_report  # the report is the command's, not the library function's

    render_report(out, out / "report")
    print(f"report: {out / 'report' / 'index.html'}")
    if args.quick:
        print("note: quick split: its ranks are indicative only (few sequences; make leaderboard runs the full "
              "split)", file=sys.stderr)
    if args.methods is not None:
        failed = json.loads((out / "run.json").read_text()).get("methods_failed_every_call", [])
        if failed:
            print(f"error: {', '.join(failed)} failed on every call (see {out / 'failures.csv'})", file=sys.stderr)
            return 1
    return 0


MIN_SPLIT_SEED = 1000  # training and validation data use seeds below 1000 (generators.task.Task.test_seed)


def with_split_seed(tasks: Mapping[str, Task], seed: int) -> dict[str, Task]:
    """``tasks`` with every test split (and its view draws) drawn from ``seed`` instead of ``Task.test_seed``.

    Raises
    ------
    UserError
        For a seed below :data:`MIN_SPLIT_SEED`, where training and validation data live by convention
        (scoring a model on its own training samples is not a test), one a task's test split already uses,
        or one beyond 63 bits.
    """
    if not MIN_SPLIT_SEED <= seed < 2**63:
        raise UserError(f"--seed {seed}: seeds below {MIN_SPLIT_SEED} make training and validation data by "
                         f"convention; choose a seed in [{MIN_SPLIT_SEED}, 2**63) that no training or test split uses")
    own = sorted(name for name, t in tasks.items() if t.test_seed == seed)
    if own:
        raise UserError(f"--seed {seed} is the test seed of {', '.join(own)}: a second split needs another seed")
    return {name: replace(t, test_seed=seed) for name, t in tasks.items()}


def tasks_on_another_seed(run_info: Mapping, tasks: Mapping[str, Task]) -> list[str]:
    """The tasks of ``tasks`` that a results directory's ``run.json`` scored on a split of another seed than
    their ``Task.test_seed`` (a ``--seed`` run). A task without a recorded seed predates ``--seed`` and
    scored its test split."""
    return sorted(name for name, info in run_info.get("tasks", {}).items()
                  if name in tasks and info.get("seed", tasks[name].test_seed) != tasks[name].test_seed)


def _load_registry() -> tuple[Mapping[str, Task], Mapping[str, Method], frozenset[str]]:
    """Tasks, methods and the names of the learned methods (``benchmarks.registry.MODELS``)."""
    try:
        registry = importlib.import_module("benchmarks.registry")
    except ImportError as err:
        raise UserError(f"cannot load the task/method registry benchmarks.registry ({err})") from None
    return registry.TASKS, registry.METHODS, frozenset(registry.MODELS)


def resolve_tasks(spec: str, tasks: Mapping[str, Task]) -> list[Task]:
    """``"all"`` or ``"a,b"`` -> tasks; unknown name -> UserError listing the valid ones."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise UserError(f"--task is empty; choose 'all' or from {sorted(tasks)}")
    if names == ["all"]:
        return [tasks[k] for k in sorted(tasks)]
    out = []
    for name in dict.fromkeys(names):
        try:
            out.append(lookup(tasks, name, "task"))
        except KeyError as err:
            raise UserError(f"{err.args[0]} (or 'all')") from None
    return out


def resolve_methods(spec: str | None, methods: Mapping[str, Method]) -> list[Method]:
    """Registered names and ``module:object`` entries -> method objects."""
    if spec is None:
        return [methods[k] for k in sorted(methods)]
    out: dict[str, Method] = {}
    for entry in (s.strip() for s in spec.split(",")):
        if not entry:
            continue
        if ":" in entry:
            method = _import_method(entry)
        else:
            try:
                method = lookup(methods, entry, "method")
            except KeyError as err:
                raise UserError(f"{err.args[0]} (or module:object)") from None
        if method.name in out and out[method.name] is not method:
            raise UserError(f"two methods are named {method.name!r}; names must be unique")
        out[method.name] = method
    if not out:
        raise UserError(f"--methods is empty; choose from {sorted(methods)} or give module:object")
    return list(out.values())


def _import_method(entry: str) -> Method:
    module_name, _, attr = entry.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as err:
        raise UserError(f"--methods {entry!r}: cannot import {module_name!r} ({type(err).__name__}: {err})") from None
    for part in attr.split("."):
        if not part or not hasattr(obj, part):
            raise UserError(f"--methods {entry!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, type) or not hasattr(obj, "restore"):
        if not callable(obj):
            raise UserError(f"--methods {entry!r} is neither a method nor a factory returning one")
        try:
            obj = obj()
        except Exception as err:
            raise UserError(f"--methods {entry!r}: calling the factory failed ({type(err).__name__}: {err})") from None
    name, tasks_, restore = getattr(obj, "name", None), getattr(obj, "tasks", None), getattr(obj, "restore", None)
    if not isinstance(name, str) or not name or not callable(restore) or not isinstance(tasks_, (tuple, list)) \
            or not tasks_ or not all(isinstance(t, str) for t in tasks_):
        raise UserError(
            f"--methods {entry!r} gave {type(obj).__name__}, not a method: it needs name (str), "
            "tasks (tuple of task names or input kinds) and restore(inputs)"
        )
    return obj


def run_benchmark(
    *,
    task_spec: str,
    method_spec: str | None,
    quick: bool,
    out: str | os.PathLike | None,
    workers: int | None,
    cache_dir: str | os.PathLike | None,
    tasks: Mapping[str, Task],
    methods: Mapping[str, Method],
    command: str,
    learned: Collection[str] = (),
) -> Path:
    """Run the benchmark and write the results directory (not the report); return its path.

    A pipeline of named steps: choose what to score (:func:`_plan`), build or
    reuse the test splits (:func:`_build_splits`), score every (sample,
    method) in one worker pool (:func:`_score_all`), aggregate and compare
    (:func:`_summarise`), write the tables and ``run.json``. ``learned``
    names the learned methods (besides any with ``learned = True``),
    compared with the best classical method in ``differences``.
    """
    started, t_start = _provenance.now_iso(), time.perf_counter()
    plan, selected_methods, workers = _plan(task_spec, method_spec, tasks, methods, workers)
    out = Path(out) if out is not None else Path("results") / _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    cache = Path(cache_dir) if cache_dir is not None else _cache.default_cache_dir()
    _prepare_out(out)
    git, versions = _provenance.read_git_state(), _provenance.read_versions()
    contexts, task_info = _build_splits(plan, quick=quick, cache=cache, workers=workers)
    scored = _score_all(contexts, task_info, workers=workers, out=out, git_sha=git["git_sha"],
                        versions=_provenance.format_versions(versions))
    learned = sorted(set(learned) | {m.name for m in selected_methods if getattr(m, "learned", False)})
    oracles = sorted(m.name for m in selected_methods if is_oracle(m))
    tables = _summarise(scored, plan, task_info, learned=learned, oracles=oracles, git_sha=git["git_sha"],
                        versions=_provenance.format_versions(versions))
    for stem, table in tables.items():
        _write_table(table, out / stem)
    (out / "examples").mkdir(exist_ok=True)
    (out / "examples" / "examples.json").write_text(json.dumps(scored.examples_index, indent=1))
    run_info = _run_info(
        command=command, git=git, versions=versions, started=started, wall_s=time.perf_counter() - t_start,
        quick=quick, workers=workers, cache=cache, task_info=task_info, not_applicable=scored.not_applicable,
        tables=tables,
    )
    write_bytes_atomic(out / "run.json", json.dumps(run_info, indent=2, default=str).encode())
    _resume.PartialResults(out).remove()  # finished: nothing left to resume
    return out


def check_comparisons(tasks: Collection[Task], methods: Mapping[str, Method]) -> None:
    """Every method a task's declared comparisons name is registered and supports the task.

    Raises
    ------
    UserError
        Naming the task, the comparison and the unknown or unsupported method.
    """
    for task in tasks:
        for pair in task.comparisons:
            for name in _aggregate.comparison_names([pair]):
                if name not in methods:
                    raise UserError(f"task {task.name!r} declares the comparison "
                                     f"{_aggregate.comparison_label(*pair)!r} with unknown method {name!r}; "
                                     f"choose from {sorted(methods)}")
                if not supports(methods[name], task):
                    raise UserError(f"task {task.name!r} declares the comparison "
                                     f"{_aggregate.comparison_label(*pair)!r}, but method {name!r} does not "
                                     f"support it (it supports {', '.join(methods[name].tasks)})")


def _plan(task_spec: str, method_spec: str | None, tasks: Mapping[str, Task], methods: Mapping[str, Method],
          workers: int | None) -> tuple[list[tuple[Task, list[Method]]], list[Method], int]:
    """The selected tasks, each with the selected methods that support it; usage errors for bad choices."""
    selected_tasks = resolve_tasks(task_spec, tasks)
    check_comparisons(selected_tasks, methods)
    selected_methods = resolve_methods(method_spec, methods)
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    plan = [(t, [bind(m, t) for m in selected_methods if supports(m, t)]) for t in selected_tasks]
    if not any(ms for _, ms in plan):
        claims = "; ".join(f"{m.name} supports {', '.join(m.tasks)}" for m in selected_methods)
        raise UserError(f"no selected method supports any selected task "
                         f"({', '.join(t.name for t in selected_tasks)}): {claims}")
    if method_spec is not None:
        for m in selected_methods:
            if not any(supports(m, t) for t, _ in plan):
                print(f"note: method {m.name!r} supports none of the selected tasks "
                      f"({', '.join(t.name for t in selected_tasks)}); skipped", file=sys.stderr)
    return plan, selected_methods, workers or os.cpu_count() or 1


def _build_splits(plan, *, quick: bool, cache: Path, workers: int) -> tuple[dict[str, _scoring.TaskContext], dict]:
    """Build (or reuse) every split first, so that one worker pool serves all tasks."""
    contexts: dict[str, _scoring.TaskContext] = {}
    task_info: dict[str, dict] = {}
    for task, task_methods in plan:
        if not task_methods:
            print(f"{task.name}: no selected method supports it; skipped", file=sys.stderr)
    plan = [(task, task_methods) for task, task_methods in plan if task_methods]
    sizes = [task.quick_size if quick else task.test_size for task, _ in plan]
    built = _cache.build_splits(list(zip((task for task, _ in plan), sizes)), cache_dir=cache, workers=workers)
    for (task, task_methods), size, (split_dir, split_key, digest, build_s) in zip(plan, sizes, built):
        t0 = time.perf_counter()
        full_protocol = task.protocol
        if quick:  # the calls the workers make and the example keys both follow the quick protocol
            task = replace(task, protocol=quick_protocol(task.protocol))
        contexts[task.name] = _scoring.TaskContext(
            task, {m.name: m for m in task_methods}, str(split_dir),
            _examples.choose_example_keys(task, split_dir, size),
        )
        task_info[task.name] = {
            "dataset_hash": digest, "split_key": split_key, "split_dir": str(split_dir), "seed": task.test_seed,
            "size": size, "params": dict(task.params), "input_kind": task.input_kind, "target_key": task.target_key,
            "axis": task.protocol.axis, "protocol": repr(task.protocol), "full_protocol": repr(full_protocol),
            "condition_labels": ({str(k): v for k, v in task.protocol.condition_labels.items()}
                                 if task.protocol.condition_labels else None),
            **({"draws": task.protocol.draws} if hasattr(task.protocol, "draws") else {}),
            "classes": [{"id": c.id, "name": c.name, "color": list(c.color)} for c in task.classes],
            "metrics": list(task.metrics),
            "comparisons": [[list(side) if not isinstance(side, str) else side for side in pair]
                            for pair in task.comparisons],
            "higher_is_better": {m: _aggregate.direction(m, task.higher_is_better) for m in task.metrics},
            "methods": [m.name for m in task_methods], "build_split_s": round(build_s + time.perf_counter() - t0, 3),
        }
        print(f"{task.name}: {size} samples (split {split_key}, {task_info[task.name]['build_split_s']:.1f} s), "
              f"{len(task_methods)} methods: {', '.join(m.name for m in task_methods)}", file=sys.stderr)
    return contexts, task_info


@dataclass
class _Scored:
    """What scoring every task produced: result rows, failures, not-applicable calls, example images."""

    rows: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    not_applicable: list[dict] = field(default_factory=list)
    examples_index: list[dict] = field(default_factory=list)
    gain_unknown: set[tuple[str, str]] = field(default_factory=set)


def _score_all(contexts: Mapping[str, _scoring.TaskContext], task_info: dict, *, workers: int, out: Path,
               git_sha: str, versions: str) -> _Scored:
    """Score every (sample, method) of every task in one worker pool; write the example images."""
    scored = _Scored()
    partial = _resume.PartialResults(out)
    headers = {name: {"task": name, "split_size": info["size"], "seed": info["seed"], "protocol": info["protocol"],
                      "dataset_hash": info["dataset_hash"], "git_sha": git_sha, "versions": versions}
               for name, info in task_info.items()}
    done = {name: partial.load(name, headers[name]) for name in contexts}  # refuses a mismatch before scoring
    units = {name: [(name, i, m) for i in range(task_info[name]["size"]) for m in ctx.methods]
             for name, ctx in contexts.items()}
    todo = [u for name in contexts for u in units[name] if u not in done[name]]
    left = {name: sum(1 for u in units[name] if u not in done[name]) for name in contexts}  # units still to score
    resumed = {name: len(units[name]) - left[name] for name in contexts}
    for name in contexts:
        if resumed[name]:
            print(f"{name}: resuming: {resumed[name]} of {len(units[name])} units already scored in "
                  f"{partial.root}", file=sys.stderr)
    n_units = sum(len(u) for u in units.values())
    pool_workers = max(1, min(workers, n_units))
    new: dict = {}
    order, finished = list(contexts), [0]  # tasks are finalised in task order, each once all its units are in

    def finalise(name: str) -> None:
        ctx, info = contexts[name], task_info[name]
        task = ctx.task
        t0 = time.perf_counter()
        results = [done[name].get(u) or new[u] for u in units[name]]
        worker_s = sum(r.seconds for r in results)
        info["score_worker_s"] = round(worker_s, 3)
        info["score_s"] = round(worker_s / pool_workers, 3)
        info["units_resumed"] = resumed[name]
        extra = {"seed": task.test_seed, "split_size": info["size"], "dataset_hash": info["dataset_hash"],
                 "git_sha": git_sha}
        rows = [r | extra | {"versions": versions} for res in results for r in res.rows]
        failures = [f | extra for res in results for f in res.failures]
        not_applicable = [s for res in results for s in res.not_applicable]
        scored.not_applicable += not_applicable
        scored.rows += rows
        scored.failures += failures
        scored.gain_unknown |= {(name, m) for m, meth in ctx.methods.items()
                                if getattr(meth, "output_gain_unknown", False)}
        predictions = {k: v for res in results for k, v in res.examples.items()}
        scored.examples_index += _examples.write_examples(
            out / "examples", task, Path(ctx.split_dir), ctx.example_keys, predictions, rows,
            failures + [{**s, "error": f"not applicable ({s['reason']})"} for s in not_applicable],
            list(ctx.methods), scored.gain_unknown,
        )
        info.update(wall_s=round(info["build_split_s"] + info["score_s"] + time.perf_counter() - t0, 3),
                    n_rows=len(rows), n_failures=len(failures), n_not_applicable=len(not_applicable))
        na = f", {len(not_applicable)} calls not applicable" if not_applicable else ""
        print(f"{name}: done in {info['wall_s']:.1f} s ({len(rows)} scores, {len(failures)} failed calls{na})",
              file=sys.stderr)

    def finalise_ready() -> None:
        while finished[0] < len(order) and left[order[finished[0]]] == 0:
            finalise(order[finished[0]])
            finished[0] += 1

    # Every task's units go to the pool at once, so no worker waits at the end of a task for the other's
    # last unit (13 such barriers cost the quick run ~10 s); results come back in unit order, and a task's
    # rows and example images are written as soon as its last unit is in, while the workers go on.
    with contextlib.ExitStack() as writers, _Scorer(contexts, pool_workers) as scorer:
        save = {name: writers.enter_context(partial.writer(name, headers[name])) for name in contexts}

        def on_result(i: int, res) -> None:
            unit = todo[i]
            save[unit[0]](unit, res)
            new[unit] = res
            left[unit[0]] -= 1
            if left[unit[0]] == 0:
                save[unit[0]].flush()
                finalise_ready()

        finalise_ready()  # tasks resumed in full
        scorer.run(todo, on_result=on_result)
    finalise_ready()
    return scored


def _summarise(scored: _Scored, plan, task_info: dict, *, learned: list[str], oracles: list[str], git_sha: str,
               versions: str) -> dict[str, pd.DataFrame]:
    """The result tables, by file stem: rows, aggregates, learned-vs-classical differences, split sizes, failures."""
    rows_df = _frame(scored.rows, ROW_COLUMNS)
    failures_df = _frame(scored.failures, FAILURE_COLUMNS)
    agg = _aggregate.aggregate(
        rows_df, failures_df,
        metrics_by_task={t.name: list(t.metrics) for t, _ in plan},
        directions={t.name: dict(t.higher_is_better) for t, _ in plan},
        gain_unknown=scored.gain_unknown,
        not_applicable=_frame(scored.not_applicable, NOT_APPLICABLE_COLUMNS),
    )
    primary = {t.name: next(iter(t.metrics)) for t, _ in plan if t.metrics}
    diff = _aggregate.paired_differences(rows_df, agg, learned=learned, primary=primary, oracles=oracles,
                                         comparisons={t.name: t.comparisons for t, _ in plan})
    sizes = _aggregate.estimate_split_sizes(diff)
    for name, info in task_info.items():
        info["primary_metric"] = primary.get(name)
        info["learned_methods"] = [m for m in info["methods"] if m in learned]
        info["oracle_methods"] = [m for m in info["methods"] if m in oracles]
    conditions = {t.name: (t.protocol.axis, t.protocol.condition_labels) for t, _ in plan}
    for line in _aggregate.format_split_sizes(sizes, conditions):
        print(f"split size: {line}", file=sys.stderr)
    if len(agg):
        agg["seed"] = agg["task"].map({k: v["seed"] for k, v in task_info.items()})
        agg["split_size"] = agg["task"].map({k: v["size"] for k, v in task_info.items()}).astype("int64")
        agg["dataset_hash"] = agg["task"].map({k: v["dataset_hash"] for k, v in task_info.items()})
        agg["git_sha"] = git_sha
        agg["versions"] = versions
    return {"rows": rows_df, "aggregates": agg, "differences": diff, "split_sizes": sizes, "failures": failures_df,
            "failures_summary": _summarise_failures(failures_df)}


def _run_info(*, command: str, git: dict, versions: dict, started: str, wall_s: float, quick: bool, workers: int,
              cache: Path, task_info: dict, not_applicable: list[dict],
              tables: Mapping[str, pd.DataFrame]) -> dict:
    """The self-description of a run (``run.json``)."""
    return {
        "command": command,
        "argv": sys.argv,
        "cwd": os.getcwd(),
        **git,
        "versions": versions,
        "host": _provenance.read_host(),
        "started": started,
        "finished": _provenance.now_iso(),
        "wall_s": round(wall_s, 3),
        "quick": quick,
        "workers": workers,
        "cache_dir": str(cache),
        "tasks": task_info,
        "dataset_hashes": {k: v["dataset_hash"] for k, v in task_info.items()},
        "protocol": _PROTOCOL,
        "not_applicable": _summarise_not_applicable(not_applicable),
        "n_not_applicable": len(not_applicable),
        "n_rows": len(tables["rows"]),
        "n_failures": len(tables["failures"]),
        "methods_failed_every_call": _report_failures(tables["rows"], tables["failures"]),
        "files": [f"{stem}.{ext}" for stem in tables for ext in ("parquet", "csv")]
                 + ["examples/examples.json", "report/index.html"],
    }


_PROTOCOL = {
    "calls": "per task (tasks.<name>.protocol): one call per sample, or for ViewSubsets 1 .. N-1 "
             "views per sequence (N = views in the sample), `draws` random subsets each; the "
             "`condition` column holds the number of views (empty for single calls). A --quick run scores "
             "the quick protocol a task declares (ViewSubsets: its `quick_draws`, the first draws of the full "
             "protocol, same draw generator; tasks.<name>.draws, full protocol in tasks.<name>.full_protocol)",
    "draw_rng": "default_rng(SeedSequence([test_seed, sample, n, draw])), views sorted",
    "gain_corrected": "least-squares global gain a=<t,p>/<p,p>, clipped to [0,1]; only for methods "
                      "with output_gain_unknown, labelled '<name> (gain-corrected)'",
    "aggregate": "mean over sequences of the per-sequence mean over draws",
    "ci": f"{int(_aggregate.CI_LEVEL * 100)}% percentile bootstrap over sequences, "
          f"{_aggregate.N_RESAMPLES} resamples, seed {_aggregate.BOOTSTRAP_SEED} + crc32(group)",
    "rank": "rank groups within (task, metric, n views); 1 is best. " + _aggregate.RANK_RULE,
    "differences": "primary comparisons per (task, n): the best learned model minus the classical method "
                   "(raw score, not an oracle: tasks.<name>.oracle_methods read ground truth) with the best mean of the task's primary (first) metric, and every "
                   "(method, reference) pair the task declares (tasks.<name>.comparisons; a tuple side is "
                   "the best of its methods there); paired over the "
                   f"sequences both scored; {int(_aggregate.CI_LEVEL * 100)}% percentile bootstrap of "
                   f"the mean difference, {_aggregate.N_DIFF_RESAMPLES} resamples of the sequence "
                   f"indices, seed {_aggregate.BOOTSTRAP_SEED} + crc32(comparison)",
    "split_sizes": f"test-split size for primary-comparison half-widths of {_aggregate.SIZING_TARGETS} "
                   "(by metric; a task's primary metric by its family, e.g. psnr_clip as psnr): "
                   "ceil(n * (half_width / target)^2), the most any comparison and n of the task needs",
    "runtime_s": "wall seconds of one restore() call, one torch thread per worker process",
    "task_seconds": "tasks.<name>: build_split_s (building or reusing its split), score_worker_s (worker seconds "
                    "its units took, methods and metrics; every task's units share one pool at once, so tasks "
                    "overlap in time), score_s = score_worker_s / workers, wall_s = build_split_s + score_s + "
                    "the parent's seconds for its rows and example images; the run's own wall_s is the whole run",
}


class _Scorer:
    """Runs units in this process (one worker) or in one spawned process pool
    shared by all tasks; results come back in unit order either way.

    In the pool, the units of one sample go to one worker together (when the
    task has at least two samples per worker to share out), so work that
    methods share on a sample is done once in that process: the split's
    sample is read once, and coverrefs' retrieval and PatchMatch fill, kept
    by :mod:`baselines.stitching`, serve every method that needs them."""

    def __init__(self, contexts: Mapping[str, _scoring.TaskContext], workers: int):
        self.contexts, self.workers = dict(contexts), max(1, workers)
        self.pool: ProcessPoolExecutor | None = None
        self._env = contextlib.ExitStack()
        self._threads: int | None = None

    def __enter__(self) -> "_Scorer":
        if self.workers == 1:
            self._threads = _torch_threads()
            _scoring.init_worker(self.contexts)
            return self
        try:
            pickle.dumps(self.contexts)
        except Exception as err:
            raise UserError(
                f"a task or method cannot be sent to worker processes ({type(err).__name__}: {err}); "
                "run with --workers 1"
            ) from None
        self._env.enter_context(single_thread_env())  # children's BLAS/OpenMP: one thread each, until __exit__
        self._markers = tempfile.mkdtemp(prefix="restorebench-units-")
        self._start_pool()
        return self

    def _start_pool(self) -> None:
        self.pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),  # fork after torch/OpenMP start is unsafe
            initializer=_scoring.init_pool_worker,
            initargs=(self.contexts, self._markers),
        )

    def run(self, units: list[tuple[str, int, str]], on_result=None) -> list[_scoring.UnitResult]:
        """Score ``units``; ``on_result(i, result)`` is called once per unit as its final result arrives."""
        progress = _progress(len(units), "scoring" if len({u[0] for u in units}) > 1 else (units[0][0] if units else ""))
        done = on_result or (lambda i, res: None)
        if self.pool is None:
            results = []
            for i, unit in enumerate(units):
                results.append(_scoring.run_unit(unit))
                done(i, results[-1])
                progress()
            return results
        results: list = [None] * len(units)
        todo = list(range(len(units)))
        while todo:
            futures = {b: self.pool.submit(_scoring.run_units, [units[i] for i in b])
                       for b in _bundles(units, todo, self.workers)}
            broken = []
            for bundle, fut in futures.items():
                try:
                    for i, res in zip(bundle, fut.result()):
                        results[i] = res
                        done(i, res)
                        progress()
                except BrokenProcessPool:
                    broken += bundle
            if not broken:
                break
            # A method killed a worker and the pool stopped every worker. The units the workers were scoring
            # (their marker files) are the suspects: each is scored again alone, so a second crash names its
            # method; the other interrupted units go back to the pool.
            suspects = {u for u in self._collect_markers()}
            self.pool.shutdown(wait=True, cancel_futures=True)
            isolate = [i for i in broken if units[i] in suspects] or broken
            for i in isolate:
                results[i] = self._run_alone(units[i])
                done(i, results[i])
                progress()
            todo = [i for i in broken if results[i] is None]
            self._start_pool()
        return results

    def _run_alone(self, unit: tuple[str, int, str]) -> _scoring.UnitResult:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_scoring.init_pool_worker, initargs=(self.contexts, self._markers)) as solo:
            try:
                return solo.submit(_scoring.run_unit, unit).result()
            except BrokenProcessPool:
                self._collect_markers()
                print(f"  {unit[2]}: its worker process died on {unit[0]} sample {unit[1]} (segfault or exit in "
                      "the method); recorded as a failure", file=sys.stderr)
                return _scoring.crashed_unit_result(unit, "segfault or exit in the method")

    def _collect_markers(self) -> list[tuple[str, int, str]]:
        out = []
        for name in os.listdir(self._markers):
            path = os.path.join(self._markers, name)
            try:
                task, index, method = json.loads(Path(path).read_text())
                out.append((task, int(index), method))
            except (OSError, ValueError):
                pass
            Path(path).unlink(missing_ok=True)
        return out

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(self._markers, ignore_errors=True)
            self._env.close()
        else:
            _scoring.init_worker({})
            if self._threads:
                sys.modules["torch"].set_num_threads(self._threads)


def _bundles(units: list[tuple[str, int, str]], todo: list[int], workers: int) -> list[tuple[int, ...]]:
    """``todo`` (indices of ``units``) grouped by (task, sample), in order of first appearance; one unit per
    bundle when a task has fewer than two samples per worker (a bundle per sample would leave workers idle)."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i in todo:
        groups.setdefault(units[i][:2], []).append(i)
    samples: dict[str, int] = {}
    for task, _ in groups:
        samples[task] = samples.get(task, 0) + 1
    out: list[tuple[int, ...]] = []
    for (task, _), idx in groups.items():
        out += [tuple(idx)] if samples[task] >= 2 * workers else [(i,) for i in idx]
    return out


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _progress(total: int, label: str):
    """A callable printing ``label: k/total`` about every 10% to stderr."""
    state = {"done": 0, "t0": time.perf_counter()}
    step = max(1, total // 10)

    def tick() -> None:
        state["done"] += 1
        k = state["done"]
        if k % step == 0 or k == total:
            print(f"  {label}: {k}/{total} units, {time.perf_counter() - state['t0']:.0f} s", file=sys.stderr)

    return tick


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=columns)
    if "condition" in df:
        df["condition"] = df["condition"].astype("Int64")
    for col in ("sample", "draw", "seed", "split_size"):
        if col in df:
            df[col] = df[col].astype("int64")
    sort = [c for c in ("task", "method", "metric", "sample", "condition", "draw", "stage") if c in df]
    return df.sort_values(sort, kind="stable", na_position="first").reset_index(drop=True)


def _write_table(df: pd.DataFrame, stem: Path) -> None:
    df.to_parquet(stem.with_suffix(".parquet"), index=False)
    df.to_csv(stem.with_suffix(".csv"), index=False, float_format="%.17g")  # floats round-trip exactly


def _prepare_out(out: Path) -> None:
    """Create ``out``; clear the harness's own outputs from an earlier run there.

    A directory that exists, is not empty and holds neither ``run.json`` (a
    finished run: all of it is replaced) nor ``partial/`` (an interrupted
    run: its saved units are kept and resumed, :mod:`benchmarks._resume`) is
    refused: it is not ours to overwrite.
    """
    finished, partial = (out / "run.json").is_file(), (out / _resume.DIRNAME).is_dir()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not finished and not partial)):
        raise UserError(f"--out {out} exists and is not a results directory of an earlier run; "
                         "give a new or empty directory")
    out.mkdir(parents=True, exist_ok=True)
    if finished:
        _resume.PartialResults(out).remove()
    for sub in ("examples", "report"):
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)
    for name in ("rows", "aggregates", "differences", "split_sizes", "failures", "failures_summary"):
        for ext in (".parquet", ".csv"):
            (out / f"{name}{ext}").unlink(missing_ok=True)
    (out / "run.json").unlink(missing_ok=True)


def _report_failures(rows: pd.DataFrame, failures: pd.DataFrame) -> list[str]:
    """Print, per method with failed calls, how many failed and the first error with its
    location; return the methods that produced no score at all."""
    if not len(failures):
        return []
    scored = set(rows["base_method"]) if len(rows) else set()
    all_failed = []
    for method, g in failures.groupby("base_method", sort=True):
        first = g.iloc[0]
        print(f"  {method}: {len(g)} failed call(s); first: {first['error']} ({first['where']}, task {first['task']}, "
              f"sample {first['sample']})", file=sys.stderr)
        if method not in scored:
            all_failed.append(str(method))
    return all_failed


def _summarise_failures(failures: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, method, stage, error): how many calls, at which n."""
    cols = ["task", "method", "stage", "error", "condition_list", "calls"]
    if not len(failures):
        return pd.DataFrame(columns=cols)
    out = []
    for (t, m, stage, err), g in failures.groupby(["task", "method", "stage", "error"], sort=True):
        ns = sorted({int(n) for n in g["condition"].dropna()})
        out.append({"task": t, "method": m, "stage": stage, "error": err,
                    "condition_list": ",".join(map(str, ns)), "calls": len(g)})
    return pd.DataFrame(out, columns=cols).sort_values(["task", "method", "calls"], ascending=[True, True, False])


def _summarise_not_applicable(records: list[dict]) -> list[dict]:
    """One entry per (task, method, condition, reason): how many calls the method declared it cannot take."""
    counts: dict[tuple, int] = {}
    for s in records:
        k = (s["task"], s["base_method"], s["condition"], s["reason"])
        counts[k] = counts.get(k, 0) + 1
    return [{"task": t, "method": m, "condition": n, "reason": r, "calls": c} for (t, m, n, r), c in sorted(counts.items())]


if __name__ == "__main__":
    raise SystemExit(main())
