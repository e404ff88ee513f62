"""Multilayer β-NMF (Cichocki & Zdunek): NMF of X, then NMF of W_1, … one layer at a time.

The steps follow the authors' reference code (``multilayerKLNMF.m`` calling nmfbook's
``betaNMF.m`` and ``normalizeWH.m``; docs/reproduce.md):

1. each layer runs the Févotte–Idier β-MU on W_{ℓ-1} ≈ W_ℓ H_ℓ (W_0 = X): H then W, both
   floored at ε, and the columns of W_ℓ rescaled to a maximum of 1 after every iteration
   (the scale moves into the rows of H_ℓ, so W_ℓ H_ℓ is unchanged) — ``betaNMF``;
2. when the layer is done, (W_ℓ, H_ℓ) is rescaled so that H_ℓ e = e (``normalize="H"``,
   their ``normalizeWH(W, H, 2)``) or W_ℓᵀe = e (``"W"``, their option 3, used before
   min-vol deep KL-NMF) — *before* layer ℓ+1 factorises W_ℓ. A β-divergence weighs the
   columns of the matrix it fits by their scale, so this choice changes what the next
   layers solve;
3. optionally their stopping rule (``stop_rule="authors"``): stop a layer before iteration
   i > 12 when |e(i−1) − e(i−11)| ≤ accuracy · |e(i−2)|. Their e(i) is measured between the
   H- and the W-update of iteration i, dnmf's after the W-update (one error evaluation per
   iteration instead of a second pass inside the W-update).

Differences that remain: their random start is MATLAB's ``rand`` without the scaling of
dnmf.init's random start (give the factors with ``Ws0``/``Hs0`` to start from the same point).
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np

from .. import _rowsplit, _threads
from ..updates import MUWorkspace, update_H_mu, update_W_mu, workspace_layer_error
from ._common import machine_eps
from ._driver import Phase, Progress, run_phase

__all__ = ["initial_factors", "nmf_mu", "fit_multilayer"]


def initial_factors(Y, rank: int, init: str, rng: np.random.Generator, dtype, eps: float):
    """Initial (W, H) for one layer by the named method, floored at ε ("random": scaled to
    the KL-best multiple of Y, :func:`dnmf.init.random_init` with β = 1)."""
    from .. import init as init_module  # the initialisation library (SNPA, NNDSVD, …)

    if init == "random":
        W, H = init_module._random_factors(Y, rank, rng, dtype, beta=1.0)
    else:
        W, H = init_module.initialize(Y, rank, method=init, random_state=rng, dtype=dtype)
        W = np.array(W, dtype=dtype)
        H = np.array(H, dtype=dtype)
    np.maximum(W, eps, out=W)
    np.maximum(H, eps, out=H)
    return W, H


def _rescale_columns_to_unit_max(W: np.ndarray, H: np.ndarray) -> None:
    col_max = W.max(axis=0)
    col_max = np.where(col_max > 0, col_max, 1.0)
    W /= col_max
    H *= col_max[:, None]


def nmf_mu(
    X,
    W: np.ndarray,
    H: np.ndarray,
    beta: float,
    n_iter: int,
    *,
    eps: float | None = None,
    order: str = "HW",
    rescale: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain single-layer β-MU iterations (no history, no callback).

    Parameters
    ----------
    X : ndarray or sparse of shape (m, n)
    W : ndarray of shape (m, r)
    H : ndarray of shape (r, n)
    beta : float in [0, 2]
    n_iter : int
    eps : float, optional
        Floor of the factors (default: machine epsilon of W's dtype). ``0`` disables it.
    order : {"HW", "WH"}
        Which factor is updated first in each iteration (scikit-learn updates W first).
    rescale : bool
        Rescale the columns of W to unit maximum after each iteration.

    Returns
    -------
    W, H : updated copies.
    """
    eps = machine_eps(W.dtype) if eps is None else eps
    W = np.array(W, order="C")
    H = np.array(H, order="C")
    layer = LayerMU(X, W, H, beta, eps, order=order, rescale=rescale)
    with layer.threads():
        for _ in range(n_iter):
            layer.iterate()
    return W, H


class LayerMU:
    """MU iterations of one layer Y ≈ WH (W and H updated in place), with or without threads.

    β = 1 on a large dense layer with a multi-threaded BLAS runs :class:`dnmf._rowsplit.
    RowSplitKL` (rows split between threads, one BLAS thread each, inside :meth:`threads`);
    everything else the workspace steps of :mod:`dnmf.updates` on the caller's thread. It
    keeps state between calls: change Y, W and H only through it.

    Parameters
    ----------
    Y : ndarray or sparse of shape (m, n)
    W : ndarray of shape (m, r), C-contiguous; H : ndarray of shape (r, n)
    beta, eps : the divergence and the floor ε
    order : {"HW", "WH"}, which factor is updated first
    rescale : bool, divide W's columns by their maxima after each iteration (into H's rows)
    n_threads : int, optional; default :func:`dnmf._threads.split_threads` now
    """

    def __init__(self, Y, W: np.ndarray, H: np.ndarray, beta: float, eps: float, *,
                 order: str = "HW", rescale: bool = False, n_threads: int | None = None):
        if order not in ("HW", "WH"):
            raise ValueError(f"order must be 'HW' or 'WH', got {order!r}")
        self.Y, self.W, self.H, self.beta, self.eps = Y, W, H, beta, eps
        self.order, self.rescale = order, rescale
        n_threads = _threads.split_threads() if n_threads is None else n_threads
        self.split = (_rowsplit.RowSplitKL(Y, W, H, eps, n_threads)
                      if _rowsplit.use_row_split(Y, beta, n_threads) and W.flags.c_contiguous
                      else None)
        self.ws = None if self.split is not None else MUWorkspace(Y, W.dtype)
        self._eval_seconds = 0.0

    def threads(self):
        """Context of the iterations: one BLAS thread per chunk when the rows are split."""
        return _rowsplit.one_blas_thread() if self.split is not None else nullcontext()

    @property
    def eval_seconds(self) -> float:
        """Seconds spent evaluating the error so far (with split rows: the caller's chunk)."""
        return self.split.eval_seconds if self.split is not None else self._eval_seconds

    def error(self) -> float:
        """D_β(Y | WH) for the current factors."""
        if self.split is not None:
            return self.split.error()
        t0 = time.perf_counter()
        error = workspace_layer_error(self.Y, self.W, self.H, self.beta, self.ws)
        self._eval_seconds += time.perf_counter() - t0
        return error

    def iterate(self, evaluate: bool = False) -> float | None:
        """One iteration; returns D_β(Y | WH) after it when ``evaluate``."""
        if self.split is not None:
            return self.split.iterate(self.order, self.rescale, evaluate)
        Y, W, H, beta, eps, ws = self.Y, self.W, self.H, self.beta, self.eps, self.ws
        if self.order == "HW":
            update_H_mu(Y, W, H, beta, eps, out=H, workspace=ws)
            update_W_mu(Y, W, H, beta, eps, out=W, workspace=ws)
        else:
            update_W_mu(Y, W, H, beta, eps, out=W, workspace=ws)
            update_H_mu(Y, W, H, beta, eps, out=H, workspace=ws)
        if self.rescale:
            _rescale_columns_to_unit_max(W, H)
        return self.error() if evaluate else None


class _LayerPhase(Phase):
    """One layer of multilayer NMF for the fit driver: the error of that layer only."""

    def __init__(self, fitter: LayerMU, layer: int, n_layers: int, phase_name: str,
                 stop_rule: str | None = None, accuracy: float = 1e-4):
        self.fitter, self.layer, self.n_layers = fitter, layer, n_layers
        self.name = f"{phase_name} {layer + 1}"
        self.stop_rule, self.accuracy = stop_rule, accuracy
        self.trail: list[float] = []  # e(1), e(2), … for the authors' rule

    def _errors(self, error: float) -> np.ndarray:
        errors = np.full(self.n_layers, np.nan)
        errors[self.layer] = error
        return errors

    def iterate(self, evaluate: bool) -> np.ndarray | None:
        error = self.fitter.iterate(evaluate=evaluate or self.stop_rule is not None)
        if self.stop_rule is not None:
            self.trail.append(error)
            self.finished = _authors_stop(self.trail, self.accuracy)
        return self._errors(error) if evaluate else None

    def errors(self) -> np.ndarray:
        return self._errors(self.fitter.error())

    def record(self, progress: Progress, iteration: int, errors: np.ndarray) -> None:
        progress.record(iteration, errors, self.name, layer=self.layer + 1)


def fit_multilayer(
    X,
    ranks: tuple[int, ...],
    beta: float,
    max_iter: int,
    *,
    init: str = "random",
    rng: np.random.Generator,
    dtype,
    progress: Progress,
    eval_every: int = 5,
    tol: float = 0.0,
    phase_name: str = "layer",
    normalize: str | None = "H",
    stop_rule: str | None = None,
    accuracy: float = 1e-4,
    Ws0: list[np.ndarray] | None = None,
    Hs0: list[np.ndarray] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Fit the L layers one after the other (steps 1–3 of the module docstring; each layer a
    phase of :func:`~._driver.run_phase`).

    Parameters
    ----------
    X : ndarray or sparse of shape (m, n), already validated and scaled
    ranks : tuple (r_1, …, r_L)
    beta : float in [0, 2]
    max_iter : int, MU iterations per layer
    init : str, initialisation of each layer ("random", or a method of :mod:`dnmf.init`)
    rng : numpy Generator
    dtype : working dtype
    progress : Progress, shared with the caller (counts iterations, calls the callback)
    eval_every : int, evaluate the layer's error every so many iterations (and at the end)
    tol : float, stop a layer early when its error decreases by less than this fraction
    phase_name : str, "layer" or "init layer" (shown to the callback)
    normalize : {"H", "W", None}, the rescaling of each finished layer before the next one
        (None: the unit-maximum columns of step 1)
    stop_rule : {None, "authors"}, "authors": ``betaNMF``'s rule with ``accuracy`` (the
        error is then evaluated every iteration)
    accuracy : float, the rule's tolerance (their default 1e-4)
    Ws0, Hs0 : lists of L arrays, optional; every layer starts from these (floored at ε,
        copied) instead of ``init``. W_ℓ⁰ must have r_ℓ columns and the rows of the layer's
        data; H_ℓ⁰ shape (r_ℓ, columns of the data).

    Returns
    -------
    Ws, Hs : lists of the per-layer factors (as many layers as were reached)
    """
    eps = machine_eps(dtype)
    Ws: list[np.ndarray] = []
    Hs: list[np.ndarray] = []
    if stop_rule not in (None, "authors"):
        raise ValueError(f"stop_rule must be None or 'authors', got {stop_rule!r}")
    if normalize not in ("H", "W", None):
        raise ValueError(f"normalize must be 'H', 'W' or None, got {normalize!r}")
    for k, rank in enumerate(ranks):
        Y = X if k == 0 else Ws[-1]
        if Ws0 is not None and Hs0 is not None:
            W = np.maximum(np.array(Ws0[k], dtype=dtype), eps)
            H = np.maximum(np.array(Hs0[k], dtype=dtype), eps)
        else:
            W, H = initial_factors(Y, rank, init, rng, dtype, eps)
        W = np.ascontiguousarray(W)
        fitter = LayerMU(Y, W, H, beta, eps, order="HW", rescale=True)  # updates W, H in place
        progress.set_factors(lambda W=W, H=H: ([*Ws, W], [*Hs, H]))
        with fitter.threads():
            outcome = run_phase(
                _LayerPhase(fitter, k, len(ranks), phase_name, stop_rule, accuracy),
                progress, max_iter, eval_every=eval_every, tol=tol)
        progress.add_eval_seconds(fitter.eval_seconds)
        _normalize_layer(W, H, normalize)
        Ws.append(W)
        Hs.append(H)
        if outcome.stopped:
            break
    return Ws, Hs


def _authors_stop(e: list[float], accuracy: float) -> bool:
    """``betaNMF``'s test before iteration i = len(e) + 1: i > 12 and
    |e(i−1) − e(i−11)| ≤ accuracy · |e(i−2)| (1-based e)."""
    i = len(e) + 1
    return i > 12 and abs(e[i - 2] - e[i - 12]) <= accuracy * abs(e[i - 3])


def _normalize_layer(W: np.ndarray, H: np.ndarray, normalize: str | None) -> None:
    """In place: H e = e ("H", their normalizeWH(W, H, 2)) or Wᵀe = e ("W", option 3)."""
    if normalize is None:
        return
    s = H.sum(axis=1) if normalize == "H" else W.sum(axis=0)
    s = np.where(s > 0, s, 1.0)
    if normalize == "H":
        H /= s[:, None]
        W *= s[None, :]
    else:
        W /= s[None, :]
        H *= s[:, None]


def normalize_rows_of_H(Ws: list[np.ndarray], Hs: list[np.ndarray]) -> None:
    """Rescale in place so that H_ℓ e = e for every layer, leaving every W_{ℓ-1} ≈ W_ℓ H_ℓ.

    For ℓ = 1 … L: s = H_ℓ e; H_ℓ ← diag(s)^{-1} H_ℓ; W_ℓ ← W_ℓ diag(s); and since W_ℓ (the
    data of layer ℓ+1) changed by diag(s), H_{ℓ+1} ← H_{ℓ+1} diag(s) keeps W_{ℓ+1} H_{ℓ+1}
    matched to it.
    """
    for k, H in enumerate(Hs):
        s = H.sum(axis=1)
        s = np.where(s > 0, s, 1.0)
        H /= s[:, None]
        Ws[k] *= s[None, :]
        if k + 1 < len(Hs):
            Hs[k + 1] *= s[None, :]
