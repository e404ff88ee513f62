"""Samson unmixing: layer-1 endmembers of multilayer, deep and min-vol deep KL-NMF vs the truth.

X is the Samson cube as bands × pixels (156 × 9025, floored at 1e-9 as the authors do); the
columns of W_1 (156 × r_1) are the estimated endmembers and are compared with the three
ground-truth endmembers of end3.mat (soil, tree, water) after Hungarian matching (the r_1 ≥ 3
estimated columns are matched to the 3 true ones so that the total angle is minimal). Scores:

* SAD: spectral angle arccos(⟨m, w⟩ / (‖m‖‖w‖)), in degrees, per material and mean;
* MRSA: mean-removed spectral angle, (100/π) arccos of the correlation of the mean-centred
  spectra (0 – 100), per material and mean.

Both are scale invariant, so the models' different normalisations (multilayer: columns of W_ℓ
with unit maximum; min-vol: columns summing to one) do not matter. ``dnmf.metrics`` supplies
the scores when it exists; otherwise the local implementations below are used.

Multilayer runs ``--init-iter + --iter`` MU iterations per layer; deep and min-vol deep start
from ``--init-iter`` multilayer iterations per layer (same seed, so the same warm start) and
run ``--iter`` iterations of Algorithm 1 / Algorithm 2.

    .venv/bin/python bench/samson.py                        # r = (4, 2), 300 + 300 iterations
    .venv/bin/python bench/samson.py --ranks 3 2 --seeds 0 1 2
    .venv/bin/python bench/samson.py --quick                # 60 + 60 iterations
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io
from scipy.optimize import linear_sum_assignment

from dnmf import DeepNMF, MinVol, MultilayerNMF

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
MATERIALS = ("soil", "tree", "water")


def load_samson(data_dir: Path = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(X 156×9025 floored at 1e-9, M 156×3 true endmembers) from samson_1.mat and end3.mat."""
    X = np.maximum(np.asarray(scipy.io.loadmat(data_dir / "samson_1.mat")["V"], dtype=float),
                   1e-9)
    M = np.asarray(scipy.io.loadmat(data_dir / "end3.mat")["M"], dtype=float)
    return X, M


def _angles(M: np.ndarray, W: np.ndarray, center: bool) -> np.ndarray:
    """Angle (radians) between every column of M (m×k) and every column of W (m×r): (k, r)."""
    if center:
        M = M - M.mean(axis=0)
        W = W - W.mean(axis=0)
    Mn = M / np.maximum(np.linalg.norm(M, axis=0), np.finfo(float).tiny)
    Wn = W / np.maximum(np.linalg.norm(W, axis=0), np.finfo(float).tiny)
    return np.arccos(np.clip(Mn.T @ Wn, -1.0, 1.0))


def match_endmembers(M: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Index into the columns of W matched to each column of M (Hungarian on the SAD)."""
    rows, cols = linear_sum_assignment(_angles(M, W, center=False))
    order = np.empty(M.shape[1], dtype=int)
    order[rows] = cols
    return order


def _local_sad(M: np.ndarray, W: np.ndarray) -> np.ndarray:
    """SAD in degrees between matched columns (W already matched to M)."""
    return np.degrees(np.diag(_angles(M, W, center=False)))


def _local_mrsa(M: np.ndarray, W: np.ndarray) -> np.ndarray:
    """MRSA (0–100) between matched columns."""
    return 100.0 / np.pi * np.diag(_angles(M, W, center=True))


def scores(M: np.ndarray, W: np.ndarray) -> dict:
    """Per-material SAD (degrees) and MRSA of the columns of W matched to the truth M.

    The matching minimises the total SAD; the MRSA is scored on the same matched columns.
    """
    try:  # the project's metrics module, when present
        from dnmf import metrics
    except ImportError:
        Wm = W[:, match_endmembers(M, W)]
        return {"sad": _local_sad(M, Wm), "mrsa": _local_mrsa(M, Wm)}
    matched = metrics.sad(M, W)
    return {"sad": np.degrees(matched.per_column),
            "mrsa": metrics.mrsa(M, W, perm=matched.perm).per_column}


def run(X: np.ndarray, M: np.ndarray, ranks, init_iter: int, n_iter: int, seed: int,
        min_vol: MinVol, dtype=np.float64) -> dict:
    """Fit the three models once; return their scores and timings."""
    out = {}
    t0 = time.perf_counter()
    ml = MultilayerNMF(ranks=ranks, beta=1.0, max_iter=init_iter + n_iter, random_state=seed,
                       eval_every=50, dtype=dtype).fit(X)
    out["multilayer"] = {**scores(M, ml.W_[0]), "seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    deep = DeepNMF(ranks=ranks, beta=1.0, n_init_iter=init_iter, max_iter=n_iter,
                   random_state=seed, eval_every=50, dtype=dtype).fit(X)
    out["deep"] = {**scores(M, deep.W_[0]), "seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    mv = DeepNMF(ranks=ranks, beta=1.0, min_vol=min_vol, n_init_iter=init_iter,
                 max_iter=n_iter, random_state=seed, eval_every=50, dtype=dtype).fit(X)
    out["min-vol deep"] = {**scores(M, mv.W_[0]), "seconds": time.perf_counter() - t0,
                           "timings": mv.timings_}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, nargs="+", default=[4, 2])
    parser.add_argument("--init-iter", type=int, default=300)
    parser.add_argument("--iter", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--alpha-tilde", type=float, nargs="+", default=[0.1])
    parser.add_argument("--delta", type=float, default=1.0)
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--admm-max-iter", type=int, default=50)
    parser.add_argument("--admm-tol", type=float, default=1e-6)
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--quick", action="store_true", help="60 + 60 iterations")
    args = parser.parse_args(argv)
    if args.quick:
        args.init_iter, args.iter = 60, 60
    if not ((DATA_DIR / "samson_1.mat").exists() and (DATA_DIR / "end3.mat").exists()):
        print(f"samson_1.mat / end3.mat not found in {DATA_DIR}; nothing to do")
        return 0
    X, M = load_samson()
    ranks = tuple(args.ranks)
    alpha = args.alpha_tilde[0] if len(args.alpha_tilde) == 1 else tuple(args.alpha_tilde)
    min_vol = MinVol(alpha_tilde=alpha, delta=args.delta, rho=args.rho,
                     admm_max_iter=args.admm_max_iter, admm_tol=args.admm_tol)
    dtype = np.float32 if args.float32 else np.float64
    print(f"Samson {X.shape[0]}×{X.shape[1]}, r = {ranks}, {args.init_iter} multilayer init "
          f"+ {args.iter} iterations, {np.dtype(dtype).name}, seeds {args.seeds}")
    print(f"min-vol: {min_vol}")
    runs = [run(X, M, ranks, args.init_iter, args.iter, s, min_vol, dtype) for s in args.seeds]
    header = (f"{'model':<14}" + "".join(f"{'SAD ' + name:>12}" for name in MATERIALS)
              + f"{'mean SAD':>10}{'mean MRSA':>11}{'seconds':>9}")
    print("layer-1 endmembers vs end3.mat (SAD in degrees; mean ± std over seeds)")
    print(header)
    for model in ("multilayer", "deep", "min-vol deep"):
        sad = np.array([r[model]["sad"] for r in runs])
        mrsa = np.array([r[model]["mrsa"] for r in runs])
        secs = np.mean([r[model]["seconds"] for r in runs])
        per = "".join(f"{v:>12.2f}" for v in sad.mean(axis=0))
        mean_sad = sad.mean(axis=1)
        mean_mrsa = mrsa.mean(axis=1)
        print(f"{model:<14}{per}{mean_sad.mean():>6.2f}±{mean_sad.std():<3.1f}"
              f"{mean_mrsa.mean():>7.2f}±{mean_mrsa.std():<3.1f}{secs:>9.1f}")
    if len(runs) > 1:
        print("mean SAD per seed: " + "; ".join(
            f"{model} " + " ".join(f"{r[model]['sad'].mean():.2f}" for r in runs)
            for model in ("multilayer", "deep", "min-vol deep")))
    t = runs[-1]["min-vol deep"]["timings"]
    keys = ("admm", "admm_iterations_mean", "admm_unconverged", "admm_rejected")
    print("min-vol ADMM (last seed): " + ", ".join(f"{k}={t[k]:.3g}" for k in keys if k in t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
