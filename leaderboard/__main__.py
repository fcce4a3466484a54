"""``python -m leaderboard RESULTS_DIR [--out DIR] [--markdown]``: re-render a saved run's report."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .render import ResultsError, markdown_table, render_report


def main(argv: Sequence[str] | None = None) -> int:
    """Render ``RESULTS_DIR`` (written by ``python -m benchmarks.run``) as static HTML."""
    parser = argparse.ArgumentParser(
        prog="python -m leaderboard",
        description="Render the static HTML leaderboard of a saved results directory (computes nothing).",
    )
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="a directory written by python -m benchmarks.run")
    parser.add_argument("--out", default=None, metavar="DIR", help="report folder (default: RESULTS_DIR/report)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the README's results table (rank groups, primary metric) instead of rendering")
    args = parser.parse_args(argv)
    try:
        if args.markdown:
            print(markdown_table(args.results_dir), end="")
            return 0
        index = render_report(args.results_dir, args.out)
    except (ResultsError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
