"""Where a generator's time goes per sample: ``python -m benchmarks.generator_profile [NAME ...] [--n 8]``.

For each generator with the task its command makes by default (``bookcovers``
10 views at 256x256; ``reflections`` 5 frames at 256x256, all extras;
``captions`` 125 frames at 128x128, PNG; ``fingerprints`` and
``fingerprints-sensor``; ``coverfill`` 128x128; every registered task's
package's ``TASK``, see :func:`default_tasks`), after two warm-up samples
(compiled kernels, caches), ``--n`` samples are made and encoded in this
process, one thread (OpenCV, OpenMP, BLAS, numba), as a worker does. Reported per sample, in CPU
milliseconds (``time.process_time``: robust on a shared machine, not a
wall-clock rate):

* ``make``: ``make_sample``, and its largest parts by cProfile (cumulative
  time of the functions of ``generators/`` and of the heaviest library calls,
  as a share of ``make``; cProfile's own overhead inflates small Python
  functions, so read them as proportions);
* ``encode``: the dataset writer's encoding of every field
  (:func:`generators.dataset._codec._encode_array`, 8-bit quantisation
  included, images repeated within the sample encoded once as
  ``_encode_sample`` does), per field.

Tar assembly, hashing and the write itself are not included (about 1 ms per
MB). What it printed is in the README ("Measured speed").
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from typing import Sequence

from generators._runtime import THREAD_ENV_VARS

# One OpenMP/BLAS/numba thread, as in a writer's worker (set before numpy loads its BLAS: with
# a thread pool, numpy.linalg.inv of a 3x3 matrix costs milliseconds on a busy machine).
for _var in THREAD_ENV_VARS:
    os.environ.setdefault(_var, "1")

__all__ = ["default_tasks", "profile", "main"]


def default_tasks() -> dict:
    """Each registered task's generator as its command makes it by default, by task name.

    The module-level tasks (``TASK``; fingerprints' ``SENSOR_TASK``) of the
    packages that make the tasks of :data:`benchmarks.registry.TASKS`, so a
    registered task is profiled without an entry here (a variant that only
    the registry builds, such as ``snow-frames``, has none).
    """
    import importlib

    from benchmarks.registry import TASKS
    from generators.task import Task

    out: dict[str, Task] = {}
    for task in TASKS.values():
        module = importlib.import_module(getattr(task.make_sample, "func", task.make_sample).__module__)
        for value in vars(module).values():
            if isinstance(value, Task) and value.name in TASKS:
                out.setdefault(value.name, value)
    return out


def profile(name: str, *, n: int = 8, top: int = 12) -> dict:
    """``{"make_ms", "encode_ms": {field: ms}, "parts": [(function, share of make)], "sample": info}``."""
    import cv2

    from generators.dataset._codec import _encode_array, _SameImages
    from generators.task import sample_rng

    cv2.setNumThreads(1)
    task = default_tasks()[name]
    for i in range(2):  # warm-up: numba kernels, texture caches
        task.make_sample(sample_rng(1, i))
    make = 0.0
    encode: dict[str, float] = {}
    prof = cProfile.Profile()
    for i in range(n):
        t0 = time.process_time()
        sample = task.make_sample(sample_rng(0, i))
        make += time.process_time() - t0
        same = _SameImages()  # as _encode_sample: an image repeated within the sample is encoded once
        for group in ("inputs", "target", "extras"):
            for field, a in getattr(sample, group).items():
                t0 = time.process_time()
                _encode_array(a, same=same)
                encode[f"{group}.{field}"] = encode.get(f"{group}.{field}", 0.0) + time.process_time() - t0
    for i in range(n):  # profiled separately: cProfile's overhead must not enter the timings above
        prof.runcall(task.make_sample, sample_rng(0, i))
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = max(v[3] for v in stats.stats.values())  # make_sample's own cumulative time
    parts = []
    for (path, line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        inside = "/generators/" in path and "/generators/dataset/" not in path and not func.startswith("<")
        if (inside or ct / total > 0.08) and ct < total * 0.999:
            where = path.split("/generators/")[-1] if inside else path.rsplit("/", 1)[-1]
            parts.append((f"{where}:{func}" if inside else f"{where}:{func} (library)", ct / total))
    parts.sort(key=lambda p: -p[1])
    return {"make_ms": 1e3 * make / n, "encode_ms": {k: 1e3 * v / n for k, v in encode.items()}, "parts": parts[:top]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generator_profile", description=__doc__.split("\n")[0])
    generators = list(default_tasks())
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"generators to profile (default all: {', '.join(generators)})")  # fmt: skip
    parser.add_argument("--n", type=int, default=8, help="samples per generator (default 8)")
    parser.add_argument("--top", type=int, default=12, help="parts of make_sample to list (default 12)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(generators))
    if unknown:
        parser.error(f"unknown generator {unknown[0]!r}; choose from {', '.join(generators)}")
    for name in args.names or generators:
        r = profile(name, n=args.n, top=args.top)
        enc = sum(r["encode_ms"].values())
        print(f"## {name}: {r['make_ms'] + enc:.0f} ms CPU per sample = make {r['make_ms']:.0f} + encode {enc:.0f}")
        print("encode: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["encode_ms"].items(), key=lambda kv: -kv[1])))
        print("make_sample, cumulative share: " + "; ".join(f"{f} {100 * s:.0f}%" for f, s in r["parts"]))
        print(flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
