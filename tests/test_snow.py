"""The snow task (generators.snow), its baselines (baselines.snow) and DesnowNet (models.desnow_nets)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from generators.snow import SIZE_CLASSES, make_task
from generators.snow.__main__ import main as cli
from generators.task import sample_rng
from tests.tolerances import (
    AIRLIGHT_ESTIMATE_ATOL,
    FLOAT32_ATOL,
    GUIDED_FILTER_LINEAR_ATOL,
    TRANSMISSION_ATOL,
)


@pytest.fixture(scope="module")
def samples():
    task = make_task(size=96)
    return [task.make_sample(sample_rng(11, i)) for i in range(6)]


def _compose(s):
    """The documented formation, recomputed from the stored extras."""
    z, a, t, y = s.extras["z"], s.extras["a"], s.extras["t"], s.target["clean"]
    return (a * z + y * (1 - z)) * t + s.extras["airlight"] * (1 - t)


def test_layout_and_ranges(samples):
    for s in samples:
        x = s.inputs["image"]
        assert x.shape == (96, 96, 3) and x.dtype == np.float32
        assert s.extras["z"].shape == (96, 96, 1) and s.extras["t"].shape == (96, 96, 1)
        assert s.extras["flake_class"].dtype == np.uint8 and s.extras["depth"].dtype == np.float16
        assert s.params["size_class"] in SIZE_CLASSES and s.params["condition"] == SIZE_CLASSES[s.params["size_class"]]


def test_image_follows_the_documented_formation(samples):
    for s in samples:
        np.testing.assert_allclose(s.inputs["image"], _compose(s), atol=FLOAT32_ATOL)


@pytest.mark.parametrize("size_class", ["small", "medium", "large", "mixed"])
@pytest.mark.parametrize("density", [0.0, 1.0, 20.0])
def test_every_value_stays_in_unit_range(size_class, density):
    """Property: whatever the class and density, x, z, a, T, A lie in [0, 1] (the flake model is a bug otherwise)."""
    task = make_task(size=64, size_class=size_class, density_scale=density)
    for i in range(3):
        s = task.make_sample(sample_rng(7, i))
        for name, arr in [("x", s.inputs["image"]), *s.extras.items()]:
            if name in ("depth", "flake_depth", "flake_class"):
                continue
            arr = np.asarray(arr, np.float64)
            assert np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1, name
        if density == 0.0:
            assert not s.extras["z"].any()


def test_flakes_follow_depth():
    """Near flakes are the large, soft ones: in the dominant-layer map, the mean z of near layers exceeds far ones',
    and flakes never lie behind the scene surface."""
    task = make_task(size=128, size_class="large")
    near, far = [], []
    for i in range(6):
        s = task.make_sample(sample_rng(3, i))
        fd = s.extras["flake_depth"].astype(np.float32)
        z = s.extras["z"][..., 0]
        on = fd > 0
        assert (fd[on] <= s.extras["depth"].astype(np.float32)[on] * 1.01 + 0.5).mean() > 0.95
        cut = np.median(fd[on])
        near.append(z[on & (fd <= cut)].mean())
        far.append(z[on & (fd > cut)].mean())
    assert np.mean(near) > np.mean(far)


def test_classes_order_by_coverage():
    cover = {}
    for c in ("small", "large"):
        task = make_task(size=96, size_class=c)
        cover[c] = np.mean([task.make_sample(sample_rng(5, i)).params["z_gt_0.1"] for i in range(6)])
    assert cover["large"] > cover["small"]


def test_sample_depends_only_on_seed_and_index():
    task = make_task(size=64)
    a, b = task.make_sample(sample_rng(3, 7)), task.make_sample(sample_rng(3, 7))
    np.testing.assert_array_equal(a.inputs["image"], b.inputs["image"])
    assert a.params == b.params


def test_cli_is_byte_identical_for_any_worker_count(tmp_path):
    args = ["--n", "4", "--size", "64", "--seed", "5", "--shard-size", "2", "--no-progress"]
    assert cli([*args, "--out", str(tmp_path / "a"), "--workers", "1"]) == 0
    assert cli([*args, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    shards = sorted((tmp_path / "a").glob("*.tar"))
    assert shards
    for shard in shards:
        assert shard.read_bytes() == (tmp_path / "b" / shard.name).read_bytes()


def test_sequences_share_the_background_and_move_the_flakes():
    task = make_task(size=64, frames=3, size_class="medium")
    s = task.make_sample(sample_rng(1, 2))
    assert s.inputs["frames"].shape == (3, 64, 64, 3) and s.extras["z"].shape == (3, 64, 64, 1)
    assert not np.array_equal(s.extras["z"][0], s.extras["z"][2])
    r = s.params["reference"]
    np.testing.assert_allclose(s.inputs["frames"][r], _compose_frame(s, r), atol=FLOAT32_ATOL)


def _compose_frame(s, k):
    z, a, t, y = s.extras["z"][k], s.extras["a"], s.extras["t"], s.target["clean"]
    return (a * z + y * (1 - z)) * t + s.extras["airlight"] * (1 - t)


def test_roadseg_backgrounds_use_the_rendered_depth():
    task = make_task(size=64, background="roadseg", size_class="small")
    s = task.make_sample(sample_rng(0, 0))
    assert s.params["background"]["kind"] == "roadseg"
    d = s.extras["depth"].astype(np.float32)
    np.testing.assert_allclose(s.extras["t"][..., 0], np.exp(-s.params["beta_per_m"] * d), atol=TRANSMISSION_ATOL)


@pytest.mark.parametrize("argv, needle", [
    (["--density-scale", "-1"], "density scale must lie in [0, 20]"),
    (["--size-class", "huge"], "unknown size class 'huge'"),
    (["--frames", "0"], "frames must lie in 1..10"),
    (["--size", "32"], "size must lie in 64..1024"),
    (["--images", "/nonexistent/folder"], "does not exist"),
])
def test_bad_arguments_give_one_clear_error(tmp_path, capsys, argv, needle):
    rc = cli(["--n", "1", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_images_folder_skips_and_counts_unreadable_files(tmp_path, capsys):
    import cv2

    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png at all")
    rc = cli(["--n", "1", "--out", str(tmp_path / "o"), "--images", str(folder)])
    err = capsys.readouterr().err
    assert rc == 2 and "no readable image" in err and len(err.strip().splitlines()) == 1
    cv2.imwrite(str(folder / "ok.png"), (np.random.default_rng(0).random((80, 90, 3)) * 255).astype(np.uint8))
    task = make_task(size=64, images=str(folder))
    assert task.params["images_count"] == 1 and task.params["images_skipped"] == 1
    s = task.make_sample(sample_rng(0, 0))
    assert s.params["background"]["kind"] == "file"


# ---------------------------------------------------------------- baselines


def test_detection_finds_isolated_white_specks_and_inpainting_removes_them():
    from baselines.snow import SnowDetectInpaint, detect_snow

    rng = np.random.default_rng(0)
    clean = np.full((64, 64, 3), 0.3, np.float32) + rng.normal(0, 0.01, (64, 64, 3)).astype(np.float32)
    clean = np.clip(clean, 0, 1)
    snowy = clean.copy()
    pts = rng.integers(4, 60, size=(20, 2))
    for y, x in pts:
        snowy[y : y + 2, x : x + 2] = 0.95
    mask = detect_snow(snowy)
    assert mask[pts[:, 0], pts[:, 1]].mean() > 0.9 and mask.mean() < 0.1
    out = SnowDetectInpaint("t", "telea").restore({"image": snowy})
    assert np.abs(out - clean).mean() < 0.3 * np.abs(snowy - clean).mean()


def test_dark_channel_removes_a_uniform_veil():
    """Blocks whose darkest channel is 0 (the prior's premise) under a sky at the airlight."""
    from baselines.snow import dehaze_dark_channel

    rng = np.random.default_rng(1)
    blocks = rng.uniform(0.1, 0.7, (6, 8, 3)).astype(np.float32)
    blocks[np.arange(6)[:, None], np.arange(8)[None], rng.integers(0, 3, (6, 8))] = 0.0
    clean = np.repeat(np.repeat(blocks, 16, 0), 16, 1)
    clean[:16] = 0.9  # sky
    veiled = (clean * 0.6 + 0.9 * 0.4).astype(np.float32)
    j, t, airlight = dehaze_dark_channel(veiled)
    np.testing.assert_allclose(airlight, 0.9, atol=AIRLIGHT_ESTIMATE_ATOL)
    assert np.abs(j - clean)[16:].mean() < 0.5 * np.abs(veiled - clean)[16:].mean()


def test_guided_filter_keeps_constant_and_linear_images():
    from baselines.snow import guided_filter

    g = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    # A source linear in the guide is reproduced (He et al.: q = a I + b, exact when eps -> 0); reflected
    # borders break linearity in the outer radius only.
    out = guided_filter(g, 0.5 * g + 0.2, eps=1e-8)
    np.testing.assert_allclose(out[:, 5:-5], (0.5 * g + 0.2)[:, 5:-5], atol=GUIDED_FILTER_LINEAR_ATOL)
    np.testing.assert_allclose(guided_filter(g, np.full_like(g, 0.3)), 0.3, atol=FLOAT32_ATOL)


def test_temporal_median_removes_moving_flakes():
    """Static camera: on the reference frame's flake pixels, the median is nearer the flake-free (veiled) image.

    Pooled over the first five static samples (formation 3's content backgrounds include bright covers on
    which white flakes barely differ from the background; one such sample alone says little)."""
    from baselines.snow import temporal_median

    task = make_task(size=64, frames=5, size_class="large")
    static = (s for s in (task.make_sample(sample_rng(2, i)) for i in range(40)) if not any(s.params["pan_px_per_frame"]))
    err_in = err_out = 0.0
    for s in itertools.islice(static, 5):
        frames, r = s.inputs["frames"], s.params["reference"]
        t, airlight = s.extras["t"], s.extras["airlight"]
        flake_free = s.target["clean"] * t + airlight * (1 - t)
        on = s.extras["z"][r, ..., 0] > 0.1
        assert on.sum() > 20
        err_in += np.abs(frames[r] - flake_free)[on].mean()
        err_out += np.abs(temporal_median(frames) - flake_free)[on].mean()
    assert err_out < 0.5 * err_in


# ---------------------------------------------------------------- network


def test_desnownet_shapes_and_translucency_inversion():
    import torch

    from models.desnow_nets import DesnowNet
    from models.losses import pyramid_loss

    net = DesnowNet(width=4).eval()
    x = torch.rand(2, 3, 32, 32)
    out = net(x)
    assert out["y"].shape == (2, 3, 32, 32) and out["z"].shape == (2, 1, 32, 32)
    assert 0 <= float(out["z"].min()) and float(out["z"].max()) <= 1
    # y' inverts the snow model where z < 1: x = a z + y' (1 - z).
    torch.testing.assert_close(out["a"] * out["z"] + out["y_prime"] * (1 - out["z"]), x, atol=FLOAT32_ATOL, rtol=0)
    assert float(pyramid_loss(x, x)) == 0.0 and float(pyramid_loss(x, 1 - x)) > 0


def test_shipped_desnownet_loads_and_restores():
    from models.desnow_nets import DesnowNetMethod

    s = make_task(size=64).make_sample(sample_rng(0, 1))
    out = DesnowNetMethod().estimate(s.inputs["image"])
    assert out["clean"].shape == (64, 64, 3) and out["z"].shape == (64, 64, 1)
    assert out["clean"].dtype == np.float32 and 0 <= out["clean"].min() and out["clean"].max() <= 1


def test_trainer_runs_resumes_and_refuses_another_config(tmp_path, capsys):
    from models.train_desnow import main as train_main

    data = tmp_path / "d"
    assert cli(["--n", "3", "--size", "64", "--out", str(data), "--no-progress"]) == 0
    common = ["--data", str(data), "--val-data", str(data), "--state", str(tmp_path / "s.pt"), "--minutes", "0.01",
              "--batch", "2", "--crop", "32", "--val-every", "1", "--ledger", str(tmp_path / "l.csv")]
    assert train_main([*common, "--width", "4"]) == 0
    assert train_main([*common, "--width", "4"]) == 0  # resumes
    assert "resumed" in capsys.readouterr().out
    assert len((tmp_path / "l.csv").read_text().strip().splitlines()) == 3
    assert train_main([*common, "--width", "8"]) == 2
    assert "differs" in capsys.readouterr().err


def test_mask_scores():
    from benchmarks.snow_masks import mask_iou, mask_mae

    z = np.zeros((8, 8, 1), np.float32)
    z[:4] = 0.5
    assert mask_iou(z, z) == 1.0 and mask_mae(z, z) == 0.0
    half = z.copy()
    half[:2] = 0.0
    assert mask_iou(z, half) == pytest.approx(0.5) and mask_mae(z, half) == pytest.approx(0.125)
    assert mask_iou(np.zeros_like(z), np.zeros_like(z)) == 1.0
