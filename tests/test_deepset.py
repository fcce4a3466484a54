"""Deep Set (models/deepset.py): set properties, online/tiled evaluation, checkpoints.

Most tests use a tiny randomly initialised network (weights drawn with a
fixed seed and large enough that every layer matters: the shipped
initialisation zeroes the output layer, which would make the network the plain
mean of the views and hide bugs). One test uses the shipped checkpoint.
"""

import numpy as np
import pytest
import torch

from generators.task import Method
from models.deepset import (
    CHECKPOINT_PATH,
    DeepSet,
    DeepSetConfig,
    DeepSetMethod,
    load_checkpoint,
    make_checkpoint,
    restore_stream,
    restore_views,
    save_checkpoint,
)
from tests.tolerances import FLOAT32_ATOL

TINY = DeepSetConfig(c1=4, c2=6, c3=8, enc_dilations2=(1,), enc_dilations3=(2,), dec_dilations3=(1,), dec_dilations2=(1,))


def _random_model(config: DeepSetConfig = TINY, seed: int = 0) -> DeepSet:
    torch.manual_seed(seed)
    model = DeepSet(config)
    with torch.no_grad():
        for p in model.parameters():
            # Weights of std 1/sqrt(fan_in) (activations shrink slowly, outputs stay O(1)), small biases.
            p.normal_(0.0, (1.0 / p[0].numel()) ** 0.5 if p.ndim > 1 else 0.05)
    return model.eval()


def _views(rng, n, h, w):
    return rng.random((n, h, w, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def model():
    return _random_model()


def test_random_model_is_not_the_mean(model):
    # Guard for the tests below: a network equal to the mean would pass them trivially.
    v = _views(np.random.default_rng(0), 3, 24, 28)
    out = restore_views(model, v)
    assert np.abs(out - v.mean(0)).max() > 0.05


@pytest.mark.parametrize("n", [1, 2, 5, 32])
def test_permutation_invariant_any_n(model, n):
    rng = np.random.default_rng(n)
    v = _views(rng, n, 20, 28)
    out = restore_views(model, v)
    out_perm = restore_views(model, v[rng.permutation(n)])
    assert out.shape == (20, 28, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out_perm, out, atol=FLOAT32_ATOL)


@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (5, 130), (64, 64)])
def test_odd_and_non_square_sizes(model, shape):
    v = _views(np.random.default_rng(1), 3, *shape)
    out = restore_views(model, v)
    assert out.shape == (*shape, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


def test_online_equals_batch_mean(model):
    """restore_stream (running mean) == forward() on the whole stack (torch.mean)."""
    v = _views(np.random.default_rng(2), 7, 36, 52)
    online = restore_stream(model, (f for f in v), tile=None)
    with torch.no_grad():
        batch = model(torch.from_numpy(v).permute(0, 3, 1, 2)[None]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(online, batch, atol=FLOAT32_ATOL)


@pytest.mark.parametrize("tile", [16, 40])
def test_tiled_equals_untiled(tile):
    # The default config: its receptive field (57 px) is what the margins must cover.
    model = _random_model(DeepSetConfig(), seed=3)
    v = _views(np.random.default_rng(3), 2, 150, 171)
    whole = restore_views(model, v, tile=None)
    tiled = restore_views(model, v, tile=tile)
    np.testing.assert_allclose(tiled, whole, atol=FLOAT32_ATOL)


def test_margins_cover_receptive_field():
    """The analytic radii bound the support of the gradient of one output pixel."""
    model = _random_model(DeepSetConfig(), seed=4).double()
    r_enc, r_dec = model.receptive_radii()
    x = torch.rand(1, 3, 256, 256, dtype=torch.float64, requires_grad=True)
    f3 = model.encode(x)[-1]
    f3[0, :, 32, 32].sum().backward()  # covers input pixels 128..131
    ys, xs = np.nonzero(x.grad[0].abs().sum(0).numpy())
    assert ys.min() >= 128 - r_enc and ys.max() <= 131 + r_enc
    assert xs.min() >= 128 - r_enc and xs.max() <= 131 + r_enc
    m = [f.detach().requires_grad_(True) for f in model.encode(x.detach())]
    g = model.global_context(m[-1]).detach()  # fixed, as in tiled decoding
    y = model.decode(tuple(m), g)
    y[0, :, 128, 128].sum().backward()
    for f, (_, s) in zip(m, model.embedding_layout()):
        # Output pixel 128 lies in the cell of scale s covering pixels 128..128+s-1 (s divides 128).
        ys, xs = np.nonzero(f.grad[0].abs().sum(0).numpy())
        assert ys.min() * s >= 128 - r_dec and (ys.max() + 1) * s - 1 <= 128 + s - 1 + r_dec
        assert xs.min() * s >= 128 - r_dec and (xs.max() + 1) * s - 1 <= 128 + s - 1 + r_dec
    # A tile core starts on a multiple of 4, so its margin must reach r + 3 pixels.
    assert all(mg >= r + 3 for mg, r in zip(model.tile_margins(), (r_enc, r_dec)))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_no_nan_on_extreme_inputs(model, value):
    v = np.full((4, 33, 47, 3), value, np.float32)
    out = restore_views(model, v)
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


def test_greyscale_views(model):
    v = _views(np.random.default_rng(5), 3, 16, 20)[..., :1]
    out = restore_views(model, v)
    assert out.shape == (16, 20, 1)


def test_bad_inputs_raise_value_error(model):
    with pytest.raises(ValueError, match="at least one"):
        restore_stream(model, iter([]))
    v = _views(np.random.default_rng(6), 2, 16, 16)
    with pytest.raises(ValueError, match="differs"):
        restore_stream(model, [v[0], v[1, :8]])
    with pytest.raises(ValueError, match="float32"):
        restore_views(model, v.astype(np.float64))
    with pytest.raises(ValueError, match="views"):
        DeepSetMethod().restore({"image": v[0]})


def test_untrained_network_is_the_mean():
    """The zero-initialised output layer makes a fresh network the mean of the views."""
    v = _views(np.random.default_rng(7), 5, 24, 24)
    out = restore_views(DeepSet(), v)
    np.testing.assert_allclose(out, v.mean(0), atol=FLOAT32_ATOL)


# -- checkpoints ---------------------------------------------------------------


def test_checkpoint_roundtrip_weights_only(tmp_path, model):
    path = tmp_path / "m.pt"
    save_checkpoint(make_checkpoint(model, step=7), path)
    raw = torch.load(path, weights_only=True)
    assert raw["step"] == 7 and raw["config"] == TINY.to_dict()
    loaded, _ = load_checkpoint(path)
    v = _views(np.random.default_rng(8), 3, 20, 20)
    np.testing.assert_array_equal(restore_views(loaded, v), restore_views(model, v))
    assert not list(tmp_path.glob("*.tmp"))


def test_truncated_checkpoint_gives_one_clear_error(tmp_path, model):
    path = tmp_path / "m.pt"
    save_checkpoint(make_checkpoint(model), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated") as e:
        load_checkpoint(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=str(path)):
        load_checkpoint(path)


def test_mismatched_checkpoint_gives_one_clear_error(tmp_path, model):
    path = tmp_path / "m.pt"
    ckpt = make_checkpoint(model)
    ckpt["config"] = DeepSetConfig(c1=5, c2=6, c3=8).to_dict()  # weights of c1=4 under a c1=5 config
    save_checkpoint(ckpt, path)
    with pytest.raises(ValueError, match="wrong shape") as e:
        load_checkpoint(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)

    ckpt = make_checkpoint(model)
    ckpt["model"]["extra.weight"] = torch.zeros(1)
    del ckpt["model"]["head.bias"]
    save_checkpoint(ckpt, path)
    with pytest.raises(ValueError, match="missing.*head.bias.*unexpected.*extra.weight"):
        load_checkpoint(path)

    torch.save({"format": "something-else"}, path)
    with pytest.raises(ValueError, match="not a Deep Set checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_method_protocol():
    m = DeepSetMethod()
    assert isinstance(m, Method) and m.name == "deepset" and m.tasks == ("bookcovers",)


def test_checkpoint_of_another_data_version_is_refused(tmp_path, model):
    """Weights trained on another image-formation version fail with one message naming both versions."""
    from generators.bookcovers import FORMATION_VERSION

    path = tmp_path / "old.pt"
    save_checkpoint(make_checkpoint(model), path)  # no data_version: trained on version 1
    with pytest.raises(ValueError, match=f"formation version 1 data, the task is formation version {FORMATION_VERSION}"):
        DeepSetMethod(path).model  # unbound too: the Deep Set has one task
    save_checkpoint(make_checkpoint(model, data_version=FORMATION_VERSION), path)
    assert DeepSetMethod(path).model is not None


def test_shipped_checkpoint_exists_and_loads():
    """The registry's deepset needs it: a missing or broken file fails here (it once only skipped)."""
    from models.deepset import load_checkpoint

    assert CHECKPOINT_PATH.is_file(), f"{CHECKPOINT_PATH} is missing"
    load_checkpoint(CHECKPOINT_PATH)


def test_shipped_checkpoint_beats_mean_and_median_on_held_out_bookcovers():
    """The shipped weights load with weights_only=True and beat per-pixel mean and median.

    Three bookcovers sequences (seed 4242, never used for training or
    validation) at 128x128 with 8 views, 8-bit quantised like the shards; the
    average PSNR over the three must exceed that of the mean and of the median.
    """
    from generators.metrics import psnr
    from generators.bookcovers import make_sample
    from generators.task import sample_rng

    raw = torch.load(CHECKPOINT_PATH, weights_only=True)
    assert {"format", "config", "model"} <= set(raw)
    method = DeepSetMethod()
    scores = {"deepset": [], "mean": [], "median": []}
    for i in range(3):
        sample = make_sample(sample_rng(4242, i), views=8, size=128)
        views = (np.round(sample.inputs["views"] * 255) / 255).astype(np.float32)
        clean = sample.target["clean"]
        out = method.restore({"views": views})
        assert out.shape == clean.shape and out.dtype == np.float32
        scores["deepset"].append(psnr(clean, out))
        scores["mean"].append(psnr(clean, views.mean(0)))
        scores["median"].append(psnr(clean, np.median(views, axis=0)))
    avg = {k: float(np.mean(v)) for k, v in scores.items()}
    assert avg["deepset"] > avg["mean"] and avg["deepset"] > avg["median"], avg


# -- training (models/train_deepset.py) ------------------------------------------------


def make_shadow_sample(rng: np.random.Generator):
    """A 24x28 smooth 'cover' seen 4 times with a random dark rectangle each time."""
    from generators.task import Sample

    yy, xx = np.mgrid[0:24, 0:28] / 8.0
    phase = rng.random(3) * 6.0
    clean = (0.5 + 0.3 * np.sin(yy[..., None] + xx[..., None] + phase)).astype(np.float32)
    views = np.repeat(clean[None], 4, axis=0)
    for v in views:
        y, x = rng.integers(0, 16, size=2)
        v[y : y + 8, x : x + 10] *= 0.5
    return Sample(inputs={"views": views}, target={"clean": clean})


@pytest.fixture(scope="module")
def shadow_data(tmp_path_factory):
    from generators.dataset import write_dataset

    out = tmp_path_factory.mktemp("shadows")
    write_dataset(make_shadow_sample, n=6, out=out, seed=0, shard_size=3, workers=1, generator="shadows", progress=False)
    return out


def _train_args(data, out, steps, *extra):
    return ["--data", str(data), "--val-data", str(data), "--out", str(out),
            "--steps", str(steps), "--batch", "2", "--crop", "16", "--max-views", "3", "--epoch-size", "4",
            "--channels", "4,6,8", "--log-every", "1", "--save-every", "1", "--threads", "1", *extra]


def test_train_resume_is_exact_and_exports(shadow_data, tmp_path):
    """4 steps in one go == 2 steps + the same command again to 4 (the existing --state is resumed: optimizer,
    scheduler and rng states restored; --resume is accepted and changes nothing when the state exists)."""
    from models.train_deepset import main

    a, b = tmp_path / "a" / "last.pt", tmp_path / "b" / "last.pt"
    export = tmp_path / "export.pt"
    assert main(_train_args(shadow_data, a, 4, "--export", str(export))) == 0
    assert main(_train_args(shadow_data, b, 2)) == 0
    assert main(_train_args(shadow_data, b, 3)) == 0
    assert main(_train_args(shadow_data, b, 4, "--resume")) == 0
    ca, cb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert ca["step"] == cb["step"] == 4
    assert ca["extra"]["scheduler"] == cb["extra"]["scheduler"]
    for k in ca["model"]:
        torch.testing.assert_close(ca["model"][k], cb["model"][k], rtol=0, atol=0)
    model, meta = load_checkpoint(export)
    assert "optimizer" not in meta and model.config.c1 == 4


def test_train_bad_input_is_one_line(shadow_data, tmp_path, capsys):
    from models.train_deepset import main

    assert main(_train_args(shadow_data, tmp_path / "x.pt", 1, "--channels", "4,6")) == 2
    assert main(_train_args(tmp_path / "missing", tmp_path / "x.pt", 1)) == 2
    assert main(_train_args(shadow_data, tmp_path / "x.pt", 1, "--resume")) == 2
    assert main(_train_args(shadow_data, tmp_path / "x.pt", 1, "--loss", "mse+l1+ssim", "--ssim-weight", "-1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    assert "--ssim-weight must be >= 0" in err[3]


def test_encoding_cache_gives_bit_identical_outputs_for_every_view_subset(model):
    """Issue 25 #3: the bookcovers protocol restores 90 subsets of 10 views; with the cache each view is
    encoded once and every subset's output equals the uncached one exactly (untiled and greyscale);
    frames that are tiled are never cached."""
    from generators.task import draw_subset
    from models.deepset import EncodingCache

    rng = np.random.default_rng(11)
    v = _views(rng, 10, 20, 28)
    cache = EncodingCache()
    for n in range(1, 10):
        for draw in range(3):
            sub = v[draw_subset(10, seed=5, index=0, n=n, draw=draw)]
            np.testing.assert_array_equal(restore_views(model, sub, cache=cache), restore_views(model, sub))
    assert cache.misses == 10 and cache.hits == sum(range(1, 10)) * 3 - 10
    grey = v[:4, :, :, :1]
    np.testing.assert_array_equal(restore_views(model, grey, cache=cache), restore_views(model, grey))
    tiled = EncodingCache()
    np.testing.assert_array_equal(restore_views(model, v[:3], tile=8, cache=tiled), restore_views(model, v[:3], tile=8))
    assert tiled.hits == tiled.misses == 0
    small = EncodingCache(max_bytes=1)  # nothing fits: still correct
    np.testing.assert_array_equal(restore_views(model, v[:3], cache=small), restore_views(model, v[:3]))
    # the method's cache does not travel to worker processes
    import pickle

    m = DeepSetMethod()
    m._cache = EncodingCache()
    assert pickle.loads(pickle.dumps(m))._cache is None
