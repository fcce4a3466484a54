"""Constants, the user-error class and small helpers shared by the dataset modules."""

from __future__ import annotations

import os
import re
from typing import Any

# The manifest's "versions"; generators._runtime owns the list (re-exported under the old name).
from generators._runtime import package_versions as _package_versions  # noqa: F401

from generators._runtime import UserError  # the project's one user-error class (re-exported)

FORMAT = "restorebench-webdataset"
# Version 1: PNG and npy members, a stack of images (views, frames, masks) tiled into one
# tall image. Version 2 adds the lossy or lossless "webp8" and "jpeg8" encodings of
# --image-format webp|jpeg (PNG datasets stayed version 1). Version 3, every image format:
# a stack is stored frame by frame (one member holding the T images concatenated, byte
# offsets in its meta), so that one frame can be read without decoding the others.
# Datasets begun as version 1 or 2 are finished and extended in their own version.
# Version 3 also holds the lossless "jxl8" encoding of --image-format jxl (issue 27; no
# new version: a reader older than it names the unknown encoding of such a field).
FORMAT_VERSION = 3  # the newest this code writes
READABLE_FORMAT_VERSIONS = (1, 2, 3)
MANIFEST = "manifest.json"
KEY_DIGITS = 12
SHARD_DIGITS = 6
DISK_MARGIN = 1.10
GROUPS = ("inputs", "target", "extras")
DEBUG_ENV = "RESTOREBENCH_DEBUG"

_SHARD_RE = re.compile(r"^shard-(\d{%d})\.tar(\.json)?$" % SHARD_DIGITS)


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
