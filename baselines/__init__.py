"""Classical baselines: one module per family of methods.

Each method is an object following :class:`generators.task.Method`
(``name``, ``tasks``, ``restore(inputs)``). They are registered by name in
``benchmarks.registry.BASELINES``, the one place where a task and its methods
are registered (explicit imports, no scanning).
"""

import generators  # noqa: F401  (first: holds numpy and OpenCV below AVX-512 before they load; generators/__init__.py)
