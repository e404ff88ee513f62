"""The browser's workspace: its token in the URL, its runs in the store, its jobs in the runner.

- The **token** (``?workspace=…``, 32 hex digits) is made on a browser's first visit and kept in
  the URL on every page, so a reload or the same link later brings the workspace back; whoever
  has the link sees its runs (the sidebar says so). A well-formed token nobody used yet is
  simply an empty workspace; a malformed one is replaced by a fresh token, with a notice.
- The **store** (:class:`dnmf.service.store.RunStore`, one per server process) holds the runs;
  ``st.session_state["runs"]`` is only the cache in front of it: :func:`begin` brings the cache
  in line with the store at the start of every script run (loading only new or changed runs),
  and :mod:`dnmf.ui.runs` writes additions, renames and deletions through
  (:class:`Backing`).
- The **runner** (:mod:`dnmf.service.jobs`, one per process) runs the fits. When a job ends,
  the runner's thread stores its run (final, stopped or failed) at once — so a run is kept even
  if no page of its session is open — and the session that submitted it gets a notice on its
  next script run (:func:`begin`).

The store and runner are process-wide resources (``st.cache_resource``); they hold no fitted
model in memory beyond a job's lifetime, and every read is scoped by the workspace token.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Any

import streamlit as st

from dnmf import FitResult
from dnmf.service import jobs as jobsmod
from dnmf.service.store import RunStore, new_token, valid_token
from dnmf.ui import runs as runstore

_LOG = logging.getLogger(__name__)

TOKEN = "workspace_token"
MY_JOBS = "my_jobs"  # ids of the jobs this session submitted, not yet reported
FOLLOWED = "_followed_jobs"  # jobs whose page shows their failure itself
SYNCED = "_store_synced"  # {name: updated} of the runs in the cache
#: Seconds :func:`begin` waits for a job the user just stopped (it stops within 0.5 s), so the
#: page that follows the click shows the partial run at once.
STOP_WAIT = 2.0

#: job id → the name its run was stored under (set by the runner's thread)
_STORED: dict[str, str] = {}
_STORED_LOCK = threading.Lock()


# ------------------------------------------------------------------- process-wide resources
@st.cache_resource(show_spinner=False)
def get_store() -> RunStore:
    """The run store of this server process (``DNMF_HOME``). Runs left ``running`` by an
    earlier process are marked ``interrupted``: their jobs died with it."""
    store = RunStore(max_runs=runstore.MAX_RUNS, max_workspace_bytes=runstore.MAX_BYTES,
                     max_store_bytes=int(float(os.environ.get("DNMF_STORE_MAX_MB", "2048"))
                                         * 1024**2))
    try:
        store.mark_interrupted()
    except Exception:  # a store that cannot be written still serves reads
        _LOG.exception("could not mark interrupted runs")
    return store


@st.cache_resource(show_spinner=False)
def get_runner() -> jobsmod.JobRunner:
    """The job runner of this server process (see :func:`dnmf.service.jobs.runner_from_env`);
    an embedded cluster starts in the background on the first call."""
    store = get_store()
    return jobsmod.runner_from_env(on_checkpoint=lambda job, data: _checkpoint(store, job, data),
                                   on_finish=lambda job: _finished(store, job))


def start_background() -> None:
    """Start the store and the job cluster (app.py calls this at every script run; the work
    is done once per process)."""
    get_runner()


# ----------------------------------------------------------------------- the runner's side
def provenance(dataset, source: dict | None) -> dict[str, Any]:
    """Where a run's data came from (kept with the run)."""
    return {"name": dataset.name, "kind": dataset.kind, "shape": list(dataset.shape),
            "sparse": bool(getattr(dataset, "is_sparse", False)), "source": source}


def _run_of(job: jobsmod.Job, result: FitResult, status: str) -> runstore.Run:
    meta = job.spec.meta
    return runstore.Run(name=meta["name"], result=result, config=meta["config"],
                        dataset=meta["dataset"]["name"], kind=meta["dataset"]["kind"],
                        seconds=float(job.seconds or result.timings.get("total", 0.0)),
                        status=status)


def _store_meta(run: runstore.Run, job: jobsmod.Job | None = None,
                dataset_meta: dict | None = None) -> dict[str, Any]:
    out = {"config": run.config, "kind": run.kind,
           "dataset": dataset_meta or {"name": run.dataset, "kind": run.kind}}
    if job is not None:
        out["job"] = job.id
        out["progress"] = job.progress
    return out


def _free_name(store: RunStore, token: str, name: str, job_id: str) -> str:
    """``name``, unless another run (not this job's own checkpoint) has it."""
    taken = {r.name: r.meta.get("job") for r in store.list_runs(token)}
    if name not in taken or taken[name] == job_id:
        return name
    i = 2
    while f"{name} ({i})" in taken and taken[f"{name} ({i})"] != job_id:
        i += 1
    return f"{name} ({i})"


def _checkpoint(store: RunStore, job: jobsmod.Job, data: bytes) -> None:
    result = FitResult.from_npz_bytes(data)
    run = _run_of(job, result, "running")
    with _STORED_LOCK:
        name = _STORED.get(job.id) or _free_name(store, job.spec.workspace, run.name, job.id)
        _STORED[job.id] = name
    run.name = name
    store.checkpoint(job.spec.workspace, name, runstore.export_npz(run),
                     meta=_store_meta(run, job, job.spec.meta["dataset"]), seconds=run.seconds,
                     created=job.submitted, **_caps())


def _finished(store: RunStore, job: jobsmod.Job) -> None:
    if job.spec.task is not None:
        _finished_task(store, job)
        return
    token = job.spec.workspace
    with _STORED_LOCK:
        name = _STORED.get(job.id)
    if job.result is None:  # failed, or stopped before it started
        if name is not None:  # its last checkpoint is kept as the partial run
            store.set_status(token, name, "interrupted")
        return
    result = FitResult.from_npz_bytes(job.result)
    status = "stopped" if job.state == jobsmod.STOPPED else "done"
    run = _run_of(job, result, status)
    run.name = name or _free_name(store, token, run.name, job.id)
    dropped = store.put_run(token, run.name, runstore.export_npz(run),
                            meta=_store_meta(run, job, job.spec.meta["dataset"]),
                            status=status, seconds=run.seconds, created=job.submitted,
                            **_caps())
    with _STORED_LOCK:
        _STORED[job.id] = run.name
    if dropped:
        job.spec.meta["dropped"] = dropped


#: job id → the result of a finished task job (an experiment's Report), until its page takes it
_REPORTS: dict[str, Any] = {}
_REPORTS_KEPT = 16  # reports nobody took (the page was closed) are dropped, oldest first


def _finished_task(store: RunStore, job: jobsmod.Job) -> None:
    """An experiment ended: store each of its fits as a run (stopped ones included), keep its
    report for the page that follows it."""
    report = job.result
    if report is None:
        return
    if isinstance(report, Exception):  # a missing or wrong data file: nothing to store
        job.spec.meta["problem"] = str(report)
        _keep_report(job.id, report)
        return
    token = job.spec.workspace
    status = "stopped" if job.state == jobsmod.STOPPED else "done"
    stored, dropped = [], []
    ds = report.dataset
    dataset_meta = {"name": ds.name, "kind": ds.kind, "shape": list(ds.shape),
                    "sparse": bool(getattr(ds, "is_sparse", False)),
                    "source": {"type": "reproduce", "experiment": report.experiment}}
    for name, result in report.fits.items():
        run = runstore.Run(name=name, result=result,
                           config={**result.config, "app": {"reproduce": report.experiment}},
                           dataset=ds.name, kind=ds.kind,
                           seconds=float(result.timings.get("total", 0.0)), status=status)
        run.name = _free_name(store, token, run.name, job.id)
        dropped += store.put_run(token, run.name, runstore.export_npz(run),
                                 meta=_store_meta(run, job, dataset_meta), status=status,
                                 seconds=run.seconds, created=job.submitted, **_caps())
        stored.append(run.name)
    job.spec.meta["stored"] = stored
    job.spec.meta["dropped"] = dropped
    _keep_report(job.id, report)


def _keep_report(job_id: str, report) -> None:
    with _STORED_LOCK:
        _REPORTS[job_id] = report
        while len(_REPORTS) > _REPORTS_KEPT:
            _REPORTS.pop(next(iter(_REPORTS)))


def submit_task(task, name: str, meta: dict[str, Any] | None = None) -> str:
    """Queue a task job (an experiment; see :class:`dnmf.service.jobs.JobSpec`) of this
    workspace; return its id."""
    tok = st.session_state.get(TOKEN) or token()
    spec = jobsmod.JobSpec(workspace=tok, build=None, X=None, name=name,
                           session=_session_id(), meta={"name": name, **(meta or {})},
                           task=task)
    job_id = get_runner().submit(spec)
    st.session_state.setdefault(MY_JOBS, []).append(job_id)
    return job_id


def take_report(job_id: str):
    """The result of the finished task job ``job_id`` (None if there is none, or taken)."""
    with _STORED_LOCK:
        return _REPORTS.pop(job_id, None)


def _caps() -> dict[str, int]:
    """The workspace caps are :mod:`dnmf.ui.runs`' (one source for the page's warnings)."""
    return {"max_runs": runstore.MAX_RUNS, "max_workspace_bytes": runstore.MAX_BYTES}


# ---------------------------------------------------------------------- the session's side
class Backing:
    """Writes the session cache's changes through to the store (used by :mod:`runs`)."""

    def __init__(self, store: RunStore, token: str) -> None:
        self.store, self.token = store, token

    def put(self, run: runstore.Run) -> list[str]:
        dropped = self.store.put_run(self.token, run.name, runstore.export_npz(run),
                                     meta=_store_meta(run), status=run.status,
                                     seconds=run.seconds, **_caps())
        _synced()[run.name] = None
        return dropped

    def delete(self, name: str) -> None:
        self.store.delete_run(self.token, name)
        _synced().pop(name, None)

    def rename(self, old: str, new: str) -> None:
        self.store.rename_run(self.token, old, new)
        _synced()[new] = _synced().pop(old, None)


def _synced() -> dict[str, float | None]:
    return st.session_state.setdefault(SYNCED, {})


def token() -> str:
    """This browser's workspace token (from the URL, else the session, else a new one); the
    URL always carries it afterwards."""
    from_url = st.query_params.get("workspace")
    current = st.session_state.get(TOKEN)
    if from_url is not None and valid_token(from_url):
        chosen = from_url
    elif current is not None:
        chosen = current
    else:
        chosen = new_token()
    if from_url is not None and not valid_token(from_url):
        runstore.notify("The workspace in this link is not a valid workspace key (32 hex "
                        "digits), so a new, empty workspace was started.", "info")
    if chosen != current:
        _reset_cache()
        st.session_state[TOKEN] = chosen
    if from_url != chosen:
        st.query_params["workspace"] = chosen
    return chosen


def _reset_cache() -> None:
    for key in (runstore.RUNS, runstore.DATASETS, SYNCED, MY_JOBS):
        st.session_state.pop(key, None)


def begin() -> str:
    """Start of every script run: the token, the store's messages, the finished jobs of this
    session, and the run cache brought in line with the store. Returns the token."""
    store = get_store()
    tok = token()
    first = runstore.BACKING not in st.session_state
    st.session_state[runstore.BACKING] = Backing(store, tok)
    try:
        for level, text in store.visit(tok):  # (a damaged database is replaced here)
            runstore.notify(text, level)
        _collect_jobs(tok)
        _sync(store, tok)
        if first:
            _restore_dataset(store, tok)
    except Exception as exc:  # the store is down: the app still works from the cache
        _LOG.exception("run store unavailable")
        runstore.notify(f"The run store cannot be read ({exc}); runs of this session are kept "
                        "until the page is closed.", "warning")
    for text in store.pop_warnings():
        _broadcast_warning(text)
    for text in _pending_broadcasts():
        runstore.notify(text, "warning")
    return tok


_BROADCAST: list[tuple[float, str]] = []


def _broadcast_warning(text: str) -> None:
    """A store-wide warning (a database moved aside) for every session of the next minutes."""
    _BROADCAST.append((time.time(), text))


def _pending_broadcasts() -> list[str]:
    seen = st.session_state.setdefault("_seen_broadcasts", set())
    out = []
    for at, text in _BROADCAST:
        if (at, text) not in seen and time.time() - at < 600:
            seen.add((at, text))
            out.append(text)
    return out


def _collect_jobs(tok: str) -> None:
    """Notices for this session's jobs that ended (waiting briefly for ones just stopped)."""
    runner = get_runner()
    mine = st.session_state.get(MY_JOBS, [])
    deadline = time.monotonic() + STOP_WAIT
    keep = []
    for job_id in mine:
        job = runner.job(job_id)
        if job is not None and not job.finished_state and job.stop_requested is not None:
            job = runner.wait(job_id, timeout=max(0.0, deadline - time.monotonic()))
        if job is None:
            continue
        if not job.finished_state:
            keep.append(job_id)
            continue
        with _STORED_LOCK:
            name = _STORED.pop(job_id, None)
        _report(job, name)
        runner.mark_collected(job_id)
    st.session_state[MY_JOBS] = keep


def _report(job: jobsmod.Job, name: str | None) -> None:
    if job.spec.task is not None:
        _report_task(job)
        return
    label = job.spec.meta.get("name", "run")
    p = job.progress or {}
    where = (f"iteration {p.get('iteration')} of {p.get('total')}"
             if p else "before its first iteration")
    if job.state == jobsmod.FAILED and job.id not in st.session_state.get(FOLLOWED, ()):
        runstore.notify(f"Run '{label}': {job.error}", "error")
    elif job.state == jobsmod.STOPPED and name:
        runstore.notify(f"Fit stopped at {where}; the partial run '{name}' is kept "
                        f"({job.seconds:.1f} s).", "warning")
    elif job.state == jobsmod.STOPPED:
        runstore.notify(f"The fit '{label}' was stopped {where}; nothing to keep.", "info")
    _notify_dropped(job)


def _notify_dropped(job: jobsmod.Job) -> None:
    for dropped in job.spec.meta.get("dropped", []):
        runstore.notify(f"Run '{dropped}' was dropped: a workspace keeps at most "
                        f"{runstore.MAX_RUNS} runs and {runstore.MAX_BYTES // 1024**2} MiB "
                        "(oldest dropped first).", "warning")


def _report_task(job: jobsmod.Job) -> None:
    label = job.spec.meta.get("name", "experiment")
    stored = job.spec.meta.get("stored", [])
    followed = job.id in st.session_state.get(FOLLOWED, ())
    if job.state == jobsmod.FAILED and not followed:
        runstore.notify(f"{label}: {job.error}", "error")
    elif job.spec.meta.get("problem") and not followed:
        runstore.notify(f"{label}: {job.spec.meta['problem']}", "error")
    elif job.state == jobsmod.STOPPED:
        runstore.notify(f"{label} was stopped; its {len(stored)} finished fit(s) are kept"
                        + (f": {', '.join(stored)}." if stored else "."), "warning")
    elif job.state == jobsmod.DONE and not followed:
        runstore.notify(f"{label} finished; its {len(stored)} fit(s) are in the runs. Open "
                        "the Reproduce page to see its numbers.", "success")
    _notify_dropped(job)


def _sync(store: RunStore, tok: str) -> None:
    """Make ``st.session_state["runs"]`` the store's finished runs (cached ones reused)."""
    records = [r for r in store.list_runs(tok) if r.status != "running"]
    cache = runstore.runs()
    synced = _synced()
    wanted = {r.name: r for r in records}
    for name in list(cache):
        if name not in wanted:
            cache.pop(name)
            synced.pop(name, None)
    fresh: dict[str, runstore.Run] = {}
    for rec in records:
        run = cache.get(rec.name)
        if run is None or (synced.get(rec.name) not in (None, rec.updated)):
            blob = store.get_blob(tok, rec.name)
            if blob is None:
                continue
            try:
                run = runstore.import_npz(blob, f"{rec.name}.npz")
            except ValueError:
                _LOG.warning("stored run %r of a workspace is unreadable; skipped", rec.name)
                continue
            run.name = rec.name
            run.created = rec.created
            run.status = rec.status
            run.config = {**run.config, **(rec.meta.get("config") or {})}
        synced[rec.name] = rec.updated
        fresh[rec.name] = run
    cache.clear()
    cache.update(fresh)


def _restore_dataset(store: RunStore, tok: str) -> None:
    """A new session of a known workspace gets its last embedded sample back."""
    from dnmf.ui import state

    if state.current_dataset() is not None:
        return
    src = store.get_state(tok).get("dataset_source")
    if not src or src.get("type") != "sample":
        return
    from dnmf.datasets import load_sample

    try:
        ds = load_sample(src["name"], **(src.get("options") or {}))
    except (ValueError, KeyError, TypeError):
        return
    state.set_dataset(ds, src)


def remember_dataset(source: dict | None) -> None:
    """Keep the chosen dataset's source with the workspace (embedded samples come back)."""
    tok = st.session_state.get(TOKEN)
    if tok is None:
        return
    try:
        store = get_store()
        st_state = store.get_state(tok)
        st_state["dataset_source"] = source
        store.set_state(tok, st_state)
    except Exception:
        _LOG.exception("dataset choice not stored")


def forget() -> None:
    """Delete this workspace and start a new one (the caller reruns)."""
    tok = st.session_state.get(TOKEN)
    runner = get_runner()
    if tok is not None:
        for job in runner.jobs(workspace=tok):
            runner.stop(job.id)
        get_store().forget(tok)
    _reset_cache()
    st.session_state.pop(TOKEN, None)
    st.session_state.pop(runstore.BACKING, None)
    new = new_token()
    st.session_state[TOKEN] = new
    st.query_params["workspace"] = new
    runstore.notify("The workspace and all its runs were deleted; this is a new, empty one.",
                    "info")


def download_all(tok: str) -> bytes:
    """Every run of workspace ``tok`` as one zip (npz + json per run)."""
    return get_store().export_zip(tok, runstore.safe_filename)


# ------------------------------------------------------------------------------ submitting
def submit(cfg: dict[str, Any], dataset, run_name: str, *, source: dict | None = None,
           label: str | None = None) -> str:
    """Queue a fit of ``cfg`` on ``dataset`` as run ``run_name``; return the job id."""
    return submit_all([(cfg, run_name, label)], dataset, source=source)[0]


def submit_all(fits: list[tuple[dict[str, Any], str, str | None]], dataset, *,
               source: dict | None = None) -> list[str]:
    """Queue fits ``(cfg, run name, label)`` of ``dataset`` together (they run side by side,
    sharing the cores); return their job ids."""
    from dnmf.labels import semi_supervised_fit_args
    from dnmf.ui import config as cfgmod

    tok = st.session_state.get(TOKEN) or token()
    specs = []
    for cfg, run_name, label in fits:
        spec_ = cfgmod.spec_of(cfg)
        fit_kwargs = (semi_supervised_fit_args(dataset, float(cfg.get("known_labels", 0)))
                      if spec_ is not None and spec_.capabilities.labels else {})
        run_cfg = dict(cfg)
        if source:
            run_cfg["app"] = {"sample": source}
        specs.append(jobsmod.JobSpec(
            workspace=tok,
            build=functools.partial(cfgmod.make_estimator, dict(cfg)),
            X=dataset.X,
            fit_kwargs=fit_kwargs,
            name=run_name,
            session=_session_id(),
            meta={"name": run_name, "config": run_cfg, "label": label,
                  "dataset": provenance(dataset, source)},
        ))
    job_ids = get_runner().submit_all(specs)
    st.session_state.setdefault(MY_JOBS, []).extend(job_ids)
    runstore.datasets()[dataset.name] = dataset
    return job_ids


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def active_jobs() -> list[jobsmod.Job]:
    """The workspace's jobs that are queued or running."""
    tok = st.session_state.get(TOKEN)
    if tok is None:
        return []
    return [j for j in get_runner().jobs(workspace=tok) if not j.finished_state]


def stored_name(job_id: str) -> str | None:
    with _STORED_LOCK:
        return _STORED.get(job_id)


# ------------------------------------------------------------------------------ the sidebar
def sidebar() -> None:
    """The workspace's key, what it means, and its two actions (download all, forget)."""
    tok = st.session_state.get(TOKEN)
    if tok is None:
        return
    runner = get_runner()
    with st.sidebar:
        st.caption(f"**Workspace** `{tok[:8]}…` — kept in this page's link: anyone with this "
                   "link sees these runs. Bookmark it to come back.")
        ex = runner.executor
        if getattr(ex, "error", None):
            st.error(f"Fits cannot run: {ex.error}", icon=":material/error:")
        elif not ex.ready():
            st.caption(":material/hourglass_top: Starting the job cluster…")
        if runstore.runs():
            st.download_button("Download all runs", data=functools.partial(download_all, tok),
                               on_click="ignore",
                               file_name=f"dnmf-runs-{tok[:8]}.zip", mime="application/zip",
                               icon=":material/folder_zip:", key="dl_all_runs",
                               width="stretch")
        with st.popover("Forget this workspace…", icon=":material/delete_forever:",
                        width="stretch"):
            st.caption("Delete this workspace and all its runs from the server. This cannot be "
                       "undone; download the runs first if you want them.")
            st.button("Forget this workspace", key="forget_workspace", type="primary",
                      on_click=forget)


def active_jobs_of(tok: str) -> list[jobsmod.Job]:
    """The queued or running jobs of workspace ``tok`` (tests, tools)."""
    return [j for j in get_runner().jobs(workspace=tok) if not j.finished_state]
