"""Agreement of dnmf with the authors' MATLAB code from the same start (GNU Octave, float64).

    .venv/bin/python bench/octave/agreement.py --octave-code DIR [--iters 200] [--outerit 100]

DIR holds the authors' files (github.com/vleplat/deep-KL-NMF-public, with nmfbook); dnmf never
ships them. Every ``.m`` under DIR is put on Octave's path; ``deepKL_NMF.m`` is copied to a
scratch folder as ``deepKL_NMF_given.m`` with one block added after ``options.beta = 1;`` that
takes W, H from the options and computes the initial errors (their published branch for given
factors leaves W, H and e undefined). Nothing else of theirs is changed.

On CBCL (Xᵀ, 2429×361, r = 80, 40, 20), from seeded uniform factors written to a .mat:

1. multilayer: per layer, their ``betaNMF`` (accuracy 0: every iteration runs) then
   ``normalizeWH(W, H, 2)`` (H_ℓ e = e before the next layer) against dnmf's
   ``MultilayerNMF(init="custom")`` from the same factors; errors and factors compared;
2. deep: their ``deepKL_NMF`` from their multilayer factors against dnmf's
   ``DeepNMF(init="custom")`` from the same factors, errors after 1, 5 and ``outerit``
   iterations; and, to locate the difference, dnmf's building blocks run in the order of their
   loop (layer L: plain MU on H, MU on W, then H_L e = e), labelled "their layer-L step".
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

_GIVEN_BLOCK = """
if isfield(options,'W') && isfield(options,'H')   % added by dnmf's bench driver
    W = options.W; H = options.H; e = zeros(1, L);
    for i = 1 : L
        if i == 1, Yi = X; else, Yi = W{i-1}; end
        e(1,i) = betadiv(Yi, W{i}*H{i}, options.beta);
    end
end
"""


def patched_deep(code_dir: Path, scratch: Path) -> None:
    """Write deepKL_NMF_given.m (their deepKL_NMF.m plus the given-factors block)."""
    sources = sorted(code_dir.rglob("deepKL_NMF.m"))
    if not sources:
        raise SystemExit(f"deepKL_NMF.m not found under {code_dir}")
    text = sources[0].read_text(encoding="latin-1")
    anchor = "options.beta = 1;"
    if anchor not in text:
        raise SystemExit(f"{sources[0]}: line {anchor!r} not found (another version?)")
    text = text.replace("function [W,H,e,inWH,output] = deepKL_NMF(",
                        "function [W,H,e,inWH,output] = deepKL_NMF_given(", 1)
    text = text.replace(anchor, anchor + "\n" + _GIVEN_BLOCK, 1)
    (scratch / "deepKL_NMF_given.m").write_text(text, encoding="latin-1")


def octave_path(code_dir: Path) -> list[str]:
    dirs = sorted({str(p.parent) for p in code_dir.rglob("*.m")
                   if "data sets" not in str(p) and "demos" not in str(p)})
    return dirs


def initial_factors(m: int, n: int, ranks, seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    Ws, Hs, previous = [], [], n
    for r in ranks:
        Ws.append(rng.uniform(size=(m, r)))
        Hs.append(rng.uniform(size=(r, previous)))
        previous = r
    return Ws, Hs


def run_octave(code_dir: Path, X, ranks, Ws, Hs, iters: int, outerit: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        patched_deep(code_dir, scratch)
        inputs = {"X": X, "ranks": np.asarray(ranks, dtype=float)[None, :],
                  "maxiter": float(iters), "outerit": float(outerit)}
        for i, (W, H) in enumerate(zip(Ws, Hs), start=1):
            inputs[f"W0_{i}"] = W
            inputs[f"H0_{i}"] = H
        scipy.io.savemat(scratch / "in.mat", inputs)
        paths = ",".join(f"'{d}'" for d in [str(HERE), str(scratch), *octave_path(code_dir)])
        expr = (f"addpath({paths}); "
                f"agree_cbcl('{scratch / 'in.mat'}', '{scratch / 'out.mat'}')")
        t0 = time.perf_counter()
        proc = subprocess.run(["octave", "--no-gui", "--quiet", "--eval", expr],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0 or not (scratch / "out.mat").exists():
            raise RuntimeError(f"octave failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        out = scipy.io.loadmat(scratch / "out.mat")
    L = len(ranks)
    return {
        "seconds": seconds,
        "eml": np.ravel(out["eml"]),
        "Wml": [out[f"Wml_{i}"] for i in range(1, L + 1)],
        "Hml": [out[f"Hml_{i}"] for i in range(1, L + 1)],
        "edeep": np.asarray(out["edeep"]),
        "deep_seconds": float(np.ravel(out["deep_seconds"])[0]),
        "Wdp": [out[f"Wdp_{i}"] for i in range(1, L + 1)],
        "Hdp": [out[f"Hdp_{i}"] for i in range(1, L + 1)],
    }


def rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


def dnmf_multilayer(X, ranks, Ws, Hs, iters: int):
    from dnmf import MultilayerNMF

    model = MultilayerNMF(ranks=ranks, init="custom", max_iter=iters, eval_every=0)
    model.fit(X, W=Ws, H=Hs)
    return model.W_, model.H_, model.layer_errors_


def dnmf_deep_errors(X, ranks, Ws, Hs, outerit: int) -> tuple[np.ndarray, list, list]:
    """Per-iteration layer errors (row 0 = start) of DeepNMF(init='custom')."""
    from dnmf import DeepNMF

    model = DeepNMF(ranks=ranks, init="custom", max_iter=outerit, eval_every=1)
    model.fit(X, W=Ws, H=Hs)
    cols = [f"error_layer_{i}" for i in range(1, len(ranks) + 1)]
    return model.history_[cols].to_numpy(), model.W_, model.H_


def their_order_deep_errors(X, ranks, Ws, Hs, outerit: int) -> np.ndarray:
    """dnmf's steps in the order of their loop: layer L plain MU H, MU W, then H_L e = e."""
    from dnmf.models._common import all_layer_errors
    from dnmf.models.deep import auto_weights
    from dnmf.updates import update_H_mu, update_H_rowsum, update_W_deep, update_W_mu

    eps = np.finfo(float).eps
    Ws = [np.array(W) for W in Ws]
    Hs = [np.array(H) for H in Hs]
    L = len(ranks)
    errors = [all_layer_errors(X, Ws, Hs, 1.0)]
    weights = auto_weights(errors[0])
    for _ in range(outerit):
        for i in range(L):
            Y = X if i == 0 else Ws[i - 1]
            if i < L - 1:
                Hs[i] = update_H_rowsum(Y, Ws[i], Hs[i], 1.0, eps)
                Ws[i] = update_W_deep(Y, Ws[i], Hs[i], Ws[i + 1] @ Hs[i + 1],
                                      weights[i + 1] / weights[i], 1.0, eps)
            else:
                Hs[i] = update_H_mu(Y, Ws[i], Hs[i], 1.0, eps)
                Ws[i] = update_W_mu(Y, Ws[i], Hs[i], 1.0, eps)
                s = Hs[i].sum(axis=1)
                Hs[i] /= s[:, None]
                Ws[i] *= s[None, :]
        errors.append(all_layer_errors(X, Ws, Hs, 1.0))
    return np.array(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--octave-code", metavar="DIR", required=True, type=Path)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--iters", type=int, default=200, help="MU iterations per layer")
    parser.add_argument("--outerit", type=int, default=100, help="deep iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    if shutil.which("octave") is None:
        raise SystemExit("octave is not on PATH (Debian: apt-get install octave octave-specfun)")
    X = np.ascontiguousarray(scipy.io.loadmat(args.data / "CBCL.mat")["X"].T.astype(float))
    ranks = [80, 40, 20]
    Ws0, Hs0 = initial_factors(*X.shape, ranks, args.seed)
    print(f"CBCL Xᵀ {X.shape}, r = {ranks}, {args.iters} MU iterations per layer, "
          f"{args.outerit} deep iterations; running Octave…", flush=True)
    oct_ = run_octave(args.octave_code, X, ranks, Ws0, Hs0, args.iters, args.outerit)
    print(f"Octave: {oct_['seconds']:.1f} s (deep phase {oct_.get('deep_seconds', 0):.1f})")

    Wml, Hml, eml = dnmf_multilayer(X, ranks, Ws0, Hs0, args.iters)
    rows = []
    for i in range(len(ranks)):
        rows.append([f"multilayer layer {i + 1}: error", f"{oct_['eml'][i]:.10g}",
                     f"{eml[i]:.10g}", f"{abs(eml[i] - oct_['eml'][i]) / oct_['eml'][i]:.1e}"])
        rows.append([f"multilayer layer {i + 1}: W_{i + 1}, H_{i + 1} (‖Δ‖_F/‖·‖_F)", "", "",
                     f"{rel(Wml[i], oct_['Wml'][i]):.1e}, {rel(Hml[i], oct_['Hml'][i]):.1e}"])
    # The deep phase of both codes starts from their multilayer factors.
    e_dnmf, Wdp, Hdp = dnmf_deep_errors(X, ranks, oct_["Wml"], oct_["Hml"], args.outerit)
    e_order = their_order_deep_errors(X, ranks, oct_["Wml"], oct_["Hml"], args.outerit)
    e_oct = oct_["edeep"][:, : len(ranks)]
    for it in sorted({1, 5, args.outerit}):
        for i in range(len(ranks)):
            ref = e_oct[it, i]
            rows.append([f"deep it {it}, layer {i + 1}: error", f"{ref:.10g}",
                         f"{e_dnmf[it, i]:.10g}",
                         f"{abs(e_dnmf[it, i] - ref) / ref:.1e} "
                         f"(their layer-L step: {abs(e_order[it, i] - ref) / ref:.1e})"])
    for i in range(len(ranks)):
        rows.append([f"deep after {args.outerit}: W_{i + 1}, H_{i + 1} (‖Δ‖_F/‖·‖_F)", "", "",
                     f"{rel(Wdp[i], oct_['Wdp'][i]):.1e}, {rel(Hdp[i], oct_['Hdp'][i]):.1e}"])
    header = ["quantity", "authors (Octave)", "dnmf", "relative difference"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
