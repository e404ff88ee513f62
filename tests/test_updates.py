"""The MU building blocks against mathematics: closed forms vs a generic root solve,
KKT conditions of the sum-to-one step, and monotone decrease of each block's objective."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import brentq

from dnmf.divergence import beta_divergence, beta_divergence_dense
from dnmf.updates import (
    _stationarity,
    deep_W_closed_form,
    deep_W_root_solve,
    mu_terms_H,
    mu_terms_W,
    sum_to_one_update,
    update_H_mu,
    update_H_rowsum,
    update_W_deep,
    update_W_mu,
)

BETAS = [0.0, 0.5, 1.0, 1.2, 1.5, 1.8, 2.0]


def _deep_problem(rng, m=12, r_prev=9, r=5, scale=1.0):
    Y = rng.random((m, r_prev)) * scale + 1e-3
    W = rng.random((m, r)) * scale + 1e-3
    H = rng.random((r, r_prev)) + 1e-3
    H /= H.sum(axis=1, keepdims=True)
    W_bar = rng.random((m, r)) * scale + 1e-3
    return Y, W, H, W_bar


@pytest.mark.parametrize("beta", [0.0, 1.0, 1.5, 2.0])
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_closed_forms_agree_with_root_solve(rng, beta, scale):
    Y, W, H, W_bar = _deep_problem(rng, scale=scale)
    Q, P = mu_terms_W(Y, W, H, beta)
    for lam in (1e-3, 0.7, 50.0):
        closed = deep_W_closed_form(W, Q, P, W_bar, lam, beta)
        generic = deep_W_root_solve(W, Q, P, W_bar, lam, beta)
        np.testing.assert_allclose(closed, generic, rtol=1e-8)


def test_kl_closed_form_extreme_arguments():
    """ω-branch and its e^{-a/λ} limit: huge A/λ (tiny W̄) and b → 0 stay finite and exact."""
    W_t = np.array([[1.0, 1e-300, 2.0, 1.0]])
    Q = np.array([[1.0, 1.0, 0.0, 1e-200]])
    P = np.array([[1.0, 1.0, 1.0, 1.0]])
    W_bar = np.array([[1e-250, 1.0, 3.0, 1e250]])
    lam = 1e-3
    closed = deep_W_closed_form(W_t, Q, P, W_bar, lam, 1.0)
    assert np.all(np.isfinite(closed))
    generic = deep_W_root_solve(W_t[:, [0, 1, 3]], Q[:, [0, 1, 3]], P[:, [0, 1, 3]],
                                W_bar[:, [0, 1, 3]], lam, 1.0)
    np.testing.assert_allclose(closed[:, [0, 1, 3]], generic, rtol=1e-8)
    # b = 0: the limit w = W̄ e^{-P/λ}
    assert closed[0, 2] == pytest.approx(3.0 * np.exp(-1.0 / lam), rel=1e-12, abs=0)


@pytest.mark.parametrize("beta", BETAS)
def test_root_solve_satisfies_stationarity(rng, beta):
    Y, W, H, W_bar = _deep_problem(rng)
    Q, P = mu_terms_W(Y, W, H, beta)
    lam = 0.5
    w = deep_W_root_solve(W, Q, P, W_bar, lam, beta)
    g, _ = _stationarity(w / W, Q, np.broadcast_to(P, W.shape), beta)
    reg = lam * (np.log(w) - np.log(W_bar) if beta == 1 else
                 (w ** (beta - 1) - W_bar ** (beta - 1)) / (beta - 1))
    scale = np.abs(g) + np.abs(reg) + 1.0
    assert np.max(np.abs(g + reg) / scale) < 1e-10


@pytest.mark.parametrize("beta", BETAS)
def test_deep_W_update_decreases_its_subproblem(rng, beta):
    """λ_ℓ D(Y, WH) + λ_{ℓ+1} D(W, W̄) never increases under the BSUM step (eq. 13)."""
    Y, W, H, W_bar = _deep_problem(rng)
    lam = 0.8
    eps = np.finfo(float).eps

    def objective(W_):
        return beta_divergence_dense(Y, W_ @ H, beta) + lam * beta_divergence_dense(
            W_, W_bar, beta)

    values = [objective(W)]
    for _ in range(30):
        W = update_W_deep(Y, W, H, W_bar, lam, beta, eps)
        values.append(objective(W))
    diffs = np.diff(values)
    assert np.all(diffs <= 1e-12 * np.abs(values[:-1])), diffs.max()
    assert values[-1] < values[0]


@pytest.mark.parametrize("beta", BETAS)
def test_sum_to_one_update_kkt_and_constraint(rng, beta):
    r, n = 6, 15
    H = rng.random((r, n)) + 0.01
    H /= H.sum(axis=1, keepdims=True)
    Q = rng.random((r, n)) + 0.1
    P = rng.random((r, n)) + 0.1
    H_new, mu = sum_to_one_update(H, Q, P, beta, return_multiplier=True)
    np.testing.assert_allclose(H_new.sum(axis=1), 1.0, atol=1e-12)
    # KKT: g(t_kj) = μ_k along each row
    with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 where β = 2 clips at 0
        g, _ = _stationarity(H_new / H, Q, P, beta)
    if beta == 2:  # the nonnegativity constraint can be active at β = 2
        active = H_new > 0
        assert np.allclose(np.where(active, g, mu[:, None]), mu[:, None], rtol=1e-9,
                           atol=1e-9)
    else:
        np.testing.assert_allclose(g, np.broadcast_to(mu[:, None], g.shape), rtol=1e-9,
                                   atol=1e-9)


@pytest.mark.parametrize("beta", [0.5, 1.0, 1.5, 1.2])
def test_multiplier_matches_generic_scalar_root(rng, beta):
    """Newton's μ equals brentq on the secular function ξ(μ) = Σ_j h̃ t(μ) − 1."""
    n = 10
    h = rng.random(n) + 0.05
    h /= h.sum()
    q = rng.random(n) + 0.1
    p = rng.random(n) + 0.1
    _, mu = sum_to_one_update(h[None], q[None], p[None], beta, return_multiplier=True)

    def t_of(mu_value):
        return np.array([brentq(lambda t, j=j: _stationarity(t, q[j], p[j], beta)[0] - mu_value,
                                1e-12, 1e12, xtol=1e-15, rtol=1e-15) for j in range(n)])

    lo = np.min(_stationarity(1.0 / h, q, p, beta)[0]) - 1e3
    hi = np.min(_stationarity(1.0 / h, q, p, beta)[0])
    mu_ref = brentq(lambda m: float(h @ t_of(m)) - 1.0, lo, hi, xtol=1e-14, rtol=1e-14)
    assert mu[0] == pytest.approx(mu_ref, rel=1e-8, abs=1e-10)


def test_kl_rowsum_closed_form_equals_newton(rng):
    Y = rng.random((20, 15)) + 0.1
    W = rng.random((20, 4))
    H = rng.random((4, 15))
    H /= H.sum(axis=1, keepdims=True)
    fast = update_H_rowsum(Y, W, H, 1.0, 0.0)
    Q, P = mu_terms_H(Y, W, H, 1.0)
    newton = sum_to_one_update(H, Q, np.broadcast_to(P, Q.shape), 1.0)
    np.testing.assert_allclose(fast, newton, rtol=1e-12)


# β = 0 is undefined on data with zeros, so it is not paired with sparse data.
@pytest.mark.parametrize(
    ("beta", "sparse"),
    [(b, False) for b in BETAS] + [(b, True) for b in BETAS if b > 0],
)
def test_mu_steps_decrease_divergence(rng, beta, sparse):
    X = sp.random(30, 25, density=0.3, random_state=4, format="csr") if sparse else (
        rng.random((30, 25)) + 0.05)
    W = rng.random((30, 4)) + 0.1
    H = rng.random((4, 25)) + 0.1
    eps = np.finfo(float).eps
    values = [beta_divergence(X, W, H, beta)]
    for _ in range(20):
        H = update_H_mu(X, W, H, beta, eps)
        values.append(beta_divergence(X, W, H, beta))
        W = update_W_mu(X, W, H, beta, eps)
        values.append(beta_divergence(X, W, H, beta))
    assert np.all(np.diff(values) <= 1e-12 * np.abs(values[:-1]))


@pytest.mark.parametrize("beta", BETAS)
def test_rowsum_step_decreases_divergence_and_keeps_constraint(rng, beta):
    X = rng.random((30, 25)) + 0.05
    W = rng.random((30, 4)) + 0.1
    H = rng.random((4, 25)) + 0.1
    H /= H.sum(axis=1, keepdims=True)
    eps = np.finfo(float).eps
    values = [beta_divergence(X, W, H, beta)]
    for _ in range(15):
        H = update_H_rowsum(X, W, H, beta, eps)
        np.testing.assert_allclose(H.sum(axis=1), 1.0, atol=1e-9)
        values.append(beta_divergence(X, W, H, beta))
    assert np.all(np.diff(values) <= 1e-12 * np.abs(values[:-1]))


def test_sparse_terms_equal_dense(rng):
    X = sp.random(30, 20, density=0.25, random_state=5, format="csr")
    W, H = rng.random((30, 3)), rng.random((3, 20))
    for beta in (1.0, 2.0):
        for terms in (mu_terms_H, mu_terms_W):
            Qs, Ps = terms(X, W, H, beta)
            Qd, Pd = terms(X.toarray(), W, H, beta)
            np.testing.assert_allclose(Qs, Qd, rtol=1e-12)
            np.testing.assert_allclose(np.broadcast_to(Ps, Qs.shape),
                                       np.broadcast_to(Pd, Qd.shape), rtol=1e-12)
