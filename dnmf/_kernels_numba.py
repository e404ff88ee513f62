"""Numba versions of the sparse kernels of :mod:`dnmf._kernels` (imported lazily, from there).

Every function here has a plain NumPy/SciPy twin in :mod:`dnmf._kernels` that states the formula;
``tests/test_kernels.py`` checks that the two agree. The kernels run on one thread, release the
GIL (``nogil``: concurrent fits in several threads run side by side) and keep IEEE semantics
(``fastmath`` off), so their results are reproducible bit for bit.

Why one thread: a parallel version (``prange`` over rows, OpenMP threading layer) was measured.
Interleaved with the BLAS products of the other layers, its pool's spinning threads and
OpenBLAS's fought over the two cores and made the whole fit several times slower; the serial
kernel alone is already 5× faster than scikit-learn's sparse MU, which is single-threaded too.

The functions are compiled on first call and cached on disk (``cache=True``): in the package's
``__pycache__`` when it is writable, else in numba's per-user cache directory. When no cache
location can be written at all the functions are compiled in every process instead
(:func:`_jit` falls back to ``cache=False``); :data:`CACHING` tells which happened.
"""

from __future__ import annotations

import math

import numba

CACHING = True


def _jit(func):
    """``numba.njit(cache=True, nogil=True)``, or without the disk cache when it is unwritable."""
    global CACHING
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # "cannot cache function …: no locator available"
        CACHING = False
        return numba.njit(cache=False, nogil=True)(func)


# ---------------------------------------------------------------------------------------------
# Sampled dense-dense products on a compressed sparse structure (one row body, one driver each)
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


@_jit
def sampled_dot(indptr, indices, A, B, out):
    """out[p] = A[i] · B[indices[p]] for the stored entries p of compressed row i."""
    for i in range(A.shape[0]):
        _sampled_dot_row(i, indptr, indices, A, B, out)
    return out


@_jit
def kl_sparse_numerator(indptr, indices, data, A, B, tiny, out):
    """out[i] = Σ_p data[p] / max(A[i]·B[j], tiny) · B[j] over the stored entries of row i."""
    for i in range(A.shape[0]):
        _numerator_row(i, indptr, indices, data, A, B, tiny, out)
    return out


@_jit
def kl_sparse_xlogx(indptr, indices, data, A, B, out_rows):
    """out_rows[i] = Σ_p x_p log(x_p / (A[i]·B[j])) over the stored entries of row i (0 log 0 = 0).

    Accumulated in float64 whatever the dtype of the factors; the caller sums the rows.
    """
    for i in range(A.shape[0]):
        out_rows[i] = _xlogx_row(i, indptr, indices, data, A, B)
    return out_rows


__all__ = ["CACHING", "kl_sparse_numerator", "kl_sparse_xlogx", "sampled_dot"]
