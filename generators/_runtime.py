"""The run-time environment every layer records or pins: library versions and thread counts.

One owner for two things that used to be defined twice (design review 2026-12, sec. 5):

* :data:`PACKAGES` and :func:`package_versions`: the distributions whose versions
  can change a number. Dataset manifests (``generators.dataset``) and benchmark
  rows and ``run.json`` (``benchmarks._provenance``) record the same list, so
  that a dataset and a result made in one environment name the same versions.
* :class:`UserError`: the one error class for problems the user can fix.
* :func:`default_cache_dir`: where derived, re-creatable files live (the
  benchmark's test splits, the content library's dead-leaves plates).
* :data:`SIMD_ENV` and :func:`pin_simd`: numpy's and OpenCV's CPU dispatch held below AVX-512, so
  that a sample's bytes do not depend on whether the CPU has AVX-512 (see
  :data:`SIMD_ENV`).
* :data:`THREAD_ENV_VARS` and :func:`single_thread_env`: the OpenMP/BLAS/numba
  variables a parent sets to ``"1"`` before spawning workers, so that child
  processes compute with one thread each (the thread count must not change
  floating-point results, and workers must not oversubscribe the cores).

This module is in the core layer: it imports nothing from the project.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Iterator

__all__ = ["UserError", "PACKAGES", "THREAD_ENV_VARS", "SIMD_ENV", "package_versions", "single_thread_env",
           "pin_simd", "numpy_simd_pinned", "default_cache_dir"]


class UserError(ValueError):
    """A problem the user can fix (bad flag, missing file, full disk, corrupt checkpoint ...).

    The one user-error class of the project: the dataset writer and reader,
    the trainers and the harness raise it (or a subclass) with a one-line
    message, and every command line prints ``error: <message>`` and exits
    with status 2 instead of showing a traceback.
    """


# Distributions whose versions are recorded (those not installed are skipped).
# Adding one is safe for existing datasets: resuming compares only the packages
# recorded on both sides (generators.dataset._writer._check_versions).
PACKAGES = (
    "restorebench",
    # the array stack and the compiled kernels
    "numpy",
    "scipy",
    "numba",
    # learned models
    "torch",
    # image and video codecs, image processing
    "opencv-python-headless",
    "opencv-python",
    "pillow",
    "imagecodecs",
    "scikit-image",
    "av",
    # renderers and simulators
    "bpy",
    "trimesh",
    "pyrender",
    "carla",
    # engines, storage and tables
    "ray",
    "webdataset",
    "pandas",
    "pyarrow",
    "matplotlib",
)

# Environment variables that set the thread count of OpenMP, MKL, OpenBLAS and numba.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


# numpy and OpenCV pick their kernels at import by the CPU's features. Where the CPU has AVX-512 (AVX512_SKX),
# numpy 1.26 computes float64 exp, log, sin, cos, power ... with Intel SVML kernels and several float32 loops
# with AVX-512 ones; elsewhere it uses glibc's libm and the AVX2 loops. The two differ in the last bit, which
# flips a rare 8-bit value (or one float16 step) in a sample. Measured 2026-12-07 on the golden samples (made
# on AVX-512 machines, compared on an AVX2-only AMD EPYC): 9 of 13 generators differed, in at most 14 of
# 36,864 values of a field (0.038 %), each by one quantisation step (a 65,536-entry sRGB table step, one
# uint8, one float16 ulp), and float parameters in their last bits; disabling numpy's AVX2 on the AVX2
# machine changed almost nothing (one more uint8), so the AVX-512-only kernels are what differs. OpenCV
# dispatches some kernels to AVX512_SKX too (its ECC alignment, which the reflection teacher runs, moves
# with them: tests/tolerances.py ECC_ALIGNED_ATOL). Held below AVX-512, every x86-64 machine with AVX2 runs
# the same kernels of both. Each variable is set before its library is imported (generators/__init__.py
# does it); a value the user sets wins.
SIMD_ENV = {
    "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL",
    "OPENCV_CPU_DISABLE": "AVX512-SKX",  # the only AVX-512 target opencv-python's wheels dispatch to
}
# Per variable: the library that reads it at import, and whether to set it only on an AVX-512 CPU (OpenCV
# prints a warning on stderr for every feature it is asked to disable that the CPU lacks; numpy does not).
_SIMD_LIBRARY = {"NPY_DISABLE_CPU_FEATURES": ("numpy", False), "OPENCV_CPU_DISABLE": ("cv2", True)}


def pin_simd() -> bool:
    """Set each :data:`SIMD_ENV` variable (where unset) whose library is not imported yet; True if all were.

    Child processes (worker pools, Ray workers) inherit the variables.
    """
    import sys

    in_time = True
    for k, v in SIMD_ENV.items():
        library, avx512_only = _SIMD_LIBRARY[k]
        if library in sys.modules:
            in_time = False
        elif not avx512_only or _cpu_has_avx512():
            os.environ.setdefault(k, v)
    return in_time


@functools.lru_cache(maxsize=None)
def _cpu_has_avx512() -> bool:
    """Does the CPU report AVX-512 (Linux: the first ``flags`` line of /proc/cpuinfo; False elsewhere)?"""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def numpy_simd_pinned() -> bool:
    """True when this process's numpy dispatches to none of the AVX-512 targets :data:`SIMD_ENV` names
    (pinned, or a CPU without AVX-512; numpy reports a disabled target as absent)."""
    from numpy.core._multiarray_umath import __cpu_features__

    return not any(__cpu_features__.get(k) for k in SIMD_ENV["NPY_DISABLE_CPU_FEATURES"].split())


def package_versions() -> dict[str, str]:
    """Python and library versions, ``{"python": "3.11.x", "numpy": "1.26.4", ...}``.

    Returns
    -------
    dict
        ``"python"`` first, then every installed distribution of :data:`PACKAGES`
        in that order; distributions that are not installed are left out.
    """
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


@contextlib.contextmanager
def single_thread_env() -> Iterator[None]:
    """Set every :data:`THREAD_ENV_VARS` variable to ``"1"`` inside the block, then restore it.

    Processes spawned inside the block inherit one-thread OpenMP/BLAS/numba
    settings; variables that were unset before are unset again afterwards.
    """
    saved = {k: os.environ.get(k) for k in THREAD_ENV_VARS}
    os.environ.update({k: "1" for k in THREAD_ENV_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def die_with_parent() -> None:
    """In a worker process: be killed (SIGKILL) when the parent dies, so that a parent stopped by SIGTERM
    or SIGKILL leaves no orphaned workers computing on (Linux ``PR_SET_PDEATHSIG``; nothing elsewhere)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        # A parent that died before the line above (a spawned worker imports for seconds on a busy machine)
        # sends no signal: this worker has been re-parented already, so it leaves now.
        import multiprocessing

        parent = multiprocessing.parent_process()
        if parent is not None and os.getppid() != parent.pid:
            os._exit(1)


def default_cache_dir() -> Path:
    """``$RESTOREBENCH_CACHE``, else ``.restorebench-cache/`` in the checkout.

    Falls back to ``~/.cache/restorebench`` when the package is not running
    from a source checkout (no ``pyproject.toml`` next to it). Everything in
    it can be deleted: it is re-created, byte for byte, when next needed.
    """
    env = os.environ.get("RESTOREBENCH_CACHE")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file():
        return root / ".restorebench-cache"
    return Path.home() / ".cache" / "restorebench"
