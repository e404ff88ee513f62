r"""Deep β-NMF with the layer-centric loss (paper eq. 6), solved by Algorithm 1.

.. math::

    \min_{W_\ell, H_\ell \ge 0} \sum_{\ell=1}^L \lambda_\ell D_\beta(W_{\ell-1}, W_\ell H_\ell)
    \quad \text{s.t.} \quad H_\ell e = e, \qquad W_0 = X.

One outer iteration sweeps ℓ = 1 … L and updates

* H_ℓ by the MU under the row-sum constraint (:func:`dnmf.updates.update_H_rowsum`),
* W_ℓ, ℓ < L, by the closed-form BSUM step of eq. (13)–(19) with
  :math:`\bar W = W_{\ell+1} H_{\ell+1}` and λ = λ_{ℓ+1}/λ_ℓ (:func:`dnmf.updates.update_W_deep`),
* W_L by the plain β-MU.

Every block step minimises a majoriser of the objective, so the objective never increases
(up to the ε floor, which moves entries by at most ε). All factors are floored at ε.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from .. import _rowsplit, _threads
from ..updates import (
    MUWorkspace,
    apply_rowsum_step,
    deep_layer_errors,
    mu_terms_H,
    update_H_rowsum,
    update_W_deep,
    update_W_mu,
)
from ._common import machine_eps
from ._driver import Phase, Progress, run_phase

__all__ = ["auto_weights", "deep_objective", "deep_sweep", "fit_deep", "make_workspaces"]


def auto_weights(errors: np.ndarray) -> np.ndarray:
    """λ_ℓ = 1 / D_β(W_{ℓ-1}⁰, W_ℓ⁰ H_ℓ⁰) (paper §4.1): every term equals one at the start.

    Errors that are zero (an exact layer) are raised to ε · max(errors) first so the weights
    stay finite.
    """
    errors = np.asarray(errors, dtype=float)
    floor = max(float(np.max(errors)) * np.finfo(float).eps, np.finfo(float).tiny)
    return 1.0 / np.maximum(errors, floor)


def deep_objective(errors: np.ndarray, weights: np.ndarray) -> float:
    """Σ_ℓ λ_ℓ D_β(W_{ℓ-1}, W_ℓ H_ℓ)."""
    return float(np.dot(weights, errors))


def deep_sweep(X, Ws: list[np.ndarray], Hs: list[np.ndarray], beta: float,
               weights: np.ndarray, eps: float,
               workspaces: list[MUWorkspace] | None = None,
               first_terms: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """One outer iteration of Algorithm 1, in place on the lists ``Ws`` and ``Hs``.

    With ``workspaces`` (one :class:`~dnmf.updates.MUWorkspace` per layer, see
    :func:`make_workspaces`) the factors are updated in place in their arrays and no
    temporary is allocated; without, every step returns new arrays. With workspaces,
    W̄ = W_{ℓ+1} H_{ℓ+1} of layer ℓ's W-step is computed in layer ℓ+1's workspace and is the
    product its H-step needs (the two factors do not change in between), and
    ``first_terms`` are layer 1's H-step terms (Q, P) of the current factors when the caller
    has them (:func:`dnmf.updates.kl_error_and_H_terms`).
    """
    n_layers = len(Ws)
    if workspaces is None:
        for k in range(n_layers):
            Y = X if k == 0 else Ws[k - 1]
            Hs[k] = update_H_rowsum(Y, Ws[k], Hs[k], beta, eps)
            if k < n_layers - 1:
                W_bar = Ws[k + 1] @ Hs[k + 1]
                ratio = float(weights[k + 1] / weights[k])
                Ws[k] = update_W_deep(Y, Ws[k], Hs[k], W_bar, ratio, beta, eps)
            else:
                Ws[k] = update_W_mu(Y, Ws[k], Hs[k], beta, eps)
        return
    V_next = None  # W_{ℓ+1} H_{ℓ+1}, from layer ℓ's W-step
    for k in range(n_layers):
        Y = X if k == 0 else Ws[k - 1]
        ws, W, H = workspaces[k], Ws[k], Hs[k]
        if k == 0 and first_terms is not None:
            Q, P = first_terms
        else:
            Q, P = mu_terms_H(Y, W, H, beta, V=V_next, workspace=ws)
        apply_rowsum_step(H, Q, P, beta, eps, out=H, workspace=ws)
        if k < n_layers - 1:
            V_next = np.matmul(Ws[k + 1], Hs[k + 1],
                               out=workspaces[k + 1].buffer("V", W.shape))
            ratio = float(weights[k + 1] / weights[k])
            update_W_deep(Y, W, H, V_next, ratio, beta, eps, out=W, workspace=ws)
        else:
            update_W_mu(Y, W, H, beta, eps, out=W, workspace=ws)


def make_workspaces(X, Ws: list[np.ndarray]) -> list[MUWorkspace]:
    """One :class:`~dnmf.updates.MUWorkspace` per layer (data X, W_1, …, W_{L-1})."""
    return [MUWorkspace(X if k == 0 else Ws[k - 1], Ws[k].dtype)
            for k in range(len(Ws))]


class _DeepPhase(Phase):
    """Algorithm 1's sweeps for the fit driver; the objective Σ_ℓ λ_ℓ D_β(W_{ℓ-1}, W_ℓ H_ℓ).

    For β = 1 on dense data the errors of layer 1 come with the H_1-step terms of the same
    factors (one product W_1 H_1 for both), which the next sweep uses.
    """

    name = "deep"

    def __init__(self, X, Ws, Hs, beta, weights, eps, workspaces, progress: Progress,
                 split: _rowsplit.RowSplitDeep | None = None):
        self.X, self.Ws, self.Hs, self.beta = X, Ws, Hs, beta
        self.weights, self.eps, self.workspaces, self.progress = weights, eps, workspaces, progress
        self.split = split
        dense_kl = beta == 1 and isinstance(X, np.ndarray) and split is None
        self._sum_x = float(X.sum()) if dense_kl else 0.0
        self._first_terms = None  # layer 1's H-step terms of the current factors

    def iterate(self, evaluate: bool) -> np.ndarray | None:
        if self.split is not None:
            self.split.sweep(self.Ws, self.Hs, self.beta, self.weights, self.eps)
        else:
            terms, self._first_terms = self._first_terms, None
            deep_sweep(self.X, self.Ws, self.Hs, self.beta, self.weights, self.eps,
                       self.workspaces, first_terms=terms)
        return self.timed_errors(self.progress) if evaluate else None

    def errors(self) -> np.ndarray:
        if self.split is not None:
            return self.split.errors(self.Ws, self.Hs, self.beta)
        errors, self._first_terms = deep_layer_errors(self.X, self.Ws, self.Hs, self.beta,
                                                      self.workspaces, self._sum_x)
        return errors

    def objective(self, errors: np.ndarray) -> float:
        return deep_objective(errors, self.weights)


def fit_deep(
    X,
    Ws: list[np.ndarray],
    Hs: list[np.ndarray],
    beta: float,
    weights: np.ndarray,
    max_iter: int,
    *,
    progress: Progress,
    eval_every: int = 5,
    tol: float = 0.0,
    initial_errors: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], int, float]:
    """Run Algorithm 1 from the given factors (rows of every H_ℓ summing to one).

    Parameters
    ----------
    X : ndarray or sparse of shape (m, n), validated and scaled
    Ws, Hs : lists of the initial factors (copied)
    beta : float in [0, 2]
    weights : ndarray of shape (L,), the λ_ℓ (in the units of the scaled data)
    max_iter : int
    progress : Progress (records the history, calls the callback)
    eval_every : int
    tol : float
    initial_errors : ndarray of shape (L,), optional
        The layer errors of the given factors, when the caller has them already.

    Returns
    -------
    Ws, Hs, n_iter, seconds
    """
    eps = machine_eps(Ws[0].dtype)
    Ws = [np.array(W, order="C") for W in Ws]  # private copies, updated in place
    Hs = [np.array(H, order="C") for H in Hs]
    workspaces = make_workspaces(X, Ws)
    n_threads = _threads.split_threads()
    split = (_rowsplit.RowSplitDeep(X, Ws, n_threads, workspaces)
             if _rowsplit.use_deep_split(X, Ws, n_threads) else None)
    phase = _DeepPhase(X, Ws, Hs, beta, weights, eps, workspaces, progress, split)
    progress.set_factors(lambda: (Ws, Hs))
    # split: one BLAS thread per chunk, the chunks are the parallelism (dnmf._rowsplit)
    with _threads.one_blas_thread() if split is not None else nullcontext():
        outcome = run_phase(phase, progress, max_iter, eval_every=eval_every, tol=tol,
                            initial_errors=initial_errors)
    return Ws, Hs, outcome.n_iter, outcome.seconds
