"""The layers import downward only.

Order: ``generators`` (the contract, metrics, datasets, tasks) < ``baselines`` and
``models`` < ``benchmarks`` < ``leaderboard``. A module may import its own layer and
lower ones; ``models`` may use ``baselines`` (classical steps such as alignment)
but not the reverse. Inside ``generators``: the base layer (task, metrics, _runtime,
dataset, preview) < ``generators.shared`` < task packages, and task packages never
import each other (issue 22). Imports are read from the source (AST), lazy ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RANK = {"generators": 0, "baselines": 1, "models": 2, "benchmarks": 3, "leaderboard": 4}
# Inside generators/: the base layer (contract, metrics, runtime, storage) < shared parts < task packages.
GENERATOR_BASE = {"task", "metrics", "_runtime", "dataset", "preview"}
GENERATOR_SHARED = {"shared"}
ALLOWED = {("benchmarks/run.py", "leaderboard")}  # the command renders the report it just wrote


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def _generator_rank(part: str) -> int:
    """0 base layer, 1 shared parts, 2 a task package or module."""
    return 0 if part in GENERATOR_BASE else 1 if part in GENERATOR_SHARED else 2


def layering_violations(root: Path) -> list[str]:
    """Every import under ``root`` that goes up a layer, or from one task package into another."""
    problems = []
    for top, rank in RANK.items():
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root)
            for line, mod in _imports(path):
                parts = mod.split(".")
                other = parts[0]
                if other not in RANK:
                    continue
                if RANK[other] > rank and (rel.as_posix(), other) not in ALLOWED:
                    problems.append(f"{rel}:{line} imports {mod} ({top} < {other})")
                if top == other == "generators" and len(rel.parts) > 2 and len(parts) > 1:
                    here, there = rel.parts[1].removesuffix(".py"), parts[1]
                    if here == there or there == "__init__":
                        continue
                    if _generator_rank(there) > _generator_rank(here) or (
                            _generator_rank(here) == _generator_rank(there) == 2):
                        problems.append(f"{rel}:{line} imports {mod} (generators.{here} may not import "
                                        f"generators.{there}: {'task packages never import each other' if _generator_rank(here) == 2 else 'lower layer'})")
    return problems


def test_no_layer_imports_a_higher_one_and_no_task_imports_another():
    problems = layering_violations(REPO)
    assert not problems, "layering violations:\n" + "\n".join(problems)


@pytest.mark.parametrize("where, source, expect", [
    ("generators/x.py", "def f():\n    from benchmarks.metrics import psnr\n", "(generators < benchmarks)"),
    ("baselines/x.py", "import models.deepset\n", "(baselines < models)"),
    ("generators/snowy/__init__.py", "from generators.roadseg import make_task\n", "task packages never"),
    ("generators/shared/x.py", "from generators.bookcovers import make_task\n", "lower layer"),
    ("generators/dataset/x.py", "from generators.shared import covers\n", "lower layer"),
])
def test_the_checker_sees_a_planted_violation(tmp_path, where, source, expect):
    """The test above can fail: each planted import is reported; a legal one is not."""
    bad = tmp_path / where
    bad.parent.mkdir(parents=True)
    bad.write_text(source)
    found = layering_violations(tmp_path)
    assert len(found) == 1 and expect in found[0]
    bad.write_text("from generators.task import Sample\nfrom generators.shared.streets.render_embedded import render_scene\n"
                   if where.startswith("generators/snowy") else "import numpy\n")
    assert layering_violations(tmp_path) == []
