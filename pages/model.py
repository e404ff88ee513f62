"""Model: configure a registered model, run it with live progress, manage the runs."""

import hashlib

import streamlit as st

from dnmf import plots_labels
from dnmf.datasets import paper_settings
from dnmf.ui import config as cfgmod
from dnmf.ui import errors, fit, params, state, widgets
from dnmf.ui import runs as runstore
from dnmf.ui.errors import attempt
from dnmf.ui.paper import NOTES, apply_paper_settings
from dnmf.ui.state import PERSIST, init_default

widgets.page_setup()
st.title("Model")
widgets.show_notices()
ds = widgets.dataset_badge()

if ds is not None:
    m, n = ds.shape
    defaults = cfgmod.default_config(ds)
    # Ranks follow the dataset: reset them to its defaults when another dataset is chosen.
    if st.session_state.get("cfg_ranks_for") != ds.name:
        st.session_state["cfg_ranks_for"] = ds.name
        st.session_state[params.N_LAYERS_KEY] = len(defaults["ranks"])
        for i, r in enumerate(defaults["ranks"]):
            st.session_state[params.layer_key("ranks", i)] = int(r)

    paper = paper_settings(ds)
    if paper is not None:
        pc1, pc2 = st.columns([1, 3], vertical_alignment="center")
        pc1.button("Use the paper's settings", key="use_paper", icon=":material/article:",
                   on_click=apply_paper_settings, args=(ds,), width="stretch",
                   help="Ranks, iterations, λ and min-vol weights of the paper's Section 4")
        pc2.caption(errors.plain(f"The paper's {paper['dataset']}: {paper['source']}"))
        for note in st.session_state.get(NOTES) or []:
            st.caption(errors.plain(f"· {note}"))

    # ------------------------------------------------------------------------- widgets
    st.subheader("Configure")
    specs = {spec.key: spec for spec in cfgmod.models()}
    init_default("cfg_model", defaults["model"])
    if st.session_state["cfg_model"] not in specs:  # a model that was unregistered meanwhile
        st.session_state["cfg_model"] = defaults["model"]
    model = st.selectbox("Model", list(specs), key="cfg_model",
                         format_func=lambda k: specs[k].label, **PERSIST)
    spec = specs[model]
    if spec.description:
        st.caption(params.as_text(spec.description))
    st.caption(
        "Ranks must strictly decrease, $r_1 > r_2 > \\dots > r_L \\ge 1$; with "
        f"$r_1 \\ge n = {n}$ (the number of columns of $X$) the first layer can be exact. "
        "Layer $\\ell$ factorises $W_{\\ell-1}$ ($m \\times r_{\\ell-1}$) into $W_\\ell$ "
        "($m \\times r_\\ell$) times $H_\\ell$ ($r_\\ell \\times r_{\\ell-1}$)."
    )
    values = params.draw(spec, len(defaults["ranks"]))
    cfg = {"model": model, **values}
    if spec.capabilities.labels and plots_labels.has_labels(ds):
        init_default("cfg_known_labels", 40)
        known = st.slider("Labels known to the fit (%)", 0, 100, step=5, key="cfg_known_labels",
                          help="A stratified share of the dataset's labels is given to the fit; "
                          "the others are hidden, and Layers scores the layers on them",
                          **PERSIST)
        cfg["known_labels"] = known / 100

    init_default("cfg_run_name", "")
    run_name = st.text_input("Run name", key="cfg_run_name",
                             placeholder=runstore.suggest_name(cfg, ds.name) + " (automatic)",
                             **PERSIST).strip()

    problems, notes = cfgmod.review_config(cfg, ds.shape)
    for p in problems:
        st.error(p, icon=":material/error:")
    for note in notes:
        st.warning(note, icon=":material/warning:")

    # Say which runs a new fit would drop (before fitting, with their downloads).
    for n_new, what in ((1, "one more run"), (2, "a pair of runs")):
        drop = runstore.would_drop(n_new)
        if drop:
            st.warning(
                f"The session keeps at most {runstore.MAX_RUNS} runs: fitting {what} drops "
                + ", ".join(f"'{d}'" for d in drop) + ". Download first what you want to keep.",
                icon=":material/warning:",
            )
            for d in drop:
                with st.expander(f"Download '{d}'"):
                    widgets.download_buttons(runstore.runs()[d], key=f"dl_drop_{n_new}_{d}")
            break

    b1, b2, _ = st.columns([1, 3, 1])
    run_clicked = b1.button("Run", type="primary", icon=":material/play_arrow:",
                            key="run_fit", disabled=bool(problems), width="stretch")
    baseline = cfgmod.baseline_config(cfg)
    pair_clicked = False
    if baseline is not None:
        pair_clicked = b2.button(
            f"Run {spec.name} and {cfgmod.spec_of(baseline).name} with the same settings",
            icon=":material/compare_arrows:", key="run_pair", disabled=bool(problems),
            width="stretch",
            help=f"{spec.label} with these settings, then {cfgmod.label(baseline)} with the "
            "same settings (as in the paper: the same β, ranks, initialisation and seed, and as "
            "many iterations per layer as the first run spends in total)")

    # ---------------------------------------------------------------------- one dnmf call
    source = state.sample_source(state.current_source())
    fitted = []
    if run_clicked and not problems:
        name = runstore.unique_name(run_name or runstore.suggest_name(cfg, ds.name))
        run = fit.fit_run(cfg, ds, name, source=source)
        if run is not None:
            fitted = [run]
            st.session_state["layers_run"] = run.name
    if pair_clicked and not problems:
        base = run_name or f"{ds.name}-{cfgmod.beta_name(cfgmod.beta_of(cfg))}"
        first, second = fit.fit_pair(cfg, ds, base, source=source)
        fitted = [r for r in (first, second) if r is not None]
        if first is not None and second is not None:
            st.session_state["layers_run"] = first.name
            st.session_state["compare_runs"] = [first.name, second.name]
            st.session_state["compare_ref"] = second.name

    # --------------------------------------------------------------- the new runs' numbers
    if fitted:
        for run in fitted:
            res = run.result
            lam = ("λ used: " + ", ".join(f"$\\lambda_{i}$ = {v:.3g}" for i, v in
                                          enumerate(res.weights, start=1))
                   if res.weights is not None else "no weights (layers fitted one by one)")
            st.success(
                f"**{run.name}**: {res.n_iter} iterations in {run.seconds:.2f} s · final errors "
                + ", ".join(f"{e:.4g}" for e in res.layer_errors) + f" · {lam}",
                icon=":material/check_circle:",
            )
        widgets.show_notices()  # e.g. a run dropped to make room
        lc1, lc2, _ = st.columns([1, 1, 3])
        lc1.page_link("pages/layers.py", label="Explore the layers", icon=":material/layers:")
        lc2.page_link("pages/compare.py", label="Compare runs", icon=":material/compare:")

# ---------------------------------------------------------------------------- manage runs
st.divider()
st.subheader("Runs in this workspace")
widgets.runs_table()
widgets.cap_caption()

store = runstore.runs()
if store:
    chosen = widgets.run_picker("Run to manage", key="manage_run")
    if chosen is not None:
        c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
        new_name = c1.text_input("New name", value=chosen.name, key=f"rename_{chosen.name}")

        def _rename(old: str, key: str) -> None:
            try:
                st.session_state["manage_run"] = runstore.rename_run(old, st.session_state[key])
            except ValueError as exc:
                st.session_state["manage_error"] = str(exc)

        def _delete(name: str) -> None:
            runstore.delete_run(name)
            st.session_state.pop("manage_run", None)

        c2.button("Rename", key="rename_run", icon=":material/edit:", width="stretch",
                  on_click=_rename, args=(chosen.name, f"rename_{chosen.name}"))
        c3.button("Delete", key="delete_run", icon=":material/delete:", width="stretch",
                  on_click=_delete, args=(chosen.name,))
        if st.session_state.get("manage_error"):
            st.error(errors.message_of(ValueError(st.session_state.pop("manage_error"))),
                     icon=":material/error:")
        widgets.download_buttons(chosen, key="dl_manage")

up = st.file_uploader("Upload a run (.npz exported from this workbench)", type=["npz"],
                      key="run_upload")
if up is not None:
    data = up.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    seen = st.session_state.setdefault("imported_runs", set())
    if digest not in seen:
        run, err = attempt(runstore.import_npz, data, up.name)
        if run is not None:
            seen.add(digest)
            runstore.add_run(run)
            st.success(errors.plain(
                f"Run '{run.name}' imported ({run.model}, ranks "
                f"{'-'.join(map(str, run.result.ranks))}, dataset {run.dataset})."),
                       icon=":material/upload:")
            widgets.show_notices()
