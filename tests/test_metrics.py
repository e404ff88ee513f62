"""Tests of dnmf.metrics: MRSA (thesis eq. 2.9), SAD, Hungarian matching, per-layer scores."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from dnmf.metrics import (
    abundance_rmse,
    layer_scores,
    match_columns,
    mrsa,
    pairwise_mrsa,
    sad,
)


def _mrsa_eq_2_9(x: np.ndarray, y: np.ndarray) -> float:
    """Thesis eq. (2.9) for two vectors, written out."""
    xc, yc = x - x.mean(), y - y.mean()
    cos = xc @ yc / (np.linalg.norm(xc) * np.linalg.norm(yc))
    return 100.0 / np.pi * np.arccos(np.clip(cos, -1, 1))


def test_mrsa_zero_for_permuted_scaled_shifted_columns(rng):
    W = rng.random((20, 5))
    perm = np.array([3, 0, 4, 1, 2])
    W_est = W[:, perm] * np.array([0.5, 2.0, 7.0, 1e-3, 3.0]) + 0.25
    scores = mrsa(W, W_est)
    # arccos near 1 loses half the digits: 1e-16 in the cosine -> ~1e-8 rad -> ~3e-7 MRSA
    np.testing.assert_allclose(scores.per_column, 0.0, atol=1e-5)
    assert scores.mean == pytest.approx(0.0, abs=1e-5)
    # Hungarian recovers the permutation: W_est[:, perm_found] == W (up to scale)
    np.testing.assert_array_equal(W_est[:, scores.perm].argmax(axis=0), W.argmax(axis=0))
    np.testing.assert_array_equal(scores.perm, np.argsort(perm))


def test_mrsa_is_invariant_to_permutation_and_positive_scaling(rng):
    W, W_est = rng.random((15, 4)), rng.random((15, 6))
    base = mrsa(W, W_est)
    perm = rng.permutation(6)
    scale = rng.random(6) + 0.1
    moved = mrsa(W, W_est[:, perm] * scale)
    assert moved.mean == pytest.approx(base.mean, abs=1e-10)
    np.testing.assert_allclose(moved.per_column, base.per_column, atol=1e-10)
    np.testing.assert_array_equal(perm[moved.perm], base.perm)


def test_mrsa_extremes_and_formula():
    x = np.array([0.0, 1.0, 2.0])
    y = np.array([2.0, 1.0, 0.0])  # centred: (-1,0,1) vs (1,0,-1), opposite
    assert mrsa(x[:, None], y[:, None]).mean == pytest.approx(100.0)
    z = np.array([1.0, 0.0, 1.0])  # centred (1/3,-2/3,1/3) ⟂ (-1,0,1)
    assert mrsa(x[:, None], z[:, None]).mean == pytest.approx(50.0)
    rng = np.random.default_rng(0)
    a, b = rng.random(9), rng.random(9)
    assert mrsa(a[:, None], b[:, None]).mean == pytest.approx(_mrsa_eq_2_9(a, b), rel=1e-12)


def test_hungarian_matching_minimises_the_mean_mrsa(rng):
    W, W_est = rng.random((8, 4)), rng.random((8, 4))
    P = pairwise_mrsa(W, W_est)
    brute = min(np.mean(P[np.arange(4), list(p)]) for p in itertools.permutations(range(4)))
    assert mrsa(W, W_est).mean == pytest.approx(brute, rel=1e-12)


def test_match_columns_recovers_a_known_permutation_with_noise(rng):
    W = rng.random((30, 6))
    perm = rng.permutation(6)
    W_est = W[:, perm] * 3.0 + 0.01 * rng.random((30, 6))
    for metric in ("mrsa", "sad", "euclidean"):
        found = match_columns(W, W_est, metric=metric)
        np.testing.assert_array_equal(perm[found], np.arange(6))
    with pytest.raises(ValueError, match="metric"):
        match_columns(W, W_est, metric="cosine")


def test_more_estimated_than_true_columns(rng):
    W = rng.random((10, 3))
    W_est = np.hstack([rng.random((10, 2)), W])
    scores = mrsa(W, W_est)
    assert scores.mean == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_array_equal(scores.perm, [2, 3, 4])


def test_sad_values(rng):
    A = np.array([[1.0], [0.0]])
    B = np.array([[1.0], [1.0]])
    assert sad(A, B).mean == pytest.approx(np.pi / 4)
    W = rng.random((12, 3))
    assert sad(W, 5 * W[:, ::-1]).mean == pytest.approx(0.0, abs=1e-6)


def test_invalid_inputs_raise_clear_errors(rng):
    W = rng.random((6, 3))
    Z = W.copy()
    Z[:, 1] = 0
    with pytest.raises(ValueError, match=r"W_true has zero column\(s\) \[1\]"):
        sad(Z, W)
    with pytest.raises(ValueError, match=r"W_est has constant .* \[1\]"):
        mrsa(W, Z)
    C = W.copy()
    C[:, 2] = 0.1
    with pytest.raises(ValueError, match=r"constant .* \[2\]"):
        mrsa(C, W)
    with pytest.raises(ValueError, match="fewer columns"):
        mrsa(W, W[:, :2])
    with pytest.raises(ValueError, match="same number of rows"):
        mrsa(W, W[:5])
    with pytest.raises(ValueError, match="NaN"):
        mrsa(W, np.full((6, 3), np.nan))
    with pytest.raises(ValueError, match="perm"):
        mrsa(W, W, perm=[0, 0, 1])


def test_abundance_rmse(rng):
    H = rng.dirichlet(np.ones(4), size=50).T
    perm = np.array([2, 0, 3, 1])
    H_est = np.empty_like(H)
    H_est[perm] = H  # row k of H is row perm[k] of H_est
    assert abundance_rmse(H, H_est, perm) == 0.0
    assert abundance_rmse(H, H_est + 0.1, perm) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same number of columns"):
        abundance_rmse(H, H_est[:, :10], perm)
    with pytest.raises(ValueError, match="perm"):
        abundance_rmse(H, H_est, [0, 1, 2])


def test_layer_scores_table(rng):
    W1, W2 = rng.random((9, 6)), rng.random((9, 3))
    est = [W1[:, ::-1] * 2, rng.random((9, 3))]
    df = layer_scores(est, [W1, W2])
    assert isinstance(df, pd.DataFrame)
    assert df["layer"].tolist() == [1, 2]
    assert df.loc[0, "mrsa"] == pytest.approx(0.0, abs=1e-5)
    assert df.loc[1, "mrsa"] == pytest.approx(mrsa(W2, est[1]).mean)
    assert df.loc[1, "sad"] == pytest.approx(sad(W2, est[1]).mean)
    assert df.loc[0, "perm"] == [5, 4, 3, 2, 1, 0]
    only_second = layer_scores(est, [None, W2])
    assert only_second["layer"].tolist() == [2]
    with pytest.raises(ValueError, match="layer 2"):
        layer_scores(est, [W1, np.zeros((9, 3))])
    with pytest.raises(ValueError, match="3 layers"):
        layer_scores(est, [W1, W2, W2])
