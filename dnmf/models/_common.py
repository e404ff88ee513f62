"""Shared machinery of the fitting loops: progress tracking, history, callbacks, ε."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..divergence import beta_divergence
from ..result import IterationInfo

Callback = Callable[[IterationInfo], "bool | None"]


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


class Progress:
    """Counts iterations over a whole fit, records the history and calls the callback.

    Errors are recorded in the units of the data the user gave: the loops run on X / s and
    ``error_scale`` = s^β converts back (β-divergences are homogeneous of degree β).
    """

    def __init__(
        self,
        n_layers: int,
        total_iterations: int,
        callback: Callback | None,
        error_scale: float = 1.0,
        weights: np.ndarray | None = None,
    ) -> None:
        self.n_layers = n_layers
        self.total_iterations = total_iterations
        self.callback = callback
        self.error_scale = error_scale
        self.weights = weights
        self.iteration = 0
        self.start = time.perf_counter()
        self.latest = np.full(n_layers, np.nan)
        self.latest_objective = math.nan
        self.rows: list[dict] = []
        self.eval_seconds = 0.0
        self.stopped = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def record(self, local_iteration: int, errors_scaled: np.ndarray, phase: str, **extra) -> None:
        """Store one history row from errors computed on the scaled data."""
        errors = np.asarray(errors_scaled, dtype=float) * self.error_scale
        for i, e in enumerate(errors):
            if np.isfinite(e) or np.isnan(self.latest[i]):
                self.latest[i] = e
        row: dict = {"iteration": int(local_iteration), "seconds": self.elapsed()}
        for i, e in enumerate(errors, start=1):
            row[f"error_layer_{i}"] = float(e)
        if self.weights is not None and np.all(np.isfinite(errors)):
            self.latest_objective = float(np.dot(self.weights, errors))
        elif self.weights is None and np.all(np.isfinite(errors)):
            self.latest_objective = float(np.sum(errors))
        row["objective"] = self.latest_objective if np.all(np.isfinite(errors)) else math.nan
        row["phase"] = phase
        row.update(extra)
        self.rows.append(row)

    def step(self, phase: str) -> bool:
        """Count one iteration; call the callback. Returns False when the fit must stop."""
        self.iteration += 1
        if self.callback is None:
            return True
        info = IterationInfo(
            iteration=self.iteration,
            total_iterations=self.total_iterations,
            phase=phase,
            seconds=self.elapsed(),
            layer_errors=self.latest.copy(),
            objective=self.latest_objective,
        )
        if self.callback(info) is False:
            self.stopped = True
            return False
        return True

    def history(self, columns_first: tuple[str, ...] = ()) -> pd.DataFrame:
        df = pd.DataFrame(self.rows)
        if df.empty:
            cols = ["iteration", "seconds"]
            cols += [f"error_layer_{i}" for i in range(1, self.n_layers + 1)]
            return pd.DataFrame(columns=cols + ["objective", "phase", *columns_first])
        return df


def should_evaluate(iteration: int, max_iter: int, eval_every: int) -> bool:
    return iteration == max_iter or (eval_every > 0 and iteration % eval_every == 0)


def converged(previous: float, current: float, tol: float) -> bool:
    """Relative decrease of the objective between two evaluations below ``tol``."""
    if tol <= 0 or not (np.isfinite(previous) and np.isfinite(current)):
        return False
    return (previous - current) <= tol * max(abs(previous), np.finfo(float).tiny)
