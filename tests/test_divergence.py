"""β-divergences against their textbook definitions, dense and sparse, and Hoyer sparsity."""

import numpy as np
import pytest
import scipy.sparse as sp

from dnmf.divergence import beta_divergence, beta_divergence_dense, hoyer_sparsity, sampled_product


def _reference(x, y, beta):
    """Entrywise definition (paper eq. 5) with plain Python floats."""
    total = 0.0
    for a, b in zip(np.ravel(x), np.ravel(y)):
        if beta == 0:
            total += a / b - np.log(a / b) - 1
        elif beta == 1:
            total += (a * np.log(a / b) if a > 0 else 0.0) - a + b
        else:
            total += (a**beta + (beta - 1) * b**beta - beta * a * b ** (beta - 1)) / (
                beta * (beta - 1)
            )
    return total


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1.5, 2.0])
def test_dense_matches_definition(rng, beta):
    X = rng.random((7, 5)) + 0.1
    V = rng.random((7, 5)) + 0.1
    assert beta_divergence_dense(X, V, beta) == pytest.approx(_reference(X, V, beta), rel=1e-12)


def test_divergence_is_zero_iff_equal(rng):
    X = rng.random((6, 4)) + 0.1
    for beta in (0.0, 0.5, 1.0, 1.5, 2.0):
        assert beta_divergence_dense(X, X, beta) == pytest.approx(0.0, abs=1e-12)
        assert beta_divergence_dense(X, X * 1.1, beta) > 0


@pytest.mark.parametrize("beta", [0.5, 1.0, 1.5, 2.0])
def test_sparse_equals_dense(rng, beta):
    X = sp.random(50, 40, density=0.1, random_state=1, format="csr") * 3
    W = rng.random((50, 5))
    H = rng.random((5, 40))
    dense = beta_divergence_dense(X.toarray(), W @ H, beta)
    assert beta_divergence(X, W, H, beta) == pytest.approx(dense, rel=1e-10)


def test_sparse_kl_never_densifies(rng, monkeypatch):
    X = sp.random(30, 20, density=0.2, random_state=2, format="csr")
    W, H = rng.random((30, 3)), rng.random((3, 20))

    def forbidden(*args, **kwargs):
        raise AssertionError("toarray() called on the sparse data")

    monkeypatch.setattr(sp.csr_array, "toarray", forbidden)
    monkeypatch.setattr(sp.csr_matrix, "toarray", forbidden)
    value = beta_divergence(X, W, H, 1.0)
    assert np.isfinite(value)


def test_sampled_product(rng):
    X = sp.random(25, 30, density=0.3, random_state=3, format="csr")
    W, H = rng.random((25, 4)), rng.random((4, 30))
    rows, cols = X.nonzero()
    expected = (W @ H)[rows, cols]
    # csr nonzero() order is the order of X.data
    np.testing.assert_allclose(sampled_product(W, H, X), expected, rtol=1e-13)


def test_zero_data_entries_kl():
    X = np.array([[0.0, 1.0], [2.0, 0.0]])
    V = np.array([[0.5, 1.0], [1.0, 0.25]])
    expected = 0.5 + 0 + (2 * np.log(2) - 2 + 1) + 0.25
    assert beta_divergence_dense(X, V, 1.0) == pytest.approx(expected)


def test_hoyer_sparsity_extremes():
    M = np.array([[0.0, 0.0, 3.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(hoyer_sparsity(M), [1.0, 0.0, 0.0], atol=1e-12)
    x = np.array([[1.0, 2.0, 0.0, 0.5]])
    n = 4
    expected = (np.sqrt(n) - 3.5 / np.sqrt(1 + 4 + 0.25)) / (np.sqrt(n) - 1)
    assert hoyer_sparsity(x)[0] == pytest.approx(expected)
    np.testing.assert_allclose(hoyer_sparsity(M.T, axis=0), hoyer_sparsity(M))
