"""Fits are background jobs: Stop keeps the partial run at once; leaving the page does not
cancel a fit; the sidebar says when something runs."""

from __future__ import annotations

import re
import time

from apphelp import choose_sample, goto, new_app

from dnmf.ui import fit, workspace


def _start_fit(at, monkeypatch, max_iter: int):
    """Start a fit and let the page stop following it after 1 s (as a user clicking away)."""
    monkeypatch.setattr(fit, "FOREGROUND", 1.0)
    choose_sample(at, "faces")
    goto(at, "model")
    at.number_input(key="cfg_deep_n_init_iter").set_value(10)
    at.number_input(key="cfg_deep_max_iter").set_value(max_iter)
    at.run()
    at.button(key="run_fit").click().run(timeout=30)
    assert not at.exception, [e.value for e in at.exception]
    (job,) = workspace.active_jobs_of(at.session_state[workspace.TOKEN])
    return job


def test_stop_keeps_the_partial_run_at_once(monkeypatch):
    at = new_app()
    _start_fit(at, monkeypatch, max_iter=200_000)  # minutes if not stopped
    assert not at.session_state["runs"]
    # (the sidebar's busy panel is checked in the browser: AppTest keeps the sidebar's
    # elements of the first run only)
    t0 = time.perf_counter()
    at.button(key="stop_fit").click().run(timeout=30)
    elapsed = time.perf_counter() - t0  # the click's rerun shows the partial run
    assert not at.exception, [e.value for e in at.exception]
    runs = at.session_state["runs"]
    assert len(runs) == 1
    (run,) = runs.values()
    assert run.result.stopped_early and run.status == "stopped"
    assert 0 < run.result.n_iter < 200_000
    assert [W.shape[1] for W in run.result.W] == [20, 10, 5]
    notes = [w.value for w in at.warning]
    stop = [n for n in notes if "partial run" in n and run.name in n]
    assert stop, notes
    assert re.match(r"^Fit stopped at iteration \d+ of \d+; the partial run", stop[0])
    assert elapsed < 5, elapsed  # the job stops within 0.5 s: tests/test_jobs.py
    assert not workspace.active_jobs_of(at.session_state[workspace.TOKEN])
    # the partial run is usable on the Layers page
    goto(at, "layers")
    assert any("stopped early" in c.value for c in at.caption)


def test_leaving_the_page_does_not_cancel_the_fit(monkeypatch):
    at = new_app()
    job = _start_fit(at, monkeypatch, max_iter=15_000)  # a few seconds
    goto(at, "home")  # before, any click during a fit stopped it
    runner = workspace.get_runner()
    done = runner.wait(job.id, timeout=90)
    assert done.state == "done"
    t0 = time.perf_counter()
    at.run()
    assert time.perf_counter() - t0 < 10
    (run,) = at.session_state["runs"].values()
    assert not run.result.stopped_early and run.status == "done"
    assert run.result.n_iter == 15_000
