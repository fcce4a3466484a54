"""One tolerance table for the suite (kornia's _DTYPE_PRECISIONS idea).

Every numeric comparison in the tests takes its tolerance from here, so a
loosened bound is visible in one diff.
"""

# Our metrics vs scikit-image's reference implementations (float64 maths).
METRIC_ATOL = 1e-6
# float32 network outputs compared across evaluation orders (permutation,
# online vs batch, tiled vs untiled).
FLOAT32_ATOL = 1e-5
# Images stored as 8-bit PNG come back within half a quantisation step.
PNG_ATOL = 0.5 / 255 + 1e-7
