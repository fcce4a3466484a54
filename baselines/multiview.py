"""Per-pixel fusion of a stack of views: mean and median.

The simplest multi-image baselines. Both reduce an ``(N, H, W, C)`` stack of
aligned views to one ``(H, W, C)`` image, independently at every pixel and
channel. The median ignores any value that is an outlier in fewer than half
of the views (transient occluders, specular highlights), which is the
intuition behind Weiss 2001's median of derivative filters
(:mod:`baselines.weiss`).

A single view (N = 1) is returned unchanged (as a copy) by both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from generators.task import check_views

__all__ = ["fuse_mean", "fuse_median", "MeanFusion", "MedianFusion"]


def fuse_mean(views: np.ndarray) -> np.ndarray:
    """Average ``views`` over the view axis.

    Parameters
    ----------
    views : ndarray, shape (N, H, W, C), float32 in [0, 1]

    Returns
    -------
    ndarray, shape (H, W, C), float32 in [0, 1]
    """
    check_views(views)
    # float64 accumulation: the mean of values in [0, 1] stays in [0, 1] after
    # rounding back to float32, and does not depend on summation order.
    return views.mean(axis=0, dtype=np.float64).astype(np.float32)


def fuse_median(views: np.ndarray) -> np.ndarray:
    """Per-pixel, per-channel median over the view axis.

    For even N the two middle values are averaged (``numpy.median``). A value
    that differs from the others in a single view (N >= 3) never reaches the
    output.

    Parameters
    ----------
    views : ndarray, shape (N, H, W, C), float32 in [0, 1]

    Returns
    -------
    ndarray, shape (H, W, C), float32 in [0, 1]
    """
    check_views(views)
    if views.shape[0] == 1:
        return views[0].copy()
    return np.median(views, axis=0).astype(np.float32, copy=False)


@dataclass(frozen=True)
class MeanFusion:
    """Registry wrapper for :func:`fuse_mean`."""

    name: str = "mean"
    tasks: tuple[str, ...] = ("views",)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return fuse_mean(inputs["views"])


@dataclass(frozen=True)
class MedianFusion:
    """Registry wrapper for :func:`fuse_median`."""

    name: str = "median"
    tasks: tuple[str, ...] = ("views",)

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return fuse_median(inputs["views"])
