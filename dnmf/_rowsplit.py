"""Dense KL-MU iterations with the rows of the data split between threads.

One KL-MU iteration on a dense layer Y ≈ WH (Y of shape m×n) is four matrix products and a few
elementwise passes over m×n arrays (Y / WH twice). BLAS parallelises the products but not the
passes between them, and a multi-threaded BLAS keeps its threads spinning after every product,
so NumPy work split between Python threads in between only competes with them. This module
splits the whole iteration instead: thread k owns the rows Y_k, W_k of its chunk and runs the
steps of :mod:`dnmf.updates` on them with a one-thread BLAS —

    W_k ← update_W_mu(Y_k, W_k, H)                      (the W-update is row-separable)
    N_k, c_k = mu_terms_H(Y_k, W_k, H)                  (its share of the H-step's terms)

— and the main thread then applies the H-step (:func:`dnmf.updates.apply_mu_step`) to the sums
Σ_k N_k and Σ_k c_k. It is a way of running the step on chunks, not a second formula. NumPy and
BLAS release the GIL, so the chunks run on separate cores.

The deep phase (Algorithm 1) is not split: its ω kernel is a chain of short NumPy passes that
two threads ran no faster than one. The measurements behind both choices are in
``bench/README.md``.

The iterates are the ones of :func:`dnmf.updates.update_H_mu` / :func:`update_W_mu` (β = 1) to
rounding: the H numerator is summed chunk by chunk, so the last bits depend on the number of
chunks (a run is reproducible bit for bit with the same number of threads).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from ._threads import _controllers, blas_threads, one_blas_thread  # noqa: F401 (used here)
from .divergence import _sum_xlog_ratio
from .updates import MUWorkspace, apply_mu_step, mu_terms_H, update_W_mu

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
        self._ws = [MUWorkspace(Y[s], dtype) for s in self.rows]  # each chunk's buffers
        self._numerator: list = [None] * len(self.rows)  # views of the chunks' buffers
        self._colsum: list = [None] * len(self.rows)
        self._colmax = [np.empty(r, dtype=dtype) for _ in self.rows]
        self._numerator_sum = np.empty((r, n), dtype=dtype)
        self._colsum_sum = np.empty((r, 1), dtype=dtype)
        self._error_parts = [0.0] * len(self.rows)
        self._log_buffers: list[np.ndarray] = []
        self._divide_W_by: np.ndarray | None = None  # column scaling still to apply to W
        self._fresh = False  # whether the numerator chunks belong to the current W and H
        self._failed = False  # a step failed: W and H may be half-updated
        self._sum_y = float(Y.sum())
        #: seconds of the error's extra passes in the caller's chunk (about the wall time)
        self.eval_seconds = 0.0

    # --- the work of one chunk (runs in its thread) ----------------------------------------

    def _w_update(self, k: int) -> None:
        """W_k ← the β = 1 MU step of :func:`dnmf.updates.update_W_mu` on the chunk's rows
        (the W-update is row-separable)."""
        s = self.rows[k]
        update_W_mu(self.Y[s], self.W[s], self.H, 1.0, self.eps, out=self.W[s],
                    workspace=self._ws[k])

    def _h_numerator(self, k: int, with_error: bool) -> None:
        """The chunk's share of the H-step's terms, :func:`dnmf.updates.mu_terms_H` on its
        rows (N_k = W_kᵀ (Y_k ⊘ W_k H), c_k = W_kᵀ e), and with_error its share of
        D_KL(Y | WH); first applies a pending column rescaling of W."""
        s = self.rows[k]
        Yk, Wk, ws = self.Y[s], self.W[s], self._ws[k]
        if self._divide_W_by is not None:
            np.divide(Wk, self._divide_W_by, out=Wk)
        t0 = time.perf_counter()
        if with_error:  # Σ y log(y/v) + Σ v over the chunk, from the ratio the step needs
            V = np.matmul(Wk, self.H, out=ws.buffer("V", Yk.shape))
            sum_v = float(V.sum())
            self._numerator[k], self._colsum[k] = mu_terms_H(Yk, Wk, self.H, 1.0, V=V,
                                                             workspace=ws)
            self._error_parts[k] = _sum_xlog_ratio(Yk, V, self._log_buffers[k]) + sum_v
            if k == 0:  # the chunks run at once: the caller's chunk ≈ wall time
                self.eval_seconds += time.perf_counter() - t0
        else:
            self._numerator[k], self._colsum[k] = mu_terms_H(Yk, Wk, self.H, 1.0, workspace=ws)

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

    def _refresh_numerator(self, with_error: bool) -> float | None:
        if with_error and not self._log_buffers:
            self._log_buffers = [np.empty((s.stop - s.start, self.Y.shape[1]), self.W.dtype)
                                 for s in self.rows]
        self._run(lambda k: self._h_numerator(k, with_error))
        self._divide_W_by = None
        self._fresh = True
        return sum(self._error_parts) - self._sum_y if with_error else None

    def _h_update(self) -> None:
        """H ← the MU step (:func:`dnmf.updates.apply_mu_step`) with the terms summed over
        the chunks, Σ_k N_k and Σ_k c_k."""
        numerator, colsum = self._numerator_sum, self._colsum_sum
        np.copyto(numerator, self._numerator[0])
        np.copyto(colsum, self._colsum[0])
        for N, c in zip(self._numerator[1:], self._colsum[1:]):
            numerator += N
            colsum += c
        apply_mu_step(self.H, numerator, colsum, 1.0, self.eps, out=self.H)
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
            if rescale:
                self._run(self._w_update_and_colmax)
                self._rescale()
                return self._refresh_numerator(with_error=evaluate)
            self._run(self._w_update)
            return self._refresh_numerator(with_error=evaluate)
        if order != "WH":
            raise ValueError(f"order must be 'HW' or 'WH', got {order!r}")
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

