"""Checkpoint I/O shared by the networks: one atomic, fsynced save and one
loader whose every failure is a single ``ValueError`` naming the file.

A checkpoint is a plain dict loadable with ``torch.load(weights_only=True)``:
``format`` (e.g. ``"restorebench.reflection/1"``), ``config`` (JSON-able),
``model`` (state dict) and, for training state, ``optimizer`` etc.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["save_checkpoint", "read_checkpoint", "plain", "make_checkpoint", "load_network"]


def plain(meta: dict) -> dict:
    """``meta`` as plain JSON types, so ``torch.load(weights_only=True)`` accepts it
    (a ``torch.__version__`` object, numpy scalars or paths would make the file unloadable)."""
    import json

    return json.loads(json.dumps(meta, default=str))


def save_checkpoint(ckpt: dict, path: str | os.PathLike) -> None:
    """Write ``ckpt`` to a temporary file beside ``path``, fsync it, rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(ckpt, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # directories cannot be fsync'ed on some filesystems
        pass


def read_checkpoint(path: str | os.PathLike, *, expected_format: str, what: str) -> dict:
    """Load the raw dict of a checkpoint of ``expected_format``.

    Raises
    ------
    ValueError
        One line naming ``path``: missing, unreadable/truncated, another
        format, or without ``config``/``model``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, garbage bytes, a pickle that weights_only refuses ...
        lines = str(e).strip().splitlines()
        msg = f"{type(e).__name__}: {lines[0][:160] if lines else ''}"
        raise ValueError(f"{path}: not a readable torch checkpoint (corrupt or truncated?): {msg}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != expected_format:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: not a {what} checkpoint (format {got!r}, expected {expected_format!r})")
    for key in ("config", "model"):
        if key not in ckpt:
            raise ValueError(f"{path}: checkpoint has no {key!r} entry")
    return ckpt


def make_checkpoint(model, config, *, fmt: str, **meta) -> dict:
    """The shipped-weights dict: ``format``, JSON-able ``config``, ``model`` (state dict), plain ``meta``."""
    return {"format": fmt, "config": dict(config),
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()}, "meta": plain(meta)}


def load_network(path: str | os.PathLike, *, fmt: str, what: str, build):
    """``(network in eval mode, raw checkpoint)`` built by ``build(config)``; one ValueError naming
    the file when it is missing, unreadable, of another format, or its weights do not fit."""
    ckpt = read_checkpoint(path, expected_format=fmt, what=what)
    try:
        model = build(ckpt["config"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: weights do not fit the configured network: {msg}") from None
    model.eval()
    return model, ckpt
