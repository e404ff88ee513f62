"""The one fit loop: evaluate → record → converged → callback/stop, written once.

Every model's iterations run through :func:`run_phase`. A model supplies a :class:`Phase` — its
sweep, its error evaluation and the objective its ``tol`` watches — and the driver does the
protocol the same way for all of them:

* iteration 0 is evaluated and recorded (the errors of the starting point);
* after every sweep, on the iterations :func:`should_evaluate` names (every ``eval_every``
  iterations and the last), the errors are evaluated and recorded, and the fit has converged
  when the objective decreased by less than ``tol`` (relative) since the previous evaluation;
* the callback is called after every sweep (:meth:`Progress.step`); when it returns False the
  fit stops, the errors of the factors it stops with are recorded if that iteration was not
  evaluated, and what was computed is kept (the partial result);
* a phase that runs ``max_iter`` sweeps with ``tol > 0`` and no convergence emits a
  :class:`~sklearn.exceptions.ConvergenceWarning`.

:class:`Progress` spans the whole fit (its phases share one iteration count, one history and
one callback). Callers configure it through its methods only.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from ..result import IterationInfo

__all__ = ["Phase", "PhaseOutcome", "Progress", "converged", "run_phase", "should_evaluate"]

Callback = Callable[[IterationInfo], "bool | None"]


def should_evaluate(iteration: int, max_iter: int, eval_every: int) -> bool:
    return iteration == max_iter or (eval_every > 0 and iteration % eval_every == 0)


def converged(previous: float, current: float, tol: float) -> bool:
    """Relative decrease of the objective between two evaluations below ``tol``."""
    if tol <= 0 or not (np.isfinite(previous) and np.isfinite(current)):
        return False
    return (previous - current) <= tol * max(abs(previous), np.finfo(float).tiny)


class Progress:
    """Counts iterations over a whole fit, records the history, calls the callback, reports.

    Errors are recorded in the units of the data the user gave: the loops run on X / s and
    the error scale s^β converts back (β-divergences are homogeneous of degree β); see
    :meth:`configure`.

    Parameters
    ----------
    n_layers : int
    total_iterations : int, the iterations of the whole fit if it is not stopped
    callback : callable(IterationInfo) -> bool | None, or None
    error_scale : float or ndarray of shape (L,), see :meth:`configure`
    verbose : int
        0: silent; 1: a line when a phase starts and about every tenth of the fit; ≥ 2: a line
        at every evaluation. Each line has the error(s), the elapsed time and an estimate of
        the time left.
    name : str, the estimator's name at the start of the lines
    """

    def __init__(self, n_layers: int, total_iterations: int, callback: Callback | None,
                 error_scale=1.0, *, verbose: int = 0, name: str = "dnmf") -> None:
        self.n_layers = n_layers
        self.total_iterations = total_iterations
        self.callback = callback
        self.error_scale = error_scale
        self.weights: np.ndarray | None = None
        self.objective_scale = 1.0
        self.iteration = 0
        self.start = time.perf_counter()
        self.latest = np.full(n_layers, np.nan)
        self.latest_objective = math.nan
        self.rows: list[dict] = []
        self.eval_seconds = 0.0
        self.stopped = False
        self.verbose = int(verbose or 0)
        self.name = name
        self._next_report = 0
        self._phase = None
        self._factors: Callable[[], tuple[list, list]] | None = None
        self._user_factors: Callable[[list, list], tuple[list, list]] | None = None

    # -- configuration ----------------------------------------------------------------------

    def configure(self, *, error_scale=None, weights=None, objective_scale=None,
                  user_factors=None) -> None:
        """Set how the scaled errors are reported.

        ``error_scale``: s^β, one value or one per layer (layers whose data are scale-free
        take 1); ``weights``: the internal λ_ℓ of the objective Σ_ℓ λ_ℓ e_ℓ (None: the
        objective is the sum of the evaluated errors in the user's units);
        ``objective_scale``: the factor of that weighted objective in the user's units;
        ``user_factors(Ws, Hs) -> (Ws, Hs)``: the loop's factors (copies, may be changed in
        place) in the user's units, for :meth:`snapshot`.
        """
        if user_factors is not None:
            self._user_factors = user_factors
        if error_scale is not None:
            self.error_scale = error_scale
        if weights is not None:
            self.weights = weights
        if objective_scale is not None:
            self.objective_scale = objective_scale

    def set_factors(self, factors: Callable[[], tuple[list, list]] | None) -> None:
        """Tell the progress where the loop keeps its factors: ``factors()`` returns the lists
        ``(Ws, Hs)`` of the layers reached (the arrays themselves, not copies)."""
        self._factors = factors

    def snapshot(self) -> tuple[list, list, list] | None:
        """Copies of the current factors in the user's units and of the history rows so far
        (see :attr:`dnmf.IterationInfo.snapshot`); None before the loop named its factors."""
        if self._factors is None:
            return None
        Ws, Hs = self._factors()
        Ws, Hs = [np.array(W) for W in Ws], [np.array(H) for H in Hs]
        if self._user_factors is not None:
            Ws, Hs = self._user_factors(Ws, Hs)
        return Ws, Hs, [dict(row) for row in self.rows]

    def add_eval_seconds(self, seconds: float) -> None:
        self.eval_seconds += seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    # -- history -----------------------------------------------------------------------------

    def record(self, local_iteration: int, errors_scaled: np.ndarray, phase: str, **extra) -> None:
        """Store one history row from errors computed on the scaled data.

        The objective in the user's units is ``objective_scale · Σ_ℓ λ_ℓ e_ℓ`` with the
        configured weights, else the sum of the evaluated errors.
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
        self.latest[evaluated] = errors[evaluated]
        self.latest_objective = objective
        row: dict = {"iteration": int(local_iteration), "seconds": self.elapsed()}
        for ell, e in enumerate(errors, start=1):
            row[f"error_layer_{ell}"] = float(e)
        row["objective"] = objective
        row["phase"] = phase
        row.update(extra)
        self.rows.append(row)
        if self.verbose:
            self._report(row, errors)

    def set_objective(self, objective: float) -> None:
        """Replace the objective of the last row (a model whose objective is not a weighted
        sum of the recorded errors)."""
        self.rows[-1]["objective"] = objective
        self.latest_objective = objective

    def history(self, columns_first: tuple[str, ...] = ()) -> pd.DataFrame:
        df = pd.DataFrame(self.rows)
        if df.empty:
            cols = ["iteration", "seconds"]
            cols += [f"error_layer_{ell}" for ell in range(1, self.n_layers + 1)]
            return pd.DataFrame(columns=cols + ["objective", "phase", *columns_first])
        return df

    def take_history(self, columns_first: tuple[str, ...] = (), *,
                     forget_errors: bool = False) -> pd.DataFrame:
        """The history so far (e.g. of a warm start), then an empty one for the next part;
        ``forget_errors``: the latest errors are forgotten too (they are in other units)."""
        df = self.history(columns_first)
        self.rows = []
        if forget_errors:
            self.latest[:] = np.nan
        return df

    # -- the callback --------------------------------------------------------------------------

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
            snapshot=self.snapshot if self._factors is not None else None,
        )
        if self.callback(info) is False:
            self.stopped = True
            return False
        return True

    # -- verbose --------------------------------------------------------------------------------

    def _report(self, row: dict, errors: np.ndarray) -> None:
        start = row["iteration"] == 0 and row["phase"] != self._phase
        if not start and self.verbose < 2 and self.iteration < self._next_report:
            return
        self._phase = row["phase"]
        self._next_report = self.iteration + max(1, self.total_iterations // 10)
        shown = " ".join(f"{e:.4g}" for e in errors if not math.isnan(e)) or "–"
        elapsed = self.elapsed()
        done = self.iteration / max(1, self.total_iterations)
        left = (f"~{elapsed * (1 - done) / done:.1f} s left" if done > 0 else "time left: –")
        print(f"[{self.name}] {row['phase']} · iteration {row['iteration']} "
              f"({self.iteration}/{self.total_iterations}) · error {shown} · "
              f"{elapsed:.1f} s · {left}", file=sys.stdout, flush=True)


class Phase:
    """One phase of a fit (a layer of multilayer NMF, the deep phase, …), as the driver sees it.

    Subclasses define :meth:`iterate` and :meth:`errors`; :meth:`objective` (what ``tol``
    watches) defaults to the weighted sum of the errors, :meth:`extra` to no extra history
    columns. ``monotone = False`` (an algorithm whose objective may increase) disables ``tol``.
    """

    #: The name shown to the callback and in the history's ``phase`` column.
    name: str = "fit"
    #: A stop on a small decrease only makes sense when the objective cannot increase.
    monotone: bool = True
    #: Set by a phase with a stopping rule of its own (e.g. the authors' betaNMF rule): the
    #: driver stops after the sweep that set it.
    finished: bool = False

    def iterate(self, evaluate: bool) -> np.ndarray | None:
        """One sweep, in place; the errors (scaled units, NaN for layers not evaluated) of the
        new factors when ``evaluate`` (a model may compute them during the sweep)."""
        raise NotImplementedError

    def errors(self) -> np.ndarray:
        """The errors of the current factors."""
        raise NotImplementedError

    def timed_errors(self, progress: Progress) -> np.ndarray:
        """:meth:`errors`, its time added to the evaluation seconds of ``progress``."""
        t_eval = time.perf_counter()
        errors = self.errors()
        progress.add_eval_seconds(time.perf_counter() - t_eval)
        return errors

    def objective(self, errors: np.ndarray) -> float:
        return float(np.nansum(errors))

    def extra(self) -> dict:
        """Extra history columns of the row just evaluated."""
        return {}

    def record(self, progress: Progress, iteration: int, errors: np.ndarray) -> None:
        """Write the history row (a model whose objective column differs overrides this)."""
        progress.record(iteration, errors, self.name, **self.extra())


@dataclass
class PhaseOutcome:
    n_iter: int
    stopped: bool
    converged: bool
    errors: np.ndarray
    seconds: float


def run_phase(phase: Phase, progress: Progress, max_iter: int, *, eval_every: int = 5,
              tol: float = 0.0, initial_errors: np.ndarray | None = None) -> PhaseOutcome:
    """Run up to ``max_iter`` sweeps of ``phase`` with the protocol of the module docstring.

    ``initial_errors``: the errors of the starting point when the caller has them already.
    A fit that was stopped before this phase records iteration 0 and runs no sweep.
    """
    start = time.perf_counter()
    errors = phase.errors() if initial_errors is None else initial_errors
    phase.record(progress, 0, errors)
    previous = phase.objective(errors)
    n_iter, done = 0, False
    watch = tol > 0 and phase.monotone
    if not progress.stopped:
        for it in range(1, max_iter + 1):
            evaluated = should_evaluate(it, max_iter, eval_every)
            new = phase.iterate(evaluated)
            n_iter = it
            if evaluated:
                errors = new
                phase.record(progress, it, errors)
                current = phase.objective(errors)
                done = watch and converged(previous, current, tol)
                previous = current
            if not progress.step(phase.name):
                if not evaluated:
                    errors = phase.errors()
                    phase.record(progress, it, errors)
                break
            if done:
                break
            if phase.finished:
                if not evaluated:
                    errors = phase.errors()
                    phase.record(progress, it, errors)
                break
        else:
            if watch and max_iter > 0:
                warnings.warn(
                    f"{progress.name}: {phase.name} reached max_iter={max_iter} before the "
                    f"objective decreased by less than tol={tol:g} between evaluations; "
                    "increase max_iter or tol", ConvergenceWarning, stacklevel=3)
    return PhaseOutcome(n_iter=n_iter, stopped=progress.stopped, converged=done,
                        errors=errors, seconds=time.perf_counter() - start)
