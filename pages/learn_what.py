"""Learn · What NMF finds: parts against SVD's signed components, the error against the rank,
two exact factorisations of one matrix, and a zero that multiplicative updates cannot move."""

import streamlit as st

from dnmf import learn
from dnmf import learn_plots as lp
from dnmf.ui.errors import attempt
from dnmf.ui.learn import learn_header

presenter = learn_header("What NMF finds")

st.markdown(
    "NMF writes a nonnegative matrix X (one image per row) as **X ≈ W H** with W ≥ 0 and "
    "H ≥ 0. Because nothing can be subtracted, every image is an *addition* of the rows of H: "
    "NMF tends to find **parts**. The SVD (PCA without centring) gives the best rank-r "
    "approximation of all, but its components have signs and each one involves the whole "
    "image."
)

_NAMES = {"swimmer": "Swimmer (256 images 32×32)", "faces": "Faces (100 images 25×25)",
          "digits": "Digits (400 images 8×8)"}
c1, c2 = st.columns(2)
name = c1.selectbox("Data", list(learn.LEARN_DATASETS), format_func=_NAMES.get,
                    key="learn_what_data")
rank = c2.slider("Rank r", 2, 24, 17 if name == "swimmer" else 16, key=f"learn_what_rank_{name}")


@st.cache_data(show_spinner="Computing the SVD and the NMFs…", max_entries=8)
def _svd_vs_nmf(name: str, rank: int) -> dict:
    return learn.svd_vs_nmf(name, rank)


demo, _ = attempt(_svd_vs_nmf, name, rank)
if demo is not None:
    f_svd, f_nmf = lp.components_side_by_side(demo, presenter)
    st.plotly_chart(f_svd, key="learn_what_svd")
    st.plotly_chart(f_nmf, key="learn_what_nmf")
    share = demo["negative_share"]
    st.caption(f"Negative entries: {share['SVD / PCA']:.0%} of the SVD components, "
               f"{share['NMF']:.0%} of NMF's. X has numerical rank {demo['numerical_rank']}, "
               "so the SVD shows at most that many components. On Swimmer the rows of H are "
               "the torso and the limbs — the parts the images were made of.")
    st.markdown(
        "**The price of nonnegativity.** The SVD's error is the smallest any rank-r "
        "approximation can have (Eckart–Young), so NMF's curve lies above it. On Swimmer "
        "both reach zero: X has rank 13, and an exact NMF needs 17 parts."
    )
    st.plotly_chart(lp.error_vs_rank(demo["errors"], presenter), key="learn_what_rank_curve")

st.subheader("NMF is not unique")
st.markdown(
    "If X = W H, then also X = (W Q)(Q⁻¹ H) for every invertible Q that keeps both factors "
    "nonnegative — scalings and permutations always do, here a shear does too. Which "
    "factorisation an algorithm returns depends on where it starts; the Geometry page shows "
    "when the answer is unique after all."
)
a = st.slider("Shear a in Q = [[1, a], [0, 1]]", 0.0, 1.0, 0.5, 0.05, key="learn_what_shear")
nu = learn.non_uniqueness(a)
st.plotly_chart(lp.non_uniqueness_figure(nu, presenter), key="learn_what_nonunique")
st.caption(f"Largest entry of |X − W H|: {nu['residuals'][0]:.1e}; of |X − (W Q)(Q⁻¹ H)|: "
           f"{nu['residuals'][1]:.1e}.")

st.subheader("A zero stays zero under multiplicative updates")
st.markdown(
    "Lee and Seung's updates multiply each entry by a positive ratio, so an entry that is "
    "exactly 0 can never change. Below, MU starts near the exact factors of a small matrix "
    "but with one entry of W set to 0 (its true value is 1): with ε = 0 the error stalls; "
    "the floor max(·, ε) lets the entry grow back — slowly when ε is tiny."
)
# Labels as options: Streamlit matches float options approximately (1e-16 would select 1e-12).
_FLOORS = {"1e-16": 1e-16, "1e-12": 1e-12, "1e-8": 1e-8, "1e-6": 1e-6, "1e-4": 1e-4,
           "1e-2": 1e-2}
eps = _FLOORS[st.select_slider("Floor ε", options=list(_FLOORS), value="1e-4",
                               key="learn_what_eps")]
st.plotly_chart(lp.zero_locking_figure(learn.zero_locking(eps), presenter),
                key="learn_what_zero")
