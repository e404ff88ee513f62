"""The one fit loop (dnmf.models._driver): the same protocol for every model.

Stop from the callback keeps a partial result whose last history row is the iteration it
stopped at; ``tol > 0`` reached at ``max_iter`` warns; ``verbose`` prints phase and progress
lines with the time left.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from dnmf import DeepNMF, FrobeniusDeepMF, MinVol, MultilayerNMF

X = np.random.default_rng(0).random((30, 24)) + 0.05

MODELS = {
    "deep": lambda **kw: DeepNMF((6, 3), n_init_iter=10, **kw),
    "multilayer": lambda **kw: MultilayerNMF((6, 3), **kw),
    "minvol": lambda **kw: DeepNMF((6, 3), min_vol=MinVol(admm_max_iter=5), n_init_iter=10,
                                   **kw),
    "frobenius": lambda **kw: FrobeniusDeepMF((6, 3), init="multilayer", n_init_iter=10, **kw),
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("stop_at", [7, 12, 23])  # in the warm start or a layer, not evaluated
def test_a_stop_keeps_the_errors_of_the_factors_it_stops_with(name, stop_at):
    seen = []

    def callback(info):
        seen.append(info.iteration)
        return info.iteration < stop_at

    model = MODELS[name](max_iter=20, eval_every=5, random_state=0, callback=callback).fit(X)
    assert model.stopped_early_ and seen[-1] == stop_at
    phases = [20, 20] if name == "multilayer" else [10, 10, 20]  # warm start, then deep
    k, local = 0, stop_at
    while local > phases[k]:
        local -= phases[k]
        k += 1
    warm = name != "multilayer" and k < 2
    history = model.init_history_ if warm else model.history_
    phase = "deep" if k == 2 else f"{'init layer' if warm else 'layer'} {k + 1}"
    last = history[history["phase"] == phase].iloc[-1]
    # the last row is the iteration the fit stopped at, with the errors of those factors
    assert int(last["iteration"]) == local
    layer_columns = [c for c in history.columns if c.startswith("error_layer_")]
    assert np.isfinite(last[layer_columns].astype(float)).any()
    assert all(np.isfinite(W).all() for W in model.W_)


@pytest.mark.parametrize("name", list(MODELS))
def test_max_iter_with_tol_warns_and_convergence_does_not(name):
    with pytest.warns(ConvergenceWarning, match="reached max_iter=3"):
        MODELS[name](max_iter=3, tol=1e-12, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MODELS[name](max_iter=3, tol=0.0, random_state=0).fit(X)  # tol = 0: no stopping rule
        model = MODELS[name](max_iter=500, tol=0.5, random_state=0).fit(X)  # stops at once
    assert model.n_iter_ < 500 * 2


def test_tri_dmf_does_not_watch_tol():
    """Tri-DMF's objective can increase: tol does not stop it, and reaching max_iter is no
    failure to converge."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = FrobeniusDeepMF((6, 3), loss="trigeorgis", max_iter=15, tol=0.5).fit(X)
    assert model.n_iter_ == 15


@pytest.mark.parametrize("name", list(MODELS))
def test_verbose_prints_phases_and_the_time_left(name, capsys):
    MODELS[name](max_iter=20, random_state=0).fit(X)
    assert capsys.readouterr().out == ""
    MODELS[name](max_iter=100, random_state=0, verbose=1).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("[") and "error" in line for line in lines)
    assert any("s left" in line for line in lines)
    phases = {line.split("] ")[1].split(" · ")[0] for line in lines}
    assert "deep" in phases or "layer 2" in phases
    assert len(lines) <= 3 + 12  # a line per phase (at most 3) and about every tenth of the fit
    MODELS[name](max_iter=100, random_state=0, verbose=2).fit(X)
    assert len(capsys.readouterr().out.splitlines()) > len(lines)


@pytest.mark.parametrize("min_vol", [None, MinVol()])
def test_snapshot_is_the_fit_in_the_data_units_and_copies_only_when_asked(min_vol):
    """IterationInfo.snapshot(): during the warm start the layers reached (their product in
    the data's units); stopped in the deep phase, exactly the factors of the result."""
    from dnmf.divergence import beta_divergence

    Xb = X * 1000.0
    seen: dict = {}

    def callback(info):
        if info.phase == "init layer 2" and "warm" not in seen:
            seen["warm"] = info.snapshot()
        if info.phase == "deep" and info.iteration == 2 * 10 + 7:
            seen["deep"] = info.snapshot()
            return False
        return None

    est = DeepNMF(ranks=(6, 3), n_init_iter=10, max_iter=50, eval_every=1, random_state=0,
                  min_vol=min_vol, callback=callback).fit(Xb)
    Ws, Hs, rows = seen["warm"]
    assert [W.shape for W in Ws] == [(30, 6), (30, 3)] and len(Hs) == 2
    # layer 1 finished: its product is the data's, its error the warm start's last of layer 1
    layer1 = est.init_history_[est.init_history_["phase"] == "init layer 1"]
    assert beta_divergence(Xb, Ws[0], Hs[0], 1.0) == pytest.approx(
        layer1["error_layer_1"].iloc[-1], rel=1e-10)
    assert rows and rows[0]["phase"] == "init layer 1"
    Ws, Hs, rows = seen["deep"]
    for a, b in zip(Ws + Hs, est.W_ + est.H_):
        np.testing.assert_array_equal(a, b)
    assert Ws[0] is not est.W_[0]
    assert rows[-1]["iteration"] == 7
