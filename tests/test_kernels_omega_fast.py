"""The compiled ω, deep KL W-update and KL log pass (dnmf._omega_fast) against scipy's
wrightomega, the formula w = (b/λ) / ω(log(b/λ) + P/λ − log W̄) and NumPy's Σ x log r,
float32 and float64, extreme arguments included; the entries outside the vectorised range
(computed one by one); the dispatch of dnmf._kernels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import wrightomega

from dnmf import _kernels

if _kernels.kernels_backend() != "numba":
    pytest.skip("numba is not installed: no compiled ω", allow_module_level=True)

from dnmf import _omega_fast as F  # noqa: E402


def _grid() -> np.ndarray:
    rng = np.random.default_rng(5)
    edges = np.array([-8.0, -2.1, 0.0, 2.5, 4.0, 1e10])
    return np.concatenate([
        np.linspace(-760, 760, 20001),  # both tails, underflow to 0 included
        np.linspace(-45, 45, 90001),  # every region and its boundaries
        edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf), [-0.0, 5e-324],
        np.exp(rng.uniform(0, np.log(1e308), 20000)),  # the asymptotic region up to 1e308
    ])


def test_omega_matches_scipy_on_the_whole_real_line():
    x = _grid()
    ours = F.wright_omega_fast(x)
    # measured 3.7e-15 (scipy itself is ~4e-15 from the exact values); subnormal results
    # below ~1e-300 have fewer significant bits: atol covers one subnormal ulp there
    np.testing.assert_allclose(ours, wrightomega(x), rtol=1e-14, atol=1e-310)
    np.testing.assert_array_equal(F.wright_omega_fast(np.array([-np.inf, np.inf, np.nan])),
                                  [0.0, np.inf, np.nan])


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps,
                    reason="long double is not wider than double here")
def test_omega_is_within_a_few_ulps_of_the_exact_value():
    """Against a Newton-polished extended-precision reference: measured 8e-16 relative."""
    x = np.linspace(-2.1, 60, 60001)  # the compiled range (the rest is the NumPy kernel's)
    ours = F.wright_omega_fast(x)
    w = ours.astype(np.longdouble)
    xl = x.astype(np.longdouble)
    for _ in range(3):
        w = w - (w + np.log(w) - xl) / (1 + 1 / w)
    assert float((np.abs(ours - w) / w).max()) < 2e-15


def test_omega_float32_is_rounded_once_from_float64():
    x = np.linspace(-80, 80, 40001).astype(np.float32)
    ours = F.wright_omega_fast(x)
    assert ours.dtype == np.float32
    ref = wrightomega(x.astype(np.float64))
    normal = ref > np.finfo(np.float32).tiny
    # every entry computed in float64 and rounded once: half a float32 ulp (6e-8)
    np.testing.assert_allclose(ours[normal], ref[normal], rtol=6.0e-8)
    np.testing.assert_allclose(ours[~normal], ref[~normal], rtol=0,
                               atol=np.finfo(np.float32).smallest_subnormal)


def test_omega_out_and_shapes():
    x = np.linspace(-3, 9, 2000).reshape(40, 50)
    out = np.empty_like(x)
    assert F.wright_omega_fast(x, out=out) is out
    np.testing.assert_allclose(out, wrightomega(x), rtol=1e-14)
    strided = np.empty((40, 100))[:, ::2]  # a non-contiguous out
    F.wright_omega_fast(x, out=strided)
    np.testing.assert_array_equal(strided, out)
    np.testing.assert_allclose(F.wright_omega_fast(np.arange(5)), wrightomega(np.arange(5.0)),
                               rtol=1e-14)


def _reference(W_t, Q, P, W_bar, lam):
    """The deep KL W-update with scipy's ω, in float64 (eq. 18–19; tail x < −30: ω = eˣ)."""
    W_t, Q, P, W_bar = (np.asarray(a, dtype=np.float64) for a in (W_t, Q, P, W_bar))
    b_over_lam = W_t * Q / lam
    with np.errstate(divide="ignore"):
        x = np.log(b_over_lam) + P / lam - np.log(W_bar)
    tail = x < -30.0
    main = b_over_lam / wrightomega(np.where(tail, 0.0, x))
    return np.where(tail, W_bar * np.exp(-P / lam), main)


def _inputs(rng, dtype, m=300, r=9, full_P=False):
    W_t = (rng.random((m, r)) + 1e-3).astype(dtype)
    Q = (rng.random((m, r)) * 3).astype(dtype)
    Q[0, :3] = 0  # b = 0: y = 0 is not normal, handed to the NumPy kernel (tail)
    W_bar = np.exp(rng.uniform(-20, 5, (m, r))).astype(dtype)  # from the tail to x ≫ 4
    W_bar[1, :2] = np.finfo(dtype).tiny  # b/(λW̄) overflows
    P = (rng.random((m, r) if full_P else (1, r)) * 4 + 0.5).astype(dtype)
    return W_t, Q, P, W_bar


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("full_P", [False, True])
@pytest.mark.parametrize("lam", [1e-3, 0.06, 0.7, 50.0])
def test_deep_w_kl_fast_equals_the_formula(rng, dtype, full_P, lam):
    W_t, Q, P, W_bar = _inputs(rng, dtype, full_P=full_P)
    ours = F.deep_w_kl_fast(W_t, Q, P, W_bar, lam)
    assert ours.dtype == dtype
    ref = _reference(W_t, Q, np.broadcast_to(P, W_t.shape), W_bar, lam)
    # float64: measured ≤ 1.2e-15 (x's rounding, times ω's condition number ≤ 1, plus ω's
    # 8e-16). float32: the same float64 computation from the float32 inputs, rounded once
    # (half a float32 ulp, 6e-8)
    rtol = 1e-13 if dtype == np.float64 else 6e-8
    # atol: the tail branch gives values below the dtype's range (1e-290 → 0 in float32)
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=np.finfo(dtype).tiny)
    np.testing.assert_array_equal(F.deep_w_kl_fast(W_t, Q, P, W_bar, lam), ours)  # rerun
    same = W_t.copy()  # in place on W̃, flagged entries present
    assert F.deep_w_kl_fast(same, Q, P, W_bar, lam, out=same) is same
    np.testing.assert_array_equal(same, ours)


def test_entries_outside_the_vectorised_range_take_the_reference_branches(rng):
    """x < −2.1 (the series in eˣ), x < −30 (the tail W̄ e^{−P/λ}), b/(λW̄) not a normal
    float (two logarithms) and b = 0 are computed one by one with the reference's branches;
    the inputs hold each case, mixed with vectorised entries in the same blocks."""
    W_t, Q, P, W_bar = _inputs(rng, np.float64)
    W_bar[2, :3] = 1e200  # x ≈ −460: the tail
    W_bar[3, :3] = 1e-300  # b/(λW̄) overflows
    W_bar[4, :3] = 1e300
    W_t[4, :3] = 1e-12  # b/(λW̄) is subnormal
    lam = 0.7
    y = W_t * Q / lam / W_bar
    with np.errstate(divide="ignore"):
        x = np.log(W_t * Q / lam) - np.log(W_bar) + P / lam
    normal = (y >= np.finfo(float).tiny) & (y < np.inf)
    cases = {"series": (x < -2.1) & (x >= -30) & normal, "tail": (x < -30) & normal,
             "not normal": ~normal & (Q > 0), "b = 0": Q == 0}
    assert all(mask.any() for mask in cases.values()), {k: int(v.sum()) for k, v in cases.items()}
    ours = F.deep_w_kl_fast(W_t, Q, P, W_bar, lam)
    ref = _reference(W_t, Q, np.broadcast_to(P, W_t.shape), W_bar, lam)
    for name, mask in cases.items():
        np.testing.assert_allclose(ours[mask], ref[mask], rtol=1e-13, atol=1e-300, err_msg=name)


def test_dispatch_takes_the_compiled_kernels_unless_numpy_is_forced(rng, monkeypatch):
    """dnmf._kernels runs the compiled ω, W-update (float32 and float64) and float64 log pass,
    and the NumPy kernels under DNMF_NUMBA=0 (``_numpy_only``); both agree."""
    calls = []
    for name in ("deep_w_kl_fast", "wright_omega_fast", "xlog_ratio_sum"):
        original = getattr(F, name)
        monkeypatch.setattr(F, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    for dtype in (np.float64, np.float32):
        W_t, Q, P, W_bar = _inputs(rng, dtype)
        got = _kernels.deep_w_kl(W_t, Q, P, W_bar, 0.5)
        # float32: against the NumPy kernel's float32 arithmetic, whose x carries float32
        # rounding of terms up to |x| ~ 50 (2e-5 is its bound in tests/test_kernels.py), and
        # a few float32 ulps for ω itself
        np.testing.assert_allclose(got, _kernels.deep_w_kl_numpy(W_t, Q, P, W_bar, 0.5),
                                   rtol=1e-13 if dtype == np.float64 else 2e-5,
                                   atol=np.finfo(dtype).tiny)
        x = rng.uniform(-5, 40, 50).astype(dtype)
        np.testing.assert_allclose(_kernels.wright_omega(x), _kernels.wright_omega_numpy(x),
                                   rtol=1e-14 if dtype == np.float64 else 2e-7)
    X = rng.random((20, 7))
    R = X / (rng.random((20, 7)) + 0.5)
    _kernels.xlog_ratio_sum(X, R, np.empty_like(R))
    assert calls == ["deep_w_kl_fast", "wright_omega_fast"] * 2 + ["xlog_ratio_sum"]
    with _kernels._numpy_only():
        _kernels.deep_w_kl(*_inputs(rng, np.float64), 0.5)
        _kernels.wright_omega(x)
        numpy_sum = _kernels.xlog_ratio_sum(X, R, np.empty_like(R))
    assert len(calls) == 5
    np.testing.assert_allclose(numpy_sum, float(np.sum(X * np.log(R))), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_xlog_ratio_sum_equals_numpy(rng, dtype):
    """Σ x log r with 0 log r = 0 (also 0 log 0), r = ∞ and subnormal r, float64 sums."""
    X = rng.random((57, 361)).astype(dtype)
    V = (rng.random((57, 361)) + 0.05).astype(dtype)
    X[0, :4] = 0
    X[1, 2] = 0
    V[1, 2] = 0  # 0 / 0: its term is 0
    with np.errstate(divide="ignore", invalid="ignore"):
        R = X / V
    R[2, 3] = np.finfo(dtype).smallest_subnormal
    X64, R64 = X.astype(np.float64), R.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(X64 > 0, X64 * np.log(R64), 0.0)
    ref = float(terms.sum())
    # float64 sums in another order: a few ulps of the sum (1e-15 measured)
    assert F.xlog_ratio_sum(X, R) == pytest.approx(ref, rel=1e-13)
    R[3, 0] = np.inf
    assert F.xlog_ratio_sum(X, R) == np.inf
    strided = np.asfortranarray(X)  # not row-contiguous: copied
    assert F.xlog_ratio_sum(strided, R[:, :]) == np.inf


def test_in_place_calls_equal_out_of_place_ones(rng):
    """In place, the kernels compute into a scratch buffer (the vectorised loop needs an
    output that does not overlap its inputs) and copy: same bits as out of place."""
    x = rng.uniform(-5, 40, (300, 9))
    ref = F.wright_omega_fast(x)
    same = x.copy()
    assert F.wright_omega_fast(same, out=same) is same
    np.testing.assert_array_equal(same, ref)
    W_t, Q, P, W_bar = _inputs(rng, np.float64)
    ref = F.deep_w_kl_fast(W_t, Q, P, W_bar, 0.3)
    for name in ("W_t", "Q", "W_bar"):
        args = {"W_t": W_t.copy(), "Q": Q.copy(), "W_bar": W_bar.copy()}
        out = args[name]
        assert F.deep_w_kl_fast(args["W_t"], args["Q"], P, args["W_bar"], 0.3, out=out) is out
        np.testing.assert_array_equal(out, ref)
