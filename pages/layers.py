"""Layers: explore one run layer by layer, in the view its kind of data calls for."""

import streamlit as st

from dnmf import plots, plots_labels
from dnmf.ui import config as cfgmod
from dnmf.ui import runs as runstore
from dnmf.ui import widgets
from dnmf.ui.errors import plain
from dnmf.ui.state import PERSIST, init_default

widgets.page_setup()
st.title("Layers")
widgets.show_notices()


def _page() -> None:
    """The page body (a function, so a missing run ends it with ``return``, not ``st.stop()``)."""
    run = widgets.run_picker("Run", key="layers_run")
    if run is None:
        return
    res = run.result
    ds = runstore.dataset_of(run)
    kind = run.kind if ds is not None else "generic"
    L = res.n_layers

    st.caption(
        f"{plain(cfgmod.label(run.model))} · {plain(cfgmod.describe(run.config))} · "
        f"dataset **{plain(run.dataset)}** ({run.kind}) · {res.n_iter} iterations in "
        f"{run.seconds:.2f} s"
        + (" · **stopped early** (partial run)" if res.stopped_early else "")
    )
    if ds is None:
        st.warning(
            f"The dataset '{plain(run.dataset)}' of this run is not in the session (the run was "
            "uploaded). Showing the factors as matrices; load the same data on the Data page "
            "for its views.",
            icon=":material/warning:",
        )

    # ----------------------------------------------------------------------- any kind: numbers
    st.subheader("Every layer at a glance")
    c1, c2 = st.columns([1, 1])
    with c1:
        table = plots.layer_table(res, kind)
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            # Narrow columns and short headers: the table fits half the page at 1400 px.
            column_config={
                "layer": st.column_config.NumberColumn("ℓ", width=40),
                "rank": st.column_config.NumberColumn(width=50),
                "error": st.column_config.NumberColumn(format="%.4g", width=70,
                                                       help="D_β(W_(ℓ-1), W_ℓ H_ℓ) at the end"),
                "λ": st.column_config.NumberColumn(format="%.3g", width=70,
                                                   help="the weight λ_ℓ used"),
                "feature sparsity": st.column_config.ProgressColumn(
                    "features sparse", format="%.2f", min_value=0.0, max_value=1.0, width=110,
                    help="mean Hoyer sparsity of the layer's features"),
                "coefficient sparsity": st.column_config.ProgressColumn(
                    "coefs sparse", format="%.2f", min_value=0.0, max_value=1.0, width=110,
                    help="mean Hoyer sparsity of the layer's coefficients"),
            },
        )
        if res.weights is not None:
            st.caption("λ used: " + ", ".join(f"$\\lambda_{i}$ = {v:.3g}"
                                              for i, v in enumerate(res.weights, start=1)))
    with c2:
        st.plotly_chart(plots.convergence(res), key="layers_convergence")

    # ------------------------------------------------------------ any kind with class labels
    accuracies = plots_labels.run_layer_accuracies(res, ds) if ds is not None else None
    if accuracies:
        st.subheader("Against the labels")
        c1, c2 = st.columns([1, 1])
        c1.plotly_chart(plots_labels.accuracy_figure(accuracies), key="labels_accuracy")
        init_default("layers_confusion_layer", L)
        if st.session_state["layers_confusion_layer"] > L:
            st.session_state["layers_confusion_layer"] = L
        with c2:
            c_layer = st.segmented_control(
                "Confusion of layer", list(range(1, L + 1)), key="layers_confusion_layer",
                format_func=lambda ell: f"Layer {ell}", **PERSIST) or L
            st.plotly_chart(plots_labels.confusion_figure(accuracies[c_layer - 1], ds),
                            key="labels_confusion")
        st.caption(plots_labels.accuracy_note(res))

    if plots.has_labels(ds):
        st.subheader("Label purity per layer")
        st.dataframe(plots.label_purity(res, ds), hide_index=True, width="stretch",
                     column_config={c: st.column_config.ProgressColumn(
                         format="percent", min_value=0.0, max_value=1.0)
                         for c in ("label purity", "largest class")})
        st.caption("Each sample goes to its heaviest feature of the layer; purity is the share "
                   "of samples whose feature's most common label is their own (1 = every "
                   "feature holds one class; compare with the share of the largest class).")

    # --------------------------------------------------------------------- kind-specific views
    st.subheader("What each layer found")
    tabs = st.tabs([f"Layer {ell} · r = {res.ranks[ell - 1]}" for ell in range(1, L + 1)])

    if kind == "images":
        init_default("layers_max_features", 40)
        for ell, tab in enumerate(tabs, start=1):
            with tab:
                st.plotly_chart(plots.feature_gallery(res, ds, ell,
                                                      max_features=int(
                                                          st.session_state["layers_max_features"])),
                                key=f"gallery_{ell}")
        st.number_input("Features shown per layer (heaviest first)", min_value=1, max_value=200,
                        key="layers_max_features", **PERSIST)
        st.subheader("Reconstruction of one image at every layer")
        init_default("layers_sample", 0)
        if st.session_state["layers_sample"] >= ds.shape[0]:
            st.session_state["layers_sample"] = 0
        sample = st.slider("Image", 0, ds.shape[0] - 1, key="layers_sample", **PERSIST)
        st.plotly_chart(plots.reconstruction_strip(res, ds, sample), key="reconstruction")

    elif kind == "spectra":
        for ell, tab in enumerate(tabs, start=1):
            with tab:
                if ds.image_shape is not None:
                    st.plotly_chart(plots.abundance_maps(res, ds, ell), key=f"abund_{ell}")
                st.plotly_chart(plots.spectra_lines(res, ds, ell), key=f"spectra_{ell}")
        if L >= 2:
            st.subheader("How the layers mix")
            init_default("layers_mixing_view", "Sankey")
            view = st.segmented_control("Mixing view", ["Sankey", "Heatmaps"],
                                        key="layers_mixing_view", **PERSIST) or "Sankey"
            if view == "Sankey":
                st.plotly_chart(plots.hierarchy_sankey(res), key="mixing_sankey")
            else:
                cols = st.columns(L - 1)
                for ell in range(2, L + 1):
                    with cols[ell - 2]:
                        st.plotly_chart(plots.mixing_heatmap(res, ell), key=f"mixing_{ell}")
        if plots.has_ground_truth(ds):
            st.subheader("Against the ground truth")
            st.dataframe(plots.ground_truth_scores(res, ds), hide_index=True, width="stretch")
            st.plotly_chart(plots.ground_truth_spectra(res, ds, 1), key="gt_spectra")

    elif kind == "text":
        init_default("layers_n_words", 8)
        for ell, tab in enumerate(tabs, start=1):
            with tab:
                n_words = int(st.session_state["layers_n_words"])
                event = st.plotly_chart(plots.topic_words(res, ds, ell, n_words=n_words),
                                        key=f"topics_{ell}", on_select="rerun",
                                        selection_mode="points")
                # A click on a topic's bar chooses that topic below (once per new click).
                picked = widgets.picked_curve(event)
                if picked is not None and st.session_state.get("layers_click") != (
                        run.name, ell, picked):
                    st.session_state["layers_click"] = (run.name, ell, picked)
                    st.session_state["layers_topic_layer"] = ell
                    st.session_state["layers_topic"] = widgets.topic_of_curve(res, ell, picked)
        st.caption("Click a bar of a topic to list its documents below.")
        st.slider("Words per topic", 3, 20, key="layers_n_words", **PERSIST)
        labels = plots.topic_labels(res, ds)
        if L >= 2:
            st.subheader("Topic hierarchy")
            st.plotly_chart(plots.hierarchy_sankey(res, labels=labels), key="topic_sankey")
        st.subheader("A topic's documents")
        c1, c2 = st.columns([1, 3])
        init_default("layers_topic_layer", 1)
        if st.session_state["layers_topic_layer"] > L:
            st.session_state["layers_topic_layer"] = 1
        t_layer = c1.selectbox("Layer", list(range(1, L + 1)), key="layers_topic_layer", **PERSIST)
        r = res.ranks[t_layer - 1]
        init_default("layers_topic", 1)
        if st.session_state["layers_topic"] > r:
            st.session_state["layers_topic"] = 1
        topic = c2.selectbox("Topic", list(range(1, r + 1)), key="layers_topic",
                             format_func=lambda k: labels[t_layer - 1][k - 1], **PERSIST)
        st.dataframe(
            plots.topic_documents(res, ds, t_layer, topic, n=12),
            hide_index=True,
            width="stretch",
            column_config={
                "weight": st.column_config.NumberColumn(format="%.3g"),
                "share of the document": st.column_config.ProgressColumn(
                    format="percent", min_value=0.0, max_value=1.0),
            },
        )

    else:
        for ell, tab in enumerate(tabs, start=1):
            with tab:
                st.plotly_chart(plots.factor_heatmaps(res, ell), key=f"factors_{ell}")
        if L >= 2:
            st.subheader("How the layers mix")
            st.plotly_chart(plots.hierarchy_sankey(res), key="mixing_sankey")
        if ds is not None and plots.has_ground_truth(ds):
            st.subheader("Against the ground truth")
            st.dataframe(plots.ground_truth_scores(res, ds), hide_index=True, width="stretch")


_page()
