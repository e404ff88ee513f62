"""The `Dataset` container and the `DataError` exception.

Orientation (DESIGN.md §1): the solver factorises X ≈ W_1 H_1 and then W_1 ≈ W_2 H_2, … .
Which axis holds the *samples* depends on the kind of data:

=========  ==========================  ==================  ===========
kind       X is                        samples are         sample_axis
=========  ==========================  ==================  ===========
images     images × pixels             rows                0
spectra    bands × pixels              columns (pixels)    1
text       words × documents           columns (docs)      1
generic    samples × features          rows                0 (default)
=========  ==========================  ==================  ===========

Images follow the paper (CBCL is factorised as Xᵀ, one face per row, so the features — rows of
H_ℓ⋯H_1 — are pictures). A generic table is read the way pandas and scikit-learn lay data out,
one sample per row, and factorised as it is: X (m samples × n features) ≈ W_ℓ (H_ℓ⋯H_1), so the
layer-ℓ features are the rows of H_ℓ⋯H_1 — combinations of the table's n columns — and row i of
W_ℓ says how much of each feature sample i holds. A generic Dataset may instead keep the thesis'
convention (``sample_axis=1``: columns are data points, W holds basis vectors in data space);
the synthetic examples do. Spectra and text keep the paper's features × samples.

This module is free of streamlit (and of any UI code).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

KINDS = ("images", "spectra", "text", "generic")
PIXEL_ORDERS = ("C", "F")

#: Refuse matrices whose in-memory float64 size exceeds this many bytes (dense: m·n·8;
#: sparse CSR: nnz·12 + (m+1)·4). 2 GiB.
MAX_MATRIX_BYTES = 2 * 1024**3
#: Refuse uploads (files, bytes, file-like objects) larger than this many bytes. 200 MB, the
#: same as Streamlit's default ``server.maxUploadSize``.
MAX_UPLOAD_BYTES = 200 * 1000**2


class DataError(ValueError):
    """A data file or matrix that cannot be used as it is.

    The message says what is wrong and what to do. ``fixes`` lists keyword options (as
    ``"name=value"`` source strings, e.g. ``"on_negative='clip'"``) that would make the same
    call succeed; :func:`parse_fix` turns one into a ``dict`` to pass back as ``**kwargs``.
    """

    def __init__(self, message: str, fixes: Sequence[str] | None = None):
        super().__init__(message)
        self.message = message
        self.fixes: list[str] = list(fixes or [])

    def __str__(self) -> str:  # the message only, never a repr of the fixes
        return self.message


def parse_fix(fix: str) -> dict[str, Any]:
    """``"on_negative='clip'"`` → ``{"on_negative": "clip"}`` (safe: ``ast.literal_eval``)."""
    key, _, value = fix.partition("=")
    key = key.strip()
    if not key.isidentifier() or not value:
        raise ValueError(f"not a fix of the form name=value: {fix!r}")
    return {key: ast.literal_eval(value.strip())}


def format_bytes(n: float) -> str:
    """Human-readable size: 1536 → '1.5 KiB'."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def sample_axis_of(kind: str) -> int:
    """The default sample axis of a kind: 0 (rows) for images and generic tables, 1 (columns)
    for spectra and text."""
    return 0 if kind in ("images", "generic") else 1


@dataclass(eq=False)
class Dataset:
    """A nonnegative data matrix plus what the views need.

    Attributes
    ----------
    X : ndarray (float64) or scipy.sparse CSR (float64); nonnegative and finite.
    kind : "images" | "spectra" | "text" | "generic" — fixes the orientation (module doc).
    name, provenance : short name and a sentence or two on where the data came from and how it
        was transformed.
    image_shape, pixel_order : images: (h, w) of each image, a row of X reshapes with
        ``row.reshape(image_shape, order=pixel_order)``; spectra: (nrow, ncol) of the scene, a
        row of the abundances (length n pixels) reshapes the same way.
    wavelengths, wavelength_unit : spectra: one value per band (row of X) and its unit
        ("nm", "µm", or "band" when only band numbers are known).
    vocabulary : text: one word per row of X.
    documents : text: optional short title/snippet per document (column of X).
    labels, label_names : optional integer class per *sample* (see ``sample_axis``) and the
        names of the classes.
    ground_truth : optional dict; keys used: "W" (list of W_ℓ*), "H" (list of H_ℓ*),
        "endmembers", "abundances", "names", "labels" (list of per-layer sample labels),
        "label_names" (list of per-layer class names), "noise" (relative noise level),
        "normalization" (text), "layer_residuals".
    meta : free-form extra information (e.g. rows/columns dropped on loading; generic tables:
        "sample_names", "feature_names", "column_roles").
    sample_axis : 0 if the samples are the rows of X, 1 if columns; None (default) takes the
        kind's orientation (:func:`sample_axis_of`). Only generic data may differ from it.
    """

    X: Any
    kind: str = "generic"
    name: str = "data"
    provenance: str = ""
    image_shape: tuple[int, int] | None = None
    pixel_order: str = "C"
    wavelengths: np.ndarray | None = None
    wavelength_unit: str | None = None
    vocabulary: list[str] | None = None
    documents: list[str] | None = None
    labels: np.ndarray | None = None
    label_names: list[str] | None = None
    ground_truth: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    sample_axis: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DataError(f"kind must be one of {KINDS}, got {self.kind!r}.")
        if self.sample_axis is None or self.kind != "generic":
            self.sample_axis = sample_axis_of(self.kind)
        if self.sample_axis not in (0, 1):
            raise DataError(f"sample_axis must be 0 (rows) or 1 (columns), got "
                            f"{self.sample_axis!r}.")
        if self.pixel_order not in PIXEL_ORDERS:
            raise DataError(f"pixel_order must be 'C' or 'F', got {self.pixel_order!r}.")
        X = self.X
        if sp.issparse(X):
            if not (isinstance(X, sp.csr_matrix) or isinstance(X, sp.csr_array)):
                X = sp.csr_matrix(X)
            if X.dtype != np.float64:
                X = X.astype(np.float64)
        else:
            X = np.asarray(X)
            if X.dtype != np.float64:
                X = X.astype(np.float64)
        if X.ndim != 2:
            raise DataError(f"X must be a 2-D matrix, got an array of shape {X.shape}.")
        self.X = X
        m, n = X.shape
        if self.image_shape is not None:
            self.image_shape = (int(self.image_shape[0]), int(self.image_shape[1]))
            npix = self.image_shape[0] * self.image_shape[1]
            expected = n  # images: pixels are columns; spectra: pixels are columns
            if npix != expected:
                raise DataError(
                    f"image_shape {self.image_shape} has {npix} pixels but X has {expected} "
                    f"columns ({'pixels per image' if self.kind == 'images' else 'pixels'})."
                )
        if self.wavelengths is not None:
            self.wavelengths = np.asarray(self.wavelengths, dtype=float).ravel()
            if self.wavelengths.size != m:
                raise DataError(
                    f"{self.wavelengths.size} wavelengths given for {m} bands (rows of X)."
                )
        if self.vocabulary is not None:
            self.vocabulary = [str(w) for w in self.vocabulary]
            if len(self.vocabulary) != m:
                raise DataError(f"{len(self.vocabulary)} words given for {m} rows of X.")
        if self.documents is not None:
            self.documents = [str(d) for d in self.documents]
            if len(self.documents) != n:
                raise DataError(f"{len(self.documents)} document titles for {n} columns of X.")
        if self.labels is not None:
            self.labels = np.asarray(self.labels).ravel()
            if self.labels.size != self.n_samples:
                raise DataError(
                    f"{self.labels.size} labels given for {self.n_samples} samples "
                    f"({'columns' if self.sample_axis else 'rows'} of X)."
                )
        if self.label_names is not None:
            self.label_names = [str(s) for s in self.label_names]

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.X.shape)  # type: ignore[return-value]

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.X)

    @property
    def nbytes(self) -> int:
        """Bytes held by X (for CSR: data + indices + indptr)."""
        if self.is_sparse:
            X = self.X
            return int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)
        return int(self.X.nbytes)

    @property
    def nnz(self) -> int:
        return int(self.X.nnz) if self.is_sparse else int(np.count_nonzero(self.X))

    @property
    def density(self) -> float:
        m, n = self.shape
        return self.nnz / float(m * n) if m * n else 0.0

    @property
    def value_range(self) -> tuple[float, float]:
        X = self.X
        if self.is_sparse:
            data = X.data
            lo = float(data.min()) if data.size else 0.0
            hi = float(data.max()) if data.size else 0.0
            if X.nnz < X.shape[0] * X.shape[1]:
                lo, hi = min(lo, 0.0), max(hi, 0.0)
            return lo, hi
        return (float(X.min()), float(X.max())) if X.size else (0.0, 0.0)

    @property
    def n_samples(self) -> int:
        return self.shape[self.sample_axis]

    @property
    def n_features(self) -> int:
        return self.shape[1 - self.sample_axis]

    # ------------------------------------------------------------------ helpers
    def summary(self) -> str:
        """One short line: name, kind, shape, density, value range (+ view metadata)."""
        m, n = self.shape
        lo, hi = self.value_range
        what = {
            "images": f"{m} images × {n} pixels",
            "spectra": f"{m} bands × {n} pixels",
            "text": f"{m} words × {n} documents",
            "generic": f"{m} samples × {n} features" if self.sample_axis == 0
            else f"{m} features × {n} samples",
        }[self.kind]
        parts = [
            f"{self.name}: {self.kind}, {what}",
            f"{'sparse' if self.is_sparse else 'dense'}, density {self.density:.1%}",
            f"values in [{lo:.3g}, {hi:.3g}]",
        ]
        if self.image_shape is not None:
            parts.append(f"image {self.image_shape[0]}×{self.image_shape[1]}")
        if self.ground_truth:
            parts.append("ground truth: " + ", ".join(sorted(self.ground_truth)))
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"Dataset({self.summary()})"

    def to_image(self, vector: np.ndarray) -> np.ndarray:
        """Reshape a length-(h·w) vector (a row of X for images, a row of abundances for
        spectra) to an (h, w) picture the right way up."""
        if self.image_shape is None:
            raise DataError(f"dataset {self.name!r} has no image_shape.")
        v = np.asarray(vector.toarray() if sp.issparse(vector) else vector).ravel()
        return v.reshape(self.image_shape, order=self.pixel_order)

    def images(self, rows: Sequence[int] | slice | None = None) -> np.ndarray:
        """Images kind: stack of pictures (k, h, w) for the given rows of X."""
        if self.kind != "images":
            raise DataError(f"dataset {self.name!r} is {self.kind}, not images.")
        X = self.X if rows is None else self.X[rows]
        X = X.toarray() if sp.issparse(X) else np.atleast_2d(X)
        return np.stack([self.to_image(r) for r in X])

    def dense(self) -> np.ndarray:
        """X as a dense ndarray (a copy for sparse X, X itself otherwise)."""
        return self.X.toarray() if self.is_sparse else self.X

    def copy(self) -> Dataset:
        """A deep copy (arrays and ground truth included)."""
        import copy

        return copy.deepcopy(self)

    def replace(self, **changes: Any) -> Dataset:
        return dataclasses.replace(self, **changes)

    def orientation(self) -> str:
        """The orientation in words, e.g. "120 samples × 40 features; layer features are
        combinations of the 40 columns"."""
        m, n = self.shape
        if self.kind == "images":
            return (f"{m} images × {n} pixels; layer features are rows of H_ℓ⋯H_1, each a "
                    "picture")
        if self.kind == "spectra":
            return (f"{m} bands × {n} pixels; layer features are spectra (columns of W_ℓ), "
                    "rows of H_ℓ⋯H_1 are abundance maps")
        if self.kind == "text":
            return (f"{m} words × {n} documents; topics are columns of W_ℓ, read through their "
                    "top words")
        if self.sample_axis == 0:
            return (f"{m} samples × {n} features; layer features are combinations of the {n} "
                    "columns (rows of H_ℓ⋯H_1), each sample's weights are a row of W_ℓ")
        return (f"{m} features × {n} samples (one sample per column); basis vectors are the "
                f"columns of W_ℓ, combinations of the {m} rows")
