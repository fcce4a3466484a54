"""Per-sample rows -> aggregates with bootstrap confidence intervals and ranks.

Everything the leaderboard shows is computed here and saved; the renderer
only formats it.

Confidence intervals
--------------------
For each (task, method, metric, n views) the scores are first averaged per
test *sequence* (over the 10 view draws of a multi-image task; one score per
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
"""

from __future__ import annotations

import zlib
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ._scoring import GAIN_CORRECTED

N_RESAMPLES = 1000
CI_LEVEL = 0.95
BOOTSTRAP_SEED = 20_240_517

# Directions of the suite's metrics, used when a task does not declare one.
_DEFAULT_HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "label_accuracy": True, "mean_iou": True}

AGGREGATE_COLUMNS = [
    "task", "method", "base_method", "variant", "metric", "condition", "higher_is_better",
    "mean", "ci_low", "ci_high", "std", "n_samples", "n_scores", "n_failed", "runtime_s", "rank",
    "ci_level", "n_resamples", "bootstrap_seed",
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

    Returns
    -------
    DataFrame with :data:`AGGREGATE_COLUMNS`. A (method, n) that failed on
    every sample has ``mean`` NaN, ``n_samples`` 0 and ``n_failed`` > 0.
    """
    gain_unknown = set(gain_unknown)
    # Every (task, base method, n) that was attempted, scored or failed.
    attempted = set()
    for frame in (rows, failures):
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

    groups = {}
    if len(rows):
        keyed = rows.assign(_n=rows["condition"].astype("Int64").astype(object).where(rows["condition"].notna(), None))
        for (t, m, metric, n), g in keyed.groupby(["task", "method", "metric", "_n"], dropna=False, sort=True):
            groups[(t, m, metric, None if n is None or pd.isna(n) else int(n))] = g

    out = []
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
                    "ci_level": CI_LEVEL, "n_resamples": N_RESAMPLES, "bootstrap_seed": BOOTSTRAP_SEED,
                }
                if g is None or not len(g):
                    rec.update(mean=np.nan, ci_low=np.nan, ci_high=np.nan, std=np.nan,
                               n_samples=0, n_scores=0, runtime_s=np.nan)
                else:
                    per_seq = g.groupby("sample", sort=True)["value"].mean().to_numpy(np.float64)
                    lo, hi = bootstrap_ci(per_seq, key=_key(t, label, metric, n))
                    rec.update(
                        mean=float(per_seq.mean()), ci_low=lo, ci_high=hi,
                        std=float(per_seq.std(ddof=1)) if per_seq.size > 1 else 0.0,
                        n_samples=int(per_seq.size), n_scores=int(len(g)),
                        runtime_s=float(g["runtime_s"].mean()),
                    )
                out.append(rec)
    agg = pd.DataFrame(out, columns=AGGREGATE_COLUMNS)
    if not len(agg):
        return agg
    agg["condition"] = agg["condition"].astype("Int64")
    agg["rank"] = _rank(agg)
    return agg


def _rank(agg: pd.DataFrame) -> pd.Series:
    """Competition rank (1 = best, ties share the best rank) within each
    (task, metric, n views); methods without a score get no rank."""
    rank = pd.Series(pd.NA, index=agg.index, dtype="Int64")
    for _, g in agg.groupby(["task", "metric", "condition"], dropna=False):
        scored = g[g["mean"].notna()]
        if not len(scored):
            continue
        asc = not bool(scored["higher_is_better"].iloc[0])
        rank.loc[scored.index] = scored["mean"].rank(method="min", ascending=asc).astype("int64")
    return rank
