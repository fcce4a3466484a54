"""Speed of the bookcovers generator (run with ``pytest --benchmark-only``).

Target (issue 27): >= 100 images/s (views of 256x256, 10 per sequence) for the
whole default command - ``python -m generators.bookcovers --n 300 --workers 2``:
PNG, all extras, interpreter and pool start-up and the disk-space probe
included - measured on an idle 2-core machine. ``extra_info`` holds
``images_per_second`` (wall) and ``cpu_images_per_second_2_cores`` (CPU time of
the command and its workers: what two dedicated cores give on a shared
machine), and ``mb_per_sample``. :func:`test_bench_cli_image_formats` gives the
same figures for every ``--image-format`` (the README's table of options);
``tests/test_bench_blender.py`` the ratio to Blender on the same scenes.
Every benchmark also checks what it timed (:func:`_check_written`,
:func:`_check_sample`): a complete dataset of the requested samples, storage
and extras, whose samples decode to views and target of the right shape, so
a command that fails fast or writes the wrong thing cannot pass for a quick one.
"""

from __future__ import annotations

import itertools
import time

import pytest

from generators.bookcovers import make_task
from generators.dataset import IMAGE_FORMATS, _encode_sample, read_dataset, read_manifest
from generators.dataset._codec import _decode_sample
from generators.task import Sample, check_image, check_views, sample_rng
from tests._bench import bench_generator_cli

VIEWS, SIZE = 10, 256
IMAGES_PER_SECOND = 100.0
N = 300


@pytest.fixture(scope="module")
def task():
    return make_task(views=VIEWS, size=SIZE)


def _check_sample(sample: Sample, *, extras: str) -> None:
    """A bookcovers sample at the benchmark's settings: views, target and the requested extras."""
    views = check_views(sample.inputs["views"], min_views=VIEWS)
    assert views.shape == (VIEWS, SIZE, SIZE, 3)
    assert check_image(sample.target["clean"]).shape == (SIZE, SIZE, 3)
    want = {"all": {"occlusion", "shading", "specular"}, "none": set()}[extras]
    assert set(sample.extras) == want, sorted(sample.extras)


def _check_written(out, *, image_format: str, extras: str) -> None:
    """The benchmarked command wrote a complete dataset of N samples in ``image_format`` with ``extras``."""
    manifest = read_manifest(out)  # refuses an unfinished dataset
    assert manifest["n"] == N and sum(s["count"] for s in manifest["shards"]) == N
    assert manifest.get("image_format", "png") == image_format
    assert manifest["params"].get("extras", "all") == extras
    _, first = next(read_dataset(out))
    _check_sample(first, extras=extras)


def test_bench_cli_two_workers(benchmark, tmp_path):
    """The default command: PNG, all extras."""
    rate = bench_generator_cli(benchmark, tmp_path, "generators.bookcovers", N, [], "images", per_sample=VIEWS)
    _check_written(tmp_path / "out", image_format="png", extras="all")
    assert rate >= IMAGES_PER_SECOND, f"{rate:.1f} images/s"


@pytest.mark.parametrize("image_format, extras", [(f, e) for f in IMAGE_FORMATS for e in ("all", "none")
                                                   if (f, e) != ("png", "all")])  # that one: above
def test_bench_cli_image_formats(benchmark, tmp_path, image_format, extras):
    """Speed and bytes of each ``--image-format`` (with and without extras); no speed target."""
    bench_generator_cli(benchmark, tmp_path, "generators.bookcovers", N,
                        ["--image-format", image_format, "--extras", extras], "images", per_sample=VIEWS)  # fmt: skip
    _check_written(tmp_path / "out", image_format=image_format, extras=extras)


def test_bench_one_sequence_in_process(benchmark, task):
    """Make and encode one sequence on one core (no pool, no disk)."""
    for i in range(60):  # fill the occluder-texture cache as a long run would
        task.make_sample(sample_rng(1, i))
    seq = itertools.count()
    cpu = []

    def one():
        i = next(seq)
        t = time.process_time()
        out = _encode_sample(task.make_sample(sample_rng(0, i)), i)
        cpu.append(time.process_time() - t)
        return out

    members = benchmark.pedantic(one, rounds=20, iterations=1)
    benchmark.extra_info["images_per_s_per_core"] = VIEWS / benchmark.stats.stats.mean
    benchmark.extra_info["cpu_images_per_s_2_cores"] = 2 * VIEWS / (sum(cpu) / len(cpu))
    # What was timed is a whole sample's shard members: they decode to the sample's arrays.
    key = members[0][0].split(".", 1)[0]
    files = {m.split(".", 1)[1]: bytes(d) for m, d in members}
    _check_sample(_decode_sample(key, files, "png"), extras="all")
