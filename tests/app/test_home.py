"""Home: the 'try it' button loads faces and fits deep vs multilayer within 10 s."""

from __future__ import annotations

import time

from apphelp import errors, goto, new_app


def test_try_it_runs_deep_vs_multilayer_under_10s():
    at = new_app()
    assert at.title[0].value == "Deep NMF workbench"
    # The runs live in the workspace (the link), not in this browser session.
    assert [h.value for h in at.subheader if h.value.startswith("Runs in")] == [
        "Runs in this workspace"]
    t0 = time.perf_counter()
    at.button(key="try_it").click().run()
    wall = time.perf_counter() - t0
    assert not at.exception and not errors(at)
    ds = at.session_state["dataset"]
    assert ds.name == "faces" and ds.shape == (100, 625)
    runs = at.session_state["runs"]
    assert list(runs) == ["try-it deep", "try-it multilayer"]
    fit_seconds = sum(r.seconds for r in runs.values())
    print(f"try it: fits {fit_seconds:.2f} s, whole script run {wall:.2f} s")
    assert fit_seconds < 10.0
    assert any("Fitted" in s.value for s in at.success)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 2  # the session's runs
    # the next pages open on these runs
    goto(at, "compare")
    assert at.multiselect(key="compare_runs").value == ["try-it deep", "try-it multilayer"]
