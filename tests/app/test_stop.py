"""Stopping a fit mid-run keeps the partial run (Stop button / any rerun, and toolbar stop)."""

from __future__ import annotations

import threading
import time

import streamlit.testing.v1.local_script_runner as lsr
from apphelp import choose_sample, goto, new_app
from streamlit.runtime.scriptrunner import RerunData


def _interrupt_after(seconds: float, how: str):
    """Patch AppTest's wait so that, ``seconds`` into the next script run, the runner gets a
    rerun request (what a click on Stop sends) or a stop request (the toolbar's stop)."""
    original = lsr.require_widgets_deltas

    def waiting(runner, timeout=3):
        def later():
            time.sleep(seconds)
            if how == "rerun":
                runner.request_rerun(RerunData())
            else:
                runner.request_stop()

        threading.Thread(target=later, daemon=True).start()
        return original(runner, timeout)

    return original, waiting


def _start_long_fit(at):
    choose_sample(at, "faces")
    goto(at, "model")
    at.number_input(key="cfg_deep_n_init_iter").set_value(10)
    at.number_input(key="cfg_deep_max_iter").set_value(200_000)  # minutes if not stopped
    at.run()


def test_stop_mid_run_keeps_partial_run(monkeypatch):
    at = new_app()
    _start_long_fit(at)
    original, waiting = _interrupt_after(1.5, "rerun")
    monkeypatch.setattr(lsr, "require_widgets_deltas", waiting)
    t0 = time.perf_counter()
    at.button(key="run_fit").click().run(timeout=60)
    assert time.perf_counter() - t0 < 20
    monkeypatch.setattr(lsr, "require_widgets_deltas", original)
    assert not at.exception, [e.value for e in at.exception]
    runs = at.session_state["runs"]
    assert len(runs) == 1
    (run,) = runs.values()
    assert run.result.stopped_early
    assert 0 < run.result.n_iter < 200_000
    assert [W.shape[1] for W in run.result.W] == [20, 10, 5]
    notes = [w.value for w in at.warning]
    assert any("partial run" in n and run.name in n for n in notes), notes
    # the partial run is usable on the Layers page
    goto(at, "layers")
    assert any("stopped early" in c.value for c in at.caption)


def test_toolbar_stop_keeps_partial_run(monkeypatch):
    at = new_app()
    _start_long_fit(at)
    original, waiting = _interrupt_after(1.5, "stop")
    monkeypatch.setattr(lsr, "require_widgets_deltas", waiting)
    at.button(key="run_fit").click().run(timeout=60)
    monkeypatch.setattr(lsr, "require_widgets_deltas", original)
    # a stopped script ends without a rerun; the next run of the session collects the run
    at.run()
    assert not at.exception
    (run,) = at.session_state["runs"].values()
    assert run.result.stopped_early
    assert any("partial run" in w.value for w in at.warning)
