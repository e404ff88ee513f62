"""The authors' multilayer baseline (models/multilayer.py): normalisation between layers, their
stopping rule, starting from given factors."""

import numpy as np
import pytest

from dnmf.models._common import Progress
from dnmf.models.multilayer import _authors_stop, fit_multilayer, nmf_mu


def _fit(X, ranks, max_iter, **kw):
    progress = Progress(len(ranks), len(ranks) * max_iter, None, np.ones(len(ranks)))
    Ws, Hs, rows = fit_multilayer(X, ranks, 1.0, max_iter, rng=np.random.default_rng(0),
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
