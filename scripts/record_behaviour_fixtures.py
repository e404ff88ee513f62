"""Record the factors every model computes today, for the behaviour test.

``tests/test_behaviour_fixtures.py`` refits the same cases and asserts the factors, the layer
errors and the recorded error history equal these to 1e-12 relative: a refactoring of the
solvers must not change what they compute. Every case runs on one BLAS thread (a seeded fit
is bit-for-bit reproducible for a given thread count), on small data, from a fixed seed or
from fixed initial factors (``init="custom"``).

    PYTHONPATH=$PWD python scripts/record_behaviour_fixtures.py   # rewrites the .npz files

Run it only when a change of behaviour is intended, and say so in the commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "behaviour"


def data() -> dict[str, object]:
    """The inputs of every case (deterministic)."""
    rng = np.random.default_rng(20261204)
    W = rng.random((30, 5))
    H = rng.random((5, 24))
    X = W @ H + 0.05 * rng.random((30, 24))  # strictly positive (IS needs it)
    S = X * (rng.random(X.shape) < 0.3)  # ~70 % zeros
    W1 = rng.random((30, 6)) + 0.1
    H1 = rng.random((6, 24)) + 0.1
    W2 = rng.random((30, 3)) + 0.1
    H2 = rng.random((3, 6)) + 0.1
    return {"X": X, "S": sp.csr_array(S), "W": [W1, W2], "H": [H1, H2]}


def cases():
    """(name, estimator factory, fit input key, fit keyword arguments)."""
    from dnmf import DeepNMF, FrobeniusDeepMF, MinVol, MultilayerNMF

    ranks = (6, 3)
    custom = {"W": "W", "H": "H"}
    out = []
    for beta in (0.0, 0.5, 1.0, 1.5, 2.0):
        out.append((f"deep_beta{beta:g}_seed",
                    lambda b=beta: DeepNMF(ranks, beta=b, n_init_iter=15, max_iter=15,
                                           random_state=0), "X", {}))
    out += [
        ("deep_kl_custom", lambda: DeepNMF(ranks, beta=1.0, init="custom", max_iter=20),
         "X", custom),
        ("deep_kl_sparse_seed", lambda: DeepNMF(ranks, beta=1.0, n_init_iter=10, max_iter=10,
                                                random_state=1), "S", {}),
        ("deep_kl_nndsvda_tol", lambda: DeepNMF(ranks, beta=1.0, layer_init="nndsvda",
                                                n_init_iter=10, max_iter=200, tol=1e-3,
                                                eval_every=3, random_state=2), "X", {}),
        ("deep_kl_weights_float32", lambda: DeepNMF(ranks, beta=1.0, weights=(1.0, 0.5),
                                                    n_init_iter=10, max_iter=10,
                                                    random_state=3, dtype=np.float32),
         "X", {}),
        ("multilayer_kl_seed", lambda: MultilayerNMF(ranks, beta=1.0, max_iter=20,
                                                     random_state=0), "X", {}),
        ("multilayer_beta1.5_snpa", lambda: MultilayerNMF(ranks, beta=1.5, init="snpa",
                                                          max_iter=20), "X", {}),
        ("multilayer_kl_sparse_tol", lambda: MultilayerNMF(ranks, beta=1.0, max_iter=300,
                                                           tol=1e-3, random_state=4), "S", {}),
        ("minvol_seed", lambda: DeepNMF(ranks, beta=1.0, min_vol=MinVol(), n_init_iter=10,
                                        max_iter=8, random_state=0), "X", {}),
        ("minvol_custom_absolute", lambda: DeepNMF(
            ranks, beta=1.0, init="custom", max_iter=6,
            min_vol=MinVol(alpha_tilde=(0.1, 0.05), rho=1e3, rho_mode="absolute",
                           admm_max_iter=20)), "X", custom),
        ("minvol_sparse_seed", lambda: DeepNMF(ranks, beta=1.0, min_vol=MinVol(),
                                               n_init_iter=5, max_iter=5, random_state=5),
         "S", {}),
    ]
    for loss in ("layer-centric", "data-centric", "trigeorgis"):
        out.append((f"frobenius_{loss}_snpa",
                    lambda lo=loss: FrobeniusDeepMF(ranks, loss=lo, max_iter=15), "X", {}))
        out.append((f"frobenius_{loss}_custom",
                    lambda lo=loss: FrobeniusDeepMF(ranks, loss=lo, init="custom",
                                                    max_iter=15), "X", custom))
    out += [
        ("frobenius_lc_multilayer_seed", lambda: FrobeniusDeepMF(
            ranks, init="multilayer", n_init_iter=10, max_iter=10, random_state=0), "X", {}),
        ("frobenius_lc_random_minvol", lambda: FrobeniusDeepMF(
            ranks, init="random", min_vol=0.1, max_iter=10, random_state=1), "X", {}),
        ("frobenius_dc_sparsity_sparse", lambda: FrobeniusDeepMF(
            ranks, loss="data-centric", init="nndsvda", sparsity=0.3, normalize=None,
            max_iter=10, random_state=6), "S", {}),
    ]
    return out


def fit_case(factory, data_key, fit_kwargs, inputs) -> dict[str, np.ndarray]:
    """Fit one case on one BLAS thread; the arrays the behaviour test compares."""
    kwargs = {k: [np.array(a) for a in inputs[v]] for k, v in fit_kwargs.items()}
    with threadpool_limits(limits=1, user_api="blas"):
        model = factory().fit(inputs[data_key], **kwargs)
    arrays: dict[str, np.ndarray] = {}
    for ell, (W, H) in enumerate(zip(model.W_, model.H_), start=1):
        arrays[f"W{ell}"] = np.asarray(W)
        arrays[f"H{ell}"] = np.asarray(H)
    arrays["layer_errors"] = np.asarray(model.layer_errors_, dtype=float)
    arrays["n_iter"] = np.asarray(model.n_iter_)
    for prefix, frame in (("history", model.history_),
                          ("init_history", getattr(model, "init_history_", None))):
        if frame is None:
            continue
        for column in frame.columns:
            if column.startswith("error_layer_") or column in ("objective", "iteration"):
                arrays[f"{prefix}.{column}"] = frame[column].to_numpy(dtype=float)
    return arrays


def main() -> int:
    sys.path.insert(0, str(ROOT))
    FIXTURES.mkdir(parents=True, exist_ok=True)
    inputs = data()
    for name, factory, data_key, fit_kwargs in cases():
        arrays = fit_case(factory, data_key, fit_kwargs, inputs)
        np.savez_compressed(FIXTURES / f"{name}.npz", **arrays)
        print(f"{name}: {', '.join(sorted(arrays))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
