"""Plotly figures of the Learn pages, drawn from what :mod:`dnmf.learn` computes.

Every builder takes ``presenter=False``; True enlarges fonts, markers and heights for a
projector. Nothing here imports streamlit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._log_axis import readable_log_y

__all__ = [
    "SOLVER_COLORS",
    "SOLVER_LABELS",
    "balance_curves",
    "cone_3d",
    "components_side_by_side",
    "error_vs_rank",
    "layer_cones_figure",
    "mosaic",
    "mrsa_bars",
    "non_uniqueness_figure",
    "race_curves",
    "race_snapshot",
    "simplex_view",
    "to_simplex",
    "zero_locking_figure",
]

SOLVER_LABELS = {"mu": "MU (Lee–Seung)", "hals": "HALS", "als": "ALS [·]₊",
                 "pgd": "PGD", "opl": "OPL", "ipg": "IPG"}
SOLVER_COLORS = {"mu": "#1f77b4", "hals": "#2ca02c", "als": "#d62728", "pgd": "#9467bd",
                 "opl": "#ff7f0e", "ipg": "#17becf"}
_TRUTH = "#d62728"
_FIT = "#1f77b4"
_SNPA = "#ff7f0e"


def mosaic(images: list[np.ndarray], n_cols: int, *, title: str, signed: bool = False,
           presenter: bool = False, tile_px: int = 80) -> go.Figure:
    """Pictures tiled into one heat map (one trace, NaN gaps): fast to build and to draw.

    Each picture is scaled to its own maximum |value| (signed: a red–blue scale centred on 0;
    otherwise grey levels from 0).
    """
    h, w = images[0].shape
    n_rows = -(-len(images) // n_cols)
    pad = max(1, h // 8)
    canvas = np.full((n_rows * (h + pad) - pad, n_cols * (w + pad) - pad), np.nan)
    for i, im in enumerate(images):
        r, c = divmod(i, n_cols)
        peak = float(np.abs(im).max()) or 1.0
        canvas[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = im / peak
    trace = go.Heatmap(z=canvas, colorscale="RdBu" if signed else "gray",
                       zmin=-1 if signed else 0, zmax=1, zmid=0 if signed else None,
                       showscale=signed, hoverinfo="skip",
                       colorbar=dict(thickness=10, title="value / max") if signed else None)
    fig = go.Figure(trace)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    tile = tile_px * (1.45 if presenter else 1.0)
    fig.update_layout(title=title, height=int(n_rows * tile + 60),
                      margin=dict(l=4, r=4, t=50, b=4), plot_bgcolor="white",
                      font=dict(size=20 if presenter else 13))
    return fig


def _style(fig: go.Figure, presenter: bool, height: int) -> go.Figure:
    scale = 1.45 if presenter else 1.0
    fig.update_layout(font=dict(size=20 if presenter else 13), height=int(height * scale),
                      margin=dict(l=10, r=10, t=60, b=10))
    if presenter:
        fig.update_annotations(font_size=20)
    return fig


# ---------------------------------------------------------------------------------------------
# What NMF finds
# ---------------------------------------------------------------------------------------------


def components_side_by_side(demo: dict, presenter: bool = False,
                            n_show: int = 24) -> tuple[go.Figure, go.Figure]:
    """SVD components on a red–blue scale (signed) and NMF parts in grey (nonnegative)."""
    shape = demo["image_shape"]
    k = min(n_show, demo["svd"].shape[0])
    f1 = mosaic([v.reshape(shape) for v in demo["svd"][:k]], 9, signed=True,
                presenter=presenter, title="SVD / PCA: signed, holistic components")
    f2 = mosaic([h.reshape(shape) for h in demo["nmf"][:k]], 9, presenter=presenter,
                title="NMF: nonnegative parts (rows of H)")
    return f1, f2


def error_vs_rank(errors: pd.DataFrame, presenter: bool = False) -> go.Figure:
    fig = go.Figure()
    for method, color in (("SVD / PCA", "#7f7f7f"), ("NMF", _FIT)):
        part = errors[errors["method"] == method]
        fig.add_trace(go.Scatter(x=part["rank"], y=part["relative error"], name=method,
                                 mode="lines+markers", line=dict(color=color, width=3),
                                 marker=dict(size=12 if presenter else 8)))
    fig.update_layout(title="Relative error ‖X − X̂‖ / ‖X‖ against the rank",
                      xaxis_title="rank r", yaxis_title="relative error",
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return _style(fig, presenter, 380)


def _matrix(M: np.ndarray, colorscale: str = "Blues") -> go.Heatmap:
    return go.Heatmap(z=M, colorscale=colorscale, showscale=False, zmin=0,
                      text=np.round(M, 2), texttemplate="%{text}",
                      hovertemplate="%{z:.3f}<extra></extra>")


def non_uniqueness_figure(demo: dict, presenter: bool = False) -> go.Figure:
    """W, H and W Q, Q⁻¹ H as annotated heatmaps."""
    fig = make_subplots(rows=2, cols=3, column_widths=[0.22, 0.48, 0.3],
                        subplot_titles=("W", "H", "X = W H", "W Q", "Q⁻¹ H", "X = (W Q)(Q⁻¹ H)"),
                        horizontal_spacing=0.05, vertical_spacing=0.14)
    for row, (W, H) in enumerate(((demo["W"], demo["H"]), (demo["W2"], demo["H2"])), start=1):
        fig.add_trace(_matrix(W), row=row, col=1)
        fig.add_trace(_matrix(H, "Greens"), row=row, col=2)
        fig.add_trace(_matrix(W @ H, "Purples"), row=row, col=3)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(title=f"Two exact NMFs of one matrix (Q = [[1, {demo['Q'][0, 1]:g}], "
                            "[0, 1]])")
    if presenter:
        fig.update_traces(textfont_size=18)
    return _style(fig, presenter, 420)


def zero_locking_figure(demo: dict, presenter: bool = False) -> go.Figure:
    curves = demo["curves"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("relative error", "the entry W[0, 0]"))
    for floor, part in curves.groupby("ε", sort=True):
        name = "ε = 0 (locked)" if floor == 0 else f"ε = {floor:g}"
        color = _TRUTH if floor == 0 else _FIT
        fig.add_trace(go.Scatter(x=part["iteration"], y=part["relative error"], name=name,
                                 line=dict(color=color, width=3)), row=1, col=1)
        fig.add_trace(go.Scatter(x=part["iteration"], y=part["W[0, 0]"], name=name,
                                 showlegend=False, line=dict(color=color, width=3)),
                      row=1, col=2)
    fig.update_yaxes(type="log", dtick=1, exponentformat="power", row=1, col=1)
    fig.update_xaxes(title_text="iteration")
    fig.update_layout(title="Multiplicative updates: a zero stays zero",
                      legend=dict(orientation="h", y=1.12, yanchor="bottom", x=1,
                                  xanchor="right"))
    return _style(fig, presenter, 360)


# ---------------------------------------------------------------------------------------------
# The race
# ---------------------------------------------------------------------------------------------


def _solver_name(race, solver: str) -> str:
    mark = "" if race.monotone.get(solver, True) else f"  (rose {race.increases[solver]}×)"
    return SOLVER_LABELS.get(solver, solver) + mark


def race_curves(race, presenter: bool = False) -> go.Figure:
    """Relative error against iteration and against update time, both log scales."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("against iterations",
                                                        "against time (updates only)"),
                        horizontal_spacing=0.08)
    width = 4 if presenter else 2.5
    for solver, part in race.history.groupby("solver", sort=False):
        style = dict(color=SOLVER_COLORS.get(solver), width=width,
                     dash="dot" if not race.monotone[solver] else "solid")
        fig.add_trace(go.Scatter(x=part["iteration"], y=part["relative error"],
                                 name=_solver_name(race, solver), line=style,
                                 legendgroup=solver), row=1, col=1)
        timed = part[part["seconds"] > 0]
        fig.add_trace(go.Scatter(x=timed["seconds"], y=timed["relative error"],
                                 name=_solver_name(race, solver), line=style,
                                 legendgroup=solver, showlegend=False), row=1, col=2)
    # A diverging solver (fixed-step PGD) would stretch the axis over dozens of decades: show
    # up to 100x the starting error and say that the rest is off the chart.
    err = race.history["relative error"].to_numpy()
    err = err[np.isfinite(err) & (err > 0)]
    start = float(race.history.loc[race.history["iteration"] == 0, "relative error"].max())
    top = min(float(err.max()), 100 * start) if err.size else 1.0
    bottom = float(err.min()) if err.size else 1e-3
    y_range = [np.log10(bottom) - 0.2, np.log10(top) + 0.2]
    fig.update_yaxes(type="log", dtick=1 if y_range[1] - y_range[0] < 12 else 2,
                     exponentformat="power", range=y_range)
    clipped = bool(err.size and float(err.max()) > top)
    fig.update_yaxes(title_text="‖X − WH‖ / ‖X‖" + (" (clipped at 100× the start)"
                                                    if clipped else ""), row=1, col=1)
    fig.update_xaxes(title_text="iteration", row=1, col=1)
    fig.update_xaxes(type="log", dtick=1, exponentformat="power", title_text="seconds",
                     row=1, col=2)
    fig.update_layout(title="The race: every solver from the same initial factors",
                      legend=dict(orientation="h", y=-0.18))
    return _style(fig, presenter, 460)


def race_snapshot(race, solver: str, iteration: int, presenter: bool = False,
                  n_show: int = 20) -> tuple[go.Figure, go.Figure]:
    """W and H of one solver at one kept iteration: rows of H as images for image data."""
    W, H = race.snapshots[solver][iteration]
    label = f"{SOLVER_LABELS.get(solver, solver)}, iteration {iteration}"
    if race.image_shape is not None:
        k = min(n_show, H.shape[0])
        fH = mosaic([h.reshape(race.image_shape) for h in H[:k]], 10, presenter=presenter,
                    title=f"H (parts) — {label}", tile_px=70)
    else:
        fH = go.Figure(go.Heatmap(z=H, colorscale="Viridis"))
        fH.update_layout(title=f"H — {label}", height=300)
    fW = go.Figure(go.Heatmap(z=W.T, colorscale="Viridis", colorbar=dict(thickness=10),
                              hovertemplate="component %{y}, sample %{x}: %{z:.3g}"
                                            "<extra></extra>"))
    fW.update_layout(title="W — weights of the components in every sample (transposed)",
                     xaxis_title="sample", yaxis_title="component")
    _style(fW, presenter, 260)
    return fW, fH


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------

_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def to_simplex(M: np.ndarray) -> np.ndarray:
    """Columns of a nonnegative 3 × k matrix, scaled to sum 1, as 2-D points (k, 2) of the
    triangle with corners e₁ (0, 0), e₂ (1, 0), e₃ (½, √3/2)."""
    M = np.asarray(M, dtype=float)
    P = M / np.maximum(M.sum(axis=0, keepdims=True), np.finfo(float).tiny)
    return P.T @ _CORNERS


def _polygon(points: np.ndarray, name: str, color: str, dash: str = "solid",
             width: float = 2.5, size: float = 12, symbol: str = "diamond") -> list[go.Scatter]:
    """The convex hull of ``points`` (closed line) and every point marked (interior ones
    too): two traces in one legend group."""
    hull = points
    if len(points) > 3:
        from scipy.spatial import ConvexHull, QhullError

        try:
            hull = points[ConvexHull(points).vertices]
        except QhullError:  # collinear points: draw them in order
            hull = points
    else:
        centre = points.mean(axis=0)
        hull = points[np.argsort(np.arctan2(points[:, 1] - centre[1],
                                            points[:, 0] - centre[0]))]
    closed = np.vstack([hull, hull[:1]])
    return [
        go.Scatter(x=closed[:, 0], y=closed[:, 1], mode="lines", name=name, legendgroup=name,
                   line=dict(color=color, dash=dash, width=width), hoverinfo="skip"),
        go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name=name,
                   legendgroup=name, showlegend=False,
                   marker=dict(size=size, symbol=symbol, color=color)),
    ]


def _triangle_frame(fig: go.Figure, row=None, col=None) -> None:
    c = np.vstack([_CORNERS, _CORNERS[:1]])
    kw = {} if row is None else dict(row=row, col=col)
    fig.add_trace(go.Scatter(x=c[:, 0], y=c[:, 1], mode="lines", name="unit simplex",
                             line=dict(color="#bbbbbb", width=1), showlegend=row in (None, 1)
                             and col in (None, 1), hoverinfo="skip"), **kw)


def simplex_view(ex: dict, presenter: bool = False) -> go.Figure:
    """The columns of X on the simplex, conv(W) of the truth, SNPA's picks, a fitted W."""
    fig = go.Figure()
    _triangle_frame(fig)
    size = 9 if presenter else 6
    pts = to_simplex(ex["X"])
    fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name="columns of X",
                             marker=dict(size=size, color="#555555", opacity=0.6)))
    fig.add_traces(_polygon(to_simplex(ex["W"]), "true W (cone edges)", _TRUTH))
    if "W_fit" in ex:
        fig.add_traces(_polygon(to_simplex(ex["W_fit"]), "fitted W (HALS, random start)", _FIT,
                                dash="dash", symbol="circle"))
    picks = pts[ex["snpa"]]
    fig.add_trace(go.Scatter(x=picks[:, 0], y=picks[:, 1], mode="markers+text",
                             name="SNPA's picks (in order)",
                             text=[str(i + 1) for i in range(len(picks))],
                             textposition="top center",
                             marker=dict(size=2.2 * size, color=_SNPA, symbol="star",
                                         line=dict(width=1, color="black"))))
    fig.update_xaxes(visible=False, range=[-0.05, 1.05])
    fig.update_yaxes(visible=False, scaleanchor="x", range=[-0.05, 0.92])
    fig.update_layout(title="The simplex: columns of X scaled to sum 1",
                      legend=dict(orientation="h", y=-0.05), plot_bgcolor="white")
    return _style(fig, presenter, 520)


def cone_3d(ex: dict, presenter: bool = False) -> go.Figure:
    """The columns of X in R³ and the cone spanned by the columns of W (rays from 0)."""
    X, W = ex["X"], ex["W"]
    fig = go.Figure()
    fig.add_trace(go.Scatter3d(x=X[0], y=X[1], z=X[2], mode="markers", name="columns of X",
                               marker=dict(size=3 if not presenter else 5, color="#555555")))
    scale = 1.25 * float(np.linalg.norm(X, axis=0).max() / np.linalg.norm(W, axis=0).min())
    for k in range(W.shape[1]):
        end = W[:, k] * scale
        fig.add_trace(go.Scatter3d(x=[0, end[0]], y=[0, end[1]], z=[0, end[2]],
                                   mode="lines", name=f"ray of w{k + 1}",
                                   line=dict(color=_TRUTH, width=6)))
    tri = W * scale
    fig.add_trace(go.Mesh3d(x=tri[0], y=tri[1], z=tri[2], i=[0], j=[1], k=[2], opacity=0.15,
                            color=_TRUTH, name="cone(W) cut", hoverinfo="skip"))
    fig.update_layout(title="R³: cone(W) = {W h : h ≥ 0} holds every column",
                      scene=dict(xaxis_title="x₁", yaxis_title="x₂", zaxis_title="x₃",
                                 aspectmode="cube"),
                      legend=dict(orientation="h", y=-0.05))
    return _style(fig, presenter, 520)


def layer_cones_figure(lc: dict, presenter: bool = False) -> go.Figure:
    """Multilayer and deep side by side: X, W_1 (6 vertices), W_2 (3) and the truth."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("multilayer NMF", "deep NMF"),
                        horizontal_spacing=0.04)
    pts = to_simplex(lc["X"])
    for col, key in ((1, "multilayer"), (2, "deep")):
        first = col == 1
        _triangle_frame(fig, 1, col)
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name="columns of X",
                                 marker=dict(size=4, color="#999999", opacity=0.4),
                                 showlegend=first), row=1, col=col)
        for layer, (W_true, W_fit) in enumerate(zip(lc["truth"], lc[key]), start=1):
            dash = "dot" if layer == 2 else "solid"
            sub = "₁₂₃"[layer - 1]
            t = _polygon(to_simplex(W_true), f"true cone(W{sub}*)", _TRUTH, dash=dash,
                         width=1.5, size=7)
            f = _polygon(to_simplex(W_fit), f"fitted cone(W{sub})", _FIT, dash=dash,
                         symbol="circle")
            for tr in (*t, *f):
                tr.showlegend = first and tr.mode == "lines"
                fig.add_trace(tr, row=1, col=col)
    fig.update_xaxes(visible=False, range=[-0.05, 1.05])
    fig.update_yaxes(visible=False, range=[-0.05, 0.92])
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_layout(title="Layer 2's cone contains layer 1's: W₁ = W₂ H₂ with H₂ ≥ 0",
                      legend=dict(orientation="h", y=-0.05), plot_bgcolor="white")
    return _style(fig, presenter, 480)


# ---------------------------------------------------------------------------------------------
# Deep vs multilayer
# ---------------------------------------------------------------------------------------------

_MODEL_COLORS = {"multilayer": "#7f7f7f", "deep": "#1f77b4", "deep min-vol": "#2ca02c"}


def mrsa_bars(demo: dict, presenter: bool = False) -> go.Figure:
    table = demo["table"]
    fig = go.Figure()
    for model, part in table.groupby("model", sort=False):
        mean = part.groupby("layer")["MRSA"].mean()
        fig.add_trace(go.Bar(x=[f"layer {ell}" for ell in mean.index], y=mean.to_numpy(),
                             name=model, marker_color=_MODEL_COLORS.get(model),
                             text=[f"{v:.2f}" for v in mean.to_numpy()], textposition="outside"))
    fig.update_layout(barmode="group", title="MRSA against the truth (mean over seeds; "
                                             "lower is better)",
                      yaxis_title="MRSA (0–100)",
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1,
                                  xanchor="right"))
    return _style(fig, presenter, 400)


def balance_curves(demo: dict, presenter: bool = False) -> go.Figure:
    bal = demo["balance"]
    fig = go.Figure()
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    for i, c in enumerate(c for c in bal.columns if c.startswith("layer")):
        fig.add_trace(go.Scatter(x=bal["iteration"], y=bal[c], name=c,
                                 line=dict(width=4 if presenter else 2.5,
                                           color=colors[i % len(colors)])))
    fig.add_hline(y=1.0, line=dict(color="gray", dash="dot"))
    fig.update_layout(title="Deep NMF: each layer's error ÷ its error at the warm start",
                      xaxis_title="deep iteration", yaxis_title="ratio",
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1,
                                  xanchor="right"))
    return _style(readable_log_y(fig), presenter, 380)
