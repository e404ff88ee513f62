"""Compare: two or more runs side by side — error ratios, sparsity, features, ground truth."""

import pandas as pd
import streamlit as st

from dnmf import plots, plots_labels
from dnmf.ui import config as cfgmod
from dnmf.ui import runs as runstore
from dnmf.ui import widgets
from dnmf.ui.errors import plain
from dnmf.ui.state import PERSIST, init_default

widgets.page_setup()
st.title("Compare")
widgets.show_notices()


def _page() -> None:
    """The page body (a function, so missing runs end it with ``return``, not ``st.stop()``)."""
    store = runstore.runs()
    names = list(store)
    if len(names) < 2:
        st.info("Compare needs at least two runs. On the **Model** page, *Run … with the same "
                "settings* fits a model and its baseline in one click.", icon=":material/info:")
        st.page_link("pages/model.py", label="Go to Model", icon=":material/tune:")
        return

    # ----------------------------------------------------------------------------------- widgets
    previous = st.session_state.get("compare_runs")
    current = [n for n in previous or [] if n in store]
    if previous is None or (len(current) < 2 and len(current) < len(previous)):
        current = cfgmod.default_pair(store)  # first visit, or a compared run was deleted
    st.session_state["compare_runs"] = current
    chosen = st.multiselect("Runs to compare", names, key="compare_runs",
                            format_func=lambda n: store[n].label, **PERSIST)
    if len(chosen) < 2:
        st.info("Choose at least two runs.", icon=":material/info:")
        return
    runs = {n: store[n] for n in chosen}

    if st.session_state.get("compare_ref") not in chosen:
        st.session_state["compare_ref"] = cfgmod.default_reference(store, chosen)
    ref_name = st.selectbox("Reference run (the denominator of the error ratios)", chosen,
                            key="compare_ref", **PERSIST)

    datasets = {r.dataset for r in runs.values()}
    layers = {r.result.n_layers for r in runs.values()}
    if len(datasets) > 1:
        st.warning("These runs were fitted on different datasets (" +
                   ", ".join(plain(d) for d in sorted(datasets)) +
                   "): their errors are not comparable.", icon=":material/warning:")
    if len(layers) > 1:
        st.caption("The runs have different numbers of layers; layers are compared where both "
                   "have them.")

    results = {n: r.result for n, r in runs.items()}
    kind = runs[ref_name].kind

    # ------------------------------------------------------------------- error ratios and table
    st.subheader("Error per layer relative to the reference")
    others = {n: res for n, res in results.items() if n != ref_name}
    st.plotly_chart(plots.error_ratio_curves(others, results[ref_name], reference_name=ref_name),
                    key="ratio_curves")
    st.caption(
        "As in the paper's Figs 2 and 4: each run's error at layer ℓ along its iterations, "
        "divided by the reference's final error at layer ℓ. Errors are taken with the rows of "
        "every $H_\\ell$ summing to one (the deep model's scaling; errors of layers ≥ 2 depend "
        "on how $W_{\\ell-1}$ is scaled). Runs without that scaling during their iterations "
        "(multilayer) show layer 1 only."
    )

    st.subheader("Errors and sparsity per layer")
    table = plots.comparison_table(results, ref_name, kind)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.1f")
                                for c in table.columns if c != "layer"})
    st.caption(
        "As in the paper's Table 2: error as a percentage of the reference's error at the same "
        "layer (below 100 %: smaller error), and the mean Hoyer sparsity of each layer's features "
        "in %."
    )

    # ----------------------------------------------------------------------------- features
    st.subheader("Features side by side")
    max_common = min(layers)
    init_default("compare_layer", 1)
    if st.session_state["compare_layer"] > max_common:
        st.session_state["compare_layer"] = 1
    layer = st.segmented_control("Layer", list(range(1, max_common + 1)), key="compare_layer",
                                 format_func=lambda ell: f"Layer {ell}", **PERSIST) or 1
    cols = st.columns(min(len(runs), 3))
    for i, (name, run) in enumerate(runs.items()):
        ds = runstore.dataset_of(run)
        with cols[i % len(cols)]:
            st.markdown(f"**{plain(name)}**")
            if ds is None:
                st.plotly_chart(plots.factor_heatmaps(run.result, layer), key=f"cmp_feat_{i}")
            elif run.kind == "images":
                st.plotly_chart(plots.feature_gallery(run.result, ds, layer, max_features=40,
                                                      n_cols=5), key=f"cmp_feat_{i}")
            elif run.kind == "spectra":
                if ds.image_shape is not None:
                    st.plotly_chart(plots.abundance_maps(run.result, ds, layer, n_cols=3),
                                    key=f"cmp_feat_{i}")
                st.plotly_chart(plots.spectra_lines(run.result, ds, layer), key=f"cmp_spec_{i}")
            elif run.kind == "text":
                st.plotly_chart(plots.topic_words(run.result, ds, layer, n_words=6, n_cols=2,
                                                  max_topics=12), key=f"cmp_feat_{i}")
            else:
                st.plotly_chart(plots.factor_heatmaps(run.result, layer), key=f"cmp_feat_{i}")

    # ------------------------------------------------------------------------- ground truth
    gt_rows = []
    for name, run in runs.items():
        ds = runstore.dataset_of(run)
        if ds is not None and plots.has_ground_truth(ds):
            scores = plots.ground_truth_scores(run.result, ds)
            scores.insert(0, "run", name)
            gt_rows.append(scores)
    if gt_rows:
        st.subheader("Against the ground truth")
        st.dataframe(pd.concat(gt_rows, ignore_index=True), hide_index=True, width="stretch",
                     column_config={"mean SAD (°)": st.column_config.NumberColumn(format="%.2f"),
                                    "worst SAD (°)": st.column_config.NumberColumn(format="%.2f"),
                                    "MRSA": st.column_config.NumberColumn(format="%.2f")})
        st.caption("Columns of W_ℓ matched to the true ones (Hungarian matching on the spectral "
                   "angle); SAD in degrees and MRSA (0–100), lower is better.")

    # ------------------------------------------------------------------------- class labels
    ref_ds = runstore.dataset_of(runs[ref_name])
    accuracy = (plots_labels.accuracy_table(results, ref_ds) if ref_ds is not None
                and len(datasets) == 1 else None)
    if accuracy is not None:
        st.subheader("Accuracy per layer against the labels")
        st.dataframe(accuracy, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="percent")
                                    for c in accuracy.columns if c != "run"})
        st.caption("Accuracy on the labels each run did not see (runs without labels: a "
                   "nonnegative linear classifier per layer fitted on 40 % of the labels).")

    purity_rows = []
    for name, run in runs.items():
        ds = runstore.dataset_of(run)
        if plots.has_labels(ds):
            scores = plots.label_purity(run.result, ds)
            scores.insert(0, "run", name)
            purity_rows.append(scores)
    if purity_rows:
        st.subheader("Label purity per layer")
        st.dataframe(pd.concat(purity_rows, ignore_index=True), hide_index=True,
                     width="stretch",
                     column_config={c: st.column_config.ProgressColumn(
                         format="percent", min_value=0.0, max_value=1.0)
                         for c in ("label purity", "largest class")})
        st.caption("Label purity of each layer (each sample to its heaviest feature); higher "
                   "is better.")

    # ------------------------------------------------------------------------- downloads
    st.subheader("Download the compared runs")
    for i, (name, run) in enumerate(runs.items()):
        st.markdown(f"**Download {plain(name)}**")
        widgets.download_buttons(run, key=f"cmp_dl_{i}")


_page()
