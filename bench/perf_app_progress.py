"""Progress reporting during a fit: how often the callback runs and what it costs.

    .venv/bin/python bench/perf_app_progress.py

The app's callback (dnmf/ui/fit.py) is called after every iteration with an IterationInfo and
redraws at most every 0.25 s. For each workload this measures, as the app runs it (BLAS limited
to one thread per fit):

* the longest gap between two callback calls (fit start and end included): the app can show
  progress — and react to Stop — no later than that;
* the overhead of the callback: a fit with the app-like time-throttled callback against the
  same fit with ``callback=None``, interleaved rounds, median of per-round ratios, in CPU
  seconds (one thread: robust on a loaded machine);
* the cost of one Progress.step (IterationInfo construction + a throttled callback) in µs, and
  that cost as a share of the median iteration.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _perfutil import (
    environment_lines,
    interleaved,
    load_cbcl,
    median,
    median_ratio,
    table,
    use_cpu_time,
)
from perf_kl_sparse import problem as sparse_problem

PERIOD = 0.25


def throttled_callback():
    """What dnmf/ui/fit.py does, minus the Streamlit calls (a 0.25 s time throttle)."""
    last = [-np.inf]
    state = {}

    def callback(info):
        state["last"] = info
        now = time.perf_counter()
        if now - last[0] < PERIOD and info.iteration < info.total_iterations:
            return None
        last[0] = now
        _ = (f"{info.phase} · iteration {info.iteration} of {info.total_iterations} · "
             f"{info.seconds:.1f} s", [f"{e:.4g}" for e in info.layer_errors])
        return None

    return callback


def gaps(make_model, X, repeats: int = 3):
    """Longest gap between callback calls (median over ``repeats`` fits, with where it was),
    and the median iteration time."""
    longest, where, medians = [], [], []
    for _ in range(repeats):
        stamps, labels = [], []

        def callback(info, stamps=stamps, labels=labels):
            stamps.append(time.perf_counter())
            labels.append(f"{info.phase} #{info.iteration}")

        model = make_model(callback)
        t0 = time.perf_counter()
        model.fit(X)
        t1 = time.perf_counter()
        diffs = np.diff(np.array([t0, *stamps, t1]))
        names = ["fit start", *labels, "fit end"]
        k = int(np.argmax(diffs))
        longest.append(float(diffs[k]))
        where.append(f"{names[k]} → {names[k + 1]}")
        medians.append(float(np.median(np.diff(stamps))))
    k = int(np.argsort(longest)[len(longest) // 2])
    return longest[k], where[k], float(np.median(medians))


def step_cost() -> float:
    """µs per Progress.step with the throttled callback (IterationInfo built every time)."""
    from dnmf.models._driver import Progress

    progress = Progress(3, 10**9, throttled_callback())
    progress.latest[:] = 1.0
    n = 50_000
    t0 = time.perf_counter()
    for _ in range(n):
        progress.step("deep")
    return (time.perf_counter() - t0) / n * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from dnmf import DeepNMF, MultilayerNMF

    print("\n".join(environment_lines()))
    print("as in the app: BLAS limited to 1 thread")
    rng = np.random.default_rng(0)
    cbcl = load_cbcl()
    small = rng.random((200, 100)) + 0.01
    Xs, _, _ = sparse_problem()
    workloads = []
    if cbcl is not None:
        workloads.append(("CBCL deep (80, 40, 20), 100+100 it.", cbcl,
                          lambda cb: DeepNMF(ranks=(80, 40, 20), n_init_iter=100, max_iter=100,
                                             random_state=0, callback=cb)))
        workloads.append(("CBCL deep float32, 100+100 it.", cbcl,
                          lambda cb: DeepNMF(ranks=(80, 40, 20), n_init_iter=100, max_iter=100,
                                             random_state=0, dtype=np.float32, callback=cb)))
    workloads.append(("sparse 5000×20000 multilayer (20, 10), 20 it./layer", Xs,
                      lambda cb: MultilayerNMF(ranks=(20, 10), max_iter=20, random_state=0,
                                               callback=cb)))
    workloads.append(("small 200×100 deep (10, 5), 300+300 it.", small,
                      lambda cb: DeepNMF(ranks=(10, 5), n_init_iter=300, max_iter=300,
                                         random_state=0, callback=cb)))
    cost = step_cost()
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for name, X, make in workloads:
            make(None).fit(X)  # warm: imports, kernels, allocator
            longest, where, iteration = gaps(make, X)
            use_cpu_time(True)
            t = interleaved({"none": lambda make=make, X=X: make(None).fit(X),
                             "app": lambda make=make, X=X: make(throttled_callback()).fit(X)},
                            args.rounds)
            use_cpu_time(False)
            overhead = median_ratio(t["app"], t["none"]) - 1.0
            rows.append([name, f"{median(t['none']):.2f}", f"{longest:.3f} ({where})",
                         f"{iteration * 1e3:.2f}", f"{cost / (iteration * 1e6):.2%}",
                         f"{overhead:+.1%}"])
    print(f"\nProgress.step + throttled callback: {cost:.2f} µs per iteration")
    print(table(["workload", "fit s (no callback)", "longest gap between reports s (median of 3)",
                 "median iteration ms", "step cost / iteration", "fit with app callback vs none"],
                rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
