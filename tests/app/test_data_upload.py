"""Issue 12 under AppTest: every case is the file, the message shown, the fix offered, and the
app still usable afterwards (no exception, the sidebar drawn, another page opens)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apphelp import APP, goto, new_app, quick_settings
from streamlit.testing.v1 import AppTest

from dnmf.result import FitResult
from dnmf.ui.errors import plain, shown

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

TEXT_CSV = (b"id,review,score\n1,the film was long and the plot was thin,3\n"
            b"2,a warm funny film with a great cast,5\n"
            b"3,the plot was thin but the cast was great,4\n4,long and thin and dull,1\n")
CLEAN_CSV = b"a,b,c\n1,2,3\n4,5,6\n7,8,9.5\n2,2,2\n"
PEOPLE_CSV = b"id,name,f1,f2,f3\n1,alice,0.5,1,2\n2,bob,0.3,2,1\n3,carl,1,1,0\n4,dana,2,0,1\n"


def errors(at) -> list[str]:
    """The error messages as the user reads them (Markdown escapes removed)."""
    return [shown(e.value) for e in at.error]


def upload_key(at) -> str:
    gen = at.session_state["upload_gen"] if "upload_gen" in at.session_state else 0
    return "data_upload" if gen == 0 else f"data_upload_{gen}"


def upload(at, *files: tuple[str, bytes]):
    goto(at, "data")
    if at.radio(key="data_source").value != "Upload a file":
        at.radio(key="data_source").set_value("Upload a file").run()
    at.file_uploader(key=upload_key(at)).set_value(
        [(name, data, "application/octet-stream") for name, data in files]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fix_buttons(at) -> dict[str, object]:
    return {shown(b.label): b for b in at.button if (b.key or "").startswith("data_fix_")}


def usable(at) -> None:
    """No exception, the sidebar summary drawn, and the Model page opens."""
    assert not at.exception, [e.value for e in at.exception]
    goto(at, "model")
    assert not at.exception
    goto(at, "data")


def samples_csv(m=120, n=40) -> bytes:
    A = np.random.default_rng(0).random((m, n))
    head = "," + ",".join(f"f{j}" for j in range(n))
    return (head + "\n" + "\n".join(f"s{i}," + ",".join(f"{v:.5f}" for v in r)
                                    for i, r in enumerate(A)) + "\n").encode()


# ---------------------------------------------------------------------------- orientation
def test_samples_by_features_csv_is_said_in_words_and_flips_in_one_click():
    at = upload(new_app(), ("table.csv", samples_csv()))
    ds = at.session_state["dataset"]
    assert ds.shape == (120, 40) and ds.sample_axis == 0
    words = [shown(m.value) for m in at.markdown if "Orientation" in m.value]
    assert words and "120 samples × 40 features; layer features are combinations of the 40 " \
        "columns" in words[0]
    at.button(key="data_flip").click().run()
    assert not at.exception
    flipped = at.session_state["dataset"]
    assert flipped.shape == (40, 120) and flipped.n_samples == 40
    assert any("40 samples × 120 features" in shown(m.value) for m in at.markdown)
    at.button(key="data_flip").click().run()  # and back
    assert at.session_state["dataset"].shape == (120, 40)
    usable(at)


def test_nan_fix_drops_the_samples_it_names():
    lines = samples_csv(6, 4).decode().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",nan"
    at = upload(new_app(), ("nan.csv", ("\n".join(lines) + "\n").encode()))
    assert any("non-finite" in e for e in errors(at))
    buttons = fix_buttons(at)
    buttons["on_nonfinite = drop"].click().run()
    ds = at.session_state["dataset"]
    assert ds.shape == (5, 4), ds.shape  # one sample (row) dropped, every feature kept
    usable(at)


# ---------------------------------------------------------------------------- column roles
def test_text_column_offers_roles_and_dropping_it_loads_the_numbers():
    at = upload(new_app(), ("people.csv", PEOPLE_CSV))
    msgs = errors(at)
    assert any("'name'" in shown(m) and "holds text" in shown(m) for m in msgs), msgs
    buttons = fix_buttons(at)
    assert {"'name': sample names", "'name': drop it"} <= set(buttons)
    assert not any(label.startswith("read as a corpus") for label in buttons)
    assert at.session_state["dataset"].name == "faces"  # the dataset in use stays
    buttons["'name': drop it"].click().run()
    ds = at.session_state["dataset"]
    assert ds.name == "people" and ds.shape == (4, 3) and not errors(at)
    # the roles are shown and can be changed: the name column gives the sample names
    role_boxes = [s for s in at.selectbox if (s.key or "").startswith("data_role_")]
    assert [shown(s.label) for s in role_boxes] == ["Column id", "Column name"]
    role_boxes[1].set_value("sample names").run()
    ds = at.session_state["dataset"]
    assert ds.meta["sample_names"] == ["alice", "bob", "carl", "dana"]
    usable(at)


def test_sticky_options_belong_to_their_file():
    """text column → clean file → forget → clean file: a choice made for one file never
    applies to another (before: 'text_column 'review' is not a column of clean.csv')."""
    at = upload(new_app(), ("reviews.csv", TEXT_CSV))
    buttons = fix_buttons(at)
    assert "read as a corpus of 'review'" in buttons
    buttons["read as a corpus of 'review'"].click().run()
    assert at.session_state["dataset"].kind == "text"
    at = upload(at, ("clean.csv", CLEAN_CSV))  # a new file starts from the defaults
    assert not errors(at), errors(at)
    ds = at.session_state["dataset"]
    assert ds.name == "clean" and ds.kind == "generic" and ds.shape == (4, 3)
    at.button(key="forget_upload").click().run()
    assert "upload" not in at.session_state
    at = upload(at, ("clean.csv", CLEAN_CSV))
    assert not errors(at) and at.session_state["dataset"].shape == (4, 3)
    # the text file comes back with its own choice
    at = upload(at, ("reviews.csv", TEXT_CSV))
    assert not errors(at) and at.session_state["dataset"].kind == "text"
    usable(at)


def test_forget_forgets_the_files_options():
    at = upload(new_app(), ("reviews.csv", TEXT_CSV))
    fix_buttons(at)["read as a corpus of 'review'"].click().run()
    assert at.session_state["dataset"].kind == "text"
    at.button(key="forget_upload").click().run()
    assert not at.session_state["upload_options"]
    at = upload(at, ("reviews.csv", TEXT_CSV))  # the same file again: defaults, so asked again
    assert any("holds text" in shown(e) or "hold text" in shown(e) for e in errors(at))
    usable(at)


def test_decimal_commas_are_diagnosed_with_a_fix():
    at = upload(new_app(), ("eu.csv", b"1,5;2,25;3\n4;5,5;6\n7;8;9,75\n"))
    assert any("decimal comma" in e for e in errors(at))
    fix_buttons(at)["decimal = ,"].click().run()
    np.testing.assert_allclose(at.session_state["dataset"].X[0], [1.5, 2.25, 3])
    usable(at)


def test_ragged_csv_names_its_line():
    at = upload(new_app(), ("ragged.csv", b"1,2,3\n4,5\n6,7,8\n"))
    assert any("ragged" in e and "line 2 has 2 values" in shown(e) for e in errors(at))
    assert not fix_buttons(at)
    usable(at)


# ---------------------------------------------------------------------------- ground truth
def _truth_files(tmp_seed=0):
    rng = np.random.default_rng(tmp_seed)
    W1, H1 = rng.random((30, 3)) + 0.05, rng.dirichlet(np.ones(3), 40).T
    X = W1 @ H1
    b = io.BytesIO()
    np.save(b, X)
    t = io.BytesIO()
    np.savez(t, endmembers=W1, abundances=H1, names=np.array(["a", "b", "c"]))
    return b.getvalue(), t.getvalue()


def test_ground_truth_uploaded_beside_data_attaches_and_unlocks_the_views():
    data, truth = _truth_files()
    at = upload(new_app(), ("x.npy", data), ("truth.npz", truth))
    ds = at.session_state["dataset"]
    assert ds.name == "x" and ds.ground_truth["endmembers"].shape == (30, 3)
    assert any("Ground truth known" in shown(s.value) for s in at.success)
    goto(at, "model")
    quick_settings(at, 10, 10)
    at.button(key="run_pair").click().run()
    assert not at.exception and len(at.session_state["runs"]) == 2
    goto(at, "layers")
    assert any(h.value == "Against the ground truth" for h in at.subheader)
    table = at.dataframe[-1].value
    assert "mean SAD (°)" in table.columns and np.isfinite(table["mean SAD (°)"]).all()
    goto(at, "compare")
    assert any(h.value == "Against the ground truth" for h in at.subheader)


def test_ground_truth_of_another_dataset_is_a_warning_not_a_crash():
    data, _ = _truth_files()
    b = io.BytesIO()
    np.savez(b, endmembers=np.ones((7, 3)))
    at = upload(new_app(), ("x.npy", data), ("wrong.npz", b.getvalue()))
    assert at.session_state["dataset"].name == "x"
    assert any("another dataset" in shown(w.value) for w in at.warning)
    usable(at)


def test_labels_column_unlocks_label_purity():
    rng = np.random.default_rng(0)
    A = np.vstack([rng.random((10, 6)) + [3, 3, 0, 0, 0, 0], rng.random((10, 6))
                   + [0, 0, 0, 0, 3, 3]])
    lab = ["a"] * 10 + ["b"] * 10
    csv = "x0,x1,x2,x3,x4,x5,label\n" + "\n".join(
        ",".join(f"{v:.4f}" for v in r) + f",{c}" for r, c in zip(A, lab))
    at = upload(new_app(), ("lab.csv", csv.encode()))
    ds = at.session_state["dataset"]
    assert ds.shape == (20, 6) and ds.label_names == ["a", "b"]
    goto(at, "model")  # default ranks for 20 × 6: (5, 2)
    quick_settings(at, 20, 20)
    at.button(key="run_fit").click().run()
    goto(at, "layers")
    assert any(h.value == "Label purity per layer" for h in at.subheader)
    table = next(d.value for d in at.dataframe if "label purity" in d.value.columns)
    assert table["label purity"].between(0.5, 1.0).all()  # two classes: at least the largest


@pytest.mark.skipif(not (DATA / "end3.mat").is_file(), reason="../shared/data is absent")
def test_samson_with_end3_uploaded_together():
    at = upload(new_app(), ("samson_1.mat", (DATA / "samson_1.mat").read_bytes()),
                ("end3.mat", (DATA / "end3.mat").read_bytes()))
    ds = at.session_state["dataset"]
    assert ds.name == "samson" and ds.ground_truth["names"] == ["rock", "tree", "water"]
    assert any("Recognised as the paper's samson" in shown(i.value) for i in at.info)
    usable(at)


# ---------------------------------------------------------------------------- run import
def _run_bytes(**change) -> bytes:
    rng = np.random.default_rng(0)
    W1, H1 = rng.random((6, 3)), rng.random((3, 5))
    W2, H2 = rng.random((6, 2)), rng.random((2, 3))
    res = FitResult(W=[W1, W2], H=[H1, H2], history=pd.DataFrame(
        {"iteration": [0, 1], "error_layer_1": [2.0, 1.0], "error_layer_2": [3.0, 2.0]}),
        config={"model": "deep", "beta": 1.0, "ranks": [3, 2]}, n_iter=1,
        layer_errors=np.array([1.0, 2.0]))
    arrays = dict(np.load(io.BytesIO(res.to_npz_bytes()), allow_pickle=False))
    meta = json.loads(str(arrays["meta"]))
    for key, value in change.items():
        if key in arrays:
            arrays[key] = value
        else:
            meta[key] = value
    arrays["meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


BAD_RUNS = {
    "history not a table": (_run_bytes(history=[1, 2, 3]), "history is not a table"),
    "NaN factor": (_run_bytes(W_1=np.full((6, 3), np.nan)), "W_1 has NaN"),
    "negative factor": (_run_bytes(H_2=-np.ones((2, 3))), "H_2 has negative entries"),
    "shapes do not chain": (_run_bytes(H_2=np.ones((2, 4))), "H_2 has 4 columns"),
    "W and H do not multiply": (_run_bytes(H_1=np.ones((4, 5))), "do not multiply"),
    "random bytes": (bytes(np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8)),
                     "not a .npz archive"),
    "pickled meta": (None, "meta"),
}


def _pickled() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, meta=np.array([{"evil": 1}], dtype=object), W_1=np.ones((2, 2)),
             H_1=np.ones((2, 2)))
    return buf.getvalue()


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_malformed_run_file_is_one_plain_message(case):
    data, words = BAD_RUNS[case]
    data = _pickled() if data is None else data
    at = new_app()
    goto(at, "model")
    at.file_uploader(key="run_upload").set_value(("bad.npz", data, "application/zip")).run()
    assert not at.exception, [e.value for e in at.exception]
    msgs = [shown(e) for e in errors(at)]
    assert len(msgs) == 1 and words in msgs[0], msgs
    assert "allow_pickle" not in msgs[0] and "Traceback" not in msgs[0] and "/" not in \
        msgs[0].split("Upload")[0].replace("W/H", "")
    assert not at.session_state["runs"]
    at.run()  # a rerun with the file still in the uploader: still one message, no crash
    assert not at.exception and len(errors(at)) <= 1
    usable(at)


def test_markdown_in_run_and_file_names_is_shown_as_text():
    evil = "[click me](http://example.com) **$x^2$** <b>x</b>"
    res = _run_bytes(config={"model": "deep", "beta": 1.0, "ranks": [3, 2],
                             "app": {"run_name": evil, "dataset": evil}})
    at = new_app()
    goto(at, "model")
    at.file_uploader(key="run_upload").set_value(("r.npz", res, "application/zip")).run()
    assert not at.exception
    (run,) = at.session_state["runs"].values()
    assert run.name == evil
    # wherever the name is drawn as Markdown, it is escaped: shown as typed, no link or LaTeX
    goto(at, "layers")
    assert not at.exception
    drawn = [c.value for c in [*at.caption, *at.warning] if "click me" in shown(c.value)]
    assert drawn and all("\\[click me\\]" in c and "\\$x" in c for c in drawn)
    assert all(plain(evil) in c for c in drawn)  # the whole name, escaped, every time
    # a file name with Markdown in an error message
    at = upload(new_app(), ("[x](http://e.com).csv", b"1,2,3\n4,5\n6,7,8\n"))
    (msg,) = [e.value for e in at.error]
    assert "\\[x\\](http\u2060\\://e.com)" in msg  # no link, no bare-URL autolink


def test_last_resort_handler_shows_a_short_message_and_keeps_the_sidebar(monkeypatch):
    from dnmf.ui import runs as runstore

    def broken(state=None):
        raise TypeError("secret detail in /srv/dnmf/private/path.py")

    monkeypatch.setattr(runstore, "pop_notices", broken)  # Home calls it first thing
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (msg,) = errors(at)
    assert "Something went wrong" in msg and "TypeError" in msg
    assert "/srv" not in msg and "secret" not in msg
    assert any("Dataset:" in shown(c.value) for c in at.sidebar.caption)


# ---------------------------------------------------------------------------- paper settings
def _paper_mat(name: str) -> bytes:
    """A file the paper's loader recognises (CBCL: X is 361 × 2429), small random values."""
    import scipy.io as sio

    rng = np.random.default_rng(0)
    b = io.BytesIO()
    if name == "cbcl":
        sio.savemat(b, {"X": rng.random((361, 2429))})
    else:  # Samson's layout: V 156 × 9025 with nRow = nCol = 95
        sio.savemat(b, {"V": rng.random((156, 9025)), "nRow": 95.0, "nCol": 95.0})
    return b.getvalue()


@pytest.mark.parametrize("paper", ["cbcl", "samson"])
def test_use_the_papers_settings_on_the_model_page(paper):
    at = upload(new_app(), (f"{paper}.mat", _paper_mat(paper)))
    assert at.session_state["dataset"].meta["paper"] == paper
    goto(at, "model")
    at.button(key="use_paper").click().run()
    assert not at.exception, [e.value for e in at.exception]
    ranks = [at.number_input(key=f"cfg_ranks_{k}").value for k in range(2 if paper ==
                                                                        "samson" else 3)]
    if paper == "cbcl":
        assert ranks == [80, 40, 20]
        assert at.session_state["cfg_model"] == "deep"
        assert at.number_input(key="cfg_deep_n_init_iter").value == 500
        assert at.number_input(key="cfg_deep_max_iter").value == 500
    else:
        assert ranks == [4, 2]
        assert at.session_state["cfg_model"] == "deep-minvol"
        assert at.number_input(key="cfg_deep-minvol_max_iter").value == 800
        assert at.number_input(key="cfg_deep-minvol_alpha_tilde").value == 0.45
        assert any("absolute" in shown(c.value) for c in at.caption)  # what it cannot set
    assert not errors(at)


@pytest.mark.skipif(not (DATA / "TDT2_500words.mat").is_file(), reason="../shared/data is absent")
def test_tdt2_offers_the_papers_500_words():
    at = upload(new_app(), ("TDT2_500words.mat", (DATA / "TDT2_500words.mat").read_bytes()))
    full = at.session_state["dataset"]
    assert full.meta["paper"] == "tdt2" and full.shape[0] > 500
    at.button(key="data_paper_words").click().run()
    assert not at.exception
    words = at.session_state["dataset"]
    assert words.shape[0] <= 500 and words.meta["paper_words"]
    assert "data_paper_words" not in [b.key for b in at.button]  # done: no longer offered
    goto(at, "model")
    at.button(key="use_paper").click().run()
    assert [at.number_input(key=f"cfg_ranks_{k}").value for k in range(3)] == [20, 10, 5]
    assert at.session_state["cfg_weights_mode"] == "manual"  # λ = [4, 2, 1] (§4.2)
    assert [at.number_input(key=f"cfg_weights_{k}").value for k in range(3)] == [4, 2, 1]
