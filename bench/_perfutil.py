"""Shared helpers of the bench/perf_*.py scripts: timing on a noisy machine, tables, BLAS info.

These machines are shared and noisy: every comparison is measured in the same run, the two
sides interleaved round by round, and reported as the median over rounds of the per-round
ratio (never a lone absolute time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def blas_summary() -> str:
    """'openblas 0.3.x SkylakeX, 2 threads' from threadpoolctl (what numpy's BLAS runs)."""
    from threadpoolctl import threadpool_info

    parts = []
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        parts.append(f"{info.get('internal_api')} {info.get('version')} "
                     f"{info.get('architecture')}, {info.get('num_threads')} threads")
    return "; ".join(parts) or "no BLAS found"


def environment_lines() -> list[str]:
    """Lines describing the run: BLAS kernel, threads, OPENBLAS_* variables, numba backend."""
    from dnmf import _kernels

    lines = [f"BLAS (threadpoolctl): {blas_summary()}"]
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
                 "OPENBLAS_NUM_THREADS", "DNMF_NUMBA"):
        if name in os.environ:
            lines.append(f"{name}={os.environ[name]}")
    backend = _kernels.kernels_backend()
    if backend == "numba":
        import numba

        threads = getattr(_kernels, "kernel_threads", lambda: 1)()
        lines.append(f"dnmf sparse kernels: numba {numba.__version__} ({threads} thread(s) "
                     "by default)")
    else:
        lines.append("dnmf sparse kernels: numpy")
    lines.append(f"cores: {os.cpu_count()}, load average: "
                 + " ".join(f"{x:.1f}" for x in os.getloadavg())
                 + f"; clock: {CLOCK['name']} time")
    return lines


@contextmanager
def limited_threads(n: int | None):
    """BLAS limited to ``n`` threads with threadpoolctl (None: no limit); dnmf's compiled
    kernels follow BLAS's thread count (:func:`dnmf._kernels.kernel_threads`)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


#: The clock of :func:`timed`: wall time by default; ``time.process_time`` (CPU seconds of all
#: threads) with ``--cpu-time``, which a loaded machine distorts much less when one thread
#: runs (with several, the time BLAS threads spend spinning for each other counts too).
CLOCK = {"fn": time.perf_counter, "name": "wall"}


def add_machine_args(parser) -> None:
    """The --threads and --cpu-time options every performance script shares."""
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS (and the compiled kernels) to this many threads")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with CPU seconds (robust on a loaded machine with --threads 1)")


def run_on_machine(args, run: Callable[[object], int]) -> int:
    """Apply --cpu-time and --threads, then call ``run(args)``."""
    use_cpu_time(args.cpu_time)
    with limited_threads(args.threads):
        return run(args)


def use_cpu_time(flag: bool) -> None:
    CLOCK.update(fn=time.process_time if flag else time.perf_counter,
                 name="cpu" if flag else "wall")


def timed(fn: Callable[[], object]) -> float:
    clock = CLOCK["fn"]
    t0 = clock()
    fn()
    return clock() - t0


def interleaved(fns: dict[str, Callable[[], object]], rounds: int,
                settle: float = 0.0) -> dict[str, list[float]]:
    """Seconds of every function in every round, the functions taking turns within a round.

    ``settle`` seconds of sleep (not timed) precede every call, so that each starts from an
    idle machine: a multi-threaded BLAS keeps its threads spinning for about 0.1 s after
    its last call, which would otherwise slow down whatever runs next on the other core.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            if settle:
                time.sleep(settle)
            times[name].append(timed(fn))
    return times


def median(values) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def median_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of num[i] / den[i] (both measured in the same round)."""
    return median(np.asarray(num) / np.asarray(den))


def table(headers: list[str], rows: list[list]) -> str:
    """A GitHub-flavoured markdown table."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join(out)


def run_json(code: str, env: dict | None = None, timeout: float = 1800) -> dict:
    """Run ``code`` in a fresh Python process; it prints one JSON object on its last line."""
    full_env = {**os.environ, **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, cwd=ROOT, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@contextmanager
def baseline_tree(ref: str):
    """A temporary folder holding the ``dnmf`` package as of git revision ``ref`` (for a
    same-run comparison with older code: put the folder first on PYTHONPATH)."""
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dnmf-baseline-") as folder:
        archive = subprocess.run(["git", "archive", ref, "dnmf"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield folder


def load_cbcl() -> np.ndarray | None:
    """CBCL faces as images × pixels (2429 × 361), or None when the file is absent."""
    path = DATA / "CBCL.mat"
    if not path.exists():
        return None
    from scipy.io import loadmat

    return np.ascontiguousarray(loadmat(path)["X"].T, dtype=np.float64)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"
