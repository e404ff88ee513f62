"""The Reproduce page: a missing file and a wrong file are named; a quick run lands in the runs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from apphelp import errors, goto, new_app

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _mat(**variables) -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, variables)
    return buf.getvalue()


def test_missing_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("DNMF_DATA_DIR", str(tmp_path))  # an empty folder
    at = goto(new_app(), "reproduce")
    at.selectbox(key="reproduce_experiment").set_value("tumor").run()
    assert any("Tumor.mat missing" in c.value for c in at.caption)
    at.button(key="reproduce_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    msgs = errors(at)
    assert any("Tumor.mat" in m and str(tmp_path) in m and "deep-KL-NMF-public" in m
               for m in msgs), msgs
    assert "reproduce_report" not in at.session_state


def test_wrong_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("DNMF_DATA_DIR", str(tmp_path))
    at = goto(new_app(), "reproduce")
    at.selectbox(key="reproduce_experiment").set_value("table2").run()
    wrong = _mat(M=np.random.default_rng(0).random((519, 143)))  # Tumor's variables
    at.file_uploader(key="reproduce_upload").set_value(
        [("faces.mat", wrong, "application/octet-stream")]).run()
    at.toggle(key="reproduce_quick").set_value(True).run()
    at.button(key="reproduce_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    msgs = errors(at)
    assert any("not the paper's CBCL.mat" in m and "361×2429" in m for m in msgs), msgs


@pytest.mark.skipif(not (DATA / "Tumor.mat").is_file(), reason=f"no Tumor.mat in {DATA}")
def test_quick_run_shows_paper_beside_dnmf_and_keeps_the_fits(monkeypatch):
    monkeypatch.setenv("DNMF_DATA_DIR", str(DATA))
    at = goto(new_app(timeout=120), "reproduce")
    at.selectbox(key="reproduce_experiment").set_value("tumor").run()
    at.toggle(key="reproduce_quick").set_value(True).run()
    at.button(key="reproduce_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["quantity", "paper", "dnmf"] and len(table) >= 9
    assert len(at.get("plotly_chart")) == 2
    runs = at.session_state["runs"]
    assert len(runs) == 3 and all(r.dataset == "tumor" for r in runs.values())
