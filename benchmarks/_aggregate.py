"""Per-sample rows -> aggregates with bootstrap confidence intervals and ranks.

Everything the leaderboard shows is computed here and saved; the renderer
only formats it.

Confidence intervals
--------------------
For each (task, method, metric, n views) the scores are first averaged per
test *sequence* (over the view draws of a multi-image task; one score per
sample otherwise), giving one value per sequence. The reported ``mean`` is the
mean of these per-sequence values; the 95% interval is the percentile
bootstrap over sequences: ``N_RESAMPLES`` resamples of the sequences with
replacement, the 2.5th and 97.5th percentiles of the resampled means.
Resampling sequences, not single draws, because the draws of one sequence
share its content and are not independent. The resampling generator is
``default_rng(SeedSequence([BOOTSTRAP_SEED, crc32(key)]))`` with ``key`` the
group's ``"task|method|metric|n"``, so every interval is reproducible and
independent of the order and number of groups. With a single sequence the
interval collapses onto the mean.

Paired differences: the primary comparisons
-------------------------------------------
Two methods scored on the same sequences share each sequence's difficulty,
which dominates the width of each one's interval (0.5-0.7 dB on bookcovers
at 50 sequences, issue 14). :func:`paired_differences` reports a task's
*primary comparisons* (issue 25): the best learned model against the best
classical method (not learned, raw score, not a gain-corrected variant,
which uses the target), both by the mean of the task's primary metric (its
first, the one the leaderboard ranks by), chosen per (task, n); and every
``(method, reference)`` pair the task declares (``Task.comparisons``: the
orderings its field's papers claim). For every metric the per-sequence
values of both methods are paired on the sequences both scored, ``d_i =
method_i - reference_i``; the reported ``mean_diff`` is the mean of ``d`` and
the 95% interval the percentile bootstrap of that mean: ``N_DIFF_RESAMPLES``
resamples of the sequence indices (the same indices for both methods, which
is what cancels the between-sequence variance), seeded by
``SeedSequence([BOOTSTRAP_SEED, crc32("task|method|reference|metric|n")])``.

Ranks
-----
Ranks are rank groups (:data:`RANK_RULE`): a method's rank is shared with
the highest-placed method above it that it cannot be told apart from by the
paired interval, so 0.004 dB apart is "1=", "1=", not 1 and 2.

:func:`estimate_split_sizes` turns the interval half-widths into the test
split size each task needs for a target half-width, assuming the half-width
shrinks as ``1 / sqrt(n)``: ``n_needed = ceil(n * (half_width / target)^2)``.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Collection, Iterable, Mapping

import numpy as np
import pandas as pd

from ._scoring import GAIN_CORRECTED

N_RESAMPLES = 1000
CI_LEVEL = 0.95
BOOTSTRAP_SEED = 20_240_517
N_DIFF_RESAMPLES = 2000
SIZING_METRIC = "psnr"
TARGET_HALF_WIDTH = 0.3  # dB of PSNR: issue 14's bar for the learned-vs-best-classical difference
SIZING_TARGETS = {"psnr": TARGET_HALF_WIDTH, "ssim": 0.005, "acc_in": 0.005}


def sizing_target(metric: str, primary: str | None = None) -> float | None:
    """The half-width a metric's comparisons are sized for: :data:`SIZING_TARGETS` by name, and a task's
    primary metric by its family (``psnr_clip`` and ``psnr_hole`` are PSNRs: 0.3 dB); else None."""
    if metric in SIZING_TARGETS:
        return SIZING_TARGETS[metric]
    if primary is not None and metric == primary:
        return SIZING_TARGETS.get(metric.split("_")[0])
    return None
"""Issue 25's bars for every primary comparison's 95% half-width, by metric (``acc_in``: roadseg's
in-mask label accuracy, its first metric); the metrics :func:`estimate_split_sizes` sizes."""

# Directions of the suite's metrics, used when a task does not declare one.
_DEFAULT_HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "label_accuracy": True, "mean_iou": True}

AGGREGATE_COLUMNS = [
    "task", "method", "base_method", "variant", "metric", "condition", "higher_is_better",
    "mean", "ci_low", "ci_high", "std", "n_samples", "n_scores", "n_failed", "n_not_applicable", "runtime_s",
    "rank", "rank_label",
    "ci_level", "n_resamples", "bootstrap_seed",
]

DIFFERENCE_COLUMNS = [
    "task", "comparison", "method", "reference", "metric", "condition", "higher_is_better", "primary_metric",
    "mean_diff", "ci_low", "ci_high", "half_width", "method_mean", "reference_mean", "n_samples",
    "target_half_width", "n_needed", "ci_level", "n_resamples", "bootstrap_seed",
]
SPLIT_SIZE_COLUMNS = [
    "task", "metric", "target_half_width", "n_samples", "half_width", "comparison", "method", "reference",
    "condition", "n_needed",
]


def direction(metric: str, declared: Mapping[str, bool]) -> bool:
    """True when a higher value of ``metric`` is better."""
    if metric in declared:
        return bool(declared[metric])
    return _DEFAULT_HIGHER_IS_BETTER.get(metric, False)


def bootstrap_ci(values: np.ndarray, *, key: str, n_resamples: int = N_RESAMPLES, level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (one per sequence).

    Parameters
    ----------
    values : ndarray, shape (S,)
        Per-sequence scores.
    key : str
        Names the group; seeds the resampling (see module docstring).

    Returns
    -------
    (low, high); (nan, nan) for no values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    if values.size == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(np.random.SeedSequence([BOOTSTRAP_SEED, zlib.crc32(key.encode())]))
    idx = rng.integers(0, values.size, size=(n_resamples, values.size))
    means = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def _key(task: str, method: str, metric: str, n) -> str:
    return f"{task}|{method}|{metric}|{'' if n is None or pd.isna(n) else int(n)}"


def aggregate(
    rows: pd.DataFrame,
    failures: pd.DataFrame,
    *,
    metrics_by_task: Mapping[str, Iterable[str]],
    directions: Mapping[str, Mapping[str, bool]],
    gain_unknown: Iterable[tuple[str, str]] = (),
    not_applicable: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Aggregate per-sample rows into one row per (task, method, metric, n).

    Parameters
    ----------
    rows : DataFrame
        The harness's per-sample rows (columns task, method, base_method,
        variant, metric, value, sample, condition, runtime_s ...).
    failures : DataFrame
        Failed calls (columns task, method, base_method, condition, stage ...).
    metrics_by_task : mapping
        Metric names of every task, to list methods that failed everywhere.
    directions : mapping
        ``Task.higher_is_better`` of every task.
    gain_unknown : iterable of (task, base method)
        Methods that also get a gain-corrected score.
    not_applicable : DataFrame, optional
        Calls a method declared it cannot take (columns task, base_method,
        condition ...; :func:`generators.task.not_applicable`).

    Returns
    -------
    DataFrame with :data:`AGGREGATE_COLUMNS`. A (method, n) that failed on
    every sample has ``mean`` NaN, ``n_samples`` 0 and ``n_failed`` > 0; one
    that is not applicable has ``mean`` NaN and ``n_not_applicable`` > 0
    (neither is ranked). A metric that is undefined on a sample (NaN: in-mask
    accuracy of an empty mask) leaves that sample out of the metric's mean,
    interval and ranks; ``n_samples`` counts the samples it is defined on.
    """
    gain_unknown = set(gain_unknown)
    not_applicable = not_applicable if not_applicable is not None else pd.DataFrame()
    # Every (task, base method, n) that was attempted: scored, failed or not applicable.
    attempted = set()
    n_not_applicable: dict[tuple, int] = {}
    if len(not_applicable):
        for t, b, n in not_applicable[["task", "base_method", "condition"]].itertuples(index=False):
            k = (t, b, None if pd.isna(n) else int(n))
            n_not_applicable[k] = n_not_applicable.get(k, 0) + 1
    for frame in (rows, failures, not_applicable):
        if len(frame):
            for t, b, n in frame[["task", "base_method", "condition"]].itertuples(index=False):
                attempted.add((t, b, None if pd.isna(n) else int(n)))

    restore_failed = {}
    metric_failed = {}
    if len(failures):
        for rec in failures.to_dict("records"):
            n = None if pd.isna(rec["condition"]) else int(rec["condition"])
            if rec["stage"] == "restore":
                k = (rec["task"], rec["base_method"], n)
                restore_failed[k] = restore_failed.get(k, 0) + 1
            else:
                metric = rec["stage"].removeprefix("metric ")
                k = (rec["task"], rec["method"], metric, n)
                metric_failed[k] = metric_failed.get(k, 0) + 1

    groups, means = {}, {}
    if len(rows):
        keyed = rows.assign(_n=rows["condition"].astype("Int64").astype(object).where(rows["condition"].notna(), None))
        for (t, m, metric, n), g in keyed.groupby(["task", "method", "metric", "_n"], dropna=False, sort=True):
            groups[(t, m, metric, None if n is None or pd.isna(n) else int(n))] = g
        means = _per_sequence_means(keyed)  # one groupby, not one per group

    out = []
    per_seq_by_label: dict[tuple, pd.Series] = {}
    for t, b, n in sorted(attempted, key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2])):
        labels = [(b, "")]
        if (t, b) in gain_unknown:
            labels.append((f"{b} ({GAIN_CORRECTED})", GAIN_CORRECTED))
        for label, variant in labels:
            for metric in metrics_by_task[t]:
                g = groups.get((t, label, metric, n))
                hib = direction(metric, directions.get(t, {}))
                rec = {
                    "task": t, "method": label, "base_method": b, "variant": variant, "metric": metric,
                    "condition": n, "higher_is_better": hib,
                    "n_failed": restore_failed.get((t, b, n), 0) + metric_failed.get((t, label, metric, n), 0),
                    "n_not_applicable": n_not_applicable.get((t, b, n), 0),
                    "ci_level": CI_LEVEL, "n_resamples": N_RESAMPLES, "bootstrap_seed": BOOTSTRAP_SEED,
                }
                seq_means = means.get((t, label, metric, n), pd.Series(dtype=np.float64))
                if not len(seq_means):
                    rec.update(mean=np.nan, ci_low=np.nan, ci_high=np.nan, std=np.nan,
                               n_samples=0, n_scores=0, runtime_s=np.nan)
                else:
                    per_seq_by_label[(t, label, metric, n)] = seq_means
                    per_seq = seq_means.to_numpy(np.float64)
                    lo, hi = bootstrap_ci(per_seq, key=_key(t, label, metric, n))
                    rec.update(
                        mean=float(per_seq.mean()), ci_low=lo, ci_high=hi,
                        std=float(per_seq.std(ddof=1)) if per_seq.size > 1 else 0.0,
                        n_samples=int(per_seq.size), n_scores=int(g["value"].notna().sum()),
                        runtime_s=float(g["runtime_s"].mean()),
                    )
                out.append(rec)
    agg = pd.DataFrame(out, columns=AGGREGATE_COLUMNS)
    if not len(agg):
        return agg
    agg["condition"] = agg["condition"].astype("Int64")
    agg["rank"], agg["rank_label"] = _rank_groups(agg, per_seq_by_label)
    return agg


def _per_sequence_means(keyed: pd.DataFrame) -> dict[tuple, pd.Series]:
    """Per-sample mean of the values (over draws) of every (task, method, metric, n) group of ``keyed`` (n in
    column ``_n``), for the samples where the metric is defined (not NaN), in one groupby:
    ``{(task, method, metric, n or None): per-sample means}``; groups with no defined value are absent."""
    by = ["task", "method", "metric", "_n"]
    defined = keyed[keyed["value"].notna()]
    out = {}
    for (t, m, metric, n), s in defined.groupby(by + ["sample"], dropna=False, sort=True)["value"].mean().groupby(
            level=[0, 1, 2, 3], dropna=False, sort=False):
        out[(t, m, metric, None if n is None or pd.isna(n) else int(n))] = s.droplevel([0, 1, 2, 3])
    return out


RANK_RULE = (
    "Rank groups: the methods are placed by mean, best first; walking down, a method shares the rank of the "
    "highest-placed method above it whose paired difference to it (per-sequence values on the sequences both "
    "scored, 95% percentile bootstrap) has an interval that includes 0, else it takes its own place. Ties do "
    "not chain: a method tied only with the second of a group takes rank 2, not 1. A shared rank reads '1='."
)


def _rank_groups(agg: pd.DataFrame, per_seq: Mapping[tuple, pd.Series]) -> tuple[pd.Series, pd.Series]:
    """Rank and rank label (``"1="`` when shared) within each (task, metric, n), by :data:`RANK_RULE`.

    ``per_seq`` maps ``(task, method label, metric, n)`` to the per-sequence
    means; methods without a score get no rank. The paired intervals come
    from :func:`paired_bootstrap_difference` seeded by
    ``"rank|task|method|other|metric|n"``.
    """
    rank = pd.Series(pd.NA, index=agg.index, dtype="Int64")
    label = pd.Series("", index=agg.index, dtype=object)
    for (t, metric, n), g in agg.groupby(["task", "metric", "condition"], dropna=False, sort=False):
        n = None if pd.isna(n) else int(n)
        scored = g[g["mean"].notna()]
        if not len(scored):
            continue
        higher = bool(scored["higher_is_better"].iloc[0])
        placed = scored.assign(_key=-scored["mean"] if higher else scored["mean"]).sort_values(
            ["_key", "method"], kind="stable")
        methods = list(placed["method"])
        ranks: list[int] = []
        for i, m in enumerate(methods):
            ranks.append(i + 1)
            for j in range(i):
                if _tied(per_seq.get((t, m, metric, n)), per_seq.get((t, methods[j], metric, n)),
                         key=f"rank|{t}|{m}|{methods[j]}|{metric}|{'' if n is None else n}"):
                    ranks[i] = j + 1
                    break
        shared = {r for r in ranks if ranks.count(r) > 1}
        rank.loc[placed.index] = ranks
        label.loc[placed.index] = [f"{r}=" if r in shared else str(r) for r in ranks]
    return rank, label


def _tied(a: pd.Series | None, b: pd.Series | None, *, key: str) -> bool:
    """True when the paired interval of ``a - b`` over the sequences both scored includes 0."""
    if a is None or b is None:
        return False
    if a.index.equals(b.index):  # the usual case: both scored every sequence
        va, vb = a.to_numpy(np.float64), b.to_numpy(np.float64)
    else:
        common = a.index.intersection(b.index)
        va, vb = a.loc[common].to_numpy(np.float64), b.loc[common].to_numpy(np.float64)
    if not len(va):
        return False
    _, lo, hi = paired_bootstrap_difference(va, vb, key=key)
    return bool(lo <= 0.0 <= hi)


# ---------------------------------------------------------------- paired differences


def paired_bootstrap_difference(
    values: np.ndarray,
    reference: np.ndarray,
    *,
    key: str,
    n_resamples: int = N_DIFF_RESAMPLES,
    level: float = CI_LEVEL,
) -> tuple[float, float, float]:
    """Mean of ``values - reference`` and its paired percentile-bootstrap interval.

    Parameters
    ----------
    values, reference : ndarray, shape (S,)
        Per-sequence scores of two methods, element ``i`` of both on sequence ``i``.
    key : str
        Names the comparison; seeds the resampling (see module docstring).

    Returns
    -------
    (mean, low, high); NaNs for no sequences, the mean three times for one.
    """
    values = np.asarray(values, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if values.shape != reference.shape or values.ndim != 1:
        raise ValueError(f"paired values need equal 1-D shapes, got {values.shape} and {reference.shape}")
    # Resampling the per-sequence differences resamples the same sequences for both methods.
    d = values - reference
    mean = float(d.mean()) if d.size else float("nan")
    return (mean, *bootstrap_ci(d, key=key, n_resamples=n_resamples, level=level))


def _same_condition(col: pd.Series, n) -> pd.Series:
    return col.isna() if n is None else col.eq(n).fillna(False).astype(bool)


def best_reference(agg: pd.DataFrame, *, task: str, condition, metric: str, learned: Collection[str],
                   oracles: Collection[str] = ()) -> str | None:
    """The classical method with the best mean ``metric`` on (``task``, ``condition``).

    Classical: not in ``learned``, not an oracle (``oracles``: it reads
    ground truth), raw score (no variant). Ties go to the alphabetically
    first name; None when no classical method has a score.
    """
    a = agg[(agg["task"] == task) & (agg["metric"] == metric) & _same_condition(agg["condition"], condition)]
    a = a[(a["variant"].fillna("") == "") & ~a["base_method"].isin(set(learned) | set(oracles)) & a["mean"].notna()]
    return _best(a)


def _best(a: pd.DataFrame) -> str | None:
    """The method of the best mean among aggregate rows of one metric (ties: first name); None if empty."""
    a = a[a["mean"].notna()]
    if not len(a):
        return None
    higher = bool(a["higher_is_better"].iloc[0])
    a = a.sort_values("method", kind="stable")
    return str(a.loc[a["mean"].idxmax() if higher else a["mean"].idxmin(), "method"])


BEST_LEARNED_VS_CLASSICAL = "best learned − best classical"
"""``comparison`` label of the comparison every task gets."""


def comparison_label(method, reference) -> str:
    """``"a − b"``; a side that is a tuple of names reads ``"best of (x, y)"``."""
    def side(x) -> str:
        return x if isinstance(x, str) else f"best of ({', '.join(x)})"

    return f"{side(method)} − {side(reference)}"


def comparison_names(comparisons: Iterable) -> list[str]:
    """Every method name a task's declared comparisons mention, in order."""
    names: dict[str, None] = {}
    for pair in comparisons:
        if len(pair) != 2:
            raise ValueError(f"a comparison is a (method, reference) pair, got {pair!r}")
        for side in pair:
            for name in ((side,) if isinstance(side, str) else tuple(side)):
                names[name] = None
    return list(names)


def _resolve(side, scored: pd.DataFrame) -> str | None:
    """A comparison side on one (task, condition): the named method if it has a score, or the best
    of a tuple of names; ``scored`` is the primary metric's raw aggregate rows there."""
    names = (side,) if isinstance(side, str) else tuple(side)
    return _best(scored[scored["method"].isin(names)])


def paired_differences(
    rows: pd.DataFrame,
    agg: pd.DataFrame,
    *,
    learned: Collection[str],
    primary: Mapping[str, str],
    comparisons: Mapping[str, Iterable] | None = None,
    n_resamples: int = N_DIFF_RESAMPLES,
    oracles: Collection[str] = (),
) -> pd.DataFrame:
    """The primary comparisons of every task, per (task, n, metric), paired over sequences.

    Per (task, n): the best learned model (best mean of the primary metric)
    against the best classical method (:func:`best_reference`), then every
    pair the task declares (``Task.comparisons``, see
    :class:`generators.task.Task`), each side resolved at that n; a pair
    whose method was not scored there is left out, and a pair that resolves
    to the same two methods as an earlier one is reported once with both
    labels.

    Parameters
    ----------
    rows : DataFrame
        The harness's per-call rows (task, method, variant, metric, value, sample, condition).
    agg : DataFrame
        :func:`aggregate` of ``rows``; picks the best methods.
    learned : collection of str
        Names of the learned methods.
    primary : mapping
        Task name -> the metric that picks the best methods.
    comparisons : mapping, optional
        Task name -> its declared ``(method, reference)`` pairs.
    oracles : collection of str
        Methods that read ground truth (:func:`generators.task.is_oracle`):
        never the best classical reference (a declared pair may still name one).

    Returns
    -------
    DataFrame with :data:`DIFFERENCE_COLUMNS`, one row per (task, n,
    comparison, metric), ``mean_diff`` = method - reference (see module
    docstring); ``n_needed`` for the metrics :func:`sizing_target` gives a target.
    """
    learned, comparisons = set(learned), dict(comparisons or {})
    out = []
    if not len(rows) or not len(agg):
        return _difference_frame(out)
    raw = rows[rows["variant"].fillna("") == ""]
    raw = raw.assign(_n=raw["condition"].astype("Int64").astype(object).where(raw["condition"].notna(), None))
    per_seq = _per_sequence_means(raw)
    conditions = agg[["task", "condition"]].drop_duplicates()
    for t, n in conditions.itertuples(index=False):
        n = None if pd.isna(n) else int(n)
        if t not in primary:
            continue
        here = agg[(agg["task"] == t) & _same_condition(agg["condition"], n) & (agg["variant"].fillna("") == "")]
        scored = here[(here["metric"] == primary[t]) & here["mean"].notna()]
        specs: dict[tuple[str, str], list[str]] = {}
        best_model = _best(scored[scored["base_method"].isin(learned)])
        ref = best_reference(agg, task=t, condition=n, metric=primary[t], learned=learned, oracles=oracles)
        if best_model is not None and ref is not None:
            specs[(best_model, ref)] = [BEST_LEARNED_VS_CLASSICAL]
        for a, b in comparisons.get(t, ()):
            pair = (_resolve(a, scored), _resolve(b, scored))
            if None not in pair and pair[0] != pair[1]:
                specs.setdefault(pair, []).append(comparison_label(a, b))
        for (model, ref), labels in specs.items():
            for rec in here[here["method"] == model].to_dict("records"):
                metric = rec["metric"]
                a, b = per_seq.get((t, model, metric, n)), per_seq.get((t, ref, metric, n))
                common = a.index.intersection(b.index) if a is not None and b is not None else pd.Index([])
                va = a.loc[common].to_numpy(np.float64) if len(common) else np.zeros(0)
                vb = b.loc[common].to_numpy(np.float64) if len(common) else np.zeros(0)
                key = f"{t}|{model}|{ref}|{metric}|{'' if n is None else n}"
                mean, lo, hi = paired_bootstrap_difference(va, vb, key=key, n_resamples=n_resamples)
                half = (hi - lo) / 2.0
                target = sizing_target(metric, primary[t])
                out.append({
                    "task": t, "comparison": "; ".join(labels), "method": model, "reference": ref,
                    "metric": metric, "condition": n,
                    "higher_is_better": bool(rec["higher_is_better"]), "primary_metric": primary[t],
                    "mean_diff": mean, "ci_low": lo, "ci_high": hi, "half_width": half,
                    "method_mean": float(va.mean()) if va.size else np.nan,
                    "reference_mean": float(vb.mean()) if vb.size else np.nan,
                    "n_samples": int(len(common)),
                    "target_half_width": np.nan if target is None else float(target),
                    "n_needed": _n_needed(len(common), half, target),
                    "ci_level": CI_LEVEL, "n_resamples": n_resamples, "bootstrap_seed": BOOTSTRAP_SEED,
                })
    return _difference_frame(out)


def _difference_frame(records: list[dict]) -> pd.DataFrame:
    diff = pd.DataFrame(records, columns=DIFFERENCE_COLUMNS)
    diff["condition"] = diff["condition"].astype("Int64")
    diff["n_needed"] = diff["n_needed"].astype("Int64")
    return diff


def _n_needed(n: int, half_width: float, target: float | None):
    """``ceil(n * (half_width / target)^2)``, at least 2; None without a target or a measured spread."""
    if target is None or n < 2 or not np.isfinite(half_width):
        return None
    return max(2, int(np.ceil(n * (half_width / target) ** 2)))


def estimate_split_sizes(
    differences: pd.DataFrame | str | os.PathLike,
    *,
    metric: str | None = None,
    target_half_width: float | None = None,
) -> pd.DataFrame:
    """Test-split size per task for primary-comparison intervals of a target half-width.

    The half-width of a bootstrap interval of a mean shrinks as ``1 / sqrt(n)``,
    so a difference measured on ``n`` sequences with half-width ``h`` needs
    ``ceil(n * (h / target)^2)`` sequences; a task needs the most any of its
    primary comparisons (:func:`paired_differences`) at any n needs. A
    projection from one split, not a guarantee: the spread of the
    per-sequence differences is itself estimated from ``n`` sequences.

    Parameters
    ----------
    differences : DataFrame or path
        :func:`paired_differences` output, or a results directory / a
        ``differences.parquet`` or ``.csv`` file written by ``benchmarks.run``.
    metric : str, optional
        The one metric to size; default: every metric :func:`sizing_target` sizes
        (PSNR when only ``target_half_width`` is given).
    target_half_width : float, optional
        In the metric's units; default the metric's :data:`SIZING_TARGETS` entry.

    Returns
    -------
    DataFrame with :data:`SPLIT_SIZE_COLUMNS`, one row per (task, sized
    metric): the current size, the widest half-width, the comparison, (method,
    reference, n) it belongs to and ``n_needed``.
    """
    if metric is None and target_half_width is not None:
        metric = SIZING_METRIC
    fixed = None if metric is None else {metric: target_half_width or SIZING_TARGETS.get(metric)}
    for m, target in (fixed or {}).items():
        if target is None or target <= 0:
            raise ValueError(f"target_half_width for {m} must be > 0, got {target}")
    diff = read_differences(differences) if not isinstance(differences, pd.DataFrame) else differences
    out = []
    if fixed is not None:
        target_of = diff["metric"].map(fixed)
    else:  # every sized metric: SIZING_TARGETS by name, and each task's primary metric by its family
        primary = diff["primary_metric"] if "primary_metric" in diff else pd.Series(None, index=diff.index)
        target_of = pd.Series([sizing_target(m, p if isinstance(p, str) else None)
                               for m, p in zip(diff["metric"], primary)], index=diff.index, dtype=float)
    d = diff.assign(_target=target_of)
    d = d[d["_target"].notna() & d["half_width"].notna() & (d["n_samples"] > 1)]
    for (task, m), g in d.groupby(["task", "metric"], sort=True):
        target = float(g["_target"].iloc[0])
        need = np.ceil(g["n_samples"].to_numpy(float) * (g["half_width"].to_numpy(float) / target) ** 2)
        worst = int(np.argmax(need))
        w = g.iloc[worst]
        out.append({
            "task": task, "metric": m, "target_half_width": float(target),
            "n_samples": int(g["n_samples"].max()), "half_width": float(w["half_width"]),
            "comparison": str(w.get("comparison", "")),
            "method": str(w["method"]), "reference": str(w["reference"]),
            "condition": None if pd.isna(w["condition"]) else int(w["condition"]),
            "n_needed": max(2, int(need[worst])),
        })
    sizes = pd.DataFrame(out, columns=SPLIT_SIZE_COLUMNS)
    sizes["condition"] = sizes["condition"].astype("Int64")
    return sizes


def read_differences(path: str | os.PathLike) -> pd.DataFrame:
    """The differences table of a results directory, or from a differences file."""
    p = Path(path)
    if p.is_dir():
        p = p / "differences.parquet" if (p / "differences.parquet").is_file() else p / "differences.csv"
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no differences.parquet or differences.csv (written by benchmarks.run)")
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    return pd.read_csv(p, keep_default_na=False, na_values=[""])


def format_split_sizes(sizes: pd.DataFrame, conditions: Mapping[str, tuple] | None = None) -> list[str]:
    """One line per (task, sized metric) for the run summary.

    ``conditions``: per task ``(axis, labels)``, the protocol's condition axis (e.g. "views") and its
    ``condition_labels`` (None for counts), so a condition reads "at 4 views" or "at size class small"
    rather than a bare id. Sizes of a conditioned comparison are per condition.
    """
    lines = []
    conditions = conditions or {}
    for r in sizes.to_dict("records"):
        unit = "samples"
        if r["condition"] is None or pd.isna(r["condition"]):
            at = ""
        else:
            axis, labels = conditions.get(r["task"], (None, None))
            cid = int(r["condition"])
            if labels and cid in labels:
                at = f" at {axis + ' ' if axis else ''}{labels[cid]}"
            else:
                at = f" at {cid} {axis}" if axis else f" at condition {cid}"
            unit = "samples of that condition"
        lines.append(
            f"{r['task']}: {r['metric']} of {r['method']} - {r['reference']}{at}: 95% CI half-width "
            f"{r['half_width']:.3g} on {r['n_samples']} {unit}; half-width {r['target_half_width']:g} "
            f"needs ~{r['n_needed']} {unit}"
        )
    return lines
