"""Tests of generators.dataset: the shard writer, its readers and the generator CLI.

The toy task (tests/_toy_task.py) holds every array kind the writer
distinguishes; datasets are tiny (a few 12x10 samples) so the whole file runs
in well under a minute, Ray included (started once).
"""

from __future__ import annotations

import errno
import functools
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

import generators.dataset as dsmod
from generators.dataset import (
    SampleDataset,
    UserError,
    compute_dataset_hash,
    read_dataset,
    read_manifest,
    write_dataset,
)
from generators.task import Sample, sample_rng
from tests._toy_task import main as toy_main
from tests._toy_task import make_bad_params_sample, make_toy_sample
from tests.tolerances import JPEG_Q90_MEAN_ATOL, SIZE_ESTIMATE_RTOL

REPO = Path(__file__).resolve().parent.parent
N, SHARD = 7, 3  # three shards, the last one short
PARAMS = {"size": 12}
QUANT = 1 / 510 + 1e-7  # half an 8-bit step (+ float32 slack)


def _write(out, **kw):
    args = dict(n=N, out=out, seed=0, shard_size=SHARD, workers=1, generator="toy", params=PARAMS, progress=False)
    args.update(kw)
    make = args.pop("make_sample", make_toy_sample)
    return write_dataset(make, **args)


def _files(directory: Path) -> dict[str, bytes]:
    """Every visible file of a dataset directory, by name."""
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The toy dataset written in-process, uninterrupted: what every other path must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    _write(out)
    return out


# --------------------------------------------------------------------------- #
# round trip and encoding
# --------------------------------------------------------------------------- #


def test_round_trip_restores_dtypes_shapes_values(reference):
    items = list(read_dataset(reference))
    assert [k for k, _ in items] == [f"{i:012d}" for i in range(N)]
    for i, (_, got) in enumerate(items):
        want = make_toy_sample(sample_rng(0, i))
        for group in ("inputs", "target", "extras"):
            g, w = getattr(got, group), getattr(want, group)
            assert sorted(g) == sorted(w)
            for name in w:
                assert g[name].dtype == w[name].dtype, (group, name)
                assert g[name].shape == w[name].shape, (group, name)
        # float32 [0, 1] images went through 8-bit PNG: within half a step
        for a, b in [(got.inputs["views"], want.inputs["views"]), (got.inputs["grey"], want.inputs["grey"]),
                     (got.target["clean"], want.target["clean"])]:  # fmt: skip
            assert np.abs(a - b).max() <= QUANT
            assert np.array_equal(a, np.rint(b * 255).astype(np.float32) / 255)
        # everything else is exact
        for name in ("mask", "u8", "labels", "depth"):
            assert np.array_equal(got.extras[name], want.extras[name]), name
        assert got.params == {"sigma": float(np.float32(0.1)), "n_views": 3, "flag": True, "name": "toy",
                              "hint": want.params["hint"]}  # fmt: skip


def test_sample_dataset_matches_read_dataset_and_feeds_a_dataloader(reference):
    import torch
    from torch.utils.data import DataLoader

    ds = SampleDataset(reference)
    assert len(ds) == N
    streamed = dict(read_dataset(reference))
    for i in (0, 4, N - 1, -1):
        a, b = ds[i], streamed[f"{i % N:012d}"]
        assert np.array_equal(a.target["clean"], b.target["clean"])
        assert np.array_equal(a.extras["mask"], b.extras["mask"])
        assert a.params == b.params
    with pytest.raises(IndexError):
        ds[N]

    def to_tensor(s: Sample):
        return torch.from_numpy(s.target["clean"]).permute(2, 0, 1), torch.from_numpy(s.extras["mask"])

    loader = DataLoader(SampleDataset(reference, transform=to_tensor, verify=False), batch_size=3, num_workers=0)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(3, 3, 12, 10), (3, 3, 12, 10), (1, 3, 12, 10)]
    assert batches[0][1].dtype == torch.bool
    assert torch.equal(batches[1][0][0], torch.from_numpy(streamed[f"{3:012d}"].target["clean"]).permute(2, 0, 1))


@pytest.mark.parametrize(
    "array, ext",
    [
        (np.full((4, 5, 3), np.float32(128) / np.float32(255), np.float32), "png"),
        (np.zeros((2, 4, 5, 1), np.float32), "pngs"),  # a stack: frame by frame
        (np.zeros((4, 5), np.float32), "npy"),  # float images keep a channel axis
        (np.full((4, 5, 3), 1.5, np.float32), "npy"),  # outside [0, 1]: stored losslessly
        (np.full((4, 5, 3), np.nan, np.float32), "npy"),
        (np.zeros((4, 5, 3), np.float64), "npy"),
        (np.zeros((4, 5, 4), np.float32), "npy"),
        (np.ones((3, 4, 5), bool), "pngs"),  # a stack of masks
        (np.zeros((4, 5, 3), np.uint8), "png"),
        (np.zeros((4, 5), np.int32), "npy"),
    ],
)
def test_encoding_choice_and_exact_restore(array, ext):
    got_ext, data, meta = dsmod._encode_array(array)
    assert got_ext == ext
    back = dsmod._decode_array(bytes(data), meta, "test")
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)  # these values are exact on 8 bits


def test_quantisation_is_round_half_to_even_of_the_float32_product():
    """``_quantise`` is ``np.rint(a * float32(255)).astype(uint8)``, also at every rounding boundary."""
    mids = ((np.arange(255) + 0.5) / 255).astype(np.float32)  # values whose product lies near k + 0.5
    near = (mids.view(np.int32)[:, None] + np.arange(-300, 301, dtype=np.int32)).reshape(-1).view(np.float32)
    x = np.concatenate([near, np.random.default_rng(0).random(100_000, dtype=np.float32), [0, 1, 0.5 / 255]])
    x = np.clip(x, 0, 1).astype(np.float32)
    want = np.rint(x * np.float32(255)).astype(np.uint8)
    got = dsmod._codec._quantise(x)
    assert got.dtype == np.uint8 and got.shape == x.shape
    np.testing.assert_array_equal(got, want)
    ends = want[: near.size].reshape(255, -1)[:, [0, -1]]
    assert (ends == np.arange(255)[:, None] + [0, 1]).all()  # both sides of every boundary reached


@pytest.mark.parametrize("image_format", ["png", "jxl", "webp"])
@pytest.mark.parametrize("png_encoder", ["imagecodecs", "opencv"])
def test_arrays_that_are_views_with_strides_are_stored_too(image_format, png_encoder):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)[:, ::2],
              (rng.integers(0, 256, (3, 20, 30, 3)).astype(np.float32) / np.float32(255))[:, :, ::2],
              (rng.random((20, 30)) < 0.5)[:, ::2], (rng.random((3, 20, 30)) < 0.5)[:, ::2]]  # fmt: skip
    for a in arrays:
        assert not a.flags["C_CONTIGUOUS"]
        ext, data, meta = dsmod._encode_array(a, image_format=image_format, png_encoder=png_encoder)
        assert ext != "npy"
        np.testing.assert_array_equal(dsmod._decode_array(bytes(data), meta, "t"), a)


def test_png_is_stored_as_rgb_for_other_tools():
    from PIL import Image

    red = np.zeros((4, 5, 3), np.float32)
    red[..., 0] = 1.0
    _, data, _ = dsmod._encode_array(red)
    pil = np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB"))
    assert (pil[..., 0] == 255).all() and (pil[..., 1:] == 0).all()


def test_params_must_be_json(tmp_path):
    with pytest.raises(UserError, match=r"params\['bad'\]\['obj'\]"):
        _write(tmp_path / "a", make_sample=make_bad_params_sample, n=1)
    with pytest.raises(UserError, match=r"params\['x'\] = nan"):
        _write(tmp_path / "b", params={"x": float("nan")})
    with pytest.raises(UserError, match="key 1"):
        _write(tmp_path / "c", params={1: "int key"})


# --------------------------------------------------------------------------- #
# image formats (--image-format png|webp|jpeg)
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def webp(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("webp") / "ds"
    _write(out, image_format="webp")
    return out


def _lossless_fields(sample: Sample) -> dict[str, np.ndarray]:
    return {k: sample.extras[k] for k in ("mask", "u8", "labels", "depth")}


def test_webp_decodes_to_the_png_values_and_only_images_change_encoding(reference, webp):
    for (k1, a), (k2, b) in zip(read_dataset(reference), read_dataset(webp), strict=True):
        assert k1 == k2
        for group in ("inputs", "target", "extras"):
            ga, gb = getattr(a, group), getattr(b, group)
            assert sorted(ga) == sorted(gb)
            for name in ga:  # lossless: every array equal, the greyscale image included
                assert ga[name].dtype == gb[name].dtype and ga[name].shape == gb[name].shape
                np.testing.assert_array_equal(ga[name], gb[name], err_msg=f"{group}.{name}")
        assert a.params == b.params
    with tarfile.open(webp / "shard-000000.tar") as tf:
        exts = {m.name.split(".", 1)[1] for m in tf.getmembers()}
    assert {"inputs.views.webps", "inputs.grey.webp", "target.clean.webp"} <= exts
    assert {"extras.mask.png", "extras.u8.png", "extras.labels.npy", "extras.depth.npy"} <= exts  # stay lossless
    ds = SampleDataset(webp)
    np.testing.assert_array_equal(ds[4].inputs["views"], dict(read_dataset(reference))[f"{4:012d}"].inputs["views"])


def test_jpeg_round_trip_is_close_and_keeps_masks_and_labels_exact(reference, tmp_path):
    _write(tmp_path / "q", image_format="jpeg", quality=90)
    for (_, a), (_, b) in zip(read_dataset(reference), read_dataset(tmp_path / "q"), strict=True):
        for x, y in [(a.inputs["views"], b.inputs["views"]), (a.inputs["grey"], b.inputs["grey"]),
                     (a.target["clean"], b.target["clean"])]:  # fmt: skip
            assert x.dtype == y.dtype == np.float32 and x.shape == y.shape
            assert 0 < np.abs(x - y).mean() < JPEG_Q90_MEAN_ATOL  # lossy, but close
        for name, want in _lossless_fields(a).items():
            np.testing.assert_array_equal(b.extras[name], want)


def test_jpeg_quality_orders_error_and_size_on_a_smooth_image():
    y, x = np.mgrid[0:64, 0:48].astype(np.float32)
    img = np.stack([x / 47, y / 63, (x + y) / 110], -1).astype(np.float32)
    u8 = np.rint(img * 255) / 255
    sizes, errors = [], []
    for q in (50, 95):
        ext, data, meta = dsmod._encode_array(img, image_format="jpeg", quality=q)
        assert (ext, meta["encoding"]) == ("jpg", "jpeg8")
        back = dsmod._decode_array(bytes(data), meta, "test")
        sizes.append(len(data))
        errors.append(np.abs(back - u8).max())
    assert sizes[0] < sizes[1] and errors[1] < errors[0] and errors[1] <= 3 / 255


def test_image_formats_are_deterministic_across_runs_and_workers(webp, tmp_path):
    _write(tmp_path / "w2", image_format="webp", workers=2)
    assert _files(tmp_path / "w2") == _files(webp)
    _write(tmp_path / "j1", image_format="jpeg")
    _write(tmp_path / "j2", image_format="jpeg")
    assert _files(tmp_path / "j1") == _files(tmp_path / "j2")


def test_image_format_is_recorded_and_part_of_the_identity(reference, webp, tmp_path):
    png, wm = read_manifest(reference), read_manifest(webp)
    assert "image_format" not in png and "image_quality" not in png and png["format_version"] == 3
    assert (wm["image_format"], wm["format_version"]) == ("webp", 3) and "image_quality" not in wm
    assert wm["dataset_hash"] == compute_dataset_hash(wm) != png["dataset_hash"]
    # the option is hashed, not only the bytes it produced
    assert compute_dataset_hash({**wm, "image_format": "jpeg"}) != wm["dataset_hash"]
    jm = _write(tmp_path / "j", image_format="jpeg")
    assert (jm["image_format"], jm["image_quality"]) == ("jpeg", 95)
    assert compute_dataset_hash({**jm, "image_quality": 90}) != jm["dataset_hash"]


@pytest.mark.parametrize(
    "existing, change, pattern",
    [
        ("png", {"image_format": "webp"}, r'image_format: "png" -> "webp \(lossless\)"'),
        ("webp", {"image_format": "png"}, r'image_format: "webp \(lossless\)" -> "png"'),
        ("webp", {"image_format": "jpeg", "n": N + 2}, r'image_format: "webp \(lossless\)" -> "jpeg quality 95"'),
    ],
)
def test_resume_or_extend_with_another_image_format_is_refused(reference, webp, tmp_path, existing, change, pattern):
    out = tmp_path / "ds"
    shutil.copytree(reference if existing == "png" else webp, out)
    before = _files(out)
    with pytest.raises(UserError, match=pattern):
        _write(out, **change)
    assert _files(out) == before


def test_jpeg_quality_change_is_refused_and_bad_options_are_user_errors(tmp_path):
    argv = ["--out", str(tmp_path / "j"), "--n", "2", "--workers", "1", "--no-progress"]
    assert toy_main([*argv, "--image-format", "jpeg", "--quality", "80"]) == 0  # the flags reach the writer
    assert read_manifest(tmp_path / "j")["image_quality"] == 80
    with pytest.raises(UserError, match=r'image_format: "jpeg quality 80" -> "jpeg quality 95"'):
        _write(tmp_path / "j", n=2, shard_size=2, params={"size": 12}, image_format="jpeg")
    with pytest.raises(UserError, match="image_format must be one of png, jxl, webp, jpeg"):
        _write(tmp_path / "x", image_format="tiff")
    with pytest.raises(UserError, match="quality applies to image_format 'jpeg' only"):
        _write(tmp_path / "x", image_format="webp", quality=90)
    with pytest.raises(UserError, match="quality must be <= 100"):
        _write(tmp_path / "x", image_format="jpeg", quality=101)


def test_images_too_large_for_the_format_stay_png(monkeypatch):
    import generators.dataset._codec as codec

    monkeypatch.setattr(codec, "_MAX_SIDE", {"webp": 8, "jpeg": 8})
    img = np.zeros((12, 10, 3), np.float32)
    for fmt in ("webp", "jpeg"):
        ext, data, meta = codec._encode_array(img, image_format=fmt)
        assert (ext, meta["encoding"]) == ("png", "png8")
        np.testing.assert_array_equal(codec._decode_array(bytes(data), meta, "t"), img)


def test_reader_names_a_format_version_it_cannot_read(reference, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    m = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**m, "format_version": 99}))
    with pytest.raises(UserError, match=r"format_version 99 cannot be read by this RestoreBench \(it reads 1, 2, 3\)"):
        read_manifest(out)


# --------------------------------------------------------------------------- #
# stacks stored frame by frame (format version 3); older formats still read
# --------------------------------------------------------------------------- #

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Toy datasets written by the format-1/2 code (stacks tiled), see tests/fixtures/README.md.
OLD_DATASETS = {1: FIXTURES / "toy-v1-png", 2: FIXTURES / "toy-v2-webp"}
# Format version 3 written before the imagecodecs PNG encoder (no "encoders" in the manifest).
OPENCV_PNG_DATASETS = {"png": FIXTURES / "toy-v3-png", "webp": FIXTURES / "toy-v3-webp"}


def _member(directory: Path, key: str, field: str) -> tuple[bytes, dict]:
    with tarfile.open(directory / "shard-000000.tar") as tf:
        names = tf.getnames()
        (name,) = [n for n in names if n.startswith(f"{key}.{field}.")]
        meta = json.loads(tf.extractfile(f"{key}.meta.json").read())["fields"][field]
        return tf.extractfile(name).read(), meta | {"member": name}


def test_a_stack_is_one_member_of_standalone_images(reference):
    from PIL import Image

    data, meta = _member(reference, "000000000001", "inputs.views")
    assert meta["member"].endswith(".inputs.views.pngs") and meta["encoding"] == "png8"
    offsets = meta["frame_offsets"]
    assert len(offsets) == 4 and offsets[0] == 0 and offsets[-1] == len(data)
    views = dict(read_dataset(reference))["000000000001"].inputs["views"]
    for t, (a, b) in enumerate(zip(offsets, offsets[1:])):  # each frame is a PNG any tool opens
        frame = np.asarray(Image.open(io.BytesIO(data[a:b])).convert("RGB"))
        np.testing.assert_array_equal(frame.astype(np.float32) / 255, views[t])


def test_stacks_decode_to_the_same_values_as_the_tiled_format(reference):
    """Per-frame storage changes bytes, never values: every golden generator sample and the toy sample."""
    samples = [make_toy_sample(sample_rng(0, 0))]
    for path in sorted((REPO / "tests" / "golden").glob("*.npz")):
        with np.load(path) as z:
            groups = {g: {k.split(".", 1)[1]: z[k] for k in z.files if k.startswith(g + ".")}
                      for g in ("inputs", "target", "extras")}  # fmt: skip
        samples.append(Sample(**groups, params={}))
    stacks = 0
    for i, sample in enumerate(samples):
        for image_format in ("png", "webp"):
            new = {m.split(".", 1)[1]: d for m, d in dsmod._encode_sample(sample, i, image_format=image_format)}
            old = {m.split(".", 1)[1]: d for m, d in
                   dsmod._encode_sample(sample, i, image_format=image_format, per_frame=False)}  # fmt: skip
            stacks += sum(n.endswith("s") for n in new)
            a, b = dsmod._codec._decode_sample("k", new, "new"), dsmod._codec._decode_sample("k", old, "old")
            for group in ("inputs", "target", "extras"):
                for name, x in getattr(sample, group).items():
                    y, z = getattr(a, group)[name], getattr(b, group)[name]
                    assert y.dtype == z.dtype and y.shape == z.shape == x.shape, (i, group, name)
                    np.testing.assert_array_equal(y, z, err_msg=f"sample {i} {image_format} {group}.{name}")
    assert stacks >= 10  # views, frames, masks of bookcovers, reflections, captions ...


def test_read_frame_reads_only_that_frame(reference, tmp_path):
    streamed = dict(read_dataset(reference))
    for key in ("000000000000", "000000000004"):
        for t in (0, 2, -1):
            want = streamed[key].inputs["views"][t]
            got = dsmod.read_frame(reference, key, "inputs.views", t)
            assert got.dtype == want.dtype and got.shape == want.shape == (12, 10, 3)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(dsmod.read_frame(reference, int(key), "inputs.views", t), want)
            np.testing.assert_array_equal(SampleDataset(reference, verify=False).read_frame(int(key), "inputs.views", t),
                                          want)  # fmt: skip
        # a field that is not a stack is read whole and indexed: the same contract
        np.testing.assert_array_equal(dsmod.read_frame(reference, key, "target.clean", 5),
                                      streamed[key].target["clean"][5])  # fmt: skip
    # Garble frame 0 of sample 1 in place: frames 1 and 2 still read, so nothing else was decoded.
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    data, meta = _member(out, "000000000001", "inputs.views")
    raw = bytearray((out / "shard-000000.tar").read_bytes())
    start = raw.index(data)
    raw[start : start + meta["frame_offsets"][1]] = b"\xff" * meta["frame_offsets"][1]
    (out / "shard-000000.tar").write_bytes(bytes(raw))
    np.testing.assert_array_equal(dsmod.read_frame(out, 1, "inputs.views", 2), streamed["000000000001"].inputs["views"][2])
    with pytest.raises(UserError, match=r"000000000001\.inputs\.views\.pngs frame 0: png8 image cannot be decoded"):
        dsmod.read_frame(out, 1, "inputs.views", 0)
    with pytest.raises(KeyError, match="inputs.nope"):
        dsmod.read_frame(reference, 0, "inputs.nope", 0)
    with pytest.raises(IndexError, match="frame 3 out of range"):
        dsmod.read_frame(reference, 0, "inputs.views", 3)
    with pytest.raises(IndexError, match=f"sample {N} out of range"):
        dsmod.read_frame(reference, N, "inputs.views", 0)


@pytest.mark.parametrize("version", sorted(OLD_DATASETS))
def test_datasets_of_older_formats_read_the_same(version, tmp_path):
    old = OLD_DATASETS[version]
    manifest = read_manifest(old)
    assert manifest["format_version"] == version and compute_dataset_hash(manifest) == manifest["dataset_hash"]
    image_format = manifest.get("image_format", "png")
    _, meta = _member(old, "000000000000", "inputs.views")
    assert "frame_offsets" not in meta and meta["member"].endswith("." + image_format)  # tiled, as it was written
    new = tmp_path / "new"
    assert _write(new, n=3, shard_size=2, image_format=image_format)["format_version"] == 3
    ds = SampleDataset(old)
    for i, ((k1, a), (k2, b)) in enumerate(zip(read_dataset(old), read_dataset(new), strict=True)):
        assert k1 == k2 and a.params == b.params
        for group in ("inputs", "target", "extras"):
            for name, x in getattr(a, group).items():
                np.testing.assert_array_equal(x, getattr(b, group)[name], err_msg=f"{k1} {group}.{name}")
        np.testing.assert_array_equal(ds[i].inputs["views"], a.inputs["views"])
        np.testing.assert_array_equal(dsmod.read_frame(old, k1, "inputs.views", 2), a.inputs["views"][2])
        np.testing.assert_array_equal(ds.read_frame(i, "inputs.views", 1), a.inputs["views"][1])


def _assert_as_the_old_code_wrote_it(out: Path, old: Path) -> None:
    """``out`` (``old`` with its last shard remade) holds ``old``'s bytes, where the encoder libraries match.

    The manifest may differ in one way: it records the versions of the libraries present
    now, and imagecodecs joined that list with the imagecodecs PNG encoder (issue 27).
    """
    fixture_libs = {k: read_manifest(old)["versions"].get(k) for k in ("opencv-python-headless", "pillow")}
    if fixture_libs != {k: dsmod._package_versions().get(k) for k in fixture_libs}:  # other encoder bytes
        return
    got, want = _files(out), _files(old)
    shards = lambda files: {k: v for k, v in files.items() if k != "manifest.json"}  # noqa: E731
    assert shards(got) == shards(want)
    got_m, want_m = json.loads(got["manifest.json"]), json.loads(want["manifest.json"])
    got_versions, want_versions = got_m.pop("versions"), want_m.pop("versions")
    assert got_m == want_m and "encoders" not in got_m  # the same hash, no encoder recorded
    assert {k: v for k, v in got_versions.items() if k != "imagecodecs"} == want_versions


@pytest.mark.parametrize("version", sorted(OLD_DATASETS))
def test_datasets_of_older_formats_are_finished_and_extended_in_their_format(version, tmp_path):
    old = OLD_DATASETS[version]
    image_format = read_manifest(old).get("image_format", "png")
    out = tmp_path / "ds"
    shutil.copytree(old, out)
    (out / "shard-000001.tar.json").unlink()  # an unfinished run: the last shard is remade
    (out / "shard-000001.tar").unlink()
    manifest = _write(out, n=3, shard_size=2, image_format=image_format)
    assert manifest["format_version"] == version
    _assert_as_the_old_code_wrote_it(out, old)
    assert _write(out, n=5, shard_size=2, image_format=image_format)["format_version"] == version
    _, meta = _member(out, "000000000000", "inputs.views")
    assert "frame_offsets" not in meta
    with tarfile.open(out / "shard-000002.tar") as tf:
        assert f"000000000004.inputs.views.{'webp' if version == 2 else 'png'}" in tf.getnames()


# --------------------------------------------------------------------------- #
# encoders (issue 27): the imagecodecs PNG encoder, JPEG XL, the reader sniffing formats
# --------------------------------------------------------------------------- #


def _decoded_members(members) -> Sample:
    return dsmod._codec._decode_sample("k", {m.split(".", 1)[1]: d for m, d in members}, "test")


def _assert_same_arrays(a: Sample, b: Sample, what: str = "") -> None:
    for group in ("inputs", "target", "extras"):
        ga, gb = getattr(a, group), getattr(b, group)
        assert sorted(ga) == sorted(gb)
        for name in ga:
            assert ga[name].dtype == gb[name].dtype and ga[name].shape == gb[name].shape, (what, group, name)
            np.testing.assert_array_equal(ga[name], gb[name], err_msg=f"{what} {group}.{name}")


def test_png_encoders_write_other_bytes_of_the_same_pixels():
    from PIL import Image

    sample = make_toy_sample(sample_rng(0, 1))
    new = dsmod._encode_sample(sample, 1)
    old = dsmod._encode_sample(sample, 1, png_encoder="opencv")
    assert [m for m, _ in new] == [m for m, _ in old]
    pngs = [(m, bytes(a), bytes(b)) for (m, a), (_, b) in zip(new, old) if ".png" in m]
    assert len(pngs) == 5 and all(a != b for _, a, b in pngs)  # views, grey, clean, mask, u8
    _assert_same_arrays(_decoded_members(new), _decoded_members(old))
    name, data, _ = next(p for p in pngs if p[0].endswith(".extras.u8.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), sample.extras["u8"])  # RGB for any tool


@pytest.mark.parametrize("image_format", ["png", "jxl", "jpeg"])
def test_equal_images_of_a_sample_are_encoded_once_into_the_same_bytes(image_format, monkeypatch):
    import generators.dataset._codec as codec

    rng = np.random.default_rng(3)
    video = rng.integers(0, 256, (4, 8, 6, 3)).astype(np.float32) / np.float32(255)  # exact on 8 bits
    clean = video.copy()
    clean[[0, 2], :2] = 1.0  # captions on frames 0 and 2 only: frames 1 and 3 repeat
    mask = np.zeros((4, 8, 6), bool)
    mask[[0, 2], :2] = True
    sample = Sample(inputs={"video": video}, target={"clean": clean, "frame": clean[3].copy()},
                    extras={"mask": mask}, params={})  # fmt: skip
    calls = []
    for name in ("_encode_png", "_encode_picture"):
        real = getattr(codec, name)
        monkeypatch.setattr(codec, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    members = dict(codec._encode_sample(sample, 0, image_format=image_format))
    # 4 video frames, clean frames 0 and 2, the mask's two distinct frames; "frame" repeats clean[3]
    assert len(calls) == 8
    calls.clear()
    for group in ("inputs", "target", "extras"):  # each field alone, nothing shared: the same bytes
        for name, a in getattr(sample, group).items():
            ext, data, meta = codec._encode_array(a, image_format=image_format)
            assert bytes(members[f"{0:012d}.{group}.{name}.{ext}"]) == bytes(data), (group, name)
    assert len(calls) == 4 + 4 + 1 + 4
    if image_format != "jpeg":  # lossless: every array back
        _assert_same_arrays(_decoded_members(members.items()), sample)


@pytest.fixture(scope="module")
def jxl(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("jxl") / "ds"
    _write(out, image_format="jxl")
    return out


def test_jxl_decodes_to_the_png_values_and_only_float_images_change_encoding(reference, jxl, tmp_path):
    for (k1, a), (k2, b) in zip(read_dataset(reference), read_dataset(jxl), strict=True):
        assert k1 == k2 and a.params == b.params
        _assert_same_arrays(a, b, k1)  # lossless: every array equal, the greyscale image included
    with tarfile.open(jxl / "shard-000000.tar") as tf:
        exts = {m.name.split(".", 1)[1] for m in tf.getmembers()}
    assert {"inputs.views.jxls", "inputs.grey.jxl", "target.clean.jxl"} <= exts
    assert {"extras.mask.png", "extras.u8.png", "extras.labels.npy", "extras.depth.npy"} <= exts
    np.testing.assert_array_equal(dsmod.read_frame(jxl, 2, "inputs.views", 1),
                                  dict(read_dataset(reference))[f"{2:012d}"].inputs["views"][1])  # fmt: skip
    _write(tmp_path / "j2", image_format="jxl", workers=2)
    assert _files(tmp_path / "j2") == _files(jxl)


def test_manifest_records_the_encoders_and_they_are_part_of_the_identity(reference, webp, jxl, tmp_path):
    imagecodecs_png = {"library": "imagecodecs", "level": 1, "strategy": "rle", "filter": "up"}
    png, wm, xm = read_manifest(reference), read_manifest(webp), read_manifest(jxl)
    assert png["encoders"] == {"png": imagecodecs_png}
    assert wm["encoders"] == {"png": imagecodecs_png, "webp": {"library": "pillow", "lossless": True, "method": 0,
                                                               "quality": 0}}  # fmt: skip
    assert xm["encoders"] == {"png": imagecodecs_png, "jxl": {"library": "imagecodecs", "lossless": True, "effort": 1}}
    assert xm["image_format"] == "jxl" and "image_quality" not in xm
    jm = _write(tmp_path / "j", image_format="jpeg", quality=80)
    assert jm["encoders"]["jpeg"] == {"library": "opencv", "quality": 80, "chroma": "4:4:4"}
    assert "imagecodecs" in png["versions"]
    for m in (png, wm, xm, jm):  # the options are hashed, not only the bytes they produced
        assert m["dataset_hash"] == compute_dataset_hash(m)
        opencv = {**m["encoders"], "png": {"library": "opencv", "level": 1, "strategy": "rle"}}
        assert compute_dataset_hash({**m, "encoders": opencv}) != m["dataset_hash"]
        without = {k: v for k, v in m.items() if k != "encoders"}
        assert compute_dataset_hash(without) != m["dataset_hash"]


@pytest.mark.parametrize("image_format", sorted(OPENCV_PNG_DATASETS))
def test_datasets_written_with_opencv_png_are_finished_and_extended_with_it(image_format, tmp_path):
    old = OPENCV_PNG_DATASETS[image_format]
    manifest = read_manifest(old)
    assert manifest["format_version"] == 3 and "encoders" not in manifest
    assert compute_dataset_hash(manifest) == manifest["dataset_hash"]
    out = tmp_path / "ds"
    shutil.copytree(old, out)
    (out / "shard-000001.tar.json").unlink()  # an unfinished run: the last shard is remade
    (out / "shard-000001.tar").unlink()
    _write(out, n=3, shard_size=2, image_format=image_format)
    _assert_as_the_old_code_wrote_it(out, old)
    extended = _write(out, n=5, shard_size=2, image_format=image_format)
    assert "encoders" not in extended and extended["dataset_hash"] == compute_dataset_hash(extended)
    with tarfile.open(out / "shard-000002.tar") as tf:  # the new shard: OpenCV's PNG bytes
        got = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}
    want = dsmod._encode_sample(make_toy_sample(sample_rng(0, 4)), 4, image_format=image_format, png_encoder="opencv")
    assert got == {name: bytes(data) for name, data in want}
    fresh = _write(tmp_path / "fresh", n=5, shard_size=2, image_format=image_format)  # a new dataset: imagecodecs
    assert fresh["encoders"]["png"]["library"] == "imagecodecs" and fresh["dataset_hash"] != extended["dataset_hash"]
    for (k1, a), (k2, b) in zip(read_dataset(out), read_dataset(tmp_path / "fresh"), strict=True):
        assert k1 == k2
        _assert_same_arrays(a, b, k1)


def test_a_png_encoder_this_code_cannot_write_is_refused(reference, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    m = json.loads((out / "manifest.json").read_text())
    m["encoders"]["png"] = {"library": "libpng", "level": 9}
    (out / "manifest.json").write_text(json.dumps(m))
    before = _files(out)
    with pytest.raises(UserError, match=r'PNG encoder this RestoreBench cannot reproduce \(\{"library": "libpng"'):
        _write(out, n=N + 2)
    assert _files(out) == before


def test_the_reader_finds_the_format_from_the_bytes():
    img = np.random.default_rng(0).random((6, 5, 3), dtype=np.float32)
    want = np.rint(img * 255).astype(np.float32) / 255
    for image_format in ("png", "jxl", "webp"):
        _, data, meta = dsmod._encode_array(img, image_format=image_format)
        for encoding in ("png8", "jxl8", "webp8"):  # the name in the meta says nothing about the file format
            np.testing.assert_array_equal(dsmod._decode_array(bytes(data), {**meta, "encoding": encoding}, "t"), want)
    _, data, meta = dsmod._encode_array(img)
    with pytest.raises(UserError, match=r"^t: png8 image cannot be decoded \(not a PNG, JPEG XL, WebP or JPEG file\)$"):
        dsmod._decode_array(b"GIF89a" + bytes(data), meta, "t")
    with pytest.raises(UserError, match=r"^t: jxl8 image cannot be decoded \(.+\)$"):
        dsmod._decode_array(b"\xff\x0a" + bytes(20), {**meta, "encoding": "jxl8"}, "t")


class _NoJxl:
    """imagecodecs as built without JPEG XL."""

    class PNG:
        available = True

    class JPEGXL:
        available = False


def _no_imagecodecs():
    raise ImportError("No module named 'imagecodecs'")


@pytest.mark.parametrize(
    "fake, image_format, pattern",
    [
        (_no_imagecodecs, "png", r"PNG needs the imagecodecs package \(No module named 'imagecodecs'\); install it with "
                                 r"pip install 'imagecodecs==2026\.1\.14'"),
        (_no_imagecodecs, "jxl", r"needs the imagecodecs package"),
        (lambda: _NoJxl, "jxl", r"--image-format jxl needs imagecodecs built with JPEGXL support"),
    ],
)
def test_a_missing_codec_library_is_one_line_before_any_work(fake, image_format, pattern, tmp_path, monkeypatch,
                                                             capsys):  # fmt: skip
    import generators.dataset._codec as codec

    monkeypatch.setattr(codec, "_imagecodecs", fake)
    calls = []
    monkeypatch.setattr(dsmod._writer, "_run_jobs", lambda *a, **k: calls.append(1))
    with pytest.raises(UserError, match=pattern):
        _write(tmp_path / "api", image_format=image_format)
    assert not calls and not (tmp_path / "api" / "manifest.json").exists()
    assert toy_main(["--out", str(tmp_path / "cli"), "--no-progress", "--image-format", image_format]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and __import__("re").search(pattern, captured.err)
    assert not (tmp_path / "cli").exists() and not calls


def test_an_opencv_png_dataset_needs_no_imagecodecs(tmp_path, monkeypatch):
    import generators.dataset._codec as codec

    out = tmp_path / "ds"
    shutil.copytree(OPENCV_PNG_DATASETS["png"], out)
    (out / "shard-000001.tar.json").unlink()
    (out / "shard-000001.tar").unlink()
    monkeypatch.setattr(codec, "_imagecodecs", _no_imagecodecs)
    _write(out, n=3, shard_size=2)
    _assert_as_the_old_code_wrote_it(out, OPENCV_PNG_DATASETS["png"])


# --------------------------------------------------------------------------- #
# bytes on disk: determinism
# --------------------------------------------------------------------------- #


def test_tar_members_are_sorted_with_fixed_headers(reference):
    raw = (reference / "shard-000000.tar").read_bytes()
    assert len(raw) % 10240 == 0
    with tarfile.open(reference / "shard-000000.tar") as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {"000000000000.meta.json", "000000000000.params.json", "000000000002.target.clean.png"} <= set(names)
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode, m.pax_headers) == (0, 0, 0, "", "", 0o644, {})
        assert m.isfile()
    assert raw[257:263] == b"ustar\x00"  # POSIX ustar headers, no pax/GNU extensions


def test_manifest_records_everything_and_hash(reference):
    m = read_manifest(reference)
    assert (m["generator"], m["params"], m["seed"], m["n"], m["shard_size"]) == ("toy", PARAMS, 0, N, SHARD)
    assert [(s["file"], s["first"], s["count"]) for s in m["shards"]] == [
        ("shard-000000.tar", 0, 3), ("shard-000001.tar", 3, 3), ("shard-000002.tar", 6, 1)]  # fmt: skip
    for s in m["shards"]:
        assert s["sha256"] == dsmod._sha256_file(reference / s["file"])
        assert s["bytes"] == (reference / s["file"]).stat().st_size
    assert {"python", "numpy", "torch", "opencv-python-headless"} <= set(m["versions"])
    assert m["dataset_hash"] == compute_dataset_hash(m)
    assert compute_dataset_hash({**m, "seed": 1}) != m["dataset_hash"]
    assert compute_dataset_hash({**m, "versions": {}}) == m["dataset_hash"]  # versions are not identity
    text = (reference / "manifest.json").read_text()
    assert "time" not in text and os.uname().nodename not in text


def test_same_command_twice_gives_identical_bytes(reference, tmp_path):
    _write(tmp_path / "again")
    assert _files(tmp_path / "again") == _files(reference)


def test_two_local_workers_give_identical_bytes(reference, tmp_path):
    _write(tmp_path / "w2", workers=2)
    assert _files(tmp_path / "w2") == _files(reference)


@pytest.mark.slow
def test_ray_engine_gives_identical_bytes_and_shuts_down(reference, tmp_path):
    ray = pytest.importorskip("ray")
    _write(tmp_path / "ray", workers=2, engine="ray")
    assert _files(tmp_path / "ray") == _files(reference)
    assert not ray.is_initialized()


def test_on_a_ray_cluster_as_many_shards_are_in_flight_as_it_has_cpus(reference, tmp_path, monkeypatch):
    """Without --workers, a cluster run keeps all its CPUs busy, not the driver's count (tests/test_ray_cluster.py
    runs a real cluster)."""
    import generators.dataset._writer as writer
    from generators.dataset._engines import _write_shard

    class FakeCluster:  # stands in for _RayEngine on a 3-CPU cluster
        reports_samples = False
        cpus = 3

        def __init__(self, make_sample, workers, address):
            self.make_sample, self.workers, self.pending, self.most = make_sample, workers, [], 0
            engines.append(self)

        def submit(self, job):
            self.pending.append(job)
            self.most = max(self.most, len(self.pending))

        def wait_one(self):
            return _write_shard(self.pending.pop(0), self.make_sample)

        def close(self, abort):
            pass

    engines: list[FakeCluster] = []
    monkeypatch.setattr(writer, "_RayEngine", FakeCluster)
    _write(tmp_path / "a", engine="ray", ray_address="10.0.0.1:6379", workers=None, n=15)
    _write(tmp_path / "b", engine="ray", ray_address="10.0.0.1:6379", workers=2, n=15)
    assert [(e.workers, e.most) for e in engines] == [(None, 3), (2, 2)]
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


# --------------------------------------------------------------------------- #
# crash safety and resume
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_mid_run_then_resume_matches_uninterrupted_run(reference, tmp_path, workers):
    out = tmp_path / "killed"
    code = (
        "import sys; from tests._toy_task import main; "
        f"sys.exit(main(['--out', {str(out)!r}, '--n', '{N}', '--shard-size', '{SHARD}', "
        f"'--workers', '{workers}', '--delay', '0.25', '--no-progress']))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not list(out.glob("shard-*.tar.json")):  # at least one shard complete
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no shard finished in 30 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    time.sleep(0.3)  # pool workers die with their parent (PR_SET_PDEATHSIG)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False and "shards" not in manifest
    records = list(out.glob("shard-*.tar.json"))
    assert 1 <= len(records) < 3
    for rec_path in records:  # whatever looks complete is complete
        rec = json.loads(rec_path.read_text())
        assert dsmod._sha256_file(out / rec["file"]) == rec["sha256"]
        assert (out / rec["file"]).read_bytes() == (reference / rec["file"]).read_bytes()
    with pytest.raises(UserError, match="incomplete"):
        list(read_dataset(out))
    _write(out)  # the same command again
    assert _files(out) == _files(reference)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_resume_redoes_corrupted_partial_and_temporary_files(reference, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    (out / "shard-000001.tar").write_bytes(b"partial")  # a complete-looking name with bad content
    (out / "shard-000002.tar.json").unlink()  # a shard whose record never got written
    (out / ".shard-000000.tar.999.tmp").write_bytes(b"junk")
    _write(out)
    assert _files(out) == _files(reference)
    assert not (out / ".shard-000000.tar.999.tmp").exists()


def test_growing_n_extends_and_equals_a_fresh_run(reference, tmp_path):
    out = tmp_path / "grow"
    shutil.copytree(reference, out)
    _write(out, n=N + 3)
    _write(tmp_path / "fresh", n=N + 3)
    assert _files(out) == _files(tmp_path / "fresh")


@pytest.mark.parametrize(
    "change, pattern",
    [
        ({"params": {"size": 13}}, r"params\.size: 12 -> 13"),
        ({"seed": 1}, r"seed: 0 -> 1"),
        ({"shard_size": 2}, r"shard_size: 3 -> 2"),
        ({"generator": "other"}, r"generator: \"toy\" -> \"other\""),
        ({"n": N - 1}, r"shrink"),
    ],
)
def test_changed_settings_into_existing_dir_are_refused(reference, tmp_path, change, pattern):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    with pytest.raises(UserError, match=pattern):
        _write(out, **change)
    assert _files(out) == _files(reference)  # nothing touched


def test_foreign_or_busy_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        _write(tmp_path)
    import fcntl

    busy = tmp_path / "busy"
    busy.mkdir()
    with open(busy / ".restorebench.lock", "w") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        with pytest.raises(UserError, match="another process"):
            _write(busy)


# --------------------------------------------------------------------------- #
# readers refuse bad data
# --------------------------------------------------------------------------- #


def test_corrupted_shard_is_named(reference, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    path = out / "shard-000001.tar"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(UserError, match=r"corrupted shard .*shard-000001\.tar"):
        list(read_dataset(out))
    with pytest.raises(UserError, match=r"shard-000001\.tar"):
        SampleDataset(out)
    (out / "shard-000002.tar").unlink()
    with pytest.raises(UserError, match=r"missing shard .*shard-000002\.tar"):
        SampleDataset(out, verify=False)


def test_missing_manifest_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no manifest.json"):
        list(read_dataset(tmp_path))


# --------------------------------------------------------------------------- #
# disk space
# --------------------------------------------------------------------------- #

_Usage = namedtuple("_Usage", "total used free")


def test_short_disk_is_refused_before_the_first_shard(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(UserError, match=r"not enough free disk space .*estimated total .*--ignore-disk-space"):
        _write(tmp_path / "a")
    assert not list((tmp_path / "a").glob("shard-*"))  # refused on the probe sample, before writing
    manifest = _write(tmp_path / "b", check_disk=False)
    assert manifest["complete"]
    assert toy_main(["--out", str(tmp_path / "c"), "--no-progress", "--workers", "1", "--ignore-disk-space"]) == 0


def test_first_shard_rechecks_a_low_probe_estimate(tmp_path, monkeypatch):
    import generators.dataset._writer as writer

    monkeypatch.setattr(writer, "_free_bytes", lambda out: 5000)
    monkeypatch.setattr(writer, "_estimate_from_probe", lambda *a: writer._SizeEstimate(1.0, "a lucky sample"))
    with pytest.raises(UserError, match=r"estimated total .*from shard-000000\.tar.* 4\.9 KiB free"):
        _write(tmp_path / "a")
    assert [p.name for p in (tmp_path / "a").glob("shard-*.tar")] == ["shard-000000.tar"]


def test_size_estimate_is_announced_and_close_then_refused_when_short(tmp_path, monkeypatch, capsys):
    import generators.dataset._writer as writer

    monkeypatch.setattr(writer, "_free_bytes", lambda out: 60 * 1024**3)
    argv = ["--n", "30", "--shard-size", "5", "--workers", "1"]
    assert toy_main(["--out", str(tmp_path / "a"), *argv, "--image-format", "webp"]) == 0
    err = capsys.readouterr().err
    m = __import__("re").search(
        r"toy: estimated total ([\d.]+) KiB for 30 samples \(([\d.]+) KiB/sample from samples 0-4 as webp\); "
        r"60\.0 GiB free in ", err)  # fmt: skip
    assert m, err
    actual = sum(r["bytes"] for r in read_manifest(tmp_path / "a")["shards"])
    assert abs(float(m.group(1)) * 1024 / actual - 1) < SIZE_ESTIMATE_RTOL  # one sample predicts the whole toy dataset
    # resuming: the estimate comes from the first shard and says what is left to write
    (tmp_path / "a" / "shard-000003.tar.json").unlink()
    assert toy_main(["--out", str(tmp_path / "a"), *argv, "--image-format", "webp"]) == 0
    err = capsys.readouterr().err
    assert __import__("re").search(r"KiB/sample from shard-000000\.tar\), [\d.]+ KiB still to write; ", err), err
    # short: one line naming the estimate, the free space and what to do
    monkeypatch.setattr(writer, "_free_bytes", lambda out: 100 * 1024)
    assert toy_main(["--out", str(tmp_path / "b"), *argv, "--no-progress"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert __import__("re").search(
        r"error: not enough free disk space in .*b: estimated total [\d.]+ KiB for 30 samples .*from samples 0-4 as "
        r"png\), [\d.]+ KiB to write with a 10% margin, 100\.0 KiB free; .*--image-format webp or jpeg, --extras none",
        lines[0],
    )
    assert not (tmp_path / "b" / "shard-000000.tar").exists()


def test_disk_full_while_writing_is_one_clear_error(tmp_path, monkeypatch):
    def full(out):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dsmod._engines, "_tar_end", full)  # patched where the shard writer looks it up
    with pytest.raises(UserError, match=r"disk full while writing shard .*shard-000000\.tar"):
        _write(tmp_path)
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("shard-*"))


# --------------------------------------------------------------------------- #
# command line
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "argv, code, pattern",
    [
        (["--n", "0"], 2, "--n: must be >= 1"),
        (["--workers", "0"], 2, "--workers: must be >= 1"),
        (["--shard-size", "0"], 2, "--shard-size: must be >= 1"),
        (["--engine", "foo"], 2, "invalid choice: 'foo'"),
        (["--bogus"], 2, "unrecognized arguments: --bogus"),
        (["--image-format", "tiff"], 2, "invalid choice: 'tiff'"),
        (["--quality", "90"], 2, "--quality applies to --image-format jpeg only; png is lossless"),
        (["--image-format", "jxl", "--quality", "90"], 2, "--quality applies to --image-format jpeg only; jxl is"),
        (["--image-format", "webp", "--quality", "90"], 2, "--quality applies to --image-format jpeg only; webp is"),
        (["--image-format", "png:level=9"], 2, "invalid choice: 'png:level=9'"),
        (["--image-format", "qoi"], 2, "invalid choice: 'qoi'"),
        (["--image-format", "jpeg", "--quality", "101"], 2, "--quality: must be <= 100"),
        (["--size", "0"], 2, "--size must be >= 1"),  # raised by the generator's build()
        (["--fail", "--workers", "1"], 1, r"make_sample failed on sample 0 .*RuntimeError: toy failure with"),
        (["--fail", "--n", "6", "--workers", "2"], 1, r"failed on sample [02] \(shard shard-00000[01]\.tar\)"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, argv, code, pattern):
    assert toy_main(["--out", str(tmp_path / "o"), "--no-progress", *argv]) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "error:" in lines[0]
    assert __import__("re").search(pattern, lines[0]), lines[0]
    assert captured.out == ""


def test_cli_success_and_real_exit_codes(tmp_path):
    run = functools.partial(subprocess.run, cwd=REPO, capture_output=True, text=True, timeout=60)
    ok = run([sys.executable, "-m", "tests._toy_task", "--out", str(tmp_path / "ds"), "--n", "3", "--workers", "1"])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("\n") == 1 and str(tmp_path / "ds" / "manifest.json") in ok.stdout
    # no progress bar when stderr is not a terminal; the size estimate only
    assert ok.stderr.startswith("toy: estimated total ") and ok.stderr.count("\n") == 1, ok.stderr
    bad = run([sys.executable, "-m", "tests._toy_task", "--out", str(tmp_path / "x"), "--n", "0"])
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    changed = run([sys.executable, "-m", "tests._toy_task", "--out", str(tmp_path / "ds"), "--n", "3", "--size", "5"])
    assert changed.returncode == 1 and len(changed.stderr.strip().splitlines()) == 1
    assert "params.size: 12 -> 5" in changed.stderr


def test_unpicklable_make_sample_needs_one_worker(tmp_path):
    with pytest.raises(UserError, match="picklable"):
        _write(tmp_path / "a", make_sample=lambda rng: make_toy_sample(rng), workers=2)
    assert _write(tmp_path / "b", make_sample=lambda rng: make_toy_sample(rng), n=2)["complete"]


def _brighter_toy_sample(rng):
    s = make_toy_sample(rng)
    return Sample(inputs={k: np.sqrt(v) for k, v in s.inputs.items()}, target=s.target, extras=s.extras, params=s.params)


def test_extending_with_a_changed_generator_is_refused(reference, tmp_path):
    # Same settings, other code (a generator edited without a new formation version): finishing or
    # extending would mix two generators' samples in one dataset, so it is refused before anything is made.
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    (out / "shard-000002.tar.json").unlink()  # an interrupted run: the last shard is to be made again
    before = _files(out)
    with pytest.raises(UserError, match=r"ds: sample 0 on disk is not what this code makes \(000000000000\.inputs\."
                                        r".* differ\): the generator changed since the dataset was begun"):
        _write(out, make_sample=_brighter_toy_sample)
    del before["shard-000002.tar"]  # a shard without its record is unverifiable and always removed
    assert _files(out) == before  # nothing made
    _write(out)  # the code that began it finishes it, byte for byte
    assert _files(out) == _files(reference)
    assert _write(out, make_sample=_brighter_toy_sample)["complete"]  # a finished dataset is only verified


def test_other_library_versions_may_verify_but_not_extend(reference, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    real = dsmod._package_versions
    monkeypatch.setattr(dsmod._writer, "_package_versions", lambda: {**real(), "numpy": "0.0.1"})
    assert _write(out)["complete"]  # finished: only verified, nothing made
    assert _files(out) == _files(reference)
    with pytest.raises(UserError, match=r"other library versions \(numpy: \"1[^;]*\" -> \"0\.0\.1\"\)"):
        _write(out, n=N + 1)


def test_extend_compares_only_packages_recorded_on_both_sides(reference, tmp_path):
    """A package added to generators._runtime.PACKAGES (or removed from the environment)
    must not make an existing dataset un-resumable; a differing shared version still refuses."""
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "pandas" in manifest["versions"]  # recorded today, absent from manifests before the merge
    old = {k: v for k, v in manifest["versions"].items() if k not in ("pandas", "av")}
    (out / "manifest.json").write_text(json.dumps({**manifest, "versions": old | {"gone-package": "1.0"}}))
    grown = _write(out, n=N + 1)  # extended: the new and the vanished package are not compared
    assert grown["complete"] and grown["n"] == N + 1
    _write(tmp_path / "fresh", n=N + 1)
    assert _files(out) == _files(tmp_path / "fresh")
    again = tmp_path / "numpy"
    shutil.copytree(reference, again)
    manifest = json.loads((again / "manifest.json").read_text())
    versions = {k: v for k, v in manifest["versions"].items() if k != "pandas"} | {"numpy": "0.0.1"}
    (again / "manifest.json").write_text(json.dumps({**manifest, "versions": versions}))
    with pytest.raises(UserError, match=r"other library versions \(numpy: \"0\.0\.1\" -> \"1[^;]*\"\);"):
        _write(again, n=N + 1)


def test_make_sample_must_return_a_sample(tmp_path):
    with pytest.raises(UserError, match="returned a dict for sample 0, expected a Sample"):
        _write(tmp_path, make_sample=dict_sample, n=1)


def dict_sample(rng):
    return {"inputs": {}}


def test_readme_webdataset_example_restores_view_stacks(tmp_path):
    """Issue 15 #8: the README's three-line webdataset example gives (N, H, W, C) exactly."""
    import re

    wds = pytest.importorskip("webdataset")
    from generators.reflections.__main__ import main as cli

    assert cli(["--n", "2", "--size", "64", "--frames", "3", "--out", str(tmp_path / "d"), "--no-progress"]) == 0
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(import webdataset as wds\n.*?)```", readme, re.S).group(1)
    code = code.replace("data/reflections/shard-000000.tar", str(tmp_path / "d" / "shard-000000.tar"))
    got = []
    exec(code.rstrip("\n") + "\n    got.append(frames)\n", {"got": got})  # the README's lines, verbatim
    from generators.dataset import read_dataset

    ours = [s.inputs["frames"] for _, s in read_dataset(tmp_path / "d")]
    assert len(got) == 2
    for a, b in zip(got, ours):
        assert a.shape == b.shape == (3, 64, 64, 3)
        np.testing.assert_array_equal(a.astype(np.float32) / 255, b)
