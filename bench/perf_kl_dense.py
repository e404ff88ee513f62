"""Dense KL-MU per iteration against the floor of its matrix products and scikit-learn's MU.

    .venv/bin/python bench/perf_kl_dense.py            # CBCL (2429×361), k = 80, float64+32
    .venv/bin/python bench/perf_kl_dense.py --random   # random data of the same shape

One KL-MU iteration (W then H) needs four products: W@H twice, (X/WH)@Hᵀ and Wᵀ@(X/WH).
The floor is the sum of the medians of those four numpy products, each timed alone in the same
process and the same rounds. Ours is :func:`dnmf.models.multilayer.nmf_mu` (workspace buffers,
in-place steps; with a multi-threaded BLAS the rows split between threads, see
:mod:`dnmf._rowsplit`); "ours unsplit" is the same without the split (one-thread steps,
products on all BLAS threads); scikit-learn's is its own update functions called as its
``_fit_multiplicative_update`` loop calls them (its loss evaluations are not counted). Both
start from the same factors.

Two settings: *warm* (rounds interleaved in this process, allocator warmed up, every timed
call after 0.2 s idle so that none pays for the BLAS threads the previous one left spinning;
each floor product timed over 10 back-to-back calls) and *fresh* (each sample a new process
that runs the solver first, then times the floor).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from _perfutil import (
    add_machine_args,
    environment_lines,
    interleaved,
    load_cbcl,
    median,
    median_ratio,
    ms,
    run_json,
    run_on_machine,
    table,
)


def sklearn_kl_mu(X, W, H, n_iter):
    """scikit-learn's MU loop body (sklearn/decomposition/_nmf.py), β = 1, no penalty."""
    from sklearn.decomposition._nmf import _multiplicative_update_h, _multiplicative_update_w

    W = W.copy()
    H = H.copy()
    eps64 = np.finfo(np.float64).eps
    for _ in range(n_iter):
        W, *_ = _multiplicative_update_w(X, W, H, beta_loss=1, l1_reg_W=0, l2_reg_W=0,
                                         gamma=1.0)
        H = _multiplicative_update_h(X, W, H, beta_loss=1, l1_reg_H=0, l2_reg_H=0, gamma=1.0)
        H[H < eps64] = 0.0
    return W, H


def ours_kl_mu(X, W, H, n_iter):
    from dnmf.models.multilayer import nmf_mu

    return nmf_mu(X, W, H, 1.0, n_iter, order="WH")


def ours_unsplit_kl_mu(X, W, H, n_iter):
    """Ours without the row split: the one-thread steps, products on BLAS's threads."""
    from dnmf.models.multilayer import LayerMU

    W, H = W.copy(), H.copy()
    layer = LayerMU(X, W, H, 1.0, float(np.finfo(W.dtype).eps), order="WH", n_threads=1)
    for _ in range(n_iter):
        layer.iterate()
    return W, H


def problem(random: bool, rank: int, dtype, seed: int = 0):
    X = None if random else load_cbcl()
    rng = np.random.default_rng(seed)
    if X is None:
        X = rng.random((2429, 361)) + 0.004
    X = np.ascontiguousarray(X / X.max(), dtype=dtype)
    W = (rng.random((X.shape[0], rank)) + 0.1).astype(dtype)
    H = (rng.random((rank, X.shape[1])) + 0.1).astype(dtype)
    from dnmf.models.multilayer import nmf_mu

    W, H = nmf_mu(X, W, H, 1.0, 20)  # away from the random start (realistic magnitudes)
    return X, W, H


#: Each floor product is timed over this many back-to-back calls (per call: the total over it).
PRODUCT_REPEATS = 10
#: Idle seconds before every timed call of the warm rounds (see _perfutil.interleaved).
SETTLE = 0.2


def product_fns(X, W, H):
    V = W @ H
    R = X / V

    def repeated(product):
        def run():
            for _ in range(PRODUCT_REPEATS):
                product()
        return run

    return {"W@H": repeated(lambda: W @ H), "R@H.T": repeated(lambda: R @ H.T),
            "W.T@R": repeated(lambda: W.T @ R)}


def floor_of(times: dict[str, list[float]]) -> list[float]:
    """Seconds per iteration of the four products, round by round."""
    return [(2 * a + b + c) / PRODUCT_REPEATS
            for a, b, c in zip(times["W@H"], times["R@H.T"], times["W.T@R"])]


FRESH = """
import json, sys, time
import numpy as np
sys.path.insert(0, "bench")
import perf_kl_dense as b
from _perfutil import interleaved, limited_threads, median, timed, use_cpu_time
use_cpu_time({cpu})
with limited_threads({threads}):
    X, W, H = b.problem({random}, {rank}, np.{dtype})
    solver = b.{solver}
    per_iter = timed(lambda: solver(X, W, H, {iters})) / {iters}
    times = interleaved(b.product_fns(X, W, H), 7)
print(json.dumps({{"per_iter": per_iter, "floor": median(b.floor_of(times))}}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=80)
    parser.add_argument("--iters", type=int, default=30, help="iterations per timed run")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved warm rounds")
    parser.add_argument("--fresh", type=int, default=3, help="fresh processes per solver")
    parser.add_argument("--random", action="store_true", help="random data instead of CBCL")
    add_machine_args(parser)
    return run_on_machine(parser.parse_args(argv), run)


def run(args) -> int:
    print("\n".join(environment_lines()))
    source = "random" if args.random or load_cbcl() is None else "CBCL"
    rows = []
    for dtype in (np.float64, np.float32):
        X, W, H = problem(args.random, args.rank, dtype)
        fns = product_fns(X, W, H)
        fns["ours"] = lambda X=X, W=W, H=H: ours_kl_mu(X, W, H, args.iters)
        fns["unsplit"] = lambda X=X, W=W, H=H: ours_unsplit_kl_mu(X, W, H, args.iters)
        fns["sklearn"] = lambda X=X, W=W, H=H: sklearn_kl_mu(X, W, H, args.iters)
        for solver in (ours_kl_mu, ours_unsplit_kl_mu, sklearn_kl_mu):
            solver(X, W, H, 1)
        t = interleaved(fns, args.rounds, settle=SETTLE)
        floor = floor_of(t)
        ours = [x / args.iters for x in t["ours"]]
        unsplit = [x / args.iters for x in t["unsplit"]]
        skl = [x / args.iters for x in t["sklearn"]]
        name = f"{source} {X.shape[0]}×{X.shape[1]} k={args.rank} {np.dtype(dtype).name}, warm"
        rows.append([name, ms(median(ours)), ms(median(unsplit)), ms(median(skl)),
                     ms(median(floor)), f"{median_ratio(ours, floor):.2f}",
                     f"{median_ratio(unsplit, floor):.2f}", f"{median_ratio(skl, floor):.2f}",
                     f"{median_ratio(skl, ours):.2f}"])
        # best of the rounds: the least disturbed sample of each (a loaded machine's noise
        # only ever adds time)
        best_floor = (2 * min(t["W@H"]) + min(t["R@H.T"]) + min(t["W.T@R"])) / PRODUCT_REPEATS
        rows.append([name.replace("warm", "warm, best of rounds"), ms(min(ours)),
                     ms(min(unsplit)), ms(min(skl)), ms(best_floor),
                     f"{min(ours) / best_floor:.2f}", f"{min(unsplit) / best_floor:.2f}",
                     f"{min(skl) / best_floor:.2f}", f"{min(skl) / min(ours):.2f}"])

        fresh = {"ours": [], "unsplit": [], "sklearn": []}
        for _ in range(args.fresh):
            for solver, key in (("ours_kl_mu", "ours"), ("ours_unsplit_kl_mu", "unsplit"),
                                ("sklearn_kl_mu", "sklearn")):
                code = FRESH.format(random=args.random, rank=args.rank, threads=args.threads,
                                    cpu=args.cpu_time,
                                    dtype=np.dtype(dtype).name, solver=solver,
                                    iters=2 * args.iters)
                fresh[key].append(run_json(code))
        ratio = {key: [r["per_iter"] / r["floor"] for r in runs] for key, runs in fresh.items()}
        per_iter = {key: ms(median([r["per_iter"] for r in runs])) for key, runs in fresh.items()}
        name = name.replace("warm", "fresh process")
        rows.append([name, per_iter["ours"], per_iter["unsplit"], per_iter["sklearn"],
                     ms(median([r["floor"] for runs in fresh.values() for r in runs])),
                     f"{median(ratio['ours']):.2f}", f"{median(ratio['unsplit']):.2f}",
                     f"{median(ratio['sklearn']):.2f}",
                     f"{median(ratio['sklearn']) / median(ratio['ours']):.2f}"])
    print()
    print(table(["workload", "ours ms/iter", "ours unsplit ms/iter", "sklearn ms/iter",
                 "products floor ms", "ours/floor", "unsplit/floor", "sklearn/floor",
                 "sklearn/ours"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
