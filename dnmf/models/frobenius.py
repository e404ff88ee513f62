"""Frobenius deep matrix factorisations of the thesis (ch. 5–6): LC-DMF, DC-DMF, Tri-DMF.

Orientation.  Thesis ch. 5 (eq. 5.1 and its footnote 5) factorises the *features*, exactly as
the paper and docs/architecture.md §1 do, so no transposition is needed::

    X ≈ W_1 H_1,  W_1 ≈ W_2 H_2,  …,  W_{L-1} ≈ W_L H_L,      W_0 = X,
    X (m×n),  W_ℓ (m×r_ℓ),  H_ℓ (r_ℓ×r_{ℓ-1}),  r_0 = n,  H̃_ℓ = H_ℓ ⋯ H_1 (r_ℓ×n).

(Only ch. 4's Algorithms 8–9 factorise the H's; ch. 5's Algorithm 10 is already written for
the W-decomposition, and that is the form implemented here.)

Losses (every error term carries the ½ of the thesis; e_ℓ below is the *unweighted* term,
which is what ``history["error_layer_ℓ"]`` and ``layer_errors`` report):

- ``"layer-centric"`` (LC-DMF, eq. 5.3):  Σ_ℓ λ_ℓ e_ℓ,  e_ℓ = ½‖W_{ℓ-1} − W_ℓ H_ℓ‖²_F.
  The thesis writes the weights λ_0 = 1, λ_1, …, λ_{L-1}; here they are indexed by the layer
  whose error they weigh, λ_ℓ := thesis λ_{ℓ-1}.  ``weights="auto"`` is the thesis' rule
  (§5.3): λ_1 = 1 and λ_ℓ = λ̃ e_1⁰/e_ℓ⁰ for ℓ ≥ 2 with λ̃ = ``weight_ratio`` = 10.
- ``"data-centric"`` (DC-DMF, eq. 5.4):  Σ_ℓ λ_ℓ e_ℓ,  e_ℓ = ½‖X − W_ℓ H̃_ℓ‖²_F
  (the thesis' μ_{ℓ-1}); ``"auto"`` gives λ_ℓ = 1 (§5.3).
- ``"trigeorgis"`` (Tri-DMF, Algorithm 10): the historical, inconsistent baseline.  Its
  updates minimise different losses (thesis Table 5.1); the objective reported is the loss it
  claims, eq. 5.2, ½‖X − W_L H̃_L‖²_F, i.e. weights (0, …, 0, 1) on the data-centric errors
  e_ℓ = ½‖X − W_ℓ H̃_ℓ‖²_F, which are the errors reported.  Its objective is *not* monotone.

Algorithm (thesis Algorithm 11): block coordinate descent over (H_1, W_1, H_2, W_2, …); every
block is a convex quadratic problem min ½⟨Y, P Y R⟩ − ⟨B, Y⟩ over its feasible set, solved by
``inner_iter`` steps of fast projected gradient with restart (thesis Algorithm 2,
:func:`dnmf.init.fpgd`) with step 1/L, L the exact Lipschitz constant.  For the H-blocks of
DC-DMF (gradient eq. 5.8, P = Σ_{k≥ℓ} λ_k C_kᵀC_k, R = D_ℓ D_ℓᵀ) the thesis uses a backtracking
line search because "the Lipschitz constant is quite costly"; it is in fact
λ_max(P) λ_max(R), two small symmetric eigenproblems, which we use.  The restart rejects an
iterate that increases the block objective, so every block update — hence every outer
iteration of LC-DMF and DC-DMF — does not increase the objective.

Feasible sets (``normalize``):

- ``"H"``: H_ℓ ≥ 0 with columns on the unit simplex (H_ℓᵀe = e), W_ℓ ≥ 0 — the geometry of
  the thesis' §5.3 experiment, whose ground truth has column-stochastic H₁*, H₂*.
- ``"W"``: W_ℓ ≥ 0 with columns on the unit simplex (W_ℓᵀe = e), H_ℓ ≥ 0 — the
  normalisation of min-vol deep MF (§6.3).
- ``None``: nonnegativity only (the scaling between layers is then free; see §5.1).
- ``"auto"``: ``"W"`` with a volume penalty, else ``"H"``.

The simplex projection is the vectorised sort-based algorithm.

Min-volume (thesis §6.3, eq. 6.8, with the majorisation of Algorithm 4): the term
½ λ_ℓ κ_ℓ logdet(W_ℓᵀW_ℓ + δI) is added for every layer; during the update of W_ℓ it is
majorised by ½ λ_ℓ κ_ℓ tr(Z W_ℓᵀW_ℓ) + const with Z = (W_ℓᵀW_ℓ + δI)⁻¹ at the current W_ℓ,
which adds λ_ℓ κ_ℓ Z to the quadratic term, so the objective (logdet included) still does not
increase.  κ_ℓ = κ̃_ℓ · 2e_ℓ⁰ / |logdet(W_ℓ⁰ᵀW_ℓ⁰ + δI)| with κ̃_ℓ = ``min_vol_alpha`` (§6.3).

Sparsity (thesis §6.2): ``sparsity`` s_ℓ ∈ [0, 1) asks the average Hoyer sparsity of the
columns of W_ℓ to be ≥ s_ℓ, enforced in the projection step by a grouped sparse projection
(common soft threshold on the ℓ2-normalised columns, found by bisection).  This set is not
convex: the block updates still never increase the objective (rejected steps), but
stationarity is not guaranteed (as the thesis notes).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from .. import _threads
from ..init import (
    INIT_METHODS,
    check_data,
    check_random_state,
    fpgd,
    layerwise_init,
    project_nonnegative,
    project_simplex_columns,
)
from ..result import IterationInfo
from ._driver import Phase, Progress, run_phase

__all__ = [
    "fit_frobenius_deep",
    "fit_multilayer_frobenius",
    "grouped_sparse_projection",
]

LOSSES = ("layer-centric", "data-centric", "trigeorgis")
_LOSS_ALIASES = {
    "lc": "layer-centric",
    "lc-dmf": "layer-centric",
    "layer": "layer-centric",
    "dc": "data-centric",
    "dc-dmf": "data-centric",
    "data": "data-centric",
    "tri": "trigeorgis",
    "tri-dmf": "trigeorgis",
}
NORMALIZE = ("auto", "H", "W", None)
FROBENIUS_INITS = (*INIT_METHODS, "multilayer")


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def _check_loss(loss) -> str:
    if isinstance(loss, str):
        key = loss.lower()
        key = _LOSS_ALIASES.get(key, key)
        if key in LOSSES:
            return key
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def _check_nonneg_float(value, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}.")
    return value


def _per_layer(value, name: str, n_layers: int, *, upper: float | None = None):
    """None | float | sequence of L (float or None) -> list of L (float or None)."""
    if value is None:
        return [None] * n_layers
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        values = [value] * n_layers
    else:
        try:
            values = list(value)
        except TypeError:
            raise ValueError(f"{name} must be None, a number or {n_layers} numbers, "
                             f"got {value!r}.") from None
        if len(values) != n_layers:
            raise ValueError(f"{name} must have one value per layer ({n_layers}), "
                             f"got {len(values)}.")
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        v = _check_nonneg_float(v, name)
        if upper is not None and v >= upper:
            raise ValueError(f"{name} values must be in [0, {upper}), got {v}.")
        out.append(v)
    return out


def _parse_min_vol(min_vol, n_layers: int, delta_default: float):
    """min_vol: None | float κ̃ | sequence | object with alpha_tilde (or alpha) and delta."""
    if min_vol is None:
        return [None] * n_layers, delta_default
    delta = delta_default
    alpha = min_vol
    if hasattr(min_vol, "alpha_tilde") or hasattr(min_vol, "alpha"):
        alpha = getattr(min_vol, "alpha_tilde", None)
        if alpha is None:
            alpha = min_vol.alpha
        delta = getattr(min_vol, "delta", delta_default)
    alphas = _per_layer(alpha, "min_vol alpha (κ̃)", n_layers)
    delta = _check_nonneg_float(delta, "delta", positive=True)
    return alphas, delta


def _resolve_normalize(normalize, has_min_vol: bool):
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}.")
    if normalize == "auto":
        return "W" if has_min_vol else "H"
    return normalize


# --------------------------------------------------------------------------------------
# projections
# --------------------------------------------------------------------------------------
def grouped_sparse_projection(Y: np.ndarray, s: float, n_bisect: int = 60) -> np.ndarray:
    """In place: make the average Hoyer sparsity of the columns of Y (≥ 0) at least ``s``.

    Grouped sparse projection in the spirit of Ohib et al. (thesis §6.2, eq. 6.6): with
    a_i = y_i/‖y_i‖₂, every column is soft-thresholded with a *common* threshold μ ≥ 0,
    d_i = max(a_i − μ, 0)/‖max(a_i − μ, 0)‖₂, μ being the smallest value (found by
    bisection) for which mean_i sp(d_i) ≥ s; y_i is replaced by its closest point on the
    ray of d_i, (y_iᵀd_i) d_i.  μ stays below min_i max(a_i) so no column is emptied; if the
    target cannot be reached the sparsest such projection is returned.

    Parameters
    ----------
    Y : ndarray (t, q), nonnegative
    s : float in [0, 1)

    Returns
    -------
    Y
    """
    t = Y.shape[0]
    if t < 2 or s <= 0:
        return Y
    norms = np.linalg.norm(Y, axis=0)
    nz = norms > 0
    if not np.any(nz):
        return Y
    A = Y[:, nz] / norms[nz]
    sqrt_t = np.sqrt(t)

    def mean_sparsity(mu: float) -> float:
        D = np.maximum(A - mu, 0)
        return float(np.mean((sqrt_t - D.sum(0) / np.linalg.norm(D, axis=0)) / (sqrt_t - 1)))

    if mean_sparsity(0.0) >= s:
        return Y
    lo, hi = 0.0, float(A.max(axis=0).min())
    hi = np.nextafter(hi, 0.0)
    if mean_sparsity(hi) < s:
        lo = hi
    else:
        for _ in range(n_bisect):
            mid = 0.5 * (lo + hi)
            if mean_sparsity(mid) >= s:
                hi = mid
            else:
                lo = mid
    mu = hi if lo < hi else lo
    D = np.maximum(A - mu, 0)
    D /= np.linalg.norm(D, axis=0)
    Ynz = Y[:, nz]
    coef = np.einsum("ij,ij->j", Ynz, D)
    Y[:, nz] = D * coef
    return Y


def _make_projection(simplex: bool, sparsity: float | None) -> Callable[[np.ndarray], np.ndarray]:
    if simplex:
        return project_simplex_columns
    if sparsity:

        def project(Y: np.ndarray) -> np.ndarray:
            np.maximum(Y, 0, out=Y)
            return grouped_sparse_projection(Y, sparsity)

        return project
    return project_nonnegative


# --------------------------------------------------------------------------------------
# linear algebra helpers (dense or sparse X)
# --------------------------------------------------------------------------------------
def _with_blas_limit(func):
    """Run ``func(X, ranks, …)`` inside :func:`dnmf._threads.for_small_blocks`."""

    @functools.wraps(func)
    def wrapper(X, ranks, *args, **kwargs):
        shape = getattr(X, "shape", None)
        try:
            r1 = int(np.max(np.atleast_1d(np.asarray(ranks, dtype=float))))
            m, n = int(shape[0]), int(shape[1])
        except (TypeError, ValueError, IndexError):
            return func(X, ranks, *args, **kwargs)  # invalid input: let func raise
        with _threads.for_small_blocks(m, n, r1):
            return func(X, ranks, *args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------
# sparse/dense products
# --------------------------------------------------------------------------------------
def _at_b(A: np.ndarray, X) -> np.ndarray:
    """Aᵀ X for dense A and dense or sparse X."""
    if sp.issparse(X):
        return np.ascontiguousarray(np.asarray(X.T @ A).T)
    return A.T @ X


def _data_terms(A: np.ndarray, X, D: np.ndarray | None, XD: np.ndarray | None):
    """Gradient terms of ½‖X − A H D‖² in H: (Aᵀ X Dᵀ, D Dᵀ), with D = I on the first layer."""
    if D is None:
        return _at_b(A, X), None
    return A.T @ XD, D @ D.T


def _x_bt(X, B: np.ndarray) -> np.ndarray:
    """X Bᵀ for dense or sparse X."""
    if sp.issparse(X):
        return np.ascontiguousarray(np.asarray(X @ B.T))
    return X @ B.T


def _half_sq_residual(Y, W: np.ndarray, H: np.ndarray, y_sq: float | None = None) -> float:
    """½‖Y − W H‖²_F; for sparse Y via ‖Y‖² − 2⟨Y, WH⟩ + ⟨WᵀW, HHᵀ⟩ (never densified)."""
    if sp.issparse(Y):
        if y_sq is None:
            y_sq = float(Y.multiply(Y).sum())
        inner = float(np.vdot(W, _x_bt(Y, H)))
        quad = float(np.vdot(W.T @ W, H @ H.T))
        return 0.5 * max(y_sq - 2.0 * inner + quad, 0.0)
    R = Y - W @ H
    return 0.5 * float(np.vdot(R, R))


def _chain(Hs: list[np.ndarray]) -> list[np.ndarray]:
    """[H̃_1, …, H̃_L] with H̃_ℓ = H_ℓ ⋯ H_1."""
    out = [Hs[0]]
    for H in Hs[1:]:
        out.append(H @ out[-1])
    return out


def _logdet(W: np.ndarray, delta: float) -> float:
    r = W.shape[1]
    sign, value = np.linalg.slogdet(W.T @ W + delta * np.eye(r, dtype=W.dtype))
    return float(value)


def _inv_gram(W: np.ndarray, delta: float) -> np.ndarray:
    r = W.shape[1]
    M = W.T @ W + delta * np.eye(r, dtype=W.dtype)
    Z = np.linalg.solve(M, np.eye(r, dtype=W.dtype))
    return 0.5 * (Z + Z.T)


# --------------------------------------------------------------------------------------
# the model state: errors, objective, sweeps
# --------------------------------------------------------------------------------------
class _DeepProblem:
    """Data, loss, weights and feasible sets of one deep Frobenius fit."""

    def __init__(self, X, loss, weights, kappa, delta, projW, projH, inner_iter):
        self.X = X
        self.loss = loss
        self.weights = weights  # λ_ℓ (for Tri-DMF: (0, …, 0, 1), only for the objective)
        self.kappa = kappa  # κ_ℓ (0: no volume term)
        self.delta = delta
        self.projW = projW
        self.projH = projH
        self.inner_iter = inner_iter
        self.x_sq = float(X.multiply(X).sum()) if sp.issparse(X) else None

    # -- evaluation --------------------------------------------------------------------
    def errors(self, Ws, Hs) -> np.ndarray:
        """The unweighted terms e_ℓ of the loss (see the module docstring)."""
        L = len(Ws)
        out = np.empty(L)
        if self.loss == "layer-centric":
            for k in range(L):
                Y = self.X if k == 0 else Ws[k - 1]
                out[k] = _half_sq_residual(Y, Ws[k], Hs[k], self.x_sq if k == 0 else None)
        else:
            for k, Ht in enumerate(_chain(Hs)):
                out[k] = _half_sq_residual(self.X, Ws[k], Ht, self.x_sq)
        return out

    def volume_weights(self) -> np.ndarray:
        if self.loss == "trigeorgis":
            return np.ones(len(self.kappa))
        return np.asarray(self.weights, dtype=float)

    def volume(self, Ws) -> float:
        vw = self.volume_weights()
        total = 0.0
        for k, W in enumerate(Ws):
            if self.kappa[k] > 0:
                total += 0.5 * vw[k] * self.kappa[k] * _logdet(W, self.delta)
        return total

    def objective(self, errors: np.ndarray, Ws) -> float:
        return float(np.dot(self.weights, errors)) + self.volume(Ws)

    # -- block updates -----------------------------------------------------------------
    def _update(self, Y, B, *, P=None, R=None, project):
        Y, _ = fpgd(Y, B, P=P, R=R, project=project, n_iter=self.inner_iter)
        return Y

    def _add_volume(self, R: np.ndarray, W: np.ndarray, k: int, weight: float) -> np.ndarray:
        if self.kappa[k] > 0:
            R = R + (weight * self.kappa[k]) * _inv_gram(W, self.delta)
        return R

    def sweep(self, Ws, Hs) -> None:
        """One outer iteration of Algorithm 11 (or Algorithm 10), in place."""
        if self.loss == "layer-centric":
            self._sweep_lc(Ws, Hs)
        elif self.loss == "data-centric":
            self._sweep_dc(Ws, Hs)
        else:
            self._sweep_tri(Ws, Hs)

    def _sweep_lc(self, Ws, Hs) -> None:
        lam = self.weights
        L = len(Ws)
        for k in range(L):
            A = self.X if k == 0 else Ws[k - 1]
            W = Ws[k]
            # H_ℓ: min λ_ℓ ½‖A − W H‖²   (gradient eq. 5.6)
            Hs[k] = self._update(
                Hs[k], lam[k] * _at_b(W, A), P=lam[k] * (W.T @ W), project=self.projH[k]
            )
            H = Hs[k]
            # W_ℓ: λ_ℓ ½‖A − W H_ℓ‖² + λ_{ℓ+1} ½‖W − W_{ℓ+1}H_{ℓ+1}‖²  (+ volume; eq. 5.5)
            R = lam[k] * (H @ H.T)
            C = lam[k] * _x_bt(A, H)
            if k < L - 1:
                R[np.diag_indices_from(R)] += lam[k + 1]
                C += lam[k + 1] * (Ws[k + 1] @ Hs[k + 1])
            R = self._add_volume(R, W, k, lam[k])
            Ws[k] = self._update(W, C, R=R, project=self.projW[k])

    def _sweep_dc(self, Ws, Hs) -> None:
        lam = self.weights
        L = len(Ws)
        X = self.X
        D = None  # D_ℓ = H_{ℓ-1} ⋯ H_1 (None: identity, ℓ = 1)
        XD = None  # X D_ℓᵀ (None: X)
        for k in range(L):
            W = Ws[k]
            # C_i = W_i H_i ⋯ H_{ℓ+1} for i ≥ ℓ (C_ℓ = W_ℓ; j = i − 1 below); gradient eq. 5.8
            G = None
            Csum = lam[k] * W
            P = lam[k] * (W.T @ W)
            for j in range(k + 1, L):
                G = Hs[j] if G is None else Hs[j] @ G
                Ck = Ws[j] @ G
                Csum = Csum + lam[j] * Ck
                P = P + lam[j] * (Ck.T @ Ck)
            B, R = _data_terms(Csum, X, D, XD)
            Hs[k] = self._update(Hs[k], B, P=P, R=R, project=self.projH[k])
            Ht = Hs[k] if D is None else Hs[k] @ D
            # W_ℓ: λ_ℓ ½‖X − W H̃_ℓ‖²  (gradient eq. 5.7, + volume)
            XHt = _x_bt(X, Ht)
            Rw = self._add_volume(lam[k] * (Ht @ Ht.T), W, k, lam[k])
            Ws[k] = self._update(W, lam[k] * XHt, R=Rw, project=self.projW[k])
            D, XD = Ht, XHt

    def _sweep_tri(self, Ws, Hs) -> None:
        L = len(Ws)
        X = self.X
        D = None
        XD = None
        for k in range(L):
            # A_ℓ = W_L if ℓ = L else W_{ℓ+1} H_{ℓ+1} (previous iterates), B_ℓ = D_ℓ
            A = Ws[L - 1] if k == L - 1 else Ws[k + 1] @ Hs[k + 1]
            B, R = _data_terms(A, X, D, XD)
            Hs[k] = self._update(Hs[k], B, P=A.T @ A, R=R, project=self.projH[k])
            Ht = Hs[k] if D is None else Hs[k] @ D
            XHt = _x_bt(X, Ht)
            Rw = self._add_volume(Ht @ Ht.T, Ws[k], k, 1.0)
            Ws[k] = self._update(Ws[k], XHt, R=Rw, project=self.projW[k])
            D, XD = Ht, XHt


# --------------------------------------------------------------------------------------
# feasibility of initial factors
# --------------------------------------------------------------------------------------
def _make_feasible(Ws, Hs, normalize, projW, projH) -> None:
    """Bring initial factors into the feasible sets, in place.

    For ``normalize="W"`` the columns of W_ℓ are first rescaled to sum to one with the
    inverse scaling moved into the rows of H_ℓ and the columns of H_{ℓ+1}, which leaves every
    product W_ℓ H_ℓ (and W_ℓ ≈ W_{ℓ+1}H_{ℓ+1}) unchanged; then every factor is projected.
    """
    L = len(Ws)
    if normalize == "W":
        for k in range(L):
            W = np.maximum(Ws[k], 0)
            s = W.sum(axis=0)
            s = np.where(s > 0, s, 1.0).astype(W.dtype)
            Ws[k] = W / s
            Hs[k] = Hs[k] * s[:, None]
            if k + 1 < L:
                Hs[k + 1] = Hs[k + 1] / s[None, :]
    for k in range(L):
        Ws[k] = projW[k](np.array(Ws[k], order="C"))
        Hs[k] = projH[k](np.array(Hs[k], order="C"))


# --------------------------------------------------------------------------------------
# single layer and multilayer (MMF) with the same block solver
# --------------------------------------------------------------------------------------
def _single_layer(A, W, H, n_iter, inner_iter, projW, projH, on_iter=None):
    """n_iter BCD iterations of min ½‖A − W H‖² over the feasible sets (H then W)."""
    problem = _DeepProblem(A, "layer-centric", np.ones(1), [0.0], 1.0, [projW], [projH],
                           inner_iter)
    Ws, Hs = [W], [H]
    for it in range(1, n_iter + 1):
        problem.sweep(Ws, Hs)
        if on_iter is not None and on_iter(it, problem, Ws, Hs) is False:
            return Ws[0], Hs[0], it, True
    return Ws[0], Hs[0], n_iter, False


class _DeepPhase(Phase):
    """The BCD sweeps of a deep Frobenius fit for the fit driver (objective of its loss)."""

    name = "deep"

    def __init__(self, problem: _DeepProblem, Ws, Hs, progress: Progress):
        self.problem, self.Ws, self.Hs, self.progress = problem, Ws, Hs, progress
        self.monotone = problem.loss != "trigeorgis"  # Tri-DMF's objective can increase

    def iterate(self, evaluate: bool) -> np.ndarray | None:
        self.problem.sweep(self.Ws, self.Hs)
        return self.timed_errors(self.progress) if evaluate else None

    def errors(self) -> np.ndarray:
        return self.problem.errors(self.Ws, self.Hs)

    def objective(self, errors: np.ndarray) -> float:
        return self.problem.objective(errors, self.Ws)

    def record(self, progress: Progress, iteration: int, errors: np.ndarray) -> None:
        progress.record(iteration, errors, self.name)
        progress.set_objective(self.objective(errors))


class _WarmStartPhase(Phase):
    """One layer of the "multilayer" warm start (BCD on ½‖W_{ℓ-1} − W_ℓH_ℓ‖²) for the driver."""

    def __init__(self, problem: _DeepProblem, Wl: list, Hl: list, layer: int, n_layers: int):
        self.problem, self.Wl, self.Hl = problem, Wl, Hl
        self.layer, self.n_layers = layer, n_layers
        self.name = f"init layer {layer + 1}"
        X = problem.X
        self.y_sq = float(X.multiply(X).sum()) if sp.issparse(X) else None

    def iterate(self, evaluate: bool) -> np.ndarray | None:
        self.problem.sweep(self.Wl, self.Hl)
        return self.errors() if evaluate else None

    def errors(self) -> np.ndarray:
        errors = np.full(self.n_layers, np.nan)
        errors[self.layer] = _half_sq_residual(self.problem.X, self.Wl[0], self.Hl[0], self.y_sq)
        return errors

    def record(self, progress: Progress, iteration: int, errors: np.ndarray) -> None:
        progress.record(iteration, errors, self.name, layer=self.layer + 1)


def _projections(L, normalize, sparsity):
    projW = [_make_projection(normalize == "W", sparsity[k]) for k in range(L)]
    projH = [_make_projection(normalize == "H", None) for _ in range(L)]
    return projW, projH


def _init_layer(A, r, method, rng, dtype):
    Ws, Hs = layerwise_init(A, (r,), method, random_state=rng, dtype=dtype)
    return Ws[0], Hs[0]


@_with_blas_limit
def fit_multilayer_frobenius(
    X,
    ranks: Sequence[int],
    *,
    init: str = "snpa",
    max_iter: int = 500,
    inner_iter: int = 10,
    normalize: str | None = "H",
    sparsity=None,
    random_state=None,
    dtype=None,
) -> dict:
    """Multilayer Frobenius NMF (MMF, thesis Algorithm 8 on the W's): one layer at a time.

    Layer ℓ initialises (W_ℓ, H_ℓ) from W_{ℓ-1} with ``init`` (W_0 = X), brings them into the
    feasible set and runs ``max_iter`` BCD iterations of min ½‖W_{ℓ-1} − W_ℓH_ℓ‖²_F with the
    same block solver (fast projected gradient, thesis Algorithm 2) as the deep models.

    Returns
    -------
    dict with W (list), H (list), layer_errors (ndarray (L,), ½‖W_{ℓ-1} − W_ℓH_ℓ‖²_F),
    n_iter (int, per layer), timings.
    """
    t0 = time.perf_counter()
    X = check_data(X, dtype=dtype, accept_sparse=True, allow_negative=True)
    from .._validation import check_ranks

    ranks = check_ranks(ranks, X.shape[1])
    if init not in INIT_METHODS:
        raise ValueError(f"init must be one of {INIT_METHODS}, got {init!r}.")
    max_iter = _check_int(max_iter, "max_iter", 0)
    inner_iter = _check_int(inner_iter, "inner_iter", 1)
    normalize = _resolve_normalize(normalize, False)
    L = len(ranks)
    sparsity = _per_layer(sparsity, "sparsity", L, upper=1.0)
    projW, projH = _projections(L, normalize, sparsity)
    rng = check_random_state(random_state)
    Ws, Hs, errors = [], [], np.empty(L)
    A = X
    for k, r in enumerate(ranks):
        W, H = _init_layer(A, r, init, rng, X.dtype)
        Wl, Hl = [W], [H]
        _make_feasible(Wl, Hl, normalize, [projW[k]], [projH[k]])
        W, H, _, _ = _single_layer(A, Wl[0], Hl[0], max_iter, inner_iter, projW[k], projH[k])
        Ws.append(W)
        Hs.append(H)
        errors[k] = _half_sq_residual(A, W, H)
        A = W
    return {
        "W": Ws,
        "H": Hs,
        "layer_errors": errors,
        "n_iter": max_iter,
        "timings": {"total": time.perf_counter() - t0},
    }


# --------------------------------------------------------------------------------------
# the deep fit
# --------------------------------------------------------------------------------------
def _custom_factors(Ws, Hs, ranks, m, n, dtype):
    L = len(ranks)
    if Ws is None or Hs is None:
        raise ValueError("custom factors need both Ws=[W_1, …, W_L] and Hs=[H_1, …, H_L].")
    if len(Ws) != L or len(Hs) != L:
        raise ValueError(f"Ws and Hs must hold {L} matrices each, got {len(Ws)} and {len(Hs)}.")
    outW, outH = [], []
    prev = n
    for ell, (W, H, r) in enumerate(zip(Ws, Hs, ranks), start=1):
        W = np.array(W, dtype=dtype, order="C")
        H = np.array(H, dtype=dtype, order="C")
        if W.shape != (m, r) or H.shape != (r, prev):
            raise ValueError(f"layer {ell}: W_{ell} must be {(m, r)} and H_{ell} {(r, prev)}, "
                             f"got {W.shape} and {H.shape}.")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(H))):
            raise ValueError(f"layer {ell}: the given factors contain NaN or inf.")
        outW.append(W)
        outH.append(H)
        prev = r
    return outW, outH


@_with_blas_limit
def fit_frobenius_deep(
    X,
    ranks: Sequence[int],
    *,
    loss: str = "layer-centric",
    Ws: list[np.ndarray] | None = None,
    Hs: list[np.ndarray] | None = None,
    init: str = "snpa",
    n_init_iter: int = 100,
    max_iter: int = 500,
    inner_iter: int = 10,
    weights="auto",
    weight_ratio: float = 10.0,
    normalize: str | None = "auto",
    min_vol_alpha=None,
    delta: float = 0.1,
    sparsity=None,
    tol: float = 0.0,
    random_state=None,
    dtype=None,
    callback: Callable[[IterationInfo], bool | None] | None = None,
    eval_every: int = 5,
    verbose: int = 0,
) -> dict:
    """Fit LC-DMF, DC-DMF or Tri-DMF (thesis eqs. 5.3, 5.4, Algorithms 10–11).

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix (m, n)
        Finite data.  Negative entries are accepted (noisy data; the Frobenius models do not
        need X ≥ 0), but the factors are constrained to their feasible sets.
    ranks : sequence of int
        r_1 > r_2 > … > r_L ≥ 1 with r_1 < n.
    loss : {"layer-centric", "data-centric", "trigeorgis"}
    Ws, Hs : lists of L arrays, optional
        Starting factors (W_ℓ (m, r_ℓ), H_ℓ (r_ℓ, r_{ℓ-1})); they are projected onto the
        feasible sets.  When given, ``init`` is ignored.
    init : {"snpa", "nndsvda", "nndsvd", "nndsvdar", "random", "soda", "multilayer"}
        Layer-wise initialisation (:func:`dnmf.init.layerwise_init`) projected onto the
        feasible set, as in thesis §5.3 (SNPA).  "multilayer": SNPA then ``n_init_iter``
        BCD iterations per layer before the next layer is initialised (MMF warm start,
        thesis Algorithm 11 line 1 and §6.3).
    n_init_iter : int
        Iterations per layer of the "multilayer" warm start.
    max_iter : int
        Outer BCD iterations.
    inner_iter : int
        Fast projected gradient iterations per block and outer iteration.
    weights : "auto" or sequence of L positive floats
        λ_ℓ.  "auto": LC λ_1 = 1, λ_ℓ = ``weight_ratio``·e_1⁰/e_ℓ⁰; DC λ_ℓ = 1 (§5.3).
        Ignored by Tri-DMF (whose reported weights are (0, …, 0, 1)).
    weight_ratio : float
        λ̃ of the auto weights of LC-DMF.
    normalize : {"auto", "H", "W", None}
        Feasible sets, see the module docstring.
    min_vol_alpha : None, float or sequence of L floats
        κ̃_ℓ ≥ 0 of the volume penalty (None: no volume term).
    delta : float
        δ > 0 of logdet(WᵀW + δI).
    sparsity : None, float or sequence of L (float or None)
        Target average Hoyer sparsity of the columns of W_ℓ (not with normalize="W").
    tol : float
        Stop when the objective decreases by less than tol (relative) between evaluations
        (not used by Tri-DMF, whose objective is not monotone).
    random_state : int, numpy.random.Generator or None
        Seeds the initialisation; seeded runs are bit-identical.
    dtype : numpy.float32, numpy.float64 or None
        Working dtype (default: X's float dtype, else float64).
    callback : callable(IterationInfo) -> bool | None
        Called after every iteration (warm start included); returning False stops the fit
        and keeps the current factors (``stopped_early`` is then True).
    eval_every : int
        Evaluate errors and objective every so many iterations (0: only at the start and
        the end); every evaluation is one history row.
    verbose : int
        0 silent; 1 a line per phase and about every tenth of the fit; 2 every evaluation.

    Returns
    -------
    dict with keys
        W : list of L ndarrays (m, r_ℓ);  H : list of L ndarrays (r_ℓ, r_{ℓ-1})
        history : DataFrame with iteration (0 = after initialisation), seconds,
            error_layer_1 … error_layer_L (the unweighted terms e_ℓ), objective, phase
        init_history : DataFrame of the warm start or None
        layer_errors : ndarray (L,) final e_ℓ;  objective : float
        weights : ndarray (L,) λ_ℓ;  min_vol_kappa : ndarray (L,) κ_ℓ
        n_iter : int;  stopped_early : bool;  timings : dict (init, deep, total seconds)
        config : dict (JSON-able parameters)
    """
    t0 = time.perf_counter()
    from .._validation import check_ranks, check_weights

    loss = _check_loss(loss)
    X = check_data(X, dtype=dtype, accept_sparse=True, allow_negative=True)
    m, n = X.shape
    ranks = check_ranks(ranks, n)
    L = len(ranks)
    if init not in FROBENIUS_INITS:
        raise ValueError(f"init must be one of {FROBENIUS_INITS}, got {init!r}.")
    n_init_iter = _check_int(n_init_iter, "n_init_iter", 0)
    max_iter = _check_int(max_iter, "max_iter", 0)
    inner_iter = _check_int(inner_iter, "inner_iter", 1)
    eval_every = _check_int(eval_every, "eval_every", 0)
    weight_ratio = _check_nonneg_float(weight_ratio, "weight_ratio", positive=True)
    tol = _check_nonneg_float(tol, "tol")
    delta = _check_nonneg_float(delta, "delta", positive=True)
    weights_arg = check_weights(weights, L)
    alphas, delta = _parse_min_vol(min_vol_alpha, L, delta)
    has_vol = any(a for a in alphas)
    normalize = _resolve_normalize(normalize, has_vol)
    sparsity = _per_layer(sparsity, "sparsity", L, upper=1.0)
    if any(s for s in sparsity) and normalize == "W":
        raise ValueError("sparsity on W_ℓ cannot be combined with normalize='W' "
                         "(use normalize='H' or None).")
    if callback is not None and not callable(callback):
        raise ValueError("callback must be callable (info -> bool | None) or None.")
    rng = check_random_state(random_state)
    projW, projH = _projections(L, normalize, sparsity)

    init_iters = n_init_iter * L if (init == "multilayer" and Ws is None) else 0
    progress = Progress(L, init_iters + max_iter, callback, verbose=verbose,
                        name="FrobeniusDeepMF")

    # ---- initialisation ----------------------------------------------------------------
    t_init = time.perf_counter()
    init_history = None
    if Ws is not None or Hs is not None:
        Ws, Hs = _custom_factors(Ws, Hs, ranks, m, n, X.dtype)
        _make_feasible(Ws, Hs, normalize, projW, projH)
        init_used = "custom"
    elif init == "multilayer":
        init_used = "multilayer"
        Ws, Hs = [], []
        A = X
        for k, r in enumerate(ranks):
            W, H = _init_layer(A, r, "snpa", rng, X.dtype)
            Wl, Hl = [W], [H]
            _make_feasible(Wl, Hl, normalize, [projW[k]], [projH[k]])
            problem = _DeepProblem(A, "layer-centric", np.ones(1), [0.0], 1.0, [projW[k]],
                                   [projH[k]], inner_iter)
            run_phase(_WarmStartPhase(problem, Wl, Hl, k, L), progress, n_init_iter,
                      eval_every=eval_every)
            Ws.append(Wl[0])
            Hs.append(Hl[0])
            A = Wl[0]
        init_history = progress.take_history(("layer",), forget_errors=True)
    else:
        init_used = init
        Ws, Hs = layerwise_init(X, ranks, init, random_state=rng, dtype=X.dtype)
        _make_feasible(Ws, Hs, normalize, projW, projH)
    seconds_init = time.perf_counter() - t_init

    # ---- weights and volume parameters -------------------------------------------------
    problem = _DeepProblem(X, loss, np.ones(L), [0.0] * L, delta, projW, projH, inner_iter)
    e0 = problem.errors(Ws, Hs)
    tiny = np.finfo(float).tiny
    if loss == "trigeorgis":
        lam = np.zeros(L)
        lam[-1] = 1.0
    elif isinstance(weights_arg, str):
        lam = np.ones(L)
        if loss == "layer-centric":
            for k in range(1, L):
                # guard an exact initial layer (e_ℓ⁰ = 0): relative floor on ‖W_{ℓ-1}‖²
                floor = 1e-12 * float(np.vdot(Ws[k - 1], Ws[k - 1])) + tiny
                lam[k] = weight_ratio * max(e0[0], tiny) / max(e0[k], floor)
    else:
        lam = np.asarray(weights_arg, dtype=float)
    kappa = np.zeros(L)
    for k in range(L):
        if alphas[k]:
            ld = abs(_logdet(Ws[k], delta))
            kappa[k] = alphas[k] * 2.0 * e0[k] / max(ld, 1e-12)
    problem.weights = lam
    problem.kappa = kappa

    # ---- the deep phase ------------------------------------------------------------------
    t_deep = time.perf_counter()
    outcome = run_phase(_DeepPhase(problem, Ws, Hs, progress), progress, max_iter,
                        eval_every=eval_every, tol=tol, initial_errors=e0)
    errors, n_iter = outcome.errors, outcome.n_iter
    seconds_deep = time.perf_counter() - t_deep
    history = progress.history()
    config = {
        "model": {"layer-centric": "lc-dmf", "data-centric": "dc-dmf",
                  "trigeorgis": "tri-dmf"}[loss],
        "loss": loss,
        "ranks": list(ranks),
        "beta": 2.0,
        "init": init_used,
        "n_init_iter": n_init_iter if init_used == "multilayer" else 0,
        "max_iter": max_iter,
        "inner_iter": inner_iter,
        "weights": "auto" if isinstance(weights_arg, str) else weights_arg.tolist(),
        "weight_ratio": weight_ratio,
        "normalize": normalize,
        "min_vol_alpha": alphas,
        "delta": delta,
        "sparsity": sparsity,
        "tol": tol,
        "eval_every": eval_every,
        "random_state": random_state if isinstance(random_state, (int, type(None)))
        else "generator",
        "dtype": X.dtype.name,
        "data_shape": [m, n],
    }
    return {
        "W": Ws,
        "H": Hs,
        "history": history,
        "init_history": init_history,
        "layer_errors": np.asarray(errors, dtype=float),
        "objective": float(problem.objective(errors, Ws)),
        "weights": np.asarray(lam, dtype=float),
        "min_vol_kappa": kappa,
        "n_iter": n_iter,
        "stopped_early": bool(progress.stopped),
        "timings": {
            "init": seconds_init,
            "deep": seconds_deep,
            "evaluation": progress.eval_seconds,
            "total": time.perf_counter() - t0,
        },
        "config": config,
    }
