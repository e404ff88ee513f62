"""Runs that outlive a reload and a restart: an embedded SQLite database under ``DNMF_HOME``.

Every run belongs to a *workspace*, a random 128-bit token (32 hex digits) that the app keeps in
the page's URL: whoever has the link sees the workspace's runs, and nobody else does. A run is
stored as

- its factors and history: the bytes of :meth:`dnmf.FitResult.to_npz_bytes` (an ``.npz`` read back
  with ``allow_pickle=False`` — nothing stored here is ever unpickled);
- a JSON document: the configuration the user chose, the dataset's provenance (name, kind, shape,
  where it came from), and the run's status (``done``, ``stopped``, ``running`` while a job
  checkpoints it, ``interrupted`` when a server restart cut its job off).

Caps. A workspace keeps at most ``max_runs`` runs and ``max_workspace_bytes`` of run bytes (the
oldest runs are dropped first, and their names returned so the app can say so); the whole store
keeps at most ``max_store_bytes``: beyond it the least recently visited *other* workspaces are
emptied first, and their owners find a message on their next visit.

Damage. A database file that SQLite cannot read (not a database, corrupt pages, a failed
integrity check) is moved aside as ``runs.db.corrupt-<time>`` and a fresh one is started; the
reason is kept in :attr:`RunStore.warnings` for the app to show. A data folder that cannot be
written falls back to an in-memory database, with a warning too.

The database runs in WAL mode (readers never wait for the writer); one connection per store,
behind a lock, serves the app's threads.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["RunRecord", "RunStore", "default_home", "new_token", "valid_token"]

T = TypeVar("T")

DB_NAME = "runs.db"
#: Runs kept per workspace.
MAX_RUNS = 24
#: Bytes of stored runs (compressed npz) per workspace.
MAX_WORKSPACE_BYTES = 256 * 1024**2
#: Bytes of stored runs in the whole store.
MAX_STORE_BYTES = 2 * 1024**3

_TOKEN = re.compile(r"^[0-9a-f]{32}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workspaces (
    token     TEXT PRIMARY KEY,
    created   REAL NOT NULL,
    last_seen REAL NOT NULL,
    state     TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS runs (
    workspace TEXT NOT NULL,
    name      TEXT NOT NULL,
    created   REAL NOT NULL,
    updated   REAL NOT NULL,
    status    TEXT NOT NULL,
    seconds   REAL NOT NULL DEFAULT 0,
    nbytes    INTEGER NOT NULL,
    meta      TEXT NOT NULL,
    blob      BLOB NOT NULL,
    PRIMARY KEY (workspace, name)
);
CREATE INDEX IF NOT EXISTS runs_by_age ON runs (workspace, created);
CREATE TABLE IF NOT EXISTS messages (
    workspace TEXT NOT NULL,
    at        REAL NOT NULL,
    level     TEXT NOT NULL,
    text      TEXT NOT NULL
);
"""


def new_token() -> str:
    """A fresh workspace token: 128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


def valid_token(token: object) -> bool:
    """True for a string of 32 lowercase hex digits (the shape :func:`new_token` makes)."""
    return isinstance(token, str) and bool(_TOKEN.match(token))


def default_home() -> Path:
    """``$DNMF_HOME``, else the platform's per-user data folder + ``dnmf``."""
    env = os.environ.get("DNMF_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "dnmf"


@dataclass
class RunRecord:
    """A stored run without its bytes (:meth:`RunStore.get_blob` reads those)."""

    workspace: str
    name: str
    created: float
    updated: float
    status: str
    seconds: float
    nbytes: int
    meta: dict[str, Any] = field(default_factory=dict)


class RunStore:
    """The run database of one data folder (see the module docstring).

    Parameters
    ----------
    home : path, optional
        The data folder (created if missing); :func:`default_home` when None. ``":memory:"``
        keeps everything in memory (tests).
    max_runs, max_workspace_bytes, max_store_bytes : int
        The caps.
    """

    def __init__(self, home: str | Path | None = None, *, max_runs: int = MAX_RUNS,
                 max_workspace_bytes: int = MAX_WORKSPACE_BYTES,
                 max_store_bytes: int = MAX_STORE_BYTES) -> None:
        self.max_runs = int(max_runs)
        self.max_workspace_bytes = int(max_workspace_bytes)
        self.max_store_bytes = int(max_store_bytes)
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self.path: Path | None = None
        if str(home) != ":memory:":
            folder = default_home() if home is None else Path(home)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                self.path = folder / DB_NAME
            except OSError as exc:
                self.warnings.append(
                    f"The data folder {folder} cannot be used ({exc.strerror or exc}); runs are "
                    "kept in memory only and will not survive a server restart. Set DNMF_HOME "
                    "to a writable folder.")
        self._conn = self._open()

    # ------------------------------------------------------------------ connection & damage
    def _connect(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        conn = sqlite3.connect(target, timeout=10, check_same_thread=False,
                               isolation_level=None)
        try:
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # (takes effect on a new file)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            row = conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {row and row[0]}")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if self.path is None:
                raise
            self._move_aside(exc)
            return self._connect()

    def _move_aside(self, exc: BaseException) -> None:
        assert self.path is not None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        i = 2
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{i}")
            i += 1
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                try:
                    src.replace(Path(str(aside) + suffix))
                except OSError:
                    src.unlink(missing_ok=True)
        self.warnings.append(
            f"The run database could not be read ({exc}); it was moved aside to {aside.name} "
            "and a fresh one started. Runs stored before are not shown.")

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` in a transaction; a damaged database is moved aside once and ``fn``
        retried on a fresh one."""
        with self._lock:
            for attempt in (0, 1):
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        out = fn(self._conn)
                    except BaseException:
                        self._conn.execute("ROLLBACK")
                        raise
                    self._conn.execute("COMMIT")
                    return out
                except sqlite3.OperationalError as exc:
                    if attempt or "locked" in str(exc) or "busy" in str(exc) or self.path is None:
                        raise
                    self._recover(exc)
                except sqlite3.DatabaseError as exc:
                    if attempt or self.path is None:
                        raise
                    self._recover(exc)
            raise AssertionError("unreachable")

    def _vacuum(self) -> None:
        """Give the pages of deleted runs back to the file system (the file shrinks)."""
        with self._lock:
            try:
                self._conn.executescript("PRAGMA incremental_vacuum;")  # (runs to completion)
            except sqlite3.Error:
                pass

    def _recover(self, exc: BaseException) -> None:
        try:
            self._conn.close()
        except sqlite3.Error:
            pass
        self._move_aside(exc)
        self._conn = self._connect()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def pop_warnings(self) -> list[str]:
        with self._lock:
            out, self.warnings = self.warnings, []
            return out

    # ------------------------------------------------------------------------ workspaces
    def visit(self, token: str) -> list[tuple[str, str]]:
        """Record a visit of ``token`` (created on first sight); return and clear the messages
        left for its owner, as ``(level, text)``."""
        _check(token)
        now = time.time()

        def work(c: sqlite3.Connection):
            c.execute("INSERT INTO workspaces (token, created, last_seen) VALUES (?, ?, ?) "
                      "ON CONFLICT(token) DO UPDATE SET last_seen = excluded.last_seen",
                      (token, now, now))
            rows = c.execute("SELECT level, text FROM messages WHERE workspace = ? ORDER BY at",
                             (token,)).fetchall()
            c.execute("DELETE FROM messages WHERE workspace = ?", (token,))
            return [(str(a), str(b)) for a, b in rows]

        return self._run(work)

    def get_state(self, token: str) -> dict[str, Any]:
        """The workspace's small JSON state (e.g. the chosen sample dataset)."""
        _check(token)
        row = self._run(lambda c: c.execute("SELECT state FROM workspaces WHERE token = ?",
                                            (token,)).fetchone())
        return _loads(row[0]) if row else {}

    def set_state(self, token: str, state: dict[str, Any]) -> None:
        _check(token)
        text = json.dumps(state, default=str)
        now = time.time()
        self._run(lambda c: c.execute(
            "INSERT INTO workspaces (token, created, last_seen, state) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(token) DO UPDATE SET state = excluded.state", (token, now, now, text)))

    def forget(self, token: str) -> int:
        """Delete the workspace and all its runs; return how many runs were deleted."""
        _check(token)

        def work(c: sqlite3.Connection) -> int:
            n = c.execute("DELETE FROM runs WHERE workspace = ?", (token,)).rowcount
            c.execute("DELETE FROM workspaces WHERE token = ?", (token,))
            c.execute("DELETE FROM messages WHERE workspace = ?", (token,))
            return n

        n = self._run(work)
        self._vacuum()
        return n

    # ------------------------------------------------------------------------------ runs
    def put_run(self, token: str, name: str, blob: bytes, *, meta: dict[str, Any] | None = None,
                status: str = "done", seconds: float = 0.0, max_runs: int | None = None,
                max_workspace_bytes: int | None = None,
                created: float | None = None) -> list[str]:
        """Store (or replace) run ``name`` of workspace ``token``; enforce the caps (``max_runs``
        and ``max_workspace_bytes`` override the store's for this call; ``created`` orders it
        among the workspace's runs, default now — a job's run takes its submission time).

        Returns the names of this workspace's runs dropped to make room (oldest first). Raises
        ValueError, in words, when the run alone is larger than a workspace may hold.
        """
        _check(token)
        blob = bytes(blob)
        cap_runs = self.max_runs if max_runs is None else int(max_runs)
        cap_bytes = self.max_workspace_bytes if max_workspace_bytes is None else int(
            max_workspace_bytes)
        if len(blob) > min(cap_bytes, self.max_store_bytes):
            raise ValueError(
                f"the run '{name}' takes {_mib(len(blob))} stored, more than a workspace may "
                f"hold ({_mib(min(cap_bytes, self.max_store_bytes))}); fit "
                "smaller ranks or less data")
        meta_text = json.dumps(meta or {}, default=str, allow_nan=True)
        now = time.time()
        created_at = created

        def work(c: sqlite3.Connection) -> list[str]:
            c.execute("INSERT INTO workspaces (token, created, last_seen) VALUES (?, ?, ?) "
                      "ON CONFLICT(token) DO UPDATE SET last_seen = excluded.last_seen",
                      (token, now, now))
            old = c.execute("SELECT created FROM runs WHERE workspace = ? AND name = ?",
                            (token, name)).fetchone()
            created = old[0] if old else (now if created_at is None else created_at)
            c.execute("INSERT OR REPLACE INTO runs (workspace, name, created, updated, status, "
                      "seconds, nbytes, meta, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (token, name, created, now, status, float(seconds), len(blob), meta_text,
                       blob))
            dropped = self._enforce_workspace_caps(c, token, name, cap_runs, cap_bytes)
            self._enforce_store_cap(c, token)
            return dropped

        dropped = self._run(work)
        self._vacuum()
        return dropped

    def checkpoint(self, token: str, name: str, blob: bytes, **kwargs: Any) -> list[str]:
        """Store the partial run of a job that is still running (status ``running``); the
        keywords are :meth:`put_run`'s."""
        return self.put_run(token, name, blob, status="running", **kwargs)

    def _enforce_workspace_caps(self, c: sqlite3.Connection, token: str, keep: str,
                                max_runs: int, max_bytes: int) -> list[str]:
        rows = c.execute("SELECT name, nbytes FROM runs WHERE workspace = ? ORDER BY created, "
                         "rowid", (token,)).fetchall()
        count = len(rows)
        size = sum(n for _, n in rows)
        dropped = []
        for name, nbytes in rows:
            if count <= max_runs and size <= max_bytes:
                break
            if name == keep:
                continue
            c.execute("DELETE FROM runs WHERE workspace = ? AND name = ?", (token, name))
            dropped.append(name)
            count -= 1
            size -= nbytes
        return dropped

    def _enforce_store_cap(self, c: sqlite3.Connection, token: str) -> None:
        total = c.execute("SELECT COALESCE(SUM(nbytes), 0) FROM runs").fetchone()[0]
        if total <= self.max_store_bytes:
            return
        others = c.execute(
            "SELECT w.token, COALESCE(SUM(r.nbytes), 0), COUNT(r.name) FROM workspaces w "
            "JOIN runs r ON r.workspace = w.token WHERE w.token != ? GROUP BY w.token "
            "ORDER BY w.last_seen", (token,)).fetchall()
        now = time.time()
        for other, nbytes, count in others:
            if total <= self.max_store_bytes:
                break
            c.execute("DELETE FROM runs WHERE workspace = ?", (other,))
            c.execute("INSERT INTO messages (workspace, at, level, text) VALUES (?, ?, ?, ?)",
                      (other, now, "warning",
                       f"The server's run store was full ({_mib(self.max_store_bytes)}): the "
                       f"{count} run(s) of this workspace were removed to make room, as it was "
                       "the least recently used. Download runs you want to keep."))
            total -= nbytes
        if total > self.max_store_bytes:  # only this workspace is left: drop its oldest
            rows = c.execute("SELECT name, nbytes FROM runs WHERE workspace = ? ORDER BY "
                             "created, rowid", (token,)).fetchall()
            for name, nbytes in rows[:-1]:
                if total <= self.max_store_bytes:
                    break
                c.execute("DELETE FROM runs WHERE workspace = ? AND name = ?", (token, name))
                c.execute("INSERT INTO messages (workspace, at, level, text) VALUES "
                          "(?, ?, ?, ?)", (token, now, "warning",
                                           f"Run '{name}' was removed: the server's run store "
                                           f"is full ({_mib(self.max_store_bytes)})."))
                total -= nbytes

    def list_runs(self, token: str) -> list[RunRecord]:
        """The workspace's runs, oldest first (without their bytes)."""
        _check(token)
        rows = self._run(lambda c: c.execute(
            "SELECT workspace, name, created, updated, status, seconds, nbytes, meta FROM runs "
            "WHERE workspace = ? ORDER BY created, rowid", (token,)).fetchall())
        return [RunRecord(w, n, cr, up, st, se, nb, _loads(m))
                for w, n, cr, up, st, se, nb, m in rows]

    def get_blob(self, token: str, name: str) -> bytes | None:
        _check(token)
        row = self._run(lambda c: c.execute(
            "SELECT blob FROM runs WHERE workspace = ? AND name = ?", (token, name)).fetchone())
        return None if row is None else bytes(row[0])

    def delete_run(self, token: str, name: str) -> bool:
        _check(token)
        gone = self._run(lambda c: c.execute(
            "DELETE FROM runs WHERE workspace = ? AND name = ?", (token, name)).rowcount) > 0
        self._vacuum()
        return gone

    def rename_run(self, token: str, old: str, new: str) -> None:
        """Raises ValueError when ``new`` is taken or ``old`` missing."""
        _check(token)

        def work(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM runs WHERE workspace = ? AND name = ?",
                         (token, new)).fetchone():
                raise ValueError(f"there is already a run called '{new}'")
            if c.execute("UPDATE runs SET name = ? WHERE workspace = ? AND name = ?",
                         (new, token, old)).rowcount == 0:
                raise ValueError(f"there is no run called '{old}'")

        self._run(work)

    def set_status(self, token: str, name: str, status: str) -> bool:
        _check(token)
        return self._run(lambda c: c.execute(
            "UPDATE runs SET status = ? WHERE workspace = ? AND name = ?",
            (status, token, name)).rowcount) > 0

    def mark_interrupted(self, token: str | None = None) -> int:
        """Mark the ``running`` runs (of ``token``, or all) ``interrupted``: their jobs are gone
        (called when the app starts, and when a job dies). Returns how many."""
        def work(c: sqlite3.Connection) -> int:
            if token is None:
                return c.execute("UPDATE runs SET status = 'interrupted' WHERE status = "
                                 "'running'").rowcount
            return c.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running' "
                             "AND workspace = ?", (token,)).rowcount

        return self._run(work)

    def workspace_bytes(self, token: str) -> int:
        _check(token)
        return int(self._run(lambda c: c.execute(
            "SELECT COALESCE(SUM(nbytes), 0) FROM runs WHERE workspace = ?",
            (token,)).fetchone()[0]))

    def total_bytes(self) -> int:
        return int(self._run(lambda c: c.execute(
            "SELECT COALESCE(SUM(nbytes), 0) FROM runs").fetchone()[0]))

    def export_zip(self, token: str, safe_name: Callable[[str], str] | None = None) -> bytes:
        """Every run of the workspace in one zip: ``<name>.npz`` (loadable with
        :meth:`dnmf.FitResult.from_npz_bytes`) and ``<name>.json`` (config and provenance)."""
        _check(token)
        safe = safe_name or _safe_filename
        rows = self._run(lambda c: c.execute(
            "SELECT name, status, meta, blob FROM runs WHERE workspace = ? ORDER BY created, "
            "rowid", (token,)).fetchall())
        buf = io.BytesIO()
        used: set[str] = set()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # npz is compressed already
            for name, status, meta, blob in rows:
                stem = safe(name)
                i = 2
                while stem in used:
                    stem = f"{safe(name)}_{i}"
                    i += 1
                used.add(stem)
                z.writestr(f"{stem}.npz", bytes(blob))
                info = {"name": name, "status": status, **_loads(meta)}
                z.writestr(f"{stem}.json", json.dumps(info, indent=2, default=str))
        return buf.getvalue()


def _check(token: str) -> None:
    if not valid_token(token):
        raise ValueError("a workspace token is 32 hexadecimal digits")


def _loads(text: str) -> dict[str, Any]:
    try:
        out = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _mib(n: int) -> str:
    return f"{n / 1024**2:.1f} MiB"


def _safe_filename(name: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return keep.strip("_.") or "run"
