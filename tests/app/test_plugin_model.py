"""A model registered from outside the package works in the app with no change to the app.

The model below lives in this test file only: a multilayer Frobenius NMF by Lee–Seung MU with
one parameter of its own (``ridge``, an L2 penalty on every H_ℓ). Registered with
``dnmf.register_model``, it must appear on the Model page with a widget for ``ridge``, fit with
live progress and Stop, and show on Layers and Compare.
"""

from __future__ import annotations

import time
from numbers import Integral, Real

import numpy as np
import pandas as pd
import pytest
from apphelp import choose_sample, errors, goto, new_app
from sklearn.utils._param_validation import Interval

import dnmf
from dnmf.estimators import LayeredEstimator
from dnmf.registry import Capabilities, ModelSpec, ParamSpec, unregister_model
from dnmf.result import FitResult, IterationInfo

KEY = "test-ridge-multilayer"


class RidgeMultilayer(LayeredEstimator):
    """min ½‖W_{ℓ-1} − W_ℓH_ℓ‖² + ridge/2 ‖H_ℓ‖², one layer after the other (MU)."""

    _parameter_constraints = {
        **LayeredEstimator._parameter_constraints,
        "ridge": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, ranks=(4, 2), ridge=0.0, max_iter=100, tol=0.0, eval_every=5,
                 random_state=None, dtype=np.float64, callback=None):
        self.ranks = ranks
        self.ridge = ridge
        self.max_iter = max_iter
        self.tol = tol
        self.eval_every = eval_every
        self.random_state = random_state
        self.dtype = dtype
        self.callback = callback

    def _fit(self, X):
        ranks = self._check_params(X.shape[1])
        X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=self._working_dtype())
        rng = np.random.default_rng(self.random_state)
        total = len(ranks) * self.max_iter
        t0, count, rows, stopped = time.perf_counter(), 0, [], False
        Ws, Hs, errors = [], [], np.full(len(ranks), np.nan)
        eps = np.finfo(X.dtype).eps
        for k, r in enumerate(ranks):
            Y = X if k == 0 else Ws[-1]
            W = rng.random((Y.shape[0], r)).astype(X.dtype)
            H = rng.random((r, Y.shape[1])).astype(X.dtype)
            for it in range(1, self.max_iter + 1):
                H *= (W.T @ Y) / (W.T @ W @ H + self.ridge * H + eps)
                W *= (Y @ H.T) / (W @ (H @ H.T) + eps)
                count += 1
                errors[k] = 0.5 * float(np.linalg.norm(Y - W @ H) ** 2)
                rows.append({"iteration": it, "seconds": time.perf_counter() - t0,
                             **{f"error_layer_{i + 1}": e for i, e in enumerate(errors)},
                             "objective": float(np.nansum(errors)), "phase": f"layer {k + 1}"})
                info = IterationInfo(count, total, f"layer {k + 1}", time.perf_counter() - t0,
                                     errors.copy(), float(np.nansum(errors)))
                if self.callback is not None and self.callback(info) is False:
                    stopped = True
                    break
            Ws.append(W)
            Hs.append(H)
            if stopped:
                break
        while len(Ws) < len(ranks):  # stopped: the layers not reached stay at a random start
            Y, r = Ws[-1], ranks[len(Ws)]
            Ws.append(rng.random((Y.shape[0], r)))
            Hs.append(rng.random((r, Y.shape[1])))
        return FitResult(W=Ws, H=Hs, history=pd.DataFrame(rows), n_iter=count,
                         config={"model": KEY, "ranks": list(ranks), "ridge": self.ridge},
                         layer_errors=errors, stopped_early=stopped,
                         timings={"total": time.perf_counter() - t0})

    def _transform_beta(self) -> float:
        return 2.0


SPEC = ModelSpec(
    key=KEY, label="Ridge multilayer NMF (a plug-in)", estimator=RidgeMultilayer,
    short="ridge-ml",
    params=(ParamSpec("ranks", "ints", (8, 4), "r_1 > … > r_L", low=1),
            ParamSpec("ridge", "float", 0.0, "L2 penalty on every H_ℓ", label="ridge", low=0.0),
            ParamSpec("max_iter", "int", 50, "MU iterations per layer", low=1,
                      short="it/layer"),
            ParamSpec("random_state", "int", 0, "seed", low=0)),
    capabilities=Capabilities(beta_range=None, fixed_beta=2.0),
    description="A model registered by a test, from outside the dnmf package.",
    check_params={"ranks": (2,)},
)


@pytest.fixture
def plugin():
    dnmf.register_model(SPEC)
    try:
        yield SPEC
    finally:
        unregister_model(KEY)


def _configure(at, ridge: float, max_iter: int):
    choose_sample(at, "faces")
    goto(at, "model")
    at.selectbox(key="cfg_model").set_value(KEY).run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key=f"cfg_{KEY}_ridge").set_value(ridge)
    at.number_input(key=f"cfg_{KEY}_max_iter").set_value(max_iter)
    return at.run()


def test_a_registered_model_is_offered_fitted_and_shown(plugin):
    at = new_app()
    _configure(at, ridge=0.25, max_iter=30)
    assert any("registered by a test" in c.value for c in at.caption)  # its description
    assert f"cfg_{KEY}_ridge" in at.session_state  # its own parameter has a widget
    assert at.selectbox(key="cfg_model").value == KEY
    assert not any(b.key == "run_pair" for b in at.button)  # no baseline: no pair button
    at.button(key="run_fit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    at.number_input(key=f"cfg_{KEY}_ridge").set_value(0.0).run()
    at.button(key="run_fit").click().run()
    runs = at.session_state["runs"]
    assert len(runs) == 2
    first, second = runs.values()
    assert first.model == KEY and first.config["ridge"] == 0.25
    assert first.result.config["ridge"] == 0.25 and second.result.config["ridge"] == 0.0
    assert first.result.n_iter == len(first.result.W) * 30 and not first.result.stopped_early
    assert first.name.startswith("ridge-ml")
    # Layers names the model and draws its layers
    at.session_state["layers_run"] = first.name
    goto(at, "layers")
    assert not at.exception, [e.value for e in at.exception]
    assert any("Ridge multilayer NMF (a plug-in)" in c.value and "ridge-ml" in c.value
               for c in at.caption)
    assert at.get("plotly_chart")
    # Compare puts the two runs side by side
    goto(at, "compare")
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.session_state["compare_runs"]) == {first.name, second.name}
    table = next(df.value for df in at.dataframe if "layer" in df.value.columns)
    assert any(first.name in c or second.name in c for c in table.columns)


def test_a_registered_model_stops_and_keeps_its_partial_run(plugin, monkeypatch):
    at = new_app()
    from dnmf.ui import fit

    _configure(at, ridge=0.1, max_iter=200_000)  # minutes if not stopped
    monkeypatch.setattr(fit, "FOREGROUND", 1.5)  # the page leaves the job to the sidebar
    at.button(key="run_fit").click().run(timeout=60)
    assert not at.session_state["runs"]  # still running
    t0 = time.perf_counter()
    at.button(key="stop_fit").click().run(timeout=60)  # (fits are jobs: Stop stops them)
    assert time.perf_counter() - t0 < 20
    assert not at.exception, [e.value for e in at.exception]
    (run,) = at.session_state["runs"].values()
    assert run.model == KEY and run.result.stopped_early
    assert 0 < run.result.n_iter < 200_000
    assert any("partial run" in w.value for w in at.warning)
