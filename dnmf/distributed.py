r"""Multilayer and deep β-NMF on a ``dask.array.Array`` chunked along its long side.

Two layouts: X split into row blocks (:class:`DaskBackend`; samples × features with many
samples, e.g. images × pixels) or into column blocks (:class:`DaskColumnBackend`; the
project's orientation for spectra, bands × pixels, and text, words × documents). A Dask X
with several row chunks, or as tall as wide, takes the first; several column chunks, or wider
than tall, the second (the other axis is rechunked to one chunk).

Row blocks
----------
X (m × n) is split into row blocks X_c (dense NumPy or SciPy sparse chunks; a chunk of the
``sparse`` package is converted to CSR). Every long factor W_ℓ (m × r_ℓ) is split the same way
and its block W_ℓ,c lives on the worker that holds X_c; the small factors H_ℓ (r_ℓ × n and
r_ℓ × r_{ℓ-1}) live on the driver. Every update is then either row-local or a sum over blocks:

* the H-steps need :math:`Q = W^\top (Y \odot V^{\beta-2}) = \sum_c W_c^\top (Y_c \odot
  V_c^{\beta-2})` and :math:`P = \sum_c W_c^\top V_c^{\beta-1}` (for β = 1, :math:`W^\top e`;
  for β = 2, the Gram :math:`\sum_c W_c^\top W_c`): each block sends r×n (or r×r) numbers,
  the driver adds them and takes the step. The row-sum multiplier of H_ℓ e = e is then found on
  the driver from the summed Q and P (its Newton iterations need no further communication:
  the sums over j run along the rows of the small H);
* the W-steps (β-MU, and the deep BSUM step with :math:`\bar W = W_{\ell+1} H_{\ell+1}`) are
  row-local: each block gets the new small factors (r×n) and updates its W_ℓ,c in place on its
  worker;
* the multilayer rescaling needs the column maxima (r numbers per block), the errors one
  number per block and layer.

So one outer iteration moves O(chunks · r · n) numbers, independent of m. The updates are
those of :mod:`dnmf.updates` applied blockwise (same order, same ε floor), so a fit from the
same initial factors equals the in-memory fit up to the rounding of the block sums.

Column blocks are described at :class:`DaskColumnBackend`: there H_1 is the long factor and
its row-sum multiplier needs one reduction per Newton step, batched over all rows.

Random initial factors are drawn on the driver in row blocks from the estimator's generator
(the same stream as the in-memory fit: the long factor passes through the driver once, at
initialisation) and sent to the blocks' workers.

With a ``dask.distributed`` client (``distributed.default_client()``, or ``client=`` to
:class:`DaskBackend`) the blocks stay on the cluster's workers; without one, X's blocks are
computed with Dask's default scheduler and the same blockwise solver runs in this process.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _kernels
from .divergence import beta_divergence
from .init import _random_factors_kl
from .updates import (
    _floor,
    _mu_step,
    _newton_mu,
    _stationarity,
    _t_of_mu,
    deep_W_closed_form,
    deep_W_root_solve,
    mu_terms_H,
    mu_terms_W,
    sum_to_one_update,
    update_H_mu,
    update_H_rowsum,
    update_W_deep,
    update_W_mu,
)

__all__ = ["DaskBackend", "DaskColumnBackend", "Blocks"]


# ---------------------------------------------------------------------------------------------
# Block functions (run on the workers; NumPy/SciPy only)
# ---------------------------------------------------------------------------------------------


class _SparseBlock:
    """A CSR row block prepared for the sparse KL kernels (its CSC form is built on first use
    and then kept on the worker with the block)."""

    def __init__(self, csr) -> None:
        self.kl = _kernels.SparseKL(csr)
        self.csr = self.kl.csr

    @property
    def shape(self):
        return self.csr.shape


def _as_block(block, dtype, dense: bool):
    """A chunk of X as a C-ordered float array, or a _SparseBlock (CSR, duplicates summed)."""
    if hasattr(block, "tocsr") and not sp.issparse(block):  # pydata/sparse COO, GCXS
        block = block.tocsr()
    if sp.issparse(block):
        csr = sp.csr_array(block, dtype=dtype, copy=True)
        csr.sum_duplicates()
        if dense:
            return np.ascontiguousarray(csr.toarray())
        return _SparseBlock(csr)
    return np.array(block, dtype=dtype, order="C", copy=True)


def _values(Y):
    return Y.csr.data if isinstance(Y, _SparseBlock) else Y


def _block_stats(Y) -> np.ndarray:
    """[all finite, min, max, any zero entry, sum, rows, nnz-or-size, columns] of a block."""
    v = _values(Y)
    size = Y.shape[0] * Y.shape[1]
    if v.size == 0:
        return np.array([1.0, 0.0, 0.0, float(size > 0), 0.0, Y.shape[0], 0, Y.shape[1]])
    zero = float(np.any(v == 0) or v.size < size)
    return np.array([float(np.all(np.isfinite(v))), float(v.min()), float(v.max()), zero,
                     float(v.sum()), Y.shape[0], v.size, Y.shape[1]])


def _block_scale(Y, s: float):
    if isinstance(Y, _SparseBlock):
        csr = Y.csr.copy()
        csr.data /= s
        return _SparseBlock(csr)
    return Y / s


def _block_sum(Y) -> float:
    return float(_values(Y).sum())


def _dense_or_csr(Y):
    return Y.csr if isinstance(Y, _SparseBlock) else Y


def _block_terms_H(Y, W, H, beta: float):
    """This block's part of (Q, P) of the H-step (β = 2: P is the Gram W_cᵀ W_c)."""
    if isinstance(Y, _SparseBlock) and beta == 1:
        Ht = np.ascontiguousarray(H.T)
        return _kernels.kl_numerator_Ht(Y.kl, W, Ht).T, W.sum(axis=0)[:, None]
    if beta == 2:
        Yd = _dense_or_csr(Y)
        Q = np.asarray((Yd.T @ W).T) if sp.issparse(Yd) else W.T @ Yd
        return Q, W.T @ W
    return mu_terms_H(_dense_or_csr(Y), W, H, beta)


def _block_W_mu(Y, W, H, beta: float, eps: float):
    if isinstance(Y, _SparseBlock) and beta == 1:
        Q = _kernels.kl_numerator_W(Y.kl, W, np.ascontiguousarray(H.T))
        return _floor(_mu_step(W, Q, H.sum(axis=1)[None, :], beta), eps)
    return update_W_mu(_dense_or_csr(Y), W, H, beta, eps)


def _block_W_deep(Y, W, H, W_next, H_next, lam: float, beta: float, eps: float):
    W_bar = W_next @ H_next
    if isinstance(Y, _SparseBlock) and beta == 1:  # update_W_deep's β = 1 branch, fused kernel
        Q = _kernels.kl_numerator_W(Y.kl, W, np.ascontiguousarray(H.T))
        np.maximum(W_bar, eps, out=W_bar)
        return _floor(_kernels.deep_w_kl(W, Q, H.sum(axis=1)[None, :], W_bar, lam), eps)
    return update_W_deep(_dense_or_csr(Y), W, H, W_bar, lam, beta, eps)


def _block_error(Y, W, H, beta: float) -> float:
    if isinstance(Y, _SparseBlock) and beta == 1:
        total_v = float(W.sum(axis=0) @ H.sum(axis=1))
        data = _kernels.kl_sparse_xlogx(Y.kl, W, np.ascontiguousarray(H.T))
        return float(data - Y.csr.data.sum() + total_v)
    return beta_divergence(_dense_or_csr(Y), W, H, beta)


def _block_deep_errors(X, Hs, beta: float, *Ws) -> np.ndarray:
    return np.array([_block_error(X if i == 0 else Ws[i - 1], Ws[i], Hs[i], beta)
                     for i in range(len(Ws))])


def _sum_parts(*parts):
    """Σ of block results: arrays, or tuples of arrays summed entry by entry."""
    if isinstance(parts[0], tuple):
        return tuple(_sum_parts(*column) for column in zip(*parts))
    total = np.array(parts[0], copy=True)
    for p in parts[1:]:
        total += p
    return total


def _block_colmax(W) -> np.ndarray:
    return W.max(axis=0)


def _block_div_cols(W, c):
    return W / c


def _block_mul_cols(W, s):
    return W * s


def _block_mul(W, s: float):
    return W * s


# ---------------------------------------------------------------------------------------------
# Executors: where the blocks live
# ---------------------------------------------------------------------------------------------


def _nbytes(obj) -> int:
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, (tuple, list)):
        return sum(_nbytes(o) for o in obj)
    return 8


# Small factors up to this size travel inside every task; larger ones are broadcast once.
_EMBED_BYTES = 1 << 16


def _is_ref(obj) -> bool:
    return type(obj).__name__ == "Future"


class _LocalExecutor:
    """Blocks held in this process (Dask array without a distributed client)."""

    def __init__(self) -> None:
        self.bytes_sent = 0
        self.bytes_received = 0
        self.round_trips = 0

    def from_dask(self, X):
        import dask

        return list(dask.compute(*X.to_delayed().ravel()))

    def put(self, obj):
        return obj

    def map(self, fn, *seqs, **kwargs):
        return [fn(*args, **kwargs) for args in zip(*seqs)]

    def gather(self, refs):
        self.round_trips += 1
        return list(refs)

    def locate(self, refs):
        return None

    def reduce_sum(self, refs, locations):
        return _sum_parts(*self.gather(refs))

    def to_dask(self, refs, shapes, dtype, axis: int):
        import dask.array as da

        return da.concatenate([da.from_array(b, chunks=b.shape) for b in refs], axis=axis)


class _ClientExecutor:
    """Blocks held on the workers of a ``dask.distributed`` client, as futures."""

    def __init__(self, client) -> None:
        self.client = client
        self._current: dict = {}  # id -> (small factor, its broadcast future)
        self.bytes_sent = 0
        self.bytes_received = 0
        self.round_trips = 0

    def from_dask(self, X):
        """X's row blocks computed on the workers in turn (block i on worker i mod #workers)."""
        workers = sorted(self.client.scheduler_info()["workers"])
        return [self.client.compute(block, workers=[workers[i % len(workers)]])
                for i, block in enumerate(X.to_delayed().ravel())]

    def put(self, obj):
        """A small factor for every block's task: embedded in the tasks when tiny (no round
        trip), else broadcast once to every worker and reused while it is current."""
        if _nbytes(obj) <= _EMBED_BYTES:
            return obj
        cached = self._current.get(id(obj))
        if cached is not None and cached[0] is obj:
            return cached[1]
        n_workers = len(self.client.scheduler_info()["workers"])
        self.bytes_sent += _nbytes(obj) * n_workers
        future = self.client.scatter([obj], broadcast=True, hash=False)[0]
        if len(self._current) >= 8:
            self._current.pop(next(iter(self._current)))
        self._current[id(obj)] = (obj, future)
        return future

    def locate(self, refs):
        """The worker holding each block (its tasks run there: the block is their big input)."""
        from distributed import wait

        wait(refs)
        who = self.client.who_has(refs)
        return [next(iter(who[f.key]), None) for f in refs]

    def reduce_sum(self, refs, locations):
        """Σ of the blocks' results: each worker first adds the results of its own blocks."""
        if locations is None:
            return _sum_parts(*self.gather(refs))
        groups: dict = {}
        for ref, where in zip(refs, locations):
            groups.setdefault(where, []).append(ref)
        partial = [self.client.submit(_sum_parts, *group, pure=False) if w is None else
                   self.client.submit(_sum_parts, *group, workers=[w],
                                      allow_other_workers=True, pure=False)
                   for w, group in groups.items()]
        return _sum_parts(*self.gather(partial))

    def map(self, fn, *seqs, **kwargs):
        seqs = [list(s) for s in seqs]
        self.bytes_sent += sum(_nbytes(o) for s in seqs for o in s if not _is_ref(o))
        return self.client.map(fn, *seqs, pure=False, **kwargs)

    def gather(self, refs):
        self.round_trips += 1
        values = self.client.gather(refs)
        self.bytes_received += _nbytes(list(values))
        return values

    def send_blocks(self, blocks, locations=None):
        """Block i to the worker of X's block i (initial factors only)."""
        self.bytes_sent += _nbytes(list(blocks))
        if locations is None:
            return self.client.scatter(list(blocks), hash=False)
        return [self.client.scatter([b], workers=None if w is None else [w], hash=False)[0]
                for b, w in zip(blocks, locations)]

    def to_dask(self, refs, shapes, dtype, axis: int):
        import dask.array as da

        return da.concatenate([da.from_delayed(f, shape=s, dtype=dtype)
                               for f, s in zip(refs, shapes)], axis=axis)


class Blocks:
    """A long matrix stored as row blocks (``refs``: arrays or futures) of known row counts."""

    def __init__(self, refs, rows, n_cols: int, dtype, sparse: bool = False,
                 locations=None, axis: int = 0) -> None:
        self.axis = axis  # 0: row blocks (``rows`` their heights); 1: column blocks (widths)
        self.refs = list(refs)
        self.rows = list(rows)
        self.n_cols = int(n_cols)
        self.dtype = np.dtype(dtype)
        self.sparse = sparse
        self.locations = locations  # the worker of each block (None: unknown / in process)

    @property
    def shape(self) -> tuple[int, int]:
        long = int(sum(self.rows))
        return (long, self.n_cols) if self.axis == 0 else (self.n_cols, long)

    def like(self, refs, n_cols=None) -> Blocks:
        return Blocks(refs, self.rows, self.n_cols if n_cols is None else n_cols, self.dtype,
                      locations=self.locations, axis=self.axis)


# ---------------------------------------------------------------------------------------------
# The backend of dnmf.portable._fit
# ---------------------------------------------------------------------------------------------


class DaskBackend:
    """Blockwise solver for Dask arrays (the backend interface of :mod:`dnmf.portable._fit`).

    Parameters
    ----------
    client : distributed.Client or None
        None: the default client if one exists, else blocks in this process.

    Attributes
    ----------
    bytes_sent, bytes_received, round_trips : counters of the driver's traffic (small factors
        broadcast to every worker, statistics gathered), for the benchmarks.
    """

    name = "dask"
    axis = 0  # X split into row blocks

    def __init__(self, client=None) -> None:
        if client is None:
            try:
                from distributed import default_client

                client = default_client()
            except (ImportError, ValueError):
                client = None
        self.ex = _ClientExecutor(client) if client is not None else _LocalExecutor()

    @classmethod
    def for_array(cls, X, client=None) -> DaskBackend:
        """The backend for X's long side: row blocks when X has several row chunks or is at
        least as tall as wide, column blocks (:class:`DaskColumnBackend`) otherwise."""
        rows, cols = X.numblocks
        same = (rows > 1) == (cols > 1)
        by_columns = (cols > 1 and rows == 1) or (same and X.shape[1] > X.shape[0])
        return (DaskColumnBackend if by_columns else DaskBackend)(client)

    # -- traffic ---------------------------------------------------------------------------
    @property
    def bytes_sent(self) -> int:
        return self.ex.bytes_sent

    @property
    def bytes_received(self) -> int:
        return self.ex.bytes_received

    @property
    def round_trips(self) -> int:
        return self.ex.round_trips

    # -- data ------------------------------------------------------------------------------
    def prepare(self, X, beta: float, dtype: np.dtype):
        """Blocks of X / max X on the workers (rows split as X's row chunks)."""
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (m × n), got an array with {X.ndim} dimension(s)")
        if X.dtype.kind not in "fiub":
            raise ValueError(f"X must be real-valued numeric, got dtype {X.dtype}")
        m, n = X.shape
        if not (np.isfinite(m) and np.isfinite(n)):
            raise ValueError("X has unknown chunk sizes; call X.compute_chunk_sizes() first")
        if m == 0 or n == 0:
            raise ValueError(f"X is empty (shape {(m, n)}); give a matrix with at least one entry")
        other = 1 - self.axis
        if X.numblocks[other] > 1:
            X = X.rechunk({other: -1})  # blocks of whole rows (whole columns)
        dense = beta not in (1.0, 2.0)  # as check_data: other β need (WH)^{β-1} densely
        raw = self.ex.from_dask(X)
        blocks = self.ex.map(_as_block, raw, dtype=np.dtype(dtype), dense=dense)
        del raw
        stats = np.array(self.ex.gather(self.ex.map(_block_stats, blocks)))
        if not stats[:, 0].all():
            raise ValueError("X contains NaN or infinite values; drop or replace them first")
        if stats[:, 1].min() < 0:
            raise ValueError(f"X has negative entries (min {stats[:, 1].min():.3g}); NMF needs "
                             "X ≥ 0 — clip them at 0 or shift the data by its minimum")
        scale = float(stats[:, 2].max())
        if scale <= 0:
            raise ValueError("X is all zeros; there is nothing to factorise")
        if beta == 0 and stats[:, 3].any():
            raise ValueError("beta = 0 (Itakura-Saito) is undefined when X has zero entries "
                             "(d(0|y) = -log 0); use beta > 0, or add a small offset to X")
        scaled = self.ex.map(_block_scale, blocks, s=scale)
        sparse = not dense and bool(stats[:, 6].sum() < m * n) and _is_sparse_meta(X)
        sizes = [int(r) for r in stats[:, 5 if self.axis == 0 else 7]]
        locations = self.ex.locate(scaled)
        blocks = Blocks(scaled, sizes, n if self.axis == 0 else m, dtype, sparse, locations,
                        axis=self.axis)
        return blocks, scale, (int(m), int(n))

    def to_numpy(self, A) -> np.ndarray:
        return np.asarray(A)

    def total(self, Y: Blocks) -> float:
        return float(sum(self.ex.gather(self.ex.map(_block_sum, Y.refs))))

    def shape(self, Y: Blocks) -> tuple[int, int]:
        return Y.shape

    # -- factors ---------------------------------------------------------------------------
    def random_factors(self, Y: Blocks, rank: int, rng: np.random.Generator, dtype, eps: float):
        """The draws of :func:`dnmf.init.random_init` (β = 1), block by block."""
        m, n = Y.shape
        pieces = [rng.uniform(size=(rows, rank)).astype(dtype) for rows in Y.rows]
        H = rng.uniform(size=(rank, n)).astype(dtype)
        col_sum = np.sum([p.sum(axis=0) for p in pieces], axis=0)
        mean_wh = float(col_sum @ H.sum(axis=1)) / (m * n)
        mean_y = self.total(Y) / (m * n)
        scale = np.sqrt(mean_y / mean_wh) if mean_y > 0 and mean_wh > 0 else 1.0
        for p in pieces:
            p *= scale
            np.maximum(p, eps, out=p)
        H *= scale
        np.maximum(H, eps, out=H)
        return self._send(pieces, Y, dtype), H

    def _send(self, pieces, Y: Blocks, dtype) -> Blocks:
        refs = (self.ex.send_blocks(pieces, Y.locations) if hasattr(self.ex, "send_blocks")
                else pieces)
        return Blocks(refs, Y.rows, pieces[0].shape[1], dtype, locations=Y.locations)

    def long_factor(self, W: np.ndarray, Y: Blocks) -> Blocks:
        bounds = np.cumsum([0, *Y.rows])
        pieces = [np.ascontiguousarray(W[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        return self._send(pieces, Y, W.dtype)

    def small_factor(self, H: np.ndarray, Y) -> np.ndarray:
        return H

    def custom_factors(self, Ws: list, Hs: list, X: Blocks):
        return [self.long_factor(W, X) for W in Ws], [np.asarray(H) for H in Hs]

    def finish(self, Ws: list, Hs: list, scale: float):
        """W_ℓ · s as Dask arrays of the row blocks (which stay on the workers), H_ℓ NumPy."""
        out = []
        for W in Ws:
            refs = self.ex.map(_block_mul, W.refs, s=float(scale))
            out.append(self.ex.to_dask(refs, [(r, W.n_cols) for r in W.rows], W.dtype, axis=0))
        return out, [np.asarray(H) for H in Hs]

    def normalize_rows_of_H(self, Ws: list, Hs: list):
        Ws, Hs = list(Ws), [np.array(H) for H in Hs]
        for layer in range(len(Hs)):
            s = Hs[layer].sum(axis=1)
            s = np.where(s > 0, s, 1.0)
            Hs[layer] = Hs[layer] / s[:, None]
            s_ref = self.ex.put(s[None, :])
            Ws[layer] = Ws[layer].like(self.ex.map(_block_mul_cols, Ws[layer].refs,
                                                   [s_ref] * len(Ws[layer].refs)))
            if layer + 1 < len(Hs):
                Hs[layer + 1] = Hs[layer + 1] * s[None, :]
        return Ws, Hs

    # -- steps -----------------------------------------------------------------------------
    def _bcast(self, A, k: int):
        return [self.ex.put(A)] * k

    def _sum_terms_H(self, Y: Blocks, W: Blocks, H: np.ndarray, beta: float):
        k = len(W.refs)
        Q, P = self.ex.reduce_sum(self.ex.map(_block_terms_H, Y.refs, W.refs,
                                              self._bcast(H, k), beta=beta), Y.locations)
        if beta == 2:
            P = P @ H
        return Q, P

    def layer_error(self, Y: Blocks, W: Blocks, H: np.ndarray, beta: float) -> float:
        k = len(W.refs)
        return float(sum(self.ex.gather(self.ex.map(_block_error, Y.refs, W.refs,
                                                     self._bcast(H, k), beta=beta))))

    def layer_errors(self, X: Blocks, Ws: list, Hs: list, beta: float) -> np.ndarray:
        k = len(X.refs)
        parts = self.ex.gather(self.ex.map(_block_deep_errors, X.refs, self._bcast(Hs, k),
                                           [beta] * k, *[W.refs for W in Ws]))
        return np.sum(parts, axis=0)

    def multilayer_step(self, Y: Blocks, W: Blocks, H: np.ndarray, beta: float, eps: float):
        Q, P = self._sum_terms_H(Y, W, H, beta)
        H = _floor(_mu_step(H, Q, P, beta), eps)
        W_new = self.ex.map(_block_W_mu, Y.refs, W.refs, self._bcast(H, len(W.refs)),
                            beta=beta, eps=eps)
        col_max = np.max(self.ex.gather(self.ex.map(_block_colmax, W_new)), axis=0)
        col_max = np.where(col_max > 0, col_max, 1.0)
        c_ref = self._bcast(col_max, len(W_new))
        W = W.like(self.ex.map(_block_div_cols, W_new, c_ref))
        return W, H * col_max[:, None]

    def deep_sweep(self, X: Blocks, Ws: list, Hs: list, beta: float, weights, eps: float):
        Ws, Hs = list(Ws), list(Hs)
        n_layers = len(Ws)
        for layer in range(n_layers):
            Y = X if layer == 0 else Ws[layer - 1]
            W, H = Ws[layer], Hs[layer]
            Q, P = self._sum_terms_H(Y, W, H, beta)
            Hs[layer] = H = _rowsum_step(H, Q, P, beta, eps)
            k = len(W.refs)
            if layer < n_layers - 1:
                lam = float(weights[layer + 1] / weights[layer])
                refs = self.ex.map(_block_W_deep, Y.refs, W.refs, self._bcast(H, k),
                                   Ws[layer + 1].refs, self._bcast(Hs[layer + 1], k),
                                   lam=lam, beta=beta, eps=eps)
            else:
                refs = self.ex.map(_block_W_mu, Y.refs, W.refs, self._bcast(H, k),
                                   beta=beta, eps=eps)
            Ws[layer] = W.like(refs)
        return Ws, Hs


def _rowsum_step(H: np.ndarray, Q: np.ndarray, P: np.ndarray, beta: float, eps: float):
    """:func:`dnmf.updates.update_H_rowsum` given the summed MU terms."""
    if beta == 1:
        num = H * Q
        sums = num.sum(axis=1, keepdims=True)
        ok = sums[:, 0] > 0
        out = H.copy()
        out[ok] = num[ok] / sums[ok]
        return _floor(out, eps)
    return _floor(sum_to_one_update(H, Q, P, beta).astype(H.dtype, copy=False), eps)


def _is_sparse_meta(X) -> bool:
    meta = getattr(X, "_meta", None)
    return sp.issparse(meta) or hasattr(meta, "tocsr")


# ---------------------------------------------------------------------------------------------
# Column blocks: X (m × n) with n the long side (the project's orientation for spectra, bands ×
# pixels, and text, words × documents). H_1 (r_1 × n) is split beside X's column blocks; every
# W_ℓ and H_ℓ, ℓ ≥ 2, is small and lives on the driver, where layers ℓ ≥ 2 run in memory.
# ---------------------------------------------------------------------------------------------


def _col_terms_H(Y, W, H, beta: float):
    """(Q, P) of the H-step of one column block (column-local)."""
    if isinstance(Y, _SparseBlock) and beta == 1:
        Ht = np.ascontiguousarray(H.T)
        return _kernels.kl_numerator_Ht(Y.kl, W, Ht).T, W.sum(axis=0)[:, None]
    return mu_terms_H(_dense_or_csr(Y), W, H, beta)


def _col_H_mu(Y, W, H, beta: float, eps: float):
    Q, P = _col_terms_H(Y, W, H, beta)
    return _floor(_mu_step(H, Q, P, beta), eps)


def _col_terms_W(Y, W, H, beta: float):
    """This column block's part of (Q, P) of the W-step (β = 1: P = H e; β = 2: the Gram H Hᵀ)."""
    if beta == 1:
        P = H.sum(axis=1)[None, :]
        if isinstance(Y, _SparseBlock):
            return _kernels.kl_numerator_W(Y.kl, W, np.ascontiguousarray(H.T)), P
        return (Y / (W @ H)) @ H.T, P
    if beta == 2:
        return np.asarray(_dense_or_csr(Y) @ H.T), H @ H.T
    return mu_terms_W(_dense_or_csr(Y), W, H, beta)


def _col_num_kl(Y, W, H):
    """β = 1 row-sum step: the numerator H ⊙ Q of this block and its row sums."""
    Q, _ = _col_terms_H(Y, W, H, 1.0)
    return H * Q


def _row_sums(A):
    return A.sum(axis=1)


def _col_normalise(num, H, sums, eps: float):
    ok = sums > 0
    out = H.copy()
    out[ok] = num[ok] / sums[ok, None]
    return _floor(out, eps)


_TINY = np.finfo(float).tiny


def _col_rowsum_state(Y, W, H, beta: float):
    """(H̃ floored at tiny, Q, P) of one block, kept on its worker for the Newton steps."""
    Q, P = _col_terms_H(Y, W, H, beta)
    P = np.maximum(np.broadcast_to(P, Q.shape), _TINY)
    return np.maximum(H, _TINY), Q, P


def _col_rowsum_start(state, beta: float):
    """Per row: min_j g(1/h̃_kj) over Q > 0 (the monotone Newton start), and any(Q > 0)."""
    Hs, Q, P = state
    g_start, _ = _stationarity(1.0 / Hs, Q, P, beta)
    return np.where(Q > 0, g_start, np.inf).min(axis=1), np.any(Q > 0, axis=1).astype(float)


def _col_rowsum_eval(state, mu, beta: float):
    """Σ_j h̃ t(μ) and Σ_j h̃ t'(μ) of this block, per row (one batched Newton reduction)."""
    Hs, Q, P = state
    t, dt = _t_of_mu(mu, Q, P, beta)
    return np.sum(Hs * t, axis=1), np.sum(Hs * dt, axis=1)


def _col_rowsum_new(state, mu, beta: float):
    Hs, Q, P = state
    t, _ = _t_of_mu(mu, Q, P, beta)
    return Hs * t


def _col_rowsum_finite(H_new):
    return np.all(np.isfinite(H_new), axis=1).astype(float)


def _col_rowsum_apply(H, H_new, keep, eps: float):
    out = H_new.astype(H.dtype, copy=True)
    out[keep] = H[keep]
    return _floor(out, eps)


class DaskColumnBackend(DaskBackend):
    """Blockwise solver for a Dask X split into column blocks (n ≫ m).

    The H_1-steps are column-local except the row-sum multiplier of H_1 e = e: each monotone
    Newton step needs Σ_j h̃_kj t_kj(μ_k) over all columns, so every block sends 2 r_1 numbers per
    step, for all rows at once (the r_1 multipliers are batched in one reduction; the blocks'
    Q and P stay on their workers between steps). For β = 1 the multiplier is explicit and one
    reduction of the row sums suffices. The W_1-steps need Σ_c (Y_c ⊙ V_c^{β-2}) H_cᵀ and
    Σ_c V_c^{β-1} H_cᵀ (m × r_1 each; for β = 1, H e; for β = 2, H Hᵀ). Layers ℓ ≥ 2 factorise the
    small W_{ℓ-1} on the driver with the NumPy updates.
    """

    axis = 1

    # -- factors ---------------------------------------------------------------------------
    def random_factors(self, Y, rank: int, rng: np.random.Generator, dtype, eps: float):
        if not isinstance(Y, Blocks):
            return _local_random_factors(Y, rank, rng, dtype, eps)
        m, n = Y.shape
        W, H = _random_factors_kl(m, n, rank, self.total(Y), rng, dtype)
        np.maximum(W, eps, out=W)
        np.maximum(H, eps, out=H)
        return W, self._split(H, Y)

    def _split(self, H: np.ndarray, Y: Blocks) -> Blocks:
        bounds = np.cumsum([0, *Y.rows])
        pieces = [np.ascontiguousarray(H[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        refs = (self.ex.send_blocks(pieces, Y.locations) if hasattr(self.ex, "send_blocks")
                else pieces)
        return Blocks(refs, Y.rows, H.shape[0], H.dtype, locations=Y.locations, axis=1)

    def custom_factors(self, Ws: list, Hs: list, X: Blocks):
        return [np.asarray(W) for W in Ws], [self._split(Hs[0], X), *Hs[1:]]

    def finish(self, Ws: list, Hs: list, scale: float):
        """W_ℓ · s as NumPy arrays, H_1 as a Dask array of the column blocks, H_ℓ≥2 NumPy."""
        H1 = Hs[0]
        H1 = self.ex.to_dask(H1.refs, [(H1.n_cols, c) for c in H1.rows], H1.dtype, axis=1)
        return [W * scale for W in Ws], [H1, *[np.asarray(H) for H in Hs[1:]]]

    def normalize_rows_of_H(self, Ws: list, Hs: list):
        Ws, Hs = [np.array(W) for W in Ws], list(Hs)
        for layer in range(len(Hs)):
            H = Hs[layer]
            if isinstance(H, Blocks):
                s = self.ex.reduce_sum(self.ex.map(_row_sums, H.refs), H.locations)
            else:
                s = H.sum(axis=1)
            s = np.where(s > 0, s, 1.0)
            if isinstance(H, Blocks):
                inv = self._bcast(s[:, None], len(H.refs))
                Hs[layer] = H.like(self.ex.map(_block_div_cols, H.refs, inv))
            else:
                Hs[layer] = H / s[:, None]
            Ws[layer] = Ws[layer] * s[None, :]
            if layer + 1 < len(Hs):
                Hs[layer + 1] = Hs[layer + 1] * s[None, :]
        return Ws, Hs

    # -- steps -----------------------------------------------------------------------------
    def layer_error(self, Y, W, H, beta: float) -> float:
        if not isinstance(Y, Blocks):
            return beta_divergence(Y, W, H, beta)
        k = len(H.refs)
        return float(sum(self.ex.gather(self.ex.map(_block_error, Y.refs, self._bcast(W, k),
                                                     H.refs, beta=beta))))

    def layer_errors(self, X, Ws: list, Hs: list, beta: float) -> np.ndarray:
        return np.array([self.layer_error(X if i == 0 else Ws[i - 1], W, H, beta)
                         for i, (W, H) in enumerate(zip(Ws, Hs))])

    def _sum_terms_W(self, Y: Blocks, W: np.ndarray, H: Blocks, beta: float):
        k = len(H.refs)
        Q, P = self.ex.reduce_sum(self.ex.map(_col_terms_W, Y.refs, self._bcast(W, k), H.refs,
                                              beta=beta), Y.locations)
        return Q, (W @ P if beta == 2 else P)

    def multilayer_step(self, Y, W, H, beta: float, eps: float):
        if not isinstance(Y, Blocks):
            return _local_multilayer_step(Y, W, H, beta, eps)
        k = len(H.refs)
        H = H.like(self.ex.map(_col_H_mu, Y.refs, self._bcast(W, k), H.refs, beta=beta,
                               eps=eps))
        Q, P = self._sum_terms_W(Y, W, H, beta)
        W = _floor(_mu_step(W, Q, P, beta), eps)
        col_max = W.max(axis=0)
        col_max = np.where(col_max > 0, col_max, 1.0)
        W = W / col_max
        H = H.like(self.ex.map(_block_mul_cols, H.refs, self._bcast(col_max[:, None], k)))
        return W, H

    def _rowsum_step(self, Y: Blocks, W: np.ndarray, H: Blocks, beta: float, eps: float,
                     tol: float = 1e-13, max_iter: int = 100) -> Blocks:
        """:func:`dnmf.updates.update_H_rowsum` on column blocks (same iterations)."""
        k = len(H.refs)
        Wb = self._bcast(W, k)
        if beta == 1:
            num = self.ex.map(_col_num_kl, Y.refs, Wb, H.refs)
            sums = self.ex.reduce_sum(self.ex.map(_row_sums, num), Y.locations)
            return H.like(self.ex.map(_col_normalise, num, H.refs,
                                      self._bcast(sums, k), eps=eps))
        state = self.ex.map(_col_rowsum_state, Y.refs, Wb, H.refs, beta=beta)
        starts = self.ex.gather(self.ex.map(_col_rowsum_start, state, beta=beta))
        mu = np.min([s[0] for s in starts], axis=0)
        has_q = np.max([s[1] for s in starts], axis=0) > 0
        mu = np.where(np.isfinite(mu), mu, 0.0)
        for _ in range(max_iter):
            xi, dxi = self.ex.reduce_sum(self.ex.map(_col_rowsum_eval, state,
                                                     self._bcast(mu, k), beta=beta),
                                         Y.locations)
            mu_next = _newton_mu(mu, xi - 1.0, dxi, tol)
            if mu_next is None:
                break
            mu = mu_next
        new = self.ex.map(_col_rowsum_new, state, self._bcast(mu, k), beta=beta)
        finite = np.min(self.ex.gather(self.ex.map(_col_rowsum_finite, new)), axis=0) > 0
        keep = ~has_q | ~finite
        return H.like(self.ex.map(_col_rowsum_apply, H.refs, new, self._bcast(keep, k),
                                  eps=eps))

    def deep_sweep(self, X: Blocks, Ws: list, Hs: list, beta: float, weights, eps: float):
        Ws, Hs = list(Ws), list(Hs)
        n_layers = len(Ws)
        for layer in range(n_layers):
            Y = X if layer == 0 else Ws[layer - 1]
            W, H = Ws[layer], Hs[layer]
            if layer == 0:
                Hs[0] = H = self._rowsum_step(X, W, H, beta, eps)
                Q, P = self._sum_terms_W(X, W, H, beta)
            else:
                Hs[layer] = H = update_H_rowsum(Y, W, H, beta, eps)
            if layer < n_layers - 1:
                lam = float(weights[layer + 1] / weights[layer])
                W_bar = Ws[layer + 1] @ Hs[layer + 1]
                if layer == 0:
                    Ws[0] = _deep_W_from_terms(W, Q, P, W_bar, lam, beta, eps)
                else:
                    Ws[layer] = update_W_deep(Y, W, H, W_bar, lam, beta, eps)
            elif layer == 0:
                Ws[0] = _floor(_mu_step(W, Q, P, beta), eps)
            else:
                Ws[layer] = update_W_mu(Y, W, H, beta, eps)
        return Ws, Hs


def _deep_W_from_terms(W, Q, P, W_bar, lam: float, beta: float, eps: float):
    """:func:`dnmf.updates.update_W_deep` given its summed MU terms Q and P."""
    W_bar = np.maximum(W_bar, eps)
    if beta == 1:
        return _floor(_kernels.deep_w_kl(W, Q, P.reshape(1, -1) if P.shape != W.shape else P,
                                         W_bar, lam), eps)
    if beta in (0.0, 1.5, 2.0):
        new = deep_W_closed_form(W, Q, P, W_bar, lam, beta)
    else:
        new = deep_W_root_solve(W, Q, P, W_bar, lam, beta)
    return _floor(np.asarray(new, dtype=W.dtype), eps)


def _local_random_factors(Y, rank, rng, dtype, eps):
    from .models.multilayer import initial_factors

    return initial_factors(Y, rank, "random", rng, dtype, eps)


def _local_multilayer_step(Y, W, H, beta, eps):
    H = update_H_mu(Y, W, H, beta, eps)
    W = update_W_mu(Y, W, H, beta, eps)
    col_max = W.max(axis=0)
    col_max = np.where(col_max > 0, col_max, 1.0)
    return W / col_max, H * col_max[:, None]
