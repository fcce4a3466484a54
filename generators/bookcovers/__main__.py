"""Command line: ``python -m generators.bookcovers --n 200000 --out DIR``.

Writes a resumable sharded dataset through :func:`generators.dataset.run_cli`
(re-running the same command verifies finished shards and makes only the
missing ones). With ``--renderer blender`` each pool worker talks to a
private Blender child process (see ``generators.shared.coverscene.render_blender``)
that is replaced by a fresh one every ``--recycle K`` sequences, so Blender's
memory growth is bounded whatever the shard size; ``--recycle`` does not
change the output and is not part of the dataset parameters.
"""

from __future__ import annotations

import argparse

from generators.bookcovers import NAME, make_task
from generators.dataset import UserError, add_dataset_arguments, add_size_argument, run_cli
from generators.shared.coverscene import RENDERERS, import_blender
from generators.shared.coverscene.scene import MAX_SIZE, MIN_SIZE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generators.bookcovers",
        description="Book covers seen through occluders under changing light: views -> clean cover.",
    )
    parser.add_argument("--views", type=int, default=10, help="views per sequence (default 10)")
    add_size_argument(parser, default="256", sides=f"each side {MIN_SIZE}..{MAX_SIZE}")
    parser.add_argument("--renderer", choices=RENDERERS, default="fast", help="fast (CPU ray caster) or blender (Cycles)")
    parser.add_argument("--covers", default=None, help="folder of cover images (default: procedural covers)")
    parser.add_argument(
        "--recycle", type=int, default=None, metavar="K",
        help="with --renderer blender: sequences per Blender child process before it is replaced",
    )  # fmt: skip
    # ~34 MB per shard of 25 samples (10 x 256x256 views with all extras, 1.36 MB a sample); with 100 a
    # 300-sample job made 3 shards, so one of two workers idled for a third of it (76.6 -> 100.5 images/s)
    add_dataset_arguments(parser, shard_size=25)

    def build(args):
        if args.views < 1:
            raise UserError(f"--views must be >= 1, got {args.views}")
        w, h = args.size
        if not (MIN_SIZE <= h <= MAX_SIZE and MIN_SIZE <= w <= MAX_SIZE):
            raise UserError(f"--size sides must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {w}x{h} (WxH)")
        if args.renderer == "blender":
            try:
                import_blender(full_check=True)
            except ValueError as e:
                raise UserError(str(e)) from None
        elif args.recycle is not None:
            raise UserError("--recycle only applies to --renderer blender")
        if args.recycle is not None and args.recycle < 1:
            raise UserError(f"--recycle must be >= 1, got {args.recycle}")
        options = {"recycle_every": args.recycle} if args.recycle is not None else None
        try:
            task = make_task(
                views=args.views, size=(h, w), renderer=args.renderer, covers=args.covers, renderer_options=options
            )
        except ValueError as e:
            raise UserError(str(e)) from None
        return task.make_sample, dict(task.params)

    return run_cli(parser, build, argv, generator=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
