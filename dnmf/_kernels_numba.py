"""Numba versions of the sparse kernels of :mod:`dnmf._kernels` (imported lazily, from there).

Every function here has a plain NumPy/SciPy twin in :mod:`dnmf._kernels` that states the formula;
``tests/test_kernels.py`` checks that the two agree. Each kernel works on a range of rows
``lo:hi`` of a compressed structure and writes only those rows' outputs: :mod:`dnmf._kernels`
runs two ranges at once in two threads (the GIL is released, ``nogil``), and since every output
row is computed by one thread from the same entries in the same order, the result does not
depend on how the rows were split (bit-identical for any thread count).

Threads: Python threads over row ranges, not numba's ``prange``. A ``prange`` version (OpenMP
threading layer, the only one installed besides workqueue) was measured 0.74-0.79× as fast as
the serial kernel on the shared two-core machine, with 1.4× its CPU time, where two Python
threads over row ranges ran 1.0-1.1× (load average 1.8-2: another process held a core); its
pool's threads spin after each region and fight OpenBLAS's, workqueue is not safe for
concurrent fits, and GNU OpenMP is not fork-safe (see ``bench/README.md``).

Memory: each stored entry reads a row of B at a random place (20 floats at r = 20), which
the core waits for from the shared cache; the loops ask for the row :data:`PREFETCH` entries
ahead (``llvm.prefetch``), measured 1.3–1.45× faster on one thread (same arithmetic, same
bits).

Floating point: ``fastmath`` is limited to reassociation, contraction (FMA) and signed zeros, so
that LLVM vectorises the length-r dot products (20 % faster at r = 20); NaN and infinity keep
their IEEE meaning. The summation order is then fixed by the compiled code, not by the source:
results are reproducible bit for bit on one machine and agree with the NumPy path to rounding.

The functions are compiled on first call and cached on disk (``cache=True``): in the package's
``__pycache__`` when it is writable, else in numba's per-user cache directory. When no cache
location can be written at all the functions are compiled in every process instead
(:func:`_jit` falls back to ``cache=False``); :data:`CACHING` tells which happened.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

CACHING = True
#: LLVM may reassociate sums (vectorised dot products) and fuse multiply-adds; no assumption
#: about NaN or infinity.
FASTMATH = {"reassoc", "contract", "nsz"}


def _jit(func):
    """``numba.njit(cache=True, nogil=True)``, or without the disk cache when it is unwritable."""
    global CACHING
    try:
        return numba.njit(cache=True, nogil=True, fastmath=FASTMATH)(func)
    except RuntimeError:  # "cannot cache function …: no locator available"
        CACHING = False
        return numba.njit(cache=False, nogil=True, fastmath=FASTMATH)(func)


#: How many stored entries ahead the loops ask for the row of B they will read (8–16 measured
#: best on an AVX2 machine with r = 20; 32 too far).
PREFETCH = 12


@intrinsic
def _prefetch_row(typingctx, arr, row):
    """Ask the CPU to bring the cache line of ``arr[row, 0]`` (2-D, C order) closer: a hint
    (``llvm.prefetch``, read, high locality); it never faults and changes no result."""
    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        row_index = context.cast(builder, args[1], signature.args[1], types.intp)
        pointer = cgutils.get_item_pointer(context, builder, array_type, array,
                                           [row_index, zero], wraparound=False,
                                           boundscheck=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        builder.call(function, [builder.bitcast(pointer, byte_pointer), ir.Constant(i32, 0),
                                ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.none(arr, row), codegen


# ---------------------------------------------------------------------------------------------
# Sampled dense-dense products on a compressed sparse structure, rows lo:hi
# ---------------------------------------------------------------------------------------------


@numba.njit(inline="always")
def _dot(A, i, B, j):
    """A[i] · B[j] (inlined: compiled with its caller's fastmath flags, so vectorised)."""
    v = A[i, 0] * B[j, 0]
    for q in range(1, A.shape[1]):
        v += A[i, q] * B[j, q]
    return v


@_jit
def sampled_dot(indptr, indices, A, B, out, lo, hi):
    """out[p] = A[i] · B[indices[p]] for the stored entries p of compressed rows lo ≤ i < hi."""
    nnz = indices.size
    for i in range(lo, hi):
        for p in range(indptr[i], indptr[i + 1]):
            if p + PREFETCH < nnz:  # written out here: as an inlined helper it ran 2x slower
                _prefetch_row(B, indices[p + PREFETCH])
            out[p] = _dot(A, i, B, indices[p])
    return out


@_jit
def kl_sparse_numerator(indptr, indices, data, A, B, tiny, out, lo, hi):
    """out[i] = Σ_p data[p] / max(A[i]·B[j], tiny) · B[j] over the stored entries of each row
    lo ≤ i < hi."""
    k = A.shape[1]
    nnz = indices.size
    for i in range(lo, hi):
        for q in range(k):
            out[i, q] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            if p + PREFETCH < nnz:
                _prefetch_row(B, indices[p + PREFETCH])
            j = indices[p]
            r = data[p] / max(_dot(A, i, B, j), tiny)
            for q in range(k):
                out[i, q] += r * B[j, q]
    return out


@_jit
def kl_sparse_xlogx(indptr, indices, data, A, B, out_rows, lo, hi):
    """out_rows[i] = Σ_p x_p log(x_p / (A[i]·B[j])) over the stored entries of each row
    lo ≤ i < hi (0 log 0 = 0).

    Accumulated in float64 whatever the dtype of the factors; the caller sums the rows.
    """
    nnz = indices.size
    for i in range(lo, hi):
        total = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            if p + PREFETCH < nnz:
                _prefetch_row(B, indices[p + PREFETCH])
            x = np.float64(data[p])  # float() would keep a float32 a float32
            if x > 0:
                total += x * math.log(x / np.float64(_dot(A, i, B, indices[p])))
        out_rows[i] = total
    return out_rows


__all__ = ["CACHING", "FASTMATH", "kl_sparse_numerator", "kl_sparse_xlogx", "sampled_dot"]
