"""The portable path: multilayer and deep β-NMF on arrays of any array-API library.

NumPy arrays and SciPy sparse matrices take the fast CPU paths of :mod:`dnmf.models`
(workspaces, compiled kernels, the row split). Any other array that implements the Python
array API standard (array-api-strict, CuPy, PyTorch, …) is fitted by the same mathematics
written in array-API operations (:mod:`dnmf.portable._ops`), and a ``dask.array.Array`` by the
chunked solver of :mod:`dnmf.distributed`. :func:`backend_for` chooses; it never imports Dask,
CuPy or PyTorch itself (it only recognises arrays whose library the caller already imported).

Supported on the portable path: :class:`~dnmf.MultilayerNMF` and :class:`~dnmf.DeepNMF`
without ``min_vol``, every β ∈ [0, 2], ``init`` / ``layer_init`` = ``"random"`` (or
``init="custom"`` for DeepNMF), dense data (Dask also sparse chunks, see
:mod:`dnmf.distributed`). Results: ``H_`` as NumPy arrays (small), ``W_`` in the input's kind
(the array library's arrays on the data's device; Dask arrays for Dask input).
"""

from __future__ import annotations

import sys

__all__ = ["backend_for", "fit_estimator"]


def _is_dask_array(X) -> bool:
    if "dask.array" not in sys.modules:
        return False
    return isinstance(X, sys.modules["dask.array"].Array)


def backend_for(X):
    """The backend for ``X``, or None when ``X`` takes the NumPy/SciPy path.

    NumPy arrays, SciPy sparse matrices and anything that is not an array-API array (lists,
    DataFrames, …) return None.
    """
    import numpy as np

    if isinstance(X, np.ndarray) or "scipy.sparse" in sys.modules and \
            sys.modules["scipy.sparse"].issparse(X):
        return None
    if _is_dask_array(X):
        from ..distributed import DaskBackend

        return DaskBackend.for_array(X)
    import array_api_compat

    if not array_api_compat.is_array_api_obj(X) or array_api_compat.is_numpy_array(X):
        return None
    from ._backend import ArrayAPIBackend

    return ArrayAPIBackend(array_api_compat.array_namespace(X), array_api_compat.device(X))


def fit_estimator(est, X, W=None, H=None, backend=None):
    """Fit ``est`` (a MultilayerNMF or DeepNMF) to ``X`` on its portable backend.

    Returns the :class:`~dnmf.result.FitResult`; the estimator's attributes are not set.
    """
    from ..estimators import DeepNMF, MultilayerNMF
    from ._fit import fit_deep_estimator, fit_multilayer_estimator

    backend = backend_for(X) if backend is None else backend
    if backend is None:
        raise ValueError("X is a NumPy/SciPy array: use the estimator's fit")
    if isinstance(est, DeepNMF):
        return fit_deep_estimator(est, X, backend, W=W, H=H)
    if isinstance(est, MultilayerNMF):
        return fit_multilayer_estimator(est, X, backend)
    raise ValueError(f"{type(est).__name__} has no portable path (DeepNMF and MultilayerNMF do)")
