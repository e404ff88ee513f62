"""Reproduce: an experiment of the paper's Section 4, its numbers beside the paper's."""

import streamlit as st

from dnmf.reproduce import EXPERIMENT_FILES
from dnmf.ui import reproduce as rep
from dnmf.ui import widgets

widgets.page_setup()
st.title("Reproduce the paper")
widgets.show_notices()

LABELS = {
    "table2": "CBCL faces — Table 2, Figs 2–3 (deep vs multilayer KL-NMF)",
    "tdt2": "TDT2 news — Fig. 4, Tables 3–4 (topics and their merges)",
    "moffett": "Moffett Field — Figs 6–7 (min-vol deep KL-NMF, LC-DMF, multilayer)",
    "samson": "Samson — Figs 10–11, SAD / MRSA / abundance RMSE vs end3.mat",
    "tumor": "Tumor (MRSI) — Figs 8–9",
    "jasper": "Jasper Ridge — abundance maps (r = 6, 4)",
}

# ------------------------------------------------------------------------------------ widgets
experiment = st.selectbox("Experiment", list(LABELS), format_func=LABELS.get,
                          key="reproduce_experiment")
needed = EXPERIMENT_FILES[experiment]
folder = rep.data_folder()
status = rep.folder_status(experiment, folder)
if folder is not None:
    st.caption(f"Data folder (DNMF_DATA_DIR): `{folder}` — "
               + ", ".join(f"{f} {'✓' if ok else 'missing'}" for f, ok in status.items()))
else:
    st.caption("No data folder: DNMF_DATA_DIR is not set. " + rep.PAPER_DATA_HELP)
uploaded = st.file_uploader(f"…or upload {' and '.join(needed)}", type=["mat"],
                            accept_multiple_files=True, key="reproduce_upload")
left, right = st.columns(2)
quick = left.toggle("Quick (a few iterations: checks the pipeline, not the paper's numbers)",
                    value=False, key="reproduce_quick")
seeds = right.number_input("Runs (seeds)", min_value=1, max_value=35,
                           value=10 if experiment == "table2" else 1, key="reproduce_seeds",
                           help="The paper averaged Table 2 over 35 runs; one run takes "
                                "minutes on CBCL")
go = st.button("Run", type="primary", icon=":material/play_arrow:", key="reproduce_run")

# ------------------------------------------------------------------------------- one dnmf call
if go:
    job_id = rep.start(experiment, folder=folder, uploaded=uploaded, seeds=int(seeds),
                       quick=quick)
    if job_id is not None:
        st.session_state["reproduce_job"] = job_id
job_id = st.session_state.get("reproduce_job")
if job_id is not None:  # followed here until it ends; a page switch does not stop it
    finished = rep.follow(job_id)
    if finished is not None:
        st.session_state["reproduce_report"] = finished
    if not rep.running(job_id):
        del st.session_state["reproduce_job"]

# ------------------------------------------------------------------------------------ results
report = st.session_state.get("reproduce_report")
if report is not None:
    st.subheader(f"{LABELS.get(report.experiment, report.experiment)}"
                 + (" — stopped early" if report.stopped else ""))
    st.dataframe(report.table(), hide_index=True, width="stretch")
    for note in report.notes:
        st.caption(note)
    for name, table in report.tables.items():
        st.markdown(f"**{name.replace('_', ' ')}**")
        st.dataframe(table, hide_index=True, width="stretch")
    for name, fig in report.figures.items():
        st.plotly_chart(fig, key=f"reproduce_fig_{name}")
    st.caption(f"Its fits are in this workspace's runs ({len(report.fits)}): open them on "
               "the Layers and Compare pages.")
    d1, d2 = st.columns(2)
    d1.download_button("Numbers (JSON)", report.to_json(), f"{report.experiment}.json",
                       mime="application/json", icon=":material/download:")
    d2.download_button("Numbers, tables and figures (zip of HTML)", rep.figures_zip(report),
                       f"{report.experiment}.zip", mime="application/zip",
                       icon=":material/download:")
