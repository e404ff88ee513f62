"""Scikit-learn style estimators: :class:`DeepNMF` and :class:`MultilayerNMF`.

Orientation (paper §1): the features are factorised layer after layer,

    X ≈ W_1 H_1,  W_1 ≈ W_2 H_2,  …,  W_{L-1} ≈ W_L H_L,   so X ≈ W_ℓ (H_ℓ ⋯ H_1),

with X of shape (m, n), W_ℓ of shape (m, r_ℓ) and H_ℓ of shape (r_ℓ, r_{ℓ-1}), r_0 = n.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._validation import check_data, check_int, check_ranks, check_weights
from ..init import INIT_METHODS, SPARSE_INIT_METHODS
from ..models._common import all_layer_errors, machine_eps
from ..models._driver import Progress
from ..models.deep import auto_weights, fit_deep
from ..models.multilayer import fit_multilayer, initial_factors, normalize_rows_of_H
from ..result import FitResult
from ._base import LayeredEstimator, WarmStartedEstimator

__all__ = ["DeepNMF", "MultilayerNMF", "MinVol"]

_BETA = [Interval(Real, 0.0, 2.0, closed="both")]


@dataclass(frozen=True)
class MinVol:
    """Switches :class:`DeepNMF` to minimum-volume deep KL-NMF (paper eq. 7, Algorithm 2).

    Parameters
    ----------
    alpha_tilde : float or sequence of L floats
        dnmf's relative weight α̃_ℓ of the volume term (``convention="relative"``): α_ℓ is
        set so that α_ℓ |ln det(W_ℓᵀW_ℓ + δI)| = α̃_ℓ λ_ℓ D(W_{ℓ-1}, W_ℓ H_ℓ) at
        initialisation — the volume term starts at α̃_ℓ times the layer's weighted data term.
    alpha : float or sequence of L floats, optional
        The paper's α̃_ℓ (``convention="paper"``, e.g. Moffett ``[4, 1]``, Tumor
        ``[0.25e-4, 1e-2]``, Samson ``[0.45, 0.45]``), read as the authors' ``deepKL_NMF.m``
        does: α_ℓ = α̃_ℓ D_ℓ⁰ / |log₁₀ det(W_ℓ⁰ᵀW_ℓ⁰ + δI)|, with D_ℓ⁰ the unweighted initial
        error in the units of X, and their updates using the gradient of the natural-log
        logdet. The conversion is α̃_dnmf,ℓ = α̃_paper,ℓ · ln 10 · D_ℓ⁰ (with
        ``weights="auto"``, the paper's setting; see docs/reproduce.md).
    convention : {"relative", "paper"}
        Which of ``alpha_tilde`` / ``alpha`` sets the volume weights.
    delta : float
        δ > 0 in logdet(WᵀW + δI).
    rho : float
        ADMM penalty > 0, read according to ``rho_mode``. ``"relative"`` (default): the
        dimensionless ρ̃ of the entrywise penalty Γ = ρ̃ √(κ_W κ_Z), the geometric mean of the
        curvatures of the two ADMM blocks (:func:`dnmf.models.minvol.admm_penalty`; 0.5 – 1
        works on every data set measured). ``"absolute"``: the scalar ρ of the
        λ_ℓ-normalised augmented Lagrangian (paper eq. 23), whose good values depend on the
        data (10³ – 10⁷). ``"paper"``: the paper's ρ (ρ = 100 in §4.3), the penalty of the
        augmented Lagrangian of the un-normalised W_ℓ-problem λ_ℓ D + λ_{ℓ+1} D + α_ℓ logdet
        (the authors' ``UpdateWl_ADMM.m`` divides it by λ_ℓ): ρ/λ_ℓ in eq. 23. On Moffett
        that is ρ/λ_1 ≈ 7·10³ and the ADMM needs 175 of 200 iterations on average under
        dnmf's stop (both residuals ≤ admm_tol; theirs looks at ‖W − Z‖ only), where the
        relative penalty needs about 6 and reaches the same objective to 1e-5.
    admm_max_iter : int
        Maximum ADMM iterations per W-update (the paper's script: 200).
    admm_tol : float
        ADMM stops when ‖W − Z‖_F ≤ admm_tol and ‖Z − Z_prev‖_F ≤ admm_tol (paper: 1e-6).
    rho_mode : {"relative", "absolute", "paper"}
        How ``rho`` is read (see ``rho``).
    """

    alpha_tilde: float | tuple[float, ...] = 0.05
    delta: float = 1.0
    rho: float = 0.5
    admm_max_iter: int = 50
    admm_tol: float = 1e-6
    rho_mode: str = "relative"
    alpha: float | tuple[float, ...] | None = None
    convention: str = "relative"

    def validate(self, n_layers: int) -> None:
        if self.convention not in ("relative", "paper"):
            raise ValueError(f"min_vol.convention must be 'relative' or 'paper', "
                             f"got {self.convention!r}")
        if self.convention == "paper" and self.alpha is None:
            raise ValueError("min_vol.convention='paper' reads the paper's weights from "
                             "alpha=[...]; give them (e.g. MinVol(alpha=[4, 1], "
                             "convention='paper'))")
        if self.convention == "relative" and self.alpha is not None:
            raise ValueError("min_vol.alpha holds the paper's weights: add convention='paper', "
                             "or give dnmf's relative weights as alpha_tilde")
        name = "alpha" if self.convention == "paper" else "alpha_tilde"
        value = getattr(self, name)
        alphas = np.atleast_1d(np.asarray(value, dtype=float))
        if alphas.size not in (1, n_layers) or np.any(alphas < 0) or not np.all(
            np.isfinite(alphas)
        ):
            raise ValueError(
                f"min_vol.{name} must be ≥ 0, one value or one per layer ({n_layers}), "
                f"got {value!r}"
            )
        for name in ("delta", "rho", "admm_tol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"min_vol.{name} must be a positive number, got {value!r}")
        check_int(self.admm_max_iter, "min_vol.admm_max_iter", 1)
        if self.rho_mode not in ("relative", "absolute", "paper"):
            raise ValueError(f"min_vol.rho_mode must be 'relative', 'absolute' or 'paper', "
                             f"got {self.rho_mode!r}")


def _rng(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is not None:
        random_state = check_int(random_state, "random_state", 0)
    return np.random.default_rng(random_state)


def _to_user_units(errors: np.ndarray, error_scale) -> np.ndarray:
    """Errors of the scaled fit times s^β (0 stays 0 even when s^β overflows to inf)."""
    with np.errstate(over="ignore"):
        return np.where(errors == 0, 0.0, errors * error_scale)


def _first_layer_scale(n_layers: int, error_scale: float) -> np.ndarray:
    out = np.ones(n_layers)
    out[0] = error_scale
    return out


def _chain_scale(n_layers: int, error_scale: float, normalize: str | None) -> np.ndarray:
    """The factor s^β of each layer's error while the chain is fitted on X / s: with H_ℓ e = e
    every W_ℓ keeps the data's scale; with unit-maximum or unit-sum columns only layer 1 does."""
    if normalize == "H":
        return np.full(n_layers, error_scale)
    return _first_layer_scale(n_layers, error_scale)


def _common(est) -> tuple:
    """β, working dtype and eval_every of a validated estimator."""
    return float(est.beta), est._working_dtype(), int(est.eval_every)


def _custom_factors(W, H, ranks, m, n, dtype, eps):
    """The given starting factors, checked (shapes, finite, ≥ 0) and floored at ε."""
    if W is None or H is None:
        raise ValueError("init='custom' needs both W=[W_1, …, W_L] and H=[H_1, …, H_L]")
    if len(W) != len(ranks) or len(H) != len(ranks):
        raise ValueError(f"init='custom' needs {len(ranks)} matrices in W and in H, "
                         f"got {len(W)} and {len(H)}")
    Ws, Hs = [], []
    previous = n
    for ell, (Wl, Hl, r) in enumerate(zip(W, H, ranks), start=1):
        Wl = np.array(Wl, dtype=dtype)
        Hl = np.array(Hl, dtype=dtype)
        if Wl.shape != (m, r) or Hl.shape != (r, previous):
            raise ValueError(
                f"layer {ell}: W_{ell} must be {(m, r)} and H_{ell} {(r, previous)}, "
                f"got {Wl.shape} and {Hl.shape}"
            )
        if not (np.all(np.isfinite(Wl)) and np.all(np.isfinite(Hl))):
            raise ValueError(f"layer {ell}: the given factors contain NaN or inf")
        if Wl.min() < 0 or Hl.min() < 0:
            raise ValueError(f"layer {ell}: the given factors must be nonnegative")
        np.maximum(Wl, eps, out=Wl)
        np.maximum(Hl, eps, out=Hl)
        Ws.append(Wl)
        Hs.append(Hl)
        previous = r
    return Ws, Hs


class MultilayerNMF(LayeredEstimator):
    """Multilayer β-NMF: NMF of X, then NMF of W_1, and so on (Cichocki & Zdunek).

    The steps follow the authors' ``multilayerKLNMF.m`` (:mod:`dnmf.models.multilayer`):
    per layer nmfbook's ``betaNMF`` (β-MU, H then W, floors at ε, columns of W_ℓ rescaled to
    unit maximum after every iteration), then ``normalizeWH(W_ℓ, H_ℓ, 2)`` (H_ℓ e = e) before
    the next layer factorises W_ℓ; their stopping rule on request. From the same factors
    (``init="custom"``) the layers agree with their code under GNU Octave to ≤ 1e-10
    (bench/octave/agreement.py). Their random start (MATLAB's ``rand``) is not reproduced.

    Parameters
    ----------
    ranks : sequence of int
        r_1 > r_2 > … > r_L ≥ 1 with r_1 < n.
    beta : float in [0, 2]
        β of the divergence (1: Kullback–Leibler, 2: Frobenius, 0: Itakura–Saito).
    init : str
        Initialisation of each layer: "random", a method of :mod:`dnmf.init`, or "custom"
        (every layer starts from the factors given to :meth:`fit` as ``W=[W_1⁰ …]``,
        ``H=[H_1⁰ …]``; W_ℓ⁰ of shape (m, r_ℓ), H_ℓ⁰ of shape (r_ℓ, r_{ℓ-1}), r_0 = n).
    max_iter : int
        MU iterations per layer.
    tol : float
        Stop a layer when its error decreases by less than this fraction between evaluations.
    eval_every : int
        Evaluate the error every so many iterations (and at the end of each layer).
    normalize : {"H", "W"} or None
        Rescaling of each finished layer before the next one factorises W_ℓ: "H" (default,
        the authors' H_ℓ e = e), "W" (W_ℓᵀe = e, their choice before min-vol deep KL-NMF),
        None (the unit-maximum columns of the MU loop, dnmf's behaviour before 2026-12).
    stop_rule : {None, "authors"}
        "authors": ``betaNMF``'s rule, stop a layer before iteration i > 12 when
        |e(i−1) − e(i−11)| ≤ accuracy · |e(i−2)| (the error is then evaluated every
        iteration, after the W-update; theirs is measured between the H- and W-updates).
        None (default): the paper's fixed iteration counts run.
    accuracy : float
        The tolerance of ``stop_rule="authors"`` (their default 1e-4).
    random_state : int, Generator or None
        Seeded fits are bit-for-bit reproducible for a given number of BLAS threads (see
        :mod:`dnmf._rowsplit`; between thread counts they agree to rounding).
    dtype : float64 or float32
    callback : callable(IterationInfo) -> bool | None
        Returning False stops the fit, keeping what was computed.
    verbose : int
        0 silent; 1 a line per layer and about every tenth of the fit (errors, time left);
        2 a line at every evaluation.

    Attributes
    ----------
    W_ : list of L ndarrays, ``W_[l]`` of shape (m, r_{l+1})
    H_ : list of L ndarrays, ``H_[0]`` of shape (r_1, n), ``H_[l]`` of shape (r_{l+1}, r_l)
    layer_errors_ : ndarray of shape (L,), D_β(W_{ℓ-1}, W_ℓ H_ℓ)
    weights_ : None (the layers are fitted independently)
    history_ : DataFrame, one row per evaluation with columns iteration (within the layer),
        seconds, error_layer_1 … error_layer_L (NaN except the layer being fitted),
        objective, phase, layer

    Notes
    -----
    The returned factors have H_ℓ e = e for every layer (with ``normalize="H"`` that is the
    chain itself; otherwise they are rescaled at the end), the normalisation of
    :class:`DeepNMF`, and ``layer_errors_`` are measured on them: for ℓ ≥ 2,
    D(W_{ℓ-1}, W_ℓ H_ℓ) depends on the column scaling of W_{ℓ-1}, so only errors in the same
    normalisation compare across models (the paper's Table 2 and Fig. 2).
    n_iter_ : int, total MU iterations over all layers
    stopped_early_ : bool
    result_ : FitResult
    """

    _portable = True  # Dask and array-API arrays: dnmf.portable
    _parameter_constraints = {
        **LayeredEstimator._parameter_constraints,
        "beta": _BETA,
        "init": [StrOptions(set(INIT_METHODS) | {"custom"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "normalize": [StrOptions({"H", "W"}), None],
        "stop_rule": [StrOptions({"authors"}), None],
        "accuracy": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, ranks=(10,), beta: float = 1.0, init: str = "random",
                 max_iter: int = 500, tol: float = 0.0, eval_every: int = 5,
                 normalize: str | None = "H", stop_rule: str | None = None,
                 accuracy: float = 1e-4, random_state=None, dtype=np.float64,
                 callback=None, verbose: int = 0) -> None:
        self.ranks = ranks
        self.beta = beta
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.eval_every = eval_every
        self.normalize = normalize
        self.stop_rule = stop_rule
        self.accuracy = accuracy
        self.random_state = random_state
        self.dtype = dtype
        self.callback = callback
        self.verbose = verbose

    def _sparse_input(self) -> bool:
        return self.init == "custom" or self.init in SPARSE_INIT_METHODS

    def _fit(self, X, W=None, H=None) -> FitResult:
        """Fit the layers one after the other. ``X``: (m, n) ndarray or scipy.sparse;
        ``W``, ``H``: lists of the L starting factors with ``init="custom"``."""
        t0 = time.perf_counter()
        beta, dtype, eval_every = _common(self)
        max_iter = int(self.max_iter)
        Xs, scale = check_data(X, beta, dtype)
        ranks = self._check_params(Xs.shape[1])
        eps = machine_eps(dtype)
        Ws0 = Hs0 = None
        if self.init == "custom":
            Ws0, Hs0 = _custom_factors(W, H, ranks, *Xs.shape, dtype, eps)
            Ws0 = [Wl / scale for Wl in Ws0]  # the loops run on X / s
        elif W is not None or H is not None:
            raise ValueError("W= and H= are starting factors: they need init='custom'")
        with np.errstate(over="ignore"):
            error_scale = float(np.float64(scale) ** beta)
        progress = Progress(len(ranks), len(ranks) * max_iter, self.callback,
                            _chain_scale(len(ranks), error_scale, self.normalize),
                            verbose=self.verbose, name=type(self).__name__)
        progress.configure(user_factors=lambda Ws, Hs: ([W * scale for W in Ws], Hs))
        Ws, Hs = fit_multilayer(
            Xs, ranks, beta, max_iter, init="random" if Ws0 else self.init,
            rng=_rng(self.random_state), dtype=dtype, progress=progress,
            eval_every=eval_every, tol=self.tol, normalize=self.normalize,
            stop_rule=self.stop_rule, accuracy=float(self.accuracy), Ws0=Ws0, Hs0=Hs0,
        )
        stopped = progress.stopped
        rng = _rng(self.random_state)
        while len(Ws) < len(ranks):  # stopped before reaching every layer
            W, H = initial_factors(Ws[-1], ranks[len(Ws)], "random", rng, dtype, eps)
            Ws.append(W)
            Hs.append(H)
        # Report the factors in the normalisation H_ℓ e = e shared with DeepNMF, so that the
        # per-layer errors of the two models measure the same thing (D(W_{ℓ-1}, ·) depends on
        # the column scaling of W_{ℓ-1} for ℓ ≥ 2); a no-op after normalize="H".
        normalize_rows_of_H(Ws, Hs)
        with np.errstate(over="ignore"):
            errors = _to_user_units(all_layer_errors(Xs, Ws, Hs, beta), error_scale)
        Ws = [W * scale for W in Ws]
        config = {
            "model": "multilayer",
            "ranks": list(ranks),
            "beta": beta,
            "init": self.init,
            "max_iter": max_iter,
            "tol": self.tol,
            "eval_every": eval_every,
            "normalize": self.normalize,
            "stop_rule": self.stop_rule,
            "accuracy": float(self.accuracy),
            "random_state": self.random_state
            if isinstance(self.random_state, (int, type(None))) else "generator",
            "dtype": dtype.name,
            "data_shape": list(Xs.shape),
            "data_scale": scale,
        }
        total = time.perf_counter() - t0
        result = FitResult(
            W=Ws, H=Hs, history=progress.history(("layer",)), config=config, weights=None,
            layer_errors=errors, n_iter=progress.iteration, stopped_early=stopped,
            timings={"total": total, "evaluation": progress.eval_seconds},
        )
        return result


def _user_units_of_deep(scale: float, min_vol: bool):
    """A deep fit's factors (its loops run on X / s) in the units of X, as its result has
    them: min-vol keeps every W_ℓᵀe = e and puts s into H_1; otherwise every W_ℓ takes s."""
    def to_user(Ws: list, Hs: list) -> tuple[list, list]:
        if min_vol:
            Hs[0] = Hs[0] * scale
        else:
            Ws = [W * scale for W in Ws]
        return Ws, Hs
    return to_user


class DeepNMF(WarmStartedEstimator):
    """Deep β-NMF with the layer-centric loss (paper eq. 6, Algorithm 1).

    Minimises Σ_ℓ λ_ℓ D_β(W_{ℓ-1}, W_ℓ H_ℓ) subject to H_ℓ e = e (rows of every H_ℓ sum to
    one), W_0 = X, starting from a multilayer warm start. With ``min_vol=MinVol(...)`` it fits
    minimum-volume deep KL-NMF (eq. 7, Algorithm 2) instead.

    Parameters
    ----------
    ranks : sequence of int
        r_1 > r_2 > … > r_L ≥ 1 with r_1 < n.
    beta : float in [0, 2]
    min_vol : MinVol or None
    weights : "auto" or sequence of L positive floats
        λ_ℓ. "auto": λ_ℓ = 1 / D_β(W_{ℓ-1}⁰, W_ℓ⁰ H_ℓ⁰) at initialisation (paper §4.1).
    init : {"multilayer", "custom"}
        "multilayer": ``n_init_iter`` β-MU iterations per layer of multilayer NMF, each layer
        started by ``layer_init``; "custom": factors given to :meth:`fit` as ``W=…, H=…``.
    layer_init : str
        Initialisation of each layer of the warm start ("random", "nndsvda", "snpa", …).
    n_init_iter : int
        Iterations per layer of the multilayer warm start (0: only ``layer_init``).
    max_iter : int
        Iterations of the deep algorithm.
    tol : float
        Stop when the objective decreases by less than this fraction between evaluations.
    eval_every : int
        Evaluate the errors every so many iterations (and at the start and the end).
    random_state : int, Generator or None
        Seeded fits are bit-for-bit reproducible for a given number of BLAS threads (see
        :mod:`dnmf._rowsplit`; between thread counts they agree to rounding).
    dtype : float64 or float32
    callback : callable(IterationInfo) -> bool | None
        Called every iteration; returning False stops the fit, keeping what was computed.
    verbose : int
        0 silent; 1 a line per phase and about every tenth of the fit (errors, time left);
        2 a line at every evaluation.

    Attributes
    ----------
    W_ : list of L ndarrays, ``W_[l]`` of shape (m, r_{l+1})
    H_ : list of L ndarrays, ``H_[0]`` of shape (r_1, n), ``H_[l]`` of shape (r_{l+1}, r_l)
    layer_errors_ : ndarray of shape (L,)
    weights_ : ndarray of shape (L,), the λ_ℓ used (in the units of X)
    history_ : DataFrame of the deep phase: iteration, seconds, error_layer_1 … error_layer_L,
        objective, phase; iteration 0 is the initialisation
    init_history_ : DataFrame of the warm start (per layer) or None
    n_iter_ : int, iterations of the deep phase
    stopped_early_ : bool
    result_ : FitResult
    """

    _portable = True  # Dask and array-API arrays: dnmf.portable
    _parameter_constraints = {
        **WarmStartedEstimator._parameter_constraints,
        "beta": _BETA,
        "min_vol": [MinVol, None],
        "weights": [StrOptions({"auto"}), "array-like"],
    }

    def __init__(self, ranks=(10,), beta: float = 1.0, min_vol: MinVol | None = None,
                 weights="auto", init: str = "multilayer", layer_init: str = "random",
                 n_init_iter: int = 500, max_iter: int = 500, tol: float = 0.0,
                 eval_every: int = 5, random_state=None, dtype=np.float64,
                 callback=None, verbose: int = 0) -> None:
        self.ranks = ranks
        self.beta = beta
        self.min_vol = min_vol
        self.weights = weights
        self.init = init
        self.layer_init = layer_init
        self.n_init_iter = n_init_iter
        self.max_iter = max_iter
        self.tol = tol
        self.eval_every = eval_every
        self.random_state = random_state
        self.dtype = dtype
        self.callback = callback
        self.verbose = verbose

    def _check_params(self, n_features: int | None):
        ranks = check_ranks(self.ranks, n_features)
        weights = check_weights(self.weights, len(ranks))
        if self.min_vol is not None:
            if self.beta != 1:
                raise ValueError("min_vol is implemented for beta = 1 (KL) only, "
                                 f"got beta = {self.beta}")
            self.min_vol.validate(len(ranks))
        return ranks, weights

    def _fit(self, X, W=None, H=None) -> FitResult:
        """Deep β-NMF of ``X`` (m, n); ``W``, ``H`` (lists of L arrays) with init="custom".

        The given H's are normalised to H_ℓ e = e first (rescaling the W's to match).
        """
        t0 = time.perf_counter()
        beta, dtype, eval_every = _common(self)
        max_iter = int(self.max_iter)
        n_init_iter = int(self.n_init_iter)
        Xs, scale = check_data(X, beta, dtype)
        m, n = Xs.shape
        ranks, weights_arg = self._check_params(n)
        n_layers = len(ranks)
        eps = machine_eps(dtype)
        rng = _rng(self.random_state)
        with np.errstate(over="ignore"):
            error_scale = float(np.float64(scale) ** beta)  # inf beyond float range: honest

        init_iters = n_init_iter * n_layers if self.init == "multilayer" else 0
        progress = Progress(n_layers, init_iters + max_iter, self.callback,
                            _first_layer_scale(n_layers, error_scale),
                            verbose=self.verbose, name=type(self).__name__)
        progress.configure(user_factors=_user_units_of_deep(scale, self.min_vol is not None))
        t_init = time.perf_counter()
        init_history = None
        if self.init == "custom":
            Ws, Hs = _custom_factors(W, H, ranks, m, n, dtype, eps)
            Ws = [Wl / scale for Wl in Ws]
        else:
            # As the authors' deepKL_NMF.m: multilayerKLNMF with normalize = 2 + min_vol
            # (H_ℓ e = e, or W_ℓᵀe = e before min-vol) between the layers.
            chain = "H" if self.min_vol is None else "W"
            progress.error_scale = _chain_scale(n_layers, error_scale, chain)
            Ws, Hs = fit_multilayer(
                Xs, ranks, beta, n_init_iter, init=self.layer_init, rng=rng, dtype=dtype,
                progress=progress, eval_every=eval_every, phase_name="init layer",
                normalize=chain,
            )
            init_history = progress.take_history(("layer",))
            while len(Ws) < n_layers:  # stopped during the warm start
                Wl, Hl = initial_factors(Ws[-1], ranks[len(Ws)], "random", rng, dtype, eps)
                Ws.append(Wl)
                Hs.append(Hl)
        if self.min_vol is None:
            normalize_rows_of_H(Ws, Hs)
            # The deep phase keeps the data scale in every W_ℓ: every error scales by s^β.
            layer_scale = np.full(n_layers, error_scale)
        else:
            from ..models.minvol import normalize_columns_of_W

            # W_ℓᵀe = e before the automatic λ_ℓ = 1/D(W_{ℓ-1}, W_ℓ H_ℓ) are computed (the
            # rescaling changes the errors of layers ℓ ≥ 2); the W_ℓ are then scale-free and
            # only H_1 (hence layer 1's error) carries the data scale.
            normalize_columns_of_W(Ws, Hs, eps)
            layer_scale = _first_layer_scale(n_layers, error_scale)
        progress.configure(error_scale=layer_scale)
        seconds_init = time.perf_counter() - t_init

        initial_errors = all_layer_errors(Xs, Ws, Hs, beta)
        if isinstance(weights_arg, str):
            internal_weights = auto_weights(initial_errors)
            with np.errstate(over="ignore", divide="ignore"):
                weights = internal_weights / layer_scale  # λ_ℓ in the units of X
            objective_scale = 1.0
        else:
            weights = weights_arg
            internal_weights = weights_arg
            # Min-vol with user weights: the objective is reported for the data scaled to a
            # maximum of 1 (its volume terms do not scale with the data).
            objective_scale = error_scale if self.min_vol is None else 1.0
        progress.configure(weights=internal_weights, objective_scale=objective_scale)

        extra_timings: dict = {}
        if self.min_vol is None:
            Ws, Hs, n_iter, seconds_deep = fit_deep(
                Xs, Ws, Hs, beta, internal_weights, max_iter, progress=progress,
                eval_every=eval_every, tol=self.tol, initial_errors=initial_errors,
            )
        else:
            from ..models.minvol import fit_minvol_deep

            Ws, Hs, n_iter, seconds_deep, extra_timings = fit_minvol_deep(
                Xs, Ws, Hs, internal_weights, max_iter, self.min_vol, progress=progress,
                eval_every=eval_every, tol=self.tol,
            )
        # Every path records the errors of the final factors last (in the data's units).
        errors = progress.latest.copy()
        if self.min_vol is None:
            Ws = [Wl * scale for Wl in Ws]
        else:
            Hs[0] = Hs[0] * scale  # keeps every W_ℓᵀe = e
        config = {
            "model": "deep-minvol" if self.min_vol is not None else "deep",
            "ranks": list(ranks),
            "beta": beta,
            "weights": "auto" if isinstance(weights_arg, str) else weights_arg.tolist(),
            "init": self.init,
            "layer_init": self.layer_init,
            "n_init_iter": n_init_iter,
            "max_iter": max_iter,
            "tol": self.tol,
            "eval_every": eval_every,
            "random_state": self.random_state
            if isinstance(self.random_state, (int, type(None))) else "generator",
            "dtype": dtype.name,
            "data_shape": [m, n],
            "data_scale": scale,
            "min_vol": None if self.min_vol is None else asdict(self.min_vol),
        }
        timings = {
            "init": seconds_init,
            "deep": seconds_deep,
            "evaluation": progress.eval_seconds,
            "total": time.perf_counter() - t0,
            **extra_timings,
        }
        result = FitResult(
            W=Ws, H=Hs, history=progress.history(), config=config,
            weights=np.asarray(weights, dtype=float), layer_errors=errors, n_iter=n_iter,
            timings=timings, stopped_early=progress.stopped, init_history=init_history,
        )
        return result
