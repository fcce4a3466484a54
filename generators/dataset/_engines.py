"""Writing one shard in a worker, and the three engines that run shard jobs:
in-process (one worker), a local spawn-context process pool, and Ray tasks."""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2

from generators.dataset._atomic import _tmp_path, _write_json_atomic
from generators.dataset._codec import DEFAULT_JPEG_QUALITY, DEFAULT_PNG_ENCODER, _encode_sample
from generators._runtime import SIMD_ENV, THREAD_ENV_VARS, die_with_parent, single_thread_env
from generators.dataset._common import DEBUG_ENV, UserError, _debug, _first_line, _one_line, _shard_name
from generators.dataset._tar import _TAR_BLOCK, _HashingWriter, _stored_members, _tar_end, _tar_member
from generators.task import sample_rng


@dataclass(frozen=True)
class _ShardJob:
    out: str
    shard: int
    first: int
    count: int
    seed: int
    debug: bool
    image_format: str = "png"
    quality: int = DEFAULT_JPEG_QUALITY
    per_frame: bool = True  # stacks frame by frame (format version 3), else tiled (1 and 2)
    png_encoder: str = DEFAULT_PNG_ENCODER  # a key of _codec.PNG_ENCODERS


class _SingleThreaded:
    """One OpenCV/torch thread while making samples, restored afterwards.

    Thread counts can change floating-point reduction order; pinning them
    keeps shards byte-identical whether made in-process, in a pool or by Ray.
    ``pin()`` is called before each sample because ``make_sample`` may
    import torch itself.
    """

    def __enter__(self):
        self.old_cv = cv2.getNumThreads()
        cv2.setNumThreads(1)
        self.old_torch = None
        self.pin()
        return self

    def pin(self) -> None:
        torch = sys.modules.get("torch")
        if torch is not None and self.old_torch is None:
            self.old_torch = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc) -> None:
        cv2.setNumThreads(self.old_cv)
        if self.old_torch is not None:
            sys.modules["torch"].set_num_threads(self.old_torch)


def _make_sample(make_sample: Callable, job: _ShardJob, index: int) -> Any:
    try:
        return make_sample(sample_rng(job.seed, index))
    except Exception as e:
        if job.debug:
            raise
        raise UserError(
            f"make_sample failed on sample {index} (shard {_shard_name(job.shard)}): "
            f"{type(e).__name__}: {_one_line(e)} (set {DEBUG_ENV}=1 for the traceback)"
        ) from None


def _sample_members(make_sample: Callable, job: _ShardJob, index: int) -> list[tuple[str, bytes | memoryview]]:
    """The tar members of sample ``index``, made and encoded with the job's options."""
    sample = _make_sample(make_sample, job, index)
    try:
        return _encode_sample(sample, index, image_format=job.image_format, quality=job.quality,
                              per_frame=job.per_frame, png_encoder=job.png_encoder)
    except UserError:
        raise
    except Exception as e:
        if job.debug:
            raise
        raise UserError(f"cannot store sample {index}: {type(e).__name__}: {_one_line(e)}") from None


def _made_members(make_sample: Callable, job: _ShardJob, index: int) -> list[tuple[str, bytes | memoryview]]:
    """:func:`_sample_members` with one OpenCV/torch thread, as a shard writer makes them."""
    with _SingleThreaded() as threads:
        threads.pin()
        return _sample_members(make_sample, job, index)


def _changed_members(make_sample: Callable, job: _ShardJob, index: int, shard_path) -> list[str]:
    """Members of sample ``index`` stored in ``shard_path`` that ``make_sample`` (with the job's options,
    one thread) no longer makes byte for byte, or makes and did not store; sorted, empty when identical."""
    stored = _stored_members(shard_path, index)
    made = {name: bytes(b) for name, b in _made_members(make_sample, job, index)}
    return sorted(n for n in stored.keys() | made.keys() if stored.get(n) != made.get(n))


def _probe_sample_bytes(job: _ShardJob, make_sample: Callable, *, max_samples: int = 8,
                        max_seconds: float = 2.0) -> list[int]:  # fmt: skip
    """Bytes each of the job's first samples takes in a shard (tar headers and padding included).

    Samples differ in size (on bookcovers sample 0 is 40% above the mean), so
    after the first one (which also pays any warm-up) more are made for up to
    ``max_seconds``, at most ``max_samples`` in all; none when the first took
    longer than ``max_seconds`` (a slow renderer). Nothing is written.
    """
    sizes: list[int] = []
    t0 = time.perf_counter()
    first_done = None
    with _SingleThreaded() as threads:
        for index in range(job.first, job.first + min(job.count, max_samples)):
            if first_done is not None and max(first_done - t0, time.perf_counter() - first_done) > max_seconds:
                break
            threads.pin()
            members = _sample_members(make_sample, job, index)
            sizes.append(sum(_TAR_BLOCK + len(data) + (-len(data) % _TAR_BLOCK) for _, data in members))
            first_done = first_done or time.perf_counter()
    return sizes


def _write_shard(job: _ShardJob, make_sample: Callable, report: Callable[[int], Any] | None = None) -> dict:
    """Make samples ``first .. first+count-1``, write the shard and its record; return the record."""
    out = Path(job.out)
    path = out / _shard_name(job.shard)
    tmp = _tmp_path(path)
    try:
        with _SingleThreaded() as threads, open(tmp, "wb") as f:
            w = _HashingWriter(f)
            for index in range(job.first, job.first + job.count):
                threads.pin()
                for name, data in _sample_members(make_sample, job, index):
                    _tar_member(w, name, data)
                if report is not None:
                    report(1)
            _tar_end(w)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        record = {
            "file": path.name,
            "first": job.first,
            "count": job.count,
            "bytes": w.nbytes,
            "sha256": w.sha.hexdigest(),
        }
        _write_json_atomic(path.with_name(path.name + ".json"), record)
        return record
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise UserError(f"disk full while writing shard {path}") from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# -- process-pool worker side ------------------------------------------------ #

_POOL_QUEUE = None


def _pool_init(queue) -> None:
    global _POOL_QUEUE
    _POOL_QUEUE = queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    die_with_parent()  # instead of writing on as an orphan


def _pool_start(make_sample: Callable) -> None:
    """Nothing: receiving ``make_sample`` imports its module, which is the point (``start_workers``)."""


def _pool_write_shard(job: _ShardJob, make_sample: Callable) -> dict:
    return _write_shard(job, make_sample, _POOL_QUEUE.put if _POOL_QUEUE is not None else None)


def _ray_write_shard(job: _ShardJob, make_sample: Callable) -> dict:
    return _write_shard(job, make_sample)


# --------------------------------------------------------------------------- #
# engines: submit shard jobs, wait for one at a time
# --------------------------------------------------------------------------- #


class _InProcess:
    """Runs each job in this process when waited on (workers=1)."""

    def __init__(self, make_sample, report):
        self.make_sample, self.report = make_sample, report
        self.pending: list[_ShardJob] = []
        self.reports_samples = True

    def submit(self, job: _ShardJob) -> None:
        self.pending.append(job)

    def wait_one(self) -> dict:
        job = self.pending.pop(0)
        return _write_shard(job, self.make_sample, self.report)

    def close(self, abort: bool) -> None:
        self.pending.clear()


class _LocalPool:
    """A spawn-context process pool; samples are reported through a queue."""

    def __init__(self, make_sample, report, workers: int):
        ctx = multiprocessing.get_context("spawn")  # bpy/torch are not fork-safe
        self.make_sample = make_sample
        self.workers = workers
        self.queue = ctx.SimpleQueue()
        self.reports_samples = True
        self.futures: dict = {}
        with single_thread_env():
            self.pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pool_init, initargs=(self.queue,))
        self.thread = threading.Thread(target=self._drain, args=(report,), daemon=True)
        self.thread.start()

    def _drain(self, report) -> None:
        while (item := self.queue.get()) is not None:
            if report is not None:
                report(item)

    def start_workers(self) -> None:
        """Spawn every worker now rather than on the first jobs (they import the generator when
        they start and when they unpickle ``make_sample``): the start-up overlaps the caller's work."""
        with single_thread_env():  # each submit spawns one more worker while none is idle
            for _ in range(self.workers):
                self.pool.submit(_pool_start, self.make_sample)

    def submit(self, job: _ShardJob) -> None:
        with single_thread_env():  # workers are spawned lazily, on submit
            self.futures[self.pool.submit(_pool_write_shard, job, self.make_sample)] = job

    def wait_one(self) -> dict:
        done, _ = wait_futures(list(self.futures), return_when=FIRST_COMPLETED)
        fut = next(iter(done))
        job = self.futures.pop(fut)
        try:
            return fut.result()
        except BrokenProcessPool:
            raise UserError(
                f"a worker process died while writing {_shard_name(job.shard)} (out of memory or killed?)"
            ) from None

    def close(self, abort: bool) -> None:
        if abort:
            for proc in list(getattr(self.pool, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    proc.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.queue.put(None)
        self.thread.join(timeout=5)
        self.queue.close()


class _RayEngine:
    """One Ray task per shard; progress is reported per shard."""

    def __init__(self, make_sample, workers: int, address: str | None):
        try:
            import ray
        except ImportError:  # pragma: no cover
            raise UserError("--engine ray needs the 'ray' package") from None
        self.ray = ray
        self.started = False
        self.reports_samples = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                configure_logging=True,
            )
            root = str(Path(__file__).resolve().parents[2])
            # one thread each, and the SIMD settings this process holds (generators._runtime.pin_simd):
            # a Ray worker may load numpy before it imports generators
            threads = {**{k: "1" for k in THREAD_ENV_VARS}, **{k: os.environ[k] for k in SIMD_ENV if k in os.environ}}
            if address is None:
                # like a spawned pool worker, a local Ray worker imports what the driver can
                paths = [root] + [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]
                pythonpath = os.pathsep.join(dict.fromkeys(paths))
                kwargs.update(
                    num_cpus=workers,
                    object_store_memory=128 * 1024**2,  # shards go to disk, not to the object store
                    runtime_env={"env_vars": {"PYTHONPATH": pythonpath, **threads}},
                )
            else:
                # A cluster: every node has this checkout and environment at the same paths
                # (as Ray assumes for the driver's working directory) and --out on shared
                # storage. Workers get the checkout first on their path and one thread each,
                # as local workers do, so that shards come out byte-identical.
                pythonpath = f"{root}{os.pathsep}${{PYTHONPATH}}"  # Ray expands ${...} on the node
                kwargs.update(address=address, runtime_env={"env_vars": {"PYTHONPATH": pythonpath, **threads}})
            try:
                ray.init(**kwargs)
            except Exception as e:
                raise UserError(f"cannot start Ray ({address or 'local'}): {_one_line(e)}") from None
            self.started = True
        self.refs: dict = {}
        try:
            self.cpus = int(ray.cluster_resources().get("CPU", 0))
            self.remote = ray.remote(num_cpus=1, max_retries=0)(_ray_write_shard)
            self.make_ref = ray.put(make_sample)
        except BaseException:
            self.close(abort=True)
            raise

    def submit(self, job: _ShardJob) -> None:
        self.refs[self.remote.remote(job, self.make_ref)] = job

    def wait_one(self) -> dict:
        (ref,), _ = self.ray.wait(list(self.refs), num_returns=1)
        job = self.refs.pop(ref)
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as e:
            cause = e.cause if getattr(e, "cause", None) is not None else e
            if isinstance(cause, UserError):
                raise UserError(str(cause)) from None
            if _debug():
                raise
            raise UserError(
                f"Ray task for {_shard_name(job.shard)} failed: {type(cause).__name__}: {_first_line(cause)}"
            ) from None
        except self.ray.exceptions.RayError as e:
            if _debug():
                raise
            raise UserError(f"Ray task for {_shard_name(job.shard)} failed: {_first_line(e)}") from None

    def close(self, abort: bool) -> None:
        if abort:
            for ref in self.refs:
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)
        self.refs.clear()
        if self.started:
            self.ray.shutdown()
