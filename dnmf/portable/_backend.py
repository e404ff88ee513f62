"""The array-API backend of the portable fit loops (:mod:`dnmf.portable._fit`).

A backend owns how data and factors are stored and how one step runs; the loops in
:mod:`dnmf.portable._fit` only call its methods, so the same loop drives arrays of any
array-API library (this module) and Dask arrays chunked over a cluster
(:mod:`dnmf.distributed`). Every method returns new objects (nothing is updated in place).
"""

from __future__ import annotations

import numpy as np

from ..init import _random_factors_kl
from . import _ops


class ArrayAPIBackend:
    """Dense arrays of one array-API namespace (array-api-strict, CuPy, PyTorch, …).

    Parameters
    ----------
    xp : the array namespace (``array_api_compat.array_namespace(X)``)
    device : the device of the data (factors are created there)
    """

    name = "array-api"

    def __init__(self, xp, device=None) -> None:
        self.xp = xp
        self.device = device

    # -- data ------------------------------------------------------------------------------
    def prepare(self, X, beta: float, dtype: np.dtype):
        """Validate X (2-D, real, finite, ≥ 0, not all zero); return (X / max X, max X, shape)."""
        xp = self.xp
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (m × n), got an array with {X.ndim} dimension(s)")
        if not xp.isdtype(X.dtype, ("real floating", "integral")):
            raise ValueError(f"X must be real-valued numeric, got dtype {X.dtype}")
        target = xp.float64 if np.dtype(dtype) == np.float64 else xp.float32
        X = xp.astype(X, target)
        m, n = X.shape
        if m == 0 or n == 0:
            raise ValueError(f"X is empty (shape {(m, n)}); give a matrix with at least one entry")
        if not bool(xp.all(xp.isfinite(X))):
            raise ValueError("X contains NaN or infinite values; drop or replace them first")
        minimum = float(xp.min(X))
        if minimum < 0:
            raise ValueError(f"X has negative entries (min {minimum:.3g}); NMF needs X ≥ 0 — "
                             "clip them at 0 or shift the data by its minimum")
        scale = float(xp.max(X))
        if scale <= 0:
            raise ValueError("X is all zeros; there is nothing to factorise")
        if beta == 0 and bool(xp.any(X == 0)):
            raise ValueError("beta = 0 (Itakura-Saito) is undefined when X has zero entries "
                             "(d(0|y) = -log 0); use beta > 0, or add a small offset to X")
        return X / scale, scale, (m, n)

    def asarray(self, A, like):
        """A NumPy array (initial factors) moved to the data's namespace, device and dtype."""
        return self.xp.asarray(np.asarray(A), dtype=like.dtype, device=self.device)

    def to_numpy(self, A) -> np.ndarray:
        return np.asarray(A) if isinstance(A, np.ndarray) else _to_numpy(A)

    def total(self, Y) -> float:
        return float(self.xp.sum(Y))

    def shape(self, Y) -> tuple[int, int]:
        return tuple(Y.shape)

    # -- factors ---------------------------------------------------------------------------
    def random_factors(self, Y, rank: int, rng: np.random.Generator, dtype, eps: float):
        """:func:`dnmf.init.random_init` with β = 1 (same draws), floored at ε."""
        m, n = self.shape(Y)
        W, H = _random_factors_kl(m, n, rank, self.total(Y), rng, dtype)
        np.maximum(W, eps, out=W)
        np.maximum(H, eps, out=H)
        return self.long_factor(W, Y), self.small_factor(H, Y)

    def long_factor(self, W: np.ndarray, Y):
        """An m×r NumPy factor in this backend's storage (beside the data ``Y``)."""
        return self.asarray(W, Y)

    def small_factor(self, H: np.ndarray, Y):
        return self.asarray(H, Y)

    def custom_factors(self, Ws: list, Hs: list, X):
        """Given NumPy factors (validated, floored, W's divided by the data scale) moved here."""
        return [self.long_factor(W, X) for W in Ws], [self.small_factor(H, X) for H in Hs]

    def finish(self, Ws: list, Hs: list, scale: float):
        """The factors of the result: W_ℓ · s in this library, H_ℓ as NumPy arrays."""
        return [W * scale for W in Ws], [self.to_numpy(H) for H in Hs]

    def normalize_rows_of_H(self, Ws: list, Hs: list) -> tuple[list, list]:
        """:func:`dnmf.models.multilayer.normalize_rows_of_H` without in-place updates."""
        xp = self.xp
        Ws, Hs = list(Ws), list(Hs)
        for layer in range(len(Hs)):
            s = xp.sum(Hs[layer], axis=1)
            s = xp.where(s > 0, s, 1.0)
            Hs[layer] = Hs[layer] / xp.expand_dims(s, axis=1)
            Ws[layer] = self._scale_columns(Ws[layer], s)
            if layer + 1 < len(Hs):
                Hs[layer + 1] = Hs[layer + 1] * xp.expand_dims(s, axis=0)
        return Ws, Hs

    def _scale_columns(self, W, s):
        return W * self.xp.expand_dims(s, axis=0)

    # -- steps -----------------------------------------------------------------------------
    def layer_error(self, Y, W, H, beta: float) -> float:
        return _ops.layer_error(self.xp, Y, W, H, beta)

    def layer_errors(self, X, Ws, Hs, beta: float) -> np.ndarray:
        return np.array([self.layer_error(X if i == 0 else Ws[i - 1], W, H, beta)
                         for i, (W, H) in enumerate(zip(Ws, Hs))])

    def multilayer_step(self, Y, W, H, beta: float, eps: float):
        """H then W by the β-MU, then W's columns to unit maximum (into H's rows)."""
        xp = self.xp
        H = _ops.update_H_mu(xp, Y, W, H, beta, eps)
        W = _ops.update_W_mu(xp, Y, W, H, beta, eps)
        return _ops.rescale_columns_to_unit_max(xp, W, H)

    def deep_sweep(self, X, Ws: list, Hs: list, beta: float, weights, eps: float):
        """One outer iteration of Algorithm 1 (:func:`dnmf.models.deep.deep_sweep`)."""
        xp = self.xp
        Ws, Hs = list(Ws), list(Hs)
        n_layers = len(Ws)
        for layer in range(n_layers):
            Y = X if layer == 0 else Ws[layer - 1]
            Hs[layer] = _ops.update_H_rowsum(xp, Y, Ws[layer], Hs[layer], beta, eps)
            if layer < n_layers - 1:
                ratio = float(weights[layer + 1] / weights[layer])
                W_bar = Ws[layer + 1] @ Hs[layer + 1]
                Ws[layer] = _ops.update_W_deep(xp, Y, Ws[layer], Hs[layer], W_bar, ratio,
                                               beta, eps)
            else:
                Ws[layer] = _ops.update_W_mu(xp, Y, Ws[layer], Hs[layer], beta, eps)
        return Ws, Hs


def _to_numpy(A) -> np.ndarray:
    """A host NumPy copy of an array-API array (DLPack, or the library's own transfer)."""
    if hasattr(A, "get"):  # CuPy
        return A.get()
    if hasattr(A, "detach"):  # PyTorch
        return A.detach().cpu().numpy()
    try:
        return np.from_dlpack(A)
    except (TypeError, RuntimeError, BufferError):
        return np.asarray(A)
