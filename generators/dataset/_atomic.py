"""Crash-safe files: atomic JSON, fsync'ed directories, checksums and the writer's lock."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from generators.dataset._common import UserError


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


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one, never a torn one:
    a temporary file beside it, fsync'ed, renamed over it, then the directory fsync'ed. On any error the
    temporary file is removed and the error raised."""
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


def _write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, _dumps(obj).encode("utf-8"))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


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
