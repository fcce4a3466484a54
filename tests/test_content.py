"""The shared content library (generators/shared/content.py): determinism, contract, natural statistics."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.content_stats import dhash, gradient_kurtosis, near_duplicate_rate, spectrum_slope
from generators.shared.content import (DEFAULT_MIX, SCENE_MIX, draw_dead_leaves, draw_scene, load_content,
                                       sample_content)
from generators.shared.covers import CoverFolder


def test_dead_leaves_is_a_pure_function_of_seed_and_size():
    a, b = draw_dead_leaves(7, (64, 96)), draw_dead_leaves(7, (64, 96))
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, draw_dead_leaves(8, (64, 96)))


def test_dead_leaves_have_natural_image_statistics():
    # Ranges: the packaged photographs measured the same way (benchmarks.content_stats, 300 crops):
    # spectrum slope p10..p90 -3.95..-2.09, gradient kurtosis p10..p90 4.5..58.5.
    imgs = [draw_dead_leaves(s, (128, 128)) for s in range(12)]
    slope = np.median([spectrum_slope(i) for i in imgs])
    kurt = np.median([gradient_kurtosis(i) for i in imgs])
    assert -3.4 < slope < -2.0, slope
    assert kurt > 6.0, kurt  # heavy-tailed gradients (a Gaussian field gives 3)
    assert near_duplicate_rate([dhash(i) for i in imgs]) == 0.0


def test_rendered_scenes_are_pure_functions_of_seed_and_size_with_natural_statistics():
    """Kind "scene": stills of 3-D plane scenes (generators/shared/planescene.py) textured from the default mix."""
    d = sample_content(np.random.default_rng(0), mix=SCENE_MIX)
    assert d["kind"] == "scene"
    a = load_content(d, (96, 96))
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8 and np.array_equal(a, draw_scene(d["seed"], (96, 96)))
    imgs = [draw_scene(s, (96, 96)) for s in range(8)]
    assert near_duplicate_rate([dhash(i) for i in imgs]) == 0.0
    # The photographs' ranges (see the test above): receding textures steepen the spectrum, not flatten it.
    assert -3.95 < np.median([spectrum_slope(i) for i in imgs]) < -2.0
    assert np.median([gradient_kurtosis(i) for i in imgs]) > 6.0


def test_gaussian_noise_fails_the_statistics_checks():
    # The checks above can fail: white noise has a flat spectrum and Gaussian gradients.
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3)).astype(np.uint8)
    assert spectrum_slope(noise) > -0.5
    assert gradient_kurtosis(noise) < 3.5


def test_content_mix_draws_descriptions_and_materialises_them():
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(40):
        d = sample_content(rng)
        kinds.add(d["kind"])
        img = load_content(d, (48, 64))
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert kinds == set(DEFAULT_MIX)
    photo = load_content({"kind": "photo", "index": 0}, (40, 30))
    assert photo.shape == (40, 30, 3)


def test_content_mix_bad_input_is_one_clear_error(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown content kind 'clouds'"):
        sample_content(rng, mix={"clouds": 1.0})
    with pytest.raises(ValueError, match="no folder was given"):
        sample_content(rng, mix={"user": 1.0})
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError):
        CoverFolder(str(tmp_path))


def test_user_images_in_the_mix(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.full((20, 30, 3), 200, np.uint8))
    folder = CoverFolder(str(tmp_path))
    d = sample_content(np.random.default_rng(1), mix={"user": 1.0}, user=folder)
    assert d["kind"] == "user" and d["path"] == "a.png"
    img = load_content(d, (16, 16), folder.root)
    assert img.shape == (16, 16, 3) and int(img.mean()) == 200


def _fresh_plate(monkeypatch, cache, seed=7, size=(48, 40)):
    """A dead-leaves plate through ``load_content`` with the cache at ``cache`` and the in-process cache empty."""
    from generators.shared import content

    monkeypatch.setenv("RESTOREBENCH_CACHE", str(cache))
    content._cached_dead_leaves.cache_clear()
    return load_content({"kind": "dead_leaves", "seed": seed}, size), content._plate_path(seed, *size)


def test_plate_cache_serves_the_drawn_bytes(tmp_path, monkeypatch):
    """The first call draws and writes the plate; a new process (in-process cache cleared) reads the same
    bytes back instead of drawing (checked by making a redraw impossible)."""
    from generators.shared import content

    first, path = _fresh_plate(monkeypatch, tmp_path)
    assert path.is_file() and np.array_equal(first, draw_dead_leaves(7, (48, 40)))
    monkeypatch.setattr(content, "draw_dead_leaves", lambda *a: pytest.fail("drew a cached plate"))
    again, _ = _fresh_plate(monkeypatch, tmp_path)
    assert np.array_equal(again, first) and not again.flags.writeable


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_plate_cache_redraws_a_damaged_file(tmp_path, monkeypatch, damage):
    """A torn write, a flipped pixel bit or a foreign file is never served: the plate is redrawn (same
    bytes as a fresh draw) and the file rewritten."""
    first, path = _fresh_plate(monkeypatch, tmp_path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "flip":  # one pixel bit changed, the stored digest kept
        with np.load(path) as z:
            img, digest = z["image"].copy(), z["blake2b"]
        img[3, 4, 1] ^= 1
        with open(path, "wb") as f:
            np.savez(f, image=img, blake2b=digest)
    else:
        path.write_bytes(b"not an npz")
    again, _ = _fresh_plate(monkeypatch, tmp_path)
    assert np.array_equal(again, first)
    assert _plate_reads_back(path, first)


def _plate_reads_back(path, img) -> bool:
    from generators.shared import content

    back = content._read_plate(path, *img.shape[:2])
    return back is not None and np.array_equal(back, img)


def test_plate_cache_that_cannot_be_written_is_skipped(tmp_path, monkeypatch):
    """A cache path that is a file (as on a read-only or full disk, the write fails): plates are still drawn,
    nothing is raised."""
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would be")
    img, path = _fresh_plate(monkeypatch, blocker)
    assert np.array_equal(img, draw_dead_leaves(7, (48, 40))) and not path.exists()
