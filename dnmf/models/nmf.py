r"""Single-layer NMF X ≈ W H with the classic algorithms a course teaches.

X is (m, n), W (m, r), H (r, n). For the Frobenius loss f(W, H) = ½‖X − WH‖²_F every solver
alternates one update of W (H fixed) and one of H (W fixed) per iteration, W first (the order
of scikit-learn). The updates, as in ``docs/learn.md``:

``"als"``
    W ← [X H⁺]₊, H ← [W⁺ X]₊ (⁺ the pseudo-inverse, [·]₊ the truncation at 0). Each least-
    squares solve ignores the constraint and the truncation is not a projection in the metric
    of the problem, so ALS is **not a descent method**: the error may go up and oscillate.
``"pgd"``
    Projected gradient H ← [H − α ∇_H f]₊ with ∇_H f = WᵀW H − WᵀX. ``step=None``: α by
    Armijo backtracking (Lin 2007: accept when f(H⁺) − f(H) ≤ σ ⟨∇f, H⁺ − H⟩, σ = 0.01,
    otherwise halve α), a descent method. ``step=c``: a fixed α = c / L⁰ with L⁰ = λ_max of
    the block's Hessian at the start; beyond c = 2 it diverges, and it may diverge later even
    below 2 when the factors grow.
``"opl"``
    Oblique projected Landweber: H ← [H − diag(η) ∇_H f]₊, η_k = 1 / rowsum_k(WᵀW). Since
    WᵀW ⪯ diag(rowsums(WᵀW)) for a nonnegative WᵀW, this is a majorisation step: the error
    does not increase.
``"ipg"``
    Interior-point gradient (Merritt & Zhang): G = Wᵀ(WH − X), D = H ⊘ (WᵀWH), P = −D ⊙ G,
    η* = −⟨P, G⟩ / ‖WP‖²_F (the exact line minimum), η' = max{η : H + ηP ≥ 0},
    η = min(τ η', η*), H ← H + ηP. The iterates stay positive; the error never increases.
``"hals"``
    Exact block coordinate descent on the columns of W and the rows of H (Cichocki's HALS):
    h_k ← [h_k + ((WᵀX)_k − (WᵀW)_k H) / (WᵀW)_kk]₊, each row using the rows updated before it
    (scikit-learn's ``solver="cd"`` without shuffling).
``"mu"``
    Lee–Seung multiplicative updates, and for β ≠ 2 the Févotte–Idier β-MU
    (:mod:`dnmf.updates`): H ← max(ε, H ⊙ (Q/P)^γ). ``eps`` is the floor ε; with ε = 0 an
    entry that is 0 stays 0 forever (zero-locking).

Every solver supports scipy.sparse X for the Frobenius loss (only XHᵀ, WᵀX and the error at
the nonzeros touch X); β-MU with β ∉ {1, 2} densifies X.
"""

from __future__ import annotations

import math
import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, StrOptions

from .._rowsplit import one_blas_thread
from .._validation import check_beta, check_data, check_dtype
from ..divergence import beta_divergence
from ..estimators._base import DTYPE_CONSTRAINT, LayeredEstimator
from ..result import FitResult
from ..updates import MUWorkspace, update_H_mu, update_W_mu
from ._common import Progress

__all__ = ["NMF", "SOLVERS", "fit_nmf"]

SOLVERS = ("mu", "hals", "als", "pgd", "opl", "ipg")
#: Solvers that do not increase the error (see the module docstring).
DESCENT_SOLVERS = ("mu", "hals", "pgd", "opl", "ipg")
INITS = ("random", "nndsvd", "nndsvda", "nndsvdar", "snpa", "custom")

_ARMIJO_SIGMA = 0.01
_ARMIJO_MAX_HALVINGS = 40


# ---------------------------------------------------------------------------------------------
# products of X (dense or sparse) with a factor
# ---------------------------------------------------------------------------------------------


def _XHt(X, H: np.ndarray) -> np.ndarray:
    """X Hᵀ, shape (m, r)."""
    return np.asarray(X @ H.T)


def _WtX(X, W: np.ndarray) -> np.ndarray:
    """Wᵀ X, shape (r, n) (as (Xᵀ W)ᵀ, which also serves CSR X)."""
    return np.ascontiguousarray(np.asarray(X.T @ W).T)


# ---------------------------------------------------------------------------------------------
# The H-updates; the W-updates are the same on transposes: Xᵀ ≈ Hᵀ Wᵀ.
# Each takes the Gram matrix A = WᵀW (r, r) and B = WᵀX (r, n), so that f(H) = ½‖X‖² −
# ⟨B, H⟩ + ½⟨A H, H⟩ and ∇f = A H − B, and updates H in place.
# ---------------------------------------------------------------------------------------------


def _hals_rows(A: np.ndarray, B: np.ndarray, H: np.ndarray) -> None:
    for k in range(H.shape[0]):
        if A[k, k] <= 0:  # a zero column of W: h_k does not enter f
            continue
        row = H[k]
        row += (B[k] - A[k] @ H) / A[k, k]
        np.maximum(row, 0.0, out=row)


def _opl_step(A: np.ndarray, B: np.ndarray, H: np.ndarray, G: np.ndarray) -> None:
    rowsums = A.sum(axis=1)
    eta = np.divide(1.0, rowsums, out=np.zeros_like(rowsums), where=rowsums > 0)
    np.matmul(A, H, out=G)
    G -= B
    G *= eta[:, None]
    H -= G
    np.maximum(H, 0.0, out=H)


def _armijo_step(A: np.ndarray, B: np.ndarray, H: np.ndarray, alpha: float,
                 G: np.ndarray, Hn: np.ndarray) -> float:
    """One projected-gradient step with Armijo backtracking; returns the accepted α.

    With D = H⁺ − H the change of f is exactly ⟨G, D⟩ + ½⟨A D, D⟩ (f is quadratic), so the
    test costs one r×r by r×n product per trial. If no α passes, H is left unchanged.
    """
    np.matmul(A, H, out=G)
    G -= B
    for _ in range(_ARMIJO_MAX_HALVINGS):
        np.multiply(G, -alpha, out=Hn)
        Hn += H
        np.maximum(Hn, 0.0, out=Hn)
        Hn -= H  # D
        gd = float(np.vdot(G, Hn))
        change = gd + 0.5 * float(np.vdot(A @ Hn, Hn))
        if change <= _ARMIJO_SIGMA * gd:
            H += Hn
            return alpha
        alpha *= 0.5
    return alpha


def _fixed_step(A: np.ndarray, B: np.ndarray, H: np.ndarray, alpha: float,
                G: np.ndarray) -> None:
    np.matmul(A, H, out=G)
    G -= B
    G *= alpha
    H -= G
    np.maximum(H, 0.0, out=H)


def _ipg_step(A: np.ndarray, B: np.ndarray, H: np.ndarray, WP_norm2, tau: float,
              G: np.ndarray, P: np.ndarray) -> None:
    """The lecture's IPG update; ``WP_norm2(P)`` returns ‖W P‖²_F = ⟨A P, P⟩."""
    np.matmul(A, H, out=P)  # WᵀW H
    np.subtract(P, B, out=G)  # 1.1 G = Wᵀ(WH − X)
    tiny = np.finfo(H.dtype).tiny
    np.maximum(P, tiny, out=P)
    np.divide(H, P, out=P)  # 1.2 D = H ⊘ (WᵀWH)
    P *= G
    np.negative(P, out=P)  # 1.3 P = −D ⊙ G
    gp = float(np.vdot(P, G))
    curvature = WP_norm2(P)
    if gp >= 0 or curvature <= 0:  # at a stationary point (P = 0)
        return
    eta_star = -gp / curvature  # 1.4 best step
    negative = P < 0
    eta_pos = float(np.min(-H[negative] / P[negative])) if negative.any() else math.inf  # 1.5
    eta = min(tau * eta_pos, eta_star)  # 1.6
    H += eta * P  # 1.7


def _pinv_solve_rows(X, W: np.ndarray) -> np.ndarray:
    """[W⁺ X]₊, shape (r, n)."""
    Wp = np.linalg.pinv(W)
    H = np.ascontiguousarray(np.asarray(X.T @ Wp.T).T)
    np.maximum(H, 0.0, out=H)
    return H


class _Frobenius:
    """State of one Frobenius solver between iterations (buffers, steps)."""

    def __init__(self, X, W: np.ndarray, H: np.ndarray, solver: str, step: float | None,
                 tau: float) -> None:
        self.X = X
        self.solver = solver
        self.step = step
        self.tau = tau
        self.alpha = {"W": 1.0, "H": 1.0}
        self.fixed = None
        if solver == "pgd" and step is not None:
            lw = np.linalg.eigvalsh(H @ H.T)[-1]
            lh = np.linalg.eigvalsh(W.T @ W)[-1]
            self.fixed = {"W": step / max(lw, np.finfo(float).tiny),
                          "H": step / max(lh, np.finfo(float).tiny)}
        if solver == "pgd" and step is None:  # start Armijo near 1/L
            self.alpha = {"W": 1.0 / max(np.linalg.eigvalsh(H @ H.T)[-1], 1e-300),
                          "H": 1.0 / max(np.linalg.eigvalsh(W.T @ W)[-1], 1e-300)}
        self._buf: dict[str, np.ndarray] = {}

    def _b(self, name: str, shape) -> np.ndarray:
        buf = self._buf.get(name)
        if buf is None or buf.shape != shape:
            buf = np.empty(shape, dtype=self.dtype)
            self._buf[name] = buf
        return buf

    def _block(self, which: str, A: np.ndarray, B: np.ndarray, F: np.ndarray) -> None:
        """Update F (H, or Wᵀ when ``which == "W"``) in place for f = ½⟨AF, F⟩ − ⟨B, F⟩."""
        s = self.solver
        if s == "hals":
            _hals_rows(A, B, F)
        elif s == "opl":
            _opl_step(A, B, F, self._b("G" + which, F.shape))
        elif s == "pgd" and self.fixed is not None:
            _fixed_step(A, B, F, self.fixed[which], self._b("G" + which, F.shape))
        elif s == "pgd":
            alpha = _armijo_step(A, B, F, self.alpha[which], self._b("G" + which, F.shape),
                                 self._b("N" + which, F.shape))
            self.alpha[which] = 2.0 * alpha  # try a longer step next time
        elif s == "ipg":
            _ipg_step(A, B, F, lambda P: float(np.vdot(A @ P, P)), self.tau,
                      self._b("G" + which, F.shape), self._b("P" + which, F.shape))
        else:  # pragma: no cover - guarded by the estimator
            raise ValueError(s)

    def iterate(self, W: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.dtype = W.dtype
        X = self.X
        if self.solver == "als":
            Hp = np.linalg.pinv(H)
            W = _XHt(X, Hp.T)  # X H⁺
            np.maximum(W, 0.0, out=W)
            return W, _pinv_solve_rows(X, W)
        # W-block on transposes: f = ½⟨(HHᵀ) Wᵀ, Wᵀ⟩ − ⟨H Xᵀ, Wᵀ⟩.
        Wt = self._b("Wt", (W.shape[1], W.shape[0]))
        np.copyto(Wt, W.T)
        self._block("W", H @ H.T, _XHt(X, H).T, Wt)
        np.copyto(W, Wt.T)
        self._block("H", W.T @ W, _WtX(X, W), H)
        return W, H


def _error(X, W: np.ndarray, H: np.ndarray, beta: float, ws: dict) -> float:
    """D_β(X, WH); for dense X and β = 2, ½‖X − WH‖²_F in a reused m×n buffer."""
    if beta != 2 or sp.issparse(X):
        return beta_divergence(X, W, H, beta)
    buf = ws.get("R")
    if buf is None or buf.shape != X.shape or buf.dtype != W.dtype:
        buf = ws["R"] = np.empty(X.shape, dtype=W.dtype)
    np.matmul(W, H, out=buf)
    np.subtract(X, buf, out=buf)
    return 0.5 * float(np.vdot(buf, buf))


def fit_nmf(X, W: np.ndarray, H: np.ndarray, *, solver: str = "mu", beta: float = 2.0,
            max_iter: int = 200, eps: float = 0.0, step: float | None = None,
            tau: float = 0.99, progress: Progress | None = None, tol: float = 0.0,
            keep: frozenset[int] | set[int] = frozenset()):
    """Run ``max_iter`` iterations of ``solver`` from (W, H) on (already validated) X.

    Parameters
    ----------
    X : ndarray or CSR of shape (m, n), nonnegative
    W : ndarray of shape (m, r), updated in place when the solver allows
    H : ndarray of shape (r, n)
    solver : one of :data:`SOLVERS`
    beta : float, β of the MU (the other solvers need β = 2)
    max_iter : int
    eps : float, the floor of the MU
    step : float or None, PGD: None for Armijo, c for the fixed step c / L⁰
    tau : float in (0, 1), IPG's fraction of the step to the boundary
    progress : Progress, records the error D_β(X, WH) after every iteration (iteration 0 is
        the start) and calls the callback
    tol : stop when the error decreases by less than this fraction in one iteration (0: never)
    keep : iterations at which copies of (W, H) are kept (0 = the start)

    Returns
    -------
    W, H : the final factors
    n_iter : iterations run
    solver_seconds : time spent in the updates alone (evaluations excluded)
    kept : dict iteration -> (W, H) copies
    """
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if 0 in keep:
        kept[0] = (W.copy(), H.copy())
    error_ws: dict = {}
    error = _error(X, W, H, beta, error_ws)
    if progress is not None:
        progress.record(0, [error], "nmf", solver_seconds=0.0)
    frob = None if solver == "mu" else _Frobenius(X, W, H, solver, step, tau)
    ws = MUWorkspace(X, W.dtype) if solver == "mu" else None
    solver_seconds = 0.0
    n_iter = 0
    # One BLAS thread: a teaching NMF's products are small, and two BLAS threads contending
    # with other work made them up to 20x slower (measured on the shared 2-core machine:
    # 100 MU iterations on Swimmer 12.6 s with two threads, 0.54 s with one).
    with one_blas_thread():
        for it in range(1, max_iter + 1):
            t = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore"):
                if frob is None:
                    update_W_mu(X, W, H, beta, eps, out=W, workspace=ws)
                    update_H_mu(X, W, H, beta, eps, out=H, workspace=ws)
                else:
                    W, H = frob.iterate(W, H)
            solver_seconds += time.perf_counter() - t
            n_iter = it
            if progress is None and tol <= 0 and it < max_iter and not keep:
                continue  # nobody reads the error of this iteration
            previous = error
            with np.errstate(over="ignore", invalid="ignore"):
                error = _error(X, W, H, beta, error_ws)
            if it in keep:
                kept[it] = (W.copy(), H.copy())
            if progress is not None:
                progress.record(it, [error], "nmf", solver_seconds=solver_seconds)
                if not progress.step("nmf"):
                    break
            if not math.isfinite(error):  # a diverging fixed-step PGD: stop, keep the history
                break
            if tol > 0 and previous - error <= tol * max(abs(previous), np.finfo(float).tiny):
                break
    return W, H, n_iter, solver_seconds, kept


def initial_nmf_factors(Xs, r: int, init: str, random_state, dtype) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Starting (W, H) on the scaled data by name (``random`` is :func:`dnmf.init.random_init`)."""
    from .. import init as init_module

    X = Xs.toarray() if init == "snpa" and sp.issparse(Xs) else Xs
    W, H = init_module.initialize(X, r, method=init, random_state=random_state, dtype=dtype)
    return np.array(W, dtype=dtype, order="C"), np.array(H, dtype=dtype, order="C")


class NMF(LayeredEstimator):
    """Single-layer NMF X ≈ W H with a choice of classic solvers (a teaching model).

    Not :class:`sklearn.decomposition.NMF`: this one offers the algorithms of an NMF course
    side by side — alternating least squares, projected gradient (Armijo or fixed step),
    oblique projected Landweber, interior-point gradient, HALS and Lee–Seung / β multiplicative
    updates — records the error and the time of every iteration, and follows dnmf's
    orientation and result objects (``W_``, ``H_``, ``history_``, ``result_``). For production
    single-layer NMF scikit-learn's is the better tool.

    Parameters
    ----------
    n_components : int
        The rank r ≥ 1.
    solver : {"mu", "hals", "als", "pgd", "opl", "ipg"}
        See :mod:`dnmf.models.nmf`. All but "mu" need ``beta=2``; "als" is not a descent
        method and its error may rise.
    beta : float in [0, 2]
        β of the divergence minimised by "mu" (2: Frobenius ½‖X − WH‖²_F, 1: KL, 0: IS).
    init : {"random", "nndsvd", "nndsvda", "nndsvdar", "snpa", "custom"}
        "custom": the factors given to :meth:`fit` as ``W=…, H=…``.
    max_iter : int
    tol : float
        Stop when the error decreases by less than this fraction in one iteration (0: never).
    eps : float ≥ 0
        MU's floor ε on the entries of W and H, relative to the data scaled to max 1. With 0,
        zeros stay zeros (zero-locking).
    step : float > 0 or None
        "pgd" only: None for Armijo backtracking; c for a fixed step c / L⁰ (L⁰ the Lipschitz
        constant of each block at the start; c > 2 diverges).
    tau : float in (0, 1)
        "ipg" only: fraction of the step to the boundary of the nonnegative orthant.
    random_state : int, Generator or None
    dtype : float64 or float32
    callback : callable(IterationInfo) -> bool | None
        Called after every iteration; returning False stops the fit, keeping what was computed.

    Attributes
    ----------
    W_ : list of one ndarray of shape (m, r)
    H_ : list of one ndarray of shape (r, n)
    components_ : ndarray of shape (r, n), H (scikit-learn's name)
    layer_errors_ : ndarray of shape (1,), D_β(X, WH)
    history_ : DataFrame, one row per iteration (0 = the start): iteration, seconds (wall time
        including evaluations), solver_seconds (updates only), error_layer_1, objective, phase
    n_iter_ : int
    stopped_early_ : bool
    result_ : FitResult
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS))],
        "beta": [Interval(Real, 0.0, 2.0, closed="both")],
        "init": [StrOptions(set(INITS))],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "eps": [Interval(Real, 0, None, closed="left")],
        "step": [Interval(Real, 0, None, closed="neither"), None],
        "tau": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state", np.random.Generator],
        "dtype": DTYPE_CONSTRAINT,
        "callback": [callable, None],
    }
    _accepts_sparse = True

    def __init__(self, n_components: int = 10, solver: str = "mu", beta: float = 2.0,
                 init: str = "random", max_iter: int = 200, tol: float = 0.0,
                 eps: float = 1e-16, step: float | None = None, tau: float = 0.99,
                 random_state=None, dtype=np.float64, callback=None) -> None:
        self.n_components = n_components
        self.solver = solver
        self.beta = beta
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.eps = eps
        self.step = step
        self.tau = tau
        self.random_state = random_state
        self.dtype = dtype
        self.callback = callback

    def _check_params(self, n_features: int | None):
        """The rank, after the Frobenius-only solvers are checked against β."""
        if self.solver != "mu" and float(self.beta) != 2:
            raise ValueError(f"solver {self.solver!r} minimises the Frobenius loss (beta = 2); "
                             f"only 'mu' handles beta = {float(self.beta):g}")
        return int(self.n_components)

    def _fit(self, X, W=None, H=None) -> FitResult:
        """Fit to validated X (m, n); ``W`` (m, r) and ``H`` (r, n) with init="custom"."""
        t0 = time.perf_counter()
        r = self._check_params(X.shape[1])
        beta = check_beta(self.beta)
        dtype = check_dtype(self.dtype)
        max_iter = int(self.max_iter)
        Xs, scale = check_data(X, beta, dtype)
        m, n = Xs.shape
        if self.init == "custom":
            W0, H0 = self._custom(W, H, m, n, r, dtype)
            W0 /= scale  # the fit runs on X / s: W H must scale the same way
        else:
            from ..estimators._beta import _rng

            W0, H0 = initial_nmf_factors(Xs, r, self.init, _rng(self.random_state), dtype)
        if self.solver == "mu" and self.eps > 0:
            np.maximum(W0, self.eps, out=W0)
            np.maximum(H0, self.eps, out=H0)
        with np.errstate(over="ignore"):
            error_scale = float(np.float64(scale) ** beta)
        progress = Progress(1, max_iter, self.callback, error_scale)
        t_fit = time.perf_counter()
        Wf, Hf, n_iter, solver_seconds, _ = fit_nmf(
            Xs, W0, H0, solver=self.solver, beta=beta, max_iter=max_iter, eps=float(self.eps),
            step=self.step, tau=float(self.tau), progress=progress, tol=float(self.tol))
        errors = progress.latest.copy()
        Wf = Wf * scale
        config = {
            "model": "nmf", "ranks": [r], "solver": self.solver, "beta": beta,
            "init": self.init, "max_iter": max_iter, "tol": self.tol, "eps": self.eps,
            "step": self.step, "tau": self.tau,
            "random_state": self.random_state
            if isinstance(self.random_state, (int, type(None))) else "generator",
            "dtype": dtype.name, "data_shape": [m, n], "data_scale": scale,
        }
        t_end = time.perf_counter()
        timings = {"init": t_fit - t0, "solver": solver_seconds,
                   "evaluation": t_end - t_fit - solver_seconds, "total": t_end - t0}
        return FitResult(W=[Wf], H=[Hf], history=progress.history(), config=config,
                         weights=None, layer_errors=errors, n_iter=n_iter, timings=timings,
                         stopped_early=progress.stopped)

    @staticmethod
    def _custom(W, H, m, n, r, dtype):
        if W is None or H is None:
            raise ValueError("init='custom' needs W (m × r) and H (r × n) given to fit")
        W = np.array(W, dtype=dtype, order="C")
        H = np.array(H, dtype=dtype, order="C")
        if W.shape != (m, r) or H.shape != (r, n):
            raise ValueError(f"W must be {(m, r)} and H {(r, n)}, got {W.shape} and {H.shape}")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(H))):
            raise ValueError("the given W and H contain NaN or inf")
        if W.min() < 0 or H.min() < 0:
            raise ValueError("the given W and H must be nonnegative")
        return W, H


def register() -> None:
    """Register :class:`NMF` as the model ``"nmf"`` (called by :mod:`dnmf._builtin_models`)."""
    from ..registry import Capabilities, ModelSpec, ParamSpec, register_model

    register_model(ModelSpec(
        key="nmf", label="NMF (one layer, classic solvers)", estimator=NMF,
        params=(
            ParamSpec("n_components", "int", 10, "the rank r", label="rank", low=1),
            ParamSpec("solver", "choice", "mu", "the algorithm (all but MU need β = 2)",
                      choices=SOLVERS),
            ParamSpec("beta", "float", 2.0, "β of the divergence (MU only; others use 2)",
                      label="β", low=0.0, high=2.0, applies_when={"solver": ("mu",)}),
            ParamSpec("init", "choice", "random", "initial factors",
                      choices=("random", "nndsvd", "nndsvda", "nndsvdar", "snpa")),
            ParamSpec("max_iter", "int", 200, "iterations", label="iterations", low=0),
            ParamSpec("eps", "float", 1e-16, "MU's floor ε (0: zeros stay zero)", label="ε",
                      low=0.0, applies_when={"solver": ("mu",)}, log=True),
            ParamSpec("random_state", "int", 0, "seed of the initial factors", label="seed",
                      low=0),
        ),
        capabilities=Capabilities(beta_range=(0.0, 2.0), sparse=True, layered=False),
        check_params={"n_components": 2, "solver": "hals", "max_iter": 500},
        description="Single-layer NMF X ≈ W H by ALS, projected gradient, OPL, IPG, HALS or "
                    "multiplicative updates (a teaching model; not scikit-learn's NMF).",
    ))
