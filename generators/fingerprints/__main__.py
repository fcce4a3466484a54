"""Command line: ``python -m generators.fingerprints --n N --out DIR [options]``.

Writes N fingerprint samples (see :mod:`generators.fingerprints`) as tar
shards through :func:`generators.dataset.write_dataset`.
"""

from __future__ import annotations

import argparse

from generators.dataset import UserError, add_dataset_arguments, run_cli
from generators.fingerprints import NAME, PRESETS, make_task
from generators.fingerprints.master import CLASS_DISTRIBUTIONS


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make the task, write the dataset; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m generators.fingerprints",
        description="Synthetic fingerprints (SFinGe-style master prints, ChaLearn-style or live-scan sensor "
        "degradations): degraded input, clean target, orientation/frequency/minutiae ground truth.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="chalearn",
                        help="chalearn (default): the challenge's degradations; sensor: live-scan prints with "
                        "pressure, contact, creases, latents, noise and JPEG, plus a quality map")  # fmt: skip
    parser.add_argument("--classes", choices=sorted(CLASS_DISTRIBUTIONS), default="natural",
                        help="class distribution: natural frequencies (default) or uniform")  # fmt: skip
    parser.add_argument("--severity", type=float, nargs=2, metavar=("LOW", "HIGH"), default=(0.0, 1.0),
                        help="range of the per-sample degradation severity in [0, 1] (default 0 1)")  # fmt: skip
    add_dataset_arguments(parser)

    def build(args: argparse.Namespace):
        try:
            task = make_task(classes=args.classes, severity=tuple(args.severity), preset=args.preset)
        except ValueError as e:
            raise UserError(str(e)) from None
        return task.make_sample, dict(task.params)

    return run_cli(parser, build, argv, generator=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
