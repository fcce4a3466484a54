"""Command line: ``python -m generators.roadseg --n N --out DIR [options]``.

Writes N paired static/populated label maps (see :mod:`generators.roadseg`)
as tar shards through :func:`generators.dataset.write_dataset`.
"""

from __future__ import annotations

import argparse

from generators.dataset import UserError, add_dataset_arguments, add_size_argument, run_cli
from generators.roadseg import NAME, make_task


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, make the task, write the dataset; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m generators.roadseg",
        description="Paired semantic label maps of driving scenes with and without people and cars "
        "(MICC-SRI-style semantic-layout inpainting).",
    )
    parser.add_argument("--backend", choices=("embedded", "carla"), default="embedded",
                        help="embedded procedural 3-D streets (default) or a running CARLA 0.9.16 server")
    add_size_argument(parser, default="800x600", sides="64..3840 x 64..2160")
    parser.add_argument("--classes", choices=("micc", "carla"), default="micc",
                        help="MICC-SRI's nine classes (default) or every CARLA tag")
    parser.add_argument("--town-style", default="mixed", metavar="STYLE",
                        help="embedded backend: mixed (default; one style drawn per scene), downtown, residential "
                        "or suburban")
    parser.add_argument("--density", default=1.0, type=float,
                        help="embedded backend: road-user density multiplier, > 0 (default 1)")
    parser.add_argument("--carla-host", default="localhost")
    parser.add_argument("--carla-port", type=int, default=2000)
    parser.add_argument("--carla-timeout", type=float, default=10.0, help="seconds to wait for the server")
    parser.add_argument("--town", default=None, help="CARLA town (default: a seeded random one per sample)")
    add_dataset_arguments(parser, shard_size=20)  # ~1 MB per pair at 800x600

    def build(args: argparse.Namespace):
        carla_cfg = None
        if args.backend == "carla":
            from generators.roadseg.carla_backend import CarlaConfig, connect

            carla_cfg = CarlaConfig(host=args.carla_host, port=args.carla_port, timeout=args.carla_timeout,
                                    town=args.town)
            connect(carla_cfg)  # no server: CarlaUnavailable, a UserError (one line, exit 2)
            if args.workers not in (None, 1):
                raise UserError("--backend carla drives one server: use --workers 1")
        try:
            task = make_task(size=args.size[::-1], classes=args.classes, backend=args.backend, carla=carla_cfg,
                             town_style=args.town_style, density=args.density)
        except ValueError as e:
            raise UserError(str(e)) from None
        return task.make_sample, dict(task.params)

    return run_cli(parser, build, argv, generator=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
