"""The run store: runs survive a reopen, workspaces are isolated, caps hold, damage is survived."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import zipfile

import numpy as np
import pandas as pd
import pytest

from dnmf import FitResult
from dnmf.service.store import RunStore, new_token, valid_token


def _result(seed: int = 0, m: int = 12, n: int = 10, ranks=(4, 2)) -> FitResult:
    rng = np.random.default_rng(seed)
    W = [rng.random((m, r)) for r in ranks]
    H = [rng.random((ranks[0], n))] + [rng.random((b, a)) for a, b in zip(ranks, ranks[1:])]
    return FitResult(W=W, H=H, history=pd.DataFrame({"iteration": [0, 1], "seconds": [0., .1]}),
                     config={"model": "deep", "beta": 1.0}, layer_errors=np.array([1.0, 2.0]),
                     n_iter=1)


def _blob(seed: int = 0, **kw) -> bytes:
    return _result(seed, **kw).to_npz_bytes()


def test_tokens_are_128_bit_hex_and_distinct():
    toks = {new_token() for _ in range(50)}
    assert len(toks) == 50
    assert all(valid_token(t) and len(t) == 32 for t in toks)
    assert not valid_token("../../etc/passwd")
    assert not valid_token("A" * 32)
    assert not valid_token(None)


def test_runs_survive_reopen_and_round_trip_bit_for_bit(tmp_path):
    ws = new_token()
    res = _result(3)
    store = RunStore(tmp_path)
    store.put_run(ws, "r1", res.to_npz_bytes(), meta={"config": {"model": "deep"},
                                                      "dataset": {"name": "faces"}},
                  seconds=1.5)
    store.close()
    again = RunStore(tmp_path)
    assert again.pop_warnings() == []
    recs = again.list_runs(ws)
    assert [r.name for r in recs] == ["r1"]
    assert recs[0].meta["dataset"]["name"] == "faces" and recs[0].seconds == 1.5
    back = FitResult.from_npz_bytes(again.get_blob(ws, "r1"))
    for a, b in zip(res.W + res.H, back.W + back.H):
        np.testing.assert_array_equal(a, b)
    con = sqlite3.connect(tmp_path / "runs.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_workspaces_are_isolated(tmp_path):
    store = RunStore(tmp_path)
    a, b = new_token(), new_token()
    store.put_run(a, "mine", _blob())
    assert store.list_runs(b) == []
    assert store.get_blob(b, "mine") is None
    assert store.delete_run(b, "mine") is False
    assert [r.name for r in store.list_runs(a)] == ["mine"]
    with pytest.raises(ValueError, match="32 hexadecimal"):
        store.list_runs("not-a-token")


def test_workspace_run_cap_drops_oldest_and_says_which(tmp_path):
    store = RunStore(tmp_path, max_runs=3)
    ws = new_token()
    dropped = [store.put_run(ws, f"r{i}", _blob(i)) for i in range(5)]
    assert dropped[:3] == [[], [], []]
    assert dropped[3] == ["r0"] and dropped[4] == ["r1"]
    assert [r.name for r in store.list_runs(ws)] == ["r2", "r3", "r4"]
    # replacing a run (a job's final result over its checkpoint) keeps its age and drops nothing
    assert store.put_run(ws, "r2", _blob(9)) == []
    assert [r.name for r in store.list_runs(ws)] == ["r2", "r3", "r4"]


def test_workspace_byte_cap(tmp_path):
    size = len(_blob(0))
    store = RunStore(tmp_path, max_workspace_bytes=int(2.5 * size))
    ws = new_token()
    for i in range(4):
        store.put_run(ws, f"r{i}", _blob(0))
    assert store.workspace_bytes(ws) <= 2.5 * size
    assert [r.name for r in store.list_runs(ws)] == ["r2", "r3"]
    with pytest.raises(ValueError, match="more than a workspace may hold"):
        store.put_run(ws, "huge", _blob(0, m=400, n=400, ranks=(40, 20)))
    assert [r.name for r in store.list_runs(ws)] == ["r2", "r3"]  # nothing else lost


def test_store_cap_evicts_least_recently_used_workspace_with_a_message(tmp_path):
    size = len(_blob(0))
    store = RunStore(tmp_path, max_store_bytes=int(3.5 * size))
    old, mid, new = new_token(), new_token(), new_token()
    store.put_run(old, "a", _blob(0))
    store.put_run(mid, "b", _blob(0))
    store.visit(old)  # old was seen after mid: mid is now the least recently used
    store.put_run(new, "c1", _blob(0))
    assert store.total_bytes() <= 3.5 * size
    store.put_run(new, "c2", _blob(0))  # 4 runs > 3.5: evict mid
    assert store.list_runs(mid) == []
    assert [r.name for r in store.list_runs(old)] == ["a"]
    assert [r.name for r in store.list_runs(new)] == ["c1", "c2"]
    msgs = store.visit(mid)
    assert len(msgs) == 1 and msgs[0][0] == "warning" and "least recently used" in msgs[0][1]
    assert store.visit(mid) == []  # said once
    assert store.visit(old) == []
    # the store's size matches the runs it keeps
    assert store.total_bytes() == sum(r.nbytes for t in (old, mid, new)
                                      for r in store.list_runs(t))


def test_store_full_with_one_workspace_drops_its_oldest(tmp_path):
    size = len(_blob(0))
    store = RunStore(tmp_path, max_store_bytes=int(2.5 * size))
    ws = new_token()
    for i in range(3):
        store.put_run(ws, f"r{i}", _blob(0))
    assert [r.name for r in store.list_runs(ws)] == ["r1", "r2"]
    assert any("r0" in text for _, text in store.visit(ws))


def test_garbage_database_is_moved_aside_and_a_fresh_one_started(tmp_path):
    (tmp_path / "runs.db").write_bytes(b"this is not a database" * 100)
    store = RunStore(tmp_path)
    warnings = store.pop_warnings()
    assert len(warnings) == 1 and "moved aside" in warnings[0]
    aside = list(tmp_path.glob("runs.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    ws = new_token()
    store.put_run(ws, "r", _blob())
    assert [r.name for r in store.list_runs(ws)] == ["r"]


def test_database_corrupted_while_open_is_replaced_on_next_use(tmp_path):
    store = RunStore(tmp_path)
    ws = new_token()
    store.put_run(ws, "r", _blob())
    store.close()
    data = bytearray((tmp_path / "runs.db").read_bytes())
    # keep the header's first bytes so SQLite opens it, scramble the rest (pages and schema)
    rng = np.random.default_rng(0)
    data[100:] = rng.integers(0, 256, len(data) - 100, dtype=np.uint8).tobytes()
    (tmp_path / "runs.db").write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"runs.db{suffix}").unlink(missing_ok=True)
    store = RunStore(tmp_path)
    assert any("moved aside" in w for w in store.pop_warnings())
    assert store.list_runs(ws) == []
    store.put_run(ws, "again", _blob())
    assert [r.name for r in store.list_runs(ws)] == ["again"]


def test_unwritable_home_falls_back_to_memory_with_a_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = RunStore(blocker / "sub")  # a folder inside a file cannot be made
    assert any("in memory" in w for w in store.pop_warnings())
    ws = new_token()
    store.put_run(ws, "r", _blob())
    assert [r.name for r in store.list_runs(ws)] == ["r"]


def test_forget_download_rename_interrupted(tmp_path):
    store = RunStore(tmp_path)
    ws, other = new_token(), new_token()
    store.put_run(ws, "a/b", _blob(1), meta={"config": {"beta": 1.0}})
    store.checkpoint(ws, "job", _blob(2))
    store.put_run(other, "x", _blob(3))
    store.rename_run(ws, "a/b", "first")
    with pytest.raises(ValueError, match="already"):
        store.rename_run(ws, "first", "job")
    assert store.mark_interrupted() == 1
    assert {r.name: r.status for r in store.list_runs(ws)} == {"first": "done",
                                                               "job": "interrupted"}
    z = zipfile.ZipFile(io.BytesIO(store.export_zip(ws)))
    assert sorted(z.namelist()) == ["first.json", "first.npz", "job.json", "job.npz"]
    assert json.loads(z.read("job.json"))["status"] == "interrupted"
    FitResult.from_npz_bytes(z.read("first.npz"))
    assert store.forget(ws) == 2
    assert store.list_runs(ws) == []
    assert [r.name for r in store.list_runs(other)] == ["x"]


def test_state_and_concurrent_writers(tmp_path):
    store = RunStore(tmp_path, max_runs=1000)
    ws = new_token()
    store.set_state(ws, {"dataset": {"type": "sample", "name": "faces"}})
    assert store.get_state(ws)["dataset"]["name"] == "faces"
    blob = _blob()

    def write(k: int) -> None:
        for i in range(10):
            store.put_run(ws, f"t{k}-{i}", blob)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.list_runs(ws)) == 40
    # a second store on the same folder (another server process) sees them
    assert len(RunStore(tmp_path).list_runs(ws)) == 40


def test_the_file_shrinks_when_runs_are_dropped(tmp_path):
    store = RunStore(tmp_path, max_runs=2)
    ws = new_token()
    big = _blob(0, m=300, n=200, ranks=(30, 10))
    for i in range(8):
        store.put_run(ws, f"r{i}", big)
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = (tmp_path / "runs.db").stat().st_size
    assert size < 4 * len(big), (size, len(big))  # 2 kept runs (+ pages), not 8
    store.forget(ws)
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert (tmp_path / "runs.db").stat().st_size < len(big)
