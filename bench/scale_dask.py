"""Deep KL-NMF on a synthetic sparse Poisson corpus: Dask (2-worker LocalCluster) vs in memory.

Measures, in one run on this machine:

* the time per deep iteration of ``DeepNMF(ranks).fit(X)`` with X a SciPy CSR matrix in memory
  (the NumPy/numba path) and with X a Dask array of CSR row chunks on a LocalCluster of two
  worker processes (one thread each), same data, same initial factors;
* how the Dask time per iteration grows with the number of chunks (2, 4, 8, 16 by default);
* the driver's traffic per iteration (bytes sent to and received from the workers, counted by
  :class:`dnmf.distributed.DaskBackend`), the workers' peer-to-peer transfers, round trips.

The corpus: ``docs`` documents of ``tokens`` word draws each from a vocabulary of ``terms``;
every document has one of ``topics`` topics and draws 70 % of its words from its topic's band
of the vocabulary (skewed towards the band's first words), 30 % from the whole vocabulary
(skewed the same way); X counts the draws (values 1, 2, …). The rows are generated in 16
blocks with their own seeds, once on the workers for the Dask runs (each chunk count stacks
them; nothing large leaves the driver), and the in-memory X stacks the same blocks.

Usage::

    .venv/bin/python bench/scale_dask.py --docs 1000000 --tokens 100 --iters 12
    .venv/bin/python bench/scale_dask.py --docs 100000 --iters 6      # a 1-minute smoke run

The deep phase starts from random factors (``n_init_iter=0``); each timed iteration is the
difference between consecutive callback times, and the table gives their median (the last
iteration, which also evaluates the errors, is left out).
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import numpy as np
import scipy.sparse as sp

N_BASE_BLOCKS = 16


def make_block(index: int, rows: int, terms: int, tokens: int, topics: int, seed: int):
    """Rows of base block ``index`` (a CSR matrix rows × terms of word counts)."""
    rng = np.random.default_rng([seed, index])
    topic = rng.integers(0, topics, size=rows)
    band = terms // topics
    n_draws = rows * tokens
    doc = np.repeat(np.arange(rows, dtype=np.int64), tokens)
    in_topic = rng.random(n_draws) < 0.7
    skew = rng.random(n_draws) ** 3
    col = np.where(in_topic, topic[doc] * band + (skew * band).astype(np.int64),
                   (skew * terms).astype(np.int64))
    X = sp.csr_array((np.ones(n_draws), (doc, np.minimum(col, terms - 1))),
                     shape=(rows, terms))
    X.sum_duplicates()
    return X


def stack_blocks(*blocks, columns: bool = False):
    X = sp.vstack(blocks, format="csr")
    return sp.csr_array(X.T) if columns else X


def make_chunk(first: int, last: int, rows_per_block: int, terms: int, tokens: int,
               topics: int, seed: int, columns: bool = False):
    """Base blocks first … last-1 stacked: documents × terms, or terms × documents (CSR)."""
    X = sp.vstack([make_block(i, rows_per_block, terms, tokens, topics, seed)
                   for i in range(first, last)], format="csr")
    return sp.csr_array(X.T) if columns else X


def timed_fit(make_est, X, iters: int):
    """In-memory fit: median wall seconds per deep iteration, and CPU seconds per iteration
    (this process, all threads) between the end of iteration 1 and of iteration iters - 1."""
    stamps: list[float] = []
    cpu: dict[int, float] = {}

    def callback(info):
        if info.phase == "deep":
            stamps.append(info.seconds)
            if info.iteration in (1, iters - 1):
                cpu[info.iteration] = time.process_time()

    est = make_est(callback)
    t0 = time.perf_counter()
    est.fit(X)
    total = time.perf_counter() - t0
    steps = np.diff(stamps)[:-1] if len(stamps) > 2 else np.diff(stamps)
    cpu_per_iter = (cpu[iters - 1] - cpu[1]) / max(1, iters - 2)
    return est, float(np.median(steps)), total, steps, cpu_per_iter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--terms", type=int, default=20_000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--topics", type=int, default=40)
    parser.add_argument("--ranks", type=int, nargs="+", default=[20, 10])
    parser.add_argument("--iters", type=int, default=12, help="deep iterations, main runs")
    parser.add_argument("--sweep-iters", type=int, default=4, help="deep iterations, sweep")
    parser.add_argument("--chunks", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-memory", action="store_true", help="no in-memory fit")
    parser.add_argument("--layout", choices=["rows", "columns"], default="rows",
                        help="documents × terms split by rows, or terms × documents by columns")
    args = parser.parse_args()
    import dask
    import dask.array as da
    import distributed

    from dnmf import DeepNMF
    from dnmf.distributed import DaskBackend
    from dnmf.portable import fit_estimator

    rows_per_block = args.docs // N_BASE_BLOCKS
    m = rows_per_block * N_BASE_BLOCKS
    columns = args.layout == "columns"
    gen = dict(rows_per_block=rows_per_block, terms=args.terms, tokens=args.tokens,
               topics=args.topics, seed=args.seed, columns=columns)
    ranks = tuple(args.ranks)
    print(f"cores: {os.cpu_count()}, load average: "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))

    def make_est(callback, iters=args.iters):
        return DeepNMF(ranks=ranks, beta=1.0, n_init_iter=0, max_iter=iters, eval_every=0,
                       random_state=args.seed, callback=callback)

    base: list = []  # the 16 base blocks, generated once on the workers

    def dask_corpus(n_chunks):
        if not base:
            workers = sorted(client.scheduler_info()["workers"])
            base.extend(client.compute(dask.delayed(make_block)(
                i, rows_per_block, args.terms, args.tokens, args.topics, args.seed),
                workers=[workers[i * len(workers) // N_BASE_BLOCKS]])
                for i in range(N_BASE_BLOCKS))
            distributed.wait(base)
        per = N_BASE_BLOCKS // n_chunks
        shape = (per * rows_per_block, args.terms)
        parts = [da.from_delayed(dask.delayed(stack_blocks)(*base[c * per:(c + 1) * per],
                                                            columns=columns),
                                 shape=shape[::-1] if columns else shape, dtype=float,
                                 meta=sp.csr_matrix((0, 0)))
                 for c in range(n_chunks)]
        return da.concatenate(parts, axis=1 if columns else 0)

    results = {}
    if not args.skip_memory:
        t0 = time.perf_counter()
        X = make_chunk(0, N_BASE_BLOCKS, **gen)
        print(f"corpus: {X.shape[0]} × {X.shape[1]}, nnz {X.nnz:.3e} "
              f"({X.nnz / m:.1f} per document), generated in {time.perf_counter() - t0:.1f} s")
        est, per_iter, total, steps, cpu_iter = timed_fit(make_est, X, args.iters)
        results["memory"] = (per_iter, total, est.layer_errors_, cpu_iter)
        print(f"in memory: {per_iter:.2f} s/iter (iterations {np.round(steps, 2).tolist()}), "
              f"CPU {cpu_iter:.2f} s/iter, fit {total:.1f} s, errors {est.layer_errors_}")
        del X, est
        gc.collect()

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       worker_dashboard_address=None, memory_limit=0)
    client = distributed.Client(cluster)
    client.run(lambda: __import__("dnmf.distributed"))

    def worker_transfers(since: float) -> float:
        """Bytes sent from worker to worker since ``since`` (sends to the driver excluded)."""
        def count(dask_worker, since=since):
            return float(sum(e.get("total", 0) for e in dask_worker.transfer_outgoing_log
                             if e.get("who") and e.get("start", 0) >= since))

        return sum(client.run(count).values())

    rows = []
    try:
        for n_chunks in args.chunks:
            iters = args.iters if n_chunks == args.chunks[0] else args.sweep_iters
            Xd = dask_corpus(n_chunks)
            backend = DaskBackend.for_array(Xd, client)
            stamps: list[float] = []
            est = make_est(None, iters)
            wall0 = time.time()
            t0 = time.perf_counter()
            marks = {}

            cpu: dict[int, float] = {}

            def callback(info, stamps=stamps, marks=marks, backend=backend, cpu=cpu,
                         iters=iters):
                if info.phase == "deep":
                    stamps.append(info.seconds)
                    marks[info.iteration] = (backend.bytes_sent, backend.bytes_received,
                                             backend.round_trips)
                    if info.iteration in (1, iters - 1):  # driver + workers, all threads
                        cpu[info.iteration] = time.process_time() + sum(
                            client.run(time.process_time).values())

            est.set_params(callback=callback)
            result = fit_estimator(est, Xd, backend=backend)
            total = time.perf_counter() - t0
            p2p = worker_transfers(wall0)
            its = sorted(marks)
            a, b = marks[its[0]], marks[its[-2]] if len(its) > 2 else marks[its[-1]]
            k = max(1, (its[-2] if len(its) > 2 else its[-1]) - its[0])
            sent, received, trips = ((b[i] - a[i]) / k for i in range(3))
            steps = np.diff(stamps)[:-1] if len(stamps) > 2 else np.diff(stamps)
            per_iter = float(np.median(steps))
            cpu_iter = (cpu[iters - 1] - cpu[1]) / max(1, iters - 2)
            rows.append((n_chunks, per_iter, sent, received, trips, total, p2p, cpu_iter))
            print(f"dask, {n_chunks} chunks: {per_iter:.2f} s/iter "
                  f"(iterations {np.round(steps, 2).tolist()}), CPU {cpu_iter:.2f} s/iter, "
                  f"fit {total:.1f} s, "
                  f"sent {sent:.3g} B/iter, received {received:.3g} B/iter, "
                  f"{trips:.0f} round trips/iter, worker-to-worker {p2p:.3g} B in the fit, "
                  f"errors {result.layer_errors}")
            if "memory" in results and n_chunks == args.chunks[0]:
                np.testing.assert_allclose(result.layer_errors, results["memory"][2],
                                           rtol=1e-6)
            del result
    finally:
        client.close()
        cluster.close()

    print()
    print("| chunks | wall s / iter | wall vs in memory | CPU s / iter | CPU vs in memory "
          "| driver → workers B/iter | workers → driver B/iter | round trips/iter |")
    print("|---|---|---|---|---|---|---|---|")
    base, _, _, base_cpu = results.get("memory", (np.nan, 0, 0, np.nan))
    if "memory" in results:
        print(f"| in memory (CSR, numba) | {base:.2f} | 1.00 | {base_cpu:.2f} | 1.00 "
              "| – | – | – |")
    for n_chunks, per_iter, sent, received, trips, _, _, cpu_iter in rows:
        print(f"| {n_chunks} | {per_iter:.2f} | {per_iter / base:.2f} | {cpu_iter:.2f} "
              f"| {cpu_iter / base_cpu:.2f} | {sent:.3g} | {received:.3g} | {trips:.0f} |")


if __name__ == "__main__":
    main()
