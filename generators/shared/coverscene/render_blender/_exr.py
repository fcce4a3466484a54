"""A minimal OpenEXR reader: uncompressed scanline files, as the Blender session writes them."""

from __future__ import annotations

import struct

import numpy as np

_EXR_MAGIC = 20000630
_EXR_MULTIPART = 0x1000
_EXR_DTYPES = {1: np.dtype("<f2"), 2: np.dtype("<f4")}


def _read_exr(path: str) -> dict[str, np.ndarray]:
    """Channels of an uncompressed (single- or multi-part) scanline OpenEXR file.

    Returns ``{channel name: (H, W) float32}`` over the display window, row 0
    on top; pixels outside a part's data window (border renders) are 0.
    Only what Blender writes with ``exr_codec = "NONE"`` is supported:
    HALF/FLOAT channels without subsampling.
    """
    with open(path, "rb") as f:
        buf = f.read()
    magic, version = struct.unpack_from("<ii", buf, 0)
    if magic != _EXR_MAGIC:
        raise RuntimeError(f"{path} is not an OpenEXR file")
    multipart = bool(version & _EXR_MULTIPART)
    pos = 8

    def cstring(p: int) -> tuple[str, int]:
        end = buf.index(b"\0", p)
        return buf[p:end].decode(), end + 1

    headers = []
    while True:
        attrs = {}
        while True:
            name, pos = cstring(pos)
            if not name:
                break
            _, pos = cstring(pos)
            (size,) = struct.unpack_from("<i", buf, pos)
            attrs[name] = buf[pos + 4 : pos + 4 + size]
            pos += 4 + size
        if not attrs:
            break
        headers.append(attrs)
        if not multipart:
            break
    out: dict[str, np.ndarray] = {}
    for attrs in headers:
        if attrs["compression"][0] != 0:
            raise RuntimeError(f"{path}: compressed OpenEXR is not supported (write it with exr_codec NONE)")
        channels, raw, p = [], attrs["channels"], 0
        while raw[p] != 0:
            end = raw.index(b"\0", p)
            (ptype,) = struct.unpack_from("<i", raw, end + 1)
            channels.append((raw[p:end].decode(), _EXR_DTYPES[ptype]))
            p = end + 1 + 16
        x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"])
        dx0, dy0, dx1, dy1 = struct.unpack("<4i", attrs["displayWindow"])
        width, rows = x1 - x0 + 1, y1 - y0 + 1
        offsets = np.frombuffer(buf, "<u8", rows, pos)
        pos += 8 * rows
        planes = {name: np.zeros((dy1 - dy0 + 1, dx1 - dx0 + 1), np.float32) for name, _ in channels}
        for offset in offsets.tolist():
            o = offset + (4 if multipart else 0)  # multi-part chunks start with the part number
            (y,) = struct.unpack_from("<i", buf, o)
            o += 8  # y, data size
            for name, dtype in channels:
                planes[name][y - dy0, x0 - dx0 : x1 - dx0 + 1] = np.frombuffer(buf, dtype, width, o)
                o += width * dtype.itemsize
        out.update(planes)
    return out
