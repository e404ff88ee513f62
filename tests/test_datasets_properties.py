"""Property tests: any bytes or array given to the CSV/NPY readers either load into a valid
Dataset or raise DataError with a non-empty message — never another exception."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dnmf.datasets import DataError, Dataset, load_file, validate_matrix

# DNMF_FUZZ_EXAMPLES=3000 pytest tests/test_datasets_properties.py  for a longer search
SETTINGS = settings(max_examples=int(os.environ.get("DNMF_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def outcome(data, **kw):
    """Load; return the Dataset or the DataError. Any other exception fails the test."""
    try:
        ds = load_file(data, **kw)
    except DataError as err:
        msg = str(err)
        assert msg.strip(), "empty DataError message"
        assert "unexpected error" not in msg, msg  # the safety net must not be needed
        assert isinstance(err.fixes, list)
        return err
    check_dataset(ds)
    return ds


def check_dataset(ds: Dataset) -> None:
    X = ds.X
    assert X.ndim == 2 and min(X.shape) >= 2
    assert X.dtype == np.float64
    vals = X.data if sp.issparse(X) else X
    assert np.isfinite(vals).all() and (vals >= 0).all()
    assert ds.summary()


# ------------------------------------------------------------------------- arbitrary bytes
@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes_as_csv(data):
    outcome(data, filename="x.csv")


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes_as_npy(data):
    outcome(data, filename="x.npy")


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_after_npy_magic(data):
    outcome(b"\x93NUMPY\x01\x00" + data, filename="x.npy")


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from(["x.npz", "x.mat", "x.zip", "x.txt", "x",
                                                  "x.tsv", "x.png"]))
def test_any_bytes_any_reader(data, name):
    outcome(data, filename=name)


# --------------------------------------------------------------- text that looks like a CSV
CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-1000, 10**6).map(str),
    st.sampled_from(["", "NA", "nan", "x", "1e999", "-0", " 3 ", "\"4\"", "1,5", "é"]),
    st.text(alphabet="0123456789.-e+ ", max_size=6),
)


@SETTINGS
@given(st.lists(st.lists(CELL, min_size=0, max_size=6), min_size=0, max_size=8),
       st.sampled_from([",", ";", "\t", " ", "|"]),
       st.sampled_from(["\n", "\r\n"]),
       st.sampled_from([{}, {"on_negative": "clip", "on_nonfinite": "zero", "drop_empty": True},
                        {"header": True}, {"index_col": True}, {"samples_as": "rows"},
                        {"kind": "images"}, {"kind": "text"}, {"kind": "spectra"}]))
def test_csv_like_text(rows, sep, eol, opts):
    text = eol.join(sep.join(r) for r in rows)
    outcome(text.encode("utf-8"), filename="t.csv", **opts)


@SETTINGS
@given(hnp.arrays(
    dtype=st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes(),
                    hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(max_len=3)),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)),
    st.sampled_from([{}, {"on_negative": "clip", "on_nonfinite": "zero", "drop_empty": True},
                     {"on_negative": "shift", "on_nonfinite": "drop"}, {"kind": "images"},
                     {"samples_as": "rows"}, {"kind": "spectra"}]))
def test_any_array_as_npy(a, opts):
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    res = outcome(b.getvalue(), filename="a.npy", **opts)
    if isinstance(res, Dataset) and not opts and a.ndim == 2 and a.dtype.kind in "biuf":
        np.testing.assert_array_equal(res.X, a.astype(np.float64))  # loaded exactly as is


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=7),
                  elements=st.floats(0, 1e6, allow_subnormal=False)),
       st.sampled_from([",", "\t", ";", " "]))
def test_csv_round_trip_of_nonnegative_matrices(a, sep):
    assume((a.sum(axis=0) > 0).all() and (a.sum(axis=1) > 0).all())
    text = "\n".join(sep.join(repr(float(v)) for v in row) for row in a)
    ds = load_file(text.encode(), filename="r.csv")
    np.testing.assert_array_equal(ds.X, a)


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6)),
       st.sampled_from(["error", "clip", "shift"]), st.sampled_from(["error", "drop", "zero"]),
       st.booleans())
def test_validate_matrix_never_crashes(a, on_negative, on_nonfinite, drop_empty):
    try:
        X = validate_matrix(a, on_negative=on_negative, on_nonfinite=on_nonfinite,
                            drop_empty=drop_empty)
    except DataError as err:
        assert str(err).strip()
        return
    assert X.ndim == 2 and np.isfinite(X).all() and (X >= 0).all() and min(X.shape) >= 2
    if drop_empty:
        with np.errstate(over="ignore"):
            assert (X.sum(axis=0) > 0).all() and (X.sum(axis=1) > 0).all()


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_validate_matrix_sparse_formats(fmt):
    S = sp.random(10, 8, density=0.5, random_state=0, format=fmt)
    S.data[0] = -1.0
    with pytest.raises(DataError, match="negative"):
        validate_matrix(S)
    X = validate_matrix(S, on_negative="clip", drop_empty=True)
    assert sp.isspmatrix_csr(X) and X.min() >= 0
