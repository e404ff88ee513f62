"""The embedded job cluster as its own process: ``python -m dnmf.service.cluster``.

The app starts this module in a child process instead of creating the ``LocalCluster`` in its
own: inside Streamlit, the module ``__main__`` is the script being run, and every worker process
that multiprocessing starts (spawn or fork server) would run the app's script again on its way
up. Here ``__main__`` is this module, whose work is behind the ``__name__`` guard.

It prints one JSON line ``{"address": "tcp://127.0.0.1:…"}`` once the cluster is up, then
keeps it until its parent process is gone (checked every second) or it receives SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--parent", type=int, default=os.getppid(),
                        help="exit when this process is gone")
    args = parser.parse_args(argv)

    import dask
    from distributed import LocalCluster

    # A job whose worker dies fails at once with a message (not retried on the next worker,
    # which it might kill too).
    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers; setting it switches off glibc's dynamic
    # mmap threshold, so every large temporary of a fit is a fresh mmap with its page faults
    # (the TDT2 deep fit ran 1.2-1.25x slower in a worker than in a plain process). None
    # leaves glibc's default (bench/README.md, "A user alone on the server").
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    cluster = LocalCluster(n_workers=args.n_workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None,
                           silence_logs=logging.ERROR)
    print(json.dumps({"address": cluster.scheduler_address}), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop and _alive(args.parent):
            time.sleep(1.0)
    finally:
        # Close politely, but never outlive the app: a worker busy in a fit may not answer,
        # so the whole process group (this process, its nannies and workers; the app starts
        # us in a session of our own) is killed after a grace period.
        killer = threading.Timer(10.0, os.killpg, (os.getpgrp(), signal.SIGKILL))
        killer.daemon = True
        killer.start()
        cluster.close(timeout=8)
    return 0


def _alive(parent: int) -> bool:
    """True while the process that started us runs (an orphan is re-parented)."""
    return os.getppid() == parent


if __name__ == "__main__":
    sys.exit(main())
