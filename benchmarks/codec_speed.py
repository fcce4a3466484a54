"""Speed and size of the image encoders the dataset writer could use: ``python -m benchmarks.codec_speed``.

Renders real samples once (bookcovers 256x256 views, shading, specular maps and
occlusion masks; caption frames 128x128; fingerprint images 275x400 grey of
both presets; roadseg label maps 800x600, unless ``--no-roadseg``), quantises
them to 8 bits as the writer does, and for every encoder below reports per image
the encode and decode time (CPU time of one thread, the best of ``--repeat``
runs: robust on a shared machine, but not a wall-clock rate), the mean size, and
whether the decoded pixels equal the original 8-bit values. Encoders that the
writer uses run through :mod:`generators.dataset._codec` itself, so what is
measured is what is written.

Candidates (issue 27): OpenCV PNG at zlib level 1 with the run-length strategy
(the writer's PNG before issue 27); imagecodecs ``png_encode`` at level 1 with
run-length or Huffman-only strategies and a fixed filter (the default is RLE +
UP); JPEG XL lossless at effort 1 (``--image-format jxl``); QOI (RGB only);
lossless WebP by Pillow at method 0 (``--image-format webp``); JPEG quality 95,
4:4:4 (``--image-format jpeg``, lossy). The table it printed is in the README
("Data format").
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, Sequence

import numpy as np

from generators.dataset import _codec

__all__ = ["render_images", "measure", "main"]


def _u8(a: np.ndarray) -> np.ndarray:
    return np.rint(a * np.float32(255)).astype(np.uint8)  # the writer's quantisation


def render_images(*, roadseg: bool = True) -> dict[str, list[np.ndarray]]:
    """8-bit images of each kind the generators write, from sample 1 of seed 0."""
    from generators import bookcovers, captions, fingerprints
    from generators.task import sample_rng

    rng = lambda: sample_rng(0, 1)  # noqa: E731
    bc = bookcovers.make_task(views=10, size=256).make_sample(rng())
    cap = captions.make_task(frames=8, size=128).make_sample(rng())
    fp = [task.make_sample(rng()) for task in (fingerprints.TASK, fingerprints.SENSOR_TASK)]
    images = {
        "bookcovers view 256x256 RGB": [_u8(v) for v in bc.inputs["views"]],
        "bookcovers shading 256x256 RGB": [_u8(v) for v in bc.extras["shading"]],
        "bookcovers specular 256x256 RGB": [_u8(v) for v in bc.extras["specular"]],
        "bookcovers occlusion mask 256x256": [m.view(np.uint8) * np.uint8(255) for m in bc.extras["occlusion"]],
        "captions frame 128x128 RGB": [_u8(v) for v in cap.inputs["video"]],
        "fingerprint 275x400 grey": [_u8(s.inputs["image"][..., 0]) for s in fp],
    }
    if roadseg:
        from generators import roadseg as rs

        s = rs.make_task(size=(600, 800)).make_sample(rng())
        images["roadseg label map 800x600"] = [s.inputs["labels"], s.target["labels"]]
    return images


def _imagecodecs_png(strategy: str, filter: str) -> Callable[[np.ndarray], bytes]:
    ic = _codec._imagecodecs()
    return lambda x: ic.png_encode(x, level=1, strategy=ic.PNG.STRATEGY[strategy], filter=ic.PNG.FILTER[filter])


def _encoders() -> dict[str, Callable[[np.ndarray], bytes | None]]:
    ic = _codec._imagecodecs()
    writer = lambda fmt: lambda x: _codec._encode_picture(x, x.shape, fmt, _codec.DEFAULT_JPEG_QUALITY)  # noqa: E731
    return {
        "png opencv L1 RLE (before)": lambda x: bytes(_codec._encode_png(x, x.shape, "opencv")),
        "png imagecodecs L1 RLE UP (default)": lambda x: _codec._encode_png(x, x.shape, "imagecodecs"),
        "png imagecodecs L1 RLE PAETH": _imagecodecs_png("RLE", "PAETH"),
        "png imagecodecs L1 RLE SUB": _imagecodecs_png("RLE", "SUB"),
        "png imagecodecs L1 Huffman UP": _imagecodecs_png("HUFFMAN_ONLY", "UP"),
        "png imagecodecs L1 Huffman SUB": _imagecodecs_png("HUFFMAN_ONLY", "SUB"),
        "jxl lossless effort 1": writer("jxl"),
        "qoi": lambda x: ic.qoi_encode(x) if x.ndim == 3 else None,  # RGB(A) only
        "webp lossless method 0 (Pillow)": writer("webp"),
        "jpeg q95 4:4:4 (lossy)": writer("jpeg"),
    }


def _decode(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """The reader's own decoding (format sniffed from the bytes) as 8-bit values of ``shape``."""
    if data[:4] == b"qoif":
        return _codec._imagecodecs().qoi_decode(data)
    return _codec._decode_image(data, "png", shape, "codec_speed")


def _best_cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best * 1e3


def measure(images: dict[str, list[np.ndarray]], *, repeat: int = 5) -> list[dict]:
    """One row per (image kind, encoder): ``encode_ms``, ``decode_ms``, ``kib``, ``same_pixels``."""
    import cv2

    cv2.setNumThreads(1)
    rows = []
    for kind, imgs in images.items():
        for name, encode in _encoders().items():
            blobs = [encode(x) for x in imgs]
            if blobs[0] is None:
                continue
            blobs = [bytes(b) for b in blobs]
            same = all(np.array_equal(_decode(b, x.shape), x) for x, b in zip(imgs, blobs))
            rows.append({
                "kind": kind,
                "encoder": name,
                "encode_ms": float(np.mean([_best_cpu_ms(lambda: encode(x), repeat) for x in imgs])),
                "decode_ms": float(np.mean([_best_cpu_ms(lambda: _decode(b, x.shape), repeat)
                                            for x, b in zip(imgs, blobs)])),
                "kib": float(np.mean([len(b) for b in blobs])) / 1024,
                "same_pixels": bool(same),
            })  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.codec_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per image; the best counts (default 5)")
    parser.add_argument("--no-roadseg", action="store_true", help="skip the roadseg label maps (an OpenGL render)")
    args = parser.parse_args(argv)
    rows = measure(render_images(roadseg=not args.no_roadseg), repeat=args.repeat)
    print("| image | encoder | encode ms | vs before | decode ms | KiB | vs before | same pixels |")
    print("|---|---|---|---|---|---|---|---|")
    base = {}
    for r in rows:
        b = base.setdefault(r["kind"], r)
        print(f"| {r['kind']} | {r['encoder']} | {r['encode_ms']:.2f} | {b['encode_ms'] / r['encode_ms']:.1f}x | "
              f"{r['decode_ms']:.2f} | {r['kib']:.1f} | {100 * (r['kib'] / b['kib'] - 1):+.0f}% | "
              f"{'yes' if r['same_pixels'] else 'no'} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
