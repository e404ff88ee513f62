"""Deep KL-NMF on CBCL, r = (80, 40, 20), 500 init + 500 deep iterations: total and split.

    .venv/bin/python bench/perf_deep_cbcl.py                 # float64 and float32
    .venv/bin/python bench/perf_deep_cbcl.py --iters 100     # shorter (100 + 100)

Prints, per dtype, the total time of ``DeepNMF.fit`` and its split: the multilayer warm start
(its MU iterations: the layers whose rows are split between threads, see
:mod:`dnmf._rowsplit`, and the H and W MU steps of the one-thread layers; error
evaluations), then the deep phase (H_ℓ row-sum MU, W_ℓ closed-form
BSUM steps and inside them the ω kernel, W_L MU, error evaluations, the rest).

Then ``--rounds N`` rounds (default 3) in fresh processes taking turns: this tree's fit in
float64 and float32, with ``--baseline REF`` the same fits of the dnmf of git revision REF,
and with ``--octave-code DIR`` the authors' MATLAB code under GNU Octave
(``bench/octave/run_cbcl.m``; DIR holds the authors' files, which dnmf does not ship; see that
driver). Every ratio is the median of the per-round ratios: on the shared machines the speed
of the same fit drifts by ±20 % from one minute to the next.

    .venv/bin/python bench/perf_deep_cbcl.py --octave-code /path/to/authors-code
    .venv/bin/python bench/perf_deep_cbcl.py --baseline main   # main's code too, same run

``--plain-iters N`` also compares, in this process, the plain formulas this work started from
(allocating steps, scipy's ``wrightomega``) on a shortened fit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
from _perfutil import (
    CLOCK,
    DATA,
    ROOT,
    add_machine_args,
    baseline_tree,
    environment_lines,
    load_cbcl,
    median,
    median_ratio,
    run_json,
    run_on_machine,
    table,
)

#: The baseline's fit in a fresh process: its dnmf from PYTHONPATH, this tree's bench helpers.
BASELINE = """
import json, sys
sys.path[:] = [p for p in sys.path if p not in ("", {root!r})]
sys.path.append({bench!r})
import numpy as np
import dnmf
from _perfutil import load_cbcl, use_cpu_time
use_cpu_time({cpu})
from perf_deep_cbcl import fit
from dnmf import _kernels
_kernels.warmup()
X = load_cbcl()
fit(X[:200], 2, 2, np.float64)
model, seconds = fit(X, {iters}, {iters}, np.{dtype})
print(json.dumps({{"file": dnmf.__file__, "seconds": seconds,
                  "errors": [float(e) for e in model.layer_errors_]}}))
"""


@contextmanager
def instrumented(timers: dict[str, float]):
    """Wrap the loops' building blocks with timers (about 1 µs per call)."""
    from dnmf import _rowsplit, updates
    from dnmf.estimators import _beta as estimators
    from dnmf.models import deep, multilayer

    patches = [
        (multilayer.LayerMU, "iterate", "init: MU iterations"),
        (_rowsplit.RowSplitKL, "iterate", "init: rows split between threads"),
        (multilayer, "update_H_mu", "init: H MU"),
        (multilayer, "update_W_mu", "init: W MU"),
        (multilayer, "_rescale_columns_to_unit_max", "init: rescale W columns"),
        (multilayer, "workspace_layer_error", "init: error evaluation"),
        (deep, "update_H_rowsum", "deep: H_ℓ row-sum MU"),
        (deep, "mu_terms_H", "deep: H_ℓ row-sum MU"),
        (deep, "apply_rowsum_step", "deep: H_ℓ row-sum MU"),
        (deep, "update_W_deep", "deep: W_ℓ BSUM step (ℓ < L)"),
        (deep, "update_W_mu", "deep: W_L MU"),
        (deep._DeepPhase, "errors", "deep: error evaluation"),
        (updates._kernels, "deep_w_kl", "  of which the ω kernel"),
        (estimators, "fit_multilayer", "fit: multilayer warm start"),
        (estimators, "fit_deep", "fit: deep phase"),
    ]
    saved = []
    for module, name, label in patches:
        original = getattr(module, name)

        def wrapper(*args, _f=original, _label=label, **kwargs):
            clock = CLOCK["fn"]
            t0 = clock()
            try:
                return _f(*args, **kwargs)
            finally:
                timers[_label] += clock() - t0

        saved.append((module, name, original))
        setattr(module, name, wrapper)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


@contextmanager
def plain_formulas():
    """The code paths before issue 7: allocating steps, scipy's wrightomega for ω."""
    from dnmf import _rowsplit, updates
    from dnmf.models import deep, multilayer
    from dnmf.updates import _omega_closed_form_kl

    def plain_deep_w_kl(W_t, Q, P, W_bar, lam, out=None):
        result = _omega_closed_form_kl(W_t, Q, np.broadcast_to(P, W_t.shape), W_bar, lam)
        if out is None:
            return result
        out[...] = result
        return out

    saved = [(updates._kernels, "deep_w_kl", updates._kernels.deep_w_kl),
             (deep, "make_workspaces", deep.make_workspaces),
             (multilayer, "MUWorkspace", multilayer.MUWorkspace),
             (_rowsplit, "MIN_ENTRIES", _rowsplit.MIN_ENTRIES)]
    updates._kernels.deep_w_kl = plain_deep_w_kl
    _rowsplit.MIN_ENTRIES = 1 << 62  # no row split
    deep.make_workspaces = lambda X, Ws: None
    multilayer.MUWorkspace = lambda *a, **k: None
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def fit(X, iters_init, iters_deep, dtype, seed=0):
    from dnmf import DeepNMF

    model = DeepNMF(ranks=(80, 40, 20), beta=1.0, n_init_iter=iters_init, max_iter=iters_deep,
                    random_state=seed, dtype=dtype)
    clock = CLOCK["fn"]
    t0 = clock()
    model.fit(X)
    return model, clock() - t0


def run_octave(code_dir: str, iters: int, threads: int | None = None) -> dict:
    """The authors' deepKL_NMF under GNU Octave: wall seconds of the fit (its own tic/toc),
    or with ``--cpu-time`` the CPU seconds of the whole Octave process (start-up and data
    loading included, about 1 s); ``threads`` limits Octave's OpenBLAS."""
    import resource

    driver = ROOT / "bench" / "octave"
    expr = (f"addpath('{code_dir}'); addpath('{driver}'); "
            f"run_cbcl('{DATA / 'CBCL.mat'}', {iters}, {iters})")
    env = dict(os.environ)
    if threads is not None:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(["octave", "--no-gui", "--quiet", "--eval", expr],
                          capture_output=True, text=True, timeout=7200, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"octave failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if CLOCK["name"] == "cpu":
        result["seconds"] = (after.ru_utime + after.ru_stime
                             - before.ru_utime - before.ru_stime)
    version = subprocess.run(["octave", "--version"], capture_output=True, text=True)
    result["version"] = version.stdout.splitlines()[0] if version.stdout else "octave"
    return result


def products_floor(X, iters: int, dtype, ranks=(80, 40, 20)) -> float:
    """Seconds of the fit's matrix products alone, on two threads with one BLAS thread each,
    each thread on half of the rows (as the row split runs them), without any elementwise
    pass or synchronisation: a lower bound of the fit's time with these products.

    Warm start: four products per layer and iteration (WH twice, (Y⊘WH)ᵀW, (Y⊘WH)Hᵀ);
    deep sweep: the same four per layer and W̄_ℓ = W_{ℓ+1}H_{ℓ+1}, which is layer ℓ+1's WH.
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    m, n = X.shape
    cols = [n, *ranks[:-1]]

    def half(c: int) -> None:
        rng = np.random.default_rng(c)
        rows = m // 2 + (m % 2) * c
        Ws = [rng.random((rows, r)).astype(dtype) for r in ranks]
        Hs = [rng.random((r, k)).astype(dtype) for r, k in zip(ranks, cols)]
        Vs = [np.empty((rows, k), dtype) for k in cols]
        QW = [np.empty((rows, r), dtype) for r in ranks]
        QH = [np.empty((k, r), dtype) for r, k in zip(ranks, cols)]
        for k in range(len(ranks)):
            for _ in range(iters):
                np.matmul(Ws[k], Hs[k], out=Vs[k])
                np.matmul(Vs[k].T, Ws[k], out=QH[k])
                np.matmul(Ws[k], Hs[k], out=Vs[k])
                np.matmul(Vs[k], Hs[k].T, out=QW[k])
        for _ in range(iters):
            for k in range(len(ranks)):
                if k == 0:
                    np.matmul(Ws[k], Hs[k], out=Vs[k])
                np.matmul(Vs[k].T, Ws[k], out=QH[k])
                if k + 1 < len(ranks):
                    np.matmul(Ws[k + 1], Hs[k + 1], out=Vs[k + 1])
                np.matmul(Ws[k], Hs[k], out=Vs[k])
                np.matmul(Vs[k], Hs[k].T, out=QW[k])

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(1) as pool:
        clock = CLOCK["fn"]
        t0 = clock()
        other = pool.submit(half, 1)
        half(0)
        other.result()
        return clock() - t0


def _rounds(args, X) -> None:
    """Fresh processes taking turns, ``args.rounds`` rounds: this tree (float64, float32),
    the baseline (same), the authors' code under Octave; ratios are medians of the per-round
    ratios (the machine's speed drifts by ±20 % between minutes)."""
    contenders = {"this tree": str(ROOT)}
    times: dict[str, list[float]] = defaultdict(list)
    octave_runs: list[dict] = []
    with contextlib.ExitStack() as stack:
        if args.baseline:
            contenders[args.baseline] = stack.enter_context(baseline_tree(args.baseline))
        use_octave = bool(args.octave_code) and shutil.which("octave") is not None
        if args.octave_code and not use_octave:
            print("--octave-code given but octave is not on PATH: skipped")
        for _ in range(args.rounds):
            for label, path in contenders.items():
                for dtype in ("float64", "float32"):
                    code = BASELINE.format(root=str(ROOT), bench=str(ROOT / "bench"),
                                           cpu=CLOCK["name"] == "cpu", iters=args.iters,
                                           dtype=dtype)
                    env = {"PYTHONPATH": path}
                    if args.threads is not None:
                        env["OPENBLAS_NUM_THREADS"] = str(args.threads)
                    result = run_json(code, env=env)
                    assert result["file"].startswith(path), result["file"]
                    times[f"{label} {dtype}"].append(result["seconds"])
            for dtype in ("float64", "float32"):
                times[f"products floor {dtype}"].append(
                    products_floor(X, args.iters, np.dtype(dtype)))
            if use_octave:
                octave_runs.append(run_octave(args.octave_code, args.iters, args.threads))
                times["octave"].append(octave_runs[-1]["seconds"])
    rows = []
    for key, values in times.items():
        row = [key, f"{median(values):.2f}", " ".join(f"{v:.2f}" for v in values)]
        if use_octave and key != "octave":
            row.append(f"{median_ratio(times['octave'], values):.1f}×")
        elif use_octave:
            row.append("")
        if args.baseline and key.startswith("this tree"):
            base = times[f"{args.baseline} {key.split()[-1]}"]
            row.append(f"{median_ratio(base, values):.2f}×")
        elif args.baseline:
            row.append("")
        if not key.startswith(("products", "octave")):
            floor = times[f"products floor {key.split()[-1]}"]
            row.append(f"{median_ratio(values, floor):.2f}")
        else:
            row.append("")
        rows.append(row)
    headers = ["fit (fresh process)", "median s", "per round s"]
    if use_octave:
        headers.append("Octave / it (median of rounds)")
    if args.baseline:
        headers.append(f"{args.baseline} / this tree")
    headers.append("fit / products floor")
    print()
    print(f"{args.rounds} rounds, the contenders taking turns in fresh processes; 'products "
          "floor': the fit's matrix products alone on two threads (products_floor), so "
          "Octave / floor bounds the ratio any fit with these products can reach here")
    print(table(headers, rows))
    if octave_runs:
        print(f"{octave_runs[-1]['version']}, the authors' deepKL_NMF; final layer errors of "
              f"its last run {', '.join(f'{e:.5g}' for e in octave_runs[-1]['errors'])} "
              "(other random starts than dnmf's)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=500, help="init and deep iterations each")
    parser.add_argument("--plain-iters", type=int, default=0,
                        help="iterations of each phase for the same-run plain-formula comparison")
    parser.add_argument("--octave-code", metavar="DIR",
                        help="folder of the authors' MATLAB files: time them under Octave too")
    parser.add_argument("--baseline", metavar="REF",
                        help="also fit with the dnmf of git revision REF, same run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of fresh-process fits taking turns (0: none)")
    add_machine_args(parser)
    return run_on_machine(parser.parse_args(argv), run)


def run(args) -> int:
    X = load_cbcl()
    if X is None:
        print("CBCL.mat not found in ../shared/data: skipped")
        return 0
    print("\n".join(environment_lines()))
    from dnmf import _kernels

    print("kernels warm-up (compile or load from cache), s:", _kernels.warmup())
    fit(X[:200], 2, 2, np.float64)  # imports, first calls

    results = {}
    for dtype in (np.float64, np.float32):
        timers: dict[str, float] = defaultdict(float)
        with instrumented(timers):
            model, total = fit(X, args.iters, args.iters, dtype)
        results[np.dtype(dtype).name] = (model, total, dict(timers))

    rows = []
    t64 = results["float64"][1]
    for name, (_model, total, timers) in results.items():
        init = timers["fit: multilayer warm start"]
        deep_total = timers["fit: deep phase"]
        rows.append([f"{name}: total", f"{total:.2f}", "100%"])
        rows.append([f"{name}: multilayer warm start", f"{init:.2f}", f"{init / total:.0%}"])
        for label in ("init: MU iterations", "init: rows split between threads",
                      "init: H MU", "init: W MU", "init: rescale W columns",
                      "init: error evaluation"):
            indent = "   " if label == "init: MU iterations" else "     "
            shown = {"init: rows split between threads": "of which layers split between "
                     "threads (MU, rescale, error)",
                     "init: H MU": "of which one-thread layers: H MU"}.get(label, label[6:])
            rows.append([f"{name}:{indent}{shown}", f"{timers.get(label, 0):.2f}",
                         f"{timers.get(label, 0) / total:.0%}"])
        rows.append([f"{name}: deep phase", f"{deep_total:.2f}", f"{deep_total / total:.0%}"])
        accounted = 0.0
        for label in ("deep: H_ℓ row-sum MU", "deep: W_ℓ BSUM step (ℓ < L)",
                      "  of which the ω kernel", "deep: W_L MU", "deep: error evaluation"):
            value = timers.get(label, 0.0)
            if not label.startswith("  "):
                accounted += value
            shown = label[6:] if label.startswith("deep") else label
            rows.append([f"{name}:   {shown}", f"{value:.2f}", f"{value / total:.0%}"])
        rows.append([f"{name}:   rest (W̄ = W_ℓ+1 H_ℓ+1, loop, callback)",
                     f"{deep_total - accounted:.2f}", f"{(deep_total - accounted) / total:.0%}"])
        if name == "float32":
            rows.append(["float64 / float32 (same run)", f"{t64 / total:.2f}×", ""])
    print()
    print(f"DeepNMF(ranks=(80, 40, 20), beta=1, n_init_iter={args.iters}, "
          f"max_iter={args.iters}) on CBCL {X.shape[0]}×{X.shape[1]}, one instrumented fit "
          "per dtype (seconds; with two threads the deep phase's steps run inside the row "
          "split and are counted in its 'rest', the ω kernel in both threads' seconds)")
    print(table(["workload / part", "seconds", "share"], rows))
    if args.rounds:
        _rounds(args, X)

    # Same-run comparison with the plain formulas, per iteration, on a shortened fit.
    n = args.plain_iters
    if n <= 0:
        return 0
    rounds = []
    for _ in range(3):
        _, ours = fit(X, n, n, np.float64)
        with plain_formulas():
            _, plain = fit(X, n, n, np.float64)
        rounds.append((ours, plain))
    ratio = float(np.median([p / o for o, p in rounds]))
    print()
    print(table(["workload", "ours s", "plain formulas s", "plain / ours"],
                [[f"CBCL deep KL float64, {n} + {n} iterations, 3 rounds (median)",
                  f"{np.median([o for o, _ in rounds]):.2f}",
                  f"{np.median([p for _, p in rounds]):.2f}", f"{ratio:.2f}×"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
