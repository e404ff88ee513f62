"""Learn · Geometry: cones, the simplex, SNPA's picks, separability, and nested layer cones."""

import streamlit as st

from dnmf import learn
from dnmf import learn_plots as lp
from dnmf.ui.errors import attempt
from dnmf.ui.learn import learn_header

presenter = learn_header("The geometry of NMF")

st.markdown(
    "Here the data points are the **columns** of X, in R³. X = W H with H ≥ 0 says that every "
    "column of X lies in the **cone** spanned by the columns of W. Scaling each column to sum 1 "
    "cuts the cones with the unit simplex — a triangle — where cone(W) becomes the polygon "
    "conv(W). Finding an NMF is finding a polygon with r vertices that contains the data "
    "(inside the triangle, since W ≥ 0)."
)

_KINDS = {"separable": "Separable: the vertices are data points",
          "scattered": "Sufficiently scattered: no vertex, but the data reach every edge",
          "central": "Not scattered: data near the centre"}
kind = st.radio("Data", list(_KINDS), format_func=_KINDS.get, horizontal=True,
                key="learn_geo_kind")


@st.cache_data(show_spinner=False, max_entries=8)
def _cones(kind: str) -> dict:
    return learn.geometry_cones(kind)


ex, _ = attempt(_cones, kind)
if ex is not None:
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(lp.simplex_view(ex, presenter), key="learn_geo_simplex")
    with c2:
        st.plotly_chart(lp.cone_3d(ex, presenter), key="learn_geo_cone")
    st.caption(f"The fitted W (HALS from a random start) reproduces X to a relative error of "
               f"{ex['fit_error']:.1e}.")
    st.markdown(
        "- Any triangle inside the simplex that contains the data is an exact NMF — the dashed "
        "one, found by HALS from a random start, is one: **plain NMF is not unique** here "
        "(it would be only if W itself had zeros enough to touch the simplex's edges).\n"
        "- **Separable** data contain the columns of W, so W can be found among the data: "
        "**SNPA** takes the column of largest norm, projects the others onto what it has chosen, "
        "and takes the largest residual next (stars, in order) — and returns the true vertices.\n"
        "- **Sufficiently scattered** data contain no vertex, but reach every edge of conv(W): "
        "the *smallest* triangle around them is still the true one, so minimum-volume NMF "
        "identifies W; SNPA's picks are data points, inside it.\n"
        "- Data **near the centre** fit inside many small triangles: not even the minimum "
        "volume identifies W."
    )

st.subheader("Deep factorisations: cones inside cones")
st.markdown(
    "A second layer factorises W₁ ≈ W₂ H₂ with H₂ ≥ 0: the columns of W₁ (6 vertices, a "
    "hexagon) must lie in cone(W₂) (a triangle). The thesis' §5.3 example has exactly this "
    "structure; below, multilayer and deep NMF (β = 2, random start, 500 iterations per "
    "layer, then 200 deep iterations) fitted to it. Red: the truth, blue: the fit; solid: "
    "layer 1, dotted: layer 2."
)


@st.cache_data(show_spinner="Fitting multilayer and deep NMF…", max_entries=2)
def _layer_cones() -> dict:
    return learn.layer_cones()


lc, _ = attempt(_layer_cones)
if lc is not None:
    st.plotly_chart(lp.layer_cones_figure(lc, presenter), key="learn_geo_layers")
    res = lc["cone_residual"]
    st.caption(f"Farthest column of W₁ from cone(W₂), relative: multilayer "
               f"{res['multilayer']:.1e}, deep {res['deep']:.1e}. With r₁ = 6 > m = 3 the "
               "first layer alone is far from unique: the fitted hexagon need not be the true "
               "one.")
