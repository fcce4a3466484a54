"""The preview tool renders a grid for every registered task at its defaults and with --size (issue 23 item 6)."""

from __future__ import annotations

import inspect

import cv2
import pytest

from benchmarks.registry import TASKS
from generators.preview import main


def _module(task) -> str:
    fn = getattr(task.make_sample, "func", task.make_sample)
    return fn.__module__.split(".")[1]


MODULES = sorted({_module(t) for t in TASKS.values()})
SIZES = {"roadseg": ("160x120", (120, 160)), "bookcovers": ("96x64", (64, 96))}


@pytest.mark.parametrize("module", MODULES)
def test_preview_at_defaults_and_with_size(module, tmp_path, capsys):
    out = tmp_path / "grid.jpg"
    assert main([module, "--out", str(out), "--n", "1", "--tile", "48"]) == 0
    assert cv2.imread(str(out)) is not None
    import importlib

    make_task = importlib.import_module(f"generators.{module}").make_task
    if "size" not in inspect.signature(make_task).parameters:
        return
    text, (h, w) = SIZES.get(module, ("64", (64, 64)))
    assert main([module, "--out", str(out), "--n", "1", "--size", text, "--tile", "48"]) == 0
    assert cv2.imread(str(out)) is not None


def test_preview_refuses_a_non_square_size_for_a_square_task(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["coverfill", "--out", str(tmp_path / "g.jpg"), "--size", "64x80"])
    assert e.value.code == 2
    assert "makes square images" in capsys.readouterr().err.strip().splitlines()[-1]  # after argparse's usage
