"""Command line: ``python -m generators.coverrefs --n N --out DIR [options]``.

Writes N queries with their galleries (see :mod:`generators.coverrefs`) as tar
shards through :func:`generators.dataset.write_dataset`.
"""

from __future__ import annotations

import argparse

from generators.coverrefs import CONDITIONS, MAX_GALLERY, NAME, make_task
from generators.dataset import add_size_argument, task_cli


def _flags(parser: argparse.ArgumentParser) -> None:
    add_size_argument(parser, default="256", sides="64..1024", square=True)
    parser.add_argument("--gallery", type=int, default=10,
                        help=f"gallery images per query, at least the largest M of --conditions, at most {MAX_GALLERY}")
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help=f"comma-separated conditions drawn uniformly (default all: {','.join(CONDITIONS)})")
    parser.add_argument("--covers", default=None, metavar="DIR",
                        help="folder of cover images (every file must decode; default: procedural covers)")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make the task, write the dataset; returns the exit code."""
    return task_cli(
        argv, prog="python -m generators.coverrefs", generator=NAME, add_flags=_flags,
        description="Occluded book covers with a gallery of similar images: target = the query without occluders.",
        make_task=lambda a: make_task(size=a.size, gallery=a.gallery, covers=a.covers,
                                      conditions=[c.strip() for c in a.conditions.split(",") if c.strip()]),
        shard_size=20,  # ~2.5 MB per 256x256 query with a 10-image gallery and its masks
    )


if __name__ == "__main__":
    raise SystemExit(main())
