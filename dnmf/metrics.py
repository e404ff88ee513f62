"""Ground-truth metrics: MRSA and SAD of matched columns, abundance RMSE, per-layer scores.

The estimated basis vectors (columns of W_ℓ) come in an arbitrary order and scale, so they
are first matched to the true ones by the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`) on the pairwise angles, then compared
(thesis §2.4.2):

- MRSA, the mean-removed spectral angle (thesis eq. 2.9), in [0, 100]::

      MRSA(x, y) = 100/π · arccos( ⟨x − x̄, y − ȳ⟩ / (‖x − x̄‖₂ ‖y − ȳ‖₂) ),

  0 for identical directions after centring, 50 for orthogonal ones, 100 for opposite
  ones; invariant to positive scaling, to adding a constant and to column permutations
  (after matching).
- SAD, the spectral angle distance arccos(⟨x, y⟩/(‖x‖₂‖y‖₂)) in radians, in [0, π]
  (in [0, π/2] for nonnegative vectors).

Columns on which a metric is undefined (zero columns; for MRSA also constant columns, which
are zero after centring) raise ``ValueError`` naming the argument and the columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

__all__ = [
    "ColumnScores",
    "abundance_rmse",
    "layer_scores",
    "match_columns",
    "mrsa",
    "pairwise_mrsa",
    "pairwise_sad",
    "sad",
]

METRICS = ("mrsa", "sad", "euclidean")


class ColumnScores(NamedTuple):
    """A matched comparison of true and estimated columns.

    Attributes
    ----------
    mean : float
        Mean of ``per_column``.
    per_column : ndarray (r_true,)
        The metric between true column k and its matched estimate.
    perm : ndarray of int (r_true,)
        ``perm[k]`` is the estimated column matched to true column k.
    """

    mean: float
    per_column: np.ndarray
    perm: np.ndarray


def _as_matrix(M, name: str) -> np.ndarray:
    try:
        A = np.asarray(M, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 2-D array of real numbers ({exc}).") from exc
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array (m, r), got shape {A.shape}.")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or infinite entries.")
    return A


def _check_pair(W_true, W_est) -> tuple[np.ndarray, np.ndarray]:
    A = _as_matrix(W_true, "W_true")
    B = _as_matrix(W_est, "W_est")
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            f"W_true and W_est must have the same number of rows, got {A.shape[0]} and "
            f"{B.shape[0]}."
        )
    if B.shape[1] < A.shape[1]:
        raise ValueError(
            f"W_est has fewer columns ({B.shape[1]}) than W_true ({A.shape[1]}); every true "
            "column needs an estimated column to be matched with."
        )
    return A, B


def _unit_columns(A: np.ndarray, name: str, *, centre: bool) -> np.ndarray:
    # relative to the column's size before centring, so that a constant column, which
    # centres to rounding noise, counts as zero
    scale = np.abs(A).max(axis=0) * np.sqrt(A.shape[0])
    if centre:
        A = A - A.mean(axis=0)
    norms = np.linalg.norm(A, axis=0)
    bad = ~(norms > 1e-12 * scale) | (norms == 0)
    if np.any(bad):
        what = "constant (zero after removing its mean)" if centre else "zero"
        cols = np.flatnonzero(bad).tolist()
        raise ValueError(
            f"{name} has {what} column(s) {cols}; the "
            f"{'MRSA' if centre else 'spectral angle'} is undefined for them."
        )
    return A / norms


def _angles(A: np.ndarray, B: np.ndarray, centre: bool) -> np.ndarray:
    """Pairwise angles (radians) between the columns of A and of B, shape (r_A, r_B)."""
    U = _unit_columns(A, "W_true", centre=centre)
    V = _unit_columns(B, "W_est", centre=centre)
    return np.arccos(np.clip(U.T @ V, -1.0, 1.0))


def _paired_matrices(W_true, W_est) -> tuple[np.ndarray, np.ndarray]:
    """Both arguments as 2-D float arrays with the same number of rows."""
    A = _as_matrix(W_true, "W_true")
    B = _as_matrix(W_est, "W_est")
    if A.shape[0] != B.shape[0]:
        raise ValueError("W_true and W_est must have the same number of rows, got "
                         f"{A.shape[0]} and {B.shape[0]}.")
    return A, B


def pairwise_mrsa(W_true, W_est) -> np.ndarray:
    """MRSA (thesis eq. 2.9, in [0, 100]) between every pair of columns, (r_true, r_est)."""
    return _angles(*_paired_matrices(W_true, W_est), centre=True) * (100.0 / np.pi)


def pairwise_sad(W_true, W_est) -> np.ndarray:
    """Spectral angle (radians) between every pair of columns, (r_true, r_est)."""
    return _angles(*_paired_matrices(W_true, W_est), centre=False)


def _cost(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    if metric == "mrsa":
        return _angles(A, B, centre=True)
    if metric == "sad":
        return _angles(A, B, centre=False)
    # euclidean distance between ℓ2-normalised columns
    U = _unit_columns(A, "W_true", centre=False)
    V = _unit_columns(B, "W_est", centre=False)
    return np.sqrt(np.maximum(2.0 - 2.0 * (U.T @ V), 0.0))


def match_columns(W_true, W_est, metric: str = "mrsa") -> np.ndarray:
    """Hungarian matching of the columns of W_est to those of W_true.

    Parameters
    ----------
    W_true : array (m, r_true)
    W_est : array (m, r_est), r_est ≥ r_true
    metric : {"mrsa", "sad", "euclidean"}
        Cost of a pair: mean-removed angle, angle, or distance of the ℓ2-normalised
        columns.  The assignment minimises the sum of the costs.

    Returns
    -------
    perm : ndarray of int (r_true,)
        ``W_est[:, perm]`` is aligned with ``W_true``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    A, B = _check_pair(W_true, W_est)
    cost = _cost(A, B, metric)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(A.shape[1], dtype=np.intp)
    perm[rows] = cols
    return perm


def _scores(A: np.ndarray, B: np.ndarray, pair: np.ndarray, perm) -> ColumnScores:
    if perm is None:
        rows, cols = linear_sum_assignment(pair)
        perm = np.empty(A.shape[1], dtype=np.intp)
        perm[rows] = cols
    else:
        perm = _check_perm(perm, A.shape[1], B.shape[1], "W_est")
    per = pair[np.arange(A.shape[1]), perm]
    return ColumnScores(float(per.mean()), per, perm)


def _check_perm(perm, r_true: int, r_est: int, what: str) -> np.ndarray:
    p = np.asarray(perm)
    if p.shape != (r_true,) or not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"perm must be {r_true} integer indices, got {perm!r}.")
    if p.min() < 0 or p.max() >= r_est or np.unique(p).size != r_true:
        raise ValueError(f"perm must hold {r_true} distinct indices in [0, {r_est}) of {what}.")
    return p.astype(np.intp)


def mrsa(W_true, W_est, perm=None) -> ColumnScores:
    """Mean-removed spectral angle (thesis eq. 2.9) of Hungarian-matched columns.

    Parameters
    ----------
    W_true : array (m, r_true)
        Ground-truth basis vectors (columns).
    W_est : array (m, r_est), r_est ≥ r_true
        Estimated basis vectors.
    perm : array of int (r_true,), optional
        A given matching (``W_est[:, perm]`` aligned with ``W_true``); by default the
        Hungarian matching that minimises the total MRSA.

    Returns
    -------
    ColumnScores
        ``mean`` (the thesis' "MRSA", in [0, 100]), ``per_column`` (r_true,), ``perm``.
    """
    A, B = _check_pair(W_true, W_est)
    pair = _angles(A, B, centre=True) * (100.0 / np.pi)
    return _scores(A, B, pair, perm)


def sad(W_true, W_est, perm=None) -> ColumnScores:
    """Spectral angle distance (radians) of Hungarian-matched columns.

    Same arguments as :func:`mrsa`; the matching minimises the total angle.
    """
    A, B = _check_pair(W_true, W_est)
    pair = _angles(A, B, centre=False)
    return _scores(A, B, pair, perm)


def abundance_rmse(H_true, H_est, perm) -> float:
    """Root-mean-square error between H_true and the matched rows of H_est.

    RMSE = √( mean_{k,j} (H_true[k, j] − H_est[perm[k], j])² ).  The two must be on the same
    scale (e.g. both with columns summing to one); no rescaling is done.

    Parameters
    ----------
    H_true : array (r_true, n)
    H_est : array (r_est, n), r_est ≥ r_true
    perm : array of int (r_true,)
        As returned by :func:`match_columns` (or ``mrsa(...).perm``) for the W's.

    Returns
    -------
    float
    """
    A = _as_matrix(H_true, "H_true")
    B = _as_matrix(H_est, "H_est")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"H_true and H_est must have the same number of columns (n), got "
                         f"{A.shape[1]} and {B.shape[1]}.")
    if B.shape[0] < A.shape[0]:
        raise ValueError(f"H_est has fewer rows ({B.shape[0]}) than H_true ({A.shape[0]}).")
    p = _check_perm(perm, A.shape[0], B.shape[0], "H_est")
    diff = A - B[p]
    return float(np.sqrt(np.mean(diff * diff)))


def layer_scores(
    result_W_list: Sequence[np.ndarray],
    ground_truth_W_list: Sequence[np.ndarray | None],
) -> pd.DataFrame:
    """MRSA and SAD of every layer that has a ground truth.

    Parameters
    ----------
    result_W_list : sequence of L arrays, W_ℓ (m, r_ℓ)
        The estimated features (e.g. ``model.W_``).
    ground_truth_W_list : sequence of arrays or None
        W_ℓ* (m, r_ℓ*) for ℓ = 1, 2, …; ``None`` (or a shorter list) for layers without a
        ground truth, which are left out.

    Returns
    -------
    DataFrame
        One row per scored layer: ``layer`` (from 1), ``r_true``, ``r_est``, ``mrsa`` (mean,
        [0, 100]), ``sad`` (mean, radians), ``mrsa_per_column`` and ``sad_per_column`` (lists
        in the order of the true columns), ``perm`` (list, the MRSA matching).
    """
    if len(ground_truth_W_list) > len(result_W_list):
        raise ValueError(
            f"ground_truth_W_list has {len(ground_truth_W_list)} layers but the result only "
            f"{len(result_W_list)}."
        )
    rows = []
    for ell, (W, Wt) in enumerate(zip(result_W_list, ground_truth_W_list), start=1):
        if Wt is None:
            continue
        try:
            m_scores = mrsa(Wt, W)
            s_scores = sad(Wt, W)
        except ValueError as exc:
            raise ValueError(f"layer {ell}: {exc}") from exc
        rows.append({
            "layer": ell,
            "r_true": int(np.shape(Wt)[1] if np.ndim(Wt) == 2 else 1),
            "r_est": int(np.shape(W)[1] if np.ndim(W) == 2 else 1),
            "mrsa": m_scores.mean,
            "sad": s_scores.mean,
            "mrsa_per_column": m_scores.per_column.tolist(),
            "sad_per_column": s_scores.per_column.tolist(),
            "perm": m_scores.perm.tolist(),
        })
    columns = ["layer", "r_true", "r_est", "mrsa", "sad", "mrsa_per_column", "sad_per_column",
               "perm"]
    return pd.DataFrame(rows, columns=columns)
