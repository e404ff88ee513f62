"""Sparse KL-MU per iteration against scikit-learn's MU on the same matrix and factors.

    .venv/bin/python bench/perf_kl_sparse.py

X: scipy.sparse 5000×20000, density 0.005, values 1 + Poisson(1); k = 20. Ours is
:func:`dnmf.models.multilayer.nmf_mu` (W then H, like scikit-learn), with the compiled
sampled kernels (numba) and with the NumPy fallback (chunked gather + scipy products);
scikit-learn's is its own update functions called as its ``_fit_multiplicative_update`` loop
calls them. The rounds interleave the three; the ratios are medians of per-round ratios.
Also reported: the numba kernels' first-call compile time in a fresh cache directory, and
their load time from the cache in a new process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import numpy as np
import scipy.sparse as sp
from _perfutil import (
    add_machine_args,
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


def ours(X, W, H, n_iter):
    from dnmf.models.multilayer import nmf_mu

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=5, help="iterations per timed run")
    parser.add_argument("--rounds", type=int, default=7)
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
        "ours": lambda: ours(X, W, H, args.iters),
        "ours_numpy": lambda: ours_numpy(X, W, H, args.iters),
        "sklearn": lambda: sklearn_kl_mu(X, W, H, args.iters),
    }, args.rounds)
    per = {k: [x / args.iters for x in v] for k, v in t.items()}
    name = f"sparse {X.shape[0]}×{X.shape[1]}, nnz {X.nnz}, k={W.shape[1]}, float64"
    rows = [
        [f"{name}, numba kernels", ms(median(per["ours"])), ms(median(per["sklearn"])),
         f"{median_ratio(per['sklearn'], per['ours']):.2f}"],
        [f"{name}, NumPy fallback", ms(median(per["ours_numpy"])), ms(median(per["sklearn"])),
         f"{median_ratio(per['sklearn'], per['ours_numpy']):.2f}"],
    ]
    print(f"\nours vs scikit-learn after 3 iterations from the same factors: max relative "
          f"difference {agree:.1e}")
    print(table(["workload", "ours ms/iter", "sklearn ms/iter", "sklearn/ours"], rows))

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


if __name__ == "__main__":
    sys.exit(main())
