import generators  # noqa: F401  (first: holds numpy and OpenCV below AVX-512 before they load; generators/__init__.py)
