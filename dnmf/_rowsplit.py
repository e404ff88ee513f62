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

The deep phase (Algorithm 1) is split the same way (:class:`RowSplitDeep`): every layer's
H_ℓ-step from the sums of its chunks' terms, then its W_ℓ-step (BSUM for ℓ < L, MU for ℓ = L)
on each chunk's rows, which it owns. (Before the float64 ω kernel was compiled, a chain of
short NumPy passes, two threads ran the deep sweep no faster than one.) The measurements
behind these choices are in ``bench/README.md``.

The iterates are the ones of :func:`dnmf.updates.update_H_mu` / :func:`update_W_mu` (β = 1) to
rounding: the H numerator is summed chunk by chunk, so the last bits depend on the number of
chunks (a run is reproducible bit for bit with the same number of threads).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from . import _kernels
from ._threads import _controllers, blas_threads, one_blas_thread  # noqa: F401 (used here)
from .updates import (
    MUWorkspace,
    apply_mu_step,
    apply_rowsum_step,
    deep_layer_errors,
    kl_error_and_H_terms,
    mu_terms_H,
    update_W_deep,
    update_W_mu,
)

__all__ = ["RowSplitDeep", "RowSplitKL", "blas_threads", "one_blas_thread", "use_deep_split",
           "use_row_split"]

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
        if with_error:  # Σ y log(y/v) + Σ v over the chunk (Σ Y is subtracted once, after)
            self._error_parts[k], self._numerator[k], self._colsum[k] = kl_error_and_H_terms(
                Yk, Wk, self.H, 0.0, ws)
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



def use_deep_split(X, Ws: list[np.ndarray], n_threads: int) -> bool:
    """Whether :class:`RowSplitDeep` applies to a deep fit and pays: two threads or more, and
    data with enough rows and entries (stored entries for sparse X)."""
    m = X.shape[0]
    entries = X.nnz if hasattr(X, "nnz") else X.size
    return (n_threads >= 2 and m >= 2 * MIN_ROWS and entries >= MIN_ENTRIES
            and all(W.flags.c_contiguous for W in Ws))


class RowSplitDeep:
    """Sweeps of Algorithm 1 (:func:`dnmf.models.deep.deep_sweep`) with the rows of every
    layer split between threads.

    The layers share the rows: chunk c owns rows c of X and of every W_ℓ. Per layer, each chunk
    computes its share of the H_ℓ-step's terms (:func:`dnmf.updates.mu_terms_H` on Y_c, W_ℓ,c),
    the main thread applies the H e = e step to their sums
    (:func:`dnmf.updates.apply_rowsum_step`), then each chunk updates its rows of W_ℓ
    (:func:`dnmf.updates.update_W_deep` with W̄_c = W_{ℓ+1,c} H_{ℓ+1}, or the MU for ℓ = L).
    As in ``deep_sweep``, W̄_c is the product W_{ℓ+1,c} H_{ℓ+1} that layer ℓ+1's H-step needs,
    and :meth:`errors` (every layer's error, each chunk its rows' share) keeps layer 1's
    H-step terms for the next sweep on dense data with β = 1.
    Call :meth:`sweep` and :meth:`errors` inside :func:`one_blas_thread`; the factors must be
    updated only in place (the chunks hold views of them) and only by :meth:`sweep`. Sparse X
    is sliced once (CSR rows per chunk); the compiled kernels run on one thread inside a chunk.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (m, n)
    Ws : the W_ℓ, C-contiguous, each of shape (m, r_ℓ); read, and later updated, in place
    n_threads : int, number of row chunks (one per thread)
    workspaces : the unsplit fit's workspaces (one per layer), for the H-step's buffers
    """

    def __init__(self, X, Ws: list[np.ndarray], n_threads: int,
                 workspaces: list[MUWorkspace]) -> None:
        self.rows = _row_chunks(X.shape[0], n_threads)
        self.X_chunks = [X[rows] for rows in self.rows]  # views (dense) or CSR copies (sparse)
        self.chunk_ws = [[MUWorkspace(self.X_chunks[c] if k == 0 else Ws[k - 1][rows],
                                      W.dtype) for c, rows in enumerate(self.rows)]
                         for k, W in enumerate(Ws)]
        self.workspaces = workspaces
        self._terms: list = [None] * len(self.rows)
        self._error_parts = np.zeros((len(self.rows), len(Ws)))
        self._dense = isinstance(X, np.ndarray)
        self._sum_x = [float(Xc.sum()) for Xc in self.X_chunks] if self._dense else None
        self._fresh = False  # whether self._terms are layer 1's H-step terms of the factors

    def sweep(self, Ws: list[np.ndarray], Hs: list[np.ndarray], beta: float,
              weights: np.ndarray, eps: float) -> None:
        """One outer iteration, in place on ``Ws`` and ``Hs`` (as ``deep_sweep``)."""
        n_layers, n_chunks = len(Ws), len(self.rows)
        for k in range(n_layers):
            if not (k == 0 and self._fresh):
                _run_chunks(functools.partial(self._h_terms, k, Ws, Hs, beta), n_chunks)
            self._fresh = False
            Q, P = self._terms[0]  # summed into chunk 0's buffers, which are its own
            for Qc, Pc in self._terms[1:]:
                Q += Qc
                P += Pc
            apply_rowsum_step(Hs[k], Q, P, beta, eps, out=Hs[k], workspace=self.workspaces[k])
            ratio = float(weights[k + 1] / weights[k]) if k < n_layers - 1 else 0.0
            _run_chunks(functools.partial(self._w_step, k, Ws, Hs, beta, ratio, eps), n_chunks)

    def errors(self, Ws: list[np.ndarray], Hs: list[np.ndarray], beta: float) -> np.ndarray:
        """[D_β(W_{ℓ-1}, W_ℓ H_ℓ) for every layer], summed over the chunks' rows."""
        _run_chunks(functools.partial(self._chunk_errors, Ws, Hs, beta), len(self.rows))
        self._fresh = beta == 1 and self._dense
        return self._error_parts.sum(axis=0)

    def _data(self, k: int, Ws: list[np.ndarray], c: int):
        return self.X_chunks[c] if k == 0 else Ws[k - 1][self.rows[c]]

    def _h_terms(self, k: int, Ws, Hs, beta: float, c: int) -> None:
        # Q is a view of the chunk's own workspace buffer, used (summed) before its next step;
        # for ℓ ≥ 2 the product W_ℓ,c H_ℓ is already in the workspace (the W̄ of layer ℓ-1)
        ws = self.chunk_ws[k][c]
        V = None if k == 0 else ws.buffer("V", ws.shape)
        with _kernels.threads(1):
            self._terms[c] = mu_terms_H(self._data(k, Ws, c), Ws[k][self.rows[c]], Hs[k], beta,
                                        V=V, workspace=ws)

    def _w_step(self, k: int, Ws, Hs, beta: float, ratio: float, eps: float, c: int) -> None:
        rows, ws = self.rows[c], self.chunk_ws[k][c]
        Wc = Ws[k][rows]
        with _kernels.threads(1):
            if k < len(Ws) - 1:
                W_bar = np.matmul(Ws[k + 1][rows], Hs[k + 1],
                                  out=self.chunk_ws[k + 1][c].buffer("V", Wc.shape))
                update_W_deep(self._data(k, Ws, c), Wc, Hs[k], W_bar, ratio, beta, eps,
                              out=Wc, workspace=ws)
            else:
                update_W_mu(self._data(k, Ws, c), Wc, Hs[k], beta, eps, out=Wc, workspace=ws)

    def _chunk_errors(self, Ws, Hs, beta: float, c: int) -> None:
        rows = self.rows[c]
        with _kernels.threads(1):
            self._error_parts[c], terms = deep_layer_errors(
                self.X_chunks[c], [W[rows] for W in Ws], Hs, beta,
                [ws[c] for ws in self.chunk_ws], self._sum_x[c] if self._dense else 0.0)
        if terms is not None:
            self._terms[c] = terms
