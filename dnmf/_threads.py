"""The BLAS thread policy of dnmf, in one place (library and app both go through it).

* A fit uses the BLAS threads numpy has (``blas_threads``), except where one thread is faster:
  the row split of dense KL layers runs one BLAS thread per chunk (:mod:`dnmf._rowsplit`),
  the small block problems of the Frobenius models run on one thread
  (:func:`for_small_blocks`), and the workbench runs a fit on one thread (:func:`for_app`):
  a server runs a fit per session, and several multi-threaded BLAS pools on few cores spin
  against each other — except a fit that its job runner starts alone, which gets the cores.
* Limits are process-wide, as BLAS's own setting, and counted: overlapping users (fits in
  several threads) share them; the first to enter saves the thread counts, the last to leave
  restores them. The measurements behind these choices are in ``bench/README.md``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SMALL_BLOCKS", "blas_limit", "blas_threads", "for_app", "for_small_blocks",
           "one_blas_thread", "split_threads", "widen", "work_threads"]

#: m·n·r_1 below which the Frobenius models' block problems run on one BLAS thread.
SMALL_BLOCKS = 5e7

_BLAS: list = []  # threadpoolctl's controllers of the loaded BLAS libraries, looked up once


def _controllers() -> list:
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append([c for c in ThreadpoolController().lib_controllers
                          if c.user_api == "blas"])
        except Exception:  # threadpoolctl missing or failing: behave as a one-thread BLAS
            _BLAS.append([])
    return _BLAS[0]


def blas_threads() -> int:
    """Threads numpy's BLAS would use now (threadpoolctl), at most ``os.cpu_count()``."""
    counts = []
    for controller in _controllers():
        try:
            counts.append(int(controller.num_threads))
        except Exception:
            pass
    return max(1, min(max(counts, default=1), os.cpu_count() or 1))


_LIMIT_LOCK = threading.Lock()
_LIMIT_USERS = 0
_LIMIT_SAVED: list = []  # (controller, threads it had) from the first of the current users


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread inside the block (restored after).

    The setting is process-wide, as BLAS's: fits run at once in several threads of one process
    share it; the first to enter saves the thread counts and the last to leave restores them.
    A fit's callback runs inside it (with one BLAS thread). Interleaving it in other threads
    with ``threadpoolctl.threadpool_limits`` blocks, which keep no such count, can leave
    BLAS limited: limit a whole program to one thread rather than parts of it concurrently.
    """
    global _LIMIT_USERS
    with _LIMIT_LOCK:
        if _LIMIT_USERS == 0:
            _LIMIT_SAVED.clear()
            for controller in _controllers():
                try:
                    _LIMIT_SAVED.append((controller, controller.num_threads))
                    controller.set_num_threads(1)
                except Exception:
                    pass
        _LIMIT_USERS += 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT_USERS -= 1
            if _LIMIT_USERS == 0:
                for controller, n in _LIMIT_SAVED:
                    try:
                        controller.set_num_threads(n)
                    except Exception:
                        pass


def for_small_blocks(m: int, n: int, r1: int):
    """:func:`one_blas_thread` for a Frobenius fit whose m·n·r_1 is below
    :data:`SMALL_BLOCKS` (its blocks are small products called thousands of times: BLAS's
    synchronisation costs more than its threads gain there); else no limit."""
    return one_blas_thread() if m * n * r1 < SMALL_BLOCKS else contextlib.nullcontext()


def for_app(threads: int = 1, *, blas: bool = False):
    """The workbench's policy: a fit on one BLAS thread. ``threads > 1`` is for a fit that its
    job runner started alone in its process (a Dask worker): dnmf's own parallel code — the
    row split of dense KL layers and the sparse kernels — runs on ``threads`` threads
    (:func:`work_threads`), and BLAS on one (``blas=True``: on ``threads`` too). One BLAS
    thread is the default because OpenBLAS's idle threads spin on the other core while dnmf's
    threads run, which made a sparse deep phase 1.15x slower (bench/README.md).

    Inside the block :func:`widen` may raise the sparse kernels' threads later (a job whose
    neighbour ended); the row splits keep the count the fit started with."""
    threads = max(1, int(threads))
    return _app_fit(threads, blas and threads > 1)


class _AppFits(threading.local):
    """Per thread (a fit runs in one; several may run at once in the app's process): the
    thread counts :func:`for_app` gave its fit, [at its start, now], innermost last."""

    def __init__(self) -> None:
        self.stack: list[list[int]] = []


_APP_FITS = _AppFits()


def work_threads() -> int:
    """Threads dnmf's sparse kernels may use now: the count :func:`for_app` gave the fit (or
    :func:`widen` later), else BLAS's (:func:`blas_threads`); at most ``os.cpu_count()``."""
    if _APP_FITS.stack:
        return max(1, min(_APP_FITS.stack[-1][1], os.cpu_count() or 1))
    return blas_threads()


def split_threads() -> int:
    """Threads a fit splits its rows between (:mod:`dnmf._rowsplit`): the count
    :func:`for_app` gave the fit when it started — never a later :func:`widen`, so that a
    fit's arithmetic, hence its bits, does not depend on when its neighbour ended — else
    BLAS's; at most ``os.cpu_count()``."""
    if _APP_FITS.stack:
        return max(1, min(_APP_FITS.stack[-1][0], os.cpu_count() or 1))
    return blas_threads()


def widen(threads: int) -> bool:
    """Let the sparse kernels of the fit running under :func:`for_app` use ``threads``
    threads from now on (they give the same bits on any count, :mod:`dnmf._kernels`); BLAS
    and the row splits keep their counts. False when no such fit runs."""
    if not _APP_FITS.stack:
        return False
    _APP_FITS.stack[-1][1] = max(1, int(threads))
    return True


@contextmanager
def _app_fit(threads: int, blas: bool) -> Iterator[None]:
    _APP_FITS.stack.append([threads, threads])
    try:
        with blas_limit(threads) if blas else one_blas_thread():
            yield
    finally:
        _APP_FITS.stack.pop()


@contextmanager
def blas_limit(threads: int) -> Iterator[None]:
    """BLAS set to ``threads`` threads inside the block (restored after), which may be more
    than it had (a Dask worker starts with one). For a process that runs one fit at a time
    (a job's worker): the setting is process-wide and, unlike :func:`one_blas_thread`'s, not
    counted."""
    saved = []
    for controller in _controllers():
        try:
            saved.append((controller, controller.num_threads))
            controller.set_num_threads(int(threads))
        except Exception:
            pass
    try:
        yield
    finally:
        for controller, n in saved:
            try:
                controller.set_num_threads(n)
            except Exception:
                pass
