"""Regenerate the golden samples: ``python tests/golden/make_golden.py [NAME ...]`` (from the repo root).

With names (keys of ``benchmarks.registry.TINY_TASKS``), only those samples are rewritten.

Run it only after an intended change of a generator's output, and commit the
new files with the change: the golden test then makes every change of output
a visible decision. See README.md in this folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import generators  # noqa: E402,F401  (before numpy: holds numpy and OpenCV below AVX-512, generators/_runtime.py)
import numpy as np  # noqa: E402

from benchmarks.registry import TINY_TASKS  # noqa: E402
from tests.test_golden import GOLDEN_DIR, SEED, INDEX, flatten  # noqa: E402
from generators.task import sample_rng  # noqa: E402


def main(names: list[str] | None = None) -> None:
    unknown = sorted(set(names or ()) - set(TINY_TASKS))
    if unknown:
        raise SystemExit(f"unknown golden task(s) {unknown}; choose from {sorted(TINY_TASKS)}")
    for name, factory in TINY_TASKS.items():
        if names and name not in names:
            continue
        sample = factory().make_sample(sample_rng(SEED, INDEX))
        arrays = flatten(sample)
        np.savez_compressed(GOLDEN_DIR / f"{name}.npz", **arrays)
        (GOLDEN_DIR / f"{name}.params.json").write_text(json.dumps(sample.params, sort_keys=True, indent=1))
        print(name, {k: v.shape for k, v in arrays.items()})


if __name__ == "__main__":
    main(sys.argv[1:])
