"""The benchmark harness (benchmarks.run) on toy tasks and toy methods.

The toy task and methods live at module level so that worker processes
(spawned) can unpickle them, and so that ``tests.test_harness:UserMethod``
works as a ``--methods module:object`` entry.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import _aggregate, _cache, _scoring
import generators.dataset as dataset
from generators.metrics import mse, psnr
from benchmarks.run import main
from generators.task import SINGLE_CALL, Sample, Task, ViewSubsets, quick_protocol, sample_rng
from tests.tolerances import FLOAT32_ROUNDING_ATOL, FLOAT64_RTOL, GAIN_CORRECTED_MSE_RTOL, GAIN_ESTIMATE_RTOL

REPO = Path(__file__).resolve().parents[1]
SIZE = 16
N_VIEWS = 4


# ---------------------------------------------------------------- toy tasks


def make_views_sample(rng: np.random.Generator, *, n_views: int = N_VIEWS, noise: float = 0.1) -> Sample:
    """A random clean image and ``n_views`` noisy copies of it."""
    clean = rng.random((SIZE, SIZE, 3), dtype=np.float32)
    views = np.clip(clean[None] + rng.normal(0, noise, (n_views, SIZE, SIZE, 3)), 0, 1).astype(np.float32)
    return Sample(inputs={"views": views}, target={"clean": clean}, params={"noise": noise})


def make_image_sample(rng: np.random.Generator) -> Sample:
    clean = rng.random((SIZE, SIZE, 1), dtype=np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.2, clean.shape), 0, 1).astype(np.float32)
    return Sample(inputs={"image": noisy}, target={"clean": clean})


def make_views_task(*, noise: float = 0.1, test_size: int = 3, quick_size: int = 2) -> Task:
    return Task(
        name="toyviews",
        make_sample=functools.partial(make_views_sample, noise=noise),
        metrics={"mse": mse, "psnr": psnr},
        input_kind="views",
        test_size=test_size,
        quick_size=quick_size,
        test_seed=1_000_003,
        params={"n_views": N_VIEWS, "size": SIZE, "noise": noise},
        higher_is_better={"mse": False, "psnr": True},
        protocol=ViewSubsets(),
    )


def make_image_task() -> Task:
    return Task(
        name="toyimage",
        make_sample=make_image_sample,
        metrics={"mse": mse, "psnr": psnr},
        input_kind="image",
        test_size=3,
        quick_size=2,
        params={"size": SIZE},
        higher_is_better={"mse": False, "psnr": True},
    )


# ---------------------------------------------------------------- toy methods


@dataclass(frozen=True)
class MeanViews:
    name: str = "mean"
    tasks: tuple = ("views",)

    def restore(self, inputs):
        return inputs["views"].mean(axis=0, dtype=np.float64).astype(np.float32)


@dataclass(frozen=True)
class HalfGain:
    """The mean at half brightness: a method whose output gain is unknown."""

    name: str = "halfgain"
    tasks: tuple = ("views",)
    output_gain_unknown: bool = True

    def restore(self, inputs):
        return (0.5 * inputs["views"].mean(axis=0)).astype(np.float32)


@dataclass(frozen=True)
class NeedsTwo:
    """Raises ValueError for a single view (recorded as failures at n=1)."""

    name: str = "needstwo"
    tasks: tuple = ("toyviews",)

    def restore(self, inputs):
        v = inputs["views"]
        if v.shape[0] < 2:
            raise ValueError("needs at least 2 views")
        return np.median(v, axis=0).astype(np.float32)


@dataclass(frozen=True)
class DeclaresTwo:
    """Declares min_views = 2: n=1 is skipped, not failed."""

    name: str = "declarestwo"
    tasks: tuple = ("toyviews",)
    min_views: int = 2

    def restore(self, inputs):
        assert inputs["views"].shape[0] >= 2
        return inputs["views"][:2].mean(axis=0).astype(np.float32)


@dataclass(frozen=True)
class Raises:
    """Raises for two views and on the image task; works otherwise."""

    name: str = "raises"
    tasks: tuple = ("views", "image")

    def restore(self, inputs):
        if "image" in inputs or inputs["views"].shape[0] == 2:
            raise RuntimeError("boom\nsecond line <script>alert(1)</script>")
        return inputs["views"].mean(axis=0).astype(np.float32)


@dataclass(frozen=True)
class ReturnsNaN:
    name: str = "nan"
    tasks: tuple = ("views",)

    def restore(self, inputs):
        out = inputs["views"].mean(axis=0).astype(np.float32)
        out[0, 0, 0] = np.nan
        return out


@dataclass(frozen=True)
class WrongShape:
    name: str = "wrongshape"
    tasks: tuple = ("views", "image")

    def restore(self, inputs):
        return np.zeros((3, 3, 3), np.float32)


@dataclass(frozen=True)
class Identity:
    name: str = "identity"
    tasks: tuple = ("image",)

    def restore(self, inputs):
        return inputs["image"].copy()


@dataclass(frozen=True)
class LearnedMedian:
    """A toy 'learned' method (``learned = True``): compared with the best classical one."""

    name: str = "net-median"
    tasks: tuple = ("views",)
    learned: bool = True

    def restore(self, inputs):
        return np.median(inputs["views"], axis=0).astype(np.float32)


class UserMethod:
    """What a researcher passes as ``--methods tests.test_harness:UserMethod``."""

    name = "user-mean"
    tasks = ("toyviews",)

    def restore(self, inputs):
        return inputs["views"].mean(axis=0).astype(np.float32)


NOT_A_METHOD = 42

def toy_tasks(**kw) -> dict[str, Task]:
    tasks = (make_views_task(**kw), make_image_task())
    return {t.name: t for t in tasks}


def toy_methods() -> dict:
    ms = (MeanViews(), HalfGain(), NeedsTwo(), DeclaresTwo(), Raises(), ReturnsNaN(), WrongShape(), Identity())
    return {m.name: m for m in ms}


def run_toy(tmp: Path, *extra: str, tasks=None, methods=None, workers: int = 1, name: str = "out") -> tuple[int, Path]:
    out = tmp / name
    argv = ["--task", "all", "--out", str(out), "--cache", str(tmp / "cache"), "--workers", str(workers), *extra]
    rc = main(argv, tasks=tasks or toy_tasks(), methods=methods or toy_methods())
    return rc, out


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("harness")
    rc, out = run_toy(tmp)
    assert rc == 0
    return out


# ---------------------------------------------------------------- outputs


def test_results_directory_is_complete_and_self_describing(toy_run):
    for name in ("rows.parquet", "rows.csv", "aggregates.parquet", "aggregates.csv", "failures.csv",
                 "failures.parquet", "run.json", "examples/examples.json", "report/index.html"):
        assert (toy_run / name).is_file(), name
    rows = pd.read_parquet(toy_run / "rows.parquet")
    for col in ("task", "method", "metric", "value", "sample", "condition", "draw", "runtime_s", "seed",
                "dataset_hash", "git_sha", "versions", "variant"):
        assert col in rows.columns, col
        assert rows[col].notna().any(), col
    assert set(rows["seed"]) == {1_000_003}
    assert rows["versions"].str.contains("numpy=").all()
    csv = pd.read_csv(toy_run / "rows.csv")
    assert len(csv) == len(rows)
    run = json.loads((toy_run / "run.json").read_text())
    for key in ("command", "git_sha", "git_dirty", "versions", "host", "started", "finished", "dataset_hashes"):
        assert key in run, key
    assert set(run["dataset_hashes"]) == {"toyviews", "toyimage"}
    assert run["tasks"]["toyviews"]["dataset_hash"] == rows.loc[rows.task == "toyviews", "dataset_hash"].iloc[0]
    assert run["command"].startswith("python -m benchmarks.run")


def test_views_protocol_draws_ten_subsets_per_n(toy_run):
    rows = pd.read_parquet(toy_run / "rows.parquet")
    r = rows[(rows.task == "toyviews") & (rows.method == "mean") & (rows.metric == "mse")]
    assert sorted(r["condition"].unique()) == list(range(1, N_VIEWS))
    counts = r.groupby(["sample", "condition"]).size()
    assert (counts == _scoring.DRAWS).all()
    for rec in r.itertuples():
        expect = _scoring.draw_views(N_VIEWS, seed=1_000_003, index=rec.sample, n=rec.condition, draw=rec.draw)
        assert rec.views == ",".join(map(str, expect))
    # the mean of n noisy views improves with n, as the protocol should show
    by_n = r.groupby("condition")["value"].mean()
    assert by_n.iloc[-1] < by_n.iloc[0]


def test_draws_depend_only_on_seed_sample_n_draw():
    a = _scoring.draw_views(10, seed=5, index=3, n=4, draw=7)
    assert np.array_equal(a, _scoring.draw_views(10, seed=5, index=3, n=4, draw=7))
    assert len(set(a.tolist())) == 4 and a.min() >= 0 and a.max() < 10
    others = {tuple(_scoring.draw_views(10, seed=5, index=3, n=4, draw=d)) for d in range(10)}
    assert len(others) > 1


def test_failures_are_recorded_and_the_run_goes_on(toy_run):
    fails = pd.read_parquet(toy_run / "failures.parquet")
    rows = pd.read_parquet(toy_run / "rows.parquet")
    by = {m: g for m, g in fails.groupby("method")}
    assert set(by) >= {"raises", "nan", "wrongshape", "needstwo"}
    assert by["raises"]["error"].str.contains("RuntimeError: boom second line").all()
    assert set(by["raises"].loc[by["raises"].task == "toyviews", "condition"]) == {2}
    assert by["nan"]["error"].str.contains("NaN").all()
    assert by["wrongshape"]["error"].str.contains("shape").all()
    assert set(by["needstwo"]["condition"]) == {1}
    assert by["needstwo"]["error"].str.contains("ValueError").all()
    # the other calls of a partly failing method are scored
    assert set(rows.loc[rows.method == "raises", "condition"]) == {1, 3}
    assert not (rows.method == "wrongshape").any()
    agg = pd.read_parquet(toy_run / "aggregates.parquet")
    ws = agg[agg.method == "wrongshape"]
    assert ws["mean"].isna().all() and (ws["n_failed"] > 0).all() and ws["rank"].isna().all()
    nt = agg[(agg.method == "needstwo") & (agg.condition == 1)]
    assert nt["mean"].isna().all() and (nt["n_failed"] == 3 * _scoring.DRAWS).all()
    html = (toy_run / "report" / "index.html").read_text()
    assert "boom second line &lt;script&gt;" in html and "wrongshape" in html
    assert "<script>alert" not in html


def test_declared_min_views_is_not_applicable_not_failed(toy_run):
    run = json.loads((toy_run / "run.json").read_text())
    na = [s for s in run["not_applicable"] if s["method"] == "declarestwo"]
    assert [(s["condition"], s["calls"]) for s in na] == [(1, 3 * _scoring.DRAWS)]
    assert na[0]["reason"] == "needs at least 2 views, got 1"
    assert run["n_not_applicable"] == 3 * _scoring.DRAWS
    fails = pd.read_parquet(toy_run / "failures.parquet")
    assert not (fails.method == "declarestwo").any()
    rows = pd.read_parquet(toy_run / "rows.parquet")
    assert sorted(rows.loc[rows.method == "declarestwo", "condition"].unique()) == [2, 3]
    # the aggregates keep the (method, n) with its count, unranked; the undeclared needstwo still fails
    agg = pd.read_parquet(toy_run / "aggregates.parquet")
    d1 = agg[(agg.method == "declarestwo") & (agg.condition == 1)]
    assert len(d1) and d1["mean"].isna().all() and d1["rank"].isna().all()
    assert (d1["n_not_applicable"] == 3 * _scoring.DRAWS).all() and (d1["n_failed"] == 0).all()
    assert (agg.loc[agg.method == "needstwo", "n_not_applicable"] == 0).all()
    html = (toy_run / "report" / "index.html").read_text()
    assert f"{3 * _scoring.DRAWS} calls not applicable" in html and ">not applicable</td>" in html


def test_rpca_declares_it_needs_two_views():
    """Issue 25 #5: RPCA at n = 1 is not applicable (it used to be 500 failed calls of the full run)."""
    from benchmarks.registry import BASELINES
    from generators.task import Call, not_applicable

    views = np.zeros((3, 4, 4, 3), np.float32)
    rpca = BASELINES["rpca"]
    assert not_applicable(rpca, Call(1, 0, {"views": views[:1]})) == "needs at least 2 views, got 1"
    assert not_applicable(rpca, Call(2, 0, {"views": views[:2]})) is None
    assert not_applicable(BASELINES["median"], Call(1, 0, {"views": views[:1]})) is None


def test_gain_corrected_score_is_labelled_and_only_for_gain_unknown(toy_run):
    rows = pd.read_parquet(toy_run / "rows.parquet")
    gc = rows[rows.variant == _scoring.GAIN_CORRECTED]
    assert set(gc["method"]) == {"halfgain (gain-corrected)"}
    assert set(gc["base_method"]) == {"halfgain"}
    raw = rows[(rows.method == "halfgain") & (rows.metric == "mse")].set_index(["sample", "condition", "draw"])["value"]
    cor = gc[gc.metric == "mse"].set_index(["sample", "condition", "draw"])["value"]
    assert (cor < raw).all()  # the least-squares gain undoes the halving
    mean = rows[(rows.method == "mean") & (rows.metric == "mse")].set_index(["sample", "condition", "draw"])["value"]
    assert np.allclose(cor, mean.loc[cor.index], rtol=GAIN_CORRECTED_MSE_RTOL)


def test_gain_correct_recovers_a_global_gain():
    rng = np.random.default_rng(0)
    t = rng.random((8, 8, 3)).astype(np.float32) * 0.8
    p = t * 0.4
    corrected, gain = _scoring.gain_correct(t, p)
    assert gain == pytest.approx(2.5, rel=GAIN_ESTIMATE_RTOL)
    assert np.allclose(corrected, t, atol=FLOAT32_ROUNDING_ATOL)


def test_check_prediction_rejects_contract_breaks():
    t = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        _scoring.check_prediction(np.zeros((4, 4, 1), np.float32), t)
    with pytest.raises(ValueError, match="NaN or Inf"):
        _scoring.check_prediction(np.full((4, 4, 3), np.inf, np.float32), t)
    with pytest.raises(ValueError, match="numpy array"):
        _scoring.check_prediction([[0.0]], t)
    with pytest.raises(ValueError, match="dtype"):
        _scoring.check_prediction(np.zeros((4, 4, 3), np.int32), t)
    assert _scoring.check_prediction(np.zeros((4, 4, 3), np.float64), t).dtype == np.float32


def test_aggregates_have_bootstrap_intervals_and_ranks(toy_run):
    agg = pd.read_parquet(toy_run / "aggregates.parquet")
    rows = pd.read_parquet(toy_run / "rows.parquet")
    ok = agg[agg["mean"].notna()]
    assert (ok.ci_low <= ok["mean"] + 1e-12).all() and (ok["mean"] <= ok.ci_high + 1e-12).all()
    # mean = mean over sequences of the per-sequence mean over draws
    g = rows[(rows.method == "mean") & (rows.metric == "psnr") & (rows.condition == 2)]
    expect = g.groupby("sample")["value"].mean().mean()
    got = agg[(agg.method == "mean") & (agg.metric == "psnr") & (agg.condition == 2)]["mean"].item()
    assert got == pytest.approx(expect, rel=FLOAT64_RTOL)
    # rank 1 at n=3 on mse goes to the lowest mean, on psnr to the highest
    for metric, best in (("mse", "min"), ("psnr", "max")):
        sub = ok[(ok.task == "toyviews") & (ok.metric == metric) & (ok.condition == 3)]
        top = sub.loc[getattr(sub["mean"], "idxmin" if best == "min" else "idxmax")()]
        assert top["rank"] == 1
    for col in ("seed", "dataset_hash", "git_sha", "ci_level", "n_resamples"):
        assert agg[col].notna().all(), col


def test_bootstrap_is_seeded_and_resamples_sequences():
    v = np.array([1.0, 2.0, 3.0, 10.0])
    a = _aggregate.bootstrap_ci(v, key="k")
    assert a == _aggregate.bootstrap_ci(v, key="k")
    assert a[0] < v.mean() < a[1]
    assert _aggregate.bootstrap_ci(np.full(5, 2.0), key="k") == (2.0, 2.0)
    assert _aggregate.bootstrap_ci(np.array([3.0]), key="k") == (3.0, 3.0)
    assert all(np.isnan(_aggregate.bootstrap_ci(np.array([]), key="k")))


# ---------------------------------------------------------------- determinism and cache


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in ("runtime_s",) if c in df]).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize("test_size", [3, 4], ids=["per-unit", "per-sample"])
def test_results_identical_for_one_and_two_workers(tmp_path, test_size):
    # 4 toyviews samples for 2 workers: each sample's units go to one worker together (toyimage's 3: one by one)
    kw = dict(tasks=toy_tasks(test_size=test_size), methods=toy_methods())  # both tasks share one pool
    outs = []
    for workers in (1, 2):
        rc, out = run_toy(tmp_path, workers=workers, name=f"w{workers}", **kw)
        assert rc == 0
        outs.append(out)
    assert json.loads((outs[1] / "run.json").read_text())["workers"] == 2
    for name in ("rows", "aggregates", "failures"):
        a = _comparable(pd.read_parquet(outs[0] / f"{name}.parquet"))
        b = _comparable(pd.read_parquet(outs[1] / f"{name}.parquet"))
        assert len(a)
        pd.testing.assert_frame_equal(a, b)
    ex1 = json.loads((outs[0] / "examples" / "examples.json").read_text())
    ex2 = json.loads((outs[1] / "examples" / "examples.json").read_text())
    assert ex1 == ex2
    for e in ex1:
        for o in e["outputs"]:
            if o["file"]:
                assert (outs[0] / "examples" / o["file"]).read_bytes() == (outs[1] / "examples" / o["file"]).read_bytes()


def test_split_is_cached_and_rebuilt_only_when_params_change(tmp_path, monkeypatch):
    import generators.dataset as dataset

    calls = []
    real = dataset.write_dataset

    def counting(*a, **kw):
        calls.append(kw["params"])
        return real(*a, **kw)

    monkeypatch.setattr(dataset, "write_dataset", counting)
    kw = dict(tasks={"toyviews": make_views_task()}, methods={"mean": MeanViews()})
    assert run_toy(tmp_path, "--quick", name="a", **kw)[0] == 0
    assert len(calls) == 1
    assert run_toy(tmp_path, "--quick", name="b", **kw)[0] == 0
    assert len(calls) == 1  # reused
    h_a = json.loads((tmp_path / "a" / "run.json").read_text())["tasks"]["toyviews"]
    h_b = json.loads((tmp_path / "b" / "run.json").read_text())["tasks"]["toyviews"]
    assert h_a["split_key"] == h_b["split_key"] and h_a["dataset_hash"] == h_b["dataset_hash"]
    kw["tasks"] = {"toyviews": make_views_task(noise=0.2)}
    assert run_toy(tmp_path, "--quick", name="c", **kw)[0] == 0
    assert len(calls) == 2 and calls[-1]["noise"] == 0.2
    h_c = json.loads((tmp_path / "c" / "run.json").read_text())["tasks"]["toyviews"]
    assert h_c["split_key"] != h_a["split_key"] and h_c["dataset_hash"] != h_a["dataset_hash"]
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_cached_split_the_generator_no_longer_makes_is_not_reused(tmp_path, capsys):
    # Same task name, params and seed (so the same split key), other generator code: the split made by
    # the old code must not be scored as the new code's data, nor deleted (another run may be reading it).
    task = make_views_task(test_size=3)
    out, key, digest = _cache.build_split(task, size=3, cache_dir=tmp_path)
    assert _cache.build_split(task, size=3, cache_dir=tmp_path) == (out, key, digest)  # reused as is
    assert "other generator code" not in capsys.readouterr().err
    old_files = {p.name: p.read_bytes() for p in out.iterdir()}

    def brighter(rng):
        s = make_views_sample(rng)
        return Sample(inputs={"views": np.sqrt(s.inputs["views"])}, target=s.target, params=s.params)

    edited = dataclasses.replace(task, make_sample=brighter)
    out2, key2, digest2 = _cache.build_split(edited, size=3, cache_dir=tmp_path)
    err = capsys.readouterr().err
    assert out2 == out.with_name(f"{out.name}-{dataset.sample_digest(brighter, task.test_seed, 0)}")
    assert key2 == key and digest2 != digest
    assert err.count("\n") == 1 and f"using {out2.name}" in err and "000000000000.inputs.views.pngs" in err, err
    stored = next(dataset.read_dataset(out2))[1].inputs["views"]
    expected = brighter(sample_rng(task.test_seed, 0)).inputs["views"]
    assert np.array_equal(stored, np.round(expected * 255).astype(np.float32) / 255)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old_files  # the old split is left alone
    assert _cache.build_split(edited, size=3, cache_dir=tmp_path)[:3] == (out2, key2, digest2)  # then reused
    assert _cache.build_split(task, size=3, cache_dir=tmp_path) == (out, key, digest)  # and the old code's too
    (out / "shard-000000.tar").write_bytes(b"truncated")  # unreadable: treated as made by other code
    assert _cache.build_split(edited, size=3, cache_dir=tmp_path)[0] == out2
    assert "unreadable: corrupted shard" in capsys.readouterr().err


def test_sample_differences_names_the_members_that_changed(tmp_path):
    task = make_views_task(test_size=2)
    out = _cache.build_split(task, size=2, cache_dir=tmp_path)[0]
    assert dataset.sample_differences(out, task.make_sample, 1) == []

    def renamed(rng):
        s = make_views_sample(rng)
        return Sample(inputs={"frames": s.inputs["views"]}, target=s.target, params=s.params)

    assert dataset.sample_differences(out, renamed, 1) == ["000000000001.inputs.frames.pngs",
                                                           "000000000001.inputs.views.pngs",
                                                           "000000000001.meta.json"]
    with pytest.raises(dataset.UserError, match="holds samples 0-1, not 2"):
        dataset.sample_differences(out, task.make_sample, 2)


def test_quick_uses_quick_size_and_full_uses_test_size(tmp_path):
    kw = dict(tasks={"toyviews": make_views_task(test_size=3, quick_size=1)}, methods={"mean": MeanViews()})
    assert run_toy(tmp_path, "--quick", name="q", **kw)[0] == 0
    rows = pd.read_parquet(tmp_path / "q" / "rows.parquet")
    assert set(rows["sample"]) == {0} and set(rows["split_size"]) == {1}
    assert json.loads((tmp_path / "q" / "run.json").read_text())["quick"] is True


def test_quick_scores_the_declared_quick_draws_a_prefix_of_the_full_draws(tmp_path):
    """``ViewSubsets(quick_draws=k)``: a --quick run scores draws 0..k-1 of every n, the very subsets (and
    scores) of the full protocol's first draws; the full run keeps every draw; run.json says which."""
    task = dataclasses.replace(make_views_task(test_size=2, quick_size=2), protocol=ViewSubsets(quick_draws=2))
    kw = dict(tasks={"toyviews": task}, methods={"mean": MeanViews()})
    assert run_toy(tmp_path, "--quick", name="q", **kw)[0] == 0
    assert run_toy(tmp_path, name="f", **kw)[0] == 0
    q, f = (pd.read_parquet(tmp_path / n / "rows.parquet") for n in "qf")
    assert sorted(q["condition"].unique()) == sorted(f["condition"].unique()) == list(range(1, N_VIEWS))
    assert (q.groupby(["sample", "condition", "metric"]).size() == 2).all() and set(q["draw"]) == {0, 1}
    assert (f.groupby(["sample", "condition", "metric"]).size() == _scoring.DRAWS).all()
    key = ["sample", "condition", "draw", "metric"]
    same = q.merge(f, on=key, suffixes=("_q", "_f"))
    assert len(same) == len(q) and (same["views_q"] == same["views_f"]).all()
    assert (same["value_q"] == same["value_f"]).all()
    info = {n: json.loads((tmp_path / n / "run.json").read_text())["tasks"]["toyviews"] for n in "qf"}
    assert info["q"]["draws"] == 2 and info["f"]["draws"] == _scoring.DRAWS
    assert info["q"]["full_protocol"] == info["f"]["protocol"] == info["f"]["full_protocol"] == repr(task.protocol)
    assert info["q"]["protocol"] == repr(ViewSubsets(draws=2))


def test_view_subsets_quick_draws_are_checked_and_default_to_all_draws():
    assert ViewSubsets().for_quick_run() == ViewSubsets() and quick_protocol(SINGLE_CALL) is SINGLE_CALL
    assert ViewSubsets(draws=10, quick_draws=3).for_quick_run() == ViewSubsets(draws=3)
    for bad in (0, 11):
        with pytest.raises(ValueError, match="quick_draws"):
            ViewSubsets(draws=10, quick_draws=bad)
    from generators.bookcovers import make_task

    # The published protocol scores 2 draws per n (the comment at make_task says why); make run the first.
    assert make_task().protocol == ViewSubsets(draws=2, quick_draws=1)


def test_seed_scores_a_second_split_of_the_same_size(tmp_path):
    """``--seed S``: same size and protocol, other samples and draws; the seed is in every row and run.json."""
    kw = dict(tasks={"toyviews": make_views_task(test_size=3, quick_size=1)}, methods={"mean": MeanViews()})
    assert run_toy(tmp_path, name="a", **kw)[0] == 0
    assert run_toy(tmp_path, "--seed", "4242", name="b", **kw)[0] == 0
    a, b = (pd.read_parquet(tmp_path / n / "rows.parquet") for n in "ab")
    assert set(b["seed"]) == {4242} and set(a["seed"]) == {1_000_003}
    assert set(b["split_size"]) == {3} and len(a) == len(b)
    assert set(a["dataset_hash"]).isdisjoint(b["dataset_hash"])
    assert not np.array_equal(a["value"].to_numpy(), b["value"].to_numpy())
    assert json.loads((tmp_path / "b" / "run.json").read_text())["tasks"]["toyviews"]["seed"] == 4242
    # Both the samples and the view draws come from the new seed: the scored mean of sample 0's first draw
    # at n = 2 is that of make_sample(sample_rng(4242, 0)) under draw_views(seed=4242, ...).
    task = kw["tasks"]["toyviews"]
    sample = task.make_sample(sample_rng(4242, 0))
    views, target = (np.round(a * 255) / 255 for a in (sample.inputs["views"], sample.target[task.target_key]))
    idx = _scoring.draw_views(views.shape[0], seed=4242, index=0, n=2, draw=0)  # the split stores 8-bit PNG
    expect = mse(target, MeanViews().restore({"views": views[idx].astype(np.float32)}))
    got = b[(b["sample"] == 0) & (b["condition"] == 2) & (b["draw"] == 0) & (b["metric"] == "mse")]["value"]
    assert got.to_numpy() == pytest.approx([expect], rel=FLOAT64_RTOL)


def test_dataset_key_depends_on_params_seed_size_not_key_order():
    a = _cache.hash_dataset("t", {"a": 1, "b": 2}, 1, 10)
    assert a == _cache.hash_dataset("t", {"b": 2, "a": 1}, 1, 10)
    assert len({a, _cache.hash_dataset("t", {"a": 1, "b": 3}, 1, 10), _cache.hash_dataset("t", {"a": 1, "b": 2}, 2, 10),
                _cache.hash_dataset("t", {"a": 1, "b": 2}, 1, 11), _cache.hash_dataset("u", {"a": 1, "b": 2}, 1, 10)}) == 5


# ---------------------------------------------------------------- methods and names


def test_user_method_from_module_object(tmp_path):
    rc, out = run_toy(tmp_path, "--methods", "mean,tests.test_harness:UserMethod", "--task", "toyviews")
    assert rc == 0
    rows = pd.read_parquet(out / "rows.parquet")
    assert set(rows["method"]) == {"mean", "user-mean"}
    a = rows[rows.method == "mean"].drop(columns=["method", "base_method", "runtime_s"]).reset_index(drop=True)
    b = rows[rows.method == "user-mean"].drop(columns=["method", "base_method", "runtime_s"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    "argv, expect",
    [
        (["--task", "nope"], "unknown task 'nope'; choose from ['toyimage', 'toyviews']"),
        (["--task", "toyviews,nope"], "unknown task 'nope'"),
        (["--methods", "mean,nope"], "unknown method 'nope'; choose from ["),
        (["--methods", "no_such_module_xyz:Thing"], "cannot import 'no_such_module_xyz'"),
        (["--methods", "tests.test_harness:Missing"], "has no attribute 'Missing'"),
        (["--methods", "tests.test_harness:NOT_A_METHOD"], "neither a method nor a factory"),
        (["--methods", "tests.test_harness:NoTasks"], "needs name (str), tasks"),
        (["--methods", "identity", "--task", "toyviews"], "no selected method supports any selected task"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--seed", "1"], "--seed 1: seeds below 1000 make training and validation data"),
        (["--seed", str(2**63)], "choose a seed in [1000, 2**63)"),
        (["--seed", "1000003"], "--seed 1000003 is the test seed of toyimage, toyviews"),
        (["--out", "{tmp}/notours"], "is not a results directory of an earlier run"),
    ],
)
def test_bad_names_exit_nonzero_with_one_line(tmp_path, capsys, argv, expect):
    (tmp_path / "notours").mkdir()
    (tmp_path / "notours" / "precious.txt").write_text("keep me")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc = main(["--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c"), *argv],
              tasks=toy_tasks(), methods=toy_methods())
    assert (tmp_path / "notours" / "precious.txt").read_text() == "keep me"
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert expect in err
    assert len(err.splitlines()) == 1 and err.startswith("error: ")


class NoTasks:
    """A method-like object without ``tasks`` (issue 15 #3)."""

    name = "notasks"

    def restore(self, inputs):
        return inputs["views"][0]


@dataclass(frozen=True)
class Returns255:
    """Returns images on the 0..255 scale (issue 15 #2)."""

    name: str = "returns255"
    tasks: tuple = ("toyviews",)

    def restore(self, inputs):
        return (inputs["views"].mean(axis=0) * 255).astype(np.float32)


def test_out_of_range_predictions_are_failures_and_total_failure_exits_nonzero(tmp_path, capsys):
    """Issue 15 #2 and #4: [0, 255] output is a recorded failure naming the range; a method named with
    --methods that fails on every call makes the run exit 1 with the first error and its location."""
    rc, out = run_toy(tmp_path, "--methods", "mean,tests.test_harness:Returns255", "--task", "toyviews")
    err = capsys.readouterr().err
    assert rc == 1
    fails = pd.read_parquet(out / "failures.parquet")
    assert (fails.base_method == "returns255").all() and fails.error.str.contains("expected [0, 1]", regex=False).all()
    assert "returns255:" in err and "failed call(s); first: ValueError: restore returned values in [" in err
    assert "returns255 failed on every call" in err
    assert json.loads((out / "run.json").read_text())["methods_failed_every_call"] == ["returns255"]


def test_cli_unknown_task_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--task", "no-such-task", "--out", str(tmp_path / "o"),
         "--cache", str(tmp_path / "c")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    # The real registry must load: the error lists the valid names (a broken registry fails here).
    assert "unknown task 'no-such-task'; choose from [" in lines[0] and "'bookcovers'" in lines[0], lines[0]


def test_examples_hold_images_and_per_image_metrics(toy_run):
    entries = json.loads((toy_run / "examples" / "examples.json").read_text())
    views = [e for e in entries if e["task"] == "toyviews"]
    assert {(e["sample"], e["condition"]) for e in views} == {(0, 1), (0, 3), (1, 3)}
    rows = pd.read_parquet(toy_run / "rows.parquet")
    for e in entries:
        for item in e["inputs"] + [e["target"]]:
            assert (toy_run / "examples" / item["file"]).is_file()
        for o in e["outputs"]:
            if o["file"] is None:
                assert o["error"]
                continue
            assert (toy_run / "examples" / o["file"]).is_file()
            for metric, value in o["metrics"].items():
                sel = rows[(rows.task == e["task"]) & (rows.method == o["method"]) & (rows.metric == metric)
                           & (rows["sample"] == e["sample"]) & (rows.draw == e["draw"])]
                if e["condition"] is not None:
                    sel = sel[sel.condition == e["condition"]]
                assert sel["value"].item() == value


@dataclass(frozen=True)
class KillsInterpreter:
    """Exits the worker process: no Python exception to record."""

    name: str = "kills"
    tasks: tuple = ("views",)

    def restore(self, inputs):
        os._exit(3)


@pytest.mark.slow
def test_a_method_that_always_kills_its_worker_is_named_and_the_run_goes_on(tmp_path, capsys):
    """Issue 15 #5 (was: the run died with "a worker process died", naming no method)."""
    rc, out = run_toy(tmp_path, "--quick", tasks={"toyviews": make_views_task(quick_size=1)},
                      methods={"kills": KillsInterpreter(), "mean": MeanViews()}, workers=2)
    err = capsys.readouterr().err
    assert rc == 0
    assert "kills: its worker process died on toyviews sample 0" in err
    fails = pd.read_parquet(out / "failures.parquet")
    assert set(fails.base_method) == {"kills"} and fails.error.str.contains("worker process died").all()
    assert set(pd.read_parquet(out / "rows.parquet")["method"]) == {"mean"}


def test_rerun_into_the_same_directory_replaces_the_results(tmp_path):
    kw = dict(tasks={"toyviews": make_views_task(quick_size=1)})
    assert run_toy(tmp_path, "--quick", methods={"mean": MeanViews(), "halfgain": HalfGain()}, **kw)[0] == 0
    assert run_toy(tmp_path, "--quick", methods={"mean": MeanViews()}, **kw)[0] == 0
    out = tmp_path / "out"
    assert set(pd.read_parquet(out / "rows.parquet")["method"]) == {"mean"}
    assert not list((out / "examples").rglob("output_halfgain*"))
    assert "halfgain" not in (out / "report" / "index.html").read_text()


@dataclass(frozen=True)
class Crashes:
    """Kills its process on sample 1 (issue 15 #5)."""

    name: str = "crashes"
    tasks: tuple = ("toyimage",)
    crash_at: int = -1  # 8-bit pixel sum of the sample to crash on (sent to the worker with the method)

    def restore(self, inputs):
        if int(np.rint(inputs["image"].astype(np.float64) * 255).sum()) == self.crash_at:
            os._exit(3)
        return inputs["image"].copy()


@pytest.mark.parametrize("test_size", [3, 5], ids=["per-unit", "per-sample"])
def test_a_method_that_kills_its_worker_is_a_recorded_failure(tmp_path, test_size):
    """Issue 15 #5: the run goes on, the crash is recorded for that method and sample, other methods score
    (also when a sample's units go to a worker together: the other method's unit there is scored again)."""
    from generators.task import sample_rng

    task = dataclasses.replace(make_image_task(), test_size=test_size)
    signature = int(np.rint(task.make_sample(sample_rng(task.test_seed, 1)).inputs["image"] * 255).sum())
    methods = {"crashes": Crashes(crash_at=signature), "identity": Identity()}
    rc, out = run_toy(tmp_path, "--task", "toyimage", tasks={"toyimage": task}, methods=methods, workers=2)
    assert rc == 0
    fails = pd.read_parquet(out / "failures.parquet")
    assert list(zip(fails.base_method, fails["sample"])) == [("crashes", 1)]
    assert fails.error.str.contains("worker process died").all()
    rows = pd.read_parquet(out / "rows.parquet")
    assert set(rows.loc[rows.method == "crashes", "sample"]) == set(range(task.test_size)) - {1}
    assert set(rows.loc[rows.method == "identity", "sample"]) == set(range(task.test_size))


# ---------------------------------------------------------------- resume and mixed results (issue 25)


class _Interrupts:
    """MeanViews that raises KeyboardInterrupt (Ctrl-C) on its ``after``-th call, once."""

    name, tasks = "mean", ("views",)

    def __init__(self, after: int):
        self.calls, self.after = 0, after

    def restore(self, inputs):
        self.calls += 1
        if self.calls == self.after:
            raise KeyboardInterrupt
        return MeanViews().restore(inputs)


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, capsys):
    methods = {m.name: m for m in (MeanViews(), Identity())}
    tasks = toy_tasks(test_size=4)
    rc, whole = run_toy(tmp_path, tasks=tasks, methods=methods, name="whole")
    assert rc == 0
    # Ctrl-C on sample 2 of 'mean' on toyviews (3 view counts x DRAWS calls per sample): samples 0-1 are saved
    interrupted = {**methods, "mean": _Interrupts(after=2 * 3 * _scoring.DRAWS + 1)}
    rc, out = run_toy(tmp_path, tasks=tasks, methods=interrupted, name="resumed")
    assert rc == 130 and not (out / "run.json").exists() and (out / "partial" / "toyviews").is_dir()
    capsys.readouterr()
    rc, out = run_toy(tmp_path, tasks=tasks, methods=methods, name="resumed", workers=2)  # the rest in a pool
    assert rc == 0
    err = capsys.readouterr().err
    assert "toyimage: resuming: 3 of 3 units already scored" in err  # scored before toyviews
    assert "toyviews: resuming: 2 of 4 units already scored" in err  # samples 0 and 1 of 'mean'
    for name in ("rows", "aggregates", "differences"):
        pd.testing.assert_frame_equal(_comparable(pd.read_parquet(out / f"{name}.parquet")),
                                      _comparable(pd.read_parquet(whole / f"{name}.parquet")))
    assert not (out / "partial").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["tasks"]["toyviews"]["units_resumed"] == 2


def test_saved_units_of_another_split_are_refused_not_merged(tmp_path, capsys):
    methods = {m.name: m for m in (MeanViews(), Identity())}
    rc, out = run_toy(tmp_path, tasks=toy_tasks(test_size=4), methods={**methods, "mean": _Interrupts(after=5)})
    assert rc == 130
    capsys.readouterr()
    rc, out = run_toy(tmp_path, tasks=toy_tasks(test_size=5), methods=methods)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(errors) == 1  # one line, after the split-building notes
    err = errors[0]
    assert "split_size 4" in err and "this run 5" in err and "cannot be merged" in err
    assert not (out / "run.json").exists()


def test_saved_units_of_a_quick_protocol_are_not_merged_into_a_full_run(tmp_path, capsys):
    """Same split (quick_size == test_size) but fewer draws per n: the saved units are refused."""
    task = dataclasses.replace(make_views_task(test_size=3, quick_size=3), protocol=ViewSubsets(quick_draws=1))
    rc, _ = run_toy(tmp_path, "--quick", tasks={"toyviews": task}, methods={"mean": _Interrupts(after=4)})
    assert rc == 130
    capsys.readouterr()
    rc, out = run_toy(tmp_path, tasks={"toyviews": task}, methods={"mean": MeanViews()})
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(errors) == 1 and "protocol" in errors[0] and "cannot be merged" in errors[0]
    assert not (out / "run.json").exists()


def test_a_folder_mixing_runs_is_refused_when_rendered(toy_run, tmp_path, capsys):
    from leaderboard.__main__ import main as leaderboard_main

    for col, value in (("dataset_hash", "0" * 64), ("git_sha", "f" * 40), ("split_size", 999)):
        copy = tmp_path / col
        shutil.copytree(toy_run, copy)
        agg = pd.read_parquet(copy / "aggregates.parquet")
        agg.loc[agg.task == "toyviews", col] = value  # rows copied in from another run
        agg.to_parquet(copy / "aggregates.parquet", index=False)
        assert leaderboard_main([str(copy)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "mixes results of different runs" in err and col.replace(
            "_", " ") in err.replace("_", " ")


@dataclass(frozen=True)
class _ParityCondition:
    """One call per sample, its condition the sample index's parity (1 odd, 2 even), as the snow
    (size class) and coverrefs (reference condition) protocols carry one."""

    axis: str | None = "parity"
    condition_labels = None

    def calls(self, sample, *, seed: int, index: int):
        from generators.task import Call

        yield Call(1 if index % 2 else 2, 0, sample.inputs, "")


def test_examples_of_a_conditioned_protocol_hold_every_methods_output(tmp_path):
    # Was: the example keys of non-view protocols had condition None, so snow's and coverrefs'
    # examples showed "no output (skipped)" for every method.
    task = dataclasses.replace(make_image_task(), protocol=_ParityCondition())
    rc, out = run_toy(tmp_path, "--quick", tasks={"toyimage": task}, methods={"identity": Identity()})
    assert rc == 0
    entries = json.loads((out / "examples" / "examples.json").read_text())
    assert {(e["sample"], e["condition"]) for e in entries} == {(0, 2), (1, 1)}
    for e in entries:
        assert all(o["file"] is not None and o["metrics"] for o in e["outputs"]), e["outputs"]


@dataclass(frozen=True)
class _NamedParity(_ParityCondition):
    condition_labels = {1: "odd index", 2: "even index"}


def test_named_conditions_are_shown_by_name_not_as_counts(tmp_path):
    task = dataclasses.replace(make_image_task(), protocol=_NamedParity())
    rc, out = run_toy(tmp_path, "--quick", tasks={"toyimage": task}, methods={"identity": Identity()})
    assert rc == 0
    run = json.loads((out / "run.json").read_text())
    assert run["tasks"]["toyimage"]["condition_labels"] == {"1": "odd index", "2": "even index"}
    page = (out / "report" / "index.html").read_text()
    assert ">even index</option>" in page and "Metrics by parity" in page
    assert "number of input parity" not in page.lower()


def test_examples_keep_only_the_frame_the_report_shows():
    from benchmarks._examples import _save
    from benchmarks._scoring import example_part

    clip = np.random.default_rng(0).random((5, 8, 8, 3)).astype(np.float32)
    kept = example_part(clip)
    assert kept.shape == (1, 8, 8, 3) and np.array_equal(kept[0], clip[2])
    image = clip[0]
    assert example_part(image) is image
    from PIL import Image

    with tempfile.TemporaryDirectory() as d:
        _save(Path(d) / "a.png", clip)
        _save(Path(d) / "b.png", kept)
        assert np.array_equal(np.asarray(Image.open(Path(d) / "a.png")), np.asarray(Image.open(Path(d) / "b.png")))
