"""Min-vol deep KL-NMF on an HSI scene: dnmf against the authors' code from the same start.

    .venv/bin/python bench/octave/minvol_agreement.py --octave-code DIR [--scene tumor]

Both start from dnmf's multilayer warm start (200 MU iterations per layer, W_ℓᵀe = e between
layers, as their deepKL_NMF.m with min_vol = 1) and run the paper's iterations with the paper's
α̃ (their test_deepKLNMF_HSI.m settings, driver minvol_scene.m). Both results are scored with
one formula, the objective their updates minimise,
F = Σ_ℓ D_ℓ/D_ℓ⁰ + α_ℓ ln det(W_ℓᵀW_ℓ + I), α_ℓ = α̃_ℓ D_ℓ⁰/|log₁₀ det(W_ℓ⁰ᵀW_ℓ⁰ + I)|,
and by how many pixels each layer-1 material dominates.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.io

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from agreement import DATA, octave_path, patched_deep  # noqa: E402

from dnmf import DeepNMF, MinVol, MultilayerNMF  # noqa: E402
from dnmf.datasets import load_paper_dataset  # noqa: E402
from dnmf.models._common import all_layer_errors  # noqa: E402
from dnmf.models.minvol import log_volume, normalize_columns_of_W  # noqa: E402
from dnmf.reproduce.hsi import SCENES  # noqa: E402


def objective(X, Ws, Hs, D0, logdet0, alpha_tilde):
    errors = all_layer_errors(X, Ws, Hs, 1.0)
    alphas = np.asarray(alpha_tilde) * D0 / np.abs(logdet0 / math.log(10.0))
    vols = np.array([log_volume(W, 1.0) for W in Ws])
    return float(np.sum(errors / D0) + alphas @ vols), errors


def pixels(Ws, Hs) -> list[int]:
    A = Ws[0].sum(axis=0)[:, None] * Hs[0]
    return np.bincount(A.argmax(axis=0), minlength=A.shape[0]).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--octave-code", type=Path, required=True)
    parser.add_argument("--scene", default="tumor", choices=list(SCENES))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    cfg = SCENES[args.scene]
    X = load_paper_dataset(args.scene, args.data).X
    ranks, iters, at = cfg["ranks"], cfg["iterations"], cfg["alpha"]
    print(f"{args.scene} {X.shape}, r = {ranks}, {iters} iterations, α̃ = {at}")
    print("| seed | code | F (their objective) | layer errors | pixels per layer-1 material |")
    print("|---|---|---|---|---|")
    for seed in args.seeds:
        ml = MultilayerNMF(ranks=ranks, max_iter=200, normalize="W", random_state=seed).fit(X)
        Ws = [W.copy() for W in ml.W_]
        Hs = [H.copy() for H in ml.H_]
        normalize_columns_of_W(Ws, Hs)
        D0 = all_layer_errors(X, Ws, Hs, 1.0)
        logdet0 = np.array([log_volume(W, 1.0) for W in Ws])
        F0, _ = objective(X, Ws, Hs, D0, logdet0, at)
        deep = DeepNMF(ranks=ranks, init="custom", max_iter=iters, eval_every=0,
                       min_vol=MinVol(alpha=at, convention="paper", admm_max_iter=200,
                                      admm_tol=1e-6)).fit(X, W=Ws, H=Hs)
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp)
            patched_deep(args.octave_code, scratch)
            mat = {"X": X, "ranks": np.asarray(ranks, float)[None], "outerit": float(iters),
                   "alpha_tilde": np.asarray(at, float)[None]}
            for i, (W, H) in enumerate(zip(Ws, Hs), start=1):
                mat[f"W0_{i}"], mat[f"H0_{i}"] = W, H
            scipy.io.savemat(scratch / "in.mat", mat)
            paths = ",".join(f"'{d}'" for d in [str(HERE), str(scratch),
                                                *octave_path(args.octave_code)])
            expr = (f"addpath({paths}); minvol_scene('{scratch / 'in.mat'}', "
                    f"'{scratch / 'out.mat'}')")
            proc = subprocess.run(["octave", "--no-gui", "--quiet", "--eval", expr],
                                  capture_output=True, text=True)
            if not (scratch / "out.mat").exists():
                raise SystemExit(f"octave failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            out = scipy.io.loadmat(scratch / "out.mat")
        Wo = [out[f"W_{i}"] for i in range(1, len(ranks) + 1)]
        Ho = [out[f"H_{i}"] for i in range(1, len(ranks) + 1)]
        print(f"| {seed} | start | {F0:.5g} | {', '.join(f'{e:.4g}' for e in D0)} | "
              f"{pixels(Ws, Hs)} |")
        for name, (Wf, Hf) in (("authors (Octave)", (Wo, Ho)), ("dnmf", (deep.W_, deep.H_))):
            F, errors = objective(X, Wf, Hf, D0, logdet0, at)
            print(f"| {seed} | {name} | {F:.5g} | {', '.join(f'{e:.4g}' for e in errors)} | "
                  f"{pixels(Wf, Hf)} |", flush=True)


if __name__ == "__main__":
    main()
