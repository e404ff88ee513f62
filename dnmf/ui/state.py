"""Session state of the workbench: the chosen dataset and small helpers for widgets.

Keys in ``st.session_state``:

- ``"dataset"``: the chosen :class:`dnmf.datasets.Dataset` (kept across pages);
- ``"dataset_source"``: how it was loaded — ``{"type": "sample", "name", "options"}`` or
  ``{"type": "upload", "filename", "options"}``;
- ``"upload"``: the uploaded data file's bytes, copied at once (``st.file_uploader`` keeps
  nothing across page switches): ``{"filename", "data", "size", "key"}``;
- ``"truth_uploads"``: files of the same upload recognised as ground truth (same records);
- ``"upload_options"``: the reading options chosen *for each file*, by the file's key (name,
  size and a hash of its bytes): a new file starts from the defaults, a file seen before gets
  its own options back, and "Forget this file" forgets them with the file;
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


TRUTH_UPLOADS = "truth_uploads"
UPLOAD_OPTIONS = "upload_options"
#: The reading-option widgets of the Data page and their defaults (a new file starts here).
READING_DEFAULTS: dict[str, Any] = {
    "up_samples_as": "auto",
    "up_on_negative": "error",
    "up_on_nonfinite": "error",
    "up_drop_empty": False,
    "up_variable": "",
    "up_kind": "auto",
    "up_image_shape": "",
    "up_extra": {},
}
UP_FILE = "up_file"  # the key of the file whose options the widgets show


def file_key(filename: str, data: bytes) -> str:
    import hashlib

    return f"{filename}:{len(data)}:{hashlib.sha1(data).hexdigest()[:12]}"


def _record(filename: str, data: bytes) -> dict:
    return {"filename": filename, "data": data, "size": len(data),
            "key": file_key(filename, data)}


def keep_upload(uploaded) -> dict | None:
    """Copy the uploader's files into session state at once; return the data file's record.

    ``uploaded`` is one ``UploadedFile``, a list of them (several files at once) or None.
    Files recognised as ground truth (:func:`dnmf.datasets.looks_like_ground_truth`) are kept
    in ``"truth_uploads"``; of the others the first is the data file (a batch of ground truth
    alone keeps the data file chosen before). When ``uploaded`` is None or empty (the widget
    comes back empty after a page switch) the stored records stay.
    """
    from dnmf.datasets import looks_like_ground_truth

    files = uploaded if isinstance(uploaded, (list, tuple)) else [uploaded]
    files = [f for f in files if f is not None]
    if files:
        batch = [(f.name, f.getvalue()) for f in files]
        seen = st.session_state.get("_upload_batch")
        signature = [file_key(n, d) for n, d in batch]
        if seen != signature:
            st.session_state["_upload_batch"] = signature
            truth, data = [], []
            for name, raw in batch:
                (truth if looks_like_ground_truth(raw, name) else data).append(
                    _record(name, raw))
            st.session_state[TRUTH_UPLOADS] = truth
            if data:
                st.session_state[UPLOAD] = data[0]
                if len(data) > 1:
                    from dnmf.ui.runs import notify

                    notify("One data file at a time: using " + data[0]["filename"]
                           + "; not used: " + ", ".join(r["filename"] for r in data[1:])
                           + ".", "warning")
    return st.session_state.get(UPLOAD)


def truth_uploads() -> list[dict]:
    """The ground-truth files of the current upload."""
    return list(st.session_state.get(TRUTH_UPLOADS) or [])


def forget_upload() -> None:
    """Forget the uploaded files and the reading options chosen for them."""
    rec = st.session_state.pop(UPLOAD, None)
    opts = st.session_state.get(UPLOAD_OPTIONS) or {}
    for r in [rec, *truth_uploads()]:
        if r is not None:
            opts.pop(r.get("key"), None)
    st.session_state.pop(TRUTH_UPLOADS, None)
    st.session_state.pop("_upload_batch", None)
    st.session_state.pop(UP_FILE, None)
    for key, value in READING_DEFAULTS.items():
        st.session_state[key] = value


def show_file_options(rec: dict | None) -> None:
    """Before the reading-option widgets are drawn: when the data file changed, give them the
    options chosen for that file before (or the defaults for a new file)."""
    if rec is None:
        return
    if st.session_state.get(UP_FILE) == rec["key"]:
        return
    stored = (st.session_state.get(UPLOAD_OPTIONS) or {}).get(rec["key"], {})
    for key, value in READING_DEFAULTS.items():
        st.session_state[key] = stored.get(key, value)
    st.session_state[UP_FILE] = rec["key"]


def remember_file_options(rec: dict | None) -> None:
    """After the widgets: store their values as this file's options."""
    if rec is None:
        return
    st.session_state.setdefault(UPLOAD_OPTIONS, {})
    st.session_state[UPLOAD_OPTIONS][rec["key"]] = {
        key: st.session_state.get(key, value) for key, value in READING_DEFAULTS.items()}


def upload_source(rec: dict | None, options: dict, truths: list[dict]) -> dict | None:
    """The source record of an upload (what :func:`load_upload` would load), or None when
    there is nothing to load."""
    truth_keys = [t["key"] for t in truths]
    if rec is not None:
        return {"type": "upload", "filename": rec["filename"], "size": rec["size"],
                "key": rec["key"], "options": options, "truth": truth_keys}
    if current_dataset() is None or not truths:
        return None
    return {**(current_source() or {}), "truth": truth_keys}


def load_upload(rec: dict | None, options: dict, truths: list[dict]):
    """The one call of the Data page for an upload: read the data file with ``options`` and
    attach the ground-truth files — to it, or to the dataset in use when the upload is ground
    truth alone.

    Returns ``(dataset or None, data_error or None, truth_problems)``: the dataset to use, the
    `DataError` of the data file (None when it loaded), and one message per ground-truth file
    that did not attach.
    """
    from dnmf.datasets import DataError, attach_ground_truth, load_file, read_ground_truth

    if rec is not None:
        try:
            ds = load_file(rec["data"], filename=rec["filename"], **options)
        except DataError as exc:
            return None, exc, []
    else:
        ds = current_dataset()
        if ds is None:
            return None, None, []
    problems: list[str] = []
    for t in truths:
        try:
            ds = attach_ground_truth(ds, read_ground_truth(t["data"], t["filename"]),
                                     t["filename"])
        except DataError as exc:
            problems.append(str(exc))
    return ds, None, problems


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
