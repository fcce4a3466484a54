"""Learned models: one nets file and one trainer per model, on the model kit (:mod:`models.kit`).

Each network's :class:`generators.task.Method` (a :class:`models.kit.NetMethod`)
loads its shipped checkpoint from ``models/checkpoints/`` on first use (model
cards sit next to them). They are registered by name in
``benchmarks.registry.MODELS``, the one place where a task and its methods are
registered.
"""

import generators  # noqa: F401  (first: holds numpy and OpenCV below AVX-512 before they load; generators/__init__.py)
