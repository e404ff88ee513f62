"""Deep KL-NMF on CBCL, r = (80, 40, 20), 500 + 500 iterations: GPU (portable path) vs CPU.

Runs the same seeded fit with X as a NumPy array (the CPU path: workspaces, numba, row split)
and with X on the GPU (CuPy, or PyTorch CUDA; ``--library``), in the same process, and prints
both wall times, their ratio and the largest relative difference of the factors. Without a
CUDA device or the library it says so and exits (this machine has none: not run here).

    .venv/bin/python bench/scale_gpu.py --library cupy
    .venv/bin/python bench/scale_gpu.py --library torch --iters 100
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _perfutil import load_cbcl


def to_device(X: np.ndarray, library: str):
    if library == "cupy":
        import cupy as cp

        if cp.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("CuPy finds no CUDA device")
        return cp.asarray(X), cp.cuda.Device().synchronize
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("PyTorch finds no CUDA device")
    return torch.asarray(X, device="cuda"), torch.cuda.synchronize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", choices=["cupy", "torch"], default="cupy")
    parser.add_argument("--iters", type=int, default=500)
    args = parser.parse_args()
    X = load_cbcl()
    if X is None:
        sys.exit("CBCL.mat not found in the shared data directory")
    try:
        Xg, synchronize = to_device(X, args.library)
    except (ImportError, RuntimeError) as exc:
        sys.exit(f"no GPU run: {exc}")
    from dnmf import DeepNMF

    def make():
        return DeepNMF(ranks=(80, 40, 20), beta=1.0, n_init_iter=args.iters,
                       max_iter=args.iters, random_state=0)

    t0 = time.perf_counter()
    cpu = make().fit(X)
    t_cpu = time.perf_counter() - t0
    t0 = time.perf_counter()
    gpu = make().fit(Xg)
    synchronize()
    t_gpu = time.perf_counter() - t0
    W_gpu = [np.asarray(W.get() if hasattr(W, "get") else W.cpu()) for W in gpu.W_]
    rel = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(W_gpu, cpu.W_))
    print(f"CPU {t_cpu:.1f} s, GPU ({args.library}) {t_gpu:.1f} s, CPU/GPU {t_cpu / t_gpu:.2f}; "
          f"max relative difference of the W's {rel:.2e}; errors CPU {cpu.layer_errors_}, "
          f"GPU {gpu.layer_errors_}")


if __name__ == "__main__":
    main()
