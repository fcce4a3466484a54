"""Shared by the generator speed benchmarks: time a whole generator command."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_generator_cli(module: str, n: int, args: list[str], out: Path) -> None:
    """``python -m <module> --n N ARGS --workers 2 --no-progress --out OUT`` from the checkout; raises on failure."""
    subprocess.run([sys.executable, "-m", module, "--n", str(n), *args, "--workers", "2", "--no-progress",
                    "--out", str(out)], cwd=REPO, check=True, capture_output=True)  # fmt: skip


def bench_generator_cli(benchmark, tmp_path: Path, module: str, n: int, args: list[str], unit: str,
                        per_sample: int = 1) -> float:  # fmt: skip
    """Run ``python -m <module> --n N --workers 2 ARGS`` once under pytest-benchmark (interpreter start-up,
    the disk-space probe, pool start-up and shard writing included: the command a user runs), writing
    the dataset to ``tmp_path / "out"`` (where a test checks what was written).

    Records in ``extra_info``: ``<unit>_per_second`` (``n * per_sample`` over the wall time) and per core;
    ``cpu_s``, the CPU time of the command and its workers, and ``cpu_<unit>_per_second_2_cores``, the
    rate two dedicated cores would give (on a shared machine wall time swings with the other jobs, CPU
    time much less); ``mb_per_sample``, the bytes written. Returns the wall-time rate.
    """
    out = tmp_path / "out"

    before = _children_cpu_s()
    benchmark.pedantic(run_generator_cli, args=(module, n, args, out), rounds=1, iterations=1)
    cpu = _children_cpu_s() - before
    rate = n * per_sample / benchmark.stats.stats.min
    written = sum(p.stat().st_size for p in out.glob("shard-*.tar"))
    benchmark.extra_info[f"{unit}_per_second"] = round(rate, 2)
    benchmark.extra_info[f"{unit}_per_second_per_core"] = round(rate / 2, 2)
    benchmark.extra_info["cpu_s"] = round(cpu, 2)
    benchmark.extra_info[f"cpu_{unit}_per_second_2_cores"] = round(n * per_sample / (cpu / 2), 2)
    benchmark.extra_info["mb_per_sample"] = round(written / n / 1e6, 4)
    return rate
