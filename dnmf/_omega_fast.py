r"""Wright's ω and the deep KL W-update in one compiled pass per entry (numba).

:func:`dnmf._kernels.wright_omega_numpy` evaluates ω with ~30 NumPy passes over cache-sized
blocks, and blocks whose entries straddle its regions (a third of them in a CBCL deep fit) take
its slowest path. Here each entry goes through one compiled loop body, branch-free so that LLVM
vectorises it: the region's initial approximation (the same Taylor series and asymptotic series
as :mod:`dnmf._kernels`, see its module docstring), one Fritsch–Shafer–Crowley step, and for
the W-update the argument x = log(b/(λW̄)) + P/λ before and w = (b/λ)/ω after. numba has no
vectorised logarithm here (no SVML), so the loop uses its own, :func:`_log`: fdlibm's
``e_log.c`` algorithm (reduction to [√2/2, √2) by the exponent bits, a degree-14 odd series in
s = f/(2+f); error below one ulp), written with bit casts that vectorise.

Every entry is computed in float64, whatever the dtype of the arrays (float32 input is
converted in registers and the result rounded once to float32). Entries outside the fast
regions — x < −2.1, x > 1e10, non-finite x, or in the W-update a ratio b/(λW̄) that is not a
normal float — are flagged by the loop and recomputed with the NumPy kernels of
:mod:`dnmf._kernels` (0.1 % of the entries in a CBCL deep fit).

Accuracy (tests/test_kernels_omega_fast.py): relative error against
``scipy.special.wrightomega`` below 1e-14 in float64 over the whole real line (against an
extended-precision reference below 2e-15: the initial approximations are accurate to ~1e-4 and
the step is of fourth order), and below 1.2e-7 (two float32 ulps) for float32 results.

The loops are serial, release the GIL and keep IEEE semantics (no fastmath: the logarithm's
evaluation order matters), so results are reproducible bit for bit.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from . import _kernels
from ._kernels import (
    OMEGA_LEFT,
    OMEGA_LEFT_CENTRE,
    OMEGA_MID,
    OMEGA_RIGHT,
    OMEGA_RIGHT_CENTRE,
)

__all__ = ["deep_w_kl_fast", "wright_omega_fast"]


def _jit(func):
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(func)
    except RuntimeError:  # no writable cache location: compile in every process
        return numba.njit(cache=False, nogil=True, error_model="numpy")(func)


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


# log(y) = k log 2 + log c_i + log1p(r), r = m / c_i − 1: y = 2^k m with m in [1, 2), c_i the
# centre of the 64th of [1, 2) holding m (its index: the 6 leading mantissa bits), |r| ≤ 1/128.
_LOG_TABLE_BITS = 6
_INV_C = np.array([1.0 / (1.0 + (i + 0.5) / 64) for i in range(64)])
_LOG_C = np.array([-math.log(v) for v in _INV_C])  # log c_i = −log(1/c_i), 1/c_i as stored
_LN2_HI = 6.93147180369123816490e-01  # log 2 = _LN2_HI + _LN2_LO, k·_LN2_HI exact for |k| < 2¹¹
_LN2_LO = 1.90821492927058770002e-10


@numba.njit(inline="always")
def _log(y):
    """log(y) for a positive normal float64, to about 2e-16 *absolute* error (not relative
    near y = 1, which ω does not need: its argument and residual are absolute). No division:
    a 64-entry table and the degree-7 series of log1p (truncation below 2e-18)."""
    bits = _bits(y)
    k = float((bits >> 52) - 1023)
    mantissa = bits & 0x000FFFFFFFFFFFFF
    i = mantissa >> (52 - _LOG_TABLE_BITS)
    m = _from_bits(mantissa | 0x3FF0000000000000)
    r = m * _INV_C[i] - 1.0  # |r| ≤ 1/128; the product's rounding is the only error here
    p = r * (1.0 / 7.0) - (1.0 / 6.0)
    p = p * r + 0.2
    p = p * r - 0.25
    p = p * r + (1.0 / 3.0)
    p = p * r - 0.5
    return k * _LN2_HI + ((_LOG_C[i] + k * _LN2_LO) + (r + r * r * p))


def _padded(coefs):
    return tuple(coefs) + (0.0,) * (9 - len(coefs))


_L = _padded(OMEGA_LEFT)
_M = _padded(OMEGA_MID)
_R = _padded(OMEGA_RIGHT)
_CL, _CR = OMEGA_LEFT_CENTRE, OMEGA_RIGHT_CENTRE


@numba.njit(inline="always")
def _omega_parts(x):
    """(w, d, e) with ω(x) = w · e / d for −2.1 ≤ x ≤ 1e10 (no check): the region's guess w
    and one FSC step as a fraction, so that a caller dividing by ω divides once."""
    left = x < 0.0
    right = x >= 2.5
    h = x - (_CL if left else (_CR if right else 1.0))
    # Horner, degree 8, the region's coefficients (zeros above its degree) chosen by selects
    p = _L[8] if left else (_R[8] if right else _M[8])
    p = p * h + (_L[7] if left else (_R[7] if right else _M[7]))
    p = p * h + (_L[6] if left else (_R[6] if right else _M[6]))
    p = p * h + (_L[5] if left else (_R[5] if right else _M[5]))
    p = p * h + (_L[4] if left else (_R[4] if right else _M[4]))
    p = p * h + (_L[3] if left else (_R[3] if right else _M[3]))
    p = p * h + (_L[2] if left else (_R[2] if right else _M[2]))
    p = p * h + (_L[1] if left else (_R[1] if right else _M[1]))
    p = p * h + (_L[0] if left else (_R[0] if right else _M[0]))
    # x ≥ 4: x − ℓ + ℓ/x + ℓ(ℓ−2)/(2x²) + ℓ(2ℓ²−9ℓ+6)/(6x³), ℓ = log x
    xa = x if x > 4.0 else 4.0
    lx = _log(xa)
    ix = 1.0 / xa
    a = ((((lx * (1.0 / 3.0) - 1.5) * lx + 1.0) * ix + 0.5 * lx - 1.0) * ix + 1.0) * ix * lx
    a = a + xa - lx
    w = a if x >= 4.0 else p
    # w ← w (d + z (t − z/2)) / d, d = (1+w)(t − z), z = x − w − log w, t = (1+w)(1+w+2z/3)
    z = x - w - _log(w)
    u = w + 1.0
    t = u * (u + z * (2.0 / 3.0))
    d = u * (t - z)
    return w, d, d + z * (t - 0.5 * z)


@_jit
def _omega_loop(x, out, flags):
    """out = ω(x) where −2.1 ≤ x ≤ 1e10, else flags = 1 (out left 1 there). Returns the count
    flagged."""
    count = 0
    for i in range(x.size):
        v = float(x[i])
        bad = not (v >= -2.1 and v <= 1e10)
        w, d, e = _omega_parts(1.0 if bad else v)
        out[i] = w * e / d
        flags[i] = bad
        count += bad
    return count


@_jit
def _deep_w_loop(W_t, Q, P, W_bar, inv_lam, out, flags):
    """out = (b/λ)/ω(log(b/(λW̄)) + P/λ), b = W̃ ⊙ Q, where that x is in ω's fast range and
    b/(λW̄) is a normal float64 (this covers the tail x < OMEGA_TAIL of the reference);
    elsewhere flags = 1 and out = W̃, so that ``out`` may be ``W_t``. Returns the count
    flagged."""
    m, r = W_t.shape
    full_P = P.shape[0] > 1
    tiny = 2.2250738585072014e-308
    count = 0
    for i in range(m):
        ip = i if full_P else 0
        for j in range(r):
            b_over_lam = float(W_t[i, j]) * float(Q[i, j]) * inv_lam
            y = b_over_lam / float(W_bar[i, j])
            normal = y >= tiny and y <= 1.7976931348623157e308
            x = _log(y if normal else 1.0) + float(P[ip, j]) * inv_lam
            bad = not (normal and x >= -2.1 and x <= 1e10)
            w, d, e = _omega_parts(1.0 if bad else x)
            value = b_over_lam * d / (w * e)
            out[i, j] = W_t[i, j] if bad else value
            flags[i, j] = bad
            count += bad
    return count


_SCRATCH = threading.local()  # .buffers: (shape, dtype) → array, per calling thread


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


def _target(out: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
    """``out``, or a scratch buffer when ``out`` overlaps an input: LLVM vectorises the loops
    only after a run-time check that the output does not overlap the inputs, and in place the
    scalar loop runs (measured 3.5× slower: 31.5 against 9.0 ns per entry)."""
    if any(np.may_share_memory(out, a) for a in inputs):
        return _scratch(out.shape, out.dtype, "out")
    return out


def wright_omega_fast(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ω(x) elementwise in the dtype of ``x`` (reference: ``scipy.special.wrightomega``).

    Parameters
    ----------
    x : ndarray of float32 or float64, any shape (other dtypes are converted to float64)
    out : ndarray like ``x``, optional

    Returns
    -------
    ndarray of the shape and dtype of ``x``
    """
    x, out, flat = _kernels.omega_operands(x, out)
    out_flat = out.reshape(-1) if out.flags.c_contiguous else None  # a view of out
    target = np.empty_like(flat) if out_flat is None else _target(out_flat, flat)
    flags = _scratch(flat.shape, np.bool_, "flags")
    if _omega_loop(flat, target, flags):
        sel = np.flatnonzero(flags)
        target[sel] = _kernels.wright_omega_numpy(flat[sel])
    if out_flat is None:
        out[...] = target.reshape(x.shape)
    elif target is not out_flat:
        np.copyto(out_flat, target)
    return out


def deep_w_kl_fast(W_t, Q, P, W_bar, lam: float, out: np.ndarray | None = None) -> np.ndarray:
    """β = 1 deep W-update w = (b/λ) / ω(log(b/λ) + P/λ − log W̄), b = W̃ Q, compiled.

    Same arguments and result as :func:`dnmf._kernels.deep_w_kl_numpy` (the reference, which
    also computes the flagged entries); ``out`` may be ``W_t`` (flagged entries keep W̃ until
    they are recomputed).
    """
    dtype = np.result_type(W_t, Q, W_bar)
    m, r = W_t.shape
    P = np.asarray(P)
    P = P.reshape(1, -1) if P.ndim == 1 else P
    if out is None:
        out = np.empty((m, r), dtype=dtype)
    W_bar = np.broadcast_to(W_bar, (m, r))
    target = _target(out, W_t, Q, P, W_bar)
    flags = _scratch((m, r), np.bool_, "flags")
    if _deep_w_loop(W_t, Q, P, W_bar, 1.0 / float(lam), target, flags):
        rows, cols = np.nonzero(flags)
        Pf = np.broadcast_to(P, (m, r))
        with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
            target[rows, cols] = _kernels._deep_w_kl_block(
                W_t[rows, cols], Q[rows, cols], np.divide(Pf[rows, cols], float(lam),
                                                             dtype=dtype),
                W_bar[rows, cols], float(lam), dtype)
    if target is not out:
        np.copyto(out, target)
    return out

