"""Running a fit in the script thread with a live progress bar and a Stop button.

How stopping works (checked against the Streamlit source and in a browser): a click on Stop —
or on any other widget, or a page switch, or the toolbar's stop — asks Streamlit to rerun (or
stop) the script; Streamlit raises its control exception at the script's next ``st.*`` call.
The only ``st.*`` calls during a fit are the progress updates in the solver callback, every
:data:`PERIOD` seconds. The callback catches that exception, remembers it and returns False:
the estimator then stops cleanly and keeps what it computed (``stopped_early_``). The partial
run is stored in session state (no ``st.*`` call in between), and the remembered exception is
raised again so Streamlit carries on with the rerun the user asked for; the rerun shows a
notice naming the partial run.
"""

from __future__ import annotations

import math
import time
from typing import Any

import streamlit as st

from dnmf.ui import config as cfgmod
from dnmf.ui import runs as runstore
from dnmf.ui.errors import message_of

#: Seconds between two progress updates (and so the longest wait after Stop).
PERIOD = 0.25


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
    user interrupts the fit, the partial run is stored and Streamlit's rerun/stop continues
    (this function does not return).
    """
    label = label or cfgmod.MODEL_LABELS.get(cfg.get("model", "deep"), cfg.get("model"))
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
            line.caption("Errors D_β(W_{ℓ-1}, W_ℓ H_ℓ): " + _fmt_errors(info.layer_errors))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # Streamlit's rerun/stop request arrives here
            state.exc = exc
            return False
        return None

    try:
        estimator = cfgmod.make_estimator(cfg, callback=callback)
        t0 = time.perf_counter()
        estimator.fit(dataset.X)
        seconds = time.perf_counter() - t0
    except ValueError as exc:
        if state.exc is not None:
            raise state.exc from None
        bar.empty()
        box.error(message_of(exc), icon=":material/error:")
        return None
    run_cfg = dict(cfg)
    sample = source if source is not None else None
    if sample:
        run_cfg["app"] = {"sample": sample}
    run = runstore.Run(
        name=run_name,
        result=estimator.result_,
        config=run_cfg,
        dataset=dataset.name,
        kind=dataset.kind,
        seconds=seconds,
    )
    runstore.add_run(run, dataset)
    if state.exc is not None:
        it = getattr(state.last, "iteration", None)
        total = getattr(state.last, "total_iterations", None)
        runstore.notify(
            f"Fit stopped at iteration {it} of {total}; the partial run '{run.name}' is kept "
            f"({seconds:.1f} s).",
            "warning",
        )
        raise state.exc
    bar.progress(1.0, text=f"done · {estimator.result_.n_iter} deep iterations · {seconds:.2f} s"
                 if cfg.get("model") != "multilayer" else f"done · {seconds:.2f} s")
    line.caption("Final errors: " + _fmt_errors(estimator.result_.layer_errors))
    stop_slot.empty()
    return run


def fit_pair(cfg: dict[str, Any], dataset, base_name: str, *, source: dict | None = None):
    """Deep and multilayer with the same settings (the multilayer twin gets the deep run's total
    iteration budget per layer, the paper's protocol). Returns the two runs (None if one was
    rejected)."""
    deep_cfg = dict(cfg)
    if deep_cfg.get("model") not in ("deep", "deep-minvol"):
        deep_cfg["model"] = "deep"
    twin = cfgmod.multilayer_twin(deep_cfg)
    deep = fit_run(deep_cfg, dataset, runstore.unique_name(f"{base_name} deep"),
                   source=source, stop_key="stop_fit_deep")
    if deep is None:
        return None, None
    multi = fit_run(twin, dataset, runstore.unique_name(f"{base_name} multilayer"),
                    source=source, stop_key="stop_fit_multi")
    return deep, multi
