"""The sparse KL kernels split between threads (dnmf._kernels: row ranges of equal numbers of
stored entries, one thread each) against their reference formulas, with 1 and 2 threads,
float32 and float64, on a sparse X and on a dense one stored sparse; results bit-identical
whatever the thread count, and seeded fits reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from dnmf import _kernels, _rowsplit
from dnmf.models.multilayer import nmf_mu

pytestmark = pytest.mark.skipif(_kernels.kernels_backend() != "numba",
                                reason="numba is not installed: no compiled kernels to split")

DTYPES = [np.float64, np.float32]
# Relative tolerance against the float64 dense formula: float32 rounding of the inputs,
# amplified by sums of up to ~40 terms (as in tests/test_kernels.py).
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch):
    """Split from 64 stored entries per thread, so that small test matrices are split."""
    monkeypatch.setattr(_kernels, "MIN_NNZ_PER_THREAD", 64)


@pytest.fixture
def split_counter(monkeypatch):
    """Counts the kernel calls that were split between threads."""
    calls = []
    original = _rowsplit._run_chunks

    def counting(work, n_chunks):
        calls.append(n_chunks)
        return original(work, n_chunks)

    monkeypatch.setattr(_rowsplit, "_run_chunks", counting)
    return calls


def _problem(rng, dtype, kind, m=150, n=120, r=7):
    if kind == "sparse":
        X = sp.random(m, n, density=0.2, format="csr", random_state=rng, dtype=np.float64)
        X.data = 1.0 + np.floor(3 * X.data)
        X = X.tolil()
        X[3, :] = 0  # an empty row and an empty column
        X[:, 5] = 0
        X = sp.csr_array(X)
        X.eliminate_zeros()
    else:  # every entry stored
        X = sp.csr_array(rng.random((m, n)) + 0.01)
        assert X.nnz == m * n
    X = sp.csr_array(X.astype(dtype))
    W = (rng.random((m, r)) + 0.05).astype(dtype)
    H = (rng.random((r, n)) + 0.05).astype(dtype)
    return X, W, H


def _all_kernels(X, W, H):
    S = _kernels.SparseKL(X)
    Ht = np.ascontiguousarray(H.T)
    return (_kernels.sampled_dot(S, W, Ht), _kernels.kl_numerator_W(S, W, Ht),
            _kernels.kl_numerator_Ht(S, W, Ht), _kernels.kl_sparse_xlogx(S, W, Ht))


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("kind", ["sparse", "dense"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_split_kernels_equal_their_formulas(rng, dtype, kind, n_threads, split_counter):
    X, W, H = _problem(rng, dtype, kind)
    with _kernels.threads(n_threads):
        assert _kernels.kernel_threads() == n_threads
        values, QW, QHt, data_term = _all_kernels(X, W, H)
    # one split per kernel call with two threads (four calls), none with one
    assert split_counter == ([2] * 4 if n_threads == 2 else [])

    V = W.astype(np.float64) @ H.astype(np.float64)
    Xd = X.toarray().astype(np.float64)
    rows, cols = X.nonzero()
    mask = Xd > 0
    ratio = np.where(mask, Xd / V, 0.0)
    assert values.dtype == QW.dtype == QHt.dtype == dtype
    np.testing.assert_allclose(values, V[rows, cols], rtol=RTOL[dtype])
    np.testing.assert_allclose(QW, ratio @ H.T.astype(np.float64), rtol=RTOL[dtype] * 10)
    np.testing.assert_allclose(QHt, ratio.T @ W.astype(np.float64), rtol=RTOL[dtype] * 10)
    ref = float(np.sum(np.where(mask, Xd * np.log(np.where(mask, Xd, 1.0) / V), 0.0)))
    assert data_term == pytest.approx(ref, rel=RTOL[dtype] * 10, abs=RTOL[dtype] * Xd.sum())


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_are_bit_identical_for_any_thread_count(rng, dtype):
    """Each output row is computed by one thread in a fixed order: reruns and thread counts
    give the same bits."""
    X, W, H = _problem(rng, dtype, "sparse")
    runs = []
    for n_threads in (1, 2, 2, 1):
        with _kernels.threads(n_threads):
            runs.append(_all_kernels(X, W, H))
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            np.testing.assert_array_equal(a, b)


def test_row_ranges_balance_stored_entries():
    indptr = np.array([0, 100, 100, 101, 102, 300, 301, 400], dtype=np.int64)
    ranges = _kernels._row_ranges(indptr, 2)
    assert ranges == [(0, 4), (4, 7)]  # 102 and 298 entries: the boundary nearest 200
    assert _kernels._row_ranges(indptr, 1) == [(0, 7)]
    assert _kernels._row_ranges(indptr[:3], 2) == [(0, 2)]  # 100 entries: too few to split
    # the ranges cover every row once, in order, whatever the count
    for n in (2, 3, 5, 8):
        r = _kernels._row_ranges(indptr, n)
        assert r[0][0] == 0 and r[-1][1] == 7
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(r, r[1:]))


def test_kernel_threads_follow_blas_unless_set():
    with threadpool_limits(limits=1, user_api="blas"):
        assert _kernels.kernel_threads() == 1
        with _kernels.threads(2):
            assert _kernels.kernel_threads() == 2
            with _kernels.threads(None):  # back to BLAS's count
                assert _kernels.kernel_threads() == 1
        assert _kernels.kernel_threads() == 1
    with _kernels.threads(64):  # never more than the cores
        assert _kernels.kernel_threads() == min(64, __import__("os").cpu_count())


def test_threads_is_per_calling_thread():
    import threading

    seen = []
    with _kernels.threads(1):
        worker = threading.Thread(target=lambda: seen.append(getattr(_kernels._THREADS, "n",
                                                                       None)))
        worker.start()
        worker.join()
    assert seen == [None]


@pytest.mark.parametrize("dtype", DTYPES)
def test_seeded_sparse_fits_are_reproducible(rng, dtype):
    X, W, H = _problem(rng, dtype, "sparse")
    fits = []
    for n_threads in (2, 2, 1):
        with _kernels.threads(n_threads):
            fits.append(nmf_mu(X, W.copy(), H.copy(), 1.0, 15, order="WH"))
    for fit in fits[1:]:
        np.testing.assert_array_equal(fits[0][0], fit[0])
        np.testing.assert_array_equal(fits[0][1], fit[1])


def test_a_kernel_failing_in_a_worker_falls_back_to_numpy(monkeypatch, rng):
    from numba.core.errors import TypingError

    module = _kernels._numba()

    class FailsAboveRowZero:
        def __getattr__(self, name):
            kernel = getattr(module, name)

            def run(*args):
                if args[-2] > 0:  # the second range, run by the worker thread
                    raise TypingError("simulated")
                return kernel(*args)
            return run

    monkeypatch.setitem(_kernels._state, "module", FailsAboveRowZero())
    X, W, H = _problem(rng, np.float64, "sparse")
    Ht = np.ascontiguousarray(H.T)
    with _kernels.threads(2), pytest.warns(RuntimeWarning, match="compiled kernels failed"):
        QW = _kernels.kl_numerator_W(X, W, Ht)
    V = W @ H
    Xd = X.toarray()
    np.testing.assert_allclose(QW, np.where(Xd > 0, Xd / V, 0) @ H.T, rtol=1e-12)
    assert _kernels.kernels_backend() == "numpy"
