"""The multilayer and deep β-NMF fits on a backend (:mod:`dnmf.portable._backend`).

The loops and the estimator-level steps (validation, scaling by max X, warm start,
H_ℓ e = e normalisation, automatic λ_ℓ, history, callback, :class:`~dnmf.result.FitResult`)
follow :func:`dnmf.models.multilayer.fit_multilayer`, :func:`dnmf.models.deep.fit_deep` and the
``fit`` methods of :mod:`dnmf.estimators` step for step, so that a fit from the same seed
draws the same initial factors and runs the same updates in the same order.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._validation import check_beta, check_dtype, check_int, check_ranks, check_weights
from ..estimators._beta import _custom_factors as _checked_custom_factors
from ..estimators._beta import _rng, _to_user_units
from ..models._common import machine_eps
from ..models._driver import Progress, converged, should_evaluate
from ..models.deep import auto_weights, deep_objective
from ..result import FitResult

_PORTABLE_INITS = ("random",)


def _check_common(est, backend) -> tuple:
    beta = check_beta(est.beta)
    dtype = check_dtype(est.dtype)
    eval_every = check_int(est.eval_every, "eval_every", 0)
    if not (isinstance(est.tol, (int, float)) and math.isfinite(est.tol) and est.tol >= 0):
        raise ValueError(f"tol must be a number ≥ 0, got {est.tol!r}")
    if est.callback is not None and not callable(est.callback):
        raise ValueError("callback must be callable (info -> bool | None) or None")
    return beta, dtype, eval_every


def _check_init(name: str, value: str, backend) -> None:
    if value not in _PORTABLE_INITS:
        raise ValueError(f"{name}={value!r} is not available for {backend.name} input: use "
                         f"{name}='random' (or fit a NumPy/SciPy copy of X)")


# ---------------------------------------------------------------------------------------------
# Loops
# ---------------------------------------------------------------------------------------------


def fit_multilayer(backend, X, ranks, beta, max_iter, *, rng, dtype, progress: Progress,
                   eval_every: int = 5, tol: float = 0.0, phase_name: str = "layer",
                   normalize: str | None = "H"):
    """The layers one after the other (:func:`dnmf.models.multilayer.fit_multilayer`), each
    finished layer rescaled to H_ℓ e = e (``normalize="H"``) before the next factorises W_ℓ."""
    eps = machine_eps(dtype)
    Ws: list = []
    Hs: list = []
    n_layers = len(ranks)

    def finish_layer(W, H):
        if normalize == "H":
            (W,), (H,) = backend.normalize_rows_of_H([W], [H])
        Ws.append(W)
        Hs.append(H)

    def record(it, error, layer):
        errors = np.full(n_layers, np.nan)
        errors[layer] = error
        progress.record(it, errors, phase, layer=layer + 1)

    for layer, rank in enumerate(ranks):
        Y = X if layer == 0 else Ws[-1]
        W, H = backend.random_factors(Y, rank, rng, dtype, eps)
        phase = f"{phase_name} {layer + 1}"
        previous = backend.layer_error(Y, W, H, beta)
        record(0, previous, layer)
        for it in range(1, max_iter + 1):
            W, H = backend.multilayer_step(Y, W, H, beta, eps)
            evaluate = should_evaluate(it, max_iter, eval_every)
            stop = False
            if evaluate:
                t0 = time.perf_counter()
                error = backend.layer_error(Y, W, H, beta)
                progress.eval_seconds += time.perf_counter() - t0
                record(it, error, layer)
                stop = converged(previous, error, tol)
                previous = error
            if not progress.step(phase):
                if not evaluate:
                    record(it, backend.layer_error(Y, W, H, beta), layer)
                finish_layer(W, H)
                return Ws, Hs
            if stop:
                break
        finish_layer(W, H)
    return Ws, Hs


def fit_deep(backend, X, Ws, Hs, beta, weights, max_iter, *, progress: Progress,
             eval_every: int = 5, tol: float = 0.0, initial_errors=None, eps: float):
    """Algorithm 1 from the given factors (:func:`dnmf.models.deep.fit_deep`)."""
    start = time.perf_counter()
    errors = (backend.layer_errors(X, Ws, Hs, beta) if initial_errors is None
              else initial_errors)
    progress.record(0, errors, "deep")
    previous = deep_objective(errors, weights)
    n_iter = 0
    for it in range(1, max_iter + 1):
        Ws, Hs = backend.deep_sweep(X, Ws, Hs, beta, weights, eps)
        n_iter = it
        stop = False
        evaluated = should_evaluate(it, max_iter, eval_every)
        if evaluated:
            t_eval = time.perf_counter()
            errors = backend.layer_errors(X, Ws, Hs, beta)
            progress.eval_seconds += time.perf_counter() - t_eval
            progress.record(it, errors, "deep")
            current = deep_objective(errors, weights)
            stop = converged(previous, current, tol)
            previous = current
        if not progress.step("deep"):
            if not evaluated:
                progress.record(it, backend.layer_errors(X, Ws, Hs, beta), "deep")
            break
        if stop:
            break
    return Ws, Hs, n_iter, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# Estimator-level fits
# ---------------------------------------------------------------------------------------------


def _random_state_config(random_state):
    return random_state if isinstance(random_state, (int, type(None))) else "generator"


def fit_multilayer_estimator(est, X, backend) -> FitResult:
    """:meth:`dnmf.MultilayerNMF.fit` on ``backend``; returns the FitResult."""
    t0 = time.perf_counter()
    beta, dtype, eval_every = _check_common(est, backend)
    max_iter = check_int(est.max_iter, "max_iter", 1)
    _check_init("init", est.init, backend)
    if est.normalize != "H" or est.stop_rule is not None:
        raise ValueError(f"normalize={est.normalize!r} and stop_rule={est.stop_rule!r} are not "
                         f"available for {backend.name} input: use normalize='H' and "
                         "stop_rule=None (or fit a NumPy/SciPy copy of X)")
    Xs, scale, (m, n) = backend.prepare(X, beta, dtype)
    ranks = check_ranks(est.ranks, n)
    with np.errstate(over="ignore"):
        error_scale = float(np.float64(scale) ** beta)
    # With H_ℓ e = e between the layers every W_ℓ keeps the data's scale: each error is s^β.
    progress = Progress(len(ranks), len(ranks) * max_iter, est.callback,
                        np.full(len(ranks), error_scale))
    Ws, Hs = fit_multilayer(backend, Xs, ranks, beta, max_iter, rng=_rng(est.random_state),
                            dtype=dtype, progress=progress, eval_every=eval_every, tol=est.tol)
    rng = _rng(est.random_state)
    eps = machine_eps(dtype)
    while len(Ws) < len(ranks):  # stopped before reaching every layer
        W, H = backend.random_factors(Ws[-1], ranks[len(Ws)], rng, dtype, eps)
        Ws.append(W)
        Hs.append(H)
    Ws, Hs = backend.normalize_rows_of_H(Ws, Hs)
    errors = _to_user_units(backend.layer_errors(Xs, Ws, Hs, beta), error_scale)
    Ws, Hs = backend.finish(Ws, Hs, scale)
    config = {
        "model": "multilayer", "ranks": list(ranks), "beta": beta, "init": est.init,
        "max_iter": max_iter, "tol": est.tol, "eval_every": eval_every,
        "random_state": _random_state_config(est.random_state), "dtype": dtype.name,
        "data_shape": [m, n], "data_scale": scale, "backend": backend.name,
    }
    return FitResult(
        W=Ws, H=Hs, history=progress.history(("layer",)),
        config=config, weights=None, layer_errors=errors, n_iter=progress.iteration,
        stopped_early=progress.stopped,
        timings={"total": time.perf_counter() - t0, "evaluation": progress.eval_seconds},
    )


def _custom_factors(backend, Xs, W, H, ranks, m, n, dtype, eps, scale):
    """The estimators' check of the given factors (:func:`dnmf.estimators._beta._custom_factors`)
    on NumPy copies, W_ℓ divided by s as X is, then moved onto the backend."""
    def to_numpy(Ms):
        return None if Ms is None else [backend.to_numpy(M) for M in Ms]

    Ws, Hs = _checked_custom_factors(to_numpy(W), to_numpy(H), ranks, m, n, dtype, eps)
    return backend.custom_factors([Wl / scale for Wl in Ws], Hs, Xs)


def fit_deep_estimator(est, X, backend, W=None, H=None) -> FitResult:
    """:meth:`dnmf.DeepNMF.fit` (without min-vol) on ``backend``; returns the FitResult."""
    t0 = time.perf_counter()
    beta, dtype, eval_every = _check_common(est, backend)
    max_iter = check_int(est.max_iter, "max_iter", 0)
    n_init_iter = check_int(est.n_init_iter, "n_init_iter", 0)
    if est.init not in ("multilayer", "custom"):
        raise ValueError(f"init must be 'multilayer' or 'custom', got {est.init!r}")
    _check_init("layer_init", est.layer_init, backend)
    if est.min_vol is not None:
        raise ValueError(f"min_vol is not available for {backend.name} input yet; fit a "
                         "NumPy/SciPy copy of X for minimum-volume deep KL-NMF")
    Xs, scale, (m, n) = backend.prepare(X, beta, dtype)
    ranks = check_ranks(est.ranks, n)
    n_layers = len(ranks)
    weights_arg = check_weights(est.weights, n_layers)
    eps = machine_eps(dtype)
    rng = _rng(est.random_state)
    with np.errstate(over="ignore"):
        error_scale = float(np.float64(scale) ** beta)
    init_iters = n_init_iter * n_layers if est.init == "multilayer" else 0
    # The warm start chains layers with H_ℓ e = e: every W_ℓ keeps the data's scale.
    progress = Progress(n_layers, init_iters + max_iter, est.callback,
                        np.full(n_layers, error_scale))
    t_init = time.perf_counter()
    init_history = None
    if est.init == "custom":
        Ws, Hs = _custom_factors(backend, Xs, W, H, ranks, m, n, dtype, eps, scale)
    else:
        Ws, Hs = fit_multilayer(backend, Xs, ranks, beta, n_init_iter, rng=rng, dtype=dtype,
                                progress=progress, eval_every=eval_every,
                                phase_name="init layer")
        init_history = progress.history(("layer",))
        progress.rows = []
        while len(Ws) < n_layers:  # stopped during the warm start
            Wl, Hl = backend.random_factors(Ws[-1], ranks[len(Ws)], rng, dtype, eps)
            Ws.append(Wl)
            Hs.append(Hl)
    Ws, Hs = backend.normalize_rows_of_H(Ws, Hs)
    layer_scale = np.full(n_layers, error_scale)  # every W_ℓ keeps the data scale
    progress.error_scale = layer_scale
    seconds_init = time.perf_counter() - t_init
    initial_errors = backend.layer_errors(Xs, Ws, Hs, beta)
    if isinstance(weights_arg, str):
        internal_weights = auto_weights(initial_errors)
        with np.errstate(over="ignore", divide="ignore"):
            weights = internal_weights / layer_scale
        progress.objective_scale = 1.0
    else:
        weights = internal_weights = weights_arg
        progress.objective_scale = error_scale
    progress.weights = internal_weights
    if progress.stopped:
        n_iter, seconds_deep = 0, 0.0
        progress.record(0, initial_errors, "deep")
    else:
        Ws, Hs, n_iter, seconds_deep = fit_deep(
            backend, Xs, Ws, Hs, beta, internal_weights, max_iter, progress=progress,
            eval_every=eval_every, tol=est.tol, initial_errors=initial_errors, eps=eps)
    errors = progress.latest.copy()
    Ws, Hs = backend.finish(Ws, Hs, scale)
    config = {
        "model": "deep", "ranks": list(ranks), "beta": beta,
        "weights": "auto" if isinstance(weights_arg, str) else weights_arg.tolist(),
        "init": est.init, "layer_init": est.layer_init, "n_init_iter": n_init_iter,
        "max_iter": max_iter, "tol": est.tol, "eval_every": eval_every,
        "random_state": _random_state_config(est.random_state), "dtype": dtype.name,
        "data_shape": [m, n], "data_scale": scale, "min_vol": None, "backend": backend.name,
    }
    timings = {"init": seconds_init, "deep": seconds_deep, "evaluation": progress.eval_seconds,
               "total": time.perf_counter() - t0}
    return FitResult(
        W=Ws, H=Hs, history=progress.history(),
        config=config, weights=np.asarray(weights, dtype=float), layer_errors=errors,
        n_iter=n_iter, timings=timings, stopped_early=progress.stopped,
        init_history=init_history,
    )
