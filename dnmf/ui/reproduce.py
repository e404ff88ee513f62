"""The Reproduce page's calls: an experiment of :mod:`dnmf.reproduce` as a background job
(:func:`start`), followed with live progress and Stop (:func:`follow`).

The experiment runs where the workbench's fits run (:mod:`dnmf.service.jobs`): a click, a page
switch or a reload does not stop it. When it ends, the runner's thread stores each of its fits
as a run of the workspace (a stopped experiment keeps the fits it finished) and keeps its
report for the page, which shows the paper's numbers beside ours.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile
from pathlib import Path

import streamlit as st

from dnmf.reproduce import EXPERIMENT_FILES, Report, ReproduceError, run_task
from dnmf.service import jobs as jobsmod
from dnmf.ui import fit as fitmod
from dnmf.ui import runs as runstore
from dnmf.ui import workspace
from dnmf.ui.errors import message_of

__all__ = ["data_folder", "folder_status", "start", "follow", "running", "figures_zip",
           "PAPER_DATA_HELP"]

PAPER_DATA_HELP = (
    "The paper's .mat files are published with the authors' MATLAB code "
    "(github.com/vleplat/deep-KL-NMF-public). Upload them here, or start the app with "
    "DNMF_DATA_DIR set to the folder that holds them.")


def data_folder() -> Path | None:
    """``$DNMF_DATA_DIR`` when set (the app reads the paper's files from there)."""
    env = os.environ.get("DNMF_DATA_DIR")
    return Path(env) if env else None


def folder_status(experiment: str, folder: Path | None) -> dict[str, bool]:
    """Which of the experiment's files the folder holds."""
    return {f: folder is not None and (folder / f).is_file()
            for f in EXPERIMENT_FILES[experiment]}


def _uploads(experiment: str, uploaded) -> dict[str, bytes]:
    """Uploaded files by the name the experiment reads: names are matched case-insensitively,
    and a lone upload for a one-file experiment is taken as that file (its content is
    checked when it is read)."""
    needed = EXPERIMENT_FILES[experiment]
    files = {}
    for f in uploaded or []:
        name = Path(f.name).name
        match = next((n for n in needed if n.lower() == name.lower()), None)
        if match is None and len(needed) == 1 and len(uploaded) == 1:
            match = needed[0]
        files[match or name] = f.getvalue()
    return files


def start(experiment: str, *, folder: Path | None, uploaded=None, seeds: int = 1,
          quick: bool = False) -> str | None:
    """Submit ``experiment`` as a job of this workspace; return its id (None after drawing an
    error: a missing file is named with where it comes from). The data files travel with the
    job (uploads as they are, the rest read from ``folder``), so workers need no shared disk."""
    files = _uploads(experiment, uploaded)
    missing = [f for f in EXPERIMENT_FILES[experiment]
               if f not in files and not (folder is not None and (folder / f).is_file())]
    if missing:
        where = f"the data folder {folder}" if folder is not None else "no data folder is set"
        st.error(f"{experiment} needs {', '.join(missing)}: not uploaded, and {where}. "
                 + PAPER_DATA_HELP, icon=":material/error:")
        return None
    for f in EXPERIMENT_FILES[experiment]:
        if f not in files:
            files[f] = (folder / f).read_bytes()
    options: dict = {"quick": quick, "files": files}
    if experiment in ("table2", "tdt2") or seeds > 1:
        options["seeds"] = seeds
    heading = f"{experiment} · {'quick' if quick else f'{seeds} seed(s)'}"
    return workspace.submit_task(functools.partial(run_task, experiment, None, **options),
                                 f"reproduce {heading}", meta={"heading": heading})


def follow(job_id: str, stop_key: str = "stop_reproduce") -> Report | None:
    """Draw the experiment job's progress and Stop until it ends; return its report (None
    after drawing why there is none). Leaving the page does not stop it: the sidebar follows
    it, its fits land in the runs, and this page picks the report up when it is shown again."""
    runner = workspace.get_runner()
    snap = runner.job(job_id)
    if snap is None:  # it ended while the page was not shown (or the server restarted)
        return _shown(workspace.take_report(job_id), st)
    box, bar, line, stop_slot = fitmod.job_box(
        job_id, f"**{snap.spec.meta.get('heading', snap.spec.name)}**", stop_key,
        "Stop the experiment and keep the fits finished so far")
    snaps = fitmod.wait_drawing(runner, [(job_id, bar, line)])
    if snaps is None:  # still running: the sidebar follows it
        return None
    (snap,) = snaps
    if snap is None:  # another script run of this session collected it meanwhile
        return _shown(workspace.take_report(job_id), box)
    st.session_state.setdefault(workspace.FOLLOWED, set()).add(job_id)
    workspace.begin()  # its runs into the cache, the notice of a stopped run
    stop_slot.empty()
    report = workspace.take_report(job_id)
    if snap.state == jobsmod.FAILED or not isinstance(report, Report):
        bar.empty()
        if report is None:
            box.error(snap.error or "The experiment ended without a report.",
                      icon=":material/error:")
        return _shown(report, box)
    bar.progress(1.0, text=f"done · {snap.seconds:.1f} s"
                 + (" (stopped)" if report.stopped else ""))
    return _shown(report, box)


def running(job_id: str) -> bool:
    """Whether the job is still queued or running (the page keeps following it)."""
    snap = workspace.get_runner().job(job_id)
    return snap is not None and not snap.finished_state


def _shown(report, where) -> Report | None:
    """A finished job's report, with its dataset known to the session; a missing or wrong
    file is said in ``where`` (None returned)."""
    if isinstance(report, ReproduceError):
        where.error(f"{message_of(report)}\n\n{PAPER_DATA_HELP}", icon=":material/error:")
        return None
    if not isinstance(report, Report):
        return None
    runstore.datasets()[report.dataset.name] = report.dataset
    return report


def figures_zip(report: Report) -> bytes:
    """The report's JSON, table and every figure as a standalone HTML file, zipped."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{report.experiment}.json", report.to_json())
        z.writestr(f"{report.experiment}.md", report.markdown() + "\n")
        for name, table in report.tables.items():
            z.writestr(f"{report.experiment}_{name}.csv", table.to_csv(index=False))
        for name, fig in report.figures.items():
            z.writestr(f"{report.experiment}_{name}.html",
                       fig.to_html(include_plotlyjs="cdn", full_html=True))
    return buf.getvalue()
