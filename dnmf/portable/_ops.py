r"""The numerics of :mod:`dnmf.updates` and :mod:`dnmf.divergence` in array-API operations.

Every function takes the array namespace ``xp`` first (``array_api_compat.array_namespace``
of the data) and uses only operations of the Python array API standard: no ``out=``, no
in-place updates, no boolean-mask assignment, no NumPy call on an array. The formulas, their
order of operations and the ε floor are those of the NumPy path (see the module docstring of
:mod:`dnmf.updates` for the mathematics), so both paths agree to rounding in float64.

Dense data only: the standard has no sparse arrays.
"""

from __future__ import annotations

from collections.abc import Callable

from ._omega import wright_omega

# np.finfo(float).tiny, the floor of the NumPy row-sum solver (a Python float whatever the dtype).
_TINY64 = 2.2250738585072014e-308
# deep KL W-update: below this argument ω(x) = eˣ to rounding and the limit form is used.
_OMEGA_TAIL = -30.0


def gamma_exponent(beta: float) -> float:
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def tiny(xp, A) -> float:
    return float(xp.finfo(A.dtype).smallest_normal)


def floor(xp, A, eps: float):
    return xp.maximum(A, eps)


# ---------------------------------------------------------------------------------------------
# β-divergence of dense arrays
# ---------------------------------------------------------------------------------------------


def beta_divergence_dense(xp, X, V, beta: float) -> float:
    """Σ d_β(X_ij | V_ij) (:func:`dnmf.divergence.beta_divergence_dense`)."""
    if beta == 1:
        sum_x = float(xp.sum(X))
        sum_v = float(xp.sum(V))
        safe_x = xp.where(X > 0, X, 1.0)  # 0 log 0 = 0 without evaluating log 0
        terms = xp.where(X > 0, X * xp.log(safe_x / V), 0.0)
        return float(xp.sum(terms)) - sum_x + sum_v
    if beta == 2:
        diff = X - V
        return float(0.5 * xp.sum(diff * diff))
    if beta == 0:
        ratio = X / V
        return float(xp.sum(ratio - xp.log(ratio))) - X.shape[0] * X.shape[1]
    value = (float(xp.sum(X**beta)) + (beta - 1) * float(xp.sum(V**beta))
             - beta * float(xp.sum(X * V ** (beta - 1))))
    return value / (beta * (beta - 1))


def layer_error(xp, Y, W, H, beta: float) -> float:
    return beta_divergence_dense(xp, Y, W @ H, beta)


# ---------------------------------------------------------------------------------------------
# MU terms and steps (dnmf.updates.mu_terms_H / mu_terms_W / update_H_mu / update_W_mu)
# ---------------------------------------------------------------------------------------------


def _left_product(R, W):
    """Wᵀ R as (Rᵀ W)ᵀ, the order of the NumPy path."""
    return (R.T @ W).T


def mu_terms_H(xp, Y, W, H, beta: float):
    """(Q, P) of the MU for H: Q = Wᵀ(Y ⊙ V^{β-2}), P = Wᵀ V^{β-1} ((r, 1) for β = 1)."""
    if beta == 1:
        P = xp.expand_dims(xp.sum(W, axis=0), axis=1)
        return _left_product(Y / (W @ H), W), P
    if beta == 2:
        return W.T @ Y, (W.T @ W) @ H
    V = W @ H
    Vb2 = V ** (beta - 2)
    return _left_product(Y * Vb2, W), _left_product(Vb2 * V, W)


def mu_terms_W(xp, Y, W, H, beta: float):
    """(Q, P) of the MU for W: Q = (Y ⊙ V^{β-2}) Hᵀ, P = V^{β-1} Hᵀ ((1, r) for β = 1)."""
    if beta == 1:
        P = xp.expand_dims(xp.sum(H, axis=1), axis=0)
        return (Y / (W @ H)) @ H.T, P
    if beta == 2:
        return Y @ H.T, W @ (H @ H.T)
    V = W @ H
    Vb2 = V ** (beta - 2)
    return (Y * Vb2) @ H.T, (Vb2 * V) @ H.T


def mu_step(xp, factor, Q, P, beta: float, eps: float):
    """max(ε, factor ⊙ (Q / max(P, tiny))^γ)."""
    ratio = Q / xp.maximum(P, tiny(xp, factor))
    gamma = gamma_exponent(beta)
    if gamma != 1.0:
        ratio = ratio**gamma
    return floor(xp, factor * ratio, eps)


def update_H_mu(xp, Y, W, H, beta: float, eps: float):
    Q, P = mu_terms_H(xp, Y, W, H, beta)
    return mu_step(xp, H, Q, P, beta, eps)


def update_W_mu(xp, Y, W, H, beta: float, eps: float):
    Q, P = mu_terms_W(xp, Y, W, H, beta)
    return mu_step(xp, W, Q, P, beta, eps)


def rescale_columns_to_unit_max(xp, W, H):
    """W ← W / colmax(W), H ← diag(colmax) H: W H unchanged (multilayer, after each step)."""
    col_max = xp.max(W, axis=0)
    col_max = xp.where(col_max > 0, col_max, 1.0)
    return W / col_max, H * xp.expand_dims(col_max, axis=1)


# ---------------------------------------------------------------------------------------------
# Safeguarded Newton root finder (dnmf.updates.solve_increasing)
# ---------------------------------------------------------------------------------------------


def solve_increasing(xp, func: Callable, x0, *, rtol: float = 1e-14, max_iter: int = 200):
    """Roots of increasing F_i(exp(u_i)) in log-space: bracket growth, then Newton steps
    replaced by bisection when they leave the bracket. ``func(x) -> (F, x F'(x))``."""
    u = xp.log(x0)
    f, _ = func(xp.exp(u))
    lo = xp.where(f <= 0, u, -xp.inf)
    hi = xp.where(f >= 0, u, xp.inf)
    step = 1.0
    for _ in range(64):
        need_lo = ~xp.isfinite(lo)
        need_hi = ~xp.isfinite(hi)
        if not (bool(xp.any(need_lo)) or bool(xp.any(need_hi))):
            break
        probe = u + xp.where(need_lo, -step, xp.where(need_hi, step, xp.zeros_like(u)))
        probe = xp.clip(probe, -700.0, 700.0)
        fp, _ = func(xp.exp(probe))
        lo = xp.where(need_lo & (fp <= 0), probe, lo)
        hi = xp.where(need_lo & (fp > 0), probe, hi)
        hi = xp.where(need_hi & (fp >= 0), probe, hi)
        lo = xp.where(need_hi & (fp < 0), probe, lo)
        step *= 2.0
    lo = xp.where(xp.isfinite(lo), lo, -700.0)
    hi = xp.where(xp.isfinite(hi), hi, 700.0)
    u = 0.5 * (lo + hi)
    for _ in range(max_iter):
        f, df = func(xp.exp(u))
        lo = xp.where(f < 0, u, lo)
        hi = xp.where(f > 0, u, hi)
        newton = u - f / df
        inside = xp.isfinite(newton) & (newton > lo) & (newton < hi)
        u_next = xp.where(inside, newton, 0.5 * (lo + hi))
        u_next = xp.where(f == 0, u, u_next)
        done = (xp.abs(u_next - u) <= rtol * xp.maximum(xp.abs(u), 1.0)) | (hi - lo <= rtol)
        u = u_next
        if bool(xp.all(done)):
            break
    return xp.exp(u)


# ---------------------------------------------------------------------------------------------
# Row-sum constrained H-update (dnmf.updates.sum_to_one_update / update_H_rowsum)
# ---------------------------------------------------------------------------------------------


def _stationarity(t, Q, P, beta):
    if beta <= 1:
        return P - Q * t ** (beta - 2), (2.0 - beta) * Q * t ** (beta - 3)
    g = P * t ** (beta - 1) - Q * t ** (beta - 2)
    dg = (beta - 1) * P * t ** (beta - 2) - (beta - 2) * Q * t ** (beta - 3)
    return g, dg


def _t_of_mu(xp, mu, Q, P, beta):
    """t(μ) solving g(t) = μ entrywise, and dt/dμ (closed forms for β ≤ 1, 3/2, 2)."""
    mu = xp.expand_dims(mu, axis=1)
    if beta <= 1:
        gamma = 1.0 / (2.0 - beta)
        gap = P - mu
        t = (Q / gap) ** gamma if gamma != 1.0 else Q / gap
        return t, gamma * t / gap
    if beta == 2:
        t = xp.maximum((Q + mu) / P, 0.0)
        return t, xp.where(t > 0, 1.0 / P, xp.zeros_like(t))
    if beta == 1.5:
        root = xp.sqrt(mu * mu + 4.0 * P * Q)
        s = (mu + root) / (2.0 * P)
        return s * s, 2.0 * s * ((1.0 + mu / root) / (2.0 * P))
    mu_full = xp.broadcast_to(mu, Q.shape)

    def F(x):
        g, dg = _stationarity(x, Q, P, beta)
        return g - mu_full, x * dg

    t = solve_increasing(xp, F, xp.maximum(Q / P, _TINY64))
    _, dg = _stationarity(t, Q, P, beta)
    return t, 1.0 / dg


def sum_to_one_update(xp, H, Q, P, beta: float, *, tol: float = 1e-13, max_iter: int = 100):
    """Minimiser of the Lemma-1 majoriser under H e = e: per row the multiplier μ_k is the root
    of ξ_k(μ) = Σ_j h̃_kj t_kj(μ) − 1, by monotone Newton from μ⁰_k = min_j g_kj(1/h̃_kj); all
    rows advance together (one reduction per step for the whole H)."""
    P = xp.maximum(xp.broadcast_to(P, Q.shape), _TINY64)
    Hs = xp.maximum(H, _TINY64)
    g_start, _ = _stationarity(1.0 / Hs, Q, P, beta)
    mu = xp.min(xp.where(Q > 0, g_start, xp.inf), axis=1)
    mu = xp.where(xp.isfinite(mu), mu, 0.0)
    for _ in range(max_iter):
        t, dt = _t_of_mu(xp, mu, Q, P, beta)
        xi = xp.sum(Hs * t, axis=1) - 1.0
        dxi = xp.sum(Hs * dt, axis=1)
        if bool(xp.all(xp.abs(xi) <= tol)):
            break
        step = xi / dxi
        step = xp.where(xp.isfinite(step) & (dxi > 0), step, 0.0)
        if not bool(xp.any(step != 0)):
            break
        mu = mu - step
    t, _ = _t_of_mu(xp, mu, Q, P, beta)
    H_new = Hs * t
    keep = ~xp.any(Q > 0, axis=1) | ~xp.all(xp.isfinite(H_new), axis=1)
    return xp.where(xp.expand_dims(keep, axis=1), H, H_new)


def rowsum_from_terms(xp, H, Q, P, beta: float, eps: float):
    """The H-step under H e = e given its MU terms, floored at ε (β = 1: normalised numerator)."""
    if beta == 1:
        num = H * Q
        sums = xp.sum(num, axis=1, keepdims=True)
        new = xp.where(sums > 0, num / xp.where(sums > 0, sums, 1.0), H)
        return floor(xp, new, eps)
    return floor(xp, xp.astype(sum_to_one_update(xp, H, Q, P, beta), H.dtype), eps)


def update_H_rowsum(xp, Y, W, H, beta: float, eps: float):
    Q, P = mu_terms_H(xp, Y, W, H, beta)
    return rowsum_from_terms(xp, H, Q, P, beta, eps)


# ---------------------------------------------------------------------------------------------
# Deep W-update (dnmf.updates.update_W_deep)
# ---------------------------------------------------------------------------------------------


def deep_w_kl(xp, W_t, Q, P, W_bar, lam: float):
    """β = 1: w = (b/λ) / ω(log(b/λ) + P/λ − log W̄), b = W̃ Q; W̄ e^{−P/λ} below the tail."""
    b_over_lam = W_t * Q / lam
    p_over_lam = P / lam
    ratio = b_over_lam / W_bar
    normal = (ratio >= tiny(xp, ratio)) & (ratio < xp.inf)
    safe = xp.where(normal, ratio, 1.0)
    x = xp.where(normal, xp.log(safe), xp.log(b_over_lam) - xp.log(W_bar)) + p_over_lam
    tail = x < _OMEGA_TAIL
    omega = wright_omega(xp, xp.where(tail, 0.0, x))
    return xp.where(tail, W_bar * xp.exp(-p_over_lam), b_over_lam / omega)


def deep_w_closed_form(xp, W_t, Q, P, W_bar, lam: float, beta: float):
    if beta == 1:
        return deep_w_kl(xp, W_t, Q, P, W_bar, lam)
    P = xp.broadcast_to(P, W_t.shape)
    if beta == 1.5:
        sqrt_wt = xp.sqrt(W_t)
        A = P / sqrt_wt + 2.0 * lam
        B = sqrt_wt * Q
        C = 2.0 * lam * xp.sqrt(W_bar)
        s = (C + xp.sqrt(C * C + 4.0 * A * B)) / A
        return 0.25 * s * s
    if beta == 2:
        return (Q + lam * W_bar) / (P / W_t + lam)
    if beta == 0:
        c = P + lam / W_bar
        return (lam + xp.sqrt(lam * lam + 4.0 * c * Q * W_t * W_t)) / (2.0 * c)
    raise ValueError(f"no closed form for beta={beta}")


def deep_w_root_solve(xp, W_t, Q, P, W_bar, lam: float, beta: float):
    """Every β: root of F(w) = g(w/w̃) + λ ∂_x d_β(w | w̄) by :func:`solve_increasing`."""
    P = xp.broadcast_to(P, W_t.shape)
    log_W_bar = xp.log(W_bar)

    def F(w):
        g, dg = _stationarity(w / W_t, Q, P, beta)
        if beta == 1:
            reg, dreg = lam * (xp.log(w) - log_W_bar), lam / w
        else:
            reg = lam * (w ** (beta - 1) - W_bar ** (beta - 1)) / (beta - 1)
            dreg = lam * w ** (beta - 2)
        return g + reg, w * (dg / W_t + dreg)

    return solve_increasing(xp, F, W_t)


_CLOSED_FORM_BETAS = (0.0, 1.0, 1.5, 2.0)


def update_W_deep(xp, Y, W, H, W_bar, lam: float, beta: float, eps: float):
    """BSUM step for W_ℓ, ℓ < L (Algorithm 1, lines 6–9), floored at ε."""
    lam = float(lam)
    Q, P = mu_terms_W(xp, Y, W, H, beta)
    W_bar = xp.maximum(W_bar, eps)
    if beta in _CLOSED_FORM_BETAS:
        new = deep_w_closed_form(xp, W, Q, P, W_bar, lam, beta)
    else:
        new = deep_w_root_solve(xp, W, Q, P, W_bar, lam, beta)
    return floor(xp, xp.astype(new, W.dtype), eps)
