"""Reproduce the paper's Table 2 on CBCL: deep vs multilayer KL-NMF, r = (80, 40, 20).

Multilayer KL-NMF runs `--ml-iter` MU iterations per layer (paper: 1000); deep KL-NMF starts
from `--init-iter` multilayer iterations per layer (paper: 500) and runs `--deep-iter`
iterations of Algorithm 1 (paper: 500). Both models report their factors with H_ℓ e = e, so the
per-layer errors are comparable. Prints, per layer, the error ratio deep/multilayer and the
Hoyer sparsity of the features H_ℓ⋯H_1 (rows), with the paper's numbers beside them.

    .venv/bin/python bench/cbcl_table2.py                  # the paper's setting (a few minutes)
    .venv/bin/python bench/cbcl_table2.py --seeds 0 1 2    # several runs: mean ± std
    .venv/bin/python bench/cbcl_table2.py --quick          # 100 / 50 + 50 iterations
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io

from dnmf import DeepNMF, MultilayerNMF, hoyer_sparsity

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "CBCL.mat"
PAPER = {  # Table 2: error deep/multilayer (%), sparsity multilayer (%), sparsity deep (%)
    1: (108.3, 58.5, 70.1),
    2: (26.8, 37.3, 50.6),
    3: (4.4, 22.1, 27.1),
}


def load_cbcl(path: Path = DATA) -> np.ndarray:
    """CBCL faces as images × pixels (2429 × 361): the file stores one face per column."""
    return np.asarray(scipy.io.loadmat(path)["X"], dtype=float).T


def run(X: np.ndarray, ranks, ml_iter: int, init_iter: int, deep_iter: int, seed: int,
        dtype=np.float64) -> dict:
    t0 = time.perf_counter()
    ml = MultilayerNMF(ranks=ranks, beta=1.0, max_iter=ml_iter, random_state=seed,
                       eval_every=50, dtype=dtype).fit(X)
    t1 = time.perf_counter()
    deep = DeepNMF(ranks=ranks, beta=1.0, n_init_iter=init_iter, max_iter=deep_iter,
                   random_state=seed, eval_every=25, dtype=dtype).fit(X)
    t2 = time.perf_counter()
    layers = range(1, len(ranks) + 1)
    return {
        "ratio": 100 * deep.layer_errors_ / ml.layer_errors_,
        "sp_ml": np.array([100 * hoyer_sparsity(ml.features(ell)).mean() for ell in layers]),
        "sp_deep": np.array([100 * hoyer_sparsity(deep.features(ell)).mean() for ell in layers]),
        "seconds_ml": t1 - t0,
        "seconds_deep": t2 - t1,
        "timings_deep": deep.timings_,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ml-iter", type=int, default=1000)
    parser.add_argument("--init-iter", type=int, default=500)
    parser.add_argument("--deep-iter", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--quick", action="store_true", help="100 / 50 + 50 iterations")
    args = parser.parse_args(argv)
    if args.quick:
        args.ml_iter, args.init_iter, args.deep_iter = 100, 50, 50
    if not DATA.exists():
        print(f"CBCL.mat not found at {DATA}; nothing to do")
        return 0
    X = load_cbcl()
    ranks = (80, 40, 20)
    dtype = np.float32 if args.float32 else np.float64
    print(f"CBCL {X.shape[0]}×{X.shape[1]}, r = {ranks}, multilayer {args.ml_iter} it/layer, "
          f"deep {args.init_iter} init + {args.deep_iter} it, {np.dtype(dtype).name}, "
          f"seeds {args.seeds}")
    runs = []
    for seed in args.seeds:
        out = run(X, ranks, args.ml_iter, args.init_iter, args.deep_iter, seed, dtype)
        runs.append(out)
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in out["timings_deep"].items())
        print(f"  seed {seed}: multilayer {out['seconds_ml']:.1f}s, deep {out['seconds_deep']:.1f}s"
              f" ({timings})")

    def fmt(key, layer):
        values = np.array([r[key][layer - 1] for r in runs])
        return f"{values.mean():6.1f} ± {values.std():4.1f}"

    print()
    print("layer | error deep/ml %  (paper) | sparsity ml %   (paper) | sparsity deep % (paper)")
    for layer in (1, 2, 3):
        p = PAPER[layer]
        print(f"  {layer}   | {fmt('ratio', layer)} ({p[0]:5.1f}) | {fmt('sp_ml', layer)} "
              f"({p[1]:4.1f}) | {fmt('sp_deep', layer)} ({p[2]:4.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
