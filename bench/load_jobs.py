"""Load test of the job runner on loopback: N sessions submit a CBCL fit at once.

    PYTHONPATH=. .venv/bin/python bench/load_jobs.py                 # 4 sessions, 100 + 100 it
    PYTHONPATH=. .venv/bin/python bench/load_jobs.py --sessions 4 --iters 50

The app's own path: a :class:`dnmf.service.jobs.JobRunner` in front of the embedded cluster
(``python -m dnmf.service.cluster``: scheduler and one worker process per core on 127.0.0.1),
finished runs written to a :class:`dnmf.service.store.RunStore` by the ``on_finish`` hook the app
uses. Measured in the same run:

1. the cluster's start time (until the workers are warm);
2. a solo fit (one session, one job; the deep CBCL fit of the app's defaults, ranks 80-40-20);
3. ``--sessions`` jobs submitted at once from as many workspaces, with the same seed.

Checks (exit code 1 if one fails): every job finishes; each workspace's store holds exactly
its own run; every result is bit-identical to the solo run (same seed, one BLAS thread); total
time ≤ 1.25 × ceil(N / workers) × solo. Bounded: every wait has a timeout.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import tempfile
import time

import numpy as np

from dnmf import FitResult
from dnmf.datasets import load_paper_dataset
from dnmf.service import jobs
from dnmf.service.store import RunStore, new_token
from dnmf.ui import config as cfgmod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--iters", type=int, default=100, help="warm-start and deep iterations")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole test")
    args = ap.parse_args()

    ds = load_paper_dataset("cbcl")
    cfg = {**cfgmod.default_config(ds), "ranks": [80, 40, 20], "n_init_iter": args.iters,
           "max_iter": args.iters, "random_state": 0}
    build = functools.partial(cfgmod.make_estimator, cfg)
    store = RunStore(tempfile.mkdtemp(prefix="dnmf-load-"), max_runs=100)

    def stored(job: jobs.Job) -> None:
        if job.result is not None:
            store.put_run(job.spec.workspace, job.spec.name, job.result, meta={"config": cfg})

    t0 = time.perf_counter()
    ex = jobs.DaskExecutor(background=False)
    if not ex.ready():
        print("cluster did not start:", ex.error)
        return 1
    start_s = time.perf_counter() - t0
    workers = ex.slots()
    # One thread per job, the solo run included (a job alone would get every core, and its
    # result would then be the two-thread fit's, not bit-identical to the shared runs'): the
    # bound compares like with like. bench/app_alone.py measures the lone job's two cores.
    runner = jobs.JobRunner(ex, per_workspace=1, on_finish=stored, share_idle_cores=False)
    deadline = time.monotonic() + args.timeout
    ok = True
    try:
        print(f"CBCL {ds.shape}, ranks {cfg['ranks']}, {args.iters} + {args.iters} iterations; "
              f"cluster of {workers} worker(s) up (warm) in {start_s:.2f} s")
        solo_ws = new_token()
        t = time.perf_counter()
        solo = runner.wait(runner.submit(jobs.JobSpec(workspace=solo_ws, build=build, X=ds.X,
                                                      name="solo")),
                           timeout=deadline - time.monotonic())
        solo_s = time.perf_counter() - t
        if solo.state != jobs.DONE:
            print("solo job did not finish:", solo.state, solo.error)
            return 1
        ref = FitResult.from_npz_bytes(solo.result)
        print(f"solo: {solo_s:.2f} s wall (fit {solo.seconds:.2f} s)")

        tokens = [new_token() for _ in range(args.sessions)]
        t = time.perf_counter()
        ids = [runner.submit(jobs.JobSpec(workspace=tok, build=build, X=ds.X,
                                          name=f"session-{i}"))
               for i, tok in enumerate(tokens)]
        places = [runner.place(i) for i in ids]
        done = [runner.wait(i, timeout=max(1.0, deadline - time.monotonic())) for i in ids]
        total_s = time.perf_counter() - t
        print(f"{args.sessions} at once: queue places at submission {places}")
        def cpu(job) -> float:
            return float(FitResult.from_npz_bytes(job.result).timings.get("job_cpu", "nan"))

        print(f"solo CPU {cpu(solo):.2f} s of {solo.seconds:.2f} s wall")
        for job in done:
            print(f"  {job.spec.name}: {job.state}, fit {job.seconds:.2f} s wall, "
                  f"{cpu(job):.2f} s CPU, waited {(job.started or 0) - job.submitted:.2f} s")
        if any(j.state != jobs.DONE for j in done):
            print("FAIL: not every job finished")
            return 1
        for tok, job in zip(tokens, done):
            names = [r.name for r in store.list_runs(tok)]
            if names != [job.spec.name]:
                print(f"FAIL: workspace of {job.spec.name} holds {names}")
                ok = False
            res = FitResult.from_npz_bytes(store.get_blob(tok, job.spec.name))
            same = all(np.array_equal(a, b) for a, b in zip(res.W + res.H, ref.W + ref.H))
            if not same:
                print(f"FAIL: {job.spec.name} differs from the solo run")
                ok = False
        t = time.perf_counter()
        again = runner.wait(runner.submit(jobs.JobSpec(workspace=solo_ws, build=build, X=ds.X,
                                                       name="solo-again")),
                            timeout=max(1.0, deadline - time.monotonic()))
        again_s = time.perf_counter() - t
        print(f"solo again after the load: {again_s:.2f} s wall ({again.state}; the machine "
              "is shared: the spread of the two solo times is the noise)")
        bound = 1.25 * math.ceil(args.sessions / workers) * solo_s
        ratio = total_s / (math.ceil(args.sessions / workers) * solo_s)
        print(f"total {total_s:.2f} s; bound 1.25 × ceil({args.sessions}/{workers}) × solo = "
              f"{bound:.2f} s; total / (ceil × solo) = {ratio:.2f}")
        print(f"results isolated and identical to the solo run: {ok}")
        if total_s > bound:
            print("FAIL: over the bound (the machine may be shared: compare the ratio)")
            ok = False
    finally:
        runner.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
