"""The one estimator base every dnmf model shares (:class:`LayeredEstimator`).

A model author writes a subclass that supplies three things (``docs/architecture.md``, "Adding a
model"):

* ``_parameter_constraints``: the declarative table of its ``__init__`` parameters
  (:mod:`sklearn.utils._param_validation` style), merged with the base's;
* ``_fit(X, **fit_params)``: the fit on validated data, returning a :class:`~dnmf.FitResult`;
* a :class:`~dnmf.registry.ModelSpec` registered with :func:`dnmf.register_model`, so that the
  app offers the model.

The base does the rest once for every model: parameter validation, ``validate_data`` at the
boundary (scikit-learn's messages for empty, complex, object, 1-D or non-finite input),
nonnegativity, ``n_features_in_``/``feature_names_in_``, the fitted attributes read from the
:class:`~dnmf.FitResult`, ``transform``/``inverse_transform``/``fit_transform``,
``get_feature_names_out``, ``NotFittedError`` before fit and the scikit-learn tags.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .._validation import check_dtype, check_ranks
from ..init import INIT_METHODS, SPARSE_INIT_METHODS
from ..result import FitResult, features_product

__all__ = ["LayeredEstimator", "WarmStartedEstimator", "DTYPE_CONSTRAINT"]

#: The working precision a model may be asked for (types, names or numpy dtypes).
DTYPE_CONSTRAINT = [Options(type, {np.float64, np.float32}),
                    StrOptions({"float64", "float32"}), np.dtype]


class LayeredEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base of the deep / multilayer factorisations X ≈ W_ℓ H_ℓ ⋯ H_1 (ℓ = 1 … L).

    X has shape (m, n) (samples × features, as scikit-learn); W_ℓ has shape (m, r_ℓ) and H_ℓ
    shape (r_ℓ, r_{ℓ-1}) with r_0 = n. ``transform`` gives the layer-1 coefficients W_1 of
    new rows; ``components_`` = H_1 (shape (r_1, n)), as in :class:`sklearn.decomposition.NMF`.

    Subclasses define ``__init__`` (parameters stored as given), ``_parameter_constraints``
    (``{**LayeredEstimator._parameter_constraints, ...}``) and ``_fit``; they may override
    ``_transform`` (the default runs the β-MU on W with H_1 fixed) and ``_sparse_input``.

    Attributes (after fit)
    ----------------------
    W_ : list of L ndarrays, ``W_[k]`` of shape (m, r_{k+1})
    H_ : list of L ndarrays, ``H_[0]`` of shape (r_1, n), ``H_[k]`` of shape (r_{k+1}, r_k)
    components_ : ndarray of shape (r_1, n), H_1 (the layer-1 features)
    n_components_ : int, r_1
    layer_errors_ : ndarray of shape (L,)
    weights_ : ndarray of shape (L,) or None, the λ_ℓ used
    history_ : DataFrame, one row per evaluation
    init_history_ : DataFrame or None, the warm start's history
    n_iter_ : int
    stopped_early_ : bool, the callback asked to stop
    timings_ : dict of seconds
    result_ : FitResult, all of the above in one object (saved and loaded without pickle)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X had string column names
    """

    _parameter_constraints: ClassVar[dict] = {
        "ranks": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "eval_every": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state", np.random.Generator],
        "dtype": DTYPE_CONSTRAINT,
        "callback": [callable, None],
        "verbose": ["verbose"],
    }

    #: Whether the model accepts scipy.sparse X (without densifying it); see _sparse_input.
    _accepts_sparse: ClassVar[bool] = False
    #: Whether X must be ≥ 0 (False for least-squares models whose factors alone are ≥ 0).
    _positive_only: ClassVar[bool] = True
    #: Whether Dask and other array-API arrays are fitted by :mod:`dnmf.portable`.
    _portable: ClassVar[bool] = False

    # -- what a subclass supplies -----------------------------------------------------------

    def _fit(self, X, **fit_params) -> FitResult:
        """Fit on validated X (ndarray or scipy.sparse, finite, ≥ 0, 2-D, non-empty)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _fit")

    def _check_params(self, n_features: int | None):
        """Rules across parameters beyond ``_parameter_constraints`` (``ValueError`` in words),
        for data with ``n_features`` columns when given. ``_fit`` calls it; it returns what
        it checked (here the ranks)."""
        return check_ranks(self.ranks, n_features)

    def _sparse_input(self) -> bool:
        """Whether this instance (with its current parameters) accepts scipy.sparse X."""
        return self._accepts_sparse

    def _expected_failed_checks(self) -> dict[str, str]:
        """scikit-learn checks this estimator is known to fail, check name → reason."""
        return {}

    # -- the contract, written once ----------------------------------------------------------

    def check_params(self, n_features: int | None = None) -> tuple[list[str], list[str]]:
        """What a fit on data with ``n_features`` columns would say before it runs.

        Returns
        -------
        problems : list of str, the errors the fit would raise (empty: the parameters are valid)
        notes : list of str, the warnings it would give (e.g. r_1 ≥ n)
        """
        problems = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self._validate_params()
                self._check_params(n_features)
            except ValueError as exc:
                problems.append(str(exc))
        return problems, [str(w.message) for w in caught]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, **fit_params) -> LayeredEstimator:
        """Fit the model to ``X`` of shape (m, n); returns self.

        ``fit_params`` go to the model (e.g. ``W=[…], H=[…]`` with ``init="custom"``).
        """
        if self._portable:
            from .. import portable

            backend = portable.backend_for(X)  # None for NumPy/SciPy: the fast paths below
            if backend is not None:
                self.n_features_in_ = int(X.shape[1])
                self._set_result(portable.fit_estimator(self, X, backend=backend, **fit_params))
                return self
        X = self._validate_X(X, reset=True, where="fit")
        self._set_result(self._fit(X, **fit_params))
        return self

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit and return W_1, shape (m, r_1) (the fitted factor, as NMF's fit_transform)."""
        return self.fit(X, y, **fit_params).W_[0]

    def transform(self, X) -> np.ndarray:
        """Layer-1 coefficients of new rows: W ≥ 0 with X ≈ W H_1 (H_1 fixed), (m_new, r_1)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False, where="transform")
        return self._transform(X)

    def inverse_transform(self, X) -> np.ndarray:
        """Rows back in feature space: ``X @ components_`` (X of shape (m, r_1)) → (m, n)."""
        check_is_fitted(self)
        X = check_array(X, accept_sparse=("csr", "csc"), dtype=(np.float64, np.float32))
        if X.shape[1] != self.components_.shape[0]:
            raise ValueError(f"X must have r_1 = {self.components_.shape[0]} columns (the "
                             f"coefficients of layer 1), got {X.shape[1]}")
        out = X @ self.components_
        return out.toarray() if sp.issparse(out) else np.asarray(out)

    def features(self, layer: int) -> np.ndarray:
        """Layer-ℓ features H_ℓ ⋯ H_1, shape (r_ℓ, n); ``layer`` = ℓ counts from 1."""
        check_is_fitted(self)
        return features_product(self.H_, layer)

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self._positive_only
        tags.input_tags.sparse = self._sparse_input()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    # -- helpers for subclasses --------------------------------------------------------------

    def _working_dtype(self) -> np.dtype:
        return check_dtype(self.dtype)

    def _validate_X(self, X, *, reset: bool, where: str):
        """scikit-learn's input checks, then X ≥ 0 (the model's own checks follow in _fit)."""
        sparse = ("csr", "csc", "coo") if self._sparse_input() else False
        X = validate_data(self, X, accept_sparse=sparse, dtype=(np.float64, np.float32),
                          reset=reset)
        data = X.data if sp.issparse(X) else X
        if self._positive_only and data.size and data.min() < 0:
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__}.{where} (min "
                f"{data.min():.3g}): nonnegative matrix factorisation needs X ≥ 0 — clip them "
                "at 0 or shift the data by its minimum")
        return X

    def _set_result(self, result: FitResult) -> None:
        self.result_ = result
        self.W_ = result.W
        self.H_ = result.H
        self.components_ = result.H[0]
        self.n_components_ = int(result.H[0].shape[0])
        self.layer_errors_ = result.layer_errors
        self.weights_ = result.weights
        self.history_ = result.history
        self.init_history_ = result.init_history
        self.n_iter_ = result.n_iter
        self.stopped_early_ = result.stopped_early
        self.timings_ = result.timings

    def _transform(self, X) -> np.ndarray:
        """W ≥ 0 minimising D_β(X, W H_1) by the β-MU on W from a row-wise start."""
        from ..models.transform import coefficients

        return coefficients(X, self.components_, beta=self._transform_beta(),
                            scale=self._data_scale())

    def _transform_beta(self) -> float:
        return float(self.beta)

    def _data_scale(self) -> float:
        return float(self.result_.config.get("data_scale", 1.0) or 1.0)


class WarmStartedEstimator(LayeredEstimator):
    """Base of the models whose fit starts from multilayer NMF (``init="multilayer"``: each
    layer initialised by ``layer_init`` and refined for ``n_init_iter`` iterations) or from
    given factors (``init="custom"``): the constraints of those three parameters, and sparse
    input exactly when the warm start accepts it."""

    _parameter_constraints: ClassVar[dict] = {
        **LayeredEstimator._parameter_constraints,
        "init": [StrOptions({"multilayer", "custom"})],
        "layer_init": [StrOptions(set(INIT_METHODS))],
        "n_init_iter": [Interval(Integral, 0, None, closed="left")],
    }

    def _sparse_input(self) -> bool:
        return self.init == "custom" or self.layer_init in SPARSE_INIT_METHODS
