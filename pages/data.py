"""Data: choose an embedded dataset or upload a file, and look at it before fitting."""

import inspect

import streamlit as st

from dnmf import plots
from dnmf.datasets import describe_sample, list_samples, load_file, load_sample, sample_options
from dnmf.ui import errors, state, widgets
from dnmf.ui.state import PERSIST, init_default

widgets.page_setup()
st.title("Data")
widgets.show_notices()
st.caption("The dataset chosen here stays selected on every page until you choose another.")

SOURCES = ["Embedded sample", "Upload a file"]
init_default("data_source", SOURCES[0])
source_kind = st.radio("Source", SOURCES, key="data_source", horizontal=True,
                       label_visibility="collapsed", **PERSIST)

# ----------------------------------------------------------------------- widgets → one load
if source_kind == SOURCES[0]:
    names = list_samples()
    init_default("data_sample", "faces" if "faces" in names else names[0])
    name = st.selectbox("Sample", names, key="data_sample",
                        format_func=lambda n: f"{n} — {describe_sample(n)}", **PERSIST)
    defaults = sample_options(name)
    options = {}
    editable = {k: v for k, v in defaults.items()
                if isinstance(v, (bool, int, float, str)) and v is not None}
    if editable:
        with st.expander("Sample options"):
            cols = st.columns(min(4, len(editable)))
            for i, (opt, default) in enumerate(editable.items()):
                key = f"sample_opt_{name}_{opt}"
                init_default(key, default)
                col = cols[i % len(cols)]
                if isinstance(default, bool):
                    value = col.checkbox(opt, key=key, **PERSIST)
                elif isinstance(default, int):
                    value = col.number_input(opt, key=key, step=1, **PERSIST)
                elif isinstance(default, float):
                    value = col.number_input(opt, key=key, format="%g", **PERSIST)
                else:
                    value = col.text_input(opt, key=key, **PERSIST)
                if value != default:
                    options[opt] = value
    wanted = {"type": "sample", "name": name, "options": options}
    if state.current_source() != wanted:
        ds, err = errors.attempt(load_sample, name, **options)
        if ds is not None:
            state.set_dataset(ds, wanted)
else:
    gen = st.session_state.get("upload_gen", 0)  # a new key empties the uploader (Forget)
    uploaded = st.file_uploader(
        "Data file",
        type=["mat", "npy", "npz", "csv", "tsv", "txt", "zip"],
        key="data_upload" if gen == 0 else f"data_upload_{gen}",
        help="A matrix (MATLAB .mat, NumPy .npy/.npz, CSV/TSV), a text corpus (CSV with a "
        "text column, or a ZIP of .txt files) or a ZIP of images. The file is kept for this "
        "session.",
    )
    rec = state.keep_upload(uploaded)
    params = set(inspect.signature(load_file).parameters)
    init_default("up_extra", {})

    def apply_fix(fix: str) -> None:
        """A fix button: set the matching reading option and load again."""
        for opt, value in errors.parse_fix(fix).items():
            key = f"up_{opt}"
            if key in ("up_on_negative", "up_on_nonfinite", "up_samples_as", "up_drop_empty"):
                st.session_state[key] = value
            elif key == "up_variable":
                st.session_state[key] = "" if value is None else str(value)
            else:
                st.session_state["up_extra"] = {**st.session_state["up_extra"], opt: value}

    with st.expander("Reading options", expanded=rec is not None):
        c1, c2, c3, c4 = st.columns([1.4, 1, 1, 1])
        init_default("up_samples_as", "auto")
        samples_as = c1.radio("Samples are the", ["auto", "rows", "columns"],
                              key="up_samples_as", horizontal=True,
                              help="Where the samples are in the file (images, spectra, "
                              "documents); 'columns' transposes an images file",
                              **PERSIST)
        init_default("up_on_negative", "error")
        on_negative = c2.selectbox("Negative entries", ["error", "clip", "shift"],
                                   key="up_on_negative", **PERSIST)
        init_default("up_on_nonfinite", "error")
        on_nonfinite = c3.selectbox("NaN / inf entries", ["error", "drop", "zero"],
                                    key="up_on_nonfinite", **PERSIST)
        init_default("up_drop_empty", False)
        drop_empty = c4.checkbox("Drop all-zero rows/columns", key="up_drop_empty", **PERSIST)
        c5, c6, c7 = st.columns(3)
        init_default("up_variable", "")
        variable = c5.text_input("Variable (in .mat / .npz)", key="up_variable",
                                 placeholder="the largest matrix", **PERSIST)
        init_default("up_kind", "auto")
        kind = c6.selectbox("Kind of data", ["auto", "images", "spectra", "text", "generic"],
                            key="up_kind", **PERSIST)
        init_default("up_image_shape", "")
        image_shape = c7.text_input("Image shape h × w", key="up_image_shape",
                                    placeholder="e.g. 19x19 (images / scenes)", **PERSIST)
    if rec is None:
        st.info("Upload a matrix file to use it. Until then the previously chosen dataset "
                "stays selected.", icon=":material/upload_file:")
    else:
        fc1, fc2 = st.columns([4, 1], vertical_alignment="center")
        fc1.caption(f"File: **{rec['filename']}** ({rec['size'] / 1024:.1f} KiB), kept for "
                    "this session.")
        def _forget() -> None:
            state.forget_upload()
            st.session_state["upload_gen"] = gen + 1

        fc2.button("Forget this file", key="forget_upload", icon=":material/delete:",
                   on_click=_forget)
        options = {
            "samples_as": None if samples_as == "auto" else samples_as,
            "image_shape": state.parse_shape(image_shape),
            "on_negative": on_negative,
            "on_nonfinite": on_nonfinite,
            "drop_empty": drop_empty,
            "variable": variable.strip() or None,
            "kind": None if kind == "auto" else kind,
            **st.session_state["up_extra"],
        }
        options = {k: v for k, v in options.items() if k in params and v is not None}
        wanted = {"type": "upload", "filename": rec["filename"], "size": rec["size"],
                  "options": options}
        if state.current_source() != wanted:
            try:
                ds = load_file(rec["data"], filename=rec["filename"], **options)
            except ValueError as exc:
                errors.data_error(exc, apply_fix, key="data_fix")
                if state.current_dataset() is not None:
                    st.caption(f"The dataset in use is still **{state.current_dataset().name}**.")
            else:
                state.set_dataset(ds, wanted)

# ----------------------------------------------------------------------------- preview


def _preview() -> None:
    """The chosen dataset: numbers, provenance and the picture its kind calls for."""
    ds = state.current_dataset()
    if ds is None:
        return

    st.subheader(f"{ds.name}")
    m, n = ds.shape
    lo, hi = ds.value_range
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Kind", ds.kind)
    c2.metric("Rows (m)", f"{m:,}")
    c3.metric("Columns (n)", f"{n:,}")
    c4.metric("Density", f"{ds.density:.1%}", help="sparse storage" if ds.is_sparse else "dense")
    c5.metric("Values", f"{lo:.2g} – {hi:.2g}")
    orientation = {
        "images": r"one image per row: layer features are rows of $H_\ell \cdots H_1$, shown "
        "as pictures",
        "spectra": r"bands × pixels: features are spectra (columns of $W_\ell$), rows of "
        r"$H_\ell \cdots H_1$ are abundance maps",
        "text": r"words × documents: topics are columns of $W_\ell$ (read through their top "
        "words)",
        "generic": r"features × samples (one sample per column, as the thesis): basis "
        r"vectors are the columns of $W_\ell$, each sample mixes them with a column of "
        r"$H_\ell \cdots H_1$",
    }[ds.kind]
    st.caption(f"{ds.provenance}  \nOrientation: {orientation}.")
    truth = ds.ground_truth or {}
    if truth.get("W") or truth.get("endmembers") is not None:
        n_true = len(truth["W"]) if truth.get("W") else 1
        names = truth.get("names")
        if names and isinstance(names[0], (list, tuple)):
            names = names[0]
        st.caption(
            f"Ground truth known for {n_true} layer{'s' if n_true > 1 else ''}"
            + (f" ({', '.join(map(str, names))})" if names else "")
            + ": the Layers and Compare pages score runs against it."
        )
    if ds.meta.get("notes"):
        for note in ds.meta["notes"]:
            st.caption(f"· {note}")

    if ds.kind == "images":
        st.plotly_chart(plots.image_preview(ds, n=40), key="preview_images")
    elif ds.kind == "spectra":
        st.plotly_chart(plots.spectra_preview(ds), key="preview_spectra")
        if ds.image_shape is not None:
            init_default("data_view", "False colour")
            view = st.segmented_control("Scene view", ["False colour", "One band"], key="data_view",
                                        **PERSIST)
            if view == "One band":
                init_default("data_band", m // 2)
                band = st.slider("Band", 0, m - 1, key="data_band", **PERSIST)
                st.plotly_chart(plots.band_image(ds, band), key="preview_band")
            else:
                st.plotly_chart(plots.false_colour(ds), key="preview_rgb")
    elif ds.kind == "text":
        c1, c2 = st.columns(2)
        with c1:
            st.plotly_chart(plots.top_words_bar(ds), key="preview_words")
        with c2:
            st.plotly_chart(plots.document_length_histogram(ds), key="preview_lengths")
    else:
        st.plotly_chart(plots.matrix_heatmap(ds.X, title=ds.name), key="preview_heatmap")

    st.page_link("pages/model.py", label="Next: configure a model", icon=":material/arrow_forward:")


_preview()
