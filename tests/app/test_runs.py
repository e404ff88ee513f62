"""The run store: export → import restores the factors; rename, delete; the cap; persistence."""

from __future__ import annotations

import numpy as np
from apphelp import choose_sample, goto, new_app, quick_settings

from dnmf.ui import runs as runstore


def _one_run(at):
    choose_sample(at, "synthetic-layers")
    goto(at, "model")
    quick_settings(at, 10, 10)
    at.button(key="run_fit").click().run()
    assert not at.exception
    return next(iter(at.session_state["runs"].values()))


def test_export_then_import_restores_the_same_factors():
    at = new_app()
    run = _one_run(at)
    labels = [b.label for b in at.get("download_button")]
    assert {"Factors (.npz)", "Config (.json)", "History (.csv)", "All three (.zip)"} <= set(labels)
    data = runstore.export_npz(run)  # the bytes the "Factors (.npz)" button serves
    at.button(key="delete_run").click().run()
    assert not at.session_state["runs"]
    at.file_uploader(key="run_upload").set_value((f"{run.name}.npz", data,
                                                   "application/octet-stream")).run()
    assert not at.exception
    (back,) = at.session_state["runs"].values()
    assert back.name == run.name and back.dataset == run.dataset and back.kind == run.kind
    for a, b in zip(back.result.W + back.result.H, run.result.W + run.result.H):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(back.result.layer_errors, run.result.layer_errors)
    assert back.config["ranks"] == run.config["ranks"]
    # uploading a file that is not a run export is a message
    at.file_uploader(key="run_upload").set_value(("x.npz", b"not an npz", "application/zip"))
    at.run()
    assert any("run file" in e.value or "not a dnmf" in e.value for e in at.error)
    # the imported run opens on the Layers page with its dataset reloaded
    goto(at, "layers")
    assert not at.exception and not at.warning


def test_rename_and_delete():
    at = new_app()
    run = _one_run(at)
    at.text_input(key=f"rename_{run.name}").set_value("my run")
    at.button(key="rename_run").click().run()
    assert list(at.session_state["runs"]) == ["my run"]
    at.text_input(key="rename_my run").set_value("")
    at.button(key="rename_run").click().run()
    assert any("empty" in e.value for e in at.error)
    at.button(key="delete_run").click().run()
    assert at.session_state["runs"] == {}


def test_cap_drops_the_oldest_run_and_says_so(monkeypatch):
    monkeypatch.setattr(runstore, "MAX_RUNS", 2)
    at = new_app()
    choose_sample(at, "synthetic-layers")
    goto(at, "model")
    quick_settings(at, 5, 5)
    at.button(key="run_fit").click().run()
    at.button(key="run_fit").click().run()
    first = list(at.session_state["runs"])[0]
    # before the next fit the page names the run that would be dropped
    assert any(first in w.value and "drops" in w.value for w in at.warning)
    assert any(b.label == "Factors (.npz)" for b in at.get("download_button"))
    at.button(key="run_fit").click().run()
    names = list(at.session_state["runs"])
    assert len(names) == 2 and first not in names
    assert any(first in w.value and "dropped" in w.value for w in at.warning)


def test_widgets_keep_their_values_across_pages():
    at = new_app()
    choose_sample(at, "faces")
    goto(at, "model")
    at.number_input(key="cfg_deep_max_iter").set_value(123)
    at.segmented_control(key="cfg_deep_beta").set_value("IS (β=0)").run()
    goto(at, "data")
    goto(at, "model")
    assert at.number_input(key="cfg_deep_max_iter").value == 123
    assert at.segmented_control(key="cfg_deep_beta").value == "IS (β=0)"
    assert at.session_state["dataset"].name == "faces"
