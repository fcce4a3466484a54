"""Write tests/golden/models.npz: every registered learned method on a fixed tiny input per task.

    python tests/golden/make_models_golden.py

For each registered task (``benchmarks.registry.TASKS``) the tiny instance of
``benchmarks.registry.TINY_TASKS`` makes sample ``sample_rng(2026, 3)``;
the inputs of its last protocol call (the most views) are cut to at most
``SIDE`` x ``SIDE`` pixels (top left) and 5 frames, and quantised to 8 bits,
so the stored inputs are small and exact. Every method of ``benchmarks.registry.MODELS``
that supports the task (bound with ``generators.task.bind``, so the
fingerprint networks use the weights of the task's preset) restores them; its
output is stored as ``<task>/<method>`` beside the inputs ``<task>/in.<key>``.
A method whose shipped weights do not load is listed in ``skipped`` with the
error, and has no row. ``tests/test_models_golden.py`` re-runs the methods on
the stored inputs and compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import generators  # noqa: E402,F401  (before numpy: holds numpy and OpenCV below AVX-512, generators/_runtime.py)
import numpy as np  # noqa: E402

SIDE = 32
FRAMES = 5
OUT = Path(__file__).resolve().parent / "models.npz"


def tiny_inputs(task_name: str) -> dict[str, np.ndarray]:
    """The cut, 8-bit-quantised inputs of the last protocol call of the tiny task's golden sample."""
    from generators.task import sample_rng
    from benchmarks.registry import TINY_TASKS
    from tests.test_golden import INDEX, SEED

    task = TINY_TASKS[task_name]()
    sample = task.make_sample(sample_rng(SEED, INDEX))
    call = list(task.protocol.calls(sample, seed=task.test_seed, index=0))[-1]
    out = {}
    for key, v in call.inputs.items():
        v = np.asarray(v)
        if v.ndim == 2:
            v = v[:SIDE, :SIDE]
        elif v.ndim == 3:
            v = v[:SIDE, :SIDE]
        elif v.ndim == 4:
            v = v[:FRAMES, :SIDE, :SIDE]
        if v.dtype.kind == "f":
            v = (np.rint(np.clip(v, 0, 1) * 255) / 255).astype(np.float32)
        out[key] = np.ascontiguousarray(v)
    return out


def main() -> int:
    import torch

    from benchmarks.registry import TASKS
    from generators.task import bind, supports
    from benchmarks.registry import MODELS

    torch.set_num_threads(1)
    arrays, skipped = {}, {}
    for task_name, task in sorted(TASKS.items()):
        methods = [m for m in MODELS.values() if supports(m, task)]
        if not methods:
            continue
        inputs = None
        for method in methods:
            if inputs is None:
                inputs = tiny_inputs(task_name)
            try:
                out = bind(method, task).restore({k: v.copy() for k, v in inputs.items()})
            except ValueError as e:  # shipped weights that do not load (e.g. an older input version)
                skipped[f"{task_name}/{method.name}"] = str(e).splitlines()[0].replace(f"{ROOT}/", "")
                continue
            arrays[f"{task_name}/{method.name}"] = np.asarray(out)
            print(f"{task_name}/{method.name}: {np.asarray(out).shape} {np.asarray(out).dtype}")
        if any(k.startswith(task_name + "/") for k in arrays):
            arrays.update({f"{task_name}/in.{k}": v for k, v in inputs.items()})
    arrays["skipped"] = np.array(json.dumps(skipped, sort_keys=True))
    np.savez_compressed(OUT, **arrays)
    for k, v in skipped.items():
        print(f"skipped {k}: {v}")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
