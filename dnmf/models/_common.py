"""Shared pieces of the models: ε, layer errors (the fit loop is :mod:`dnmf.models._driver`)."""

from __future__ import annotations

import numpy as np

from ..divergence import beta_divergence

# The fit loop's pieces moved to _driver; models written against the older layout (this wave's
# other helpers) import them from here.
from ._driver import Progress, converged, should_evaluate  # noqa: F401


def machine_eps(dtype) -> float:
    """ε of the paper's perturbed algorithm: the machine epsilon of the working dtype."""
    return float(np.finfo(dtype).eps)


def layer_error(Y, W: np.ndarray, H: np.ndarray, beta: float) -> float:
    """D_β(Y, W H) for one layer (Y dense or sparse)."""
    return beta_divergence(Y, W, H, beta)


def all_layer_errors(X, Ws: list[np.ndarray], Hs: list[np.ndarray], beta: float) -> np.ndarray:
    """[D_β(W_{ℓ-1}, W_ℓ H_ℓ) for ℓ = 1 … L] with W_0 = X."""
    errors = np.empty(len(Ws))
    for i, (W, H) in enumerate(zip(Ws, Hs)):
        Y = X if i == 0 else Ws[i - 1]
        errors[i] = layer_error(Y, W, H, beta)
    return errors
