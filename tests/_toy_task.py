"""A tiny task for the dataset tests: module-level functions so that they pickle.

Every array kind the writer distinguishes appears once: a float32 RGB image, a
float32 view stack, a greyscale (H, W, 1) image, a bool mask, a uint8 image,
an int32 label map and a float array outside [0, 1] (both stored as .npy).
"""

from __future__ import annotations

import time

import numpy as np

from generators.task import Sample

H, W = 12, 10


def make_toy_sample(rng: np.random.Generator, *, size: int = H, delay: float = 0.0, fail: bool = False) -> Sample:
    """One random toy sample; ``delay`` seconds of sleep make it slow, ``fail`` makes it raise."""
    if delay:
        time.sleep(delay)
    h, w = size, W
    index_hint = int(rng.integers(0, 1_000_000))
    if fail:
        raise RuntimeError("toy failure\nwith a second line")
    clean = rng.random((h, w, 3), dtype=np.float32)
    views = np.clip(clean[None] + rng.normal(0, 0.1, (3, h, w, 3)).astype(np.float32), 0, 1)
    return Sample(
        inputs={"views": views, "grey": rng.random((h, w, 1), dtype=np.float32)},
        target={"clean": clean},
        extras={
            "mask": rng.random((h, w)) < 0.3,
            "u8": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            "labels": rng.integers(0, 5, (h, w), dtype=np.int32),
            "depth": (rng.random((h, w, 1)) * 10).astype(np.float32),
        },
        params={
            "sigma": np.float32(0.1),
            "n_views": np.int64(3),
            "flag": np.bool_(True),
            "name": "toy",
            "hint": index_hint,
        },
    )


def make_bad_params_sample(rng: np.random.Generator) -> Sample:
    """A sample whose params cannot be stored as JSON."""
    x = rng.random((4, 4, 1), dtype=np.float32)
    return Sample(inputs={"x": x}, target={}, params={"ok": 1, "bad": {"obj": object()}})


def main(argv: list[str] | None = None) -> int:
    """The toy generator's command, written the way DATASET_API.md asks generators to be."""
    import argparse
    import functools

    from generators.dataset import UserError, add_dataset_arguments, run_cli

    parser = argparse.ArgumentParser(prog="python -m tests._toy_task", description="toy dataset for the tests")
    parser.add_argument("--size", type=int, default=H, help="image height")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds of sleep per sample (tests only)")
    parser.add_argument("--fail", action="store_true", help="make every sample raise (tests only)")
    add_dataset_arguments(parser, n=8, shard_size=2)

    def build(args):
        if args.size < 1:
            raise UserError(f"--size must be >= 1, got {args.size}")
        make = functools.partial(make_toy_sample, size=args.size, delay=args.delay, fail=args.fail)
        return make, {"size": args.size}  # delay does not change the data: not a parameter

    return run_cli(parser, build, argv, generator="toy")


if __name__ == "__main__":
    raise SystemExit(main())
