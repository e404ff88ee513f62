r"""Fast kernels of the solvers' hot loops, each beside the plain formula it implements.

Every kernel here has a reference: the plain NumPy/SciPy formula (named in its docstring), and
``tests/test_kernels.py`` checks the two agree on random inputs, dense and sparse, float32 and
float64. The loops in :mod:`dnmf.models` reach these kernels through :mod:`dnmf.updates`.

Backends
--------
The compiled kernels live in :mod:`dnmf._kernels_numba` and are used when numba imports; the
NumPy versions here are used otherwise, or when the environment variable ``DNMF_NUMBA`` is
``0``. numba is imported lazily (the first time a kernel runs), so ``import dnmf`` stays fast.
The compiled functions are cached on disk (numba ``cache=True``): the first call in a fresh
installation compiles them (a few seconds each, see ``bench/README.md``), later processes load
them in milliseconds; :func:`warmup` compiles everything ahead of an interactive session.
When numba fails (missing, broken install, no threading layer) a warning is issued once and the
NumPy path is used for the rest of the process.

Reproducibility: the compiled loops run in parallel over independent rows (no cross-thread
reductions) with IEEE semantics, so results are bit-identical run to run whatever the number of
threads. The NumPy and numba paths agree to rounding, not bit for bit.

Wright's omega function
-----------------------
ω(x) is the root of :math:`\omega + \log\omega = x` (real x), i.e. :math:`\omega(x) =
W_0(e^x)`. It is started from a region-wise approximation accurate to about 1e-4 and refined
by one Fritsch–Shafer–Crowley step (fourth order), which brings it to rounding level:

* x < -2.1: :math:`\omega = \sum_n \frac{(-n)^{n-1}}{n!} e^{nx}`, five terms (exact to
  rounding below -8, where the refinement is skipped: it would only add the rounding of x);
* -2.1 ≤ x < 0: Taylor series of degree 8 about :math:`c = 1/4 + \log(1/4)` (ω(c) = 1/4);
* 0 ≤ x ≤ 2.5: Taylor series of degree 5 about 1 (ω(1) = 1);
* 2.5 < x ≤ 4: Taylor series of degree 6 about :math:`c = 5/2 + \log(5/2)` (ω(c) = 5/2);
* x > 4: :math:`x - \ell + \ell/x + \ell(\ell-2)/(2x^2) + \ell(2\ell^2-9\ell+6)/(6x^3)`,
  ℓ = log x (no refinement needed above 1e10, where this is exact to rounding).

The Taylor coefficients are exact rationals from the derivative recurrence
:math:`\omega^{(n)} = p_n(\omega)/(1+\omega)^{2n-1}`, :math:`p_1 = \omega`,
:math:`p_{n+1} = \omega\,(p_n'(\omega)(1+\omega) - (2n-1)\,p_n(\omega))`
(:func:`omega_taylor_coefficients`). The FSC step for an iterate w, with
:math:`z = x - w - \log w`, is
:math:`w \leftarrow w\,(1 + \frac{z}{1+w}\,\frac{t - z/2}{t - z})`,
:math:`t = (1+w)(1+w+2z/3)`.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from contextlib import contextmanager
from fractions import Fraction
from types import ModuleType

import numpy as np
import scipy.sparse as sp

__all__ = [
    "SparseKL",
    "deep_w_kl",
    "deep_w_kl_numpy",
    "kernels_backend",
    "kl_numerator_Ht",
    "kl_numerator_W",
    "kl_sparse_xlogx",
    "numba_enabled",
    "omega_taylor_coefficients",
    "sampled_dot",
    "threads",
    "warmup",
    "wright_omega",
    "wright_omega_numpy",
]

# Entries per block of the NumPy gathers: bounds the temporaries to ~ block × r floats.
_BLOCK = 1 << 15
# Below this much work (≈ flops) a kernel runs on one thread: waking threads costs more.
PARALLEL_MIN_WORK = 1 << 18
# Arguments of ω below this use the limit w = W̄ e^{-P/λ} in the deep KL W-update (ω = eˣ there).
OMEGA_TAIL = -30.0


# ---------------------------------------------------------------------------------------------
# Backend selection
# ---------------------------------------------------------------------------------------------

_lock = threading.Lock()  # guards the lazy import, and serialises the parallel numba kernels
_state: dict = {"module": None, "tried": False, "error": None}
_local = threading.local()  # per-thread limit set by threads()


def numba_enabled() -> bool:
    """True unless the environment variable ``DNMF_NUMBA`` is 0/false/no/off."""
    return os.environ.get("DNMF_NUMBA", "1").strip().lower() not in ("0", "false", "no", "off")


def _numba() -> ModuleType | None:
    """The compiled-kernel module, importing it on first use; None for the NumPy path."""
    if _state["tried"]:
        return _state["module"]
    with _lock:
        if not _state["tried"]:
            module = None
            if numba_enabled():
                try:
                    from . import _kernels_numba as module
                except Exception as exc:  # numba missing or broken: NumPy path
                    _state["error"] = repr(exc)
                    module = None
            _state["module"] = module
            _state["tried"] = True
    return _state["module"]


def _disable_numba(exc: BaseException) -> None:
    _state["module"] = None
    _state["error"] = repr(exc)
    warnings.warn(f"dnmf: the compiled kernels failed ({exc!r}); using the NumPy kernels for "
                  "the rest of this process", RuntimeWarning, stacklevel=3)


def _call(name: str, work: int, *args):
    """Run the numba kernel ``name``; None if numba is unavailable or failed (then NumPy runs).

    ``work`` (about the number of flops) picks the one-thread driver below
    :data:`PARALLEL_MIN_WORK`. The lock serialises our parallel kernels: numba's fallback
    threading layer (workqueue) must not be entered from two threads at once (two app sessions
    fitting together).
    """
    module = _numba()
    if module is None:
        return None
    if (work < PARALLEL_MIN_WORK or getattr(_local, "threads", None) == 1
            or not hasattr(module, name)):
        name += "_serial"
    try:
        with _lock:
            return getattr(module, name)(*args)
    except Exception as exc:
        from numba.core.errors import NumbaError

        if isinstance(exc, (NumbaError, OSError, ImportError, ValueError)):
            _disable_numba(exc)
            return None
        raise


@contextmanager
def threads(n: int | None):
    """Within the block, in this thread, the compiled kernels use one thread when ``n == 1``.

    For callers that limit BLAS to one thread per fit (e.g. several app sessions sharing two
    cores): threads of numba spinning against each other's BLAS pools cost far more than they
    gain there. ``None`` restores the default (parallel above :data:`PARALLEL_MIN_WORK`).
    """
    previous = getattr(_local, "threads", None)
    _local.threads = n
    try:
        yield
    finally:
        _local.threads = previous


@contextmanager
def _numpy_only():
    """Within the block, every kernel takes its NumPy path (tests and benchmarks; not
    thread-safe)."""
    _numba()
    saved = _state["module"]
    _state["module"] = None
    try:
        yield
    finally:
        _state["module"] = saved


def kernels_backend() -> str:
    """``"numba"`` or ``"numpy"``: which kernels the solvers use in this process."""
    return "numba" if _numba() is not None else "numpy"


def warmup(dtypes=(np.float64, np.float32)) -> dict[str, float]:
    """Compile (or load from the disk cache) every numba kernel and driver for ``dtypes``.

    Call it once ahead of interactive use (e.g. in a background thread when the app starts)
    so that the first fit does not pay the compilation. Returns the seconds spent per dtype
    (empty when the NumPy backend is in use).
    """
    import time

    seconds: dict[str, float] = {}
    module = _numba()
    if module is None:
        return seconds
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        t0 = time.perf_counter()
        X = sp.random(6, 5, density=0.5, format="csr", random_state=0, dtype=np.float64)
        S = SparseKL((X + sp.eye(6, 5)).astype(dtype).tocsr())
        W = np.ones((6, 2), dtype=dtype)
        Ht = np.ones((5, 2), dtype=dtype)
        indptr, indices, data = S.structure("rows")
        tiny = dtype.type(np.finfo(dtype).tiny)
        try:
            with _lock:
                for name in ("kl_sparse_numerator", "kl_sparse_numerator_serial"):
                    getattr(module, name)(indptr, indices, data, W, Ht, tiny, np.empty_like(W))
                for name in ("deep_w_kl", "deep_w_kl_serial"):
                    getattr(module, name)(W, W, W[:1].copy(), W, 0.5, OMEGA_TAIL,
                                          np.empty_like(W))
                module.sampled_dot_serial(indptr, indices, W, Ht, np.empty(S.csr.nnz, dtype))
                module.kl_sparse_xlogx_serial(indptr, indices, data, W, Ht, np.empty(6))
                x = np.linspace(-3, 3, 7).astype(dtype)
                module.wright_omega_serial(x, np.empty_like(x))
        except Exception as exc:
            _disable_numba(exc)
            return seconds
        seconds[dtype.name] = time.perf_counter() - t0
    return seconds


# ---------------------------------------------------------------------------------------------
# Wright's omega function
# ---------------------------------------------------------------------------------------------


def omega_taylor_coefficients(w0: Fraction | int, degree: int) -> tuple[float, tuple[float, ...]]:
    """Taylor series of ω about c = w0 + log w0 (where ω(c) = w0), from exact rationals.

    Returns ``(c, (a_0, …, a_degree))`` with ω(c + h) ≈ Σ a_n hⁿ.
    """
    w0 = Fraction(w0)
    p = [Fraction(0), Fraction(1)]  # p_1(ω) = ω, ascending coefficients
    k = 1
    coefs = [w0]
    for n in range(1, degree + 1):
        value = sum(c * w0**i for i, c in enumerate(p)) / (1 + w0) ** k
        coefs.append(value / math.factorial(n))
        dp = [i * p[i] for i in range(1, len(p))] + [Fraction(0)]
        t = [Fraction(0)] * (len(dp) + 1)
        for i, c in enumerate(dp):  # (1 + ω) p'
            t[i] += c
            t[i + 1] += c
        for i, c in enumerate(p):  # − k p
            t[i] -= k * c
        p = [Fraction(0), *t]  # ω (…)
        k += 2
    return float(w0) + math.log(w0), tuple(float(c) for c in coefs)


OMEGA_LEFT_CENTRE, OMEGA_LEFT = omega_taylor_coefficients(Fraction(1, 4), 8)
_, OMEGA_MID = omega_taylor_coefficients(1, 5)
OMEGA_RIGHT_CENTRE, OMEGA_RIGHT = omega_taylor_coefficients(Fraction(5, 2), 6)
# Coefficients of the series in eˣ, Σ (-n)^{n-1}/n! e^{nx}, n = 1 … 5.
OMEGA_EXP = (1.0, -1.0, 1.5, -8.0 / 3.0, 125.0 / 24.0)


def _horner(coefs: tuple[float, ...], h: np.ndarray) -> np.ndarray:
    out = np.full_like(h, coefs[-1])
    for c in coefs[-2::-1]:
        out *= h
        out += c
    return out


def _fsc_step(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One Fritsch–Shafer–Crowley step for ω + log ω = x, in place on ``w``."""
    z = np.log(w)
    np.subtract(x, z, out=z)
    z -= w  # z = x − w − log w
    u = w + 1.0
    t = z * (2.0 / 3.0)
    t += u
    t *= u  # t = (1 + w)(1 + w + 2z/3)
    num = z * 0.5
    np.subtract(t, num, out=num)  # t − z/2
    t -= z
    num /= t
    num *= z
    num /= u
    num += 1.0
    w *= num
    return w


def wright_omega_numpy(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ω(x) elementwise with NumPy, in the dtype of ``x`` (reference: scipy's wrightomega).

    Parameters
    ----------
    x : ndarray of float32 or float64, any shape
    out : ndarray like ``x``, optional

    Returns
    -------
    ndarray of the shape and dtype of ``x``
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    out = np.empty_like(x) if out is None else out
    flat_x = x.reshape(-1)
    w = np.empty_like(flat_x)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        regions = (
            (flat_x < -2.1, None),
            ((flat_x >= -2.1) & (flat_x < 0.0), (OMEGA_LEFT_CENTRE, OMEGA_LEFT)),
            ((flat_x >= 0.0) & (flat_x <= 2.5), (1.0, OMEGA_MID)),
            ((flat_x > 2.5) & (flat_x <= 4.0), (OMEGA_RIGHT_CENTRE, OMEGA_RIGHT)),
        )
        for mask, series in regions:
            if not mask.any():
                continue
            xs = flat_x[mask]
            if series is None:
                e = np.exp(xs)
                w[mask] = e * _horner(OMEGA_EXP, e)
            else:
                w[mask] = _horner(series[1], xs - series[0])
        high = flat_x > 4.0
        if high.any():
            xs = flat_x[high]
            lx = np.log(xs)
            w[high] = (xs - lx + lx / xs + lx * (lx - 2.0) / (2.0 * xs * xs)
                       + lx * (6.0 + lx * (2.0 * lx - 9.0)) / (6.0 * xs * xs * xs))
            huge = high & (flat_x > 1e10)  # x − ℓ + ℓ/x is exact to rounding there
            if huge.any():
                xs = flat_x[huge]
                lx = np.log(xs)
                w[huge] = xs - lx + lx / xs
        refine = (flat_x >= -8.0) & (flat_x <= 1e10)
        if refine.all():
            _fsc_step(flat_x, w)
        elif refine.any():
            w[refine] = _fsc_step(flat_x[refine], w[refine])
        special = np.isnan(flat_x) | (flat_x == np.inf)
        if special.any():
            w[special] = flat_x[special]
    out[...] = w.reshape(x.shape)
    return out


def wright_omega(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ω(x) elementwise (numba if available, else :func:`wright_omega_numpy`).

    Agrees with ``scipy.special.wrightomega`` to about 1e-15 relative on the whole real line,
    at a fraction of its cost. float32 input gives float32 output (computed in float64 by the
    compiled kernel, in float32 by the NumPy one).
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    out = np.empty_like(x) if out is None else out
    target = out if out.flags.c_contiguous else np.empty_like(x)
    flat_x = np.ascontiguousarray(x).reshape(-1)
    if _call("wright_omega", 32 * flat_x.size, flat_x, target.reshape(-1)) is None:
        return wright_omega_numpy(x, out)
    if target is not out:
        out[...] = target
    return out


# ---------------------------------------------------------------------------------------------
# The deep KL W-update (eq. 18–19)
# ---------------------------------------------------------------------------------------------


def _plain(a: np.ndarray, dtype) -> np.ndarray:
    """C-contiguous, writeable, of ``dtype`` (one compiled signature instead of several)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.writeable else a.copy()


def deep_w_kl_numpy(W_t, Q, P, W_bar, lam: float, out: np.ndarray | None = None) -> np.ndarray:
    """β = 1 deep W-update with NumPy: w = (b/λ) / ω(log(b/λ) + P/λ − log W̄), b = W̃ Q.

    The reference is :func:`dnmf.updates._omega_closed_form_kl` (same formula with scipy's
    wrightomega); this version uses :func:`wright_omega` and stays in the working dtype.
    Arguments as :func:`dnmf.updates.deep_W_closed_form` (P broadcastable to (m, r)).
    """
    lam = float(lam)
    b_over_lam = W_t * Q
    b_over_lam /= lam
    p_over_lam = P / lam
    with np.errstate(divide="ignore"):
        x = np.log(b_over_lam)
        x += p_over_lam - np.log(W_bar)
    tail = x < OMEGA_TAIL
    omega = wright_omega(np.where(tail, 0.0, x).astype(x.dtype, copy=False))
    result = np.divide(b_over_lam, omega, out=b_over_lam)
    if tail.any():
        limit = W_bar * np.exp(-np.broadcast_to(p_over_lam, W_bar.shape))
        result[tail] = limit[tail]
    if out is None:
        return result
    out[...] = result
    return out


def deep_w_kl(W_t, Q, P, W_bar, lam: float, out: np.ndarray | None = None) -> np.ndarray:
    """β = 1 deep W-update (numba if available, else :func:`deep_w_kl_numpy`).

    Parameters
    ----------
    W_t, Q, W_bar : ndarrays of shape (m, r), one dtype
    P : ndarray of shape (1, r) or (m, r)
    lam : float, λ
    out : ndarray of shape (m, r), optional (may be ``W_t``: each entry is read before written)

    Returns
    -------
    ndarray of shape (m, r), not floored.
    """
    if out is None:
        out = np.empty_like(W_t)
    P2 = P if P.ndim == 2 else P.reshape(1, -1)
    args = [_plain(a, W_t.dtype) for a in (W_t, Q, P2, W_bar)]
    if _call("deep_w_kl", 48 * out.size, *args, float(lam), OMEGA_TAIL, out) is None:
        return deep_w_kl_numpy(W_t, Q, P, W_bar, lam, out)
    return out


# ---------------------------------------------------------------------------------------------
# KL on sparse data: WH at the stored entries of X only
# ---------------------------------------------------------------------------------------------


class SparseKL:
    """A sparse X prepared for the KL kernels: CSR, and its CSC form built on first use.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (m, n)
        Converted to CSR with sorted indices (no copy when it already is).
    """

    def __init__(self, X) -> None:
        if not (isinstance(X, (sp.csr_array, sp.csr_matrix)) and X.has_sorted_indices):
            X = sp.csr_array(X)
            X.sort_indices()
        self.csr = X
        self.shape = X.shape
        self.dtype = X.dtype
        self._csc = None
        self._rows = None
        self._structures: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def csc(self):
        """X in CSC form (its columns as compressed rows of Xᵀ)."""
        if self._csc is None:
            csc = sp.csc_array(self.csr)
            csc.sort_indices()
            self._csc = csc
        return self._csc

    @property
    def rows(self) -> np.ndarray:
        """Row index of every stored entry (NumPy path)."""
        if self._rows is None:
            self._rows = np.repeat(np.arange(self.shape[0], dtype=np.intp),
                                   np.diff(self.csr.indptr))
        return self._rows

    def structure(self, by: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, indices, data) of X by rows (``"rows"``) or by columns (``"cols"``).

        The index arrays are int64 (one compiled signature whatever scipy chose), converted
        once per SparseKL.
        """
        cached = self._structures.get(by)
        if cached is None:
            M = self.csr if by == "rows" else self.csc
            cached = (M.indptr.astype(np.int64, copy=False),
                      M.indices.astype(np.int64, copy=False), M.data)
            self._structures[by] = cached
        return cached


def _as_sparse_kl(X) -> SparseKL:
    return X if isinstance(X, SparseKL) else SparseKL(X)


def _sampled_dot_numpy(S: SparseKL, W: np.ndarray, Ht: np.ndarray, out: np.ndarray) -> np.ndarray:
    rows, cols = S.rows, S.csr.indices
    for start in range(0, out.size, _BLOCK):
        stop = min(start + _BLOCK, out.size)
        np.einsum("ij,ij->i", W[rows[start:stop]], Ht[cols[start:stop]], out=out[start:stop])
    return out


def sampled_dot(X, W: np.ndarray, Ht: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Entries of ``W @ Ht.T`` at the stored positions of X, in the order of ``X.data``.

    Reference: ``(W @ Ht.T)[i_k, j_k]``, or the chunked gather :func:`_sampled_dot_numpy`.

    Parameters
    ----------
    X : SparseKL or sparse matrix of shape (m, n)
    W : ndarray of shape (m, r)
    Ht : ndarray of shape (n, r), C-contiguous (H transposed)
    out : ndarray of shape (nnz,), optional

    Returns
    -------
    ndarray of shape (nnz,)
    """
    S = _as_sparse_kl(X)
    dtype = np.result_type(W, Ht)
    out = np.empty(S.csr.nnz, dtype=dtype) if out is None else out
    if out.size == 0:
        return out
    W = np.ascontiguousarray(W, dtype=dtype)
    Ht = np.ascontiguousarray(Ht, dtype=dtype)
    indptr, indices, _ = S.structure("rows")
    if _call("sampled_dot", out.size * W.shape[1], indptr, indices, W, Ht, out) is None:
        _sampled_dot_numpy(S, W, Ht, out)
    return out


def _kl_numerator_numpy(S: SparseKL, W, Ht, by: str, out: np.ndarray) -> np.ndarray:
    values = _sampled_dot_numpy(S, W, Ht, np.empty(S.csr.nnz, dtype=out.dtype))
    np.maximum(values, np.finfo(out.dtype).tiny, out=values)
    np.divide(S.csr.data, values, out=values)
    ratio = sp.csr_array((values, S.csr.indices, S.csr.indptr), shape=S.shape)
    if by == "rows":
        out[...] = ratio @ Ht
    else:
        out[...] = ratio.T @ W
    return out


def _kl_numerator(S: SparseKL, W: np.ndarray, Ht: np.ndarray, by: str, out: np.ndarray):
    dtype = out.dtype
    W = np.ascontiguousarray(W, dtype=dtype)
    Ht = np.ascontiguousarray(Ht, dtype=dtype)
    indptr, indices, data = S.structure(by)
    A, B = (W, Ht) if by == "rows" else (Ht, W)
    tiny = dtype.type(np.finfo(dtype).tiny)
    if S.csr.nnz == 0:
        out[...] = 0
        return out
    work = 2 * S.csr.nnz * W.shape[1]
    if _call("kl_sparse_numerator", work, indptr, indices, data, A, B, tiny, out) is None:
        _kl_numerator_numpy(S, W, Ht, by, out)
    return out


def kl_numerator_W(X, W: np.ndarray, Ht: np.ndarray, out: np.ndarray | None = None):
    """The KL-MU numerator of W on sparse X: ``(X / WH) @ H.T`` with WH only at X's nonzeros.

    Reference (:func:`dnmf.updates.mu_terms_W`): ``(X ⊘ max(WH, tiny)) Hᵀ`` where ⊘ divides the
    stored entries of X by WH at the same positions.

    Parameters
    ----------
    X : SparseKL or sparse matrix of shape (m, n)
    W : ndarray of shape (m, r)
    Ht : ndarray of shape (n, r), H transposed
    out : ndarray of shape (m, r), optional

    Returns
    -------
    ndarray of shape (m, r)
    """
    S = _as_sparse_kl(X)
    out = np.empty(W.shape, dtype=np.result_type(W, Ht)) if out is None else out
    return _kl_numerator(S, W, Ht, "rows", out)


def kl_numerator_Ht(X, W: np.ndarray, Ht: np.ndarray, out: np.ndarray | None = None):
    """The KL-MU numerator of H on sparse X, transposed: ``((X / WH).T @ W)``, shape (n, r).

    Reference (:func:`dnmf.updates.mu_terms_H`): ``(Wᵀ (X ⊘ max(WH, tiny)))ᵀ``. The compiled
    kernel walks X by columns (its CSC form) so that each output row is owned by one thread.
    """
    S = _as_sparse_kl(X)
    out = np.empty(Ht.shape, dtype=np.result_type(W, Ht)) if out is None else out
    return _kl_numerator(S, W, Ht, "cols", out)


def kl_sparse_xlogx(X, W: np.ndarray, Ht: np.ndarray) -> float:
    """Σ x log(x / (WH)) over the stored entries of X (0 log 0 = 0), accumulated in float64.

    Reference: ``np.sum(xlogy(x, x / v))`` with v the sampled product (as in
    :func:`dnmf.divergence.beta_divergence`).
    """
    S = _as_sparse_kl(X)
    if S.csr.nnz == 0:
        return 0.0
    dtype = np.result_type(W, Ht)
    W = np.ascontiguousarray(W, dtype=dtype)
    Ht = np.ascontiguousarray(Ht, dtype=dtype)
    indptr, indices, data = S.structure("rows")
    rows = np.empty(S.shape[0], dtype=np.float64)
    work = S.csr.nnz * (W.shape[1] + 20)
    if _call("kl_sparse_xlogx", work, indptr, indices, data, W, Ht, rows) is not None:
        return float(rows.sum())
    v = _sampled_dot_numpy(S, W, Ht, np.empty(S.csr.nnz, dtype=dtype)).astype(np.float64)
    x = data.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = x * np.log(x / v)
    return float(np.sum(np.where(x > 0, terms, 0.0)))
