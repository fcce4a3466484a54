"""Write and read RestoreBench datasets: WebDataset-layout tar shards + manifest.

Every generator writes its samples through :func:`write_dataset` and every
consumer (training, the benchmark harness) reads them back through
:func:`read_dataset` or :class:`SampleDataset`.

On-disk layout of a dataset directory::

    DIR/manifest.json              what was made, how, and the dataset's identity
    DIR/shard-000000.tar           samples 0 .. shard_size-1
    DIR/shard-000000.tar.json      the shard's record (sha256, index range, bytes)
    DIR/shard-000001.tar ...

Each shard is a plain (USTAR) tar in WebDataset layout: the members of sample
``i`` are named ``{key}.{field}.{ext}`` with ``key = f"{i:012d}"``, e.g.
``000000000123.inputs.views.png``, ``000000000123.target.clean.png``,
``000000000123.extras.mask.png``, ``000000000123.params.json`` and
``000000000123.meta.json`` (dtype, shape and encoding of every array, so the
reader restores them exactly). Encoding of an array field:

* float32, 3-D ``(H, W, C)`` or 4-D ``(N, H, W, C)`` with C in {1, 3}, all
  values in [0, 1]: 8-bit PNG of ``round(x * 255)`` (a view stack is tiled
  vertically into one ``(N*H, W, C)`` image); read back as float32 ``k / 255``.
  Any other float array (other ndim, values outside [0, 1], NaN) is stored
  losslessly as ``.npy``;
* bool with 2 to 4 dimensions (masks, stacks of masks): PNG of 0/255, read
  back as bool;
* uint8 with the same layouts as float32 images, or 2-D: PNG, read back
  unchanged;
* everything else: ``.npy`` (``allow_pickle=False``).

PNGs are written by OpenCV at zlib level 1, run-length strategy (RGB is stored
as RGB: OpenCV's BGR order is swapped on both sides).

Determinism: sample ``i`` is made from ``generators.task.sample_rng(seed, i)``
only, members are written in sorted order with fixed tar headers (mtime 0,
uid/gid 0, empty owner names, mode 0644, no pax records), so every shard is
byte-identical for any worker count and for the Ray engine. Generators run
with one torch/OpenCV/OpenMP thread per worker so that the thread count cannot
change floating-point results either.

Crash safety and resume: a shard is written under a hidden temporary name,
fsync'ed and renamed into place; its ``.tar.json`` record is written the same
way afterwards and marks the shard complete. Re-running the same command
verifies complete shards (sha256 against the record), deletes temporary and
unverifiable files and makes only what is missing. ``n`` may grow between
runs (the dataset is extended; the old, shorter last shard is remade) but
never shrink; any other change (generator, params, seed, shard size, library
versions while work remains) is refused with :class:`UserError`.

``manifest.json`` exists from the first moment with ``"complete": false`` and
no shard list; when every shard is done it is atomically replaced by the final
manifest (``"complete": true``, the shard list and ``dataset_hash``). It holds
no timestamps or host names: two runs of the same command write identical
manifests.

Errors for users are :class:`UserError` (a ``ValueError``) with a one-line
message; a failing ``make_sample`` names the sample index. ``run_cli`` turns
them into one ``error:`` line on stderr; ``RESTOREBENCH_DEBUG=1`` re-raises with
the traceback instead.

``dataset_hash`` is the sha256 hex digest of the UTF-8 JSON text
``json.dumps(d, sort_keys=True, separators=(",", ":"))`` with ``d = {"format":
..., "format_version": ..., "generator": ..., "params": ..., "seed": ...,
"n": ..., "shard_size": ..., "shards": [sha256 of each shard, in order]}``
(see :func:`compute_dataset_hash`). Library versions are recorded but not
hashed: the shard bytes already capture any effect they have.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import functools
import hashlib
import importlib.metadata
import io
import json
import logging
import math
import multiprocessing
import os
import pickle
import platform
import re
import shutil
import signal
import sys
import tarfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import cv2
import numpy as np

from generators.task import Sample, sample_rng

__all__ = [
    "UserError",
    "write_dataset",
    "read_dataset",
    "read_manifest",
    "compute_dataset_hash",
    "SampleDataset",
    "add_dataset_arguments",
    "run_cli",
]

FORMAT = "restorebench-webdataset"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KEY_DIGITS = 12
SHARD_DIGITS = 6
# zlib level 1 with the run-length strategy: on 256x256 RGB covers this was both the
# fastest and the smallest of levels 0-3 x strategies (noisy: 8 ms/117 KB vs 12 ms/132 KB
# for the default strategy); speed matters more than size (>= 100 samples/s on two cores).
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
DISK_MARGIN = 1.10
GROUPS = ("inputs", "target", "extras")
DEBUG_ENV = "RESTOREBENCH_DEBUG"

# Packages whose versions are recorded in the manifest (missing ones are skipped).
_VERSIONED_PACKAGES = (
    "restorebench",
    "numpy",
    "opencv-python-headless",
    "opencv-python",
    "torch",
    "scipy",
    "scikit-image",
    "pillow",
    "numba",
    "bpy",
    "trimesh",
    "pyrender",
    "carla",
    "ray",
)
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_SHARD_RE = re.compile(r"^shard-(\d{%d})\.tar(\.json)?$" % SHARD_DIGITS)
_TAR_BLOCK = 512
_TAR_RECORD = 20 * _TAR_BLOCK


class UserError(ValueError):
    """A problem the user can fix; its message is one line, shown without a traceback."""


# --------------------------------------------------------------------------- #
# small helpers
# --------------------------------------------------------------------------- #


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(text: Any) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return _one_line(lines[0] if lines else "")


def _key(index: int) -> str:
    return f"{index:0{KEY_DIGITS}d}"


def _shard_name(shard: int) -> str:
    return f"shard-{shard:0{SHARD_DIGITS}d}.tar"


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _tmp_path(path: Path) -> Path:
    """Hidden temporary name next to ``path``; the pid keeps concurrent writers apart."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=1, allow_nan=False) + "\n"


def _write_json_atomic(path: Path, obj: Any) -> None:
    data = _dumps(obj).encode("utf-8")
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _to_jsonable(obj: Any, where: str) -> Any:
    """A JSON-able copy of ``obj`` (numpy scalars/arrays converted) or UserError naming the key."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if not math.isfinite(value):
            raise UserError(f"{where} = {value} is not allowed in JSON (NaN/Inf)")
        return value
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise UserError(f"{where}: numpy array of dtype {obj.dtype} is not JSON-able")
        return _to_jsonable(obj.tolist(), where)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise UserError(f"{where}: key {k!r} is not a string (JSON keys must be strings)")
            out[k] = _to_jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise UserError(f"{where} has type {type(obj).__name__}, which is not JSON-able")


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


# --------------------------------------------------------------------------- #
# encoding of one sample
# --------------------------------------------------------------------------- #


def _png_image_shape(shape: tuple[int, ...], *, allow_2d: bool, stack_3d: bool) -> tuple[int, ...] | None:
    """The 2-D (gray) or 3-D (H, W, C) image a PNG holds for an array of ``shape``, or None."""
    if 0 in shape:
        return None
    if len(shape) == 2:
        return shape if allow_2d else None
    if len(shape) == 3:
        if shape[2] in (1, 3):
            return shape[:2] if shape[2] == 1 else shape
        return (shape[0] * shape[1], shape[2]) if stack_3d else None
    if len(shape) == 4 and shape[3] in (1, 3):
        h = shape[0] * shape[1]
        return (h, shape[2]) if shape[3] == 1 else (h, shape[2], 3)
    return None


def _encode_png(u8: np.ndarray, image_shape: tuple[int, ...]) -> memoryview:
    img = u8.reshape(image_shape)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, _PNG_PARAMS)
    if not ok:  # pragma: no cover - OpenCV only fails on unsupported layouts, excluded above
        raise UserError(f"OpenCV could not encode an image of shape {image_shape}")
    return memoryview(buf.reshape(-1))


def _encode_array(a: np.ndarray) -> tuple[str, memoryview, dict]:
    """(extension, bytes, meta) for one array field."""
    meta = {"dtype": a.dtype.str, "shape": list(a.shape)}
    image_shape = None
    if a.dtype == np.float32:
        image_shape = _png_image_shape(a.shape, allow_2d=False, stack_3d=False)
        if image_shape is not None:
            lo, hi = float(a.min()), float(a.max())  # NaN fails both comparisons
            if not (lo >= 0.0 and hi <= 1.0):
                image_shape = None
        if image_shape is not None:
            u8 = np.rint(a * np.float32(255)).astype(np.uint8)
            meta["encoding"] = "png8"
            return "png", _encode_png(u8, image_shape), meta
    elif a.dtype == np.bool_:
        image_shape = _png_image_shape(a.shape, allow_2d=True, stack_3d=True)
        if image_shape is not None:
            meta["encoding"] = "png-bool"
            return "png", _encode_png(a.view(np.uint8) * np.uint8(255), image_shape), meta
    elif a.dtype == np.uint8:
        image_shape = _png_image_shape(a.shape, allow_2d=True, stack_3d=False)
        if image_shape is not None:
            meta["encoding"] = "png"
            return "png", _encode_png(a, image_shape), meta
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    meta["encoding"] = "npy"
    return "npy", buf.getbuffer(), meta


def _encode_sample(sample: Any, index: int) -> list[tuple[str, bytes | memoryview]]:
    """Sorted tar members ``(name, data)`` of one sample."""
    if not all(hasattr(sample, g) for g in GROUPS):
        raise UserError(f"make_sample returned a {type(sample).__name__} for sample {index}, expected a Sample")
    key = _key(index)
    members: list[tuple[str, bytes | memoryview]] = []
    fields: dict[str, dict] = {}
    for group in GROUPS:
        arrays = getattr(sample, group, None)
        if arrays is None:
            arrays = {}
        if not isinstance(arrays, Mapping):
            raise UserError(f"sample {index}: Sample.{group} must be a dict of arrays, got {type(arrays).__name__}")
        for name, a in arrays.items():
            where = f"sample {index}: {group}[{name!r}]"
            if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith(".") or len(name) > 64:
                raise UserError(f"{where}: field names must match [A-Za-z0-9_][A-Za-z0-9_.-]* (at most 64 characters)")
            if not isinstance(a, np.ndarray):
                raise UserError(f"{where} is a {type(a).__name__}, expected a numpy array")
            try:
                ext, data, meta = _encode_array(a)
            except ValueError as e:  # np.save refuses object arrays without pickle
                raise UserError(f"{where}: cannot store dtype {a.dtype}: {_one_line(e)}") from None
            fields[f"{group}.{name}"] = meta
            members.append((f"{key}.{group}.{name}.{ext}", data))
    params = _to_jsonable(getattr(sample, "params", None) or {}, f"sample {index}: params")
    members.append((f"{key}.params.json", json.dumps(params, sort_keys=True, separators=(",", ":")).encode()))
    members.append((f"{key}.meta.json", json.dumps({"fields": fields}, sort_keys=True, separators=(",", ":")).encode()))
    members.sort(key=lambda m: m[0])
    return members


def _decode_array(data: bytes | memoryview, meta: dict, where: str) -> np.ndarray:
    dtype = np.dtype(meta["dtype"])
    shape = tuple(meta["shape"])
    encoding = meta["encoding"]
    if encoding == "npy":
        a = np.load(io.BytesIO(data), allow_pickle=False)
    else:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise UserError(f"{where}: PNG cannot be decoded")
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        img = img.reshape(shape)
        if encoding == "png8":
            a = img.astype(np.float32) / np.float32(255)
        elif encoding == "png-bool":
            a = img > 127
        else:
            a = img
    if a.dtype != dtype or a.shape != shape:
        raise UserError(f"{where}: decoded {a.dtype}{a.shape}, manifest says {dtype}{shape}")
    return a


def _decode_sample(key: str, files: dict[str, bytes | memoryview], where: str) -> Sample:
    try:
        meta = json.loads(bytes(files.pop("meta.json")))["fields"]
        params = json.loads(bytes(files.pop("params.json")))
    except KeyError as e:
        raise UserError(f"{where}: sample {key} lacks {e.args[0]}") from None
    groups: dict[str, dict[str, np.ndarray]] = {g: {} for g in GROUPS}
    for field, data in files.items():
        stem = field.rsplit(".", 1)[0]
        group, _, name = stem.partition(".")
        if stem not in meta or group not in groups:
            raise UserError(f"{where}: unexpected member {key}.{field}")
        groups[group][name] = _decode_array(data, meta[stem], f"{where}: {key}.{field}")
    return Sample(inputs=groups["inputs"], target=groups["target"], extras=groups["extras"], params=params)


# --------------------------------------------------------------------------- #
# writing one shard (runs in a worker)
# --------------------------------------------------------------------------- #


class _HashingWriter:
    """File wrapper that hashes and counts what goes through it."""

    def __init__(self, f):
        self.f = f
        self.sha = hashlib.sha256()
        self.nbytes = 0

    def write(self, data) -> None:
        self.f.write(data)
        self.sha.update(data)
        self.nbytes += len(data)


def _tar_member(out: _HashingWriter, name: str, data: bytes | memoryview) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    out.write(info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict"))
    out.write(data)
    if pad := -len(data) % _TAR_BLOCK:
        out.write(b"\0" * pad)


def _tar_end(out: _HashingWriter) -> None:
    out.write(b"\0" * (2 * _TAR_BLOCK))  # end-of-archive, then pad to a full record as tar(1) does
    if pad := -out.nbytes % _TAR_RECORD:
        out.write(b"\0" * pad)


@dataclass(frozen=True)
class _ShardJob:
    out: str
    shard: int
    first: int
    count: int
    seed: int
    debug: bool


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
                sample = _make_sample(make_sample, job, index)
                try:
                    members = _encode_sample(sample, index)
                except UserError:
                    raise
                except Exception as e:
                    if job.debug:
                        raise
                    raise UserError(f"cannot store sample {index}: {type(e).__name__}: {_one_line(e)}") from None
                for name, data in members:
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
    if sys.platform.startswith("linux"):  # die with the parent instead of writing on as an orphan
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


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


@contextlib.contextmanager
def _thread_env():
    """Children inherit one-thread OpenMP/BLAS settings (see ``_SingleThreaded``)."""
    saved = {k: os.environ.get(k) for k in _THREAD_ENV}
    os.environ.update({k: "1" for k in _THREAD_ENV})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _LocalPool:
    """A spawn-context process pool; samples are reported through a queue."""

    def __init__(self, make_sample, report, workers: int):
        ctx = multiprocessing.get_context("spawn")  # bpy/torch are not fork-safe
        self.make_sample = make_sample
        self.queue = ctx.SimpleQueue()
        self.reports_samples = True
        self.futures: dict = {}
        with _thread_env():
            self.pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pool_init, initargs=(self.queue,))
        self.thread = threading.Thread(target=self._drain, args=(report,), daemon=True)
        self.thread.start()

    def _drain(self, report) -> None:
        while (item := self.queue.get()) is not None:
            if report is not None:
                report(item)

    def submit(self, job: _ShardJob) -> None:
        with _thread_env():  # workers are spawned lazily, on submit
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
            if address is None:
                # like a spawned pool worker, a local Ray worker imports what the driver can
                root = str(Path(__file__).resolve().parent.parent)
                paths = [root] + [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]
                pythonpath = os.pathsep.join(dict.fromkeys(paths))
                kwargs.update(
                    num_cpus=workers,
                    object_store_memory=128 * 1024**2,  # shards go to disk, not to the object store
                    runtime_env={"env_vars": {"PYTHONPATH": pythonpath, **{k: "1" for k in _THREAD_ENV}}},
                )
            else:
                kwargs.update(address=address)
            try:
                ray.init(**kwargs)
            except Exception as e:
                raise UserError(f"cannot start Ray ({address or 'local'}): {_one_line(e)}") from None
            self.started = True
        self.refs: dict = {}
        try:
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


# --------------------------------------------------------------------------- #
# the writer
# --------------------------------------------------------------------------- #


def compute_dataset_hash(manifest: Mapping[str, Any]) -> str:
    """The dataset's identity: sha256 over its settings and the ordered shard hashes."""
    d = {k: manifest[k] for k in ("format", "format_version", "generator", "params", "seed", "n", "shard_size")}
    d["shards"] = [s["sha256"] for s in manifest["shards"]]
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise UserError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


@contextlib.contextmanager
def _lock(out: Path):
    """An exclusive lock on ``out`` for the duration of a write (released if the process dies)."""
    path = out / ".restorebench.lock"
    f = open(path, "a+")
    try:
        try:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            raise UserError(f"another process is writing to {out}; wait for it or use another directory") from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()  # while still holding the lock: a waiting writer fails fast, never races
    finally:
        f.close()


def _describe_diff(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    diffs = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<unset>"), new.get(k, "<unset>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs += _describe_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            diffs.append(f"{prefix}{k}: {json.dumps(a)} -> {json.dumps(b)}")
    return diffs


def _check_existing(out: Path, config: dict, manifest: dict | None) -> bool:
    """Refuse incompatible existing content; True when the existing manifest can stay as is."""
    if manifest is None:
        leftovers = [p.name for p in out.iterdir() if p.name != ".restorebench.lock"]
        if leftovers:
            raise UserError(
                f"{out} is not empty ({', '.join(sorted(leftovers)[:3])}{', ...' if len(leftovers) > 3 else ''}) "
                f"and holds no {MANIFEST}; use an empty or new --out directory"
            )
        return False
    if manifest.get("format") != FORMAT:
        raise UserError(f"{out / MANIFEST} is not a RestoreBench dataset manifest; use another --out directory")
    keys = ("format_version", "generator", "params", "seed", "shard_size")
    diffs = _describe_diff({k: manifest.get(k) for k in keys}, {k: config[k] for k in keys})
    if diffs:
        raise UserError(
            f"{out} already holds a dataset made with different settings ({'; '.join(diffs)}); "
            "use a new --out directory or the original settings"
        )
    if config["n"] < manifest["n"]:
        raise UserError(
            f"{out} already holds n={manifest['n']} samples; --n {config['n']} would shrink it "
            "(n may only grow); use a new --out directory"
        )
    return config["n"] == manifest["n"] and bool(manifest.get("complete"))


def _check_versions(out: Path, config: dict, manifest: dict) -> None:
    """Refuse to add shards made with other library versions than the existing ones."""
    diffs = _describe_diff(manifest.get("versions", {}), config["versions"])
    if diffs:
        raise UserError(
            f"{out} was started with other library versions ({'; '.join(diffs)}); adding shards would mix "
            "data made by different code; use a new --out directory or the original environment"
        )


def _scan_shards(out: Path, n: int, shard_size: int) -> dict[int, dict]:
    """Verified complete shards by index; deletes temporaries and anything unverifiable."""
    num_shards = -(-n // shard_size)
    for p in out.iterdir():
        if p.name.startswith(".") and p.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                p.unlink()
    done = {}
    for s in range(num_shards):
        path = out / _shard_name(s)
        rec_path = path.with_name(path.name + ".json")
        first, count = s * shard_size, min(shard_size, n - s * shard_size)
        ok = False
        if path.exists() and rec_path.exists():
            try:
                rec = json.loads(rec_path.read_text())
                ok = (
                    rec.get("first") == first
                    and rec.get("count") == count
                    and rec.get("file") == path.name
                    and rec.get("bytes") == path.stat().st_size
                    and rec.get("sha256") == _sha256_file(path)
                )
            except (OSError, ValueError):
                ok = False
        if ok:
            done[s] = rec
        else:
            for p in (rec_path, path):  # the record goes first: it is what marks a shard complete
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
    for p in out.iterdir():  # shards beyond the end cannot exist unless n shrank, which is refused
        m = _SHARD_RE.match(p.name)
        if m and int(m.group(1)) >= num_shards:
            raise UserError(f"{p} lies beyond the {num_shards} shards of this dataset; use a new --out directory")
    return done


def _check_disk(out: Path, done: dict[int, dict], remaining: int) -> None:
    """Refuse when ``remaining`` samples, sized like the first finished shard, +10% do not fit."""
    if remaining <= 0 or not done:
        return
    rec = done.get(0) or done[min(done)]
    per_sample = rec["bytes"] / rec["count"]
    need = per_sample * remaining * DISK_MARGIN
    free = shutil.disk_usage(out).free
    if free < need:
        raise UserError(
            f"not enough free disk space in {out}: about {_format_bytes(need)} needed for {remaining} more samples "
            f"({_format_bytes(per_sample)}/sample measured on {rec['file']}, +10% margin) but "
            f"{_format_bytes(free)} free; free space, lower --n or pass --ignore-disk-space"
        )


def write_dataset(
    make_sample: Callable[[np.random.Generator], Sample],
    *,
    n: int,
    out: str | os.PathLike,
    seed: int = 0,
    shard_size: int = 100,
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    generator: str,
    params: Mapping[str, Any] | None = None,
    check_disk: bool = True,
    progress: bool = True,
) -> dict:
    """Make ``n`` samples and write them as tar shards plus ``manifest.json``.

    Sample ``i`` is ``make_sample(generators.task.sample_rng(seed, i))``.
    Re-running the same call resumes (or just verifies a finished dataset);
    see the module docstring for the layout and the guarantees.

    Parameters
    ----------
    make_sample : callable
        ``rng -> Sample``. Must be picklable (module-level function or a
        ``functools.partial`` of one) when more than one worker is used.
    n : int
        Number of samples, >= 1. May grow on a later run into the same
        directory (the dataset is extended), never shrink.
    out : path
        Output directory; created if needed. Must be empty or hold a
        dataset made with the same settings.
    seed : int
        Dataset seed, >= 0.
    shard_size : int
        Samples per shard, >= 1. One shard is the unit of work of a worker.
    workers : int or None
        Parallel workers; None means ``os.cpu_count()``; 1 runs in-process.
    engine : {"local", "ray"}
        ``"local"``: a spawn-context process pool. ``"ray"``: one Ray task
        per shard, on a local Ray started with ``num_cpus=workers`` (and shut
        down afterwards) or on the cluster at ``ray_address``.
    ray_address : str or None
        Address of a running Ray cluster (``engine="ray"`` only).
    generator : str
        Generator name recorded in the manifest.
    params : mapping or None
        JSON-able generator parameters; recorded and part of the dataset hash.
    check_disk : bool
        Refuse to go on when the free disk space is below the size
        extrapolated from the first finished shard plus 10% (checked as soon
        as one shard exists, when at most ``workers`` shards are in flight).
        A full disk while writing is always a :class:`UserError` naming the
        shard; its temporary file is removed.
    progress : bool
        Show a tqdm bar (samples/s, ETA) on stderr when it is a terminal.

    Returns
    -------
    dict
        The final manifest (also in ``out/manifest.json``).

    Raises
    ------
    UserError
        On invalid arguments, incompatible existing content, too little
        disk space, a full disk, or a failing ``make_sample`` (the message
        names the sample index).
    """
    return _write_dataset(**locals())[0]


def _write_dataset(
    make_sample,
    *,
    n,
    out,
    seed=0,
    shard_size=100,
    workers=None,
    engine="local",
    ray_address=None,
    generator,
    params=None,
    check_disk=True,
    progress=True,
) -> tuple[dict, dict]:
    n = _check_int(n, "n", 1)
    shard_size = _check_int(shard_size, "shard_size", 1)
    seed = _check_int(seed, "seed", 0)
    workers = (os.cpu_count() or 1) if workers is None else _check_int(workers, "workers", 1)
    if engine not in ("local", "ray"):
        raise UserError(f"engine must be 'local' or 'ray', got {engine!r}")
    if ray_address is not None and engine != "ray":
        raise UserError("ray_address needs engine='ray'")
    if not isinstance(generator, str) or not generator:
        raise UserError(f"generator must be a non-empty name, got {generator!r}")
    if n >= 10**KEY_DIGITS:
        raise UserError(f"n must be below 10**{KEY_DIGITS}, got {n}")
    num_shards = -(-n // shard_size)
    if num_shards > 10**SHARD_DIGITS:
        raise UserError(f"{num_shards} shards is too many (max {10**SHARD_DIGITS}); raise shard_size")
    if not callable(make_sample):
        raise UserError(f"make_sample must be callable, got {type(make_sample).__name__}")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": generator,
        "params": _to_jsonable(dict(params or {}), "params"),
        "seed": seed,
        "n": n,
        "shard_size": shard_size,
        "key_digits": KEY_DIGITS,
        "versions": _package_versions(),
    }
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _lock(out):
        manifest_path = out / MANIFEST
        existing = None
        if manifest_path.exists():
            try:
                existing = json.loads(manifest_path.read_text())
            except ValueError:
                raise UserError(f"{manifest_path} is not valid JSON; use a new --out directory") from None
        keep_manifest = _check_existing(out, config, existing)
        done = _scan_shards(out, n, shard_size)
        todo = [s for s in range(num_shards) if s not in done]
        if existing is not None and todo:
            _check_versions(out, config, existing)
        elif existing is not None:  # nothing to make: keep recording what made the shards
            config["versions"] = existing.get("versions", config["versions"])
        if not keep_manifest:
            _write_json_atomic(manifest_path, {**config, "complete": False})
        reused = sum(r["count"] for r in done.values())
        made = _run_jobs(
            make_sample, out, todo, done, n=n, seed=seed, shard_size=shard_size, workers=workers,
            engine=engine, ray_address=ray_address, generator=generator, check_disk=check_disk,
            progress=progress, reused=reused,
        )  # fmt: skip
        manifest = {**config, "complete": True, "shards": [done[s] for s in range(num_shards)]}
        manifest["dataset_hash"] = compute_dataset_hash(manifest)
        text = _dumps(manifest)
        if not manifest_path.exists() or manifest_path.read_text() != text:
            _write_json_atomic(manifest_path, manifest)
    stats = {"made": made, "reused": reused, "seconds": time.perf_counter() - t0}
    return manifest, stats


def _run_jobs(make_sample, out, todo, done, *, n, seed, shard_size, workers, engine, ray_address,
              generator, check_disk, progress, reused) -> int:  # fmt: skip
    """Write the shards in ``todo`` (shard 0 first), filling ``done``; return the samples made."""
    if not todo:
        return 0
    remaining = n - reused
    if check_disk:
        _check_disk(out, done, remaining)
    debug = _debug()
    jobs = [
        _ShardJob(str(out), s, s * shard_size, min(shard_size, n - s * shard_size), seed, debug) for s in todo
    ]
    workers = min(workers, len(jobs))
    if workers > 1 or engine == "ray":
        try:
            pickle.dumps(make_sample)
        except Exception as e:
            if engine != "ray":  # Ray pickles by value with cloudpickle and may still manage
                raise UserError(
                    f"make_sample must be picklable for workers > 1 (a module-level function or "
                    f"functools.partial of one): {_one_line(e)}"
                ) from None

    from tqdm.auto import tqdm

    bar = tqdm(
        total=n, initial=reused, unit="sample", desc=generator, disable=None if progress else True,
        smoothing=0.05, dynamic_ncols=True, file=sys.stderr,
    )  # fmt: skip
    lock = threading.Lock()

    def report(k: int) -> None:
        with lock:
            bar.update(k)

    runner = None
    made = 0
    ok = False
    try:
        if engine == "ray":
            runner = _RayEngine(make_sample, workers, ray_address)
        elif workers == 1:
            runner = _InProcess(make_sample, report)
        else:
            runner = _LocalPool(make_sample, report, workers)
        pending = list(jobs)
        in_flight = 0
        disk_checked = not check_disk or bool(done)
        while pending or in_flight:
            # Until the first shard is measured only one wave is in flight, so a
            # short disk is refused early; afterwards the window keeps workers busy.
            while pending and in_flight < workers:
                runner.submit(pending.pop(0))
                in_flight += 1
            record = runner.wait_one()
            in_flight -= 1
            s = int(_SHARD_RE.match(record["file"]).group(1))
            done[s] = record
            made += record["count"]
            if not runner.reports_samples:
                report(record["count"])
            if not disk_checked:
                _check_disk(out, done, n - reused - made)
                disk_checked = True
        ok = True
    finally:
        try:
            if runner is not None:
                runner.close(abort=not ok)
        finally:
            bar.close()
            if not ok:
                for p in out.glob(".shard-*.tmp"):  # what killed workers left behind
                    with contextlib.suppress(OSError):
                        p.unlink()
    return made


# --------------------------------------------------------------------------- #
# the readers
# --------------------------------------------------------------------------- #


def read_manifest(directory: str | os.PathLike) -> dict:
    """The manifest of a finished dataset in ``directory``.

    Raises
    ------
    UserError
        When it is missing, unreadable or marks an unfinished dataset.
    """
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"no {MANIFEST} in {directory}: not a RestoreBench dataset (run a generator first)") from None
    except ValueError:
        raise UserError(f"{path} is not valid JSON") from None
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path} is not a RestoreBench dataset manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: unsupported format_version {manifest.get('format_version')}")
    if not manifest.get("complete"):
        raise UserError(f"dataset in {directory} is incomplete; re-run the generator command to finish it")
    return manifest


def _read_shard_bytes(directory: Path, record: dict, verify: bool) -> bytes:
    path = directory / record["file"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"missing shard {path}") from None
    if verify and hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise UserError(f"corrupted shard {path}: sha256 does not match the manifest")
    return data


def _iter_members(data: bytes, where: str) -> Iterator[tuple[str, int, int]]:
    """(name, data offset, size) of each member of an in-memory tar."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            for m in tf:
                if m.isfile():
                    yield m.name, m.offset_data, m.size
    except tarfile.TarError as e:
        raise UserError(f"corrupted shard {where}: {_one_line(e)}") from None


def _group_by_key(members, where: str) -> Iterator[tuple[str, dict[str, tuple[int, int]]]]:
    key, fields = None, {}
    for name, offset, size in members:
        k, _, field = name.partition(".")
        if k != key:
            if key is not None:
                yield key, fields
            key, fields = k, {}
        fields[field] = (offset, size)
    if key is not None:
        yield key, fields


def _check_keys(keys: list[str], record: dict, where: str) -> None:
    expected = [_key(i) for i in range(record["first"], record["first"] + record["count"])]
    if keys != expected:
        raise UserError(f"corrupted shard {where}: holds keys {keys[:1]}..{keys[-1:]}, expected {record['count']} "
                        f"samples from {expected[0]}")  # fmt: skip


def read_dataset(directory: str | os.PathLike, *, verify: bool = True) -> Iterator[tuple[str, Sample]]:
    """Iterate ``(key, Sample)`` over a dataset in index order.

    Parameters
    ----------
    directory : path
        A dataset written by :func:`write_dataset`.
    verify : bool
        Check each shard's sha256 against the manifest before using it.

    Yields
    ------
    key : str
        The zero-padded sample index, e.g. ``"000000000123"``.
    sample : Sample
        float32 images in [0, 1] (8-bit quantised), bool masks and other
        arrays with their original dtype and shape; params as stored.

    Raises
    ------
    UserError
        Missing/incomplete manifest, missing or corrupted shard (named).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    for record in manifest["shards"]:
        where = str(directory / record["file"])
        data = _read_shard_bytes(directory, record, verify)
        view = memoryview(data)
        keys = []
        for key, fields in _group_by_key(list(_iter_members(data, where)), where):
            keys.append(key)
            files = {f: view[o : o + s] for f, (o, s) in fields.items()}
            yield key, _decode_sample(key, files, where)
        _check_keys(keys, record, where)


class _SampleDataset:
    """Random access to a dataset's samples, for ``torch.utils.data.DataLoader``.

    Tar members are indexed once at construction (after verifying every
    shard's sha256 unless ``verify=False``); ``ds[i]`` then reads only the
    members of sample ``i``.

    Parameters
    ----------
    directory : path
        A dataset written by :func:`write_dataset`.
    transform : callable or None
        Applied to each :class:`Sample` (e.g. to build torch tensors).
    verify : bool
        Check every shard's sha256 at construction.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        transform: Callable[[Sample], Any] | None = None,
        *,
        verify: bool = True,
    ):
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self.transform = transform
        self._files: list[str] = []
        self._index: list[tuple[int, str, dict[str, tuple[int, int]]]] = []
        for record in self.manifest["shards"]:
            path = self.directory / record["file"]
            if verify:
                data = _read_shard_bytes(self.directory, record, True)
                members = list(_iter_members(data, str(path)))
                del data
            else:
                if not path.exists():
                    raise UserError(f"missing shard {path}")
                try:
                    with tarfile.open(path, mode="r:") as tf:
                        members = [(m.name, m.offset_data, m.size) for m in tf if m.isfile()]
                except tarfile.TarError as e:
                    raise UserError(f"corrupted shard {path}: {_one_line(e)}") from None
            file_id = len(self._files)
            self._files.append(str(path))
            grouped = list(_group_by_key(members, str(path)))
            _check_keys([k for k, _ in grouped], record, str(path))
            self._index.extend((file_id, k, f) for k, f in grouped)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int):
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        if i < 0:
            i += len(self._index)
        if not 0 <= i < len(self._index):
            raise IndexError(f"index {i} out of range for {len(self._index)} samples")
        file_id, key, fields = self._index[i]
        path = self._files[file_id]
        files = {}
        with open(path, "rb") as f:
            for field, (offset, size) in fields.items():
                f.seek(offset)
                files[field] = f.read(size)
        sample = _decode_sample(key, files, path)
        return self.transform(sample) if self.transform is not None else sample


# --------------------------------------------------------------------------- #
# command line
# --------------------------------------------------------------------------- #


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def add_dataset_arguments(parser: argparse.ArgumentParser, *, n: int = 1000, shard_size: int = 100) -> None:
    """Add the flags every generator shares; their values feed :func:`write_dataset`.

    ``--n --out --seed --shard-size --workers --engine --ray-address
    --ignore-disk-space --no-progress``; ``n`` and ``shard_size`` set the
    defaults of ``--n`` and ``--shard-size``.
    """
    g = parser.add_argument_group("dataset output")
    g.add_argument("--n", type=_int_at_least(1), default=n, help=f"number of samples (default {n})")
    g.add_argument("--out", required=True, help="output directory (created; re-running the same command resumes)")
    g.add_argument("--seed", type=_int_at_least(0), default=0, help="dataset seed (default 0)")
    g.add_argument(
        "--shard-size", type=_int_at_least(1), default=shard_size, help=f"samples per tar shard (default {shard_size})"
    )
    g.add_argument("--workers", type=_int_at_least(1), default=None, help="parallel workers (default: all CPU cores)")
    g.add_argument("--engine", choices=("local", "ray"), default="local", help="local process pool or Ray tasks")
    g.add_argument("--ray-address", default=None, help="address of a running Ray cluster (with --engine ray)")
    g.add_argument("--extras", choices=("all", "masks", "none"), default="all",
                   help="which extras to store: all (default), only the boolean masks, or none (inputs, target "
                        "and params only); recorded in the dataset parameters")
    g.add_argument("--ignore-disk-space", action="store_true", help="skip the free-disk-space check")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def select_extras(make_sample: Callable, rng, *, extras: str):
    """``make_sample(rng)`` keeping only the requested extras (``--extras``):
    ``"masks"`` keeps boolean arrays, ``"none"`` drops every extra."""
    from generators.task import Sample

    s = make_sample(rng)
    kept = {} if extras == "none" else {k: v for k, v in s.extras.items() if np.asarray(v).dtype == np.bool_}
    return Sample(inputs=s.inputs, target=s.target, extras=kept, params=s.params)


def _short_errors(parser: argparse.ArgumentParser) -> None:
    """Make argparse usage errors one line: ``prog: error: message (see --help)``."""

    def error(message: str):
        print(f"{parser.prog}: error: {_one_line(message)} (see --help)", file=sys.stderr)
        raise SystemExit(2)

    parser.error = error  # type: ignore[method-assign]
    for action in parser._actions:  # subparsers get the same treatment
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _short_errors(sub)


def run_cli(
    parser: argparse.ArgumentParser,
    build: Callable[[argparse.Namespace], tuple[Callable, Mapping[str, Any]]],
    argv: list[str] | None = None,
    *,
    generator: str,
) -> int:
    """Run a generator command: parse ``argv``, ``build(args)``, write the dataset.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        With the generator's own flags and :func:`add_dataset_arguments`.
    build : callable
        ``args -> (make_sample, params)``; may raise :class:`UserError` or
        ``ValueError`` for bad flag values.
    argv : list of str or None
        Arguments (None: ``sys.argv[1:]``).
    generator : str
        Name recorded in the manifest.

    Returns
    -------
    int
        0 on success (one summary line on stdout); 2 for usage errors
        (bad flags or values); 1 for other failures; errors are one line
        on stderr. ``RESTOREBENCH_DEBUG=1`` re-raises with the traceback.
    """
    _short_errors(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    prog = parser.prog
    try:
        try:
            make_sample, params = build(args)
            extras = getattr(args, "extras", "all")
            if extras != "all":  # part of the identity only when not the default, so existing datasets keep theirs
                make_sample = functools.partial(select_extras, make_sample, extras=extras)
                params = {**params, "extras": extras}
        except (UserError, ValueError) as e:
            if _debug():
                raise
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            return 2
        manifest, stats = _write_dataset(
            make_sample,
            n=args.n,
            out=args.out,
            seed=args.seed,
            shard_size=args.shard_size,
            workers=args.workers,
            engine=args.engine,
            ray_address=args.ray_address,
            generator=generator,
            params=params,
            check_disk=not args.ignore_disk_space,
            progress=not args.no_progress,
        )
    except UserError as e:
        if _debug():
            raise
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if _debug():
            raise
        print(f"{prog}: error: interrupted; re-run the same command to resume", file=sys.stderr)
        return 1
    except OSError as e:
        if _debug():
            raise
        what = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else _one_line(e)
        print(f"{prog}: error: {what}", file=sys.stderr)
        return 1
    except Exception as e:
        if _debug():
            raise
        print(
            f"{prog}: error: internal error: {type(e).__name__}: {_one_line(e)} (set {DEBUG_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    rate = stats["made"] / stats["seconds"] if stats["seconds"] > 0 else 0.0
    made = f"{stats['made']} made ({rate:.1f} samples/s)" if stats["made"] else "nothing to make"
    reused = f", {stats['reused']} already there (verified)" if stats["reused"] else ""
    print(
        f"{generator}: {manifest['n']} samples in {len(manifest['shards'])} shards, {made}{reused}; "
        f"{Path(args.out) / MANIFEST} dataset_hash {manifest['dataset_hash'][:16]}"
    )
    return 0


def __getattr__(name: str):
    # SampleDataset subclasses torch's Dataset, but importing torch costs ~1.5 s
    # in every spawned writer process that never reads; build the class on
    # first use instead (cached, so pickling finds the same object).
    if name == "SampleDataset":
        try:
            from torch.utils.data import Dataset
        except ImportError:  # pragma: no cover - torch is a project dependency
            Dataset = object
        namespace = {"__module__": __name__, "__doc__": _SampleDataset.__doc__}
        cls = type("SampleDataset", (_SampleDataset, Dataset), namespace)
        globals()["SampleDataset"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
