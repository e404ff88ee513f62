"""dnmf.plots: pure figure builders — trace counts, orientation, scaling conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import scipy.sparse as sp

from dnmf import FitResult, plots
from dnmf.datasets import Dataset


def _result(ranks=(6, 3, 2), m=12, n=16, seed=0, normalized=True, beta=1.0, iters=10):
    rng = np.random.default_rng(seed)
    W, H = [], []
    prev = n
    for r in ranks:
        W.append(rng.random((m, r)) + 0.1)
        Hl = rng.random((r, prev)) + 0.01
        if normalized:
            Hl /= Hl.sum(axis=1, keepdims=True)
        H.append(Hl)
        prev = r
    hist = pd.DataFrame(
        {"iteration": np.arange(0, iters * 5, 5), "seconds": np.linspace(0, 1, iters),
         **{f"error_layer_{i}": np.linspace(10, 5, iters) * i for i in range(1, len(ranks) + 1)}}
    )
    return FitResult(W=W, H=H, history=hist, config={"model": "deep", "beta": beta},
                     weights=np.ones(len(ranks)), layer_errors=np.arange(1.0, len(ranks) + 1),
                     n_iter=iters)


def _images(m=12, shape=(4, 4)):
    X = np.random.default_rng(1).random((m, shape[0] * shape[1]))
    return Dataset(X=X, kind="images", name="imgs", image_shape=shape, pixel_order="F")


def test_feature_gallery_one_heatmap_per_feature_sorted_by_weight():
    res, ds = _result(), _images()
    for ell, r in enumerate(res.ranks, start=1):
        fig = plots.feature_gallery(res, ds, ell)
        assert isinstance(fig, go.Figure)
        assert [t.type for t in fig.data] == ["heatmap"] * r
        order, share = plots.feature_order(res, ell)
        assert np.isclose(share.sum(), 1.0)
        assert np.all(np.diff(share[order]) <= 1e-12)  # heaviest first
        # tile k shows feature order[k], reshaped with the dataset's pixel order, upright
        F = res.features(ell)
        np.testing.assert_allclose(np.asarray(fig.data[0].z),
                                   F[order[0]].reshape((4, 4), order="F"))
        assert fig.layout.yaxis.autorange == "reversed"
    assert len(plots.feature_gallery(res, ds, 1, max_features=2).data) == 2


def test_reconstruction_strip_original_plus_one_tile_per_layer_shared_scale():
    res, ds = _result(), _images()
    fig = plots.reconstruction_strip(res, ds, 3)
    assert len(fig.data) == 1 + len(res.ranks)
    assert all(t.coloraxis == "coloraxis" for t in fig.data)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), ds.to_image(ds.X[3]))
    with pytest.raises(ValueError, match="sample"):
        plots.reconstruction_strip(res, ds, 99)


def test_layer_argument_is_checked_in_words():
    with pytest.raises(ValueError, match="layer must be between 1 and 3"):
        plots.feature_gallery(_result(), _images(), 4)
    with pytest.raises(ValueError, match="layer ≥ 2"):
        plots.mixing_heatmap(_result(), 1)


def _spectra(m=12, shape=(4, 4), gt=False):
    X = np.random.default_rng(2).random((m, shape[0] * shape[1]))
    truth = {}
    if gt:
        rng = np.random.default_rng(3)
        truth = {"W": [rng.random((m, 6)), rng.random((m, 3))]}
    return Dataset(X=X, kind="spectra", name="scene", image_shape=shape,
                   wavelengths=np.linspace(400, 2500, m), wavelength_unit="nm",
                   ground_truth=truth)


def test_abundance_maps_share_one_scale_over_all_layers():
    res, ds = _result(), _spectra()
    top = max(res.features(ell).max() for ell in (1, 2, 3))
    for ell, r in enumerate(res.ranks, start=1):
        fig = plots.abundance_maps(res, ds, ell, shares=False)
        assert [t.type for t in fig.data] == ["heatmap"] * r
        assert fig.layout.coloraxis.cmin == 0.0
        assert np.isclose(fig.layout.coloraxis.cmax, top)
        shares = plots.abundance_maps(res, ds, ell)
        assert shares.layout.coloraxis.cmax == 1.0
        np.testing.assert_allclose(plots.pixel_shares(res, ell).sum(axis=0), 1.0)
    lines = plots.spectra_lines(res, ds, 2)
    assert len(lines.data) == 3
    np.testing.assert_allclose(np.asarray(lines.data[0].x), ds.wavelengths)


def test_false_colour_and_band_image():
    ds = _spectra()
    rgb = plots.false_colour(ds)
    assert [t.type for t in rgb.data] == ["image"]
    assert np.asarray(rgb.data[0].z).shape == (4, 4, 3)
    band = plots.band_image(ds, 5)
    assert [t.type for t in band.data] == ["heatmap"]
    with pytest.raises(ValueError, match="band"):
        plots.band_image(ds, 99)
    assert len(plots.spectra_preview(ds, n=5).data) == 6  # 5 pixels + the mean


def test_hierarchy_sankey_links_are_the_H_weights():
    res = _result()
    fig = plots.hierarchy_sankey(res, threshold=0.0)
    (s,) = fig.data
    assert s.type == "sankey"
    assert len(s.node.label) == sum(res.ranks)
    # every entry of H_2 and H_3 is a link: source in layer ℓ-1, target in layer ℓ
    assert len(s.link.value) == 3 * 6 + 2 * 3
    assert np.isclose(sum(s.link.value), res.H[1].sum() + res.H[2].sum())
    src, tgt = np.asarray(s.link.source), np.asarray(s.link.target)
    assert np.all(tgt > src)


def _text(m=30, n=20):
    X = sp.random(m, n, density=0.4, random_state=4, format="csr") * 10
    X = X + sp.csr_matrix(np.eye(m, n))
    return Dataset(X=X, kind="text", name="docs", vocabulary=[f"w{i}" for i in range(m)],
                   documents=[f"doc {j}" for j in range(n)], labels=np.arange(n) % 2,
                   label_names=["a", "b"])


def test_topics_bars_labels_and_documents():
    res = _result(m=30, n=20)
    ds = _text()
    fig = plots.topic_words(res, ds, 1, n_words=5)
    assert [t.type for t in fig.data] == ["bar"] * 6
    assert all(len(t.y) == 5 for t in fig.data)
    labels = plots.topic_labels(res, ds)
    assert [len(x) for x in labels] == list(res.ranks)
    assert labels[1][0].startswith("2.1 · w")
    docs = plots.topic_documents(res, ds, 2, 1, n=4)
    assert list(docs.columns) == ["document", "weight", "share of the document", "label", "text"]
    assert len(docs) == 4 and docs["weight"].is_monotonic_decreasing
    assert set(docs["label"]) <= {"a", "b"}
    assert [t.type for t in plots.top_words_bar(ds, n=7).data] == ["bar"]
    assert [t.type for t in plots.document_length_histogram(ds).data] == ["histogram"]


def test_convergence_one_trace_per_layer_and_multilayer_nan_rows():
    res = _result()
    assert len(plots.convergence(res).data) == 3
    hist = pd.DataFrame({"iteration": [0, 5, 0, 5], "error_layer_1": [3, 2, np.nan, np.nan],
                         "error_layer_2": [np.nan, np.nan, 4, 1]})
    res2 = _result(ranks=(6, 3))
    res2.history = hist
    fig = plots.convergence(res2)
    assert [len(t.y) for t in fig.data] == [2, 2]


def test_normalized_errors_put_multilayer_in_the_deep_scaling():
    deep = _result(normalized=True)
    np.testing.assert_allclose(plots.normalized_factors(deep)[1][1], deep.H[1])
    multi = _result(normalized=False, seed=5)
    assert not plots.rows_sum_to_one(multi)
    Ws, Hs = plots.normalized_factors(multi)
    assert all(np.allclose(H.sum(axis=1), 1) for H in Hs)
    # the products W_ℓ H_ℓ⋯H_1 are unchanged by the rescaling
    for ell in (1, 2, 3):
        F = Hs[0]
        for Hl in Hs[1:ell]:
            F = Hl @ F
        np.testing.assert_allclose(Ws[ell - 1] @ F, multi.reconstruction(ell))
    errs = plots.normalized_layer_errors(multi)
    assert errs[0] == multi.layer_errors[0]  # layer 1 does not depend on the scaling
    from dnmf import beta_divergence

    assert np.isclose(errs[1], beta_divergence(Ws[0], Ws[1], Hs[1], 1.0))


def test_error_ratio_curves_and_table_2():
    deep, multi = _result(), _result(normalized=False, seed=5)
    fig = plots.error_ratio_curves({"deep": deep, "multi2": multi}, multi, reference_name="ml")
    # three layers for the deep run, layer 1 only for the run without H e = e
    assert len(fig.data) == 3 + 1
    ref = plots.normalized_layer_errors(multi)
    np.testing.assert_allclose(fig.data[1].y, deep.history["error_layer_2"] / ref[1])
    table = plots.comparison_table({"deep": deep, "ml": multi}, "ml", "images")
    assert list(table["layer"]) == [1, 2, 3]
    assert np.allclose(table["deep: error % of ml"], 100 * plots.normalized_layer_errors(deep)
                       / ref)
    assert table["ml: sparsity %"].between(0, 100).all()


def test_layer_table_and_sparsity():
    res = _result()
    t = plots.layer_table(res, "images")
    assert list(t["layer"]) == [1, 2, 3] and list(t["rank"]) == [6, 3, 2]
    assert t["feature sparsity"].between(0, 1).all()
    assert list(t["λ"]) == [1.0, 1.0, 1.0]


def test_ground_truth_scores_match_permuted_columns_exactly():
    ds = _spectra(gt=True)
    W1, W2 = ds.ground_truth["W"]
    res = _result(ranks=(6, 3))
    res.W = [W1[:, ::-1] * 3.0, W2[:, [2, 0, 1]]]  # permuted and scaled truth
    scores = plots.ground_truth_scores(res, ds)
    assert list(scores["layer"]) == [1, 2]
    assert np.allclose(scores["mean SAD (°)"], 0.0, atol=1e-5)
    assert np.allclose(scores["MRSA"], 0.0, atol=1e-5)
    fig = plots.ground_truth_spectra(res, ds, 1)
    assert len(fig.data) == 2 * 6
    assert plots.has_ground_truth(ds) and not plots.has_ground_truth(_spectra())


def test_ground_truth_scores_with_fewer_estimated_than_true_columns():
    """r_est < r_true: each estimated column is paired with its own true column (the pairs
    are found by dnmf.metrics' matching, true columns → estimated, not the reverse)."""
    ds = _spectra(gt=True)
    W1, W2 = ds.ground_truth["W"]
    res = _result(ranks=(4, 2))
    res.W = [W1[:, [5, 1, 3, 0]] * 2.0, W2[:, [2, 0]]]  # 4 of 6 and 2 of 3 true columns
    scores = plots.ground_truth_scores(res, ds)
    assert list(scores["matched"]) == ["4 of 6 true", "2 of 3 true"]
    assert np.allclose(scores["mean SAD (°)"], 0.0, atol=1e-5)
    assert np.allclose(scores["MRSA"], 0.0, atol=1e-5)
    fig = plots.ground_truth_spectra(res, ds, 1)
    assert len(fig.data) == 2 * 4
    assert [t.name.split(" (")[0] for t in fig.data[::2]] == [
        "1.1 ↔ true 6", "1.2 ↔ true 2", "1.3 ↔ true 4", "1.4 ↔ true 1"]


def test_generic_views():
    res = _result()
    X = np.random.default_rng(0).random((500, 400))
    fig = plots.matrix_heatmap(X, max_rows=50, max_cols=40)
    assert np.asarray(fig.data[0].z).shape == (50, 40)
    assert [t.type for t in plots.factor_heatmaps(res, 2).data] == ["heatmap", "heatmap"]
    assert len(plots.image_grid([]).data) == 0


def test_log_error_axes_label_few_ticks_that_do_not_overlap():
    """A log error axis over decades: one labelled tick per decade (powers of ten), not a full
    number at every digit (which overlapped on a 340 px figure); within a decade: at most
    MAX_TICKS ticks with short labels."""
    from types import SimpleNamespace

    from dnmf._log_axis import MAX_TICKS, log_tick_settings

    it = np.arange(50)
    hist = pd.DataFrame({"iteration": it, "error_layer_1": 7e3 * 0.9 ** it,
                         "error_layer_2": 650 + 0 * it})
    res = SimpleNamespace(W=[np.ones((3, 2)), np.ones((3, 1))],
                          H=[np.ones((2, 4)), np.ones((1, 2))],
                          history=hist, layer_errors=np.array([1.0, 1.0]), weights=None)
    y = plots.convergence(res).layout.yaxis  # 650 .. 7e3 * 0.9^49 ≈ 40: 2.2 decades
    assert y.type == "log" and y.dtick == "D2"  # 1, 2, 5 per decade, not every digit
    res.history = hist.assign(error_layer_1=7e3 * 0.7 ** it)  # 7.6 decades
    y = plots.convergence(res).layout.yaxis
    assert y.type == "log" and y.dtick == 2 and y.exponentformat == "power"
    assert not y.tickformat  # plotly's "10^k" labels, not ".3~g" at every digit
    ratio = plots.error_ratio_curves({"a": res}, res)
    assert ratio.layout.yaxis.type == "log"
    narrow = log_tick_settings([[0.95, 1.3]])
    assert narrow["nticks"] == MAX_TICKS and narrow["dtick"] is None
    wide = log_tick_settings([[1e-3, 1e12]])  # 15 decades: a tick every 3 decades
    assert wide["dtick"] == 3
    assert log_tick_settings([[0.0, np.nan]])["nticks"] == MAX_TICKS  # nothing positive: no crash
