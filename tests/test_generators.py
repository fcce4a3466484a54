"""The generator side of the Task contract, for every registered task (issue 22).

Parametrised over ``benchmarks.registry.TASKS``, so a new task is covered by
registering it: its module numbers its formation model with
``FORMATION_VERSION`` and records it (task and sample params); its command
refuses to extend a dataset of another formation version; its ``--size``
(when it has one) is WxH through the shared parser.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from benchmarks.registry import TASKS
from generators.dataset import FORMAT, FORMAT_VERSION, MANIFEST, UserError, read_formation_version
from generators.task import Task, formation_version

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def _module_of(task: Task):
    """The task package (or module) that makes the task's samples, e.g. ``generators.snow``."""
    make = getattr(task.make_sample, "func", task.make_sample)
    return importlib.import_module(make.__module__)


MODULES = sorted({_module_of(t).__name__ for t in TASKS.values()})
# Each generator command as it makes each registered task (flags beyond the defaults).
_FLAGS = {"fingerprints-sensor": ("--preset", "sensor"), "reflections-real": ("--content", "photos"),
          "captions-real": ("--content", "photos")}
COMMANDS = sorted({(_module_of(t).__name__, _FLAGS.get(t.name, ())) for t in TASKS.values()})


# Tasks whose samples' params use "version" for something else; the task's params (what a manifest
# records) still hold the formation version. bookcovers: a sample's params are its scene dict, whose
# "version" is the scene schema's (generators.shared.coverscene.scene.SCENE_VERSION, 1), older than issue 22;
# renaming it would change every bookcovers sample's params.
SAMPLE_VERSION_IS_OTHER = {"bookcovers"}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_records_its_module_formation_version(name):
    """One name (``FORMATION_VERSION``), one key (``params["version"]``), in the task and in its samples."""
    task = TASKS[name]
    version = _module_of(task).FORMATION_VERSION
    assert isinstance(version, int) and version >= 1
    assert task.params["version"] == version == task.formation_version
    if name not in SAMPLE_VERSION_IS_OTHER:  # a sample's params, as tests/test_golden.py makes them
        assert json.loads((GOLDEN_DIR / f"{name}.params.json").read_text())["version"] == version


@pytest.mark.parametrize("module, flags", COMMANDS, ids=[" ".join((m, *f)) for m, f in COMMANDS])
@pytest.mark.parametrize("recorded", [None, "next"])
def test_command_refuses_to_extend_a_dataset_of_another_formation_version(tmp_path, capsys, module, flags, recorded):
    """A dataset begun under another formation version (``None``: before its task recorded one; ``"next"``:
    a newer one) is never extended: one line naming both versions, exit status 1, nothing written."""
    mod = importlib.import_module(module)
    current = mod.FORMATION_VERSION
    params = {k: v for k, v in mod.TASK.params.items() if k != "version"}
    if recorded == "next":
        params["version"] = current + 1
    out = tmp_path / "ds"
    out.mkdir()
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "generator": mod.NAME, "params": params,
                "seed": 0, "n": 1, "shard_size": 100, "complete": False}
    (out / MANIFEST).write_text(json.dumps(manifest))
    rc = importlib.import_module(f"{module}.__main__" if hasattr(mod, "__path__") else module).main(
        [*flags, "--n", "2", "--out", str(out), "--workers", "1", "--no-progress"])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    old = "version 0 (none recorded)" if recorded is None else f"version {current + 1}"
    assert rc == 1 and len(err) == 1, captured.err
    assert f"samples of formation {old}; this generator makes formation version {current}" in err[0]
    assert sorted(p.name for p in out.iterdir() if p.name != ".restorebench.lock") == [MANIFEST]
    assert json.loads((out / MANIFEST).read_text()) == manifest


def test_formation_version_is_read_from_params_and_manifests(tmp_path):
    assert formation_version({"version": 3, "size": [64, 64]}) == 3
    assert formation_version({"size": [64, 64]}) == 0  # written before the task recorded one
    (tmp_path / MANIFEST).write_text(json.dumps({"format": FORMAT, "params": {"version": 2}, "complete": False}))
    assert read_formation_version(tmp_path) == 2  # an unfinished dataset has its version too
    with pytest.raises(UserError, match=f"cannot read the formation version from .*{MANIFEST}"):
        read_formation_version(tmp_path / "missing")


@pytest.mark.parametrize("module", MODULES)
def test_size_flag_is_width_by_height_through_the_shared_parser(capsys, module):
    """``--size`` is stated as WxH in ``--help`` and parsed by generators.dataset.parse_size (its message)."""
    mod = importlib.import_module(module)
    cli = importlib.import_module(f"{module}.__main__" if hasattr(mod, "__path__") else module)
    assert cli.main(["--help"]) == 0
    help_text = capsys.readouterr().out
    if "--size" not in help_text:
        pytest.skip(f"{module} makes one size only")
    entry = help_text[help_text.index("  --size"):].split("\n  --")[0]
    assert "WxH" in entry and "N" in entry, entry
    assert cli.main(["--size", "12by34", "--out", "unused", "--n", "1"]) == 2
    err = capsys.readouterr().err
    assert "size must look like 800x600 (WxH: width x height) or 256 (N x N)" in err
