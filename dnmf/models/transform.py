"""Coefficients of new data on fixed features: the ``transform`` of the β-divergence models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..updates import MUWorkspace, update_W_mu
from ._common import machine_eps

__all__ = ["coefficients", "TRANSFORM_ITER"]

#: β-MU iterations of :func:`coefficients` (a fixed count keeps every row independent of the
#: others: a stopping rule over the whole matrix would make a row depend on its neighbours).
TRANSFORM_ITER = 500


def coefficients(X, H: np.ndarray, *, beta: float, scale: float = 1.0,
                 n_iter: int = TRANSFORM_ITER) -> np.ndarray:
    """W ≥ ε minimising D_β(X, W H) over W with H fixed, by ``n_iter`` β-MU steps.

    The start is row-wise, W⁰_i = (Σ_j x_ij / Σ_kj h_kj) e (each row of W⁰H has the sum of the
    row of X), so every row of the result depends on its row of X only. The iterations run on
    X / ``scale`` (the fit's data scale, so the ε floor means what it meant during the fit).

    Parameters
    ----------
    X : ndarray or sparse of shape (m, n), ≥ 0
    H : ndarray of shape (r, n)
    beta : float in [0, 2]
    scale : float > 0
    n_iter : int

    Returns
    -------
    ndarray of shape (m, r), dtype of H
    """
    dtype = H.dtype
    Xs = (sp.csr_array(X, dtype=dtype) if sp.issparse(X) else np.asarray(X, dtype=dtype)) / scale
    if sp.issparse(Xs) and beta not in (1.0, 2.0):
        Xs = Xs.toarray()
    eps = machine_eps(dtype)
    row_sums = np.asarray(Xs.sum(axis=1), dtype=dtype).ravel()
    W = np.empty((Xs.shape[0], H.shape[0]), dtype=dtype)
    W[:] = (row_sums / max(float(H.sum()), np.finfo(dtype).tiny))[:, None]
    np.maximum(W, eps, out=W)
    H = np.ascontiguousarray(H)
    workspace = MUWorkspace(Xs, dtype)
    for _ in range(n_iter):
        update_W_mu(Xs, W, H, beta, eps, out=W, workspace=workspace)
    return W * dtype.type(scale)
