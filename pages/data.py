"""Data: choose an embedded dataset or upload a file, and look at it before fitting."""

import inspect

import streamlit as st

from dnmf import plots
from dnmf.datasets import (
    describe_sample,
    list_samples,
    load_file,
    load_sample,
    paper_name,
    paper_settings,
    sample_options,
)
from dnmf.ui import errors, state, widgets
from dnmf.ui.state import PERSIST, READING_DEFAULTS, init_default

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
    for _key, _value in READING_DEFAULTS.items():
        init_default(_key, _value)
    gen = st.session_state.get("upload_gen", 0)  # a new key empties the uploader (Forget)
    uploaded = st.file_uploader(
        "Data file (and ground truth)",
        type=["mat", "npy", "npz", "csv", "tsv", "txt", "zip"],
        accept_multiple_files=True,
        key="data_upload" if gen == 0 else f"data_upload_{gen}",
        help="A matrix (MATLAB .mat v5 or v7.3, NumPy .npy/.npz, CSV/TSV), a text corpus (CSV "
        "with a text column, or a ZIP of .txt files) or a ZIP of images — together with its "
        "ground truth if you have it (e.g. Samson's end3.mat, or an .npz with endmembers, "
        "W_1 … W_L or labels). The files are kept for this session.",
    )
    rec = state.keep_upload(uploaded)
    truths = state.truth_uploads()
    state.show_file_options(rec)  # the options chosen for this file (a new file: defaults)
    params = set(inspect.signature(load_file).parameters)

    def apply_fix(fix: str) -> None:
        """A fix button: set the matching reading option (of this file) and load again."""
        for opt, value in errors.parse_fix(fix).items():
            key = f"up_{opt}"
            if key in ("up_on_negative", "up_on_nonfinite", "up_samples_as", "up_drop_empty"):
                st.session_state[key] = value
            elif key == "up_variable":
                st.session_state[key] = "" if value is None else str(value)
            elif opt == "column_roles":
                extra = dict(st.session_state["up_extra"])
                extra["column_roles"] = {**extra.get("column_roles", {}), **value}
                st.session_state["up_extra"] = extra
            else:
                st.session_state["up_extra"] = {**st.session_state["up_extra"], opt: value}
        state.remember_file_options(rec)

    with st.expander("Reading options (of this file)", expanded=rec is not None):
        c1, c2, c3, c4 = st.columns([1.4, 1, 1, 1])
        samples_as = c1.radio("Samples are the", ["auto", "rows", "columns"],
                              key="up_samples_as", horizontal=True,
                              help="Where the samples are in the file. 'auto': a table's rows "
                              "(as pandas and scikit-learn), an image file's rows, a spectral "
                              "file's pixels, a corpus' documents.",
                              **PERSIST)
        on_negative = c2.selectbox("Negative entries", ["error", "clip", "shift"],
                                   key="up_on_negative", **PERSIST)
        on_nonfinite = c3.selectbox("NaN / inf entries", ["error", "drop", "zero"],
                                    key="up_on_nonfinite", **PERSIST)
        drop_empty = c4.checkbox("Drop all-zero rows/columns", key="up_drop_empty", **PERSIST)
        c5, c6, c7 = st.columns(3)
        variable = c5.text_input("Variable (in .mat / .npz)", key="up_variable",
                                 placeholder="the largest matrix", **PERSIST)
        kind = c6.selectbox("Kind of data", ["auto", "images", "spectra", "text", "generic"],
                            key="up_kind", **PERSIST)
        image_shape = c7.text_input("Image shape h × w", key="up_image_shape",
                                    placeholder="e.g. 19x19 (images / scenes)", **PERSIST)
    state.remember_file_options(rec)
    if rec is None and not truths:
        st.info("Upload a matrix file to use it. Until then the previously chosen dataset "
                "stays selected.", icon=":material/upload_file:")
    else:
        fc1, fc2 = st.columns([4, 1], vertical_alignment="center")
        names = [f"{r['filename']} ({r['size'] / 1024:.1f} KiB)" for r in
                 ([rec] if rec is not None else [])]
        fc1.caption(errors.plain(
            ("File: " + ", ".join(names) if names else "No data file")
            + (" · ground truth: " + ", ".join(t["filename"] for t in truths) if truths else "")
            + " — kept for this session."))

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
        wanted = state.upload_source(rec, options, truths)
        if wanted is not None and state.current_source() != wanted:
            ds, err, problems = state.load_upload(rec, options, truths)
            st.session_state["truth_problems"] = problems
            if err is not None:
                errors.data_error(err, apply_fix, key="data_fix")
                if state.current_dataset() is not None:
                    st.caption(errors.plain(
                        f"The dataset in use is still {state.current_dataset().name}."))
            elif ds is not None:
                state.set_dataset(ds, wanted)
        elif rec is None and state.current_dataset() is None:
            st.warning("Ground truth alone: upload the data file it belongs to as well.",
                       icon=":material/warning:")
        for problem in st.session_state.get("truth_problems") or []:
            st.warning(errors.plain(problem), icon=":material/warning:")


# ----------------------------------------------------------------------------- preview


def _flip() -> None:
    """Read the uploaded table the other way round (samples ↔ features)."""
    now = st.session_state.get("up_samples_as", "auto")
    st.session_state["up_samples_as"] = "rows" if now == "columns" else "columns"
    state.remember_file_options(state.keep_upload(None))


def _set_role(column, key: str) -> None:
    role = {"sample names": "sample_names", "labels": "labels", "not used": "drop",
            "data": "data"}[st.session_state[key]]
    extra = dict(st.session_state.get("up_extra") or {})
    extra["column_roles"] = {**extra.get("column_roles", {}), column: role}
    st.session_state["up_extra"] = extra
    state.remember_file_options(state.keep_upload(None))


def _use_paper_words() -> None:
    st.session_state["up_extra"] = {**(st.session_state.get("up_extra") or {}),
                                    "paper_words": True}
    state.remember_file_options(state.keep_upload(None))


def _preview() -> None:
    """The chosen dataset: numbers, provenance and the picture its kind calls for."""
    ds = state.current_dataset()
    if ds is None:
        return
    source = state.current_source() or {}
    uploaded = source.get("type") == "upload"

    st.subheader(errors.plain(ds.name))
    m, n = ds.shape
    lo, hi = ds.value_range
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Kind", ds.kind)
    rows, cols = "Rows (m)", "Columns (n)"
    if ds.kind == "generic":
        rows, cols = (("Samples (rows, m)", "Features (columns, n)") if ds.sample_axis == 0
                      else ("Features (rows, m)", "Samples (columns, n)"))
    c2.metric(rows, f"{m:,}")
    c3.metric(cols, f"{n:,}")
    c4.metric("Density", f"{ds.density:.1%}", help="sparse storage" if ds.is_sparse else "dense")
    c5.metric("Values", f"{lo:.2g} – {hi:.2g}")
    oc1, oc2 = st.columns([4, 1], vertical_alignment="center")
    oc1.markdown("**Orientation:** " + errors.plain(ds.orientation()) + ".")
    if uploaded and ds.kind == "generic":
        by_columns = st.session_state.get("up_samples_as") == "columns"
        oc2.button("Flip: the file's " + ("rows" if by_columns else "columns")
                   + " are the samples", key="data_flip",
                   icon=":material/swap_horiz:", on_click=_flip,
                   help="Read the table the other way round: its columns as the samples "
                   "(X becomes the transpose of the table).")
    st.caption(errors.plain(ds.provenance))
    truth = ds.ground_truth or {}
    if truth.get("W") or truth.get("endmembers") is not None:
        n_true = len(truth["W"]) if truth.get("W") else 1
        names = truth.get("names")
        if names and isinstance(names[0], (list, tuple)):
            names = names[0]
        st.success(errors.plain(
            f"Ground truth known for {n_true} layer{'s' if n_true > 1 else ''}"
            + (f" ({', '.join(map(str, names))})" if names else "")
            + ": the Layers and Compare pages score runs against it (SAD, MRSA"
            + (", abundance RMSE" if truth.get("abundances") is not None else "") + ")."),
            icon=":material/verified:")
    if ds.labels is not None:
        k = len(set(ds.labels.tolist()))
        st.caption(errors.plain(f"Labels: {k} classes over the {ds.n_samples} samples "
                                "(the Layers and Compare pages show each layer's label "
                                "purity)."))
    for note in ds.meta.get("notes") or []:
        st.caption(errors.plain(f"· {note}"))

    roles = ds.meta.get("column_roles") or {}
    if uploaded and roles:
        with st.expander(f"Columns that are not data ({len(roles)})", expanded=False):
            choices = ["sample names", "labels", "not used", "data"]
            words = {"sample_names": "sample names", "labels": "labels", "drop": "not used",
                     "data": "data"}
            rcols = st.columns(min(4, len(roles)))
            for i, (column, role) in enumerate(roles.items()):
                key = f"data_role_{i}"
                st.session_state[key] = words[role]
                rcols[i % len(rcols)].selectbox(
                    f"Column {errors.plain(column)}", choices, key=key,
                    on_change=_set_role, args=(column, key))

    paper = paper_name(ds)
    if paper is not None:
        settings = paper_settings(ds)
        st.info(errors.plain(f"Recognised as the paper's {paper} dataset. Paper: "
                             f"{settings['source']} The Model page can apply these "
                             "settings."), icon=":material/article:")
        if paper == "tdt2" and not ds.meta.get("paper_words") and uploaded:
            st.button("Keep the paper's 500 words (variable K)", key="data_paper_words",
                      icon=":material/filter_alt:", on_click=_use_paper_words,
                      help="The paper's preprocessing: the 500 words a rank-20 NMF found "
                      "most important (K holds their 1-based indices).")

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
