"""Synthetic layered data with known ground truth at every layer.

Both generators return a ``generic`` `Dataset` (X is features × samples, m × n) whose
``ground_truth`` holds ``"W": [W_1*, …, W_L*]`` and ``"H": [H_1*, …, H_L*]`` with

* the deep structure exactly:  ``W_ℓ* = W_{ℓ+1}* @ H_{ℓ+1}*`` (W_ℓ* is *computed* as that
  product, so the equality holds to the last bit), and ``X* = W_1* @ H_1*``;
* the paper's normalisation (``normalization="rows"``, the default): every H_ℓ* has rows that
  sum to one, ``H_ℓ* e = e`` — the constraint of deep β-NMF (paper eq. 6). The scale is moved
  into W_L*, which leaves the product unchanged.

Noise model (thesis §2.4.1, eq. 2.8): with N ~ 𝒩(0, 1) entrywise and relative level ν,
``X = max(X* + ν N ‖X*‖_F / ‖N‖_F, 0)``. Before the clipping ‖X − X*‖_F = ν‖X*‖_F exactly; the
clipping at 0 (to keep X nonnegative) can only bring X closer to X*, so
``‖X − X*‖_F ≤ ν‖X*‖_F``. The achieved level is stored in ``ground_truth["noise_actual"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._types import DataError, Dataset

#: The thesis' layer-2 basis W_2* (seed 004, §5.3): m = 3, r_2 = 3.
THESIS_W2 = np.array(
    [
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
        [0.5, 0.5, 0.0],
    ]
)
#: The thesis' H_2* (r_2 = 3 × r_1 = 6); its columns sum to one.
THESIS_H2 = np.array(
    [
        [0.2, 0.0, 0.8, 0.0, 0.8, 0.2],
        [0.8, 0.8, 0.2, 0.2, 0.0, 0.0],
        [0.0, 0.2, 0.0, 0.8, 0.2, 0.8],
    ]
)
#: W_1* = W_2* H_2* as printed in the thesis (3 × 6, columns sum to one).
THESIS_W1 = np.array(
    [
        [0.1, 0.1, 0.4, 0.4, 0.5, 0.5],
        [0.4, 0.5, 0.1, 0.5, 0.1, 0.4],
        [0.5, 0.4, 0.5, 0.1, 0.4, 0.1],
    ]
)
#: The ten relative noise levels of thesis §5.3.
THESIS_NOISE_LEVELS = (0.01, 0.0251, 0.0631, 0.0949, 0.1267, 0.1585, 0.2384, 0.3182, 0.3981, 1.0)


def add_relative_noise(Xstar: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Thesis eq. (2.8) then clip at 0: ``max(X* + ν N ‖X*‖/‖N‖, 0)``."""
    if noise < 0 or not np.isfinite(noise):
        raise DataError(f"noise must be a finite number ≥ 0 (a relative level), got {noise!r}.")
    if noise == 0:
        return Xstar.copy()
    N = rng.standard_normal(Xstar.shape)
    X = Xstar + noise * N * (np.linalg.norm(Xstar) / np.linalg.norm(N))
    np.maximum(X, 0.0, out=X)
    return X


def normalize_chain(W_top: np.ndarray, Hs: Sequence[np.ndarray]) -> tuple[list, list]:
    """Rescale a chain X* = W_L H_L ⋯ H_1 so that every H_ℓ has unit row sums.

    Working up from H_1: D = diag(H_ℓ e), H_ℓ ← D⁻¹ H_ℓ, H_{ℓ+1} ← H_{ℓ+1} D (W_L ← W_L D at
    the top). The product is unchanged. Then W_ℓ := W_{ℓ+1} @ H_{ℓ+1} top-down, so the layer
    equalities hold exactly in floating point. Returns ([W_1, …, W_L], [H_1, …, H_L]).
    """
    Hs = [np.array(H, dtype=float) for H in Hs]
    W_top = np.array(W_top, dtype=float)
    L = len(Hs)
    for l in range(L):
        d = Hs[l].sum(axis=1)
        if np.any(d <= 0):
            raise DataError(f"H_{l + 1} has an all-zero row; cannot normalise its rows to one.")
        Hs[l] = Hs[l] / d[:, None]
        if l + 1 < L:
            Hs[l + 1] = Hs[l + 1] * d[None, :]
        else:
            W_top = W_top * d[None, :]
    Ws = [None] * L
    Ws[L - 1] = W_top
    for l in range(L - 2, -1, -1):
        Ws[l] = Ws[l + 1] @ Hs[l + 1]
    return Ws, Hs


def _chain_columns(W_top: np.ndarray, Hs: Sequence[np.ndarray]) -> tuple[list, list]:
    """The chain as given (no rescaling), with W_ℓ := W_{ℓ+1} @ H_{ℓ+1} computed top-down."""
    L = len(Hs)
    Ws = [None] * L
    Ws[L - 1] = np.array(W_top, dtype=float)
    for l in range(L - 2, -1, -1):
        Ws[l] = Ws[l + 1] @ Hs[l + 1]
    return Ws, [np.array(H, dtype=float) for H in Hs]


def _dirichlet_columns(rng: np.random.Generator, r: int, n: int, alpha: float,
                       purity: float | None = None) -> np.ndarray:
    """r × n matrix whose columns are Dirichlet(alpha·1_r) samples (thesis §2.4.1); with
    ``purity`` p < 1, columns whose largest entry exceeds p are resampled."""
    H = rng.dirichlet(np.full(r, alpha), size=n).T
    if purity is not None:
        if not (1.0 / r < purity <= 1.0):
            raise DataError(f"purity must be in (1/r, 1] = ({1 / r:.3g}, 1], got {purity!r}.")
        for _ in range(10_000):
            bad = H.max(axis=0) > purity
            if not bad.any():
                break
            H[:, bad] = rng.dirichlet(np.full(r, alpha), size=int(bad.sum())).T
        else:  # pragma: no cover - only for absurd alpha/purity combinations
            raise DataError(f"could not sample columns with purity ≤ {purity} for alpha={alpha}.")
    H = np.nan_to_num(H, nan=0.0)
    return H


def thesis_example(
    n_samples: int = 1000,
    noise: float = 0.01,
    alpha: float = 0.05,
    purity: float | None = None,
    normalization: str = "rows",
    seed: int = 0,
) -> Dataset:
    """The thesis' two-layer example (seed 004 §5.3): m = 3, r = (6, 3), n = 1000.

    W_2* (3×3) and H_2* (3×6) are the printed matrices, so W_1* = W_2* H_2* is the printed
    hexagon; the columns of H_1* are Dirichlet(0.05); X = max(W_1* H_1* + noise, 0) with the
    relative noise level ν = ``noise`` (thesis levels: `THESIS_NOISE_LEVELS`).

    ``normalization="rows"`` (default) rescales the ground truth to the paper's H_ℓ* e = e
    (rows of H sum to one; the columns of W_1* are then the hexagon's vertices scaled by the
    row sums of the Dirichlet H_1*, which changes neither directions nor MRSA).
    ``normalization="columns"`` keeps the thesis' matrices verbatim (columns of every W_ℓ* and
    H_ℓ* sum to one: the data lie on the unit simplex).
    """
    n_samples = _posint(n_samples, "n_samples", minimum=2)
    rng = np.random.default_rng(seed)
    H1 = _dirichlet_columns(rng, 6, n_samples, alpha, purity)
    if normalization == "rows":
        Ws, Hs = normalize_chain(THESIS_W2, [H1, THESIS_H2])
    elif normalization == "columns":
        Ws, Hs = _chain_columns(THESIS_W2, [H1, THESIS_H2])
    else:
        raise DataError(f"normalization must be 'rows' or 'columns', got {normalization!r}.")
    Xstar = Ws[0] @ Hs[0]
    X = add_relative_noise(Xstar, float(noise), rng)
    actual = float(np.linalg.norm(X - Xstar) / np.linalg.norm(Xstar))
    gt = {
        "W": Ws,
        "H": Hs,
        "X_clean": Xstar,
        "noise": float(noise),
        "noise_actual": actual,
        "normalization": _norm_text(normalization),
        "names": [[f"vertex {k + 1}" for k in range(6)], ["a", "b", "c"]],
    }
    prov = (
        f"Thesis example (seed 004 §5.3): m=3, r=(6, 3), n={n_samples}, W_1* = W_2* H_2* "
        f"(printed matrices), H_1* columns ~ Dirichlet({alpha:g})"
        + (f" with purity ≤ {purity:g}" if purity is not None else "")
        + f", relative Gaussian noise ν={float(noise):g} (eq. 2.8) clipped at 0 "
        f"(achieved {actual:.4g}); seed={seed}; {normalization} normalisation."
    )
    return Dataset(X=X, kind="generic", name="synthetic-thesis", provenance=prov,
                   ground_truth=gt, sample_axis=1)  # the thesis' columns are the data points


def layered(
    ranks: Sequence[int] = (8, 4, 2),
    n_features: int = 50,
    n_samples: int = 500,
    alpha: float = 0.1,
    sparsity: float = 0.3,
    noise: float = 0.01,
    seed: int = 0,
) -> Dataset:
    """A general L-layer generator: X* = W_L* H_L* ⋯ H_1* with r_1 > r_2 > … > r_L.

    * W_L* (m × r_L): uniform(0, 1) entries, a fraction ``sparsity`` of them set to 0 (every
      row and column keeps a nonzero);
    * H_ℓ* for ℓ ≥ 2 (r_ℓ × r_{ℓ-1}): uniform(0, 1) entries with a fraction ``sparsity`` set
      to 0; every row and column keeps a nonzero and no two columns are proportional (so the
      r_{ℓ-1} layer-(ℓ-1) features are distinct mixtures of the r_ℓ layer-ℓ features);
    * H_1* (r_1 × n): columns ~ Dirichlet(``alpha``) — small alpha gives near-pure samples;
    * normalisation: rows of every H_ℓ* sum to one (`normalize_chain`); W_ℓ* = W_{ℓ+1}* H_{ℓ+1}*
      exactly; X = max(W_1* H_1* + ν N ‖X*‖/‖N‖, 0) with ν = ``noise``.
    """
    ranks = tuple(_posint(r, "ranks", minimum=1) for r in ranks)
    if len(ranks) < 1:
        raise DataError("ranks must list at least one rank, e.g. (8, 4, 2).")
    if any(a <= b for a, b in zip(ranks, ranks[1:])):
        raise DataError(f"ranks must decrease strictly (r_1 > r_2 > …), got {ranks}.")
    m = _posint(n_features, "n_features", minimum=2)
    n = _posint(n_samples, "n_samples", minimum=2)
    if ranks[0] > min(m, n) and len(ranks) == 1:
        raise DataError(f"rank {ranks[0]} exceeds min(n_features, n_samples) = {min(m, n)}.")
    if not (0.0 <= sparsity < 1.0):
        raise DataError(f"sparsity must be in [0, 1), got {sparsity!r}.")
    if not alpha > 0:
        raise DataError(f"alpha must be > 0, got {alpha!r}.")
    rng = np.random.default_rng(seed)
    L = len(ranks)
    W_top = _sparse_positive(rng, m, ranks[-1], sparsity, distinct_columns=True)
    Hs = [_dirichlet_columns(rng, ranks[0], n, alpha)]
    for l in range(1, L):
        Hs.append(_sparse_positive(rng, ranks[l], ranks[l - 1], sparsity, distinct_columns=True))
    Ws, Hs = normalize_chain(W_top, Hs)
    Xstar = Ws[0] @ Hs[0]
    X = add_relative_noise(Xstar, float(noise), rng)
    actual = float(np.linalg.norm(X - Xstar) / np.linalg.norm(Xstar))
    gt = {
        "W": Ws,
        "H": Hs,
        "X_clean": Xstar,
        "noise": float(noise),
        "noise_actual": actual,
        "normalization": _norm_text("rows"),
    }
    prov = (
        f"Synthetic {L}-layer data: m={m}, n={n}, ranks={ranks}, H_1* columns ~ "
        f"Dirichlet({alpha:g}), sparsity {sparsity:g} in W_L* and H_ℓ* (ℓ≥2), relative "
        f"Gaussian noise ν={float(noise):g} clipped at 0 (achieved {actual:.4g}); seed={seed}; "
        "rows of every H_ℓ* sum to one."
    )
    return Dataset(X=X, kind="generic", name="synthetic-layers", provenance=prov,
                   ground_truth=gt, sample_axis=1)  # as the thesis: columns are data points


# ---------------------------------------------------------------------------- helpers
def _norm_text(normalization: str) -> str:
    if normalization == "rows":
        return "rows of every H_l* sum to one (H_l* e = e); W_l* = W_{l+1}* H_{l+1}* exactly"
    return "columns of every W_l* and H_l* sum to one (thesis); W_l* = W_{l+1}* H_{l+1}* exactly"


def _posint(v, what: str, minimum: int = 1) -> int:
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be an integer ≥ {minimum}, got {v!r}.") from None
    if iv != v or iv < minimum:
        raise DataError(f"{what} must be an integer ≥ {minimum}, got {v!r}.")
    if iv > 10_000_000:
        raise DataError(f"{what}={iv} is too large for a synthetic example.")
    return iv


def _sparse_positive(rng: np.random.Generator, rows: int, cols: int, sparsity: float,
                     distinct_columns: bool = False) -> np.ndarray:
    """Uniform(0.1, 1) entries with a fraction `sparsity` zeroed; every row and column keeps
    a nonzero; optionally no two columns proportional. Deterministic given rng."""
    for _ in range(1000):
        A = rng.uniform(0.1, 1.0, size=(rows, cols))
        A[rng.random((rows, cols)) < sparsity] = 0.0
        if (A.sum(axis=0) > 0).all() and (A.sum(axis=1) > 0).all():
            if not distinct_columns or cols == 1 or _columns_distinct(A):
                return A
    raise DataError(  # pragma: no cover - only for extreme sparsity with tiny sizes
        f"could not draw a {rows}×{cols} factor with sparsity {sparsity}; lower the sparsity.")


def _columns_distinct(A: np.ndarray) -> bool:
    U = A / np.linalg.norm(A, axis=0, keepdims=True)
    G = U.T @ U
    np.fill_diagonal(G, 0.0)
    return bool(G.max() < 1 - 1e-6)
