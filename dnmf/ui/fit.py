"""Running a fit in the script thread with a live progress bar and a Stop button.

How stopping works (checked against the Streamlit 1.67 source, with AppTest and in a browser).
A click on Stop — or on any other widget, a page switch, or the toolbar's stop — asks Streamlit
to rerun or stop the script. Streamlit raises its control exception at the script's next
``st.*`` call; during a fit the only ``st.*`` calls are the progress updates that the solver
callback makes every :data:`PERIOD` seconds. The callback catches that exception, remembers it
and returns False, so the estimator stops cleanly and keeps what it computed
(``stopped_early_``).

The partial run cannot be written to ``st.session_state`` from the interrupted thread: with
``runner.fastReruns`` (Streamlit's default) the interrupted run is *stopped*, every session
state access in it raises again, and the rerun already runs in a new thread. So the partial
run is put in a small process-wide mailbox keyed by the session id, the remembered exception is
raised again (Streamlit carries on with what the user asked for), and the session's next script
run — normally the rerun itself — collects it first thing (:func:`collect_interrupted`, called
by ``app.py`` before the page runs; it waits, at most a few seconds, for a fit of the same
session that is still winding down) and shows a notice naming the partial run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import streamlit as st

from dnmf import _threads
from dnmf.labels import semi_supervised_fit_args
from dnmf.ui import config as cfgmod
from dnmf.ui import runs as runstore
from dnmf.ui.errors import message_of

_LOG = logging.getLogger(__name__)

#: Seconds between two progress updates (and so the longest wait after Stop).
PERIOD = 0.25

_LOCK = threading.Lock()
_WARMUP: list[threading.Thread] = []


def warm_up_kernels() -> None:
    """Compile (or load from numba's disk cache) dnmf's compiled kernels for float64 in a
    background thread, once per process, so the first fit a user starts does not wait for
    the compiler (about 20 s cold, see bench/README.md)."""
    with _LOCK:
        if _WARMUP:
            return

        def work() -> None:
            try:
                from dnmf import _kernels

                _kernels.warmup(dtypes=("float64",))
            except Exception:  # a failed warm-up only costs the first fit its compile time
                pass

        thread = threading.Thread(target=work, name="dnmf-warmup", daemon=True)
        _WARMUP.append(thread)
        thread.start()


#: session id → [(run, dataset, notice)] of interrupted fits, waiting to be stored
_MAILBOX: dict[str, list[tuple[Any, Any, str]]] = {}
#: session id → number of fits running in that session's script threads
_IN_FLIGHT: dict[str, int] = {}


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def collect_interrupted(wait: float = 10.0) -> int:
    """Store the partial runs of this session's interrupted fits (with a notice each).

    Waits up to ``wait`` seconds for a fit that is still winding down in a stopped thread of the
    same session (it stops within one progress period). Returns how many runs were stored.
    """
    sid = _session_id()
    deadline = time.perf_counter() + wait
    collected = 0
    while True:
        with _LOCK:
            items = _MAILBOX.pop(sid, [])
            running = _IN_FLIGHT.get(sid, 0)
        for run, dataset, notice in items:
            runstore.add_run(run, dataset)
            runstore.notify(notice.replace("{name}", run.name), "warning")
            collected += 1
        if not running or time.perf_counter() > deadline:
            return collected
        time.sleep(0.02)


def _fmt_errors(errors) -> str:
    parts = []
    for i, e in enumerate(errors, start=1):
        parts.append(f"layer {i}: " + ("–" if e is None or not math.isfinite(e) else f"{e:.4g}"))
    return " · ".join(parts)


class _Interrupt:
    exc: BaseException | None = None
    last: Any = None


def fit_run(
    cfg: dict[str, Any],
    dataset,
    run_name: str,
    *,
    source: dict | None = None,
    label: str | None = None,
    stop_key: str = "stop_fit",
):
    """Fit ``cfg`` on ``dataset`` with live progress; store and return the :class:`Run`.

    Returns None (after drawing an ``st.error``) when dnmf rejects the configuration. When the
    user interrupts the fit, the partial run is handed to :func:`collect_interrupted` and
    Streamlit's rerun/stop goes on (this function does not return).
    """
    label = label or cfgmod.label(cfg)
    box = st.container(border=True)
    with box:
        head, stop_col = st.columns([5, 1], vertical_alignment="center")
        head.markdown(f"**{label}** on *{dataset.name}* → run **{run_name}**")
        stop_slot = stop_col.empty()
        stop_slot.button("Stop", key=stop_key, icon=":material/stop_circle:",
                         help="Stop the fit and keep what it computed so far",
                         width="stretch")
        bar = st.progress(0.0, text="starting…")
        line = st.empty()
    state = _Interrupt()
    last_draw = [-math.inf]

    def callback(info):
        state.last = info
        if state.exc is not None:
            return False
        now = time.perf_counter()
        if now - last_draw[0] < PERIOD and info.iteration < info.total_iterations:
            return None
        last_draw[0] = now
        try:
            bar.progress(
                info.fraction,
                text=f"{info.phase} · iteration {info.iteration} of {info.total_iterations} · "
                f"{info.seconds:.1f} s",
            )
            line.caption(r"Errors $D_\beta(W_{\ell-1}, W_\ell H_\ell)$: "
                         + _fmt_errors(info.layer_errors))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # Streamlit's rerun/stop request arrives here
            state.exc = exc
            return False
        return None

    sid = _session_id()
    with _LOCK:
        _IN_FLIGHT[sid] = _IN_FLIGHT.get(sid, 0) + 1
    try:
        try:
            estimator = cfgmod.make_estimator(cfg, callback=callback)
            spec = cfgmod.spec_of(cfg)
            fit_args = (semi_supervised_fit_args(dataset, float(cfg.get("known_labels", 0)))
                        if spec is not None and spec.capabilities.labels else {})
            t0 = time.perf_counter()
            with _threads.for_app():
                estimator.fit(dataset.X, **fit_args)
            seconds = time.perf_counter() - t0
        except ValueError as exc:
            if state.exc is not None:
                raise state.exc from None
            bar.empty()
            box.error(message_of(exc), icon=":material/error:")
            return None
        except Exception as exc:  # a solver failure must not take the page down
            if state.exc is not None:
                raise state.exc from None
            _LOG.exception("fit failed")
            bar.empty()
            box.error(f"The fit failed ({type(exc).__name__}): {message_of(exc)}",
                      icon=":material/error:")
            return None
        run_cfg = dict(cfg)
        if source:
            run_cfg["app"] = {"sample": source}
        run = runstore.Run(
            name=run_name,
            result=estimator.result_,
            config=run_cfg,
            dataset=dataset.name,
            kind=dataset.kind,
            seconds=seconds,
        )
        if state.exc is not None:
            it = getattr(state.last, "iteration", None)
            total = getattr(state.last, "total_iterations", None)
            notice = (f"Fit stopped at iteration {it} of {total}; the partial run '{{name}}' "
                      f"is kept ({seconds:.1f} s).")
            with _LOCK:  # no session state access here: see the module docstring
                _MAILBOX.setdefault(sid, []).append((run, dataset, notice))
            raise state.exc
    finally:
        with _LOCK:
            _IN_FLIGHT[sid] = _IN_FLIGHT.get(sid, 1) - 1
            if _IN_FLIGHT[sid] <= 0:
                _IN_FLIGHT.pop(sid, None)
    try:
        runstore.add_run(run, dataset)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # stopped right after the fit: let the next run store it
        with _LOCK:
            _MAILBOX.setdefault(sid, []).append(
                (run, dataset, "The fit finished as it was interrupted; run '{name}' is kept."))
        raise
    res = estimator.result_
    bar.progress(1.0, text=f"done · {res.n_iter} iterations · {seconds:.2f} s")
    line.caption("Final errors: " + _fmt_errors(res.layer_errors))
    stop_slot.empty()
    return run


def fit_pair(cfg: dict[str, Any], dataset, base_name: str, *, source: dict | None = None):
    """The model of ``cfg`` and its baseline with the same settings (for deep models the
    multilayer baseline gets the deep run's total iteration budget per layer, the paper's
    protocol). Returns the two runs (None if one was rejected)."""
    twin = cfgmod.baseline_config(cfg)
    if twin is None:
        raise ValueError(f"{cfgmod.label(cfg)} has no baseline to fit beside it")
    first = fit_run(cfg, dataset, runstore.unique_name(f"{base_name} {cfgmod.spec_of(cfg).name}"),
                    source=source, stop_key="stop_fit_model")
    if first is None:
        return None, None
    second = fit_run(twin, dataset,
                     runstore.unique_name(f"{base_name} {cfgmod.spec_of(twin).name}"),
                     source=source, stop_key="stop_fit_baseline")
    return first, second
