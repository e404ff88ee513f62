"""Multilayer and deep β-NMF: monotone objective, constraints, agreement with scikit-learn,
robustness to awkward inputs, reproducibility, validation and persistence."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF

from dnmf import DeepNMF, FitResult, MinVol, MultilayerNMF
from dnmf._validation import TrivialFactorizationWarning
from dnmf.models.multilayer import nmf_mu

FAST = dict(n_init_iter=20, max_iter=30, eval_every=1, random_state=0)


def _objective_is_monotone(history: pd.DataFrame) -> bool:
    obj = history["objective"].to_numpy()
    # The ε floor moves entries by at most ε after each BSUM step: allow rounding-level noise.
    return bool(np.all(np.diff(obj) <= 1e-11 * np.abs(obj[:-1])))


@pytest.mark.parametrize("beta", [0.5, 1.0, 1.5, 2.0])
def test_deep_objective_never_increases_dense(positive_matrix, beta):
    model = DeepNMF(ranks=(8, 4, 2), beta=beta, **FAST).fit(positive_matrix)
    assert _objective_is_monotone(model.history_)
    obj = model.history_["objective"].to_numpy()
    assert obj[-1] < obj[0]
    for H in model.H_:
        np.testing.assert_allclose(H.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize("beta", [1.0, 2.0, 0.5, 1.5])
def test_deep_objective_never_increases_sparse(beta):
    X = sp.random(60, 45, density=0.15, random_state=7, format="csr")
    X.data = 1.0 + np.floor(3 * X.data)
    model = DeepNMF(ranks=(6, 3), beta=beta, **FAST).fit(X)
    assert _objective_is_monotone(model.history_)
    for H in model.H_:
        np.testing.assert_allclose(H.sum(axis=1), 1.0, atol=1e-9)


def test_model_shapes_and_attributes(positive_matrix):
    m, n = positive_matrix.shape
    model = DeepNMF(ranks=(8, 4, 2), **FAST).fit(positive_matrix)
    assert [W.shape for W in model.W_] == [(m, 8), (m, 4), (m, 2)]
    assert [H.shape for H in model.H_] == [(8, n), (4, 8), (2, 4)]
    assert model.features(1).shape == (8, n)
    np.testing.assert_allclose(model.features(3), model.H_[2] @ model.H_[1] @ model.H_[0])
    assert model.layer_errors_.shape == (3,) and np.all(model.layer_errors_ >= 0)
    assert model.weights_.shape == (3,) and np.all(model.weights_ > 0)
    expected_cols = {"iteration", "seconds", "error_layer_1", "error_layer_2", "error_layer_3",
                     "objective"}
    assert expected_cols <= set(model.history_.columns)
    assert model.n_iter_ == 30
    assert model.init_history_ is not None and set(model.init_history_["layer"]) == {1, 2, 3}
    assert model.transform(positive_matrix[:5]).shape == (5, 8)
    params = model.get_params()
    assert params["ranks"] == (8, 4, 2)
    model.set_params(beta=1.5)
    assert model.beta == 1.5


def test_auto_weights_equalise_terms_at_start(positive_matrix):
    model = DeepNMF(ranks=(8, 4, 2), **FAST).fit(positive_matrix)
    first = model.history_.iloc[0]
    weighted = [model.weights_[i] * first[f"error_layer_{i + 1}"] for i in range(3)]
    np.testing.assert_allclose(weighted, 1.0, rtol=1e-10)


def test_user_weights_are_used(positive_matrix):
    model = DeepNMF(ranks=(8, 4), weights=[4.0, 1.0], **FAST).fit(positive_matrix)
    np.testing.assert_array_equal(model.weights_, [4.0, 1.0])


def test_multilayer_matches_layerwise_mu(positive_matrix):
    """MultilayerNMF = β-MU on X (unit-max column rescaling), H_1 e = e, then the same on
    the rescaled W_1 (the authors' multilayerKLNMF.m: normalizeWH(W, H, 2) between layers)."""
    from dnmf.init import random_init

    def unit_rows(W, H):
        s = H.sum(axis=1)
        return W * s, H / s[:, None]

    n_iter = 15
    model = MultilayerNMF(ranks=(6, 3), max_iter=n_iter, random_state=3).fit(positive_matrix)
    rng = np.random.default_rng(3)
    W1, H1 = random_init(positive_matrix, 6, rng, np.float64, beta=1.0)
    W1, H1 = unit_rows(*nmf_mu(positive_matrix, W1, H1, 1.0, n_iter, rescale=True))
    W2, H2 = random_init(W1, 3, rng, np.float64, beta=1.0)
    W2, H2 = unit_rows(*nmf_mu(W1, W2, H2, 1.0, n_iter, rescale=True))
    Ws, Hs = [W1, W2], [H1, H2]
    for ours, ref in zip(model.W_ + model.H_, Ws + Hs):
        np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert model.weights_ is None
    for H in model.H_:
        np.testing.assert_allclose(H.sum(axis=1), 1.0, atol=1e-12)
    W1n, V2 = model.W_[0], model.W_[1] @ model.H_[1]
    assert model.layer_errors_[1] == pytest.approx(np.sum(W1n * np.log(W1n / V2) - W1n + V2),
                                                   rel=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_single_layer_kl_mu_matches_sklearn(rng, sparse):
    """Same initial factors, W-then-H order as scikit-learn: iterates agree to rounding.

    ε alignment: scikit-learn floors WH at float32 eps and zeroes factor entries below float64
    eps; ours floors factors at float64 eps. The data and factors here stay far above both
    floors on dense data, so the iterates must coincide to rounding. On sparse data a few
    entries decay below float64 eps: scikit-learn sets them to 0 and we floor them at eps, so
    those entries may differ by at most eps in absolute value (hence atol = 2 eps there).
    """
    X = rng.random((50, 40)) + 0.05
    if sparse:
        mask = rng.random(X.shape) < 0.3
        X = sp.csr_matrix(X * mask)
    W0 = rng.random((50, 5)) + 0.1
    H0 = rng.random((5, 40)) + 0.1
    n_iter = 25
    sk = NMF(n_components=5, solver="mu", beta_loss="kullback-leibler", init="custom",
             max_iter=n_iter, tol=0.0)
    W_sk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    H_sk = sk.components_
    W_ours, H_ours = nmf_mu(X, W0, H0, 1.0, n_iter, order="WH")
    atol = 2 * np.finfo(float).eps if sparse else 0.0
    np.testing.assert_allclose(W_ours, W_sk, rtol=1e-10, atol=atol)
    np.testing.assert_allclose(H_ours, H_sk, rtol=1e-10, atol=atol)


@pytest.mark.parametrize(
    "make",
    [
        lambda r: np.vstack([np.zeros((3, 20)), r.random((27, 20))]),  # zero rows
        lambda r: np.hstack([np.zeros((30, 4)), r.random((30, 16))]),  # zero columns
        lambda r: r.random((30, 20)) * 1e-300,  # tiny values
        lambda r: r.random((30, 20)) * 1e300,  # huge values
        lambda r: np.outer(r.random(30) + 0.1, r.random(20) + 0.1),  # exact rank one
    ],
    ids=["zero-rows", "zero-cols", "tiny", "huge", "rank-one"],
)
@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0])
def test_awkward_inputs_give_finite_factors(rng, make, beta):
    X = make(rng)
    for model in (DeepNMF(ranks=(5, 3, 2), beta=beta, n_init_iter=10, max_iter=10,
                          random_state=0),
                  MultilayerNMF(ranks=(5, 3, 2), beta=beta, max_iter=10, random_state=0)):
        model.fit(X)
        for M in (*model.W_, *model.H_):
            assert np.all(np.isfinite(M)) and np.all(M >= 0)
        assert not np.any(np.isnan(model.layer_errors_))


def test_seeded_fits_are_bit_identical(positive_matrix):
    a = DeepNMF(ranks=(6, 3), **FAST).fit(positive_matrix)
    b = DeepNMF(ranks=(6, 3), **FAST).fit(positive_matrix)
    for x, y in zip(a.W_ + a.H_, b.W_ + b.H_):
        assert np.array_equal(x, y)
    c = DeepNMF(ranks=(6, 3), **{**FAST, "random_state": 1}).fit(positive_matrix)
    assert not np.array_equal(a.W_[0], c.W_[0])


def test_float32_stays_float32_and_converges_like_float64(positive_matrix):
    m32 = DeepNMF(ranks=(6, 3), dtype=np.float32, **FAST).fit(positive_matrix)
    m64 = DeepNMF(ranks=(6, 3), dtype=np.float64, **FAST).fit(positive_matrix)
    assert all(M.dtype == np.float32 for M in m32.W_ + m32.H_)
    # float32 rounding (eps 1.2e-7) compounds over 50 multiplicative iterations; 1e-3 relative
    # on the final errors says both paths converge to the same place, not to the same bits.
    np.testing.assert_allclose(m32.layer_errors_, m64.layer_errors_, rtol=1e-3)


def test_callback_stops_and_keeps_partial_result(positive_matrix):
    seen = []

    def callback(info):
        seen.append(info)
        return info.iteration < 35  # 2 layers × 20 init iterations = 40: stop in the warm start

    model = DeepNMF(ranks=(6, 3), callback=callback, **FAST).fit(positive_matrix)
    assert model.stopped_early_
    assert seen[-1].iteration == 35
    assert len(model.W_) == 2 and all(np.all(np.isfinite(W)) for W in model.W_)

    def stop_in_deep(info):
        return not (info.phase == "deep" and info.iteration >= 45)

    model = DeepNMF(ranks=(6, 3), callback=stop_in_deep, **FAST).fit(positive_matrix)
    assert model.stopped_early_ and model.n_iter_ == 5
    assert model.history_["iteration"].iloc[-1] == 5
    infos = []
    DeepNMF(ranks=(6, 3), callback=infos.append, **FAST).fit(positive_matrix)
    assert [i.iteration for i in infos] == list(range(1, 71))
    assert infos[-1].total_iterations == 70 and infos[-1].phase == "deep"
    assert np.all(np.isfinite(infos[-1].layer_errors))


def test_custom_init_normalises_rows_of_H(positive_matrix, rng):
    m, n = positive_matrix.shape
    W = [rng.random((m, 6)), rng.random((m, 3))]
    H = [rng.random((6, n)) * 3, rng.random((3, 6)) * 2]
    model = DeepNMF(ranks=(6, 3), init="custom", max_iter=5, eval_every=1).fit(
        positive_matrix, W=W, H=H)
    for Hl in model.H_:
        np.testing.assert_allclose(Hl.sum(axis=1), 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="needs both W"):
        DeepNMF(ranks=(6, 3), init="custom").fit(positive_matrix)
    with pytest.raises(ValueError, match="layer 1"):
        DeepNMF(ranks=(6, 3), init="custom").fit(positive_matrix, W=[W[1], W[0]], H=H)


@pytest.mark.parametrize(
    ("kwargs", "X", "match"),
    [
        ({"ranks": (5, 5)}, None, "strictly decrease"),
        ({"ranks": (3, 5)}, None, "strictly decrease"),
        ({"ranks": ()}, None, "non-empty"),
        ({"beta": 2.5}, None, r"'beta' parameter of DeepNMF must be a float in the range \[0.0, 2"),
        ({"beta": -1}, None, r"'beta' parameter of DeepNMF must be a float in the range"),
        ({"max_iter": 2.5}, None, "'max_iter' parameter of DeepNMF must be an int"),
        ({"weights": [1.0]}, None, "one value per layer"),
        ({"weights": [1.0, -1.0]}, None, "> 0"),
        ({"dtype": np.int32}, None, "dtype"),
        ({}, np.array([[1.0, -1.0] * 10] * 5), "negative"),
        ({}, np.array([[1.0, np.nan] * 10] * 5), "NaN"),
        ({}, np.zeros((0, 20)), r"Found array with 0 sample\(s\)"),
        ({}, np.zeros((5, 20)), "all zeros"),
        ({"beta": 0.0}, np.array([[0.0, 1.0] * 10] * 5), "Itakura"),
        ({}, np.ones(20), "Reshape your data"),
    ],
)
def test_invalid_arguments_raise_clear_errors(kwargs, X, match):
    X = np.random.default_rng(0).random((15, 20)) + 0.1 if X is None else X
    params = {"ranks": (4, 2), "n_init_iter": 2, "max_iter": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        DeepNMF(**params).fit(X)


@pytest.mark.parametrize("model", [DeepNMF(ranks=(20,), n_init_iter=2, max_iter=2),
                                   MultilayerNMF(ranks=(25, 3), max_iter=2)])
def test_a_first_rank_not_below_n_warns_and_fits(model):
    """r_1 ≥ n is allowed, as in scikit-learn's NMF, with a warning that it can be trivial."""
    X = np.random.default_rng(0).random((15, 20)) + 0.1
    with pytest.warns(TrivialFactorizationWarning, match="can be trivial"):
        model.fit(X)
    assert model.W_[0].shape == (15, model.ranks[0]) and np.all(np.isfinite(model.W_[0]))


def test_check_params_reports_before_fitting():
    assert DeepNMF(ranks=(4, 2)).check_params(10) == ([], [])
    problems, notes = DeepNMF(ranks=(4, 4)).check_params(10)
    assert "strictly decrease" in problems[0] and not notes
    problems, notes = DeepNMF(ranks=(12, 2)).check_params(10)
    assert not problems and "trivial" in notes[0]
    problems, _ = DeepNMF(ranks=(4, 2), beta=0.5, min_vol=MinVol()).check_params()
    assert "beta = 1" in problems[0]
    problems, _ = DeepNMF(ranks=(4, 2), beta=3.0).check_params()
    assert "'beta' parameter" in problems[0]


def test_result_round_trip(positive_matrix, tmp_path):
    model = DeepNMF(ranks=(6, 3), **FAST).fit(positive_matrix)
    result = model.result_
    path = tmp_path / "run.npz"
    result.save(path)
    loaded = FitResult.load(path)
    for a, b in zip(result.W + result.H, loaded.W + loaded.H):
        assert np.array_equal(a, b)
    pd.testing.assert_frame_equal(result.history, loaded.history, check_dtype=False)
    assert loaded.config == result.config
    np.testing.assert_array_equal(loaded.weights, result.weights)
    assert loaded.init_history is not None
    assert FitResult.from_npz_bytes(result.to_npz_bytes()).n_iter == result.n_iter
    assert "ranks" in result.config_json() and result.history_csv().startswith("iteration")


def test_result_refuses_foreign_and_pickled_files(tmp_path):
    import io

    buf = io.BytesIO()
    np.savez(buf, a=np.arange(3))
    with pytest.raises(ValueError, match="not a dnmf run"):
        FitResult.from_npz_bytes(buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, meta=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="could not read"):
        FitResult.from_npz_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="could not read"):
        FitResult.from_npz_bytes(b"garbage")


@pytest.mark.parametrize("sparse", [False, True])
def test_fit_leaves_the_input_untouched(positive_matrix, sparse):
    X = sp.csr_array(positive_matrix) if sparse else positive_matrix
    before = X.copy()
    DeepNMF(ranks=(4, 2), n_init_iter=2, max_iter=2).fit(X)
    MultilayerNMF(ranks=(4, 2), max_iter=2).fit(X)
    after = X.toarray() if sparse else X
    assert np.array_equal(after, before.toarray() if sparse else before)


def test_errors_are_reported_in_the_units_of_the_data(positive_matrix):
    """X and 1000·X run the same scaled fit; the reports must differ exactly by the scale.

    Deep phase: every W_ℓ carries the data's scale, so every error (β = 1) scales by 1000.
    Warm start and MultilayerNMF history: layers ℓ ≥ 2 factorise a W_{ℓ-1} with H_{ℓ-1} e = e
    (the authors' chain), which carries the data's scale too, so every error scales.
    """
    kwargs = dict(ranks=(6, 3), n_init_iter=10, max_iter=10, eval_every=5, random_state=0)
    a = DeepNMF(**kwargs).fit(positive_matrix)
    b = DeepNMF(**kwargs).fit(1000 * positive_matrix)
    cols = ["error_layer_1", "error_layer_2"]
    np.testing.assert_allclose(b.history_[cols], 1000 * a.history_[cols], rtol=1e-12)
    np.testing.assert_allclose(b.layer_errors_, 1000 * a.layer_errors_, rtol=1e-12)
    np.testing.assert_allclose(b.weights_, a.weights_ / 1000, rtol=1e-12)
    np.testing.assert_allclose(b.history_["objective"], a.history_["objective"], rtol=1e-12)
    for hist_a, hist_b in ((a.init_history_, b.init_history_),
                           (MultilayerNMF(ranks=(6, 3), max_iter=10, random_state=0)
                            .fit(positive_matrix).history_,
                            MultilayerNMF(ranks=(6, 3), max_iter=10, random_state=0)
                            .fit(1000 * positive_matrix).history_)):
        np.testing.assert_allclose(hist_b["error_layer_1"], 1000 * hist_a["error_layer_1"],
                                   rtol=1e-12)
        np.testing.assert_allclose(hist_b["error_layer_2"], 1000 * hist_a["error_layer_2"],
                                   rtol=1e-12)


@pytest.mark.parametrize("eval_every", [0, 1, 7])
def test_final_errors_are_those_of_the_returned_factors(positive_matrix, eval_every):
    from dnmf.divergence import beta_divergence

    def stop_at_12(info):
        return info.iteration < 12 + 20

    from dnmf import MinVol

    for kwargs in ({}, {"callback": stop_at_12}, {"min_vol": MinVol()},
                   {"min_vol": MinVol(), "callback": stop_at_12}):
        model = DeepNMF(ranks=(6, 3), n_init_iter=10, max_iter=20, eval_every=eval_every,
                        random_state=0, **kwargs).fit(positive_matrix)
        direct = [beta_divergence(positive_matrix, model.W_[0], model.H_[0], 1.0),
                  beta_divergence(model.W_[0], model.W_[1], model.H_[1], 1.0)]
        np.testing.assert_allclose(model.layer_errors_, direct, rtol=1e-10)
        last = model.history_.iloc[-1]
        np.testing.assert_array_equal(model.layer_errors_,
                                      [last["error_layer_1"], last["error_layer_2"]])
