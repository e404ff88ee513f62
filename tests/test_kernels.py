"""Every fast kernel against the plain formula it implements (dnmf._kernels, the workspace
paths of dnmf.updates, the in-place divergence), dense and sparse, float32 and float64, on
both backends (numba when installed, NumPy always); and the backend's fallbacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import wrightomega

from dnmf import _kernels
from dnmf.divergence import _kl_dense, _xlogx_over_y, beta_divergence, beta_divergence_dense
from dnmf.updates import (
    MUWorkspace,
    _omega_closed_form_kl,
    deep_W_closed_form,
    mu_terms_H,
    mu_terms_W,
    update_H_mu,
    update_H_rowsum,
    update_W_deep,
    update_W_mu,
)

HAVE_NUMBA = _kernels.kernels_backend() == "numba"
BACKENDS = ["numba", "numpy"] if HAVE_NUMBA else ["numpy"]
DTYPES = [np.float64, np.float32]
# Relative tolerance of a float32 kernel against the float64 formula: a few float32 ulps of
# the inputs' rounding, amplified by sums of up to ~20 terms.
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run the test with the compiled kernels, then with the NumPy ones."""
    if request.param == "numpy":
        with _kernels._numpy_only():
            yield "numpy"
    else:
        yield "numba"


def _sparse(rng, m, n, density, dtype, index_dtype=np.int32):
    X = sp.random(m, n, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = 1.0 + np.floor(3 * X.data)
    X = sp.csr_array(X.astype(dtype))
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    X.data[X.indptr[0]:X.indptr[1]] = 0  # an empty row
    X.eliminate_zeros()
    X.sort_indices()
    return X


# ---------------------------------------------------------------------------------------------
# Wright's omega
# ---------------------------------------------------------------------------------------------


def _omega_grid() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate([
        np.linspace(-760, 760, 20001),  # both tails, underflow to 0 included
        np.linspace(-45, 45, 90001),  # every region and its boundaries
        [-8.0, -2.1, 0.0, 2.5, 4.0, 1e10, -0.0],
        np.nextafter([-8.0, -2.1, 0.0, 2.5, 4.0, 1e10], np.inf),
        np.exp(rng.uniform(0, np.log(1e308), 20000)),  # the asymptotic region up to 1e308
    ])


def test_omega_taylor_coefficients_reproduce_the_known_series_at_one():
    centre, coefs = _kernels.omega_taylor_coefficients(1, 5)
    assert centre == 1.0
    np.testing.assert_allclose(coefs, [1, 1 / 2, 1 / 16, -1 / 192, -1 / 3072, 13 / 61440],
                               rtol=1e-15)
    centre, coefs = _kernels.omega_taylor_coefficients(Fraction(1, 4), 3)
    # ω' = ω/(1+ω), ω''/2 = ω/(2(1+ω)³) at ω = 1/4
    assert coefs[1] == pytest.approx(0.2, rel=1e-15)
    assert coefs[2] == pytest.approx(0.25 / (2 * 1.25**3), rel=1e-15)
    assert centre == pytest.approx(0.25 + np.log(0.25), rel=1e-15)


def test_wright_omega_matches_scipy_on_the_whole_real_line():
    x = _omega_grid()
    ref = wrightomega(x)
    ours = _kernels.wright_omega(x)
    # 1e-13 relative; below ~1e-300 the results are subnormal (fewer significant bits): the
    # absolute 1e-310 covers one subnormal ulp of difference there.
    np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-310)
    special = np.array([-np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(_kernels.wright_omega(special), [0.0, np.inf, np.nan])


@pytest.mark.parametrize("main", [(-1.5, -0.5), (0.5, 2.0), (12.0, 21.0), (-7.0, -3.0)])
def test_wright_omega_blocks_with_a_main_region_and_a_few_others(rng, main):
    """The block kernel's paths: one region, 95 % in one region, mixed (see _omega_block)."""
    n = _kernels.BLOCK
    for minority in (0.0, 0.02, 0.3):
        x = rng.uniform(*main, n)
        k = int(minority * n)
        x[:k] = rng.choice([-7.5, -2.2, -1.0, 0.1, 2.7, 3.9, 4.1, 50.0], k)
        rng.shuffle(x)
        np.testing.assert_allclose(_kernels.wright_omega(x), wrightomega(x), rtol=1e-13)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps,
                    reason="long double is not wider than double here")
def test_wright_omega_is_correctly_rounded_to_a_few_ulps():
    """Against a Newton-polished extended-precision reference (scipy itself is 4e-15 off)."""
    x = np.linspace(-40, 40, 40001)
    ours = _kernels.wright_omega(x)
    w = ours.astype(np.longdouble)
    xl = x.astype(np.longdouble)
    for _ in range(3):
        w = w - (w + np.log(w) - xl) / (1 + 1 / w)
    rel = np.abs(ours - w) / w
    assert float(rel.max()) < 2e-15


def test_wright_omega_float32_stays_float32():
    x = np.linspace(-80, 80, 4001).astype(np.float32)
    ours = _kernels.wright_omega(x)
    assert ours.dtype == np.float32
    ref = wrightomega(x.astype(np.float64))
    big = ref > np.finfo(np.float32).tiny
    # The NumPy kernel refines in float32: z = x − w − log w carries x's rounding, and ω's
    # condition number |x|/(1+ω) reaches 8 where the refinement still runs (x ≥ −8), so a
    # few float32 ulps (6e-8 each) are expected there.
    np.testing.assert_allclose(ours[big], ref[big], rtol=1e-6)
    out = np.empty((40, 50), dtype=np.float32)
    result = _kernels.wright_omega(np.linspace(-3, 9, 2000).reshape(40, 50).astype(np.float32),
                                   out=out)
    assert result is out


# ---------------------------------------------------------------------------------------------
# Deep KL W-update (closed form via ω)
# ---------------------------------------------------------------------------------------------


def _deep_kl_inputs(rng, dtype, m=300, r=7, full_P=False):
    W_t = (rng.random((m, r)) + 1e-3).astype(dtype)
    Q = (rng.random((m, r)) * 3).astype(dtype)
    Q[0, :3] = 0  # b = 0: the limit branch
    W_bar = np.exp(rng.uniform(-20, 5, (m, r))).astype(dtype)  # from tiny (tail) to large
    P = (rng.random((m, r) if full_P else (1, r)) * 4 + 0.5).astype(dtype)
    return W_t, Q, P, W_bar


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("full_P", [False, True])
@pytest.mark.parametrize("lam", [1e-3, 0.06, 0.7, 50.0])
def test_deep_w_kl_equals_scipy_formula(rng, dtype, full_P, lam):
    W_t, Q, P, W_bar = _deep_kl_inputs(rng, dtype, full_P=full_P)
    ref = _omega_closed_form_kl(*(a.astype(np.float64) for a in (W_t, Q)),
                                np.broadcast_to(P, W_t.shape).astype(np.float64),
                                W_bar.astype(np.float64), lam)
    ours = _kernels.deep_w_kl(W_t, Q, P, W_bar, lam)
    assert ours.dtype == dtype
    # atol: the tail branch gives values below the dtype's range (1e-290 → 0 in float32)
    np.testing.assert_allclose(ours, ref, rtol=RTOL[dtype] * 10, atol=np.finfo(dtype).tiny)
    # in place on W̃ (each block is read before it is written)
    same = W_t.copy()
    _kernels.deep_w_kl(same, Q, P, W_bar, np.float64(lam), out=same)
    np.testing.assert_array_equal(same, ours)


# ---------------------------------------------------------------------------------------------
# Sparse KL: sampled products, MU numerators, data term
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rank", [1, 8, 13])  # the dot product's plain and unrolled loops
@pytest.mark.parametrize("size", ["small", "larger"])
def test_sparse_kl_kernels_equal_dense_formulas(backend, rng, dtype, rank, size):
    m, n, density = (30, 25, 0.3) if size == "small" else (400, 300, 0.25)
    index_dtype = np.int64 if rank == 8 else np.int32  # scipy's two index types
    X = _sparse(rng, m, n, density, dtype, index_dtype)
    W = (rng.random((m, rank)) + 0.05).astype(dtype)
    H = (rng.random((rank, n)) + 0.05).astype(dtype)
    Ht = np.ascontiguousarray(H.T)
    V = W.astype(np.float64) @ H.astype(np.float64)
    Xd = X.toarray().astype(np.float64)
    rows, cols = X.nonzero()
    mask = Xd > 0
    ratio = np.where(mask, Xd / V, 0.0)

    values = _kernels.sampled_dot(X, W, Ht)
    assert values.dtype == dtype
    np.testing.assert_allclose(values, V[rows, cols], rtol=RTOL[dtype])

    S = _kernels.SparseKL(X)
    QW = _kernels.kl_numerator_W(S, W, Ht)
    QHt = _kernels.kl_numerator_Ht(S, W, Ht)
    assert QW.dtype == dtype and QHt.dtype == dtype
    np.testing.assert_allclose(QW, ratio @ H.T.astype(np.float64), rtol=RTOL[dtype] * 10)
    np.testing.assert_allclose(QHt, ratio.T @ W.astype(np.float64), rtol=RTOL[dtype] * 10)

    data_term = _kernels.kl_sparse_xlogx(S, W, Ht)
    ref = float(np.sum(np.where(mask, Xd * np.log(np.where(mask, Xd, 1.0) / V), 0.0)))
    assert data_term == pytest.approx(ref, rel=RTOL[dtype] * 10, abs=RTOL[dtype] * Xd.sum())


def test_sparse_kernels_handle_an_empty_matrix(backend):
    X = sp.csr_array((5, 4))
    W, Ht = np.ones((5, 2)), np.ones((4, 2))
    assert _kernels.sampled_dot(X, W, Ht).shape == (0,)
    np.testing.assert_array_equal(_kernels.kl_numerator_W(X, W, Ht), 0.0)
    np.testing.assert_array_equal(_kernels.kl_numerator_Ht(X, W, Ht), 0.0)
    assert _kernels.kl_sparse_xlogx(X, W, Ht) == 0.0


# ---------------------------------------------------------------------------------------------
# Workspace (buffered, in-place) update steps against the allocating ones
# ---------------------------------------------------------------------------------------------

BETAS = [0.0, 0.5, 1.0, 1.5, 2.0]


def _layer(rng, dtype, sparse, m=40, n=30, r=5):
    if sparse:
        Y = _sparse(rng, m, n, 0.3, dtype)
    else:
        Y = (rng.random((m, n)) + 0.05).astype(dtype)
    W = (rng.random((m, r)) + 0.1).astype(dtype)
    H = (rng.random((r, n)) + 0.1).astype(dtype)
    H /= H.sum(axis=1, keepdims=True)
    return Y, W, H


CASES = [(b, False) for b in BETAS] + [(1.0, True), (2.0, True)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("beta", "sparse"), CASES)
def test_workspace_steps_equal_allocating_steps(backend, rng, dtype, beta, sparse):
    """Dense: the same bits. Sparse KL: the fused kernels, equal to rounding."""
    Y, W, H = _layer(rng, dtype, sparse)
    eps = float(np.finfo(dtype).eps)
    ws = MUWorkspace(Y, dtype)
    # rounding differences only come from the sparse fused kernels (another summation order)
    rtol = RTOL[dtype] * 10 if sparse else 0.0

    def check(a, b):
        assert a.dtype == dtype and b.dtype == dtype
        np.testing.assert_allclose(np.broadcast_to(a, b.shape), b, rtol=rtol, atol=0)

    for terms in (mu_terms_H, mu_terms_W):
        Qa, Pa = terms(Y, W, H, beta)
        Qb, Pb = terms(Y, W, H, beta, workspace=ws)
        check(Qb, Qa)
        check(Pb, np.broadcast_to(Pa, Qa.shape))

    check(update_H_mu(Y, W, H, beta, eps, out=H.copy(), workspace=ws),
          update_H_mu(Y, W, H, beta, eps))
    check(update_W_mu(Y, W, H, beta, eps, out=W.copy(), workspace=ws),
          update_W_mu(Y, W, H, beta, eps))
    check(update_H_rowsum(Y, W, H, beta, eps, out=H.copy(), workspace=ws),
          update_H_rowsum(Y, W, H, beta, eps))
    W_bar = (rng.random(W.shape) + 0.1).astype(dtype)
    lam = np.float64(0.4)  # a NumPy scalar, as the weights ratio is: must not up-cast
    check(update_W_deep(Y, W, H, W_bar.copy(), lam, beta, eps, out=W.copy(), workspace=ws),
          update_W_deep(Y, W, H, W_bar, lam, beta, eps))
    for buf in ws._buffers.values():
        assert buf.dtype == dtype


def test_workspace_rejects_another_shape_or_dtype(rng):
    Y, W, H = _layer(rng, np.float64, False)
    with pytest.raises(ValueError, match="workspace built for"):
        mu_terms_H(Y, W, H, 1.0, workspace=MUWorkspace(Y[:-1]))
    with pytest.raises(ValueError, match="workspace built for"):
        mu_terms_H(Y, W, H, 1.0, workspace=MUWorkspace(Y, np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_deep_W_closed_form_kl_is_the_fast_kernel_of_the_scipy_formula(rng, dtype):
    W_t, Q, P, W_bar = _deep_kl_inputs(rng, dtype)
    fast = deep_W_closed_form(W_t, Q, P, W_bar, 0.5, 1.0)
    ref = _omega_closed_form_kl(W_t.astype(float), Q.astype(float),
                                np.broadcast_to(P, W_t.shape).astype(float),
                                W_bar.astype(float), 0.5)
    assert fast.dtype == dtype
    np.testing.assert_allclose(fast, ref, rtol=RTOL[dtype] * 10, atol=np.finfo(dtype).tiny)


# ---------------------------------------------------------------------------------------------
# Divergences
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("zeros", [False, True])
def test_dense_kl_fast_path_equals_masked_formula(rng, dtype, zeros):
    X = (rng.random((50, 40)) + 0.01).astype(dtype)
    if zeros:
        X[X < 0.2] = 0
    V = (rng.random((50, 40)) + 0.1).astype(dtype)
    ref = float(np.sum(_xlogx_over_y(X.astype(float), V.astype(float))) - X.astype(float).sum()
                + V.astype(float).sum())
    for value in (_kl_dense(X, V), _kl_dense(X, V, work=np.empty_like(V)),
                  beta_divergence_dense(X, V, 1.0)):
        assert value == pytest.approx(ref, rel=RTOL[dtype] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_divergences_equal_dense(backend, rng, dtype):
    X = _sparse(rng, 300, 200, 0.2, dtype)
    W = (rng.random((300, 9)) + 0.05).astype(dtype)
    H = (rng.random((9, 200)) + 0.05).astype(dtype)
    for beta in (1.0, 2.0):
        dense = beta_divergence_dense(X.toarray().astype(float), W.astype(float) @ H.astype(float),
                                      beta)
        assert beta_divergence(X, W, H, beta) == pytest.approx(dense, rel=RTOL[dtype] * 10)


# ---------------------------------------------------------------------------------------------
# Backend selection and fallbacks
# ---------------------------------------------------------------------------------------------


def test_a_failing_compiled_kernel_falls_back_to_numpy(monkeypatch, rng):
    if not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    from numba.core.errors import TypingError

    class Broken:
        def __getattr__(self, name):
            def fail(*args):
                raise TypingError("simulated")
            return fail

    monkeypatch.setitem(_kernels._state, "module", Broken())
    X = _sparse(rng, 30, 20, 0.3, np.float64)
    W, Ht = rng.random((30, 3)), rng.random((20, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _kernels.sampled_dot(X, W, Ht)
    rows, cols = X.nonzero()
    np.testing.assert_allclose(out, (W @ Ht.T)[rows, cols], rtol=1e-13)
    assert any("compiled kernels failed" in str(w.message) for w in caught)
    assert _kernels.kernels_backend() == "numpy"


def _run(code: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_environment_variable_selects_the_numpy_backend():
    code = ("import numpy as np, scipy.sparse as sp; from dnmf import _kernels; "
            "_kernels.sampled_dot(sp.eye(3, format='csr'), np.ones((3, 1)), np.ones((3, 1))); "
            "print(_kernels.kernels_backend())")
    assert _run(code, {"DNMF_NUMBA": "0"}) == "numpy"


def test_unwritable_cache_compiles_without_caching(tmp_path):
    """No writable cache location: the kernels still compile (per process) and agree."""
    if not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    package = Path(_kernels.__file__).parent
    copy = tmp_path / "dnmfcopy"  # another name: the editable install would shadow "dnmf"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "__pycache__").write_text("not a directory")  # the in-tree cache cannot be made
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = (
        "import numpy as np, scipy.sparse as sp; from dnmfcopy import _kernels as K; "
        "X = sp.random(9, 7, density=0.5, format='csr', random_state=0); "
        "W = np.ones((9, 2)); Ht = np.ones((7, 2)); v = K.sampled_dot(X, W, Ht); "
        "m = K._numba(); "
        "x = np.linspace(-3, 9, 50); R = np.full((4, 3), 2.0); "
        "w = K.wright_omega(x); s = K.xlog_ratio_sum(R, R, np.empty_like(R)); "
        "from scipy.special import wrightomega; "
        f"print(K.__file__.startswith({str(tmp_path)!r}), m.CACHING, "
        "float(np.abs(v - 2).max()), K._omega_fast() is not None, "
        "bool(np.allclose(w, wrightomega(x), rtol=1e-14)), abs(s - 24 * np.log(2)) < 1e-12)"
    )
    # every cache location numba tries lies under a regular file: none can be created
    env = {"PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(blocker / "cache"),
           "XDG_CACHE_HOME": str(blocker / "xdg"), "DNMF_NUMBA": "1"}
    # the compiled ω and KL log pass (dnmf._omega_fast) too, none falling back to NumPy
    assert _run(code, env) == "True False 0.0 True True True"
