"""A user alone on the workbench's server: how long a fit and a model-with-baseline pair take.

    PYTHONPATH=. .venv/bin/python bench/app_alone.py                 # CBCL and TDT2, 2 rounds
    PYTHONPATH=. .venv/bin/python bench/app_alone.py --rounds 3 --only cbcl

Two ways of running the same fits, taking turns round by round (same process, same data):

* **script thread** — how the app ran fits before they were jobs: in the page's own process,
  one BLAS thread, a pair's two fits one after the other;
* **jobs** — the app's path now: a :class:`dnmf.service.jobs.JobRunner` in front of the
  embedded cluster (``python -m dnmf.service.cluster``: one worker process per core on
  127.0.0.1). A pair is submitted together (``submit_all``) and its two fits run side by side,
  one core each; a single fit that starts alone gets every core (``lone_threads``).

With ``--baseline REF`` a third way runs in every round: the app as it was at git revision REF
(the code when the idle-core issue was filed), i.e. the same pair in a fresh process with REF's
``dnmf``, one BLAS thread, one fit after the other — "today" in the issue's words.

Workloads: the app's default deep KL-NMF on CBCL (ranks 20-10-5, 100 + 100 iterations) and its
multilayer baseline (200 per layer); the same on TDT2 (19 431 × 9 394 sparse) with 50 + 50
(baseline 100 per layer). Times are wall seconds from submission to the last result; each
ratio is the median over rounds of the per-round ratio. Checks (exit code 1): every job
finishes, and a pair's jobs (one thread each) are bit-identical to the script-thread fits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _perfutil as pu  # noqa: E402

from dnmf import FitResult, _threads  # noqa: E402
from dnmf.datasets import load_paper_dataset  # noqa: E402
from dnmf.service import jobs  # noqa: E402
from dnmf.ui import config as cfgmod  # noqa: E402


def _configs(key: str, ds) -> list[dict]:
    cfg = {**cfgmod.default_config(ds), "random_state": 0}
    if key == "tdt2":
        cfg.update(n_init_iter=50, max_iter=50)
    return [cfg, cfgmod.baseline_config(cfg)]


def _in_script_thread(cfgs: list[dict], X) -> list[FitResult]:
    out = []
    for cfg in cfgs:
        est = cfgmod.make_estimator(cfg)
        with _threads.for_app():
            est.fit(X)
        out.append(est.result_)
    return out


def _as_jobs(runner: jobs.JobRunner, cfgs: list[dict], X) -> list[jobs.Job]:
    import functools

    specs = [jobs.JobSpec(workspace="b" * 32, build=functools.partial(cfgmod.make_estimator, c),
                          X=X, name=c["model"], meta={"config": c}) for c in cfgs]
    ids = runner.submit_all(specs)
    return [runner.wait(i, timeout=1800) for i in ids]


#: The pair in a fresh process with another revision's dnmf (its estimators built directly,
#: as the app's configurations ask), one BLAS thread, one fit after the other.
OLD_PAIR = """
import json, sys, time
sys.path[:] = [p for p in sys.path if p not in ("", {root!r})]
import numpy as np, scipy.sparse as sp
from threadpoolctl import threadpool_limits
import dnmf
path = {data!r}
X = sp.load_npz(path) if path.endswith(".npz") else np.load(path)
deep = dnmf.DeepNMF(ranks={ranks!r}, beta=1.0, n_init_iter={n_init}, max_iter={n_deep},
                    random_state=0, dtype=np.float64)
multilayer = dnmf.MultilayerNMF(ranks={ranks!r}, beta=1.0, max_iter={n_ml}, random_state=0,
                                dtype=np.float64)
with threadpool_limits(1, user_api="blas"):
    t = time.perf_counter()
    deep.fit(X)
    multilayer.fit(X)
    seconds = time.perf_counter() - t
print(json.dumps({{"file": dnmf.__file__, "seconds": seconds}}))
"""


def _old_pair(tree: str, data_path: str, cfgs: list[dict]) -> float:
    code = OLD_PAIR.format(root=str(pu.ROOT), data=data_path, ranks=tuple(cfgs[0]["ranks"]),
                           n_init=cfgs[0]["n_init_iter"], n_deep=cfgs[0]["max_iter"],
                           n_ml=cfgs[1]["max_iter"])
    out = pu.run_json(code, env={"PYTHONPATH": tree})
    assert out["file"].startswith(tree), out["file"]
    return out["seconds"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", choices=("cbcl", "tdt2"), default=None)
    ap.add_argument("--baseline", metavar="REF", help="also the app at git revision REF")
    args = ap.parse_args()

    t0 = time.perf_counter()
    ex = jobs.DaskExecutor(background=False)
    if not ex.ready():
        print("cluster did not start:", ex.error)
        return 1
    runner = jobs.JobRunner(ex)
    print(f"cluster of {ex.slots()} worker(s) up (warm) in {time.perf_counter() - t0:.2f} s; "
          f"a job alone gets {ex.lone_threads()} thread(s)")
    for line in pu.environment_lines():
        print(line)
    ok = True
    rows = []
    stack = contextlib.ExitStack()
    old_tree = stack.enter_context(pu.baseline_tree(args.baseline)) if args.baseline else None
    scratch = stack.enter_context(tempfile.TemporaryDirectory())
    try:
        for key in ("cbcl", "tdt2"):
            if args.only and key != args.only:
                continue
            ds = load_paper_dataset(key)
            cfgs = _configs(key, ds)
            times = {"pair script": [], "pair jobs": [], "fit script": [], "fit job": [],
                     "pair old": []}
            threads = []
            data_path = os.path.join(scratch, key + (".npz" if sp.issparse(ds.X) else ".npy"))
            if old_tree is not None:
                (sp.save_npz if sp.issparse(ds.X) else np.save)(data_path, ds.X)
            for _ in range(args.rounds):
                if old_tree is not None:
                    times["pair old"].append(_old_pair(old_tree, data_path, cfgs))
                t = time.perf_counter()
                ref = _in_script_thread(cfgs, ds.X)
                times["pair script"].append(time.perf_counter() - t)
                t = time.perf_counter()
                done = _as_jobs(runner, cfgs, ds.X)
                times["pair jobs"].append(time.perf_counter() - t)
                if any(j.state != jobs.DONE for j in done):
                    print("FAIL: a pair job did not finish:", [(j.state, j.error) for j in done])
                    return 1
                for r, j in zip(ref, done):
                    got = FitResult.from_npz_bytes(j.result)
                    if not all(np.array_equal(a, b) for a, b in zip(got.W + got.H, r.W + r.H)):
                        print(f"FAIL: the {j.spec.name} job differs from the script-thread fit")
                        ok = False
                t = time.perf_counter()
                _in_script_thread(cfgs[:1], ds.X)
                times["fit script"].append(time.perf_counter() - t)
                t = time.perf_counter()
                (alone,) = _as_jobs(runner, cfgs[:1], ds.X)
                times["fit job"].append(time.perf_counter() - t)
                threads.append(alone.threads)
                if alone.state != jobs.DONE:
                    print("FAIL: the lone job did not finish:", alone.error)
                    return 1
            what = f"{key.upper()} {ds.shape[0]}×{ds.shape[1]}"
            rows.append([f"{what}: deep + multilayer pair", pu.median(times["pair script"]),
                         pu.median(times["pair jobs"]),
                         pu.median_ratio(times["pair script"], times["pair jobs"]),
                         "1 + 1"])
            if old_tree is not None:
                rows.append([f"{what}: the pair, {args.baseline} in the script thread",
                             pu.median(times["pair old"]), pu.median(times["pair jobs"]),
                             pu.median_ratio(times["pair old"], times["pair jobs"]), "1 + 1"])
            rows.append([f"{what}: deep alone", pu.median(times["fit script"]),
                         pu.median(times["fit job"]),
                         pu.median_ratio(times["fit script"], times["fit job"]),
                         "/".join(str(t) for t in threads)])
            print(f"{key}: {', '.join(f'{k} {v}' for k, v in times.items())}")
    finally:
        runner.close()
        stack.close()
    print()
    print(pu.table(["workload", "script thread s", "jobs s", "script / jobs", "job threads"],
                   [[w, f"{a:.2f}", f"{b:.2f}", f"**{r:.2f}×**", t] for w, a, b, r, t in rows]))
    print(f"pair jobs identical to the script-thread fits: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
