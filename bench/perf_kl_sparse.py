"""Sparse KL-MU per iteration against scikit-learn's MU on the same matrix and factors.

    .venv/bin/python bench/perf_kl_sparse.py
    .venv/bin/python bench/perf_kl_sparse.py --baseline main   # and main's code, same run

X: scipy.sparse 5000×20000, density 0.005, values 1 + Poisson(1); k = 20. Ours is
:func:`dnmf.models.multilayer.nmf_mu` (W then H, like scikit-learn), with the compiled
sampled kernels (numba) on one thread and on two (rows split between threads, see
:mod:`dnmf._kernels`), and with the NumPy fallback (chunked gather + scipy products);
scikit-learn's is its own update functions called as its ``_fit_multiplicative_update`` loop
calls them (single-threaded). The rounds interleave them; the ratios are medians of per-round
ratios. With ``--baseline REF`` the same measurement runs in fresh processes alternating
between the code of git revision REF and this tree (each process's ratio to scikit-learn is
measured inside it). Also reported: the numba kernels' first-call compile time in a fresh
cache directory, and their load time from the cache in a new process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import nullcontext

import numpy as np
import scipy.sparse as sp
from _perfutil import (
    ROOT,
    add_machine_args,
    baseline_tree,
    environment_lines,
    interleaved,
    median,
    median_ratio,
    ms,
    run_json,
    run_on_machine,
    table,
)
from perf_kl_dense import sklearn_kl_mu


def problem(m=5000, n=20000, density=0.005, rank=20, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = sp.random(m, n, density=density, format="csr", random_state=seed)
    X.data = 1.0 + rng.poisson(1.0, X.nnz)
    X = sp.csr_matrix(X, dtype=dtype)
    W = (rng.random((m, rank)) + 0.1).astype(dtype)
    H = (rng.random((rank, n)) + 0.1).astype(dtype)
    return X, W, H


def kernel_threads(n):
    """dnmf's compiled kernels on ``n`` threads (code that predates the setting: unchanged)."""
    from dnmf import _kernels

    return _kernels.threads(n) if hasattr(_kernels, "threads") else nullcontext()


def ours(X, W, H, n_iter, threads=None):
    from dnmf.models.multilayer import nmf_mu

    with kernel_threads(threads):
        return nmf_mu(X, W, H, 1.0, n_iter, order="WH")


def ours_numpy(X, W, H, n_iter):
    from dnmf import _kernels

    with _kernels._numpy_only():
        return ours(X, W, H, n_iter)


COMPILE = """
import json, time
import numpy as np
t0 = time.perf_counter()
from dnmf import _kernels
t1 = time.perf_counter()
seconds = _kernels.warmup((np.float64, np.float32))
print(json.dumps({"import": t1 - t0, **seconds}))
"""

#: One process's measurement: ours on 1 and 2 kernel threads against scikit-learn.
RATIOS = """
import json, sys
sys.path[:] = [p for p in sys.path if p not in ("", {root!r})]  # dnmf from PYTHONPATH
sys.path.append({bench!r})
import dnmf
from _perfutil import interleaved, median_ratio, use_cpu_time
use_cpu_time({cpu})
from perf_kl_sparse import ours, problem, sklearn_kl_mu
X, W, H = problem()
ours(X, W, H, 1)
t = interleaved({{"1": lambda: ours(X, W, H, {iters}, 1), "2": lambda: ours(X, W, H, {iters}, 2),
                 "sklearn": lambda: sklearn_kl_mu(X, W, H, {iters})}}, {rounds})
print(json.dumps({{"file": dnmf.__file__,
                  **{{k: median_ratio(t["sklearn"], t[k]) for k in ("1", "2")}}}}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=5, help="iterations per timed run")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", metavar="REF",
                        help="also measure the dnmf of git revision REF, same run")
    parser.add_argument("--baseline-processes", type=int, default=3,
                        help="processes per side for --baseline (alternating)")
    add_machine_args(parser)
    return run_on_machine(parser.parse_args(argv), run)


def run(args) -> int:
    print("\n".join(environment_lines()))

    X, W, H = problem()
    a = ours(X, W, H, 3)
    b = sklearn_kl_mu(X, W, H, 3)
    agree = max(np.max(np.abs(a[0] - b[0]) / b[0]),
                np.max(np.abs(a[1] - b[1]) / np.maximum(b[1], np.finfo(float).eps)))
    ours_numpy(X, W, H, 1)
    t = interleaved({
        "ours1": lambda: ours(X, W, H, args.iters, 1),
        "ours2": lambda: ours(X, W, H, args.iters, 2),
        "ours_numpy": lambda: ours_numpy(X, W, H, args.iters),
        "sklearn": lambda: sklearn_kl_mu(X, W, H, args.iters),
    }, args.rounds)
    per = {k: [x / args.iters for x in v] for k, v in t.items()}
    name = f"sparse {X.shape[0]}×{X.shape[1]}, nnz {X.nnz}, k={W.shape[1]}, float64"
    rows = [[f"{name}, {label}", ms(median(per[key])), ms(median(per["sklearn"])),
             f"{median_ratio(per['sklearn'], per[key]):.2f}"]
            for key, label in (("ours1", "numba kernels, 1 thread"),
                               ("ours2", "numba kernels, 2 threads"),
                               ("ours_numpy", "NumPy fallback"))]
    print(f"\nours vs scikit-learn after 3 iterations from the same factors: max relative "
          f"difference {agree:.1e}")
    print(table(["workload", "ours ms/iter", "sklearn ms/iter", "sklearn/ours"], rows))

    if args.baseline:
        compare_with_baseline(args)

    from dnmf import _kernels

    if _kernels.kernels_backend() == "numba":
        with tempfile.TemporaryDirectory() as cache:
            cold = run_json(COMPILE, env={"NUMBA_CACHE_DIR": cache})
            warm = run_json(COMPILE, env={"NUMBA_CACHE_DIR": cache})
        print()
        print(table(["all numba kernels (dnmf._kernels.warmup)", "float64 s",
                     "float32 s"],
                    [["new process, empty cache: compile", f"{cold['float64']:.2f}",
                      f"{cold['float32']:.2f}"],
                     ["new process, cached: load", f"{warm['float64']:.2f}",
                      f"{warm['float32']:.2f}"]]))
    return 0


def compare_with_baseline(args) -> None:
    """sklearn/ours in fresh processes, alternating REF's code and this tree's."""
    code = RATIOS.format(root=str(ROOT), bench=str(ROOT / "bench"), iters=args.iters,
                         rounds=args.rounds, cpu=bool(args.cpu_time))
    threads = {} if args.threads is None else {"OPENBLAS_NUM_THREADS": str(args.threads)}
    results: dict[str, list[dict]] = {"baseline": [], "this tree": []}
    with baseline_tree(args.baseline) as old, tempfile.TemporaryDirectory() as cache:
        env = {"baseline": {"PYTHONPATH": old, "NUMBA_CACHE_DIR": cache, **threads},
               "this tree": {"PYTHONPATH": str(ROOT), **threads}}
        run_json(code.replace(f", {args.rounds})", ", 1)"), env=env["baseline"])  # compile
        for _ in range(args.baseline_processes):
            for side in results:
                results[side].append(run_json(code, env=env[side]))
        files = {side: runs[0]["file"] for side, runs in results.items()}
    assert files["baseline"].startswith(old) and not files["this tree"].startswith(old), files
    rows = []
    for side, runs in results.items():
        label = f"{args.baseline} (baseline)" if side == "baseline" else "this tree"
        rows.append([label] + [f"{median([r[k] for r in runs]):.2f} "
                               f"[{min(r[k] for r in runs):.2f}–{max(r[k] for r in runs):.2f}]"
                               for k in ("1", "2")])
    print(f"\nsklearn/ours in fresh processes, {args.baseline_processes} per side alternating "
          f"(median [range]); load average now {os.getloadavg()[0]:.1f}; "
          f"{'cpu' if args.cpu_time else 'wall'} time")
    print(table(["code", "1 kernel thread", "2 kernel threads"], rows))


if __name__ == "__main__":
    sys.exit(main())
