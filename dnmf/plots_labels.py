"""Figures and tables of a run against the class labels of its dataset's samples.

A dataset's labels name the class of every *sample*: rows of X for images, columns for the
other kinds (``Dataset.sample_axis``). A sample's layer-ℓ coordinates are then the row of
W_ℓ (samples are rows) or the column of H_ℓ ⋯ H_1 (samples are columns). Every layer is
scored by :func:`dnmf.labels.layer_accuracies` on the samples whose labels were hidden: for a
run fitted with labels (Neural NMF) those it did not see, and its own classification layer B
on the last layer; for any other run a stratified draw of the same fraction (seeded), so
multilayer, deep and Neural NMF runs are scored alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .labels import LayerAccuracy, known_mask, layer_accuracies
from .result import features_product

__all__ = [
    "has_labels",
    "sample_coordinates",
    "run_layer_accuracies",
    "accuracy_figure",
    "confusion_figure",
    "accuracy_table",
    "accuracy_note",
]

#: The fraction of known labels a run without its own is scored with (the slides' 40 %).
DEFAULT_KNOWN_FRACTION = 0.4


def has_labels(dataset) -> bool:
    """Whether the dataset carries a class for every sample (and two classes at least)."""
    labels = getattr(dataset, "labels", None)
    return labels is not None and np.unique(np.asarray(labels)).size >= 2


def _sample_axis(dataset) -> int:
    return int(getattr(dataset, "sample_axis", 1))


def sample_coordinates(result, layer: int, sample_axis: int) -> np.ndarray:
    """The samples' layer-ℓ coordinates, (n_samples, r_ℓ): W_ℓ or (H_ℓ ⋯ H_1)ᵀ."""
    if sample_axis == 0:
        return np.asarray(result.W[layer - 1], dtype=float)
    return np.asarray(features_product(result.H, layer), dtype=float).T


def _run_labels(result) -> dict | None:
    info = (getattr(result, "config", None) or {}).get("labels")
    return info if isinstance(info, Mapping) else None


def run_layer_accuracies(result, dataset, known_fraction: float = DEFAULT_KNOWN_FRACTION,
                         seed: int = 0) -> list[LayerAccuracy] | None:
    """Accuracy per layer of ``result`` on ``dataset``'s labels; None without labels.

    A run fitted with labels on the same samples is scored on the labels it did not see (its
    own B on the last layer); any other run on a stratified draw hiding ``1 − known_fraction``
    of the labels.
    """
    if not has_labels(dataset):
        return None
    y = np.asarray(dataset.labels)
    axis = _sample_axis(dataset)
    coords = [sample_coordinates(result, ell, axis) for ell in range(1, len(result.W) + 1)]
    if coords[0].shape[0] != y.size:
        return None  # the run was fitted on other data
    info = _run_labels(result)
    B_last = None
    if info is not None and int(info.get("axis", 0)) == axis and info.get("known") is not None:
        known = np.zeros(y.size, dtype=bool)
        known[np.asarray(info["known"], dtype=int)] = True
        classes = np.asarray(info.get("classes", []))
        B = np.asarray(info.get("B", []), dtype=float)
        if classes.size == np.unique(y).size and np.array_equal(np.sort(classes),
                                                                np.unique(y)):
            B_last = B
    else:
        known = known_mask(y.size, known_fraction, seed=seed, y=y)
    if not known.any():
        known = known_mask(y.size, DEFAULT_KNOWN_FRACTION, seed=seed, y=y)
    return layer_accuracies(coords, y, known, B_last=B_last)


def accuracy_note(result, known_fraction: float = DEFAULT_KNOWN_FRACTION) -> str:
    """One sentence saying how :func:`run_layer_accuracies` scored ``result``."""
    info = _run_labels(result)
    if info is not None and info.get("known") is not None:
        return (f"The fit saw {len(info['known'])} labels; accuracy is on the others. Each "
                "layer's samples are classified by a nonnegative linear classifier fitted on "
                "the known labels; the last layer by the model's own classification layer B.")
    return (f"This run saw no labels: each layer's samples are classified by a nonnegative "
            f"linear classifier fitted on {known_fraction:.0%} of the labels (stratified, "
            "seed 0) and scored on the others, so runs of every model are scored alike.")


def _class_names(dataset, classes: np.ndarray) -> list[str]:
    names = getattr(dataset, "label_names", None)
    out = []
    for c in classes:
        try:
            out.append(str(names[int(c)]) if names is not None else str(c))
        except (IndexError, TypeError, ValueError):
            out.append(str(c))
    return out


def accuracy_figure(accuracies: Sequence[LayerAccuracy], title: str = "") -> go.Figure:
    """Bars: accuracy of every layer, with the chance level (the largest class share)."""
    layers = [f"layer {a.layer}" for a in accuracies]
    values = [a.accuracy for a in accuracies]
    fig = go.Figure(go.Bar(x=layers, y=values, text=[f"{v:.0%}" for v in values],
                           textposition="outside", marker_color="#4C78A8",
                           hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    if accuracies:
        conf = accuracies[0].confusion
        chance = conf.sum(axis=1).max() / max(conf.sum(), 1)
        fig.add_hline(y=chance, line_dash="dot", annotation_text="largest class",
                      annotation_position="top left")
    n = accuracies[0].scored_rows.size if accuracies else 0
    fig.update_layout(title=title or f"Accuracy per layer ({n} samples with hidden labels)",
                      yaxis=dict(range=[0, 1.1], tickformat=".0%"), height=320,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def confusion_figure(accuracy: LayerAccuracy, dataset=None, max_classes: int = 12
                     ) -> go.Figure:
    """Heatmap of one layer's confusion matrix (true class × predicted class).

    With more than ``max_classes`` classes only the largest ones (by scored samples) are
    drawn; the title says so.
    """
    C = accuracy.confusion
    order = np.argsort(-C.sum(axis=1), kind="stable")
    shown = np.sort(order[: int(max_classes)])
    names = _class_names(dataset, accuracy.classes[shown])
    Cs = C[np.ix_(shown, shown)]
    note = (f", the {shown.size} largest of {C.shape[0]} classes" if shown.size < C.shape[0]
            else "")
    fig = go.Figure(go.Heatmap(z=Cs, x=names, y=names, colorscale="Blues", text=Cs,
                               texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(title=f"Layer {accuracy.layer}: confusion ({accuracy.accuracy:.0%} "
                      f"right{note})", xaxis_title="predicted", yaxis_title="true",
                      yaxis_autorange="reversed", height=max(320, 26 * len(names) + 160),
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def accuracy_table(runs: Mapping[str, object], dataset,
                   known_fraction: float = DEFAULT_KNOWN_FRACTION) -> pd.DataFrame | None:
    """One row per run, one column per layer: accuracy on the hidden labels (None: no labels)."""
    rows = []
    for name, result in runs.items():
        accs = run_layer_accuracies(result, dataset, known_fraction)
        if accs is None:
            continue
        row = {"run": name}
        row.update({f"layer {a.layer}": a.accuracy for a in accs})
        rows.append(row)
    return pd.DataFrame(rows) if rows else None
