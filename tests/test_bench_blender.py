"""Speed of the bookcovers Blender renderer, and of the fast renderer on the same scenes.

Run with ``.venv/bin/python -m pytest --benchmark-only tests/test_bench_blender.py``.
Both renderers go through :func:`generators.shared.coverscene.render` (the path
``make_sample`` takes) with the cover already materialised, at 256x256, on
the same scenes; Blender renders with its defaults (16 samples, CPU unless a
GPU is found, its recycled child process already started). The issue's
target: the fast renderer makes at least 100x as many images per second as
Blender, measured in one run (:func:`test_bench_fast_at_least_100x_blender`).
``extra_info`` records images/s of each and their ratio. Both benchmarks also
check what was timed (:func:`_check_renders`): every view of every scene
rendered, float32 in [0, 1] without NaN, not blank, with an occlusion mask
that covers part of the sequence, so a renderer that fails fast or returns
nothing cannot pass for a quick one.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from generators.shared.covers import load_cover
from generators.shared.coverscene import render, render_blender as rb
from generators.shared.coverscene.scene import sample_scene
from generators.task import check_views

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


def _render_all(scenes, renderer: str) -> list[dict]:
    return [render(scene, renderer, cover=cover) for scene, cover in scenes]


def _check_renders(outs: list[dict], n_scenes: int) -> int:
    """Assert that ``outs`` are ``n_scenes`` complete renders (see the module docstring); return the images."""
    assert len(outs) == n_scenes
    for out in outs:
        views = check_views(out["views"], min_views=VIEWS)  # float32, (N, H, W, 3), finite, in [0, 1]
        assert views.shape == (VIEWS, SIZE, SIZE, 3)
        assert all(float(v.std()) > 0 for v in views), "a blank view"
        occlusion = out["occlusion"]
        assert occlusion.shape == (VIEWS, SIZE, SIZE) and occlusion.dtype == np.bool_
        assert 0 < occlusion.mean() < 1, "the occluders are missing or cover everything"
    return n_scenes * VIEWS


def test_bench_blender_images_per_s(benchmark, scenes):
    outs = benchmark.pedantic(_render_all, args=(scenes, "blender"), rounds=1, iterations=1)
    images = _check_renders(outs, len(scenes))
    benchmark.extra_info["images"] = images
    benchmark.extra_info["blender_images_per_s"] = images / benchmark.stats.stats.mean


def test_bench_fast_at_least_100x_blender(benchmark, scenes):
    start = time.perf_counter()
    slow = _render_all(scenes, "blender")
    elapsed = time.perf_counter() - start
    blender_rate = _check_renders(slow, len(scenes)) / elapsed
    fast = benchmark.pedantic(_render_all, args=(scenes, "fast"), rounds=5, iterations=1)
    images = _check_renders(fast, len(scenes))
    fast_rate = images / benchmark.stats.stats.mean
    ratio = fast_rate / blender_rate
    benchmark.extra_info.update(
        images=images, blender_images_per_s=blender_rate, fast_images_per_s=fast_rate, fast_over_blender=ratio
    )
    assert ratio >= TARGET_RATIO, f"fast renderer only {ratio:.1f}x Blender's images/s (target {TARGET_RATIO:.0f}x)"
