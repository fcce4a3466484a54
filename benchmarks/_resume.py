"""Scored units saved as they finish, so that an interrupted run resumes where it stopped.

While a task is scored, finished units (``(task, sample, method)``, see
:mod:`benchmarks._scoring`) are written in batches to
``<out>/partial/<task>/batch-<time>-<n>.pkl`` (every :data:`FLUSH_UNITS`
units or :data:`FLUSH_SECONDS`, and at the end of the task), each file
written to a temporary name and renamed, so a file is whole or absent.
``<out>/partial/<task>/header.json`` says what the units were scored on:
the task, its dataset hash, split size and seed, the protocol scored (a
quick run's may make fewer calls per sample), the git sha and the library
versions.

Running the same command again with the same ``--out`` (no ``run.json``
there yet: the run did not finish) reuses every saved unit whose header
matches and scores only the rest; the rows are the same as those of an
uninterrupted run, since a unit's result depends on nothing else. Saved
units from another dataset hash, split size, seed, protocol, code version or
library versions are refused with one line (:class:`MismatchError`), never mixed in.
A run that finishes removes ``partial/``.
"""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path
from typing import Mapping

from generators._runtime import UserError
from generators.dataset._atomic import write_bytes_atomic

from ._scoring import UnitResult

__all__ = ["PartialResults", "MismatchError", "FLUSH_UNITS", "FLUSH_SECONDS"]

FLUSH_UNITS = 100  # a killed run loses at most this many units; each flush pickles and fsyncs (~36 ms)
FLUSH_SECONDS = 30.0
DIRNAME = "partial"

Unit = tuple[str, int, str]


class MismatchError(UserError):
    """Saved units come from another dataset, split size or code version."""


class PartialResults:
    """The ``partial/`` folder of one results directory."""

    def __init__(self, out: Path):
        self.root = Path(out) / DIRNAME

    def load(self, task: str, header: Mapping[str, object]) -> dict[Unit, UnitResult]:
        """The saved units of ``task`` (empty when none); :class:`MismatchError` when their header differs."""
        folder = self.root / task
        head = folder / "header.json"
        if not head.is_file():
            return {}
        saved = json.loads(head.read_text())
        for key, value in header.items():
            if saved.get(key) != value:
                raise MismatchError(
                    f"{folder}: saved results of task {task!r} have {key} {saved.get(key)!r}, this run "
                    f"{value!r}; they cannot be merged (give another --out, or delete {self.root} to start over)")
        done: dict[Unit, UnitResult] = {}
        for path in sorted(folder.glob("batch-*.pkl")):
            with open(path, "rb") as f:
                done.update(pickle.load(f))
        return done

    def writer(self, task: str, header: Mapping[str, object]) -> "_BatchWriter":
        """A callable ``save(unit, result)`` that batches units to disk; close it at the end of the task."""
        folder = self.root / task
        folder.mkdir(parents=True, exist_ok=True)
        head = folder / "header.json"
        if not head.is_file():
            write_bytes_atomic(head, (json.dumps(dict(header), indent=1, sort_keys=True) + "\n").encode())
        return _BatchWriter(folder)

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


class _BatchWriter:
    def __init__(self, folder: Path):
        self.folder, self.buffer, self.t_flush = folder, {}, time.monotonic()

    def __call__(self, unit: Unit, result: UnitResult) -> None:
        self.buffer[unit] = result
        if len(self.buffer) >= FLUSH_UNITS or time.monotonic() - self.t_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            name = f"batch-{time.time_ns()}-{len(self.buffer)}.pkl"
            write_bytes_atomic(self.folder / name, pickle.dumps(self.buffer, protocol=5))
            self.buffer = {}
        self.t_flush = time.monotonic()

    def __enter__(self) -> "_BatchWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()  # also on KeyboardInterrupt: what finished is kept
