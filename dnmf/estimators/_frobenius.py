"""The Frobenius deep MF baselines of the thesis (LC-DMF, DC-DMF, Tri-DMF) as an estimator."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import check_ranks, check_weights
from ..init import SPARSE_INIT_METHODS
from ..models.frobenius import (
    _LOSS_ALIASES,
    FROBENIUS_INITS,
    LOSSES,
    _x_bt,
    fit_frobenius_deep,
)
from ..result import FitResult
from ._base import LayeredEstimator

__all__ = ["FrobeniusDeepMF"]

_PER_LAYER = [Interval(Real, 0, None, closed="left"), "array-like", None]


class FrobeniusDeepMF(LayeredEstimator):
    """The thesis' Frobenius deep MF baselines: LC-DMF, DC-DMF and Tri-DMF.

    X ≈ W_1 H_1, W_{ℓ-1} ≈ W_ℓ H_ℓ; see :mod:`dnmf.models.frobenius` for the losses, the
    feasible sets and the algorithm (BCD with fast projected gradient, thesis Algorithm 11).
    X may have negative entries (least squares needs no X ≥ 0; the factors stay feasible).

    Parameters
    ----------
    ranks : sequence of int
        r_1 > r_2 > … > r_L ≥ 1 (r_1 ≥ n warns: the first layer can be exact).
    loss : {"layer-centric", "data-centric", "trigeorgis"}
    min_vol : None, float, sequence of L floats, or dnmf.MinVol
        Volume penalty: κ̃_ℓ (a MinVol's ``alpha_tilde`` and ``delta`` are used).
    normalize : {"auto", "H", "W", None}
        "auto": "W" with min_vol, else "H".
    sparsity : None, float or sequence
        Target average Hoyer sparsity of the columns of W_ℓ.
    weights : "auto" or sequence of L positive floats
    weight_ratio : float
        λ̃ of the LC-DMF auto weights (thesis: 10).
    init : {"snpa", "multilayer", "nndsvda", "nndsvd", "nndsvdar", "random", "soda", "custom"}
        "custom": the starting factors are given to :meth:`fit` as ``W=[…], H=[…]``.
    n_init_iter : int
        Per-layer iterations of the "multilayer" warm start.
    max_iter : int
    inner_iter : int
        Fast projected gradient steps per block.
    delta : float
        δ of logdet(WᵀW + δI) when min_vol is a number.
    tol : float
    eval_every : int
    random_state : int, Generator or None
    dtype : numpy.float64 or numpy.float32
    callback : callable(IterationInfo) -> bool | None
    verbose : int, 0 silent; 1 a line per phase and every tenth of the fit; 2 every evaluation

    Attributes
    ----------
    The attributes of :class:`~dnmf.estimators.LayeredEstimator`, with
    layer_errors_ : ndarray (L,)
        The unweighted loss terms at the end: ½‖W_{ℓ-1} − W_ℓH_ℓ‖²_F (layer-centric) or
        ½‖X − W_ℓH_ℓ⋯H_1‖²_F (data-centric and Tri-DMF).
    weights_ : ndarray (L,), the λ_ℓ (Tri-DMF: (0, …, 0, 1))
    min_vol_kappa_ : ndarray (L,), the κ_ℓ
    objective_ : float
    """

    _parameter_constraints = {
        **LayeredEstimator._parameter_constraints,
        "loss": [StrOptions(set(LOSSES) | set(_LOSS_ALIASES))],
        "min_vol": "no_validation",  # number, per-layer numbers or a MinVol-like object:
        # fit_frobenius_deep reads and checks it
        "normalize": [StrOptions({"auto", "H", "W"}), None],
        "sparsity": _PER_LAYER,
        "weights": [StrOptions({"auto"}), "array-like"],
        "weight_ratio": [Interval(Real, 0, None, closed="neither")],
        "init": [StrOptions({*FROBENIUS_INITS, "custom"})],
        "n_init_iter": [Interval(Integral, 0, None, closed="left")],
        "inner_iter": [Interval(Integral, 1, None, closed="left")],
        "delta": [Interval(Real, 0, None, closed="neither")],
    }
    _positive_only = False

    def __init__(self, ranks=(10,), loss: str = "layer-centric", min_vol=None,
                 normalize: str | None = "auto", sparsity=None, weights="auto",
                 weight_ratio: float = 10.0, init: str = "snpa", n_init_iter: int = 100,
                 max_iter: int = 500, inner_iter: int = 10, delta: float = 0.1,
                 tol: float = 0.0, eval_every: int = 5, random_state=None,
                 dtype=np.float64, callback=None, verbose: int = 0) -> None:
        self.ranks = ranks
        self.loss = loss
        self.min_vol = min_vol
        self.normalize = normalize
        self.sparsity = sparsity
        self.weights = weights
        self.weight_ratio = weight_ratio
        self.init = init
        self.n_init_iter = n_init_iter
        self.max_iter = max_iter
        self.inner_iter = inner_iter
        self.delta = delta
        self.tol = tol
        self.eval_every = eval_every
        self.random_state = random_state
        self.dtype = dtype
        self.callback = callback
        self.verbose = verbose

    def _sparse_input(self) -> bool:
        return self.init in (*SPARSE_INIT_METHODS, "custom")

    def _check_params(self, n_features: int | None):
        ranks = check_ranks(self.ranks, n_features)
        check_weights(self.weights, len(ranks))
        return ranks

    def _fit(self, X, W=None, H=None) -> FitResult:
        """Fit to ``X`` (m, n) (ndarray or scipy.sparse); ``W``/``H`` for init="custom"."""
        if self.init == "custom":
            if W is None or H is None:
                raise ValueError("init='custom' needs both W=[W_1, …, W_L] and H=[H_1, …, H_L].")
            init = "snpa"
        else:
            init = self.init
            W = H = None
        delta = self.delta
        min_vol = self.min_vol
        if min_vol is not None and hasattr(min_vol, "delta"):
            delta = min_vol.delta
        out = fit_frobenius_deep(
            X, self.ranks, loss=self.loss, Ws=W, Hs=H, init=init, n_init_iter=self.n_init_iter,
            max_iter=self.max_iter, inner_iter=self.inner_iter, weights=self.weights,
            weight_ratio=self.weight_ratio, normalize=self.normalize, min_vol_alpha=min_vol,
            delta=delta, sparsity=self.sparsity, tol=self.tol, random_state=self.random_state,
            dtype=self._working_dtype(), callback=self.callback, eval_every=self.eval_every,
            verbose=self.verbose,
        )
        self.min_vol_kappa_ = out["min_vol_kappa"]
        self.objective_ = out["objective"]
        config = dict(out["config"])
        config["min_vol_kappa"] = out["min_vol_kappa"].tolist()
        return FitResult(
            W=out["W"], H=out["H"], history=out["history"], config=config,
            weights=out["weights"], layer_errors=out["layer_errors"], n_iter=out["n_iter"],
            timings=out["timings"], stopped_early=out["stopped_early"],
            init_history=out["init_history"],
        )

    def _transform(self, X) -> np.ndarray:
        """argmin_W ½‖X − W H_1‖²_F over W ≥ 0 (HALS, see _coefficients), (m_new, r_1)."""
        return self._coefficients(X, 1, 200)

    def coefficients(self, X, layer: int = 1, n_iter: int = 200) -> np.ndarray:
        """Coefficients of new rows at layer ℓ: argmin_W ½‖X − W H_ℓ⋯H_1‖²_F over W ≥ 0.

        Parameters
        ----------
        X : ndarray or scipy.sparse (m_new, n)
        layer : int, 1 ≤ layer ≤ L
        n_iter : int, fast projected gradient iterations

        Returns
        -------
        ndarray (m_new, r_ℓ)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False, where="coefficients")
        if isinstance(n_iter, bool) or not isinstance(n_iter, Integral) or n_iter < 1:
            raise ValueError(f"n_iter must be an integer ≥ 1, got {n_iter!r}")
        return self._coefficients(X, layer, int(n_iter))

    def _coefficients(self, X, layer: int, n_iter: int) -> np.ndarray:
        """``n_iter`` HALS sweeps over the columns of W: each is the exact minimiser of the
        convex problem in that column, and every row is solved independently of the others."""
        F = self.features(layer)
        X = X.astype(F.dtype, copy=False)
        XFt = _x_bt(X, F)  # (m, r)
        G = F @ F.T  # (r, r)
        W = np.full((X.shape[0], F.shape[0]), 1.0 / F.shape[0], dtype=F.dtype)
        diag = np.maximum(np.diag(G), np.finfo(F.dtype).tiny)
        for _ in range(n_iter):
            for k in range(W.shape[1]):
                W[:, k] = np.maximum(W[:, k] + (XFt[:, k] - W @ G[:, k]) / diag[k], 0.0)
        return W
