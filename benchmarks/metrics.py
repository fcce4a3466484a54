"""The suite's metrics, re-exported from :mod:`generators.metrics`.

Metrics live in ``generators/`` so that every layer (generators, baselines,
models, the harness) can reach them without importing upward; this module
keeps ``from benchmarks.metrics import psnr`` working for users' scripts.
"""

from generators.metrics import *  # noqa: F401,F403
from generators.metrics import __all__  # noqa: F401
