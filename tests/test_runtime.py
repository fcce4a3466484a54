"""generators._runtime: the one list of recorded versions and the one set of thread variables."""

from __future__ import annotations

import os

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
