"""The layers import downward only.

Order: ``generators`` (the contract, metrics, datasets, tasks) < ``baselines`` and
``models`` < ``benchmarks`` < ``leaderboard``. A module may import its own layer and
lower ones; ``models`` may use ``baselines`` (classical steps such as alignment)
but not the reverse. Inside ``generators``: the base layer (the package's
``__init__``, task, metrics, _runtime, dataset, preview) < ``generators.shared`` <
task modules and packages (``generators/coverfill.py`` or ``generators/roadseg/``),
and tasks never import each other (issue 22). Imports are read from the source
(AST), lazy ones included; relative imports are resolved, and ``from generators
import roadseg`` counts as importing ``generators.roadseg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RANK = {"generators": 0, "baselines": 1, "models": 2, "benchmarks": 3, "leaderboard": 4}
# Inside generators/: the base layer (contract, metrics, runtime, storage) < shared parts < tasks.
# The package's own __init__ is imported with every generators module, so it is base layer too.
GENERATOR_BASE = {"__init__", "task", "metrics", "_runtime", "dataset", "preview"}
GENERATOR_SHARED = {"shared"}
ALLOWED = {("benchmarks/run.py", "leaderboard")}  # the command renders the report it just wrote


def _imports(path: Path, rel: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in ``path`` (at ``rel`` under the root).

    ``from p import n`` yields ``p.n``: ``n`` may be a submodule (``from generators
    import roadseg``), and where it is a name the first two parts are still the
    module's. Relative imports are resolved against the file's package.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = list(rel.parts[:-1])  # a module's and an __init__'s package are both its folder
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out += [(node.lineno, module if a.name == "*" else f"{module}.{a.name}") for a in node.names]
    return out


def _generator_rank(part: str) -> int:
    """0 base layer, 1 shared parts, 2 a task module or package."""
    return 0 if part in GENERATOR_BASE else 1 if part in GENERATOR_SHARED else 2


def layering_violations(root: Path) -> list[str]:
    """Every import under ``root`` that goes up a layer, or from one task into another."""
    problems = []
    for top, rank in RANK.items():
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root)
            for line, mod in _imports(path, rel):
                parts = mod.split(".")
                other = parts[0]
                if other not in RANK:
                    continue
                if RANK[other] > rank and (rel.as_posix(), other) not in ALLOWED:
                    problems.append(f"{rel}:{line} imports {mod} ({top} < {other})")
                if top == other == "generators":
                    here = rel.parts[1].removesuffix(".py")  # generators/coverfill.py or generators/roadseg/...
                    there = parts[1] if len(parts) > 1 else "__init__"
                    if here == there:
                        continue
                    if _generator_rank(there) > _generator_rank(here) or (
                            _generator_rank(here) == _generator_rank(there) == 2):
                        why = "tasks never import each other" if _generator_rank(here) == 2 else "lower layer"
                        problems.append(f"{rel}:{line} imports {mod} (generators.{here} may not import "
                                        f"generators.{there}: {why})")
    return problems


def test_no_layer_imports_a_higher_one_and_no_task_imports_another():
    problems = layering_violations(REPO)
    assert not problems, "layering violations:\n" + "\n".join(problems)


TASK_OK = "from generators.task import Sample\nfrom generators.shared.streets.render_embedded import render_scene\n"


@pytest.mark.parametrize("where, source, expect, legal", [
    # one layer into a higher one
    ("generators/x.py", "def f():\n    from benchmarks.metrics import psnr\n", "(generators < benchmarks)",
     "from generators.metrics import psnr\n"),
    ("baselines/x.py", "import models.deepset\n", "(baselines < models)", "import numpy\n"),
    ("models/x.py", "from benchmarks import registry\n", "(models < benchmarks)",
     "from baselines import reflection\n"),
    # a task into another task: package, one-file module, every import form
    ("generators/snowy/__init__.py", "from generators.roadseg import make_task\n", "tasks never", TASK_OK),
    ("generators/snowy/__init__.py", "from generators import roadseg\n", "tasks never", TASK_OK),
    ("generators/snowy/render.py", "from ..roadseg import make_task\n", "tasks never",
     "from . import scene\nfrom ..shared import covers\nfrom ..task import Sample\n"),
    ("generators/snowy/render.py", "from .. import roadseg\n", "tasks never", "from .scene import draw\n"),
    ("generators/onefile.py", "from generators.roadseg import make_task\n", "tasks never", TASK_OK),
    ("generators/onefile.py", "import generators.coverfill\n", "tasks never", TASK_OK),
    ("generators/onefile.py", "def f():\n    from . import coverfill\n", "tasks never",
     "from .shared import covers\nfrom . import metrics\n"),
    # shared parts into a task
    ("generators/shared/x.py", "from generators.bookcovers import make_task\n", "lower layer",
     "from generators.shared import colour\n"),
    ("generators/shared/x.py", "from generators import bookcovers\n", "lower layer",
     "from generators import metrics\n"),
    ("generators/shared/streets/x.py", "from ...roadseg import make_task\n", "lower layer",
     "from . import scene\nfrom ..covers import draw\nfrom ...task import Sample\n"),
    # the base layer into shared parts or a task
    ("generators/dataset/x.py", "from generators.shared import covers\n", "lower layer",
     "from generators.task import Sample\n"),
    ("generators/dataset/x.py", "from ..shared.covers import draw\n", "lower layer",
     "from ._common import x\nfrom ..task import Sample\n"),
    ("generators/task.py", "from generators.shared import covers\n", "lower layer",
     "from generators import metrics\n"),
    ("generators/metrics.py", "from generators import roadseg\n", "lower layer",
     "from generators._runtime import UserError\n"),
    ("generators/_runtime.py", "def f():\n    import generators.snow\n", "lower layer", "import numpy\n"),
    ("generators/__init__.py", "from . import roadseg\n", "lower layer", "from . import task\n"),
])
def test_the_checker_sees_a_planted_violation(tmp_path, where, source, expect, legal):
    """The test above can fail: each planted import is reported; a legal one in the same file is not."""
    bad = tmp_path / where
    bad.parent.mkdir(parents=True)
    bad.write_text(source)
    found = layering_violations(tmp_path)
    assert len(found) == 1 and expect in found[0], found
    bad.write_text(legal)
    assert layering_violations(tmp_path) == []
