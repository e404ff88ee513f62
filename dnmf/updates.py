r"""Multiplicative-update building blocks for (deep) β-NMF.

Notation follows the paper (Leplat, Hien, Onwunta, Gillis, *Deep NMF with β-divergences*).
For one layer ``Y ≈ W H`` (Y is m×n, W is m×r, H is r×n) write :math:`\tilde V = \tilde W \tilde H`.

Majorisers (Lemma 1, Table 1)
-----------------------------
For H with W fixed, the majoriser of :math:`H \mapsto D_\beta(Y, WH)` built at :math:`\tilde H`
is separable. With :math:`t = h_{kj} / \tilde h_{kj}`,

* :math:`P = W^\top \tilde V^{\beta-1}` (the gradient of the concave/positive part),
* :math:`Q = W^\top (Y \odot \tilde V^{\beta-2})` (the gradient of the convex/negative part),

its derivative in :math:`h_{kj}` is

* :math:`g(t) = P - Q\, t^{\beta-2}` for β < 1 (the concave part :math:`u^\beta/\beta`
  is linearised),
* :math:`g(t) = P\, t^{\beta-1} - Q\, t^{\beta-2}` for 1 ≤ β ≤ 2 (Jensen on the whole divergence).

The unconstrained minimiser is the Févotte–Idier MU :math:`t = (Q/P)^{\gamma(\beta)}` with
γ = 1/(2-β) for β < 1 and γ = 1 for β ∈ [1, 2]. The W-problem is the same on transposes.

Sum-to-one constraints (Leplat, Gillis, Idier 2021)
---------------------------------------------------
With :math:`H e = e` (each row of H sums to one), the Lagrangian stationarity per entry is
:math:`g(t_{kj}) = \mu_k`, and μ_k is the root of the secular function
:math:`\xi_k(\mu) = \sum_j \tilde h_{kj} t_{kj}(\mu) - 1`. Each :math:`t(\mu)` is increasing and
convex in μ (for β ≤ 1, :math:`t = (Q/(P-\mu))^\gamma`; for β ∈ (1, 2] it is the inverse of the
increasing concave g), so Newton's method started where ξ ≥ 0 decreases monotonically to the
root. Such a start is :math:`\mu^0_k = \min_j g_{kj}(1 / \tilde h_{kj})`: at that μ one entry alone
already gives :math:`\tilde h t = 1`. Closed forms of :math:`t(\mu)`: β ≤ 1 above; β = 3/2,
:math:`\sqrt t = (\mu + \sqrt{\mu^2 + 4PQ}) / (2P)`; β = 2, :math:`t = \max(0, (Q + \mu)/P)`;
other β ∈ (1, 2) are solved entrywise by :func:`solve_increasing`. For β = 1 and
:math:`P = (W^\top e) e^\top` (constant along a row) the multiplier has the closed form
:math:`\mu_k = P_k - \sum_j \tilde h_{kj} Q_{kj}`, i.e. the MU numerator is normalised.

Deep W-update (paper eq. 13–19)
-------------------------------
For a layer ℓ < L, W = W_ℓ appears in :math:`\lambda_\ell D_\beta(Y, WH) + \lambda_{\ell+1}
D_\beta(W, \bar W)` with :math:`Y = W_{\ell-1}`, :math:`H = H_\ell`, :math:`\bar W = W_{\ell+1}
H_{\ell+1}`. Dividing by λ_ℓ and writing λ = λ_{ℓ+1}/λ_ℓ, the majoriser is separable and its
minimiser solves, entry by entry (eq. 16),

.. math::

    F(w) = g(w / \tilde w) + \lambda\, \partial_x d_\beta(x \mid \bar w)\big|_{x=w} = 0,
    \qquad
    \partial_x d_\beta(x \mid y) = \begin{cases} \log(x/y) & \beta = 1\\
    (x^{\beta-1} - y^{\beta-1}) / (\beta - 1) & \text{otherwise,} \end{cases}

with :math:`P = \tilde V^{\beta-1} H^\top`, :math:`Q = (Y \odot \tilde V^{\beta-2}) H^\top`.
F is strictly increasing on (0, ∞), tends to -∞ at 0+ and to +∞ at ∞, so the root is unique.
Closed forms:

* β = 1 (eq. 18–19): with :math:`a = P - \lambda \log \bar w` and :math:`b = \tilde w Q`,
  :math:`w = (b/\lambda) / \mathcal W((b/\lambda) e^{a/\lambda})
  = (b/\lambda) / \omega(\log(b/\lambda) + a/\lambda)` with ω Wright's omega function,
  evaluated without ever forming :math:`e^{a/\lambda}`; when the argument of ω is below -30
  (or b = 0) the limit :math:`w = \bar w e^{-P/\lambda}` is used.
* β = 3/2: with :math:`A = P/\sqrt{\tilde w} + 2\lambda`, :math:`B = \sqrt{\tilde w} Q`,
  :math:`C = 2\lambda\sqrt{\bar w}`: :math:`w = \tfrac14 ((C + \sqrt{C^2 + 4AB})/A)^2`.
* β = 2: :math:`w = (Q + \lambda \bar w) / (P/\tilde w + \lambda)`.
* β = 0: :math:`w = (\lambda + \sqrt{\lambda^2 + 4 c Q \tilde w^2}) / (2c)`,
  :math:`c = P + \lambda/\bar w`.

Every other β ∈ [0, 2] uses :func:`solve_increasing` on F in log-space (also used by the tests
to check the closed forms). All updates are followed by the floor ``max(·, ε)``, which the
convergence proof of the perturbed algorithm assumes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.special import wrightomega

from . import _kernels
from .divergence import _kl_dense, beta_divergence, beta_divergence_dense, sampled_product
from .portable._ops import _stationarity  # g(t) of the module docstring and dg/dt
from .portable._ops import deep_w_closed_form as _deep_w_closed_form_xp
from .portable._ops import solve_increasing as _solve_increasing_xp

__all__ = [
    "MUWorkspace",
    "gamma_exponent",
    "mu_terms_H",
    "mu_terms_W",
    "update_H_mu",
    "update_W_mu",
    "apply_mu_step",
    "update_H_rowsum",
    "sum_to_one_update",
    "update_W_deep",
    "deep_W_closed_form",
    "deep_W_root_solve",
    "solve_increasing",
    "apply_rowsum_step",
    "deep_layer_errors",
    "kl_error_and_H_terms",
    "workspace_layer_error",
]


def gamma_exponent(beta: float) -> float:
    """Exponent γ(β) of the Févotte–Idier MU that makes it a majorisation-minimisation step."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


# ---------------------------------------------------------------------------------------------
# The two gradient terms P (denominator) and Q (numerator) of the MU
# ---------------------------------------------------------------------------------------------


class MUWorkspace:
    """Buffers reused by the update steps of one layer ``Y ≈ W H`` (hot loops only).

    The MU steps of a fit allocate the same m×n and r×n temporaries at every iteration; a
    workspace keeps them, so that a loop allocates nothing after its first iteration. Results
    equal those without a workspace to rounding (bit for bit on dense data). The arrays returned
    by a step that is given a workspace (e.g. Q of :func:`mu_terms_H`) are views of its buffers:
    use them before the next step with the same workspace.

    For sparse ``Y`` (β = 1) the workspace also holds ``Y``'s structure by rows and by columns
    for the compiled sampled kernels of :mod:`dnmf._kernels`.

    Parameters
    ----------
    Y : ndarray or sparse of shape (m, n)
        The layer's data. Only its shape, dtype and (when sparse) its sparsity structure are
        kept; a dense Y's values may change between steps.
    dtype : dtype, optional
        The working dtype of the factors (default: ``Y``'s).
    """

    def __init__(self, Y, dtype=None) -> None:
        self.shape = Y.shape
        self.dtype = np.dtype(dtype if dtype is not None else Y.dtype)
        self.sparse = sp.issparse(Y)
        self._Y = Y if self.sparse else None
        self._sparse_kl: _kernels.SparseKL | None = None
        self._buffers: dict[str, np.ndarray] = {}

    def buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The buffer ``name`` of the given shape (allocated on first use, uninitialised)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = np.empty(shape, dtype=self.dtype)
            self._buffers[name] = buf
        return buf

    def sparse_kl(self, Y) -> _kernels.SparseKL:
        """``Y`` prepared for the sparse KL kernels (built once per workspace)."""
        if self._sparse_kl is None or Y is not self._Y:
            self._Y = Y
            self._sparse_kl = _kernels.SparseKL(Y)
        return self._sparse_kl

    def transposed(self, name: str, M: np.ndarray) -> np.ndarray:
        """A C-contiguous copy of ``M.T`` in the buffer ``name``."""
        out = self.buffer(name, M.T.shape)
        np.copyto(out, M.T)
        return out


def _check_workspace(workspace: MUWorkspace | None, Y, W: np.ndarray) -> MUWorkspace | None:
    if workspace is None:
        return None
    if workspace.shape != Y.shape or workspace.dtype != W.dtype:
        raise ValueError(f"workspace built for {workspace.shape} {workspace.dtype.name}, "
                         f"used with {Y.shape} {W.dtype.name}")
    return workspace


def _ratio_sparse_kl(Y, W: np.ndarray, H: np.ndarray):
    """Y / (WH) evaluated only at the nonzeros of the CSR matrix Y (same sparsity pattern)."""
    values = sampled_product(W, H, Y)
    tiny = np.finfo(values.dtype).tiny
    np.maximum(values, tiny, out=values)
    ratio = Y.copy()
    ratio.data = (Y.data / values).astype(values.dtype, copy=False)
    return ratio


def _kl_ratio_dense(Y, W, H, V, ws: MUWorkspace) -> np.ndarray:
    """Y / (WH) in the workspace's m×n buffer (``V``, if given, is W @ H and is not modified)."""
    R = ws.buffer("V", Y.shape)
    if V is None:
        np.matmul(W, H, out=R)
        V = R
    np.divide(Y, V, out=R)
    return R


def _left_product(W: np.ndarray, R: np.ndarray, ws: MUWorkspace | None = None,
                  name: str = "QHt") -> np.ndarray:
    """Wᵀ R (r × n), computed as (Rᵀ W)ᵀ: the same sums, but BLAS splits the long (n × r)
    product between its threads far more robustly than the short-and-wide Wᵀ R, whose time
    jumped tenfold whenever one of two BLAS threads was descheduled (measured on 2 cores)."""
    if ws is None:
        return (R.T @ W).T
    return np.matmul(R.T, W, out=ws.buffer(name, (R.shape[1], W.shape[1]))).T


def _power_terms_dense(Y, W, H, V, beta, ws: MUWorkspace) -> tuple[np.ndarray, np.ndarray]:
    """(Y ⊙ V^{β-2}, V^{β-1}) in the workspace's two m×n buffers (general β, dense Y)."""
    Yd = Y.toarray() if sp.issparse(Y) else Y
    V1 = ws.buffer("V", Y.shape)
    if V is None:
        np.matmul(W, H, out=V1)
        V = V1
    V2 = ws.buffer("V2", Y.shape)
    np.power(V, beta - 2, out=V2)  # V^{β-2}
    np.multiply(V2, V, out=V1)  # V^{β-1} (V1 may be V itself: read before written)
    np.multiply(Yd, V2, out=V2)  # Y ⊙ V^{β-2}
    return V2, V1


def mu_terms_H(Y, W: np.ndarray, H: np.ndarray, beta: float, V: np.ndarray | None = None,
               *, workspace: MUWorkspace | None = None):
    """Numerator Q and denominator P of the MU for H (Lemma 1).

    Parameters
    ----------
    Y : ndarray or sparse of shape (m, n)
    W : ndarray of shape (m, r)
    H : ndarray of shape (r, n)
    beta : float in [0, 2]
    V : ndarray of shape (m, n), optional
        ``W @ H`` if already computed (dense Y only).
    workspace : MUWorkspace, optional
        Reuse its buffers (and, for sparse Y and β = 1, the compiled sampled kernel); Q is then
        a view of a workspace buffer.

    Returns
    -------
    Q : ndarray of shape (r, n)
        :math:`W^\\top (Y \\odot (WH)^{\\beta-2})`.
    P : ndarray of shape (r, n) or (r, 1)
        :math:`W^\\top (WH)^{\\beta-1}`; for β = 1 it is the column sums of W, shape (r, 1).
    """
    ws = _check_workspace(workspace, Y, W)
    if beta == 1:
        P = W.sum(axis=0)[:, None]
        if sp.issparse(Y):
            if ws is None:
                Q = np.asarray((_ratio_sparse_kl(Y, W, H).T @ W).T)
            else:  # fused sampled kernel over Y's columns: (Yᵀ ⊘ (WH)ᵀ) W, then transposed
                Ht = ws.transposed("Ht", H)
                QHt = _kernels.kl_numerator_Ht(ws.sparse_kl(Y), W, Ht,
                                               out=ws.buffer("QHt", Ht.shape))
                Q = QHt.T
        elif ws is None:
            V = W @ H if V is None else V
            Q = _left_product(W, Y / V)
        else:
            Q = _left_product(W, _kl_ratio_dense(Y, W, H, V, ws), ws, "QHt")
        return Q, P
    if beta == 2:
        Q = np.asarray((Y.T @ W).T) if sp.issparse(Y) else W.T @ Y
        P = (W.T @ W) @ H
        return Q, P
    if ws is not None:
        A, B = _power_terms_dense(Y, W, H, V, beta, ws)
        return _left_product(W, A, ws, "QHt"), _left_product(W, B, ws, "PHt")
    Yd = Y.toarray() if sp.issparse(Y) else Y
    V = W @ H if V is None else V
    Vb2 = V ** (beta - 2)
    Q = _left_product(W, Yd * Vb2)
    P = _left_product(W, Vb2 * V)
    return Q, P


def mu_terms_W(Y, W: np.ndarray, H: np.ndarray, beta: float, V: np.ndarray | None = None,
               *, workspace: MUWorkspace | None = None):
    """Numerator Q and denominator P of the MU for W (Lemma 1 on transposes).

    Same parameters as :func:`mu_terms_H`.

    Returns
    -------
    Q : ndarray of shape (m, r)
        :math:`(Y \\odot (WH)^{\\beta-2}) H^\\top`.
    P : ndarray of shape (m, r) or (1, r)
        :math:`(WH)^{\\beta-1} H^\\top`; for β = 1 it is the row sums of H, shape (1, r).
    """
    ws = _check_workspace(workspace, Y, W)
    if beta == 1:
        P = H.sum(axis=1)[None, :]
        if sp.issparse(Y):
            if ws is None:
                Q = np.asarray(_ratio_sparse_kl(Y, W, H) @ H.T)
            else:  # fused sampled kernel over Y's rows
                Ht = ws.transposed("Ht", H)
                Q = _kernels.kl_numerator_W(ws.sparse_kl(Y), W, Ht,
                                            out=ws.buffer("QW", W.shape))
        elif ws is None:
            V = W @ H if V is None else V
            Q = (Y / V) @ H.T
        else:
            Q = np.matmul(_kl_ratio_dense(Y, W, H, V, ws), H.T, out=ws.buffer("QW", W.shape))
        return Q, P
    if beta == 2:
        Q = np.asarray(Y @ H.T)
        P = W @ (H @ H.T)
        return Q, P
    if ws is not None:
        A, B = _power_terms_dense(Y, W, H, V, beta, ws)
        Q = np.matmul(A, H.T, out=ws.buffer("QW", W.shape))
        P = np.matmul(B, H.T, out=ws.buffer("PW", W.shape))
        return Q, P
    Yd = Y.toarray() if sp.issparse(Y) else Y
    V = W @ H if V is None else V
    Vb2 = V ** (beta - 2)
    Q = (Yd * Vb2) @ H.T
    P = (Vb2 * V) @ H.T
    return Q, P


def workspace_layer_error(Y, W: np.ndarray, H: np.ndarray, beta: float,
                          workspace: MUWorkspace | None) -> float:
    """D_β(Y | WH) (:func:`dnmf.divergence.beta_divergence`), computed in the workspace's
    buffers on dense Y (same value)."""
    if workspace is None or sp.issparse(Y):
        return beta_divergence(Y, W, H, beta)
    V = np.matmul(W, H, out=workspace.buffer("V", Y.shape))
    if beta == 1:
        return _kl_dense(Y, V, work=workspace.buffer("V2", Y.shape))
    return beta_divergence_dense(Y, V, beta)


def kl_error_and_H_terms(Y: np.ndarray, W: np.ndarray, H: np.ndarray, sum_y: float,
                         workspace: MUWorkspace) -> tuple[float, np.ndarray, np.ndarray]:
    """D_KL(Y | WH) and the MU terms (Q, P) of :func:`mu_terms_H` (β = 1) from one product WH.

    A fit that evaluates its error and then updates H needs WH twice for the same factors;
    this computes it once: Q and P are those :func:`mu_terms_H` returns for these factors
    (bit for bit), Q a view of the workspace's buffer.

    Parameters
    ----------
    Y : ndarray of shape (m, n), dense
    W : ndarray of shape (m, r); H : ndarray of shape (r, n)
    sum_y : float, Σ Y (the constant term of the divergence)
    workspace : MUWorkspace of the layer

    Returns
    -------
    error : float, Σ y log(y/v) − y + v with V = WH
    Q : ndarray of shape (r, n); P : ndarray of shape (r, 1)
    """
    V = np.matmul(W, H, out=workspace.buffer("V", Y.shape))
    sum_v = float(V.sum())
    Q, P = mu_terms_H(Y, W, H, 1.0, V=V, workspace=workspace)  # V now holds Y ⊘ WH
    return _kernels.xlog_ratio_sum(Y, V, V) - sum_y + sum_v, Q, P


def deep_layer_errors(X, Ws: list[np.ndarray], Hs: list[np.ndarray], beta: float,
                      workspaces: list[MUWorkspace] | None, sum_x: float = 0.0):
    """[D_β(W_{ℓ-1} | W_ℓ H_ℓ) for every layer] (W_0 = X), in the workspaces' buffers, and
    for β = 1 on dense X layer 1's H-step terms of these factors (:func:`kl_error_and_H_terms`;
    ``sum_x`` = Σ X), else None. X and the W_ℓ may be the same rows of a fit's arrays (a row
    chunk): each error is then that chunk's share.

    Returns
    -------
    errors : ndarray of shape (L,)
    first_terms : (Q, P) or None
    """
    errors = np.empty(len(Ws))
    first_terms = None
    for k, (W, H) in enumerate(zip(Ws, Hs)):
        ws = None if workspaces is None else workspaces[k]
        if k == 0 and beta == 1 and ws is not None and isinstance(X, np.ndarray):
            errors[0], *first_terms = kl_error_and_H_terms(X, W, H, sum_x, ws)
        else:
            errors[k] = workspace_layer_error(X if k == 0 else Ws[k - 1], W, H, beta, ws)
    return errors, None if first_terms is None else tuple(first_terms)


def _floor(A: np.ndarray, eps: float) -> np.ndarray:
    np.maximum(A, eps, out=A)
    return A


def _mu_step(factor: np.ndarray, Q: np.ndarray, P: np.ndarray, beta: float,
             out: np.ndarray | None = None) -> np.ndarray:
    """factor ⊙ (Q / max(P, tiny))^γ; with ``out``, Q is overwritten (it is a scratch buffer)."""
    tiny = np.finfo(factor.dtype).tiny
    gamma = gamma_exponent(beta)
    if out is None:
        ratio = Q / np.maximum(P, tiny)
        if gamma != 1.0:
            ratio **= gamma
        return factor * ratio
    np.divide(Q, np.maximum(P, tiny), out=Q)
    if gamma != 1.0:
        np.power(Q, gamma, out=Q)
    return np.multiply(factor, Q, out=out)


def apply_mu_step(factor: np.ndarray, Q: np.ndarray, P: np.ndarray, beta: float, eps: float,
                  out: np.ndarray | None = None) -> np.ndarray:
    """The MU step itself: max(ε, factor ⊙ (Q / max(P, tiny))^γ(β)).

    Returns a new array, or ``out`` (which may be ``factor``); with ``out`` Q is overwritten.
    Every β-MU of the package ends here, also the row split's (:mod:`dnmf._rowsplit`), which
    sums Q and P over its row chunks first.
    """
    return _floor(_mu_step(factor, Q, P, beta, out=out), eps)


def update_H_mu(Y, W: np.ndarray, H: np.ndarray, beta: float, eps: float, *,
                out: np.ndarray | None = None,
                workspace: MUWorkspace | None = None) -> np.ndarray:
    """One β-MU step for H with W fixed: H ← max(ε, H ⊙ (Q/P)^γ).

    Returns a new array, or ``out`` (which may be ``H`` itself) when given. With a
    ``workspace`` (:class:`MUWorkspace`) the temporaries are reused.
    """
    Q, P = mu_terms_H(Y, W, H, beta, workspace=workspace)
    return apply_mu_step(H, Q, P, beta, eps, out=out)  # Q is a fresh or scratch array


def update_W_mu(Y, W: np.ndarray, H: np.ndarray, beta: float, eps: float, *,
                out: np.ndarray | None = None,
                workspace: MUWorkspace | None = None) -> np.ndarray:
    """One β-MU step for W with H fixed: W ← max(ε, W ⊙ (Q/P)^γ).

    Returns a new array, or ``out`` (which may be ``W`` itself) when given. With a
    ``workspace`` (:class:`MUWorkspace`) the temporaries are reused.
    """
    Q, P = mu_terms_W(Y, W, H, beta, workspace=workspace)
    return apply_mu_step(W, Q, P, beta, eps, out=out)  # Q is a fresh or scratch array


# ---------------------------------------------------------------------------------------------
# A vectorised safeguarded root finder for increasing functions
# ---------------------------------------------------------------------------------------------


def solve_increasing(
    func: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: np.ndarray,
    *,
    rtol: float = 1e-14,
    max_iter: int = 200,
) -> np.ndarray:
    """Roots of strictly increasing functions F_i(exp(u_i)), all entries at once.

    The unknown is searched in log-space (``x = exp(u)``) so that roots spanning many orders
    of magnitude are found with relative accuracy. A bracket is first grown geometrically
    from ``x0``, then Newton steps are taken and replaced by bisection whenever they leave the
    bracket (a safeguarded Newton method).

    Parameters
    ----------
    func : callable
        ``func(x) -> (F, dF_du)`` with ``x`` positive, ``F`` increasing in ``x`` and
        ``dF_du = x * F'(x)``, both of the shape of ``x``.
    x0 : ndarray of positive floats
        Starting points.
    rtol : float
        Stop when every log-space bracket is shorter than ``rtol``.
    max_iter : int
        Bound on the Newton/bisection iterations.

    Returns
    -------
    ndarray of the shape of ``x0``.
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        return _solve_increasing_xp(np, func, np.asarray(x0, dtype=float), rtol=rtol,
                                    max_iter=max_iter)


# ---------------------------------------------------------------------------------------------
# MU under disjoint sum-to-one constraints (rows of the factor sum to one)
# ---------------------------------------------------------------------------------------------


def _newton_mu(mu: np.ndarray, xi: np.ndarray, dxi: np.ndarray, tol: float):
    """The next μ of the Newton iteration on ξ(μ) = 0 (a row's step skipped where ξ' ≤ 0 or
    the step is not finite), or None when every |ξ_k| ≤ tol or no row has a step left."""
    if np.all(np.abs(xi) <= tol):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        step = xi / dxi
    step = np.where(np.isfinite(step) & (dxi > 0), step, 0.0)
    if not np.any(step):
        return None
    return mu - step


def _t_of_mu(mu, Q, P, beta):
    """Entrywise t(μ) solving g(t) = μ, and dt/dμ."""
    mu = mu[:, None]
    if beta <= 1:
        gamma = 1.0 / (2.0 - beta)
        gap = P - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (Q / gap) ** gamma if gamma != 1.0 else Q / gap
            dt = gamma * t / gap
        return t, dt
    if beta == 2:
        t = np.maximum((Q + mu) / P, 0.0)
        dt = np.where(t > 0, 1.0 / P, 0.0)
        return t, dt
    if beta == 1.5:
        root = np.sqrt(mu * mu + 4.0 * P * Q)
        s = (mu + root) / (2.0 * P)
        t = s * s
        ds = (1.0 + mu / root) / (2.0 * P)
        return t, 2.0 * s * ds
    mu_full = np.broadcast_to(mu, Q.shape)

    def F(x):
        g, dg = _stationarity(x, Q, P, beta)
        return g - mu_full, x * dg

    x0 = np.broadcast_to(np.maximum(Q / P, np.finfo(float).tiny), Q.shape)
    t = solve_increasing(F, x0)
    _, dg = _stationarity(t, Q, P, beta)
    return t, 1.0 / dg


def sum_to_one_update(
    H: np.ndarray,
    Q: np.ndarray,
    P: np.ndarray,
    beta: float,
    *,
    tol: float = 1e-13,
    max_iter: int = 100,
    return_multiplier: bool = False,
):
    """Minimise the Lemma-1 majoriser built at H subject to H e = e (rows sum to one).

    Parameters
    ----------
    H : ndarray of shape (r, n), positive
        The current iterate :math:`\\tilde H`, rows summing to one.
    Q, P : ndarrays broadcastable to (r, n)
        The MU numerator and denominator (:func:`mu_terms_H`).
    beta : float in [0, 2]
    tol : float
        Newton stops when every |ξ_k(μ_k)| ≤ tol.
    max_iter : int
    return_multiplier : bool
        Also return the row-sum multipliers μ (shape (r,)).

    Returns
    -------
    H_new : ndarray of shape (r, n)
        Not floored; rows whose Q is identically zero are returned unchanged.
    mu : ndarray of shape (r,), only with ``return_multiplier``.
    """
    P = np.broadcast_to(P, Q.shape)
    tiny = np.finfo(float).tiny
    P = np.maximum(P, tiny)
    Hs = np.maximum(H, tiny)
    # Start where ξ ≥ 0: μ⁰_k = min_j g_kj(1 / h_kj).
    g_start, _ = _stationarity(1.0 / Hs, Q, P, beta)
    mu = np.where(Q > 0, g_start, np.inf).min(axis=1)
    mu = np.where(np.isfinite(mu), mu, 0.0)
    for _ in range(max_iter):
        t, dt = _t_of_mu(mu, Q, P, beta)
        xi = np.sum(Hs * t, axis=1) - 1.0
        dxi = np.sum(Hs * dt, axis=1)
        mu_next = _newton_mu(mu, xi, dxi, tol)
        if mu_next is None:
            break
        mu = mu_next
    t, _ = _t_of_mu(mu, Q, P, beta)
    H_new = Hs * t
    degenerate = ~np.any(Q > 0, axis=1) | ~np.all(np.isfinite(H_new), axis=1)
    if degenerate.any():
        H_new[degenerate] = H[degenerate]
    if return_multiplier:
        return H_new, mu
    return H_new


def update_H_rowsum(
    Y, W: np.ndarray, H: np.ndarray, beta: float, eps: float, V: np.ndarray | None = None,
    *, out: np.ndarray | None = None, workspace: MUWorkspace | None = None,
) -> np.ndarray:
    """One MU step for H under H e = e (Algorithm 1, line 3), floored at ε.

    Parameters
    ----------
    Y : ndarray or sparse of shape (m, n)
    W : ndarray of shape (m, r)
    H : ndarray of shape (r, n), rows summing to one
    beta : float in [0, 2]
    eps : float
    V : ndarray of shape (m, n), optional; ``W @ H`` if already computed.
    out : ndarray of shape (r, n), optional; may be ``H`` itself.
    workspace : MUWorkspace, optional; reuse its buffers.

    Returns
    -------
    ndarray of shape (r, n): a new array, or ``out``.
    """
    Q, P = mu_terms_H(Y, W, H, beta, V=V, workspace=workspace)
    return apply_rowsum_step(H, Q, P, beta, eps, out=out, workspace=workspace)


def apply_rowsum_step(H: np.ndarray, Q: np.ndarray, P: np.ndarray, beta: float, eps: float,
                      *, out: np.ndarray | None = None,
                      workspace: MUWorkspace | None = None) -> np.ndarray:
    """The H e = e step of :func:`update_H_rowsum` from its MU terms ``Q``, ``P`` (of
    :func:`mu_terms_H`, or their sums over row chunks of the layer), floored at ε."""
    if beta == 1:
        # P is constant along each row: the multiplier is explicit and the update is the MU
        # numerator normalised to unit row sums.
        num = np.multiply(H, Q, out=None if workspace is None else workspace.buffer(
            "num", H.shape))  # C order as H: the row sums below add in the same order
        sums = num.sum(axis=1, keepdims=True)
        ok = sums[:, 0] > 0
        if out is None:
            out = H.copy()
        elif out is not H:
            np.copyto(out, H)
        if ok.all():
            np.divide(num, sums, out=out)
        else:
            out[ok] = num[ok] / sums[ok]
        return _floor(out, eps)
    new = sum_to_one_update(H, Q, P, beta).astype(H.dtype, copy=False)
    if out is None:
        return _floor(new, eps)
    np.copyto(out, new)
    return _floor(out, eps)


# ---------------------------------------------------------------------------------------------
# The deep W-update for layers ℓ < L
# ---------------------------------------------------------------------------------------------


def _omega_closed_form_kl(W_t, Q, P, W_bar, lam):
    """β = 1 update (eq. 18–19) written plainly with scipy's ω: the reference the fast kernel
    (:func:`dnmf._kernels.deep_w_kl`, used by the fits) is tested and benchmarked against."""
    b_over_lam = W_t * Q / lam
    a_over_lam = P / lam - np.log(W_bar)
    with np.errstate(divide="ignore"):
        x = np.log(b_over_lam) + a_over_lam
    limit = x < _kernels.OMEGA_TAIL
    # ω(x) = e^x (1 + O(e^x)) below the tail, hence w = (b/λ) e^{-x} = e^{-a/λ} = W̄ e^{-P/λ}.
    tail = W_bar * np.exp(-P / lam)
    safe_x = np.where(limit, 0.0, x)
    omega = wrightomega(safe_x)
    main = b_over_lam / omega
    return np.where(limit, tail, main)


def deep_W_closed_form(
    W_t: np.ndarray, Q: np.ndarray, P: np.ndarray, W_bar: np.ndarray, lam: float, beta: float
) -> np.ndarray:
    """Minimiser of the deep W-majoriser (eq. 15) in closed form, β ∈ {0, 1, 3/2, 2}.

    Parameters
    ----------
    W_t : ndarray of shape (m, r), the current iterate :math:`\\tilde W`
    Q, P : ndarrays broadcastable to (m, r) (:func:`mu_terms_W` with Y = W_{ℓ-1}, H = H_ℓ)
    W_bar : ndarray of shape (m, r), :math:`\\bar W = W_{\\ell+1} H_{\\ell+1}`
    lam : float, λ = λ_{ℓ+1} / λ_ℓ
    beta : float in {0, 1, 1.5, 2}

    Returns
    -------
    ndarray of shape (m, r), not floored.
    """
    if beta == 1:  # the compiled/vectorised kernel of _omega_closed_form_kl (tested against it)
        P = np.asarray(P)
        P = P if P.shape == W_t.shape else np.broadcast_to(P, (1, W_t.shape[1]))
        return _kernels.deep_w_kl(W_t, Q, P, W_bar, float(lam))
    if beta not in (1.5, 2, 0):
        raise ValueError(f"no closed form for beta={beta}; use deep_W_root_solve")
    # β ∈ {3/2, 2, 0}: the array-API formulas, run on NumPy (the same operations in order)
    return _deep_w_closed_form_xp(np, W_t, Q, P, W_bar, lam, beta)


def deep_W_root_solve(
    W_t: np.ndarray, Q: np.ndarray, P: np.ndarray, W_bar: np.ndarray, lam: float, beta: float
) -> np.ndarray:
    """Minimiser of the deep W-majoriser (eq. 16) by an entrywise safeguarded root solve.

    Valid for every β ∈ [0, 2]; same arguments as :func:`deep_W_closed_form`.
    """
    P = np.broadcast_to(P, W_t.shape).astype(float)
    Q = np.asarray(Q, dtype=float)
    W_t = np.asarray(W_t, dtype=float)
    W_bar = np.asarray(W_bar, dtype=float)
    log_W_bar = np.log(W_bar)

    def F(w):
        t = w / W_t
        g, dg = _stationarity(t, Q, P, beta)
        if beta == 1:
            reg = lam * (np.log(w) - log_W_bar)  # log(w / W̄) would underflow for huge W̄
            dreg = lam / w
        else:
            reg = lam * (w ** (beta - 1) - W_bar ** (beta - 1)) / (beta - 1)
            dreg = lam * w ** (beta - 2)
        return g + reg, w * (dg / W_t + dreg)

    return solve_increasing(F, W_t)


_CLOSED_FORM_BETAS = (0.0, 1.0, 1.5, 2.0)


def update_W_deep(
    Y,
    W: np.ndarray,
    H: np.ndarray,
    W_bar: np.ndarray,
    lam: float,
    beta: float,
    eps: float,
    V: np.ndarray | None = None,
    *,
    out: np.ndarray | None = None,
    workspace: MUWorkspace | None = None,
) -> np.ndarray:
    """BSUM step for W_ℓ, ℓ < L, of deep β-NMF (Algorithm 1, lines 6–9), floored at ε.

    Parameters
    ----------
    Y : ndarray or sparse of shape (m, r_{ℓ-1}), the layer's data W_{ℓ-1}
    W : ndarray of shape (m, r_ℓ), the current W_ℓ
    H : ndarray of shape (r_ℓ, r_{ℓ-1}), the updated H_ℓ
    W_bar : ndarray of shape (m, r_ℓ), W_{ℓ+1} H_{ℓ+1}
    lam : float, λ_{ℓ+1} / λ_ℓ
    beta : float in [0, 2]
    eps : float
    V : ndarray, optional; ``W @ H`` if already computed.
    out : ndarray of shape (m, r_ℓ), optional; may be ``W`` itself.
    workspace : MUWorkspace, optional; reuse its buffers (``W_bar`` is then floored in place
        when it is the workspace's ``"W_bar"`` buffer, else copied into it).

    Returns
    -------
    ndarray of shape (m, r_ℓ): a new array, or ``out``.
    """
    lam = float(lam)  # a NumPy float64 scalar would up-cast float32 arrays
    Q, P = mu_terms_W(Y, W, H, beta, V=V, workspace=workspace)
    if workspace is None:
        W_bar = np.maximum(W_bar, eps)
    else:
        W_bar = np.maximum(W_bar, eps, out=workspace.buffer("W_bar", W.shape))
    if beta == 1:
        P2 = P if P.shape == W.shape else P.reshape(1, -1)
        result = _kernels.deep_w_kl(W, Q, P2, W_bar, lam, out=out)
        return _floor(result, eps)
    if beta in _CLOSED_FORM_BETAS:
        result = deep_W_closed_form(W, Q, P, W_bar, lam, beta)
    else:
        result = deep_W_root_solve(W, Q, P, W_bar, lam, beta)
    result = np.asarray(result, dtype=W.dtype)
    if out is not None:
        np.copyto(out, result)
        result = out
    return _floor(result, eps)
