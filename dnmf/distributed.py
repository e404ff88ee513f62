r"""Multilayer and deep β-NMF on a ``dask.array.Array`` chunked along its rows.

Layout
------
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
from .updates import (
    _floor,
    _mu_step,
    mu_terms_H,
    sum_to_one_update,
    update_W_deep,
    update_W_mu,
)

__all__ = ["DaskBackend", "Blocks"]


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
    """[all finite, min, max, any zero entry, sum, rows, nnz-or-size] of a block."""
    v = _values(Y)
    size = Y.shape[0] * Y.shape[1]
    if v.size == 0:
        return np.array([1.0, 0.0, 0.0, float(size > 0), 0.0, Y.shape[0], 0])
    zero = float(np.any(v == 0) or v.size < size)
    return np.array([float(np.all(np.isfinite(v))), float(v.min()), float(v.max()), zero,
                     float(v.sum()), Y.shape[0], v.size])


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

    def to_dask(self, refs, shapes, dtype):
        import dask.array as da

        return da.concatenate([da.from_array(b, chunks=b.shape) for b in refs], axis=0)


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

    def to_dask(self, refs, shapes, dtype):
        import dask.array as da

        return da.concatenate([da.from_delayed(f, shape=s, dtype=dtype)
                               for f, s in zip(refs, shapes)], axis=0)


class Blocks:
    """A long matrix stored as row blocks (``refs``: arrays or futures) of known row counts."""

    def __init__(self, refs, rows, n_cols: int, dtype, sparse: bool = False,
                 locations=None) -> None:
        self.refs = list(refs)
        self.rows = list(rows)
        self.n_cols = int(n_cols)
        self.dtype = np.dtype(dtype)
        self.sparse = sparse
        self.locations = locations  # the worker of each block (None: unknown / in process)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(sum(self.rows)), self.n_cols)

    def like(self, refs, n_cols=None) -> Blocks:
        return Blocks(refs, self.rows, self.n_cols if n_cols is None else n_cols, self.dtype,
                      locations=self.locations)


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

    def __init__(self, client=None) -> None:
        if client is None:
            try:
                from distributed import default_client

                client = default_client()
            except (ImportError, ValueError):
                client = None
        self.ex = _ClientExecutor(client) if client is not None else _LocalExecutor()

    @classmethod
    def for_array(cls, X) -> DaskBackend:
        return cls()

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
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})  # blocks of whole rows
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
        rows = [int(r) for r in stats[:, 5]]
        locations = self.ex.locate(scaled)
        return Blocks(scaled, rows, n, dtype, sparse, locations), scale, (int(m), int(n))

    def to_numpy(self, A) -> np.ndarray:
        return np.asarray(A)

    def total(self, Y: Blocks) -> float:
        return float(sum(self.ex.gather(self.ex.map(_block_sum, Y.refs))))

    def shape(self, Y: Blocks) -> tuple[int, int]:
        return Y.shape

    # -- factors ---------------------------------------------------------------------------
    def random_factors(self, Y: Blocks, rank: int, rng: np.random.Generator, dtype, eps: float):
        """The draws of :func:`dnmf.models.multilayer.random_factors`, block by block."""
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

    def scale_long(self, W: Blocks, s: float):
        """The final long factor times s, as a Dask array (blocks stay on the workers)."""
        refs = self.ex.map(_block_mul, W.refs, s=float(s))
        shapes = [(r, W.n_cols) for r in W.rows]
        return self.ex.to_dask(refs, shapes, W.dtype)

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
