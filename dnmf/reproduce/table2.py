"""CBCL: the paper's Table 2 (mean ± std over seeds), Fig. 2 (median error ratios), Fig. 3."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .._log_axis import readable_log_y
from ..divergence import hoyer_sparsity
from ._common import Report, Runner, Stopped, fit_pair, fmt_pm, load_paper_file, pair_iterations

__all__ = ["reproduce_table2", "PAPER_TABLE2"]

RANKS = (80, 40, 20)
#: Table 2: (mean, std) of error deep/multilayer %, sparsity multilayer %, sparsity deep %
PAPER_TABLE2 = {
    "ratio": [(108.3, 1.1), (26.8, 3.2), (4.4, 0.3)],
    "sparsity_multilayer": [(58.5, 0.6), (37.3, 1.0), (22.1, 1.0)],
    "sparsity_deep": [(70.1, 1.2), (50.6, 2.6), (27.1, 2.9)],
}
FULL = {"ml_iter": 1000, "init_iter": 500, "deep_iter": 500}
QUICK = {"ml_iter": 6, "init_iter": 3, "deep_iter": 3}


def _sparsity(model, n_layers: int) -> np.ndarray:
    return np.array([100 * hoyer_sparsity(model.features(ell)).mean()
                     for ell in range(1, n_layers + 1)])


def reproduce_table2(data_dir=None, *, seeds: int = 10, quick: bool = False, progress=None,
                     files=None, first_seed: int = 0) -> Report:
    """CBCL Xᵀ (2429 faces × 361 pixels), r = (80, 40, 20), as the paper's §4.1.

    Per seed: multilayer KL-NMF with 1000 MU iterations per layer, and deep KL-NMF warm-started
    by 500 multilayer iterations per layer then 500 iterations of Algorithm 1 (λ_ℓ = 1/D_ℓ⁰).
    Reports per layer the error ratio deep/multilayer (%) and the mean Hoyer sparsity of the
    features H_ℓ⋯H_1 (rows) of both, mean ± std over seeds beside Table 2; Fig. 2 (median over
    seeds of the deep errors along the iterations ÷ the multilayer final error); Fig. 3 (the
    features of the last seed). ``quick``: 6 / 3 + 3 iterations and at most 2 seeds.

    Parameters
    ----------
    data_dir : folder holding CBCL.mat (default ``$DNMF_DATA_DIR`` or ``../shared/data``)
    seeds : int, number of runs (seeds first_seed, first_seed+1, …; the paper used 35)
    quick : bool
    progress : callable(message, fraction) -> bool | None; False stops
    files : mapping file name -> bytes (uploads), wins over ``data_dir``

    Returns
    -------
    Report
    """
    it = QUICK if quick else FULL
    seeds = max(1, min(int(seeds), 2) if quick else int(seeds))
    ds = load_paper_file("CBCL.mat", data_dir, files)
    X = ds.X
    L = len(RANKS)
    runner = Runner(seeds * pair_iterations(L, it), progress)
    report = Report("table2", dataset=ds)
    ratios, sp_ml, sp_deep, curves = [], [], [], []
    ml = deep = None
    try:
        runner.say(f"CBCL {X.shape[0]}×{X.shape[1]}, r = {RANKS}, {seeds} seed(s)")
        for k in range(seeds):
            seed = first_seed + k
            ml, deep = fit_pair(runner, seed, X, RANKS, it)
            ratios.append(100 * deep.layer_errors_ / ml.layer_errors_)
            sp_ml.append(_sparsity(ml, L))
            sp_deep.append(_sparsity(deep, L))
            hist = deep.history_
            curves.append((hist["iteration"].to_numpy(),
                           hist[[f"error_layer_{i}" for i in range(1, L + 1)]].to_numpy()
                           / ml.layer_errors_))
            runner.say(f"seed {seed}: ratios " + ", ".join(f"{r:.1f}" for r in ratios[-1])
                       + " %")
    except Stopped:
        report.stopped = True
    if not ratios:
        report.notes.append("stopped before the first seed finished")
        return report
    ratios, sp_ml, sp_deep = np.array(ratios), np.array(sp_ml), np.array(sp_deep)
    n = len(ratios)
    for ell in range(L):
        for key, label, values in (("ratio", "error deep/multilayer %", ratios),
                                   ("sparsity_multilayer", "sparsity multilayer %", sp_ml),
                                   ("sparsity_deep", "sparsity deep %", sp_deep)):
            mean, std = PAPER_TABLE2[key][ell]
            report.rows.append((f"layer {ell + 1}: {label}", f"{mean} ± {std}",
                                fmt_pm(values[:, ell])))
    report.numbers = {
        "seeds": list(range(first_seed, first_seed + n)), "ranks": list(RANKS),
        "iterations": it, "paper": PAPER_TABLE2,
        "ratio": ratios, "sparsity_multilayer": sp_ml, "sparsity_deep": sp_deep,
        "mean": {"ratio": ratios.mean(0), "sparsity_multilayer": sp_ml.mean(0),
                 "sparsity_deep": sp_deep.mean(0)},
        "std": {"ratio": ratios.std(0, ddof=1) if n > 1 else np.zeros(L),
                "sparsity_multilayer": sp_ml.std(0, ddof=1) if n > 1 else np.zeros(L),
                "sparsity_deep": sp_deep.std(0, ddof=1) if n > 1 else np.zeros(L)},
    }
    report.notes.append(f"{n} seed(s); the paper used 35. Multilayer {it['ml_iter']} MU "
                        f"iterations per layer; deep {it['init_iter']} + {it['deep_iter']}.")
    report.figures["fig2_ratios"] = _fig2(curves, L)
    report.figures["fig3_features"] = _fig3(ml, deep, ds, L)
    report.fits = {f"table2 multilayer seed {first_seed + n - 1}": ml.result_,
                   f"table2 deep seed {first_seed + n - 1}": deep.result_}
    return report


def _fig2(curves, L: int) -> go.Figure:
    length = min(len(c[0]) for c in curves)
    x = curves[0][0][:length]
    stack = np.stack([c[1][:length] for c in curves])  # seeds × points × layers
    median = np.median(stack, axis=0)
    fig = go.Figure()
    for ell in range(L):
        fig.add_trace(go.Scatter(x=x, y=median[:, ell], mode="lines", name=f"layer {ell + 1}"))
    fig.add_hline(y=1.0, line=dict(color="gray", dash="dot"))
    fig.update_layout(
        title=f"Fig. 2: deep error ÷ final multilayer error (median of {len(curves)} runs)",
        xaxis_title="iteration of Algorithm 1", yaxis_title="error ratio",
        height=420, width=760, margin=dict(l=10, r=10, t=60, b=10))
    return readable_log_y(fig)


def _fig3(ml, deep, ds, L: int) -> go.Figure:
    from ..plots import image_grid

    n_show = 10
    images, titles = [], []
    for name, model in (("multilayer", ml), ("deep", deep)):
        for ell in range(1, L + 1):
            F = model.features(ell)
            for j in range(min(n_show, F.shape[0])):
                images.append(ds.to_image(F[j]))
                titles.append(f"{name} {ell}.{j + 1}")
    fig = image_grid(images, titles=titles, n_cols=n_show, title=(
        "Fig. 3: features H_ℓ⋯H_1 (first 10), multilayer above deep"), tile_px=90)
    fig.update_annotations(font_size=9)
    return fig
