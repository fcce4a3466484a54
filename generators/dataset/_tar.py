"""Deterministic USTAR tar members on the write side; member index and key checks on the read side."""

from __future__ import annotations

import hashlib
import io
import tarfile
from typing import Iterator

from generators.dataset._common import UserError, _key, _one_line

_TAR_BLOCK = 512
_TAR_RECORD = 20 * _TAR_BLOCK


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


def _stored_members(path, index: int) -> dict[str, bytes]:
    """``{member name: bytes}`` of sample ``index`` in the shard file ``path``, reading only up to its
    members (a caption shard holds ~400 MB); the shard's sha256 is not checked."""
    stored: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:") as tf:
            for m in tf:
                key = m.name.partition(".")[0]
                if key > _key(index):
                    break
                if key == _key(index) and m.isfile():
                    stored[m.name] = tf.extractfile(m).read()
    except FileNotFoundError:
        raise UserError(f"missing shard {path}") from None
    except (tarfile.TarError, OSError) as e:
        raise UserError(f"corrupted shard {path}: {_one_line(e)}") from None
    return stored
