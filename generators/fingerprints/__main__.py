"""Command line: ``python -m generators.fingerprints --n N --out DIR [options]``.

Writes N fingerprint samples (see :mod:`generators.fingerprints`) as tar
shards through :func:`generators.dataset.write_dataset`.
"""

from __future__ import annotations

import argparse

from generators.dataset import task_cli
from generators.fingerprints import NAME, PRESETS, make_task
from generators.fingerprints.master import CLASS_DISTRIBUTIONS


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), default="chalearn",
                        help="chalearn (default): the challenge's degradations; sensor: live-scan prints with "
                        "pressure, contact, creases, latents, noise and JPEG, plus a quality map")  # fmt: skip
    parser.add_argument("--classes", choices=sorted(CLASS_DISTRIBUTIONS), default="natural",
                        help="class distribution: natural frequencies (default) or uniform")  # fmt: skip
    parser.add_argument("--severity", type=float, nargs=2, metavar=("LOW", "HIGH"), default=(0.0, 1.0),
                        help="range of the per-sample degradation severity in [0, 1] (default 0 1)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make the task, write the dataset; returns the exit code."""
    return task_cli(
        argv, prog="python -m generators.fingerprints", generator=NAME, add_flags=_flags,
        description="Synthetic fingerprints (SFinGe-style master prints, ChaLearn-style or live-scan sensor "
        "degradations): degraded input, clean target, orientation/frequency/minutiae ground truth.",
        make_task=lambda a: make_task(classes=a.classes, severity=tuple(a.severity), preset=a.preset),
    )


if __name__ == "__main__":
    raise SystemExit(main())
