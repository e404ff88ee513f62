"""The computations behind the Learn pages: small, deterministic NMF demonstrations.

Each function takes plain options and returns plain data (dicts of arrays and DataFrames) that
:mod:`dnmf.learn_plots` draws; the pages only choose options and show figures. The
mathematics each demo illustrates is summarised in ``docs/learn.md``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import init as init_module
from . import metrics
from ._rowsplit import one_blas_thread
from .datasets.samples import load_sample
from .models._common import Progress
from .models.nmf import DESCENT_SOLVERS, SOLVERS, fit_nmf

__all__ = [
    "LEARN_DATASETS",
    "RaceResult",
    "deep_vs_multilayer",
    "geometry_cones",
    "geometry_examples",
    "layer_cones",
    "learn_dataset",
    "non_uniqueness",
    "race",
    "svd_vs_nmf",
    "zero_locking",
]

#: The data the Learn pages offer, with the options that keep their demos fast.
LEARN_DATASETS = {
    "swimmer": {},
    "faces": {},
    "digits": {"n_samples": 400},
}


def learn_dataset(name: str):
    """A sample data set by name, in the size the Learn pages use (see :data:`LEARN_DATASETS`)."""
    if name not in LEARN_DATASETS:
        raise ValueError(f"unknown Learn data set {name!r}; choose one of "
                         f"{', '.join(LEARN_DATASETS)}")
    return load_sample(name, **LEARN_DATASETS[name])


def _relative_error(X: np.ndarray, W: np.ndarray, H: np.ndarray) -> float:
    return float(np.linalg.norm(X - W @ H) / np.linalg.norm(X))


def _scaled(X: np.ndarray) -> tuple[np.ndarray, float]:
    s = float(X.max())
    return X / s, s


# ---------------------------------------------------------------------------------------------
# What NMF finds
# ---------------------------------------------------------------------------------------------


def svd_vs_nmf(name: str = "swimmer", rank: int = 17,
               ranks: tuple[int, ...] = (1, 4, 8, 13, 17), n_iter: int = 60,
               seed: int = 0) -> dict:
    """SVD (= uncentred PCA) against NMF on one data set.

    Returns
    -------
    dict with
        ``svd`` (k, n) the leading right singular vectors (signed, holistic), k = min(rank,
        numerical rank of X),
        ``nmf`` (rank, n) the rows of H of a rank-``rank`` NMF (HALS, ``n_iter`` sweeps),
        ``image_shape``, ``errors`` a DataFrame rank / method / relative error
        ‖X − X̂‖_F / ‖X‖_F (SVD: Eckart–Young optimum, a lower bound for NMF),
        ``signs`` the fraction of negative entries of each set of components.
    """
    ds = learn_dataset(name)
    X, _ = _scaled(np.asarray(ds.X, dtype=float))
    rank = int(min(rank, min(X.shape) - 1))
    with one_blas_thread():  # see dnmf.models.nmf.fit_nmf
        _, s, Vt = np.linalg.svd(X, full_matrices=False)
    total = float(np.sum(s**2))
    rows = []
    for r in ranks:
        if r > min(X.shape):
            continue
        rows.append({"rank": r, "method": "SVD / PCA",
                     "relative error": math.sqrt(max(total - float(np.sum(s[:r] ** 2)), 0.0)
                                                 / total)})
    H_show = None
    for r in sorted(set(ranks) | {rank}):
        if r > min(X.shape):
            continue
        W, H = _hals(X, r, n_iter, seed)
        if r == rank:
            H_show = H
        if r in ranks:
            rows.append({"rank": r, "method": "NMF", "relative error": _relative_error(X, W, H)})
    numerical_rank = int(np.sum(s > 1e-10 * s[0]))  # beyond it the "components" are noise
    k = min(rank, numerical_rank)
    Vr = Vt[:k] * np.sign(Vt[:k].sum(axis=1, keepdims=True) + 1e-300)
    return {
        "svd": Vr, "nmf": H_show, "image_shape": ds.image_shape, "name": name,
        "numerical_rank": numerical_rank,
        "errors": pd.DataFrame(rows),
        "negative_share": {"SVD / PCA": float(np.mean(Vr < -1e-12)),
                           "NMF": float(np.mean(H_show < 0))},
    }


def _hals(X, r: int, n_iter: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    W, H = init_module.initialize(X, r, "random", random_state=seed)
    W, H, *_ = fit_nmf(X, np.array(W), np.array(H), solver="hals", max_iter=n_iter)
    return W, H


def non_uniqueness(a: float = 0.5) -> dict:
    """Two exact NMFs of one matrix: X = W H = (W Q)(Q⁻¹ H) with Q = [[1, a], [0, 1]].

    W Q ≥ 0 for every a ≥ 0, and Q⁻¹ H = [[1, −a], [0, 1]] H ≥ 0 as long as every column of H
    has h₁ ≥ a h₂ — here for a ≤ 1. Both products equal X to rounding.
    """
    if not 0 <= a <= 1:
        raise ValueError(f"a must be in [0, 1] for Q⁻¹ H to stay nonnegative, got {a!r}")
    W = np.array([[1.0, 0.0], [0.8, 0.3], [0.4, 0.7], [0.0, 1.0]])
    H = np.array([[1.0, 0.9, 0.6, 0.5, 1.2], [0.0, 0.5, 0.6, 0.2, 1.0]])
    Q = np.array([[1.0, a], [0.0, 1.0]])
    Qinv = np.linalg.inv(Q)
    W2, H2 = W @ Q, Qinv @ H
    X = W @ H
    return {"X": X, "W": W, "H": H, "Q": Q, "W2": W2, "H2": H2,
            "residuals": (float(np.abs(X - W @ H).max()), float(np.abs(X - W2 @ H2).max())),
            "nonnegative": bool(W2.min() >= 0 and H2.min() >= -1e-12)}


def zero_locking(eps: float = 1e-4, n_iter: int = 400, seed: int = 0) -> dict:
    """MU from the exact factors of a small matrix with one entry of W set to 0.

    The entry W[0, 0] is 1 in the truth; with ε = 0 it stays 0 (MU multiplies it) and the
    error stalls; with ε > 0 it restarts from ε and grows back (geometrically, so from a tiny
    ε only after many iterations). Returns both runs' curves (ε = 0 and ``eps``).
    """
    rng = np.random.default_rng(seed)
    W_true = rng.uniform(0.2, 1.0, size=(20, 3))
    W_true[0, 0] = 1.0
    H_true = rng.uniform(0.2, 1.0, size=(3, 30))
    X = W_true @ H_true
    out = {"eps": float(eps), "n_iter": int(n_iter)}
    W_start = W_true * rng.uniform(0.7, 1.3, size=W_true.shape)
    H_start = H_true * rng.uniform(0.7, 1.3, size=H_true.shape)
    W_start[0, 0] = 0.0
    curves = []
    for floor in sorted({0.0, float(eps)}):
        W, H = W_start.copy(), H_start.copy()
        if floor > 0:
            np.maximum(W, floor, out=W)
        entry = [float(W[0, 0])]
        progress = Progress(1, n_iter,
                            lambda info, W=W, entry=entry: entry.append(float(W[0, 0])))
        fit_nmf(X, W, H, solver="mu", max_iter=n_iter, eps=floor, progress=progress)
        hist = progress.history()
        curves.append(pd.DataFrame({
            "iteration": hist["iteration"], "ε": floor,
            "relative error": np.sqrt(2 * hist["error_layer_1"]) / np.linalg.norm(X),
            "W[0, 0]": entry[: len(hist)],
        }))
    out["curves"] = pd.concat(curves, ignore_index=True)
    return out


# ---------------------------------------------------------------------------------------------
# The algorithms race
# ---------------------------------------------------------------------------------------------


@dataclass
class RaceResult:
    """Every solver from the same initial factors.

    Attributes
    ----------
    history : DataFrame, one row per solver and iteration: solver, iteration, seconds (update
        time only, cumulative), relative error ‖X − WH‖_F / ‖X‖_F
    snapshots : dict solver -> dict iteration -> (W, H)
    monotone : dict solver -> bool, whether the error never rose (to rounding)
    image_shape : (h, w) or None
    kind : the data's kind
    """

    history: pd.DataFrame
    snapshots: dict = field(default_factory=dict)
    monotone: dict = field(default_factory=dict)
    increases: dict = field(default_factory=dict)
    image_shape: tuple[int, int] | None = None
    kind: str = "generic"
    snapshot_iterations: tuple[int, ...] = ()


def race(name: str = "swimmer", rank: int = 17, init: str = "random", eps: float = 1e-16,
         max_iter: int = 60, seed: int = 0, solvers: tuple[str, ...] = SOLVERS,
         pgd_step: float | None = None, n_snapshots: int = 13) -> RaceResult:
    """Run ``solvers`` for ``max_iter`` iterations from the same start on a Learn data set.

    ``init``: "random", "nndsvd" (zeros included: MU keeps them) or "snpa". ``eps``: MU's floor.
    ``pgd_step``: None for Armijo, c for a fixed step c / L⁰ (diverges for c > 2).
    """
    ds = learn_dataset(name)
    X, _ = _scaled(np.asarray(ds.X, dtype=float))
    rank = int(min(rank, min(X.shape) - 1))
    if init not in ("random", "nndsvd", "nndsvda", "snpa"):
        raise ValueError(f"init must be random, nndsvd, nndsvda or snpa, got {init!r}")
    W0, H0 = init_module.initialize(X, rank, init, random_state=seed)
    W0, H0 = np.array(W0, order="C"), np.array(H0, order="C")
    norm = float(np.linalg.norm(X))
    keep = frozenset(int(round(v)) for v in np.linspace(0, max_iter, n_snapshots))
    frames, snaps, mono, incr = [], {}, {}, {}
    for solver in solvers:
        W, H = W0.copy(), H0.copy()
        if solver == "mu" and eps > 0:
            np.maximum(W, eps, out=W)
            np.maximum(H, eps, out=H)
        progress = Progress(1, max_iter, None)
        step = pgd_step if solver == "pgd" else None
        *_, kept = fit_nmf(X, W, H, solver=solver, max_iter=max_iter, eps=eps, step=step,
                           progress=progress, keep=keep)
        hist = progress.history()
        err = np.sqrt(np.maximum(2 * hist["error_layer_1"].to_numpy(), 0)) / norm
        frames.append(pd.DataFrame({"solver": solver, "iteration": hist["iteration"],
                                    "seconds": hist["solver_seconds"],
                                    "relative error": err}))
        # Rounding: ½‖X − WH‖² is computed to ~ε_mach ‖X‖², so the relative error carries
        # noise of ~√ε_mach ≈ 1.5e-8 near an exact fit: smaller rises are not counted.
        rises = np.diff(err) > 1e-9 * err[:-1] + 1e-7
        mono[solver] = bool(not rises.any())
        incr[solver] = int(rises.sum())
        snaps[solver] = kept
    return RaceResult(history=pd.concat(frames, ignore_index=True), snapshots=snaps,
                      monotone=mono, increases=incr, image_shape=ds.image_shape, kind=ds.kind,
                      snapshot_iterations=tuple(sorted(keep)))


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------

#: The 3 × 3 W whose columns span the cones of the geometry views.
GEOMETRY_W = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])


def geometry_examples(kind: str = "separable", n: int = 150, seed: int = 0) -> dict:
    """A 3 × n matrix X = W H with a known exact NMF, for the simplex and cone views.

    ``kind``: "separable" (H contains the identity: the columns of W are data points),
    "scattered" (columns of H spread over the simplex, none near its vertices: sufficiently
    scattered, the NMF is still essentially unique) or "central" (columns of H near the
    centre: many triangles contain the data, the NMF is not unique).
    The columns of H sum to one, so the columns of X lie in the triangle conv(W).
    """
    rng = np.random.default_rng(seed)
    if kind == "separable":
        H = rng.dirichlet(np.full(3, 0.6), size=n).T
        H[:, :3] = np.eye(3)
    elif kind == "scattered":
        H = rng.dirichlet(np.full(3, 1.0), size=4 * n).T
        H = H[:, H.max(axis=0) < 0.75][:, :n]  # every vertex cut off, the edges still reached
    elif kind == "central":
        H = rng.dirichlet(np.full(3, 12.0), size=n).T
    else:
        raise ValueError(f"kind must be separable, scattered or central, got {kind!r}")
    X = GEOMETRY_W @ H
    J, _ = init_module.snpa(X, 3)
    return {"X": X, "W": GEOMETRY_W.copy(), "H": H, "kind": kind, "snpa": np.asarray(J)}


def geometry_cones(kind: str = "separable", seed: int = 0, n_iter: int = 300) -> dict:
    """The exact W, SNPA's picks and an NMF fitted from a random start, on one example."""
    ex = geometry_examples(kind, seed=seed)
    X = ex["X"]
    W0, H0 = init_module.initialize(X, 3, "random", random_state=seed)
    W, H, *_ = fit_nmf(X, np.array(W0), np.array(H0), solver="hals", max_iter=n_iter)
    ex["W_fit"] = W
    ex["fit_error"] = _relative_error(X, W, H)
    return ex


def layer_cones(noise: float = 0.01, n_iter: int = 500, deep_iter: int = 200,
                seed: int = 0) -> dict:
    """Multilayer and deep NMF (β = 2, random start) of the thesis' §5.3 example: W_1 (6
    columns) and W_2 (3 columns) in the simplex of R³; the truth has cone(W_1*) ⊂ cone(W_2*).

    ``n_iter`` MU iterations per layer (multilayer, and the deep model's warm start), then
    ``deep_iter`` deep iterations. ``cone_residual`` is, per model, the largest relative
    distance of a column of W_1 from cone(W_2) (nonnegative least squares): 0 when nested.
    """
    from scipy.optimize import nnls

    from .estimators import DeepNMF, MultilayerNMF

    ds = load_sample("synthetic-thesis", noise=noise, seed=seed)
    X = ds.X
    common = dict(ranks=(6, 3), beta=2.0, random_state=seed, eval_every=0)
    ml = MultilayerNMF(max_iter=n_iter, **common).fit(X)
    deep = DeepNMF(n_init_iter=n_iter, max_iter=deep_iter, **common).fit(X)
    residual = {}
    for key, est in (("multilayer", ml), ("deep", deep)):
        W1, W2 = est.W_
        residual[key] = max(nnls(W2, W1[:, k])[1] / np.linalg.norm(W1[:, k])
                            for k in range(W1.shape[1]))
    return {"X": X, "truth": ds.ground_truth["W"], "multilayer": ml.W_, "deep": deep.W_,
            "cone_residual": residual}


# ---------------------------------------------------------------------------------------------
# Deep vs multilayer with ground truth
# ---------------------------------------------------------------------------------------------


def deep_vs_multilayer(example: str = "thesis", noise: float = 0.05, n_iter: int = 150,
                       seeds: tuple[int, ...] = (0, 1), min_vol: bool = True) -> dict:
    """MRSA per layer of multilayer, deep and min-vol deep KL-NMF against the truth.

    Every model starts each layer with SNPA (the data are near-separable) and runs ``n_iter``
    iterations per phase (multilayer: per layer; deep: warm start per layer, then the deep
    phase). ``example``: "thesis" (§5.3, m = 3, r = (6, 3): truth W_1*, W_2*, noise ν =
    ``noise``) or "swimmer" (r = (17, 8): the truth is the 17 parts at layer 1, scored on the
    rows of H_1; there is no truth at layer 2).

    Returns
    -------
    dict with ``table`` (seed / model / layer / MRSA in [0, 100], lower is better),
    ``summary`` (mean over seeds), ``best`` (layer -> the model of lowest mean MRSA),
    ``balance`` (the deep model's per-layer errors over its
    deep iterations divided by their starting values, first seed), ``seconds``.
    """
    from .estimators import DeepNMF, MinVol, MultilayerNMF

    t0 = time.perf_counter()
    rows, balance = [], None
    for seed in seeds:
        if example == "thesis":
            ds = load_sample("synthetic-thesis", noise=noise, seed=seed)
            ranks = (6, 3)
        elif example == "swimmer":
            ds = load_sample("swimmer")
            ranks = (17, 8)
        else:
            raise ValueError(f"example must be 'thesis' or 'swimmer', got {example!r}")
        X = ds.X
        common = dict(ranks=ranks, beta=1.0, random_state=seed)
        models = {
            "multilayer": MultilayerNMF(max_iter=n_iter, init="snpa", eval_every=0, **common),
            "deep": DeepNMF(n_init_iter=n_iter, max_iter=n_iter, layer_init="snpa",
                            eval_every=1, **common),
        }
        if min_vol:
            models["deep min-vol"] = DeepNMF(n_init_iter=n_iter, max_iter=n_iter,
                                             layer_init="snpa", eval_every=0,
                                             min_vol=MinVol(alpha_tilde=0.5), **common)
        for model, est in models.items():
            est.fit(X)
            for layer in range(1, len(ranks) + 1):
                if example == "thesis":
                    score = metrics.mrsa(ds.ground_truth["W"][layer - 1], est.W_[layer - 1]).mean
                elif layer == 1:
                    score = metrics.mrsa(ds.ground_truth["H"][0].T, est.H_[0].T).mean
                else:
                    continue
                rows.append({"seed": seed, "model": model, "layer": layer, "MRSA": score})
        if balance is None:
            hist = models["deep"].history_
            balance = pd.DataFrame({"iteration": hist["iteration"]})
            for c in (c for c in hist.columns if c.startswith("error_layer_")):
                balance[f"layer {c.rsplit('_', 1)[1]}"] = hist[c] / hist[c].iloc[0]
    table = pd.DataFrame(rows)
    summary = table.groupby(["model", "layer"], as_index=False, sort=False)["MRSA"].mean()
    best = {int(layer): str(part.loc[part["MRSA"].idxmin(), "model"])
            for layer, part in summary.groupby("layer")}
    return {"table": table, "summary": summary, "best": best, "balance": balance,
            "example": example,
            "seconds": time.perf_counter() - t0}


__all__ += ["DESCENT_SOLVERS"]
