"""The model kit (models/kit.py): the one Method wrapper, checkpoint loader, training state, loop and flags.

The committed training states (models/checkpoints/state/*.pt) come in three
older layouts (Deep Set, fingerprint networks, the first kit layout without
``extra``); each resumes here through :class:`models.kit.TrainState`, the
way its trainer resumes it.
"""

from __future__ import annotations

import importlib
import pickle
import signal
from pathlib import Path

import pytest
import torch

from benchmarks.registry import MODELS
from models.kit import (CHECKPOINT_DIR, NetMethod, TrainState, add_common_flags, migrate_state, read_checkpoint,
                        run_budget, save_checkpoint)

STATES = CHECKPOINT_DIR / "state"
TRAINERS = ["train_deepset", "train_fingerprints", "train_decaption", "train_reflection", "train_layout",
            "train_desnow", "train_refnet"]
COMMON = ["--data", "--val-data", "--state", "--export", "--ledger", "--minutes", "--batch", "--crop", "--lr",
          "--threads", "--seed", "--val-every", "--save-every", "--resume"]


# -- the Method wrapper -----------------------------------------------------------


def test_every_learned_method_is_a_net_method_that_pickles_without_its_network():
    for name, method in MODELS.items():
        assert isinstance(method, NetMethod) and method.learned and method.name == name and method.tasks
        method._model = torch.nn.Linear(1, 1)  # as if loaded
        try:
            clone = pickle.loads(pickle.dumps(method))
        finally:
            method._model = None
        assert all(getattr(clone, k) is None for k in clone._per_process), name
        assert clone.name == name and clone.checkpoint == method.checkpoint


_LOADS: list = []


class _Counting(NetMethod):
    name, tasks, checkpoint_name = "counting", ("toy",), "x.pt"

    def load(self, path: Path):
        _LOADS.append(path)
        return torch.nn.Identity(), {"meta": {"data_version": 2}}


def test_the_network_loads_once_per_process(tmp_path):
    calls, Counting = _LOADS, _Counting
    calls.clear()
    m = Counting()
    assert m.model is m.model and len(calls) == 1 and calls[0] == CHECKPOINT_DIR / "x.pt"
    assert pickle.loads(pickle.dumps(m)).model is not None and len(calls) == 2
    assert Counting(checkpoint=tmp_path / "y.pt").checkpoint == tmp_path / "y.pt"


def test_every_model_loads_bound_to_every_task_it_supports():
    """The formation version each shipped checkpoint records is its tasks' (variants included: reflections-real,
    fingerprints-sensor are made by their family's module)."""
    from benchmarks.registry import TASKS
    from generators.task import bind, supports

    for task in TASKS.values():  # a variant is checked against its own version: it must be its family's
        assert task.formation_version == TASKS[task.family or task.name].formation_version, task.name
    pairs = [(t, m) for t in TASKS.values() for m in MODELS.values() if supports(m, t)]
    assert {m.name for _, m in pairs} == set(MODELS)
    for task, method in pairs:
        bound = bind(method, task)
        assert bound.formation_version == task.formation_version and bound.model is not None, (task.name, method.name)
        assert method.formation_version in (None, task.formation_version)  # the registry's instance stays unbound


class _Toy:
    def __init__(self, version):
        self.formation_version, self.params = version, {"version": version}


def test_a_checkpoint_of_another_formation_version_is_refused_in_one_line(tmp_path):
    from generators.task import bind
    from models.desnow_nets import DesnowNet, DesnowNetMethod, make_checkpoint
    from models.kit import save_checkpoint as save

    path = tmp_path / "desnow.pt"
    save(make_checkpoint(DesnowNet(width=4), {"width": 4}, data_version=7), path)
    method = DesnowNetMethod(checkpoint=path)
    assert method.model is not None  # unbound: nothing to compare with
    with pytest.raises(ValueError) as e:  # bound to a task of another version: refused, already loaded or not
        bind(method, _Toy(8))
    for err in (e.value, pytest.raises(ValueError, lambda: bind(DesnowNetMethod(checkpoint=path), _Toy(8)).model).value):
        assert "\n" not in str(err) and str(path) in str(err)
        assert "formation version 7 data" in str(err) and "task is formation version 8" in str(err)
    assert bind(DesnowNetMethod(checkpoint=path), _Toy(7)).model is not None
    counting = bind(_Counting(), _Toy(3))
    with pytest.raises(ValueError, match="formation version 2 data, the task is formation version 3"):
        counting.model


# -- checkpoints -----------------------------------------------------------------


def test_read_checkpoint_checks_format_and_version_in_one_line(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint({"format": "restorebench.toy", "version": 2, "config": {}, "model": {}}, path)
    assert read_checkpoint(path, fmt="restorebench.toy", what="toy", version=2)["version"] == 2
    for kw, match in ((dict(fmt="restorebench.other", what="other"), "not a other checkpoint"),
                      (dict(fmt="restorebench.toy", what="toy", version=1), "checkpoint version 2, this code reads 1"),
                      (dict(fmt="restorebench.toy", what="toy", keys=("arch",)), "no 'arch' entry")):
        with pytest.raises(ValueError, match=match) as e:
            read_checkpoint(path, **kw)
        assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_the_kit_is_the_one_place_that_calls_torch_load():
    """Every checkpoint or state is read through models.kit._torch_load (weights_only, one-line errors)."""
    import ast

    root = Path(__file__).resolve().parents[1]
    calls = []
    for layer in ("models", "benchmarks", "baselines", "generators"):
        for path in sorted((root / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                    calls.append(f"{path.relative_to(root)}:{node.lineno}")
    assert len(calls) == 1 and calls[0].startswith("models/kit.py:"), calls


# -- the loop ----------------------------------------------------------------------


def _toy(tmp_path):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    state = TrainState(tmp_path / "s.pt", fmt="restorebench.toy-train/1", what="toy training-state",
                       config={"w": 1}, data_version=3)

    def step_fn(step):
        opt.zero_grad()
        loss = model(torch.ones(1, 2)).square().mean()
        loss.backward()
        opt.step()
        return loss.item()

    return model, opt, state, step_fn


def test_run_budget_restores_the_previous_signal_handlers_and_stops_on_sigterm(tmp_path):
    model, opt, state, step_fn = _toy(tmp_path)
    mine = lambda *_: None  # noqa: E731
    old = {s: signal.signal(s, mine) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        def stepping(step):
            if step == 2:
                signal.raise_signal(signal.SIGTERM)  # the loop finishes this step, saves and returns
            return step_fn(step)

        scores = iter([{"v": 1.0}, {"v": 3.0}, {"v": 2.0}])
        exported = []
        run_budget(state=state, model=model, optimizer=opt, step_fn=stepping, minutes=1.0, evaluate=lambda: next(scores),
                   key="v", val_every=1, save_every=100, export=exported.append, max_steps=50)
        assert state.step == 3 and state.stopped_by == signal.SIGTERM
        assert state.best == {"v": 3.0, "step": 2} and exported == [{"v": 1.0}, {"v": 3.0}]
        assert signal.getsignal(signal.SIGTERM) is mine and signal.getsignal(signal.SIGINT) is mine
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    model2, opt2, again, _ = _toy(tmp_path)
    assert again.resume(model2, opt2) and again.step == 3 and again.best["v"] == 3.0
    for a, b in zip(model.parameters(), model2.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_train_state_refuses_another_config_or_data_version(tmp_path):
    from generators._runtime import UserError

    model, opt, state, step_fn = _toy(tmp_path)
    run_budget(state=state, model=model, optimizer=opt, step_fn=step_fn, minutes=None, evaluate=None, key="v",
               val_every=None, save_every=1, max_steps=2)
    for kw, match in ((dict(config={"w": 2}, data_version=3), "differs"),
                      (dict(config={"w": 1}, data_version=4), "data version 3, the data is version 4")):
        other = TrainState(state.path, fmt=state.fmt, what=state.what, **kw)
        with pytest.raises(UserError, match=match) as e:
            other.resume(model, opt)
        assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="--resume: no checkpoint"):
        TrainState(tmp_path / "none.pt", fmt=state.fmt, what="toy", config={}, data_version=1).resume(
            model, opt, required=True)


# -- the committed training states, one per old layout ------------------------------


def _deepset(raw):
    from generators.bookcovers import FORMATION_VERSION
    from models.deepset import DeepSet, DeepSetConfig, same_views
    from models.train_deepset import STATE_FORMAT

    net = DeepSet(DeepSetConfig.from_dict(raw["config"]))
    return net, STATE_FORMAT, raw["config"], FORMATION_VERSION, same_views


def _fingerprint(raw):
    from models.fingerprint_nets import _DEFAULT_CONFIGS, build_model
    from models.train_fingerprints import STATE_FORMAT

    if "format" in raw:  # saved by the current trainer (the ChaLearn U-Net's run 4, 2026-12-07)
        config = raw["config"]
        return build_model(config["arch"], config["net"]), STATE_FORMAT, config, raw["data_version"], None
    config = _DEFAULT_CONFIGS[raw["arch"]]
    return build_model(raw["arch"], config), STATE_FORMAT, {"arch": raw["arch"], "net": config}, ["chalearn/v0"], None


def _kit_v1(module: str, nets: str):
    def make(raw):
        trainer, net = importlib.import_module(f"models.{module}"), importlib.import_module(f"models.{nets}")
        return net.build_model(raw["config"]), trainer.STATE_FORMAT, raw["config"], raw["data_version"], None
    return make


LAYOUTS = {
    "bookcovers_deepset.pt": _deepset,
    "fingerprints_unet.pt": _fingerprint,
    "fingerprints_rescnn.pt": _fingerprint,
    "captions_autoencoder.pt": _kit_v1("train_decaption", "decaption_nets"),
    "captions_gated.pt": _kit_v1("train_decaption", "decaption_nets"),
    "reflections_teacher.pt": _kit_v1("train_reflection", "reflection_nets"),
    "reflections_student.pt": _kit_v1("train_reflection", "reflection_nets"),
    "reflections_student_gt_only.pt": _kit_v1("train_reflection", "reflection_nets"),
    "roadseg_net.pt": _kit_v1("train_layout", "layout_nets"),
    "snow_desnownet.pt": _kit_v1("train_desnow", "desnow_nets"),
    "coverrefs_refnet.pt": _kit_v1("train_refnet", "refnet"),
    "coverrefs_refnet_perturbed.pt": _kit_v1("train_refnet", "refnet"),
}


def test_every_committed_state_has_a_migration_test():
    assert {p.name for p in STATES.glob("*.pt")} <= set(LAYOUTS)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_committed_state_resumes_and_saves_in_the_current_layout(name, tmp_path):
    path = STATES / name
    if not path.is_file():
        pytest.skip(f"{name} is not committed on this branch")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    net, fmt, config, data_version, same = LAYOUTS[name](raw)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    state = TrainState(path, fmt=fmt, what="training-state", config=config, data_version=data_version, same_data=same)
    assert state.resume(net, opt)
    weights = raw["model"]
    assert state.step == int(raw["step"]) and state.step > 0
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, weights[k], rtol=0, atol=0)
    assert len(opt.state_dict()["state"]) == len(list(net.parameters()))  # Adam moments restored
    if name == "bookcovers_deepset.pt":  # the old Deep Set layout until a run saves it in the current one
        best = raw["best_val_psnr"] if "best_val_psnr" in raw else raw["best"]["psnr"]
        assert state.best["psnr"] == best and {"scheduler", "torch_rng", "numpy_rng"} <= set(state.extra)
    if name.startswith("fingerprints_"):
        elapsed = raw["extra"]["elapsed"] if "format" in raw else raw["elapsed"]
        assert state.best["mse"] == raw["best"]["mse"] and state.extra["elapsed"] == elapsed
    # saved again, it is the current layout, and resumes as itself
    state.path = tmp_path / name
    state.save(net, opt)
    saved = torch.load(state.path, weights_only=True)
    assert saved["format"] == fmt and "extra" in saved and migrate_state(saved, state.path) is saved
    again = TrainState(state.path, fmt=fmt, what="training-state", config=config, data_version=data_version,
                       same_data=same)
    assert again.resume(net, opt) and again.step == state.step


# -- the shared flags ---------------------------------------------------------------


@pytest.mark.parametrize("module", TRAINERS)
def test_every_trainer_takes_the_common_flags(module, capsys):
    main = importlib.import_module(f"models.{module}").main
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    usage = capsys.readouterr().out
    missing = [f for f in COMMON if f not in usage]
    assert not missing, f"{module} lacks {missing}"


def test_flags_reach_the_trainer_as_given():
    """`--lr 1e-4 --batch 10` once trained the fingerprint networks with lr 1e-3 and batch 4 (issue 10)."""
    from models.train_fingerprints import make_parser

    args = make_parser().parse_args(["--data", "d", "--lr", "1e-4", "--batch", "10", "--out", "s.pt",
                                     "--time-limit", "5"])
    assert args.lr == pytest.approx(1e-4) and args.batch == 10 and args.state == "s.pt" and args.minutes == 5.0
    # --val-every counts steps in every trainer; the fingerprint trainer's minutes have their own flag
    args = make_parser().parse_args(["--data", "d", "--val-every", "3", "--val-every-min", "2.5"])
    assert args.val_every == 3 and isinstance(args.val_every, int) and args.val_every_min == 2.5


def test_add_common_flags_leaves_skipped_flags_to_the_trainer():
    import argparse

    p = add_common_flags(argparse.ArgumentParser(), skip=("val-every",))
    p.add_argument("--val-every", type=float, default=5.0)
    args = p.parse_args(["--data", "d", "--val-data", "v", "--state", "s"])
    assert args.val_every == 5.0 and args.minutes == 30.0 and args.threads == 1


# -- model cards -----------------------------------------------------------------


def test_a_trainer_on_fit_writes_the_model_card_from_docstrings_checkpoint_and_ledger(tmp_path, capsys):
    from generators.snow.__main__ import main as snow_cli
    from models import desnow_nets, train_desnow
    from models.kit import CARD_MARK

    data = tmp_path / "d"
    assert snow_cli(["--n", "3", "--size", "64", "--out", str(data), "--no-progress"]) == 0
    card = tmp_path / "net.md"
    common = ["--data", str(data), "--val-data", str(data), "--state", str(tmp_path / "s.pt"), "--minutes", "0.01",
              "--batch", "2", "--crop", "32", "--val-every", "1", "--width", "4", "--ledger", str(tmp_path / "l.csv"),
              "--export", str(tmp_path / "net.pt"), "--card", str(card)]
    assert train_desnow.main(common) == 0
    assert train_desnow.main(common) == 0  # a second run regenerates the card with both ledger rows
    text = card.read_text()
    assert text.startswith(CARD_MARK)
    assert desnow_nets.__doc__.strip().splitlines()[0] in text and train_desnow.__doc__.strip().splitlines()[0] in text
    ledger_rows = (tmp_path / "l.csv").read_text().strip().splitlines()
    assert len(ledger_rows) == 3 and all(f"| {r.replace(',', ' | ')} |" in text for r in ledger_rows)
    assert "format `restorebench.desnow/" in text and "parameters" in text


def test_the_card_writer_never_overwrites_a_hand_written_card(tmp_path):
    from models import desnow_nets, train_desnow
    from models.kit import UserError, write_card

    card = tmp_path / "card.md"
    card.write_text("# DesnowNet: model card\nwritten by a person\n")
    with pytest.raises(UserError, match="hand-written"):
        write_card(card, nets=desnow_nets, trainer=train_desnow, checkpoint=None, ledger=None)
    assert card.read_text() == "# DesnowNet: model card\nwritten by a person\n"
    for name in ("deepset_bookcovers.md", "desnownet.md", "refnet.md"):  # the shipped cards are hand-written
        with pytest.raises(UserError, match="hand-written"):
            write_card(CHECKPOINT_DIR / name, nets=desnow_nets, trainer=train_desnow, checkpoint=None, ledger=None)
