"""Scores of layered factorisations against class labels of the rows of X.

Every layer ℓ of a fit gives the rows of X coordinates W_ℓ (m × r_ℓ). With labels known for
some rows, a nonnegative linear classifier B_ℓ = argmin_{B ≥ 0} ‖Y_known − B W_ℓ,knownᵀ‖_F
(the classification layer of Neural NMF, docs/neural_nmf.md, fitted on one layer) predicts
argmax_p (W_ℓ B_ℓᵀ)_{ip}; it is scored on the rows whose labels were hidden (all rows when
every label is known). This treats every model alike, so the accuracies of multilayer, deep
and Neural NMF layers can be compared. Purity scores a layer as a clustering (row i in
cluster argmax_k (W_ℓ)_{ik}).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LayerAccuracy", "known_mask", "layer_accuracies", "confusion_matrix", "purity",
           "semi_supervised_fit_args"]


def known_mask(n_rows: int, fraction: float, seed: int = 0, y=None) -> np.ndarray:
    """A boolean mask of ``round(fraction · n_rows)`` rows whose labels are kept.

    With ``y`` the rows are drawn per class (stratified), so every class keeps known rows
    whenever fraction · (class size) ≥ ½.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"the fraction of known labels must be in [0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(n_rows, dtype=bool)
    if y is None:
        mask[rng.permutation(n_rows)[: int(round(fraction * n_rows))]] = True
        return mask
    y = np.asarray(y)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        mask[rng.permutation(rows)[: int(round(fraction * rows.size))]] = True
    return mask


@dataclass
class LayerAccuracy:
    """One layer's classifier: accuracy on the scored rows, predictions and confusion."""

    layer: int
    accuracy: float
    predicted: np.ndarray
    confusion: np.ndarray
    classes: np.ndarray
    scored_rows: np.ndarray


def _fit_classifier(W: np.ndarray, Y: np.ndarray) -> np.ndarray:
    from .models.neural import nnls_rows

    B, _ = nnls_rows(W.T @ W, Y @ W)
    return B


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """C[i, j] = number of rows of class i predicted as class j (class indices 0 … P-1)."""
    C = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(C, (truth, predicted), 1)
    return C


def layer_accuracies(Ws: list[np.ndarray], y, known: np.ndarray | None = None,
                     B_last: np.ndarray | None = None) -> list[LayerAccuracy]:
    """Accuracy of every layer's nonnegative linear classifier on the hidden labels.

    Parameters
    ----------
    Ws : list of L arrays (m, r_ℓ)
    y : array (m,) of class labels (every row's true class)
    known : bool array (m,) of the rows whose labels the classifier may use; all when None
        (then it is scored on all rows: a training accuracy)
    B_last : array (P, r_L), optional; a classification layer of the model itself (Neural
        NMF's B), used for the last layer instead of refitting one

    Returns
    -------
    list of LayerAccuracy, one per layer
    """
    y = np.asarray(y)
    classes, codes = np.unique(y, return_inverse=True)
    m = codes.size
    known = np.ones(m, dtype=bool) if known is None else np.asarray(known, dtype=bool)
    if known.shape != (m,) or not known.any():
        raise ValueError("known must mark at least one of the m rows")
    scored = ~known if (~known).any() else known
    Y = np.eye(classes.size)[codes[known]].T
    out = []
    for ell, W in enumerate(Ws, start=1):
        W = np.asarray(W, dtype=float)
        if W.shape[0] != m:
            raise ValueError(f"W_{ell} has {W.shape[0]} rows, the labels {m}")
        B = (np.asarray(B_last, dtype=float) if B_last is not None and ell == len(Ws)
             else _fit_classifier(W[known], Y))
        predicted = np.argmax(W @ B.T, axis=1)
        acc = float(np.mean(predicted[scored] == codes[scored]))
        out.append(LayerAccuracy(ell, acc, classes[predicted],
                                 confusion_matrix(codes[scored], predicted[scored], classes.size),
                                 classes, np.flatnonzero(scored)))
    return out


def purity(W: np.ndarray, y) -> float:
    """Σ_k max_c |{i : argmax_j W_ij = k, y_i = c}| / m (1 = every cluster is one class)."""
    _, codes = np.unique(np.asarray(y), return_inverse=True)
    clusters = np.argmax(np.asarray(W), axis=1)
    C = confusion_matrix(clusters, codes, max(clusters.max(), codes.max()) + 1)
    return float(C.max(axis=1).sum() / codes.size)


def semi_supervised_fit_args(dataset, known_fraction: float, seed: int = 0) -> dict:
    """``fit`` keywords giving a labelled model the dataset's labels with a share hidden.

    ``{"y": labels with -1 for the hidden ones, "label_axis": the dataset's sample axis}``
    (a stratified draw of ``known_fraction`` of every class is kept); ``{}`` when the
    dataset has no labels or ``known_fraction`` is 0.
    """
    labels = getattr(dataset, "labels", None)
    if labels is None or known_fraction <= 0:
        return {}
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    y = codes.astype(np.int64)
    y[~known_mask(y.size, known_fraction, seed=seed, y=y)] = -1
    return {"y": y, "label_axis": int(getattr(dataset, "sample_axis", 1))}
