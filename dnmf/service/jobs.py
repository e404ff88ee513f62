"""Fits as background jobs: a fair queue in front of a dask.distributed cluster (or threads).

A :class:`JobRunner` takes fits from every session of the app (:meth:`JobRunner.submit`), keeps
them in one first-come-first-served queue with a limit on how many jobs of one workspace run at
once, and hands a job to the executor only when a slot is free — so every session can be told
its jobs' places (:meth:`JobRunner.place`). Two executors have the same interface:

- :class:`DaskExecutor`: by default an embedded ``LocalCluster`` on 127.0.0.1 (worker processes,
  one thread and one BLAS thread each, as many as cores), started in the background; with
  ``DNMF_SCHEDULER=tcp://host:port`` an existing cluster (whose workers need ``dnmf`` installed).
- :class:`ThreadExecutor`: threads of the app's own process (``DNMF_JOBS=threads``; what the
  AppTest suite uses, where a cluster would outlive the script).

A job runs :func:`execute` where the executor puts it: the estimator is built there from a
picklable ``build(callback)``, and its callback

- publishes the progress (iteration, total, phase, per-layer errors) every :data:`PROGRESS_PERIOD`
  seconds (Dask: ``Worker.log_event`` on a topic the runner's client subscribes to);
- polls the job's stop flag every :data:`STOP_POLL` seconds (Dask: a ``distributed.Event``) and
  returns False when it is set — the estimator then stops and returns its partial result;
- every ``checkpoint_every`` seconds sends the current factors as ``.npz`` bytes (Dask: a
  ``distributed.Variable``), which the runner hands to ``on_checkpoint`` (the app writes them to
  the store, so a job cut off by a server restart comes back as a partial run).

Threads: a job runs on one BLAS thread (and one thread of dnmf's kernels), except a job that
starts alone — nothing else running or queued — on the embedded cluster: it gets every core of
the machine (:meth:`DaskExecutor.lone_threads`; dnmf's row split and sparse kernels use them,
BLAS too for dense data of :data:`BLAS_THREADS_MIN_ENTRIES` entries or more), so a user alone
on the server does not wait for one core while the
others idle. It keeps them until it ends, even if another job starts beside
it meanwhile. Jobs submitted together (:meth:`JobRunner.submit_all`, e.g. a model and its
baseline) share the cores, one each; when one of them ends and the other is left alone with
nothing queued, the runner offers it the idle cores (:meth:`JobRunner._widen_lone_job`): a fit
on sparse data takes them for its compiled kernels from its next look at the offer (every
:data:`WIDEN_POLL` seconds), which changes no bit of its result (those kernels give the same
bits on any thread count, and its row splits keep the count it started with); a fit on dense
data declines (BLAS on more threads would round differently). A run records its thread count
(``timings["job_threads"]``, and ``job_threads_end`` after an offer was taken): seeded
results are reproducible for a given thread count.

A worker that dies under a job (killed, out of memory) makes the job fail with a message; the
runner and the other jobs go on. The solver core never imports this module.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_LOG = logging.getLogger(__name__)

__all__ = ["DaskExecutor", "Job", "JobRunner", "JobSpec", "ThreadExecutor", "execute",
           "execute_task", "runner_from_env"]

#: Seconds between two progress messages of a job.
PROGRESS_PERIOD = 0.25
#: Seconds between two looks at a job's stop flag (the Stop latency is about this plus one
#: iteration plus the result's trip back).
STOP_POLL = 0.1
#: Dense data below this many entries keeps one BLAS thread even in a job that runs alone: its
#: products are small, and OpenBLAS's second thread, spinning between them, took the core the
#: app's server and the browser needed (a 100 × 625 fit of 4000 iterations alone as a job ran
#: 27 s beside the browser instead of 4 s, and the page answered in seconds; bench/README.md).
BLAS_THREADS_MIN_ENTRIES = 1 << 18
#: Seconds between two looks at the runner's offer of idle cores (see the module docstring).
WIDEN_POLL = 0.5
#: Seconds between two checkpoints of a job's factors.
CHECKPOINT_EVERY = 3.0
#: Data of at least this many bytes goes to the cluster once (scattered), not in each job.
SCATTER_BYTES = 1 << 20
#: Jobs of one workspace that may run at once (the others wait in the queue).
PER_WORKSPACE = 2

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
FINISHED = (DONE, STOPPED, FAILED)


@dataclass
class JobSpec:
    """One fit to run.

    ``build(callback)`` returns the (unfitted) estimator; it and ``X`` must pickle (a
    ``functools.partial`` of a module-level function does). ``meta`` is the app's, passed back
    untouched (run name, configuration, dataset provenance).

    A job that is not one fit (an experiment of :mod:`dnmf.reproduce`) gives ``task`` instead
    of ``build``: a picklable callable run as ``task(progress=report)``, where
    ``report(message, fraction)`` publishes its progress and returns False once Stop was asked
    (the task then returns what it has); its return value is the job's result, as it is.
    """

    workspace: str
    build: Callable[[Callable], Any]
    X: Any
    name: str = "run"
    session: str = ""
    fit_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. labels: fit(X, y=…)
    meta: dict[str, Any] = field(default_factory=dict)
    checkpoint_every: float = CHECKPOINT_EVERY
    task: Callable[..., Any] | None = None


@dataclass
class Job:
    """What the runner knows about a job (a snapshot: :meth:`JobRunner.job` copies it)."""

    id: str
    spec: JobSpec
    state: str = QUEUED
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: dict[str, Any] | None = None
    result: bytes | None = None  # FitResult.to_npz_bytes() of the final or partial result
    seconds: float = 0.0
    error: str | None = None
    stop_requested: float | None = None  # time.perf_counter() of the Stop
    stop_latency: float | None = None  # seconds from Stop to the partial result
    collected: bool = False
    threads: int = 1  # dnmf's threads (and BLAS's, for dense data) the job was started with
    widened: int | None = None  # the threads offered when it was left alone (sparse data)

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED


# --------------------------------------------------------------------------- where jobs run
def _current_factors(info, ranks: tuple[int, ...]):
    """Copies of the fit's current factors in the data's units, ``(Ws, Hs, history_rows)``,
    all L layers (None: no checkpoint this time, never a wrong one).

    The fit driver offers them through :attr:`dnmf.IterationInfo.snapshot` (copied only when
    asked). A model whose loop does not offer them is read from the loop's locals instead
    (:func:`_factors_in_fit_loop`). During a warm start only the layers reached exist; the
    others are filled as the estimators fill a fit stopped there (:func:`_fill_layers`).
    """
    snapshot = getattr(info, "snapshot", None)
    found = snapshot() if callable(snapshot) else _factors_in_fit_loop(len(ranks), depth=12)
    if found is None:
        return None
    Ws, Hs, rows = found
    if not Ws or len(Ws) != len(Hs) or len(Ws) > len(ranks):
        return None
    return (*_fill_layers(Ws, Hs, ranks), rows)


def _fill_layers(Ws: list, Hs: list, ranks: tuple[int, ...]) -> tuple[list, list]:
    """The layers a fit stopped before reaching, as the estimators fill them: random factors
    (seeded: a checkpoint is reproducible) for the rest of the chain."""
    if len(Ws) == len(ranks):
        return Ws, Hs
    from dnmf.models._common import machine_eps
    from dnmf.models.multilayer import initial_factors

    rng = np.random.default_rng(0)
    dtype = Ws[-1].dtype
    while len(Ws) < len(ranks):
        W, H = initial_factors(Ws[-1], ranks[len(Ws)], "random", rng, dtype,
                               machine_eps(dtype))
        Ws, Hs = [*Ws, W], [*Hs, H]
    return Ws, Hs


def _factors_in_fit_loop(n_layers: int, depth: int = 10):
    """The fit loop's current factors (copies), found in the frames that called the callback,
    for a model whose loop does not offer :attr:`dnmf.IterationInfo.snapshot`: its locals
    ``Ws``/``Hs`` (plus ``W``/``H`` of the current layer). In the loop's units; None when no
    complete set of L layers is in reach.
    """
    frame = sys._getframe(2)
    rows = None
    for _ in range(depth):
        if frame is None:
            return None
        loc = frame.f_locals
        if rows is None and isinstance(getattr(loc.get("self"), "rows", None), list):
            rows = list(loc["self"].rows)
        Ws, Hs = loc.get("Ws"), loc.get("Hs")
        if isinstance(Ws, list) and isinstance(Hs, list) and len(Ws) == len(Hs):
            if len(Ws) == n_layers - 1 and isinstance(loc.get("W"), np.ndarray) and \
                    isinstance(loc.get("H"), np.ndarray):
                Ws, Hs = [*Ws, loc["W"]], [*Hs, loc["H"]]
            if len(Ws) == n_layers and all(isinstance(a, np.ndarray) for a in Ws + Hs):
                return [a.copy() for a in Ws], [a.copy() for a in Hs], rows or []
            return None
        frame = frame.f_back
    return None


def _checkpoint_bytes(Ws, Hs, rows, info, config: dict) -> bytes:
    import pandas as pd

    from dnmf.result import FitResult

    res = FitResult(W=Ws, H=Hs, history=pd.DataFrame(rows), config=dict(config),
                    layer_errors=np.asarray(info.layer_errors, dtype=float),
                    n_iter=int(info.iteration), timings={"total": float(info.seconds)},
                    stopped_early=True)
    return res.to_npz_bytes()


def _progress_of(info) -> dict[str, Any]:
    return {
        "iteration": int(info.iteration),
        "total": int(info.total_iterations),
        "phase": str(info.phase),
        "seconds": float(info.seconds),
        "layer_errors": [None if not math.isfinite(e) else float(e) for e in
                         np.asarray(info.layer_errors, dtype=float)],
    }


class _Pacer:
    """A job's messages at their pace: progress every :data:`PROGRESS_PERIOD` seconds (or when
    forced), a look at the stop flag every :data:`STOP_POLL` seconds; once Stop is asked it
    stays asked (``stopped``)."""

    def __init__(self, channel) -> None:
        self.channel = channel
        self.stopped = False
        self.widen_offered = False
        self._progress = self._stop = self._widen = -math.inf

    def progress(self, now: float, message: Callable[[], dict], *, force: bool = False) -> None:
        if force or now - self._progress >= PROGRESS_PERIOD:
            self._progress = now
            self.channel.progress(message())

    def stop_asked(self, now: float) -> bool:
        if not self.stopped and now - self._stop >= STOP_POLL:
            self._stop = now
            self.stopped = bool(self.channel.stop_requested())
        return self.stopped

    def widen_asked(self, now: float) -> bool:
        """Whether the runner has offered the idle cores (looked up every WIDEN_POLL s)."""
        if not self.widen_offered and now - self._widen >= WIDEN_POLL:
            self._widen = now
            self.widen_offered = bool(self.channel.widen_requested())
        return self.widen_offered


def execute(build: Callable[[Callable], Any], X, channel,
            checkpoint_every: float = CHECKPOINT_EVERY,
            config: dict | None = None,
            fit_kwargs: dict | None = None, threads: int = 1,
            widen_to: int = 1) -> tuple[bytes, float, bool]:
    """Run one fit where the executor put it; return ``(result npz bytes, seconds, stopped)``.

    ``channel`` has ``progress(dict)``, ``stop_requested() -> bool``,
    ``widen_requested() -> bool`` and ``checkpoint(bytes)``. dnmf's own threads (row split,
    sparse kernels) number ``threads`` — one unless the job runs alone in its process, see the
    module docstring — and BLAS too for large dense data; on sparse data the kernels take
    ``widen_to`` threads once the runner offers them (the job was left alone).
    """
    import scipy.sparse as sp

    from dnmf import _threads

    ranks: list[tuple[int, ...]] = [()]
    pace = _Pacer(channel)
    last_checkpoint = [time.perf_counter()]
    may_widen = widen_to > threads and sp.issparse(X)
    widened_at: list[int] = []

    def callback(info):
        now = time.perf_counter()
        last = info.iteration >= info.total_iterations
        pace.progress(now, lambda: _progress_of(info), force=last)
        if pace.stop_asked(now):
            return False
        if may_widen and not widened_at and pace.widen_asked(now):
            _threads.widen(widen_to)
            widened_at.append(int(info.iteration))
        if checkpoint_every and now - last_checkpoint[0] >= checkpoint_every and not last:
            last_checkpoint[0] = now
            found = _current_factors(info, ranks[0])
            if found is not None:
                channel.checkpoint(_checkpoint_bytes(*found, info, config or {}))
        return None

    estimator = build(callback)
    ranks[0] = tuple(int(r) for r in (getattr(estimator, "ranks", ()) or ()))
    t0, c0 = time.perf_counter(), time.process_time()
    with _app_threads(threads, X):
        estimator.fit(X, **(fit_kwargs or {}))
    seconds = time.perf_counter() - t0
    result = estimator.result_
    # CPU seconds of the worker process over the fit: against the wall time, it tells a
    # machine whose cores are taken by others from a fit that waits on something else
    result.timings = {**result.timings, "job_cpu": time.process_time() - c0,
                      "job_threads": float(threads)}
    if widened_at:  # the iteration from which the kernels ran on widen_to threads
        result.timings.update(job_threads_end=float(widen_to),
                              job_widened_at_iteration=float(widened_at[0]))
    return result.to_npz_bytes(), seconds, pace.stopped


def execute_task(task: Callable[..., Any], channel) -> tuple[Any, float, bool]:
    """Run a job's ``task`` (see :class:`JobSpec`); return ``(its result, seconds, stopped)``.

    Progress goes out as the fits' does (``phase`` the task's message, ``iteration`` of
    ``total`` in per mille, ``unit`` "‰"), at most every :data:`PROGRESS_PERIOD` seconds."""
    t0 = time.perf_counter()
    pace = _Pacer(channel)

    def report(message: str, fraction: float):
        now = time.perf_counter()
        pace.progress(now, lambda: {
            "phase": str(message), "unit": "‰", "total": 1000, "seconds": now - t0,
            "iteration": int(round(1000 * min(1.0, max(0.0, fraction)))), "layer_errors": []})
        return False if pace.stop_asked(now) else None

    with _app_threads(1, None):
        out = task(progress=report)
    return out, time.perf_counter() - t0, pace.stopped


def _run(spec: JobSpec, channel, threads: int, widen_to: int = 1):
    """The job's fit (:func:`execute`) or its task (:func:`execute_task`)."""
    if spec.task is not None:
        return execute_task(spec.task, channel)
    return execute(spec.build, spec.X, channel, spec.checkpoint_every,
                   spec.meta.get("config") or {}, spec.fit_kwargs, threads, widen_to)


def _app_threads(threads: int, X):
    """dnmf's thread policy for the workbench: one thread per fit unless told more; then BLAS
    gets them too for dense data of at least :data:`BLAS_THREADS_MIN_ENTRIES` entries (its
    products dominate there), and stays on one thread for sparse data, whose compiled kernels
    run on dnmf's own threads, and for small dense data (bench/README.md)."""
    import scipy.sparse as sp

    from dnmf import _threads

    dense_and_large = not sp.issparse(X) and int(getattr(X, "size", 0)) >= BLAS_THREADS_MIN_ENTRIES
    return _threads.for_app(threads, blas=dense_and_large)


def _error_text(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker" or "KilledWorker" in repr(exc):
        return ("The worker process running this fit stopped (it was killed or ran out of "
                "memory). Start the fit again, perhaps with smaller ranks.")
    text = str(exc).strip() or name
    text = text[0].upper() + text[1:]
    text = text if text.endswith((".", "!", "?")) else text + "."
    if isinstance(exc, ValueError):
        return text
    return f"The fit failed ({name}): {text}"


class ThreadExecutor:
    """Jobs in threads of this process (same interface as :class:`DaskExecutor`)."""

    def __init__(self, n_slots: int | None = None) -> None:
        self.n_slots = int(n_slots or os.cpu_count() or 1)
        self._stops: dict[str, threading.Event] = {}
        self.started_at = time.perf_counter()
        self.ready_seconds = 0.0

    def ready(self) -> bool:
        return True

    def slots(self) -> int:
        return self.n_slots

    def lone_threads(self) -> int:
        """One: BLAS's thread count is process-wide, and this process runs the app and every
        job."""
        return 1

    def start(self, job: Job, on_progress, on_checkpoint, on_done) -> None:
        stop = self._stops[job.id] = threading.Event()

        class _Channel:
            progress = staticmethod(lambda msg: on_progress(job.id, msg))
            stop_requested = staticmethod(stop.is_set)
            widen_requested = staticmethod(lambda: False)  # lone_threads() is 1 here
            checkpoint = staticmethod(lambda data: on_checkpoint(job.id, data))

        def work() -> None:
            try:
                out = _run(job.spec, _Channel, job.threads)
            except BaseException as exc:  # reported to the job, never raised in the app
                _LOG.debug("job %s failed", job.id, exc_info=True)
                on_done(job.id, None, exc)
            else:
                on_done(job.id, out, None)
            finally:
                self._stops.pop(job.id, None)

        threading.Thread(target=work, name=f"dnmf-job-{job.id}", daemon=True).start()

    def stop(self, job_id: str) -> None:
        ev = self._stops.get(job_id)
        if ev is not None:
            ev.set()

    def close(self) -> None:
        for ev in list(self._stops.values()):
            ev.set()


# ------------------------------------------------------------------------------- Dask
_TOPIC = "dnmf-progress"


class _DaskChannel:
    """The worker side of a job's messages (see the module docstring)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._stop = None
        self._widen = None
        self._ck = None

    def progress(self, msg: dict) -> None:
        from distributed import get_worker

        get_worker().log_event(_TOPIC, {"job": self.job_id, **msg})

    def stop_requested(self) -> bool:
        from distributed import Event

        if self._stop is None:
            self._stop = Event(f"dnmf-stop-{self.job_id}")
        return bool(self._stop.is_set())

    def widen_requested(self) -> bool:
        from distributed import Event

        if self._widen is None:
            self._widen = Event(f"dnmf-widen-{self.job_id}")
        return bool(self._widen.is_set())

    def checkpoint(self, data: bytes) -> None:
        from distributed import Variable

        if self._ck is None:
            self._ck = Variable(f"dnmf-ck-{self.job_id}")
        self._ck.set(data)
        from distributed import get_worker

        get_worker().log_event(_TOPIC, {"job": self.job_id, "checkpoint": True})


def _warm_worker() -> None:
    import dnmf.estimators  # noqa: F401

    try:
        from dnmf import _kernels

        _kernels.warmup(dtypes=("float64",))
    except (ImportError, AttributeError):
        pass


def _nbytes(X) -> int:
    """Bytes of an array's data (a sparse matrix's three arrays); unknown types count large."""
    if isinstance(X, np.ndarray):
        return int(X.nbytes)
    parts = [getattr(X, name, None) for name in ("data", "indices", "indptr")]
    if all(isinstance(p, np.ndarray) for p in parts):
        return int(sum(p.nbytes for p in parts))
    return SCATTER_BYTES


def _dask_task(job_id: str, spec: JobSpec, threads: int = 1, X: Any = None,
               widen_to: int = 1):
    if X is not None:  # the data, scattered once for the jobs that share it
        spec.X = X
    return _run(spec, _DaskChannel(job_id), threads, widen_to)


def _worker_env() -> dict[str, str]:
    """One BLAS/OpenMP/numba thread per worker, and this dnmf first on the workers' path (a
    checkout run without installing it must not pick another copy)."""
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1",
            "PYTHONPATH": root + (os.pathsep + path if path else "")}


class DaskExecutor:
    """Jobs on a dask.distributed cluster: an embedded LocalCluster unless ``address`` is given.

    The cluster starts in a background thread (:meth:`ready` says when it is up;
    :attr:`ready_seconds` how long it took); jobs submitted before wait in the queue.
    """

    def __init__(self, address: str | None = None, *, n_workers: int | None = None,
                 background: bool = True) -> None:
        self.address = address
        self.n_workers = int(n_workers or os.cpu_count() or 1)
        self.client = None
        self.cluster = None
        self.error: str | None = None
        self.ready_seconds: float | None = None
        self._futures: dict[str, Any] = {}
        #: id(X) → [X, its future on the cluster, jobs using it]: data scattered once
        self._data: dict[int, list] = {}
        self._slots = self.n_workers
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._handle_events, name="dnmf-job-events",
                         daemon=True).start()
        self._up = threading.Event()
        self._on_progress = None
        self._on_checkpoint = None
        self._lock = threading.Lock()
        self._scatter_lock = threading.Lock()
        self.started_at = time.perf_counter()
        if background:
            threading.Thread(target=self._start, name="dnmf-cluster", daemon=True).start()
        else:
            self._start()

    def _start(self) -> None:
        try:
            from distributed import Client

            if self.address:
                self.client = Client(self.address, timeout=30)
            else:
                self.client = Client(self._start_cluster_process(), timeout=30)
            self.client.subscribe_topic(_TOPIC, self._event)
            threading.Thread(target=self._count_slots, name="dnmf-slots", daemon=True).start()
            try:  # each worker imports dnmf and loads its compiled kernels before the first job
                self.client.run(_warm_worker)
            except Exception:
                _LOG.warning("warming the workers failed", exc_info=True)
        except Exception as exc:  # the app shows it; fits cannot run until it is fixed
            _LOG.exception("could not start the job cluster")
            self.error = (f"the job cluster could not start ({type(exc).__name__}: {exc}); "
                          "check DNMF_SCHEDULER or restart the app")
        else:
            self.ready_seconds = time.perf_counter() - self.started_at
        finally:
            self._up.set()

    def _start_cluster_process(self) -> str:
        """Start :mod:`dnmf.service.cluster` (a LocalCluster in a child process; see there why)
        and return its scheduler's address."""
        import json
        import subprocess

        env = {**os.environ, **_worker_env()}
        self.cluster = subprocess.Popen(
            [sys.executable, "-m", "dnmf.service.cluster", "--n-workers", str(self.n_workers),
             "--parent", str(os.getpid())],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
            start_new_session=True)  # its own process group: see dnmf.service.cluster
        line = self.cluster.stdout.readline()
        if not line:
            raise RuntimeError(f"the cluster process ended (exit code {self.cluster.wait()})")
        return json.loads(line)["address"]

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._up.wait(timeout) and self.client is not None

    def ready(self) -> bool:
        return self._up.is_set() and self.client is not None

    def slots(self) -> int:
        """Worker threads of the cluster, as last counted (never a call to the scheduler: the
        runner asks while holding its lock)."""
        return self._slots if self.ready() else 0

    def lone_threads(self) -> int:
        """Threads for a job that starts alone: every core of this machine for the embedded
        cluster (its workers are this machine's cores, and the others are idle then); one on a
        cluster given by ``DNMF_SCHEDULER`` (its workers' cores are not known here)."""
        return 1 if self.address else max(1, min(self.n_workers, os.cpu_count() or 1))

    def _count_slots(self) -> None:
        """Count the workers' threads every 2 s (workers come and go)."""
        while self.client is not None and self.client.status not in ("closing", "closed"):
            try:
                info = self.client.scheduler_info(n_workers=-1)
                self._slots = max(1, sum(int(w.get("nthreads", 1))
                                         for w in info["workers"].values()))
            except Exception:
                pass
            time.sleep(2.0)

    def _event(self, event) -> None:
        # In the client's event loop: never wait here (the runner's lock may be held by a
        # thread that waits on this loop). The messages are handled by _handle_events.
        self._inbox.put(event[1])

    def _handle_events(self) -> None:
        while True:
            msg = self._inbox.get()
            if msg is None:
                return
            job_id = msg.get("job")
            try:
                if msg.get("checkpoint"):
                    if self._on_checkpoint is not None:
                        self._fetch_checkpoint(job_id)
                elif self._on_progress is not None:
                    self._on_progress(job_id, {k: v for k, v in msg.items() if k != "job"})
            except Exception:
                _LOG.exception("job message not handled")

    def _fetch_checkpoint(self, job_id: str) -> None:
        from distributed import Variable

        try:
            data = Variable(f"dnmf-ck-{job_id}", client=self.client).get(timeout=5)
        except Exception:
            return
        if isinstance(data, bytes | bytearray) and self._on_checkpoint is not None:
            self._on_checkpoint(job_id, bytes(data))

    def _scatter(self, X):
        """X's future on the cluster, scattered on first use and shared by the jobs given the
        same array (a model and its baseline): the data travels once, not in every job's
        task, and stays while a job uses it."""
        if X is None or _nbytes(X) < SCATTER_BYTES:
            return None
        with self._scatter_lock:  # one scatter per array, even from two threads
            with self._lock:
                entry = self._data.get(id(X))
                if entry is None:
                    entry = self._data[id(X)] = [X, None, 0]
                entry[2] += 1
            if entry[1] is None:
                try:  # to every worker: held by one, it would draw both jobs of a pair
                    # there (Dask places a task beside its data), one after the other
                    entry[1] = self.client.scatter(X, hash=False, broadcast=True)
                except BaseException:
                    self._release(X)
                    raise
            return entry[1]

    def _release(self, X) -> None:
        with self._lock:
            entry = self._data.get(id(X))
            if entry is not None:
                entry[2] -= 1
                if entry[2] <= 0:
                    del self._data[id(X)]

    def start(self, job: Job, on_progress, on_checkpoint, on_done) -> None:
        self._on_progress, self._on_checkpoint = on_progress, on_checkpoint
        spec = job.spec
        data = self._scatter(spec.X)
        work = JobSpec(workspace=spec.workspace, build=spec.build,
                       X=spec.X if data is None else None, name=spec.name,
                       fit_kwargs=spec.fit_kwargs, meta={"config": spec.meta.get("config")},
                       checkpoint_every=spec.checkpoint_every, task=spec.task)
        future = self.client.submit(_dask_task, job.id, work, job.threads, data,
                                    self.lone_threads(), key=f"dnmf-fit-{job.id}",
                                    pure=False, retries=0)
        with self._lock:
            self._futures[job.id] = future

        def finish(fut) -> None:
            with self._lock:
                self._futures.pop(job.id, None)
            if data is not None:
                self._release(spec.X)
            try:
                out = fut.result()
            except BaseException as exc:
                on_done(job.id, None, exc)
            else:
                on_done(job.id, out, None)
            self._cleanup(job.id)

        # The callback runs in the client's event loop: the runner's dispatch makes blocking
        # client calls (which would wait on that very loop), so it goes to a thread.
        future.add_done_callback(
            lambda fut: threading.Thread(target=finish, args=(fut,), daemon=True).start())

    def _cleanup(self, job_id: str) -> None:
        from distributed import Event, Variable

        try:
            Variable(f"dnmf-ck-{job_id}", client=self.client).delete()
            Event(f"dnmf-stop-{job_id}", client=self.client).clear()
            Event(f"dnmf-widen-{job_id}", client=self.client).clear()
        except Exception:
            pass

    def stop(self, job_id: str) -> None:
        from distributed import Event

        if self.client is not None:
            Event(f"dnmf-stop-{job_id}", client=self.client).set()

    def widen(self, job_id: str, threads: int) -> None:
        """Offer a running job the idle cores (it was started with ``lone_threads()`` as its
        ``widen_to``, which ``threads`` is)."""
        from distributed import Event

        if self.client is not None:
            Event(f"dnmf-widen-{job_id}", client=self.client).set()

    def worker_pids(self) -> list[int]:
        """The process ids of the workers (tests kill one)."""
        return [int(p) for p in self.client.run(os.getpid).values()]

    def close(self) -> None:
        self._up.wait(60)
        self._inbox.put(None)
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
        if self.cluster is not None:  # our cluster process: it closes its workers on SIGTERM
            self.cluster.terminate()
            try:
                self.cluster.wait(20)
            except Exception:
                import signal

                try:
                    os.killpg(self.cluster.pid, signal.SIGKILL)
                except OSError:
                    pass


# ------------------------------------------------------------------------------ the runner
class JobRunner:
    """The fair queue in front of an executor (see the module docstring).

    ``on_checkpoint(job, bytes)`` and ``on_finish(job)`` are called from the runner's threads
    (the app stores checkpoints and finished runs there, so a run is kept even when no page is
    open to collect it).
    """

    def __init__(self, executor, *, per_workspace: int = PER_WORKSPACE,
                 on_checkpoint: Callable[[Job, bytes], None] | None = None,
                 on_finish: Callable[[Job], None] | None = None,
                 share_idle_cores: bool = True) -> None:
        self.executor = executor
        self.per_workspace = int(per_workspace)
        #: a job that starts alone gets the executor's ``lone_threads()`` (False: always one)
        self.share_idle_cores = bool(share_idle_cores)
        self.on_checkpoint = on_checkpoint
        self.on_finish = on_finish
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._prefix = os.urandom(4).hex()
        self._closed = False
        self._poller = threading.Thread(target=self._poll_ready, name="dnmf-dispatch",
                                        daemon=True)
        self._poller.start()

    # ----------------------------------------------------------------------- public
    def submit(self, spec: JobSpec) -> str:
        """Queue ``spec``; return the job's id."""
        return self.submit_all([spec])[0]

    def submit_all(self, specs: list[JobSpec]) -> list[str]:
        """Queue ``specs`` together (before any of them is dispatched, so none counts as
        alone: they share the cores); return their ids."""
        with self._lock:
            ids = []
            for spec in specs:
                job = Job(id=f"{self._prefix}-{next(self._ids)}", spec=spec)
                self._jobs[job.id] = job
                self._queue.append(job.id)
                ids.append(job.id)
            self._dispatch()
            return ids

    def stop(self, job_id: str) -> None:
        """Ask the job to stop: a queued job is dropped, a running one stops and keeps its
        partial result."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.finished_state:
                return
            job.stop_requested = time.perf_counter()
            if job.state == QUEUED:
                self._queue.remove(job_id)
                self._finish(job, STOPPED)
                return
        self.executor.stop(job_id)

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else _copy(job)

    def jobs(self, workspace: str | None = None, session: str | None = None) -> list[Job]:
        """Snapshots of the jobs (of a workspace / session), in submission order."""
        with self._lock:
            return [_copy(j) for j in self._jobs.values()
                    if (workspace is None or j.spec.workspace == workspace)
                    and (session is None or j.spec.session == session)]

    def place(self, job_id: str) -> int | None:
        """1-based place of a queued job among all queued jobs; None if it is not queued."""
        with self._lock:
            try:
                return self._queue.index(job_id) + 1
            except ValueError:
                return None

    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def running(self) -> int:
        with self._lock:
            return sum(j.state == RUNNING for j in self._jobs.values())

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        """Block until the job finished (or ``timeout``); return its snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                job = self._jobs.get(job_id)
                if job is None or job.finished_state:
                    return None if job is None else _copy(job)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return _copy(job)
                self._changed.wait(left if left is not None else 1.0)

    def mark_collected(self, job_id: str) -> None:
        """The app took the job's run; it may forget the job (its bytes are released)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.finished_state:
                job.collected = True
                job.result = None
                job.spec.X = None
                self._jobs.pop(job_id, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._changed.notify_all()
        self.executor.close()

    # ---------------------------------------------------------------------- internals
    def _poll_ready(self) -> None:
        """Dispatch once the executor is up (a cluster starts in the background), then
        whenever workers come or go."""
        while True:
            with self._changed:
                if self._closed:
                    return
                self._dispatch()
                self._changed.wait(0.5)

    def _dispatch(self) -> None:
        if not self.executor.ready() or not self._queue:
            return
        free = self.executor.slots() - sum(j.state == RUNNING for j in self._jobs.values())
        per_ws: dict[str, int] = {}
        for j in self._jobs.values():
            if j.state == RUNNING:
                per_ws[j.spec.workspace] = per_ws.get(j.spec.workspace, 0) + 1
        running = sum(j.state == RUNNING for j in self._jobs.values())
        picked = []
        for job_id in list(self._queue):
            if free <= 0:
                break
            job = self._jobs[job_id]
            ws = job.spec.workspace
            if per_ws.get(ws, 0) >= self.per_workspace:
                continue  # this workspace is at its limit: later jobs of others go first
            self._queue.remove(job_id)
            per_ws[ws] = per_ws.get(ws, 0) + 1
            free -= 1
            picked.append(job)
        alone = (self.share_idle_cores and len(picked) == 1 and running == 0
                 and not self._queue)
        for job in picked:
            job.state, job.started = RUNNING, time.time()
            job.threads = (self.executor.lone_threads()
                           if alone and job.spec.task is None else 1)  # tasks: one thread
            try:
                self.executor.start(job, self._progress, self._checkpoint, self._done)
            except Exception as exc:
                self._done(job.id, None, exc)

    def _progress(self, job_id: str, msg: dict) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.state == RUNNING:
                job.progress = msg

    def _checkpoint(self, job_id: str, data: bytes) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state != RUNNING:
                return
        if self.on_checkpoint is not None:
            try:
                self.on_checkpoint(_copy(job), data)
            except Exception:
                _LOG.exception("checkpoint of job %s not stored", job_id)

    def _done(self, job_id: str, out, exc: BaseException | None) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if exc is not None:
                job.error = _error_text(exc)
                self._finish(job, FAILED)
            else:
                job.result, job.seconds, stopped = out
                if job.stop_requested is not None:
                    job.stop_latency = time.perf_counter() - job.stop_requested
                self._finish(job, STOPPED if stopped else DONE)
            self._dispatch()
            self._widen_lone_job()

    def _widen_lone_job(self) -> None:
        """A fit left running alone, nothing queued, started on fewer threads than a lone job
        gets: offer it the idle cores (the worker takes them only where that changes no bit
        of the result; see the module docstring)."""
        widen = getattr(self.executor, "widen", None)
        if widen is None or not self.share_idle_cores or self._queue:
            return
        running = [j for j in self._jobs.values() if j.state == RUNNING]
        if len(running) != 1:
            return
        job = running[0]
        n = self.executor.lone_threads()
        if job.spec.task is not None or job.threads >= n or job.widened:
            return
        job.widened = n
        try:
            widen(job.id, n)
        except Exception:
            _LOG.warning("offering job %s the idle cores failed", job.id, exc_info=True)

    def _finish(self, job: Job, state: str) -> None:
        job.state, job.finished = state, time.time()
        self._changed.notify_all()
        if self.on_finish is not None:
            try:
                self.on_finish(_copy(job))
            except Exception:
                _LOG.exception("finished job %s not stored", job.id)


def _copy(job: Job) -> Job:
    import copy

    out = copy.copy(job)
    out.progress = dict(job.progress) if job.progress else None
    return out


def runner_from_env(**kwargs) -> JobRunner:
    """``DNMF_JOBS=threads`` → threads; ``DNMF_SCHEDULER=tcp://…`` → that cluster; else an
    embedded LocalCluster started in the background."""
    mode = os.environ.get("DNMF_JOBS", "").strip().lower()
    if mode == "threads":
        return JobRunner(ThreadExecutor(), **kwargs)
    address = os.environ.get("DNMF_SCHEDULER", "").strip() or None
    return JobRunner(DaskExecutor(address), **kwargs)
