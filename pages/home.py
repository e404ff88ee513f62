"""Home: what the workbench does, a one-click demo, and the session's runs."""

import time

import streamlit as st

from dnmf.datasets import load_sample
from dnmf.ui import config as cfgmod
from dnmf.ui import fit, state, widgets
from dnmf.ui import runs as runstore
from dnmf.ui.errors import attempt

widgets.page_setup()
st.title("Deep NMF workbench")
widgets.show_notices()
st.markdown(
    "Deep nonnegative matrix factorization explains a nonnegative data matrix layer after "
    "layer — X ≈ W₁H₁, W₁ ≈ W₂H₂, … — so each layer finds coarser parts built from the finer "
    "ones. This workbench fits **deep β-NMF** (Leplat, Hien, Onwunta & Gillis) and its "
    "**multilayer** baseline with the β-divergence of your choice (Kullback–Leibler, "
    "Itakura–Saito, Frobenius, …) to faces, documents, hyperspectral images or your own data. "
    "Then it shows what every layer found — facial parts, topics, materials — and how the deep "
    "model balances its layers against the multilayer one."
)

c1, c2 = st.columns([2, 3], vertical_alignment="center")
try_it = c1.button(
    "Try it: faces, deep vs multilayer",
    type="primary",
    icon=":material/play_arrow:",
    key="try_it",
    help="Loads the 100 LFW faces and fits deep and multilayer KL-NMF with ranks (20, 10, 5)",
)
c2.caption(
    "Loads the embedded faces (100 images of 25×25 pixels), fits deep KL-NMF (100 warm-start "
    "+ 100 deep iterations) and multilayer KL-NMF (200 iterations per layer) with ranks "
    "20 → 10 → 5, then opens the results. Takes a few seconds."
)

if try_it:
    ds, err = attempt(load_sample, "faces")
    if ds is not None:
        source = {"type": "sample", "name": "faces", "options": {}}
        state.set_dataset(ds, source)
        cfg = cfgmod.default_config(ds)
        t0 = time.perf_counter()
        deep, multi = fit.fit_pair(cfg, ds, "try-it", source=state.sample_source(source))
        if deep is not None and multi is not None:
            elapsed = time.perf_counter() - t0
            st.session_state["layers_run"] = deep.name
            st.session_state["compare_runs"] = [deep.name, multi.name]
            st.session_state["compare_ref"] = multi.name
            st.success(
                f"Fitted **{deep.name}** and **{multi.name}** in {elapsed:.1f} s. "
                "See each layer's features, or compare the two models.",
                icon=":material/check_circle:",
            )
            widgets.show_notices()  # e.g. runs dropped to make room
            l1, l2, _ = st.columns([1, 1, 3])
            l1.page_link("pages/layers.py", label="Explore the layers", icon=":material/layers:")
            l2.page_link("pages/compare.py", label="Compare deep vs multilayer",
                         icon=":material/compare:")

st.subheader("How to use it")
st.markdown(
    "1. **Data** — pick an embedded dataset or upload a matrix (.mat, .npy, .npz, .csv, …).\n"
    "2. **Model** — choose the model, β, the ranks of the layers and the iterations; run; "
    "stop whenever you like (the partial run is kept).\n"
    "3. **Layers** — explore one run layer by layer in the view its data calls for.\n"
    "4. **Compare** — put runs side by side: error ratios per layer (the paper's Figs 2 and 4), "
    "sparsity (its Table 2) and the features."
)

st.subheader("Runs in this workspace")
widgets.runs_table()
widgets.cap_caption()
if runstore.runs():
    st.page_link("pages/model.py", label="Manage runs (rename, delete, download, upload)",
                 icon=":material/tune:")
