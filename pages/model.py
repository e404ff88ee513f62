"""Model: configure a deep or multilayer model, run it with live progress, manage the runs."""

import hashlib
import importlib.util

import streamlit as st

from dnmf.ui import config as cfgmod
from dnmf.ui import errors, fit, state, widgets
from dnmf.ui import runs as runstore
from dnmf.ui.errors import attempt
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
        st.session_state["cfg_n_layers"] = len(defaults["ranks"])
        for i, r in enumerate(defaults["ranks"]):
            st.session_state[f"cfg_rank_{i}"] = int(r)

    # ------------------------------------------------------------------------- widgets
    st.subheader("Configure")
    c1, c2 = st.columns(2)
    models = cfgmod.available_models()
    init_default("cfg_model", "deep")
    model = c1.selectbox("Model", models, key="cfg_model",
                         format_func=lambda k: cfgmod.MODEL_LABELS.get(k, k), **PERSIST)
    presets = list(cfgmod.BETA_PRESETS)
    init_default("cfg_beta_preset", presets[0])
    with c2:
        if model == "frobenius":
            preset, beta = "Frobenius (β=2)", 2.0
            st.markdown("**β-divergence**")
            st.caption("The Frobenius deep MF baselines are least squares: β = 2.")
        else:
            preset = st.segmented_control(
                "β-divergence", presets, key="cfg_beta_preset",
                help="β = 1: Kullback–Leibler (counts, images); β = 0: Itakura–Saito "
                "(scale-invariant, audio); β = 2: Frobenius (least squares); any β in [0, 2] "
                "works", **PERSIST) or presets[0]
            beta = cfgmod.BETA_PRESETS[preset]
            if beta is None:
                init_default("cfg_beta_free", 1.2)
                beta = st.number_input("β", min_value=0.0, max_value=2.0, step=0.1,
                                       key="cfg_beta_free", format="%g", **PERSIST)

    st.markdown("**Layers and ranks**")
    c_l, c_r = st.columns([1, 4])
    init_default("cfg_n_layers", len(defaults["ranks"]))
    n_layers = c_l.number_input("Layers L", min_value=1, max_value=cfgmod.MAX_LAYERS, step=1,
                                key="cfg_n_layers", **PERSIST)
    rank_cols = c_r.columns(cfgmod.MAX_LAYERS)
    ranks = []
    for i in range(int(n_layers)):
        fallback = int(defaults["ranks"][i]) if i < len(defaults["ranks"]) else max(
            1, ranks[-1] // 2 if ranks else 1)
        init_default(f"cfg_rank_{i}", fallback)
        ranks.append(int(rank_cols[i].number_input(f"r_{i + 1}", min_value=1, step=1,
                                                   key=f"cfg_rank_{i}", **PERSIST)))
    st.caption(
        "Ranks must strictly decrease, $r_1 > r_2 > \\dots > r_L \\ge 1$, and "
        f"$r_1 < n = {n}$ (the number of columns of $X$). Layer $\\ell$ factorises "
        "$W_{\\ell-1}$ ($m \\times r_{\\ell-1}$) into $W_\\ell$ ($m \\times r_\\ell$) times "
        "$H_\\ell$ ($r_\\ell \\times r_{\\ell-1}$)."
    )

    deep_like = model in ("deep", "deep-minvol")
    weighted = model != "multilayer"
    weights = "auto"
    if weighted:
        st.markdown("**Layer weights λ**")
        init_default("cfg_weights_mode", "auto")
        mode = st.radio("Weights", ["auto", "manual"], key="cfg_weights_mode", horizontal=True,
                        label_visibility="collapsed", **PERSIST)
        if mode == "auto" and model == "frobenius":
            st.caption("The thesis' automatic weights (weight ratio 10); the values used are "
                       "shown after the fit.")
        elif mode == "auto":
            st.caption("$\\lambda_\\ell = 1 / D_\\beta(W_{\\ell-1}^0, W_\\ell^0 H_\\ell^0)$ at "
                       "initialisation (paper §4.1), so every layer starts with weight one in "
                       "the objective; the values used are shown after the fit.")
        else:
            lam_cols = st.columns(cfgmod.MAX_LAYERS)
            weights = []
            for i in range(int(n_layers)):
                init_default(f"cfg_lambda_{i}", 1.0)
                weights.append(float(lam_cols[i].number_input(
                    f"λ_{i + 1}", min_value=0.0, key=f"cfg_lambda_{i}", format="%g",
                    **PERSIST)))

    st.markdown("**Iterations and initialisation**")
    c1, c2, c3, c4, c5 = st.columns(5)
    inits = list(cfgmod.LAYER_INITS)
    if importlib.util.find_spec("dnmf.init") is None:
        inits = ["random"]
    if model == "frobenius":
        inits = [*inits, "multilayer"]
    init_default("cfg_layer_init", "random")
    if st.session_state["cfg_layer_init"] not in inits:
        st.session_state["cfg_layer_init"] = "random"
    layer_init = c1.selectbox("Initialisation of each layer", inits, key="cfg_layer_init",
                              **PERSIST)
    init_default("cfg_n_init_iter", defaults["n_init_iter"])
    n_init_iter = c2.number_input("Warm-start iterations / layer", min_value=0, step=50,
                                  key="cfg_n_init_iter", disabled=not (
                                      deep_like or layer_init == "multilayer"),
                                  help="Multilayer iterations per layer before the deep phase",
                                  **PERSIST)
    init_default("cfg_max_iter", defaults["max_iter"])
    max_iter = c3.number_input(
        "Iterations per layer" if model == "multilayer" else "Deep iterations", min_value=1,
        step=50,
        key="cfg_max_iter", **PERSIST)
    init_default("cfg_seed", 0)
    seed = c4.number_input("Seed", min_value=0, step=1, key="cfg_seed", **PERSIST)
    init_default("cfg_dtype", "float64")
    dtype = c5.selectbox("dtype", list(cfgmod.DTYPES), key="cfg_dtype", **PERSIST)

    min_vol = defaults["min_vol"]
    frob_loss = defaults["frobenius_loss"]
    if model == "deep-minvol":
        st.markdown("**Minimum volume**")
        c1, c2, c3 = st.columns(3)
        init_default("cfg_mv_alpha", 0.05)
        init_default("cfg_mv_delta", 1.0)
        init_default("cfg_mv_rho", 0.5)
        min_vol = {
            "alpha_tilde": c1.number_input("α̃ (relative volume weight)", min_value=0.0,
                                           key="cfg_mv_alpha", format="%g", **PERSIST),
            "delta": c2.number_input("δ in logdet(WᵀW + δI)", min_value=1e-9,
                                     key="cfg_mv_delta", format="%g", **PERSIST),
            "rho": c3.number_input("ADMM ρ̃ (relative penalty)", min_value=1e-9,
                                   key="cfg_mv_rho", format="%g",
                                   **PERSIST),
        }
    if model == "frobenius":
        init_default("cfg_frob_loss", "layer-centric")
        frob_loss = st.selectbox("Loss", list(cfgmod.FROBENIUS_LOSSES), key="cfg_frob_loss",
                                 **PERSIST)

    cfg = {
        "model": model,
        "beta": float(beta),
        "ranks": ranks,
        "weights": weights,
        "layer_init": layer_init,
        "n_init_iter": int(n_init_iter),
        "max_iter": int(max_iter),
        "random_state": int(seed),
        "dtype": dtype,
        "min_vol": min_vol,
        "frobenius_loss": frob_loss,
    }

    init_default("cfg_run_name", "")
    run_name = st.text_input("Run name", key="cfg_run_name",
                             placeholder=runstore.suggest_name(cfg, ds.name) + " (automatic)",
                             **PERSIST).strip()

    problems = cfgmod.check_config(cfg, ds.shape)
    for p in problems:
        st.error(p, icon=":material/error:")

    # Say which runs a new fit would drop (before fitting, with their downloads).
    for n_new, what in ((1, "one more run"), (2, "a deep + multilayer pair")):
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

    b1, b2, _ = st.columns([1, 2, 2])
    run_clicked = b1.button("Run", type="primary", icon=":material/play_arrow:",
                            key="run_fit", disabled=bool(problems), width="stretch")
    pair_clicked = b2.button("Run deep and multilayer with the same settings",
                             icon=":material/compare_arrows:", key="run_pair",
                             disabled=bool(problems), width="stretch",
                             help="Deep β-NMF with these settings, then multilayer β-NMF with "
                             "the same β, ranks, initialisation and seed, and as many "
                             "iterations per layer as the deep run spends in total (warm "
                             "start + deep phase), as in the paper")

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
        base = run_name or f"{ds.name}-{preset.split(' ')[0]}"
        deep, multi = fit.fit_pair(cfg, ds, base, source=source)
        fitted = [r for r in (deep, multi) if r is not None]
        if deep is not None and multi is not None:
            st.session_state["layers_run"] = deep.name
            st.session_state["compare_runs"] = [deep.name, multi.name]
            st.session_state["compare_ref"] = multi.name

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
st.subheader("Runs in this session")
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
            st.success(f"Run '{run.name}' imported ({run.model}, ranks "
                       f"{'-'.join(map(str, run.result.ranks))}, dataset {run.dataset}).",
                       icon=":material/upload:")
            widgets.show_notices()
