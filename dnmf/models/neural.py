"""Neural NMF: hierarchical NMF trained by backpropagation through nonnegative least squares.

Will, Zhang, Sadovnik, Gao, Vendrow, Haddock, Molitor, Needell, "Neural nonnegative matrix
factorization for hierarchical multilayer topic modeling" (derivation: docs/neural_nmf.md).

Orientation as everywhere in dnmf: X (m × n) ≈ W_1 H_1, W_1 ≈ W_2 H_2, …, W_0 = X. The free
variables are the H_ℓ (r_ℓ × r_{ℓ-1}); every W_ℓ is a function of them,

    W_ℓ = q(W_{ℓ-1}, H_ℓ) = argmin_{W ≥ 0} ‖W_{ℓ-1} − W H_ℓ‖_F,

one nonnegative least-squares problem per row (the forward pass). The loss is

    f = Σ_{ℓ ∈ S} ‖X − W_ℓ P_ℓ‖²_F / ‖X‖²_F + λ ‖L ⊙ (Y − B W_Lᵀ)‖²_F / ‖L ⊙ Y‖²_F,

P_ℓ = H_ℓ ⋯ H_1, S = {1, …, L} (``loss_layers="all"``) or {L} (``"last"``), with the label
term only when labels are given (Y: P × m one-hot labels of the rows of X, L: mask of the
known entries, B ≥ 0: P × r_L classification layer). Gradients are exact (the derivative of q
on its active set); the optimiser is projected gradient with an Armijo backtracking line
search, so every accepted step decreases f.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._driver import Phase, Progress, run_phase

__all__ = [
    "nnls_rows",
    "nnls_rows_backward",
    "forward",
    "objective_and_gradient",
    "gradient_at",
    "NeuralPhase",
    "NeuralNMF",
]


def _masked_solve(G: np.ndarray, C: np.ndarray, F: np.ndarray) -> np.ndarray:
    """For every row i: x_i with (x_i)_F = G_FF⁻¹ (c_i)_F on F = F[i] and 0 elsewhere.

    One batched solve of the (k, r, r) systems D G D + s (I − D), D = diag(F[i]); the
    diagonal s on the excluded indices (mean diagonal of G) keeps them well scaled.
    """
    k, r = C.shape
    if k == 0:
        return np.zeros_like(C)
    s = float(np.mean(np.diag(G))) or 1.0
    M = G[None, :, :] * (F[:, :, None] & F[:, None, :])
    idx = np.arange(r)
    M[:, idx, idx] += np.where(F, 0.0, s)
    rhs = np.where(F, C, 0.0)
    try:
        x = np.linalg.solve(M, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # a dead topic (zero row of H) in F: least squares instead
        x = (np.linalg.pinv(M) @ rhs[:, :, None])[:, :, 0]
    x[~F] = 0.0
    return x


def _ridged(G: np.ndarray) -> np.ndarray:
    """G, or G + √ε λ_max(G) I when G = H Hᵀ is numerically rank-deficient.

    Then (r > n, or a dead topic) every row's NNLS has many minimisers and the exact
    active-set solves are ill-conditioned, so rounding would decide which one a row gets and
    a row's solution would depend on the rows solved beside it. The ridge √ε λ_max ‖x‖² makes
    the minimiser unique (the least-norm one, to O(√ε)); a full-rank G is returned unchanged.
    """
    r = G.shape[0]
    lam = np.linalg.eigvalsh(G)
    if lam[0] > r * np.finfo(G.dtype).eps * lam[-1]:
        return G
    return G + np.sqrt(np.finfo(G.dtype).eps) * max(lam[-1], 1e-300) * np.eye(r, dtype=G.dtype)


def nnls_rows(G: np.ndarray, C: np.ndarray, passive: np.ndarray | None = None,
              max_iter: int | None = None) -> tuple[np.ndarray, int]:
    """Solve min_{x_i ≥ 0} ½ x_iᵀ G x_i − c_iᵀ x_i for every row c_i of C at once.

    Block principal pivoting (Kim & Park 2011) vectorised over the rows: every iteration
    exchanges the infeasible indices of every unfinished row and solves all their systems in
    one batched call; a row whose number of infeasible indices stops decreasing falls back to
    exchanging one index (Murty's rule), which guarantees termination.

    Parameters
    ----------
    G : ndarray of shape (r, r), symmetric positive semi-definite (H Hᵀ); when it is
        numerically rank-deficient the rows solve the ridge problem of :func:`_ridged`
    C : ndarray of shape (k, r) (rows W_{ℓ-1} Hᵀ)
    passive : bool ndarray of shape (k, r) or None
        Warm start: the indices believed positive (e.g. ``W_previous > 0``); all when None.
    max_iter : int or None
        Default 10 r + 50 exchanges.

    Returns
    -------
    X : ndarray of shape (k, r), the exact solutions (to rounding)
    n_iter : int, exchange iterations used
    """
    k, r = C.shape
    F = np.ones((k, r), dtype=bool) if passive is None else np.array(passive, dtype=bool)
    max_iter = 10 * r + 50 if max_iter is None else max_iter
    # one tolerance per row, so that a row's solution does not depend on the rows beside it
    scale = np.maximum(np.abs(C).max(axis=1, initial=0.0, keepdims=True),
                       max(float(np.abs(G).max(initial=0.0)), 1e-300))
    tol = 64 * np.finfo(C.dtype).eps * scale
    G = _ridged(G)
    x = _masked_solve(G, C, F)
    y = x @ G - C
    ninf = np.full(k, r + 1)
    backup = np.full(k, 3)
    it = 0
    for it in range(1, max_iter + 1):
        V = (F & (x < 0)) | (~F & (y < -tol))
        nV = V.sum(axis=1)
        todo = np.flatnonzero(nV)
        if todo.size == 0:
            it -= 1
            break
        Vt, nVt = V[todo], nV[todo]
        better = nVt < ninf[todo]
        ninf[todo[better]] = nVt[better]
        backup[todo[better]] = 3
        tries = ~better & (backup[todo] >= 1)
        backup[todo[tries]] -= 1
        single = ~better & ~tries
        if single.any():  # exchange only the largest infeasible index
            last = r - 1 - np.argmax(Vt[single][:, ::-1], axis=1)
            one = np.zeros_like(Vt[single])
            one[np.arange(one.shape[0]), last] = True
            Vt[single] = one
        F[todo] ^= Vt
        xt = _masked_solve(G, C[todo], F[todo])
        x[todo] = xt
        y[todo] = xt @ G - C[todo]
    np.maximum(x, 0.0, out=x)
    return x, it


def nnls_rows_backward(grad_W: np.ndarray, W: np.ndarray, H: np.ndarray, Y,
                       need_Y: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Pull the gradient of W = q(Y, H) = argmin_{W ≥ 0} ‖Y − W H‖_F back to H and Y.

    On the free set F_i = {j : W_ij > 0} of each row, (w_i)_F = (H_F H_Fᵀ)⁻¹ H_F y_i, so with
    z_i = (H_F H_Fᵀ)⁻¹ (g_i)_F (zero off F) and R = Y − W H (docs/neural_nmf.md, eq. B):

        ∂/∂H = Zᵀ R − Wᵀ (Z H),        ∂/∂Y = Z H.

    Parameters
    ----------
    grad_W : ndarray (k, r); W : ndarray (k, r), the solution; H : ndarray (r, p)
    Y : ndarray or sparse (k, p), the data of the layer
    need_Y : bool, also return ∂/∂Y

    Returns
    -------
    grad_H : ndarray (r, p); grad_Y : ndarray (k, p) or None
    """
    F = W > 0
    Z = _masked_solve(_ridged(H @ H.T), grad_W, F)  # the Gram matrix of the forward solve
    ZH = Z @ H
    YtZ = (Y.T @ Z) if sp.issparse(Y) else Y.T @ Z
    grad_H = np.asarray(YtZ).T - (Z.T @ W) @ H - W.T @ ZH
    return grad_H, (ZH if need_Y else None)


def _products(Hs: list[np.ndarray]) -> list[np.ndarray]:
    """[P_1, …, P_L], P_ℓ = H_ℓ ⋯ H_1."""
    P = [Hs[0]]
    for H in Hs[1:]:
        P.append(H @ P[-1])
    return P


def forward(X, Hs: list[np.ndarray], passive: list[np.ndarray] | None = None
            ) -> tuple[list[np.ndarray], int]:
    """W_ℓ = q(W_{ℓ-1}, H_ℓ) for ℓ = 1 … L (W_0 = X); ``passive`` warm-starts each NNLS."""
    Ws, total = [], 0
    Y = X
    for k, H in enumerate(Hs):
        C = np.asarray(Y @ H.T)
        W, it = nnls_rows(H @ H.T, C, None if passive is None else passive[k])
        Ws.append(W)
        total += it
        Y = W
    return Ws, total


def _sq_norm(X) -> float:
    if sp.issparse(X):
        return float(X.data @ X.data)
    return float(np.vdot(X, X))


def data_errors(X, Ws: list[np.ndarray], Hs: list[np.ndarray], x_norm2: float | None = None
                ) -> np.ndarray:
    """[‖X − W_ℓ H_ℓ ⋯ H_1‖²_F for every layer] through Gram products (sparse X stays sparse)."""
    x_norm2 = _sq_norm(X) if x_norm2 is None else x_norm2
    out = np.empty(len(Ws))
    for k, (W, P) in enumerate(zip(Ws, _products(Hs))):
        XPt = np.asarray(X @ P.T)
        value = x_norm2 - 2.0 * float(np.vdot(W, XPt)) + float(np.vdot(W.T @ W, P @ P.T))
        out[k] = max(value, 0.0)
    return out


class Labels:
    """Supervision: one-hot Y (P × k), mask L (P × k), weight λ, and which samples.

    ``axis=0``: the k = m rows of X, whose layer-L coordinates are the rows of W_L (the
    slides' S⁽ᴸ⁾ = W_Lᵀ); ``axis=1``: the k = n columns of X (documents of a words × documents
    matrix), whose coordinates are the columns of P_L = H_L ⋯ H_1.
    """

    def __init__(self, Y: np.ndarray, mask: np.ndarray, weight: float, axis: int = 0) -> None:
        self.Y = Y
        self.mask = mask
        self.weight = weight
        self.axis = axis
        self.norm2 = max(float(np.sum((mask * Y) ** 2)), 1e-300)

    def coordinates(self, Ws: list[np.ndarray], P_L: np.ndarray) -> np.ndarray:
        """S (r_L × k): the labelled samples' layer-L coordinates."""
        return Ws[-1].T if self.axis == 0 else P_L


def objective_and_gradient(X, Hs: list[np.ndarray], B: np.ndarray | None,
                           labels: Labels | None, layer_weights: np.ndarray, x_norm2: float,
                           passive: list[np.ndarray] | None = None, gradient: bool = True):
    """The loss f of the module docstring, its parts, and (optionally) its exact gradient.

    Parameters
    ----------
    X : ndarray or sparse (m, n); Hs : list of L ndarrays; B : ndarray (P, r_L) or None
    labels : Labels or None; layer_weights : ndarray (L,), 1 for the layers in the loss, else 0
    x_norm2 : ‖X‖²_F; passive : warm start of the forward pass

    Returns
    -------
    f : float; parts : dict (``Ws``, ``data_errors`` (L,), ``label_error``, ``nnls_iter``);
    grads : list [∂f/∂H_1, …, ∂f/∂H_L] (+ [∂f/∂B] with labels) or None
    """
    Ws, nnls_iter = forward(X, Hs, passive)
    P = _products(Hs)
    n_layers = len(Hs)
    XPt = [np.asarray(X @ Hs[0].T)]  # X P_ℓᵀ = X P_{ℓ-1}ᵀ H_ℓᵀ
    for H in Hs[1:]:
        XPt.append(XPt[-1] @ H.T)
    errs = np.empty(n_layers)
    for k in range(n_layers):
        W = Ws[k]
        value = x_norm2 - 2.0 * float(np.vdot(W, XPt[k])) + float(np.vdot(W.T @ W,
                                                                              P[k] @ P[k].T))
        errs[k] = max(value, 0.0)
    f = float(np.dot(layer_weights, errs)) / x_norm2
    label_error = np.nan
    if labels is not None:
        S = labels.coordinates(Ws, P[-1])
        E = labels.mask * (labels.Y - B @ S)
        label_error = float(np.vdot(E, E))
        f += labels.weight * label_error / labels.norm2
    parts = {"Ws": Ws, "data_errors": errs, "label_error": label_error, "nnls_iter": nnls_iter,
             "_P": P, "_XPt": XPt}
    if labels is not None:
        parts["_S"], parts["_E"] = S, E
    if not gradient:
        return f, parts, None
    return f, parts, gradient_at(X, Hs, B, labels, layer_weights, x_norm2, parts)


def gradient_at(X, Hs: list[np.ndarray], B: np.ndarray | None, labels: Labels | None,
                layer_weights: np.ndarray, x_norm2: float, parts: dict) -> list[np.ndarray]:
    """The exact gradient of f at the point ``parts`` was evaluated at (by
    :func:`objective_and_gradient`): [∂f/∂H_1, …, ∂f/∂H_L] (+ [∂f/∂B] with labels)."""
    Ws, P, XPt = parts["Ws"], parts["_P"], parts["_XPt"]
    n_layers = len(Hs)
    if labels is not None:
        S, E = parts["_S"], parts["_E"]
    # Gradients of ½‖·‖² scaled by the loss' coefficients (2 / ‖X‖² per data term).
    a = 2.0 * np.asarray(layer_weights, dtype=float) / x_norm2
    gHs = [np.zeros_like(H) for H in Hs]
    gWs = [np.zeros_like(W) for W in Ws]
    gP = None
    gB = None
    gS_P = None
    if labels is not None:  # ½‖L ⊙ (Y − B S)‖²: ∂/∂B = −E Sᵀ, ∂/∂S = −Bᵀ E
        c = 2.0 * labels.weight / labels.norm2
        gB = -c * (E @ S.T)
        if labels.axis == 0:
            gWs[-1] += -c * (E.T @ B)
        else:
            gS_P = -c * (B.T @ E)
    for k in range(n_layers - 1, -1, -1):
        W, Pl = Ws[k], P[k]
        # direct terms of ½‖X − W_ℓ P_ℓ‖²: ∂/∂W = W P Pᵀ − X Pᵀ, ∂/∂P = WᵀW P − Wᵀ X
        if a[k] != 0:
            gWs[k] += a[k] * (W @ (Pl @ Pl.T) - XPt[k])
            WtX = np.asarray((X.T @ W).T) if sp.issparse(X) else W.T @ X
            gPl = a[k] * ((W.T @ W) @ Pl - WtX)
        else:
            gPl = np.zeros_like(Pl)
        if gP is not None:  # P_{ℓ+1} = H_{ℓ+1} P_ℓ
            gPl += Hs[k + 1].T @ gP
        elif gS_P is not None:  # the top layer: the label term on P_L
            gPl = gPl + gS_P
        if k == 0:
            gHs[0] += gPl
        else:
            gHs[k] += gPl @ P[k - 1].T
        gP = gPl
    for k in range(n_layers - 1, -1, -1):  # through the NNLS solves, top layer first
        Y = X if k == 0 else Ws[k - 1]
        gH, gY = nnls_rows_backward(gWs[k], Ws[k], Hs[k], Y, need_Y=k > 0)
        gHs[k] += gH
        if k > 0:
            gWs[k - 1] += gY
    return gHs + ([gB] if gB is not None else [])


def _fit_B(S: np.ndarray, labels: Labels) -> np.ndarray:
    """B = argmin_{B ≥ 0} ‖L ⊙ (Y − B S)‖ for a sample mask (the start of the label layer).

    ``S`` (r_L × k): the samples' coordinates, :meth:`Labels.coordinates`.
    """
    known = labels.mask.any(axis=0)
    Sk = S[:, known]
    B, _ = nnls_rows(Sk @ Sk.T, labels.Y[:, known] @ Sk.T)
    return B


class NeuralPhase(Phase):
    """Projected gradient with backtracking on (H_1, …, H_L[, B]), one step per sweep of
    :func:`~._driver.run_phase`.

    A step V⁺ = [V − t D ∇f]₊ (D: one positive scale per block, the inverse of a curvature
    estimate) is accepted when f(V⁺) ≤ f(V) + σ⟨∇f, V⁺ − V⟩; otherwise t is halved. The
    step doubles after every accepted step; a step that would empty a topic (make a column of
    some W_ℓ zero) is halved as well. When no step is accepted the point is stationary to
    rounding and the remaining sweeps leave it as it is (``stationary``; ``n_steps`` counts
    the accepted steps). Errors are ½‖W_{ℓ-1} − W_ℓ H_ℓ‖² (scaled data); the objective is f.
    """

    name = "neural"

    def __init__(self, X, Hs: list[np.ndarray], *, layer_weights: np.ndarray,
                 labels: Labels | None, x_norm2: float, known=None, armijo: float = 1e-4,
                 max_backtracks: int = 40) -> None:
        self.X, self.labels, self.layer_weights, self.x_norm2 = X, labels, layer_weights, x_norm2
        self.known, self.armijo, self.max_backtracks = known, armijo, max_backtracks
        self.Hs = [np.array(H) for H in Hs]
        self.B = None
        if labels is not None:
            Ws0, _ = forward(X, self.Hs)
            self.B = _fit_B(labels.coordinates(Ws0, _products(self.Hs)[-1]), labels)
        self.f, self.parts, self.grads = objective_and_gradient(
            X, self.Hs, self.B, labels, layer_weights, x_norm2)
        self.t = 1.0
        self.last_step = np.nan
        self.n_steps = 0
        self.stationary = False

    def _args(self):
        return self.labels, self.layer_weights, self.x_norm2

    def step(self) -> bool:
        """One accepted step (True), or False when none decreases f (stationary)."""
        X, parts, grads = self.X, self.parts, self.grads
        V = self.Hs + ([self.B] if self.B is not None else [])
        passive = [W > 0 for W in parts["Ws"]]
        D = _block_scales(X, parts["Ws"], self.Hs, self.B, *self._args())
        n_h = len(self.Hs)
        for _ in range(self.max_backtracks):
            V_new = [np.maximum(v - self.t * d * g, 0.0) for v, d, g in zip(V, D, grads)]
            decrease = sum(float(np.vdot(g, vn - v)) for g, vn, v in zip(grads, V_new, V))
            if decrease >= 0:  # the projected step is zero: stationary
                return False
            Hn, Bn = V_new[:n_h], (V_new[n_h] if self.B is not None else None)
            f_new, parts_new, _ = objective_and_gradient(X, Hn, Bn, *self._args(), passive,
                                                         gradient=False)
            # A step that empties a topic (a zero column of some W_ℓ that was not zero) is
            # shortened like one that does not decrease f: a dead topic gets no gradient and
            # never comes back.
            if f_new <= self.f + self.armijo * decrease and not _kills_a_topic(
                    parts["Ws"], parts_new["Ws"]):
                self.Hs, self.B, self.f, self.parts = Hn, Bn, f_new, parts_new
                self.grads = gradient_at(X, Hn, Bn, *self._args(), parts_new)
                self.last_step = self.t
                self.t *= 2.0
                self.n_steps += 1
                return True
            self.t *= 0.5
        return False

    # -- the driver's protocol --------------------------------------------------------------

    def iterate(self, evaluate: bool):
        if not self.stationary and not self.step():
            self.stationary = True
            self.last_step = np.nan
        return self.errors() if evaluate else None

    def errors(self) -> np.ndarray:
        Ws, Hs = self.parts["Ws"], self.Hs
        out = np.empty(len(Hs))
        out[0] = 0.5 * self.parts["data_errors"][0]
        for k in range(1, len(Hs)):
            R = Ws[k - 1] - Ws[k] @ Hs[k]
            out[k] = 0.5 * float(np.vdot(R, R))
        return out

    def objective(self, errors: np.ndarray) -> float:
        return self.f

    def extra(self) -> dict:
        row = {f"rel_error_layer_{ell}": float(e) for ell, e in
               enumerate(np.sqrt(self.parts["data_errors"] / self.x_norm2), start=1)}
        row["label_error"] = self.parts["label_error"]
        row["accuracy"] = np.nan
        if self.known is not None and self.B is not None:
            S = self.labels.coordinates(self.parts["Ws"], _products(self.Hs)[-1])
            row["accuracy"] = _accuracy(S, self.B, self.known)
        row["step"] = self.last_step
        return row

    def record(self, progress, iteration: int, errors: np.ndarray) -> None:
        progress.record(iteration, errors, self.name, **self.extra())
        progress.set_objective(self.f)


def _kills_a_topic(Ws_old: list[np.ndarray], Ws_new: list[np.ndarray]) -> bool:
    """Whether some column of a W_ℓ is zero in ``Ws_new`` and was not in ``Ws_old``."""
    return any(bool(np.any((new.max(axis=0, initial=0) <= 0) & (old.max(axis=0, initial=0) > 0)))
               for old, new in zip(Ws_old, Ws_new))


def _sq_spectral(A: np.ndarray) -> float:
    """‖A‖₂² as the largest eigenvalue of the smaller Gram matrix."""
    G = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
    return float(np.linalg.eigvalsh(G)[-1]) if G.size else 0.0


def _block_scales(X, Ws, Hs, B, labels, layer_weights, x_norm2) -> list[float]:
    """Inverse curvature of f along each block with the W's held fixed (a preconditioner).

    For H_ℓ: Σ_{k ≥ ℓ in S} (2/‖X‖²) ‖W_k‖² ‖H_k⋯H_{ℓ+1}‖² ‖P_{ℓ-1}‖² (+ the label term's
    2λ/‖L⊙Y‖² ‖B‖² ‖…‖²), spectral norms; for B: 2λ/‖L⊙Y‖² ‖S‖², S the samples'
    coordinates.
    """
    n_layers = len(Hs)
    P = _products(Hs)
    out = []
    for k in range(n_layers):
        prev = 1.0 if k == 0 else _sq_spectral(P[k - 1])
        total, above = 0.0, 1.0
        for j in range(k, n_layers):
            if j > k:
                above *= _sq_spectral(Hs[j])
            if layer_weights[j]:
                total += _sq_spectral(Ws[j]) * above
        if labels is not None:
            total += labels.weight * x_norm2 / labels.norm2 * _sq_spectral(B) * above
        total *= 2.0 * prev / x_norm2
        out.append(1.0 / total if total > 0 else 1.0)
    if labels is not None:
        c = 2.0 * labels.weight / labels.norm2 * _sq_spectral(labels.coordinates(Ws, P[-1]))
        out.append(1.0 / c if c > 0 else 1.0)
    return out




# -- the estimator ------------------------------------------------------------------------------

import time  # noqa: E402
from numbers import Real  # noqa: E402

from sklearn.base import _fit_context  # noqa: E402
from sklearn.utils._available_if import available_if  # noqa: E402
from sklearn.utils._param_validation import Interval, StrOptions  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

from .._validation import check_data  # noqa: E402
from ..estimators._base import WarmStartedEstimator  # noqa: E402
from ..estimators._beta import _rng  # noqa: E402
from ..result import FitResult  # noqa: E402
from ._common import machine_eps  # noqa: E402
from .multilayer import fit_multilayer, initial_factors, normalize_rows_of_H  # noqa: E402


def encode_labels(y, m: int, label_mask=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Y one-hot P × m, mask P × m, classes) from labels of the rows of X.

    ``y`` is either a 1-D array of m class labels with -1 marking an unknown label
    (scikit-learn's semi-supervised convention), or a P × m label matrix (the slides'
    orientation: one column per row of X) with an optional P × m mask of known entries.
    """
    y = np.asarray(y)
    if y.ndim == 1:
        if y.shape[0] != m:
            raise ValueError(f"y must have one label per row of X ({m}), got {y.shape[0]}")
        if label_mask is not None:
            raise ValueError("label_mask goes with a label matrix; with 1-D labels mark "
                             "unknown labels with -1")
        known = ~((y == -1) if y.dtype.kind in "iuf" else (y.astype(str) == "-1"))
        classes = np.unique(y[known])
        Y = np.zeros((classes.size, m))
        Y[np.searchsorted(classes, y[known]), np.flatnonzero(known)] = 1.0
        mask = np.zeros_like(Y)
        mask[:, known] = 1.0
        return Y, mask, classes
    if y.ndim == 2:
        if y.shape[1] != m:
            raise ValueError(f"a label matrix must be P × m with one column per row of X "
                             f"(m = {m}), got shape {y.shape}; transpose it if it is m × P")
        Y = np.asarray(y, dtype=float)
        if not np.all(np.isfinite(Y)) or Y.min() < 0:
            raise ValueError("the label matrix must be finite and nonnegative (one-hot columns)")
        mask = np.ones_like(Y) if label_mask is None else np.asarray(label_mask, dtype=float)
        if mask.shape != Y.shape:
            raise ValueError(f"label_mask must have the label matrix' shape {Y.shape}, "
                             f"got {mask.shape}")
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("label_mask must contain only 0 (unknown) and 1 (known)")
        return Y, mask, np.arange(Y.shape[0])
    raise ValueError(f"y must be 1-D class labels or a 2-D P × m label matrix, got {y.ndim}-D")


def _accuracy(S: np.ndarray, B: np.ndarray, known) -> float:
    """Fraction of the samples ``known[1]`` whose argmax of B S is the label ``known[0]``."""
    truth, cols = known
    return float(np.mean(np.argmax(B @ S[:, cols], axis=0) == truth))


def _has_labels(est) -> bool:
    if not hasattr(est, "classes_"):
        raise AttributeError("predict needs a model fitted with labels: call fit(X, y)")
    if est.label_axis_ != 0:
        raise AttributeError("predict classifies new rows; this model was fitted with labels "
                             "of the columns of X (label_axis=1): read transduction_")
    return True


class NeuralNMF(WarmStartedEstimator):
    """Neural NMF: hierarchical Frobenius NMF whose layers are trained jointly by backpropagation.

    The H_ℓ are the weights; W_ℓ = argmin_{W ≥ 0} ‖W_{ℓ-1} − W H_ℓ‖_F is computed by batched
    nonnegative least squares (forward pass) and differentiated exactly on its active set
    (backward pass). Minimises Σ_{ℓ ∈ S} ‖X − W_ℓ H_ℓ ⋯ H_1‖²/‖X‖² (+ the label term
    λ ‖L ⊙ (Y − B W_Lᵀ)‖²/‖L ⊙ Y‖² when ``fit`` gets labels) by projected gradient with
    backtracking, from a multilayer Frobenius NMF start (docs/neural_nmf.md).

    Parameters
    ----------
    ranks : sequence of int
        r_1 > r_2 > … > r_L ≥ 1.
    loss_layers : {"all", "last"}
        S = every layer, or the last only (the paper's two losses).
    label_weight : float ≥ 0
        λ of the label term (relative: both terms are normalised).
    init : {"multilayer", "custom"}
        "multilayer": ``n_init_iter`` Frobenius MU iterations per layer of multilayer NMF
        (each layer started by ``layer_init``); "custom": ``fit(X, H=[H_1, …, H_L])``.
    layer_init : str
    n_init_iter : int
    max_iter : int
        Accepted projected-gradient steps at most.
    tol : float
        Stop when f decreases by less than this fraction in one step.
    eval_every : int
        Store a history row every so many steps (and at the start and the end).
    random_state : int, Generator or None
    dtype : float64 or float32
    callback : callable(IterationInfo) -> bool | None
        Returning False stops the fit, keeping what was computed.

    Attributes
    ----------
    W_ : list of L ndarrays (m, r_ℓ); H_ : list of L ndarrays (r_ℓ, r_{ℓ-1})
    layer_errors_ : ndarray (L,), ½‖W_{ℓ-1} − W_ℓ H_ℓ‖²_F (D_2, as the other models report)
    data_errors_ : ndarray (L,), relative errors ‖X − W_ℓ H_ℓ ⋯ H_1‖_F / ‖X‖_F
    classes_ : ndarray (P,), when fitted with labels; B_ : ndarray (P, r_L), the
        classification layer (scores of row i: W_L[i] B_ᵀ)
    history_ : DataFrame: iteration, seconds, error_layer_ℓ, rel_error_layer_ℓ, objective,
        label_error, accuracy (on the rows whose labels are known; NaN without labels), step,
        phase
    init_history_ : DataFrame of the warm start or None
    n_iter_, stopped_early_, timings_, result_ (FitResult; B and classes in its config)
    """

    _parameter_constraints = {
        **WarmStartedEstimator._parameter_constraints,
        "loss_layers": [StrOptions({"all", "last"})],
        "label_weight": [Interval(Real, 0, None, closed="left")],
    }
    _accepts_sparse = True

    def __init__(self, ranks=(10,), loss_layers: str = "all", label_weight: float = 1.0,
                 init: str = "multilayer", layer_init: str = "random", n_init_iter: int = 100,
                 max_iter: int = 100, tol: float = 0.0, eval_every: int = 1,
                 random_state=None, dtype=np.float64, callback=None) -> None:
        self.ranks = ranks
        self.loss_layers = loss_layers
        self.label_weight = label_weight
        self.init = init
        self.layer_init = layer_init
        self.n_init_iter = n_init_iter
        self.max_iter = max_iter
        self.tol = tol
        self.eval_every = eval_every
        self.random_state = random_state
        self.dtype = dtype
        self.callback = callback

    def _custom_H(self, H, ranks, n, dtype):
        if H is None or len(H) != len(ranks):
            raise ValueError(f"init='custom' needs H=[H_1, …, H_L] with {len(ranks)} matrices")
        out, previous = [], n
        for ell, (Hl, r) in enumerate(zip(H, ranks), start=1):
            Hl = np.array(Hl, dtype=dtype)
            if Hl.shape != (r, previous):
                raise ValueError(f"H_{ell} must have shape {(r, previous)}, got {Hl.shape}")
            if not np.all(np.isfinite(Hl)) or Hl.min() < 0:
                raise ValueError(f"H_{ell} must be finite and nonnegative")
            out.append(Hl)
            previous = r
        return out

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, label_mask=None, H=None, label_axis: int = 0) -> NeuralNMF:
        """Fit to ``X`` (m × n, ndarray or scipy.sparse); ``y``: labels of the samples.

        ``y``: None (unsupervised), k class labels with -1 for unknown ones, or a P × k
        label matrix with an optional P × k ``label_mask``; the samples are the k = m rows of
        X (``label_axis=0``, scikit-learn's convention; classified by W_L) or the k = n
        columns (``label_axis=1``, e.g. the documents of a words × documents matrix;
        classified by the columns of H_L ⋯ H_1). ``H``: the starting H_ℓ when
        ``init="custom"``.
        """
        X = self._validate_X(X, reset=True, where="fit")
        if label_axis not in (0, 1):
            raise ValueError(f"label_axis must be 0 (rows of X) or 1 (columns), got {label_axis!r}")
        result, classes, B, data_errors, predicted = self._fit(
            X, y=y, label_mask=label_mask, H=H, label_axis=label_axis)
        self._set_result(result)
        self.data_errors_ = data_errors
        for attr in ("classes_", "B_", "transduction_", "label_axis_"):
            if hasattr(self, attr):
                delattr(self, attr)
        if classes is not None:
            self.classes_ = classes
            self.B_ = B
            self.label_axis_ = label_axis
            self.transduction_ = classes[predicted]
        return self

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit and return W_1, shape (m, r_1)."""
        return self.fit(X, y, **fit_params).W_[0]

    def _fit(self, X, y=None, label_mask=None, H=None, label_axis=0):
        t0 = time.perf_counter()
        dtype = self._working_dtype()
        Xs, scale = check_data(X, 2.0, dtype)
        m, n = Xs.shape
        ranks = self._check_params(n)
        n_layers = len(ranks)
        max_iter, n_init_iter, eval_every = self.max_iter, self.n_init_iter, self.eval_every
        labels, classes = None, None
        if y is not None:
            Y, mask, classes = encode_labels(y, (m, n)[label_axis], label_mask)
            if not mask.any() or Y.shape[0] == 0:
                classes = None  # every label unknown: unsupervised
            else:
                labels = Labels(Y.astype(dtype), mask.astype(dtype), float(self.label_weight),
                                label_axis)
        rng = _rng(self.random_state)
        eps = machine_eps(dtype)
        init_iters = n_init_iter * n_layers if self.init == "multilayer" else 0
        # the warm start reports layer ℓ ≥ 2 on unit-max columns: only layer 1 carries s²
        progress = Progress(n_layers, init_iters + max_iter, self.callback,
                            np.r_[scale ** 2, np.ones(n_layers - 1)])
        init_history = None
        if self.init == "custom":
            Hs = self._custom_H(H, ranks, n, dtype)
        else:
            Ws, Hs = fit_multilayer(Xs, ranks, 2.0, n_init_iter, init=self.layer_init,
                                    rng=rng, dtype=dtype, progress=progress,
                                    eval_every=max(eval_every, 1), phase_name="init layer")
            init_history = progress.take_history(("layer",), forget_errors=True)
            while len(Ws) < n_layers:  # stopped during the warm start
                Wl, Hl = initial_factors(Ws[-1], ranks[len(Ws)], "random", rng, dtype, eps)
                Ws.append(Wl)
                Hs.append(Hl)
            normalize_rows_of_H(Ws, Hs)
        seconds_init = time.perf_counter() - t0
        layer_weights = np.full(n_layers, 1.0 if self.loss_layers == "all" else 0.0)
        layer_weights[-1] = 1.0
        if not sp.issparse(Xs) and np.count_nonzero(Xs) < 0.25 * Xs.size:
            Xs = sp.csr_array(Xs)  # bag-of-words data: the products of the loss stay sparse
        x_norm2 = _sq_norm(Xs)
        known = None
        if classes is not None:
            cols = mask.any(axis=0)
            known = (np.argmax(Y[:, cols], axis=0), cols)
        t_neural = time.perf_counter()
        phase = NeuralPhase(Xs, Hs, layer_weights=layer_weights, labels=labels,
                            x_norm2=x_norm2, known=known)
        progress.configure(error_scale=scale ** 2)  # every W_ℓ carries the data scale now
        outcome = run_phase(phase, progress, max_iter, eval_every=eval_every, tol=self.tol)
        Hs, B, parts, n_iter = phase.Hs, phase.B, phase.parts, phase.n_steps
        Ws = parts["Ws"]
        predicted = None
        if labels is not None:
            S = labels.coordinates(Ws, _products(Hs)[-1])
            if self.label_weight == 0:  # λ = 0: B did not move; fit it to the final factors
                B = _fit_B(S, labels)
            predicted = np.argmax(B @ S, axis=0)
        errors = outcome.errors * scale ** 2
        config = {
            "model": "neural",
            "ranks": list(ranks),
            "beta": 2.0,
            "loss_layers": self.loss_layers,
            "label_weight": float(self.label_weight),
            "init": self.init,
            "layer_init": self.layer_init,
            "n_init_iter": n_init_iter,
            "max_iter": max_iter,
            "tol": self.tol,
            "eval_every": eval_every,
            "random_state": self.random_state
            if isinstance(self.random_state, (int, type(None))) else "generator",
            "dtype": dtype.name,
            "data_shape": [m, n],
            "data_scale": scale,
        }
        B_user = None
        if classes is not None:
            # W_ℓ carry the data scale s (the H_ℓ do not): B W_Lᵀ unchanged
            B_user = B / scale if label_axis == 0 else B
            config["labels"] = {"classes": classes.tolist(), "B": B_user.tolist(),
                                "axis": label_axis,
                                "known": np.flatnonzero(mask.any(axis=0)).tolist(),
                                "predicted": predicted.tolist()}
        result = FitResult(
            W=[W * scale for W in Ws], H=Hs, history=progress.history(),
            config=config, weights=None, layer_errors=errors, n_iter=n_iter,
            stopped_early=progress.stopped,
            timings={"init": seconds_init, "neural": time.perf_counter() - t_neural,
                     "total": time.perf_counter() - t0},
            init_history=init_history,
        )
        return (result, classes, B_user, np.sqrt(parts["data_errors"] / x_norm2), predicted)

    # -- using a fitted model -------------------------------------------------------------

    def _transform(self, X) -> np.ndarray:
        return self._forward(X)[0]

    def _forward(self, X) -> list[np.ndarray]:
        Xs, scale = check_data(X, 2.0, self._working_dtype())
        Ws, _ = forward(Xs, [np.asarray(H, dtype=Xs.dtype) for H in self.H_])
        return [W * scale for W in Ws]

    def forward(self, X) -> list[np.ndarray]:
        """[W_1, …, W_L] of new rows (m_new × n) by the forward pass with the fitted H_ℓ."""
        check_is_fitted(self)
        return self._forward(self._validate_X(X, reset=False, where="forward"))

    @available_if(_has_labels)
    def predict(self, X) -> np.ndarray:
        """Class of every row of X: argmax of W_L B_ᵀ (models fitted with labels)."""
        W_L = self.forward(X)[-1]
        return self.classes_[np.argmax(W_L @ self.B_.T, axis=1)]


def _multilayer_start(values) -> tuple[str, dict]:
    """The multilayer Frobenius NMF Neural NMF starts from (same ranks, seed, iterations)."""
    return "multilayer", {
        "ranks": values.get("ranks", (9, 4, 2)),
        "beta": 2.0,
        "init": values.get("layer_init", "random"),
        "max_iter": max(1, int(values.get("n_init_iter", 100))),
        "random_state": values.get("random_state", 0),
        "dtype": values.get("dtype", "float64"),
    }


def register() -> None:
    """Register Neural NMF in :mod:`dnmf.registry` (called by dnmf's built-in models)."""
    from ..registry import Capabilities, ModelSpec, ParamSpec, register_model

    register_model(ModelSpec(
        key="neural", label="Neural NMF (backpropagation)", estimator=NeuralNMF,
        params=(
            ParamSpec("ranks", "ints", (9, 4, 2), "r_1 > r_2 > … > r_L, one per layer",
                      label="ranks", low=1),
            ParamSpec("loss_layers", "choice", "all", "reconstruction errors in the loss",
                      label="loss", choices=("all", "last")),
            ParamSpec("label_weight", "float", 1.0,
                      "λ of the label term (used when the data carry labels)",
                      label="label weight λ", low=0.0),
            ParamSpec("n_init_iter", "int", 100,
                      "multilayer Frobenius warm-start iterations per layer",
                      label="warm-start iterations per layer", low=0),
            ParamSpec("max_iter", "int", 100, "projected-gradient steps",
                      label="backpropagation steps", low=0),
            ParamSpec("random_state", "int", 0, "seed of the initial factors", label="seed",
                      low=0),
            ParamSpec("dtype", "choice", "float64", "working precision",
                      choices=("float64", "float32")),
        ),
        capabilities=Capabilities(beta_range=None, fixed_beta=2.0, sparse=True, labels=True),
        short="neural",
        baseline=_multilayer_start,
        check_params={"ranks": (2,), "n_init_iter": 10, "max_iter": 10},
        description="Hierarchical Frobenius NMF whose layers are trained together by "
                    "backpropagating through the nonnegative least-squares solves (Will et "
                    "al.); semi-supervised when the data carry labels.",
    ))
