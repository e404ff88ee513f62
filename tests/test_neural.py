"""Neural NMF: the NNLS forward pass, its exact backward pass, the optimiser and the estimator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls
from sklearn.exceptions import NotFittedError

from dnmf import FitResult, get_model
from dnmf.models.neural import (
    Labels,
    NeuralNMF,
    encode_labels,
    forward,
    nnls_rows,
    nnls_rows_backward,
    objective_and_gradient,
)


def _problem(seed=0, m=12, n=10, ranks=(5, 3, 2)):
    rng = np.random.default_rng(seed)
    X = rng.random((m, 4)) @ rng.random((4, n)) + 0.1 * rng.random((m, n))
    Hs, previous = [], n
    for r in ranks:
        Hs.append(rng.random((r, previous)))
        previous = r
    return rng, X, Hs


@pytest.mark.parametrize("warm", [False, True])
def test_nnls_rows_matches_scipy(warm):
    rng = np.random.default_rng(1)
    H = rng.random((6, 15))
    A = rng.random((40, 15)) - 0.3  # negative parts make many constraints active
    passive = rng.random((40, 6)) < 0.5 if warm else None
    W, _ = nnls_rows(H @ H.T, A @ H.T, passive)
    expected = np.array([nnls(H.T, a)[0] for a in A])
    assert (expected == 0).mean() > 0.2
    np.testing.assert_allclose(W, expected, atol=1e-10)
    assert W.min() >= 0


def _fd_gradient(fun, V, h=1e-6):
    out = [np.zeros_like(v) for v in V]
    for b, v in enumerate(V):
        for idx in np.ndindex(v.shape):
            plus = [x.copy() for x in V]
            minus = [x.copy() for x in V]
            plus[b][idx] += h
            minus[b][idx] -= h
            out[b][idx] = (fun(plus) - fun(minus)) / (2 * h)
    return out


def _rel(a, b):
    a = np.concatenate([x.ravel() for x in a])
    b = np.concatenate([x.ravel() for x in b])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_backward_of_one_nnls_matches_finite_differences():
    rng = np.random.default_rng(3)
    H = rng.random((4, 7))
    A = rng.random((9, 7)) - 0.25
    G_up = rng.standard_normal((9, 4))  # the loss ⟨G_up, q(A, H)⟩

    def fun(V):
        W, _ = nnls_rows(V[1] @ V[1].T, V[0] @ V[1].T)
        return float(np.vdot(G_up, W))

    W, _ = nnls_rows(H @ H.T, A @ H.T)
    assert 0.1 < (W == 0).mean() < 0.9  # active constraints, and free ones
    gH, gA = nnls_rows_backward(G_up, W, H, A)
    assert _rel([gA, gH], _fd_gradient(fun, [A, H])) < 1e-6


@pytest.mark.parametrize("supervised", [None, 0, 1])
@pytest.mark.parametrize("loss_layers", ["all", "last"])
def test_gradient_matches_central_differences(supervised, loss_layers):
    """Labels of none, of the rows (classified by W_L) or of the columns (by H_L⋯H_1)."""
    rng, X, Hs = _problem()
    labels, B = None, None
    if supervised is not None:
        y = rng.integers(0, 3, X.shape[supervised])
        Y = np.eye(3)[y].T
        mask = np.ones_like(Y)
        mask[:, :4] = 0  # four unknown labels
        labels, B = Labels(Y, mask, 0.7, axis=supervised), rng.random((3, 2))
    weights = np.ones(3) if loss_layers == "all" else np.array([0.0, 0.0, 1.0])
    x2 = float(np.vdot(X, X))
    f, parts, grads = objective_and_gradient(X, Hs, B, labels, weights, x2)
    # the problem has active constraints in every layer (and free variables)
    assert all(0 < (W == 0).mean() < 1 for W in parts["Ws"])
    n_h = len(Hs)

    def fun(V):
        return objective_and_gradient(X, V[:n_h], V[n_h] if labels else None, labels,
                                      weights, x2, gradient=False)[0]

    V = Hs + ([B] if labels else [])
    assert _rel(grads, _fd_gradient(fun, V)) < 1e-6


def test_gradient_sparse_equals_dense():
    _, X, Hs = _problem(seed=4)
    x2 = float(np.vdot(X, X))
    Xz = X * (X > 0.6)
    dense = objective_and_gradient(Xz, Hs, None, None, np.ones(3), x2)
    sparse = objective_and_gradient(sp.csr_array(Xz), Hs, None, None, np.ones(3), x2)
    assert dense[0] == pytest.approx(sparse[0], rel=1e-12)
    for a, b in zip(dense[2], sparse[2]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def _bow(seed=0, m=60, n=80):
    """Documents × words from 3 topics in 2 groups (a small hierarchical bag of words)."""
    rng = np.random.default_rng(seed)
    topics = np.zeros((3, n))
    for k in range(3):
        topics[k, k * 25:(k + 1) * 25 + 5] = rng.random(30) + 0.5
    y = np.repeat([0, 1, 2], m // 3)
    W = np.eye(3)[y] + 0.1 * rng.random((m, 3))
    X = W @ topics + 0.05 * rng.random((m, n))
    return X, y


def test_fit_decreases_the_objective_and_reports_history():
    X, _ = _bow()
    model = NeuralNMF(ranks=(4, 2), n_init_iter=30, max_iter=30, random_state=0).fit(X)
    obj = model.history_["objective"].to_numpy()
    assert np.all(np.diff(obj) <= 0) and obj[-1] < obj[0]
    assert [W.shape for W in model.W_] == [(60, 4), (60, 2)]
    assert [H.shape for H in model.H_] == [(4, 80), (2, 4)]
    for W in model.W_:  # every W_ℓ is q(W_{ℓ-1}, H_ℓ): checked by the KKT conditions
        assert W.min() >= 0
    W_prev = X
    for W, H in zip(model.W_, model.H_):
        grad = (W @ H - W_prev) @ H.T
        assert np.abs(grad[W > 0]).max() < 1e-8 * np.abs(W_prev @ H.T).max()
        assert grad[W == 0].min() > -1e-8 * np.abs(W_prev @ H.T).max()
        W_prev = W
    rel = np.linalg.norm(X - model.W_[1] @ model.features(2)) / np.linalg.norm(X)
    assert model.data_errors_[1] == pytest.approx(rel, rel=1e-8)
    assert {"rel_error_layer_1", "rel_error_layer_2", "accuracy", "step"} <= set(
        model.history_.columns)
    assert model.init_history_ is not None


def test_training_lowers_deep_layers_below_the_multilayer_start():
    from dnmf import MultilayerNMF

    X, _ = _bow(seed=2)
    ml = MultilayerNMF(ranks=(4, 2), beta=2.0, max_iter=50, random_state=0).fit(X)
    neural = NeuralNMF(ranks=(4, 2), init="custom", max_iter=60).fit(
        X, H=[H.copy() for H in ml.H_])
    ml_err = np.linalg.norm(X - ml.W_[1] @ ml.features(2)) / np.linalg.norm(X)
    assert neural.data_errors_[1] < ml_err


def test_semi_supervised_labels_and_predict():
    X, y = _bow(seed=5)
    y_known = y.copy()
    y_known[::3] = -1
    model = NeuralNMF(ranks=(4, 3), n_init_iter=30, max_iter=40, label_weight=1.0,
                      random_state=0).fit(X, y_known)
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    assert model.B_.shape == (3, 3) and model.B_.min() >= 0
    accuracy = np.mean(model.predict(X)[::3] == y[::3])
    assert accuracy > 0.9
    assert model.history_["accuracy"].notna().all()
    restored = FitResult.from_npz_bytes(model.result_.to_npz_bytes())
    assert restored.config["labels"]["classes"] == [0, 1, 2]
    np.testing.assert_array_equal(np.array(restored.config["labels"]["B"]), model.B_)
    for a, b in zip(restored.W, model.W_):
        np.testing.assert_array_equal(a, b)


def test_labels_of_the_columns_classify_documents_of_a_words_by_documents_matrix():
    X, y = _bow(seed=5)
    y_known = y.copy()
    y_known[::3] = -1
    model = NeuralNMF(ranks=(4, 3), n_init_iter=30, max_iter=40, random_state=0).fit(
        X.T, y_known, label_axis=1)
    assert model.label_axis_ == 1 and not hasattr(model, "predict")
    assert np.mean(model.transduction_[::3] == y[::3]) > 0.9
    assert model.result_.config["labels"]["axis"] == 1
    assert model.result_.config["labels"]["known"] == np.flatnonzero(y_known != -1).tolist()
    with pytest.raises(ValueError, match="one label per row"):
        NeuralNMF(ranks=(4, 3)).fit(X.T, y_known)  # label_axis=0 expects one per row


def test_label_matrix_with_mask_equals_minus_one_labels():
    X, y = _bow(seed=6)
    y_known = y.copy()
    y_known[1::4] = -1
    Y, mask, classes = encode_labels(y_known, X.shape[0])
    a = NeuralNMF(ranks=(4, 3), n_init_iter=10, max_iter=5, random_state=0).fit(X, y_known)
    b = NeuralNMF(ranks=(4, 3), n_init_iter=10, max_iter=5, random_state=0).fit(
        X, Y, label_mask=mask)
    np.testing.assert_allclose(a.B_, b.B_)
    with pytest.raises(ValueError, match="transpose"):
        NeuralNMF(ranks=(4, 3)).fit(X, Y.T[:, :2])


def test_unsupervised_has_no_predict_and_all_unknown_is_unsupervised():
    X, y = _bow()
    model = NeuralNMF(ranks=(3,), n_init_iter=5, max_iter=3, random_state=0).fit(
        X, np.full(X.shape[0], -1))
    assert not hasattr(model, "predict")
    assert not hasattr(model, "classes_")


def test_callback_stops_and_float32():
    X, _ = _bow()
    seen = []

    def stop_after_three(info):
        seen.append(info.phase)
        return info.iteration < 3 + 2 * 5  # 2 warm-start layers of 5 iterations, then 3 steps

    model = NeuralNMF(ranks=(4, 2), n_init_iter=5, max_iter=50, random_state=0,
                      dtype=np.float32, callback=stop_after_three).fit(X)
    assert model.stopped_early_ and model.n_iter_ == 3
    assert seen[-1] == "neural" and seen[0] == "init layer 1"
    assert all(W.dtype == np.float32 for W in model.W_)
    assert np.all(np.isfinite(model.history_["objective"]))


def test_bad_input_is_explained():
    X, y = _bow()
    with pytest.raises(ValueError, match="Negative values"):
        NeuralNMF(ranks=(3,)).fit(-X)
    with pytest.raises(ValueError, match="loss_layers"):  # scikit-learn's parameter check
        NeuralNMF(ranks=(3,), loss_layers="first").fit(X)
    with pytest.raises(ValueError, match="label_weight"):
        NeuralNMF(ranks=(3,), label_weight=-1).fit(X, y)
    with pytest.raises(ValueError, match="one label per row"):
        NeuralNMF(ranks=(3,)).fit(X, y[:-1])
    with pytest.raises(NotFittedError):
        NeuralNMF(ranks=(3,)).transform(X)


def test_forward_of_zero_rows_and_tiny_scale_is_finite():
    X, _ = _bow()
    X[:5] = 0
    model = NeuralNMF(ranks=(4, 2), n_init_iter=10, max_iter=10, random_state=0).fit(X * 1e-200)
    assert all(np.all(np.isfinite(W)) for W in model.W_)
    assert np.all(model.W_[0][:5] == 0)
    Ws, _ = forward(np.zeros((3, X.shape[1])), model.H_)
    assert all(np.all(W == 0) for W in Ws)


def test_registered_with_labels_capability():
    spec = get_model("neural")
    assert spec.estimator is NeuralNMF
    assert spec.capabilities.labels and spec.capabilities.fixed_beta == 2.0
    X, _ = _bow()
    model = spec.build(**{**spec.defaults(), "ranks": (4, 2), "n_init_iter": 5, "max_iter": 5})
    model.fit(X)
    assert model.result_.config["model"] == "neural"


def test_scikit_learn_estimator_checks():
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # r_1 = 2 on the checks' 1- and 2-feature data: due
        results = check_estimator(get_model("neural").check_instance(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert failed == []


def test_no_step_empties_a_topic():
    """A spectral scene where an unguarded step made a column of W_2 zero (seen in the app)."""
    from dnmf.datasets import load_sample

    X = load_sample("spectral-scene").X
    model = NeuralNMF(ranks=(6, 3), n_init_iter=5, max_iter=5, random_state=0).fit(X)
    assert all(np.all(W.max(axis=0) > 0) for W in model.W_)
    assert model.n_iter_ == 5
