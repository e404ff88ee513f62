"""Session state of the workbench: the chosen dataset and small helpers for widgets.

Keys in ``st.session_state``:

- ``"dataset"``: the chosen :class:`dnmf.datasets.Dataset` (kept across pages);
- ``"dataset_source"``: how it was loaded — ``{"type": "sample", "name", "options"}`` or
  ``{"type": "upload", "filename", "options"}``;
- ``"upload"``: the uploaded file's bytes, copied at once (``st.file_uploader`` keeps nothing
  across page switches): ``{"filename", "data", "size"}``;
- ``"runs"``, ``"datasets"``, ``"notices"``: see :mod:`dnmf.ui.runs`.

Widgets keep their values across page switches with ``persist_state="session"`` (a real keyword
argument of the input widgets in Streamlit ≥ 1.67; checked in the installed source).
:func:`init_default` gives a widget its first value through session state, so the widget call
itself never passes ``value=`` as well (which Streamlit warns about).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

DATASET = "dataset"
DATASET_SOURCE = "dataset_source"
UPLOAD = "upload"

#: The keyword to pass to every input widget so it keeps its value across pages.
PERSIST = {"persist_state": "session"}


def init_default(key: str, value: Any) -> None:
    """Set ``st.session_state[key]`` to ``value`` unless it already has a value."""
    if key not in st.session_state:
        st.session_state[key] = value


def current_dataset():
    """The chosen dataset, or None."""
    return st.session_state.get(DATASET)


def current_source() -> dict | None:
    return st.session_state.get(DATASET_SOURCE)


def set_dataset(dataset, source: dict) -> None:
    """Make ``dataset`` the chosen one (for every page); an embedded sample is remembered by
    the workspace, so a new session of the same link starts with it."""
    from dnmf.ui import workspace

    changed = st.session_state.get(DATASET_SOURCE) != source
    st.session_state[DATASET] = dataset
    st.session_state[DATASET_SOURCE] = source
    if changed:
        workspace.remember_dataset(source if (source or {}).get("type") == "sample" else None)


def clear_dataset() -> None:
    st.session_state.pop(DATASET, None)
    st.session_state.pop(DATASET_SOURCE, None)


def keep_upload(uploaded) -> dict | None:
    """Copy an ``UploadedFile`` into session state at once; return the stored record.

    Returns the stored record from an earlier upload when ``uploaded`` is None (the uploader
    widget comes back empty after a page switch).
    """
    if uploaded is not None:
        data = uploaded.getvalue()
        rec = st.session_state.get(UPLOAD)
        if rec is None or rec["filename"] != uploaded.name or rec["data"] != data:
            st.session_state[UPLOAD] = {
                "filename": uploaded.name,
                "data": data,
                "size": len(data),
            }
    return st.session_state.get(UPLOAD)


def forget_upload() -> None:
    st.session_state.pop(UPLOAD, None)


def sample_source(dataset_source: dict | None) -> dict | None:
    """``{"name", "options"}`` when the source is an embedded sample (so a run can reload its
    data after an export/import), else None."""
    if dataset_source and dataset_source.get("type") == "sample":
        return {"name": dataset_source["name"], "options": dict(dataset_source.get("options")
                                                                 or {})}
    return None


def parse_shape(text: str) -> tuple[int, int] | None:
    """``"19x19"``, ``"19 × 19"`` or ``"19, 19"`` → (19, 19); blank or unreadable → None."""
    import re

    nums = re.findall(r"\d+", text or "")
    if len(nums) != 2:
        return None
    return int(nums[0]), int(nums[1])
