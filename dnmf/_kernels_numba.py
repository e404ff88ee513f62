"""Numba versions of the kernels of :mod:`dnmf._kernels` (imported lazily, only from there).

Every function here has a plain NumPy/SciPy twin in :mod:`dnmf._kernels` that states the formula;
``tests/test_kernels.py`` checks that the two agree. Rules that keep the results reproducible:

* loops run in parallel over independent rows (``prange``); no cross-thread reduction, so the
  result does not depend on the number of threads or on scheduling;
* ``fastmath`` is off: IEEE semantics, no reassociation.

The functions are compiled on first call and cached on disk (``cache=True``): in the package's
``__pycache__`` when it is writable, else in numba's per-user cache directory. When no cache
location can be written at all the functions are compiled in every process instead
(:func:`_jit` falls back to ``cache=False``); :data:`CACHING` tells which happened.
"""

from __future__ import annotations

import math

import numba
from numba import prange

from ._kernels import (
    OMEGA_EXP,
    OMEGA_LEFT,
    OMEGA_LEFT_CENTRE,
    OMEGA_MID,
    OMEGA_RIGHT,
    OMEGA_RIGHT_CENTRE,
)

CACHING = True


def _jit(**options):
    """``numba.njit(cache=True, **options)``, or without the disk cache when it is unwritable."""

    def decorate(func):
        global CACHING
        try:
            return numba.njit(cache=True, **options)(func)
        except RuntimeError:  # "cannot cache function …: no locator available"
            CACHING = False
            return numba.njit(cache=False, **options)(func)

    return decorate


# ---------------------------------------------------------------------------------------------
# Sampled dense-dense products on a compressed sparse structure
#
# Each kernel is a row body (inlined) and one or two drivers: ``name`` runs the rows in
# parallel, ``name_serial`` in order. Both give the same bits; the caller picks the serial one
# for small problems, where waking threads costs more than the work (and much more on a loaded
# machine). Kernels off the hot loops (sampled product, data term, ω alone) are serial only:
# every driver is one more compilation on a fresh installation.
# ---------------------------------------------------------------------------------------------


@numba.njit(inline="always")
def _dot(A, i, B, j):
    """A[i] · B[j] with four interleaved partial sums (a fixed order: deterministic)."""
    k = A.shape[1]
    if k < 8:
        v = A[i, 0] * B[j, 0]
        for q in range(1, k):
            v += A[i, q] * B[j, q]
        return v
    v0 = A[i, 0] * B[j, 0]
    v1 = A[i, 1] * B[j, 1]
    v2 = A[i, 2] * B[j, 2]
    v3 = A[i, 3] * B[j, 3]
    q = 4
    while q + 4 <= k:
        v0 += A[i, q] * B[j, q]
        v1 += A[i, q + 1] * B[j, q + 1]
        v2 += A[i, q + 2] * B[j, q + 2]
        v3 += A[i, q + 3] * B[j, q + 3]
        q += 4
    while q < k:
        v0 += A[i, q] * B[j, q]
        q += 1
    return (v0 + v1) + (v2 + v3)


@numba.njit(inline="always")
def _sampled_dot_row(i, indptr, indices, A, B, out):
    for p in range(indptr[i], indptr[i + 1]):
        out[p] = _dot(A, i, B, indices[p])


@numba.njit(inline="always")
def _numerator_row(i, indptr, indices, data, A, B, tiny, out):
    k = A.shape[1]
    for q in range(k):
        out[i, q] = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        r = data[p] / max(_dot(A, i, B, j), tiny)
        for q in range(k):
            out[i, q] += r * B[j, q]


@numba.njit(inline="always")
def _xlogx_row(i, indptr, indices, data, A, B):
    total = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        x = float(data[p])
        if x > 0:
            total += x * math.log(x / float(_dot(A, i, B, indices[p])))
    return total


@_jit()
def sampled_dot_serial(indptr, indices, A, B, out):
    """out[p] = A[i] · B[indices[p]] for the stored entries p of compressed row i."""
    for i in range(A.shape[0]):
        _sampled_dot_row(i, indptr, indices, A, B, out)
    return out


@_jit(parallel=True)
def kl_sparse_numerator(indptr, indices, data, A, B, tiny, out):
    """out[i] = Σ_p data[p] / max(A[i]·B[j], tiny) · B[j] over the stored entries of row i."""
    for i in prange(A.shape[0]):
        _numerator_row(i, indptr, indices, data, A, B, tiny, out)
    return out


@_jit()
def kl_sparse_numerator_serial(indptr, indices, data, A, B, tiny, out):
    """:func:`kl_sparse_numerator`, one thread."""
    for i in range(A.shape[0]):
        _numerator_row(i, indptr, indices, data, A, B, tiny, out)
    return out


@_jit()
def kl_sparse_xlogx_serial(indptr, indices, data, A, B, out_rows):
    """out_rows[i] = Σ_p x_p log(x_p / (A[i]·B[j])) over the stored entries of row i (0 log 0 = 0).

    Accumulated in float64 whatever the dtype of the factors; the caller sums the rows.
    """
    for i in range(A.shape[0]):
        out_rows[i] = _xlogx_row(i, indptr, indices, data, A, B)
    return out_rows


# ---------------------------------------------------------------------------------------------
# Wright's omega function and the deep KL W-update (eq. 18–19)
# ---------------------------------------------------------------------------------------------


@numba.njit(inline="always")
def _horner(coefs, h):
    out = coefs[-1]
    for n in range(len(coefs) - 2, -1, -1):
        out = out * h + coefs[n]
    return out


@numba.njit(inline="always")
def _omega(x):
    """ω(x), the root of ω + log ω = x, for a float64 scalar (see :mod:`dnmf._kernels`)."""
    if not (-8.0 <= x <= 1e10):  # no refinement needed: the series are exact to rounding
        if x < -8.0:  # ω = eˣ (1 − eˣ + 3/2 e²ˣ …), the sixth term is below 1e-16 ω
            e = math.exp(x)
            return e * _horner(OMEGA_EXP, e)
        if x == math.inf or x != x:
            return x
        lx = math.log(x)
        return x - lx + lx / x
    if x < -2.1:
        e = math.exp(x)
        w = e * _horner(OMEGA_EXP, e)
    elif x < 0.0:
        w = _horner(OMEGA_LEFT, x - OMEGA_LEFT_CENTRE)
    elif x <= 2.5:
        w = _horner(OMEGA_MID, x - 1.0)
    elif x <= 4.0:
        w = _horner(OMEGA_RIGHT, x - OMEGA_RIGHT_CENTRE)
    else:
        lx = math.log(x)
        w = (x - lx + lx / x + lx * (lx - 2.0) / (2.0 * x * x)
             + lx * (6.0 + lx * (2.0 * lx - 9.0)) / (6.0 * x * x * x))
    # one Fritsch–Shafer–Crowley step (fourth order)
    z = x - w - math.log(w)
    wp1 = 1.0 + w
    t = wp1 * (wp1 + 2.0 * z / 3.0)
    return w * (1.0 + z / wp1 * (t - 0.5 * z) / (t - z))


@_jit()
def wright_omega_serial(x, out):
    """out[i] = ω(x[i]) for 1-D arrays, computed in float64 and stored in out's dtype."""
    for i in range(x.shape[0]):
        out[i] = _omega(float(x[i]))
    return out


@numba.njit(inline="always")
def _deep_w_kl_row(i, W_t, Q, P, W_bar, lam, limit, out):
    pi = i * (1 if P.shape[0] > 1 else 0)  # P broadcast along rows when it has one row
    for q in range(W_t.shape[1]):
        p_over_lam = float(P[pi, q]) / lam
        wb = float(W_bar[i, q])
        b_over_lam = float(W_t[i, q]) * float(Q[i, q]) / lam
        if b_over_lam > 0.0:
            x = math.log(b_over_lam) + (p_over_lam - math.log(wb))
        else:
            x = -math.inf
        if x < limit:
            out[i, q] = wb * math.exp(-p_over_lam)
        else:
            out[i, q] = b_over_lam / _omega(x)


@_jit(parallel=True)
def deep_w_kl(W_t, Q, P, W_bar, lam, limit, out):
    """Closed-form deep KL W-update, entry by entry (see updates._omega_closed_form_kl).

    W_t, Q, W_bar, out : (m, r); P : (1, r) or (m, r) (broadcast along rows); float64 math.
    """
    for i in prange(W_t.shape[0]):
        _deep_w_kl_row(i, W_t, Q, P, W_bar, lam, limit, out)
    return out


@_jit()
def deep_w_kl_serial(W_t, Q, P, W_bar, lam, limit, out):
    """:func:`deep_w_kl`, one thread."""
    for i in range(W_t.shape[0]):
        _deep_w_kl_row(i, W_t, Q, P, W_bar, lam, limit, out)
    return out


__all__ = [
    "CACHING",
    "deep_w_kl",
    "deep_w_kl_serial",
    "kl_sparse_numerator",
    "kl_sparse_numerator_serial",
    "kl_sparse_xlogx_serial",
    "sampled_dot_serial",
    "wright_omega_serial",
]
