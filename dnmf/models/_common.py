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
        objective_scale: float = 1.0,
    ) -> None:
        self.n_layers = n_layers
        self.total_iterations = total_iterations
        self.callback = callback
        self.error_scale = error_scale
        self.weights = weights
        self.objective_scale = objective_scale
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
        """Store one history row from errors computed on the scaled data.

        ``weights`` are the internal λ_ℓ; the objective in the user's units is
        ``objective_scale · Σ_ℓ λ_ℓ e_ℓ`` (1 for automatic weights, s^β for user weights).
        """
        scaled = np.asarray(errors_scaled, dtype=float)
        with np.errstate(over="ignore"):
            errors = np.where(scaled == 0, 0.0, scaled * self.error_scale)
            evaluated = ~np.isnan(scaled)
            if self.weights is not None and evaluated.all():
                objective = self.objective_scale * float(np.dot(self.weights, scaled))
            elif self.weights is None and evaluated.any():
                objective = float(np.sum(errors[evaluated]))
            else:
                objective = math.nan
        if "objective" in extra:  # a model whose objective has more than the data terms
            extra.setdefault("objective_data", objective)
            objective = float(extra.pop("objective"))
        self.latest[evaluated] = errors[evaluated]
        self.latest_objective = objective
        row: dict = {"iteration": int(local_iteration), "seconds": self.elapsed()}
        for i, e in enumerate(errors, start=1):
            row[f"error_layer_{i}"] = float(e)
        row["objective"] = objective
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
