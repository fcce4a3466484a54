"""roadseg: paired label maps, classes and tag decoding, CARLA pairing logic, metrics, baselines, network."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from generators.roadseg import UNKNOWN, make_task
from generators.roadseg.__main__ import main as cli
from generators.roadseg.carla_backend import FrameRecord, check_pair
from generators.shared.streets.classes import CARLA_CLASSES, CARLA_DYNAMIC, CARLA_TO_MICC, MICC_CLASSES, decode_carla_bgra, to_micc
from generators.task import Sample, metric_value, sample_rng
from tests.tolerances import ROAD_DEPTH_RTOL

SIZE = (150, 200)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def samples():
    task = make_task(size=SIZE)
    return [task.make_sample(sample_rng(31, i)) for i in range(8)]


def test_layout(samples):
    for s in samples:
        assert s.inputs["labels"].shape == SIZE and s.inputs["labels"].dtype == np.uint8
        assert s.target["labels"].dtype == np.uint8 and s.inputs["mask"].dtype == np.bool_
        assert s.inputs["rgb"].shape == (*SIZE, 3) and s.extras["depth"].dtype == np.float16
        assert json.dumps(s.params)


def test_static_and_populated_agree_outside_the_mask(samples):
    for s in samples:
        m = s.inputs["mask"]
        np.testing.assert_array_equal(s.extras["populated"][~m], s.target["labels"][~m])
        np.testing.assert_array_equal(s.inputs["labels"][~m], s.target["labels"][~m])
        assert (s.inputs["labels"][m] == UNKNOWN).all()


def test_every_mask_pixel_is_a_dynamic_class_and_the_target_has_none(samples):
    for s in samples:
        m = s.inputs["mask"]
        assert np.isin(s.extras["populated"][m], (7, 8)).all()
        assert not np.isin(s.target["labels"], (7, 8)).any()


def test_class_frequencies_are_plausible(samples):
    """Road and building dominate; people or cars in every frame above MICC-SRI-like floor."""
    counts = np.zeros(9)
    for s in samples:
        counts += np.bincount(s.target["labels"].ravel(), minlength=9)[:9]
        assert s.inputs["mask"].mean() >= 0.009  # the re-draw floor (1 %, measured at 1/4 size)
    frac = counts / counts.sum()
    assert frac[1] > 0.15 and frac[3] > 0.1, frac  # road, building
    assert sum(np.isin(s.extras["populated"], (8,)).any() for s in samples) >= 6  # cars in most frames
    assert sum(np.isin(s.extras["populated"], (7,)).any() for s in samples) >= 4  # people in many


def test_horizon_and_perspective(samples):
    """Sky above, road below: a dash cam's view."""
    for s in samples:
        t = s.target["labels"]
        road_rows = np.nonzero((t == 1).any(axis=1))[0]
        assert road_rows.min() > 0.35 * SIZE[0] and road_rows.max() == SIZE[0] - 1


def test_depth_is_metric_and_positive_on_geometry(samples):
    s = samples[0]
    d = s.extras["depth"].astype(np.float32)
    cam = s.params["scene"]["camera"]
    # the bottom row's ray: half the vertical field of view below the optical axis, which is pitched by pitch_deg
    v_half = np.arctan(np.tan(np.deg2rad(cam["hfov_deg"]) / 2) * SIZE[0] / SIZE[1])
    below = v_half - np.deg2rad(cam["pitch_deg"])
    assert d[-1, SIZE[1] // 2] == pytest.approx(cam["position"][1] / np.tan(below),
                                               rel=ROAD_DEPTH_RTOL)  # the road just below the camera, a few metres ahead
    assert (d[s.target["labels"] == 1] > 0).all()


def test_tag_table_matches_carla_0916():
    names = {c.id: c.name for c in CARLA_CLASSES}
    assert len(names) == 29 and names[0] == "Unlabeled" and names[28] == "GuardRail"
    assert (names[12], names[13], names[14], names[15], names[16], names[17], names[18], names[19], names[21]) == \
           ("Pedestrian", "Rider", "Car", "Truck", "Bus", "Train", "Motorcycle", "Bicycle", "Dynamic")
    micc = {c.id: c.name for c in MICC_CLASSES}
    assert micc[CARLA_TO_MICC[12]] == micc[CARLA_TO_MICC[13]] == "Person"
    assert {micc[CARLA_TO_MICC[t]] for t in (14, 15, 16, 18, 19)} == {"Car"}
    assert micc[CARLA_TO_MICC[24]] == "Road" and micc[CARLA_TO_MICC[11]] == "Unlabeled"


def test_decode_reads_the_red_channel_of_bgra():
    tags = np.random.default_rng(0).integers(0, 29, (6, 5)).astype(np.uint8)
    bgra = np.zeros((6, 5, 4), np.uint8)
    bgra[..., 2] = tags
    bgra[..., 0] = 200  # blue and alpha carry nothing
    bgra[..., 3] = 255
    np.testing.assert_array_equal(decode_carla_bgra(bgra.tobytes(), 6, 5), tags)
    np.testing.assert_array_equal(to_micc(tags), CARLA_TO_MICC[tags])
    palette = bgra.copy()
    palette[..., 2] = 128  # a CityScapes-palette image: red channel 128 (road colour) is no tag
    with pytest.raises(ValueError, match="palette"):
        decode_carla_bgra(palette.tobytes(), 6, 5)
    with pytest.raises(ValueError, match="bytes"):
        decode_carla_bgra(b"\x00" * 10, 6, 5)


def test_pairing_accepts_only_consecutive_frames_from_one_camera_pose():
    a = FrameRecord(100, (1.0, 2.0, 1.7), (-2.0, 90.0, 0.0))
    assert check_pair(a, FrameRecord(101, (1.0, 2.0, 1.7), (-2.0, 90.0, 0.0))) == ""
    assert check_pair(a, FrameRecord(101, (1.0, 2.0, 1.7), (-2.0, -270.0, 0.0))) == ""  # same angle
    assert "consecutive" in check_pair(a, FrameRecord(102, (1.0, 2.0, 1.7), (-2.0, 90.0, 0.0)))
    assert "moved" in check_pair(a, FrameRecord(101, (1.01, 2.0, 1.7), (-2.0, 90.0, 0.0)))
    assert "moved" in check_pair(a, FrameRecord(101, (1.0, 2.0, 1.7), (-2.0, 90.2, 0.0)))


def test_unreachable_carla_server_is_one_line(tmp_path, capsys):
    rc = cli(["--n", "1", "--out", str(tmp_path / "o"), "--backend", "carla", "--carla-host", "127.0.0.1",
              "--carla-port", "2999", "--carla-timeout", "1", "--workers", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "no CARLA server at 127.0.0.1:2999" in err and "waited" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o" / "shard-000000.tar").exists()


@pytest.mark.carla
@pytest.mark.skipif(not os.environ.get("CARLA_HOST"), reason="no CARLA server: set CARLA_HOST (and CARLA_PORT)")
def test_carla_integration(tmp_path):
    rc = cli(["--n", "2", "--out", str(tmp_path / "c"), "--backend", "carla", "--carla-host", os.environ["CARLA_HOST"],
              "--carla-port", os.environ.get("CARLA_PORT", "2000"), "--size", "400x300", "--workers", "1"])
    assert rc == 0
    from generators.dataset import read_dataset

    for _, s in read_dataset(tmp_path / "c"):
        m = s.inputs["mask"]
        np.testing.assert_array_equal(s.extras["populated"][~m], s.target["labels"][~m])


@pytest.mark.parametrize("argv, needle", [
    (["--size", "800by600"], "size must look like 800x600"),
    (["--size", "10x10"], "out of range"),
    (["--size", "63x64"], "out of range"),
    (["--density", "-1"], "density must be a positive number"),
    (["--density", "0"], "density must be a positive number"),
    (["--density", "nan"], "density must be a positive number"),
    (["--town-style", "venice"], "unknown town style 'venice'"),
])
def test_bad_arguments_give_one_clear_error(tmp_path, capsys, argv, needle):
    rc = cli(["--n", "1", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o" / "shard-000000.tar").exists()


def test_deterministic_across_worker_counts(tmp_path):
    args = ["--n", "3", "--size", "120x90", "--seed", "4", "--shard-size", "2", "--no-progress"]
    assert cli([*args, "--out", str(tmp_path / "a"), "--workers", "1"]) == 0
    assert cli([*args, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    for shard in sorted((tmp_path / "a").glob("*.tar")):
        assert shard.read_bytes() == (tmp_path / "b" / shard.name).read_bytes()


def test_carla_class_set_keeps_every_tag(tmp_path):
    s = make_task(size=(90, 120), classes="carla").make_sample(sample_rng(0, 0))
    assert s.inputs["mask"].any() and np.isin(s.extras["populated"][s.inputs["mask"]], CARLA_DYNAMIC).all()
    assert 11 in s.target["labels"]  # sky keeps its CARLA tag


# ---------------------------------------------------------------- metrics


def test_metrics_by_hand():
    from generators.roadseg import METRICS

    ref = np.array([[1, 1, 2, 3]], np.uint8)
    pred = np.array([[1, 2, 2, 3]], np.uint8)
    mask = np.array([[True, True, True, False]])
    s = Sample(inputs={"mask": mask}, target={}, params={"classes": "micc"})
    assert metric_value(METRICS["acc_in"], ref, pred, s) == pytest.approx(2 / 3)
    assert metric_value(METRICS["acc"], ref, pred, s) == pytest.approx(3 / 4)
    # in mask: class 1 IoU 1/2, class 2 IoU 1/2; class 3 only outside: left out
    assert metric_value(METRICS["miou_in"], ref, pred, s) == pytest.approx(0.5)


# ---------------------------------------------------------------- baselines and network


def test_vanishing_line_fill_beats_nearest_on_road_scenes(samples):
    from benchmarks.registry import BASELINES
    from generators.roadseg import METRICS

    gains = []
    for s in samples:
        a = metric_value(METRICS["acc_in"], s.target["labels"], BASELINES["vanishing-line-fill"].restore(s.inputs), s)
        b = metric_value(METRICS["acc_in"], s.target["labels"], BASELINES["nearest-labels"].restore(s.inputs), s)
        gains.append(a - b)
    assert np.mean(gains) > 0


def test_vanishing_point_on_a_synthetic_road():
    from baselines.roadlayout import estimate_vanishing_point

    labels = np.full((60, 80), 3, np.uint8)
    ys, xs = np.mgrid[0:60, 0:80]
    road = (ys >= 20) & (np.abs(xs - 40) <= (ys - 20))
    labels[road] = 1
    x, y = estimate_vanishing_point(labels, np.ones_like(road), (1,))
    assert y == 20 and abs(x - 40) < 2


@pytest.mark.parametrize("hw", [(64, 64), (50, 70)])
def test_network_fills_only_the_mask(hw):
    from models.layout_nets import LayoutInpaintNet, predict_labels

    net = LayoutInpaintNet(num_classes=9, width=4).eval()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, hw).astype(np.uint8)
    mask = rng.random(hw) < 0.2
    out = predict_labels(net, labels, mask)
    assert out.shape == hw and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~mask], labels[~mask])


def test_network_checkpoint_round_trip_and_corrupt_file(tmp_path):
    from models.layout_nets import build_model, load_model, make_checkpoint, save_checkpoint

    cfg = {"num_classes": 9, "width": 4}
    net = build_model(cfg)
    path = tmp_path / "n.pt"
    save_checkpoint(make_checkpoint(net, cfg), path)
    loaded, _ = load_model(path)
    x = torch.rand(1, 10, 32, 32)
    torch.testing.assert_close(loaded(x)["logits"], net.eval()(x)["logits"])
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_model(path)


def test_trainer_runs_resumes_and_refuses_another_config(tmp_path, capsys):
    from models.train_layout import main as train_main

    data = tmp_path / "d"
    assert cli(["--n", "2", "--size", "96x72", "--out", str(data), "--no-progress"]) == 0
    common = ["--data", str(data), "--val-data", str(data), "--state", str(tmp_path / "s.pt"), "--minutes", "0.02",
              "--batch", "2", "--crop", "32", "--val-every", "1", "--save-every", "1",
              "--ledger", str(tmp_path / "ledger.csv"), "--export", str(tmp_path / "net.pt")]
    assert train_main(["--width", "4", *common]) == 0
    assert train_main(["--width", "4", *common]) == 0
    assert "resumed" in capsys.readouterr().out
    assert train_main(["--width", "8", *common]) == 2
    from models.layout_nets import load_model

    load_model(tmp_path / "net.pt")  # the export loads with weights_only
    assert len((tmp_path / "ledger.csv").read_text().splitlines()) == 3


# ---------------------------------------------------------------- byte reproducibility (issue 24, item 4)

# Sample 22 of seed 21 at 200x150 has a pixel (row 27, column 139) where a tree crown meets a far facade
# within one step of the depth buffer: its tag is whichever mesh is drawn first.
REPRO = ["--n", "24", "--shard-size", "4", "--seed", "21", "--size", "200x150", "--no-progress"]


def test_draw_order_does_not_follow_the_iteration_order_of_pyrender_node_sets(monkeypatch):
    """pyrender keeps mesh nodes in a set hashed by id(): its iteration order follows heap addresses and
    differs between processes. Reversing it must not change a pixel (before the fix it flipped (27, 139))."""
    import pyrender

    from generators.roadseg import MIN_DYNAMIC
    from generators.shared.streets.render_embedded import clear_cache, dynamic_coverage, render_scene
    from generators.shared.streets.scene import sample_scene

    scene = sample_scene(sample_rng(21, 22), size=(150, 200), min_dynamic=MIN_DYNAMIC, coverage=dynamic_coverage)
    original = pyrender.Scene.mesh_nodes.fget
    out = []
    for reverse in (False, True):  # two iteration orders, each the reverse of the other
        def nodes(self, reverse=reverse):
            return sorted(original(self), key=lambda n: len(n.mesh.primitives[0].positions), reverse=reverse)

        monkeypatch.setattr(pyrender.Scene, "mesh_nodes", property(nodes))
        clear_cache()
        out.append(render_scene(scene))
    a, b = out
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _run_cli(out, *extra) -> subprocess.CompletedProcess:
    """The generator in a fresh process (its own heap layout), as a user runs it."""
    return subprocess.run([sys.executable, "-m", "generators.roadseg", *REPRO, "--out", str(out), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def _files(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rs") / "ref"
    r = _run_cli(out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    return out


def test_repeated_runs_and_worker_counts_give_identical_bytes(reference_run, tmp_path):
    for name, workers in (("again", "1"), ("w2", "2"), ("w2b", "2")):
        r = _run_cli(tmp_path / name, "--workers", workers)
        assert r.returncode == 0, r.stderr
        assert _files(tmp_path / name) == _files(reference_run), name


def test_sigkill_mid_run_then_resume_is_byte_identical(reference_run, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "generators.roadseg", *REPRO, "--out", str(out), "--workers", "2"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("shard-*.tar.json")):  # at least one shard complete
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no shard finished in 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    time.sleep(0.3)  # pool workers die with their parent
    assert len(list(out.glob("shard-*.tar.json"))) < 6, "the run finished before it was killed"
    r = _run_cli(out, "--workers", "2")  # the same command again resumes
    assert r.returncode == 0, r.stderr
    assert _files(out) == _files(reference_run)


def test_class_statistics_by_hand():
    from generators.roadseg.stats import summarise

    counts = np.zeros((2, 29), int)
    counts[0, 1], counts[1, 11] = 10, 10  # a frame of road, a frame of sky
    statics = np.stack([np.full((4, 5), 1, np.uint8), np.full((4, 5), 11, np.uint8)])
    lines = summarise(counts, statics, [(12, 2)], pairs=10)
    assert "road        50.0 / 36.9 (1.36)" in lines[1] and "sky         50.0 /  4.0 (12.50)" in lines[5]
    assert lines[8] == "frames without people 100.0%, without vehicles 100.0%"
    assert "pedestrian: 0.5 per frame, height % of frame p10/p50/p90 50.0/50.0/50.0" in lines
    assert lines[-2].endswith(": 0.0%")  # two different maps never agree


def test_class_statistics_command(capsys):
    from generators.roadseg.stats import main as stats_main

    assert stats_main(["--n", "2", "--size", "96x72"]) == 0
    out = capsys.readouterr().out
    assert "2 frames" in out and "static-map agreement (MICC classes" in out
