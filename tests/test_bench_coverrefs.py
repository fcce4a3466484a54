"""Speed of the coverrefs generator (run with ``pytest --benchmark-only``).

Target (issue 29): at least 8 queries per second with a 10-image gallery at
256x256, whole pipeline (scene sampling, rendering, gallery composition,
PNG/npy encoding, tar shards), ``--workers 2``; measured as the whole command,
interpreter start-up included. 400 queries: the distractor pool
(``DISTRACTOR_POOL`` renders, cached per worker) is paid once per worker and
amortised as in a real run (``--n 1000`` and up); a short run understates the
steady state. ``queries_per_second_per_core`` is recorded in ``extra_info``.
"""

from __future__ import annotations

import itertools

import pytest

from tests._bench import bench_generator_cli

QUERIES_PER_SECOND = 8.0


def test_bench_cli_two_workers(benchmark, tmp_path):
    rate = bench_generator_cli(benchmark, tmp_path, "generators.coverrefs", 400,
                               ["--size", "256", "--gallery", "10"], "queries")
    assert rate >= QUERIES_PER_SECOND, f"{rate:.1f} queries/s"


def test_bench_make_sample_256_warm(benchmark):
    """One query on one core, after 60 queries have filled part of the distractor pool."""
    from generators.coverrefs import TASK
    from generators.task import sample_rng

    for i in range(60):
        TASK.make_sample(sample_rng(1, i))
    index = itertools.count()
    sample = benchmark(lambda: TASK.make_sample(sample_rng(0, next(index))))
    assert sample.inputs["gallery"].shape == (10, 256, 256, 3)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main(["--benchmark-only", __file__]))
