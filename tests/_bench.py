"""Shared by the generator speed benchmarks: time a whole generator command."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_generator_cli(benchmark, tmp_path: Path, module: str, n: int, args: list[str], unit: str) -> float:
    """Run ``python -m <module> --n N --workers 2 ARGS`` once under pytest-benchmark (interpreter start-up,
    pool start-up and shard writing included); record ``<unit>_per_second`` and per core; return the rate."""
    runs = itertools.count()

    def write():
        subprocess.run([sys.executable, "-m", module, "--n", str(n), *args, "--workers", "2", "--no-progress",
                        "--out", str(tmp_path / f"run{next(runs)}")], cwd=REPO, check=True, capture_output=True)

    benchmark.pedantic(write, rounds=1, iterations=1)
    rate = n / benchmark.stats.stats.min
    benchmark.extra_info[f"{unit}_per_second"] = round(rate, 2)
    benchmark.extra_info[f"{unit}_per_second_per_core"] = round(rate / 2, 2)
    return rate
