"""The float32 path of every model: it stays float32 inside the loops and converges like float64.

"Like float64": from the same seed, the objective history of a float32 fit follows the float64
one at every evaluation (the two differ by float32 rounding only), still decreases, and ends at
the same layer errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from dnmf import DeepNMF, MultilayerNMF
from dnmf.models import deep, multilayer

FAST = dict(n_init_iter=15, max_iter=25, eval_every=1, random_state=0)
# float32 against float64 on the same run: float32 carries ~1e-7 relative rounding per
# operation, accumulated over 15 + 25 iterations of products and MU steps.
RTOL_TRAJECTORY = 2e-3
# The per-layer errors drift further than the objective: they trade against each other along
# the objective's flat directions. Measured (β = 2, sparse, seeds 0–5, warm start with
# H_ℓ e = e between layers): per-layer errors up to 3.5e-3 apart while the objectives stay
# within 1.1e-3.
RTOL_LAYER_ERRORS = 5e-3


def _dense(rng):
    W = rng.random((40, 6))
    H = rng.random((6, 30))
    return W @ H + 0.05 * rng.random((40, 30))


def _sparse(rng):
    X = sp.random(60, 45, density=0.2, random_state=7, format="csr")
    X.data = 1.0 + np.floor(3 * X.data)
    return X


@pytest.fixture
def dtype_spy(monkeypatch):
    """Record the dtype of every array going into and out of the loops' update steps."""
    seen: list[tuple[str, np.dtype]] = []

    def spy(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            for a in (*args, *kwargs.values(), result):
                if isinstance(a, np.ndarray) or sp.issparse(a):
                    seen.append((name, a.dtype))
            return result

        monkeypatch.setattr(module, name, wrapper)

    for name in ("update_H_mu", "update_W_mu"):
        spy(multilayer, name)
    for name in ("update_H_rowsum", "update_W_deep", "update_W_mu"):
        spy(deep, name)
    return seen


def _objective_trajectories(make, X):
    # a copy per fit: fits must not share a sparse input (check_data once scaled it in place)
    h32 = make(np.float32).fit(X.copy())
    h64 = make(np.float64).fit(X.copy())
    return h32, h64


def _check_same_convergence(m32, m64, history_key="history_"):
    h32: pd.DataFrame = getattr(m32, history_key)
    h64: pd.DataFrame = getattr(m64, history_key)
    assert len(h32) == len(h64)
    np.testing.assert_allclose(h32["objective"].to_numpy(), h64["objective"].to_numpy(),
                               rtol=RTOL_TRAJECTORY)
    obj = h32["objective"].to_numpy()
    # float32 evaluations carry ~1e-6 relative noise: decrease up to that
    assert np.all(np.diff(obj) <= 1e-5 * np.abs(obj[:-1]))
    assert obj[-1] < obj[0]
    np.testing.assert_allclose(m32.layer_errors_, m64.layer_errors_, rtol=RTOL_LAYER_ERRORS)


@pytest.mark.parametrize("beta", [1.0, 2.0, 1.5, 0.5])
def test_deep_float32_stays_float32_and_converges_like_float64(rng, dtype_spy, beta):
    X = _dense(rng)
    m32, m64 = _objective_trajectories(
        lambda dt: DeepNMF(ranks=(8, 4, 2), beta=beta, dtype=dt, **FAST), X)
    assert all(M.dtype == np.float32 for M in m32.W_ + m32.H_)
    _check_same_convergence(m32, m64)
    steps32 = [d for _, d in dtype_spy[: len(dtype_spy) // 2]]  # the float32 fit ran first
    assert steps32 and all(d == np.float32 for d in steps32), set(dtype_spy)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_deep_float32_on_sparse_data(dtype_spy, rng, beta):
    X = _sparse(rng)
    m32, m64 = _objective_trajectories(
        lambda dt: DeepNMF(ranks=(6, 3), beta=beta, dtype=dt, **FAST), X)
    assert all(M.dtype == np.float32 for M in m32.W_ + m32.H_)
    _check_same_convergence(m32, m64)
    steps32 = [d for _, d in dtype_spy[: len(dtype_spy) // 2]]
    assert steps32 and all(d == np.float32 for d in steps32), set(dtype_spy)


@pytest.mark.parametrize("sparse", [False, True])
def test_multilayer_float32_converges_like_float64(rng, dtype_spy, sparse):
    X = _sparse(rng) if sparse else _dense(rng)
    m32, m64 = _objective_trajectories(
        lambda dt: MultilayerNMF(ranks=(6, 3), beta=1.0, max_iter=30, eval_every=1,
                                 random_state=0, dtype=dt), X)
    assert all(M.dtype == np.float32 for M in m32.W_ + m32.H_)
    for layer in (1, 2):
        a = m32.history_[m32.history_["layer"] == layer][f"error_layer_{layer}"].to_numpy()
        b = m64.history_[m64.history_["layer"] == layer][f"error_layer_{layer}"].to_numpy()
        np.testing.assert_allclose(a, b, rtol=RTOL_TRAJECTORY)
        assert np.all(np.diff(a) <= 1e-5 * np.abs(a[:-1]))
    steps32 = [d for _, d in dtype_spy[: len(dtype_spy) // 2]]
    assert steps32 and all(d == np.float32 for d in steps32), set(dtype_spy)


def test_seeded_float32_fits_are_bit_identical(rng):
    X = _sparse(rng)
    a = DeepNMF(ranks=(6, 3), dtype=np.float32, **FAST).fit(X.copy())
    b = DeepNMF(ranks=(6, 3), dtype=np.float32, **FAST).fit(X.copy())
    for x, y in zip(a.W_ + a.H_, b.W_ + b.H_):
        assert np.array_equal(x, y)


def test_seeded_sparse_fits_are_bit_identical():
    """The compiled sparse kernels (numba) on a larger problem, float64."""
    X = sp.random(400, 300, density=0.15, random_state=3, format="csr")
    X.data = 1.0 + np.floor(3 * X.data)
    # a copy per fit: fits must not share a sparse input (check_data once scaled it in place)
    runs = [DeepNMF(ranks=(12, 6), n_init_iter=5, max_iter=5, random_state=0).fit(X.copy())
            for _ in range(2)]
    for x, y in zip(runs[0].W_ + runs[0].H_, runs[1].W_ + runs[1].H_):
        assert np.array_equal(x, y)
