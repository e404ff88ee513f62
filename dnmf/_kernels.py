r"""Fast kernels of the solvers' hot loops, each beside the plain formula it implements.

Every kernel here has a reference: the plain NumPy/SciPy formula (named in its docstring), and
``tests/test_kernels.py`` checks the two agree on random inputs, dense and sparse, float32 and
float64. The loops in :mod:`dnmf.models` reach these kernels through :mod:`dnmf.updates`.

Which kernel runs where
-----------------------
* Sparse KL (WH sampled at the nonzeros of X, fused with the MU numerators): compiled with
  numba (:mod:`dnmf._kernels_numba`, GIL released) when numba imports, else a chunked NumPy
  gather with scipy products. ``DNMF_NUMBA=0`` forces the NumPy path. The compiled kernels
  split X's rows (or columns) between :func:`kernel_threads` threads, in ranges of equal
  numbers of stored entries (Python threads, each running the serial kernel on its range).
* Wright's ω, the deep KL W-update and the KL divergence's log pass: compiled
  (:mod:`dnmf._omega_fast`, short vectorised passes over blocks, every entry in float64) when
  numba is in use, else vectorised NumPy in cache-sized blocks.

numba is imported lazily (the first time a sparse kernel runs), so ``import dnmf`` stays fast.
The compiled functions are cached on disk (numba ``cache=True``, in the package's
``__pycache__`` or else numba's per-user cache directory; compiled per process when neither
is writable): the first call in a fresh installation compiles them (seconds, see
``bench/README.md``), later processes load them in milliseconds; :func:`warmup` does it ahead
of an interactive session. When numba fails (missing, broken install, a compile error) a
warning is issued once and the NumPy path is used for the rest of the process.

Threads: :func:`kernel_threads` is :func:`dnmf._threads.work_threads` — the threads BLAS uses
now (so the thread policy of :mod:`dnmf._threads`, e.g. the app's one thread, or a
threadpoolctl limit, applies to these kernels too), or the count the app gave a fit that runs
alone — unless a :func:`threads` block in the calling thread says otherwise.

Reproducibility: each output row of a sparse kernel is computed by one thread, in a fixed
order, so results are bit-identical run to run *whatever the number of threads*. The compiled
kernels let LLVM reassociate and fuse (vectorised dot products, see
:mod:`dnmf._kernels_numba`); the NumPy and numba paths agree to rounding, not bit for bit.

Wright's omega function
-----------------------
ω(x) is the root of :math:`\omega + \log\omega = x` (real x), i.e. :math:`\omega(x) =
W_0(e^x)`. It is started from a region-wise approximation accurate to about 1e-4 and refined
by one Fritsch–Shafer–Crowley step (fourth order), which brings it to rounding level:

* x < -2.1: :math:`\omega = \sum_n \frac{(-n)^{n-1}}{n!} e^{nx}`, five terms (exact to
  rounding below -8, where the refinement's result is not used: it would only add the
  rounding of x);
* -2.1 ≤ x < 0: Taylor series of degree 8 about :math:`c = 1/4 + \log(1/4)` (ω(c) = 1/4);
* 0 ≤ x < 2.5: Taylor series of degree 5 about 1 (ω(1) = 1);
* 2.5 ≤ x < 4: Taylor series of degree 6 about :math:`c = 5/2 + \log(5/2)` (ω(c) = 5/2);
* x ≥ 4: :math:`x - \ell + \ell/x + \ell(\ell-2)/(2x^2) + \ell(2\ell^2-9\ell+6)/(6x^3)`,
  ℓ = log x (above 1e10, :math:`x - \ell + \ell/x` is exact to rounding and is used as is).

The Taylor coefficients are exact rationals from the derivative recurrence
:math:`\omega^{(n)} = p_n(\omega)/(1+\omega)^{2n-1}`, :math:`p_1 = \omega`,
:math:`p_{n+1} = \omega\,(p_n'(\omega)(1+\omega) - (2n-1)\,p_n(\omega))`
(:func:`omega_taylor_coefficients`). The FSC step for an iterate w, with
:math:`z = x - w - \log w` and :math:`t = (1+w)(1+w+2z/3)`, is
:math:`w \leftarrow w + w z (t - z/2) / ((1+w)(t - z))`.
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

from ._threads import work_threads

__all__ = [
    "SparseKL",
    "deep_w_kl",
    "deep_w_kl_numpy",
    "kernels_backend",
    "kl_numerator_Ht",
    "kl_numerator_W",
    "kernel_threads",
    "kl_sparse_xlogx",
    "numba_enabled",
    "omega_taylor_coefficients",
    "sampled_dot",
    "threads",
    "warmup",
    "wright_omega",
    "wright_omega_numpy",
    "xlog_ratio_sum",
]

# Entries per block of the NumPy gathers: bounds the temporaries to ~ block × r floats.
_GATHER_BLOCK = 1 << 15
# Entries per block of the vectorised elementwise kernels (ω): a few such arrays fit in L2.
BLOCK = 1 << 15
# Fewest stored entries per thread of a sparse kernel: below, handing a range to a worker
# thread (tens of µs) costs more than it saves.
MIN_NNZ_PER_THREAD = 1 << 15
# Arguments of ω below this use the limit w = W̄ e^{-P/λ} in the deep KL W-update (ω = eˣ there).
OMEGA_TAIL = -30.0


# ---------------------------------------------------------------------------------------------
# Backend selection
# ---------------------------------------------------------------------------------------------

_lock = threading.Lock()  # guards the lazy import
_state: dict = {"module": None, "tried": False, "error": None}


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


_THREADS = threading.local()  # .n: the count a threads() block set in this thread


@contextmanager
def threads(n: int | None):
    """The compiled sparse kernels called from this thread use at most ``n`` threads inside
    the block (None: :func:`kernel_threads`'s default). Per calling thread, so
    concurrent fits may each set their own."""
    saved = getattr(_THREADS, "n", None)
    _THREADS.n = None if n is None else max(1, int(n))
    try:
        yield
    finally:
        _THREADS.n = saved


def kernel_threads() -> int:
    """Threads of the compiled sparse kernels called from this thread: the innermost
    :func:`threads` block's count, else :func:`dnmf._threads.work_threads` (BLAS's count, or
    a lone app fit's), at most the number of cores."""
    n = getattr(_THREADS, "n", None)
    if n is None:
        n = work_threads()
    return max(1, min(n, os.cpu_count() or 1))


def _row_ranges(indptr: np.ndarray, n_threads: int) -> list[tuple[int, int]]:
    """At most ``n_threads`` consecutive ranges of rows with about equal numbers of stored
    entries, each at least :data:`MIN_NNZ_PER_THREAD` (one range when there are fewer)."""
    m = indptr.size - 1
    nnz = int(indptr[-1])
    n = max(1, min(n_threads, nnz // MIN_NNZ_PER_THREAD, m))
    if n == 1:
        return [(0, m)]
    target = np.arange(1, n) * (nnz / n)
    cuts = np.searchsorted(indptr, target)  # first row boundary at or past the target
    nearer = target - indptr[cuts - 1] < indptr[cuts] - target  # or the one before it
    bounds = [0, *(cuts - nearer).tolist(), m]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _call(name: str, *args):
    """Run the numba kernel ``name`` over all rows of its structure (``args[0]`` is indptr;
    the kernel takes the row range last), split between :func:`kernel_threads` threads.
    None if numba is unavailable or failed (then NumPy runs)."""
    module = _numba()
    if module is None:
        return None
    try:
        kernel = getattr(module, name)
        ranges = _row_ranges(args[0], kernel_threads())
        if len(ranges) == 1:
            return kernel(*args, *ranges[0])
        from ._rowsplit import _run_chunks

        _run_chunks(lambda k: kernel(*args, *ranges[k]), len(ranges))
        return args[-1]
    except Exception as exc:
        from numba.core.errors import NumbaError

        if isinstance(exc, (NumbaError, OSError, ImportError, ValueError)):
            _disable_numba(exc)
            return None
        raise


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
    """Compile (or load from the disk cache) every numba kernel for ``dtypes``.

    Call it once ahead of interactive use (e.g. in a background thread when the app starts)
    so that the first fit on sparse data does not pay the compilation. Returns the seconds
    spent per dtype (empty when the NumPy backend is in use).
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
            module.kl_sparse_numerator(indptr, indices, data, W, Ht, tiny, np.empty_like(W),
                                       0, 6)
            module.sampled_dot(indptr, indices, W, Ht, np.empty(S.csr.nnz, dtype), 0, 6)
            module.kl_sparse_xlogx(indptr, indices, data, W, Ht, np.empty(6), 0, 6)
        except Exception as exc:
            _disable_numba(exc)
            return seconds
        # the compiled ω, deep KL W-update and KL log pass
        deep_w_kl(W, W, np.ones((1, 2), dtype=dtype), W, 0.5, out=np.empty_like(W))
        wright_omega(W)
        xlog_ratio_sum(W, W, np.empty_like(W))
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


def _asymptotic_guess(x: np.ndarray) -> np.ndarray:
    """x − ℓ + ℓ/x + ℓ(ℓ−2)/(2x²) + ℓ(2ℓ²−9ℓ+6)/(6x³), ℓ = log x (x > 4), one division."""
    lx = np.log(x)
    ix = np.divide(1.0, x, dtype=x.dtype)
    w = lx * (1.0 / 3.0)
    w -= 1.5
    w *= lx
    w += 1.0
    w *= ix
    w += 0.5 * lx
    w -= 1.0
    w *= ix
    w += 1.0
    w *= ix
    w *= lx
    w += x
    w -= lx
    return w


# The initial approximation by region: (lower bound, upper bound, how); see the module doc.
_OMEGA_REGIONS = (
    (-np.inf, -2.1, "exp"),
    (-2.1, 0.0, (OMEGA_LEFT_CENTRE, OMEGA_LEFT)),
    (0.0, 2.5, (1.0, OMEGA_MID)),
    (2.5, 4.0, (OMEGA_RIGHT_CENTRE, OMEGA_RIGHT)),
    (4.0, np.inf, "asymptotic"),
)


def _omega_guess(x: np.ndarray, how) -> np.ndarray:
    if how == "exp":
        e = np.exp(x)
        return e * _horner(OMEGA_EXP, e)
    if how == "asymptotic":
        return _asymptotic_guess(x)
    centre, coefs = how
    return _horner(coefs, x - centre)


def _fsc_step(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One Fritsch–Shafer–Crowley step for ω + log ω = x, in place on ``w``:
    w ← w + w z (t − z/2) / ((1+w)(t − z)), z = x − w − log w, t = (1+w)(1+w+2z/3)."""
    z = np.log(w)
    np.subtract(x, z, out=z)
    z -= w
    u = w + 1.0
    t = z * (2.0 / 3.0)
    t += u
    t *= u
    num = z * 0.5
    np.subtract(t, num, out=num)  # t − z/2
    t -= z
    t *= u  # (1 + w)(t − z)
    num *= z
    num *= w
    num /= t
    w += num
    return w


_OMEGA_BOUNDS = (-2.1, 0.0, 2.5, 4.0)  # region k holds bounds[k-1] <= x < bounds[k]



def _winitzki_guess(x: np.ndarray) -> np.ndarray:
    """ℓ (1 − log(1 + ℓ)/(2 + ℓ)), ℓ = log(1 + eˣ): within 2 % of ω on the whole real line."""
    L = np.abs(x)
    np.negative(L, out=L)
    np.exp(L, out=L)
    np.log1p(L, out=L)
    L += np.maximum(x, 0.0)  # ℓ = log(1 + eˣ) without overflow
    w = np.log1p(L)
    den = L + 2.0
    w /= den
    np.subtract(1.0, w, out=w)
    w *= L
    return w


def _omega_block(x: np.ndarray) -> np.ndarray:
    """ω of a 1-D block (see :func:`wright_omega_numpy`); returns a new array.

    A block whose entries all lie in one region gets that region's approximation (accurate
    to ~1e-4) and one refinement step; so does a block with 95 % of its entries in one region
    (the others get their own region's approximation first); any other block gets Winitzki's
    approximation (2 %) and two steps, with no masks. Entries whose series is already exact
    (x < -8, x > 1e10) or that are not finite then get their exact value (masked stores, only
    when present).
    """
    lo, hi = float(x.min()), float(x.max())  # NaN in x: both NaN
    inside = -8.0 <= lo and hi <= 1e10  # no entry needs special treatment
    if inside:
        first = sum(lo >= b for b in _OMEGA_BOUNDS)
        if first == sum(hi >= b for b in _OMEGA_BOUNDS):  # one region
            return _fsc_step(x, _omega_guess(x, _OMEGA_REGIONS[first][2]))
        # One region holds nearly all entries: its approximation everywhere, the few others
        # replaced (gathers of a few entries), one step.
        above = [x >= b for b in _OMEGA_BOUNDS]
        cumulative = [x.size, *(np.count_nonzero(a) for a in above), 0]
        counts = [cumulative[k] - cumulative[k + 1] for k in range(len(_OMEGA_REGIONS))]
        main = int(np.argmax(counts))
        if counts[main] >= 0.95 * x.size:
            w = _omega_guess(x, _OMEGA_REGIONS[main][2])
            for k, count in enumerate(counts):
                if count and k != main:
                    if k == 0:
                        mask = ~above[0]
                    elif k == len(above):
                        mask = above[-1]
                    else:
                        mask = above[k - 1] & ~above[k]
                    sel = np.flatnonzero(mask)
                    w[sel] = _omega_guess(x[sel], _OMEGA_REGIONS[k][2])
            return _fsc_step(x, w)
    w = _fsc_step(x, _fsc_step(x, _winitzki_guess(x)))
    if inside:
        return w
    low = x < -8.0  # ω = eˣ (1 − eˣ + …): the five-term series is exact to rounding
    if low.any():
        np.copyto(w, _omega_guess(x, "exp"), where=low)
    huge = x > 1e10  # x − ℓ + ℓ/x is exact to rounding there
    if huge.any():
        lx = np.log(x)
        np.copyto(w, x - lx + lx / x, where=huge)
    np.copyto(w, x, where=np.isnan(x) | (x == np.inf))
    return w


def omega_operands(x, out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The operands of an ω(x) kernel: ``x`` in float32 or float64 (other dtypes become
    float64), ``out`` (a new array like ``x`` when None) and ``x`` flattened C-contiguous."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    out = np.empty_like(x) if out is None else out
    return x, out, np.ascontiguousarray(x).reshape(-1)


def wright_omega_numpy(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ω(x) elementwise with NumPy, in the dtype of ``x`` (reference: scipy's wrightomega).

    Vectorised (NumPy's SIMD logarithm) in blocks of :data:`BLOCK` entries, so that the ~30
    passes of the formula run in the core's cache; a block whose entries all lie in one region
    of the initial approximation (the usual case inside a fit) builds no mask.

    Parameters
    ----------
    x : ndarray of float32 or float64, any shape
    out : ndarray like ``x``, optional

    Returns
    -------
    ndarray of the shape and dtype of ``x``
    """
    x, out, flat_x = omega_operands(x, out)
    target = out.reshape(-1) if out.flags.c_contiguous else np.empty_like(flat_x)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for start in range(0, flat_x.size, BLOCK):
            stop = min(start + BLOCK, flat_x.size)
            target[start:stop] = _omega_block(flat_x[start:stop])
    if not out.flags.c_contiguous:
        out[...] = target.reshape(x.shape)
    return out


def wright_omega(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ω(x) elementwise: the compiled kernel :func:`dnmf._omega_fast.wright_omega_fast` when
    numba is in use, else :func:`wright_omega_numpy`.

    Agrees with ``scipy.special.wrightomega`` to about 1e-15 relative on the whole real line
    (closer to the exact values than scipy itself), at a fraction of its cost; float32 input
    gives float32 output (computed in float64 by the compiled kernel, rounded once).
    """
    fast = _omega_fast() if _numba() is not None else None
    if fast is not None:
        try:
            return fast.wright_omega_fast(x, out)
        except Exception as exc:
            _fast_failed(exc)
    return wright_omega_numpy(x, out)


# ---------------------------------------------------------------------------------------------
# The deep KL W-update (eq. 18–19)
# ---------------------------------------------------------------------------------------------


def _deep_w_kl_block(W_t, Q, p_over_lam, W_bar, lam: float, dtype) -> np.ndarray:
    b_over_lam = np.multiply(W_t, Q, dtype=dtype)
    b_over_lam /= lam
    x = np.divide(b_over_lam, W_bar, dtype=dtype)
    tiny = np.finfo(dtype).tiny
    if not (float(x.min()) >= tiny and float(x.max()) < np.inf):  # rare: two logarithms
        odd = ~((x >= tiny) & (x < np.inf))
        x[odd] = np.log(b_over_lam[odd]) - np.log(W_bar[odd])
        np.log(x, out=x, where=~odd)
    else:
        np.log(x, out=x)
    x += p_over_lam
    tail = x < OMEGA_TAIL
    any_tail = bool(tail.any())
    if any_tail:
        np.copyto(x, 0.0, where=tail)
    omega = _omega_block(x.reshape(-1)).reshape(x.shape)
    result = np.divide(b_over_lam, omega, out=b_over_lam)
    if any_tail:  # ω(x) = eˣ there: w = (b/λ) e^{-x} = W̄ e^{-P/λ}
        np.copyto(result, W_bar * np.exp(-p_over_lam), where=tail)
    return result


def deep_w_kl_numpy(W_t, Q, P, W_bar, lam: float, out: np.ndarray | None = None) -> np.ndarray:
    """β = 1 deep W-update with NumPy: w = (b/λ) / ω(log(b/λ) + P/λ − log W̄), b = W̃ Q.

    The reference is :func:`dnmf.updates._omega_closed_form_kl` (same formula with scipy's
    wrightomega). This version is vectorised in blocks of rows (:data:`BLOCK` entries, so
    that its ~40 passes stay in the core's cache), takes one logarithm for x where b/(λW̄) is
    a normal float (two elsewhere), uses :func:`wright_omega_numpy`'s block kernel, and stays
    in the working dtype. Arguments as :func:`dnmf.updates.deep_W_closed_form`.
    """
    lam = float(lam)
    dtype = np.result_type(W_t, Q, W_bar)
    m, r = W_t.shape
    P = np.asarray(P)
    P = P.reshape(1, -1) if P.ndim == 1 else P
    p_over_lam = np.divide(P, lam, dtype=dtype)
    full_P = p_over_lam.shape[0] > 1
    W_bar = np.broadcast_to(W_bar, (m, r))
    if out is None:
        out = np.empty((m, r), dtype=dtype)
    rows = max(1, BLOCK // max(r, 1))
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        for start in range(0, m, rows):
            stop = min(start + rows, m)
            pl = p_over_lam[start:stop] if full_P else p_over_lam
            out[start:stop] = _deep_w_kl_block(W_t[start:stop], Q[start:stop], pl,
                                               W_bar[start:stop], lam, dtype)
    return out


def deep_w_kl(W_t, Q, P, W_bar, lam: float, out: np.ndarray | None = None) -> np.ndarray:
    """β = 1 deep W-update: the compiled kernel when numba is in use, else
    :func:`deep_w_kl_numpy`.

    Parameters
    ----------
    W_t, Q, W_bar : ndarrays of shape (m, r), one dtype
    P : ndarray of shape (1, r) or (m, r)
    lam : float, λ
    out : ndarray of shape (m, r), optional (may be ``W_t``: each block is read before written)

    Returns
    -------
    ndarray of shape (m, r), not floored.

    The compiled kernel (:func:`dnmf._omega_fast.deep_w_kl_fast`) runs float32 and float64
    alike (every entry in float64); it measured 2.3–2.5× faster than the NumPy kernel in
    float64 and 1.0–3× in float32 on CBCL's layers (``bench/README.md``).
    """
    if _numba() is not None:
        fast = _omega_fast()
        if fast is not None:
            try:
                return fast.deep_w_kl_fast(W_t, Q, P, W_bar, lam, out)
            except Exception as exc:
                _fast_failed(exc)
    return deep_w_kl_numpy(W_t, Q, P, W_bar, lam, out)


def xlog_ratio_sum(X: np.ndarray, R: np.ndarray, out: np.ndarray) -> float:
    """Σ x log r with 0 log r = 0, for dense 2-D X and R = X ⊘ V of one shape; ``out`` is
    scratch (may be ``R``). The compiled pass (:func:`dnmf._omega_fast.xlog_ratio_sum`) in
    float64 when numba is in use (NumPy's float64 logarithm is scalar on AVX2 machines: 2×
    slower), else, and in float32 (NumPy's float32 logarithm is vectorised), NumPy."""
    if X.dtype == np.float64 and R.dtype == np.float64 and X.ndim == 2 and _numba() is not None:
        fast = _omega_fast()
        if fast is not None:
            try:
                return fast.xlog_ratio_sum(X, R)
            except Exception as exc:
                _fast_failed(exc)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log(R, out=out)
        np.multiply(out, X, out=out)
    total = float(out.sum())
    if not np.isfinite(total):  # zeros of X: 0 · log 0 is NaN or −∞·0, its term is 0
        np.copyto(out, 0.0, where=(X == 0))
        total = float(out.sum())
    return total


_FAST: dict = {"module": None, "tried": False}


def _omega_fast() -> ModuleType | None:
    """:mod:`dnmf._omega_fast`, imported on first use; None if it failed."""
    if not _FAST["tried"]:
        with _lock:
            if not _FAST["tried"]:
                try:
                    from . import _omega_fast as module
                except Exception as exc:
                    _fast_failed(exc)
                    module = None
                _FAST.update(module=module, tried=True)
    return _FAST["module"]


def _fast_failed(exc: BaseException) -> None:
    from numba.core.errors import NumbaError

    if not isinstance(exc, (NumbaError, OSError, ImportError, ValueError)):
        raise exc
    _FAST.update(module=None, tried=True)
    warnings.warn(f"dnmf: the compiled ω kernel failed ({exc!r}); using the NumPy kernel for "
                  "the rest of this process", RuntimeWarning, stacklevel=3)


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
    for start in range(0, out.size, _GATHER_BLOCK):
        stop = min(start + _GATHER_BLOCK, out.size)
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
    if _call("sampled_dot", indptr, indices, W, Ht, out) is None:
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
    if _call("kl_sparse_numerator", indptr, indices, data, A, B, tiny, out) is None:
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
    if _call("kl_sparse_xlogx", indptr, indices, data, W, Ht, rows) is not None:
        return float(rows.sum())
    v = _sampled_dot_numpy(S, W, Ht, np.empty(S.csr.nnz, dtype=dtype)).astype(np.float64)
    x = data.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = x * np.log(x / v)
    return float(np.sum(np.where(x > 0, terms, 0.0)))
