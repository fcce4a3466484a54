"""Command line: ``python -m generators.reflections --n N --out DIR [options]``.

Writes N multi-view reflection sequences (see :mod:`generators.reflections`)
as tar shards through :func:`generators.dataset.write_dataset`.
"""

from __future__ import annotations

import argparse

from generators.dataset import UserError, add_dataset_arguments, run_cli
from generators.reflections import MAX_FRAMES, NAME, make_task


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make the task, write the dataset; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m generators.reflections",
        description="Multi-view sequences through glass: transmission and reflection layers moving on "
        "different trajectories; target = transmission of the middle frame.",
    )
    parser.add_argument("--frames", type=int, default=5, help=f"frames per sequence, 2..{MAX_FRAMES} (default 5)")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels, 64..1024 (default 256)")
    parser.add_argument("--images", default=None, metavar="DIR",
                        help="folder of photographs for the layers (default: embedded photos and covers)")
    add_dataset_arguments(parser, shard_size=20)  # ~5 MB per 5x256x256 sequence with all extras

    def build(args: argparse.Namespace):
        try:
            task = make_task(frames=args.frames, size=args.size, images=args.images)
        except ValueError as e:
            raise UserError(str(e)) from None
        return task.make_sample, dict(task.params)

    return run_cli(parser, build, argv, generator=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
