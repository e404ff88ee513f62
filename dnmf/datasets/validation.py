"""Turn any matrix into a clean nonnegative float64 matrix, or one clear `DataError`.

`validate_matrix` is shared by the readers, the solver and the app. It checks, in this order:

1. it is a numeric 2-D matrix (not a scalar, not a 1-D vector, not text or objects);
2. its size fits `max_bytes` (default ``MAX_MATRIX_BYTES`` = 2 GiB as dense float64; sparse
   matrices are measured as CSR: nnz·12 + (rows+1)·4 bytes);
3. NaN / ±inf entries      → ``on_nonfinite="error" | "drop" | "zero"``;
4. negative entries        → ``on_negative="error" | "clip" | "shift"``;
5. all-zero rows / columns → ``drop_empty=False | True``;
6. at least 2 rows and 2 columns remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._types import MAX_MATRIX_BYTES, DataError, format_bytes

ON_NEGATIVE = ("error", "clip", "shift")
ON_NONFINITE = ("error", "drop", "zero")


@dataclass
class ValidationInfo:
    """What `validate_matrix` did: which rows/columns of the input were kept, and counts."""

    rows: np.ndarray
    cols: np.ndarray
    n_nonfinite: int = 0
    n_negative: int = 0
    shift: float = 0.0
    notes: list[str] = field(default_factory=list)


def _plural(n: int, word: str) -> str:
    """_plural(1, "row") → "1 row"; _plural(3, "row") → "3 rows"; "entry" → "entries"."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def matrix_nbytes(shape: tuple[int, ...], nnz: int | None = None) -> int:
    """Bytes of a float64 matrix of this shape: dense m·n·8, or CSR nnz·12 + (m+1)·4."""
    if nnz is None:
        return int(np.prod([int(s) for s in shape], dtype=np.float64) * 8)
    return int(nnz) * 12 + (int(shape[0]) + 1) * 4


def check_size(shape: tuple[int, ...], nnz: int | None = None, max_bytes: int | None = None,
               what: str = "The matrix") -> None:
    """Raise DataError when a matrix of this shape (and nnz, for sparse) exceeds max_bytes."""
    limit = MAX_MATRIX_BYTES if max_bytes is None else int(max_bytes)
    size = matrix_nbytes(shape, nnz)
    if size > limit:
        dims = " × ".join(str(int(s)) for s in shape)
        how = "as dense float64" if nnz is None else f"as sparse CSR with {nnz} nonzeros"
        raise DataError(
            f"{what} is too large for this machine: {dims} takes {format_bytes(size)} {how}; "
            f"the limit is {format_bytes(limit)} (dnmf.datasets.MAX_MATRIX_BYTES = 2 GiB by "
            "default). Crop or subsample it, or store it as a sparse matrix if it is mostly zeros."
        )


def _as_numeric(X: Any) -> Any:
    """ndarray/sparse float64 from anything array-like, or DataError."""
    if sp.issparse(X):
        if X.dtype.kind == "c":
            raise DataError("The matrix has complex entries; NMF needs real nonnegative numbers. "
                            "Take the modulus (abs) first.")
        if X.dtype.kind not in "biuf":
            raise DataError(f"The sparse matrix has non-numeric dtype {X.dtype}.")
        return X
    if isinstance(X, (str, bytes)):
        raise DataError("Expected a numeric matrix, got text. Not a matrix.")
    try:
        A = np.asarray(X)
    except Exception as exc:  # ragged nested lists etc.
        raise DataError(f"This is not a matrix (could not form a rectangular array: {exc}). "
                        "Check that every row has the same number of values.") from None
    if A.dtype.hasobject:
        try:
            A = A.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError("This is not a numeric matrix: it holds objects or text "
                            "(e.g. strings, lists of different lengths).") from None
    if A.dtype.kind == "c":
        raise DataError("The matrix has complex entries; NMF needs real nonnegative numbers. "
                        "Take the modulus (abs) first.")
    if A.dtype.kind in "US":
        try:
            A = A.astype(np.float64)
        except ValueError:
            raise DataError("This is not a numeric matrix: it holds text that is not numbers."
                            ) from None
    if A.dtype.kind == "V" or A.dtype.names is not None:
        raise DataError("This is a structured/record array, not a plain numeric matrix; pick "
                        "one numeric field.")
    if A.dtype.kind not in "biuf":
        raise DataError(f"This is not a numeric matrix (dtype {A.dtype}).")
    return A


def _check_ndim(shape: tuple[int, ...]) -> None:
    if len(shape) == 0:
        raise DataError("This is a single number (a scalar), not a matrix. NMF needs a 2-D "
                        "matrix with at least 2 rows and 2 columns.")
    if len(shape) == 1:
        raise DataError(f"This is a 1-D vector of length {shape[0]}, not a matrix. NMF needs a "
                        "2-D matrix with at least 2 rows and 2 columns (reshape it, or load "
                        "several samples).")
    if len(shape) > 2:
        raise DataError(f"This is a {len(shape)}-D array of shape {shape}, not a matrix. "
                        "Reshape it to 2-D (e.g. images × pixels).")


def _check_min_shape(shape: tuple[int, int], what: str = "") -> None:
    m, n = shape
    if m == 0 or n == 0:
        raise DataError(f"The matrix is empty ({m} × {n}){what}. Nothing to factorise.")
    if m < 2 or n < 2:
        which = "a single row" if m < 2 else "a single column"
        raise DataError(f"The matrix is {m} × {n} — {which}{what}. NMF needs at least 2 rows "
                        "and 2 columns (several samples and several features).")


def validate_matrix(
    X: Any,
    *,
    on_negative: str = "error",
    on_nonfinite: str = "error",
    drop_empty: bool = False,
    max_bytes: int | None = None,
    sample_axis: int = 0,
    keep_empty: str | None = None,
    return_info: bool = False,
    copy: bool = True,
) -> Any:
    """Return X as a clean float64 matrix (dense ndarray or CSR), or raise `DataError`.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix.
    on_negative : "error" (default) raises with fixes; "clip" sets negatives to 0; "shift"
        subtracts the global minimum (densifies a sparse matrix).
    on_nonfinite : "error" (default); "drop" removes the *samples* (along ``sample_axis``)
        that contain NaN/inf; "zero" replaces NaN/inf by 0.
    drop_empty : False (default) raises if a row or column is all zeros; True drops them.
    max_bytes : size limit (default ``MAX_MATRIX_BYTES`` = 2 GiB as dense float64; sparse by
        CSR size).
    sample_axis : 0 if samples are rows, 1 if columns (only used by ``on_nonfinite="drop"``).
    keep_empty : None (default), "rows" or "columns": an axis whose all-zero lines are
        legitimate and kept (e.g. the blank corner pixels of an image grid).
    return_info : also return a `ValidationInfo` with the kept row/column indices.
    copy : if False, may return the input itself when nothing needs changing.
    """
    if on_negative not in ON_NEGATIVE:
        raise DataError(f"on_negative must be one of {ON_NEGATIVE}, got {on_negative!r}.")
    if on_nonfinite not in ON_NONFINITE:
        raise DataError(f"on_nonfinite must be one of {ON_NONFINITE}, got {on_nonfinite!r}.")
    A = _as_numeric(X)
    _check_ndim(A.shape)
    check_size(A.shape, A.nnz if sp.issparse(A) else None, max_bytes)
    _check_min_shape(A.shape)
    m, n = A.shape
    info = ValidationInfo(rows=np.arange(m), cols=np.arange(n))

    if sp.issparse(A):
        A = sp.csr_matrix(A, dtype=np.float64, copy=copy)
        A.sum_duplicates()
        vals = A.data
    else:
        A = np.array(A, dtype=np.float64, copy=copy or A.dtype != np.float64)
        if not A.flags.writeable:
            A = A.copy()
        vals = A

    # ---- non-finite values
    bad = ~np.isfinite(vals)
    n_bad = int(bad.sum())
    if n_bad:
        info.n_nonfinite = n_bad
        if on_nonfinite == "error":
            if sp.issparse(A):
                r = int(np.repeat(np.arange(m), np.diff(A.indptr))[np.argmax(bad)])
                c = int(A.indices[np.argmax(bad)])
            else:
                r, c = (int(i) for i in np.argwhere(bad)[0])
            n_nan = int(np.isnan(vals).sum())
            raise DataError(
                f"The matrix has {_plural(n_bad, 'non-finite entry')} ({n_nan} NaN/missing, "
                f"{n_bad - n_nan} ±inf), the first at row {r + 1}, column {c + 1}. Drop the "
                "samples that contain them (on_nonfinite='drop') or replace them by 0 "
                "(on_nonfinite='zero').",
                fixes=["on_nonfinite='drop'", "on_nonfinite='zero'"],
            )
        if on_nonfinite == "zero":
            vals[bad] = 0.0
            if sp.issparse(A):
                A.eliminate_zeros()
            info.notes.append(f"replaced {n_bad} NaN/inf entries by 0")
        else:  # drop samples
            if sp.issparse(A):
                rows_bad = np.repeat(np.arange(m), np.diff(A.indptr))[bad]
                cols_bad = A.indices[bad]
                hit = np.unique(rows_bad if sample_axis == 0 else cols_bad)
            else:
                hit = np.flatnonzero(bad.any(axis=1 - sample_axis))
            keep = np.setdiff1d(np.arange(A.shape[sample_axis]), hit)
            A = A[keep] if sample_axis == 0 else A[:, keep]
            if sample_axis == 0:
                info.rows = info.rows[keep]
            else:
                info.cols = info.cols[keep]
            what = "rows" if sample_axis == 0 else "columns"
            info.notes.append(f"dropped {hit.size} {what} with NaN/inf")
            _check_min_shape(A.shape, " after dropping the samples with NaN/inf")
            vals = A.data if sp.issparse(A) else A

    # ---- negative values
    neg = vals < 0
    n_neg = int(neg.sum())
    if n_neg:
        info.n_negative = n_neg
        vmin = float(vals.min())
        if on_negative == "error":
            raise DataError(
                f"The matrix has {_plural(n_neg, 'negative entry')} (minimum {vmin:.4g}); NMF "
                "needs nonnegative data. Clip them at 0 (on_negative='clip') or shift the whole "
                f"matrix up by {-vmin:.4g} (on_negative='shift').",
                fixes=["on_negative='clip'", "on_negative='shift'"],
            )
        if on_negative == "clip":
            vals[neg] = 0.0
            if sp.issparse(A):
                A.eliminate_zeros()
            info.notes.append(f"clipped {n_neg} negative entries at 0")
        else:
            if sp.issparse(A):
                check_size(A.shape, None, max_bytes, what="The shifted (dense) matrix")
                A = A.toarray()
            with np.errstate(over="ignore"):
                A -= vmin
            if not np.isfinite(A).all():
                raise DataError(
                    f"Shifting by {-vmin:.4g} overflows: the values span more than float64 "
                    "can hold. Clip the negatives instead (on_negative='clip').",
                    fixes=["on_negative='clip'"])
            info.shift = -vmin
            info.notes.append(f"shifted all entries by {-vmin:.4g}")

    # ---- all-zero rows / columns
    with np.errstate(over="ignore"):  # huge entries: an infinite sum is still "not empty"
        if sp.issparse(A):
            absA = abs(A)
            row_mass = np.asarray(absA.sum(axis=1)).ravel()
            col_mass = np.asarray(absA.sum(axis=0)).ravel()
        else:
            row_mass = A.sum(axis=1)
            col_mass = A.sum(axis=0)
    zr = np.flatnonzero(row_mass <= 0) if keep_empty != "rows" else np.empty(0, int)
    zc = np.flatnonzero(col_mass <= 0) if keep_empty != "columns" else np.empty(0, int)
    if zr.size or zc.size:
        if not drop_empty:
            parts = []
            if zr.size:
                parts.append(f"{_plural(zr.size, 'all-zero row')} (e.g. row {zr[0] + 1})")
            if zc.size:
                parts.append(f"{_plural(zc.size, 'all-zero column')} (e.g. column {zc[0] + 1})")
            raise DataError(
                "The matrix has " + " and ".join(parts) + "; they carry no information and "
                "make the β-divergence updates divide by zero. Drop them (drop_empty=True).",
                fixes=["drop_empty=True"],
            )
        kr = np.setdiff1d(np.arange(A.shape[0]), zr)
        kc = np.setdiff1d(np.arange(A.shape[1]), zc)
        A = A[kr][:, kc]
        info.rows = info.rows[kr]
        info.cols = info.cols[kc]
        info.notes.append(f"dropped {zr.size} all-zero rows and {zc.size} all-zero columns")
        _check_min_shape(A.shape, " after dropping all-zero rows and columns")
        # dropping rows can empty columns only if they were empty already: one pass suffices

    if sp.issparse(A):
        A = sp.csr_matrix(A)
        A.sort_indices()
    else:
        A = np.ascontiguousarray(A) if not A.flags.f_contiguous else A
    return (A, info) if return_info else A


def _subset(seq: Any, idx: np.ndarray) -> Any:
    if seq is None:
        return None
    if isinstance(seq, np.ndarray):
        return seq[idx]
    return [seq[i] for i in idx]


def validate_dataset(
    ds: Any,
    *,
    on_negative: str = "error",
    on_nonfinite: str = "error",
    drop_empty: bool = False,
    max_bytes: int | None = None,
) -> Any:
    """Validate ``ds.X`` with `validate_matrix` and keep the metadata consistent.

    Rows/columns dropped from X are dropped from the vocabulary, documents, labels and
    wavelengths too. The pixel axis of an image grid (columns of images and spectra with an
    ``image_shape``) is never dropped: all-zero pixels there are legitimate (a blank border,
    a dark pixel) and are kept; samples with NaN/inf cannot be dropped from a grid either
    (use ``on_nonfinite='zero'``).
    """
    from ._types import Dataset  # local: avoid an import cycle in type checkers

    assert isinstance(ds, Dataset)
    grid = ds.image_shape is not None
    axis = ds.sample_axis
    if grid and on_nonfinite == "drop" and axis == 1:
        raise DataError(
            "Cannot drop pixels with NaN/inf from an image grid (the abundance maps would lose "
            "their shape); replace them by 0 instead (on_nonfinite='zero').",
            fixes=["on_nonfinite='zero'"],
        )
    X, info = validate_matrix(
        ds.X,
        on_negative=on_negative,
        on_nonfinite=on_nonfinite,
        drop_empty=drop_empty,
        max_bytes=max_bytes,
        sample_axis=axis,
        keep_empty="columns" if grid else None,
        return_info=True,
        copy=False,
    )
    m0, n0 = ds.X.shape
    rows_changed = info.rows.size != m0
    cols_changed = info.cols.size != n0
    changes: dict[str, Any] = {"X": X}
    if rows_changed:
        changes["vocabulary"] = _subset(ds.vocabulary, info.rows)
        changes["wavelengths"] = _subset(ds.wavelengths, info.rows)
        if axis == 0:
            changes["labels"] = _subset(ds.labels, info.rows)
    if cols_changed:
        changes["documents"] = _subset(ds.documents, info.cols)
        if axis == 1:
            changes["labels"] = _subset(ds.labels, info.cols)
    if rows_changed or cols_changed or info.notes:
        meta = dict(ds.meta)
        # generic tables name their samples and features (rows and columns when axis is 0)
        for key, rows_key in (("sample_names", axis == 0), ("feature_names", axis == 1)):
            if meta.get(key) is not None:
                kept, changed = (info.rows, rows_changed) if rows_key else (info.cols,
                                                                             cols_changed)
                if changed:
                    meta[key] = _subset(list(meta[key]), kept)
        if rows_changed:
            meta["rows_kept"] = info.rows
        if cols_changed:
            meta["cols_kept"] = info.cols
        if info.notes:
            meta["cleaning"] = list(info.notes)
        changes["meta"] = meta
        prov = ds.provenance.rstrip()
        if info.notes:
            prov = (prov + " " if prov else "") + "Cleaning: " + "; ".join(info.notes) + "."
        changes["provenance"] = prov
        if ds.ground_truth and (rows_changed or cols_changed):
            gt = dict(ds.ground_truth)
            gt["note"] = ("rows/columns were dropped on loading; the ground-truth factors refer "
                          "to the original matrix (see meta['rows_kept'] / meta['cols_kept']).")
            changes["ground_truth"] = gt
    return ds.replace(**changes)
