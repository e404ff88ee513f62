"""Small dnmf.ui helpers that pages rely on (no script run needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnmf import FitResult, plots
from dnmf.ui import config as cfgmod
from dnmf.ui import runs as runstore
from dnmf.ui import state, widgets
from dnmf.ui.errors import fix_label, message_of, parse_fix


def _result(ranks=(4, 2)):
    rng = np.random.default_rng(0)
    W = [rng.random((6, r)) for r in ranks]
    H = [rng.random((ranks[0], 9)), rng.random((ranks[1], ranks[0]))]
    return FitResult(W=W, H=H, history=pd.DataFrame(), config={"model": "deep", "beta": 1.0},
                     layer_errors=np.ones(2), n_iter=3)


def test_picked_curve_and_topic_of_curve():
    assert widgets.picked_curve({"selection": {"points": []}}) is None
    assert widgets.picked_curve(None) is None
    assert widgets.picked_curve({"selection": {"points": [{"curve_number": 2, "x": 1}]}}) == 2
    res = _result()
    order, _ = plots.feature_order(res, 1)
    assert [widgets.topic_of_curve(res, 1, i) for i in range(4)] == [int(k) + 1 for k in order]


def test_fixes_and_messages():
    assert parse_fix("on_negative='clip'") == {"on_negative": "clip"}
    assert parse_fix("drop_empty=True") == {"drop_empty": True}
    with pytest.raises(ValueError):
        parse_fix("__import__('os')")
    assert fix_label("samples_as='columns'") == "samples_as = columns"
    assert message_of(ValueError("ranks must decrease")) == "Ranks must decrease."
    assert state.parse_shape("19 x 19") == (19, 19) and state.parse_shape("") is None


def test_config_checks_and_twin():
    cfg = cfgmod.default_config()
    assert cfgmod.check_config(cfg, (100, 625)) == []
    assert "strictly decrease" in cfgmod.check_config({**cfg, "ranks": [5, 5]})[0]
    problems, notes = cfgmod.review_config(cfg, (100, 20))  # r_1 = 20 ≥ n = 20: a warning
    assert problems == [] and "can be trivial" in notes[0]
    assert cfgmod.check_config({**cfg, "weights": [1.0, 0.0, 1.0]}, (100, 625))
    twin = cfgmod.baseline_config(cfg)
    assert twin["model"] == "multilayer" and twin["max_iter"] == 200
    est = cfgmod.make_estimator(twin)
    assert type(est).__name__ == "MultilayerNMF" and est.max_iter == 200


def test_store_cap_rename_and_round_trip():
    s: dict = {}
    for i in range(runstore.MAX_RUNS + 2):
        runstore.add_run(runstore.Run(f"r{i}", _result(), {"model": "deep"}, "d", "generic", 0.1),
                         state=s)
    assert len(runstore.runs(s)) == runstore.MAX_RUNS
    assert "r0" not in runstore.runs(s) and "r1" not in runstore.runs(s)
    assert sum("dropped" in t for _, t in runstore.pop_notices(s)) == 2
    runstore.rename_run("r5", "five", state=s)
    assert list(runstore.runs(s))[3] == "five"  # keeps its place
    with pytest.raises(ValueError, match="already"):
        runstore.rename_run("five", "r6", state=s)
    run = runstore.runs(s)["five"]
    back = runstore.import_npz(runstore.export_npz(run), "x.npz")
    assert back.name == "five" and back.dataset == "d"
    np.testing.assert_array_equal(back.result.H[1], run.result.H[1])
