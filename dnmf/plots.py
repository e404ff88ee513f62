"""Plotly figure builders for the dnmf workbench.

Every function here is pure: it takes fit results (:class:`dnmf.result.FitResult`, or anything with
the same ``W``/``H``/``history``/``layer_errors``/``weights`` attributes) and datasets
(:class:`dnmf.datasets.Dataset`) and returns a :class:`plotly.graph_objects.Figure` — or, for the
few tabular views, a :class:`pandas.DataFrame`. Nothing here imports streamlit, so the builders can
be used from a notebook as well as from the app.

Orientation (docs/architecture.md §1). Layer-ℓ *features* depend on the data's kind:

- images: rows of ``H_ℓ ⋯ H_1`` — each one a picture (``Dataset.to_image``);
- spectra: columns of ``W_ℓ`` (spectra); rows of ``H_ℓ ⋯ H_1`` are the abundance maps;
- text: columns of ``W_ℓ`` (topics, read through their top words);
- generic: rows of ``H_ℓ ⋯ H_1``.

Conventions: one ``go.Heatmap`` trace per picture in every image grid (so a grid of ``k`` pictures
has exactly ``k`` traces), one trace per layer (per run) in every curve plot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import scipy.sparse as sp
from plotly.subplots import make_subplots

from dnmf import metrics
from dnmf._log_axis import readable_log_y
from dnmf.divergence import beta_divergence, hoyer_sparsity
from dnmf.models.multilayer import normalize_rows_of_H

__all__ = [
    "LAYER_COLORS",
    "abundance_maps",
    "band_image",
    "comparison_table",
    "convergence",
    "document_length_histogram",
    "error_ratio_curves",
    "factor_heatmaps",
    "false_colour",
    "feature_gallery",
    "feature_order",
    "feature_rows",
    "feature_sparsity",
    "hierarchy_sankey",
    "image_grid",
    "image_preview",
    "layer_table",
    "matrix_heatmap",
    "mixing_heatmap",
    "reconstruction_strip",
    "spectra_lines",
    "spectra_preview",
    "topic_documents",
    "topic_labels",
    "topic_words",
    "top_words_bar",
    "top_words",
]

#: One colour per layer (layer 1 first), shared by every curve plot.
LAYER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
#: One colour per run in comparisons.
RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]


# --------------------------------------------------------------------------------------- access
def _W(result) -> list[np.ndarray]:
    W = getattr(result, "W", None)
    if W is None:
        W = result.W_
    return list(W)


def _H(result) -> list[np.ndarray]:
    H = getattr(result, "H", None)
    if H is None:
        H = result.H_
    return list(H)


def _history(result) -> pd.DataFrame:
    h = getattr(result, "history", None)
    if h is None:
        h = getattr(result, "history_", None)
    return pd.DataFrame() if h is None else h


def _layer_errors(result) -> np.ndarray:
    e = getattr(result, "layer_errors", None)
    if e is None:
        e = getattr(result, "layer_errors_", None)
    return np.asarray([] if e is None else e, dtype=float)


def _weights(result) -> np.ndarray | None:
    w = getattr(result, "weights", None)
    if w is None:
        w = getattr(result, "weights_", None)
    return None if w is None else np.asarray(w, dtype=float)


def _beta(result) -> float:
    cfg = getattr(result, "config", None) or {}
    return float(cfg.get("beta", getattr(result, "beta", 1.0)))


def normalized_factors(result) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Copies of the factors rescaled so that every H_ℓ has rows summing to one (H_ℓ e = e,
    the deep model's constraint), every W_{ℓ-1} ≈ W_ℓ H_ℓ kept matched (docs/architecture.md §1)."""
    Ws = [np.array(W, dtype=float) for W in _W(result)]
    Hs = [np.array(H, dtype=float) for H in _H(result)]
    normalize_rows_of_H(Ws, Hs)
    return Ws, Hs


def normalized_layer_errors(result) -> np.ndarray:
    """The final per-layer errors with every H_ℓ e = e (see :func:`normalized_factors`).

    Errors of layers ≥ 2 depend on how W_{ℓ-1} is scaled: multilayer NMF scales the columns of
    W_ℓ to a maximum of 1 while deep NMF makes the rows of H_ℓ sum to one. Runs are compared
    in the deep model's scaling (the paper's convention). Layer 1 is scale-free (W_1 H_1 is
    unchanged) and keeps the stored error.
    """
    errs = _layer_errors(result).copy()
    Ws, Hs = normalized_factors(result)
    beta = _beta(result)
    for ell in range(2, len(Ws) + 1):
        val = beta_divergence(Ws[ell - 2], Ws[ell - 1], Hs[ell - 1], beta)
        if errs.size >= ell:
            errs[ell - 1] = val
        else:
            errs = np.append(errs, val)
    return errs


def rows_sum_to_one(result, tol: float = 1e-6) -> bool:
    """True when every H_ℓ already has rows summing to one (deep models)."""
    return all(np.allclose(np.asarray(H).sum(axis=1), 1.0, atol=tol) for H in _H(result))


def _n_layers(result) -> int:
    return len(_W(result))


def _check_layer(result, layer: int) -> int:
    L = _n_layers(result)
    if not 1 <= int(layer) <= L:
        raise ValueError(f"layer must be between 1 and {L}, got {layer}")
    return int(layer)


def _features(result, layer: int) -> np.ndarray:
    """H_ℓ ⋯ H_1 (r_ℓ × n)."""
    _check_layer(result, layer)
    H = _H(result)
    out = np.asarray(H[0])
    for Hl in H[1:layer]:
        out = np.asarray(Hl) @ out
    return out


def _dense(X) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def _label(text: Any) -> str:
    """A user-supplied string (word, run or dataset name) for a Plotly label: Plotly reads
    labels as pseudo-HTML (``<a href>``, ``<b>``), so ``<``, ``>`` and ``&`` are escaped."""
    import html

    return html.escape(str(text), quote=False)


def _row(X, i: int) -> np.ndarray:
    r = X[i]
    return np.asarray(r.toarray() if sp.issparse(r) else r, dtype=float).ravel()


def feature_rows(result, layer: int, kind: str) -> np.ndarray:
    """The layer-ℓ features as rows of a matrix, as the data's kind reads them.

    images/generic: rows of H_ℓ⋯H_1 (r_ℓ × n); spectra/text: columns of W_ℓ (r_ℓ × m).
    """
    if kind in ("spectra", "text"):
        return np.asarray(_W(result)[_check_layer(result, layer) - 1]).T
    return _features(result, layer)


def feature_sparsity(result, layer: int, kind: str) -> float:
    """Mean Hoyer sparsity of the layer-ℓ features (docs/architecture.md §1), in [0, 1]."""
    return float(np.mean(hoyer_sparsity(feature_rows(result, layer, kind), axis=1)))


def feature_order(result, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Order of the layer-ℓ features by weight, heaviest first, and each one's share.

    The weight of feature k is the total mass of its rank-one term in X ≈ W_ℓ (H_ℓ⋯H_1):
    ``sum(W_ℓ[:, k]) · sum((H_ℓ⋯H_1)[k, :])``.
    """
    W = np.asarray(_W(result)[_check_layer(result, layer) - 1])
    F = _features(result, layer)
    mass = W.sum(axis=0) * F.sum(axis=1)
    total = mass.sum()
    share = mass / total if total > 0 else np.full(mass.shape, 1.0 / max(1, mass.size))
    order = np.argsort(-mass, kind="stable")
    return order, share


def _sub(name: str, index) -> str:
    """``W<sub>2</sub>`` — a subscript in plotly text."""
    return f"{name}<sub>{index}</sub>"


def _prod(layer: int) -> str:
    """H<sub>ℓ</sub>⋯H<sub>1</sub> (just H<sub>1</sub> for layer 1)."""
    return _sub("H", 1) if layer == 1 else f"{_sub('H', layer)}⋯{_sub('H', 1)}"


# ------------------------------------------------------------------------------- image grids
def _grid_shape(k: int, n_cols: int | None) -> tuple[int, int]:
    cols = n_cols or min(10, max(1, k))
    cols = max(1, min(cols, k))
    return math.ceil(k / cols), cols


def image_grid(
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    titles: Sequence[str] | None = None,
    n_cols: int | None = None,
    per_image_scale: bool = True,
    zmin: float | None = None,
    zmax: float | None = None,
    colorscale: str = "gray",
    colorbar_title: str | None = None,
    title: str | None = None,
    tile_px: int = 86,
) -> go.Figure:
    """A grid of pictures, one ``go.Heatmap`` trace per picture, the right way up.

    ``per_image_scale=True`` stretches each picture to its own [min, max] (features);
    ``False`` puts every picture on one shared colour scale [zmin, zmax] with a colour bar.
    """
    imgs = [np.asarray(im, dtype=float) for im in images]
    k = len(imgs)
    if k == 0:
        fig = go.Figure()
        fig.update_layout(title=title, height=120)
        return fig
    rows, cols = _grid_shape(k, n_cols)
    vs = 0.0 if rows == 1 else min(0.06, 0.5 / (rows - 1))
    hs = 0.0 if cols == 1 else min(0.012, 0.5 / (cols - 1))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=list(titles) if titles is not None else None,
        horizontal_spacing=hs,
        vertical_spacing=vs,
    )
    if not per_image_scale:
        lo = float(min(im.min() for im in imgs)) if zmin is None else float(zmin)
        hi = float(max(im.max() for im in imgs)) if zmax is None else float(zmax)
        if hi <= lo:
            hi = lo + 1.0
    for i, im in enumerate(imgs):
        r, c = divmod(i, cols)
        if per_image_scale:
            trace = go.Heatmap(
                z=im,
                colorscale=colorscale,
                showscale=False,
                zmin=float(im.min()),
                zmax=float(im.max()) if im.max() > im.min() else float(im.min()) + 1.0,
                hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>",
                name=titles[i] if titles is not None else f"{i + 1}",
            )
        else:
            trace = go.Heatmap(
                z=im,
                coloraxis="coloraxis",
                hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>",
                name=titles[i] if titles is not None else f"{i + 1}",
            )
        fig.add_trace(trace, row=r + 1, col=c + 1)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", constrain="domain")
    for i in range(1, k + 1):
        suffix = "" if i == 1 else str(i)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    if not per_image_scale:
        fig.update_layout(
            coloraxis=dict(
                colorscale=colorscale,
                cmin=lo,
                cmax=hi,
                colorbar=dict(title=colorbar_title, thickness=12),
            )
        )
    fig.update_annotations(font_size=10)
    top = 40 if title else 24
    fig.update_layout(
        title=title,
        height=int(rows * tile_px + top + 10),
        margin=dict(l=4, r=4, t=top, b=4),
        showlegend=False,
    )
    return fig


def image_preview(dataset, n: int = 40, n_cols: int = 10) -> go.Figure:
    """The first ``n`` images of an images dataset (each on its own grey scale)."""
    k = min(int(n), dataset.shape[0])
    imgs = dataset.images(slice(0, k))
    titles = None
    if dataset.labels is not None:
        names = dataset.label_names
        lab = dataset.labels[:k]
        titles = [
            str(names[int(v)]) if names is not None and 0 <= int(v) < len(names) else str(v)
            for v in lab
        ]
    return image_grid(
        imgs,
        titles=titles,
        n_cols=n_cols,
        title=f"First {k} of {dataset.shape[0]} images ({dataset.image_shape[0]}×"
        f"{dataset.image_shape[1]} px)",
    )


def feature_gallery(
    result, dataset, layer: int, *, max_features: int = 60, n_cols: int = 10
) -> go.Figure:
    """Images kind: the layer-ℓ features (rows of H_ℓ⋯H_1) as pictures, heaviest first.

    Each tile is titled with its rank and its share of the total mass.
    """
    layer = _check_layer(result, layer)
    F = _features(result, layer)
    order, share = feature_order(result, layer)
    order = order[: int(max_features)]
    imgs = [dataset.to_image(F[k]) for k in order]
    titles = [f"#{k + 1} · {share[k]:.0%}" for k in order]
    shown = "" if len(order) == F.shape[0] else f", {len(order)} heaviest shown"
    return image_grid(
        imgs,
        titles=titles,
        n_cols=n_cols,
        title=f"Layer {layer}: {F.shape[0]} features (rows of {_prod(layer)}), sorted by "
        f"weight{shown}",
    )


def reconstruction_strip(result, dataset, sample: int) -> go.Figure:
    """Images kind: one picture and its reconstruction W_ℓ[i] (H_ℓ⋯H_1) at every layer.

    All tiles share the original's colour scale; titles give the relative error per layer.
    """
    X = dataset.X
    i = int(sample)
    if not 0 <= i < X.shape[0]:
        raise ValueError(f"sample must be between 0 and {X.shape[0] - 1}, got {sample}")
    x = _row(X, i)
    imgs = [dataset.to_image(x)]
    titles = [f"image {i}"]
    nx = float(np.linalg.norm(x)) or 1.0
    W = _W(result)
    for layer in range(1, len(W) + 1):
        rec = np.asarray(W[layer - 1][i]) @ _features(result, layer)
        imgs.append(dataset.to_image(rec))
        err = float(np.linalg.norm(rec - x)) / nx
        titles.append(f"layer {layer} · {err:.0%} err")
    hi = float(max(im.max() for im in imgs))
    return image_grid(
        imgs,
        titles=titles,
        n_cols=len(imgs),
        per_image_scale=False,
        zmin=0.0,
        zmax=hi,
        title=f"Image {i} and its reconstruction at every layer (relative Frobenius error)",
        tile_px=150,
    )


# ------------------------------------------------------------------------------------ spectra
def _wavelength_axis(dataset) -> tuple[np.ndarray, str]:
    m = dataset.shape[0]
    wl = getattr(dataset, "wavelengths", None)
    if wl is None:
        return np.arange(1, m + 1), "band"
    unit = getattr(dataset, "wavelength_unit", None) or ""
    label = "band" if unit == "band" else f"wavelength ({unit})" if unit else "wavelength"
    return np.asarray(wl, dtype=float), label


def spectra_preview(dataset, n: int = 60, seed: int = 0) -> go.Figure:
    """Spectra kind: ``n`` randomly chosen pixel spectra (thin) and the mean spectrum (bold)."""
    m, npix = dataset.shape
    x_axis, xlabel = _wavelength_axis(dataset)
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.choice(npix, size=min(int(n), npix), replace=False))
    X = dataset.X
    block = _dense(X[:, cols])
    fig = go.Figure()
    for j, c in enumerate(cols):
        fig.add_trace(
            go.Scatter(
                x=x_axis,
                y=block[:, j],
                mode="lines",
                line=dict(width=0.7, color="rgba(100,110,140,0.35)"),
                name=f"pixel {c}",
                showlegend=False,
                hovertemplate=f"pixel {c}<br>%{{x}}: %{{y:.3g}}<extra></extra>",
            )
        )
    mean = np.asarray(X.mean(axis=1)).ravel()
    fig.add_trace(
        go.Scatter(x=x_axis, y=mean, mode="lines", line=dict(width=3, color="#d62728"),
                   name="mean spectrum")
    )
    fig.update_layout(
        title=f"{len(cols)} random pixel spectra of {npix} and the mean",
        xaxis_title=xlabel,
        yaxis_title="value",
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def _rgb_bands(dataset) -> list[int]:
    m = dataset.shape[0]
    wl = getattr(dataset, "wavelengths", None)
    unit = getattr(dataset, "wavelength_unit", None)
    if wl is not None and unit in ("nm", "µm", "um"):
        scale = 1000.0 if unit in ("µm", "um") else 1.0
        w = np.asarray(wl, dtype=float) * scale
        if w.min() <= 650 and w.max() >= 450:
            return [int(np.argmin(np.abs(w - t))) for t in (650.0, 550.0, 460.0)]
    return [int(round(f * (m - 1))) for f in (0.8, 0.5, 0.2)]


def false_colour(dataset, bands: Sequence[int] | None = None) -> go.Figure:
    """Spectra kind: a false-colour picture of the scene from three bands (red, green, blue).

    Without ``bands``, bands near 650/550/460 nm are used when the wavelengths are known,
    otherwise bands at 80 %, 50 % and 20 % of the range. Each channel is stretched to its
    99th percentile.
    """
    if dataset.image_shape is None:
        raise ValueError("this dataset has no image shape, so it cannot be shown as a picture")
    b = list(bands) if bands is not None else _rgb_bands(dataset)
    X = dataset.X
    chans = []
    for k in b:
        img = dataset.to_image(_row(X, int(k)))
        hi = float(np.percentile(img, 99)) or float(img.max()) or 1.0
        chans.append(np.clip(img / hi, 0, 1))
    rgb = (np.stack(chans, axis=-1) * 255).astype(np.uint8)
    x_axis, _ = _wavelength_axis(dataset)
    names = ", ".join(f"{x_axis[k]:g}" for k in b)
    fig = go.Figure(go.Image(z=rgb, hovertemplate="row %{y}, col %{x}<extra></extra>"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        title=f"False colour (R, G, B = bands at {names})",
        height=380,
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def band_image(dataset, band: int) -> go.Figure:
    """Spectra kind: the scene at one band, as a heatmap."""
    if dataset.image_shape is None:
        raise ValueError("this dataset has no image shape, so it cannot be shown as a picture")
    m = dataset.shape[0]
    if not 0 <= int(band) < m:
        raise ValueError(f"band must be between 0 and {m - 1}, got {band}")
    img = dataset.to_image(_row(dataset.X, int(band)))
    x_axis, xlabel = _wavelength_axis(dataset)
    fig = go.Figure(go.Heatmap(z=img, colorscale="Viridis",
                               colorbar=dict(thickness=12),
                               hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>"))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        title=f"Band {int(band)} ({xlabel} {x_axis[int(band)]:g})",
        height=380,
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def pixel_shares(result, layer: int) -> np.ndarray:
    """Layer-ℓ abundances as shares of each pixel, shape (r_ℓ, n), columns summing to one.

    X ≈ W_ℓ (H_ℓ⋯H_1): the part of pixel j that material k explains is the mass of its
    rank-one term there, ``sum(W_ℓ[:, k]) · (H_ℓ⋯H_1)[k, j]``; dividing by the pixel's total
    gives fractions in [0, 1] that do not depend on how the factors are scaled.
    """
    W = np.asarray(_W(result)[_check_layer(result, layer) - 1], dtype=float)
    A = W.sum(axis=0)[:, None] * _features(result, layer)
    tot = A.sum(axis=0, keepdims=True)
    return np.divide(A, tot, out=np.zeros_like(A), where=tot > 0)


def abundance_maps(
    result,
    dataset,
    layer: int,
    *,
    names: Sequence[str] | None = None,
    n_cols: int | None = None,
    shares: bool = True,
) -> go.Figure:
    """Spectra kind: the rows of H_ℓ⋯H_1 as abundance maps (one heatmap per material), on one
    colour scale shared by all layers of the run so maps of different layers compare by eye.

    ``shares=True`` (default) shows each material's share of every pixel
    (:func:`pixel_shares`, scale [0, 1]); ``False`` the raw rows of H_ℓ⋯H_1 on a scale up to
    their maximum over all layers.
    """
    layer = _check_layer(result, layer)
    L = _n_layers(result)
    if shares:
        F = pixel_shares(result, layer)
        hi, label, what = 1.0, "share of pixel", "share of each pixel"
    else:
        F = _features(result, layer)
        hi = max(float(_features(result, ell).max()) for ell in range(1, L + 1))
        label, what = "abundance", f"rows of {_prod(layer)}"
    imgs = [dataset.to_image(F[k]) for k in range(F.shape[0])]
    titles = list(names) if names is not None else [f"{layer}.{k + 1}" for k in range(len(imgs))]
    return image_grid(
        imgs,
        titles=titles,
        n_cols=n_cols or min(6, len(imgs)),
        per_image_scale=False,
        zmin=0.0,
        zmax=hi,
        colorscale="Viridis",
        colorbar_title=label,
        title=f"Layer {layer}: abundance maps ({what}, from {_prod(layer)}), one scale for all "
        "layers",
        tile_px=170,
    )


def spectra_lines(
    result, dataset, layer: int, *, names: Sequence[str] | None = None, normalize: bool = False
) -> go.Figure:
    """Spectra kind: the columns of W_ℓ (one trace per endmember) against the wavelengths."""
    layer = _check_layer(result, layer)
    W = np.asarray(_W(result)[layer - 1], dtype=float)
    x_axis, xlabel = _wavelength_axis(dataset)
    fig = go.Figure()
    for k in range(W.shape[1]):
        y = W[:, k]
        if normalize:
            s = y.max()
            y = y / s if s > 0 else y
        label = names[k] if names is not None else f"{layer}.{k + 1}"
        fig.add_trace(
            go.Scatter(x=x_axis, y=y, mode="lines", name=label,
                       line=dict(width=2, color=RUN_COLORS[k % len(RUN_COLORS)]))
        )
    fig.update_layout(
        title=f"Layer {layer}: spectra (columns of {_sub('W', layer)})",
        xaxis_title=xlabel,
        yaxis_title="normalised" if normalize else "value",
        height=340,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def mixing_heatmap(result, layer: int, *, row_labels=None, col_labels=None) -> go.Figure:
    """H_ℓ for ℓ ≥ 2: how the layer-(ℓ-1) features combine into layer-ℓ features."""
    layer = _check_layer(result, layer)
    if layer < 2:
        raise ValueError("the mixing matrix H_ℓ links two layers: choose a layer ≥ 2")
    H = np.asarray(_H(result)[layer - 1], dtype=float)
    y = list(row_labels) if row_labels is not None else [f"{layer}.{k + 1}" for k in
                                                          range(H.shape[0])]
    x = list(col_labels) if col_labels is not None else [f"{layer - 1}.{j + 1}" for j in
                                                          range(H.shape[1])]
    fig = go.Figure(
        go.Heatmap(z=H, x=x, y=y, colorscale="Blues", colorbar=dict(thickness=12),
                   hovertemplate="%{x} → %{y}: %{z:.3f}<extra></extra>")
    )
    fig.update_yaxes(autorange="reversed", title=f"layer {layer}")
    fig.update_xaxes(title=f"layer {layer - 1}")
    fig.update_layout(
        title=f"{_sub('H', layer)}: layer-{layer - 1} features → layer-{layer} features",
        height=max(260, 28 * H.shape[0] + 140),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def hierarchy_sankey(
    result,
    *,
    labels: Sequence[Sequence[str]] | None = None,
    threshold: float = 0.02,
    title: str | None = None,
) -> go.Figure:
    """The layer hierarchy drawn from H_2 … H_L: nodes are the features of every layer, a link
    from layer-(ℓ-1) feature j to layer-ℓ feature k has the weight H_ℓ[k, j].

    Links lighter than ``threshold`` × the largest entry of their H_ℓ are left out (for
    legibility). ``labels[ℓ-1][k]`` names feature k of layer ℓ.
    """
    W = _W(result)
    H = _H(result)
    L = len(W)
    ranks = [w.shape[1] for w in W]
    offsets = np.concatenate([[0], np.cumsum(ranks)]).astype(int)
    node_labels: list[str] = []
    node_colors: list[str] = []
    for ell in range(1, L + 1):
        for k in range(ranks[ell - 1]):
            lab = labels[ell - 1][k] if labels is not None else f"{ell}.{k + 1}"
            node_labels.append(_label(lab))
            node_colors.append(LAYER_COLORS[(ell - 1) % len(LAYER_COLORS)])
    src, tgt, val, link_lab = [], [], [], []
    for ell in range(2, L + 1):
        Hl = np.asarray(H[ell - 1], dtype=float)
        cut = threshold * float(Hl.max()) if Hl.size else 0.0
        for k in range(Hl.shape[0]):
            for j in range(Hl.shape[1]):
                v = float(Hl[k, j])
                if v > cut and v > 0:
                    src.append(int(offsets[ell - 2] + j))
                    tgt.append(int(offsets[ell - 1] + k))
                    val.append(v)
                    link_lab.append(f"H_{ell}[{k + 1},{j + 1}] = {v:.3f}")
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node=dict(label=node_labels, color=node_colors, pad=10, thickness=16,
                      line=dict(width=0)),
            textfont=dict(size=12, color="#1f2937"),
            link=dict(source=src, target=tgt, value=val, label=link_lab,
                      color="rgba(120,130,160,0.35)"),
        )
    )
    n_nodes = max(ranks) if ranks else 1
    fig.update_layout(
        title=title or f"Hierarchy: layer 1 (left) → layer {L} (right); links are the H weights",
        height=max(320, 24 * n_nodes + 120),
        margin=dict(l=10, r=10, t=50, b=10),
        font_size=11,
    )
    return fig


# --------------------------------------------------------------------------------------- text
def top_words(W_col: np.ndarray, vocabulary: Sequence[str], n: int = 10) -> list[tuple[str, float]]:
    """The ``n`` heaviest words of one topic (column of W), with their weights."""
    col = np.asarray(W_col, dtype=float).ravel()
    idx = np.argsort(-col, kind="stable")[: int(n)]
    return [(str(vocabulary[i]), float(col[i])) for i in idx]


def _vocab(dataset, m: int) -> list[str]:
    v = getattr(dataset, "vocabulary", None)
    return list(v) if v is not None else [f"word {i}" for i in range(m)]


def topic_labels(result, dataset, n_words: int = 3) -> list[list[str]]:
    """A short label per topic of every layer: ``"2.3 · tax budget bill"``."""
    W = _W(result)
    vocab = _vocab(dataset, W[0].shape[0])
    out = []
    for ell, Wl in enumerate(W, start=1):
        out.append(
            [
                f"{ell}.{k + 1} · " + " ".join(w for w, _ in top_words(Wl[:, k], vocab, n_words))
                for k in range(Wl.shape[1])
            ]
        )
    return out


def topic_words(
    result, dataset, layer: int, *, n_words: int = 8, n_cols: int = 4, max_topics: int = 40
) -> go.Figure:
    """Text kind: one small horizontal bar chart per topic of layer ℓ (one trace per topic),
    with the topic's ``n_words`` heaviest words; topics ordered by weight."""
    layer = _check_layer(result, layer)
    W = np.asarray(_W(result)[layer - 1], dtype=float)
    vocab = _vocab(dataset, W.shape[0])
    order, share = feature_order(result, layer)
    order = order[: int(max_topics)]
    k = len(order)
    rows, cols = _grid_shape(k, n_cols)
    titles = [f"topic {layer}.{t + 1} · {share[t]:.0%}" for t in order]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=0.12 if cols > 1 else 0.0,
        vertical_spacing=0.0 if rows == 1 else min(0.08, 0.6 / (rows - 1)),
    )
    color = LAYER_COLORS[(layer - 1) % len(LAYER_COLORS)]
    for i, t in enumerate(order):
        words = top_words(W[:, t], vocab, n_words)
        total = W[:, t].sum() or 1.0
        r, c = divmod(i, cols)
        fig.add_trace(
            go.Bar(
                x=[v / total for _, v in words][::-1],
                y=[_label(w) for w, _ in words][::-1],
                orientation="h",
                marker_color=color,
                name=f"topic {layer}.{t + 1}",
                hovertemplate="%{y}: %{x:.1%} of the topic<extra></extra>",
            ),
            row=r + 1,
            col=c + 1,
        )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(tickfont_size=10)
    fig.update_annotations(font_size=11)
    fig.update_layout(
        title=f"Layer {layer}: {W.shape[1]} topics (columns of {_sub('W', layer)}), "
        f"top {n_words} words",
        height=int(rows * (22 * n_words + 40) + 60),
        margin=dict(l=10, r=10, t=60, b=10),
        showlegend=False,
    )
    return fig


def topic_documents(result, dataset, layer: int, topic: int, n: int = 10) -> pd.DataFrame:
    """Text kind: the ``n`` documents that load most on topic ``topic`` (1-based) of layer ℓ,
    read from row ``topic`` of H_ℓ⋯H_1, with their share of that topic and their label."""
    layer = _check_layer(result, layer)
    F = _features(result, layer)
    t = int(topic) - 1
    if not 0 <= t < F.shape[0]:
        raise ValueError(f"topic must be between 1 and {F.shape[0]}, got {topic}")
    col_tot = F.sum(axis=0)
    share = np.divide(F[t], col_tot, out=np.zeros_like(F[t]), where=col_tot > 0)
    idx = np.argsort(-F[t], kind="stable")[: int(n)]
    docs = getattr(dataset, "documents", None)
    labels = getattr(dataset, "labels", None)
    names = getattr(dataset, "label_names", None)
    rows = []
    for j in idx:
        label = ""
        if labels is not None and len(labels) == F.shape[1]:
            v = labels[j]
            label = names[int(v)] if names is not None and 0 <= int(v) < len(names) else str(v)
        rows.append(
            {
                "document": int(j),
                "weight": float(F[t, j]),
                "share of the document": float(share[j]),
                "label": label,
                "text": docs[j] if docs is not None else "",
            }
        )
    return pd.DataFrame(rows)


def top_words_bar(dataset, n: int = 30) -> go.Figure:
    """Text kind: the ``n`` most frequent words of the corpus (total count over documents)."""
    counts = np.asarray(dataset.X.sum(axis=1)).ravel()
    vocab = _vocab(dataset, counts.size)
    idx = np.argsort(-counts, kind="stable")[: int(n)]
    fig = go.Figure(
        go.Bar(x=[_label(vocab[i]) for i in idx], y=counts[idx], marker_color=LAYER_COLORS[0],
               hovertemplate="%{x}: %{y:.0f}<extra></extra>")
    )
    fig.update_layout(
        title=f"The {len(idx)} most frequent of {counts.size} words",
        yaxis_title="total count",
        height=340,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis_tickangle=-45,
    )
    return fig


def document_length_histogram(dataset) -> go.Figure:
    """Text kind: the distribution of document lengths (total count per column of X)."""
    lengths = np.asarray(dataset.X.sum(axis=0)).ravel()
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=40, marker_color=LAYER_COLORS[1]))
    fig.update_layout(
        title=f"Length of the {lengths.size} documents (median {np.median(lengths):.0f} words)",
        xaxis_title="words in the document (kept vocabulary)",
        yaxis_title="documents",
        height=340,
        margin=dict(l=10, r=10, t=50, b=10),
        bargap=0.05,
    )
    return fig


# ------------------------------------------------------------------------------------ generic
def matrix_heatmap(
    X, *, title: str = "X", max_rows: int = 300, max_cols: int = 300, colorscale: str = "Viridis"
) -> go.Figure:
    """Any matrix as a heatmap; large matrices are subsampled evenly (the title says so)."""
    m, n = X.shape
    ri = np.unique(np.linspace(0, m - 1, min(m, int(max_rows))).astype(int))
    ci = np.unique(np.linspace(0, n - 1, min(n, int(max_cols))).astype(int))
    sub = X[ri][:, ci] if sp.issparse(X) else np.asarray(X)[np.ix_(ri, ci)]
    sub = _dense(sub)
    note = "" if (len(ri), len(ci)) == (m, n) else f" (every {m // len(ri)}th row, " \
                                                   f"{n // len(ci)}th column shown)"
    fig = go.Figure(
        go.Heatmap(z=sub, x=ci, y=ri, colorscale=colorscale, colorbar=dict(thickness=12),
                   hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>")
    )
    fig.update_yaxes(autorange="reversed", title="row")
    fig.update_xaxes(title="column")
    fig.update_layout(title=f"{_label(title)}: {m} × {n}{note}", height=420,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def factor_heatmaps(result, layer: int) -> go.Figure:
    """Generic kind: W_ℓ and H_ℓ⋯H_1 side by side (two heatmap traces)."""
    layer = _check_layer(result, layer)
    W = np.asarray(_W(result)[layer - 1], dtype=float)
    F = _features(result, layer)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.3, 0.7], horizontal_spacing=0.16,
                        subplot_titles=[f"{_sub('W', layer)} ({W.shape[0]}×{W.shape[1]})",
                                        f"{_prod(layer)} ({F.shape[0]}×{F.shape[1]})"])
    fig.add_trace(go.Heatmap(z=W, coloraxis="coloraxis"), row=1, col=1)
    fig.add_trace(go.Heatmap(z=F, coloraxis="coloraxis2"), row=1, col=2)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        coloraxis=dict(colorscale="Viridis", colorbar=dict(x=0.27, xanchor="left",
                                                           thickness=10)),
        coloraxis2=dict(colorscale="Viridis", colorbar=dict(thickness=10)),
        height=420,
        margin=dict(l=10, r=10, t=50, b=10),
        title=f"Layer {layer}: coefficients and features",
    )
    return fig


# ------------------------------------------------------------------------------ any kind
def _error_columns(history: pd.DataFrame, L: int) -> list[str | None]:
    return [f"error_layer_{ell}" if f"error_layer_{ell}" in history.columns else None
            for ell in range(1, L + 1)]


def convergence(result, *, log_y: bool = True) -> go.Figure:
    """Per-layer error D_β(W_{ℓ-1}, W_ℓ H_ℓ) against the iteration (one trace per layer).

    Deep models: the deep phase (iteration 0 is the warm start's end). Multilayer models fit
    one layer after the other, so each layer's curve runs over that layer's own iterations.
    """
    L = _n_layers(result)
    hist = _history(result)
    fig = go.Figure()
    x_col = "iteration" if "iteration" in hist.columns else None
    for ell, col in enumerate(_error_columns(hist, L), start=1):
        if col is None:
            continue
        part = hist[[c for c in (x_col, col) if c]].dropna()
        x = part[x_col] if x_col else np.arange(1, len(part) + 1)
        fig.add_trace(
            go.Scatter(x=x, y=part[col], mode="lines", name=f"layer {ell}",
                       line=dict(color=LAYER_COLORS[(ell - 1) % len(LAYER_COLORS)], width=2))
        )
    fig.update_layout(
        title="Convergence: error of each layer, "
        "D<sub>β</sub>(W<sub>ℓ-1</sub>, W<sub>ℓ</sub>H<sub>ℓ</sub>)",
        xaxis_title="iteration",
        yaxis_title="error",
        height=340,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    return readable_log_y(fig) if log_y else fig


def layer_table(result, kind: str = "generic") -> pd.DataFrame:
    """One row per layer: rank, final error, the weight λ_ℓ used, Hoyer sparsity of the
    features (as the kind reads them) and of the layer's coefficient factor."""
    W = _W(result)
    L = len(W)
    errs = _layer_errors(result)
    lam = _weights(result)
    rows = []
    for ell in range(1, L + 1):
        coef = _features(result, ell).T if kind in ("spectra", "text") else np.asarray(
            W[ell - 1]).T
        rows.append(
            {
                "layer": ell,
                "rank": int(W[ell - 1].shape[1]),
                "error": float(errs[ell - 1]) if errs.size >= ell else math.nan,
                "λ": float(lam[ell - 1]) if lam is not None and lam.size >= ell else math.nan,
                "feature sparsity": feature_sparsity(result, ell, kind),
                "coefficient sparsity": float(np.mean(hoyer_sparsity(coef, axis=1))),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- compare
def error_ratio_curves(
    runs: Mapping[str, Any], reference: Any, *, reference_name: str = "reference"
) -> go.Figure:
    """The paper's Figs 2 and 4: for every run and layer, the run's error along its iterations
    divided by the reference run's *final* error at that layer (one trace per run and layer).

    The reference's final errors are taken with H_ℓ e = e (:func:`normalized_layer_errors`), the
    scaling the deep models iterate in. For a run whose H's do not have unit row sums (e.g.
    multilayer NMF, whose history is recorded in its own scaling) only layer 1 — which does not
    depend on the scaling — is drawn. A ratio below 1 means a smaller error at that layer.
    """
    ref_err = normalized_layer_errors(reference)
    fig = go.Figure()
    for r_i, (name, res) in enumerate(runs.items()):
        hist = _history(res)
        L = min(_n_layers(res), ref_err.size)
        if not rows_sum_to_one(res):
            L = min(L, 1)
        x_col = "iteration" if "iteration" in hist.columns else None
        for ell, col in enumerate(_error_columns(hist, L), start=1):
            if col is None or not ref_err[ell - 1] > 0:
                continue
            part = hist[[c for c in (x_col, col) if c]].dropna()
            x = part[x_col] if x_col else np.arange(1, len(part) + 1)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=part[col] / ref_err[ell - 1],
                    mode="lines",
                    name=f"{_label(name)} · layer {ell}",
                    line=dict(color=LAYER_COLORS[(ell - 1) % len(LAYER_COLORS)],
                              dash=_DASHES[r_i % len(_DASHES)], width=2),
                )
            )
    fig.add_hline(y=1.0, line=dict(color="gray", dash="dot", width=1))
    fig.update_layout(
        title=f"Error per layer ÷ final error of {_label(reference_name)} at that layer",
        xaxis_title="iteration",
        yaxis_title="error ratio",
        height=380,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.2),
    )
    return readable_log_y(fig)


def comparison_table(
    runs: Mapping[str, Any], reference_name: str, kind: str = "generic"
) -> pd.DataFrame:
    """The paper's Table 2 for any runs: one row per layer; for every run its error as a
    percentage of the reference run's error at that layer (both with H_ℓ e = e, see
    :func:`normalized_layer_errors`), and its feature sparsity (%)."""
    normalized = {name: normalized_layer_errors(res) for name, res in runs.items()}
    ref_err = normalized[reference_name]
    L = max(_n_layers(r) for r in runs.values())
    rows = []
    for ell in range(1, L + 1):
        row: dict[str, Any] = {"layer": ell}
        for name in runs:
            errs = normalized[name]
            if name != reference_name:
                ok = errs.size >= ell and ref_err.size >= ell and ref_err[ell - 1] > 0
                row[f"{name}: error % of {reference_name}"] = (
                    100.0 * errs[ell - 1] / ref_err[ell - 1] if ok else math.nan
                )
        for name, res in runs.items():
            row[f"{name}: sparsity %"] = (
                100.0 * feature_sparsity(res, ell, kind) if _n_layers(res) >= ell else math.nan
            )
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- ground truth
def _truth_W(dataset) -> list[np.ndarray]:
    gt = getattr(dataset, "ground_truth", None) or {}
    W = gt.get("W")
    if isinstance(W, (list, tuple)) and W:
        return [np.asarray(w, dtype=float) for w in W]
    if gt.get("endmembers") is not None:
        return [np.asarray(gt["endmembers"], dtype=float)]
    return []


def has_ground_truth(dataset) -> bool:
    """True when the dataset knows the true W_ℓ (or endmembers) of at least one layer."""
    return bool(_truth_W(dataset)) if dataset is not None else False


def _angles(A: np.ndarray, B: np.ndarray, centred: bool) -> np.ndarray:
    """Angles (radians) between every column of A and every column of B."""
    if centred:
        A = A - A.mean(axis=0, keepdims=True)
        B = B - B.mean(axis=0, keepdims=True)
    na = np.linalg.norm(A, axis=0)
    nb = np.linalg.norm(B, axis=0)
    cos = (A.T @ B) / np.maximum(np.outer(na, nb), np.finfo(float).tiny)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _matched_pairs(W_est: np.ndarray, W_true: np.ndarray):
    """(est, true) column indices of the Hungarian matching by spectral angle
    (:func:`dnmf.metrics.match_columns`), min(r_est, r_true) pairs."""
    if W_est.shape[1] >= W_true.shape[1]:
        perm = metrics.match_columns(W_true, W_est, metric="sad")
        return perm, np.arange(perm.size)
    perm = metrics.match_columns(W_est, W_true, metric="sad")  # fewer estimated columns
    return np.arange(perm.size), perm


def _truth_abundances(dataset) -> list[np.ndarray | None]:
    gt = getattr(dataset, "ground_truth", None) or {}
    out = [gt.get("abundances"), gt.get("abundances_layer2")]
    return [None if a is None else np.asarray(a, dtype=float) for a in out]


def ground_truth_scores(result, dataset) -> pd.DataFrame:
    """One row per layer with a known truth: the columns of W_ℓ matched to the true ones
    (Hungarian matching, :mod:`dnmf.metrics`), mean and worst SAD (degrees), MRSA (thesis
    eq. 2.9, 0–100) and, for spectra whose true abundances are known, the RMSE of the matched
    abundance maps (as shares of each pixel). Lower is better everywhere."""
    truth = _truth_W(dataset)
    W = [np.asarray(w, dtype=float) for w in _W(result)]
    pairs = [(ell, Wl, Wt) for ell, (Wl, Wt) in enumerate(zip(W, truth), start=1)
             if Wl.shape[0] == Wt.shape[0]]
    abund = _truth_abundances(dataset)
    rows = []
    for ell, Wl, Wt in pairs:
        if Wl.shape[1] >= Wt.shape[1]:
            s_ = metrics.sad(Wt, Wl)
            sad_deg = np.degrees(np.asarray(s_.per_column, dtype=float))
            mrsa_mean = float(metrics.mrsa(Wt, Wl).mean)
            perm = np.asarray(s_.perm)
        else:  # fewer estimated than true columns: score the pairs there are
            est, tru = _matched_pairs(Wl, Wt)
            sad_deg = np.degrees(np.diag(_angles(Wl[:, est], Wt[:, tru], False)))
            mrsa_mean = float(np.mean(100.0 / np.pi * np.diag(
                _angles(Wl[:, est], Wt[:, tru], True))))
            perm = None
        row = {
            "layer": ell,
            "matched": f"{min(Wl.shape[1], Wt.shape[1])} of {Wt.shape[1]} true",
            "mean SAD (°)": float(np.mean(sad_deg)),
            "worst SAD (°)": float(np.max(sad_deg)),
            "MRSA": mrsa_mean,
        }
        A = abund[ell - 1] if ell - 1 < len(abund) else None
        if perm is not None and A is not None and A.shape[1] == _H(result)[0].shape[1]:
            try:
                row["abundance RMSE"] = float(
                    metrics.abundance_rmse(A, pixel_shares(result, ell), perm))
            except ValueError:
                pass
        rows.append(row)
    return pd.DataFrame(rows)


def has_labels(dataset) -> bool:
    """True when the dataset has one class label per sample."""
    return dataset is not None and getattr(dataset, "labels", None) is not None


def label_purity(result, dataset) -> pd.DataFrame:
    """One row per layer: each sample is assigned to its heaviest layer-ℓ feature (its row of
    W_ℓ when samples are the rows of X, its column of H_ℓ⋯H_1 when they are the columns), and
    purity = (1/N) Σ_k max_c |{samples of feature k with label c}| — 1 when every feature's
    samples share one label; the share of the largest class when the features say nothing."""
    labels = np.asarray(dataset.labels).ravel()
    axis = getattr(dataset, "sample_axis", 0)
    L = _n_layers(result)
    classes, codes = np.unique(labels, return_inverse=True)
    rows = []
    for ell in range(1, L + 1):
        coef = np.asarray(_W(result)[ell - 1]) if axis == 0 else _features(result, ell).T
        if coef.shape[0] != labels.size:
            continue
        assign = np.argmax(coef, axis=1)
        table = np.zeros((coef.shape[1], classes.size))
        np.add.at(table, (assign, codes), 1.0)
        rows.append({"layer": ell, "features used": int(np.count_nonzero(table.sum(axis=1))),
                     "label purity": float(table.max(axis=1).sum() / labels.size),
                     "largest class": float(np.bincount(codes).max() / labels.size)})
    return pd.DataFrame(rows)


def ground_truth_spectra(result, dataset, layer: int) -> go.Figure:
    """Matched pairs of estimated (solid) and true (dotted) columns of W_ℓ, each scaled to a
    maximum of one; one colour per pair."""
    layer = _check_layer(result, layer)
    truth = _truth_W(dataset)
    fig = go.Figure()
    if layer > len(truth):
        fig.update_layout(title=f"No ground truth for layer {layer}", height=120)
        return fig
    Wl = np.asarray(_W(result)[layer - 1], dtype=float)
    Wt = truth[layer - 1]
    est, tru = _matched_pairs(Wl, Wt)  # the same matching as the scores table
    gt = getattr(dataset, "ground_truth", {}) or {}
    names = gt.get("names")
    if names and isinstance(names[0], (list, tuple)):
        names = names[layer - 1] if layer - 1 < len(names) else None
    elif layer != 1:
        names = gt.get("layer_names", [None, None])[layer - 1] if gt.get("layer_names") else None
    x_axis, xlabel = _wavelength_axis(dataset) if Wl.shape[0] == dataset.shape[0] else (
        np.arange(1, Wl.shape[0] + 1), "row")
    sad = np.degrees(np.diag(_angles(Wl[:, est], Wt[:, tru], False)))
    for p, (e, t) in enumerate(zip(est, tru)):
        color = RUN_COLORS[p % len(RUN_COLORS)]
        tname = names[t] if names is not None and t < len(names) else f"true {t + 1}"
        ye, yt = Wl[:, e], Wt[:, t]
        fig.add_trace(go.Scatter(x=x_axis, y=ye / (ye.max() or 1.0), mode="lines",
                                 line=dict(color=color, width=2),
                                 name=f"{layer}.{e + 1} ↔ {tname} ({sad[p]:.1f}°)"))
        fig.add_trace(go.Scatter(x=x_axis, y=yt / (yt.max() or 1.0), mode="lines",
                                 line=dict(color=color, width=2, dash="dot"),
                                 name=f"true: {tname}", showlegend=False))
    fig.update_layout(
        title=f"Layer {layer}: estimated (solid) vs true (dotted) columns of "
        f"{_sub('W', layer)}, matched",
        xaxis_title=xlabel,
        yaxis_title="scaled to max 1",
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig
