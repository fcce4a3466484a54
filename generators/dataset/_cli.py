"""The command line every generator shares: flags, extras selection, one-line errors and exit codes."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from generators.dataset._codec import DEFAULT_JPEG_QUALITY, IMAGE_FORMATS, check_encoders
from generators.dataset._common import DEBUG_ENV, MANIFEST, UserError, _debug, _one_line
from generators.dataset._writer import _write_dataset


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def _int_in(low: int, high: int):
    at_least = _int_at_least(low)

    def parse(text: str) -> int:
        value = at_least(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def add_dataset_arguments(parser: argparse.ArgumentParser, *, n: int = 1000, shard_size: int = 100) -> None:
    """Add the flags every generator shares; their values feed :func:`write_dataset`.

    ``--n --out --seed --shard-size --workers --engine --ray-address
    --extras --image-format --quality --ignore-disk-space --no-progress``;
    ``n`` and ``shard_size`` set the defaults of ``--n`` and ``--shard-size``.
    """
    g = parser.add_argument_group("dataset output")
    g.add_argument("--n", type=_int_at_least(1), default=n, help=f"number of samples (default {n})")
    g.add_argument("--out", required=True, help="output directory (created; re-running the same command resumes)")
    g.add_argument("--seed", type=_int_at_least(0), default=0, help="dataset seed (default 0)")
    g.add_argument(
        "--shard-size", type=_int_at_least(1), default=shard_size, help=f"samples per tar shard (default {shard_size})"
    )
    g.add_argument("--workers", type=_int_at_least(1), default=None, help="parallel workers (default: all CPU cores)")
    g.add_argument("--engine", choices=("local", "ray"), default="local", help="local process pool or Ray tasks")
    g.add_argument("--ray-address", default=None, help="address of a running Ray cluster (with --engine ray)")
    g.add_argument("--extras", choices=("all", "masks", "none"), default="all",
                   help="which extras to store: all (default), only the boolean masks, or none (inputs, target "
                        "and params only); recorded in the dataset parameters")
    g.add_argument("--image-format", choices=IMAGE_FORMATS, default="png",
                   help="how images (views, targets, shading ...) are stored: png (default), jxl (lossless JPEG XL: "
                        "faster to write, larger, slower to read), webp (lossless, smaller) or jpeg (lossy, at "
                        "--quality); masks and label maps stay lossless PNG; recorded in the manifest and the "
                        "dataset hash")
    g.add_argument("--quality", type=_int_in(1, 100), default=None,
                   help=f"JPEG quality 1..100 with --image-format jpeg (default {DEFAULT_JPEG_QUALITY})")
    g.add_argument("--ignore-disk-space", action="store_true", help="skip the free-disk-space check")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def select_extras(make_sample: Callable, rng, *, extras: str):
    """``make_sample(rng)`` keeping only the requested extras (``--extras``):
    ``"masks"`` keeps boolean arrays, ``"none"`` drops every extra."""
    from generators.task import Sample

    s = make_sample(rng)
    kept = {} if extras == "none" else {k: v for k, v in s.extras.items() if np.asarray(v).dtype == np.bool_}
    return Sample(inputs=s.inputs, target=s.target, extras=kept, params=s.params)


def _short_errors(parser: argparse.ArgumentParser) -> None:
    """Make argparse usage errors one line: ``prog: error: message (see --help)``."""

    def error(message: str):
        print(f"{parser.prog}: error: {_one_line(message)} (see --help)", file=sys.stderr)
        raise SystemExit(2)

    parser.error = error  # type: ignore[method-assign]
    for action in parser._actions:  # subparsers get the same treatment
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _short_errors(sub)


def run_cli(
    parser: argparse.ArgumentParser,
    build: Callable[[argparse.Namespace], tuple[Callable, Mapping[str, Any]]],
    argv: list[str] | None = None,
    *,
    generator: str,
) -> int:
    """Run a generator command: parse ``argv``, ``build(args)``, write the dataset.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        With the generator's own flags and :func:`add_dataset_arguments`.
    build : callable
        ``args -> (make_sample, params)``; may raise :class:`UserError` or
        ``ValueError`` for bad flag values.
    argv : list of str or None
        Arguments (None: ``sys.argv[1:]``).
    generator : str
        Name recorded in the manifest.

    Returns
    -------
    int
        0 on success (one summary line on stdout); 2 for usage errors
        (bad flags or values); 1 for other failures; errors are one line
        on stderr. ``RESTOREBENCH_DEBUG=1`` re-raises with the traceback.
    """
    _short_errors(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    prog = parser.prog
    image_format = getattr(args, "image_format", "png")
    quality = getattr(args, "quality", None)
    if quality is not None and image_format != "jpeg":
        print(f"{prog}: error: --quality applies to --image-format jpeg only; {image_format} is lossless (see --help)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:  # a missing codec library is found before any work (the writer checks again, for an older dataset)
        check_encoders(image_format)
    except UserError as e:
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    try:
        try:
            make_sample, params = build(args)
            extras = getattr(args, "extras", "all")
            if extras != "all":  # part of the identity only when not the default, so existing datasets keep theirs
                make_sample = functools.partial(select_extras, make_sample, extras=extras)
                params = {**params, "extras": extras}
        except (UserError, ValueError) as e:
            if _debug():
                raise
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            return 2
        manifest, stats = _write_dataset(
            make_sample,
            n=args.n,
            out=args.out,
            seed=args.seed,
            shard_size=args.shard_size,
            workers=args.workers,
            engine=args.engine,
            ray_address=args.ray_address,
            generator=generator,
            params=params,
            image_format=image_format,
            quality=quality,
            check_disk=not args.ignore_disk_space,
            progress=not args.no_progress,
        )
    except UserError as e:
        if _debug():
            raise
        print(f"{prog}: error: {_one_line(e, 500)}", file=sys.stderr)  # room for two paths and the advice
        return 1
    except KeyboardInterrupt:
        if _debug():
            raise
        print(f"{prog}: error: interrupted; re-run the same command to resume", file=sys.stderr)
        return 1
    except OSError as e:
        if _debug():
            raise
        what = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else _one_line(e)
        print(f"{prog}: error: {what}", file=sys.stderr)
        return 1
    except Exception as e:
        if _debug():
            raise
        print(
            f"{prog}: error: internal error: {type(e).__name__}: {_one_line(e)} (set {DEBUG_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    rate = stats["made"] / stats["seconds"] if stats["seconds"] > 0 else 0.0
    made = f"{stats['made']} made ({rate:.1f} samples/s)" if stats["made"] else "nothing to make"
    reused = f", {stats['reused']} already there (verified)" if stats["reused"] else ""
    print(
        f"{generator}: {manifest['n']} samples in {len(manifest['shards'])} shards, {made}{reused}; "
        f"{Path(args.out) / MANIFEST} dataset_hash {manifest['dataset_hash'][:16]}"
    )
    return 0


def task_cli(
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    add_flags: Callable[[argparse.ArgumentParser], None],
    make_task: Callable[[argparse.Namespace], Any],
    generator: str,
    shard_size: int = 100,
) -> int:
    """The whole ``__main__`` of a generator whose task is built from its flags.

    ``add_flags(parser)`` adds the generator's own flags; the dataset flags
    (:func:`add_dataset_arguments`, with ``shard_size`` as the default) follow;
    ``make_task(args) -> Task`` builds the task (a ``ValueError`` is a usage
    error, one line and exit status 2). Returns :func:`run_cli`'s exit code.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_flags(parser)
    add_dataset_arguments(parser, shard_size=shard_size)

    def build(args: argparse.Namespace):
        task = make_task(args)
        return task.make_sample, dict(task.params)

    return run_cli(parser, build, argv, generator=generator)


def parse_size(text: str) -> tuple[int, int]:
    """A ``--size`` value as image tools write it: ``WxH`` (e.g. ``384x256``) or ``N`` for N x N.

    Returns ``(width, height)``; the one size convention of every generator's command line
    (:data:`SIZE_HELP` says it in ``--help``). Raises ``argparse.ArgumentTypeError``
    (a usage error) for anything else.
    """
    parts = str(text).lower().split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise argparse.ArgumentTypeError(
            f"size must look like 800x600 (WxH: width x height) or 256 (N x N), positive, got {text!r}"
        )
    return vals[0], vals[1]


def parse_square_size(text: str) -> int:
    """:func:`parse_size` for a task whose images are square: ``N`` or ``NxN``; returns N."""
    w, h = parse_size(text)
    if w != h:
        raise argparse.ArgumentTypeError(f"this task makes square images: give N or NxN, got {text!r} (WxH)")
    return w


def add_size_argument(parser: argparse.ArgumentParser, *, default: str, sides: str, square: bool = False) -> None:
    """Add ``--size`` as every generator spells it: ``WxH`` as image tools write it, ``N`` for N x N.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    default : str
        The default as a user would type it (``"256"``, ``"800x600"``); argparse
        parses it like a typed value.
    sides : str
        The accepted range for ``--help``, e.g. ``"64..1024"`` (the task checks it).
    square : bool
        The task makes square images: the value is :func:`parse_square_size`'s
        ``N`` (``NxN`` accepted, ``WxH`` with W != H refused); else
        :func:`parse_size`'s ``(width, height)``.
    """
    if square:
        text = f"image size, N or NxN (WxH; this task's images are square), {sides} (default {default})"
    else:
        text = f"image size, WxH (width x height) or N for N x N, {sides} (default {default})"
    parser.add_argument("--size", type=parse_square_size if square else parse_size, default=default, metavar="WxH",
                        help=text)
