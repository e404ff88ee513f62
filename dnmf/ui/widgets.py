"""Shared widgets: notices, the dataset badge, run pickers, the runs table, downloads, sidebar."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dnmf.ui import config as cfgmod
from dnmf.ui import runs as runstore
from dnmf.ui import state
from dnmf.ui.errors import plain

#: Session key set by app.py on every run (see :func:`page_setup`).
APP_RAN = "_app_ran"

_LEVELS = {"info": st.info, "warning": st.warning, "success": st.success, "error": st.error}


def page_setup() -> None:
    """First line of every page: make sure the page runs inside ``app.py``'s navigation, and
    bring the run cache in line with the workspace's store and report this session's ended
    jobs (:func:`dnmf.ui.workspace.begin`).

    Streamlit treats an app with a ``pages/`` folder as an old-style multipage app until the
    process has run ``st.navigation`` once: a first request that deep-links to a page (e.g.
    ``/data`` on a fresh server) runs the page file alone — without ``app.py``'s navigation,
    page config and sidebar — and the server would go on showing the folder's file names as
    its menu. Such a page turns that mode off and, if ``app.py`` never ran in this session (so
    this is a page load, with no widget click to lose), reruns: ``app.py`` then serves the same
    page (its URL path is the same in both modes). AppTest runs every page after
    ``switch_page`` this way; there ``app.py`` ran first, so the page just goes on.
    """
    from streamlit.runtime.pages_manager import PagesManager

    from dnmf.ui import workspace

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not st.session_state.get(APP_RAN):
            st.rerun()
    workspace.begin()


def show_notices() -> None:
    """Draw (once) the messages left for this render — e.g. a stopped fit or a dropped run."""
    for level, text in runstore.pop_notices():
        _LEVELS.get(level, st.info)(text)


def dataset_badge() -> object | None:
    """One line naming the chosen dataset (or a pointer to the Data page). Returns it."""
    ds = state.current_dataset()
    if ds is None:
        st.info("No dataset chosen yet: pick one on the **Data** page.", icon=":material/info:")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/dataset:")
        return None
    m, n = ds.shape
    st.caption(f"Dataset: **{plain(ds.name)}** · {ds.kind} · {m} × {n}"
               f"{' · sparse' if ds.is_sparse else ''}")
    return ds


def runs_frame(store: dict | None = None) -> pd.DataFrame:
    """One row per run: what was fitted, on what, how long, how well."""
    store = runstore.runs() if store is None else store
    rows = []
    for name, run in store.items():
        res = run.result
        errs = ", ".join(f"{e:.3g}" for e in res.layer_errors)
        rows.append(
            {
                "run": name,
                "model": run.model,
                "dataset": run.dataset,
                "β": float(run.config.get("beta", res.config.get("beta", float("nan")))),
                "ranks": "-".join(str(r) for r in res.ranks),
                "iterations": int(res.n_iter),
                "seconds": round(float(run.seconds), 2),
                "final errors": errs,
                "stopped early": bool(res.stopped_early),
                "status": getattr(run, "status", "done"),
            }
        )
    return pd.DataFrame(rows)


def runs_table(store: dict | None = None) -> None:
    df = runs_frame(store)
    if df.empty:
        st.caption("No runs yet.")
        return
    st.dataframe(df, hide_index=True, width="stretch")


def run_picker(label: str, key: str, *, kinds: set[str] | None = None, default: str | None = None,
               help: str | None = None) -> runstore.Run | None:
    """A selectbox over the session's runs (newest first); returns the chosen Run or None."""
    store = runstore.runs()
    names = [n for n, r in reversed(list(store.items())) if kinds is None or r.kind in kinds]
    if not names:
        st.info("No runs yet: fit a model on the **Model** page (or press *Try it* on Home).",
                icon=":material/info:")
        st.page_link("pages/model.py", label="Go to Model", icon=":material/tune:")
        return None
    if st.session_state.get(key) not in names:
        st.session_state[key] = default if default in names else names[0]
    name = st.selectbox(label, names, key=key, help=help,
                        format_func=lambda n: store[n].label, **state.PERSIST)
    return store.get(name)


def download_buttons(run: runstore.Run, key: str) -> None:
    """Download the run: npz factors, json config, csv history (and all three zipped)."""
    stem = runstore.safe_filename(run.name)
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("Factors (.npz)", runstore.export_npz(run), f"{stem}.npz",
                       "application/octet-stream", key=f"{key}_npz",
                       icon=":material/download:", width="stretch",
                       help="W_1…W_L, H_1…H_L and the run's metadata; upload it again below")
    c2.download_button("Config (.json)", runstore.export_json(run), f"{stem}.json",
                       "application/json", key=f"{key}_json", icon=":material/download:",
                       width="stretch")
    c3.download_button("History (.csv)", runstore.export_csv(run), f"{stem}_history.csv",
                       "text/csv", key=f"{key}_csv", icon=":material/download:",
                       width="stretch")
    c4.download_button("All three (.zip)", runstore.export_zip(run), f"{stem}.zip",
                       "application/zip", key=f"{key}_zip", icon=":material/folder_zip:",
                       width="stretch")


def cap_caption() -> None:
    n = len(runstore.runs())
    used = runstore.total_bytes() / 1024**2
    st.caption(
        f"{n} of at most {runstore.MAX_RUNS} runs kept in this workspace · {used:.1f} of "
        f"{runstore.MAX_BYTES // 1024**2} MiB of factors. Beyond either cap the oldest run is "
        "dropped — you are warned first and can download it."
    )


def sidebar_summary() -> None:
    """The state summary drawn in the sidebar after the page ran (so it is never stale)."""
    with st.sidebar:
        ds = state.current_dataset()
        if ds is None:
            st.caption("**Dataset:** none chosen")
        else:
            m, n = ds.shape
            st.caption(f"**Dataset:** {plain(ds.name)} ({ds.kind}, {m} × {n})")
        store = runstore.runs()
        st.caption(f"**Runs:** {len(store)} / {runstore.MAX_RUNS} · "
                   f"{runstore.total_bytes() / 1024**2:.1f} MiB")
        for name, run in list(reversed(list(store.items())))[:6]:
            flag = " ⏹" if run.result.stopped_early else ""
            what = cfgmod.describe(run.config).split(" · seed")[0]
            st.caption(plain(f"· {name}{flag} — {what}"))
        if len(store) > 6:
            st.caption(f"… and {len(store) - 6} more")


def picked_curve(event) -> int | None:
    """The curve (trace) number of the first clicked point of a chart's selection, or None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for pt in points or []:
        n = pt.get("curve_number")
        if n is not None:
            return int(n)
    return None


def topic_of_curve(result, layer: int, curve: int) -> int:
    """The topic (1-based) drawn as trace ``curve`` of :func:`dnmf.plots.topic_words`, which
    orders topics by weight."""
    from dnmf import plots

    order, _ = plots.feature_order(result, layer)
    return int(order[curve]) + 1
