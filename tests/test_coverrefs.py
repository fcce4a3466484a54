"""coverrefs: the query and its gallery are deterministic and consistent (masks, homographies,
visibility, conditions), the command line is byte-identical for any worker count, bad input gives
one line, and the metrics ignore what a method returns outside the hole."""

import numpy as np
import pytest

from generators import coverrefs
from generators.coverrefs import CONDITIONS, make_task, warp_to_query
from generators.coverrefs.__main__ import main as cli
from generators.coverrefs._scoring import METRICS
from generators.dataset import read_dataset
from generators.metrics import ncc
from generators.task import metric_value, sample_rng
from tests.tolerances import FLOAT32_ROUNDING_ATOL


@pytest.fixture(scope="module")
def task():
    return make_task(size=96, gallery=6)


@pytest.fixture(scope="module")
def samples(task):
    return [task.make_sample(sample_rng(2, i)) for i in range(6)]


def test_sample_depends_only_on_seed_and_index(task):
    a = task.make_sample(sample_rng(3, 7))
    b = task.make_sample(sample_rng(3, 7))
    for k in a.inputs:
        np.testing.assert_array_equal(a.inputs[k], b.inputs[k])
    np.testing.assert_array_equal(a.extras["homographies"], b.extras["homographies"])
    assert a.params == b.params


def test_layout_and_masks(samples):
    for s in samples:
        x, mask = s.inputs["image"], s.inputs["mask"]
        k = s.params["gallery"]
        assert x.dtype == np.float32 and x.shape == (96, 96, 3) and s.inputs["gallery"].shape == (k, 96, 96, 3)
        assert mask.any() and not mask.all()
        # Outside the hole the occluded query is the target, exactly.
        np.testing.assert_array_equal(x[~mask], s.target["clean"][~mask])
        assert not (mask & ~s.inputs["amodal"]).any()
        np.testing.assert_array_equal(s.inputs["modal"], s.inputs["amodal"] & ~mask)
        m = int(s.extras["is_reference"].sum())
        assert m == s.params["references"] and m in (0, 1, 3)
        assert np.isnan(s.extras["homographies"][~s.extras["is_reference"]]).all()
        assert not s.extras["visible"][~s.extras["is_reference"]].any()
        assert not (s.extras["visible"] & ~mask).any()
        frac = s.extras["visible"].sum(axis=(1, 2)) / mask.sum()
        np.testing.assert_allclose(frac, s.extras["visible_fraction"], atol=FLOAT32_ROUNDING_ATOL)
        best = float(frac.max())
        assert s.params["condition_code"] == coverrefs.condition_code(m, best)
        oracle = int(s.inputs["oracle_best"][0])
        assert (oracle == -1) if m == 0 else (s.extras["is_reference"][oracle] and frac[oracle] == best)


def test_homographies_align_references_with_the_target(task):
    """Warped with the exact homography, a reference correlates with the target (where it sees the
    cover) better than when shifted by 3 px either way, and better than a distractor warped the same
    way. Lights, exposure and the reference's own occluders differ, so NCC, not equality."""
    results = []
    for i in range(16):
        s = task.make_sample(sample_rng(11, i))
        refs = np.nonzero(s.extras["is_reference"])[0]
        if len(refs) == 0:
            continue
        g, h = int(refs[0]), s.extras["homographies"][int(refs[0])]
        scores = []
        for dx, dy, item in ((0, 0, g), (3, 0, g), (-3, 0, g), (0, 3, g), (0, -3, g),
                             (0, 0, int(np.nonzero(~s.extras["is_reference"])[0][0]))):
            shift = np.array([[1.0, 0, dx], [0, 1, dy], [0, 0, 1]])
            warped, seen = warp_to_query(s.inputs["gallery"][item], h @ shift)
            region = seen & s.inputs["modal"]
            scores.append(ncc(s.target["clean"][region], warped[region]) if region.sum() >= 300 else np.nan)
        if not np.isnan(scores).any():
            results.append(scores[0] > max(scores[1:]))
    assert len(results) >= 4 and np.mean(results) >= 0.75, results


def test_conditions_are_what_was_asked_mostly():
    task = make_task(size=96, gallery=5, conditions=["m1-high", "m3-low"])
    got = [task.make_sample(sample_rng(4, i)).params for i in range(10)]
    assert {p["condition_requested"] for p in got} <= {"m1-high", "m3-low"}
    assert np.mean([p["condition"] == p["condition_requested"] for p in got]) >= 0.8


def test_metrics_ignore_pixels_outside_the_hole(samples):
    s = samples[0]
    base = s.target["clean"].copy()
    noisy = base.copy()
    noisy[~s.inputs["mask"]] = 0.0  # garbage outside the hole: composited away
    for name, metric in METRICS.items():
        assert metric_value(metric, s.target["clean"], noisy, s) == metric_value(metric, s.target["clean"], base, s), name
    assert metric_value(METRICS["mse_hole"], s.target["clean"], base, s) == 0.0
    assert metric_value(METRICS["psnr_object"], s.target["clean"], s.inputs["image"], s) < float("inf")


def test_cli_is_byte_identical_for_any_worker_count(tmp_path):
    args = ["--n", "4", "--size", "64", "--gallery", "4", "--seed", "5", "--shard-size", "2", "--no-progress"]
    assert cli([*args, "--out", str(tmp_path / "a"), "--workers", "1"]) == 0
    assert cli([*args, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    shards = sorted((tmp_path / "a").glob("*.tar"))
    assert shards
    for shard in shards:
        assert shard.read_bytes() == (tmp_path / "b" / shard.name).read_bytes()
    (_, s), *_ = list(read_dataset(tmp_path / "a"))
    assert s.inputs["gallery"].shape == (4, 64, 64, 3) and s.extras["homographies"].dtype == np.float64


@pytest.mark.parametrize("argv, needle", [
    (["--gallery", "2"], "gallery size 2 must lie in 3..32"),
    (["--gallery", "0", "--conditions", "m0"], "gallery size 0"),
    (["--conditions", "m2-high"], "unknown condition 'm2-high'"),
    (["--size", "32"], "size must lie in 64..1024"),
    (["--covers", "/nonexistent/folder"], "does not exist"),
])
def test_bad_arguments_give_one_clear_error(tmp_path, capsys, argv, needle):
    rc = cli(["--n", "1", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_covers_folder_with_an_unreadable_file_is_refused(tmp_path, capsys):
    import cv2

    (tmp_path / "covers").mkdir()
    cv2.imwrite(str(tmp_path / "covers" / "good.png"), np.full((80, 60, 3), 128, np.uint8))
    (tmp_path / "covers" / "broken.jpg").write_bytes(b"not a jpeg at all")
    rc = cli(["--n", "1", "--out", str(tmp_path / "o"), "--covers", str(tmp_path / "covers")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot be read" in err and len(err.strip().splitlines()) == 1


def test_every_condition_is_known():
    assert set(CONDITIONS) == {"m0", "m1-low", "m1-high", "m3-low", "m3-high"}
    assert coverrefs.condition_code(0, 0.0) == 100 and coverrefs.condition_code(3, 0.5) == 131
    assert coverrefs.condition_code(1, 0.49) == 110


# ---------------------------------------------------------------- baselines on this task


@pytest.fixture(scope="module")
def big_sample():
    return make_task(size=256, gallery=6, conditions=["m1-high"]).make_sample(sample_rng(9, 1))


def test_stitching_recovers_the_hole_from_an_unoccluded_copy(big_sample):
    """With the target itself in the gallery (identity pose, same light), retrieval ranks it first and
    stitching fills the hole from it almost exactly; Telea alone does not."""
    from baselines.inpaint import inpaint_telea
    from baselines.retrieval import rank_gallery
    from baselines.stitching import StitchFill

    s = big_sample
    inputs = {**s.inputs, "gallery": np.concatenate([s.target["clean"][None], s.inputs["gallery"][1:]])}
    assert int(rank_gallery(inputs["image"], inputs["modal"], inputs["gallery"]).order()[0]) == 0
    out = StitchFill().restore(inputs)
    np.testing.assert_array_equal(out[~s.inputs["mask"]], s.inputs["image"][~s.inputs["mask"]])
    psnr_stitch = metric_value(METRICS["psnr_hole"], s.target["clean"], out, s)
    psnr_telea = metric_value(METRICS["psnr_hole"], s.target["clean"], inpaint_telea(s.inputs["image"], s.inputs["mask"]), s)
    assert psnr_stitch > 35 and psnr_stitch > psnr_telea + 5, (psnr_stitch, psnr_telea)


def test_only_oracle_methods_read_the_oracle_input(big_sample):
    from benchmarks.registry import METHODS, TASKS
    from generators.task import supports

    s = big_sample
    flipped = {**s.inputs, "oracle_best": np.array([(int(s.inputs["oracle_best"][0]) + 1) % 6], np.int32)}
    for name, method in METHODS.items():
        if not supports(method, TASKS["coverrefs"]) or name.startswith("oracle-") or name == "patchmatch":
            continue  # patchmatch reads only image and mask (and is slow at 256 px)
        np.testing.assert_array_equal(method.restore(s.inputs), method.restore(flipped), err_msg=name)


def test_retrieval_and_fill_are_kept_per_query_content(big_sample):
    """The stitching methods and both RefNets share one retrieval and one PatchMatch fill per query in a
    worker: kept by the content of the arrays each reads, read-only, equal to a fresh computation."""
    from baselines import stitching

    s = big_sample
    copy = {k: np.array(v, copy=True) for k, v in s.inputs.items()}  # equal content, other objects
    for fn in (stitching.retrieved_references, stitching.single_image_fill):
        fn.kept.clear()
        first = fn(s.inputs)
        assert fn(copy) is first and len(fn.kept) == 1
        fn.kept.clear()
        again = fn(s.inputs)  # computed anew: the same values
        assert again is not first
        flat = lambda v: [v] if isinstance(v, np.ndarray) else [a for pair in v for a in pair]  # noqa: E731
        assert len(flat(first)) == len(flat(again))
        for a, b in zip(flat(first), flat(again)):
            np.testing.assert_array_equal(a, b)
    refs = stitching.retrieved_references(s.inputs)
    assert refs and all(not a.flags.writeable for pair in refs for a in pair)
    assert not stitching.single_image_fill(s.inputs).flags.writeable
    other = {**s.inputs, "gallery": s.inputs["gallery"][::-1].copy()}  # another gallery: computed
    assert stitching.retrieved_references(other) is not refs and len(stitching.retrieved_references.kept) == 2
    # a key the fill does not read (the gallery) does not make it compute again
    assert stitching.single_image_fill(other) is stitching.single_image_fill(s.inputs)


def test_kept_results_never_freeze_the_callers_arrays():
    from baselines.stitching import _kept_by_content

    identity = _kept_by_content("image")(lambda inputs: inputs["image"])  # returns an input array itself
    image = np.zeros((4, 4, 3), np.float32)
    out = identity({"image": image})
    assert image.flags.writeable and not out.flags.writeable
    np.testing.assert_array_equal(out, image)
