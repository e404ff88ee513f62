"""Learn · Deep vs multilayer with ground truth (thesis §5.3 and Swimmer)."""

import streamlit as st

from dnmf import learn
from dnmf import learn_plots as lp
from dnmf.ui.errors import attempt
from dnmf.ui.learn import learn_header

presenter = learn_header("Deep vs multilayer, against the truth")

st.markdown(
    "**Multilayer** NMF factorises X ≈ W₁H₁, then W₁ ≈ W₂H₂, each layer once and for all: an "
    "error made at layer 1 is inherited by layer 2. **Deep** NMF then minimises all layers' "
    "errors together, λ₁ D(X, W₁H₁) + λ₂ D(W₁, W₂H₂), so layer 2 can pull W₁ towards a "
    "factorisation it can explain. With a **minimum-volume** term the deep model also prefers "
    "the smallest cones — the condition under which the thesis proves it identifiable. Here "
    "all three (KL, SNPA start, 150 iterations per phase) are scored by MRSA — the angle "
    "between matched true and fitted columns, 0 is perfect."
)

_EXAMPLES = {"thesis": "Thesis §5.3: m = 3, r = (6, 3), truth at both layers",
             "swimmer": "Swimmer: r = (17, 8), the 17 parts as layer-1 truth"}
c1, c2 = st.columns(2)
example = c1.radio("Example", list(_EXAMPLES), format_func=_EXAMPLES.get, key="learn_deep_ex")
if example == "thesis":
    noise = c2.select_slider("Noise ν", options=[0.01, 0.05, 0.1, 0.2], value=0.05,
                             key="learn_deep_noise")
    n_seeds = c2.slider("Seeds", 1, 5, 2, key="learn_deep_seeds")
else:
    noise, n_seeds = 0.0, 1
    c2.caption("Swimmer is exact (no noise); one seed, without min-vol (about 10 s "
               "on a laptop).")


@st.cache_data(show_spinner="Fitting multilayer, deep and min-vol deep NMF…", max_entries=8)
def _deep(example: str, noise: float, n_seeds: int) -> dict:
    if example == "swimmer":
        return learn.deep_vs_multilayer("swimmer", n_iter=100, seeds=(0,), min_vol=False)
    return learn.deep_vs_multilayer("thesis", noise=noise, seeds=tuple(range(n_seeds)))


demo, _ = attempt(_deep, example, noise, n_seeds)
if demo is not None:
    st.plotly_chart(lp.mrsa_bars(demo, presenter), key="learn_deep_mrsa")
    st.markdown("Closest to the truth: " + "; ".join(
        f"layer {layer}: **{model}**" for layer, model in demo["best"].items()) + ". "
        "A smaller error is not a closer truth: compare the bars with the curves below.")
    st.markdown(
        "**How the deep model balances its layers.** Starting from the multilayer solution, "
        "the deep iterations lower the weighted sum of the layers' errors; one layer's error "
        "may rise while another's falls. The curves are each layer's error divided by its "
        "value at the start of the deep phase (first seed)."
    )
    st.plotly_chart(lp.balance_curves(demo, presenter), key="learn_deep_balance")
    st.caption(f"Computed in {demo['seconds']:.1f} s (cached for these options).")
