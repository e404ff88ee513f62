"""Faults the workbench survives with a message: a database corrupted under the running
server, a full store; and the download of all runs."""

from __future__ import annotations

import io
import sqlite3
import zipfile

from apphelp import choose_sample, goto, new_app, quick_settings

from dnmf.ui import workspace


def _fit(at):
    choose_sample(at, "synthetic-layers")
    goto(at, "model")
    quick_settings(at, 5, 5)
    at.button(key="run_fit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_database_corrupted_while_the_server_runs_is_replaced_with_a_warning():
    at = _fit(new_app())
    assert len(at.session_state["runs"]) == 1
    store = workspace.get_store()
    path = store.path
    with open(path, "r+b") as f:  # scramble the file under the open connection
        f.seek(0)
        f.write(b"\x00garbage" * 4096)
    for suffix in ("-wal", "-shm"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            p.write_bytes(b"\x00" * 64)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [w.value for w in at.warning]
    assert any("moved aside" in n for n in notes), notes
    assert list(path.parent.glob(path.name + ".corrupt-*"))
    # the app goes on with a fresh database: a new fit is stored and listed
    at.button(key="run_fit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    token = at.session_state[workspace.TOKEN]
    assert [r.name for r in store.list_runs(token)] == list(at.session_state["runs"])
    assert len(at.session_state["runs"]) == 1


def test_a_full_store_evicts_the_least_recently_used_workspace_and_tells_its_owner():
    store = workspace.get_store()
    first = _fit(new_app())
    second = _fit(new_app())
    tok1 = first.session_state[workspace.TOKEN]
    tok2 = second.session_state[workspace.TOKEN]
    # The store is the test process's, shared with the tests before: their workspaces are
    # even less recently used than tok1 and would be emptied first (whether that frees enough
    # depends on a few bytes of compressed runs). Leave only this test's two workspaces.
    with sqlite3.connect(store.path) as db:
        others = [t for (t,) in db.execute("SELECT token FROM workspaces")
                  if t not in (tok1, tok2)]
    for token in others:
        store.forget(token)
    old_cap = store.max_store_bytes
    # full: the next run (about the size of each one kept) does not fit, but it does once the
    # least recently used workspace is emptied — half a run of slack, as runs differ by a
    # few bytes of compressed history
    store.max_store_bytes = store.total_bytes() + store.workspace_bytes(tok1) // 2
    try:
        second.button(key="run_fit").click().run()
        assert not second.exception
        assert len(second.session_state["runs"]) == 2  # the newest workspace kept its runs
        assert store.list_runs(tok1) == []  # the least recently used one was emptied
        first.run()  # its owner's next visit
        assert not first.exception
        assert not first.session_state["runs"]
        assert any("least recently used" in w.value for w in first.warning)
        assert store.total_bytes() <= store.max_store_bytes
        assert tok2 != tok1
    finally:
        store.max_store_bytes = old_cap


def test_download_all_runs_is_one_zip_of_the_workspace():
    at = _fit(new_app())
    at.button(key="run_fit").click().run()
    token = at.session_state[workspace.TOKEN]
    names = list(at.session_state["runs"])
    assert len(names) == 2
    z = zipfile.ZipFile(io.BytesIO(workspace.download_all(token)))
    assert sorted(n for n in z.namelist() if n.endswith(".npz")) == sorted(
        f"{workspace.runstore.safe_filename(n)}.npz" for n in names)
    # (Forget is a sidebar button, driven in the browser: tests/e2e/test_durable.py)
