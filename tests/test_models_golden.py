"""Golden outputs of the shipped networks: every registered learned method on a fixed tiny input per task.

``tests/golden/models.npz`` holds 8-bit inputs (32x32, at most 5 frames) and
the outputs the methods gave when it was made (see tests/golden/README.md);
a refactoring of the model code must reproduce them. A method whose shipped
weights do not load when it is made is listed, with the error, in its
``skipped`` entry and not compared; the entry is empty now (every registered
learned method has a row).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.registry import TASKS
from generators.task import bind, supports
from benchmarks.registry import MODELS
from tests.tolerances import BF16_ATOL, ECC_ALIGNED_ATOL, FLOAT32_ATOL

GOLDEN = Path(__file__).resolve().parent / "golden" / "models.npz"
with np.load(GOLDEN) as _z:
    _DATA = {k: _z[k] for k in _z.files}
SKIPPED = json.loads(str(_DATA.pop("skipped")))
ROWS = sorted(k for k in _DATA if "/in." not in k)
# Methods whose inputs pass through OpenCV's ECC alignment (models.reflection_nets.teacher_inputs), which
# moves with the CPU's SIMD kernels (tests/tolerances.py, ECC_ALIGNED_ATOL).
ECC_ALIGNED = {"reflection-teacher"}


def test_every_learned_method_has_a_golden_row_or_a_reason():
    pairs = {f"{t}/{m}" for t, task in TASKS.items() for m, meth in MODELS.items() if supports(meth, task)}
    missing = pairs - set(ROWS) - set(SKIPPED)
    assert not missing, f"no golden output for {sorted(missing)}: run tests/golden/make_models_golden.py"


@pytest.mark.parametrize("row", ROWS)
def test_shipped_network_reproduces_its_golden_output(row):
    task_name, method_name = row.split("/")
    prefix = f"{task_name}/in."
    inputs = {k[len(prefix):]: v.copy() for k, v in _DATA.items() if k.startswith(prefix)}
    method = bind(MODELS[method_name], TASKS[task_name])
    out = np.asarray(method.restore(inputs))
    want = _DATA[row]
    assert out.shape == want.shape and out.dtype == want.dtype
    if want.dtype.kind == "f":
        bf16 = getattr(method, "inference_dtype", "float32") == "bfloat16"
        atol = BF16_ATOL if bf16 else ECC_ALIGNED_ATOL if method_name in ECC_ALIGNED else FLOAT32_ATOL
        np.testing.assert_allclose(out, want, rtol=0, atol=atol)
    else:
        np.testing.assert_array_equal(out, want)
