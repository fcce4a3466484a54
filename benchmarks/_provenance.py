"""Where a result came from: git state, library versions, host.

Every results row and ``run.json`` carry these values so that a number on the
leaderboard can be traced to the code and environment that produced it.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from pathlib import Path

from generators._runtime import package_versions

_REPO_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_REPO_ROOT, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def read_git_state() -> dict[str, object]:
    """``{"git_sha": str, "git_dirty": bool | None}`` for the repository.

    ``git_sha`` is ``"unknown"`` outside a git checkout or before the first
    commit; ``git_dirty`` is None when it cannot be told.
    """
    sha = _git("rev-parse", "HEAD") or "unknown"
    # Untracked (not ignored) files count: a new, uncommitted module changes what runs.
    status = _git("status", "--porcelain")
    return {"git_sha": sha, "git_dirty": None if status is None else bool(status)}


def read_versions() -> dict[str, str]:
    """Python and library versions, ``{"python": "3.11.x", "numpy": ...}``.

    The list is :data:`generators._runtime.PACKAGES`, the one dataset manifests record.
    """
    return package_versions()


def format_versions(versions: dict[str, str]) -> str:
    """One compact string, ``"python=3.11.9;numpy=1.26.4;..."``, for table rows."""
    return ";".join(f"{k}={v}" for k, v in versions.items())


def read_host() -> dict[str, object]:
    """CPU model, core count, platform and Python executable of this machine, and the two CPU traits that
    change numbers (README "Environment"): whether it has AVX-512 (``avx512``; numpy and OpenCV are held
    below it, ``simd_env`` gives the settings in force) and whether the networks that declare bf16 inference
    ran in bf16 (``bf16_native``) or in float32."""
    from generators._runtime import SIMD_ENV, _cpu_has_avx512
    from models.kit import bf16_native

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu or "unknown",
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.executable,
        "avx512": _cpu_has_avx512(),
        "simd_env": {k: os.environ.get(k) for k in SIMD_ENV},
        "bf16_native": bf16_native(),
    }


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
