"""Learn · Algorithms race: the six solvers of dnmf.NMF from the same initial factors."""

import streamlit as st

from dnmf import learn
from dnmf import learn_plots as lp
from dnmf.ui.errors import attempt
from dnmf.ui.learn import learn_header

presenter = learn_header("Algorithms race")

st.markdown(
    "Every algorithm alternates: fix H and improve W, fix W and improve H. They differ in "
    "*how much* they move. **ALS** solves each least-squares problem and cuts the negatives "
    "to 0 — cheap, but not a descent method: its error can go up and oscillate. **PGD** "
    "steps along the negative gradient and projects; Armijo backtracking guarantees descent. "
    "**OPL** takes the step 1/rowsum(WᵀW) row by row, **IPG** scales the gradient and stops "
    "before the boundary, **MU** multiplies by a ratio, and **HALS** solves exactly for one "
    "column of W or row of H at a time. All start from the same W⁰, H⁰."
)

_NAMES = {"swimmer": "Swimmer", "faces": "Faces", "digits": "Digits"}
c1, c2, c3 = st.columns(3)
name = c1.selectbox("Data", list(learn.LEARN_DATASETS), format_func=_NAMES.get,
                    key="learn_race_data")
init = c2.selectbox("Initial factors", ["random", "nndsvd", "snpa"], key="learn_race_init",
                    help="NNDSVD has exact zeros: MU and IPG can never change them")
rank = c3.slider("Rank r", 2, 24, 17 if name == "swimmer" else 16,
                 key=f"learn_race_rank_{name}")
c4, c5, c6 = st.columns(3)
max_iter = c4.slider("Iterations", 10, 300, 60, 10, key="learn_race_iters")
# Labels as options: Streamlit matches float options approximately (1e-16 would select 0).
_FLOORS = {"0": 0.0, "1e-16": 1e-16, "1e-12": 1e-12, "1e-8": 1e-8, "1e-4": 1e-4}
eps = _FLOORS[c5.select_slider("MU's floor ε", options=list(_FLOORS), value="1e-16",
                               key="learn_race_eps",
                               help="0: entries that are 0 stay 0 (try it with NNDSVD)")]
fixed = c6.toggle("PGD with a fixed step 2.5 / L⁰ (too long)", key="learn_race_fixed",
                  help="Off: Armijo backtracking. On: the fixed step 2.5 / L with L the "
                       "Lipschitz constant at the start; beyond 2 / L the gradient step "
                       "overshoots, the error jumps and the iteration is unstable")


@st.cache_data(show_spinner="Running the six solvers…", max_entries=8)
def _race(name: str, rank: int, init: str, eps: float, max_iter: int, fixed: bool):
    return learn.race(name, rank=rank, init=init, eps=eps, max_iter=max_iter,
                      pgd_step=2.5 if fixed else None)


result, _ = attempt(_race, name, rank, init, eps, max_iter, fixed)
if result is not None:
    st.plotly_chart(lp.race_curves(result, presenter), key="learn_race_curves")
    down = [lp.SOLVER_LABELS[s] for s, ok in result.monotone.items() if ok]
    up = [f"{lp.SOLVER_LABELS[s]} ({result.increases[s]} rises)"
          for s, ok in result.monotone.items() if not ok]
    st.markdown(f"**Never went up:** {', '.join(down) or '—'}.  \n"
                f"**Went up at some iteration:** {', '.join(up) or '—'}.")
    st.caption("The time axis counts the updates only (the error evaluations are left out); "
               "the machine is shared, so times are indicative.")

    st.subheader("Step through the iterations")
    st.markdown("Pick a solver and move the slider: the rows of H are drawn as images for "
                "image data, W as a heat map (one column per sample).")
    s1, s2 = st.columns([1, 3])
    solver = s1.selectbox("Solver", list(result.snapshots), format_func=lp.SOLVER_LABELS.get,
                          index=1, key="learn_race_solver")
    iteration = s2.select_slider("Iteration", options=list(result.snapshot_iterations),
                                 value=result.snapshot_iterations[-1],
                                 key=f"learn_race_step_{max_iter}")
    f_w, f_h = lp.race_snapshot(result, solver, iteration, presenter)
    st.plotly_chart(f_h, key="learn_race_H")
    st.plotly_chart(f_w, key="learn_race_W")
