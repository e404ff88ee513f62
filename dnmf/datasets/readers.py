"""`load_file`: one entry point for uploaded/local files → `Dataset`, or one clear `DataError`.

Formats (picked by extension, checked against the content's magic bytes; ``format=`` forces):

========================  ==================================================================
.csv .tsv .tab            numeric matrix; delimiter, header row and index column auto-detected
.txt                      numbers on every line → matrix; otherwise one document per line
.npy                      ``allow_pickle=False``; 2-D matrix, or 3-D image stack (n, h, w)
.npz                      one array chosen with ``variable=`` (or the only 2-D one); scipy
                          sparse ``.npz`` (``scipy.sparse.save_npz``) too
.mat                      MATLAB v5 via ``scipy.io.loadmat``, v7.3 (HDF5) via ``h5py``, with the
                          same variable detection; ``variable=``; the paper's files
                          are recognised (see `dnmf.datasets.paper`)
.zip                      .txt files → corpus (one document per file); images → image stack
.png .jpg .jpeg .bmp …    (only inside a ZIP; a single image is one sample)
========================  ==================================================================

Orientation: the Dataset's canonical orientation depends on ``kind`` (images: one image per
row; spectra, text, generic: samples are columns). ``samples_as="rows" | "columns"`` says how
the *file* is laid out; the matrix is transposed when that differs from the canonical one.
``samples_as=None`` (default) takes the file as it is.

Limits: inputs larger than ``MAX_UPLOAD_BYTES`` (200 MB) and matrices larger than
``max_bytes`` (default ``MAX_MATRIX_BYTES`` = 2 GiB as dense float64) are refused.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._types import (
    KINDS,
    MAX_UPLOAD_BYTES,
    DataError,
    Dataset,
    format_bytes,
    sample_axis_of,
)
from .validation import _as_numeric, _check_ndim, _plural, check_size, validate_dataset

#: Uncompressed size limit for the members of a ZIP archive (guards against zip bombs).
MAX_UNZIPPED_BYTES = 1000 * 1000**2

EXT_FORMATS = {
    ".csv": "csv", ".tsv": "csv", ".tab": "csv", ".txt": "txt", ".npy": "npy", ".npz": "npz",
    ".mat": "mat", ".zip": "zip", ".png": "image", ".jpg": "image", ".jpeg": "image",
    ".bmp": "image", ".gif": "image", ".tif": "image", ".tiff": "image",
}
FORMATS = ("csv", "txt", "npy", "npz", "mat", "zip", "image")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
TEXT_EXTS = (".txt", ".text", ".md")
_MISSING = {"", "na", "nan", "n/a", "null", "none", "-", "?"}


# =============================================================================== entry point
def load_file(
    source: Any,
    name: str | None = None,
    *,
    filename: str | None = None,
    format: str | None = None,
    kind: str | None = None,
    variable: str | None = None,
    samples_as: str | None = None,
    image_shape: tuple[int, int] | None = None,
    pixel_order: str | None = None,
    on_negative: str = "error",
    on_nonfinite: str = "error",
    drop_empty: bool = False,
    max_bytes: int | None = None,
    header: bool | None = None,
    index_col: bool | None = None,
    delimiter: str | None = None,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    column_roles: dict | None = None,
    decimal: str = ".",
    max_features: int | None = 2000,
    min_df: float | int | None = None,
    max_df: float | int | None = None,
    on_bad_image: str = "error",
    paper_words: bool = False,
) -> Dataset:
    """Read a data file into a validated `Dataset`.

    Parameters
    ----------
    source : path (str / PathLike), bytes, a binary file-like object (e.g. Streamlit's
        UploadedFile, whose ``.name`` gives the file name), or a numpy/scipy.sparse matrix.
    name : dataset name (default: the file name without extension).
    filename : the file name when ``source`` is bytes (its extension picks the reader).
    format : force a reader: "csv", "txt", "npy", "npz", "mat", "zip" or "image".
    kind : "images", "spectra", "text" or "generic" (default: from the content; "generic"
        for plain matrices).
    variable : array to use in a .mat / .npz holding several.
    samples_as : "rows" or "columns": where the samples are *in the file*.
    image_shape, pixel_order : (h, w) and "C"/"F" for images (and the scene of spectra).
    on_negative, on_nonfinite, drop_empty, max_bytes : see `validate_matrix`.
    header, index_col, delimiter : CSV parsing (None = auto-detect).
    text_column, label_column : CSV corpus: the column with the documents (name or 0-based
        index) and optionally one with class labels.
    column_roles : CSV table: ``{column name or 0-based position: role}`` with role one of
        "data", "sample_names", "labels", "drop" (see `dnmf.datasets._table`); text columns
        without a role are refused with one fix per choice.
    decimal : CSV table: "." (default) or "," (decimal commas, e.g. ``1,5;2,25``).
    max_features, min_df, max_df : CountVectorizer settings for corpora.
    on_bad_image : "error" or "skip" unreadable images in a ZIP.
    paper_words : TDT2 only — keep the paper's 500 words (variable K).
    """
    if kind is not None and kind not in KINDS:
        raise DataError(f"kind must be one of {KINDS}, got {kind!r}.")
    if samples_as not in (None, "rows", "columns"):
        raise DataError(f"samples_as must be 'rows' or 'columns', got {samples_as!r}.")
    if pixel_order not in (None, "C", "F"):
        raise DataError(f"pixel_order must be 'C' or 'F', got {pixel_order!r}.")
    if format is not None and format not in FORMATS:
        raise DataError(f"format must be one of {FORMATS}, got {format!r}.")
    if on_bad_image not in ("error", "skip"):
        raise DataError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}.")
    if image_shape is not None:
        try:
            image_shape = (int(image_shape[0]), int(image_shape[1]))
            if len(tuple(image_shape)) != 2 or min(image_shape) < 1:
                raise ValueError
        except (TypeError, ValueError, IndexError):
            raise DataError(f"image_shape must be (height, width), got {image_shape!r}.") from None

    opts = dict(
        kind=kind, variable=variable, samples_as=samples_as, image_shape=image_shape,
        pixel_order=pixel_order, header=header, index_col=index_col, delimiter=delimiter,
        text_column=text_column, label_column=label_column, max_features=max_features,
        column_roles=column_roles, decimal=decimal,
        min_df=min_df, max_df=max_df, on_bad_image=on_bad_image, paper_words=paper_words,
        max_bytes=max_bytes,
    )
    clean = dict(on_negative=on_negative, on_nonfinite=on_nonfinite, drop_empty=drop_empty,
                 max_bytes=max_bytes)

    if isinstance(source, np.ndarray) or sp.issparse(source):
        ds = _from_matrix(source, name=name or "matrix", provenance="In-memory matrix.", **opts)
        return validate_dataset(ds, **clean)

    data, fname = _read_source(source, filename)
    stem = Path(fname).stem if fname else "upload"
    ds_name = name or stem or "upload"
    fmt = _choose_format(data, fname, format)
    try:
        ds = _READERS[fmt](data, name=ds_name, fname=fname or "(bytes)", **opts)
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{fname or 'The file'} is too large to read on this machine.") from None
    except Exception as exc:  # the safety net: never let a reader crash the caller
        # the details (which may name files of the server) go to the log, not the message
        logging.getLogger("dnmf.datasets").error("reading %s as %s failed", fname, fmt,
                                                 exc_info=exc)
        raise DataError(
            f"Could not read {fname or 'the data'} as {fmt} ({type(exc).__name__}): the file "
            "is damaged or in a form dnmf does not read. (This is an unexpected error — please "
            "report it.)"
        ) from exc
    return validate_dataset(ds, **clean)


# ============================================================================ source → bytes
def _read_source(source: Any, filename: str | None) -> tuple[bytes, str | None]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataError(f"File not found: {path}.")
        if path.is_dir():
            raise DataError(f"{path} is a folder, not a file.")
        size = path.stat().st_size
        _check_upload_size(size, path.name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"Cannot read {path}: {exc}.") from None
        return data, filename or path.name
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_upload_size(len(data), filename)
        return data, filename
    if hasattr(source, "read"):
        fname = filename or getattr(source, "name", None)
        fname = os.path.basename(str(fname)) if fname else None
        try:
            if hasattr(source, "seek"):
                source.seek(0)
            data = source.read(MAX_UPLOAD_BYTES + 1)
        except Exception as exc:
            raise DataError(f"Cannot read the uploaded file: {exc}.") from None
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray)):
            raise DataError("The file object did not return bytes.")
        _check_upload_size(len(data), fname)
        return bytes(data), fname
    raise DataError(
        f"load_file expects a path, bytes, a file object or a matrix, got {type(source).__name__}."
    )


def _check_upload_size(size: int, fname: str | None) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise DataError(
            f"{fname or 'The file'} is {format_bytes(size)}; uploads are limited to "
            f"{MAX_UPLOAD_BYTES // 1000**2} MB (dnmf.datasets.MAX_UPLOAD_BYTES). Subsample or "
            "crop the data, or save it compressed (.npz, sparse .npz)."
        )
    if size == 0:
        raise DataError(f"{fname or 'The file'} is empty (0 bytes).")


def _sniff(data: bytes) -> str | None:
    head = data[:16]
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"MATLAB 7.3"):
        return "mat73"
    if head.startswith(b"MATLAB 5.0") or head.startswith(b"MATLAB"):
        return "mat"
    if len(data) > 520 and data[512:520] == b"\x89HDF\r\n\x1a\n":
        return "mat73"
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff") or head.startswith(
            (b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")):
        return "image"
    sample = data[:65536]
    if b"\x00" in sample:
        return None
    try:
        sample.decode("utf-8")
        return "text"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # a multibyte character cut at the sample's end
            return "text"
    # latin-1 text with few control characters
    ctrl = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return "text" if ctrl < 0.01 * max(len(sample), 1) else None


def _choose_format(data: bytes, fname: str | None, forced: str | None) -> str:
    sniff = _sniff(data)
    if sniff == "mat73":
        sniff = "mat"  # read through h5py (_mat73_variables)
    if forced is not None:
        return forced
    ext = Path(fname).suffix.lower() if fname else ""
    by_ext = EXT_FORMATS.get(ext)
    binary = {"npy", "zip", "mat", "image"}
    if by_ext is not None:
        if sniff in binary and by_ext != sniff and not (by_ext == "npz" and sniff == "zip"):
            return sniff  # the content is unambiguous (e.g. an .npz renamed .npy)
        if by_ext in binary | {"npz"} and sniff == "text":
            raise DataError(
                f"{fname} is not a valid {ext} file: its content is plain text. If it is a "
                "table of numbers, load it as CSV (format='csv'); if it is text, as a corpus "
                "(format='txt').", fixes=["format='csv'", "format='txt'"])
        if by_ext in ("csv", "txt") and sniff is None:
            raise DataError(f"{fname} does not look like text (it is binary data): not a "
                            f"readable {ext} file.")
        return by_ext
    if sniff in binary:
        return sniff
    supported = ", ".join(sorted(set(EXT_FORMATS)))
    if sniff == "text":
        if not ext:
            return "txt"  # no name at all: numbers → matrix, words → corpus
        raise DataError(
            f"Unknown file extension {ext!r} ({fname}). Supported: {supported}. The content "
            "is text: load it as a table of numbers (format='csv') or as a corpus "
            "(format='txt').", fixes=["format='csv'", "format='txt'"])
    raise DataError(
        f"Unknown file type{' ' + repr(ext) if ext else ''}"
        f"{' (' + fname + ')' if fname else ''}: the content is not a format dnmf reads. "
        f"Supported: {supported}.")


# =============================================================================== matrices
def _factor_pairs(n: int, limit: int = 4) -> list[tuple[int, int]]:
    pairs = [(a, n // a) for a in range(2, int(math.isqrt(n)) + 1) if n % a == 0]
    pairs.sort(key=lambda p: p[1] - p[0])
    return pairs[:limit]


def _from_matrix(
    A: Any,
    *,
    name: str,
    provenance: str,
    kind: str | None = None,
    samples_as: str | None = None,
    image_shape: tuple[int, int] | None = None,
    pixel_order: str | None = None,
    row_names: list[str] | None = None,
    col_names: list[str] | None = None,
    row_labels: tuple[np.ndarray, list[str]] | None = None,
    default_order: str = "C",
    max_bytes: int | None = None,
    **_: Any,
) -> Dataset:
    """A numeric matrix (or an (n, h, w) image stack) + options → Dataset (not yet validated)."""
    A = _as_numeric(A)
    if A.ndim == 3 and not sp.issparse(A):
        check_size(A.shape, None, max_bytes)
        if kind in (None, "images"):
            n, h, w = A.shape
            if n < 2:
                raise DataError(f"The image stack holds a single image ({h}×{w}). NMF needs "
                                "several images.")
            X = A.reshape(n, h * w)  # C order: row-major pixels
            return Dataset(X=X, kind="images", name=name, image_shape=(h, w), pixel_order="C",
                           provenance=provenance + f" 3-D array read as {n} images of {h}×{w}.")
        if kind == "spectra":
            h, w, b = A.shape
            X = A.reshape(h * w, b).T
            return Dataset(X=X, kind="spectra", name=name, image_shape=(h, w),
                           pixel_order="C", wavelengths=np.arange(1, b + 1),
                           wavelength_unit="band",
                           provenance=provenance + f" 3-D cube read as {h}×{w} pixels × {b} "
                           "bands (rows, cols, bands).")
        raise DataError(f"A 3-D array of shape {A.shape} can only be read as images (n, h, w) "
                        "or as a spectral cube (h, w, bands).",
                        fixes=["kind='images'", "kind='spectra'"])
    _check_ndim(A.shape)
    check_size(A.shape, A.nnz if sp.issparse(A) else None, max_bytes)
    if kind is None:
        kind = "images" if image_shape is not None else "generic"
    canonical = sample_axis_of(kind)
    transposed = False
    if samples_as is not None and (samples_as == "rows") != (canonical == 0):
        A = A.T
        row_names, col_names = col_names, row_names
        transposed = True
    if sp.issparse(A):
        A = sp.csr_matrix(A)
    m, n = A.shape
    prov = provenance
    if transposed:
        prov += f" Transposed (samples were {samples_as} in the file)."
    labels = label_names = None
    if row_labels is not None:
        # the labels belong to the file's rows: samples if they still are X's sample axis
        if (canonical == 0) != transposed:
            labels, label_names = row_labels
        else:
            raise DataError("The label column gives one label per row of the file, but the "
                            "samples are its columns (samples_as='columns'): labels must "
                            "belong to samples. Drop the label column or read samples as rows.",
                            fixes=["samples_as='rows'"])
    fields: dict[str, Any] = {}
    order = pixel_order or default_order
    if kind == "images":
        if image_shape is None:
            s = math.isqrt(n)
            if s * s == n and n > 1:
                image_shape = (s, s)
            else:
                fixes = [f"image_shape={p}" for p in _factor_pairs(n)]
                sq = math.isqrt(m)
                if sq * sq == m and samples_as is None:
                    fixes.insert(0, "samples_as='columns'")
                raise DataError(
                    f"Cannot tell the image size: each image (row) has {n} pixels, which is not "
                    "a square. Give image_shape=(height, width)"
                    + (", or samples_as='columns' if images are the columns of the file"
                       if "samples_as='columns'" in fixes else "") + ".", fixes=fixes)
        if image_shape[0] * image_shape[1] != n:
            fixes = [f"image_shape={p}" for p in _factor_pairs(n)]
            raise DataError(f"image_shape {tuple(image_shape)} has "
                            f"{image_shape[0] * image_shape[1]} pixels but each image (row of "
                            f"X) has {n}.", fixes=fixes)
        fields.update(image_shape=tuple(image_shape), pixel_order=order)
    elif kind == "spectra":
        if image_shape is not None:
            if image_shape[0] * image_shape[1] != n:
                raise DataError(f"image_shape {tuple(image_shape)} has "
                                f"{image_shape[0] * image_shape[1]} pixels but X has {n} "
                                "pixels (columns; bands are rows).")
            fields.update(image_shape=tuple(image_shape), pixel_order=order)
        else:
            s = math.isqrt(n)
            if s * s == n and n >= 4:
                fields.update(image_shape=(s, s), pixel_order=order)
                prov += f" Assumed a square {s}×{s} scene ({order} pixel order)."
        wl = _floats(row_names)
        if wl is not None:
            fields.update(wavelengths=wl, wavelength_unit="nm" if np.nanmax(wl) > 100 else "µm")
        else:
            fields.update(wavelengths=np.arange(1, m + 1), wavelength_unit="band")
    elif kind == "text":
        fields["vocabulary"] = row_names if row_names else [f"term{i + 1}" for i in range(m)]
        if col_names:
            fields["documents"] = col_names
    else:  # generic: samples are the rows of X (module doc of _types)
        meta = {}
        if row_names:
            meta["sample_names"] = list(row_names)
        if col_names:
            meta["feature_names"] = list(col_names)
        if meta:
            fields["meta"] = meta
    if labels is not None:
        fields.update(labels=labels, label_names=label_names)
    return Dataset(X=A, kind=kind, name=name, provenance=prov, **fields)


def _floats(names: list[str] | None) -> np.ndarray | None:
    if not names:
        return None
    try:
        v = np.array([float(s) for s in names])
    except ValueError:
        return None
    return v if np.all(np.isfinite(v)) else None


# ==================================================================================== CSV
def _decode(data: bytes, fname: str) -> str:
    if b"\x00" in data:
        raise DataError(f"{fname} contains binary data (NUL bytes); it is not a text/CSV file.")
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1", errors="replace")  # pragma: no cover - latin-1 never fails


def _is_num(tok: str) -> bool:
    t = tok.strip()
    if t.lower() in _MISSING:
        return True
    try:
        float(t)
        return True
    except ValueError:
        return False


def _detect_delimiter(lines: list[str]) -> str | None:
    sample = lines[:50]
    best, best_score = None, 0.0
    for d in (",", "\t", ";", "|"):
        counts = [ln.count(d) for ln in sample]
        if not any(counts):
            continue
        mode, freq = Counter(counts).most_common(1)[0]
        if mode == 0:
            continue
        score = freq / len(sample) + 0.001 * mode
        if score > best_score:
            best, best_score = d, score
    return best  # None → whitespace


def _tokenize(text: str, delimiter: str | None, fname: str) -> tuple[list[list[str]], str | None]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise DataError(f"{fname} has no data: it is empty or only has comments/blank lines.")
    delim = delimiter if delimiter is not None else _detect_delimiter(lines)
    if delim is None or delim == " " or delim.isspace() and delim != "\t":
        rows = [ln.split() for ln in lines]
        delim = None
    else:
        try:
            rows = [[t.strip() for t in r] for r in csv.reader(lines, delimiter=delim)]
        except csv.Error as exc:
            raise DataError(f"{fname} is not a well-formed CSV file: {exc}.") from None
        rows = [r for r in rows if any(t for t in r)]
        # a trailing delimiter on every line makes an empty last column: drop it
        if rows and all(r and r[-1] == "" for r in rows):
            rows = [r[:-1] for r in rows]
    if not rows or not any(rows):
        raise DataError(f"{fname} has no data: no line holds a value.")
    return rows, delim


def _has_header(rows: list[list[str]]) -> bool:
    """A first row of names: it has non-numeric cells, and some column whose first-row cell is
    text holds numbers in the rows below (or the row below is numeric apart from an index)."""
    if len(rows) < 2 or all(_is_num(t) for t in rows[0]):
        return False
    body = rows[1:21]
    for j, t in enumerate(rows[0]):
        if t.strip() and not _is_num(t) and all(j < len(r) and _is_num(r[j]) and r[j].strip()
                                                for r in body):
            return True
    return False


def _ragged_error(rows: list[list[str]], fname: str, start: int = 0) -> None:
    lens = [len(r) for r in rows]
    ref = Counter(lens).most_common(1)[0][0]
    bad = next(i for i, n in enumerate(lens) if n != ref)
    n_bad = sum(1 for n in lens if n != ref)
    raise DataError(
        f"{fname} is ragged: line {bad + 1 + start} has {_plural(lens[bad], 'value')} but most "
        f"lines have {ref} ({_plural(n_bad, 'line')} differ{'s' if n_bad == 1 else ''}). "
        "Every row of a matrix needs the same number of values; check the delimiter, "
        "quoting, and missing cells (write NaN or leave the cell empty between delimiters)."
    )


def _parse_table(data: bytes, fname: str, *, delimiter=None, header=None, index_col=None
                 ) -> tuple[list[list[str]], list[str] | None, list[str] | None, str | None]:
    """→ (body tokens, column names, row names, delimiter)."""
    text = _decode(data, fname)
    rows, delim = _tokenize(text, delimiter, fname)
    if header is None:
        header = _has_header(rows)
    col_names = None
    if header:
        col_names = rows[0]
        rows = rows[1:]
        if not rows:
            raise DataError(f"{fname} only has a header line and no data rows.")
    lens = {len(r) for r in rows}
    if col_names is not None and len(col_names) == (max(lens) if lens else 0) - 1:
        col_names = [""] + col_names  # header without a cell for the index column
    if len(lens) > 1:
        _ragged_error(rows, fname, start=1 if header else 0)
    ncol = lens.pop()
    if col_names is not None and len(col_names) != ncol:
        raise DataError(f"{fname} is ragged: the header has {len(col_names)} names but the "
                        f"rows have {ncol} values.")
    if index_col is None:
        first_text = all(not _is_num(r[0]) for r in rows) and ncol >= 2
        empty_corner = col_names is not None and ncol >= 2 and (
            col_names[0].strip() == "" or col_names[0].lower().startswith("unnamed"))
        index_col = first_text or empty_corner
    row_names = None
    if index_col:
        if ncol < 2:
            raise DataError(f"{fname} has a single column; with it as an index column nothing "
                            "is left.")
        row_names = [r[0] for r in rows]
        rows = [r[1:] for r in rows]
        if col_names is not None:
            col_names = col_names[1:]
    return rows, col_names, row_names, delim


def _read_csv(data: bytes, *, name: str, fname: str, kind=None, header=None, index_col=None,
              delimiter=None, text_column=None, label_column=None, max_features=2000,
              min_df=None, max_df=None, column_roles=None, decimal=".", **opts) -> Dataset:
    from ._table import read_table

    if text_column is not None or (kind == "text" and _looks_like_text_table(data, fname)):
        return _read_csv_corpus(data, name=name, fname=fname, header=header,
                                delimiter=delimiter, text_column=text_column,
                                label_column=label_column, max_features=max_features,
                                min_df=min_df, max_df=max_df)
    roles = dict(column_roles or {})
    if label_column is not None:
        roles.setdefault(label_column, "labels")
    t = read_table(data, fname, delimiter=delimiter, header=header, index_col=index_col,
                   decimal=decimal, column_roles=roles)
    what = {None: "whitespace", "\t": "tab"}.get(t.delimiter, repr(t.delimiter))
    used = ", ".join(f"{k!r} as {v.replace('_', ' ')}" for k, v in t.roles.items())
    prov = (f"Read from {fname} ({what}-delimited" + (", header row" if t.header else "")
            + (f"; columns {used}" if used else "") + ").")
    ds = _from_matrix(t.A, name=name, provenance=prov, kind=kind, row_names=t.row_names,
                      col_names=t.col_names,
                      row_labels=None if t.labels is None else (t.labels, t.label_names),
                      **opts)
    meta = dict(ds.meta)
    meta["column_roles"] = dict(t.roles)
    if t.auto:
        meta["notes"] = list(meta.get("notes", [])) + [a[0].upper() + a[1:] + "."
                                                       for a in t.auto]
    return ds.replace(meta=meta)


def _looks_like_text_table(data: bytes, fname: str) -> bool:
    """True if the table's body (after an auto-detected header row and index column) holds
    words: then kind='text' means "a corpus with a text column", not "a counts matrix"."""
    head = data[:65536]
    if len(data) > len(head) and b"\n" in head:
        head = head[:head.rindex(b"\n")]
    try:
        rows, _, _, _ = _parse_table(head, fname)
    except DataError:
        return True
    return any(not _is_num(t) for r in rows[:20] for t in r)


def _read_csv_corpus(data: bytes, *, name, fname, header=None, delimiter=None, text_column=None,
                     label_column=None, max_features=2000, min_df=None, max_df=None) -> Dataset:
    from .text import corpus_dataset

    text = _decode(data, fname)
    sample = text[:65536]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
        except csv.Error:
            delimiter = ","
    try:
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    except csv.Error as exc:
        raise DataError(f"{fname} is not a well-formed CSV file: {exc}.") from None
    if not rows:
        raise DataError(f"The corpus is empty: {fname} has no rows.")
    names = rows[0]
    if header is None:
        header = isinstance(text_column, str) or (
            len(rows) > 1 and any(n.strip().lower() in ("text", "document", "body", "content")
                                  for n in names))
    body = rows[1:] if header else rows

    def col_index(col, what):
        if col is None:
            return None
        if isinstance(col, str) and not col.lstrip("-").isdigit():
            if not header or col not in names:
                raise DataError(f"{what} {col!r} is not a column of {fname}; columns: "
                                + ", ".join(repr(n) for n in names[:20]) + ".",
                                fixes=[f"{what}={n!r}" for n in names[:5]])
            return names.index(col)
        c = int(col)
        if not (0 <= c < len(names)):
            raise DataError(f"{what}={c} is out of range: {fname} has {len(names)} columns.")
        return c

    tc = col_index(text_column, "text_column")
    if tc is None:  # kind="text" without text_column: pick the longest-text column
        lengths = Counter()
        for r in body[:200]:
            for j, t in enumerate(r):
                lengths[j] += len(t)
        tc = lengths.most_common(1)[0][0] if lengths else 0
    lc = col_index(label_column, "label_column")
    docs = [r[tc] if tc < len(r) else "" for r in body]
    labels = label_names = None
    if lc is not None:
        raw = [r[lc] if lc < len(r) else "" for r in body]
        label_names = sorted(set(raw))
        labels = np.array([label_names.index(x) for x in raw])
    cname = names[tc] if header else f"column {tc + 1}"
    return corpus_dataset(docs, name=name, labels=labels, label_names=label_names,
                          provenance=f"Corpus from {fname}, text column {cname!r}, one "
                          "document per row.", max_features=max_features, min_df=min_df,
                          max_df=max_df)


# ==================================================================================== TXT
def _read_txt(data: bytes, *, name: str, fname: str, kind=None, max_features=2000,
              min_df=None, max_df=None, **opts) -> Dataset:
    from .text import corpus_dataset

    text = _decode(data, fname)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    body = [ln for ln in lines if not ln.lstrip().startswith("#")]
    numeric = bool(body) and kind != "text" and all(
        all(_is_num(t) for t in re.split(r"[,;\t ]+", ln.strip()) if t) for ln in body[:200])
    if numeric:
        return _read_csv(data, name=name, fname=fname, kind=kind, **opts)
    if kind not in (None, "text"):
        raise DataError(f"{fname} holds words, not numbers; it can only be read as a text "
                        "corpus (kind='text').", fixes=["kind='text'"])
    if not lines:
        raise DataError(f"The corpus is empty: {fname} has no non-blank lines.")
    return corpus_dataset(lines, name=name, provenance=f"Corpus from {fname}, one document "
                          "per line.", max_features=max_features, min_df=min_df, max_df=max_df)


# ==================================================================================== NPY
def _npy_header(f: io.BytesIO, fname: str) -> tuple[tuple, bool, np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            return fmt.read_array_header_1_0(f)
        if version == (2, 0):
            return fmt.read_array_header_2_0(f)
        return fmt._read_array_header(f, version)  # (3, 0): utf-8 header
    except Exception as exc:
        raise DataError(f"{fname} is not a valid .npy file (bad header: {exc}).") from None


def _read_npy(data: bytes, *, name: str, fname: str, max_bytes=None, **opts) -> Dataset:
    f = io.BytesIO(data)
    shape, fortran, dtype = _npy_header(f, fname)
    if dtype.hasobject:
        raise DataError(
            f"{fname} holds Python objects (a pickled/object array). For safety dnmf loads "
            ".npy files with allow_pickle=False; save a plain numeric array instead, e.g. "
            "np.save(path, X.astype(float)).")
    if len(shape) in (2, 3):
        check_size(shape, None, max_bytes, what=f"The array in {fname}")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - f.tell() < expected:
        raise DataError(f"{fname} is truncated: the header announces {shape} {dtype} "
                        f"({format_bytes(expected)}) but only {format_bytes(len(data) - f.tell())}"
                        " of data follow.")
    f.seek(0)
    try:
        A = np.load(f, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{fname} is not a readable .npy file: its data do not match its "
                        f"header ({type(exc).__name__}); the file is damaged.") from None
    return _from_matrix(A, name=name, provenance=f"Read from {fname}.", max_bytes=max_bytes,
                        **opts)


# ==================================================================================== NPZ
def _read_npz(data: bytes, *, name: str, fname: str, variable=None, max_bytes=None, kind=None,
              **opts) -> Dataset:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # BadZipFile, OSError, ValueError, NotImplementedError, …
        raise DataError(f"{fname} is not a valid .npz/ZIP file ({type(exc).__name__}): it is "
                        "damaged or not an .npz at all.") from None
    headers: dict[str, tuple] = {}
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            try:
                with zf.open(info) as fh:
                    head = io.BytesIO(fh.read(65536 + 16))
                headers[key] = _npy_header(head, f"{fname}:{info.filename}")
            except DataError:
                headers[key] = ((), False, np.dtype(object))
            except Exception as exc:
                raise DataError(f"{fname} is a corrupt .npz file ({info.filename}: "
                                f"{type(exc).__name__}).") \
                    from None
    if not headers:
        raise DataError(f"{fname} holds no arrays (.npy members).")
    keys = set(headers)
    if {"data", "indices", "indptr", "format", "shape"} <= keys:  # scipy.sparse.save_npz
        try:
            S = sp.load_npz(io.BytesIO(data))
        except Exception as exc:
            raise DataError(f"{fname} looks like a scipy sparse .npz but cannot be read "
                            f"({type(exc).__name__}): it is damaged."
                            ) from None
        return _from_matrix(S, name=name, provenance=f"Sparse matrix read from {fname}.",
                            kind=kind, max_bytes=max_bytes, **opts)
    if {"vocabulary", "indptr", "labels_module"} <= keys:  # dnmf's own text sample format
        from .text import load_text_npz

        try:
            return load_text_npz(io.BytesIO(data)).replace(name=name)
        except Exception as exc:
            raise DataError(f"{fname} looks like a dnmf text corpus but is corrupt: {exc}."
                            ) from None

    def numeric_matrix(h):
        shape, _, dt = h
        return (not dt.hasobject and dt.kind in "biuf" and len(shape) in (2, 3)
                and min(shape) >= 2)

    cands = [k for k in sorted(keys) if numeric_matrix(headers[k])]
    if variable is not None:
        if variable not in keys:
            raise DataError(f"{fname} has no array {variable!r}; arrays: "
                            + _describe(headers) + ".",
                            fixes=[f"variable={k!r}" for k in cands])
        chosen = variable
    elif len(cands) == 1:
        chosen = cands[0]
    elif not cands:
        raise DataError(f"{fname} holds no numeric 2-D matrix; arrays: {_describe(headers)}.")
    else:
        raise DataError(f"{fname} holds several matrices; choose one with variable=: "
                        f"{_describe({k: headers[k] for k in cands})}.",
                        fixes=[f"variable={k!r}" for k in cands])
    if headers[chosen][2].hasobject:
        raise DataError(f"Array {chosen!r} in {fname} holds Python objects (pickled); dnmf "
                        "loads with allow_pickle=False. Save plain numeric arrays.")
    shape = headers[chosen][0]
    if len(shape) in (2, 3):
        check_size(shape, None, max_bytes, what=f"Array {chosen!r}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            A = z[chosen]
            extras = {}
            for k in ("vocabulary", "words", "documents", "labels", "label_names", "names",
                      "sample_names", "feature_names", "wavelengths", "image_shape"):
                if k in keys and k != chosen and not headers[k][2].hasobject:
                    extras[k] = z[k]
    except Exception as exc:
        raise DataError(f"{fname}: array {chosen!r} cannot be read: the archive is damaged "
                        f"({type(exc).__name__}).") from None
    img = opts.pop("image_shape", None)
    if img is None and "image_shape" in extras and extras["image_shape"].size == 2:
        img = tuple(int(v) for v in extras["image_shape"].ravel())
    ds = _from_matrix(A, name=name, provenance=f"Array {chosen!r} read from {fname}.",
                      kind=kind, image_shape=img, max_bytes=max_bytes, **opts)
    return _attach_extras(ds, extras)


def _attach_extras(ds: Dataset, extras: dict[str, np.ndarray]) -> Dataset:
    """Keep what an .npz holds beside its matrix; say (in ``meta["notes"]``) what does not
    fit instead of dropping it silently."""
    changes: dict[str, Any] = {}
    notes: list[str] = []
    meta = dict(ds.meta)
    m, n = ds.shape
    voc = extras.get("vocabulary", extras.get("words"))
    if voc is not None and ds.kind == "text" and voc.size == m and voc.dtype.kind in "US":
        changes["vocabulary"] = [str(s) for s in voc.ravel()]
    docs = extras.get("documents")
    if docs is not None and ds.kind == "text" and docs.size == n and docs.dtype.kind in "US":
        changes["documents"] = [str(s) for s in docs.ravel()]
    lab = extras.get("labels")
    if lab is not None:
        lab = lab.ravel()
        if lab.size != ds.n_samples:
            notes.append(f"The file's labels ({lab.size}) do not match the {ds.n_samples} "
                         "samples; they were not used.")
        elif lab.dtype.kind in "iub":
            changes["labels"] = lab.astype(np.int64)
        elif lab.dtype.kind in "US":
            classes = sorted(set(lab.tolist()))
            changes["labels"] = np.array([classes.index(x) for x in lab.tolist()])
            changes["label_names"] = [str(c) for c in classes]
        else:
            notes.append("The file's labels are not integers or names; they were not used.")
        lnames = extras.get("label_names")
        if "labels" in changes and lnames is not None and lnames.dtype.kind in "US":
            changes["label_names"] = [str(s) for s in lnames.ravel()]
    names = extras.get("sample_names", extras.get("names"))
    if names is not None and names.dtype.kind in "US":
        if ds.kind == "generic" and names.size == ds.n_samples:
            meta["sample_names"] = [str(s) for s in names.ravel()]
        elif ds.kind == "text" and names.size == n and "documents" not in changes:
            changes["documents"] = [str(s) for s in names.ravel()]
        else:
            notes.append(f"The file's names ({names.size}) do not match the {ds.n_samples} "
                         "samples; they were not used.")
    feats = extras.get("feature_names")
    if feats is not None and feats.dtype.kind in "US" and ds.kind == "generic" \
            and feats.size == ds.n_features:
        meta["feature_names"] = [str(s) for s in feats.ravel()]
    wl = extras.get("wavelengths")
    if wl is not None and ds.kind == "spectra" and wl.size == m and wl.dtype.kind in "iuf":
        changes["wavelengths"] = wl.ravel().astype(float)
    if notes:
        meta["notes"] = [*meta.get("notes", []), *notes]
    if meta != ds.meta:
        changes["meta"] = meta
    return ds.replace(**changes) if changes else ds


def _describe(headers: dict[str, tuple]) -> str:
    parts = []
    for k, (shape, _, dt) in headers.items():
        kind = "object (pickled)" if dt.hasobject else str(dt)
        parts.append(f"{k} {'×'.join(str(s) for s in shape) or 'scalar'} {kind}")
    return ", ".join(parts)


# ==================================================================================== MAT
_MAT_NUMERIC = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32",
                "int64", "uint64", "sparse", "logical"}


def _read_mat(data: bytes, *, name: str, fname: str, variable=None, paper_words=False,
              max_bytes=None, kind=None, **opts) -> Dataset:
    from .paper import build_known, detect_known

    shapes, classes, loadmat = _mat_variables(data, fname)
    if not shapes:
        raise DataError(f"{fname} is a .mat file without any variable.")

    def is_matrix(k):
        shp = shapes[k]
        return classes[k] in _MAT_NUMERIC and len(shp) == 2 and min(shp) >= 2

    known = detect_known(shapes) if variable is None else None
    cands = [k for k in shapes if is_matrix(k)]
    if known is None:
        if variable is not None:
            if variable not in shapes:
                raise DataError(f"{fname} has no variable {variable!r}; variables: "
                                + _describe_mat(shapes, classes) + ".",
                                fixes=[f"variable={k!r}" for k in cands])
            if not is_matrix(variable):
                raise DataError(f"Variable {variable!r} in {fname} is not a numeric 2-D "
                                f"matrix ({_describe_mat({variable: shapes[variable]}, classes)}"
                                ").", fixes=[f"variable={k!r}" for k in cands if k != variable])
            chosen = variable
        elif len(cands) == 1:
            chosen = cands[0]
        elif not cands:
            raise DataError(f"{fname} holds no numeric 2-D matrix; variables: "
                            f"{_describe_mat(shapes, classes)}.")
        else:
            raise DataError(f"{fname} holds several matrices; choose one with variable=: "
                            f"{_describe_mat({k: shapes[k] for k in cands}, classes)}.",
                            fixes=[f"variable={k!r}" for k in cands])
        if classes[chosen] != "sparse":
            check_size(shapes[chosen], None, max_bytes, what=f"Variable {chosen!r}")
        wanted = [chosen] + [k for k in ("nRow", "nCol", "maxValue") + _VOCAB_NAMES
                             if k in shapes and k != chosen]
    else:
        wanted = None
    try:
        v = loadmat(wanted)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{fname} is a corrupt or malformed .mat file ({type(exc).__name__}: "
                        f"{exc}).") from None
    if known is not None:
        missing = [k for k in shapes if k not in v]
        if missing:  # pragma: no cover - whosmat listed it
            raise DataError(f"{fname} is malformed: variables {missing} cannot be read.")
        return build_known(known, v, paper_words=paper_words, source=fname)
    A = v[chosen]
    if not (sp.issparse(A) or (isinstance(A, np.ndarray) and A.dtype.kind in "biuf")):
        raise DataError(f"Variable {chosen!r} in {fname} is not numeric.")
    prov = f"Variable {chosen!r} read from {fname}."
    nrow = ncol = None
    if "nRow" in v and "nCol" in v:
        try:
            nrow = int(np.asarray(v["nRow"]).ravel()[0])
            ncol = int(np.asarray(v["nCol"]).ravel()[0])
        except (IndexError, TypeError, ValueError):
            nrow = ncol = None
    if "maxValue" in v and not sp.issparse(A) and A.dtype.kind in "iu":
        try:
            mx = float(np.asarray(v["maxValue"]).ravel()[0])
            if mx > 0:
                A = A.astype(np.float64) / mx
                prov += f" Divided by maxValue={mx:g}."
        except (IndexError, TypeError, ValueError):
            pass
    if nrow and ncol and A.shape[1] == nrow * ncol and kind in (None, "spectra") \
            and opts.get("samples_as") is None:
        kind = "spectra"
        if opts.get("image_shape") is None:
            opts["image_shape"] = (nrow, ncol)
        prov += f" nRow×nCol = {nrow}×{ncol} pixels (MATLAB column-major order)."
    ds = _from_matrix(A, name=name, provenance=prov, kind=kind, default_order="F",
                      max_bytes=max_bytes, **opts)
    if ds.kind == "text":
        from .paper import _cellstr

        for k in _VOCAB_NAMES:
            if k in v:
                try:
                    words = _cellstr(v[k])
                except Exception:  # not a cell/char array of words
                    continue
                if len(words) == ds.shape[0]:
                    ds = ds.replace(vocabulary=words,
                                    provenance=ds.provenance + f" Vocabulary from {k!r}.")
                    break
    return ds


_VOCAB_NAMES = ("vocab", "vocabulary", "words", "word_list", "terms")


def is_mat73(data: bytes) -> bool:
    """True for a MATLAB v7.3 file (HDF5 with MATLAB's 512-byte text header)."""
    return data[:10] == b"MATLAB 7.3" or (len(data) > 520 and data[512:520] == b"\x89HDF\r\n\x1a\n")


def _mat_variables(data: bytes, fname: str):
    """``({variable: shape}, {variable: MATLAB class}, load)`` of a .mat file, v5 or v7.3;
    ``load(names or None)`` returns ``{variable: value}`` as ``scipy.io.loadmat`` would
    (numeric arrays in MATLAB's shape, sparse as scipy.sparse, cells as object arrays)."""
    if is_mat73(data):
        return _mat73_variables(data, fname)
    from scipy.io import loadmat, whosmat

    try:
        listing = whosmat(io.BytesIO(data))
    except Exception as exc:
        raise DataError(f"{fname} is not a readable MATLAB v5 .mat file (corrupt or "
                        f"malformed: {type(exc).__name__}: {exc}).") from None
    shapes = {n: tuple(int(s) for s in shp) for n, shp, _ in listing}
    classes = {n: c for n, _, c in listing}
    return shapes, classes, lambda names: loadmat(io.BytesIO(data), variable_names=names)


def _h5_class(obj) -> str:
    c = obj.attrs.get("MATLAB_class", b"")
    return c.decode("ascii", "replace") if isinstance(c, bytes) else str(c)


def _mat73_variables(data: bytes, fname: str):
    """MATLAB v7.3 through h5py. HDF5 stores MATLAB's column-major arrays with their axes
    reversed, so every array is transposed back to MATLAB's shape."""
    import h5py

    try:
        f = h5py.File(io.BytesIO(data), "r")
        items = [(k, f[k]) for k in f.keys() if not k.startswith("#")]
    except Exception as exc:
        raise DataError(f"{fname} is not a readable MATLAB v7.3 (HDF5) file (corrupt or "
                        f"malformed: {type(exc).__name__}).") from None
    shapes: dict[str, tuple] = {}
    classes: dict[str, str] = {}
    for k, obj in items:
        cls = _h5_class(obj)
        if isinstance(obj, h5py.Group):
            if cls and "MATLAB_sparse" in obj.attrs and "jc" in obj:
                classes[k] = "sparse"
                shapes[k] = (int(obj.attrs["MATLAB_sparse"]), int(obj["jc"].shape[0]) - 1)
            else:
                classes[k], shapes[k] = cls or "struct", (1, 1)
        elif isinstance(obj, h5py.Dataset):
            classes[k] = cls or "double"
            empty = "MATLAB_empty" in obj.attrs and bool(np.asarray(obj.attrs["MATLAB_empty"]
                                                                    ).any())
            shapes[k] = (0, 0) if empty else tuple(int(n) for n in reversed(obj.shape))

    def text(obj) -> str:
        a = np.asarray(obj[()]).T.ravel(order="F")
        return "".join(chr(int(c)) for c in a)

    def value(k: str):
        obj, cls = f[k], classes[k]
        if cls == "sparse":
            g = obj
            vals = np.asarray(g["data"][()]) if "data" in g else np.ones(len(g["ir"]))
            return sp.csc_matrix((vals, np.asarray(g["ir"][()]), np.asarray(g["jc"][()])),
                                 shape=shapes[k])
        if cls == "char":
            return np.array([text(obj)])
        if cls == "cell":
            refs = np.asarray(obj[()]).T
            out = np.empty(refs.shape, dtype=object)
            for idx in np.ndindex(refs.shape):
                item = f[refs[idx]]
                out[idx] = (np.array([text(item)]) if _h5_class(item) == "char"
                            else np.asarray(item[()]).T)
            return out
        if isinstance(obj, h5py.Group):  # struct, function handle, object: not a matrix
            return np.array([], dtype=object)
        a = np.asarray(obj[()])
        if a.dtype.names:  # complex numbers are stored as a compound (real, imag)
            a = a["real"] + 1j * a["imag"] if {"real", "imag"} <= set(a.dtype.names) else a
        return a.T

    def load(names):
        try:
            return {k: value(k) for k in (names if names is not None else shapes)}
        except Exception as exc:
            raise DataError(f"{fname} is a corrupt or malformed MATLAB v7.3 file "
                            f"({type(exc).__name__}).") from None

    return shapes, classes, load


def _describe_mat(shapes: dict, classes: dict) -> str:
    return ", ".join(f"{k} {'×'.join(str(s) for s in shp)} {classes.get(k, '')}".rstrip()
                     for k, shp in shapes.items())


# ==================================================================================== ZIP
def _read_zip(data: bytes, *, name: str, fname: str, kind=None, max_features=2000, min_df=None,
              max_df=None, image_shape=None, on_bad_image="error", **opts) -> Dataset:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as exc:  # BadZipFile, OSError, ValueError, NotImplementedError, …
        raise DataError(f"{fname} is not a valid ZIP archive ({type(exc).__name__}): it is "
                        "damaged or not a ZIP at all.") from None
    members = [i for i in infos if not i.is_dir() and "__MACOSX" not in i.filename
               and not os.path.basename(i.filename).startswith(".")]
    if members and all(i.filename.endswith(".npy") for i in members):
        return _read_npz(data, name=name, fname=fname, kind=kind, image_shape=image_shape,
                         **opts)
    total = sum(i.file_size for i in members)
    if total > MAX_UNZIPPED_BYTES:
        raise DataError(f"{fname} unpacks to {format_bytes(total)}; the limit is "
                        f"{format_bytes(MAX_UNZIPPED_BYTES)}.")
    members.sort(key=lambda i: i.filename)
    texts = [i for i in members if i.filename.lower().endswith(TEXT_EXTS)]
    images = [i for i in members if i.filename.lower().endswith(IMAGE_EXTS)]
    if not texts and not images:
        found = ", ".join(sorted({Path(i.filename).suffix or "(none)" for i in members}))
        raise DataError(f"{fname} contains no .txt documents and no images "
                        f"({', '.join(IMAGE_EXTS)}); found: {found or 'nothing'}.")
    try:
        if kind == "text" or (texts and len(texts) >= len(images) and kind != "images"):
            return _zip_corpus(zf, texts, name=name, fname=fname, max_features=max_features,
                               min_df=min_df, max_df=max_df)
        return _zip_images(zf, images, name=name, fname=fname, image_shape=image_shape,
                           on_bad_image=on_bad_image, kind=kind)
    except DataError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError,
            RuntimeError, ValueError, UnicodeDecodeError) as exc:
        # RuntimeError: encrypted members; NotImplementedError: an unsupported ZIP version or
        # compression; ValueError: a damaged header (negative offsets); zlib errors surface as
        # BadZipFile/OSError
        raise DataError(f"{fname} is a corrupt ZIP archive ({type(exc).__name__}): its "
                        "members cannot be read.") from None


def _zip_corpus(zf, texts, *, name, fname, max_features, min_df, max_df) -> Dataset:
    from .text import corpus_dataset

    docs, titles = [], []
    for i in texts:
        raw = zf.read(i)
        docs.append(_decode(raw, i.filename) if b"\x00" not in raw[:4096] else "")
        titles.append(os.path.basename(i.filename))
    if not docs:
        raise DataError(f"The corpus is empty: {fname} holds no .txt documents.")
    return corpus_dataset(docs, name=name, titles=titles, provenance=f"Corpus from {fname}: "
                          f"{len(docs)} .txt files, one document per file (sorted by name).",
                          max_features=max_features, min_df=min_df, max_df=max_df)


def _to_gray(img: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float

    a = np.asarray(img)
    if a.dtype == bool:
        a = a.astype(np.float64)
    if a.ndim == 4:  # animated GIF / multi-page TIFF: first frame
        a = a[0]
    if a.ndim == 3 and a.shape[-1] not in (1, 2, 3, 4) and a.shape[0] <= 4:
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] not in (1, 2, 3, 4):
        a = a[0]  # multi-frame grey stack: first frame
    if a.dtype.kind in "iu" or a.dtype.kind == "f" and a.dtype != np.float64:
        a = img_as_float(a)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3:
        c = a.shape[-1]
        if c == 4:
            a = rgb2gray(rgba2rgb(a))
        elif c == 3:
            a = rgb2gray(a)
        else:
            a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"unexpected image array of shape {a.shape}")
    return a


def _read_image_bytes(b: bytes, label: str) -> np.ndarray:
    import warnings

    import imageio.v3 as iio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = iio.imread(b, extension=Path(label).suffix.lower() or None)
    except Exception:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = iio.imread(b)
        except Exception as exc:
            raise DataError(f"Cannot read the image {label!r} ({type(exc).__name__}): it is "
                            "corrupt or not an image format dnmf reads (PNG, JPEG, BMP, GIF, "
                            "TIFF).") from None
    try:
        return _to_gray(img)
    except Exception as exc:
        raise DataError(f"Cannot convert the image {label!r} to grey levels: {exc}.") from None


def _zip_images(zf, images, *, name, fname, image_shape, on_bad_image, kind) -> Dataset:
    from skimage.transform import resize

    pics, titles, skipped = [], [], []
    for i in images:
        try:
            pics.append(_read_image_bytes(zf.read(i), i.filename))
            titles.append(os.path.basename(i.filename))
        except DataError as err:
            if on_bad_image == "skip":
                skipped.append(i.filename)
                continue
            raise DataError(str(err) + f" (in {fname}) Skip unreadable images with "
                            "on_bad_image='skip'.", fixes=["on_bad_image='skip'"]) from None
    if len(pics) < 2:
        raise DataError(f"{fname} holds {len(pics)} readable image(s); NMF needs at least 2 "
                        "images.")
    shapes = Counter(p.shape for p in pics)
    target = tuple(image_shape) if image_shape is not None else shapes.most_common(1)[0][0]
    if target[0] * target[1] * len(pics) * 8 > 2 * 1024**3:
        raise DataError(f"{len(pics)} images of {target[0]}×{target[1]} pixels are too large; "
                        "give a smaller image_shape=(h, w).", fixes=["image_shape=(64, 64)"])
    n_resized = 0
    rows = []
    for p in pics:
        if p.shape != target:
            p = resize(p, target, anti_aliasing=True, preserve_range=True)
            n_resized += 1
        rows.append(p.reshape(-1))
    X = np.stack(rows)
    prov = (f"{len(pics)} images from {fname} (sorted by name), converted to grey levels in "
            f"[0, 1] and {'resized' if n_resized else 'all'} to {target[0]}×{target[1]}"
            + (f" ({n_resized} resized)" if n_resized else "") + "; one image per row, C "
            "pixel order." + (f" Skipped {len(skipped)} unreadable: "
                              + ", ".join(skipped[:5]) if skipped else ""))
    return Dataset(X=X, kind="images", name=name, image_shape=target, pixel_order="C",
                   provenance=prov, meta={"files": titles, "skipped": skipped})


def _read_image(data: bytes, *, name: str, fname: str, kind=None, **opts) -> Dataset:
    img = _read_image_bytes(data, fname)
    if kind != "generic":
        raise DataError(
            f"{fname} is a single image — one sample. Upload a ZIP of images (one sample "
            "each), or pass kind='generic' to factorise this picture's pixel matrix itself.",
            fixes=["kind='generic'"])
    return _from_matrix(img, name=name, kind="generic",
                        provenance=f"Grey levels of the single image {fname} as a "
                        f"{img.shape[0]}×{img.shape[1]} matrix.", **opts)


_READERS = {
    "csv": _read_csv,
    "txt": _read_txt,
    "npy": _read_npy,
    "npz": _read_npz,
    "mat": _read_mat,
    "zip": _read_zip,
    "image": _read_image,
}
