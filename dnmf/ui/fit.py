"""Fits as background jobs, followed on the page and in the sidebar, with a Stop that works.

A fit is submitted to the job runner (:func:`dnmf.ui.workspace.submit`; a dask.distributed
cluster, or threads under ``DNMF_JOBS=threads``) and then *followed*: the page that started it
draws its progress (phase, iteration, per-layer errors, place in the queue) from the script
thread, every :data:`PERIOD` seconds, until the job ends — then the page goes on with the run,
as before. The fit does not run in the script thread, so anything the user does meanwhile (a
click, another page, the toolbar's stop) only interrupts the *following*: the job runs on, the
sidebar's :func:`jobs_panel` (a fragment that refreshes itself while jobs run) keeps showing it
on every page, and when it ends the run is in the store and the page is redrawn with it.

Stop (on the page or in the sidebar) asks the job to stop: it stops within 0.5 s and keeps its
partial result. The click reruns the page, whose first step (:func:`dnmf.ui.workspace.begin`)
waits for the stopped job and shows the partial run with a notice — no "next click".
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

import streamlit as st

from dnmf.service import jobs as jobsmod
from dnmf.ui import config as cfgmod
from dnmf.ui import runs as runstore
from dnmf.ui import workspace

#: Seconds between two progress redraws.
PERIOD = 0.25
#: Seconds a page follows its jobs before leaving them to the sidebar panel (the page can be
#: left at any moment anyway; AppTest lowers it to run the page to its end).
FOREGROUND = float(os.environ.get("DNMF_FOREGROUND_WAIT", "3600"))
#: Seconds between two refreshes of the sidebar's job panel while jobs run.
PANEL_PERIOD = 0.5

_LOCK = threading.Lock()
_WARMUP: list[threading.Thread] = []


def warm_up_kernels() -> None:
    """Compile (or load from numba's disk cache) dnmf's compiled kernels for float64 in a
    background thread, once per process, so the first fit a user starts does not wait for
    the compiler (measured here: about 20 s cold, 0.3 s from the cache). Cluster workers load
    them from the same disk cache."""
    with _LOCK:
        if _WARMUP:
            return

        def work() -> None:
            try:
                from dnmf import _kernels

                _kernels.warmup(dtypes=("float64",))
            except Exception:  # a failed warm-up only costs the first fit its compile time
                pass

        thread = threading.Thread(target=work, name="dnmf-warmup", daemon=True)
        _WARMUP.append(thread)
        thread.start()


def _fmt_errors(errors) -> str:
    parts = []
    for i, e in enumerate(errors or [], start=1):
        ok = e is not None and math.isfinite(e)
        parts.append(f"layer {i}: " + (f"{e:.4g}" if ok else "–"))
    return " · ".join(parts)


def progress_text(job: jobsmod.Job, runner: jobsmod.JobRunner) -> tuple[float, str]:
    """``(fraction, words)`` for a job: its place in the queue, or phase · iteration i of N."""
    if job.state == jobsmod.QUEUED:
        place = runner.place(job.id)
        if not runner.executor.ready():
            return 0.0, "waiting for the job cluster to start…"
        return 0.0, (f"queued · place {place} of {runner.queued()} "
                     f"({runner.running()} running)" if place else "queued…")
    p = job.progress
    if not p:
        return 0.0, "starting…"
    frac = min(1.0, p["iteration"] / max(1, p["total"]))
    if p.get("unit") == "‰":  # a task (an experiment), not one fit
        return frac, f"{p['phase']} · {frac:.0%} · {p['seconds']:.1f} s"
    return frac, (f"{p['phase']} · iteration {p['iteration']} of {p['total']} · "
                  f"{p['seconds']:.1f} s")


def _stop(job_id: str) -> None:
    workspace.get_runner().stop(job_id)


def fit_run(cfg: dict[str, Any], dataset, run_name: str, *, source: dict | None = None,
            label: str | None = None, stop_key: str = "stop_fit"):
    """Submit ``cfg`` on ``dataset`` as run ``run_name`` and follow it; return the stored
    :class:`Run` once it ended (None, after saying why, when it failed or is left running)."""
    label = label or cfgmod.label(cfg)
    job_id = workspace.submit(cfg, dataset, run_name, source=source, label=label)
    (run,) = follow([(job_id, f"**{label}** on *{dataset.name}* → run **{run_name}**",
                      stop_key)])
    return run


def fit_pair(cfg: dict[str, Any], dataset, base_name: str, *, source: dict | None = None):
    """The model of ``cfg`` and its baseline with the same settings (for deep models the
    multilayer baseline gets the deep run's total iteration budget per layer, the paper's
    protocol), submitted together so they run side by side. Returns the two runs (None for
    one that failed or is left running)."""
    twin = cfgmod.baseline_config(cfg)
    if twin is None:
        raise ValueError(f"{cfgmod.label(cfg)} has no baseline to fit beside it")
    first_name = runstore.unique_name(f"{base_name} {cfgmod.spec_of(cfg).name}")
    second_name = runstore.unique_name(f"{base_name} {cfgmod.spec_of(twin).name}")
    if second_name == first_name:
        second_name = runstore.unique_name(f"{second_name} (2)")
    fits = [(c, name, cfgmod.label(c)) for c, name in ((cfg, first_name), (twin, second_name))]
    job_ids = workspace.submit_all(fits, dataset, source=source)
    items = [(job_id, f"**{label}** on *{dataset.name}* → run **{name}**", key)
             for job_id, (_, name, label), key
             in zip(job_ids, fits, ("stop_fit_model", "stop_fit_baseline"))]
    first, second = follow(items)
    return first, second


def job_box(job_id: str, heading: str, stop_key: str, stop_help: str):
    """A job's bordered box: its heading, a Stop button and a progress bar above a caption
    line. Returns ``(box, bar, line, stop_slot)``."""
    box = st.container(border=True)
    with box:
        head, stop_col = st.columns([5, 1], vertical_alignment="center")
        head.markdown(heading)
        stop_slot = stop_col.empty()
        stop_slot.button("Stop", key=stop_key, icon=":material/stop_circle:", help=stop_help,
                         width="stretch", on_click=_stop, args=(job_id,))
        bar = st.progress(0.0, text="queued…")
        line = st.empty()
    return box, bar, line, stop_slot


def wait_drawing(runner: jobsmod.JobRunner, slots: list[tuple[str, Any, Any]]):
    """Redraw each job's bar (and its layer errors in ``line``) every :data:`PERIOD` until
    all ``(job id, bar, line)`` ended; return their last snapshots (None for a job the runner
    forgot), or None after :data:`FOREGROUND` seconds (the bars then point to the sidebar)."""
    deadline = time.monotonic() + FOREGROUND
    while True:
        snaps = [runner.job(job_id) for job_id, _, _ in slots]
        for snap, (_, bar, line) in zip(snaps, slots):
            if snap is not None and not snap.finished_state:
                frac, text = progress_text(snap, runner)
                bar.progress(frac, text=text)
                if snap.progress and snap.progress.get("layer_errors"):
                    line.caption(r"Errors $D_\beta(W_{\ell-1}, W_\ell H_\ell)$: "
                                 + _fmt_errors(snap.progress["layer_errors"]))
        if all(s is None or s.finished_state for s in snaps):
            return snaps
        if time.monotonic() > deadline:
            for _, bar, _ in slots:
                bar.progress(0.0, text="still running — follow it in the sidebar")
            return None
        time.sleep(PERIOD)


def follow(items: list[tuple[str, str, str]]) -> list:
    """Draw each job's progress box (``(job id, heading, stop key)``) until all ended; return
    their stored runs (None for a failed job, or for all when the page stops following)."""
    runner = workspace.get_runner()
    slots = [(job_id, *job_box(job_id, heading, key,
                               "Stop the fit and keep what it computed so far"))
             for job_id, heading, key in items]
    snaps = wait_drawing(runner, [(job_id, bar, line) for job_id, _, bar, line, _ in slots])
    if snaps is None:
        return [None] * len(slots)
    names = [workspace.stored_name(job_id) for job_id, *_ in slots]
    st.session_state[workspace.FOLLOWED] = {job_id for job_id, *_ in slots}
    workspace.begin()  # the finished runs into the cache, notices for stopped/failed ones
    out = []
    for snap, name, (_, box, bar, line, stop_slot) in zip(snaps, names, slots):
        stop_slot.empty()
        run = runstore.runs().get(name) if name else None
        if snap is None or run is None:
            bar.empty()
            if snap is not None and snap.error:
                box.error(snap.error, icon=":material/error:")
            out.append(None)
            continue
        res = run.result
        if snap.state == jobsmod.STOPPED:
            done = f"stopped · {res.n_iter} iterations kept · {run.seconds:.2f} s"
        else:
            done = f"done · {res.n_iter} iterations · {run.seconds:.2f} s"
        bar.progress(1.0, text=done)
        line.caption("Final errors: " + _fmt_errors(list(res.layer_errors)))
        out.append(run)
    return out


def jobs_panel() -> None:
    """The sidebar's job status on every page: a busy line while anything of this workspace
    runs or waits, each job's progress and a Stop; it refreshes itself while jobs run and
    redraws the page when one ends (so its run shows up without a click)."""
    active = bool(workspace.active_jobs())
    st.session_state["_panel_active"] = active  # only a later, fragment-only run redraws all

    @st.fragment(run_every=PANEL_PERIOD if active else None)
    def panel() -> None:
        runner = workspace.get_runner()
        jobs = workspace.active_jobs()
        was_active = st.session_state.get("_panel_active", False)
        st.session_state["_panel_active"] = bool(jobs)
        if not jobs:
            if was_active:
                st.rerun(scope="app")  # a job ended: show its run on the page
            return
        running = sum(j.state == jobsmod.RUNNING for j in jobs)
        queued = len(jobs) - running
        st.markdown(f":material/progress_activity: **Busy** · {running} running"
                    + (f" · {queued} queued" if queued else ""))
        for job in jobs:
            frac, text = progress_text(job, runner)
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            c1.progress(frac, text=f"{job.spec.meta.get('name', 'run')}: {text}")
            c2.button("", key=f"panel_stop_{job.id}", icon=":material/stop_circle:",
                      help="Stop this job and keep what it computed so far",
                      on_click=_stop, args=(job.id,))

    with st.sidebar:
        panel()
