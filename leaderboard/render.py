"""Render a saved results directory as a self-contained static HTML report.

The renderer computes nothing: every number on the page is read from the
files :mod:`benchmarks.run` saved (``aggregates``, ``differences``,
``split_sizes``, ``failures_summary``, ``run.json``,
``examples/examples.json``) and only formatted. Plots of a metric
against the number of views draw the saved means and 95% intervals.

The report folder holds ``index.html`` (inline CSS and vanilla JS, no network
access of any kind), ``plots/*.png`` and ``img/`` (copies of the example
images), so it can be zipped, mailed or opened from disk (``file://``).

Page behaviour (vanilla JS): clicking a table header sorts by that column
(again: reverse); for multi-image tasks a selector picks the number of views
shown in the table. The URL fragment ``#sort=<table id>:<column>:<asc|desc>``
applies a sort on load, so a sorted view can be linked. When the page has set
itself up, ``<body>`` carries ``data-ready="1"`` and, after the load event,
``data-images="<loaded>/<total>"``.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from generators._runtime import UserError

__all__ = ["render_report", "load_results", "markdown_table"]

# Metric columns a results table shows before "all metrics" is ticked (issue 15 #7: fit 1280 px).
DEFAULT_METRICS = 3


class ResultsError(UserError):
    """The directory is not a complete benchmarks.run results directory."""


def load_results(results_dir: str | Path) -> dict[str, Any]:
    """Read what the report needs from ``results_dir``.

    Returns
    -------
    dict with ``run`` (run.json), ``aggregates``, ``differences``,
    ``split_sizes`` and ``failures_summary`` (DataFrames; the last three empty
    when absent, as in results written before they existed) and ``examples``
    (list of dict).

    Raises
    ------
    ResultsError
        When run.json or the aggregates table is missing.
    """
    root = Path(results_dir)
    if not (root / "run.json").is_file():
        raise ResultsError(f"{root}: no run.json; not a results directory written by python -m benchmarks.run")
    run = json.loads((root / "run.json").read_text())
    aggregates = _read_table(root, "aggregates", required=True)
    failures = _read_table(root, "failures_summary", required=False)
    differences = _read_table(root, "differences", required=False)
    split_sizes = _read_table(root, "split_sizes", required=False)
    _check_provenance(root, run, aggregates)
    ex_path = root / "examples" / "examples.json"
    examples = json.loads(ex_path.read_text()) if ex_path.is_file() else []
    return {"root": root, "run": run, "aggregates": aggregates, "differences": differences,
            "split_sizes": split_sizes, "failures_summary": failures, "examples": examples}


def _check_provenance(root: Path, run: dict, aggregates: pd.DataFrame) -> None:
    """Every saved aggregate row describes the run in ``run.json``: same dataset hash and split size per task,
    same git sha; a folder mixing runs (rows copied in from another one) is refused, never rendered."""
    tasks = run.get("tasks") or {}
    expect = {"dataset_hash": {t: i.get("dataset_hash") for t, i in tasks.items()},
              "split_size": {t: i.get("size") for t, i in tasks.items()}}
    for col, by_task in expect.items():
        if col not in aggregates or not len(aggregates):
            continue
        for task, value in aggregates[["task", col]].drop_duplicates().itertuples(index=False):
            want = by_task.get(task)
            if want is None or str(value) != str(want):
                raise ResultsError(f"{root}: aggregates of task {task!r} have {col} {value!r}, but run.json says "
                                   f"{want!r}; the folder mixes results of different runs")
    if "git_sha" in aggregates and len(aggregates):
        shas = set(aggregates["git_sha"].astype(str)) - {str(run.get("git_sha"))}
        if shas:
            raise ResultsError(f"{root}: aggregates come from code version {sorted(shas)[0]!r}, but run.json says "
                               f"{run.get('git_sha')!r}; the folder mixes results of different runs")


_TEXT_COLUMNS = ("task", "method", "base_method", "variant", "metric", "stage", "error", "condition_list",
                 "reference", "primary_metric", "comparison", "rank_label")
_INT_COLUMNS = ("condition", "rank", "n_samples", "n_scores", "n_failed", "n_not_applicable", "calls", "n_needed")


def _read_table(root: Path, stem: str, *, required: bool) -> pd.DataFrame:
    """The parquet table, else the CSV one (same columns and values)."""
    if (root / f"{stem}.parquet").is_file():
        df = pd.read_parquet(root / f"{stem}.parquet")
    elif (root / f"{stem}.csv").is_file():
        # Only empty cells are missing: a method may well be called "nan" or "NA".
        df = pd.read_csv(root / f"{stem}.csv", keep_default_na=False, na_values=[""], float_precision="round_trip")
    elif required:
        raise ResultsError(f"{root}: no {stem}.parquet or {stem}.csv; not a complete benchmarks.run results directory")
    else:
        return pd.DataFrame()
    # CSV cannot tell "" from missing, nor 1 from 1.0 once a column has gaps.
    for col in _TEXT_COLUMNS:
        if col in df:
            df[col] = df[col].fillna("").astype(str)
    for col in _INT_COLUMNS:
        if col in df:
            df[col] = df[col].astype("Int64")
    return df


def render_report(results_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the static report of ``results_dir`` into ``out_dir``.

    Parameters
    ----------
    results_dir : path
        A directory written by ``python -m benchmarks.run``.
    out_dir : path, optional
        Report folder (default ``results_dir/report``); replaced if present.

    Returns
    -------
    Path of ``index.html``.
    """
    res = load_results(results_dir)
    out = Path(out_dir) if out_dir is not None else res["root"] / "report"
    if out.exists():
        shutil.rmtree(out)
    (out / "plots").mkdir(parents=True)
    (out / "img").mkdir()
    run, agg = res["run"], res["aggregates"]
    task_info = run.get("tasks", {})
    task_names = list(task_info) or (sorted(agg["task"].unique()) if len(agg) else [])

    body = [_header(run), _toc(task_names)]
    diff, sizes = res["differences"], res["split_sizes"]
    for name in task_names:
        body.append(_task_section(name, task_info.get(name, {}), agg[agg["task"] == name] if len(agg) else agg,
                                  [e for e in res["examples"] if e["task"] == name], res["root"], out,
                                  diff[diff["task"] == name] if len(diff) else diff,
                                  sizes[sizes["task"] == name] if len(sizes) else sizes))
    body.append(_failures_section(res["failures_summary"], run))
    body.append(_provenance_section(run))
    page = _PAGE.format(title=_e(f"RestoreBench results — {', '.join(task_names)}"), css=_CSS, js=_JS,
                        body="\n".join(body))
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def markdown_table(results_dir: str | Path) -> str:
    """The README's results table: per task, every method's rank group and primary-metric mean [95% CI].

    Primary metric: the task's first; for tasks with a condition axis, the
    largest condition (e.g. 9 views). Read from the saved aggregates like the
    HTML report; a quick run's table says its ranks are indicative only.
    """
    res = load_results(results_dir)
    run, agg = res["run"], res["aggregates"]
    lines = ["| task | rank | method | primary metric, mean [95% CI] |", "|---|---|---|---|"]
    for name, info in (run.get("tasks") or {}).items():
        a = agg[agg["task"] == name] if len(agg) else agg
        metrics = list(info.get("metrics") or [])
        if not len(a) or not metrics:
            continue
        a = a[a["metric"] == metrics[0]]
        conds = [int(n) for n in a["condition"].dropna().unique()]
        at = ""
        if conds:
            a = a[a["condition"] == max(conds)]
            at = f", {_cond_text(info.get('axis') or 'views', max(conds), info.get('condition_labels'))}"
        a = a[a["mean"].notna()]
        hib = bool(a["higher_is_better"].iloc[0]) if len(a) else True
        a = a.assign(_key=-a["mean"] if hib else a["mean"]).sort_values(["rank", "_key", "method"])
        for rec in a.to_dict("records"):
            method = str(rec["method"]).replace("|", "\\|")
            lines.append(f"| {name} ({info.get('size', '?')}{at}) | {_rank_label(rec)} | {method} | "
                         f"{metrics[0]} {_fmt(rec['mean'])} [{_fmt(rec['ci_low'])}, {_fmt(rec['ci_high'])}] |")
    if run.get("quick"):
        lines.append("\nQuick run: its ranks are indicative only.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- formatting


def _e(x: Any) -> str:
    """Escape any value for HTML text and attribute contexts."""
    return html.escape("" if x is None else str(x), quote=True)


def _isnan(x: Any) -> bool:
    try:
        return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)) or bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _fmt(x: Any) -> str:
    """Four significant digits, as text; '–' for missing."""
    if _isnan(x):
        return "–"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.4g}"


def _fmt_time(x: Any) -> str:
    if _isnan(x):
        return "–"
    x = float(x)
    return f"{x * 1000:.3g} ms" if x < 1 else f"{x:.3g} s"


def _anchor(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-") or "x"


def _file_name(*parts: str) -> str:
    return "_".join(_anchor(p) for p in parts)


# ---------------------------------------------------------------- sections


def _header(run: dict) -> str:
    quick = " (quick)" if run.get("quick") else ""
    sha = str(run.get("git_sha", "unknown"))
    dirty = " + uncommitted changes" if run.get("git_dirty") else ""
    return (
        f"<header><h1>RestoreBench results{_e(quick)}</h1>"
        f"<p class=meta>Run {_e(run.get('started', '?'))} → {_e(run.get('finished', '?'))} · git "
        f"<code>{_e(sha[:12])}</code>{_e(dirty)} · <code>{_e(run.get('command', ''))}</code></p>"
        "<p class=meta>Means over test sequences with 95% bootstrap intervals over sequences "
        "(see <a href='#provenance'>protocol</a>); rank 1 is best; runtime is seconds per restore call.</p>"
        f"<p class=meta id=rank-rule>Ranks: {_e((run.get('protocol') or {}).get('rank', 'not recorded'))}</p>"
        + ("<p class=warn id=indicative><b>Quick run: its ranks are indicative only</b> (a few sequences per "
           "task; most differences are within the intervals). The full split is <code>make leaderboard</code>.</p>"
           if run.get("quick") else "")
        + "</header>"
    )


def _toc(task_names: Iterable[str]) -> str:
    links = " · ".join(f"<a href='#task-{_anchor(t)}'>{_e(t)}</a>" for t in task_names)
    return (f"<nav>{links} · <a href='#failures'>failures</a> · <a href='#provenance'>provenance</a> · "
            f"<label><input type=checkbox id=all-metrics> all metrics</label> (the tables show the first "
            f"{DEFAULT_METRICS} by default)</nav>")


def _task_section(name: str, info: dict, agg: pd.DataFrame, examples: list[dict], root: Path, out: Path,
                  diff: pd.DataFrame | None = None, sizes: pd.DataFrame | None = None) -> str:
    parts = [f"<section class=task id='task-{_anchor(name)}'><h2>{_e(name)}</h2>"]
    params = info.get("params", {})
    parts.append(
        "<p class=meta>"
        f"{_e(info.get('size', '?'))} test samples · seed {_e(info.get('seed', '?'))} · input {_e(info.get('input_kind', '?'))}"
        f" · dataset <code>{_e(str(info.get('dataset_hash', '?'))[:16])}</code>"
        f" · params <code>{_e(json.dumps(params, sort_keys=True))}</code></p>"
    )
    if not len(agg):
        parts.append("<p>No scores for this task.</p></section>")
        return "\n".join(parts)
    metrics = list(info.get("metrics") or dict.fromkeys(agg["metric"]))
    ns = [n for n in dict.fromkeys(agg["condition"].tolist())]
    axis = info.get("axis") or "views"  # the task protocol's axis name (saved in run.json)
    labels = info.get("condition_labels")  # categories (snow's size classes), not counts
    if any(not _isnan(n) for n in ns):
        ns = sorted(int(n) for n in ns if not _isnan(n))
        options = "".join(
            f"<option value='{n}'{' selected' if n == ns[-1] else ''}>{_e(_cond_text(axis, n, labels))}</option>"
            for n in ns
        )
        chooser = axis.capitalize() if labels else f"Number of input {axis}"
        parts.append(f"<p><label>{_e(chooser)}: <select class=nsel data-task='{_e(_anchor(name))}'>"
                     f"{options}</select></label></p>")
        for n in ns:
            sub = agg[agg["condition"] == n]
            parts.append(_table(f"t-{_anchor(name)}-n{n}", sub, metrics, hidden=n != ns[-1],
                                data_task=_anchor(name), data_n=str(n), axis=axis,
                                caption=_cond_text(axis, n, labels)))
        parts.append(f"<h3>Metrics {'by ' + axis if labels else 'against the number of ' + axis}</h3>"
                     "<div class=plots>")
        for metric in metrics:
            png = _plot_metric(name, metric, agg[agg["metric"] == metric], out / "plots", axis=axis, labels=labels)
            parts.append(f"<figure><img src='plots/{_e(png)}' alt='{_e(metric)} against {_e(axis)} for {_e(name)}'>"
                         f"<figcaption>{_e(metric)} (mean, {'bars' if labels else 'shaded'}: 95% CI)</figcaption></figure>")
        parts.append("</div>")
    else:
        parts.append(_table(f"t-{_anchor(name)}", agg, metrics, hidden=False, data_task=_anchor(name), data_n=""))
    if diff is not None and len(diff):
        parts.append(_differences(name, diff, metrics, sizes, axis=axis, labels=labels))
    if examples:
        parts.append("<h3>Examples</h3>")
        for ex in examples:
            parts.append(_example(ex, root, out))
    parts.append("</section>")
    return "\n".join(parts)


def _table(table_id: str, agg: pd.DataFrame, metrics: list[str], *, hidden: bool, data_task: str, data_n: str,
           axis: str = "views", caption: str | None = None) -> str:
    by_method: dict[str, dict[str, dict]] = {}
    for rec in agg.to_dict("records"):
        by_method.setdefault(rec["method"], {})[rec["metric"]] = rec
    # Row order: the saved rank of the first metric (unranked last), then its mean within a rank group, then name.
    first = metrics[0]

    def order(m: str) -> tuple:
        rec = by_method[m].get(first, {})
        r = rec.get("rank")
        if _isnan(r):
            return (1, 0, 0.0, m)
        mean = float(rec["mean"])
        return (0, int(r), -mean if rec.get("higher_is_better", True) else mean, m)

    # Metrics after the first DEFAULT_METRICS are hidden until "all metrics" is ticked (class more).
    more = {m: " more" if i >= DEFAULT_METRICS else "" for i, m in enumerate(metrics)}
    head = ["<th data-type=text>Method</th>"]
    for metric in metrics:
        recs = [r for r in by_method.values() if metric in r]
        hib = bool(recs[0][metric]["higher_is_better"]) if recs else True
        arrow = "↑" if hib else "↓"
        head.append(f"<th data-type=num class='metric{more[metric]}' title='{'higher' if hib else 'lower'} is better'>"
                    f"{_e(metric)} {arrow}</th>")
        head.append(f"<th data-type=num class='rank{more[metric]}'>rank</th>")
    head.append("<th data-type=num>runtime / call</th><th data-type=num>failed calls</th>")
    rows = []
    for method in sorted(by_method, key=order):
        recs = by_method[method]
        any_rec = next(iter(recs.values()))
        cls = " class=variant" if any_rec.get("variant") else ""
        cells = [f"<td data-sort='{_e(method)}'{cls}>{_e(method)}</td>"]
        for metric in metrics:
            r = recs.get(metric)
            if r is None or _isnan(r["mean"]):
                if r is not None and not _isnan(r.get("n_not_applicable")) and int(r["n_not_applicable"]) > 0 \
                        and (_isnan(r.get("n_failed")) or int(r["n_failed"]) == 0):
                    cells.append(f"<td data-sort='' class='na{more[metric]}' title='the method declares it cannot "
                                 f"take this call'>not applicable</td><td data-sort='' class='rank{more[metric]}'>–</td>")
                    continue
                cells.append(f"<td data-sort='' class='failed{more[metric]}'>failed</td>"
                             f"<td data-sort='' class='rank{more[metric]}'>–</td>")
                continue
            cells.append(
                f"<td data-sort='{_e(repr(float(r['mean'])))}' class='metric{more[metric]}'>{_e(_fmt(r['mean']))}"
                f"<br><span class=ci>[{_e(_fmt(r['ci_low']))}, {_e(_fmt(r['ci_high']))}]</span></td>"
                f"<td data-sort='{_e(r['rank'])}' class='rank{more[metric]}'>{_e(_rank_label(r))}</td>"
            )
        runtime = any_rec.get("runtime_s")
        failed = any_rec.get("n_failed", 0)
        cells.append(f"<td data-sort='{'' if _isnan(runtime) else _e(repr(float(runtime)))}'>{_e(_fmt_time(runtime))}</td>")
        fcls = " class=failed" if not _isnan(failed) and int(failed) > 0 else ""
        cells.append(f"<td data-sort='{_e(failed)}'{fcls}>{_e(failed)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    n_samples = agg["n_samples"].max() if len(agg) else 0
    what = caption if caption is not None else f"{data_n} input {axis}"
    caption = f"{_e(what)} · " if data_n else ""
    caption += f"{_e(n_samples)} test sequences"
    return (
        f"<div class=scroll><table class=board id='{_e(table_id)}' data-task='{_e(data_task)}' data-n='{_e(data_n)}'"
        f"{' hidden' if hidden else ''}><caption>{caption}</caption><thead><tr>{''.join(head)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _rank_label(rec: dict) -> str:
    """The saved rank group label ("1="); the bare rank in results written before rank groups."""
    label = rec.get("rank_label")
    return str(rec["rank"]) if _isnan(label) or label == "" else str(label)


def _differences(task: str, diff: pd.DataFrame, metrics: list[str], sizes: pd.DataFrame | None, *,
                 axis: str, labels: dict | None = None) -> str:
    """The task's primary comparisons (method − reference, paired over sequences), one row per (comparison, n)."""
    metrics = [m for m in metrics if m in set(diff["metric"])]
    by_row: dict[tuple, dict[str, dict]] = {}
    order: dict[str, int] = {}
    for rec in diff.to_dict("records"):
        n = None if _isnan(rec["condition"]) else int(rec["condition"])
        label = str(rec.get("comparison") or "best learned − best classical")  # results before issue 25
        order.setdefault(label, len(order))
        by_row.setdefault((label, rec["method"], rec["reference"], n), {})[rec["metric"]] = rec
    has_n = any(k[3] is not None for k in by_row)
    primary = str(diff["primary_metric"].iloc[0])
    head = ["<th data-type=text>Comparison</th>"]
    if has_n:
        head.append(f"<th data-type=num>{_e(axis)}</th>")
    head.append("<th data-type=text>method</th><th data-type=text>reference</th>")
    for metric in metrics:
        hib = bool(next(r[metric] for r in by_row.values() if metric in r)["higher_is_better"])
        head.append(f"<th data-type=num title='method minus reference; {'higher' if hib else 'lower'} is better'>"
                    f"Δ {_e(metric)} {'↑' if hib else '↓'}</th>")
    head.append("<th data-type=num>sequences</th>")
    rows = []
    for (label, method, reference, n), recs in sorted(
            by_row.items(), key=lambda kv: (order[kv[0][0]], -1 if kv[0][3] is None else kv[0][3])):
        any_rec = next(iter(recs.values()))
        cells = [f"<td data-sort='{_e(label)}'>{_e(label)}</td>"]
        if has_n:
            shown = "" if n is None else (labels or {}).get(str(n), n)
            cells.append(f"<td data-sort='{'' if n is None else n}'>{_e(shown)}</td>")
        cells.append(f"<td data-sort='{_e(method)}'>{_e(method)}</td>"
                     f"<td data-sort='{_e(reference)}' class=ref>{_e(reference)}</td>")
        for metric in metrics:
            r = recs.get(metric)
            if r is None or _isnan(r["mean_diff"]):
                cells.append("<td data-sort=''>–</td>")
                continue
            better = (float(r["ci_low"]) > 0) if r["higher_is_better"] else (float(r["ci_high"]) < 0)
            worse = (float(r["ci_high"]) < 0) if r["higher_is_better"] else (float(r["ci_low"]) > 0)
            cls = " class=win" if better else (" class=loss" if worse else "")
            cells.append(
                f"<td data-sort='{_e(repr(float(r['mean_diff'])))}'{cls}>{_e(_fmt_signed(r['mean_diff']))}"
                f"<br><span class=ci>[{_e(_fmt_signed(r['ci_low']))}, {_e(_fmt_signed(r['ci_high']))}]</span></td>"
            )
        cells.append(f"<td data-sort='{_e(any_rec['n_samples'])}'>{_e(any_rec['n_samples'])}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    level = diff["ci_level"].iloc[0]
    resamples = diff["n_resamples"].iloc[0]
    parts = [
        "<h3>Primary comparisons</h3>",
        f"<p class=meta>Paired differences (method − reference) over the same test sequences, "
        f"{_e(int(round(float(level) * 100)))}% percentile-bootstrap interval ({_e(resamples)} resamples of the "
        f"sequences): the best learned model against the best classical method (best mean {_e(primary)} at that "
        f"{_e(axis if labels else _unit(axis, 1) + ' count')}, raw scores), then the orderings the task declares; \"best of (…)\" is the "
        "best of those methods there. Green: the interval excludes 0 in the method's favour; red: against it.</p>",
        f"<div class=scroll><table class=board id='d-{_e(_anchor(task))}'><thead><tr>{''.join(head)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>",
    ]
    if sizes is not None and len(sizes):
        for r in sizes.to_dict("records"):
            at = "" if _isnan(r["condition"]) else f" at {_cond_text(axis, int(r['condition']), labels)}"
            parts.append(
                f"<p class=meta>Split size: the widest {_e(r['metric'])} difference interval ({_e(r['method'])} − "
                f"{_e(r['reference'])}{_e(at)}) has half-width {_e(_fmt(r['half_width']))} on {_e(r['n_samples'])} "
                f"sequences; a half-width of {_e(_fmt(r['target_half_width']))} needs about "
                f"<b>{_e(r['n_needed'])}</b> sequences (half-width ∝ 1/√n).</p>"
            )
    return "\n".join(parts)


def _fmt_signed(x: Any) -> str:
    """Like :func:`_fmt` with an explicit sign."""
    if _isnan(x):
        return "–"
    return ("+" if float(x) > 0 else "") + _fmt(x)


def _unit(axis: str, n: int) -> str:
    """``"views"`` -> ``"view"`` for n = 1."""
    return axis[:-1] if n == 1 and axis.endswith("s") else axis


def _cond_text(axis: str, n: int, labels: dict | None) -> str:
    """``"3 views"`` for a count; the condition's name when the protocol names its categories."""
    return str(labels.get(str(int(n)), f"{axis} {n}")) if labels else f"{n} {_unit(axis, n)}"


def _plot_metric(task: str, metric: str, agg: pd.DataFrame, plots_dir: Path, axis: str = "views",
                 labels: dict | None = None) -> str:
    """Draw the saved means and intervals of ``metric`` against the protocol's condition: lines over a
    count axis; points with interval bars, side by side, over named categories (``labels``)."""
    import warnings

    with warnings.catch_warnings():  # matplotlib 3.9 calls pyparsing names that pyparsing 3.2+ deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

    rows = -(-agg["method"].nunique() // 4) if labels else 0  # legend rows under a category plot
    height = 3.6 + 0.16 * rows
    fig, ax = plt.subplots(figsize=(5.2, height), dpi=100)
    cats = sorted(int(c) for c in agg["condition"].dropna().unique()) if labels else []
    groups = [(m, g[g["mean"].notna()].sort_values("condition")) for m, g in agg.groupby("method", sort=True)]
    groups = [(m, g) for m, g in groups if len(g)]
    for k, (method, g) in enumerate(groups):
        mean, lo, hi = (g[c].to_numpy(float) for c in ("mean", "ci_low", "ci_high"))
        if labels:  # categories: no line between them; methods side by side within each
            x = np.array([cats.index(int(c)) for c in g["condition"]]) + 0.7 * (k + 0.5) / len(groups) - 0.35
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o", ms=3, capsize=2, label=str(method))
            continue
        x = g["condition"].astype(float).to_numpy()
        style = "--" if (g["variant"].astype(str) != "").any() else "-"
        line, = ax.plot(x, mean, style, marker="o", ms=3, label=str(method))
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
    if labels:
        ax.set_xticks(range(len(cats)), [str(labels.get(str(c), c)).replace(", ", "\n") for c in cats], fontsize=6.5)
        ax.set_xlabel(axis)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"number of input {axis}")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # no "No artists with labels" warning on empty plots
        if labels:  # at the figure's foot: points of several methods fill each category's column
            fig.legend(*ax.get_legend_handles_labels(), fontsize=6, loc="lower center", ncol=4, frameon=False,
                       bbox_to_anchor=(0.5, 0.0))
        else:
            ax.legend(fontsize=7, loc="best")
    # Fixed margins, not tight_layout: that draws the figure once more and doubled the report's time.
    bottom = (0.66 + 0.16 * rows) / height if labels else 0.13
    fig.subplots_adjust(left=0.14, right=0.97, bottom=bottom, top=0.97)
    name = _file_name(task, metric) + ".png"
    fig.savefig(plots_dir / name)
    plt.close(fig)
    return name


def _copy_image(root: Path, out: Path, rel: str) -> str:
    src = root / "examples" / rel
    dst = out / "img" / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return "img/" + rel


def _example(ex: dict, root: Path, out: Path) -> str:
    title = f"sample {ex['sample']}"
    if ex.get("condition") is not None:
        title += (f" · {ex['condition']} input view{'s' if ex['condition'] != 1 else ''} "
                  f"(views {ex.get('views', '')} of the sequence) · draw {ex['draw']}")
    inputs = [_tile(_copy_image(root, out, item["file"]), item["label"], "input", "") for item in ex["inputs"]]
    tiles = []
    for o in ex["outputs"]:
        metrics = " · ".join(f"{_e(k)} {_e(_fmt(v))}" for k, v in o.get("metrics", {}).items())
        if o.get("file"):
            tiles.append(_tile(_copy_image(root, out, o["file"]), o["method"], "output", metrics))
        elif str(o.get("error") or "").startswith("not applicable"):
            tiles.append(f"<figure class='tile output na'><div class=nofile>not applicable</div>"
                         f"<figcaption><b>{_e(o['method'])}</b><br>{_e(o['error'])}</figcaption></figure>")
        else:
            tiles.append(f"<figure class='tile output failed'><div class=nofile>failed</div>"
                         f"<figcaption><b>{_e(o['method'])}</b><br><span class=err>{_e(o.get('error', ''))}"
                         f"</span></figcaption></figure>")
    tiles.append(_tile(_copy_image(root, out, ex["target"]["file"]), ex["target"]["label"], "target", ""))
    return (f"<div class=example><h4>{_e(title)}</h4><div class=tiles>{''.join(inputs)}</div>"
            f"<div class=tiles>{''.join(tiles)}</div></div>")


def _tile(src: str, label: str, kind: str, metrics: str) -> str:
    return (f"<figure class='tile {kind}'><img src='{_e(src)}' alt='{_e(label)}' loading=eager>"
            f"<figcaption><b>{_e(label)}</b>{'<br>' + metrics if metrics else ''}</figcaption></figure>")


def _failures_section(summary: pd.DataFrame, run: dict) -> str:
    total = run.get("n_failures", 0)
    parts = [f"<section id=failures><h2>Failures</h2><p>{_e(total)} failed calls in total "
             "(each listed in <code>failures.csv</code> with sample, views and error).</p>"]
    if len(summary):
        parts.append("<table class=board id=t-failures><thead><tr><th data-type=text>task</th><th data-type=text>method</th>"
                     "<th data-type=text>stage</th><th data-type=text>views</th><th data-type=num>calls</th>"
                     "<th data-type=text>error</th></tr></thead><tbody>")
        for r in summary.to_dict("records"):
            parts.append(
                f"<tr><td>{_e(r['task'])}</td><td>{_e(r['method'])}</td><td>{_e(r['stage'])}</td>"
                f"<td>{_e('' if _isnan(r.get('condition_list')) else r.get('condition_list'))}</td>"
                f"<td data-sort='{_e(r['calls'])}'>{_e(r['calls'])}</td><td class=err>{_e(r['error'])}</td></tr>"
            )
        parts.append("</tbody></table>")
    not_applicable = run.get("not_applicable", run.get("skipped")) or []  # "skipped": results before issue 25
    if not_applicable:
        total_na = sum(int(s["calls"]) for s in not_applicable)
        parts.append(f"<p id=not-applicable>{_e(total_na)} calls not applicable (declared by the method, "
                     "e.g. <code>min_views</code>; not failures):</p><ul>")
        for s in not_applicable:
            parts.append(f"<li>{_e(s['task'])} · {_e(s['method'])} · {_e(s['condition'])} views · "
                         f"{_e(s['calls'])} calls ({_e(s['reason'])})</li>")
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _provenance_section(run: dict) -> str:
    rows = [
        ("command", run.get("command")),
        ("git sha", f"{run.get('git_sha')}" + (" (dirty: uncommitted changes)" if run.get("git_dirty") else "")),
        ("started / finished (UTC)", f"{run.get('started')} / {run.get('finished')}"),
        ("wall time", f"{run.get('wall_s')} s with {run.get('workers')} worker process(es)"),
        ("host", f"{run.get('host', {}).get('cpu')} · {run.get('host', {}).get('cpu_count')} CPUs · "
                 f"{run.get('host', {}).get('platform')}"),
        ("versions", " · ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items())),
    ]
    for name, info in (run.get("tasks") or {}).items():
        rows.append((f"dataset {name}", f"hash {info.get('dataset_hash')} · split key {info.get('split_key')} · "
                                        f"{info.get('size')} samples, seed {info.get('seed')} · "
                                        f"{info.get('wall_s')} s"))
    for k, v in (run.get("protocol") or {}).items():
        rows.append((f"protocol: {k}", v))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<section id=provenance><h2>Provenance</h2><table class=prov>{body}</table></section>"


# ---------------------------------------------------------------- page

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{css}</style></head>
<body>
{body}
<script>{js}</script>
</body></html>
"""

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#1d1d1f}
h1{margin:.2em 0}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h4{margin:.6em 0 .3em}
.meta{color:#555;margin:.2em 0}code{background:#f3f3f3;padding:0 .25em;border-radius:3px;word-break:break-all}
nav{margin:.8em 0;padding:.4em 0;border-bottom:1px solid #eee}
.scroll{overflow-x:auto}table.board{border-collapse:collapse;margin:.6em 0;min-width:50%}
table.board caption{caption-side:top;text-align:left;color:#555;padding:.2em 0}
table.board{font-size:.92em}table.board th,table.board td{border:1px solid #ddd;padding:.2em .45em;text-align:right;white-space:nowrap}
table.board th:first-child,table.board td:first-child{text-align:left}
table.board th{background:#f6f6f6;cursor:pointer;user-select:none;white-space:normal}
table.board td:first-child{white-space:normal;overflow-wrap:anywhere;min-width:7em;max-width:14em}
table.board th.asc::after{content:" ▲"}table.board th.desc::after{content:" ▼"}
table.board tbody tr:nth-child(even){background:#fafafa}
table.board .more{display:none}body.all-metrics table.board .more{display:table-cell}
td.variant{font-style:italic}.ci{color:#777;font-size:.78em;white-space:normal;display:inline-block;max-width:7em}td.rank,th.rank{color:#555;font-size:.85em}
.failed{color:#b00020}.na{color:#777;font-style:italic}.warn{background:#fff4d6;padding:.3em .6em}.err{color:#b00020;font-size:.85em;white-space:normal;word-break:break-word;text-align:left !important}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots figure{margin:0}.plots img{max-width:520px;width:100%}
.tiles{display:flex;flex-wrap:wrap;gap:.5em;align-items:flex-start;margin-bottom:.5em}
.tile{margin:0;width:150px;font-size:.78em}.tile img{width:150px;height:auto;image-rendering:pixelated;border:1px solid #ccc}
.tile.target img{border:2px solid #2a7}.tile.input img{border:1px dashed #999}
.tile .nofile{width:150px;height:150px;background:#fbe9eb;display:flex;align-items:center;justify-content:center;color:#b00020}
td.win{background:#e6f4ea}td.loss{background:#fbe9eb}td.ref{font-style:italic}
table.prov th{text-align:left;vertical-align:top;padding-right:1em;white-space:nowrap}table.prov td{word-break:break-word}
"""

_JS = r"""
(function () {
  "use strict";
  var toggle = document.getElementById("all-metrics");
  if (toggle) {
    toggle.addEventListener("change", function () { document.body.classList.toggle("all-metrics", toggle.checked); });
  }
  function sortTable(table, col, dir) {
    var th = table.tHead.rows[0].cells[col];
    var numeric = th.getAttribute("data-type") === "num";
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    function key(row) {
      var cell = row.cells[col];
      var v = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
      if (!numeric) { return v.toLowerCase(); }
      var f = parseFloat(v);
      return isNaN(f) ? null : f;
    }
    rows.sort(function (a, b) {
      var ka = key(a), kb = key(b);
      if (ka === kb) { return 0; }
      if (ka === null) { return 1; }   // missing values last, either direction
      if (kb === null) { return -1; }
      var c = ka < kb ? -1 : 1;
      return dir === "desc" ? -c : c;
    });
    rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.classList.remove("asc", "desc"); });
    th.classList.add(dir);
    table.setAttribute("data-sorted", col + ":" + dir);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.board"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        sortTable(table, col, th.classList.contains("asc") ? "desc" : "asc");
      });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("select.nsel"), function (sel) {
    function show() {
      var task = sel.getAttribute("data-task");
      Array.prototype.forEach.call(document.querySelectorAll("table.board[data-task='" + task + "']"), function (t) {
        t.hidden = t.getAttribute("data-n") !== sel.value;
      });
    }
    sel.addEventListener("change", show);
    show();
  });
  var m = /sort=([^:&]+):(\d+):(asc|desc)/.exec(decodeURIComponent(window.location.hash || ""));
  if (m) {
    var t = document.getElementById(m[1]);
    if (t && t.tHead && +m[2] < t.tHead.rows[0].cells.length) { sortTable(t, +m[2], m[3]); }
  }
  document.body.setAttribute("data-ready", "1");
  window.addEventListener("load", function () {
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } }
    document.body.setAttribute("data-images", ok + "/" + imgs.length);
  });
})();
"""
