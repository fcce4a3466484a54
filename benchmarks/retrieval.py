"""Retrieval figures of the coverrefs task: recall@1, recall@5 and mAP of the SIFT bag of words
with and without k-NN re-ranking, on the task's test split (or its quick part).

    python -m benchmarks.retrieval [--quick] [--n N] [--out results.json]

Samples are made exactly as the harness makes the test split
(``sample_rng(task.test_seed, i)``, ``benchmarks.registry`` parameters).
Queries without a true reference (condition m0) have no relevant item and
are left out of the means (see :func:`generators.metrics.recall_at_k`).
Intervals are 95 % percentile bootstraps over queries (2,000 resamples, seed 0).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

__all__ = ["retrieval_rows", "summarise", "main"]


def retrieval_rows(task, n: int) -> list[dict]:
    """One row per query with M >= 1: condition and each score, for BoW alone and re-ranked."""
    from baselines.retrieval import rank_gallery
    from generators.metrics import average_precision, recall_at_k
    from generators.task import sample_rng

    rows = []
    for i in range(n):
        s = task.make_sample(sample_rng(task.test_seed, i))
        rel = s.extras["is_reference"]
        if not rel.any():
            continue
        bow = rank_gallery(s.inputs["image"], s.inputs["modal"], s.inputs["gallery"], rerank=0).scores
        rer = rank_gallery(s.inputs["image"], s.inputs["modal"], s.inputs["gallery"]).scores
        for name, sc in (("bow", bow), ("bow+knn", rer)):
            rows.append({"sample": i, "condition": s.params["condition_code"], "ranker": name,
                         "recall@1": recall_at_k(rel, sc, k=1), "recall@5": recall_at_k(rel, sc, k=5),
                         "mAP": average_precision(rel, sc)})
    return rows


def _ci(v: np.ndarray) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    means = v[rng.integers(0, len(v), size=(2000, len(v)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for ranker in sorted({r["ranker"] for r in rows}):
        for cond in [None, *sorted({r["condition"] for r in rows})]:
            sel = [r for r in rows if r["ranker"] == ranker and (cond is None or r["condition"] == cond)]
            rec = {"ranker": ranker, "condition": "all" if cond is None else cond, "n": len(sel)}
            for k in ("recall@1", "recall@5", "mAP"):
                v = np.array([r[k] for r in sel], np.float64)
                rec[k] = float(v.mean())
                rec[k + "_ci"] = _ci(v)
            out.append(rec)
    return out


def main(argv: list[str] | None = None) -> int:
    from benchmarks.registry import TASKS

    p = argparse.ArgumentParser(prog="python -m benchmarks.retrieval", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the quick split (task.quick_size queries)")
    p.add_argument("--n", type=int, default=None, help="the first N queries of the test split")
    p.add_argument("--out", default=None, help="also write the summary as JSON here")
    args = p.parse_args(argv)
    task = TASKS["coverrefs"]
    n = args.n if args.n is not None else (task.quick_size if args.quick else task.test_size)
    if not 1 <= n <= task.test_size:
        print(f"error: --n must lie in 1..{task.test_size}", file=sys.stderr)
        return 2
    summary = summarise(retrieval_rows(task, n))
    print(f"{'ranker':8} {'cond':>5} {'n':>4}  {'recall@1':>20}  {'recall@5':>20}  {'mAP':>20}")
    for r in summary:
        cells = "  ".join(f"{r[k]:.3f} [{r[k + '_ci'][0]:.3f}, {r[k + '_ci'][1]:.3f}]" for k in ("recall@1", "recall@5", "mAP"))
        print(f"{r['ranker']:8} {r['condition']!s:>5} {r['n']:>4}  {cells}")
    if args.out:
        from pathlib import Path

        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=1))
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
