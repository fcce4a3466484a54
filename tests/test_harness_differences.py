"""Learned model vs best classical method: paired bootstrap differences and split sizing (issue 14).

Synthetic per-call rows with a known structure: every sequence has its own
difficulty (a large spread shared by all methods), a classical method adds
small noise to it, a learned model is a known offset above that classical
method. The paired interval must find the offset and be far narrower than
the methods' own intervals, and shrink as 1/sqrt(n).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import _aggregate
from tests.test_harness import HalfGain, LearnedMedian, MeanViews, run_toy, toy_tasks
from tests.tolerances import BOOTSTRAP_HALF_WIDTH_RTOL, FLOAT64_RTOL, SPLIT_SIZE_ATOL

OFFSET = 0.5  # dB: learned model above the best classical method
SPREAD = 3.0  # dB: between-sequence spread of difficulty
NOISE = 0.4  # dB: per-sequence noise of the model-minus-reference difference
# The 95% half-width of a mean of n values with sd NOISE is about 1.96 * NOISE / sqrt(n);
# bootstrap percentiles on one synthetic draw stay within BOOTSTRAP_HALF_WIDTH_RTOL (20 %) of it.


def _rows(n: int, *, seed: int = 0, conditions=(None,), draws: int = 1) -> pd.DataFrame:
    """Per-call rows of one task 'toy': classical 'a' (best), 'b' (1 dB worse), its gain-corrected
    variant (better than everything: uses the target, so never the reference) and learned 'net'."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(30.0, SPREAD, n)
    out = []
    for cond in conditions:
        shift = 0.0 if cond is None else float(cond)
        a = difficulty + shift + rng.normal(0, 0.1, n)
        scores = {
            ("a", "a", ""): a,
            ("b", "b", ""): a - 1.0,
            ("b (gain-corrected)", "b", "gain-corrected"): a + 5.0,
            ("net", "net", ""): a + OFFSET + rng.normal(0, NOISE, n),
        }
        for (method, base, variant), v in scores.items():
            for i in range(n):
                for draw in range(draws):
                    for metric, value in (("psnr", v[i]), ("mse", 10 ** (-v[i] / 10))):
                        out.append({"task": "toy", "method": method, "base_method": base, "variant": variant,
                                    "metric": metric, "value": float(value), "sample": i, "condition": cond,
                                    "draw": draw, "runtime_s": 0.0})
    rows = pd.DataFrame(out)
    rows["condition"] = rows["condition"].astype("Int64")
    return rows


def _differences(rows: pd.DataFrame, **kw) -> pd.DataFrame:
    agg = _aggregate.aggregate(rows, pd.DataFrame(), metrics_by_task={"toy": ["psnr", "mse"]},
                               directions={"toy": {"psnr": True, "mse": False}},
                               gain_unknown=[("toy", "b")])
    return _aggregate.paired_differences(rows, agg, learned={"net"}, primary={"toy": "psnr"}, **kw)


def test_paired_difference_finds_a_known_offset_against_the_best_classical_method():
    rows = _rows(50)
    diff = _differences(rows)
    d = diff[diff.metric == "psnr"].squeeze()
    assert d["method"] == "net" and d["reference"] == "a"  # not b's gain-corrected variant
    assert d["ci_low"] < OFFSET < d["ci_high"]
    assert d["half_width"] == pytest.approx(1.96 * NOISE / np.sqrt(50), rel=BOOTSTRAP_HALF_WIDTH_RTOL)
    # Pairing cancels the between-sequence spread: each method's own interval is ~SPREAD/NOISE wider.
    agg = _aggregate.aggregate(rows, pd.DataFrame(), metrics_by_task={"toy": ["psnr"]},
                               directions={"toy": {"psnr": True}})
    own = agg[agg.method == "net"].squeeze()
    assert (own["ci_high"] - own["ci_low"]) / 2 > 4 * d["half_width"]
    # mse is lower-is-better: the difference is negative, with the same reference
    m = diff[diff.metric == "mse"].squeeze()
    assert m["reference"] == "a" and m["ci_high"] < 0 and not m["higher_is_better"]
    assert set(diff.columns) == set(_aggregate.DIFFERENCE_COLUMNS)
    assert (diff["n_resamples"] == 2000).all()


def test_an_oracle_is_never_the_best_classical_reference():
    # 'a' is the best classical method; declared an oracle (it reads ground truth), 'b' takes its place.
    rows = _rows(30)
    assert _differences(rows).query("metric == 'psnr'").squeeze()["reference"] == "a"
    d = _differences(rows, oracles={"a"}).query("metric == 'psnr'").squeeze()
    assert d["reference"] == "b" and d["mean_diff"] == pytest.approx(1.0 + OFFSET, abs=0.3)


def test_oracle_declarations_are_read_from_the_method():
    from benchmarks.registry import BASELINES, MODELS
    from generators.task import is_oracle

    assert sorted(n for n, m in {**BASELINES, **MODELS}.items() if is_oracle(m)) == ["oracle-stitch"]


def test_paired_bootstrap_is_seeded_and_resamples_pairs():
    a, b = np.array([1.0, 5.0, 9.0, 4.0]), np.array([0.5, 4.5, 8.5, 3.5])
    res = _aggregate.paired_bootstrap_difference(a, b, key="k")
    assert res == _aggregate.paired_bootstrap_difference(a, b, key="k")
    assert res == (0.5, 0.5, 0.5)  # a constant difference has no spread, however different the sequences
    assert _aggregate.paired_bootstrap_difference(a[:1], b[:1], key="k") == (0.5, 0.5, 0.5)
    assert all(np.isnan(_aggregate.paired_bootstrap_difference(a[:0], b[:0], key="k")))
    with pytest.raises(ValueError):
        _aggregate.paired_bootstrap_difference(a, b[:3], key="k")


def test_interval_shrinks_as_one_over_sqrt_n_and_the_split_size_estimate_holds():
    hw = {}
    for n in (50, 200):
        diff = _differences(_rows(n, seed=n))
        hw[n] = diff.loc[diff.metric == "psnr", "half_width"].item()
    assert hw[200] / hw[50] == pytest.approx(0.5, rel=BOOTSTRAP_HALF_WIDTH_RTOL)
    # From the 50-sequence run, the size for half the half-width is about 4 x 50.
    sizes = _aggregate.estimate_split_sizes(_differences(_rows(50, seed=50)), target_half_width=hw[50] / 2)
    assert sizes.squeeze()["n_needed"] == pytest.approx(200, abs=SPLIT_SIZE_ATOL)
    target = 1.96 * NOISE / np.sqrt(200)
    sizes = _aggregate.estimate_split_sizes(_differences(_rows(50, seed=50)), target_half_width=target)
    n_needed = sizes.squeeze()["n_needed"]
    assert n_needed == pytest.approx(200, rel=2 * BOOTSTRAP_HALF_WIDTH_RTOL)
    got = _differences(_rows(n_needed, seed=7))
    assert got.loc[got.metric == "psnr", "half_width"].item() == pytest.approx(target, rel=BOOTSTRAP_HALF_WIDTH_RTOL)


def test_reference_is_chosen_per_condition_and_draws_are_averaged_first():
    rows = _rows(20, conditions=(1, 2), draws=3)
    # at n=2 'b' becomes the best classical method
    rows.loc[(rows.method == "b") & (rows.condition == 2) & (rows.metric == "psnr"), "value"] += 3.0
    diff = _differences(rows)
    psnr = diff[diff.metric == "psnr"].set_index("condition")
    assert psnr.loc[1, "reference"] == "a" and psnr.loc[2, "reference"] == "b"
    assert (psnr["n_samples"] == 20).all()  # sequences, not calls
    assert psnr.loc[1, "mean_diff"] == pytest.approx(
        rows[(rows.method == "net") & (rows.metric == "psnr") & (rows.condition == 1)]["value"].mean()
        - rows[(rows.method == "a") & (rows.metric == "psnr") & (rows.condition == 1)]["value"].mean())


def test_only_sequences_both_methods_scored_are_paired():
    rows = _rows(30)
    rows = rows[~((rows.method == "net") & (rows["sample"] < 5))]  # the model failed on 5 sequences
    d = _differences(rows)
    assert (d["n_samples"] == 25).all()


def test_declared_comparisons_are_reported_resolved_and_merged():
    """Issue 25 #1: declared pairs next to best learned - best classical; a tuple side is the best of its
    methods; a pair resolving to the same two methods is one row with both labels; absent methods drop out."""
    rows = _rows(30)
    declared = (("b", "a"), ("net", ("a", "b")), ("net", "absent"))
    diff = _differences(rows, comparisons={"toy": declared})
    psnr = diff[diff.metric == "psnr"].set_index("comparison")
    assert list(psnr.index) == [f"{_aggregate.BEST_LEARNED_VS_CLASSICAL}; net − best of (a, b)", "b − a"]
    assert tuple(psnr.loc["b − a", ["method", "reference"]]) == ("b", "a")
    assert psnr.loc["b − a", "mean_diff"] == pytest.approx(-1.0)  # b is a - 1 dB on every sequence
    # every row is sized against its metric's target: n_needed for psnr, none for mse
    assert (psnr["target_half_width"] == 0.3).all()
    assert (psnr["n_needed"] == np.maximum(2, np.ceil(30 * (psnr["half_width"] / 0.3) ** 2))).all()
    assert diff.loc[diff.metric == "mse", "n_needed"].isna().all()


def test_registered_comparisons_name_registered_methods_and_unknown_names_fail():
    from dataclasses import replace

    from benchmarks.registry import METHODS, TASKS
    from benchmarks.run import check_comparisons
    from generators._runtime import UserError

    check_comparisons(TASKS.values(), METHODS)  # every declared name is registered and supports its task
    assert all(TASKS[t].comparisons for t in ("bookcovers", "fingerprints", "fingerprints-sensor", "coverfill",
                                              "reflections", "captions", "roadseg"))
    assert ("deepset", "weiss") in TASKS["bookcovers"].comparisons
    assert len(TASKS["coverfill"].comparisons) == 6  # the four inpainting baselines pairwise
    bad = replace(TASKS["bookcovers"], comparisons=(("deepset", ("weiss", "wiess")),))
    with pytest.raises(UserError, match="unknown method 'wiess'"):
        check_comparisons([bad], METHODS)
    wrong_task = replace(TASKS["bookcovers"], comparisons=(("deepset", "telea"),))
    with pytest.raises(UserError, match="'telea' does not support it"):
        check_comparisons([wrong_task], METHODS)


def test_split_sizes_cover_every_sized_metric():
    diff = _differences(_rows(30)).copy()
    ssim = diff[diff.metric == "psnr"].assign(metric="ssim", half_width=0.01)
    sizes = _aggregate.estimate_split_sizes(pd.concat([diff, ssim]))
    assert list(sizes["metric"]) == ["psnr", "ssim"]
    assert sizes.set_index("metric").loc["ssim", "n_needed"] == 30 * 4  # (0.01 / 0.005)^2


def test_a_primary_metric_is_sized_by_its_family():
    assert _aggregate.sizing_target("psnr_clip", "psnr_clip") == 0.3  # captions' headline is a PSNR
    assert _aggregate.sizing_target("ssim_hole", "ssim_hole") == 0.005
    assert _aggregate.sizing_target("psnr_clip_in", "psnr_clip") is None  # a secondary variant is not sized
    assert _aggregate.sizing_target("mse", "mse") is None
    diff = _differences(_rows(30)).assign(metric="psnr_clip", primary_metric="psnr_clip")
    sizes = _aggregate.estimate_split_sizes(diff)
    assert list(sizes["metric"]) == ["psnr_clip"] and sizes["target_half_width"].item() == 0.3


def test_estimate_split_sizes_reads_a_results_directory(tmp_path):
    diff = _differences(_rows(40))
    diff.to_csv(tmp_path / "differences.csv", index=False)
    sizes = _aggregate.estimate_split_sizes(tmp_path)
    assert list(sizes.columns) == _aggregate.SPLIT_SIZE_COLUMNS
    r = sizes.squeeze()
    assert r["task"] == "toy" and r["metric"] == "psnr" and r["target_half_width"] == 0.3
    assert r["n_needed"] == int(np.ceil(40 * (r["half_width"] / 0.3) ** 2))
    assert _aggregate.estimate_split_sizes(diff, metric="ssim").empty
    with pytest.raises(FileNotFoundError):
        _aggregate.estimate_split_sizes(tmp_path / "nowhere")


def test_harness_writes_differences_and_split_sizes(tmp_path, capsys):
    methods = {m.name: m for m in (MeanViews(), HalfGain(), LearnedMedian())}
    rc, out = run_toy(tmp_path, tasks=toy_tasks(test_size=6), methods=methods)
    assert rc == 0
    diff = pd.read_parquet(out / "differences.parquet")
    assert set(diff["method"]) == {"net-median"} and set(diff["task"]) == {"toyviews"}
    assert set(diff["condition"]) == {1, 2, 3} and set(diff["metric"]) == {"mse", "psnr"}
    assert set(diff["reference"]) <= {"mean", "halfgain"}  # never the gain-corrected variant
    assert pd.read_csv(out / "differences.csv").shape == diff.shape
    sizes = pd.read_parquet(out / "split_sizes.parquet")
    assert list(sizes["task"]) == ["toyviews"] and sizes["n_needed"].item() >= 2
    run = json.loads((out / "run.json").read_text())
    assert run["tasks"]["toyviews"]["learned_methods"] == ["net-median"]
    assert run["tasks"]["toyviews"]["primary_metric"] == "mse"
    assert "differences.csv" in run["files"] and "differences" in run["protocol"]
    assert "split size: toyviews: psnr of net-median - " in capsys.readouterr().err
    page = (out / "report" / "index.html").read_text()
    assert "Primary comparisons" in page and "id='d-toyviews'" in page
    assert f"<b>{sizes['n_needed'].item()}</b> sequences" in page


def test_gain_table_share_of_error(tmp_path):
    """benchmarks.gain_table: share = 1 - MSE_gi / MSE_raw from the PSNRs; gain-corrected rows left out."""
    from benchmarks.gain_table import gain_table

    rows = []
    for method, raw, gi in (("a", 20.0, 23.0), ("b", 25.0, 25.0), ("b (gain-corrected)", 25.0, 25.0)):
        for n in (3, 4):
            rows += [{"task": "bookcovers", "method": method, "metric": "psnr", "condition": n, "mean": raw},
                     {"task": "bookcovers", "method": method, "metric": "psnr_gi", "condition": n, "mean": gi}]
    pd.DataFrame(rows).to_csv(tmp_path / "aggregates.csv", index=False)
    table = gain_table(tmp_path, ns=(3, 4))
    lines = table.splitlines()
    assert len(lines) == 4 and "gain-corrected" not in table
    assert lines[2].startswith("| b |") and "25.00 / 25.00 / 0 %" in lines[2]
    assert "20.00 / 23.00 / 50 %" in lines[3]  # 1 - 10^(-0.3) = 0.499


def _rank_rows(per_method: dict[str, np.ndarray]) -> pd.DataFrame:
    out = [{"task": "toy", "method": m, "base_method": m, "variant": "", "metric": "psnr", "value": float(v[i]),
            "sample": i, "condition": None, "draw": 0, "runtime_s": 0.0}
           for m, v in per_method.items() for i in range(len(v))]
    rows = pd.DataFrame(out)
    rows["condition"] = rows["condition"].astype("Int64")
    return rows


def test_rank_groups_share_a_rank_without_chaining():
    """Issue 25 #4: B is within noise of A (shares rank 1), C within noise of B but clearly below A (rank 2,
    not 1: ties do not chain), D clearly last; a 0.004 dB gap with no spread is not a tie, with spread it is."""
    n = 20
    rng = np.random.default_rng(3)
    difficulty = rng.normal(30.0, SPREAD, n)
    e = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # +-1 dB per-sequence noise of B against A
    scores = {
        "A": difficulty,
        "B": difficulty - 0.1 + e,  # d(B - A): mean -0.1, half-width ~0.45 -> tied with A
        "C": difficulty - 0.4,  # d(C - B) = -0.3 - e -> tied with B; d(C - A) = -0.4 exactly -> not tied with A
        "D": difficulty - 5.0,
    }
    agg = _aggregate.aggregate(_rank_rows(scores), pd.DataFrame(), metrics_by_task={"toy": ["psnr"]},
                               directions={"toy": {"psnr": True}})
    got = agg.set_index("method")
    assert list(got.loc[["A", "B", "C", "D"], "rank"]) == [1, 1, 2, 4]
    assert list(got.loc[["A", "B", "C", "D"], "rank_label"]) == ["1=", "1=", "2", "4"]
    # lower-is-better metrics place the smallest mean first
    mse = _aggregate.aggregate(_rank_rows({k: 100 - v for k, v in scores.items()}).assign(metric="mse"),
                               pd.DataFrame(), metrics_by_task={"toy": ["mse"]}, directions={"toy": {"mse": False}})
    assert list(mse.set_index("method").loc[["A", "B", "C", "D"], "rank_label"]) == ["1=", "1=", "2", "4"]
    # two methods 0.004 dB apart: a tie when the per-sequence difference has spread, not when it is constant
    close = _aggregate.aggregate(_rank_rows({"telea": difficulty, "ns": difficulty - 0.004 + 0.1 * e,
                                             "exact": difficulty - 0.004}), pd.DataFrame(),
                                 metrics_by_task={"toy": ["psnr"]}, directions={"toy": {"psnr": True}})
    labels = dict(zip(close["method"], close["rank_label"]))
    assert labels == {"telea": "1=", "ns": "1=", "exact": "2"}


def test_a_metric_undefined_on_a_sample_leaves_that_sample_out_not_the_whole_mean():
    """In-mask accuracy of a scene whose mask is empty is NaN for every method (roadseg, 1 of 1,800 scenes
    in the 2026-12-06 full run): it used to make the task's means, ranks and differences NaN."""
    rows = _rows(40)
    undefined = (rows["sample"] == 7) & (rows["metric"] == "psnr")
    rows.loc[undefined, "value"] = np.nan
    agg = _aggregate.aggregate(rows, pd.DataFrame(), metrics_by_task={"toy": ["psnr", "mse"]},
                               directions={"toy": {"psnr": True, "mse": False}})
    psnr = agg[(agg.metric == "psnr") & (agg.method == "net")].squeeze()
    defined = rows[(rows.method == "net") & (rows.metric == "psnr") & ~undefined]["value"]
    assert psnr["n_samples"] == 39 and psnr["mean"] == pytest.approx(defined.mean(), rel=FLOAT64_RTOL)
    assert agg[(agg.metric == "mse") & (agg.method == "net")].squeeze()["n_samples"] == 40
    assert agg.loc[agg.metric == "psnr", "rank"].notna().all()
    d = _differences(rows)
    d = d[d.metric == "psnr"].squeeze()
    assert d["n_samples"] == 39 and d["ci_low"] < OFFSET < d["ci_high"]


def test_split_size_lines_name_conditions_by_their_labels_and_axis():
    sizes = pd.DataFrame([
        {"task": "snow", "metric": "psnr", "method": "a", "reference": "b", "condition": 1, "half_width": 0.5,
         "n_samples": 12, "target_half_width": 0.3, "n_needed": 34},
        {"task": "bookcovers", "metric": "psnr", "method": "a", "reference": "b", "condition": 4,
         "half_width": 0.5, "n_samples": 8, "target_half_width": 0.3, "n_needed": 23},
        {"task": "fingerprints", "metric": "psnr", "method": "a", "reference": "b", "condition": None,
         "half_width": 0.5, "n_samples": 10, "target_half_width": 0.3, "n_needed": 28},
    ])
    lines = _aggregate.format_split_sizes(sizes, {"snow": ("size class", {1: "small"}), "bookcovers": ("views", None),
                                                  "fingerprints": (None, None)})
    assert "at size class small:" in lines[0] and "n=" not in lines[0] and "of that condition" in lines[0]
    assert "at 4 views:" in lines[1]
    assert " at " not in lines[2] and "on 10 samples;" in lines[2]
