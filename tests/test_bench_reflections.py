"""Speed of the reflections generator (run with ``pytest --benchmark-only``).

Target (issue 13): at least 30 sequences per second of 5 frames at 256x256,
whole pipeline (sampling, rendering, PNG/npy encoding, tar shards), on this
2-core machine with ``--workers 2``; measured as the whole command,
interpreter start-up included. ``sequences_per_second_per_core`` is recorded
in ``extra_info`` for sizing a cluster.
"""

from __future__ import annotations

import itertools

import pytest

from tests._bench import bench_generator_cli

SEQUENCES_PER_SECOND = 30.0


def test_bench_cli_two_workers(benchmark, tmp_path):
    rate = bench_generator_cli(benchmark, tmp_path, "generators.reflections", 240, ["--size", "256", "--frames", "5"], "sequences")
    assert rate >= SEQUENCES_PER_SECOND, f"{rate:.1f} sequences/s"


def test_bench_make_sample_256(benchmark):
    from generators.reflections import TASK
    from generators.task import sample_rng

    index = itertools.count()
    sample = benchmark(lambda: TASK.make_sample(sample_rng(0, next(index))))
    assert sample.inputs["frames"].shape == (5, 256, 256, 3)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main(["--benchmark-only", __file__]))
