"""Speed of the bookcovers Blender renderer, and of the fast renderer on the same scenes.

Run with ``.venv/bin/python -m pytest --benchmark-only tests/test_bench_blender.py``.
Both renderers go through :func:`generators.bookcovers.render` (the path
``make_sample`` takes) with the cover already materialised, at 256x256, on
the same scenes; Blender renders with its defaults (16 samples, CPU unless a
GPU is found, its recycled child process already started). The issue's
target: the fast renderer makes at least 100x as many images per second as
Blender, measured in one run (:func:`test_bench_fast_at_least_100x_blender`).
``extra_info`` records images/s of each and their ratio.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from generators.bookcovers import render
from generators.bookcovers import render_blender as rb
from generators.shared.covers import load_cover
from generators.bookcovers.scene import sample_scene

_NO_BPY = rb.check_blender()
pytestmark = [pytest.mark.blender, pytest.mark.skipif(_NO_BPY is not None, reason=_NO_BPY or "")]

SIZE = 256
VIEWS = 4
SCENE_SEEDS = (0, 1)
TARGET_RATIO = 100.0


@pytest.fixture(scope="module")
def scenes():
    out = []
    for seed in SCENE_SEEDS:
        scene = sample_scene(np.random.default_rng(seed), views=VIEWS, size=SIZE)
        out.append((scene, load_cover(scene["cover"], (SIZE, SIZE))))
    # Warm-up, not timed: start Blender's child process, compile/load the fast kernel.
    small = sample_scene(np.random.default_rng(99), views=1, size=64)
    render(small, "blender")
    render(small, "fast")
    return out


def _render_all(scenes, renderer: str) -> int:
    for scene, cover in scenes:
        render(scene, renderer, cover=cover)
    return len(scenes) * VIEWS


def test_bench_blender_images_per_s(benchmark, scenes):
    images = benchmark.pedantic(_render_all, args=(scenes, "blender"), rounds=1, iterations=1)
    benchmark.extra_info["images"] = images
    benchmark.extra_info["blender_images_per_s"] = images / benchmark.stats.stats.mean


def test_bench_fast_at_least_100x_blender(benchmark, scenes):
    start = time.perf_counter()
    images = _render_all(scenes, "blender")
    blender_rate = images / (time.perf_counter() - start)
    benchmark.pedantic(_render_all, args=(scenes, "fast"), rounds=5, iterations=1)
    fast_rate = images / benchmark.stats.stats.mean
    ratio = fast_rate / blender_rate
    benchmark.extra_info.update(
        images=images, blender_images_per_s=blender_rate, fast_images_per_s=fast_rate, fast_over_blender=ratio
    )
    assert ratio >= TARGET_RATIO, f"fast renderer only {ratio:.1f}x Blender's images/s (target {TARGET_RATIO:.0f}x)"
