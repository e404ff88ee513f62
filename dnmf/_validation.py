"""Argument validation at the boundary of the public API (clear ValueErrors)."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

_ALLOWED_DTYPES = (np.float64, np.float32)


def check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.type not in _ALLOWED_DTYPES:
        raise ValueError(f"dtype must be float64 or float32, got {dt.name}")
    return dt


def check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not np.isfinite(beta):
        raise ValueError(f"beta must be a real number in [0, 2], got {beta!r}")
    beta = float(beta)
    if not 0.0 <= beta <= 2.0:
        raise ValueError(
            f"beta must be in [0, 2] (0: Itakura-Saito, 1: Kullback-Leibler, 2: Frobenius), "
            f"got {beta}"
        )
    return beta


def check_int(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value}")
    return value


def check_ranks(ranks, n_features: int | None = None) -> tuple[int, ...]:
    """Ranks r_1 > r_2 > … > r_L ≥ 1 (the one rule every model shares).

    With ``n_features`` = n and r_1 ≥ n a :class:`TrivialFactorizationWarning` says that
    X = W_1 H_1 can then be fitted exactly (scikit-learn's NMF accepts such ranks too).
    """
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        ranks = (int(ranks),)
    if isinstance(ranks, np.ndarray):
        ranks = ranks.ravel().tolist()
    if not isinstance(ranks, Sequence) or isinstance(ranks, str) or len(ranks) == 0:
        raise ValueError(f"ranks must be a non-empty sequence of integers, got {ranks!r}")
    out = tuple(check_int(r, "each rank", 1) for r in ranks)
    for a, b in zip(out, out[1:]):
        if b >= a:
            raise ValueError(
                f"ranks must strictly decrease from layer to layer (r_1 > r_2 > … > r_L), "
                f"got {list(out)}"
            )
    if n_features is not None and out[0] >= n_features:
        warnings.warn(
            f"the first rank r_1 = {out[0]} is not smaller than the number of columns of X "
            f"(n = {n_features}): the factorisation X = W_1 H_1 can be trivial",
            TrivialFactorizationWarning, stacklevel=3)
    return out


class TrivialFactorizationWarning(UserWarning):
    """r_1 ≥ n: the first layer can reproduce X exactly (W_1 = X, H_1 = I)."""


def check_weights(weights, n_layers: int):
    if isinstance(weights, str):
        if weights != "auto":
            raise ValueError(f"weights must be 'auto' or a sequence of positive numbers, "
                             f"got {weights!r}")
        return "auto"
    try:
        arr = np.asarray(weights, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"weights must be 'auto' or {n_layers} positive numbers, "
                         f"got {weights!r}") from None
    if arr.size != n_layers:
        raise ValueError(f"weights must have one value per layer ({n_layers}), got {arr.size}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"weights must be finite and > 0, got {arr.tolist()}")
    return arr


def check_data(X, beta: float, dtype: np.dtype):
    """Validate X; return (X as dtype, dense or CSR, scale s > 0) with the data divided by s.

    The fit runs on X / s with s = max(X): β-divergences are homogeneous
    (D_β(sX, sV) = s^β D_β(X, V)) and MU iterates are scale-equivariant, so this changes
    nothing mathematically, but keeps tiny (1e-300) and huge (1e300) data inside the range
    of floating point, and makes the ε floor relative to the data's scale.
    """
    if sp.issparse(X):
        X = sp.csr_array(X, dtype=dtype, copy=True)  # the data are scaled in place below
        X.sum_duplicates()
        data = X.data
        shape = X.shape
    else:
        try:
            X = np.asarray(X)
        except Exception:
            raise ValueError("X must be a 2-D numeric array or a scipy.sparse matrix") from None
        if X.dtype == object or not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"X must be numeric, got dtype {X.dtype}")
        if np.iscomplexobj(X):
            raise ValueError("X must be real-valued, got complex entries")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (m × n), got an array with {X.ndim} dimension(s)")
        X = np.array(X, dtype=dtype, order="C", copy=True)
        data = X
        shape = X.shape
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"X is empty (shape {shape}); give a matrix with at least one entry")
    if not np.all(np.isfinite(data)):
        raise ValueError("X contains NaN or infinite values; drop or replace them first")
    if data.size and data.min() < 0:
        raise ValueError(
            f"X has negative entries (min {data.min():.3g}); NMF needs X ≥ 0 — "
            "clip them at 0 or shift the data by its minimum"
        )
    scale = float(data.max()) if data.size else 0.0
    if scale <= 0:
        raise ValueError("X is all zeros; there is nothing to factorise")
    if beta == 0 and (sp.issparse(X) and X.nnz < shape[0] * shape[1] or np.any(data == 0)):
        raise ValueError(
            "beta = 0 (Itakura-Saito) is undefined when X has zero entries "
            "(d(0|y) = -log 0); use beta > 0, or add a small offset to X"
        )
    if sp.issparse(X):
        X.data /= scale
        if beta not in (1.0, 2.0):
            # Only β ∈ {1, 2} can work from the nonzeros alone; other β need (WH)^{β-1} densely.
            X = X.toarray()
    else:
        X /= scale
    return X, scale
