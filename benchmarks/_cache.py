"""The fixed test splits, built once and cached on disk by dataset hash.

A split is identified by :func:`hash_dataset`: a SHA-256 over the task name,
the generator parameters (``Task.params``), the seed and the number of
samples. The cache directory ``<cache>/<task>-<hash>`` is written with
:func:`generators.dataset.write_dataset` (atomic, resumable), so an
interrupted build resumes and a finished one is reused as is; changing any
generator parameter changes the hash and builds a new split next to the old
one. Methods are scored on what :func:`generators.dataset.read_dataset`
returns, i.e. the 8-bit-quantised images that training data is made of too.

The generator's source code is deliberately *not* part of the hash (editing a
comment must not invalidate the cache); a task that changes what a parameter
means should add or bump a ``"version"`` entry in its ``params``. What the
hash cannot see, a generator edited without a new version (a developer
iterating within one formation version), is caught when a cached split is
reused: its sample 0 is made again and compared byte for byte with the stored
one (:func:`generators.dataset.sample_differences`, one sample's cost). A
split the running code does not reproduce (or cannot read) is left alone,
since another run or checkout sharing the cache may be reading it, and the
running code uses its own split beside it,
``<cache>/<task>-<split key>-<sample digest>`` (the digest of what it makes of
sample 0, :func:`generators.dataset.sample_digest`), built on first use; one
line on stderr names the members that changed. Stale splits are never deleted
by the harness: remove them by hand.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Mapping, Sequence

from generators._runtime import default_cache_dir, die_with_parent, single_thread_env
from generators.task import Task

# Bump when the cache layout or the hash recipe changes.
_CACHE_FORMAT = 1
_SHARD_SIZE = 50


def hash_dataset(task_name: str, params: Mapping[str, object], seed: int, size: int) -> str:
    """Hex SHA-256 (first 16 digits) identifying one generated split.

    Parameters
    ----------
    task_name : str
    params : mapping
        ``Task.params``; must be JSON-serialisable. Key order does not matter.
    seed, size : int
        The split's seed and number of samples.
    """
    try:
        blob = json.dumps(
            {"format": _CACHE_FORMAT, "task": task_name, "params": dict(params), "seed": int(seed), "size": int(size)},
            sort_keys=True,
            separators=(",", ":"),
        )
    except TypeError as err:
        raise ValueError(f"task {task_name!r}: params are not JSON-serialisable ({err})") from None
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def split_dir(task: Task, size: int, cache_dir: Path) -> Path:
    """``<cache_dir>/<task>-<split key>``: where the split of ``task`` with ``size`` samples is cached."""
    return Path(cache_dir) / f"{task.name}-{hash_dataset(task.name, task.params, task.test_seed, size)}"


def build_split(task: Task, *, size: int, cache_dir: Path, workers: int | None = 1,
                check: bool = True) -> tuple[Path, str, str]:
    """Make (or reuse) the test split of ``task`` with ``size`` samples.

    Sample ``i`` is ``task.make_sample(sample_rng(task.test_seed, i))``. A cached split is reused only
    if the running code makes its sample 0 byte for byte (``check``); otherwise the code's own split
    beside it is used or built (see the module docstring).

    Returns
    -------
    directory : Path
        ``<cache_dir>/<task>-<split key>``, or ``...-<sample digest>`` beside it (see above).
    split_key : str
        :func:`hash_dataset` of the recipe: what the cache is keyed by.
    dataset_hash : str
        The content hash of the written shards (the manifest's
        ``dataset_hash``, :func:`generators.dataset.compute_dataset_hash`):
        what the results rows record, so two machines whose generators wrote
        different bytes are told apart.
    """
    from generators.dataset import (  # heavy; import on use
        UserError, read_manifest, sample_differences, sample_digest, write_dataset)

    digest = hash_dataset(task.name, task.params, task.test_seed, size)
    out = split_dir(task, size, cache_dir)
    if check and _is_complete(out, size):
        try:
            changed = sample_differences(out, task.make_sample, 0)
        except UserError as err:  # unreadable, or written with an encoder this code no longer has
            changed = [f"unreadable: {err}"]
        if changed:
            # Never deleted: another run (or another checkout sharing the cache) may be reading it. The
            # running code's own split lives beside it, keyed by what this code makes of sample 0.
            alt = out.with_name(f"{out.name}-{sample_digest(task.make_sample, task.test_seed, 0)}")
            print(f"{task.name}: the cached split {out.name} was made by other generator code (sample 0 differs "
                  f"in {', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''}); using {alt.name}",
                  file=sys.stderr)
            out = alt
    if not _is_complete(out, size):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_dataset(
            task.make_sample,
            n=size,
            out=str(out),
            seed=task.test_seed,
            shard_size=_SHARD_SIZE,
            workers=workers,
            generator=task.name,
            params=dict(task.params),
            progress=False,
        )
    return out, digest, read_manifest(out)["dataset_hash"]


def build_splits(jobs: Sequence[tuple[Task, int]], *, cache_dir: Path,
                 workers: int = 1) -> list[tuple[Path, str, str, float]]:
    """:func:`build_split` for every ``(task, size)`` of ``jobs``; ``(directory, split_key, dataset_hash,
    seconds)`` each, in the order of ``jobs``.

    Splits that are cached already are only read. When two or more are missing and ``workers > 1``, the
    missing ones are built side by side, one task per process (``workers`` spawned processes, one thread
    each), instead of one after the other with ``workers`` processes inside each task: a small split
    does not keep two processes busy (measured on the quick splits: 19.1 s one after the other with one
    process, 21.6 s with two per task). The bytes written do not depend on how a split is built
    (sample ``i`` depends only on the seed and ``i``).
    """
    cache_dir = Path(cache_dir)
    missing = [k for k, (task, size) in enumerate(jobs) if not _is_complete(split_dir(task, size, cache_dir), size)]
    done: dict[int, tuple[Path, str, str, float]] = {}
    if workers > 1 and len(missing) > 1:
        with single_thread_env(), ProcessPoolExecutor(
                max_workers=min(workers, len(missing)), mp_context=multiprocessing.get_context("spawn"),
                initializer=die_with_parent) as pool:
            futures = {k: pool.submit(_timed_build, jobs[k][0], jobs[k][1], cache_dir) for k in missing}
            for k, fut in futures.items():
                done[k] = fut.result()
    for k, (task, size) in enumerate(jobs):
        if k not in done:
            done[k] = _timed_build(task, size, cache_dir, workers=workers)
    return [done[k] for k in range(len(jobs))]


def _timed_build(task: Task, size: int, cache_dir: Path, workers: int = 1) -> tuple[Path, str, str, float]:
    t0 = time.perf_counter()
    out, key, digest = build_split(task, size=size, cache_dir=cache_dir, workers=workers)
    return out, key, digest, time.perf_counter() - t0


def _is_complete(out: Path, size: int) -> bool:
    """True when ``out`` holds a finished manifest for ``size`` samples."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    n = info.get("n", info.get("num_samples"))
    return n == size and bool(info.get("complete", True))
