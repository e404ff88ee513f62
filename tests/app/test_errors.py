"""Errors reach the page as plain messages: a bad upload (with fixes), an invalid model."""

from __future__ import annotations

from apphelp import choose_sample, errors, goto, new_app

from dnmf.ui import config as cfgmod
from dnmf.ui.errors import shown

NEGATIVE_CSV = b"1,2,3,4\n-1,3,4,5\n2,2,1,7\n4,1,1,2\n"


def _upload(at, name: str, data: bytes):
    goto(at, "data")
    at.radio(key="data_source").set_value("Upload a file").run()
    at.file_uploader(key="data_upload").set_value((name, data, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_bad_upload_shows_the_message_and_its_fixes():
    at = new_app()
    _upload(at, "bad.csv", NEGATIVE_CSV)
    msgs = errors(at)
    assert any("negative" in m for m in msgs), msgs
    # the failed file does not replace the dataset chosen before (the default sample)
    assert at.session_state["dataset"].name == "faces"
    labels = [shown(b.label) for b in at.button if (b.key or "").startswith("data_fix_")]
    assert labels == ["on_negative = clip", "on_negative = shift"]
    # the upload was copied into session state at once
    assert at.session_state["upload"]["filename"] == "bad.csv"
    # clicking a fix loads the file with that option
    at.button(key="data_fix_0").click().run()
    assert not at.exception and not errors(at)
    ds = at.session_state["dataset"]
    assert ds.shape == (4, 4) and ds.X.min() == 0.0
    assert at.selectbox(key="up_on_negative").value == "clip"
    # the file stays after a page switch (the uploader itself comes back empty) …
    goto(at, "model")
    goto(at, "data")
    assert any("bad.csv" in shown(c.value) for c in at.caption)
    assert at.session_state["dataset"].shape == (4, 4)
    # … until it is forgotten
    at.button(key="forget_upload").click().run()
    assert "upload" not in at.session_state
    assert not any(shown(c.value).startswith("File: bad.csv") for c in at.caption)


def test_unreadable_upload_is_a_message_not_a_traceback():
    at = new_app()
    _upload(at, "noise.csv", b"\x00\x01\x02garbage\xff")
    assert any("csv" in m.lower() for m in errors(at))
    assert not at.exception


def test_invalid_ranks_show_the_message_and_do_not_run():
    at = new_app()
    choose_sample(at, "faces")
    goto(at, "model")
    at.number_input(key="cfg_ranks_1").set_value(30).run()  # r_2 = 30 > r_1 = 20
    msgs = errors(at)
    assert any("strictly decrease" in m for m in msgs), msgs
    assert at.button(key="run_fit").disabled
    assert at.button(key="run_pair").disabled
    assert not at.session_state["runs"]
    # r_1 ≥ n is allowed, with a warning that the first layer can be exact
    at.number_input(key="cfg_ranks_1").set_value(10)
    at.number_input(key="cfg_ranks_0").set_value(625).run()
    assert not errors(at) and not at.button(key="run_fit").disabled
    assert any("can be trivial" in w.value for w in at.warning)


def test_value_error_from_dnmf_is_shown_in_words(monkeypatch):
    """Whatever dnmf rejects reaches the page as st.error, never as a traceback."""
    monkeypatch.setattr(cfgmod, "review_config", lambda cfg, shape=None: ([], []))
    at = new_app()
    choose_sample(at, "faces")
    goto(at, "model")
    at.number_input(key="cfg_ranks_1").set_value(30).run()
    at.button(key="run_fit").click().run()
    assert not at.exception
    msgs = errors(at)
    assert any("ranks must strictly decrease" in m.lower() for m in msgs), msgs
    assert not at.session_state["runs"]


def test_a_failing_solver_is_a_message_not_a_traceback(monkeypatch):
    class Broken:
        def fit(self, X):
            raise FloatingPointError("overflow in the update")

    monkeypatch.setattr(cfgmod, "make_estimator", lambda cfg, callback=None: Broken())
    at = new_app()
    choose_sample(at, "faces")
    goto(at, "model")
    at.button(key="run_fit").click().run()
    assert not at.exception
    assert any("The fit failed (FloatingPointError)" in m for m in errors(at))
    assert not at.session_state["runs"]
