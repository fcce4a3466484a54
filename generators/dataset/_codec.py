"""Encoding of one sample into tar members and back (pure: no file I/O).

See the package docstring for which array goes to which encoding.
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any, Mapping

import cv2
import numpy as np

from generators.dataset._common import GROUPS, UserError, _key, _one_line
from generators.task import Sample

# zlib level 1 with the run-length strategy: on 256x256 RGB covers this was both the
# fastest and the smallest of levels 0-3 x strategies (noisy: 8 ms/117 KB vs 12 ms/132 KB
# for the default strategy); speed matters more than size (>= 100 samples/s on two cores).
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

# --image-format: how float32 [0, 1] images are stored; everything else stays lossless.
IMAGE_FORMATS = ("png", "webp", "jpeg")
DEFAULT_JPEG_QUALITY = 95
# Lossless WebP by Pillow at the lowest effort (method 0, quality 0): on a 256x256,
# 10-view bookcovers sequence 23% smaller than our PNG at about the same speed; higher
# efforts save at most another 20% for 4-40x the time (OpenCV's WebP encoder has no
# effort knob and took 13x the PNG time).
_WEBP_PARAMS = dict(lossless=True, method=0, quality=0)
# Full-resolution chroma (4:4:4): 4:2:0 capped the views at 32 dB PSNR against the
# 8-bit original whatever the quality (colour edges of covers); 4:4:4 at 95 gives 40 dB.
_JPEG_PARAMS = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
# Largest image side each format can hold; a taller view stack falls back to PNG.
_MAX_SIDE = {"webp": 16383, "jpeg": 65500}


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


def _encode_picture(u8: np.ndarray, image_shape: tuple[int, ...], image_format: str, quality: int) -> bytes:
    """Lossless WebP (Pillow) or JPEG (OpenCV, 4:4:4 at ``quality``) of an 8-bit RGB or gray image."""
    img = u8.reshape(image_shape)
    if image_format == "webp":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="WEBP", **_WEBP_PARAMS)  # gray is stored as RGB
        return buf.getvalue()
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality, *_JPEG_PARAMS])
    if not ok:  # pragma: no cover
        raise UserError(f"OpenCV could not encode a JPEG of shape {image_shape}")
    return buf.tobytes()


def _encode_array(
    a: np.ndarray, *, image_format: str = "png", quality: int = DEFAULT_JPEG_QUALITY
) -> tuple[str, memoryview | bytes, dict]:
    """(extension, bytes, meta) for one array field.

    ``image_format`` ("png", "webp" or "jpeg", the latter at ``quality``)
    applies to float32 [0, 1] images only; masks, uint8 arrays (label maps)
    and everything else keep their lossless encoding.
    """
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
            if image_format != "png" and max(image_shape[:2]) <= _MAX_SIDE[image_format]:
                meta["encoding"] = f"{image_format}8"
                ext = "jpg" if image_format == "jpeg" else image_format
                return ext, _encode_picture(u8, image_shape, image_format, quality), meta
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


def _encode_sample(
    sample: Any, index: int, *, image_format: str = "png", quality: int = DEFAULT_JPEG_QUALITY
) -> list[tuple[str, bytes | memoryview]]:
    """Sorted tar members ``(name, data)`` of one sample (``image_format``, ``quality``: see :func:`_encode_array`)."""
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
                ext, data, meta = _encode_array(a, image_format=image_format, quality=quality)
            except ValueError as e:  # np.save refuses object arrays without pickle
                raise UserError(f"{where}: cannot store dtype {a.dtype}: {_one_line(e)}") from None
            fields[f"{group}.{name}"] = meta
            members.append((f"{key}.{group}.{name}.{ext}", data))
    params = _to_jsonable(getattr(sample, "params", None) or {}, f"sample {index}: params")
    members.append((f"{key}.params.json", json.dumps(params, sort_keys=True, separators=(",", ":")).encode()))
    members.append((f"{key}.meta.json", json.dumps({"fields": fields}, sort_keys=True, separators=(",", ":")).encode()))
    members.sort(key=lambda m: m[0])
    return members


_IMAGE_ENCODINGS = ("png", "png8", "png-bool", "webp8", "jpeg8")


def _decode_array(data: bytes | memoryview, meta: dict, where: str) -> np.ndarray:
    dtype = np.dtype(meta["dtype"])
    shape = tuple(meta["shape"])
    encoding = meta["encoding"]
    if encoding == "npy":
        a = np.load(io.BytesIO(data), allow_pickle=False)
    else:
        if encoding not in _IMAGE_ENCODINGS:
            raise UserError(f"{where}: unknown encoding {encoding!r}; written by a newer RestoreBench?")
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise UserError(f"{where}: {encoding} image cannot be decoded")
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            if img.size != math.prod(shape):  # a gray image stored as RGB (WebP has no gray)
                img = img[..., 0]
        img = img.reshape(shape)
        if encoding in ("png8", "webp8", "jpeg8"):
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
