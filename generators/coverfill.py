"""coverfill: inpaint the missing regions of a book cover.

A single-image inpainting task that scores the inpainting baselines
(Navier-Stokes, Telea, PatchMatch, nearest fill) on the suite's procedural
covers: the clean cover is the target; the input is the cover with a hole
mask made of free-form brush strokes and rectangles (Yu et al. 2019-style
free-form masks aiming at 5-25 % of the pixels; the fraction reached is
recorded in ``params["hole_fraction"]``), masked pixels set to 0. This is
formation version ``FORMATION_VERSION`` (1), recorded in the task's and every
sample's ``params["version"]`` (since issue 22; older datasets record none,
which reads as 0, and the writer will not extend them).

``python -m generators.coverfill --n N --out DIR [--size 128]`` writes a
dataset through the shared writer.
"""

from __future__ import annotations

import argparse
import functools

import cv2
import numpy as np

from generators.metrics import mse, psnr, ssim
from generators.shared.covers import draw_procedural_cover
from generators.dataset import UserError, add_dataset_arguments, add_size_argument, run_cli
from generators.task import Sample, Task

NAME = "coverfill"
# Per-image PSNR is capped at 100 dB: above the PSNR of a single one-step (1/255) error in a 128x128x3 image
# (95.0 dB), so only fills exact to float precision reach it. Nearest fill and PatchMatch reproduce a hole on a
# flat region exactly (3 of the 900 published images: PSNR inf, which made their means and differences inf);
# Navier-Stokes and Telea land there at 106-152 dB.
PSNR_MAX_DB = 100.0
FORMATION_VERSION = 1  # bump when the same parameters make other samples (module docstring)
HOLE_FRACTION = (0.05, 0.25)  # of all pixels
_MAX_STROKES = 10


def sample_mask_params(rng: np.random.Generator, size: tuple[int, int]) -> dict:
    """Sample a free-form hole: strokes (polylines with width) and boxes.

    Coordinates are in pixels of an image of ``size`` = (H, W). The target
    hole fraction is drawn first; strokes and boxes are added in
    :func:`draw_mask` until it is reached (or the parameter list runs out).
    """
    h, w = size
    strokes = []
    for _ in range(int(rng.integers(3, _MAX_STROKES + 1))):
        n = int(rng.integers(2, 6))
        start = rng.uniform([0, 0], [w, h])
        steps = rng.normal(0, 0.2 * min(h, w), size=(n - 1, 2))
        pts = np.vstack([start, start + np.cumsum(steps, axis=0)])
        strokes.append({"points": np.clip(pts, 0, [w - 1, h - 1]).round().astype(int).tolist(),
                        "width": int(rng.integers(max(2, min(h, w) // 40), max(3, min(h, w) // 10)))})
    boxes = []
    for _ in range(int(rng.integers(0, 3))):
        bh, bw = rng.uniform(0.08, 0.3, size=2) * (h, w)
        y0, x0 = rng.uniform(0, 1, size=2) * (h - bh, w - bw)
        boxes.append([int(y0), int(x0), int(y0 + bh), int(x0 + bw)])
    return {"size": [h, w], "fraction": float(rng.uniform(*HOLE_FRACTION)), "strokes": strokes, "boxes": boxes}


def draw_mask(params: dict) -> np.ndarray:
    """Rasterise mask parameters into a bool (H, W) hole, True = missing.

    Strokes and boxes are drawn in order until the hole covers
    ``params["fraction"]`` of the image; at least one pixel stays known.
    """
    h, w = params["size"]
    mask = np.zeros((h, w), np.uint8)
    shapes = [("box", b) for b in params["boxes"]] + [("stroke", s) for s in params["strokes"]]
    for kind, shape in shapes:
        if mask.mean() >= params["fraction"]:
            break
        if kind == "box":
            y0, x0, y1, x1 = shape
            mask[y0:y1, x0:x1] = 1
        else:
            pts = np.asarray(shape["points"], np.int32).reshape(-1, 1, 2)
            cv2.polylines(mask, [pts], False, 1, thickness=shape["width"], lineType=cv2.LINE_8)
    if mask.all():
        mask[0, 0] = 0
    return mask.astype(bool)


def make_sample(rng: np.random.Generator, *, size: tuple[int, int] = (128, 128)) -> Sample:
    """One cover with a free-form hole: inputs {"image", "mask"}, target {"clean"}."""
    cover_seed = int(rng.integers(0, 2**31 - 1))
    clean = draw_procedural_cover(cover_seed, tuple(size)).astype(np.float32) / 255.0
    mask_params = sample_mask_params(rng, tuple(size))
    mask = draw_mask(mask_params)
    image = clean.copy()
    image[mask] = 0.0
    return Sample(
        inputs={"image": image, "mask": mask},
        target={"clean": clean},
        params={"version": FORMATION_VERSION, "cover_seed": cover_seed, "mask": mask_params, "hole_fraction": float(mask.mean())},
    )


def make_task(*, size: int = 128) -> Task:
    """The coverfill task at ``size`` x ``size`` pixels (64..1024)."""
    if not 64 <= int(size) <= 1024:
        raise ValueError(f"size must lie in 64..1024, got {size}")
    hw = (int(size), int(size))
    return Task(
        name=NAME,
        make_sample=functools.partial(make_sample, size=hw),
        # Whole-image scores: methods leave known pixels untouched, so the
        # differences between methods come from the hole alone.
        metrics={"psnr": functools.partial(psnr, max_db=PSNR_MAX_DB), "ssim": ssim, "mse": mse},
        input_kind="image+mask",
        target_key="clean",
        test_size=40,
        test_seed=1_000_003,
        quick_size=8,
        params={"version": FORMATION_VERSION, "size": list(hw), "hole_fraction": list(HOLE_FRACTION)},
        higher_is_better={"psnr": True, "ssim": True, "mse": False},
    )


TASK = make_task()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.coverfill", description=__doc__.splitlines()[0])
    add_size_argument(parser, default="128", sides="64..1024", square=True)
    add_dataset_arguments(parser)

    def build(args: argparse.Namespace):
        try:
            task = make_task(size=args.size)
        except ValueError as err:
            raise UserError(str(err)) from None
        return task.make_sample, dict(task.params)

    return run_cli(parser, build, argv, generator=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
