"""Speed of the fingerprints generator (run with ``pytest --benchmark-only``).

Target (issue 27, raised from 20): at least 40 degraded/clean pairs per second
through the whole default command (master print, degradations, minutiae,
PNG/npy encoding, tar shards; interpreter and pool start-up included) on a
2-core machine with ``--workers 2``, for both presets (the ``sensor`` preset
adds its capture model and the quality map). For scale, SFinGe's vendor quotes
about 1.2 prints per second per PC.
"""

from __future__ import annotations

import itertools

import pytest

from generators.fingerprints import SENSOR_TASK, TASK
from generators.fingerprints.master import render_master, sample_master
from generators.task import sample_rng
from tests._bench import bench_generator_cli

PAIRS_PER_SECOND = 40.0
N = 400


@pytest.mark.parametrize("preset", ["chalearn", "sensor"])
def test_bench_cli_two_workers(benchmark, tmp_path, preset):
    """The whole ``python -m generators.fingerprints --preset P --n 400 --workers 2`` command."""
    rate = bench_generator_cli(benchmark, tmp_path, "generators.fingerprints", N, ["--preset", preset], "pairs")
    assert rate >= PAIRS_PER_SECOND, f"{rate:.2f} pairs/s"


def test_bench_make_sample_sensor(benchmark):
    index = itertools.count()
    sample = benchmark(lambda: SENSOR_TASK.make_sample(sample_rng(0, next(index))))
    assert sample.extras["quality"].shape == (400, 275, 1)


def test_bench_make_sample(benchmark):
    index = itertools.count()
    sample = benchmark(lambda: TASK.make_sample(sample_rng(0, next(index))))
    assert sample.target["clean"].shape == (400, 275, 1)


def test_bench_master_print(benchmark):
    params = [sample_master(sample_rng(1, i)) for i in range(50)]
    index = itertools.count()
    master = benchmark(lambda: render_master(params[next(index) % len(params)]))
    assert master.image.shape == (400, 275)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main(["--benchmark-only", __file__]))
