"""Speed of the fingerprints generator (run with ``pytest --benchmark-only``).

Target: at least 20 degraded/clean pairs per second through the whole
pipeline (master print, degradations, minutiae, PNG/npy encoding, tar
shards) on a 2-core machine with ``--workers 2``, for both presets (the
``sensor`` preset adds its capture model and the quality map). For scale,
SFinGe's vendor quotes about 1.2 prints per second per PC.
"""

from __future__ import annotations

import itertools

import pytest

from generators.dataset import write_dataset
from generators.fingerprints import SENSOR_TASK, TASK
from generators.fingerprints.master import render_master, sample_master
from generators.task import sample_rng
from tests._bench import bench_generator_cli

PAIRS_PER_SECOND = 20.0


def test_bench_write_dataset_two_workers(benchmark, tmp_path):
    n = 200
    runs = itertools.count()

    def write():
        write_dataset(TASK.make_sample, n=n, out=tmp_path / f"run{next(runs)}", seed=0, shard_size=25, workers=2,
                      generator=TASK.name, params=dict(TASK.params), progress=False)  # fmt: skip

    benchmark.pedantic(write, rounds=1, iterations=1)
    rate = n / benchmark.stats.stats.min
    benchmark.extra_info["pairs_per_second"] = round(rate, 1)
    benchmark.extra_info["pairs_per_second_per_core"] = round(rate / 2, 1)
    assert rate >= PAIRS_PER_SECOND, f"{rate:.1f} pairs/s"


def test_bench_cli_sensor_preset_two_workers(benchmark, tmp_path):
    """The whole ``--preset sensor`` command (start-up included), 200 pairs."""
    rate = bench_generator_cli(benchmark, tmp_path, "generators.fingerprints", 200, ["--preset", "sensor"], "pairs")
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
