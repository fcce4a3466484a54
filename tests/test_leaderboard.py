"""The static leaderboard (python -m leaderboard) on a toy results directory.

The browser test serves nothing: headless Chromium opens ``index.html`` from
disk (``file://``), dumps the DOM after the page's scripts ran and takes a
screenshot. Our page writes nothing to the console, so any ``CONSOLE`` line
Chromium logs (``--enable-logging=stderr``: console.log/error, uncaught
exceptions) fails the test. Skips only when Chromium is not installed
(``make test`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from generators.metrics import dssim, lmse, mse, psnr, psnr_gain_invariant, ssim, ssim_gain_invariant
from generators.task import Task, ViewSubsets
from leaderboard.__main__ import main as leaderboard_main
from tests.test_harness import (
    HalfGain, Identity, LearnedMedian, MeanViews, WrongShape, make_views_sample, run_toy, toy_tasks,
)

REPO = Path(__file__).resolve().parents[1]
EVIL = "<script>alert('x')</script> & \"co\""


@dataclass(frozen=True)
class Evil:
    """A method whose name is an HTML injection attempt."""

    name: str = EVIL
    tasks: tuple = ("views", "image")

    def restore(self, inputs):
        x = inputs["views"][0] if "views" in inputs else inputs["image"]
        return x.copy()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("board")
    methods = {m.name: m for m in (MeanViews(), HalfGain(), Identity(), WrongShape(), Evil(), LearnedMedian())}
    rc, out = run_toy(tmp, tasks=toy_tasks(), methods=methods)
    assert rc == 0
    return out


@dataclass(frozen=True)
class Named:
    """The median of the views under a given (long) name."""

    name: str
    tasks: tuple = ("views",)

    def restore(self, inputs):
        return np.median(inputs["views"], axis=0).astype(np.float32)


@pytest.fixture(scope="module")
def wide_results(tmp_path_factory) -> Path:
    """A run as wide as bookcovers': its seven metrics, ten views, long method names, a learned model."""
    tmp = tmp_path_factory.mktemp("wide")
    metrics = {"psnr": psnr, "ssim": ssim, "dssim": dssim, "lmse": lmse, "mse": mse,
               "psnr_gi": psnr_gain_invariant, "ssim_gi": ssim_gain_invariant}
    task = Task(
        name="wideviews", make_sample=functools.partial(make_views_sample, n_views=10), metrics=metrics,
        input_kind="views", test_size=3, quick_size=2, test_seed=5, params={"n_views": 10},
        higher_is_better={m: m in ("psnr", "ssim", "psnr_gi", "ssim_gi") for m in metrics}, protocol=ViewSubsets(),
    )
    methods = [MeanViews(), HalfGain(), LearnedMedian(), Evil(), Named("relative-smoothness"),
               Named("reflection-student-gt-only"), Named("aligned-weiss")]
    rc, out = run_toy(tmp, tasks={task.name: task}, methods={m.name: m for m in methods})
    assert rc == 0
    return out


def _rerender(results: Path, tmp_path: Path) -> Path:
    """A copy of the results directory, re-rendered by the command line."""
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    assert leaderboard_main([str(copy)]) == 0
    return copy


def test_text_is_escaped(results):
    page = (results / "report" / "index.html").read_text()
    assert "<script>alert" not in page
    assert html.escape(EVIL, quote=True) in page
    assert len(re.findall(r"<script>", page)) == 1  # only the page's own script
    # file names made from the name are safe too
    for p in (results / "report").rglob("*"):
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", str(p.relative_to(results / "report"))), p


def test_report_is_self_contained(results):
    report = results / "report"
    page = (report / "index.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", page)
    assert "@import" not in page and "url(http" not in page
    srcs = re.findall(r"<img src='([^']+)'", page)
    assert srcs, "no images on the page"
    for src in srcs:
        assert src.startswith("data:") or (report / html.unescape(src)).is_file(), src
    # the plots of a multi-image task and the example grids are there
    assert any(s.startswith("plots/toyviews_") for s in srcs)
    assert any(s.startswith("img/toyviews/") for s in srcs)
    assert any(s.startswith("img/toyimage/") for s in srcs)


def test_every_number_comes_from_the_saved_files(results, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    agg = pd.read_parquet(copy / "aggregates.parquet")
    pick = (agg.task == "toyimage") & (agg.method == "identity") & (agg.metric == "psnr")
    agg.loc[pick, ["mean", "ci_low", "ci_high"]] = [123.456, 120.25, 126.75]
    agg.to_parquet(copy / "aggregates.parquet", index=False)
    assert leaderboard_main([str(copy)]) == 0
    page = (copy / "report" / "index.html").read_text()
    assert "123.5" in page and "120.2" in page and "126.8" in page


def test_renders_from_csv_when_parquet_is_absent(results, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    for p in copy.glob("*.parquet"):
        p.unlink()
    out = tmp_path / "elsewhere"
    assert leaderboard_main([str(copy), "--out", str(out)]) == 0
    a = (results / "report" / "index.html").read_text()
    b = (out / "index.html").read_text()
    assert b == a


def test_rank_groups_are_shown_with_their_rule(results, tmp_path):
    """Issue 25 #4: identity and the evil-named method return the same image on toyimage, so their paired
    difference is 0 on every sample: they share a rank, shown "k=" in aggregates.csv and on the page."""
    agg = pd.read_csv(results / "aggregates.csv", keep_default_na=False, na_values=[""])
    img = agg[(agg.task == "toyimage") & (agg.metric == "psnr")].set_index("method")
    assert img.loc["identity", "rank_label"] == img.loc[EVIL, "rank_label"] == f"{int(img.loc['identity', 'rank'])}="
    page = (results / "report" / "index.html").read_text()
    assert f">{img.loc['identity', 'rank_label']}</td>" in page
    assert "id=rank-rule>Ranks: rank groups" in page and "Ties do not chain" in page
    assert "indicative only" not in page  # a full (not --quick) run
    rc, quick = run_toy(tmp_path, "--quick", methods={m.name: m for m in (MeanViews(), Identity())})
    assert rc == 0 and "Quick run: its ranks are indicative only" in (quick / "report" / "index.html").read_text()


def test_markdown_table_shows_rank_groups(results, capsys):
    """``python -m leaderboard DIR --markdown``: the README's table, rank labels from aggregates.csv."""
    assert leaderboard_main([str(results), "--markdown"]) == 0
    table = capsys.readouterr().out
    agg = pd.read_parquet(results / "aggregates.parquet")
    first = json.loads((results / "run.json").read_text())["tasks"]["toyviews"]["metrics"][0]
    top = agg[(agg.task == "toyviews") & (agg.metric == first) & (agg.condition == agg.condition.max())]
    for rec in top[top["mean"].notna()].to_dict("records"):
        assert f"| {rec['rank_label']} | {rec['method']} | {first} {float(rec['mean']):.4g} [" in table
    img = agg[(agg.task == "toyimage") & (agg.metric == first) & (agg.method == "identity")].squeeze()
    assert f"| {img['rank_label']} | identity |" in table and img["rank_label"].endswith("=")
    assert "indicative only" not in table


def test_summary_tables_come_from_the_run(results, capsys):
    from leaderboard import summary

    assert summary.main([str(results)]) == 0
    out = capsys.readouterr().out
    run = json.loads((results / "run.json").read_text())
    diff = pd.read_csv(results / "differences.csv")
    best = diff[diff.comparison.str.startswith(summary.BEST) & (diff.metric == "mse")].iloc[0]
    assert f"{best.method} " in out and f"[{best.ci_low:.3f}, {best.ci_high:.3f}]" in out
    for task, info in run["tasks"].items():
        assert f"| {task} | {info['size']} |" in out  # every task has its budget row
    assert summary.main([str(results / "nowhere")]) == 2


def test_not_a_results_dir_is_one_line(tmp_path, capsys):
    assert leaderboard_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run.json" in err


def test_cli_module_runs(results, tmp_path):
    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    proc = subprocess.run([sys.executable, "-m", "leaderboard", str(copy)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"report: {copy / 'report' / 'index.html'}"


# ---------------------------------------------------------------- in a browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (make test installs Debian's chromium); browser check skipped"
)


def _chromium(url: str, tmp: Path, *mode: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
        "--enable-logging=stderr", "--v=0", "--window-size=1280,2400", "--virtual-time-budget=5000",
        *mode, url,
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@needs_chromium
def test_report_in_headless_chromium(results, tmp_path):
    index = results / "report" / "index.html"
    proc = _chromium(index.as_uri(), tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert _console_lines(proc.stderr) == []
    assert 'data-ready="1"' in dom, "the page's script did not run"
    loaded = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert loaded, "no load event"
    assert int(loaded.group(2)) > 10 and loaded.group(1) == loaded.group(2), f"broken images: {loaded.group(0)}"
    assert len(re.findall(r"<table class=\"board\"", dom)) >= 4  # toyimage + 3 n-tables of toyviews + failures
    # the view selector shows one table per multi-image task, the largest n
    shown = re.findall(r'<table class="board" id="(t-toyviews-n\d)"[^>]*?( hidden="")?>', dom)
    assert [t for t, hidden in shown if not hidden] == ["t-toyviews-n3"]
    shot = tmp_path / "report.png"
    proc = _chromium(index.as_uri(), tmp_path, f"--screenshot={shot}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _console_lines(proc.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@needs_chromium
def test_tables_sort_in_the_browser(results, tmp_path):
    index = results / "report" / "index.html"
    table = "t-toyviews-n3"
    col = 1  # the mse column
    for direction in ("asc", "desc"):
        proc = _chromium(f"{index.as_uri()}#sort={table}:{col}:{direction}", tmp_path, "--dump-dom")
        assert proc.returncode == 0 and _console_lines(proc.stderr) == []
        m = re.search(rf'<table class="board" id="{table}"[^>]*data-sorted="{col}:{direction}"[^>]*>(.*?)</table>',
                      proc.stdout, re.S)
        assert m, f"table {table} not sorted {direction}"
        values = [float(v) if v else None for v in re.findall(
            r"<tr><td[^>]*>.*?</td><td data-sort=\"([^\"]*)\"", m.group(1))]
        numbers = [v for v in values if v is not None]
        assert len(numbers) >= 3
        assert numbers == sorted(numbers, reverse=direction == "desc")
        assert values[len(numbers):] == [None] * (len(values) - len(numbers))  # failed methods last


# Appended to a copy of the page: after the load event, the widths that decide
# horizontal scrolling, as "id scrollWidth clientWidth" (the page and every visible table
# against the box it sits in), in <body data-widths>.
_MEASURE_WIDTHS = """<script>
window.addEventListener("load", function () {
  var de = document.documentElement, out = ["page " + de.scrollWidth + " " + de.clientWidth];
  Array.prototype.forEach.call(document.querySelectorAll("table"), function (t) {
    if (t.offsetParent !== null) { out.push((t.id || t.className) + " " + t.scrollWidth + " " + t.parentElement.clientWidth); }
  });
  document.body.setAttribute("data-widths", out.join(";"));
});
</script></body>"""


@needs_chromium
@pytest.mark.parametrize("run", ["results", "wide_results"])
def test_report_fits_1280_px_without_horizontal_scrolling(run, request, tmp_path):
    """Issue 15: at a 1280 px window nothing scrolls sideways, neither the page nor a table in its box."""
    report = tmp_path / "report"
    shutil.copytree(request.getfixturevalue(run) / "report", report)
    page = (report / "index.html").read_text()
    (report / "index.html").write_text(page.replace("</body>", _MEASURE_WIDTHS))
    proc = _chromium((report / "index.html").as_uri(), tmp_path, "--dump-dom")  # a 1280 px wide window
    assert proc.returncode == 0 and _console_lines(proc.stderr) == [], proc.stderr[-2000:]
    m = re.search(r'data-widths="([^"]*)"', proc.stdout)
    assert m, "the measuring script did not run"
    widths = {name: (int(w), int(box)) for name, w, box in (r.rsplit(" ", 2) for r in m.group(1).split(";"))}
    assert 1200 <= widths["page"][1] <= 1280  # the window is 1280 px wide (less a vertical scrollbar)
    assert any(k.startswith("d-") for k in widths), "no differences table on the page"
    too_wide = {k: v for k, v in widths.items() if v[0] > v[1]}
    assert not too_wide, f"wider than their box (scrollWidth, clientWidth): {too_wide}"


_TICK_ALL_METRICS = """<script>
window.addEventListener("load", function () {
  var box = document.getElementById("all-metrics");
  var before = document.querySelectorAll("table.board th.metric").length;
  var shown = function () { return Array.prototype.filter.call(document.querySelectorAll("table.board th.metric"),
    function (th) { return th.offsetParent !== null; }).length; };
  var a = shown(); box.checked = true; box.dispatchEvent(new Event("change")); var b = shown();
  var de = document.documentElement;
  document.body.setAttribute("data-toggle", [before, a, b, de.scrollWidth, de.clientWidth].join(" "));
});
</script></body>"""


@needs_chromium
def test_all_metrics_toggle_shows_the_hidden_columns(wide_results, tmp_path):
    """Issue 15 #7: the bookcovers-wide tables show the first DEFAULT_METRICS metrics; the toggle shows
    the rest, and the page itself still does not scroll sideways (a wide table scrolls in its box)."""
    from leaderboard.render import DEFAULT_METRICS

    report = tmp_path / "report"
    shutil.copytree(wide_results / "report", report)
    page = (report / "index.html").read_text()
    (report / "index.html").write_text(page.replace("</body>", _TICK_ALL_METRICS))
    proc = _chromium((report / "index.html").as_uri(), tmp_path, "--dump-dom")
    assert proc.returncode == 0 and _console_lines(proc.stderr) == [], proc.stderr[-2000:]
    m = re.search(r'data-toggle="([^"]*)"', proc.stdout)
    assert m, "the toggle script did not run"
    total, shown_default, shown_all, page_w, client_w = (int(v) for v in m.group(1).split())
    assert shown_default < shown_all and shown_default % DEFAULT_METRICS == 0
    assert page_w <= client_w


@needs_chromium
def test_console_errors_are_caught(tmp_path):
    """The check itself can fail: a page that throws is reported."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
                   "<script>undefinedFunction();</script></body></html>")
    proc = _chromium(bad.as_uri(), tmp_path, "--dump-dom")
    assert any("undefinedFunction" in line for line in _console_lines(proc.stderr))
