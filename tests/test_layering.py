"""The layers import downward only, and the trainer flags reach the trainer (issue 10).

Order: ``generators`` (the contract, metrics, datasets, tasks) < ``baselines`` and
``models`` < ``benchmarks`` < ``leaderboard``. A module may import its own layer and
lower ones; ``models`` may use ``baselines`` (classical steps such as alignment)
but not the reverse. Imports are read from the source (AST), lazy ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RANK = {"generators": 0, "baselines": 1, "models": 2, "benchmarks": 3, "leaderboard": 4}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def test_no_layer_imports_a_higher_one():
    problems = []
    for top, rank in RANK.items():
        for path in sorted((REPO / top).rglob("*.py")):
            for line, mod in _imports(path):
                other = mod.split(".")[0]
                if other in RANK and RANK[other] > rank and not (top == "benchmarks" and other == "leaderboard"
                                                                  and path.name == "run.py"):
                    problems.append(f"{path.relative_to(REPO)}:{line} imports {mod} ({top} < {other})")
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The test above can fail: a generator importing benchmarks is caught."""
    bad = tmp_path / "generators"
    bad.mkdir()
    (bad / "x.py").write_text("def f():\n    from benchmarks.metrics import psnr\n")
    assert _imports(bad / "x.py") == [(2, "benchmarks.metrics")]


def test_models_train_passes_fingerprint_flags_through(monkeypatch):
    """`--lr 1e-4 --batch 10` once trained with lr 1e-3 and batch 4 (the flags equalled the Deep Set
    defaults and were taken for "not given")."""
    import models.train as train

    seen = {}
    monkeypatch.setattr(train, "train_fingerprints", lambda words: seen.setdefault("words", words) and 0)
    train.main(["--task", "fingerprints", "--data", "d", "--lr", "1e-4", "--batch", "10"])
    assert seen["words"] == ["--data", "d", "--lr", "1e-4", "--batch", "10"]
    from models.fingerprint_nets import make_parser

    args = make_parser().parse_args(seen["words"])
    assert args.lr == pytest.approx(1e-4) and args.batch == 10
