"""Dense KL-MU iterations with the rows of the data split between threads.

One KL-MU iteration on a dense layer Y ≈ WH (Y of shape m×n) is four matrix products and a few
elementwise passes over m×n arrays (Y / WH twice). BLAS parallelises the products but not the
passes between them, and a multi-threaded BLAS keeps its threads spinning after every product,
so NumPy work split between Python threads in between only competes with them (measured here:
7-10 % slower). This module splits the whole iteration instead: thread k owns the rows Y_k, W_k
of its chunk and runs everything on them with a one-thread BLAS —

    W_k ← W_k ⊙ ((Y_k ⊘ W_k H) Hᵀ) ⊘ (e Hᵀ)            (the W-update is row-separable)
    N_k = W_kᵀ (Y_k ⊘ W_k H),  c_k = W_kᵀ e            (its share of the H numerator)

— and the main thread then updates H from the sums Σ_k N_k and Σ_k c_k. NumPy and BLAS release
the GIL, so the chunks run on separate cores; on this 2-core machine two such threads ran the
products 1.96× and the divisions 1.95× faster than one.

The deep phase (Algorithm 1) is not split: its ω kernel is a chain of ~40 NumPy passes
over blocks of 32 768 entries, each allocating its result, and two threads running it ran no
faster than one (measured 0.98-1.06×: the allocator and the GIL between the short passes
serialise them), so a split deep sweep measured slower than the one-thread sweep whose
products use both BLAS threads.

The iterates are the ones of :func:`dnmf.updates.update_H_mu` / :func:`update_W_mu` (β = 1) to
rounding: the H numerator is summed chunk by chunk, so the last bits depend on the number of
chunks (a run is reproducible bit for bit with the same number of threads).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager

import numpy as np

from .divergence import _sum_xlog_ratio

__all__ = ["RowSplitKL", "blas_threads", "one_blas_thread", "use_row_split"]

#: Smallest layer split between threads (entries of Y): below it the hand-over to a worker
#: thread (tens of µs) outweighs what the second core saves.
MIN_ENTRIES = 1 << 17
#: Fewest rows per chunk (BLAS is inefficient on thinner blocks).
MIN_ROWS = 128

_POOL: ThreadPoolExecutor | None = None
_POOL_PID = 0
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()
_BLAS: list = []  # threadpoolctl's controllers of the loaded BLAS libraries, looked up once


def _controllers() -> list:
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append([c for c in ThreadpoolController().lib_controllers
                          if c.user_api == "blas"])
        except Exception:  # threadpoolctl missing or failing: behave as a one-thread BLAS
            _BLAS.append([])
    return _BLAS[0]


def blas_threads() -> int:
    """Threads numpy's BLAS would use now (threadpoolctl), at most ``os.cpu_count()``."""
    counts = []
    for controller in _controllers():
        try:
            counts.append(int(controller.num_threads))
        except Exception:
            pass
    return max(1, min(max(counts, default=1), os.cpu_count() or 1))


_LIMIT_LOCK = threading.Lock()
_LIMIT_USERS = 0
_LIMIT_SAVED: list = []  # (controller, threads it had) from the first of the current users


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread inside the block (restored after).

    The setting is process-wide, as BLAS's: fits run at once in several threads of one process
    share it; the first to enter saves the thread counts and the last to leave restores them.
    A fit's callback runs inside it (with one BLAS thread). Interleaving it in other threads
    with ``threadpoolctl.threadpool_limits`` blocks, which keep no such count, can leave
    BLAS limited: limit a whole program to one thread rather than parts of it concurrently.
    """
    global _LIMIT_USERS
    with _LIMIT_LOCK:
        if _LIMIT_USERS == 0:
            _LIMIT_SAVED.clear()
            for controller in _controllers():
                try:
                    _LIMIT_SAVED.append((controller, controller.num_threads))
                    controller.set_num_threads(1)
                except Exception:
                    pass
        _LIMIT_USERS += 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT_USERS -= 1
            if _LIMIT_USERS == 0:
                for controller, n in _LIMIT_SAVED:
                    try:
                        controller.set_num_threads(n)
                    except Exception:
                        pass


def use_row_split(Y, beta: float, n_threads: int) -> bool:
    """Whether :class:`RowSplitKL` applies to a layer and pays: β = 1, dense Y, two threads
    or more, and a layer large enough."""
    return (beta == 1 and isinstance(Y, np.ndarray) and Y.ndim == 2 and n_threads >= 2
            and Y.size >= MIN_ENTRIES and Y.shape[0] >= 2 * MIN_ROWS)


def _pool(workers: int) -> ThreadPoolExecutor:
    """The worker threads (made anew after a fork: a forked child has none of its parent's
    threads, and work submitted to the parent's pool would never run)."""
    global _POOL, _POOL_PID, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid() or _POOL_SIZE < workers:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dnmf-rows")
            _POOL_PID, _POOL_SIZE = os.getpid(), workers
        return _POOL


def _row_chunks(m: int, n_threads: int) -> list[slice]:
    """At most ``n_threads`` consecutive row ranges of ``m`` rows, each ≥ MIN_ROWS if possible."""
    n_chunks = max(1, min(int(n_threads), m // MIN_ROWS))
    bounds = np.linspace(0, m, n_chunks + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _run_chunks(work: Callable[[int], None], n_chunks: int) -> None:
    """``work(k)`` for k < n_chunks at once, chunk 0 in this thread; waits for all of them.

    NumPy's error state of the caller applies in the workers; an exception in any chunk is
    raised here once every chunk has finished.
    """
    if n_chunks == 1:
        work(0)
        return
    errstate = np.geterr()

    def in_worker(k: int) -> None:
        with np.errstate(**errstate):
            work(k)

    futures = [_pool(n_chunks - 1).submit(in_worker, k) for k in range(1, n_chunks)]
    try:
        work(0)
    finally:
        _wait_for_all(futures)
    for future in futures:
        future.result()


def _wait_for_all(futures: list) -> None:
    """Wait until every future is done, even through a KeyboardInterrupt (re-raised after):
    the caller must not go on while a worker still writes into its arrays."""
    interrupt: BaseException | None = None
    pending = list(futures)
    while pending:
        try:
            wait(pending)
        except BaseException as exc:  # Ctrl-C while waiting: wait again, then raise it
            interrupt = interrupt or exc
        pending = [future for future in pending if not future.done()]
    if interrupt is not None:
        raise interrupt


def _ratio_and_error(Yk: np.ndarray, Wk: np.ndarray, H: np.ndarray, V: np.ndarray,
                     log_buffer: np.ndarray | None) -> float:
    """V ← Y_k ⊘ (W_k H); with ``log_buffer``, returns Σ y log(y/v) + Σ v over the chunk
    (its share of D_KL(Y | WH) + Σ y), else 0."""
    np.matmul(Wk, H, out=V)
    if log_buffer is None:
        np.divide(Yk, V, out=V)
        return 0.0
    sum_v = float(V.sum())
    np.divide(Yk, V, out=V)
    return _sum_xlog_ratio(Yk, V, log_buffer) + sum_v


class RowSplitKL:
    """KL-MU iterations (β = 1) on a dense layer Y ≈ WH, its rows split between threads.

    ``W`` and ``H`` are updated in place. Call the iterations inside :func:`one_blas_thread`
    (each chunk runs its products on one BLAS thread; the chunks are the parallelism). The
    object keeps state between calls (the H numerator of the current factors, Σ Y): change
    ``Y``, ``W`` or ``H`` only through it. After a step fails or is interrupted it refuses
    further steps (the factors may be half-updated).

    Parameters
    ----------
    Y : ndarray of shape (m, n), dense, nonnegative
    W : ndarray of shape (m, r), C-contiguous, positive; updated in place
    H : ndarray of shape (r, n), positive; updated in place
    eps : float, floor of the factors (ε)
    n_threads : int, number of row chunks (one per thread)
    """

    def __init__(self, Y: np.ndarray, W: np.ndarray, H: np.ndarray, eps: float,
                 n_threads: int) -> None:
        m, n = Y.shape
        r = W.shape[1]
        dtype = W.dtype
        self.rows = _row_chunks(m, n_threads)
        self.Y, self.W, self.H, self.eps = Y, W, H, eps
        self.tiny = np.finfo(dtype).tiny
        self._V = [np.empty((s.stop - s.start, n), dtype=dtype) for s in self.rows]
        self._QW = [np.empty((s.stop - s.start, r), dtype=dtype) for s in self.rows]
        self._numerator = [np.empty((r, n), dtype=dtype) for _ in self.rows]
        self._colsum = [np.empty(r, dtype=dtype) for _ in self.rows]
        self._colmax = [np.empty(r, dtype=dtype) for _ in self.rows]
        self._numerator_sum = np.empty((r, n), dtype=dtype)
        self._colsum_sum = np.empty(r, dtype=dtype)
        self._error_parts = [0.0] * len(self.rows)
        self._log_buffers: list[np.ndarray] = []
        self._Ht = np.empty((n, r), dtype=dtype)
        self._row_sums_H = np.empty((1, r), dtype=dtype)
        self._divide_W_by: np.ndarray | None = None  # column scaling still to apply to W
        self._fresh = False  # whether the numerator chunks belong to the current W and H
        self._failed = False  # a step failed: W and H may be half-updated
        self._sum_y = float(Y.sum())
        #: seconds of the error's extra passes in the caller's chunk (about the wall time)
        self.eval_seconds = 0.0

    # --- the work of one chunk (runs in its thread) ----------------------------------------

    def _w_update(self, k: int) -> None:
        """W_k ← max(ε, W_k ⊙ ((Y_k ⊘ W_k H) Hᵀ) ⊘ max(e Hᵀ, tiny))."""
        s = self.rows[k]
        Wk, V, Q = self.W[s], self._V[k], self._QW[k]
        np.matmul(Wk, self.H, out=V)
        np.divide(self.Y[s], V, out=V)
        np.matmul(V, self._Ht, out=Q)
        np.divide(Q, self._row_sums_H, out=Q)
        np.multiply(Wk, Q, out=Wk)
        np.maximum(Wk, self.eps, out=Wk)

    def _h_numerator(self, k: int, with_error: bool) -> None:
        """N_k = W_kᵀ (Y_k ⊘ W_k H), c_k = W_kᵀ e, and with_error the chunk's share of
        D_KL(Y | WH); first applies a pending column rescaling of W."""
        s = self.rows[k]
        Wk, V = self.W[s], self._V[k]
        if self._divide_W_by is not None:
            np.divide(Wk, self._divide_W_by, out=Wk)
        t0 = time.perf_counter()
        log_buffer = self._log_buffers[k] if with_error else None
        self._error_parts[k] = _ratio_and_error(self.Y[s], Wk, self.H, V, log_buffer)
        if with_error and k == 0:  # the chunks run at once: the caller's chunk ≈ wall time
            self.eval_seconds += time.perf_counter() - t0
        np.matmul(Wk.T, V, out=self._numerator[k])
        np.sum(Wk, axis=0, out=self._colsum[k])

    def _run(self, work: Callable[[int], None]) -> None:
        """``work`` on every chunk; after a failure (or Ctrl-C) in any chunk the factors may be
        half-updated, so the object refuses further steps."""
        if self._failed:
            raise RuntimeError("a previous step of this RowSplitKL failed or was interrupted: "
                               "W and H may be half-updated; start again from saved factors")
        try:
            _run_chunks(work, len(self.rows))
        except BaseException:
            self._failed = True
            raise

    # --- the main thread's part ------------------------------------------------------------

    def _prepare_W_update(self) -> None:
        np.copyto(self._Ht, self.H.T)
        np.maximum(self.H.sum(axis=1)[None, :], self.tiny, out=self._row_sums_H)

    def _refresh_numerator(self, with_error: bool) -> float | None:
        if with_error and not self._log_buffers:
            self._log_buffers = [np.empty_like(V) for V in self._V]
        self._run(lambda k: self._h_numerator(k, with_error))
        self._divide_W_by = None
        self._fresh = True
        return sum(self._error_parts) - self._sum_y if with_error else None

    def _h_update(self) -> None:
        """H ← max(ε, H ⊙ (Σ_k N_k) ⊘ max(Σ_k c_k, tiny))."""
        numerator, colsum = self._numerator_sum, self._colsum_sum
        np.copyto(numerator, self._numerator[0])
        np.copyto(colsum, self._colsum[0])
        for N, c in zip(self._numerator[1:], self._colsum[1:]):
            numerator += N
            colsum += c
        np.maximum(colsum, self.tiny, out=colsum)
        numerator /= colsum[:, None]
        self.H *= numerator
        np.maximum(self.H, self.eps, out=self.H)
        self._fresh = False

    def error(self) -> float:
        """D_KL(Y | WH) for the current factors (also prepares the next H-update)."""
        return float(self._refresh_numerator(with_error=True))

    def iterate(self, order: str = "HW", rescale: bool = False,
                evaluate: bool = False) -> float | None:
        """One MU iteration; returns D_KL(Y | WH) after it when ``evaluate``.

        Parameters
        ----------
        order : {"HW", "WH"}, which factor is updated first
        rescale : bool
            Afterwards, divide the columns of W by their maxima and multiply the rows of H by
            them (WH unchanged), as :func:`dnmf.models.multilayer.fit_multilayer` does.
        evaluate : bool, return the error of the factors after the iteration
        """
        if order == "HW":
            if not self._fresh:
                self._refresh_numerator(with_error=False)
            self._h_update()
            self._prepare_W_update()
            if rescale:
                self._run(self._w_update_and_colmax)
                self._rescale()
                return self._refresh_numerator(with_error=evaluate)
            self._run(self._w_update)
            return self._refresh_numerator(with_error=evaluate)
        if order != "WH":
            raise ValueError(f"order must be 'HW' or 'WH', got {order!r}")
        self._prepare_W_update()
        self._run(lambda k: (self._w_update(k), self._h_numerator(k, False)))
        self._divide_W_by = None
        self._h_update()
        if rescale:
            self._run(self._colmax_only)
            self._rescale()
            self._run(self._apply_pending_scale)
            self._divide_W_by = None
        return self.error() if evaluate else None

    def _w_update_and_colmax(self, k: int) -> None:
        self._w_update(k)
        self._colmax_only(k)

    def _colmax_only(self, k: int) -> None:
        np.max(self.W[self.rows[k]], axis=0, out=self._colmax[k])

    def _apply_pending_scale(self, k: int) -> None:
        np.divide(self.W[self.rows[k]], self._divide_W_by, out=self.W[self.rows[k]])

    def _rescale(self) -> None:
        """Column maxima D of W: H ← D H now, W ← W D⁻¹ in the chunks' next pass."""
        col_max = self._colmax[0].copy()
        for c in self._colmax[1:]:
            np.maximum(col_max, c, out=col_max)
        col_max = np.where(col_max > 0, col_max, 1.0).astype(self.W.dtype, copy=False)
        self.H *= col_max[:, None]
        self._divide_W_by = col_max

