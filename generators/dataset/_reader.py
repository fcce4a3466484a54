"""The readers: manifest, streamed iteration and random access."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from generators.dataset._codec import DEFAULT_JPEG_QUALITY, FRAME_OFFSETS, _decode_array, _decode_image, _decode_sample
from generators.dataset._common import (
    FORMAT,
    KEY_DIGITS,
    MANIFEST,
    READABLE_FORMAT_VERSIONS,
    UserError,
    _debug,
    _key,
    _one_line,
)
from generators.dataset._engines import _changed_members, _made_members, _ShardJob
from generators.dataset._tar import _check_keys, _group_by_key, _iter_members
from generators.task import Sample, formation_version


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


def read_formation_version(directory: str | os.PathLike) -> int:
    """The formation version of the dataset in ``directory`` (finished or not): see
    :func:`generators.task.formation_version`; 0 when its manifest records none.

    Raises
    ------
    UserError
        Naming the manifest, when it is missing or unreadable.
    """
    path = Path(directory) / MANIFEST
    try:
        return formation_version(json.loads(path.read_text())["params"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{directory}: cannot read the formation version from {path} ({type(e).__name__})") from None


def _read_shard_bytes(directory: Path, record: dict, verify: bool) -> bytes:
    path = directory / record["file"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"missing shard {path}") from None
    if verify and hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise UserError(f"corrupted shard {path}: sha256 does not match the manifest")
    return data


def sample_differences(directory: str | os.PathLike, make_sample: Callable, index: int = 0) -> list[str]:
    """The stored members of sample ``index`` that ``make_sample`` no longer makes byte for byte.

    Sample ``index`` is made again from ``sample_rng(seed, index)`` (the manifest's seed) and encoded
    with the options the dataset was written with (image format, quality, PNG encoder, stack layout),
    one thread, as the writer does; its tar members are compared with the stored ones. An empty list
    means the code that is running would write the same bytes; otherwise the names of the members
    that differ, are missing or are new, sorted. What it catches: a generator whose output changed
    without a new formation version (a cached test split made by older code, a dataset about to be
    extended by other code). What it cannot: a change that spares sample ``index``.

    Raises
    ------
    UserError
        Incomplete or unreadable dataset, ``index`` out of range, corrupted shard, failing ``make_sample``.
    """
    from generators.dataset._writer import _recorded_png_encoder  # _writer imports the engines too

    directory = Path(directory)
    manifest = read_manifest(directory)
    index = int(index)
    record = next((r for r in manifest["shards"] if r["first"] <= index < r["first"] + r["count"]), None)
    if record is None:
        raise UserError(f"{directory} holds samples 0-{manifest['n'] - 1}, not {index}")
    job = _ShardJob(
        str(directory), 0, index, 1, int(manifest["seed"]), _debug(),
        image_format=manifest.get("image_format", "png"),
        quality=int(manifest.get("image_quality", DEFAULT_JPEG_QUALITY)),
        per_frame=manifest["format_version"] >= 3, png_encoder=_recorded_png_encoder(directory, manifest),
    )  # fmt: skip
    return _changed_members(make_sample, job, index, directory / record["file"])


def sample_digest(make_sample: Callable, seed: int, index: int = 0) -> str:
    """Hex SHA-256 (first 12 digits) of the tar members (names and bytes) that :func:`write_dataset`
    writes for sample ``index`` of ``seed`` with its default options (PNG, frame by frame): a
    fingerprint of what the running generator code makes, without writing anything."""
    job = _ShardJob("", 0, int(index), 1, int(seed), _debug())
    h = hashlib.sha256()
    for name, data in _made_members(make_sample, job, int(index)):
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:12]


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


def read_frame(directory: str | os.PathLike, index: int | str, field: str, t: int) -> np.ndarray:
    """Frame ``t`` of one array field of one sample, decoding that frame only.

    A stack of views, video frames or masks is stored frame by frame (format
    version 3), so this reads the sample's meta and the frame's bytes and
    nothing else of the shard. On datasets of format versions 1 and 2 (stacks
    tiled into one image) and for other fields (read whole) it returns
    ``array[t]`` of the decoded field. The shard's sha256 is not checked (that
    would read it all; :func:`read_dataset` and :class:`SampleDataset` do).

    Parameters
    ----------
    directory : path
        A dataset written by :func:`write_dataset`.
    index : int or str
        The sample index, or its key (``"000000000123"``).
    field : str
        ``"group.name"`` as in the sample's ``meta.json``, e.g. ``"inputs.views"``,
        ``"extras.occlusion"``.
    t : int
        The frame (view) index along the field's first axis; negative counts from the end.

    Returns
    -------
    numpy.ndarray
        ``field[t]``: the stored dtype, shape ``shape[1:]``, exactly what
        :func:`read_dataset` gives for that frame.

    Raises
    ------
    IndexError
        ``index`` or ``t`` out of range.
    KeyError
        The sample has no such field.
    UserError
        Missing/incomplete manifest, missing or corrupted shard.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if isinstance(index, str):
        if len(index) != KEY_DIGITS or not index.isdigit():
            raise IndexError(f"key {index!r} is not a {KEY_DIGITS}-digit sample key")
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an integer or a key, got {type(index).__name__}")
    if not 0 <= index < manifest["n"]:
        raise IndexError(f"sample {index} out of range for {manifest['n']} samples")
    record = manifest["shards"][index // manifest["shard_size"]]
    path = directory / record["file"]
    key = _key(int(index))
    members = {}
    try:
        with tarfile.open(path, mode="r:") as tf:
            for m in tf:  # members are sorted by name: stop after this sample's
                k, _, name = m.name.partition(".")
                if k > key:
                    break
                if k == key and m.isfile():
                    members[name] = (m.offset_data, m.size)
    except FileNotFoundError:
        raise UserError(f"missing shard {path}") from None
    except tarfile.TarError as e:
        raise UserError(f"corrupted shard {path}: {_one_line(e)}") from None
    with open(path, "rb") as f:
        return _read_frame(f, key, members, field, t, str(path))


def _read_frame(f, key: str, members: dict[str, tuple[int, int]], field: str, t: int, where: str) -> np.ndarray:
    """Frame ``t`` of ``field`` from the open shard ``f``, given the sample's member index."""

    def read(name: str, start: int = 0, stop: int | None = None) -> bytes:
        offset, size = members[name]
        f.seek(offset + start)
        return f.read((size if stop is None else stop) - start)

    if "meta.json" not in members:
        raise UserError(f"{where}: sample {key} lacks meta.json")
    fields = json.loads(read("meta.json"))["fields"]
    if field not in fields:
        raise KeyError(f"{field!r}; sample {key} has {sorted(fields)}")
    meta = fields[field]
    names = [name for name in members if name.rsplit(".", 1)[0] == field]
    if len(names) != 1:
        raise UserError(f"{where}: sample {key} has {len(names)} members for {field}")
    shape = meta["shape"]
    if not shape or not -shape[0] <= t < shape[0]:
        raise IndexError(f"frame {t} out of range for {field} of shape {tuple(shape)}")
    t = int(t) % shape[0]
    where = f"{where}: {key}.{names[0]}"
    if FRAME_OFFSETS not in meta:  # tiled (format versions 1, 2) or not a stack: decode it all
        return _decode_array(read(names[0]), meta, where)[t]
    start, stop = meta[FRAME_OFFSETS][t], meta[FRAME_OFFSETS][t + 1]
    if not 0 <= start <= stop <= members[names[0]][1]:
        raise UserError(f"{where}: frame offsets do not match the member's {members[names[0]][1]} bytes")
    frame = _decode_image(read(names[0], start, stop), meta["encoding"], tuple(shape[1:]), f"{where} frame {t}")
    dtype = np.dtype(meta["dtype"])
    if frame.dtype != dtype or frame.shape != tuple(shape[1:]):
        raise UserError(f"{where}: decoded {frame.dtype}{frame.shape}, manifest says {dtype}{tuple(shape[1:])}")
    return frame


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

    def read_frame(self, i: int, field: str, t: int) -> np.ndarray:
        """Frame ``t`` of ``field`` (e.g. ``"inputs.views"``) of sample ``i``; see :func:`read_frame`.

        Reads and decodes that frame only (format version 3); the transform is not applied.
        """
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        if not -len(self._index) <= i < len(self._index):
            raise IndexError(f"index {i} out of range for {len(self._index)} samples")
        file_id, key, fields = self._index[i]
        path = self._files[file_id]
        with open(path, "rb") as f:
            return _read_frame(f, key, fields, field, t, path)
