"""The portable (array-API) path against the NumPy path, on array-api-strict (CI) and, where
installed with a GPU, CuPy and PyTorch.

array-api-strict rejects every operation outside the standard (NumPy-only functions, ``out=``,
in-place updates, two-scalar ``where``, …), so a fit that runs on it runs on any conforming
library. Supported: MultilayerNMF and DeepNMF (no min_vol), every β ∈ [0, 2], random
initialisation (or DeepNMF ``init="custom"``), dense data.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.special import wrightomega

from dnmf import DeepNMF, MinVol, MultilayerNMF
from dnmf.portable import _ops, backend_for
from dnmf.portable._omega import wright_omega
from dnmf.updates import deep_W_closed_form, sum_to_one_update

xs = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")

RTOL = 1e-10  # the acceptance bound; the paths agree to ~1e-14 (rounding of the sums)


def _data(shape=(40, 30), offset=0.0, seed=0):
    return np.random.default_rng(seed).poisson(2.0, size=shape).astype(float) + offset


def _max_rel(a_list, b_list) -> float:
    return max(float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))
               for a, b in zip(a_list, b_list))


def _agree(est_np, est_p):
    assert _max_rel(est_p.W_, est_np.W_) <= RTOL
    assert _max_rel(est_p.H_, est_np.H_) <= RTOL
    np.testing.assert_allclose(est_p.layer_errors_, est_np.layer_errors_, rtol=RTOL)
    obj_np = est_np.history_["objective"].to_numpy()
    obj_p = est_p.history_["objective"].to_numpy()
    np.testing.assert_allclose(obj_p, obj_np, rtol=RTOL)


def _clone(est):
    return type(est)(**est.get_params())


MODELS = [
    pytest.param(MultilayerNMF(ranks=(6, 3), beta=1.0, max_iter=25, random_state=1), id="ml-kl"),
    pytest.param(MultilayerNMF(ranks=(6, 3), beta=0.5, max_iter=25, random_state=1), id="ml-b0.5"),
    pytest.param(MultilayerNMF(ranks=(6, 3), beta=2.0, max_iter=25, random_state=1), id="ml-fro"),
    pytest.param(DeepNMF(ranks=(6, 3), beta=1.0, n_init_iter=15, max_iter=25, random_state=1),
                 id="deep-kl"),
    pytest.param(DeepNMF(ranks=(6, 3), beta=1.5, n_init_iter=15, max_iter=25, random_state=1),
                 id="deep-b1.5"),
    pytest.param(DeepNMF(ranks=(6, 3), beta=2.0, n_init_iter=15, max_iter=25, random_state=1),
                 id="deep-fro"),
    pytest.param(DeepNMF(ranks=(5, 2), beta=0.0, n_init_iter=10, max_iter=10, random_state=1),
                 id="deep-is"),
    pytest.param(DeepNMF(ranks=(5, 2), beta=1.2, n_init_iter=5, max_iter=4, random_state=1),
                 id="deep-b1.2-root-solves"),
]


@pytest.mark.parametrize("est", MODELS)
def test_strict_matches_numpy(est):
    X = _data(offset=0.5 if est.beta == 0 else 0.0)
    ref = _clone(est).fit(X)
    got = _clone(est).fit(xs.asarray(X))
    assert got.result_.config["backend"] == "array-api"
    assert isinstance(got.W_[0], type(xs.asarray(1.0)))  # the long factors stay in the library
    assert all(isinstance(H, np.ndarray) for H in got.H_)
    _agree(ref, got)


def test_strict_custom_init_matches_numpy():
    X = _data()
    rng = np.random.default_rng(3)
    W = [rng.random((40, 5)) + 0.1, rng.random((40, 2)) + 0.1]
    H = [rng.random((5, 30)) + 0.1, rng.random((2, 5)) + 0.1]
    params = dict(ranks=(5, 2), beta=1.0, init="custom", max_iter=20)
    ref = DeepNMF(**params).fit(X, W=W, H=H)
    got = DeepNMF(**params).fit(xs.asarray(X), W=[xs.asarray(w) for w in W], H=H)
    _agree(ref, got)


def test_strict_deep_objective_monotone_and_callback_stop():
    X = _data(seed=4)
    seen = []

    def stop_at_12(info):
        seen.append(info.iteration)
        return info.iteration < 12

    est = DeepNMF(ranks=(6, 3), n_init_iter=5, max_iter=40, eval_every=1, random_state=0,
                  callback=stop_at_12).fit(xs.asarray(X))
    assert seen == list(range(1, 13))
    assert est.stopped_early_ and est.n_iter_ == 2  # 10 warm-start iterations, then 2 deep
    ref = DeepNMF(ranks=(6, 3), n_init_iter=5, max_iter=30, eval_every=1,
                  random_state=0).fit(xs.asarray(X))
    objective = ref.history_["objective"].to_numpy()
    assert np.all(np.diff(objective) <= 1e-12 * objective[0])


@pytest.mark.parametrize("bad, message", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.array([[1.0, -1.0], [0.0, 1.0]]), "negative"),
    (np.zeros((3, 2)), "all zeros"),
])
def test_strict_bad_input_messages(bad, message):
    with pytest.raises(ValueError, match=message):
        MultilayerNMF(ranks=(1,)).fit(xs.asarray(bad))


def test_strict_unsupported_options_say_so():
    X = xs.asarray(_data())
    with pytest.raises(ValueError, match="layer_init='nndsvda' is not available"):
        DeepNMF(ranks=(4,), layer_init="nndsvda").fit(X)
    with pytest.raises(ValueError, match="min_vol is not available"):
        DeepNMF(ranks=(4,), min_vol=MinVol()).fit(X)
    with pytest.raises(ValueError, match="normalize='W' and stop_rule=None are not"):
        MultilayerNMF(ranks=(4,), normalize="W").fit(X)
    with pytest.raises(ValueError, match="stop_rule='authors' are not available"):
        MultilayerNMF(ranks=(4,), stop_rule="authors").fit(X)


def test_wright_omega_against_scipy():
    x = np.concatenate([np.linspace(-60, 60, 4001), np.logspace(-6, 14, 300),
                        -np.logspace(-6, 2.6, 300)])
    got = np.asarray(wright_omega(xs, xs.asarray(x)))
    ref = wrightomega(x)
    assert np.max(np.abs(got - ref) / ref) < 1e-14


@pytest.mark.parametrize("beta", [0.0, 1.0, 1.5, 2.0])
def test_deep_w_closed_forms_against_numpy_and_root_solve(beta):
    rng = np.random.default_rng(int(beta * 10))
    W_t, Q, W_bar = (rng.random((30, 4)) + 0.05 for _ in range(3))
    P = rng.random((30, 4)) + 0.05
    lam = 0.7
    args = [xs.asarray(a) for a in (W_t, Q, P, W_bar)]
    closed = np.asarray(_ops.deep_w_closed_form(xs, *args, lam, beta))
    root = np.asarray(_ops.deep_w_root_solve(xs, *args, lam, beta))
    np.testing.assert_allclose(closed, deep_W_closed_form(W_t, Q, P, W_bar, lam, beta),
                               rtol=1e-13)
    np.testing.assert_allclose(closed, root, rtol=1e-10)


@pytest.mark.parametrize("beta", [0.5, 1.0, 1.5, 1.8, 2.0])
def test_rowsum_multiplier_rows_sum_to_one(beta):
    rng = np.random.default_rng(7)
    H = rng.random((5, 12)) + 0.01
    H /= H.sum(axis=1, keepdims=True)
    Q = rng.random((5, 12)) + 0.1
    P = rng.random((5, 12)) + 0.1
    got = np.asarray(_ops.sum_to_one_update(xs, xs.asarray(H), xs.asarray(Q), xs.asarray(P),
                                            beta))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(got, sum_to_one_update(H, Q, P, beta), rtol=1e-12)


def test_numpy_and_scipy_keep_the_fast_path():
    import scipy.sparse as sp

    assert backend_for(np.ones((2, 2))) is None
    assert backend_for(sp.csr_array(np.ones((2, 2)))) is None
    assert backend_for([[1.0, 2.0]]) is None
    assert backend_for(xs.asarray(np.ones((2, 2)))) is not None


def test_numpy_fit_imports_no_dask_torch_cupy():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import dnmf
        X = np.random.default_rng(0).random((30, 20))
        dnmf.DeepNMF(ranks=(4, 2), n_init_iter=3, max_iter=3, random_state=0).fit(X)
        dnmf.MultilayerNMF(ranks=(4, 2), max_iter=3, random_state=0).fit(X)
        print(sorted(m for m in ("dask", "distributed", "torch", "cupy") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# GPU libraries: run where a GPU and the package exist
# ---------------------------------------------------------------------------------------------


def _cupy():
    cp = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy finds no CUDA device")
    except Exception as exc:  # no driver
        pytest.skip(f"CuPy finds no CUDA device ({exc})")
    return cp


def _torch_cuda():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch finds no CUDA device")
    return torch


@pytest.mark.parametrize("est", [MODELS[0], MODELS[3]])
def test_cupy_matches_numpy(est):
    cp = _cupy()
    X = _data()
    ref = _clone(est).fit(X)
    got = _clone(est).fit(cp.asarray(X))
    assert isinstance(got.W_[0], cp.ndarray)
    _agree(ref, got)


@pytest.mark.parametrize("est", [MODELS[0], MODELS[3]])
def test_torch_cuda_matches_numpy(est):
    torch = _torch_cuda()
    X = _data()
    ref = _clone(est).fit(X)
    got = _clone(est).fit(torch.asarray(X, device="cuda"))
    assert got.W_[0].device.type == "cuda"
    _agree(ref, got)
