r"""Minimum-volume deep KL-NMF (paper eq. 7), solved by Algorithm 2.

Problem
-------
With :math:`W_0 = X` (m×n), :math:`W_\ell` of shape (m, r_ℓ) and :math:`H_\ell` of shape
(r_ℓ, r_{ℓ-1}),

.. math::

    \min_{W_\ell, H_\ell \ge \varepsilon} \;
    \sum_{\ell=1}^L \lambda_\ell D_{KL}(W_{\ell-1}, W_\ell H_\ell)
    + \alpha_\ell \log\det(W_\ell^\top W_\ell + \delta I)
    \quad \text{s.t.} \quad W_\ell^\top e = e \ \ (\ell = 1, \dots, L),

natural logarithm throughout, ε the machine epsilon of the working dtype (the perturbed
problem whose BSUM iterates converge, paper §3.2). The columns of every :math:`W_\ell` sum
to one, :math:`H_\ell` is free.

Start (:func:`normalize_columns_of_W`, :func:`minvol_alphas`)
-------------------------------------------------------------
The multilayer warm start is rescaled layer by layer: with :math:`s = W_\ell^\top e`,
:math:`W_\ell \leftarrow W_\ell\,\mathrm{diag}(s)^{-1}`, :math:`H_\ell \leftarrow
\mathrm{diag}(s) H_\ell` (so :math:`W_\ell H_\ell` is unchanged) and, because
:math:`W_\ell` is the data of layer ℓ+1, :math:`H_{\ell+1} \leftarrow H_{\ell+1}
\mathrm{diag}(s)^{-1}`, so that :math:`W_{\ell+1} H_{\ell+1}` follows its (rescaled) data.
Then :math:`\alpha_\ell = \tilde\alpha_\ell\, \lambda_\ell D(W_{\ell-1}, W_\ell H_\ell) /
|\log\det(W_\ell^\top W_\ell + \delta I)|` at the start: the volume term is the fraction
:math:`\tilde\alpha_\ell` of the layer's weighted data term. A logdet below
:math:`\sqrt{\varepsilon_{64}} \approx 1.5\cdot 10^{-8}` in absolute value is replaced by
that floor, so a (near-)zero logdet cannot produce an infinite α.

Update of H_ℓ
-------------
:math:`H_\ell` only appears in :math:`\lambda_\ell D(W_{\ell-1}, W_\ell H_\ell)`: the plain KL
MU (Lemma 1), :math:`H \leftarrow \max(\varepsilon, H \odot W^\top(Y / WH) / (W^\top e))`,
which is the exact minimiser of the separable majoriser over :math:`H \ge \varepsilon`.

Majoriser of the W-problem (eq. 20–21)
--------------------------------------
Write W for :math:`W_\ell`, Y for :math:`W_{\ell-1}`, H for :math:`H_\ell`,
:math:`\bar W = W_{\ell+1} H_{\ell+1}`, :math:`\tilde W` the current iterate and divide the
W-problem by λ_ℓ: α = α_ℓ/λ_ℓ, λ = λ_{ℓ+1}/λ_ℓ (λ = 0 for the last layer).

* KL data term (Lemma 1, Jensen with weights :math:`\tilde w_{ik} h_{kj} / (\tilde W H)_{ij}`):

  .. math::

      G(W, \tilde W) = D(Y, \tilde W H) + \sum_{ik} (w_{ik} - \tilde w_{ik}) P_k
      - \tilde w_{ik} Q_{ik} \log(w_{ik}/\tilde w_{ik}),

  :math:`P = e^\top H^\top` (row sums of H), :math:`Q = (Y / \tilde W H) H^\top`.
* Volume (eq. 20, [24, Lemma 3]): with :math:`A = (\tilde W^\top \tilde W + \delta I)^{-1}`,
  :math:`A^\pm = \max(\pm A, 0)`, :math:`|A| = A^+ + A^-`, concavity of logdet gives
  :math:`\log\det(W^\top W + \delta I) \le c + \sum_i w_i A w_i^\top` (:math:`w_i` the rows),
  and each quadratic is majorised by its expansion at :math:`\tilde w_i` with the diagonal
  Hessian :math:`\Phi(\tilde w_i) = \mathrm{Diag}(2 |A| \tilde w_i^\top / \tilde w_i) \succeq
  2A`, hence

  .. math::

      g(W, \tilde W) = c' + 2\langle W - \tilde W, \tilde W A\rangle
      + \sum_{ik} \frac{(\tilde W |A|)_{ik}}{\tilde w_{ik}} (w_{ik} - \tilde w_{ik})^2,
      \qquad
      \partial_{w_{ik}} g = -4 (\tilde W A^-)_{ik} + 2\frac{(\tilde W |A|)_{ik}}{\tilde w_{ik}}
      w_{ik}

  (using :math:`2\tilde W A - 2\tilde W|A| = -4\tilde W A^-`).

W-minimisation step (eq. 24, 27)
--------------------------------
The ADMM W-step minimises :math:`G + \alpha g + \tfrac{\rho}{2}\|W - V\|_F^2`,
:math:`V = Z - U`, over :math:`\{W \ge \varepsilon, W^\top e = e\}`. The objective is a sum of
strictly convex scalar functions :math:`\phi_{ik}(w) = \tfrac{a_{ik}}{2} w^2 + C_{ik} w -
d_{ik}\log w` with

.. math::

    a = 2\alpha \frac{\tilde W |A|}{\tilde W} + \rho, \qquad
    C = e P - 4\alpha \tilde W A^- - \rho V, \qquad d = \tilde W \odot Q,

so with one multiplier μ_k per column the stationarity :math:`a w^2 + (C + \mu) w - d = 0`
gives

.. math::

    w_{ik}(\mu_k) = \max\Big(\varepsilon, \frac{\sqrt{c^2 + 4ad} - c}{2a}\Big)
    = \max\Big(\varepsilon, \frac{2d}{c + \sqrt{c^2 + 4ad}}\Big), \quad c = C_{ik} + \mu_k,

the second form being used for c > 0 (no cancellation). In the paper's notation (27),
:math:`w = \tilde w ((c^2 + S)^{1/2} - c) / T` with :math:`T = 2a\tilde W = 4\alpha\tilde W|A|
+ 2\rho\tilde W` and :math:`S = 2 T \odot Q`. The paper (and the authors' code) print
:math:`2\rho\, e_{m, r_\ell}` in T and :math:`4\rho\, e_{m,r_\ell}` in S instead of
:math:`2\rho\tilde W`, :math:`4\rho \tilde W`: that quadratic is the stationarity of a prox
term with gradient :math:`\rho(w/\tilde w - v)`, not of :math:`\tfrac\rho2\|W - V\|^2`; this
module uses the derived one (the tests check it minimises the W-step objective).
The box :math:`w \ge \varepsilon` is part of the subproblem: the clamp is the exact minimiser
of each 1-D convex :math:`\phi_{ik}` over :math:`[\varepsilon, \infty)`, so the ε floor and the
column sums hold simultaneously.

Column-sum multiplier (safeguarded Newton)
------------------------------------------
:math:`w_{ik}(\mu)` is decreasing and convex in μ (:math:`dw/dc = -w/\sqrt{c^2 + 4ad} < 0`,
:math:`d^2w/dc^2 = 2d/(c^2 + 4ad)^{3/2} \ge 0`; the clamp is a max of convex nonincreasing
functions). Hence the secular function :math:`\xi_k(\mu) = \sum_i w_{ik}(\mu) - 1` is convex
and decreasing, and Newton's method started where :math:`\xi_k \ge 0` increases μ
monotonically to the root without overshooting (the tangent of a convex function lies below
it, so :math:`\xi_k` stays ≥ 0). Such a start is the μ at which one entry alone equals one:
:math:`w_{ik}(\mu) = 1 \iff \mu = d_{ik} - a_{ik} - C_{ik}`, and
:math:`\mu^0_k = \max_i (d_{ik} - a_{ik} - C_{ik})` gives :math:`\xi_k(\mu^0_k) \ge
(m-1)\varepsilon > 0`. Inside the ADMM the previous multiplier is reused when
:math:`\xi_k` is still ≥ 0 there (it is then a closer valid start).

Z-minimisation (eq. 25, 28–30)
------------------------------
:math:`\min_Z \lambda D(Z, \bar W) + \tfrac{\rho}{2}\|Z - V\|^2` with :math:`V = W + U`:
entrywise :math:`\log z + \nu z = \log \bar w + \nu v`, ν = ρ/λ. With :math:`y = \nu z`,
:math:`y + \log y = x := \log\nu + \log\bar w + \nu v`, i.e. :math:`y = \omega(x)` (Wright
omega, :func:`dnmf._kernels.wright_omega`, the one the deep W-update uses) and
:math:`z = \omega(x)/\nu`, evaluated on the log-space argument x (never :math:`e^{-B}\nu` as
printed in (30), which overflows). Below the tail ``OMEGA_TAIL`` = -30,
:math:`\omega(x) = e^x (1 + O(e^x))` and :math:`z = \bar w e^{\nu v}` is used.

ADMM (Algorithm 2, lines 7–25)
------------------------------
:math:`W^0 = Z^0 = \tilde W`; repeat W-step, Z-step, :math:`U \leftarrow U + W - Z` until
:math:`\max(\|W - Z\|_F, \|Z - Z_{prev}\|_F) \le` ``admm_tol`` or ``admm_max_iter`` iterations
(line 12 of Algorithm 2 prints "while … ‖W − Z‖ ≤ ε", a typo for ">"). The returned W is the
last W-iterate, which is feasible. Three choices differ from the paper, all measured on a toy,
a sparse, the Moffett and the Samson problem:

* the dual starts at :math:`U^0 = \log(\tilde W / \bar W)/\nu`, the exact scaled multiplier
  if the solution were :math:`Z = W = \tilde W` (Z-step stationarity at V = W + U), instead
  of 0. The first W-step is then a proximal step on the coupling linearised at
  :math:`\tilde W`; with :math:`U^0 = 0` the first iterates ignore the coupling and a
  10-iteration ADMM gets noticeably less of the majoriser decrease;
* besides the primal residual ‖W − Z‖, the stop also requires the dual residual / ρ,
  ‖Z − Z_prev‖, to be small (Boyd et al., §3.3): with a large ρ the primal residual alone is
  small from the first iterations while W has hardly moved;
* the penalty is entrywise, :math:`\tfrac12\|\Gamma^{1/2} \odot (W - Z + U)\|_F^2` with
  :math:`\Gamma_{ik} = \tilde\rho\sqrt{\kappa^W_{ik}\kappa^Z_{ik}}` the geometric mean of the
  curvatures of the two blocks (:func:`admm_penalty`, ``rho_mode="relative"``, the default;
  ``"absolute"`` is the paper's scalar ρ). Every formula above holds entrywise with ρ → Γ_ik
  and ν → Γ_ik/λ. A scalar ρ good for one data set is orders of magnitude off for another
  (≈ 10³ on a 50×40 toy problem, ≈ 10⁷ on Samson). Measured relative gap to the
  majoriser's minimum after 10 ADMM iterations (first W_1 update from a 30-iteration
  multilayer start): with Γ and ρ̃ ∈ [0.5, 1], 10⁻⁸ – 10⁻⁶ on the toy, Moffett and Samson
  problems and 4·10⁻⁴ on a 300×200 sparse matrix (5 % nonzeros); with the best scalar ρ
  (ρ̃ λ/mean(W̄), ρ̃ tuned), 8·10⁻⁴ – 6·10⁻³ and 10⁻¹ respectively.

ADMM is inexact, so the step is safeguarded: the majoriser
:math:`\bar G(W) = G + \lambda D(W, \bar W) + \alpha g` is evaluated exactly (only m×r_ℓ
quantities are needed, see :func:`_majoriser_decrease`) and the ADMM output is accepted only if
:math:`\bar G(W) \le \bar G(\tilde W)`; otherwise :math:`\tilde W` is kept. Since
:math:`\bar G(\tilde W) = F(\tilde W)` and :math:`\bar G \ge F`, every accepted step decreases
the objective (7): the algorithm is monotone up to rounding whatever the ADMM accuracy.

Update of W_L
-------------
The same step without the ADMM coupling (ρ = 0, no Z, λ = 0): the MU of [25] for the
column-sum constrained, min-vol regularised layer, with μ by the same Newton iteration. It is the
exact minimiser of the majoriser, so no safeguard is needed. With α_L = 0 it reduces to the
KL MU numerator normalised to unit column sums.

Precision: the W-steps (m×r_ℓ arrays) run in float64 whatever the working dtype and are cast
back; products with the data (m×n, possibly CSR) stay in the working dtype and never densify X.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .._kernels import OMEGA_TAIL, wright_omega
from ..updates import MUWorkspace, mu_terms_W, update_H_mu
from ._common import all_layer_errors, machine_eps
from ._driver import Phase, Progress, run_phase
from .deep import make_workspaces

__all__ = [
    "normalize_columns_of_W",
    "log_volume",
    "minvol_alphas",
    "minvol_objective",
    "column_sum_step",
    "z_step",
    "update_W_minvol_last",
    "update_W_minvol_admm",
    "admm_penalty",
    "minvol_sweep",
    "AdmmInfo",
    "fit_minvol_deep",
]

_LOGDET_FLOOR = math.sqrt(np.finfo(np.float64).eps)
_NEWTON_TOL = 1e-13
_NEWTON_MAX_ITER = 100


# ---------------------------------------------------------------------------------------------
# Start: normalisation and α_ℓ
# ---------------------------------------------------------------------------------------------


def normalize_columns_of_W(Ws: list[np.ndarray], Hs: list[np.ndarray], eps: float = 0.0) -> None:
    """Rescale in place so that W_ℓᵀe = e for every layer, keeping every W_{ℓ-1} ≈ W_ℓ H_ℓ.

    For ℓ = 1 … L: s = W_ℓᵀe; W_ℓ ← W_ℓ diag(s)⁻¹; H_ℓ ← diag(s) H_ℓ; and, since W_ℓ is
    the data of layer ℓ+1, H_{ℓ+1} ← H_{ℓ+1} diag(s)⁻¹ (then W_{ℓ+1} H_{ℓ+1} matches the
    rescaled W_ℓ exactly as before). Layer errors scale accordingly (KL is homogeneous of
    degree one in each column pair), X ≈ W_1 H_1 is unchanged.

    Parameters
    ----------
    Ws : list of L ndarrays, ``Ws[l]`` of shape (m, r_{l+1})
    Hs : list of L ndarrays, ``Hs[l]`` of shape (r_{l+1}, r_l)
    eps : float
        Floor applied to the H's after rescaling (0: none). The W's are not floored (a floor
        would break the column sums); they are ≥ ε/s, and the first W-step restores W ≥ ε.
    """
    for k, W in enumerate(Ws):
        s = W.sum(axis=0)
        s = np.where(s > 0, s, 1.0).astype(W.dtype, copy=False)
        W /= s[None, :]
        Hs[k] *= s[:, None]
        if k + 1 < len(Hs):
            Hs[k + 1] /= s[None, :]
    if eps > 0:
        for H in Hs:
            np.maximum(H, eps, out=H)


def log_volume(W: np.ndarray, delta: float) -> float:
    """logdet(WᵀW + δI) with the natural logarithm, in float64.

    Parameters
    ----------
    W : ndarray of shape (m, r)
    delta : float > 0

    Returns
    -------
    float
    """
    W64 = np.asarray(W, dtype=np.float64)
    gram = W64.T @ W64
    gram[np.diag_indices_from(gram)] += delta
    sign, value = np.linalg.slogdet(gram)
    return float(value) if sign > 0 else -math.inf


def minvol_alphas(
    errors: np.ndarray, weights: np.ndarray, volumes: np.ndarray, alpha_tilde
) -> np.ndarray:
    """α_ℓ = α̃_ℓ λ_ℓ D(W_{ℓ-1}, W_ℓ H_ℓ) / max(|logdet(W_ℓᵀW_ℓ + δI)|, √ε₆₄).

    Parameters
    ----------
    errors : ndarray of shape (L,), D_KL(W_{ℓ-1}, W_ℓ H_ℓ) at the (normalised) start
    weights : ndarray of shape (L,), λ_ℓ
    volumes : ndarray of shape (L,), logdet(W_ℓᵀW_ℓ + δI) at the start
    alpha_tilde : float or sequence of L floats, α̃_ℓ ≥ 0

    Returns
    -------
    ndarray of shape (L,)
    """
    errors = np.asarray(errors, dtype=float)
    alpha_tilde = np.broadcast_to(np.asarray(alpha_tilde, dtype=float), errors.shape)
    denom = np.maximum(np.abs(np.asarray(volumes, dtype=float)), _LOGDET_FLOOR)
    return alpha_tilde * np.asarray(weights, dtype=float) * errors / denom


def paper_alphas(errors_user: np.ndarray, volumes: np.ndarray, alpha_paper) -> np.ndarray:
    r"""The authors' α_ℓ = α̃_ℓ D_ℓ⁰ / |log₁₀ det(W_ℓ⁰ᵀW_ℓ⁰ + δI)| (``deepKL_NMF.m``).

    Their updates use the gradient of the natural-log logdet (``inv(WᵀW + δI)``) with this
    α_ℓ, so the coefficient of ln det in the objective they minimise is
    α̃_ℓ ln 10 · D_ℓ⁰ / |ln det(·)|: with their λ_ℓ = 1/D_ℓ⁰ the volume term starts at
    α̃_ℓ ln 10 · D_ℓ⁰ times the layer's (unit) data term. In dnmf's relative convention
    (:func:`minvol_alphas`) that is α̃_dnmf,ℓ = α̃_paper,ℓ · ln 10 · D_ℓ⁰.

    Parameters
    ----------
    errors_user : ndarray of shape (L,), D_ℓ⁰ in the units of the user's data
    volumes : ndarray of shape (L,), ln det(W_ℓ⁰ᵀW_ℓ⁰ + δI)
    alpha_paper : float or sequence of L floats, the paper's α̃_ℓ

    Returns
    -------
    ndarray of shape (L,), the coefficients of ln det (valid with weights="auto")
    """
    errors_user = np.asarray(errors_user, dtype=float)
    return minvol_alphas(errors_user, np.full(errors_user.shape, math.log(10.0)), volumes,
                         alpha_paper)


def minvol_objective(
    errors: np.ndarray, weights: np.ndarray, volumes: np.ndarray, alphas: np.ndarray
) -> float:
    """Objective (7): Σ_ℓ λ_ℓ D(W_{ℓ-1}, W_ℓ H_ℓ) + α_ℓ logdet(W_ℓᵀW_ℓ + δI)."""
    return float(np.dot(weights, errors) + np.dot(alphas, volumes))


# ---------------------------------------------------------------------------------------------
# The column-sum constrained step and the Z-step
# ---------------------------------------------------------------------------------------------


def _entries(mu, a, C, d, four_ad, eps):
    """w(μ) = max(ε, positive root of a w² + (C + μ) w - d = 0) and dw/dμ, entrywise."""
    c = C + mu[None, :]
    s = np.sqrt(c * c + four_ad)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(c > 0, (2.0 * d) / (c + s), (s - c) / (2.0 * a))
        dw = -w / s
    bad = ~(w > eps)  # clamped entries, and c = d = 0 with a = 0 (limit 0 from c > 0)
    if bad.any():
        w[bad] = eps
        dw[bad] = 0.0
    return w, dw


def column_sum_step(
    W_t: np.ndarray,
    d: np.ndarray,
    a: np.ndarray,
    C: np.ndarray,
    eps: float,
    *,
    mu: np.ndarray | None = None,
    four_ad: np.ndarray | None = None,
    tol: float = _NEWTON_TOL,
    max_iter: int = _NEWTON_MAX_ITER,
) -> tuple[np.ndarray, np.ndarray, int]:
    r"""Minimise Σ_ik a/2 w² + C w - d log w over {W ≥ ε, Wᵀe = e} (columns sum to one).

    Parameters
    ----------
    W_t : ndarray of shape (m, r), the current iterate :math:`\tilde W` (returned column-wise
        for degenerate columns, see below)
    d : ndarray of shape (m, r), :math:`\tilde W \odot Q \ge 0`
    a : ndarray of shape (m, r), ≥ 0; for an entry with a = 0 the Newton iterates keep
        C + μ > 0 (true for the plain KL MU, where C is constant along each column and no
        ``mu`` is given)
    C : ndarray of shape (m, r)
    eps : float, the floor ε
    mu : ndarray of shape (r,), optional
        A previous multiplier to start Newton from (requires a > 0). From a point where ξ < 0
        one Newton step lands where ξ ≥ 0 (the tangent of the convex ξ lies below it), after
        which the iterates are monotone; columns where ξ'(μ) = 0 use the safe start.
    four_ad : ndarray of shape (m, r), optional, 4 a d if already computed
    tol : float, Newton stops when every |ξ_k| ≤ tol (or the step stagnates)
    max_iter : int

    Returns
    -------
    W : ndarray of shape (m, r), float64, ≥ ε, columns summing to one
    mu : ndarray of shape (r,), the multipliers
    n_newton : int, Newton iterations used
    """
    if four_ad is None:
        four_ad = 4.0 * a * d
    mu_safe = np.max(d - a - C, axis=0)  # one entry alone equals one: ξ ≥ 0
    if mu is None:
        mu = mu_safe
        w, dw = _entries(mu, a, C, d, four_ad, eps)
    else:
        w, dw = _entries(mu, a, C, d, four_ad, eps)
        flat = ~(dw.sum(axis=0) < 0)
        if flat.any():
            mu = np.where(flat, mu_safe, mu)
            w, dw = _entries(mu, a, C, d, four_ad, eps)
    n_newton = 0
    while True:
        xi = w.sum(axis=0) - 1.0
        if np.all(np.abs(xi) <= tol) or n_newton >= max_iter:
            break
        dxi = dw.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = xi / dxi
        step[~np.isfinite(step)] = 0.0
        mu_next = mu - step
        if np.array_equal(mu_next, mu):
            break
        mu = mu_next
        n_newton += 1
        w, dw = _entries(mu, a, C, d, four_ad, eps)
    degenerate = ~np.all(np.isfinite(w), axis=0) | (
        ~np.any(d > 0, axis=0) & ~np.any(a > 0, axis=0)
    )
    if degenerate.any():
        w[:, degenerate] = W_t[:, degenerate]
    return w, mu, n_newton


def z_step(V: np.ndarray, log_nu_wbar: np.ndarray, nu: float) -> np.ndarray:
    r"""Z-minimisation (eq. 28–30): argmin_Z λ D(Z, W̄) + ρ/2 ‖Z - V‖², entrywise.

    Parameters
    ----------
    V : ndarray of shape (m, r), W + U
    log_nu_wbar : ndarray of shape (m, r), :math:`\log\nu + \log\bar W`
    nu : float, ν = ρ/λ

    Returns
    -------
    Z : ndarray of shape (m, r), :math:`\omega(\log\nu + \log\bar W + \nu V) / \nu` (Wright
        omega of the log-space argument; :math:`\bar W e^{\nu V}` below the tail threshold).
    """
    x = log_nu_wbar + nu * V
    tail = x < OMEGA_TAIL
    if tail.any():
        out = np.exp(np.where(tail, x, 0.0))
        out[~tail] = wright_omega(x[~tail])
    else:
        out = wright_omega(x)
    out /= nu
    return out


# ---------------------------------------------------------------------------------------------
# Majoriser pieces
# ---------------------------------------------------------------------------------------------


@dataclass
class _VolumeTerms:
    """α-dependent pieces of the logdet majoriser g at W̃ (float64)."""

    A: np.ndarray  # (r, r), (W̃ᵀW̃ + δI)⁻¹
    WabsA: np.ndarray  # (m, r), W̃ |A|
    WAminus: np.ndarray  # (m, r), W̃ A⁻


def _volume_terms(W_t: np.ndarray, delta: float) -> _VolumeTerms:
    gram = W_t.T @ W_t
    gram[np.diag_indices_from(gram)] += delta
    A = np.linalg.inv(gram)
    A = 0.5 * (A + A.T)
    A_minus = np.maximum(-A, 0.0)
    return _VolumeTerms(A=A, WabsA=W_t @ np.abs(A), WAminus=W_t @ A_minus)


def _kl_pairs(W: np.ndarray, W_bar: np.ndarray) -> float:
    """D_KL(W, W̄) for dense positive arrays."""
    return float(np.sum(W * np.log(W / W_bar) - W + W_bar))


def _majoriser_decrease(
    W: np.ndarray,
    W_t: np.ndarray,
    d: np.ndarray,
    P: np.ndarray,
    alpha: float,
    vol: _VolumeTerms,
    lam: float = 0.0,
    W_bar: np.ndarray | None = None,
) -> float:
    r""":math:`\bar G(W) - \bar G(\tilde W)` for the λ_ℓ-normalised W-majoriser.

    :math:`\bar G = G + \lambda D(W, \bar W) + \alpha g` (module docstring), using only
    m×r_ℓ arrays: ΔG = Σ (w - w̃) P - d log(w/w̃), Δg = 2⟨W - W̃, W̃A⟩ + Σ (W̃|A|)/W̃ (w - w̃)².
    """
    diff = W - W_t
    value = float(np.sum(diff * P) - np.sum(d * np.log(W / W_t)))
    if alpha > 0:
        value += alpha * float(
            2.0 * np.sum(diff * (W_t @ vol.A)) + np.sum(vol.WabsA / W_t * diff * diff)
        )
    if lam > 0 and W_bar is not None:
        value += lam * (_kl_pairs(W, W_bar) - _kl_pairs(W_t, W_bar))
    return value


def _step_terms(Y, W: np.ndarray, H: np.ndarray, alpha: float, delta: float,
                workspace: MUWorkspace | None = None):
    """P (1, r), d = W̃ ⊙ Q, the volume terms, a_vol = 2α W̃|A|/W̃, C_vol = eP - 4α W̃A⁻."""
    Q, P = mu_terms_W(Y, W, H, 1.0, workspace=workspace)
    W_t = np.asarray(W, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    d = W_t * np.asarray(Q, dtype=np.float64)
    vol = _volume_terms(W_t, delta)
    if alpha > 0:
        a_vol = (2.0 * alpha) * vol.WabsA / W_t
        C_vol = P - (4.0 * alpha) * vol.WAminus
    else:
        a_vol = np.zeros_like(W_t)
        C_vol = np.broadcast_to(P, W_t.shape).copy()
    return W_t, P, d, vol, a_vol, C_vol


# ---------------------------------------------------------------------------------------------
# The two W-updates
# ---------------------------------------------------------------------------------------------


def update_W_minvol_last(
    Y, W: np.ndarray, H: np.ndarray, alpha: float, delta: float, eps: float, *,
    workspace: MUWorkspace | None = None,
) -> np.ndarray:
    """W_L update (MU of [25]): exact minimiser of G + α g over {W ≥ ε, Wᵀe = e}.

    Parameters
    ----------
    Y : ndarray or CSR of shape (m, r_{L-1}), the layer's data W_{L-1} (X when L = 1)
    W : ndarray of shape (m, r_L), the current W_L (columns summing to one)
    H : ndarray of shape (r_L, r_{L-1}), the updated H_L
    alpha : float, α_L / λ_L
    delta : float, δ
    eps : float, the floor ε
    workspace : MUWorkspace, optional, buffers for the products with Y

    Returns
    -------
    ndarray of shape (m, r_L), dtype of W (a new array)
    """
    W_t, P, d, vol, a_vol, C_vol = _step_terms(Y, W, H, alpha, delta, workspace)
    W_new, _, _ = column_sum_step(W_t, d, a_vol, C_vol, eps)
    return W_new.astype(W.dtype, copy=False)


@dataclass
class AdmmInfo:
    """Diagnostics of one ADMM W-update."""

    iterations: int
    residual: float
    converged: bool
    accepted: bool
    newton_iterations: int
    seconds: float


def update_W_minvol_admm(
    Y,
    W: np.ndarray,
    H: np.ndarray,
    W_bar: np.ndarray,
    lam: float,
    alpha: float,
    delta: float,
    rho: float,
    eps: float,
    *,
    max_iter: int = 50,
    tol: float = 1e-6,
    rho_mode: str = "relative",
    workspace: MUWorkspace | None = None,
) -> tuple[np.ndarray, AdmmInfo]:
    """W_ℓ update, ℓ < L, by the ADMM of eqs. (22)–(30), safeguarded by the majoriser.

    Parameters
    ----------
    Y : ndarray or CSR of shape (m, r_{ℓ-1}), the layer's data W_{ℓ-1} (X for ℓ = 1)
    W : ndarray of shape (m, r_ℓ), the current W_ℓ (columns summing to one)
    H : ndarray of shape (r_ℓ, r_{ℓ-1}), the updated H_ℓ
    W_bar : ndarray of shape (m, r_ℓ), W_{ℓ+1} H_{ℓ+1} (floored at ε here)
    lam : float, λ = λ_{ℓ+1} / λ_ℓ
    alpha : float, α_ℓ / λ_ℓ
    delta : float, δ
    rho : float, the ADMM penalty: ρ̃ of :func:`admm_penalty` (``rho_mode="relative"``) or
        the ρ of the λ_ℓ-normalised Lagrangian (23) (``"absolute"``); ν = ρ/λ
    eps : float, the floor ε
    max_iter : int, i_max
    tol : float, stop when ‖W - Z‖_F ≤ tol and ‖Z - Z_prev‖_F ≤ tol
    rho_mode : {"relative", "absolute"}
    workspace : MUWorkspace, optional, buffers for the products with Y

    Returns
    -------
    W : ndarray of shape (m, r_ℓ), dtype of the input W, ≥ ε, columns summing to one
    info : AdmmInfo
    """
    W_t, P, d, vol, a_vol, C_vol = _step_terms(Y, W, H, alpha, delta, workspace)
    t0 = time.perf_counter()  # ADMM proper: the products with the data are not counted
    W_bar = np.maximum(np.asarray(W_bar, dtype=np.float64), eps)
    rho = admm_penalty(rho, lam, W_bar, d / (W_t * W_t) + a_vol, rho_mode)
    nu = rho / lam
    log_nu_wbar = np.log(nu) + np.log(W_bar)
    a = a_vol + rho
    four_ad = 4.0 * a * d
    C = np.empty_like(W_t)  # buffers of the loop
    V = np.empty_like(W_t)
    gap = np.empty_like(W_t)
    Z = W_t.copy()
    U = np.log(W_t / W_bar) / nu  # the exact scaled dual if Z* = W̃ (see module docstring)
    W_new = W_t
    mu = None
    residual = math.inf
    n_newton = 0
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (count reported)
        # W-step: C = C_vol - ρ (Z - U)
        np.subtract(Z, U, out=C)
        C *= -rho
        C += C_vol
        W_new, mu, k = column_sum_step(W_t, d, a, C, eps, mu=mu, four_ad=four_ad)
        n_newton += k
        # Z-step on V = W + U, then the scaled dual update
        Z_prev = Z
        Z = z_step(np.add(W_new, U, out=V), log_nu_wbar, nu)
        np.subtract(W_new, Z, out=gap)
        U += gap
        primal = float(np.linalg.norm(gap))
        # dual residual / ρ = ‖Z - Z_prev‖ (Boyd et al. §3.3); Z_prev is free after this
        dual = float(np.linalg.norm(np.subtract(Z, Z_prev, out=Z_prev)))
        residual = max(primal, dual)
        if residual <= tol:
            break
    decrease = _majoriser_decrease(W_new, W_t, d, P, alpha, vol, lam, W_bar)
    accepted = bool(np.isfinite(decrease) and decrease <= 0.0)
    out = W_new if accepted else W_t
    info = AdmmInfo(iterations=iterations, residual=residual, converged=residual <= tol,
                    accepted=accepted, newton_iterations=n_newton,
                    seconds=time.perf_counter() - t0)
    return out.astype(W.dtype, copy=False), info


# ---------------------------------------------------------------------------------------------
# Algorithm 2
# ---------------------------------------------------------------------------------------------


def admm_penalty(
    rho: float,
    lam: float,
    W_bar: np.ndarray,
    curvature_W: np.ndarray,
    mode: str = "relative",
) -> float | np.ndarray:
    r"""The ADMM penalty of one W_ℓ update: a scalar ρ or one ρ_ik per entry.

    ``mode="absolute"``: the scalar ρ of the λ_ℓ-normalised augmented Lagrangian (23), as in
    the paper. ``mode="relative"`` (default): the entrywise penalty

    .. math:: \Gamma_{ik} = \tilde\rho \sqrt{\kappa^W_{ik}\, \kappa^Z_{ik}}, \qquad
        \kappa^W = \frac{\tilde W \odot Q}{\tilde W^{2}} + a_{vol}, \quad
        \kappa^Z = \frac{\lambda}{\bar W},

    the geometric mean of the curvatures of the two ADMM blocks at a typical point: of the
    W-majoriser G + αg at W̃ and of λ D(Z, W̄) at Z = W̄. For a separable quadratic problem this
    is the per-coordinate optimal ADMM penalty; here it makes the iteration count independent
    of the data's scale and size. ADMM with a fixed positive diagonal weighting is ADMM on
    rescaled variables, so it converges as the scalar one does.

    Parameters
    ----------
    rho : float, ρ (absolute) or ρ̃ (relative; ≈ 0.5 – 1 is best on the toy, sparse,
        Moffett and Samson problems measured)
    lam : float, λ = λ_{ℓ+1}/λ_ℓ
    W_bar : ndarray of shape (m, r_ℓ), W_{ℓ+1} H_{ℓ+1} (floored at ε)
    curvature_W : ndarray of shape (m, r_ℓ), κ^W
    mode : {"relative", "absolute"}

    Returns
    -------
    float or ndarray of shape (m, r_ℓ)
    """
    if mode in ("absolute", "paper"):  # "paper" is converted to absolute by fit_minvol_deep
        return float(rho)
    if mode != "relative":
        raise ValueError(f"rho_mode must be 'relative' or 'absolute', got {mode!r}")
    penalty = float(rho) * np.sqrt(curvature_W * (lam / W_bar))
    tiny = np.finfo(np.float64).tiny
    return np.maximum(penalty, tiny) if penalty.min() < tiny else penalty


def _volumes(Ws: list[np.ndarray], delta: float) -> np.ndarray:
    return np.array([log_volume(W, delta) for W in Ws])


def minvol_sweep(
    X,
    Ws: list[np.ndarray],
    Hs: list[np.ndarray],
    weights: np.ndarray,
    alphas: np.ndarray,
    delta: float,
    rho,
    eps: float,
    *,
    admm_max_iter: int = 50,
    admm_tol: float = 1e-6,
    rho_mode: str = "relative",
    workspaces: list[MUWorkspace] | None = None,
) -> list[AdmmInfo]:
    """One outer iteration of Algorithm 2, in place on ``Ws`` and ``Hs``.

    For ℓ = 1 … L: H_ℓ by the KL MU, then W_ℓ by the ADMM (ℓ < L, with
    W̄ = W_{ℓ+1} H_{ℓ+1} of the previous sweep) or by the min-vol MU (ℓ = L).
    ``alphas`` and ``weights`` are α_ℓ and λ_ℓ; ``rho`` (one value, or one per layer) is read
    according to ``rho_mode`` (:func:`admm_penalty`). With ``workspaces``
    (:func:`dnmf.models.deep.make_workspaces`)
    the H_ℓ are updated in place and the products with the data reuse buffers. Returns the
    ADMM diagnostics of the layers ℓ < L.
    """
    n_layers = len(Ws)
    rhos = np.broadcast_to(np.asarray(rho, dtype=float), (n_layers,))
    infos: list[AdmmInfo] = []
    for k in range(n_layers):
        Y = X if k == 0 else Ws[k - 1]
        ws = None if workspaces is None else workspaces[k]
        if ws is None:
            Hs[k] = update_H_mu(Y, Ws[k], Hs[k], 1.0, eps)
        else:
            update_H_mu(Y, Ws[k], Hs[k], 1.0, eps, out=Hs[k], workspace=ws)
        alpha = float(alphas[k] / weights[k])
        if k < n_layers - 1:
            W_bar = Ws[k + 1] @ Hs[k + 1]
            lam = float(weights[k + 1] / weights[k])
            Ws[k], info = update_W_minvol_admm(
                Y, Ws[k], Hs[k], W_bar, lam, alpha, delta, float(rhos[k]), eps,
                max_iter=admm_max_iter, tol=admm_tol, rho_mode=rho_mode, workspace=ws,
            )
            infos.append(info)
        else:
            Ws[k] = update_W_minvol_last(Y, Ws[k], Hs[k], alpha, delta, eps,
                                             workspace=ws)
    return infos


def _columns(volumes: np.ndarray, objective: float, infos: list[AdmmInfo] | None,
             data: float, penalty: float) -> dict:
    """History columns beside ``objective`` (the full objective (7), set by the phase):
    its parts ``objective_data`` (Σ λ_ℓ D_ℓ) and ``volume_penalty`` (Σ α_ℓ logdet), and
    ``objective_minvol``, the same as ``objective`` (its older name)."""
    cols: dict = {f"volume_layer_{ell}": float(v) for ell, v in enumerate(volumes, start=1)}
    cols["objective_data"] = data
    cols["volume_penalty"] = penalty
    cols["objective_minvol"] = objective
    if infos:
        cols["admm_iterations"] = float(np.mean([i.iterations for i in infos]))
        cols["admm_residual"] = float(max(i.residual for i in infos))
    else:
        cols["admm_iterations"] = math.nan
        cols["admm_residual"] = math.nan
    return cols


class _MinVolPhase(Phase):
    """Algorithm 2's sweeps for the fit driver; the objective (7), the volumes and the ADMM
    diagnostics as extra history columns."""

    name = "deep"

    def __init__(self, X, Ws, Hs, weights, min_vol, eps, workspaces, progress: Progress):
        self.X, self.Ws, self.Hs, self.weights = X, Ws, Hs, weights
        self.min_vol, self.eps, self.workspaces, self.progress = min_vol, eps, workspaces, progress
        self.delta = float(min_vol.delta)
        self.rho_mode = getattr(min_vol, "rho_mode", "relative")
        self.rhos = np.full(len(Ws), float(min_vol.rho))  # one per layer (see "paper" mode)
        self.shown = float(progress.objective_scale)  # the "objective" column's units
        self.alphas = np.zeros(len(Ws))
        self.volumes = np.zeros(len(Ws))
        self.infos: list[AdmmInfo] | None = None
        self.admm_seconds = 0.0
        self.admm_iters: list[int] = []
        self.unconverged = self.rejected = 0

    def iterate(self, evaluate: bool) -> np.ndarray | None:
        mv = self.min_vol
        self.infos = minvol_sweep(
            self.X, self.Ws, self.Hs, self.weights, self.alphas, self.delta, self.rhos,
            self.eps, admm_max_iter=int(mv.admm_max_iter), admm_tol=float(mv.admm_tol),
            rho_mode=self.rho_mode, workspaces=self.workspaces,
        )
        for info in self.infos:
            self.admm_iters.append(info.iterations)
            self.unconverged += not info.converged
            self.rejected += not info.accepted
        self.admm_seconds += sum(info.seconds for info in self.infos)
        return self.timed_errors(self.progress) if evaluate else None

    def errors(self) -> np.ndarray:
        errors = all_layer_errors(self.X, self.Ws, self.Hs, 1.0)
        self.volumes = _volumes(self.Ws, self.delta)
        return errors

    def objective(self, errors: np.ndarray) -> float:
        return minvol_objective(errors, self.weights, self.volumes, self.alphas)

    def record(self, progress: Progress, iteration: int, errors: np.ndarray) -> None:
        current = self.objective(errors)
        penalty = float(self.alphas @ self.volumes)
        progress.record(iteration, errors, self.name,
                        **_columns(self.volumes, self.shown * current, self.infos,
                                   self.shown * (current - penalty), self.shown * penalty))
        progress.set_objective(self.shown * current)  # the full objective (7)


def fit_minvol_deep(
    X,
    Ws: list[np.ndarray],
    Hs: list[np.ndarray],
    weights: np.ndarray,
    max_iter: int,
    min_vol,
    *,
    progress: Progress,
    eval_every: int = 5,
    tol: float = 0.0,
) -> tuple[list[np.ndarray], list[np.ndarray], int, float, dict]:
    """Run Algorithm 2 (minimum-volume deep KL-NMF) from a multilayer warm start.

    Parameters
    ----------
    X : ndarray or CSR of shape (m, n), validated and scaled (β = 1)
    Ws, Hs : lists of the initial factors (copied; normalised here to W_ℓᵀe = e)
    weights : ndarray of shape (L,), the λ_ℓ (in the units of the scaled data)
    max_iter : int, outer iterations
    min_vol : dnmf.MinVol (alpha_tilde, delta, rho, admm_max_iter, admm_tol)
    progress : Progress; history rows carry the extra columns ``volume_layer_ℓ``
        (logdet(W_ℓᵀW_ℓ + δI)), ``objective_minvol`` (objective (7) in the units of the
        ``objective`` column, i.e. times ``progress.objective_scale``),
        ``admm_iterations`` (mean over the layers ℓ < L in the last sweep) and
        ``admm_residual`` (max ‖W - Z‖_F of the last sweep)
    eval_every : int
    tol : float, stop when objective (7) decreases by less than this fraction between
        evaluations

    Returns
    -------
    Ws, Hs, n_iter, seconds, extra
        ``extra`` holds ``admm`` (seconds in the ADMM iterations of the W_ℓ updates, the
        products with the data excluded), ``admm_iterations_mean``,
        ``admm_iterations_max``, ``admm_unconverged`` (ADMM runs that hit admm_max_iter),
        ``admm_rejected`` (runs whose output did not decrease the majoriser and were
        discarded) and ``alpha_layer_ℓ`` (the α_ℓ used, scaled-data units).
    """
    start = time.perf_counter()
    dtype = Ws[0].dtype
    eps = machine_eps(dtype)
    Ws = [np.array(W, order="C") for W in Ws]  # private copies
    Hs = [np.array(H, order="C") for H in Hs]
    progress.set_factors(lambda: (Ws, Hs))
    normalize_columns_of_W(Ws, Hs, eps)
    phase = _MinVolPhase(X, Ws, Hs, np.asarray(weights, dtype=float), min_vol, eps,
                         make_workspaces(X, Ws), progress)
    errors = phase.timed_errors(progress)
    if getattr(min_vol, "convention", "relative") == "paper":
        # the paper's α̃ on D_ℓ⁰ in the units of the user's data
        scale = np.broadcast_to(np.asarray(progress.error_scale, dtype=float), errors.shape)
        phase.alphas = paper_alphas(errors * scale, phase.volumes, min_vol.alpha)
    else:
        phase.alphas = minvol_alphas(errors, phase.weights, phase.volumes, min_vol.alpha_tilde)
    if phase.rho_mode == "paper":
        # The paper's ρ is the penalty of the augmented Lagrangian of λ_ℓ D_ℓ + λ_{ℓ+1} D(W, W̄)
        # + α_ℓ logdet (their UpdateWl_ADMM.m divides it by λ_ℓ): ρ/λ_ℓ in the λ_ℓ-normalised
        # Lagrangian (23) that update_W_minvol_admm solves in "absolute" mode.
        phase.rhos = float(min_vol.rho) / phase.weights
        phase.rho_mode = "absolute"
    outcome = run_phase(phase, progress, max_iter, eval_every=eval_every, tol=tol,
                        initial_errors=errors)
    admm_iters = phase.admm_iters
    extra: dict = {
        "admm": phase.admm_seconds,
        "admm_iterations_mean": float(np.mean(admm_iters)) if admm_iters else 0.0,
        "admm_iterations_max": int(max(admm_iters)) if admm_iters else 0,
        "admm_unconverged": int(phase.unconverged),
        "admm_rejected": int(phase.rejected),
    }
    for ell, alpha in enumerate(phase.alphas, start=1):
        extra[f"alpha_layer_{ell}"] = float(alpha)
        extra[f"rho_layer_{ell}"] = float(phase.rhos[ell - 1])
    return Ws, Hs, outcome.n_iter, time.perf_counter() - start, extra
