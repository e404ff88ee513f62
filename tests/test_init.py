"""Tests of dnmf.init: random scaling, NNDSVD vs scikit-learn, SNPA, SODA, projections, FPGD."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls
from sklearn.decomposition._nmf import _initialize_nmf

from dnmf import init
from dnmf.init import (
    fpgd,
    initialize,
    layerwise_init,
    nndsvd,
    project_capped_simplex_columns,
    project_simplex_columns,
    random_init,
    snpa,
    soda,
)


def _simplex_reference(Y: np.ndarray) -> np.ndarray:
    """Sort-based projection onto the simplex, column by column (Held et al.)."""
    out = np.empty_like(Y)
    for j in range(Y.shape[1]):
        u = np.sort(Y[:, j])[::-1]
        css = np.cumsum(u) - 1
        k = np.arange(1, u.size + 1)
        rho = k[u * k > css][-1]
        out[:, j] = np.maximum(Y[:, j] - css[rho - 1] / rho, 0)
    return out


# ------------------------------------------------------------------------------- NNDSVD
@pytest.mark.parametrize("variant", ["nndsvd", "nndsvda", "nndsvdar"])
def test_nndsvd_equals_sklearn(variant, rng):
    X = rng.random((30, 20))
    W, H = nndsvd(X, 5, variant, random_state=3)
    W_sk, H_sk = _initialize_nmf(X, 5, init=variant, random_state=3)
    np.testing.assert_allclose(W, W_sk, rtol=0, atol=1e-10)
    np.testing.assert_allclose(H, H_sk, rtol=0, atol=1e-10)


@pytest.mark.parametrize("variant", ["nndsvd", "nndsvda"])
def test_nndsvd_exact_svd_equals_sklearn_when_randomized_is_exact(variant, rng):
    # min(m, n) = 12 <= r + 10 oversamples: sklearn's randomized range finder spans the
    # whole column space, so its SVD is exact up to rounding and equals LAPACK's.
    X = rng.random((12, 30))
    W, H = nndsvd(X, 4, variant, svd_solver="exact")
    W_sk, H_sk = _initialize_nmf(X, 4, init=variant, random_state=0)
    np.testing.assert_allclose(W, W_sk, rtol=0, atol=1e-10)
    np.testing.assert_allclose(H, H_sk, rtol=0, atol=1e-10)


def test_nndsvd_sparse_matches_dense_and_keeps_dtype(rng):
    X = rng.random((25, 18))
    X[X < 0.5] = 0
    Wd, Hd = nndsvd(X, 4, "nndsvda", random_state=1)
    Ws, Hs = nndsvd(sp.csr_matrix(X), 4, "nndsvda", random_state=1)
    np.testing.assert_allclose(Ws, Wd, atol=1e-10)
    np.testing.assert_allclose(Hs, Hd, atol=1e-10)
    W32, H32 = nndsvd(X.astype(np.float32), 4, "nndsvda", random_state=1)
    assert W32.dtype == np.float32 and H32.dtype == np.float32


def test_nndsvd_positive_floor(rng):
    X = rng.random((20, 15))
    W, H = nndsvd(X, 4, "nndsvd", random_state=0)
    assert (W == 0).any()  # plain NNDSVD has exact zeros ...
    Wp, Hp = nndsvd(X, 4, "nndsvd", random_state=0, positive=True)
    assert Wp.min() >= np.finfo(float).eps and Hp.min() >= np.finfo(float).eps


def test_nndsvd_invalid_arguments(rng):
    X = rng.random((10, 8))
    with pytest.raises(ValueError, match="r must be <= 8"):
        nndsvd(X, 9)
    with pytest.raises(ValueError, match="variant"):
        nndsvd(X, 2, "svd")
    with pytest.raises(ValueError, match="negative"):
        nndsvd(X - 1, 2)
    with pytest.raises(ValueError, match="svd_solver"):
        nndsvd(X, 2, svd_solver="arpack")


# ------------------------------------------------------------------------------- random
def test_random_init_is_optimally_scaled_and_deterministic(rng):
    X = 7.0 * rng.random((30, 40))
    W, H = random_init(X, 5, 42)
    WH = W @ H
    # α* = ⟨X, WH⟩/‖WH‖² is 1 after the scaling: WH is the best multiple of itself for X
    assert np.vdot(X, WH) / np.vdot(WH, WH) == pytest.approx(1.0, rel=1e-12)
    W2, H2 = random_init(X, 5, np.random.default_rng(42))
    assert np.array_equal(W, W2) and np.array_equal(H, H2)
    W3, _ = random_init(X, 5, 43)
    assert not np.array_equal(W, W3)


def test_random_init_is_the_one_random_start_of_every_model(rng):
    """β = 1 scales W⁰H⁰ to the KL-best multiple of X (its mean), the start the β-models use;
    the same seed gives the same draws in float32 and float64."""
    from dnmf.models.multilayer import initial_factors

    X = 3.0 * rng.random((30, 40))
    W, H = random_init(X, 5, 7, beta=1.0)
    assert (W @ H).mean() == pytest.approx(X.mean(), rel=1e-12)
    Wm, Hm = initial_factors(X, 5, "random", np.random.default_rng(7), np.float64, 0.0)
    assert np.array_equal(W, Wm) and np.array_equal(H, Hm)
    W32, _ = random_init(X, 5, 7, np.float32, beta=1.0)
    np.testing.assert_allclose(W32, W, rtol=1e-6)
    with pytest.raises(ValueError, match="beta must be 1 or 2"):
        random_init(X, 5, 7, beta=0.5)


def test_random_init_sparse_and_float32(rng):
    X = rng.random((20, 30))
    X[X < 0.7] = 0
    Wd, Hd = random_init(X, 3, 0)
    Ws, Hs = random_init(sp.csr_matrix(X), 3, 0)
    np.testing.assert_allclose(Ws, Wd, rtol=1e-12)
    np.testing.assert_allclose(Hs, Hd, rtol=1e-12)
    W32, H32 = random_init(X.astype(np.float32), 3, 0)
    assert W32.dtype == np.float32 and H32.dtype == np.float32
    Wz, Hz = random_init(np.zeros((4, 5)), 2, 0, positive=True)
    assert np.all(Wz > 0) and np.all(np.isfinite(Hz))


def test_random_state_validation():
    with pytest.raises(ValueError, match="random_state"):
        random_init(np.ones((3, 3)), 2, "seed")
    with pytest.raises(ValueError, match="random_state"):
        random_init(np.ones((3, 3)), 2, -1)


# ------------------------------------------------------------------------------- SNPA
def _separable(rng, m=10, r=5, n=200, noise=0.0):
    """X = W [I_r, H'] with columns shuffled; returns X and the positions of the vertices."""
    W = rng.random((m, r))
    Hp = 0.9 * rng.dirichlet(np.full(r, 0.5), size=n - r).T  # strictly inside conv(W ∪ 0)
    H = np.hstack([np.eye(r), Hp])
    perm = rng.permutation(n)
    X = (W @ H)[:, perm]
    vertices = np.argsort(perm)[:r]  # where the columns of W ended up
    if noise:
        N = rng.standard_normal(X.shape)
        X = X + noise * N * np.linalg.norm(X) / np.linalg.norm(N)
    return X, vertices


@pytest.mark.parametrize("noise", [0.0, 1e-4])
def test_snpa_recovers_the_vertices_of_a_separable_matrix(noise, rng):
    X, vertices = _separable(rng, noise=noise)
    J, H = snpa(X, 5)
    assert sorted(J.tolist()) == sorted(vertices.tolist())
    assert H.shape == (5, X.shape[1]) and H.min() >= 0
    assert H.sum(axis=0).max() <= 1 + 1e-12
    rel = np.linalg.norm(X - X[:, J] @ H) / np.linalg.norm(X)
    assert rel < 1e-3 + 5 * noise


def test_snpa_more_vertices_than_dimensions(rng):
    # the thesis §5.3 hexagon: r = 6 vertices in m = 3 dimensions (SNPA projects onto the
    # convex hull with the origin, not onto a span, so r > m works)
    W1 = np.array([[0.1, 0.1, 0.4, 0.4, 0.5, 0.5],
                   [0.4, 0.5, 0.1, 0.5, 0.1, 0.4],
                   [0.5, 0.4, 0.5, 0.1, 0.4, 0.1]])
    H = np.hstack([np.eye(6), 0.999 * rng.dirichlet(np.full(6, 0.05), size=300).T])
    J, _ = snpa(W1 @ H, 6)
    assert sorted(J.tolist()) == list(range(6))


def test_snpa_returns_r_indices_when_the_residual_vanishes():
    # only 2 extreme columns; the third index is the largest remaining column
    X = np.array([[1.0, 0.0, 0.5, 0.25], [0.0, 1.0, 0.5, 0.25]])
    J, H = snpa(X, 3)
    assert len(set(J.tolist())) == 3 and set(J[:2].tolist()) == {0, 1}
    assert J[2] == 2
    assert np.all(np.isfinite(H))


def test_snpa_rejects_sparse_and_bad_rank(rng):
    with pytest.raises(ValueError, match="sparse"):
        snpa(sp.csr_matrix(rng.random((4, 5))), 2)
    with pytest.raises(ValueError, match="r must be <= 5"):
        snpa(rng.random((4, 5)), 6)


# ------------------------------------------------------------------------------- SODA
def test_soda_four_point_toy_matches_the_hand_computed_merge():
    # Columns x1 = (3,1,0), x2 = (1,3,0), x3 = (0,0,5), x4 = (5,0,5).
    # Eq. (6.2): e(i,j) = ½ min_{h_i²+h_j²=1} (‖x_i − h_i w‖² + ‖x_j − h_j w‖²) = ½ λ_min(G_ij)
    # with G_ij the 2×2 Gram matrix of the pair.
    #   (1,2): G = [[10,6],[6,10]]  λ_min = 4                    e = 2
    #   (1,4): G = [[10,15],[15,50]] λ_min = 30 − √(20²+15²) = 5  e = 2.5
    #   (1,3), (2,3): c = 0, λ_min = min(10, 25) = 10            e = 5
    #   (2,4): G = [[10,5],[5,50]]  λ_min = 30 − √425 ≈ 9.38      e ≈ 4.69
    #   (3,4): G = [[25,25],[25,50]] λ_min = 37.5 − √781.25 ≈ 9.55 e ≈ 4.77
    # so SODA merges x1 and x2.  Equal norms (‖x1‖ = ‖x2‖), so Algorithm 12 takes
    # α = 1/√2 and w = (x1 + x2)/√2 = (2√2, 2√2, 0); check with eq. (6.2):
    # ‖x1 − w/√2‖² = ‖(3,1,0) − (2,2,0)‖² = 2, likewise for x2, e = ½(2 + 2) = 2.
    # Algorithm 13 removes the pair and appends w: W = [x3, x4, w], and
    # H = [[0,0,1,0],[0,0,0,1],[1/√2,1/√2,0,0]].
    X = np.array([[3.0, 1.0, 0.0, 5.0], [1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 5.0, 5.0]])
    Ws, Hs = soda(X, (3,))
    s2 = np.sqrt(2.0)
    W_expected = np.array([[0.0, 5.0, 2 * s2], [0.0, 0.0, 2 * s2], [5.0, 5.0, 0.0]])
    H_expected = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [1 / s2, 1 / s2, 0, 0]])
    np.testing.assert_allclose(Ws[0], W_expected, atol=1e-12)
    np.testing.assert_allclose(Hs[0], H_expected, atol=1e-12)
    assert 0.5 * np.linalg.norm(X - Ws[0] @ Hs[0]) ** 2 == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("case", ["a>b", "a<b", "a=b"])
def test_pair_merge_matches_algorithm_12(case, rng):
    xi, xj = rng.random(6), rng.random(6)
    if case == "a<b":
        xj = 3 * xj
    elif case == "a>b":
        xi = 3 * xi
    else:
        xj = xj / np.linalg.norm(xj) * np.linalg.norm(xi)
    a, b, c = xi @ xi, xj @ xj, xi @ xj
    err, alpha, _ = init._pair_merge(a, b, c)
    # Algorithm 12 literally (with the swap so that the first point has the larger norm)
    big, small, perm = (xi, xj, False) if a >= b else (xj, xi, True)
    if np.isclose(np.linalg.norm(big), np.linalg.norm(small), rtol=1e-14):
        al = 1 / np.sqrt(2)
    else:
        K = big @ small / (big @ big - small @ small)
        Lq = 4 * K**2 + 1
        al = np.sqrt((Lq + np.sqrt(Lq)) / (2 * Lq))
    w = al * big + np.sqrt(1 - al**2) * small
    e = 0.5 * (np.sum((big - al * w) ** 2) + np.sum((small - np.sqrt(1 - al**2) * w) ** 2))
    if perm:
        al = np.sqrt(1 - al**2)
    assert float(alpha) == pytest.approx(al, abs=1e-10)
    assert float(err) == pytest.approx(e, rel=1e-9, abs=1e-12)


def test_soda_layers_are_orthogonal_nmfs(rng):
    X = rng.random((5, 60))
    Ws, Hs = soda(X, (12, 6, 2))
    assert [W.shape for W in Ws] == [(5, 12), (5, 6), (5, 2)]
    assert [H.shape for H in Hs] == [(12, 60), (6, 12), (2, 6)]
    for H in Hs:
        assert H.min() >= 0
        assert np.all((H > 0).sum(axis=0) == 1)  # one cluster per column
        np.testing.assert_allclose(H @ H.T, np.eye(H.shape[0]), atol=1e-12)
    # every layer is better than merging everything into the mean direction
    for A, W, H in zip([X, Ws[0], Ws[1]], Ws, Hs):
        assert np.linalg.norm(A - W @ H) < np.linalg.norm(A)


def test_soda_random_subset_for_large_n(rng):
    X = rng.random((4, 400))
    Ws, Hs = soda(X, (8, 3), n_start=50, random_state=0)
    assert Hs[0].shape == (8, 400) and Ws[0].shape == (4, 8)
    assert np.all((Hs[0] > 0).sum(axis=0) == 1)
    Ws2, Hs2 = soda(X, (8, 3), n_start=50, random_state=0)
    assert all(np.array_equal(a, b) for a, b in zip(Ws + Hs, Ws2 + Hs2))
    with pytest.raises(ValueError, match="n_start"):
        soda(X, (8, 3), n_start=5)


# ------------------------------------------------------------------------------- projections
def test_simplex_projection_matches_sort_reference(rng):
    for shape, scale in [((1, 7), 1.0), ((6, 500), 1.0), ((6, 500), 1e-3), ((40, 200), 100.0)]:
        Y = scale * rng.standard_normal(shape)
        P = project_simplex_columns(Y.copy())
        np.testing.assert_allclose(P, _simplex_reference(Y), atol=1e-12 * max(1.0, scale))
        assert P.min() >= 0
        np.testing.assert_allclose(P.sum(axis=0), 1.0, atol=1e-10)
        np.testing.assert_allclose(project_simplex_columns(P.copy()), P, atol=1e-14)


def test_capped_simplex_projection(rng):
    Y = rng.standard_normal((5, 300))
    P = project_capped_simplex_columns(Y.copy())
    assert P.min() >= 0 and P.sum(axis=0).max() <= 1 + 1e-12
    small = np.maximum(Y, 0).sum(axis=0) <= 1
    np.testing.assert_array_equal(P[:, small], np.maximum(Y[:, small], 0))
    np.testing.assert_allclose(P[:, ~small], _simplex_reference(Y[:, ~small]), atol=1e-12)


def test_fpgd_solves_nnls_and_never_increases(rng):
    A = rng.random((20, 4))
    b = rng.random((20, 1)) - 0.3
    Y0 = np.zeros((4, 1))
    f0 = 0.0
    fs = []
    Y = Y0
    for _ in range(30):
        Y, f = fpgd(Y, A.T @ b, P=A.T @ A, n_iter=10)
        fs.append(f)
    assert all(f1 <= f0_ for f0_, f1 in zip([f0, *fs], fs))
    x, _ = nnls(A, b[:, 0])
    np.testing.assert_allclose(Y[:, 0], x, atol=1e-6)


# ------------------------------------------------------------------------------- layerwise
@pytest.mark.parametrize("method", ["snpa", "nndsvda", "nndsvd", "nndsvdar", "random", "soda"])
def test_layerwise_init_shapes_and_determinism(method, rng):
    X = rng.random((12, 40))
    Ws, Hs = layerwise_init(X, (8, 4, 2), method, random_state=0, positive=True)
    assert [W.shape for W in Ws] == [(12, 8), (12, 4), (12, 2)]
    assert [H.shape for H in Hs] == [(8, 40), (4, 8), (2, 4)]
    assert all(M.min() > 0 and np.all(np.isfinite(M)) for M in Ws + Hs)
    Ws2, Hs2 = layerwise_init(X, (8, 4, 2), method, random_state=0, positive=True)
    assert all(np.array_equal(a, b) for a, b in zip(Ws + Hs, Ws2 + Hs2))


def test_layerwise_snpa_selects_columns_of_the_previous_layer(rng):
    X = rng.random((6, 50))
    Ws, _ = layerwise_init(X, (5, 3), "snpa")
    for prev, W in zip([X, Ws[0]], Ws):
        for col in W.T:
            assert np.any(np.all(prev == col[:, None], axis=0))


def test_layerwise_and_initialize_validation(rng):
    X = rng.random((6, 10))
    with pytest.raises(ValueError, match="method"):
        layerwise_init(X, (3,), "kmeans")
    with pytest.raises(ValueError, match="strictly decrease"):
        layerwise_init(X, (3, 4), "random")
    with pytest.raises(ValueError, match="strictly decrease"):  # one rule for every model
        layerwise_init(X, (3, 3), "random")
    with pytest.raises(ValueError, match="layer 1: r must be <= 6"):
        layerwise_init(np.hstack([X, X]), (8, 7), "nndsvda")  # r_1 = 8 > m = 6
    with pytest.raises(ValueError, match="method"):
        initialize(X, 3, "pca")
    for method in init.INIT_METHODS:
        W, H = initialize(X, 3, method, random_state=0, dtype=np.float32)
        assert W.shape == (6, 3) and H.shape == (3, 10) and W.dtype == np.float32


def test_all_pairs_in_soda_small_exhaustive(rng):
    # SODA's first merge is the pair of smallest e(i, j) over all pairs (brute force)
    X = rng.random((3, 7))
    best = min(itertools.combinations(range(7), 2),
               key=lambda p: float(init._pair_merge(X[:, p[0]] @ X[:, p[0]],
                                                    X[:, p[1]] @ X[:, p[1]],
                                                    X[:, p[0]] @ X[:, p[1]])[0]))
    _, Hs = soda(X, (6,))
    merged = np.flatnonzero(Hs[0][-1] > 0)
    assert tuple(merged.tolist()) == best
