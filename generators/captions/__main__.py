"""Command line: ``python -m generators.captions --n N --out DIR [options]``.

Writes N captioned clips (see :mod:`generators.captions`) as tar shards
through :func:`generators.dataset.write_dataset`.
"""

from __future__ import annotations

import argparse
import sys

from generators.captions import NAME, make_task
from generators.dataset import UserError, add_dataset_arguments, add_size_argument, run_cli


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make the task, write the dataset; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m generators.captions",
        description="Video clips with hard-burned subtitles (ChaLearn LAP 2018 decaptioning): captioned clip in, "
        "clean clip out, per-frame caption masks and timing.",
    )
    parser.add_argument("--frames", type=int, default=125, help="frames per clip at 25 fps (default 125 = 5 s)")
    add_size_argument(parser, default="128", sides="64..1024", square=True)
    parser.add_argument("--videos", default=None, metavar="DIR",
                        help="folder of your own video files (default: embedded procedural clips)")
    parser.add_argument("--codec", choices=("png", "h264"), default="png",
                        help="png: lossless (default); h264: input and target through libx264 at --crf")
    parser.add_argument("--subtitles", default="broadcast", metavar="PRESET",
                        help="broadcast: subtitles by broadcast conventions (default); legacy: formation version 1's "
                        "large captions (6-20 %% of the frame height), the ChaLearn-like regime")
    parser.add_argument("--content", default="mix", metavar="MIX",
                        help="mix: the shared content mix, dead leaves and procedural covers (default); photos: the "
                        "packaged photographs, held out of the mix (the real-content split, task captions-real)")
    parser.add_argument("--motion", default="3d", metavar="MODEL",
                        help="3d: shots filmed by a moving camera in 3-D scenes, with motion blur and sensor noise "
                        "(default, formation version 4); 2d: version 3's layers sliding in the image plane")
    parser.add_argument("--crf", type=int, default=23, help="x264 constant rate factor for --codec h264 (default 23)")
    add_dataset_arguments(parser, shard_size=8)  # a 125-frame clip pair is ~7 MB: keep shards ~60 MB

    def build(args: argparse.Namespace):
        try:
            task = make_task(frames=args.frames, size=args.size, codec=args.codec, crf=args.crf, videos=args.videos,
                             subtitles=args.subtitles, content=args.content, motion=args.motion)
        except ValueError as e:
            raise UserError(str(e)) from None
        skipped = task.params.get("videos_skipped") or 0
        if skipped:
            print(f"{parser.prog}: note: skipped {skipped} unreadable or too-short video file(s) in {args.videos}",
                  file=sys.stderr)
        return task.make_sample, dict(task.params)

    return run_cli(parser, build, argv, generator=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
