"""dnmf.learn's demos compute what the Learn pages say they show."""

from __future__ import annotations

import numpy as np
import pytest

from dnmf import learn
from dnmf import learn_plots as lp


def test_svd_is_a_lower_bound_and_nmf_parts_are_nonnegative():
    demo = learn.svd_vs_nmf("digits", rank=8, ranks=(1, 4, 8), n_iter=40)
    err = demo["errors"].pivot(index="rank", columns="method", values="relative error")
    assert np.all(err["SVD / PCA"] <= err["NMF"] + 1e-9)
    assert err.loc[1, "NMF"] == pytest.approx(err.loc[1, "SVD / PCA"], rel=1e-3)
    assert demo["nmf"].min() >= 0 and demo["negative_share"]["SVD / PCA"] > 0.2
    f1, f2 = lp.components_side_by_side(demo)
    for f in (f1, f2):  # one mosaic trace holding the 8 pictures of 8×8 pixels
        assert len(f.data) == 1 and np.isfinite(np.asarray(f.data[0].z, float)).sum() == 8 * 64


@pytest.mark.parametrize("a", [0.0, 0.5, 1.0])
def test_two_exact_nonnegative_factorisations(a):
    nu = learn.non_uniqueness(a)
    assert max(nu["residuals"]) < 1e-12 and nu["nonnegative"]
    assert nu["W2"].min() >= 0 and nu["H2"].min() >= -1e-12
    if a > 0:
        assert not np.allclose(nu["W"], nu["W2"])
    with pytest.raises(ValueError, match="a must be"):
        learn.non_uniqueness(1.5)


def test_zero_locking():
    curves = learn.zero_locking(eps=1e-2, n_iter=150)["curves"]
    locked = curves[curves["ε"] == 0]
    floored = curves[curves["ε"] == 1e-2]
    assert np.all(locked["W[0, 0]"] == 0)
    assert floored["W[0, 0]"].iloc[-1] > 0.5
    assert floored["relative error"].iloc[-1] < 0.1 * locked["relative error"].iloc[-1]


def test_race_same_start_and_monotone_flags():
    race = learn.race("digits", rank=6, max_iter=25, n_snapshots=6)
    starts = race.history[race.history["iteration"] == 0]["relative error"]
    assert np.allclose(starts, starts.iloc[0])  # every solver from the same W⁰, H⁰
    for solver in ("mu", "hals", "pgd", "ipg", "opl"):
        assert race.monotone[solver], solver
    assert set(race.snapshots["hals"]) == set(race.snapshot_iterations)
    fW, fH = lp.race_snapshot(race, "hals", race.snapshot_iterations[-1])
    assert np.isfinite(np.asarray(fH.data[0].z, float)).sum() == 6 * 64  # a picture per row
    fig = lp.race_curves(race)
    assert len(fig.data) == 12 and fig.layout.yaxis.type == "log"


def test_race_fixed_step_diverges_and_is_flagged():
    race = learn.race("digits", rank=6, max_iter=20, solvers=("pgd",), pgd_step=2.5)
    assert not race.monotone["pgd"]


@pytest.mark.parametrize("kind", ["separable", "scattered", "central"])
def test_geometry_examples(kind):
    ex = learn.geometry_cones(kind)
    X, W, H = ex["X"], ex["W"], ex["H"]
    np.testing.assert_allclose(X, W @ H)
    np.testing.assert_allclose(H.sum(axis=0), 1.0)
    assert ex["fit_error"] < 1e-3
    if kind == "separable":  # SNPA finds the three vertices (the identity columns of H)
        assert sorted(ex["snpa"]) == [0, 1, 2]
    if kind == "scattered":
        assert H.max() < 0.75
    pts = lp.to_simplex(X)
    assert pts.shape == (X.shape[1], 2)
    assert len(lp.simplex_view(ex).data) == 7  # frame, X, W (hull + points), fit (2), SNPA


def test_layer_cones_of_the_thesis_example():
    lc = learn.layer_cones(n_iter=300, deep_iter=50)
    for key in ("multilayer", "deep"):
        assert [W.shape for W in lc[key]] == [(3, 6), (3, 3)]
    W1, W2 = lc["truth"]
    # the truth: W_1* = W_2* H_2* with H_2* ≥ 0, so cone(W_1*) ⊂ cone(W_2*)
    H2 = np.linalg.solve(W2, W1)
    assert H2.min() > -1e-10
    # the fits are nested too, up to their layer-2 error
    assert max(lc["cone_residual"].values()) < 0.05


def test_deep_vs_multilayer_scores():
    demo = learn.deep_vs_multilayer("thesis", noise=0.01, n_iter=60, seeds=(0,))
    table = demo["table"]
    assert set(table["model"]) == {"multilayer", "deep", "deep min-vol"}
    assert set(table["layer"]) == {1, 2}
    assert table["MRSA"].between(0, 100).all()
    assert table["MRSA"].max() < 10  # SNPA start on near-separable data
    bal = demo["balance"]
    assert list(bal.columns) == ["iteration", "layer 1", "layer 2"]
    assert bal["layer 1"].iloc[0] == pytest.approx(1.0)
    assert len(lp.mrsa_bars(demo).data) == 3
