"""Robust PCA by principal component pursuit (inexact augmented Lagrangian).

Candès, Li, Ma & Wright, "Robust principal component analysis?", J. ACM 2011
(the convex programme); Lin, Chen & Ma, "The augmented Lagrange multiplier
method for exact recovery of corrupted low-rank matrices", arXiv:1009.5055,
2010 (the solver: Algorithm 5, inexact ALM).

Principal component pursuit splits a data matrix ``D`` into a low-rank part
``L`` and a sparse part ``S``:

    minimise ||L||_* + lambda ||S||_1   subject to   L + S = D.

Inexact ALM alternates one singular-value thresholding step for ``L``, one
soft-thresholding step for ``S`` and a dual ascent step on ``Y`` while the
penalty ``mu`` grows geometrically (continuation):

    L   <- SVT_{1/mu}(D - S + Y/mu)
    S   <- shrink_{lambda/mu}(D - L + Y/mu)
    Y   <- Y + mu (D - L - S)
    mu  <- min(rho mu, mu_max)

with Lin et al.'s defaults ``lambda = 1/sqrt(max(m, n))``,
``Y_0 = D / max(||D||_2, ||D||_inf / lambda)``, ``mu_0 = 1.25/||D||_2``,
``mu_max = 1e7 mu_0``; we use ``rho = 1.5`` and stop when
``||D - L - S||_F / ||D||_F < 1e-7``.

Speed: for image stacks ``D`` is tall and thin (m = H*W*C pixels, n = N
views, n of the order of 10). The SVT never forms the left singular vectors:
with ``X = U Sigma V^T`` and ``X^T X = V Sigma^2 V^T`` (an n x n symmetric
eigenproblem),

    SVT_tau(X) = X V diag(max(0, 1 - tau / sigma_i)) V^T,

i.e. one n x n Gram matrix, one tiny ``eigh`` and one m x n times n x n
product per iteration. That product, the element-wise
updates and the next Gram matrix are fused in one blocked numba pass, so
each iteration streams the big arrays once. All arithmetic is float64: the squared singular values of
the Gram route lose half the digits, and float64 keeps them (~1e-8 relative
to sigma_max) below the 1e-7 stopping tolerance.

Image from the low-rank part (:func:`estimate_background_rpca`): the views
are the columns of ``D``; the output image is the per-pixel median of the
columns of ``L`` (robust to what the sparse part failed to absorb), clipped
to [0, 1].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping

import numba
import numpy as np

from generators.task import check_views

__all__ = ["decompose_rpca", "estimate_background_rpca", "RobustPCA"]

logger = logging.getLogger(__name__)

RHO = 1.5
TOL = 1e-7
MAX_ITER = 500
MU_MAX_FACTOR = 1e7


@numba.njit(cache=True, nogil=True, fastmath=True)
def _alm_iteration(
    d: np.ndarray,
    t_in: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    t_out: np.ndarray,
    svt: np.ndarray,
    mu: float,
    mu_next: float,
    lam: float,
    gram: np.ndarray,
) -> float:
    """One inexact-ALM iteration in a single pass over the (n, m) arrays.

    Per block of pixels: ``A = svt @ t_in`` (the SVT, see
    :func:`_svt_operator`), then ``e = shrink(d - A + y/mu, lam/mu)``,
    ``y += mu (d - A - e)``, ``t_out = d - e + y/mu_next`` and the Gram
    matrix ``t_out t_out^T`` for the next SVT, accumulated into ``gram``.
    Returns ``||d - A - e||_F^2``. ``A`` never reaches memory. ``d`` may be
    float32 (read as float64). ``fastmath`` lets the row loops vectorise; it
    only reassociates sums (all inputs are finite, checked by the caller).
    """
    n, m = t_in.shape
    blk = 512
    acc = np.empty((n, blk))
    inv_mu = 1.0 / mu
    inv_mu_next = 1.0 / mu_next
    thr = lam * inv_mu
    res2 = 0.0
    gram[:, :] = 0.0
    for j0 in range(0, m, blk):
        j1 = min(j0 + blk, m)
        jb = j1 - j0
        for a in range(n):
            arow = acc[a, :jb]
            arow[:] = 0.0
            for b in range(n):
                sab = svt[a, b]
                trow = t_in[b, j0:j1]
                for j in range(jb):
                    arow[j] += sab * trow[j]
        for a in range(n):
            drow, arow, yrow = d[a, j0:j1], acc[a, :jb], y[a, j0:j1]
            erow, trow = e[a, j0:j1], t_out[a, j0:j1]
            for j in range(jb):
                dij = np.float64(drow[j])
                r = dij - arow[j]
                v = r + yrow[j] * inv_mu
                s = max(v - thr, 0.0) + min(v + thr, 0.0)  # branch-free shrinkage
                z = r - s
                res2 += z * z
                yij = yrow[j] + mu * z
                yrow[j] = yij
                erow[j] = s
                trow[j] = dij - s + yij * inv_mu_next
        for a in range(n):
            ta = t_out[a, j0:j1]
            for b in range(a + 1):
                tb = t_out[b, j0:j1]
                g = 0.0
                for j in range(jb):
                    g += ta[j] * tb[j]
                gram[a, b] += g
    for a in range(n):
        for b in range(a):
            gram[b, a] = gram[a, b]
    return res2


def _svt_operator(gram: np.ndarray, tau: float) -> tuple[np.ndarray, int]:
    """``M`` with ``SVT_tau(X) = X M`` for the tall X whose Gram matrix is ``gram``; kept rank."""
    w, v = np.linalg.eigh(gram)
    sigma = np.sqrt(np.maximum(w, 0.0))
    keep = sigma > tau
    factor = np.zeros_like(sigma)
    factor[keep] = 1.0 - tau / sigma[keep]
    return (v * factor) @ v.T, int(keep.sum())


def decompose_rpca(
    D: np.ndarray,
    *,
    lam: float | None = None,
    rho: float = RHO,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Split ``D`` into low-rank ``L`` and sparse ``S`` (Lin, Chen & Ma 2010, Alg. 5).

    Parameters
    ----------
    D : ndarray, shape (m, n)
        Data matrix, any real dtype (computed in float64), either
        orientation: the problem is transpose-invariant (nuclear and l1
        norms, and the default ``lam``), so a wide matrix (m < n) is solved
        as its transpose, at cost O(max(m, n) min(m, n)^2) per iteration.
    lam : float, optional
        Weight of the l1 term; default ``1/sqrt(max(m, n))`` (Candès et al.
        2011, Theorem 1.1).
    rho : float
        Growth factor of the penalty ``mu`` per iteration (> 1).
    tol : float
        Stop when ``||D - L - S||_F / ||D||_F < tol``.
    max_iter : int
        Iteration cap; ``info["converged"]`` is False if it is reached.

    Returns
    -------
    L, S : ndarray, shape (m, n), float64
        ``L + S`` equals ``D`` to ``info["residual"]`` (relative, Frobenius).
    info : dict
        ``iterations``, ``residual``, ``rank`` (of L), ``converged``, ``mu``
        (final penalty), ``lam``.
    """
    D = np.asarray(D)
    if D.ndim != 2 or D.size == 0:
        raise ValueError(f"D: expected a non-empty 2-D matrix, got shape {D.shape}")
    if not np.all(np.isfinite(D)):
        raise ValueError("D: contains NaN or Inf")
    if not rho > 1.0:
        raise ValueError(f"rho must be > 1, got {rho}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    m, n = D.shape
    lam = 1.0 / np.sqrt(max(m, n)) if lam is None else float(lam)
    if n > m:  # the Gram matrix below is n x n: solve the transposed problem, whose Gram matrix is m x m
        low_t, sparse_t, info = decompose_rpca(D.T, lam=lam, rho=rho, tol=tol, max_iter=max_iter)
        return low_t.T, sparse_t.T, info
    # Work on the transpose: n contiguous rows of length m, so the kernel
    # streams long rows. A float32 D (image stacks) is kept as is, without a
    # copy: it is only read.
    dt = np.ascontiguousarray(D.T, dtype=np.float32 if D.dtype == np.float32 else np.float64)
    d_fro = float(np.sqrt(np.einsum("ij,ij->", dt, dt, dtype=np.float64)))
    if d_fro == 0.0:
        zero = np.zeros((m, n))
        info = {"iterations": 0, "residual": 0.0, "rank": 0, "converged": True, "mu": 0.0, "lam": lam}
        return zero, zero.copy(), info
    d64 = dt.astype(np.float64)
    d_spec = float(np.sqrt(max(np.linalg.eigvalsh(d64 @ d64.T)[-1], 0.0)))
    d_inf = float(np.abs(dt).max())
    y = d64 / max(d_spec, d_inf / lam)
    e = np.zeros_like(d64)
    mu = 1.25 / d_spec
    mu_max = mu * MU_MAX_FACTOR
    t = d64 + y / mu  # T_0 = D - E_0 + Y_0/mu_0, the first SVT input
    del d64
    t_next = np.empty_like(t)
    gram = t @ t.T
    residual = np.inf
    rank = 0
    it = 0
    for it in range(1, max_iter + 1):
        svt, rank = _svt_operator(gram, 1.0 / mu)
        mu_next = min(mu * rho, mu_max)
        res2 = _alm_iteration(dt, t, y, e, t_next, svt, mu, mu_next, lam, gram)
        t, t_next = t_next, t  # t_next now holds this iteration's SVT input
        residual = float(np.sqrt(res2)) / d_fro
        logger.debug("rpca iter %d: rank %d, residual %.3e, mu %.3e", it, rank, residual, mu)
        mu = mu_next
        if residual < tol:
            break
    low = svt @ t_next  # the L of the last iteration (the kernel never stores it)
    converged = residual < tol
    logger.debug(
        "rpca stopped after %d iterations: residual %.3e (tol %.1e), converged %s", it, residual, tol, converged
    )
    info = {"iterations": it, "residual": residual, "rank": rank, "converged": converged, "mu": mu, "lam": lam}
    return low.T, e.T, info


def _decompose_rpca_fixed_mu(
    D: np.ndarray, *, lam: float | None = None, tol: float = TOL, max_iter: int = 1000
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Reference solver: plain ADMM with a fixed penalty (Candès et al. 2011, Alg. 1).

    ``mu = m n / (4 ||D||_1)``, a full ``numpy.linalg.svd`` per iteration and
    no continuation: the straightforward implementation that the benchmarks
    compare :func:`decompose_rpca` against, and an independent solver of the
    same convex programme for the tests. Same stopping rule and outputs.
    """
    D = np.asarray(D, dtype=np.float64)
    m, n = D.shape
    lam = 1.0 / np.sqrt(max(m, n)) if lam is None else float(lam)
    mu = m * n / (4.0 * np.abs(D).sum())
    d_fro = np.linalg.norm(D)
    low = np.zeros_like(D)
    sparse = np.zeros_like(D)
    y = np.zeros_like(D)
    residual = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        v = D - low + y / mu
        sparse = np.sign(v) * np.maximum(np.abs(v) - lam / mu, 0.0)
        u, sig, vt = np.linalg.svd(D - sparse + y / mu, full_matrices=False)
        sig = np.maximum(sig - 1.0 / mu, 0.0)
        low = (u * sig) @ vt
        z = D - low - sparse
        y += mu * z
        residual = float(np.linalg.norm(z) / d_fro)
        if residual < tol:
            break
    rank = int((sig > 0).sum())
    info = {"iterations": it, "residual": residual, "rank": rank, "converged": residual < tol, "mu": mu, "lam": lam}
    return low, sparse, info


def estimate_background_rpca(views: np.ndarray, *, max_iter: int = MAX_ITER) -> np.ndarray:
    """Static image behind sparse transients: median of RPCA's low-rank frames.

    Parameters
    ----------
    views : ndarray, shape (N, H, W, C), float32 in [0, 1], N >= 2
        Aligned views; each becomes one column of ``D`` (m = H*W*C).
    max_iter : int
        Iteration cap of :func:`decompose_rpca`.

    Returns
    -------
    ndarray, shape (H, W, C), float32 in [0, 1]
        Per-pixel median over the N columns of ``L``, clipped to [0, 1].

    Raises
    ------
    ValueError
        For N < 2: with one column PCP has no low-rank structure to find.
    """
    check_views(views, min_views=2)
    n = views.shape[0]
    low_rank, _, info = decompose_rpca(views.reshape(n, -1).T, max_iter=max_iter)
    if not info["converged"]:
        logger.warning("rpca did not converge in %d iterations (residual %.2e)", info["iterations"], info["residual"])
    # low_rank.T is (n, m) C-contiguous: the median runs over the short axis.
    frames = low_rank.T.reshape(views.shape)
    out = np.median(frames, axis=0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class RobustPCA:
    """Registry wrapper for :func:`estimate_background_rpca`."""

    name: str = "rpca"
    tasks: tuple[str, ...] = ("views",)
    max_iter: int = MAX_ITER
    min_views: int = 2  # one column has no low-rank structure: n = 1 is not applicable, not a failure

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return estimate_background_rpca(inputs["views"], max_iter=self.max_iter)
