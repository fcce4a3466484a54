"""Command line: ``python -m generators.reflections --n N --out DIR [options]``.

Writes N multi-view reflection sequences (see :mod:`generators.reflections`)
as tar shards through :func:`generators.dataset.write_dataset`.
"""

from __future__ import annotations

import argparse

from generators.dataset import add_size_argument, task_cli
from generators.reflections import CONTENT_MIXES, GLASS_PRESETS, MAX_FRAMES, NAME, make_task


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=5, help=f"frames per sequence, 2..{MAX_FRAMES} (default 5)")
    add_size_argument(parser, default="256", sides="64..1024", square=True)
    parser.add_argument("--images", default=None, metavar="DIR",
                        help="folder of photographs for the layers (default: the --content mix)")
    parser.add_argument("--glass", default="fresnel", metavar="|".join(GLASS_PRESETS),
                        help="reflection strength: fresnel (the glass's Fresnel reflectance, default) or strong "
                        "(the published strong-reflection regime, formation version 1's strength and ghost)")
    parser.add_argument("--content", default="mix", metavar="|".join(CONTENT_MIXES),
                        help="layer content: mix (dead-leaves images and procedural covers, default) or photos "
                        "(the packaged photographs: the real-content split)")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make the task, write the dataset; returns the exit code."""
    return task_cli(
        argv, prog="python -m generators.reflections", generator=NAME, add_flags=_flags,
        description="Multi-view sequences through glass: transmission and reflection layers moving on "
        "different trajectories; target = transmission of the middle frame.",
        make_task=lambda a: make_task(frames=a.frames, size=a.size, images=a.images, glass=a.glass,
                                      content=a.content),
        shard_size=20,  # ~5 MB per 5x256x256 sequence with all extras
    )


if __name__ == "__main__":
    raise SystemExit(main())
