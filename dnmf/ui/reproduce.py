"""The Reproduce page's one call: run an experiment of :mod:`dnmf.reproduce` with live progress
and Stop, and keep its fits in the session's runs.

Stop works as in :mod:`dnmf.ui.fit`: the click makes Streamlit raise its control exception at
the next ``st.*`` call, which is a progress update; the progress function catches it and
returns False, the experiment stops its current fit and returns what it has, the fits go to
:mod:`dnmf.ui.fit`'s mailbox (the interrupted script may not write session state) and the
exception is raised again; the next script run stores them with a notice.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import streamlit as st

from dnmf.reproduce import EXPERIMENT_FILES, Report, ReproduceError, run_experiment
from dnmf.ui import fit as fitmod
from dnmf.ui import runs as runstore
from dnmf.ui.errors import message_of

__all__ = ["data_folder", "folder_status", "run", "figures_zip", "PAPER_DATA_HELP"]

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


class _Interrupt:
    exc: BaseException | None = None


def run(experiment: str, *, folder: Path | None, uploaded=None, seeds: int = 1,
        quick: bool = False, stop_key: str = "stop_reproduce") -> Report | None:
    """Run ``experiment`` with a progress bar and a Stop button; store its fits as runs.

    Returns the :class:`~dnmf.reproduce.Report`, or None after drawing an error (a missing or
    wrong file names the file and where it comes from).
    """
    files = _uploads(experiment, uploaded)
    missing = [f for f in EXPERIMENT_FILES[experiment]
               if f not in files and not (folder is not None and (folder / f).is_file())]
    if missing:
        where = f"the data folder {folder}" if folder is not None else "no data folder is set"
        st.error(f"{experiment} needs {', '.join(missing)}: not uploaded, and {where}. "
                 + PAPER_DATA_HELP, icon=":material/error:")
        return None
    box = st.container(border=True)
    with box:
        head, stop_col = st.columns([5, 1], vertical_alignment="center")
        head.markdown(f"**{experiment}** · {'quick' if quick else f'{seeds} seed(s)'}")
        stop_slot = stop_col.empty()
        stop_slot.button("Stop", key=stop_key, icon=":material/stop_circle:",
                         help="Stop the experiment and keep the fits finished so far",
                         width="stretch")
        bar = st.progress(0.0, text="starting…")
    state = _Interrupt()
    t0 = time.perf_counter()

    def progress(message: str, fraction: float):
        if state.exc is not None:
            return False
        try:
            bar.progress(min(1.0, fraction),
                         text=f"{message} · {time.perf_counter() - t0:.1f} s")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # Streamlit's rerun/stop request arrives here
            state.exc = exc
            return False
        return None

    options = {"quick": quick, "progress": progress, "files": files or None}
    if experiment in ("table2", "tdt2") or seeds > 1:
        options["seeds"] = seeds
    try:
        report = run_experiment(experiment, folder, **options)
    except ReproduceError as exc:
        if state.exc is not None:
            raise state.exc from None
        bar.empty()
        box.error(f"{message_of(exc)}\n\n{PAPER_DATA_HELP}", icon=":material/error:")
        return None
    except ValueError as exc:
        if state.exc is not None:
            raise state.exc from None
        bar.empty()
        box.error(message_of(exc), icon=":material/error:")
        return None
    seconds = time.perf_counter() - t0
    new_runs = [runstore.Run(name=name, result=result,
                             config={**result.config, "app": {"reproduce": experiment}},
                             dataset=report.dataset.name, kind=report.dataset.kind,
                             seconds=seconds)
                for name, result in report.fits.items()]
    if state.exc is not None:
        sid = fitmod._session_id()
        with fitmod._LOCK:  # no session state access from an interrupted run
            for r in new_runs:
                fitmod._MAILBOX.setdefault(sid, []).append(
                    (r, report.dataset, f"{experiment} was stopped; its run '{{name}}' is kept."))
        raise state.exc
    for r in new_runs:
        runstore.add_run(r, report.dataset)
    bar.progress(1.0, text=f"done · {seconds:.1f} s" + (" (stopped)" if report.stopped else ""))
    stop_slot.empty()
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
