"""Command line: ``python -m generators.snow --n N --out DIR [options]``.

Writes N snowy images (or, with ``--frames N`` > 1, short sequences) with
their clean targets and extras (see :mod:`generators.snow`) as tar shards
through :func:`generators.dataset.write_dataset`.
"""

from __future__ import annotations

import argparse

from generators.dataset import add_size_argument, task_cli
from generators.snow import BACKGROUNDS, MAX_FRAMES, NAME, SIZE_CLASSES, make_task


def _flags(parser: argparse.ArgumentParser) -> None:
    add_size_argument(parser, default="256", sides="64..1024", square=True)
    parser.add_argument("--size-class", default="any",
                        help=f"flake size class: any (drawn per sample) or one of {', '.join(SIZE_CLASSES)}")
    parser.add_argument("--density-scale", type=float, default=1.0,
                        help="multiplies every population's flake density, 0..20 (default 1)")
    parser.add_argument("--frames", type=int, default=1,
                        help=f"frames per sample, 1..{MAX_FRAMES}; > 1 writes sequences (default 1)")
    parser.add_argument("--background", choices=BACKGROUNDS, default="content",
                        help="content: the shared content mix, dead leaves and procedural covers (default); photos: "
                             "the packaged photographs (the snow-real split); roadseg: rendered driving scenes")
    parser.add_argument("--images", default=None, metavar="DIR",
                        help="folder of your photographs as backgrounds (overrides --background)")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make the task, write the dataset; returns the exit code."""
    return task_cli(
        argv, prog="python -m generators.snow", generator=NAME, add_flags=_flags,
        description="Snowy images: depth-consistent flakes, streaks and veil over photographs or driving "
        "scenes; target = the clean image; extras z, a, T, A, depth, flake layers.",
        make_task=lambda a: make_task(size=a.size, size_class=a.size_class, density_scale=a.density_scale,
                                      frames=a.frames, background=a.background, images=a.images),
        shard_size=100,
    )


if __name__ == "__main__":
    raise SystemExit(main())
