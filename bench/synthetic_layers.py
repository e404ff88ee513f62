"""Thesis §5.3: recovery of a two-layer ground truth by multilayer and deep MF models.

Setting (De Handschutter's PhD thesis, §5.3): L = 2, m = 3, r = (6, 3),

    W_1* = W_2* H_2*  (a hexagon whose vertices lie on the edges of the triangle W_2*),
    H_1* columns ~ Dirichlet(0.05), n = 1000,
    X = W_1* H_1* + ν N ‖X*‖_F/‖N‖_F   (eq. 2.8; N Gaussian),

for the ten relative noise levels ν of the thesis, 25 repetitions each.  Every method starts
from SNPA (thesis: "projecting onto the feasible set the output of SNPA").  We report the
MRSA (eq. 2.9, Hungarian-matched) at layers 1 and 2, its mean per noise level, and the number
of repetitions each method wins (lowest MRSA), as the thesis' Tables 5.2 (layer 1) and 5.3
(layer 2).

Methods: MMF-FPGD (multilayer Frobenius NMF with the same block solver as the deep models,
the thesis' MMF), Tri-DMF, LC-DMF, DC-DMF (dnmf.models.frobenius), and — when the package
provides them — multilayer β-NMF (dnmf.MultilayerNMF, β = 2 and β = 1), deep KL-NMF
(dnmf.DeepNMF(beta=1)) and min-vol deep KL-NMF (dnmf.DeepNMF(beta=1, min_vol=dnmf.MinVol())).
The β-divergence models need X ≥ 0, so they get max(X, 0) (the Frobenius ones get X).

Usage::

    .venv/bin/python bench/synthetic_layers.py               # 25 repetitions (long)
    .venv/bin/python bench/synthetic_layers.py --reps 2      # about a minute
    .venv/bin/python bench/synthetic_layers.py --quick       # n = 500, fewer iterations, 2 reps
    .venv/bin/python bench/synthetic_layers.py --reps 5 --weight-ratio 1 --normalize H
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnmf.metrics import mrsa  # noqa: E402
from dnmf.models.frobenius import fit_frobenius_deep, fit_multilayer_frobenius  # noqa: E402

W2_STAR = np.array([[0.5, 0.0, 0.5], [0.0, 0.5, 0.5], [0.5, 0.5, 0.0]])
H2_STAR = np.array([[0.2, 0.0, 0.8, 0.0, 0.8, 0.2],
                    [0.8, 0.8, 0.2, 0.2, 0.0, 0.0],
                    [0.0, 0.2, 0.0, 0.8, 0.2, 0.8]])
W1_STAR = W2_STAR @ H2_STAR  # = [[.1 .1 .4 .4 .5 .5], [.4 .5 .1 .5 .1 .4], [.5 .4 .5 .1 .4 .1]]
NOISE_LEVELS = (1e-2, 2.51e-2, 6.31e-2, 9.49e-2, 1.267e-1, 1.585e-1, 2.384e-1, 3.182e-1,
                3.981e-1, 1.0)
RANKS = (6, 3)


def make_data(n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """X = W_1* H_1* + ν N ‖X*‖/‖N‖ (thesis eq. 2.8), H_1* columns Dirichlet(0.05)."""
    H1 = rng.dirichlet(np.full(RANKS[0], 0.05), size=n).T
    Xs = W1_STAR @ H1
    N = rng.standard_normal(Xs.shape)
    return Xs + noise * N * (np.linalg.norm(Xs) / np.linalg.norm(N))


def frobenius_methods(args) -> dict:
    common = {"max_iter": args.max_iter, "inner_iter": args.inner_iter,
              "normalize": args.normalize}

    def mmf(X, seed):
        return fit_multilayer_frobenius(X, RANKS, **common)["W"]

    def deep(loss):
        def run(X, seed):
            return fit_frobenius_deep(X, RANKS, loss=loss, weight_ratio=args.weight_ratio,
                                      eval_every=0, random_state=seed, **common)["W"]
        return run

    return {"MMF-FPGD": mmf, "Tri-DMF": deep("trigeorgis"), "LC-DMF": deep("layer-centric"),
            "DC-DMF": deep("data-centric")}


def beta_methods(args) -> tuple[dict, list[str]]:
    """The β-divergence models of the package, if present (else listed as skipped)."""
    methods, skipped = {}, []
    try:
        from dnmf import MultilayerNMF
    except ImportError:
        skipped += ["MMF (β=2)", "MMF (β=1)"]
    else:
        for beta in (2.0, 1.0):
            def run(X, seed, beta=beta):
                model = MultilayerNMF(RANKS, beta=beta, init="snpa", max_iter=args.max_iter,
                                      random_state=seed)
                return model.fit(np.maximum(X, 0)).W_
            methods[f"MMF (β={beta:g})"] = run
    try:
        from dnmf import DeepNMF
    except ImportError:
        skipped.append("deep KL-NMF")
    else:
        def deep_kl(X, seed):
            model = DeepNMF(RANKS, beta=1.0, layer_init="snpa", n_init_iter=args.max_iter // 2,
                            max_iter=args.max_iter // 2, random_state=seed)
            return model.fit(np.maximum(X, 0)).W_
        methods["deep KL-NMF"] = deep_kl
    try:
        from dnmf import DeepNMF, MinVol
    except ImportError:
        skipped.append("min-vol deep KL-NMF")
    else:
        def minvol_kl(X, seed):
            model = DeepNMF(RANKS, beta=1.0, min_vol=MinVol(), layer_init="snpa",
                            n_init_iter=args.max_iter // 2, max_iter=args.max_iter // 2,
                            random_state=seed)
            return model.fit(np.maximum(X, 0)).W_
        methods["min-vol deep KL-NMF"] = minvol_kl
    return methods, skipped


def win_table(df: pd.DataFrame, layer: int, methods: list[str]) -> pd.DataFrame:
    col = f"mrsa_{layer}"
    winners = df.loc[df.groupby(["level", "rep"])[col].idxmin(), ["level", "method"]]
    counts = pd.crosstab(winners["method"], winners["level"])
    return counts.reindex(index=methods, columns=sorted(df["level"].unique()), fill_value=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=25, help="repetitions per noise level")
    parser.add_argument("--quick", action="store_true",
                        help="n = 500, 150 iterations, 2 repetitions (unless --reps is given)")
    parser.add_argument("--n", type=int, default=1000, help="number of data points")
    parser.add_argument("--max-iter", type=int, default=300, help="outer iterations")
    parser.add_argument("--inner-iter", type=int, default=10, help="FPGD steps per block")
    parser.add_argument("--weight-ratio", type=float, default=10.0,
                        help="λ̃ of the LC-DMF weights (thesis: 10)")
    parser.add_argument("--normalize", default="W", choices=["W", "H"],
                        help="feasible set: simplex columns of W_ℓ or of H_ℓ")
    parser.add_argument("--levels", type=str, default="",
                        help="comma-separated subset of noise levels 1..10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-beta", action="store_true", help="skip the β-divergence models")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = 500
        args.max_iter = 150
        if "--reps" not in (argv if argv is not None else sys.argv):
            args.reps = 2
    levels = [int(s) for s in args.levels.split(",")] if args.levels else list(range(1, 11))

    methods = frobenius_methods(args)
    skipped: list[str] = []
    if args.no_beta:
        skipped.append("β-divergence models (--no-beta)")
    else:
        extra, skipped = beta_methods(args)
        methods = {**extra, **methods}
    names = list(methods)
    print(f"thesis §5.3: n={args.n}, reps={args.reps}, max_iter={args.max_iter}, "
          f"inner_iter={args.inner_iter}, λ̃={args.weight_ratio:g}, "
          f"normalize={args.normalize}, levels={levels}")
    print("methods:", ", ".join(names))
    if skipped:
        print("skipped (not in dnmf):", ", ".join(skipped))

    rows = []
    seconds = dict.fromkeys(names, 0.0)
    t_start = time.perf_counter()
    for level in levels:
        nu = NOISE_LEVELS[level - 1]
        for rep in range(args.reps):
            seed = args.seed + 1000 * level + rep
            X = make_data(args.n, nu, np.random.default_rng(seed))
            for name, run in methods.items():
                t0 = time.perf_counter()
                Ws = run(X, seed)
                seconds[name] += time.perf_counter() - t0
                rows.append({"level": level, "noise": nu, "rep": rep, "method": name,
                             "mrsa_1": mrsa(W1_STAR, Ws[0]).mean,
                             "mrsa_2": mrsa(W2_STAR, Ws[1]).mean})
        done = pd.DataFrame(rows)
        cur = done[done["level"] == level].groupby("method", sort=False)[["mrsa_1", "mrsa_2"]]
        best = cur.mean().idxmin()
        print(f"  level {level:2d} (ν={nu:<7g}) best mean MRSA: layer 1 {best['mrsa_1']}, "
              f"layer 2 {best['mrsa_2']}  [{time.perf_counter() - t_start:.0f} s]", flush=True)

    df = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    for layer in (1, 2):
        means = df.pivot_table(index="method", columns="level", values=f"mrsa_{layer}",
                               aggfunc="mean").reindex(names)
        print(f"\nmean MRSA at layer {layer} (rows: methods, columns: noise levels 1..10)")
        print(means.round(2).to_string())
        print(f"\nwinning runs at layer {layer} (out of {args.reps}; thesis Table "
              f"{'5.2' if layer == 1 else '5.3'})")
        print(win_table(df, layer, names).to_string())
    print("\nseconds per fit:", ", ".join(
        f"{k} {v / max(1, args.reps * len(levels)):.2f}" for k, v in seconds.items()))
    print(f"total {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
