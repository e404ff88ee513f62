"""dnmf.NMF's solvers against the mathematics and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import non_negative_factorization

from dnmf import NMF, get_model
from dnmf.models.nmf import SOLVERS, fit_nmf

DESCENT = ("mu", "hals", "pgd", "ipg", "opl")


def _data(seed=0, m=40, n=30, r=5, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.random((m, r)) @ rng.random((r, n)) + 0.05 * rng.random((m, n))
    if sparse:
        X[X < np.quantile(X, 0.5)] = 0.0
        return sp.csr_array(X)
    return X


def _errors(model):
    return model.history_["error_layer_1"].to_numpy()


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("init", ["random", "nndsvd"])
@pytest.mark.parametrize("solver", DESCENT)
def test_descent_solvers_never_increase_the_error(solver, init, sparse):
    X = _data(1, sparse=sparse)
    e = _errors(NMF(6, solver=solver, init=init, max_iter=80, random_state=3).fit(X))
    assert np.all(np.isfinite(e)) and e[-1] < e[0]
    # rounding only: the errors are sums over ~10³ entries of squares
    assert np.all(np.diff(e) <= 1e-10 * e[0]), np.diff(e).max() / e[0]


@pytest.mark.parametrize("beta", [0.5, 1.0, 1.5])
def test_beta_mu_never_increases_the_divergence(beta):
    X = _data(2) + 0.01
    e = _errors(NMF(5, solver="mu", beta=beta, max_iter=60, random_state=0).fit(X))
    assert np.all(np.diff(e) <= 1e-10 * e[0])


def test_als_is_not_a_descent_method_here():
    # From NNDSVD's start on sparse data, the truncated least squares go up at some iteration
    X = _data(1, sparse=True)
    e = _errors(NMF(6, solver="als", init="nndsvd", max_iter=60).fit(X))
    assert np.any(np.diff(e) > 1e-6 * e[0])


def test_fixed_step_pgd_diverges_beyond_two_over_L():
    X = _data(0)
    e = _errors(NMF(6, solver="pgd", step=2.5, max_iter=40, random_state=0).fit(X))
    assert e[-1] > 10 * e[0] or not np.isfinite(e[-1])
    e_safe = _errors(NMF(6, solver="pgd", step=0.9, max_iter=40, random_state=0).fit(X))
    assert e_safe[-1] < e_safe[0]


def _start(X, r, seed):
    rng = np.random.default_rng(seed)
    avg = np.sqrt(X.mean() / r)
    return avg * rng.random((X.shape[0], r)), avg * rng.random((r, X.shape[1]))


@pytest.mark.parametrize("seed", [0, 1])
def test_hals_reaches_sklearn_cd_objective(seed):
    X = _data(seed, m=50, n=40, r=6)
    W0, H0 = _start(X, 6, seed)
    Ws, Hs, _ = non_negative_factorization(X, W0.copy(), H0.copy(), n_components=6,
                                           init="custom", solver="cd", max_iter=500,
                                           tol=1e-12, beta_loss="frobenius")
    sk = 0.5 * np.linalg.norm(X - Ws @ Hs) ** 2
    ours = NMF(6, solver="hals", init="custom", max_iter=500).fit(X, W=W0, H=H0)
    assert ours.layer_errors_[0] <= sk * 1.005


def test_hals_iterates_equal_sklearn_cd_iterates():
    X = _data(3, m=30, n=20, r=4)
    W0, H0 = _start(X, 4, 3)
    Ws, Hs, _ = non_negative_factorization(X, W0.copy(), H0.copy(), n_components=4,
                                           init="custom", solver="cd", max_iter=7, tol=0.0)
    W, H, *_ = fit_nmf(X, W0.copy(), H0.copy(), solver="hals", max_iter=7)
    np.testing.assert_allclose(W, Ws, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H, Hs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_mu_beta2_matches_sklearn_mu_iterates(sparse):
    X = _data(4, m=30, n=25, r=4, sparse=sparse)
    Xd = X.toarray() if sparse else X
    W0, H0 = _start(Xd, 4, 4)
    for n_iter in (1, 5, 25):
        Ws, Hs, _ = non_negative_factorization(X, W0.copy(), H0.copy(), n_components=4,
                                               init="custom", solver="mu", max_iter=n_iter,
                                               tol=0.0, beta_loss="frobenius")
        model = NMF(4, solver="mu", beta=2, eps=0.0, init="custom", max_iter=n_iter)
        model.fit(X, W=W0, H=H0)
        np.testing.assert_allclose(model.W_[0], Ws, rtol=1e-9)
        np.testing.assert_allclose(model.H_[0], Hs, rtol=1e-9)


def test_ipg_steps_stay_in_the_interior():
    X = _data(5)
    W0, H0 = _start(X, 5, 5)
    W, H, *_ = fit_nmf(X, W0, H0, solver="ipg", max_iter=50)
    assert W.min() > 0 and H.min() > 0


def test_mu_with_zero_floor_keeps_zeros():
    X = _data(6)
    W0, H0 = _start(X, 5, 6)
    W0[3, 2] = 0.0
    H0[1, 7] = 0.0
    W, H, *_ = fit_nmf(X, W0.copy(), H0.copy(), solver="mu", max_iter=50, eps=0.0)
    assert W[3, 2] == 0.0 and H[1, 7] == 0.0
    W, H, *_ = fit_nmf(X, np.maximum(W0, 1e-3), np.maximum(H0, 1e-3), solver="mu",
                       max_iter=50, eps=1e-3)
    assert W[3, 2] > 1e-3 and H[1, 7] > 1e-3


@pytest.mark.parametrize("solver", SOLVERS)
def test_history_callback_and_stop(solver):
    seen = []

    def stop_at_5(info):
        seen.append(info.iteration)
        return info.iteration < 5

    model = NMF(4, solver=solver, max_iter=50, random_state=0, callback=stop_at_5).fit(_data())
    assert model.n_iter_ == 5 and model.stopped_early_ and seen == [1, 2, 3, 4, 5]
    hist = model.history_
    assert list(hist["iteration"]) == list(range(6))
    assert np.all(np.diff(hist["seconds"]) >= 0) and np.all(np.diff(hist["solver_seconds"]) >= 0)
    assert model.result_.layer_errors[0] == pytest.approx(
        0.5 * np.linalg.norm(_data() - model.W_[0] @ model.H_[0]) ** 2, rel=1e-9)


def test_errors_are_in_the_data_units_and_scale_invariant():
    X = _data(7)
    a = NMF(4, solver="hals", max_iter=30, random_state=1).fit(X)
    b = NMF(4, solver="hals", max_iter=30, random_state=1).fit(1e6 * X)
    assert b.layer_errors_[0] == pytest.approx(1e12 * a.layer_errors_[0], rel=1e-8)
    np.testing.assert_allclose(b.W_[0] @ b.H_[0], 1e6 * a.W_[0] @ a.H_[0], rtol=1e-8)


@pytest.mark.parametrize("kwargs, words", [
    ({"solver": "newton"}, "'solver' parameter of NMF must be a str among"),
    ({"solver": "hals", "beta": 1.0}, "only 'mu' handles"),
    ({"eps": -1.0}, "'eps' parameter"),
    ({"step": 0.0, "solver": "pgd"}, "'step' parameter"),
    ({"tau": 1.0}, "'tau' parameter"),
    ({"n_components": 10, "init": "nndsvd"}, "r must be <="),
    ({"init": "custom"}, "needs W"),
])
def test_bad_parameters_are_explained(kwargs, words):
    with pytest.raises(ValueError, match=words):
        NMF(**{"n_components": 3, **kwargs}).fit(_data(n=8))


def test_zero_data_and_negative_data_are_refused_in_words():
    with pytest.raises(ValueError, match="all zeros"):
        NMF(2).fit(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="Negative values"):
        NMF(2).fit(-np.ones((5, 4)))


def test_registered_as_a_single_layer_model():
    spec = get_model("nmf")
    assert spec.capabilities.layered is False and spec.estimator is NMF
    model = spec.build(n_components=3, solver="hals", max_iter=5).fit(_data())
    assert model.W_[0].shape == (40, 3) and model.result_.n_layers == 1


def test_transform_recovers_the_weights_of_the_training_rows():
    X = _data(8)
    model = NMF(5, solver="hals", max_iter=300, random_state=0).fit(X)
    W = model.transform(X)
    assert np.linalg.norm(X - W @ model.H_[0]) <= 1.01 * np.linalg.norm(
        X - model.W_[0] @ model.H_[0])
    assert model.components_ is model.H_[0] and model.n_features_in_ == X.shape[1]
