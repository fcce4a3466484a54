"""Speed of the reflections generator (run with ``pytest --benchmark-only``).

Target (issue 13): at least 30 sequences per second of 5 frames at 256x256,
whole pipeline (sampling, rendering, PNG/npy encoding, tar shards), on this
2-core machine with ``--workers 2``; measured as the whole command,
interpreter start-up included. ``sequences_per_second_per_core`` is recorded
in ``extra_info`` for sizing a cluster.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEQUENCES_PER_SECOND = 30.0


def test_bench_cli_two_workers(benchmark, tmp_path):
    n = 240
    runs = itertools.count()

    def write():
        subprocess.run([sys.executable, "-m", "generators.reflections", "--n", str(n), "--size", "256", "--frames", "5",
                        "--workers", "2", "--no-progress", "--out", str(tmp_path / f"run{next(runs)}")],
                       cwd=REPO, check=True, capture_output=True)

    benchmark.pedantic(write, rounds=1, iterations=1)
    rate = n / benchmark.stats.stats.min
    benchmark.extra_info["sequences_per_second"] = round(rate, 1)
    benchmark.extra_info["sequences_per_second_per_core"] = round(rate / 2, 1)
    assert rate >= SEQUENCES_PER_SECOND, f"{rate:.1f} sequences/s"


def test_bench_make_sample_256(benchmark):
    from generators.reflections import TASK
    from generators.task import sample_rng

    index = itertools.count()
    sample = benchmark(lambda: TASK.make_sample(sample_rng(0, next(index))))
    assert sample.inputs["frames"].shape == (5, 256, 256, 3)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main(["--benchmark-only", __file__]))
