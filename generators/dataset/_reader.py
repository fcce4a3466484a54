"""The readers: manifest, streamed iteration and random access."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from generators.dataset._codec import _decode_sample
from generators.dataset._common import FORMAT, MANIFEST, READABLE_FORMAT_VERSIONS, UserError, _one_line
from generators.dataset._tar import _check_keys, _group_by_key, _iter_members
from generators.task import Sample


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
    if manifest.get("format_version") not in READABLE_FORMAT_VERSIONS:
        raise UserError(
            f"{path}: format_version {manifest.get('format_version')} cannot be read by this RestoreBench "
            f"(it reads {', '.join(map(str, READABLE_FORMAT_VERSIONS))}); update RestoreBench"
        )
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
