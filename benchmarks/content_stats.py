"""Natural-image statistics of the content sources: ``python -m benchmarks.content_stats [--n 500] [--size 256]``.

For each source of :mod:`generators.shared.content` (dead leaves, procedural
covers, rendered 3-D scenes) and, as the real reference, the packaged photographs (random crops,
scale 0.35-1, resized to ``--size``, as the tasks crop them), over ``--n``
images drawn with seed 0:

* ``slope``: slope of the radially averaged power spectrum of the luma
  (Hann window, log-log least squares over 0.02-0.35 cycles/px). Natural
  images: about -2 (van der Schaaf and van Hateren 1996 report -1.88 +- 0.43
  for the power spectrum of 276 natural images; Field 1987);
* ``kurtosis``: kurtosis (not excess) of the horizontal derivative of the luma
  (natural images: heavy-tailed, well above the Gaussian's 3; Huang and
  Mumford 1999 report about 10-20 for log-intensity derivatives);
* ``near_dup``: share of image pairs among the ``--n`` whose 64-bit difference
  hashes (dHash of a 9x8 luma thumbnail) differ in at most 6 bits, the usual
  near-duplicate threshold;
* ``distinct``: distinct source images per 1,000 draws (the number of
  different photographs, seeds or files behind them).

Medians and the 10-90 % range are printed per source; the README's "Content
library" table was written from this command's output.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import cv2
import numpy as np

from generators.dataset import add_size_argument
from generators.shared.content import draw_dead_leaves, draw_scene
from generators.shared.covers import draw_procedural_cover, photographs

__all__ = ["spectrum_slope", "gradient_kurtosis", "dhash", "near_duplicate_rate", "main"]


def _luma(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float64) / 255.0) @ np.array([0.299, 0.587, 0.114])


def spectrum_slope(img: np.ndarray) -> float:
    """Log-log slope of the radially averaged power spectrum of ``img``'s luma (uint8 RGB)."""
    y = _luma(img)
    h, w = y.shape
    y = (y - y.mean()) * np.outer(np.hanning(h), np.hanning(w))
    p = np.abs(np.fft.fftshift(np.fft.fft2(y))) ** 2
    fy, fx = np.meshgrid(np.fft.fftshift(np.fft.fftfreq(h)), np.fft.fftshift(np.fft.fftfreq(w)), indexing="ij")
    f = np.hypot(fx, fy)
    edges = np.geomspace(0.02, 0.35, 16)
    idx = np.digitize(f.ravel(), edges)
    ok = (idx > 0) & (idx < len(edges))
    sums = np.bincount(idx[ok], weights=p.ravel()[ok], minlength=len(edges))[1:]
    counts = np.bincount(idx[ok], minlength=len(edges))[1:]
    centres = np.sqrt(edges[1:] * edges[:-1])
    keep = counts > 0
    slope, _ = np.polyfit(np.log(centres[keep]), np.log(sums[keep] / counts[keep]), 1)
    return float(slope)


def gradient_kurtosis(img: np.ndarray) -> float:
    """Kurtosis of the horizontal luma derivative (3 for a Gaussian)."""
    d = np.diff(_luma(img), axis=1).ravel()
    d = d - d.mean()
    v = float(np.mean(d * d))
    return float(np.mean(d**4) / max(v * v, 1e-20))


def dhash(img: np.ndarray) -> int:
    """64-bit difference hash: signs of horizontal differences of a 9x8 luma thumbnail."""
    t = cv2.resize(_luma(img).astype(np.float32), (9, 8), interpolation=cv2.INTER_AREA)
    bits = (t[:, 1:] > t[:, :-1]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def near_duplicate_rate(hashes: Sequence[int], *, max_bits: int = 6) -> float:
    """Share of unordered pairs whose hashes differ in at most ``max_bits`` bits."""
    h = np.array(hashes, dtype=np.uint64)
    n = len(h)
    if n < 2:
        return 0.0
    close = 0
    for i in range(n - 1):
        x = np.bitwise_xor(h[i + 1 :], h[i])
        bits = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
        close += int((bits <= max_bits).sum())
    return close / (n * (n - 1) / 2)


def _photo_crop(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int]:
    photos = photographs()
    k = int(rng.integers(len(photos)))
    img = photos[k]
    sh, sw = img.shape[:2]
    side = max(8, int(rng.uniform(0.35, 1.0) * min(sh, sw)))
    y0, x0 = int(rng.integers(0, sh - side + 1)), int(rng.integers(0, sw - side + 1))
    crop = np.ascontiguousarray(img[y0 : y0 + side, x0 : x0 + side])
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side >= size else cv2.INTER_LINEAR), k


SOURCES = {
    "dead_leaves": lambda rng, size: (draw_dead_leaves(int(rng.integers(2**31 - 1)), (size, size)), None),
    "procedural": lambda rng, size: (draw_procedural_cover(int(rng.integers(2**31 - 1)), (size, size)), None),
    "scene": lambda rng, size: (draw_scene(int(rng.integers(2**31 - 1)), (size, size)), None),
    "photographs (real reference)": _photo_crop,
}


def measure(source: str, *, n: int, size: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    slopes, kurts, hashes, ids = [], [], [], set()
    for i in range(n):
        img, ident = SOURCES[source](rng, size)
        slopes.append(spectrum_slope(img))
        kurts.append(gradient_kurtosis(img))
        hashes.append(dhash(img))
        ids.add(i if ident is None else ident)
    return {"slope": np.percentile(slopes, (10, 50, 90)), "kurtosis": np.percentile(kurts, (10, 50, 90)),
            "near_dup": near_duplicate_rate(hashes), "distinct_per_1000": len(ids) * 1000 / n}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.content_stats", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="images per source (default 500)")
    add_size_argument(p, default="256", sides="32..2048", square=True)
    p.add_argument("--sources", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    args = p.parse_args(argv)
    if args.n < 2 or not 32 <= args.size <= 2048:
        p.error("--n must be >= 2 and --size in 32..2048")
    print(f"| source | n | PSD slope p10/p50/p90 | gradient kurtosis p10/p50/p90 | near-duplicate pairs | "
          f"distinct per 1,000 |\n|---|---|---|---|---|---|")
    for s in args.sources:
        m = measure(s, n=args.n, size=args.size)
        sl, ku = m["slope"], m["kurtosis"]
        print(f"| {s} | {args.n} | {sl[0]:.2f} / {sl[1]:.2f} / {sl[2]:.2f} | {ku[0]:.1f} / {ku[1]:.1f} / {ku[2]:.1f} | "
              f"{100 * m['near_dup']:.3f} % | {m['distinct_per_1000']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
