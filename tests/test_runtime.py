"""generators._runtime: the one list of recorded versions and the one set of thread variables."""

from __future__ import annotations

import os

import pytest

from benchmarks import _provenance
from generators import _runtime
from generators.dataset import _engines


def test_manifests_and_result_rows_record_the_same_versions(tmp_path, monkeypatch):
    """Both records read _runtime.PACKAGES when they are made: a distribution added to that one list
    appears in a written manifest and in result provenance alike, and an uninstalled one in neither.
    (This once compared package_versions() with itself, which could not fail.)"""
    import json

    from tests._toy_task import main as toy_main

    monkeypatch.setattr(_runtime, "PACKAGES", (*_runtime.PACKAGES, "pytest", "no-such-distribution-xyz"))
    versions = _runtime.package_versions()
    assert "pytest" in versions and "no-such-distribution-xyz" not in versions
    assert list(versions)[0] == "python"
    assert _provenance.read_versions() == versions
    assert toy_main(["--n", "1", "--out", str(tmp_path / "d"), "--workers", "1", "--no-progress"]) == 0
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["versions"] == versions
    # the union of the two lists that used to disagree (review 2026-12, sec. 5)
    assert {"numpy", "torch", "pandas", "pyarrow", "matplotlib", "bpy", "ray", "trimesh", "av"} <= set(versions)


def test_single_thread_env_sets_and_restores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    with _runtime.single_thread_env():
        assert all(os.environ[k] == "1" for k in _runtime.THREAD_ENV_VARS)
    assert os.environ["OMP_NUM_THREADS"] == "7" and "NUMBA_NUM_THREADS" not in os.environ
    assert _engines.single_thread_env is _runtime.single_thread_env


_ORPHAN_PARENT = """
import multiprocessing, sys, time
from concurrent.futures import ProcessPoolExecutor
from generators._runtime import die_with_parent
from benchmarks import _scoring
init = {"plain": None, "runtime": die_with_parent, "harness": _scoring.init_pool_worker}[sys.argv[1]]
args = ({},) if sys.argv[1] == "harness" else ()
pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=init, initargs=args)
futures = [pool.submit(time.sleep, 60) for _ in range(2)]
time.sleep(0.5)
print(" ".join(str(p) for p in pool._processes), flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False



@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")
@pytest.mark.parametrize("initializer", ["plain", "runtime", "harness"])
def test_pool_workers_die_with_a_killed_parent(initializer):
    """A harness or generator killed by SIGTERM/SIGKILL left its pool workers computing on as orphans
    (session 6 note). Workers started with die_with_parent (the harness's init_pool_worker, the writer's
    pool initializer, the split builder's) are killed with the parent; a plain pool's are not, which shows
    the test can fail."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", _ORPHAN_PARENT, initializer], cwd=repo,
                            stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        survivors = [p for p in pids if _alive(p)]
    finally:
        proc.kill()
        for p in pids if "pids" in locals() else ():
            if _alive(p):
                os.kill(p, signal.SIGKILL)
    if initializer == "plain":
        assert survivors, "a plain pool's workers should outlive a killed parent (else this test cannot fail)"
    else:
        assert not survivors, f"workers {survivors} outlived their killed parent"


def test_simd_pin_is_set_before_numpy_loads_in_every_entry_point():
    """numpy and OpenCV are held below AVX-512 (SIMD_ENV) in the process of each command, set before numpy loads;
    a sample's bytes must not depend on whether the CPU has AVX-512 (generators/_runtime.py)."""
    import subprocess
    import sys

    probe = ("import importlib, os, sys; importlib.import_module(sys.argv[1]); import generators; "
             "from generators._runtime import numpy_simd_pinned; "
             "print(generators.SIMD_PINNED_AT_IMPORT, numpy_simd_pinned(), os.environ.get('NPY_DISABLE_CPU_FEATURES'), "
             "os.environ.get('OPENCV_CPU_DISABLE'), sep='|')")
    env = {k: v for k, v in os.environ.items() if k not in _runtime.SIMD_ENV}
    for module in ("generators.bookcovers", "benchmarks.run", "baselines.inpaint", "models.kit", "leaderboard"):
        out = subprocess.run([sys.executable, "-c", probe, module], env=env, capture_output=True, text=True,
                             check=True).stdout.strip().split("|")
        assert out[0] == "True" and out[1] == "True", (module, out)
        opencv = _runtime.SIMD_ENV["OPENCV_CPU_DISABLE"] if _runtime._cpu_has_avx512() else "None"
        assert out[2:] == [_runtime.SIMD_ENV["NPY_DISABLE_CPU_FEATURES"], opencv], module
    # a value the user set wins
    out = subprocess.run([sys.executable, "-c", probe, "generators"], env={**env, "NPY_DISABLE_CPU_FEATURES": "AVX2"},
                         capture_output=True, text=True, check=True).stdout.strip().split("|")
    assert out[0] == "True" and out[2] == "AVX2", out


def test_simd_pin_leaves_a_user_setting_and_a_loaded_numpy_alone(monkeypatch):
    import numpy  # noqa: F401  (loaded: too late to pin)

    import cv2  # noqa: F401

    for k in _runtime.SIMD_ENV:
        monkeypatch.delenv(k, raising=False)
    assert _runtime.pin_simd() is False and not set(_runtime.SIMD_ENV) & set(os.environ)
    import generators

    assert generators.SIMD_PINNED_AT_IMPORT  # this test process: tests/__init__ imports generators first

