r"""β-divergences and Hoyer sparsity.

The β-divergence between nonnegative arrays (paper eq. 5) is the sum over entries of

.. math::

    d_\beta(x \mid y) =
    \begin{cases}
      \frac{x}{y} - \log\frac{x}{y} - 1 & \beta = 0 \ \text{(Itakura–Saito)}\\
      x \log\frac{x}{y} - x + y & \beta = 1 \ \text{(Kullback–Leibler)}\\
      \frac{1}{\beta(\beta-1)}\left(x^\beta + (\beta-1) y^\beta - \beta x y^{\beta-1}\right)
        & \text{otherwise} \ (\beta = 2: \tfrac12 (x-y)^2)
    \end{cases}

with the convention :math:`0 \log 0 = 0`.

For a scipy.sparse ``X`` and β = 1 only the nonzeros of ``X`` enter the data term and
:math:`\sum_{ij} (WH)_{ij} = (W^\top e)^\top (H e)`, so ``WH`` is evaluated only at the
nonzeros of ``X`` (a sampled dense-dense product) and never formed densely. For β = 2 the
squared norm of ``WH`` is :math:`\langle W^\top W, H H^\top \rangle`. Other β on sparse ``X``
form ``WH`` densely in row blocks.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _kernels

__all__ = [
    "beta_divergence",
    "beta_divergence_dense",
    "hoyer_sparsity",
    "sampled_product",
]

# Rows of the sampled product handled per block: bounds the temporaries to ~ block * r floats.
_SAMPLED_BLOCK = 1 << 16


def sampled_product(W: np.ndarray, H: np.ndarray, X: sp.csr_array | sp.csr_matrix) -> np.ndarray:
    """Entries of ``W @ H`` at the stored positions of the CSR matrix ``X``.

    Parameters
    ----------
    W : ndarray of shape (m, r)
    H : ndarray of shape (r, n)
    X : CSR matrix of shape (m, n)

    Returns
    -------
    values : ndarray of shape (X.nnz,)
        ``values[k] = (W @ H)[i_k, j_k]`` in the order of ``X.data`` (a compiled kernel, or a
        chunked NumPy gather: :func:`dnmf._kernels.sampled_dot`).
    """
    X = _as_csr(X)
    return _kernels.sampled_dot(X, W, np.ascontiguousarray(H.T))


def _as_csr(X):
    if isinstance(X, (sp.csr_array, sp.csr_matrix)) and X.has_sorted_indices:
        return X
    X = sp.csr_array(X)
    X.sort_indices()
    return X


def _xlogx_over_y(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x log(x / y) with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(x / y)
    return np.where(x > 0, out, 0.0)


def _kl_dense(X: np.ndarray, V: np.ndarray, work: np.ndarray | None = None) -> float:
    """Σ x log(x/v) − Σ x + Σ v with one m×n temporary (``work``, not aliasing X or V).

    Equals ``np.sum(_xlogx_over_y(X, V)) - X.sum() + V.sum()`` (the reference formula) without
    its mask when X has no zero entry (see :func:`dnmf._kernels.xlog_ratio_sum`).
    """
    sum_x = X.sum()
    sum_v = V.sum()
    buf = np.empty_like(V) if work is None else work
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(X, V, out=buf)
    return float(_kernels.xlog_ratio_sum(X, buf, buf) - sum_x + sum_v)


def beta_divergence_dense(X: np.ndarray, V: np.ndarray, beta: float) -> float:
    """Sum of d_β(X_ij | V_ij) over all entries of two dense arrays of the same shape.

    Parameters
    ----------
    X : ndarray of shape (m, n), nonnegative
        The data (first argument of the divergence).
    V : ndarray of shape (m, n), positive
        The approximation.
    beta : float in [0, 2]

    Returns
    -------
    float
    """
    X = np.asarray(X)
    V = np.asarray(V)
    if beta == 1:
        return _kl_dense(X, V)
    if beta == 2:
        diff = X - V
        return float(0.5 * np.vdot(diff, diff))
    if beta == 0:
        ratio = X / V
        return float(np.sum(ratio - np.log(ratio)) - X.size)
    value = (
        np.sum(X**beta) + (beta - 1) * np.sum(V**beta) - beta * np.sum(X * V ** (beta - 1))
    )
    return float(value / (beta * (beta - 1)))


def beta_divergence(X, W: np.ndarray, H: np.ndarray, beta: float) -> float:
    """D_β(X, WH), the sum of entrywise β-divergences between X and the product WH.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (m, n), nonnegative
    W : ndarray of shape (m, r)
    H : ndarray of shape (r, n)
    beta : float in [0, 2]

    Returns
    -------
    float
        For sparse ``X`` and β ∈ {1, 2} the product ``WH`` is never formed densely.
    """
    if not sp.issparse(X):
        return beta_divergence_dense(X, W @ H, beta)
    X = _as_csr(X)
    if beta == 1:
        total_v = float(W.sum(axis=0) @ H.sum(axis=1))
        data_term = _kernels.kl_sparse_xlogx(X, W, np.ascontiguousarray(H.T))
        return float(data_term - X.data.sum() + total_v)
    if beta == 2:
        v = sampled_product(W, H, X)
        x = X.data
        norm_v2 = float(np.sum((W.T @ W) * (H @ H.T)))
        value = 0.5 * (float(x @ x) - 2.0 * float(x @ v) + norm_v2)
        return max(value, 0.0)
    # Other β: the v^β term runs over every entry, so evaluate densely in row blocks.
    total = 0.0
    block = max(1, _SAMPLED_BLOCK // max(1, X.shape[1]))
    for start in range(0, X.shape[0], block):
        stop = min(start + block, X.shape[0])
        total += beta_divergence_dense(X[start:stop].toarray(), W[start:stop] @ H, beta)
    return total


def hoyer_sparsity(M: np.ndarray, axis: int = 1) -> np.ndarray:
    r"""Hoyer sparsity of every row (``axis=1``) or column (``axis=0``) of ``M``.

    .. math:: \mathrm{sp}(x) = \frac{\sqrt{n} - \|x\|_1 / \|x\|_2}{\sqrt{n} - 1} \in [0, 1]

    It is 1 for a vector with a single nonzero entry and 0 when all entries are equal.
    A zero vector gets 0 and vectors of length 1 get 0 (the measure is undefined there).

    Parameters
    ----------
    M : ndarray of shape (k, n)
    axis : {0, 1}
        The axis along which each vector runs (1: one value per row).

    Returns
    -------
    ndarray of shape (k,) (or (n,) for ``axis=0``)
    """
    M = np.abs(np.asarray(M, dtype=float))
    n = M.shape[axis]
    if n < 2:
        return np.zeros(M.shape[1 - axis])
    l1 = M.sum(axis=axis)
    l2 = np.sqrt(np.sum(M * M, axis=axis))
    ratio = np.divide(l1, l2, out=np.full_like(l1, np.sqrt(n)), where=l2 > 0)
    return np.clip((np.sqrt(n) - ratio) / (np.sqrt(n) - 1.0), 0.0, 1.0)
