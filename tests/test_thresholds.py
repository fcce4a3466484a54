"""Regression floors (benchmarks/thresholds.toml) and the papers' orderings.

The slow tests run the real quick benchmark once per session
(``python -m benchmarks.run --task all --quick`` with the registered tasks and
methods, split cache in the usual place) and check it against the floors that
``python -m benchmarks.calibrate`` measured, and against the orderings the
papers report. Setting ``RESTOREBENCH_QUICK_RESULTS=DIR`` checks an existing
quick-run results directory instead (e.g. the one ``make run`` just wrote).

A task or method a test needs that is not registered (renamed or removed)
fails the test with one message naming it and what is registered, and so
does a floor for a registered method that produced no score; the tests skip
only when there is no ``benchmarks.registry`` at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import _thresholds
from benchmarks._thresholds import Floor, check_floors, derive_floors, format_thresholds, load_floors
from tests.tolerances import TOML_FLOAT_RTOL

META, FLOORS = load_floors()
GAIN = " (gain-corrected)"

# Method names as the papers' comparisons need them (benchmarks.registry names).
BOOKCOVERS_LEARNED = "deepset"
BOOKCOVERS_CLASSICAL = ("mean", "median", "weiss" + GAIN, "rpca")
FINGERPRINTS_UNET = "fp-unet"
FINGERPRINTS_BASELINE = "fp-residual-cnn"


# ---------------------------------------------------------------- the mechanism


def _toy_aggregates() -> pd.DataFrame:
    return pd.DataFrame({
        "task": ["t", "t", "t", "s"],
        "method": ["a", "a", "b (gain-corrected)", "a"],
        "base_method": ["a", "a", "b", "a"],
        "metric": ["psnr", "mse", "psnr", "mse"],
        "condition": pd.array([2, 2, 2, None], dtype="Int64"),
        "higher_is_better": [True, False, True, False],
        "mean": [20.0, 0.01, np.nan, 0.5],
        "ci_low": [19.0, 0.0099, np.nan, 0.4],
        "ci_high": [21.5, 0.0101, np.nan, 0.6],
    })


def test_floors_derive_with_documented_margin():
    floors = {(f.task, f.method, f.metric): f for f in derive_floors(_toy_aggregates())}
    assert ("t", "b (gain-corrected)", "psnr") not in floors  # no score, no floor
    psnr = floors[("t", "a", "psnr")]
    # CI half-width 1.25 dB, capped at the 0.3 dB the published split resolves (MARGIN_CAPS)
    assert psnr.direction == "min" and psnr.margin == pytest.approx(0.3) and psnr.bound == pytest.approx(19.7)
    mse = floors[("t", "a", "mse")]  # CI half-width 1e-4 equals 1% of the mean
    assert mse.direction == "max" and mse.bound == pytest.approx(0.0101)
    single = floors[("s", "a", "mse")]
    assert single.condition is None and single.bound == pytest.approx(0.6)


def test_check_reports_crossings_and_missing_scores():
    agg = _toy_aggregates()
    floors = derive_floors(agg)
    assert check_floors(agg, floors) == []
    worse = agg.copy()
    worse.loc[0, "mean"] = 19.6  # psnr fell by 0.4 dB, below 19.7
    worse.loc[3, "mean"] = 0.7  # mse rose above 0.6
    problems = check_floors(worse, floors)
    assert len(problems) == 2
    assert any("t / a / psnr / n=2: 19.6 is not >= 19.7" in p for p in problems)
    gone = agg[agg.method != "a"].copy()
    assert all("no score" in p for p in check_floors(gone, floors)) and len(check_floors(gone, floors)) == 3
    bad = Floor("t", "a", "a", "psnr", 2, "min", 25.0, 26.0, 1.0)
    assert check_floors(agg, [bad]) and not bad.holds(float("nan"))


def test_thresholds_round_trip_through_toml(tmp_path):
    floors = derive_floors(_toy_aggregates())
    meta = {"measured_at": "2026-01-01T00:00:00+00:00", "command": 'python -m x "q"', "git_sha": "abc",
            "git_dirty": True, "host": "cpu"}
    path = tmp_path / "t.toml"
    path.write_text(format_thresholds(floors, meta))
    meta2, floors2 = load_floors(path)
    assert meta2["command"] == meta["command"] and meta2["git_dirty"] is True
    assert len(floors2) == len(floors)
    for a, b in zip(floors, floors2):
        assert (a.task, a.method, a.base_method, a.metric, a.condition, a.direction) == \
               (b.task, b.method, b.base_method, b.metric, b.condition, b.direction)
        assert b.bound == pytest.approx(a.bound, rel=TOML_FLOAT_RTOL)
    path.write_text('floors = [ { task = "t", method = "a", metric = "m", direction = "up", bound = 1, '
                    'measured = 1, margin = 0 } ]')
    with pytest.raises(ValueError, match=r"floors\[0\]"):
        load_floors(path)


def test_calibrating_one_task_keeps_the_other_floors_and_says_so(tmp_path, capsys):
    from benchmarks import calibrate

    registry = _registry()
    one, other = sorted(registry.TASKS)[:2]
    agg = _toy_aggregates().assign(task=lambda a: a["task"].map({"t": one, "s": other}))
    path = tmp_path / "thresholds.toml"
    old_meta = {"measured_at": "2026-01-01T00:00:00+00:00", "command": "full run", "git_sha": "abc",
                "git_dirty": False, "host": "cpu"}
    path.write_text(format_thresholds(derive_floors(agg), old_meta))
    results = tmp_path / "results"
    results.mkdir()
    agg.assign(mean=agg["mean"] + 1.0).to_parquet(results / "aggregates.parquet")
    (results / "run.json").write_text(json.dumps({
        "quick": True, "tasks": {one: {}}, "finished": "2026-02-02T00:00:00+00:00", "command": "quick run of one",
        "git_sha": "def", "git_dirty": True, "host": {"cpu": "x", "cpu_count": 2}, "workers": 1}))
    assert calibrate.main(["--results", str(results), "--out", str(path), "--task", one]) == 0
    meta, floors = load_floors(path)
    assert meta["measured_at"] == old_meta["measured_at"] and meta["git_sha"] == "abc"
    assert len(meta["recalibrated"]) == 1 and meta["recalibrated"][0].startswith(f"{one}: measured 2026-02-02")
    assert "quick run of one" in meta["recalibrated"][0] and "(with uncommitted changes)" in meta["recalibrated"][0]
    by_task = {t: [f for f in floors if f.task == t] for t in (one, other)}
    before = {t: [f for f in derive_floors(agg) if f.task == t] for t in (one, other)}
    assert [f.measured for f in by_task[other]] == pytest.approx([f.measured for f in before[other]])
    assert [f.measured for f in by_task[one]] == pytest.approx([f.measured + 1.0 for f in before[one]])
    assert calibrate.main(["--results", str(results), "--out", str(path), "--task", other]) == 2
    assert f"lacks task(s) ['{other}']" in capsys.readouterr().err


def test_committed_thresholds_say_how_they_were_measured():
    assert FLOORS, "benchmarks/thresholds.toml holds no floors; run python -m benchmarks.calibrate"
    for key in ("measured_at", "command", "git_sha"):
        assert key in META, f"thresholds.toml lacks {key}"
    text = _thresholds.THRESHOLDS.read_text()
    assert "margin = max(CI half-width" in text
    assert {f.direction for f in FLOORS} <= {"min", "max"}


# ---------------------------------------------------------------- the real quick run


def _registry():
    import importlib
    import importlib.util

    if importlib.util.find_spec("benchmarks.registry") is None:
        pytest.skip("benchmarks.registry does not exist: no registered tasks or methods to measure")
    return importlib.import_module("benchmarks.registry")  # a broken registry fails, it does not skip


@pytest.fixture(scope="session")
def quick_aggregates(tmp_path_factory) -> pd.DataFrame:
    registry = _registry()
    given = os.environ.get("RESTOREBENCH_QUICK_RESULTS")
    if given:
        out = Path(given)
        run = json.loads((out / "run.json").read_text())
        assert run["quick"], f"{out} is not a --quick run"
        from benchmarks.run import tasks_on_another_seed

        other = tasks_on_another_seed(run, registry.TASKS)
        assert not other, f"{out} scored {other} on a split of another seed (--seed)"
    else:
        from benchmarks.run import main

        out = tmp_path_factory.mktemp("quick") / "results"
        rc = main(["--task", "all", "--quick", "--out", str(out)], tasks=registry.TASKS, methods=registry.METHODS)
        assert rc == 0
    return pd.read_parquet(out / "aggregates.parquet")


def _require(tasks=(), methods=()):
    """The registry, after checking that every named task and method is registered.

    A renamed or removed task or method fails the test with one message naming it and what is
    registered: a regression must not drop out silently (it used to skip).
    """
    registry = _registry()
    missing = [f"task {t!r}" for t in tasks if t not in registry.TASKS]
    missing += [f"method {m.removesuffix(GAIN)!r}" for m in methods if m.removesuffix(GAIN) not in registry.METHODS]
    if missing:
        pytest.fail(f"{', '.join(missing)} not registered (renamed? update the thresholds): tasks "
                    f"{sorted(registry.TASKS)}, methods {sorted(registry.METHODS)}", pytrace=False)
    return registry


def _pairs() -> list[tuple[str, str]]:
    return sorted({(f.task, f.base_method) for f in FLOORS})


@pytest.mark.slow
def test_every_registered_task_has_floors():
    registry = _registry()
    missing = sorted(set(registry.TASKS) - {f.task for f in FLOORS})
    assert not missing, f"no floors for {missing} in thresholds.toml; run python -m benchmarks.calibrate"


@pytest.mark.slow
@pytest.mark.parametrize("task, method", _pairs(), ids=[f"{t}-{m}" for t, m in _pairs()])
def test_quick_run_stays_above_floors(quick_aggregates, task, method):
    _require(tasks=[task], methods=[method])
    floors = [f for f in FLOORS if f.task == task and f.base_method == method]
    problems = check_floors(quick_aggregates, floors)
    assert not problems, f"{len(problems)} of {len(floors)} floors crossed:\n" + "\n".join(problems)


def _means(agg: pd.DataFrame, task: str, metric: str, n: int | None = None) -> pd.Series:
    sel = (agg.task == task) & (agg.metric == metric)
    sel &= agg.condition.isna() if n is None else agg.condition == n
    return agg[sel].set_index("method")["mean"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="known unmet requirement (issues 5, 14, 26): the shipped Deep Set (run 7, SSIM weight 2) beats every "
    "classical method, gain-corrected Weiss included, on raw and gain-invariant PSNR, MSE and LMSE for n >= 4, but "
    "not the gain-corrected Weiss (which sees the target) on SSIM at n = 6 on the quick split: 0.904 vs 0.911 "
    "(raw Weiss 0.907); it wins at n = 4, 5, 7, 8 and 9 (0.895 vs 0.893 at n = 4); on the "
    "published split (200 sequences) raw SSIM is at or above raw Weiss at every n >= 4, 0.907 vs 0.903 at n = 4, "
    "paired +0.004 [-0.002, +0.011]; strict, so a better checkpoint that passes turns this into a failure and "
    "the marker must go",
)
def test_bookcovers_deepset_beats_the_best_classical_method_from_4_views(quick_aggregates):
    """Deep Residual Sets (Figures 3-5): the learned set network is better than
    mean, median, Weiss (gain-corrected) and RPCA once it sees 4+ views."""
    registry = _require(tasks=["bookcovers"], methods=[BOOKCOVERS_LEARNED, *BOOKCOVERS_CLASSICAL])
    task = registry.TASKS["bookcovers"]
    agg = quick_aggregates
    ns = sorted(int(n) for n in agg.loc[agg.task == "bookcovers", "condition"].dropna().unique() if n >= 4)
    assert ns, "no bookcovers scores with 4 or more views"
    learned_rows = agg[(agg.task == "bookcovers") & (agg.method == BOOKCOVERS_LEARNED) & (agg.condition >= 4)]
    if not learned_rows["mean"].notna().any():
        pytest.fail(f"{BOOKCOVERS_LEARNED} has no bookcovers score with 4+ views: every call failed "
                    "(see failures.csv of the quick run)")
    worse = []
    for metric in task.metrics:
        hib = bool(task.higher_is_better.get(metric, False))
        for n in ns:
            m = _means(agg, "bookcovers", metric, n)
            classical = m.reindex(list(BOOKCOVERS_CLASSICAL)).dropna()
            assert len(classical), f"no classical scores at n={n}"
            best = classical.max() if hib else classical.min()
            learned = m.get(BOOKCOVERS_LEARNED, np.nan)
            if np.isnan(learned):
                worse.append(f"{metric} n={n}: deepset has no score (every call failed; see failures.csv)")
            elif not (learned > best if hib else learned < best):
                worse.append(f"{metric} n={n}: deepset {learned:.5g} vs best classical "
                             f"{classical.idxmax() if hib else classical.idxmin()} {best:.5g}")
    assert not worse, "deepset does not beat the classical methods:\n" + "\n".join(worse)


BOOKCOVERS_RAW_CLASSICAL = ("mean", "median", "weiss", "rpca")  # non-oracle: none sees the target
BAR_DB = 3.0  # issue 14: the Deep Set's raw PSNR margin over the best of them for n = 4..9


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "issue 14's bar on the quick split (8 sequences, one view draw per n) with run 7's weights (2026-12-06): "
    "+3.50 / +2.68 / +3.10 / +3.90 / +3.84 / +3.93 dB at n = 4..9, short at n = 5 (deepset 24.43, weiss 21.75; "
    "run 6: +2.77, run 4: +3.07). On the published split (200 sequences x 10 draws) the bar holds at every n "
    "with its lower CI bound: +3.70 [3.36, 4.02] / +3.94 [3.58, 4.29] / ... / +4.46 [4.01, 4.91]; on a second "
    "split (seed 2026, 200) +3.60 [3.28, 3.92] at n = 4. Strict: a checkpoint that clears n = 5 here "
    "turns this into a failure and the marker must go"))
def test_bookcovers_deepset_is_3_db_above_the_best_raw_classical_method(quick_aggregates):
    """Issue 14's bar: at least +3 dB raw PSNR over the best non-oracle classical method for n = 4..9."""
    _require(tasks=["bookcovers"], methods=[BOOKCOVERS_LEARNED, *BOOKCOVERS_RAW_CLASSICAL])
    short = []
    for n in range(4, 10):
        m = _means(quick_aggregates, "bookcovers", "psnr", n)
        classical = m.reindex(list(BOOKCOVERS_RAW_CLASSICAL)).dropna()
        assert len(classical) and BOOKCOVERS_LEARNED in m, f"missing scores at n={n}: {dict(m)}"
        margin = m[BOOKCOVERS_LEARNED] - classical.max()
        if not margin >= BAR_DB:
            short.append(f"n={n}: deepset {m[BOOKCOVERS_LEARNED]:.2f} dB, {classical.idxmax()} {classical.max():.2f} "
                         f"(+{margin:.2f})")
    assert not short, f"below the +{BAR_DB:g} dB bar:\n" + "\n".join(short)


@pytest.mark.slow
def test_fingerprints_unet_beats_the_residual_cnn(quick_aggregates):
    """The fingerprint U-Net paper's comparison: better MSE, PSNR and SSIM
    than the residual-CNN baseline on the same test images."""
    _require(tasks=["fingerprints"], methods=[FINGERPRINTS_UNET, FINGERPRINTS_BASELINE])
    agg = quick_aggregates
    for metric, hib in (("mse", False), ("psnr", True), ("ssim", True)):
        m = _means(agg, "fingerprints", metric)
        u, r = m.get(FINGERPRINTS_UNET, np.nan), m.get(FINGERPRINTS_BASELINE, np.nan)
        assert not np.isnan(u) and not np.isnan(r), f"{metric}: no score (U-Net {u}, residual CNN {r}); see failures.csv"
        assert (u > r) if hib else (u < r), f"{metric}: U-Net {u:.5g} vs residual CNN {r:.5g}"


def _beats(agg: pd.DataFrame, task: str, learned: str, others: tuple[str, ...], metrics: dict[str, bool]) -> list[str]:
    """Where ``learned`` is not strictly better than every one of ``others`` (single-call tasks)."""
    worse = []
    for metric, hib in metrics.items():
        m = _means(agg, task, metric)
        got = m.get(learned, np.nan)
        if np.isnan(got):
            worse.append(f"{metric}: {learned} has no score (every call failed; see failures.csv)")
            continue
        for other in others:
            ref = m.get(other, np.nan)
            if np.isnan(ref):
                worse.append(f"{metric}: {other} has no score")
            elif not (got > ref if hib else got < ref):
                worse.append(f"{metric}: {learned} {got:.5g} vs {other} {ref:.5g}")
    return worse


REFLECTIONS_MULTI = ("aligned-median", "aligned-min", "aligned-weiss", "aligned-min-veil")
REFLECTIONS_SINGLE = ("identity-frame", "relative-smoothness")


@pytest.mark.slow
def test_reflections_teacher_beats_every_multiview_baseline(quick_aggregates):
    """Issue 13's bar: the 3-frame teacher beats aligned median/min/Weiss on PSNR and SSIM (issue 26: and
    aligned-min-veil; full split: +4.94 dB PSNR [+3.59, +6.22], models/checkpoints/reflection_nets.md)."""
    _require(tasks=["reflections"], methods=["reflection-teacher", *REFLECTIONS_MULTI])
    worse = _beats(quick_aggregates, "reflections", "reflection-teacher", REFLECTIONS_MULTI,
                   {"psnr": True, "ssim": True})
    assert not worse, "\n".join(worse)


@pytest.mark.slow
@pytest.mark.parametrize("student", [
    "reflection-student",
    pytest.param("reflection-student-gt-only", marks=pytest.mark.xfail(strict=True, reason=(
        "a tie on SSIM on the 10-sequence quick split after the log-MSE retrain (2026-12-06, night): 0.922405 vs "
        "the input frame's 0.922421 (PSNR 27.49 vs 26.61 dB holds); on the published split (800) 0.9293 vs 0.9227 and "
        "29.23 vs 26.81 dB; strict, so a quick split where it holds asks for this mark to go"))),
])
def test_reflections_students_beat_every_single_image_baseline(quick_aggregates, student):
    """Issue 13's bar: the one-frame student beats identity and Li-Brown on PSNR and SSIM."""
    _require(tasks=["reflections"], methods=[student, *REFLECTIONS_SINGLE])
    worse = _beats(quick_aggregates, "reflections", student, REFLECTIONS_SINGLE, {"psnr": True, "ssim": True})
    assert not worse, "\n".join(worse)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="holds on the published split but not on the 10-sequence quick split (formation version 2): quick "
    "25.65 dB / 0.9193 vs the reference frame 26.61 / 0.9224; published split (800) +1.61 dB PSNR, paired 95% CI "
    "[+1.30, +1.89] (models/checkpoints/reflection_nets.md); strict, so a quick split where it holds is a failure "
    "that asks for this mark to go",
)
def test_reflections_min_veil_beats_the_reference_frame(quick_aggregates):
    """Issue 26: a classical multi-view baseline that beats returning the reference frame, on PSNR and SSIM.
    aligned-median / -min / -Weiss are not held to this: the formation leaves them no margin
    (benchmarks/reflection_diagnosis.py)."""
    _require(tasks=["reflections"], methods=["aligned-min-veil", "identity-frame"])
    worse = _beats(quick_aggregates, "reflections", "aligned-min-veil", ("identity-frame",),
                   {"psnr": True, "ssim": True})
    assert not worse, "\n".join(worse)


@pytest.mark.slow
def test_reflections_distilled_student_beats_the_gt_only_student(quick_aggregates):
    """Distilling Reflection Dynamics: the teacher's guidance makes the one-frame student better than
    training it on ground truth alone (PSNR and SSIM). Formation version 2, equal wall-clock budgets: quick
    split 27.66 vs 27.11 dB, 0.9278 vs 0.9247; published split +0.01 dB [-0.08, +0.11] (a tie), SSIM +0.0006
    [+0.0003, +0.0010]; on real content (reflections-real, 300) +0.70 dB [+0.48, +0.93]."""
    _require(tasks=["reflections"], methods=["reflection-student", "reflection-student-gt-only"])
    worse = _beats(quick_aggregates, "reflections", "reflection-student", ("reflection-student-gt-only",),
                   {"psnr": True, "ssim": True})
    assert not worse, "\n".join(worse)


CAPTIONS_OTHERS = ("chalearn-autoencoder", "identity-video", "detect-telea", "detect-navier-stokes", "temporal-fill")


@pytest.mark.slow
def test_captions_gated_unet_beats_autoencoder_and_classical(quick_aggregates):
    """Issue 11's bar: the gated video U-Net beats the organisers' autoencoder and every classical
    baseline on the headline clip PSNR (issue 26) and on DSSIM (per frame, averaged per clip, then
    over clips)."""
    _require(tasks=["captions"], methods=["gated-video-unet", *CAPTIONS_OTHERS])
    worse = _beats(quick_aggregates, "captions", "gated-video-unet", CAPTIONS_OTHERS,
                   {"psnr_clip": True, "dssim": False})
    assert not worse, "\n".join(worse)


ROADSEG_BASELINES = ("nearest-labels", "telea-labels", "navier-stokes-labels", "patchmatch-labels", "vanishing-line-fill")


@pytest.mark.slow
def test_roadseg_layout_network_beats_every_baseline(quick_aggregates):
    """Issue 12's bar: the layout network beats every baseline on in-mask accuracy and mIoU."""
    _require(tasks=["roadseg"], methods=["layout-gated-net", *ROADSEG_BASELINES])
    worse = _beats(quick_aggregates, "roadseg", "layout-gated-net", ROADSEG_BASELINES,
                   {"acc_in": True, "miou_in": True})
    assert not worse, "\n".join(worse)


def test_a_renamed_method_fails_the_threshold_test_instead_of_skipping():
    """The check behind every ordering test: a name missing from the registry is a failure."""
    with pytest.raises(pytest.fail.Exception, match="'no-such-method' not registered"):
        _require(tasks=["coverfill"], methods=["no-such-method"])
    with pytest.raises(pytest.fail.Exception, match="task 'no-such-task'"):
        _require(tasks=["no-such-task"])
    assert _require(tasks=["coverfill"], methods=["telea"]) is _registry()


SNOW_CLASSICAL = ("snow-identity", "snow-median", "snow-detect-telea", "snow-detect-ns", "snow-wmgf", "snow-dcp-wmgf")
SNOW_CLASSES = {1: "small", 2: "medium", 3: "large", 4: "mixed"}  # the snow task's condition ids


@pytest.mark.slow
def test_snow_desnownet_beats_every_classical_method_per_size_class(quick_aggregates):
    """Issue 28's bar: DesnowNet beats every classical single-image method on PSNR and SSIM in every size class."""
    _require(tasks=["snow"], methods=["desnownet", *SNOW_CLASSICAL])
    worse = []
    for cond, label in SNOW_CLASSES.items():
        for metric in ("psnr", "ssim"):
            m = _means(quick_aggregates, "snow", metric, cond)
            got = m.get("desnownet", np.nan)
            classical = m.reindex(list(SNOW_CLASSICAL)).dropna()
            if np.isnan(got) or not len(classical):
                worse.append(f"{label} {metric}: missing scores ({dict(m)})")
            elif not got > classical.max():
                worse.append(f"{label} {metric}: desnownet {got:.5g} vs {classical.idxmax()} {classical.max():.5g}")
COVERREFS_SINGLE_IMAGE = ("telea", "navier-stokes", "patchmatch")
COVERREFS_USEFUL = (111, 131)  # a reference sees >= 50 % of the hole (generators.coverrefs.condition_code)
COVERREFS_NOT_USEFUL = (100, 110, 130)  # no reference, or none sees half the hole


@pytest.mark.slow
def test_coverrefs_refnet_above_stitching_on_the_quick_split(quick_aggregates):
    """Issue 29's first bar as a regression guard on the quick split's means (30 queries): the
    reference-aware network's PSNR inside the hole is above the retrieval + stitching baseline's
    wherever the best reference sees at least half of the hole. NOT the bar itself: on the full split
    (800 queries, run-4 weights, PatchMatch version 2) the paired difference is +1.47 dB [+0.91, +2.02]
    at 111 and +0.97 dB [+0.45, +1.52] at 131 (run 3 on 400 queries: +1.18 and a tie, +0.24 [-0.46,
    +0.91]; models/checkpoints/refnet.md)."""
    _require(tasks=["coverrefs"], methods=["refnet", "retrieval-stitch"])
    worse = []
    for n in COVERREFS_USEFUL:
        m = _means(quick_aggregates, "coverrefs", "psnr_hole", n)
        got, ref = m.get("refnet", np.nan), m.get("retrieval-stitch", np.nan)
        if not got > ref:
            worse.append(f"condition {n}: refnet {got:.3f} dB vs retrieval-stitch {ref:.3f} dB")
    assert not worse, "\n".join(worse)


@pytest.mark.slow
def test_coverrefs_refnet_not_below_single_image_fills_on_the_quick_split(quick_aggregates):
    """Issue 29's second bar as a regression guard on the quick split's means: where no reference
    helps, the network's mean PSNR in the hole is not below the best single-image fill's (Telea,
    Navier-Stokes, PatchMatch). NOT the bar itself: on the full split (800 queries, run-4 weights,
    PatchMatch version 2) refnet - PatchMatch is +1.28 [+0.69, +1.89], +0.64 [+0.04, +1.20] and +0.61
    [-0.09, +1.24] dB at 100, 110 and 130 (models/checkpoints/refnet.md). Strictly xfailed until run 4:
    at 130 (one query) refnet was 0.56-0.73 dB below PatchMatch."""
    _require(tasks=["coverrefs"], methods=["refnet", *COVERREFS_SINGLE_IMAGE])
    worse = []
    for n in COVERREFS_NOT_USEFUL:
        m = _means(quick_aggregates, "coverrefs", "psnr_hole", n)
        best = max(m.get(x, np.nan) for x in COVERREFS_SINGLE_IMAGE)
        got = m.get("refnet", np.nan)
        if np.isnan(best) or not got >= best:
            worse.append(f"condition {n}: refnet {got:.3f} dB vs best single-image fill {best:.3f} dB")
    assert not worse, "\n".join(worse)


def test_calibration_refuses_a_run_on_another_seed(tmp_path, capsys):
    """Floors are for the test split: a ``--seed`` run (a second split) is refused in one line."""
    from benchmarks import calibrate

    one = sorted(_registry().TASKS)[0]
    results = tmp_path / "results"
    results.mkdir()
    _toy_aggregates().assign(task=one).to_parquet(results / "aggregates.parquet")
    (results / "run.json").write_text(json.dumps({"quick": True, "tasks": {one: {"seed": 4242}}}))
    assert calibrate.main(["--results", str(results), "--out", str(tmp_path / "t.toml"), "--task", one]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "on a split of another seed" in err[0] and not (tmp_path / "t.toml").exists()


def test_calibrating_several_tasks_runs_them_all(monkeypatch, tmp_path):
    """benchmarks.run takes one comma-separated --task; calibrate passed one --task per name, so only
    the last task ran and the calibration failed for the others ("lacks task(s)")."""
    from benchmarks import calibrate

    seen = []
    monkeypatch.setattr(calibrate, "run_main", lambda argv: seen.append(list(argv)) or 0)
    monkeypatch.chdir(tmp_path)
    calibrate._run_quick(2, ["captions", "captions-real", "roadseg"])
    argv = seen[0]
    assert argv.count("--task") == 1 and argv[argv.index("--task") + 1] == "captions,captions-real,roadseg"
