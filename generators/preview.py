"""Render a picture grid of a task's samples: inputs, target and extras.

    python -m generators.preview reflections --out grid.jpg [--n 4] [--seed 0] [--size 128 | WxH]

One row per sample; columns are the sample's arrays in the order inputs,
target, extras. Stacks (N, H, W, C) show their first, middle and last item;
label maps use the task's class table; bool masks are black/white; flows
(H, W, 2) use the usual hue = direction, saturation = magnitude coding;
single-channel float maps are scaled to their own range. Each column is
headed by its name. Used for the grids in the README (look before you ship).
"""

from __future__ import annotations

import argparse
import importlib

import cv2
import numpy as np

from generators.task import LabelClass, Sample, sample_rng

__all__ = ["sample_tiles", "render_grid", "main"]


def _flow_rgb(flow: np.ndarray) -> np.ndarray:
    f = flow.astype(np.float32)
    mag, ang = cv2.cartToPolar(f[..., 0], f[..., 1])
    hsv = np.zeros((*f.shape[:2], 3), np.uint8)
    hsv[..., 0] = (ang * 90 / np.pi).astype(np.uint8)
    hsv[..., 1] = np.clip(mag / max(1e-6, float(mag.max())) * 255, 0, 255).astype(np.uint8)
    hsv[..., 2] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _to_rgb(a: np.ndarray, classes: tuple[LabelClass, ...]) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.bool_:
        return np.repeat(np.where(a, 255, 0).astype(np.uint8)[..., None], 3, -1)
    if a.ndim == 2 and np.issubdtype(a.dtype, np.integer):
        pal = np.full((256, 3), 255, np.uint8)
        pal[:255, 1] = 0  # ids outside the table: magenta; 255 (unknown): white
        for c in classes:
            pal[c.id] = c.color
        if not classes:
            pal = np.random.default_rng(7).integers(40, 256, (256, 3)).astype(np.uint8)
        return pal[np.clip(a, 0, 255)]
    if a.ndim == 3 and a.shape[2] == 2:
        return _flow_rgb(a)
    x = a.astype(np.float32)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        lo, hi = float(x.min()), float(x.max())
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
        x = np.repeat(x[..., None], 3, -1)
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def _is_stack(a: np.ndarray) -> bool:
    """A stack of images or maps: (N, H, W, C), or (N, H, W) whose last axis is not a channel axis."""
    return a.ndim == 4 or (a.ndim == 3 and (a.dtype == np.bool_ or a.shape[2] not in (1, 2, 3)))


def sample_tiles(sample: Sample, classes: tuple[LabelClass, ...] = ()) -> list[tuple[str, np.ndarray]]:
    """``(label, RGB uint8 tile)`` for every array of ``sample``."""
    tiles = []
    for group, arrays in (("in", sample.inputs), ("target", sample.target), ("extra", sample.extras)):
        for key, a in arrays.items():
            a = np.asarray(a)
            if a.ndim < 2:  # a vector (e.g. snow's airlight colour) is not a picture
                continue
            if _is_stack(a):
                n = a.shape[0]
                for i in sorted({0, n // 2, n - 1}):
                    tiles.append((f"{group}:{key}[{i}]", _to_rgb(a[i], classes)))
            else:
                tiles.append((f"{group}:{key}", _to_rgb(a, classes)))
    return tiles


def render_grid(samples: list[Sample], classes: tuple[LabelClass, ...] = (), *, tile: int = 128) -> np.ndarray:
    """One row per sample, a header row of column names; RGB uint8."""
    rows = [sample_tiles(s, classes) for s in samples]
    names = [n for n, _ in rows[0]]
    width = len(names)

    def fit(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        s = tile / max(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
                         if s < 1 else cv2.INTER_NEAREST)
        out = np.full((tile, tile, 3), 255, np.uint8)
        out[: img.shape[0], : img.shape[1]] = img
        return out

    header = np.full((18, width * (tile + 2), 3), 255, np.uint8)
    for j, name in enumerate(names):
        cv2.putText(header, name[:22], (j * (tile + 2) + 2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1,
                    cv2.LINE_AA)
    body = []
    for r in rows:
        cells = [np.pad(fit(img), ((1, 1), (1, 1), (0, 0)), constant_values=255) for _, img in r[:width]]
        cells += [np.full((tile + 2, tile + 2, 3), 255, np.uint8)] * (width - len(cells))
        body.append(np.concatenate(cells, 1))
    return np.concatenate([header, *body], 0)


def _size_argument(make_task, size: tuple[int, int] | None) -> dict:
    """``make_task``'s ``size`` keyword for a ``(width, height)`` from the command line.

    Tasks whose default size is a tuple take ``(height, width)``; the others take one side
    (and the square-only ones refuse a non-square size themselves).
    """
    if size is None:
        return {}
    import inspect

    w, h = size
    parameter = inspect.signature(make_task).parameters.get("size")
    if parameter is None:
        raise ValueError(f"{make_task.__module__} takes no size")
    default = parameter.default
    return {"size": (h, w) if isinstance(default, tuple) or w != h else w}


def main(argv: list[str] | None = None) -> int:
    from generators.dataset import parse_size

    p = argparse.ArgumentParser(prog="python -m generators.preview", description=__doc__.splitlines()[0])
    p.add_argument("task", help="generator module under generators/, e.g. reflections")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=parse_size, default=None, help="image size, N or WxH (the task's default if not given)")
    p.add_argument("--tile", type=int, default=128)
    args = p.parse_args(argv)
    try:
        mod = importlib.import_module(f"generators.{args.task}")
    except ModuleNotFoundError:
        p.error(f"no generator module generators.{args.task}")
    try:
        task = mod.make_task(**_size_argument(mod.make_task, args.size))
    except TypeError:  # a one-side size keyword given a (height, width) pair
        p.error(f"--size: generators.{args.task} makes square images: give N or NxN")
    except ValueError as e:
        p.error(f"--size: {e}")
    samples = [task.make_sample(sample_rng(args.seed, i)) for i in range(args.n)]
    grid = render_grid(samples, task.classes, tile=args.tile)
    ok = cv2.imwrite(args.out, grid[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        print(f"error: cannot write {args.out}", flush=True)
        return 1
    print(f"{args.out}: {len(samples)} samples x {grid.shape[1] // (args.tile + 2)} columns")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
