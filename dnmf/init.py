"""Initialisations of (deep) nonnegative matrix factorisations.

Every function factorises a data matrix X (m×n) as X ≈ W H with W (m×r) and H (r×n), the
orientation of the paper and of thesis ch. 5 (docs/architecture.md §1).  For a deep model the
features are factorised layer after layer, W_{ℓ-1} ≈ W_ℓ H_ℓ with W_0 = X
(:func:`layerwise_init`), or all at once by the greedy merges of SODA (:func:`soda`).

Methods (thesis = P. De Handschutter's PhD thesis on archetypal analysis and deep MF):

- :func:`random_init` — uniform random factors scaled by √α*, α* the best multiple of WH for
  X: ⟨X, WH⟩ / ‖WH‖²_F under least squares (thesis §2.2, the Frobenius models) or
  Σ X / Σ WH under KL (the β-divergence models); the one "random" of every model.
- :func:`nndsvd` — NNDSVD / NNDSVDa / NNDSVDar of Boutsidis & Gallopoulos, identical to
  ``sklearn.decomposition._nmf._initialize_nmf`` for the same ``random_state``.
- :func:`snpa` — successive nonnegative projection algorithm (thesis Algorithm 3): greedy
  selection of r columns of X, H by fast projected gradient onto
  {h ≥ 0, eᵀh ≤ 1} (thesis Algorithm 2).
- :func:`soda` — successive orthogonal decomposition algorithm (thesis Algorithms 12–13)
  with the §6.1.2.2 speed-up for large n.
- :func:`layerwise_init` — a single-layer method applied layer by layer.

The module also holds the two numerical building blocks shared with
:mod:`dnmf.models.frobenius`: the column-wise projections (nonnegative orthant, unit
simplex, {h ≥ 0, eᵀh ≤ 1}) and the fast projected gradient with restart (thesis
Algorithm 2) for quadratic block problems.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from ._validation import check_ranks as _check_ranks

__all__ = [
    "fpgd",
    "initialize",
    "layerwise_init",
    "nndsvd",
    "random_init",
    "project_capped_simplex_columns",
    "project_nonnegative",
    "project_simplex_columns",
    "snpa",
    "soda",
]

RandomState = int | np.random.Generator | np.random.RandomState | None

_NNDSVD_VARIANTS = ("nndsvd", "nndsvda", "nndsvdar")
#: Every single-layer initialisation (the one list the estimators, the registry and the app use).
INIT_METHODS = ("random", "nndsvd", "nndsvda", "nndsvdar", "snpa", "soda")
#: The methods that accept scipy.sparse data (SNPA and SODA select and project dense columns).
SPARSE_INIT_METHODS = ("random", "nndsvd", "nndsvda", "nndsvdar")


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------
def _resolve_dtype(X, dtype) -> np.dtype:
    """Working dtype: ``dtype`` if given, else X's float dtype, else float64."""
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dt}.")
        return dt
    xdt = getattr(X, "dtype", None)
    if xdt is not None and np.dtype(xdt) in (np.dtype(np.float32), np.dtype(np.float64)):
        return np.dtype(xdt)
    return np.dtype(np.float64)


def check_data(
    X,
    *,
    name: str = "X",
    dtype=None,
    accept_sparse: bool = False,
    allow_negative: bool = False,
):
    """Validate a data matrix and return it as a C-contiguous float array (or CSR matrix).

    Raises ``ValueError`` for a non-2-D input, an empty matrix, non-finite entries, negative
    entries (unless ``allow_negative``) or a sparse input when ``accept_sparse`` is False.
    """
    dt = _resolve_dtype(X, dtype)
    if sp.issparse(X):
        if not accept_sparse:
            raise ValueError(
                f"{name} is a scipy.sparse matrix, which this method does not accept; "
                "pass a dense numpy array (e.g. X.toarray()) or use init='random'/'nndsvda'."
            )
        X = sp.csr_matrix(X, dtype=dt)
        data = X.data
        shape = X.shape
    else:
        try:
            X = np.ascontiguousarray(X, dtype=dt)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a 2-D array of real numbers ({exc}).") from exc
        data = X
        shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (m, n), got an array with shape {shape}.")
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, got {shape}.")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{name} contains NaN or infinite entries; all entries must be finite.")
    if not allow_negative and data.size and data.min() < 0:
        raise ValueError(f"{name} has negative entries (min {data.min():.3g}); it must be >= 0.")
    return X


def check_rank(r, *, name: str = "r", upper: int | None = None, upper_what: str = "") -> int:
    """Validate a factorisation rank (positive int, optionally ≤ ``upper``)."""
    if isinstance(r, bool) or not isinstance(r, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {r!r}.")
    r = int(r)
    if r < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {r}.")
    if upper is not None and r > upper:
        raise ValueError(f"{name} must be <= {upper} ({upper_what}), got {r}.")
    return r


def check_ranks(ranks, n: int | None = None) -> tuple[int, ...]:
    """The ranks rule of every model (:func:`dnmf._validation.check_ranks`: r_1 > … > r_L ≥ 1),
    and r_1 ≤ n when given: SODA merges the n columns of X and cannot give more of them."""
    out = _check_ranks(ranks)
    if n is not None and out[0] > n:
        raise ValueError(f"r_1 = {out[0]} is larger than n_features = {n}, the number of columns "
                         "of X: SODA merges columns of X, so r_1 <= n_features "
                         "(init='snpa' or 'random' accept any r_1)")
    return out


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """Turn ``random_state`` (None, int, Generator or RandomState) into a Generator."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise ValueError(
            "random_state must be None, a non-negative int or a numpy.random.Generator, "
            f"got {random_state!r}."
        )
    if random_state < 0:
        raise ValueError(f"random_state must be a non-negative int, got {random_state}.")
    return np.random.default_rng(int(random_state))


def _floor(M: np.ndarray, positive: bool) -> np.ndarray:
    if positive:
        np.maximum(M, np.finfo(M.dtype).eps, out=M)
    return M


# --------------------------------------------------------------------------------------
# projections (column-wise, vectorised) and the fast projected gradient (thesis Alg. 2)
# --------------------------------------------------------------------------------------
def project_nonnegative(Y: np.ndarray) -> np.ndarray:
    """In place projection onto the nonnegative orthant, Y ← max(Y, 0)."""
    np.maximum(Y, 0, out=Y)
    return Y


def project_simplex_columns(Y: np.ndarray) -> np.ndarray:
    """In place Euclidean projection of every column of Y (r×n) onto the unit simplex.

    The projection of y is max(y − θ, 0) with θ the root of Σ_i max(y_i − θ, 0) = 1.
    θ is found by Michelot's algorithm, vectorised over columns: start from
    θ = (Σ_i y_i − 1)/r (all entries active) and repeat θ ← (Σ_{y_i>θ} y_i − 1)/#{y_i > θ};
    θ increases to the exact root and the active set shrinks, so it stops — exactly — after
    at most r passes (usually 1–3 for the near-feasible points of a projected-gradient
    step), each pass only over the columns whose active set still changed.  This is the
    same projection as the sort-based algorithm (Held et al. 1974), faster for the short
    columns of the factors.
    """
    r, n = Y.shape
    if n == 0:
        return Y
    theta = (Y.sum(axis=0) - 1.0) / r
    count_old = np.full(n, r)
    idx = None  # columns still iterating (None: all)
    Ys, th = Y, theta
    while True:
        active = Ys > th
        count = active.sum(axis=0)
        # θ is nondecreasing in exact arithmetic; the max() makes it so in floating point
        # too, so the active sets shrink and the loop ends after at most r passes
        new = np.maximum((np.einsum("ij,ij->j", Ys, active) - 1.0) / count, th)
        changed = count < count_old
        if idx is None:
            theta = new
        else:
            theta[idx] = new
        if not changed.any():
            break
        idx = np.flatnonzero(changed) if idx is None else idx[changed]
        Ys = Y[:, idx]
        th = theta[idx]
        count_old = count[changed]
    Y -= theta.astype(Y.dtype, copy=False)
    np.maximum(Y, 0, out=Y)
    return Y


def project_capped_simplex_columns(Y: np.ndarray) -> np.ndarray:
    """In place projection of every column onto {h ≥ 0, eᵀh ≤ 1} (thesis Algorithm 3, l. 6).

    If the nonnegative part of a column sums to at most one it is the projection, otherwise
    the projection lies on the face eᵀh = 1, the unit simplex.
    """
    P = np.maximum(Y, 0)
    over = P.sum(axis=0) > 1
    if np.any(over):
        sub = np.ascontiguousarray(Y[:, over])
        P[:, over] = project_simplex_columns(sub)
    Y[...] = P
    return Y


def _lambda_max(M: np.ndarray | None) -> float:
    """Largest eigenvalue of a symmetric PSD matrix (1 for the identity, None)."""
    if M is None:
        return 1.0
    if M.shape[0] == 1:
        return float(M[0, 0])
    return float(np.linalg.eigvalsh(M)[-1])


def fpgd(
    Y: np.ndarray,
    B: np.ndarray,
    *,
    P: np.ndarray | None = None,
    R: np.ndarray | None = None,
    project: Callable[[np.ndarray], np.ndarray] = project_nonnegative,
    n_iter: int = 10,
    alpha1: float = 0.05,
    tol: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Fast projected gradient with restart (thesis Algorithm 2) on a quadratic block problem.

    Minimises f(Y) = ½⟨Y, P Y R⟩ − ⟨B, Y⟩ over the feasible set of ``project`` (P, R
    symmetric positive semidefinite; ``None`` stands for the identity).  Every block problem
    of the Frobenius (deep) models has this form: e.g. ½‖A − W H‖²_F = f(W) + const with
    P = I, R = H Hᵀ, B = A Hᵀ.

    The step is s_b = 1/L with the exact Lipschitz constant L = λ_max(P) λ_max(R) of ∇f,
    the Nesterov extrapolation is line 5 of Algorithm 2 (α_1 = ``alpha1``), and the
    restart of lines 6–7 is applied in its safe form: an iterate that increases f is
    *rejected* (the previous one is kept, extrapolation is reset).  The next step is then a
    plain projected gradient step, which cannot increase f on a convex set; hence
    f(Y_out) ≤ f(Y_in), the guarantee Algorithm 2 states for its output.

    Only one product P·Y·R is computed per iteration: by linearity P Z R for the
    extrapolated point is the same combination of the stored products.

    Parameters
    ----------
    Y : ndarray (p, q)
        Starting point (feasible); not modified.
    B : ndarray (p, q)
        Linear term.
    P, R : ndarray (p, p) and (q, q) or None
        Quadratic terms.
    project : callable
        In-place projection onto the feasible set.
    n_iter : int
        Number of inner iterations B.
    alpha1 : float in [0, 1]
        Initial extrapolation parameter α_1.
    tol : float
        Stop when an accepted step decreases f by less than tol·max(|f|, tiny).

    Returns
    -------
    Y : ndarray (p, q)
        The new iterate (a new array).
    f : float
        f(Y) (without the constant of the original least-squares problem).
    """
    lip = _lambda_max(P) * _lambda_max(R)

    def apply(V: np.ndarray, out: np.ndarray) -> np.ndarray:
        if P is None and R is None:
            out[...] = V
        elif P is None:
            np.matmul(V, R, out=out)
        elif R is None:
            np.matmul(P, V, out=out)
        else:
            np.matmul(P @ V, R, out=out)
        return out

    Y = np.array(Y, copy=True, order="C")
    M = apply(Y, np.empty_like(Y))
    f = 0.5 * float(np.vdot(Y, M)) - float(np.vdot(B, Y))
    if not (np.isfinite(lip) and lip > 0.0) or n_iter <= 0:
        return Y, f
    step = 1.0 / lip
    Z = Y.copy()
    MZ = M.copy()
    Ynew = np.empty_like(Y)
    Mnew = np.empty_like(Y)
    alpha = alpha1
    at_restart = True  # Z == Y
    tiny = np.finfo(Y.dtype).tiny
    for _ in range(n_iter):
        # Ynew = P_W(Z − s ∇f(Z)),  ∇f(Z) = P Z R − B
        np.subtract(MZ, B, out=Ynew)
        Ynew *= -step
        Ynew += Z
        project(Ynew)
        apply(Ynew, Mnew)
        fnew = 0.5 * float(np.vdot(Ynew, Mnew)) - float(np.vdot(B, Ynew))
        if not fnew <= f:  # also rejects NaN
            if at_restart:
                break  # a plain projected-gradient step did not decrease f: stationary
            Z[...] = Y
            MZ[...] = M
            alpha = alpha1
            at_restart = True
            continue
        alpha_next = 0.5 * (np.sqrt(alpha**4 + 4.0 * alpha**2) - alpha**2)
        beta = alpha * (1.0 - alpha) / (alpha**2 + alpha_next)
        alpha = alpha_next
        # Z = Ynew + β (Ynew − Y), and the same for the products
        np.subtract(Ynew, Y, out=Z)
        Z *= beta
        Z += Ynew
        np.subtract(Mnew, M, out=MZ)
        MZ *= beta
        MZ += Mnew
        Y, Ynew = Ynew, Y
        M, Mnew = Mnew, M
        decrease = f - fnew
        f = fnew
        at_restart = False
        if tol > 0 and decrease <= tol * max(abs(f), tiny):
            break
    return Y, f


# --------------------------------------------------------------------------------------
# random
# --------------------------------------------------------------------------------------
def _inner_with_product(X, W: np.ndarray, H: np.ndarray) -> float:
    """⟨X, W H⟩ without forming W H when X is sparse."""
    if sp.issparse(X):
        return float(np.vdot(W, np.asarray(X @ H.T)))
    return float(np.vdot(W, X @ H.T))


def random_init(
    X,
    r: int,
    rng: RandomState = None,
    dtype=None,
    *,
    positive: bool = False,
    beta: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled uniform random initialisation — the one "random" of every dnmf model.

    W⁰ and H⁰ have i.i.d. entries uniform on [0, 1) (drawn in float64, then cast, so a seed
    gives the same start in float32 and float64); then W⁰ ← √α* W⁰, H⁰ ← √α* H⁰ with α* the
    best multiple of W⁰H⁰ for X under the divergence D_β:

    * β = 2 (thesis §2.2, the Frobenius models): α* = argmin_α ½‖X − α W⁰H⁰‖²_F
      = ⟨X, W⁰H⁰⟩ / ‖W⁰H⁰‖²_F (if α* ≤ 0, which needs negative data, ‖X‖_F/‖W⁰H⁰‖_F);
    * β = 1 (the β-divergence models, as the authors' code): α* = argmin_α D_KL(X | α W⁰H⁰)
      = Σ X / Σ W⁰H⁰, i.e. W⁰H⁰ has the mean of X (1 if X sums to 0).

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix (m, n)
        Data (finite; negative entries allowed).
    r : int
        Rank.
    rng : int, numpy.random.Generator or None
        Seed or generator; a given seed gives bit-identical factors.
    dtype : numpy.float32, numpy.float64 or None
        Working dtype (default: X's float dtype, else float64).
    positive : bool
        Floor every entry at the machine epsilon of the dtype (β-divergence models).
    beta : {1, 2}
        The divergence the scaling is optimal for.

    Returns
    -------
    W : ndarray (m, r)
    H : ndarray (r, n)
    """
    X = check_data(X, dtype=dtype, accept_sparse=True, allow_negative=True)
    W, H = _random_factors(X, check_rank(r), check_random_state(rng), X.dtype, beta)
    return _floor(W, positive), _floor(H, positive)


def _random_factors_kl(m: int, n: int, r: int, total: float, gen: np.random.Generator,
                       dtype) -> tuple[np.ndarray, np.ndarray]:
    """:func:`random_init` with β = 1 for data of shape (m, n) whose entries sum to ``total``
    (all it needs of X; the portable and Dask backends pass their own sum). No floor."""
    W = gen.uniform(size=(m, r)).astype(dtype)
    H = gen.uniform(size=(r, n)).astype(dtype)
    mean_wh = float(W.sum(axis=0) @ H.sum(axis=1)) / (m * n)
    mean_x = total / (m * n)
    s = np.sqrt(mean_x / mean_wh) if mean_x > 0 and mean_wh > 0 else 1.0
    W *= s
    H *= s
    return W, H


def _random_factors(X, r: int, gen: np.random.Generator, dtype,
                    beta: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`random_init` on validated X (no floor)."""
    m, n = X.shape
    if beta == 1:
        return _random_factors_kl(m, n, r, float(X.sum()), gen, dtype)
    W = gen.uniform(size=(m, r)).astype(dtype)
    H = gen.uniform(size=(r, n)).astype(dtype)
    if beta == 2:
        norm_wh2 = float(np.vdot(W.T @ W, H @ H.T))
        inner = _inner_with_product(X, W, H)
        if norm_wh2 > 0 and inner > 0:
            alpha = inner / norm_wh2
        else:
            xnorm = float(sp.linalg.norm(X)) if sp.issparse(X) else float(np.linalg.norm(X))
            alpha = xnorm / np.sqrt(norm_wh2) if norm_wh2 > 0 else 0.0
        s = np.dtype(dtype).type(np.sqrt(alpha))
    else:
        raise ValueError(f"beta must be 1 or 2 for the random initialisation, got {beta!r}")
    W *= s
    H *= s
    return W, H


# --------------------------------------------------------------------------------------
# NNDSVD
# --------------------------------------------------------------------------------------
def _sklearn_seed(random_state: RandomState):
    """A seed sklearn's check_random_state accepts (int or RandomState)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return random_state
    check_random_state(random_state)  # validates
    return int(random_state)


def nndsvd(
    X,
    r: int,
    variant: str = "nndsvd",
    *,
    random_state: RandomState = None,
    svd_solver: str = "randomized",
    eps: float = 1e-6,
    dtype=None,
    positive: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Nonnegative double SVD initialisation (Boutsidis & Gallopoulos, 2008).

    Same algorithm, constants and random streams as
    ``sklearn.decomposition._nmf._initialize_nmf`` (entries below ``eps`` set to 0;
    'nndsvda' fills the zeros with mean(X); 'nndsvdar' with |mean(X)·N(0,1)|/100), so with
    ``svd_solver="randomized"`` and the same int ``random_state`` the factors equal
    scikit-learn's.  ``svd_solver="exact"`` uses the full LAPACK SVD instead.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix (m, n), nonnegative
    r : int, 1 ≤ r ≤ min(m, n)
    variant : {"nndsvd", "nndsvda", "nndsvdar"}
    random_state : int, Generator, RandomState or None
        Seeds the randomized SVD and the 'nndsvdar' fill.
    svd_solver : {"randomized", "exact"}
    eps : float
        Entries below eps are set to zero before the fill.
    dtype : numpy.float32, numpy.float64 or None
    positive : bool
        Floor the factors at machine epsilon (for 'nndsvd', whose zeros block MU updates).

    Returns
    -------
    W : ndarray (m, r)
    H : ndarray (r, n)
    """
    from sklearn.utils.extmath import randomized_svd, svd_flip

    if variant not in _NNDSVD_VARIANTS:
        raise ValueError(f"variant must be one of {_NNDSVD_VARIANTS}, got {variant!r}.")
    if svd_solver not in ("randomized", "exact"):
        raise ValueError(f"svd_solver must be 'randomized' or 'exact', got {svd_solver!r}.")
    X = check_data(X, dtype=dtype, accept_sparse=True)
    m, n = X.shape
    r = check_rank(r, upper=min(m, n), upper_what="min(m, n) for an SVD-based init")
    seed = _sklearn_seed(random_state)
    if svd_solver == "randomized":
        U, S, V = randomized_svd(X, r, random_state=seed)
    else:
        dense = X.toarray() if sp.issparse(X) else X
        U, S, V = np.linalg.svd(dense, full_matrices=False)
        U, V = svd_flip(U, V)
        U, S, V = U[:, :r], S[:r], V[:r]
    U = U.astype(X.dtype, copy=False)
    V = V.astype(X.dtype, copy=False)
    W = np.zeros_like(U)
    H = np.zeros_like(V)
    # the leading singular pair of a nonnegative matrix is nonnegative
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(V[0, :])
    if r > 1:
        x, y = U[:, 1:], V[1:, :]
        x_p, y_p = np.maximum(x, 0), np.maximum(y, 0)
        x_n, y_n = np.abs(np.minimum(x, 0)), np.abs(np.minimum(y, 0))
        x_p_nrm = np.linalg.norm(x_p, axis=0)
        y_p_nrm = np.linalg.norm(y_p, axis=1)
        x_n_nrm = np.linalg.norm(x_n, axis=0)
        y_n_nrm = np.linalg.norm(y_n, axis=1)
        m_p, m_n = x_p_nrm * y_p_nrm, x_n_nrm * y_n_nrm
        use_p = m_p > m_n
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.where(use_p, x_p / x_p_nrm, x_n / x_n_nrm)
            v = np.where(use_p[:, None], y_p / y_p_nrm[:, None], y_n / y_n_nrm[:, None])
        sigma = np.where(use_p, m_p, m_n)
        lbd = np.sqrt(S[1:] * sigma)
        W[:, 1:] = lbd * u
        H[1:, :] = lbd[:, None] * v
        # an all-zero singular vector part (0/0) contributes nothing
        np.nan_to_num(W, copy=False, nan=0.0)
        np.nan_to_num(H, copy=False, nan=0.0)
    W[W < eps] = 0
    H[H < eps] = 0
    if variant == "nndsvda":
        avg = X.mean()
        W[W == 0] = avg
        H[H == 0] = avg
    elif variant == "nndsvdar":
        from sklearn.utils import check_random_state as sk_check_random_state

        gen = sk_check_random_state(seed)
        avg = X.mean()
        W[W == 0] = abs(avg * gen.standard_normal(size=len(W[W == 0])) / 100)
        H[H == 0] = abs(avg * gen.standard_normal(size=len(H[H == 0])) / 100)
    return _floor(W, positive), _floor(H, positive)


# --------------------------------------------------------------------------------------
# SNPA
# --------------------------------------------------------------------------------------
def snpa(
    X,
    r: int,
    *,
    inner_iter: int = 200,
    tol: float = 1e-12,
    dtype=None,
    positive: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Successive nonnegative projection algorithm (Gillis 2014; thesis Algorithm 3).

    At step t the column of largest residual norm, p = argmax_j ‖R(:, j)‖₂, is added to
    the index set J (ties within a relative 1e-6 go to the column of largest norm in X, as
    in Gillis' reference code), then every column of X is projected onto conv(X(:, J) ∪ {0}):
    H̃ = argmin_H ½‖X − X(:, J) H‖²_F s.t. H ≥ 0, eᵀH ≤ eᵀ (solved by fast projected
    gradient, thesis Algorithm 2, warm-started from the previous H̃), and R = X − X(:, J) H̃.

    If the residual vanishes before r indices are chosen (X has fewer than r extreme
    columns), the remaining indices are the unchosen columns of largest norm, so that an
    initialisation of rank r is always returned; their rows of H are then 0.  The same rule
    completes r > n: once all n columns are chosen (X = X(:, J) H̃ is then exact), the
    remaining r − n indices repeat the columns in order of decreasing norm, again with rows
    of H equal to 0.  W = X(:, J) then has repeated columns, and W H is the exact fit the
    r ≥ n warning of the estimators speaks of; the selection for r ≤ n is unchanged.

    Parameters
    ----------
    X : ndarray (m, n)
        Dense data, finite (negative entries allowed).
    r : int ≥ 1
        r > n repeats columns (see above).
    inner_iter : int
        Maximal projected-gradient iterations per step for H̃.
    tol : float
        Relative residual ‖R(:, p)‖²/max_j ‖X(:, j)‖² under which the residual counts as 0.
    dtype : numpy.float32, numpy.float64 or None
    positive : bool
        Floor H at machine epsilon.

    Returns
    -------
    J : ndarray of int (r,)
        Selected column indices in selection order; W = X[:, J].
    H : ndarray (r, n)
        Coefficients, H ≥ 0, eᵀH ≤ eᵀ.
    """
    X = check_data(X, dtype=dtype, allow_negative=True)
    m, n = X.shape
    r = check_rank(r)
    norm_x0 = np.einsum("ij,ij->j", X, X)
    nx_max = float(norm_x0.max())
    norm_r = norm_x0.copy()
    J: list[int] = []
    H = np.zeros((0, n), dtype=X.dtype)
    chosen = np.zeros(n, dtype=bool)
    exhausted = nx_max == 0.0
    for _t in range(min(r, n)):
        cand = np.where(chosen, -np.inf, norm_r)
        mx = float(cand.max())
        if exhausted or mx <= tol * nx_max:
            exhausted = True
            p = int(np.argmax(np.where(chosen, -np.inf, norm_x0)))
            J.append(p)
            chosen[p] = True
            H = np.vstack([H, np.zeros((1, n), dtype=X.dtype)])
            continue
        ties = np.flatnonzero(cand >= mx - 1e-6 * mx)
        p = int(ties[np.argmax(norm_x0[ties])])
        J.append(p)
        chosen[p] = True
        W = X[:, J]
        H = np.vstack([H, np.zeros((1, n), dtype=X.dtype)])
        # warm start: the new point represents itself exactly
        H[:, p] = 0
        H[-1, p] = 1
        H, _ = fpgd(
            H,
            W.T @ X,
            P=W.T @ W,
            project=project_capped_simplex_columns,
            n_iter=inner_iter,
            tol=1e-10,
        )
        Res = X - W @ H
        norm_r = np.einsum("ij,ij->j", Res, Res)
    if r > n:
        by_norm = np.argsort(-norm_x0, kind="stable")
        J.extend(int(by_norm[t % n]) for t in range(r - n))
        H = np.vstack([H, np.zeros((r - n, n), dtype=X.dtype)])
    return np.asarray(J, dtype=np.intp), _floor(np.ascontiguousarray(H), positive)


# --------------------------------------------------------------------------------------
# SODA
# --------------------------------------------------------------------------------------
def _pair_merge(a, b, c):
    """Closed-form rank-one ONMF of two points (thesis Algorithm 12, vectorised).

    For points x_i, x_j with a = ‖x_i‖², b = ‖x_j‖², c = x_iᵀx_j, eq. (6.2) is minimised
    by (h_i, h_j) = (α, √(1−α²)), the leading eigenvector of the Gram matrix
    [[a, c], [c, b]], w = α x_i + √(1−α²) x_j, and the error is half its smallest
    eigenvalue, e(i, j) = ½ λ_min = ½ (ab − c²)/λ_max.  α = cos θ with
    tan 2θ = 2c/(a − b), which is the thesis' α = √((L + √L)/(2L)), L = 4K² + 1,
    K = c/(a − b) for a > b (and its mirror image for a < b); α = 1/√2 when a = b.

    Returns (err, alpha, lam_max) with the shapes of the broadcast inputs.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    c = np.asarray(c, dtype=float)
    half_diff = 0.5 * (a - b)
    lam_max = 0.5 * (a + b) + np.hypot(half_diff, c)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam_min = np.where(lam_max > 0, np.maximum(a * b - c * c, 0.0) / lam_max, 0.0)
    theta = np.where(a == b, np.pi / 4, 0.5 * np.arctan2(2.0 * c, a - b))
    alpha = np.cos(theta)
    return 0.5 * lam_min, alpha, lam_max


def soda(
    X,
    ranks: Sequence[int],
    *,
    n_start: int | None = None,
    random_state: RandomState = None,
    dtype=None,
    positive: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Successive orthogonal decomposition algorithm (thesis Algorithms 12–13).

    Starting from X = U I_n, the two columns of U whose merge (optimal rank-one orthogonal
    NMF of the pair, eq. 6.2, Algorithm 12) has the smallest error e(i, j) are replaced
    by the merged vector w appended at the end (Algorithm 13, line 17); when the number of
    columns reaches r_ℓ, W_ℓ = U.  The merges define H_ℓ: each column of W_{ℓ-1} is
    assigned to one column of W_ℓ with its merge coefficient (products of α's and
    √(1−α²)'s along its merge path), so H_ℓ ≥ 0 has one nonzero per column and
    orthonormal rows (H_ℓ H_ℓᵀ = I), and W_{ℓ-1} ≈ W_ℓ H_ℓ is an orthogonal NMF.

    All pairwise errors are kept in an n×n table (computed from the Gram matrix), and the
    row minima are cached so a merge costs O(n m) instead of a full rescan.

    Speed-up for large n (thesis §6.1.2.2, "RAND+SODA"): when n > ``n_start``, n_start
    columns are drawn at random (among the nonzero ones), every column of X is assigned
    to the drawn column of largest cosine with the least-squares coefficient
    xᵀu/‖u‖², and SODA unfolds the drawn columns.  H_1 is then the product of this
    assignment and the first SODA merges (still one nonzero per column; X ≈ W_1 H_1).

    Parameters
    ----------
    X : ndarray (m, n), nonnegative
    ranks : sequence of int
        r_1 ≥ r_2 ≥ … ≥ r_L, r_1 ≤ n.
    n_start : int or None
        Size of the random subset for large n (default: n if n ≤ 1000, else
        max(1000, 10 r_1) capped at n).  Must satisfy r_1 ≤ n_start ≤ n.
    random_state : int, Generator or None
        Only used when the random subset is drawn.
    dtype, positive : as in :func:`random_init`.

    Returns
    -------
    Ws : list of L ndarrays, Ws[ℓ-1] of shape (m, r_ℓ)
    Hs : list of L ndarrays, Hs[0] (r_1, n), Hs[ℓ-1] (r_ℓ, r_{ℓ-1})
    """
    X = check_data(X, dtype=dtype)
    m, n = X.shape
    ranks = check_ranks(ranks, n=n)
    if n_start is None:
        n_start = n if n <= 1000 else min(n, max(1000, 10 * ranks[0]))
    n_start = check_rank(n_start, name="n_start", upper=n, upper_what="the number of columns")
    if n_start < ranks[0]:
        raise ValueError(f"n_start must be >= ranks[0] = {ranks[0]}, got {n_start}.")

    # ---- optional random pre-clustering (RAND+SODA) --------------------------------
    if n_start < n:
        gen = check_random_state(random_state)
        norms = np.linalg.norm(X, axis=0)
        nz = np.flatnonzero(norms > 0)
        pool = nz if nz.size >= n_start else np.arange(n)
        pick = np.sort(gen.choice(pool, size=n_start, replace=False))
        U0 = X[:, pick]
        un = np.linalg.norm(U0, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = (U0.T @ X) / np.where(un > 0, un, 1.0)[:, None]
        assign = np.argmax(cos, axis=0)
        cols = np.arange(n)
        denom = un[assign] ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            coef0 = np.where(denom > 0, cos[assign, cols] * un[assign] / denom, 0.0)
        U = U0.astype(float)
    else:
        assign = np.arange(n)
        coef0 = np.ones(n)
        U = X.astype(float)

    d0 = U.shape[1]
    r_last = ranks[-1]
    # slots 0..d0-1 hold the current columns; a merge reuses slot p for w, frees slot q
    cols_U = U.copy()
    G = cols_U.T @ cols_U
    sq = np.diag(G).copy()
    err, _, _ = _pair_merge(sq[:, None], sq[None, :], G)
    np.fill_diagonal(err, np.inf)
    active = np.ones(d0, dtype=bool)
    stamp = np.arange(d0)  # Algorithm 13 order: merged vectors appended at the end
    next_stamp = d0
    # mapping of the columns of the previous layer (initially the d0 start columns)
    prev_slot = np.arange(d0)  # slot that each previous-layer column currently lives in
    prev_coef = np.ones(d0)
    row_min = err.min(axis=1)
    row_arg = err.argmin(axis=1)

    Ws: list[np.ndarray] = []
    Hs: list[np.ndarray] = []
    targets = list(ranks)
    d = d0

    def emit_layer():
        nonlocal prev_slot, prev_coef
        slots = np.flatnonzero(active)
        slots = slots[np.argsort(stamp[slots], kind="stable")]
        Wl = cols_U[:, slots].astype(X.dtype)
        pos = np.empty(d0, dtype=np.intp)
        pos[slots] = np.arange(slots.size)
        r_prev = prev_slot.size
        Hl = np.zeros((slots.size, r_prev), dtype=X.dtype)
        Hl[pos[prev_slot], np.arange(r_prev)] = prev_coef
        Ws.append(Wl)
        Hs.append(Hl)
        # the next layer starts from these columns, each in its own slot
        prev_slot = slots.copy()
        prev_coef = np.ones(slots.size)

    while True:
        while targets and d == targets[0]:
            emit_layer()
            targets.pop(0)
        if not targets or d <= r_last:
            break
        i = int(np.argmin(row_min))
        j = int(row_arg[i])
        p, q = (i, j) if stamp[i] < stamp[j] else (j, i)  # p: earlier column = x_i of Alg. 12
        e_pq, alpha, lam = _pair_merge(sq[p], sq[q], G[p, q])
        alpha = float(alpha)
        beta = float(np.sqrt(max(1.0 - alpha * alpha, 0.0)))
        w = alpha * cols_U[:, p] + beta * cols_U[:, q]
        # update the assignment of the previous-layer columns
        in_p = prev_slot == p
        in_q = prev_slot == q
        prev_coef = np.where(in_p, prev_coef * alpha, np.where(in_q, prev_coef * beta, prev_coef))
        prev_slot = np.where(in_q, p, prev_slot)
        # slot p now holds w, slot q is freed
        cols_U[:, p] = w
        active[q] = False
        stamp[p] = next_stamp
        next_stamp += 1
        d -= 1
        g_new = alpha * G[p] + beta * G[q]
        g_new[p] = float(lam)
        G[p, :] = g_new
        G[:, p] = g_new
        sq[p] = float(lam)
        e_new, _, _ = _pair_merge(sq[p], sq, g_new)
        e_new[~active] = np.inf
        e_new[p] = np.inf
        err[q, :] = np.inf
        err[:, q] = np.inf
        err[p, :] = e_new
        err[:, p] = e_new
        # refresh the cached row minima
        row_min[q] = np.inf
        stale = active & ((row_arg == p) | (row_arg == q))
        stale[p] = True
        better = active & (e_new < row_min)
        row_min[better] = e_new[better]
        row_arg[better] = p
        for s in np.flatnonzero(stale):
            row_arg[s] = int(np.argmin(err[s]))
            row_min[s] = err[s, row_arg[s]]

    # H_1 must map the n columns of X: compose the random assignment with the first merges
    if n_start < n:
        H1 = Hs[0]
        Hx = np.zeros((H1.shape[0], n), dtype=X.dtype)
        rows = np.argmax(H1, axis=0)  # one nonzero per column
        vals = H1[rows, np.arange(H1.shape[1])]
        Hx[rows[assign], np.arange(n)] = vals[assign] * coef0
        Hs[0] = Hx
    Ws = [_floor(np.ascontiguousarray(W), positive) for W in Ws]
    Hs = [_floor(np.ascontiguousarray(H), positive) for H in Hs]
    return Ws, Hs


# --------------------------------------------------------------------------------------
# layer by layer
# --------------------------------------------------------------------------------------
def layerwise_init(
    X,
    ranks: Sequence[int],
    method: str = "snpa",
    *,
    random_state: RandomState = None,
    dtype=None,
    positive: bool = False,
    **kwargs,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Initialise a deep factorisation one layer at a time: W_{ℓ-1} ≈ W_ℓ H_ℓ, W_0 = X.

    Parameters
    ----------
    X : ndarray (m, n) (or scipy.sparse for 'random' and the NNDSVD variants)
    ranks : sequence of int
        r_1 ≥ … ≥ r_L.
    method : {"snpa", "nndsvd", "nndsvda", "nndsvdar", "random", "soda"}
        Single-layer method applied to W_{ℓ-1} ('soda' builds all layers at once).
        For 'snpa', W_ℓ = W_{ℓ-1}(:, J_ℓ) and H_ℓ is SNPA's coefficient matrix.
    random_state : int, Generator or None
        One generator is created and used for all layers (deterministic for a seed).
    dtype : numpy.float32, numpy.float64 or None
    positive : bool
        Floor every factor at machine epsilon (β-divergence models).
    **kwargs
        Passed to the single-layer method (e.g. ``inner_iter`` for SNPA).

    Returns
    -------
    Ws : list of L ndarrays, Ws[ℓ-1] (m, r_ℓ)
    Hs : list of L ndarrays, Hs[0] (r_1, n), Hs[ℓ-1] (r_ℓ, r_{ℓ-1})
    """
    if method not in INIT_METHODS:
        raise ValueError(f"method must be one of {INIT_METHODS}, got {method!r}.")
    accept_sparse = method in SPARSE_INIT_METHODS
    allow_negative = method in ("random", "snpa")
    X = check_data(X, dtype=dtype, accept_sparse=accept_sparse, allow_negative=allow_negative)
    # SODA merges columns of X, so it cannot reach r_1 > n; SNPA repeats columns (see snpa)
    ranks = check_ranks(ranks, n=X.shape[1] if method == "soda" else None)
    gen = check_random_state(random_state)
    if method == "soda":
        return soda(X, ranks, random_state=gen, positive=positive, **kwargs)
    Ws: list[np.ndarray] = []
    Hs: list[np.ndarray] = []
    A = X
    for ell, r in enumerate(ranks, start=1):
        if method == "snpa":
            J, H = snpa(A, r, **kwargs)
            W = np.ascontiguousarray(A[:, J])
        elif method == "random":
            W, H = random_init(A, r, gen, **kwargs)
        else:
            try:
                W, H = nndsvd(A, r, method, random_state=gen, **kwargs)
            except ValueError as exc:
                raise ValueError(f"layer {ell}: {exc}") from exc
        W = _floor(W, positive)
        H = _floor(H, positive)
        Ws.append(W)
        Hs.append(H)
        A = W
    return Ws, Hs


def initialize(
    X,
    r: int,
    method: str = "random",
    *,
    random_state: RandomState = None,
    dtype=None,
    positive: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Single-layer initialisation X ≈ W H by the named method.

    Parameters
    ----------
    X : ndarray (m, n) (scipy.sparse for 'random' and the NNDSVD variants)
    r : int
    method : {"random", "nndsvd", "nndsvda", "nndsvdar", "snpa", "soda"}
        'snpa' returns W = X(:, J) and SNPA's H; 'soda' runs Algorithm 13 down to rank r.
    random_state : int, Generator or None
    dtype : numpy.float32, numpy.float64 or None
    positive : bool
        Floor both factors at machine epsilon.

    Returns
    -------
    W : ndarray (m, r)
    H : ndarray (r, n)
    """
    if method not in INIT_METHODS:
        raise ValueError(f"method must be one of {INIT_METHODS}, got {method!r}.")
    if method == "random":
        return random_init(X, r, random_state, dtype, positive=positive)
    if method in _NNDSVD_VARIANTS:
        return nndsvd(X, r, method, random_state=random_state, dtype=dtype, positive=positive)
    if method == "snpa":
        Xd = check_data(X, dtype=dtype, allow_negative=True)
        J, H = snpa(Xd, r, positive=positive)
        return _floor(np.ascontiguousarray(Xd[:, J]), positive), H
    Ws, Hs = soda(X, (r,), random_state=random_state, dtype=dtype, positive=positive)
    return Ws[0], Hs[0]
