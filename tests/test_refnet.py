"""The coverrefs reference-aware network: shipped weights load safely, the prediction keeps the known
pixels, the perturbation is what its docstring says, and the trainer runs, resumes and refuses bad
state (one line)."""

import numpy as np
import pytest
import torch

from models.refnet import CHECKPOINT_DIR, IN_CHANNELS, RefNetMethod, RefRefineNet, load_model
from models.train_refnet import main as train_main
from models.train_refnet import perturb_reference


@pytest.mark.parametrize("name", ["refnet.pt", "refnet_perturbed.pt"])
def test_shipped_weights_load_with_weights_only(name):
    ckpt = torch.load(CHECKPOINT_DIR / name, map_location="cpu", weights_only=True)
    assert ckpt["format"] == "restorebench.refnet/1"
    model, _ = load_model(CHECKPOINT_DIR / name)
    y = model(torch.rand(1, IN_CHANNELS, 32, 32))
    assert y.shape == (1, 3, 32, 32) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_bad_checkpoint_is_one_value_error(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_model(bad)


def test_network_is_full_resolution_with_twelve_inputs():
    net = RefRefineNet(width=8)
    assert net.enc[0].in_channels == 12 and len(net.enc) == 3 and len(net.dec) == 3
    assert all(m.stride == (1, 1) for m in [*net.enc, *net.dec])
    assert net(torch.rand(2, 12, 37, 41)).shape == (2, 3, 37, 41)


def test_method_writes_only_the_hole():
    from generators.coverrefs import make_task
    from generators.task import sample_rng

    s = make_task(size=96, gallery=4).make_sample(sample_rng(3, 0))
    out = RefNetMethod().restore(s.inputs)
    assert out.dtype == np.float32 and out.shape == s.target["clean"].shape
    np.testing.assert_array_equal(out[~s.inputs["mask"]], s.inputs["image"][~s.inputs["mask"]])


def test_network_on_the_hole_box_equals_the_whole_image_in_the_hole():
    # restore runs the network on the hole's bounding box widened by RECEPTIVE_RADIUS; a narrower box
    # must change the hole (else the radius is not what the test checks), the declared one must not.
    from generators.coverrefs import make_task
    from generators.task import sample_rng
    from models import refnet

    net = RefRefineNet(width=8).eval()
    method = RefNetMethod()
    method._model = net  # a random network: the identity must not depend on trained weights
    s = make_task(size=96, gallery=4).make_sample(sample_rng(5, 0))
    x = refnet.network_inputs(s.inputs)
    with torch.inference_mode():
        whole = net(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None])[0].permute(1, 2, 0).numpy()
    hole = s.inputs["mask"]
    assert hole.any() and not hole.all()
    np.testing.assert_array_equal(method.restore(s.inputs)[hole], whole[hole])
    narrow = refnet.RECEPTIVE_RADIUS
    try:
        refnet.RECEPTIVE_RADIUS = 2
        assert not np.array_equal(method.restore(s.inputs)[hole], whole[hole])
    finally:
        refnet.RECEPTIVE_RADIUS = narrow


def test_perturbation_is_deterministic_and_bounded():
    clean = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    a = perturb_reference(clean, np.random.default_rng(1))
    b = perturb_reference(clean, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == clean.shape and a.dtype == np.uint8 and not np.array_equal(a, clean)


def test_trainer_runs_resumes_and_refuses_other_config(tmp_path, capsys):
    from generators.coverrefs.__main__ import main as gen

    data = tmp_path / "d"
    assert gen(["--n", "2", "--size", "64", "--gallery", "3", "--out", str(data), "--workers", "1",
                "--no-progress"]) == 0
    args = ["perturbed", "--data", str(data), "--val-data", str(data), "--state", str(tmp_path / "s.pt"),
            "--export", str(tmp_path / "e.pt"), "--ledger", str(tmp_path / "l.csv"), "--minutes", "0.01",
            "--batch", "2", "--crop", "32", "--val-every", "1", "--save-every", "1"]
    assert train_main(args) == 0
    assert train_main(args) == 0
    assert "resumed" in capsys.readouterr().out
    assert len((tmp_path / "l.csv").read_text().splitlines()) == 3  # header + two runs
    load_model(tmp_path / "e.pt")
    assert train_main([*args, "--width", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differs" in err[0]


def test_checkpoint_of_other_input_version_is_refused_and_warm_start_works(tmp_path, capsys):
    # Input version 1 (Telea fill, raw references) checkpoints must not be scored on version-2 inputs.
    model = RefRefineNet(width=8)
    old = {"format": "restorebench.refnet/1", "config": {"role": "retrieved", "width": 8}, "model": model.state_dict(),
           "meta": {}}
    torch.save(old, tmp_path / "v1.pt")
    with pytest.raises(ValueError, match="input version 1"):
        load_model(tmp_path / "v1.pt")
    from generators.coverrefs.__main__ import main as gen

    data = tmp_path / "d"
    assert gen(["--n", "2", "--size", "64", "--gallery", "3", "--out", str(data), "--workers", "1",
                "--no-progress"]) == 0
    args = ["retrieved", "--data", str(data), "--val-data", str(data), "--state", str(tmp_path / "s.pt"),
            "--export", str(tmp_path / "e.pt"), "--minutes", "0.01", "--batch", "2", "--crop", "32",
            "--val-every", "1", "--save-every", "1", "--width", "8"]
    assert train_main([*args, "--init", str(tmp_path / "v1.pt")]) == 0
    assert "initialised from" in capsys.readouterr().out
    _, ckpt = load_model(tmp_path / "e.pt")
    assert ckpt["config"]["inputs"] == 2
    assert train_main([*args, "--state", str(tmp_path / "s2.pt"), "--init", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--init" in err[0]
