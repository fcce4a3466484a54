"""Encoding of one sample into tar members and back (pure: no file I/O).

See the package docstring for which array goes to which encoding.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
from typing import Any, Callable, Mapping

import cv2
import numpy as np

from generators.dataset._common import GROUPS, UserError, _key, _one_line
from generators.task import Sample

# PNG encoders, by the name a shard job carries; the manifest records the options
# (``"encoders"``, see :func:`encoders_record`). Measured on 256x256 renders (issue 27,
# ``python -m benchmarks.codec_speed``): imagecodecs at zlib level 1, run-length strategy
# and the fixed UP filter encodes 1.8-2.4x faster than OpenCV at level 1 / RLE (whose
# adaptive filter choice, not deflate, is the cost) for 7-9% more bytes on covers, and
# 4-5x faster on masks and label maps. Both write standard PNG: any decoder gives the same
# pixels. "opencv" is what every dataset without an "encoders" record was written with;
# it is kept to finish and extend such datasets byte for byte.
PNG_ENCODERS = {
    "imagecodecs": {"library": "imagecodecs", "level": 1, "strategy": "rle", "filter": "up"},
    "opencv": {"library": "opencv", "level": 1, "strategy": "rle"},
}
DEFAULT_PNG_ENCODER = "imagecodecs"
LEGACY_PNG_ENCODER = "opencv"  # datasets whose manifest records no encoders
_OPENCV_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

# --image-format: how float32 [0, 1] images are stored; everything else stays lossless.
IMAGE_FORMATS = ("png", "jxl", "webp", "jpeg")
LOSSLESS_FORMATS = ("png", "jxl", "webp")
DEFAULT_JPEG_QUALITY = 95
# Lossless JPEG XL by imagecodecs (libjxl) at effort 1, one thread: the fastest lossless
# encoder here (2-3.5x faster than the PNG above on renders, 10-30% more bytes, decoding
# 2x slower than PNG); gray stays gray.
_JXL_PARAMS = dict(lossless=True, effort=1, numthreads=1)
# Lossless WebP by Pillow at the lowest effort (method 0, quality 0): on a 256x256,
# 10-view bookcovers sequence 23% smaller than our PNG at about the same speed; higher
# efforts save at most another 20% for 4-40x the time (OpenCV's WebP encoder has no
# effort knob and took 13x the PNG time).
_WEBP_PARAMS = dict(lossless=True, method=0, quality=0)
# Full-resolution chroma (4:4:4): 4:2:0 capped the views at 32 dB PSNR against the
# 8-bit original whatever the quality (colour edges of covers); 4:4:4 at 95 gives 40 dB.
_JPEG_PARAMS = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
# Largest image side each format can hold; a larger image (or a tiled stack, format
# versions 1 and 2) falls back to PNG.
_MAX_SIDE = {"webp": 16383, "jpeg": 65500, "jxl": 1 << 30}
# Meta key of a stack stored frame by frame (format version 3): T + 1 byte offsets into
# the member, frame t being bytes [offsets[t], offsets[t + 1]).
FRAME_OFFSETS = "frame_offsets"
# The encoding (meta "encoding") of a float image in each format; the file extension.
_FLOAT_ENCODING = {"png": "png8", "jxl": "jxl8", "webp": "webp8", "jpeg": "jpeg8"}
_EXT = {"png": "png", "jxl": "jxl", "webp": "webp", "jpeg": "jpg"}
_IMAGECODECS_PIN = "imagecodecs==2026.1.14"


def encoders_record(image_format: str, quality: int, png_encoder: str = DEFAULT_PNG_ENCODER) -> dict:
    """The manifest's ``"encoders"``: library and options of every encoder a dataset uses.

    PNG is always there (masks and label maps are PNG whatever ``image_format``);
    the image format's own encoder is added when it is not PNG.
    """
    record = {"png": dict(PNG_ENCODERS[png_encoder])}
    if image_format == "jxl":
        record["jxl"] = {"library": "imagecodecs", "lossless": True, "effort": _JXL_PARAMS["effort"]}
    elif image_format == "webp":
        record["webp"] = {"library": "pillow", "lossless": True, "method": 0, "quality": 0}
    elif image_format == "jpeg":
        record["jpeg"] = {"library": "opencv", "quality": quality, "chroma": "4:4:4"}
    return record


@functools.lru_cache(maxsize=None)
def _imagecodecs():
    """The imagecodecs module (imported on first use: spawned readers may never need it)."""
    import imagecodecs

    return imagecodecs


def check_encoders(image_format: str, png_encoder: str = DEFAULT_PNG_ENCODER) -> None:
    """Raise :class:`UserError` (one line) when a library the chosen encoders need is missing."""
    needs = []
    if png_encoder == "imagecodecs":
        needs.append(("PNG", "PNG"))
    if image_format == "jxl":
        needs.append(("JPEGXL", "--image-format jxl"))
    for codec, what in needs:
        try:
            available = bool(getattr(_imagecodecs(), codec).available)
        except ImportError as e:
            raise UserError(f"{what} needs the imagecodecs package ({_one_line(e)}); "
                            f"install it with pip install '{_IMAGECODECS_PIN}'") from None  # fmt: skip
        except AttributeError:
            available = False
        if not available:
            raise UserError(f"{what} needs imagecodecs built with {codec} support; "
                            f"install the pinned wheel with pip install '{_IMAGECODECS_PIN}'")  # fmt: skip


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
    """The 2-D (gray) or 3-D (H, W, C) image a PNG holds for an array of ``shape``, or None.

    A stack (4-D, or a 3-D stack of masks) is tiled vertically into one ``(T*H, W[, 3])``
    image: the layout of format versions 1 and 2 (see :func:`_frame_layout` for version 3).
    """
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


def _frame_layout(shape: tuple[int, ...], *, stack_3d: bool) -> tuple[int, tuple[int, ...]] | None:
    """``(T, frame image shape)`` when an array of ``shape`` is a stack stored frame by frame, else None.

    Stacks are what :func:`_png_image_shape` tiles: ``(T, H, W, C)`` with C in {1, 3}
    and, for masks (``stack_3d``), ``(T, H, W)`` with W not in {1, 3}.
    """
    if 0 in shape:
        return None
    if len(shape) == 4 and shape[3] in (1, 3):
        return shape[0], (shape[1], shape[2]) if shape[3] == 1 else shape[1:]
    if len(shape) == 3 and shape[2] not in (1, 3) and stack_3d:
        return shape[0], shape[1:]
    return None


def _quantise(a: np.ndarray) -> np.ndarray:
    """``round(a * 255)`` as uint8 (round half to even, float32 product): the stored 8-bit values.

    The same operations as ``np.rint(a * np.float32(255)).astype(np.uint8)``, with one
    temporary instead of two: on a 10x256x256x3 stack 1 ms instead of 4 (fresh pages of
    a second large temporary cost more than the arithmetic).
    """
    buf = np.multiply(a, np.float32(255), dtype=np.float32)
    np.rint(buf, out=buf)
    return buf.astype(np.uint8)


def _encode_png(u8: np.ndarray, image_shape: tuple[int, ...], png_encoder: str = DEFAULT_PNG_ENCODER
                ) -> memoryview | bytes:  # fmt: skip
    img = u8.reshape(image_shape)
    if png_encoder == "imagecodecs":  # it takes C-contiguous arrays only (a no-op for the writer's own)
        img = np.ascontiguousarray(img)
        return _imagecodecs().png_encode(img, level=1, strategy=3, filter=32)  # RLE, UP (PNG_ENCODERS)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, _OPENCV_PNG_PARAMS)
    if not ok:  # pragma: no cover - OpenCV only fails on unsupported layouts, excluded above
        raise UserError(f"OpenCV could not encode an image of shape {image_shape}")
    return memoryview(buf.reshape(-1))


def _encode_picture(u8: np.ndarray, image_shape: tuple[int, ...], image_format: str, quality: int) -> bytes:
    """Lossless JPEG XL (imagecodecs), lossless WebP (Pillow) or JPEG (OpenCV, 4:4:4 at
    ``quality``) of an 8-bit RGB or gray image."""
    img = u8.reshape(image_shape)
    if image_format == "jxl":
        return _imagecodecs().jpegxl_encode(np.ascontiguousarray(img), **_JXL_PARAMS)
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


class _SameImages:
    """The images of one sample encoded so far, by content: an image equal to one already
    encoded reuses its bytes (an encoder is a pure function of the pixels, so the output
    is unchanged). Captioned clips repeat their clean frames wherever no caption shows
    (a quarter of the frames); a target cut from a stack repeats one of its frames."""

    def __init__(self) -> None:
        self._seen: dict[tuple, list[tuple[np.ndarray, bytes | memoryview]]] = {}

    def encode(self, encode: Callable, ext: str, img: np.ndarray, image_shape: tuple[int, ...]) -> bytes | memoryview:
        key = (ext, img.shape, image_shape, hash(img.reshape(-1)[::97].tobytes()))  # equality is checked in full
        for other, data in self._seen.get(key, ()):
            if np.array_equal(other, img):
                return data
        data = encode(img, image_shape)
        self._seen.setdefault(key, []).append((img, data))
        return data


def _encode_images(u8: np.ndarray, image_shape: tuple[int, ...], frames: int | None,
                   encode: Callable[[np.ndarray, tuple[int, ...]], bytes | memoryview],
                   ext: str, meta: dict, same: _SameImages | None = None
                   ) -> tuple[str, bytes | memoryview, dict]:  # fmt: skip
    """One image (``frames`` None) or ``frames`` images concatenated, offsets in ``meta``."""
    if same is not None:
        encode = functools.partial(same.encode, encode, ext)
    if frames is None:
        return ext, encode(u8, image_shape), meta
    parts = [encode(u8[t], image_shape) for t in range(frames)]
    offsets = np.cumsum([0] + [len(p) for p in parts]).tolist()
    return ext + "s", b"".join(parts), {**meta, FRAME_OFFSETS: offsets}


def _encode_array(
    a: np.ndarray, *, image_format: str = "png", quality: int = DEFAULT_JPEG_QUALITY, per_frame: bool = True,
    png_encoder: str = DEFAULT_PNG_ENCODER, same: _SameImages | None = None,
) -> tuple[str, memoryview | bytes, dict]:
    """(extension, bytes, meta) for one array field.

    ``image_format`` ("png", "jxl", "webp" or "jpeg", the latter at ``quality``)
    applies to float32 [0, 1] images only; masks, uint8 arrays (label maps)
    and everything else keep their lossless encoding (PNG by ``png_encoder``,
    a key of :data:`PNG_ENCODERS`, or npy). A stack of images (views, video
    frames, masks) is stored frame by frame (``per_frame``, format version 3:
    the T encoded images concatenated, extension ``pngs``/``jxls``/``webps``/
    ``jpgs``, byte offsets in ``meta["frame_offsets"]``) or, with
    ``per_frame=False``, tiled into one tall image (format versions 1 and 2).
    ``same`` (one per sample) lets an image equal to one encoded before reuse its bytes.
    """
    meta = {"dtype": a.dtype.str, "shape": list(a.shape)}
    stack_3d = a.dtype == np.bool_
    layout = _frame_layout(a.shape, stack_3d=stack_3d) if per_frame else None
    frames, image_shape = (None, None) if layout is None else layout
    png = functools.partial(_encode_png, png_encoder=png_encoder)
    if a.dtype == np.float32:
        if image_shape is None:
            image_shape = _png_image_shape(a.shape, allow_2d=False, stack_3d=False)
        if image_shape is not None:
            lo, hi = float(a.min()), float(a.max())  # NaN fails both comparisons
            if not (lo >= 0.0 and hi <= 1.0):
                image_shape = None
        if image_shape is not None:
            u8 = _quantise(a)
            if image_format != "png" and max(image_shape[:2]) <= _MAX_SIDE[image_format]:
                meta["encoding"] = _FLOAT_ENCODING[image_format]
                encode = functools.partial(_encode_picture, image_format=image_format, quality=quality)
                return _encode_images(u8, image_shape, frames, encode, _EXT[image_format], meta, same)
            meta["encoding"] = "png8"
            return _encode_images(u8, image_shape, frames, png, "png", meta, same)
    elif a.dtype == np.bool_:
        if image_shape is None:
            image_shape = _png_image_shape(a.shape, allow_2d=True, stack_3d=True)
        if image_shape is not None:
            meta["encoding"] = "png-bool"
            return _encode_images(a.view(np.uint8) * np.uint8(255), image_shape, frames, png, "png", meta, same)
    elif a.dtype == np.uint8:
        if image_shape is None:
            image_shape = _png_image_shape(a.shape, allow_2d=True, stack_3d=False)
        if image_shape is not None:
            meta["encoding"] = "png"
            return _encode_images(a, image_shape, frames, png, "png", meta, same)
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    meta["encoding"] = "npy"
    return "npy", buf.getbuffer(), meta


def _encode_sample(
    sample: Any, index: int, *, image_format: str = "png", quality: int = DEFAULT_JPEG_QUALITY, per_frame: bool = True,
    png_encoder: str = DEFAULT_PNG_ENCODER,
) -> list[tuple[str, bytes | memoryview]]:
    """Sorted tar members ``(name, data)`` of one sample (the options: see :func:`_encode_array`)."""
    if not all(hasattr(sample, g) for g in GROUPS):
        raise UserError(f"make_sample returned a {type(sample).__name__} for sample {index}, expected a Sample")
    key = _key(index)
    members: list[tuple[str, bytes | memoryview]] = []
    fields: dict[str, dict] = {}
    same = _SameImages()
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
                ext, data, meta = _encode_array(a, image_format=image_format, quality=quality, per_frame=per_frame,
                                                png_encoder=png_encoder, same=same)
            except ValueError as e:  # np.save refuses object arrays without pickle
                raise UserError(f"{where}: cannot store dtype {a.dtype}: {_one_line(e)}") from None
            fields[f"{group}.{name}"] = meta
            members.append((f"{key}.{group}.{name}.{ext}", data))
    params = _to_jsonable(getattr(sample, "params", None) or {}, f"sample {index}: params")
    members.append((f"{key}.params.json", json.dumps(params, sort_keys=True, separators=(",", ":")).encode()))
    members.append((f"{key}.meta.json", json.dumps({"fields": fields}, sort_keys=True, separators=(",", ":")).encode()))
    members.sort(key=lambda m: m[0])
    return members


_IMAGE_ENCODINGS = ("png", "png8", "png-bool", "jxl8", "webp8", "jpeg8")
_FLOAT_ENCODINGS = ("png8", "jxl8", "webp8", "jpeg8")


def _sniff(data: bytes | memoryview) -> str | None:
    """The file format of an encoded image from its magic bytes: png, jpeg, webp, jxl or None."""
    head = bytes(memoryview(data)[:12])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"\xff\x0a") or head == b"\x00\x00\x00\x0cJXL \r\n\x87\n":  # codestream or container
        return "jxl"
    return None


def _decode_image(data: bytes | memoryview, encoding: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    """One encoded image as an array of ``shape`` (the stored dtype: float32, bool or uint8).

    The file format is read from the image's magic bytes, not from ``encoding``
    (which says how the 8-bit values map to the stored dtype): PNG, JPEG and WebP
    are decoded by OpenCV, JPEG XL by imagecodecs.
    """
    if encoding not in _IMAGE_ENCODINGS:
        raise UserError(f"{where}: unknown encoding {encoding!r}; written by a newer RestoreBench?")
    kind = _sniff(data)
    if kind is None:
        raise UserError(f"{where}: {encoding} image cannot be decoded (not a PNG, JPEG XL, WebP or JPEG file)")
    if kind == "jxl":
        try:
            img = _imagecodecs().jpegxl_decode(data)
        except ImportError as e:
            raise UserError(f"{where}: a JPEG XL image needs the imagecodecs package ({_one_line(e)}); "
                            f"install it with pip install '{_IMAGECODECS_PIN}'") from None  # fmt: skip
        except Exception as e:  # imagecodecs raises its own JpegxlError
            raise UserError(f"{where}: {encoding} image cannot be decoded ({_one_line(e)})") from None
    else:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise UserError(f"{where}: {encoding} image cannot be decoded")
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.ndim == 3 and img.size != math.prod(shape):  # a gray image stored as RGB (WebP has no gray)
        img = img[..., 0]
    if img.size != math.prod(shape):
        raise UserError(f"{where}: decoded an image of shape {img.shape}, expected {math.prod(shape)} values")
    img = img.reshape(shape)
    if encoding in _FLOAT_ENCODINGS:
        return img.astype(np.float32) / np.float32(255)
    if encoding == "png-bool":
        return img > 127
    return img


def _frame_offsets(data: bytes | memoryview, meta: dict, where: str) -> list[int]:
    offsets = meta[FRAME_OFFSETS]
    if len(offsets) != meta["shape"][0] + 1 or offsets[0] != 0 or offsets[-1] != len(data):
        raise UserError(f"{where}: frame offsets do not match the member's {len(data)} bytes")
    return offsets


def _decode_frame(data: bytes | memoryview, meta: dict, t: int, where: str) -> np.ndarray:
    """Frame ``t`` (0 <= t < T) of a stack stored frame by frame: decodes that frame only.

    ``data`` is the whole member, or the bytes from its start to at least the frame's end.
    """
    offsets = meta[FRAME_OFFSETS]
    return _decode_image(memoryview(data)[offsets[t] : offsets[t + 1]], meta["encoding"],
                         tuple(meta["shape"][1:]), f"{where} frame {t}")  # fmt: skip


def _decode_array(data: bytes | memoryview, meta: dict, where: str) -> np.ndarray:
    dtype = np.dtype(meta["dtype"])
    shape = tuple(meta["shape"])
    encoding = meta["encoding"]
    if encoding == "npy":
        a = np.load(io.BytesIO(data), allow_pickle=False)
    elif FRAME_OFFSETS in meta:  # format version 3: one image per frame
        _frame_offsets(data, meta, where)
        a = np.empty(shape, dtype)
        for t in range(shape[0]):
            a[t] = _decode_frame(data, meta, t, where)
    else:  # one image; a stack tiled vertically (format versions 1 and 2)
        a = _decode_image(data, encoding, shape, where)
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
