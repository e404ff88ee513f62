"""The authors' multilayer baseline (models/multilayer.py): normalisation between layers, their
stopping rule, starting from given factors."""

import numpy as np
import pytest

from dnmf.models._driver import Progress
from dnmf.models.multilayer import _authors_stop, fit_multilayer, nmf_mu


def _fit(X, ranks, max_iter, **kw):
    progress = Progress(len(ranks), len(ranks) * max_iter, None, np.ones(len(ranks)))
    Ws, Hs = fit_multilayer(X, ranks, 1.0, max_iter, rng=np.random.default_rng(0),
                            dtype=np.float64, progress=progress, eval_every=1, **kw)
    return Ws, Hs, progress.history(("layer",))


def test_authors_stop_rule_by_hand():
    # betaNMF stops before iteration i > 12 when |e(i-1) - e(i-11)| <= acc |e(i-2)|
    e = [100.0 - k for k in range(11)]  # 11 errors: i = 12, never tested
    assert not _authors_stop(e, 1.0)
    e.append(e[-1])  # 12 errors, i = 13: |e(12) - e(2)| = 9 vs acc * e(11) = acc * 90
    assert not _authors_stop(e, 0.09)
    assert _authors_stop(e, 0.11)


def test_stop_rule_stops_where_the_rule_says(positive_matrix):
    Ws, Hs, hist = _fit(positive_matrix, (6, 3), 400, stop_rule="authors", accuracy=3e-2)
    for layer in (1, 2):
        e = hist[hist["layer"] == layer][f"error_layer_{layer}"].to_numpy()[1:]  # e(1), …
        assert 12 < e.size < 400
        assert _authors_stop(list(e), 3e-2)
        assert not any(_authors_stop(list(e[:k]), 3e-2) for k in range(1, e.size))


def test_layers_normalised_before_the_next_one_factorises(positive_matrix):
    ranks = (6, 3)
    rng = np.random.default_rng(1)
    W1, H1 = rng.random((40, 6)), rng.random((6, 30))
    W2, H2 = rng.random((40, 3)), rng.random((3, 6))
    Ws, Hs, _ = _fit(positive_matrix, ranks, 20, Ws0=[W1, W2], Hs0=[H1, H2])
    A, B = nmf_mu(positive_matrix, W1, H1, 1.0, 20, rescale=True)
    s = B.sum(axis=1)
    A, B = A * s, B / s[:, None]
    C, D = nmf_mu(A, W2, H2, 1.0, 20, rescale=True)  # layer 2 factorises W_1 with H_1 e = e
    t = D.sum(axis=1)
    for ours, ref in zip(Ws + Hs, [A, C * t, B, D / t[:, None]]):
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_normalize_W_gives_unit_column_sums(positive_matrix):
    Ws, Hs, _ = _fit(positive_matrix, (6, 3), 10, normalize="W")
    for W in Ws:
        np.testing.assert_allclose(W.sum(axis=0), 1.0, rtol=1e-12)


def test_bad_options_are_refused(positive_matrix):
    with pytest.raises(ValueError, match="stop_rule"):
        _fit(positive_matrix, (6, 3), 3, stop_rule="yes")
    with pytest.raises(ValueError, match="normalize"):
        _fit(positive_matrix, (6, 3), 3, normalize="rows")


# -- the estimators ---------------------------------------------------------------------------

def test_multilayer_custom_start_equals_the_chain(positive_matrix):
    from dnmf import MultilayerNMF

    rng = np.random.default_rng(2)
    W0 = [rng.random((40, 6)), rng.random((40, 3))]
    H0 = [rng.random((6, 30)), rng.random((3, 6))]
    model = MultilayerNMF(ranks=(6, 3), init="custom", max_iter=20).fit(positive_matrix,
                                                                         W=W0, H=H0)
    Ws, Hs, _ = _fit(positive_matrix, (6, 3), 20, Ws0=W0, Hs0=H0)
    for ours, ref in zip(model.W_ + model.H_, Ws + Hs):
        # the estimator runs on X / max(X) (KL is homogeneous; the ε floor is not)
        np.testing.assert_allclose(ours, ref, rtol=1e-9)


def test_multilayer_custom_start_checks_shapes(positive_matrix):
    from dnmf import MultilayerNMF

    rng = np.random.default_rng(2)
    W0 = [rng.random((40, 6)), rng.random((40, 3))]
    H0 = [rng.random((6, 30)), rng.random((3, 5))]  # H_2 must be 3×6
    with pytest.raises(ValueError, match="layer 2: W_2 must be"):
        MultilayerNMF(ranks=(6, 3), init="custom").fit(positive_matrix, W=W0, H=H0)
    with pytest.raises(ValueError, match="init='custom'"):
        MultilayerNMF(ranks=(6, 3)).fit(positive_matrix, W=W0, H=H0)


def test_minvol_paper_convention_is_the_authors_alpha(positive_matrix):
    from dnmf import DeepNMF, MinVol

    model = DeepNMF(ranks=(6, 3), min_vol=MinVol(alpha=[4.0, 1.0], convention="paper"),
                    n_init_iter=20, max_iter=15, eval_every=1, random_state=0)
    model.fit(3.0 * positive_matrix)
    first = model.history_.iloc[0]
    for ell, a in ((1, 4.0), (2, 1.0)):
        D0, vol = first[f"error_layer_{ell}"], first[f"volume_layer_{ell}"]
        # α_ℓ = α̃ D_ℓ⁰ / |log10 det| as deepKL_NMF.m (D_ℓ⁰ in the units of X)
        want = a * D0 / abs(vol / np.log(10.0))
        assert model.timings_[f"alpha_layer_{ell}"] == pytest.approx(want, rel=1e-12)
    h = model.history_
    np.testing.assert_allclose(h["objective"], h["objective_data"] + h["volume_penalty"],
                               rtol=1e-12)
    obj = h["objective"].to_numpy()
    assert np.all(np.diff(obj) <= 1e-9 * np.abs(obj[:-1]))  # the full objective is monotone


def test_minvol_paper_convention_needs_the_papers_weights():
    from dnmf import MinVol

    with pytest.raises(ValueError, match="alpha=\\[...\\]"):
        MinVol(convention="paper").validate(2)
    with pytest.raises(ValueError, match="convention='paper'"):
        MinVol(alpha=[4, 1]).validate(2)
    with pytest.raises(ValueError, match="rho_mode"):
        MinVol(rho_mode="papers").validate(2)


def test_minvol_paper_rho_is_rho_over_lambda(positive_matrix):
    from dnmf import DeepNMF, MinVol

    model = DeepNMF(ranks=(6, 3), min_vol=MinVol(rho=100.0, rho_mode="paper"),
                    n_init_iter=10, max_iter=2, random_state=0).fit(positive_matrix)
    scale = positive_matrix.max()  # λ_ℓ internal = λ_ℓ reported × (1 for ℓ ≥ 2, s for ℓ = 1)
    internal = model.weights_ * np.array([scale, 1.0])
    for ell in (1, 2):
        assert model.timings_[f"rho_layer_{ell}"] == pytest.approx(
            100.0 / internal[ell - 1], rel=1e-10)
