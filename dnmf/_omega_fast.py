r"""Wright's ω and the deep KL W-update, compiled (numba), in short vectorised passes.

:func:`dnmf._kernels.wright_omega_numpy` evaluates ω with ~30 NumPy passes over cache-sized
blocks. Here the same formulas (the region's initial approximation — the Taylor and
asymptotic series of :mod:`dnmf._kernels`, see its module docstring — then one
Fritsch–Shafer–Crowley step) run compiled, over blocks of :data:`BLOCK` entries in a few
passes whose bodies are short and branch-free, so that LLVM vectorises each of them:

1. classify each entry (and, for the W-update, compute b/λ and x = log(b/(λW̄)) + P/λ);
2. the initial approximation: the asymptotic series alone when every entry of the block is
   ≥ 4 (layer 1 of a CBCL fit), the three Taylor series alone when none is, both otherwise;
3. the FSC step, and for the W-update w = (b/λ)/ω, written as one fraction (one division).

One fused loop body per entry ran 2–3× slower (measured on an AVX2 machine): its dependency
chain is too long for the core to overlap iterations, and a two-dimensional loop over rows
of r entries was not vectorised at all; the passes work on flat views.

numba has no vectorised logarithm here (no SVML), so the passes use their own, :func:`_log`:
fdlibm's ``e_log.c`` algorithm (reduction to [√2/2, √2) by the exponent bits, the odd series
in s = f/(2+f) to degree 14; below one ulp), written with bit casts that vectorise.

Every entry is computed in float64, whatever the dtype of the arrays (float32 input is
converted in registers and the result rounded once). Entries outside the vectorised range —
x < −2.1, x > 1e10, non-finite x, or in the W-update a ratio b/(λW̄) that is not a normal
float — are computed by a scalar compiled loop with the reference's branches (the series in
eˣ, the tail w = W̄ e^{−P/λ}, two logarithms for x), before the block's results are written
(``out`` may be an input).

Accuracy (tests/test_kernels_omega_fast.py): relative error against
``scipy.special.wrightomega`` below 1e-14 in float64 over the whole real line (against an
extended-precision reference below 2e-15: the initial approximations are accurate to ~1e-4
and the step is of fourth order), half a float32 ulp for float32 results.

The loops are serial and release the GIL. Floating point: IEEE semantics except that LLVM
may contract a·b + c into one fused multiply-add (``fastmath={"contract"}``): no operation is
reordered, and results are reproducible bit for bit on one machine.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._kernels import (
    OMEGA_EXP,
    OMEGA_LEFT,
    OMEGA_LEFT_CENTRE,
    OMEGA_MID,
    OMEGA_RIGHT,
    OMEGA_RIGHT_CENTRE,
    OMEGA_TAIL,
)

__all__ = ["deep_w_kl_fast", "wright_omega_fast", "xlog_ratio_sum"]

#: Entries per block of the passes (a handful of float64 buffers of this size stay in L1).
BLOCK = 512


def _jit(func=None, *, fastmath=frozenset({"contract"})):
    """``numba.njit(cache=True, nogil=True)`` with IEEE arithmetic but contraction, or without
    the disk cache when no location for it can be written."""
    if func is None:
        return lambda f: _jit(f, fastmath=fastmath)
    options = dict(nogil=True, error_model="numpy", fastmath=set(fastmath))
    try:
        return numba.njit(cache=True, **options)(func)
    except RuntimeError:  # no writable cache location: compile in every process
        return numba.njit(cache=False, **options)(func)


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64 as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, n):
    """The float64 whose IEEE bits are the int64 ``n``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return types.float64(types.int64), codegen


_LN2_HI = 6.93147180369123816490e-01  # log 2 = _LN2_HI + _LN2_LO, k·_LN2_HI exact for |k| < 2¹¹
_LN2_LO = 1.90821492927058770002e-10
# fdlibm's minimax coefficients of (log(1+f) − f + f²/2)/s ≈ Σ Lg_i s^{2i}, s = f/(2+f)
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01)
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # the bits of √2/2
_ONE_BITS = 0x3FF0000000000000
_MANTISSA = 0x000FFFFFFFFFFFFF
_TINY = 2.2250738585072014e-308  # smallest normal float64
_HUGE = 1.7976931348623157e308


@numba.njit(inline="always")
def _log(y):
    """log(y) for a positive normal float64, below one ulp (fdlibm's e_log.c, no branch):
    y = 2^k (1 + f) with 1 + f in [√2/2, √2), log(1+f) = f − f²/2 + s (f²/2 + R(s²))."""
    bits = _bits(y) + (_ONE_BITS - _SQRT_HALF_BITS)  # the exponent of y·√2
    k = float((bits >> 52) - 1023)
    f = _from_bits((bits & _MANTISSA) + _SQRT_HALF_BITS) - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    t2 = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6])))
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + t2 + t1) + k * _LN2_LO)) - f)


@numba.njit(inline="always")
def _f64(value):
    """``value`` as float64 (numba's ``float()`` keeps a float32 a float32)."""
    return np.float64(value)


def _padded(coefs):
    return tuple(coefs) + (0.0,) * (9 - len(coefs))


_L = _padded(OMEGA_LEFT)
_M = _padded(OMEGA_MID)
_R = _padded(OMEGA_RIGHT)
_CL, _CR = OMEGA_LEFT_CENTRE, OMEGA_RIGHT_CENTRE


@numba.njit(inline="always")
def _taylor_guess(x):
    """The Taylor series of ω about the centre of x's region (−2.1 ≤ x < 4), degree ≤ 8,
    the region's coefficients chosen by selects (zeros above its degree)."""
    left = x < 0.0
    right = x >= 2.5
    h = x - (_CL if left else (_CR if right else 1.0))
    p = _L[8] if left else (_R[8] if right else _M[8])
    p = p * h + (_L[7] if left else (_R[7] if right else _M[7]))
    p = p * h + (_L[6] if left else (_R[6] if right else _M[6]))
    p = p * h + (_L[5] if left else (_R[5] if right else _M[5]))
    p = p * h + (_L[4] if left else (_R[4] if right else _M[4]))
    p = p * h + (_L[3] if left else (_R[3] if right else _M[3]))
    p = p * h + (_L[2] if left else (_R[2] if right else _M[2]))
    p = p * h + (_L[1] if left else (_R[1] if right else _M[1]))
    return p * h + (_L[0] if left else (_R[0] if right else _M[0]))


@numba.njit(inline="always")
def _asymptotic_guess(x):
    """x − ℓ + ℓ/x + ℓ(ℓ−2)/(2x²) + ℓ(2ℓ²−9ℓ+6)/(6x³), ℓ = log x (x ≥ 4)."""
    lx = _log(x)
    ix = 1.0 / x
    a = ((((lx * (1.0 / 3.0) - 1.5) * lx + 1.0) * ix + 0.5 * lx - 1.0) * ix + 1.0) * ix * lx
    return a + x - lx


@numba.njit(inline="always")
def _fsc_fraction(x, w):
    """One FSC step as a fraction, w ← w e / d: z = x − w − log w, t = (1+w)(1+w+2z/3),
    d = (1+w)(t − z), e = d + z (t − z/2); a caller dividing by ω divides once."""
    z = x - w - _log(w)
    u = w + 1.0
    t = u * (u + z * (2.0 / 3.0))
    d = u * (t - z)
    return d, d + z * (t - 0.5 * z)


@_jit
def _omega_scalar(x):
    """ω(x) for any float64 x, one entry (those outside the vectorised range)."""
    if x != x or x == np.inf:
        return x
    if x < -2.1:  # Σ (-n)^{n-1}/n! e^{nx}, n ≤ 5: exact to rounding below −8
        e = math.exp(x)
        w = e * (OMEGA_EXP[0] + e * (OMEGA_EXP[1] + e * (OMEGA_EXP[2] + e * (
            OMEGA_EXP[3] + e * OMEGA_EXP[4]))))
        if x < -8.0:
            return w
    elif x > 1e10:  # x − ℓ + ℓ/x is exact to rounding
        lx = math.log(x)
        return x - lx + lx / x
    elif x >= 4.0:
        w = _asymptotic_guess(x)
    else:
        w = _taylor_guess(x)
    d, e = _fsc_fraction(x, w)
    return w * e / d


@_jit
def _guesses(xb, wb, nb, n_asymptotic):
    """wb[:nb] = the initial approximation of ω(xb[:nb]), all in [−2.1, 1e10] (float64
    blocks: compiled once, for every caller and dtype)."""
    if n_asymptotic == nb:
        for q in range(nb):
            wb[q] = _asymptotic_guess(xb[q])
    elif n_asymptotic == 0:
        for q in range(nb):
            wb[q] = _taylor_guess(xb[q])
    else:
        for q in range(nb):
            x = xb[q]
            a = _asymptotic_guess(x if x > 4.0 else 4.0)
            p = _taylor_guess(x)
            wb[q] = a if x >= 4.0 else p


@_jit
def _refine(xb, wb, nb):
    """wb[:nb] ← ω(xb[:nb]) from the guesses in wb: one FSC step."""
    for q in range(nb):
        w = wb[q]
        d, e = _fsc_fraction(xb[q], w)
        wb[q] = w * e / d


@_jit
def _refine_quotient(xb, wb, bb, nb):
    """wb[:nb] ← bb / ω(xb) from the guesses in wb: one FSC step, one division."""
    for q in range(nb):
        w = wb[q]
        d, e = _fsc_fraction(xb[q], w)
        wb[q] = bb[q] * d / (w * e)


@_jit
def _omega_loop(x, out):
    """out = ω(x), flat arrays (``out`` may be ``x``)."""
    n = x.size
    xb = np.empty(BLOCK)
    wb = np.empty(BLOCK)
    ok = np.empty(BLOCK, dtype=np.bool_)
    for s in range(0, n, BLOCK):
        nb = min(n, s + BLOCK) - s
        n_bad = 0
        n_asymptotic = 0
        for q in range(nb):
            v = _f64(x[s + q])
            good = v >= -2.1 and v <= 1e10
            xb[q] = v if good else 1.0
            ok[q] = good
            n_bad += not good
            n_asymptotic += good and v >= 4.0
        _guesses(xb, wb, nb, n_asymptotic)
        _refine(xb, wb, nb)
        if n_bad:
            for q in range(nb):
                if not ok[q]:
                    wb[q] = _omega_scalar(_f64(x[s + q]))
        for q in range(nb):
            out[s + q] = wb[q]


@_jit
def _deep_w_loop(W_t, Q, P, W_bar, r, inv_lam, out):
    """out = (b/λ)/ω(log(b/(λW̄)) + P/λ), b = W̃ ⊙ Q, on flat C-order views of m×r arrays;
    P has r entries (one row, broadcast) or m·r. ``out`` may be W_t, Q or W_bar: a block is
    read whole before it is written."""
    n = W_t.size
    size = max(1, BLOCK // r) * r  # whole rows, so that a broadcast row of P repeats
    xb = np.empty(size)
    bb = np.empty(size)
    wb = np.empty(size)
    fb = np.empty(size)
    pb = np.empty(size)
    ok = np.empty(size, dtype=np.bool_)
    full_P = P.size > r
    if not full_P:
        for q in range(size):
            pb[q] = _f64(P[q % r]) * inv_lam
    for s in range(0, n, size):
        nb = min(n, s + size) - s
        if full_P:
            for q in range(nb):
                pb[q] = _f64(P[s + q]) * inv_lam
        n_bad = 0
        n_asymptotic = 0
        for q in range(nb):
            b = _f64(W_t[s + q]) * _f64(Q[s + q]) * inv_lam
            y = b / _f64(W_bar[s + q])
            normal = y >= _TINY and y <= _HUGE
            x = _log(y if normal else 1.0) + pb[q]
            good = normal and x >= -2.1 and x <= 1e10
            bb[q] = b
            xb[q] = x if good else 1.0
            ok[q] = good
            n_bad += not good
            n_asymptotic += good and x >= 4.0
        if n_bad:  # the reference's branches (dnmf._kernels._deep_w_kl_block), one by one
            for q in range(nb):
                if not ok[q]:
                    b = bb[q]
                    w_bar = _f64(W_bar[s + q])
                    y = b / w_bar
                    if y >= _TINY and y <= _HUGE:
                        x = math.log(y) + pb[q]
                    else:
                        x = (math.log(b) - math.log(w_bar)) + pb[q]
                    # below the tail ω(x) = eˣ: w = (b/λ) e^{-x} = W̄ e^{-P/λ}
                    fb[q] = w_bar * math.exp(-pb[q]) if x < OMEGA_TAIL else b / _omega_scalar(x)
        _guesses(xb, wb, nb, n_asymptotic)
        _refine_quotient(xb, wb, bb, nb)
        if n_bad:
            for q in range(nb):
                if not ok[q]:
                    wb[q] = fb[q]
        for q in range(nb):
            out[s + q] = wb[q]


@_jit(fastmath={"reassoc", "contract"})
def _sum(buffer, n):
    """Σ buffer[:n], vectorised (the order is the compiled code's: fixed on one machine)."""
    total = 0.0
    for j in range(n):
        total += buffer[j]
    return total


@_jit
def _xlog_ratio_sum(X, R, row):
    """Σ x log r over 2-D arrays of one shape (rows contiguous), with 0 log r = 0 (also for
    r = 0), in float64; ``row`` is a float64 scratch of one row's length."""
    m, n = X.shape
    total = 0.0
    for i in range(m):
        x_row = X[i]
        r_row = R[i]
        bad = 0
        for j in range(n):
            r = _f64(r_row[j])
            normal = r >= _TINY and r <= _HUGE
            row[j] = _f64(x_row[j]) * _log(r if normal else 1.0)
            bad += not normal
        if bad:  # zeros, subnormals, infinities and NaN: the plain formula
            for j in range(n):
                r = _f64(r_row[j])
                if not (r >= _TINY and r <= _HUGE):
                    x = _f64(x_row[j])
                    row[j] = 0.0 if x == 0.0 else x * math.log(r)
        total += _sum(row, n)
    return total


_SCRATCH = threading.local()  # .buffers: (name, shape, dtype) → array, per calling thread


def _scratch(shape: tuple, dtype, name: str) -> np.ndarray:
    """A buffer of this thread, reused from call to call (fresh pages cost a fault each)."""
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    key = (name, tuple(shape), np.dtype(dtype).str)
    buffer = buffers.get(key)
    if buffer is None:
        if len(buffers) > 16:  # many shapes in turn: keep memory bounded
            buffers.clear()
        buffer = buffers[key] = np.empty(shape, dtype=dtype)
    return buffer


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.shape == b.shape and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _flat_target(out: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
    """A flat view of ``out`` to compute into, or a scratch buffer when ``out`` is not
    C-contiguous or overlaps an input other than as the very same view (the loops read a
    block whole before writing it, so an input given as ``out`` is safe; a shifted one is
    not)."""
    if out.flags.c_contiguous and not any(
            np.may_share_memory(out, a) and not _same_view(out, a) for a in inputs):
        return out.reshape(-1)
    return _scratch((out.size,), out.dtype, "out")


def wright_omega_fast(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ω(x) elementwise in the dtype of ``x`` (reference: ``scipy.special.wrightomega``).

    Parameters
    ----------
    x : ndarray of float32 or float64, any shape (other dtypes are converted to float64)
    out : ndarray like ``x``, optional (may be ``x``)

    Returns
    -------
    ndarray of the shape and dtype of ``x``
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    out = np.empty_like(x) if out is None else out
    flat = np.ascontiguousarray(x).reshape(-1)
    target = _flat_target(out, flat)
    _omega_loop(flat, target)
    if not (out.flags.c_contiguous and np.shares_memory(target, out)):
        out[...] = target.reshape(x.shape)
    return out


def deep_w_kl_fast(W_t, Q, P, W_bar, lam: float, out: np.ndarray | None = None) -> np.ndarray:
    """β = 1 deep W-update w = (b/λ) / ω(log(b/λ) + P/λ − log W̄), b = W̃ Q, compiled.

    Same arguments and result as :func:`dnmf._kernels.deep_w_kl_numpy` (the reference);
    ``out`` may be ``W_t``, ``Q`` or ``W_bar``.

    Parameters
    ----------
    W_t, Q, W_bar : ndarrays of shape (m, r) (W_bar may be a broadcast view)
    P : ndarray of shape (1, r), (r,) or (m, r)
    lam : float, λ > 0
    out : ndarray of shape (m, r), optional

    Returns
    -------
    ndarray of shape (m, r) in the arrays' dtype, not floored.
    """
    dtype = np.result_type(W_t, Q, W_bar)
    m, r = np.shape(W_t)
    operands = [np.ascontiguousarray(np.broadcast_to(a, (m, r)), dtype=dtype)
                for a in (W_t, Q, W_bar)]
    P = np.ascontiguousarray(P, dtype=dtype)
    P = P.reshape(-1) if P.size in (r, m * r) else np.ascontiguousarray(
        np.broadcast_to(P, (m, r))).reshape(-1)
    if out is None:
        out = np.empty((m, r), dtype=dtype)
    flat = [a.reshape(-1) for a in operands]
    target = _flat_target(out, *operands, P)
    if m * r:
        _deep_w_loop(flat[0], flat[1], P, flat[2], r, 1.0 / float(lam), target)
    if not (out.flags.c_contiguous and np.shares_memory(target, out)):
        out[...] = target.reshape(m, r)
    return out


def xlog_ratio_sum(X: np.ndarray, R: np.ndarray) -> float:
    """Σ x log r with 0 log r = 0, R = X ⊘ V given (the KL divergence's log term), compiled.

    Reference: the NumPy path of :func:`dnmf._kernels.xlog_ratio_sum`. Both are
    2-D arrays of one shape whose rows are contiguous; the sum is accumulated in float64.
    """
    X = np.asarray(X)
    R = np.asarray(R)
    if X.ndim != 2 or X.strides[1] != X.itemsize or R.strides[1] != R.itemsize:
        X, R = (np.ascontiguousarray(a).reshape(len(a), -1) if a.ndim == 2
                else np.ascontiguousarray(a).reshape(1, -1) for a in (X, R))
    return float(_xlog_ratio_sum(X, R, _scratch((X.shape[1],), np.float64, "row")))
