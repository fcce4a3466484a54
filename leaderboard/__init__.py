"""Static HTML leaderboard of a saved benchmark run (``python -m leaderboard RESULTS_DIR``).

Renders only: every number comes from the files ``python -m benchmarks.run``
saved. See :mod:`leaderboard.render`.
"""

import generators  # noqa: F401  (first: holds numpy and OpenCV below AVX-512 before they load; generators/__init__.py)
from .render import render_report

__all__ = ["render_report"]
