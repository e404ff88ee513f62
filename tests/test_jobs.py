"""The job runner: fits in threads and on a 2-worker LocalCluster (loopback), the fair queue,
Stop within 0.5 s keeping the partial result, checkpoints, a killed worker."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from dnmf import FitResult
from dnmf.service import jobs
from dnmf.ui import config as cfgmod

RNG = np.random.default_rng(0)
X = RNG.random((60, 40)) + 0.1


def _cfg(n_init_iter=20, max_iter=30, seed=0, model="deep"):
    return {"model": model, "beta": 1.0, "ranks": [6, 3], "weights": "auto",
            "layer_init": "random", "n_init_iter": n_init_iter, "max_iter": max_iter,
            "random_state": seed, "dtype": "float64"}


def _spec(cfg, ws="a" * 32, **kw):
    return jobs.JobSpec(workspace=ws, build=functools.partial(cfgmod.make_estimator, cfg), X=X,
                        meta={"config": cfg}, **kw)


def _solo(cfg, threads=1, data=None) -> FitResult:
    from dnmf import _threads

    est = cfgmod.make_estimator(cfg)
    with _threads.for_app(threads):
        est.fit(X if data is None else data)
    return est.result_


def _same(a: FitResult, b: FitResult) -> None:
    for x, y in zip(a.W + a.H, b.W + b.H):
        np.testing.assert_array_equal(x, y)


class _QuietChannel:
    """A job's channel that drops progress and checkpoints and never asks to stop."""

    progress = staticmethod(lambda msg: None)
    stop_requested = staticmethod(lambda: False)
    widen_requested = staticmethod(lambda: False)
    checkpoint = staticmethod(lambda data: None)


def _wait_running_with_progress(runner, job_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = runner.job(job_id)
        if job.state == jobs.RUNNING and job.progress and job.progress["iteration"] > 1:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not report progress: {runner.job(job_id)}")


# ------------------------------------------------------------------- the queue (no fitting)
class _ManualExecutor:
    """Slots that the test frees by hand: the queue's decisions, without timing."""

    def __init__(self, slots):
        self.n = slots
        self.started: list[str] = []
        self.threads: dict[str, int] = {}
        self.done = {}
        self.names: dict[str, str] = {}  # job id → name
        self.widened: list[tuple[str, int]] = []  # (name, threads) offered

    def ready(self):
        return True

    def slots(self):
        return self.n

    def lone_threads(self):
        return self.n

    def start(self, job, on_progress, on_checkpoint, on_done):
        self.started.append(job.spec.name)
        self.threads[job.spec.name] = job.threads
        self.done[job.spec.name] = (job.id, on_done)
        self.names[job.id] = job.spec.name

    def widen(self, job_id, threads):
        self.widened.append((self.names[job_id], threads))

    def stop(self, job_id):
        pass

    def close(self):
        pass

    def finish(self, name):
        job_id, on_done = self.done.pop(name)
        on_done(job_id, (b"", 0.0, False), None)


def test_fair_queue_first_come_first_served_with_a_per_workspace_limit():
    ex = _ManualExecutor(slots=2)
    runner = jobs.JobRunner(ex, per_workspace=1)
    try:
        a, b = "a" * 32, "b" * 32
        ids = {}
        for name, ws in [("a1", a), ("a2", a), ("a3", a), ("b1", b), ("b2", b)]:
            ids[name] = runner.submit(jobs.JobSpec(workspace=ws, build=None, X=None, name=name))
        # two slots, one job per workspace: a1 and b1 run; a2 keeps its place ahead of b2
        assert ex.started == ["a1", "b1"]
        assert [runner.place(ids[n]) for n in ("a2", "a3", "b2")] == [1, 2, 3]
        assert runner.place(ids["a1"]) is None
        ex.finish("b1")  # b's slot frees: b2 is the first queued job allowed to run
        assert ex.started == ["a1", "b1", "b2"]
        ex.finish("a1")
        assert ex.started[-1] == "a2"
        assert runner.place(ids["a3"]) == 1
        runner.stop(ids["a3"])  # a queued job stopped leaves the queue, nothing to keep
        job = runner.job(ids["a3"])
        assert job.state == jobs.STOPPED and job.result is None and runner.queued() == 0
        assert [j.spec.name for j in runner.jobs(workspace=b)] == ["b1", "b2"]
    finally:
        runner.close()


def test_a_job_that_starts_alone_gets_the_idle_cores_and_jobs_sent_together_share_them():
    ex = _ManualExecutor(slots=2)
    runner = jobs.JobRunner(ex)
    try:
        def submit(*names):
            runner.submit_all([jobs.JobSpec(workspace=n[0] * 32, build=None, X=None, name=n)
                               for n in names])

        submit("a1")  # nothing else running or queued: both cores
        submit("b1")  # a1 runs: b1 shares the machine
        assert ex.threads == {"a1": 2, "b1": 1}
        ex.finish("a1"), ex.finish("b1")
        submit("c1", "d1")  # a model and its baseline, sent together: one core each
        assert ex.threads["c1"] == ex.threads["d1"] == 1
        ex.finish("c1"), ex.finish("d1")
        submit("e1", "e2", "e3")  # one workspace, two at once; e3 waits for a slot
        ex.finish("e1")  # e3 starts beside e2: not alone
        assert [ex.threads[n] for n in ("e1", "e2", "e3")] == [1, 1, 1]
        ex.finish("e2"), ex.finish("e3")
        runner.share_idle_cores = False
        submit("f1")
        assert ex.threads["f1"] == 1
    finally:
        runner.close()


def test_a_fit_left_alone_with_nothing_queued_is_offered_the_idle_cores():
    ex = _ManualExecutor(slots=2)
    runner = jobs.JobRunner(ex)
    try:
        def submit(*names, task=None):
            return runner.submit_all([jobs.JobSpec(workspace=n[0] * 32, build=None, X=None,
                                                   name=n, task=task) for n in names])

        c1, d1 = submit("c1", "d1")  # a pair: one core each
        ex.finish("c1")  # d1 is left alone: offered both cores, once
        assert ex.widened == [("d1", 2)] and runner.job(d1).widened == 2
        ex.finish("d1")
        submit("e1", "e2", "e3")  # e3 waits for e1's slot (two per workspace)
        ex.finish("e1")  # e3 starts beside e2: nobody is alone
        assert ex.widened == [("d1", 2)]
        ex.finish("e2")  # e3 alone now, nothing queued
        assert ex.widened[-1] == ("e3", 2)
        ex.finish("e3")
        submit("g1", "g2", task=lambda progress: None)  # tasks keep one thread
        ex.finish("g1")
        assert ex.widened[-1] == ("e3", 2)
        ex.finish("g2")
        runner.share_idle_cores = False
        submit("h1", "h2")
        ex.finish("h1")
        assert ex.widened[-1] == ("e3", 2)
        assert runner.job(c1).widened is None
    finally:
        runner.close()


class _OfferingChannel(_QuietChannel):
    """Offers the idle cores from the third look on."""

    def __init__(self):
        self.looks = 0

    def widen_requested(self):
        self.looks += 1
        return self.looks >= 3


def test_an_offer_of_idle_cores_widens_sparse_kernels_only_and_changes_no_bit(monkeypatch):
    """Taken mid-fit on sparse data, the offer moves the compiled kernels to two threads (BLAS
    and the row splits keep one): the result is the one-thread fit's, bit for bit. On dense
    data the fit declines it (BLAS on two threads would round differently)."""
    import scipy.sparse as sp

    from dnmf import _kernels, _threads

    monkeypatch.setattr(jobs, "WIDEN_POLL", 0.0)
    sparse = sp.random(1200, 500, density=0.15, random_state=2, format="csr") * 5
    dense = np.random.default_rng(1).random((400, 60)) + 0.1
    cfg = _cfg(n_init_iter=10, max_iter=10)
    for data, widens in ((sparse, True), (dense, False)):
        seen = []

        def build(callback, seen=seen):
            def spy(info):
                seen.append((_kernels.kernel_threads(), _threads.split_threads(),
                             _threads.blas_threads()))
                return callback(info)
            return cfgmod.make_estimator(cfg, callback=spy)

        out, _, _ = jobs.execute(build, data, _OfferingChannel(), 0, cfg, {}, threads=1,
                                 widen_to=2)
        res = FitResult.from_npz_bytes(out)
        n = min(2, os.cpu_count() or 1)
        if widens:
            assert seen[0] == (1, 1, 1) and seen[-1] == (n, 1, 1)
            assert res.timings["job_threads_end"] == 2
            assert 1 <= res.timings["job_widened_at_iteration"] <= 5
        else:
            assert set(seen) == {(1, 1, 1)} and "job_threads_end" not in res.timings
        _same(res, _solo(cfg, threads=1, data=data))


def test_widen_applies_to_the_calling_threads_fit_and_not_to_its_row_splits():
    import threading

    from dnmf import _threads

    assert not _threads.widen(2)  # no fit under for_app here
    other = []
    with _threads.for_app(1):
        assert (_threads.work_threads(), _threads.split_threads()) == (1, 1)
        assert _threads.widen(2)
        n = min(2, os.cpu_count() or 1)
        assert (_threads.work_threads(), _threads.split_threads()) == (n, 1)
        thread = threading.Thread(target=lambda: other.append(
            (_threads.work_threads(), _threads.split_threads(), _threads.blas_threads())))
        thread.start()
        thread.join()
    assert other == [(1, 1, 1)]  # not this thread's widened fit: BLAS's count (limited here)
    assert _threads.work_threads() == _threads.blas_threads()  # restored after the block


def test_execute_with_two_threads_runs_the_fit_on_two_and_restores_blas():
    """A lone job's fit on large dense data runs with BLAS (hence the row split and dnmf's
    kernels) on two threads; its result is the seeded fit on two threads, bit for bit; BLAS is
    restored. Small dense data keeps one BLAS thread (its spinning second thread took the
    core the app's server needed)."""
    from dnmf import _threads

    n = min(2, os.cpu_count() or 1)
    large = np.random.default_rng(1).random((600, 440)) + 0.1  # ≥ BLAS_THREADS_MIN_ENTRIES
    small = large[:400, :60]
    assert large.size >= jobs.BLAS_THREADS_MIN_ENTRIES > small.size
    cfg = _cfg(n_init_iter=15, max_iter=10)
    for data, blas in ((large, n), (small, 1)):
        seen = []

        def build(callback, seen=seen):
            def spy(info):
                seen.append((_threads.blas_threads(), _threads.split_threads()))
                return callback(info)
            return cfgmod.make_estimator(cfg, callback=spy)

        before = _threads.blas_threads()
        out, _, stopped = jobs.execute(build, data, _QuietChannel, 0, cfg, {}, threads=2)
        assert _threads.blas_threads() == before and not stopped
        # the row split's phases limit BLAS to one thread per chunk (callbacks run inside)
        assert seen and {s for _, s in seen} == {n} and max(b for b, _ in seen) == blas
        res = FitResult.from_npz_bytes(out)
        assert res.timings["job_threads"] == 2
        with _threads.for_app(2, blas=blas > 1):
            est = cfgmod.make_estimator(cfg).fit(data)
        _same(res, est.result_)
    out1, _, _ = jobs.execute(build, small, _QuietChannel, 0, cfg, {}, threads=1)
    assert FitResult.from_npz_bytes(out1).timings["job_threads"] == 1
    _same(FitResult.from_npz_bytes(out1), _solo(cfg, threads=1, data=small))


def test_a_lone_sparse_job_runs_dnmf_kernels_on_two_threads_blas_on_one_same_result():
    """Sparse data: the compiled kernels get the threads, BLAS stays on one (its idle threads
    would spin against them); each output row is one thread's, so the result is the
    one-thread result bit for bit."""
    import scipy.sparse as sp

    from dnmf import _kernels, _threads

    # 90 000 stored entries: more than two kernel ranges of MIN_NNZ_PER_THREAD
    data = sp.random(1200, 500, density=0.15, random_state=2, format="csr") * 5
    cfg = _cfg(n_init_iter=10, max_iter=10)
    seen = []

    def build(callback):
        def spy(info):
            seen.append((_threads.blas_threads(), _kernels.kernel_threads()))
            return callback(info)
        return cfgmod.make_estimator(cfg, callback=spy)

    two, _, _ = jobs.execute(build, data, _QuietChannel, 0, cfg, {}, threads=2)
    assert set(seen) == {(1, min(2, os.cpu_count() or 1))}
    seen.clear()
    one, _, _ = jobs.execute(build, data, _QuietChannel, 0, cfg, {}, threads=1)
    assert set(seen) == {(1, 1)}
    _same(FitResult.from_npz_bytes(two), FitResult.from_npz_bytes(one))


# ------------------------------------------------------------------------------ threads
def test_thread_jobs_match_a_solo_fit_and_report_progress():
    finished = []
    runner = jobs.JobRunner(jobs.ThreadExecutor(2), on_finish=finished.append)
    try:
        cfgs = [_cfg(seed=s) for s in (0, 1, 0)]
        ids = [runner.submit(_spec(c)) for c in cfgs]
        outs = [runner.wait(i, timeout=60) for i in ids]
        assert [o.state for o in outs] == [jobs.DONE] * 3
        for cfg, out in zip(cfgs, outs):
            _same(FitResult.from_npz_bytes(out.result), _solo(cfg))
        assert outs[0].progress["iteration"] == outs[0].progress["total"] == 20 * 2 + 30
        assert sorted(j.id for j in finished) == sorted(ids)
    finally:
        runner.close()


def test_thread_job_stops_within_half_a_second_and_keeps_the_partial_result():
    runner = jobs.JobRunner(jobs.ThreadExecutor(1))
    try:
        job_id = runner.submit(_spec(_cfg(n_init_iter=5, max_iter=10**6)))
        _wait_running_with_progress(runner, job_id)
        runner.stop(job_id)
        job = runner.wait(job_id, timeout=5)
        assert job.state == jobs.STOPPED
        assert job.stop_latency is not None and job.stop_latency <= 0.5, job.stop_latency
        res = FitResult.from_npz_bytes(job.result)
        assert res.stopped_early and 0 < res.n_iter < 10**6
        assert all(np.isfinite(a).all() for a in res.W + res.H)
    finally:
        runner.close()


def test_checkpoints_carry_the_current_factors():
    got = []
    runner = jobs.JobRunner(jobs.ThreadExecutor(1), on_checkpoint=lambda j, b: got.append(b))
    try:
        spec = _spec(_cfg(n_init_iter=5, max_iter=10**6), checkpoint_every=0.2)
        job_id = runner.submit(spec)
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop(job_id)
        runner.wait(job_id, timeout=5)
    finally:
        runner.close()
    assert len(got) >= 2
    first, last = (FitResult.from_npz_bytes(b) for b in (got[0], got[-1]))
    assert first.ranks == last.ranks == (6, 3)
    assert first.W[0].shape == (60, 6) and first.H[0].shape == (6, 40)
    assert last.n_iter > first.n_iter and last.stopped_early
    # the factors are those of the fit at that moment: their error is the reported one
    from dnmf.divergence import beta_divergence

    err = beta_divergence(X, last.W[0], last.H[0], 1.0)
    assert err == pytest.approx(last.layer_errors[0], rel=0.05)


def test_a_failing_fit_is_a_failed_job_with_its_message():
    runner = jobs.JobRunner(jobs.ThreadExecutor(1))
    try:
        job = runner.wait(runner.submit(_spec({**_cfg(), "ranks": [6, 9]})), timeout=20)
        assert job.state == jobs.FAILED and "rank" in job.error.lower()
    finally:
        runner.close()


def _counting_task(steps, progress):
    """A task job's work: report progress until told to stop; return how far it got."""
    done = 0
    for i in range(steps):
        if progress(f"step {i}", i / steps) is False:
            break
        done += 1
        time.sleep(0.002)
    return {"steps": done}


def test_a_task_job_reports_progress_stops_and_returns_its_result():
    runner = jobs.JobRunner(jobs.ThreadExecutor(2))
    try:
        finished = runner.wait(runner.submit(jobs.JobSpec(
            workspace="t" * 32, build=None, X=None,
            task=functools.partial(_counting_task, 50))), timeout=30)
        assert finished.state == jobs.DONE and finished.result == {"steps": 50}
        assert finished.threads == 1  # a task is not a fit: no lone-job cores
        job_id = runner.submit(jobs.JobSpec(workspace="t" * 32, build=None, X=None,
                                            task=functools.partial(_counting_task, 10**6)))
        deadline = time.monotonic() + 10
        while not (runner.job(job_id).progress or time.monotonic() > deadline):
            time.sleep(0.01)
        p = runner.job(job_id).progress
        assert p["unit"] == "‰" and p["total"] == 1000 and p["phase"].startswith("step ")
        runner.stop(job_id)
        stopped = runner.wait(job_id, timeout=10)
        assert stopped.state == jobs.STOPPED and stopped.stop_latency <= 0.5
        assert 0 < stopped.result["steps"] < 10**6  # what it had when it stopped
    finally:
        runner.close()


# --------------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def dask_runner():
    pytest.importorskip("distributed")
    t0 = time.perf_counter()
    ex = jobs.DaskExecutor(n_workers=2, background=False)
    assert ex.ready(), ex.error
    runner = jobs.JobRunner(ex)
    runner.cluster_seconds = time.perf_counter() - t0
    yield runner
    runner.close()


@pytest.mark.timeout(120)
def test_dask_jobs_match_solo_fits(dask_runner):
    cfgs = [_cfg(seed=0), _cfg(seed=1), _cfg(seed=0, model="multilayer")]
    ids = [dask_runner.submit(_spec(c, ws=f"{i}" * 32)) for i, c in enumerate(cfgs)]
    outs = [dask_runner.wait(i, timeout=60) for i in ids]
    assert [o.state for o in outs] == [jobs.DONE] * 3, [o.error for o in outs]
    # the first starts alone (both cores), the others beside it; each equals the seeded
    # fit on its own thread count
    assert [o.threads for o in outs] == [min(2, os.cpu_count() or 1), 1, 1]
    for cfg, out in zip(cfgs, outs):
        _same(FitResult.from_npz_bytes(out.result), _solo(cfg, threads=out.threads))
    assert outs[0].progress["total"] == 70


@pytest.mark.timeout(120)
def test_dask_pair_on_large_data_sends_it_once_and_lets_it_go(dask_runner, monkeypatch):
    """A model and its baseline on the same large array (≥ SCATTER_BYTES): the data is
    scattered to the cluster once and shared by both jobs (not embedded in each task), both
    equal their solo fits, and the executor keeps no reference once they are done."""
    big = np.random.default_rng(1).random((1200, 150)) + 0.1  # 1.4 MB
    assert big.nbytes >= jobs.SCATTER_BYTES
    ex = dask_runner.executor
    scattered = []
    original = ex.client.scatter
    monkeypatch.setattr(ex.client, "scatter",
                        lambda data, **kw: scattered.append(data) or original(data, **kw))
    cfgs = [_cfg(seed=0), _cfg(seed=0, model="multilayer")]
    specs = [jobs.JobSpec(workspace="p" * 32, build=functools.partial(cfgmod.make_estimator, c),
                          X=big, meta={"config": c}) for c in cfgs]
    outs = [dask_runner.wait(i, timeout=60) for i in dask_runner.submit_all(specs)]
    assert [o.state for o in outs] == [jobs.DONE] * 2, [o.error for o in outs]
    assert len(scattered) == 1 and scattered[0] is big
    for cfg, out in zip(cfgs, outs):
        _same(FitResult.from_npz_bytes(out.result), _solo(cfg, data=big))
    deadline = time.monotonic() + 5
    while ex._data and time.monotonic() < deadline:  # released by the jobs' done callbacks
        time.sleep(0.02)
    assert not ex._data


@pytest.mark.timeout(120)
def test_dask_sparse_fit_left_alone_takes_the_idle_core_same_bits(dask_runner):
    """A pair on sparse data: when the short baseline ends, the deep fit is offered the idle
    core and its kernels take it; its result is still the one-thread fit's, bit for bit."""
    import scipy.sparse as sp

    data = sp.random(2000, 800, density=0.08, random_state=3, format="csr") * 5
    long_cfg = _cfg(n_init_iter=10, max_iter=400)
    short_cfg = _cfg(n_init_iter=5, model="multilayer")
    specs = [jobs.JobSpec(workspace="w" * 32, build=functools.partial(cfgmod.make_estimator, c),
                          X=data, meta={"config": c}) for c in (long_cfg, short_cfg)]
    long_job, short_job = (dask_runner.wait(i, timeout=90)
                           for i in dask_runner.submit_all(specs))
    assert long_job.state == short_job.state == jobs.DONE, (long_job.error, short_job.error)
    assert long_job.threads == 1 and long_job.widened == 2 and short_job.widened is None
    res = FitResult.from_npz_bytes(long_job.result)
    assert res.timings["job_threads_end"] == 2, res.timings
    assert 0 < res.timings["job_widened_at_iteration"] < res.n_iter
    _same(res, _solo(long_cfg, threads=1, data=data))


@pytest.mark.timeout(120)
def test_dask_stop_within_half_a_second(dask_runner):
    job_id = dask_runner.submit(_spec(_cfg(n_init_iter=5, max_iter=10**6)))
    _wait_running_with_progress(dask_runner, job_id)
    dask_runner.stop(job_id)
    job = dask_runner.wait(job_id, timeout=10)
    assert job.state == jobs.STOPPED
    assert job.stop_latency <= 0.5, job.stop_latency
    res = FitResult.from_npz_bytes(job.result)
    assert res.stopped_early and res.n_iter > 1


@pytest.mark.timeout(120)
def test_dask_checkpoint_reaches_the_app(dask_runner):
    got = []
    dask_runner.on_checkpoint = lambda j, b: got.append(b)
    try:
        job_id = dask_runner.submit(_spec(_cfg(n_init_iter=5, max_iter=10**6),
                                          checkpoint_every=0.3))
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        dask_runner.stop(job_id)
        dask_runner.wait(job_id, timeout=10)
    finally:
        dask_runner.on_checkpoint = None
    assert got and FitResult.from_npz_bytes(got[-1]).ranks == (6, 3)


@pytest.mark.timeout(120)
def test_dask_killed_worker_fails_the_job_with_a_message_and_the_runner_goes_on(dask_runner):
    job_id = dask_runner.submit(_spec(_cfg(n_init_iter=5, max_iter=10**6)))
    _wait_running_with_progress(dask_runner, job_id)
    client = dask_runner.executor.client
    where = client.who_has().get(f"dnmf-fit-{job_id}") or ()
    processing = client.processing()
    addr = next(a for a, keys in processing.items() if f"dnmf-fit-{job_id}" in keys)
    pid = client.run(os.getpid, workers=[addr])[addr]
    os.kill(pid, signal.SIGKILL)
    job = dask_runner.wait(job_id, timeout=30)
    assert job.state == jobs.FAILED, (job.state, where)
    assert "worker process" in job.error and "killed" in job.error
    # the nanny restarts the worker; the next job runs
    again = dask_runner.wait(dask_runner.submit(_spec(_cfg())), timeout=60)
    assert again.state == jobs.DONE, again.error


@pytest.mark.timeout(120)
def test_dask_more_jobs_than_workers_all_finish_while_reporting(dask_runner):
    # (hung before: the dispatcher held the runner's lock while asking the scheduler for the
    # worker count, and the client's loop waited for that lock to deliver progress)
    cfg = _cfg(n_init_iter=5, max_iter=6000)
    ids = [dask_runner.submit(_spec(cfg, ws=f"{i}" * 32)) for i in range(5)]
    outs = [dask_runner.wait(i, timeout=90) for i in ids]
    assert [o.state for o in outs] == [jobs.DONE] * 5
    assert all(o.progress and o.progress["iteration"] == o.progress["total"] for o in outs)


def test_a_job_cut_off_in_the_warm_start_leaves_a_checkpoint_in_the_data_units():
    """Checkpoints during a deep fit's warm start (before: none until the deep phase, so a
    job cut off there left no partial run); the factors are in the data's units (X × 1000)."""
    from dnmf.divergence import beta_divergence

    got = []
    runner = jobs.JobRunner(jobs.ThreadExecutor(1), on_checkpoint=lambda j, b: got.append(b))
    Xb = X * 1000.0
    cfg = _cfg(n_init_iter=10**6, max_iter=10)  # the job never leaves its warm start
    try:
        spec = jobs.JobSpec(workspace="a" * 32, build=functools.partial(cfgmod.make_estimator,
                                                                        cfg),
                            X=Xb, meta={"config": cfg}, checkpoint_every=0.2)
        job_id = runner.submit(spec)
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop(job_id)
        runner.wait(job_id, timeout=5)
    finally:
        runner.close()
    assert len(got) >= 2
    last = FitResult.from_npz_bytes(got[-1])
    assert last.ranks == (6, 3) and last.stopped_early
    assert set(last.history["phase"]) == {"init layer 1"}
    err = beta_divergence(Xb, last.W[0], last.H[0], 1.0)
    assert err == pytest.approx(last.layer_errors[0], rel=0.05)


DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.timeout(180)
@pytest.mark.skipif(not (DATA / "Tumor.mat").is_file(), reason=f"no Tumor.mat in {DATA}")
def test_dask_runs_an_experiment_from_the_files_it_was_given(dask_runner):
    """The Reproduce page's job: the .mat bytes travel with the task (no shared disk); a wrong
    file comes back as the ReproduceError (a result, not a failed job)."""
    from dnmf.reproduce import Report, ReproduceError, run_task

    tumor = (DATA / "Tumor.mat").read_bytes()
    ok, wrong = (dask_runner.submit(jobs.JobSpec(
        workspace="r" * 32, build=None, X=None,
        task=functools.partial(run_task, "tumor", None, quick=True, files=files)))
        for files in ({"Tumor.mat": tumor}, {"Tumor.mat": b"not a mat file"}))
    done = dask_runner.wait(ok, timeout=150)
    assert done.state == jobs.DONE, done.error
    assert isinstance(done.result, Report) and len(done.result.fits) == 3
    assert done.progress["unit"] == "‰"
    bad = dask_runner.wait(wrong, timeout=60)
    assert bad.state == jobs.DONE and isinstance(bad.result, ReproduceError)
    assert "Tumor.mat" in str(bad.result)
