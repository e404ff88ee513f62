"""Synthetic layered generators: exact layer equalities, H e = e, noise level, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from dnmf.datasets import THESIS_NOISE_LEVELS, DataError, layered, load_sample, thesis_example
from dnmf.datasets.synthetic import THESIS_H2, THESIS_W1, THESIS_W2


def rel_err(X, Xstar):
    return np.linalg.norm(X - Xstar) / np.linalg.norm(Xstar)


def test_thesis_printed_matrices_are_consistent():
    np.testing.assert_allclose(THESIS_W2 @ THESIS_H2, THESIS_W1, atol=1e-15)
    np.testing.assert_allclose(THESIS_W1.sum(axis=0), 1.0)


def test_thesis_example_defaults():
    ds = load_sample("synthetic-thesis")
    assert ds.kind == "generic" and ds.shape == (3, 1000)
    gt = ds.ground_truth
    W1, W2 = gt["W"]
    H1, H2 = gt["H"]
    assert W1.shape == (3, 6) and W2.shape == (3, 3) and H1.shape == (6, 1000)
    assert H2.shape == (3, 6)
    np.testing.assert_array_equal(W1, W2 @ H2)  # exact, by construction
    np.testing.assert_allclose(H1.sum(axis=1), 1.0, rtol=1e-12)  # rows sum to one
    np.testing.assert_allclose(H2.sum(axis=1), 1.0, rtol=1e-12)
    # the layer-1 basis points in the printed directions (normalisation changes only scale)
    np.testing.assert_allclose(W1 / W1.sum(axis=0), THESIS_W1, atol=1e-12)
    assert rel_err(ds.X, W1 @ H1) <= gt["noise"] + 1e-12


@pytest.mark.parametrize("noise", THESIS_NOISE_LEVELS[:4] + (0.0,))
def test_thesis_noise_level(noise):
    ds = thesis_example(noise=noise, seed=1)
    W1, H1 = ds.ground_truth["W"][0], ds.ground_truth["H"][0]
    e = rel_err(ds.X, W1 @ H1)
    assert ds.X.min() >= 0
    assert e <= noise + 1e-12
    assert e >= 0.8 * noise  # clipping at 0 removes little at these levels
    assert ds.ground_truth["noise_actual"] == pytest.approx(e)


def test_thesis_columns_normalisation_is_verbatim():
    ds = thesis_example(noise=0.0, normalization="columns")
    W1, W2 = ds.ground_truth["W"]
    H1, H2 = ds.ground_truth["H"]
    np.testing.assert_allclose(W1, THESIS_W1, atol=1e-15)
    np.testing.assert_array_equal(W2, THESIS_W2)
    np.testing.assert_array_equal(H2, THESIS_H2)
    np.testing.assert_allclose(H1.sum(axis=0), 1.0)  # Dirichlet columns
    np.testing.assert_allclose(ds.X.sum(axis=0), 1.0)  # data on the simplex
    np.testing.assert_allclose(ds.X, W1 @ H1, rtol=1e-12)


def test_thesis_dirichlet_is_sparse_and_purity_respected():
    H1 = thesis_example(noise=0.0, normalization="columns").ground_truth["H"][0]
    assert np.median(H1.max(axis=0)) > 0.9  # Dirichlet(0.05): nearly pure points
    H1p = thesis_example(noise=0.0, normalization="columns", purity=0.8).ground_truth["H"][0]
    assert H1p.max() <= 0.8


@pytest.mark.parametrize("ranks", [(5,), (8, 4, 2), (12, 7, 4, 2)])
def test_layered_generator_exact_structure(ranks):
    ds = layered(ranks=ranks, n_features=30, n_samples=200, noise=0.05, seed=2)
    gt = ds.ground_truth
    Ws, Hs = gt["W"], gt["H"]
    L = len(ranks)
    assert len(Ws) == len(Hs) == L
    assert ds.shape == (30, 200)
    prev = 200
    for l in range(L):
        assert Ws[l].shape == (30, ranks[l])
        assert Hs[l].shape == (ranks[l], prev)
        prev = ranks[l]
        assert Ws[l].min() >= 0 and Hs[l].min() >= 0
        np.testing.assert_allclose(Hs[l].sum(axis=1), 1.0, rtol=1e-12)
    for l in range(L - 1):
        np.testing.assert_array_equal(Ws[l], Ws[l + 1] @ Hs[l + 1])  # exact
    # the chain reproduces the clean data at every layer: X* = W_l (H_l ⋯ H_1)
    Xstar = Ws[0] @ Hs[0]
    np.testing.assert_allclose(gt["X_clean"], Xstar)
    for l in range(1, L):
        prod = Hs[0]
        for k in range(1, l + 1):
            prod = Hs[k] @ prod
        np.testing.assert_allclose(Ws[l] @ prod, Xstar, rtol=1e-10)
    e = rel_err(ds.X, Xstar)
    assert 0.8 * 0.05 <= e <= 0.05 + 1e-12


def test_layered_generator_is_deterministic_and_validates():
    a = layered(seed=5)
    b = layered(seed=5)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, layered(seed=6).X)
    with pytest.raises(DataError, match="decrease"):
        layered(ranks=(3, 5))
    with pytest.raises(DataError, match="sparsity"):
        layered(sparsity=1.5)
    with pytest.raises(DataError, match="noise"):
        layered(noise=-1)
    with pytest.raises(DataError):
        load_sample("synthetic-layers", n_samples="many")


def test_layered_via_load_sample_accepts_list_ranks():
    ds = load_sample("synthetic-layers", ranks=[6, 3], n_features=20, n_samples=100)
    assert [W.shape[1] for W in ds.ground_truth["W"]] == [6, 3]
