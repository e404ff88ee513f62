"""load_file: every format, orientation options, and one clear DataError per bad file."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import scipy.io as sio
import scipy.sparse as sp

from dnmf.datasets import DataError, Dataset, load_file, parse_fix, validate_matrix
from dnmf.datasets import readers as readers_mod


def assert_valid(ds: Dataset) -> None:
    X = ds.X
    assert isinstance(ds, Dataset) and X.ndim == 2 and min(X.shape) >= 2
    assert X.dtype == np.float64
    vals = X.data if sp.issparse(X) else X
    assert np.all(np.isfinite(vals)) and np.all(vals >= 0)
    assert ds.summary()


def npy_bytes(a, allow_pickle=False) -> bytes:
    b = io.BytesIO()
    np.save(b, a, allow_pickle=allow_pickle)
    return b.getvalue()


def mat_bytes(**variables) -> bytes:
    b = io.BytesIO()
    sio.savemat(b, variables)
    return b.getvalue()


def png_bytes(img: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", img, extension=".png")


def zip_bytes(files: dict[str, bytes]) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return b.getvalue()


def expect_error(data, *words, fixes=None, **kw) -> DataError:
    """load_file must raise DataError (nothing else) whose message has all `words`;
    every offered fix must then make the same call succeed."""
    with pytest.raises(DataError) as info:
        load_file(data, **kw)
    err = info.value
    assert isinstance(err, ValueError)
    msg = str(err).lower()
    assert "unexpected" not in msg
    for w in words:
        assert w.lower() in msg, (w, str(err))
    if fixes is not None:
        assert set(fixes) <= set(err.fixes), err.fixes
    return err


def check_fixes_work(data, err: DataError, **kw) -> None:
    assert err.fixes
    for fix in err.fixes:
        ds = load_file(data, **{**kw, **parse_fix(fix)})
        assert_valid(ds)


# ============================================================================ good files
def test_csv_with_header_and_index_autodetected():
    data = b",a,b,c\nr1,1,2,3\nr2,4,5,6\nr3,7,8,9.5\n"
    ds = load_file(data, filename="m.csv")
    assert ds.shape == (3, 3) and ds.kind == "generic" and ds.name == "m"
    np.testing.assert_array_equal(ds.X[2], [7, 8, 9.5])
    # a generic table is samples × features: rows are samples (pandas, scikit-learn)
    assert ds.meta["sample_names"] == ["r1", "r2", "r3"]
    assert ds.meta["feature_names"] == ["a", "b", "c"]
    assert ds.sample_axis == 0 and ds.n_samples == 3
    assert "3 samples × 3 features" in ds.summary()


@pytest.mark.parametrize("sep", [",", ";", "\t", " ", "|"])
def test_csv_delimiters(sep):
    A = np.arange(12, dtype=float).reshape(3, 4) + 1
    text = "\n".join(sep.join(f"{v:g}" for v in row) for row in A) + "\n"
    ds = load_file(text.encode(), filename="m.tsv" if sep == "\t" else "m.csv")
    np.testing.assert_array_equal(ds.X, A)


def test_txt_of_numbers_is_a_matrix_and_comments_skipped():
    b = io.BytesIO()
    A = np.random.default_rng(0).random((4, 3))
    np.savetxt(b, A, header="made by np.savetxt")
    ds = load_file(b.getvalue(), filename="m.txt")
    np.testing.assert_allclose(ds.X, A)


def test_samples_as_transposes_to_the_canonical_orientation():
    A = np.random.default_rng(1).random((5, 3)) + 0.1
    data = npy_bytes(A)
    assert load_file(data, filename="a.npy").shape == (5, 3)  # taken as is
    # generic: samples are the rows of X, so samples as rows is the file as it is …
    assert load_file(data, filename="a.npy", samples_as="rows").shape == (5, 3)
    g = load_file(data, filename="a.npy", samples_as="columns")  # … and columns transpose
    np.testing.assert_array_equal(g.X, A.T)
    assert g.n_samples == 3 and g.n_features == 5
    # images: one image per row is canonical
    imgs = np.random.default_rng(2).random((16, 6)) + 0.1  # 16 pixels (4×4) × 6 images
    ds = load_file(npy_bytes(imgs), filename="i.npy", kind="images", samples_as="columns")
    assert ds.shape == (6, 16) and ds.image_shape == (4, 4)
    np.testing.assert_array_equal(ds.X, imgs.T)


def test_images_from_matrix_need_a_shape():
    X = np.random.default_rng(0).random((5, 6)) + 0.1
    err = expect_error(npy_bytes(X), "image", "image_shape", filename="x.npy", kind="images",
                       fixes=["image_shape=(2, 3)"])
    check_fixes_work(npy_bytes(X), err, filename="x.npy", kind="images")
    ds = load_file(npy_bytes(X), filename="x.npy", kind="images", image_shape=(3, 2),
                   pixel_order="F")
    assert ds.image_shape == (3, 2) and ds.pixel_order == "F"
    np.testing.assert_array_equal(ds.to_image(ds.X[0]), X[0].reshape(3, 2, order="F"))


def test_npy_3d_stack_is_images():
    stack = np.random.default_rng(0).random((7, 5, 4))
    ds = load_file(npy_bytes(stack), filename="s.npy")
    assert ds.kind == "images" and ds.shape == (7, 20) and ds.image_shape == (5, 4)
    np.testing.assert_array_equal(ds.images([2])[0], stack[2])
    cube = load_file(npy_bytes(stack), filename="s.npy", kind="spectra")  # (h, w, bands)
    assert cube.shape == (4, 35) and cube.image_shape == (7, 5)
    np.testing.assert_array_equal(cube.to_image(cube.X[1]), stack[:, :, 1])


def test_integer_and_bool_npy_become_float64():
    ds = load_file(npy_bytes(np.array([[1, 2], [3, 4]], dtype=np.uint8)), filename="u.npy")
    assert ds.X.dtype == np.float64
    ds = load_file(npy_bytes(np.array([[True, False], [True, True]])), filename="b.npy")
    assert ds.X.dtype == np.float64


def test_npz_single_and_sparse_and_extras():
    A = np.random.default_rng(0).random((4, 5)) + 0.1
    b = io.BytesIO()
    np.savez(b, counts=A, vocabulary=np.array(list("abcd")))
    ds = load_file(b.getvalue(), filename="c.npz", kind="text")
    assert ds.vocabulary == list("abcd")
    S = sp.random(30, 20, density=0.2, random_state=0, format="csr") + sp.eye(30, 20) \
        + sp.eye(30, 20, k=-10)
    b = io.BytesIO()
    sp.save_npz(b, S.tocsc())
    ds = load_file(b.getvalue(), filename="s.npz", kind="text")
    assert ds.is_sparse and ds.shape == (30, 20)
    np.testing.assert_allclose(ds.X.toarray(), S.toarray())


def test_mat_single_variable_and_hsi_layout():
    A = np.random.default_rng(0).random((6, 12)) + 0.1
    ds = load_file(mat_bytes(A=A, note="hello"), filename="a.mat")
    np.testing.assert_array_equal(ds.X, A)
    # a hyperspectral .mat in the common (V, nRow, nCol) layout → spectra, Fortran order
    V = np.random.default_rng(1).random((5, 12)) + 0.1
    ds = load_file(mat_bytes(V=V, nRow=3.0, nCol=4.0), filename="scene.mat")
    assert ds.kind == "spectra" and ds.image_shape == (3, 4) and ds.pixel_order == "F"
    # integer counts with maxValue are scaled (Jasper Ridge style)
    Y = (np.arange(24).reshape(2, 12) + 1).astype(np.uint16)
    ds = load_file(mat_bytes(Y=Y, maxValue=np.uint16(10), nRow=3.0, nCol=4.0), filename="j.mat")
    np.testing.assert_allclose(ds.X, Y / 10.0)


def test_sparse_mat_variable():
    S = sp.random(40, 30, density=0.1, random_state=1, format="csc") + sp.eye(40, 30) \
        + sp.eye(40, 30, k=-10)
    ds = load_file(mat_bytes(S=S), filename="s.mat", kind="text")
    assert ds.is_sparse and ds.shape == (40, 30)


def test_text_corpus_txt_one_document_per_line():
    docs = [
        "the quick brown fox jumps over the lazy dog",
        "a lazy dog sleeps in the sun all day",
        "quick foxes and lazy dogs are friends",
        "the sun rises over the brown hills",
    ]
    ds = load_file("\n".join(docs).encode(), filename="corpus.txt")
    assert ds.kind == "text" and ds.shape[1] == 4
    assert "lazy" in ds.vocabulary and "the" not in ds.vocabulary  # English stop words
    row = ds.vocabulary.index("lazy")
    np.testing.assert_array_equal(ds.X[[row]].toarray().ravel(), [1, 1, 1, 0])


def test_text_corpus_from_csv_text_column_with_labels():
    data = (b"id,text,topic\n"
            b"1,\"cats purr and cats sleep\",pets\n"
            b"2,\"dogs bark and dogs run\",pets\n"
            b"3,\"stocks fell, markets slid\",money\n"
            b"4,\"markets rose and stocks rallied\",money\n")
    ds = load_file(data, filename="c.csv", text_column="text", label_column="topic")
    assert ds.kind == "text" and ds.shape[1] == 4
    assert ds.label_names == ["money", "pets"]
    np.testing.assert_array_equal(ds.labels, [1, 1, 0, 0])
    # a CSV with text columns and no roles: the error names them and offers the corpus
    err = expect_error(data, "'text'", "'topic'", "hold text", filename="c.csv")
    assert "text_column='text'" in err.fixes
    assert "column_roles={'topic': 'labels'}" in err.fixes


def test_zip_of_txt_files_is_a_corpus():
    files = {f"doc{i}.txt": f"apples and pears number {i} apples oranges".encode()
             for i in range(5)}
    files["notes/extra.txt"] = b"pears pears pears oranges"
    ds = load_file(zip_bytes(files), filename="docs.zip")
    assert ds.kind == "text" and ds.shape[1] == 6
    assert ds.documents[0] == "doc0.txt"


def test_zip_of_images_grey_and_resized():
    rng = np.random.default_rng(0)
    files = {
        "a.png": png_bytes((rng.random((10, 8)) * 255).astype(np.uint8)),
        "b.png": png_bytes((rng.random((10, 8, 3)) * 255).astype(np.uint8)),  # RGB
        "c.png": png_bytes((rng.random((20, 16, 4)) * 255).astype(np.uint8)),  # RGBA, larger
    }
    ds = load_file(zip_bytes(files), filename="imgs.zip")
    assert ds.kind == "images" and ds.shape == (3, 80) and ds.image_shape == (10, 8)
    assert 0 <= ds.X.min() and ds.X.max() <= 1
    # the first image is unchanged apart from the uint8 → [0, 1] scaling, and upright
    import imageio.v3 as iio

    ref = iio.imread(files["a.png"]) / 255.0
    np.testing.assert_allclose(ds.images([0])[0], ref)
    ds2 = load_file(zip_bytes(files), filename="imgs.zip", image_shape=(5, 4))
    assert ds2.image_shape == (5, 4)


def test_file_like_objects_and_paths(tmp_path):
    A = np.random.default_rng(0).random((3, 4)) + 0.1

    class Upload(io.BytesIO):  # like Streamlit's UploadedFile
        name = "upload.npy"

    up = Upload(npy_bytes(A))
    up.read()  # a consumed stream is rewound
    ds = load_file(up)
    assert ds.name == "upload" and ds.shape == (3, 4)
    p = tmp_path / "m.csv"
    np.savetxt(p, A, delimiter=",")
    assert load_file(p).shape == (3, 4)
    assert load_file(str(p), name="mine").name == "mine"
    assert load_file(A).shape == (3, 4)  # in-memory matrices too
    assert load_file(sp.csr_matrix(A)).is_sparse


def test_wrong_extension_but_recognisable_content():
    A = np.random.default_rng(0).random((3, 4)) + 0.1
    b = io.BytesIO()
    np.savez(b, X=A)
    ds = load_file(b.getvalue(), filename="renamed.npy")  # an npz under a .npy name
    np.testing.assert_array_equal(ds.X, A)
    ds = load_file(npy_bytes(A), filename="noext")
    np.testing.assert_array_equal(ds.X, A)


# ============================================================================ bad files
def test_bad_not_a_matrix():
    expect_error(npy_bytes(np.float64(3.0)), "scalar", "not a matrix", filename="s.npy")
    expect_error(mat_bytes(s="just text", c=np.array([1.0])), "no numeric 2-d matrix",
                 filename="t.mat")
    with pytest.raises(DataError, match="not a matrix"):
        validate_matrix([[1, 2], [3]])
    with pytest.raises(DataError, match="text"):
        validate_matrix("1,2;3,4")


def test_bad_ragged_csv():
    err = expect_error(b"1,2,3\n4,5\n6,7,8\n", "ragged", "line 2", "2 values", filename="r.csv")
    assert err.fixes == []
    expect_error(b"a,b,c,d\n1,2,3\n4,5,6\n", "ragged", "header", filename="h.csv")


def test_bad_non_numeric_cells():
    expect_error(b"1,2,3\n4,abc,6\n7,8,9\n", "non-numeric", "'abc'", "row 2", "column 2",
                 filename="n.csv")
    expect_error(npy_bytes(np.array([["1", "x"], ["2", "3"]])), "not a numeric matrix",
                 filename="s.npy")


def test_bad_negative_entries_offer_clip_and_shift():
    data = b"1,2,3\n4,-5,6\n7,8,9\n"
    err = expect_error(data, "negative", "clip", "shift", filename="neg.csv",
                       fixes=["on_negative='clip'", "on_negative='shift'"])
    check_fixes_work(data, err, filename="neg.csv")
    assert load_file(data, filename="neg.csv", on_negative="clip").X[1, 1] == 0
    shifted = load_file(data, filename="neg.csv", on_negative="shift").X
    assert shifted.min() == 0 and shifted[0, 0] == 6


@pytest.mark.parametrize("bad", [b"nan", b"inf", b"", b"NA", b"1e999"])
def test_bad_nonfinite_entries_offer_drop_and_zero(bad):
    data = b"1,2,3\n4," + bad + b",6\n7,8,9\n"
    err = expect_error(data, "non-finite", "drop", filename="nan.csv",
                       fixes=["on_nonfinite='drop'", "on_nonfinite='zero'"])
    check_fixes_work(data, err, filename="nan.csv")
    dropped = load_file(data, filename="nan.csv", on_nonfinite="drop")
    assert dropped.shape == (2, 3)  # generic: samples are rows; sample (row) 2 is dropped
    assert load_file(data, filename="nan.csv", on_nonfinite="zero").X[1, 1] == 0


def test_bad_all_zero_rows_or_columns_offer_drop():
    data = b"1,0,3\n0,0,0\n7,0,9\n"
    err = expect_error(data, "all-zero row", "all-zero column", "drop_empty",
                       filename="z.csv", fixes=["drop_empty=True"])
    check_fixes_work(data, err, filename="z.csv")
    ds = load_file(data, filename="z.csv", drop_empty=True)
    np.testing.assert_array_equal(ds.X, [[1, 3], [7, 9]])
    assert list(ds.meta["rows_kept"]) == [0, 2]


def test_bad_matrix_too_large_states_the_limit():
    # an .npy header announcing 100000 × 100000 float64 (80 GB): refused before reading data
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)})
    data = header.getvalue()
    assert data.startswith(b"\x93NUMPY")
    expect_error(data, "too large", "100000 × 100000", "2.0 GiB", "limit", filename="big.npy")
    expect_error(npy_bytes(np.ones((20, 20))), "too large", "limit is 1.0 KiB",
                 filename="m.npy", max_bytes=1024)
    with pytest.raises(DataError, match="limit"):
        validate_matrix(sp.eye(1000, format="csr"), max_bytes=100)


def test_bad_upload_over_the_byte_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(readers_mod, "MAX_UPLOAD_BYTES", 100)
    expect_error(b"1,2\n" * 100, "uploads are limited", "MB", filename="x.csv")
    p = tmp_path / "x.csv"
    p.write_bytes(b"1,2\n" * 100)
    expect_error(p, "uploads are limited")


def test_bad_empty_corpus():
    expect_error(b"\n   \n\n", "empty", filename="c.txt")
    expect_error(b"the and of\nit is a\n", "corpus is empty", "stop words", filename="c.txt")
    expect_error(zip_bytes({"a.txt": b"", "b.txt": b"   "}), "corpus is empty",
                 filename="docs.zip")
    expect_error(b"id,text\n", "corpus is empty", filename="c.csv", text_column="text")


def test_bad_unreadable_image():
    good = png_bytes((np.random.default_rng(0).random((6, 6)) * 255).astype(np.uint8))
    data = zip_bytes({"a.png": good, "b.png": good, "broken.png": b"\x89PNG not really"})
    err = expect_error(data, "cannot read the image", "broken.png", filename="imgs.zip",
                       fixes=["on_bad_image='skip'"])
    check_fixes_work(data, err, filename="imgs.zip")
    ds = load_file(data, filename="imgs.zip", on_bad_image="skip")
    assert ds.shape == (2, 36) and ds.meta["skipped"] == ["broken.png"]
    expect_error(b"\x89PNG\r\n\x1a\n garbage", "cannot read the image", filename="x.png")
    expect_error(good, "single image", filename="one.png", fixes=["kind='generic'"])


def test_bad_unknown_extension():
    expect_error(b"1,2\n3,4\n", "unknown file extension", "'.xyz'", "supported",
                 filename="m.xyz", fixes=["format='csv'"])
    assert load_file(b"1,2\n3,4\n", filename="m.xyz", format="csv").shape == (2, 2)
    expect_error(b"\x01\x02\x03\xff\xfe\x00binary", "unknown file type", filename="m.bin")
    expect_error(b"PK\x03\x04 not a zip at all", "not a valid", filename="x.zip")


def test_bad_pickled_npy():
    data = npy_bytes(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    expect_error(data, "pickled", "allow_pickle=false", filename="p.npy")
    b = io.BytesIO()
    np.savez(b, X=np.array([[1.0, 2.0], [3.0, 4.0]]), junk=np.array([None, {}], dtype=object))
    ds = load_file(b.getvalue(), filename="mixed.npz")  # the numeric array is still usable
    assert ds.shape == (2, 2)
    expect_error(b.getvalue(), "pickled", filename="mixed.npz", variable="junk")


def test_bad_corrupt_or_malformed_mat():
    good = mat_bytes(A=np.random.default_rng(0).random((5, 5)))
    expect_error(good[: len(good) // 2], "mat", filename="cut.mat")
    expect_error(b"MATLAB 5.0 MAT-file" + b"\x00" * 200, "not a readable matlab",
                 filename="bad.mat")
    expect_error(b"\x00\x01garbage" * 20, "not a readable matlab", filename="junk.mat")
    expect_error(b"MATLAB 7.3 MAT-file, Platform: GLNXA64" + b"\x00" * 600, "v7.3",
                 filename="hdf.mat")
    expect_error(good, "no variable", filename="a.mat", variable="B", fixes=["variable='A'"])


def test_mat_several_candidates_lists_them():
    data = mat_bytes(A=np.ones((3, 4)), B=np.ones((5, 6)), n=3.0)
    err = expect_error(data, "several", "A 3×4", "B 5×6", filename="two.mat",
                       fixes=["variable='A'", "variable='B'"])
    check_fixes_work(data, err, filename="two.mat")


def test_bad_vector_or_single_row():
    expect_error(npy_bytes(np.arange(1.0, 6.0)), "1-d vector", "length 5", filename="v.npy")
    expect_error(b"1,2,3,4\n", "single row", filename="r.csv")
    expect_error(b"1\n2\n3\n", "single column", filename="c.csv")
    expect_error(mat_bytes(v=np.arange(1.0, 6.0)), "no numeric 2-d matrix", filename="v.mat")
    expect_error(b"", "empty", filename="e.csv")


def test_errors_are_value_errors_with_fixes_attribute():
    try:
        load_file(b"1,-2\n3,4\n", filename="x.csv")
    except ValueError as exc:  # the app catches ValueError
        assert isinstance(exc, DataError)
        assert exc.fixes == ["on_negative='clip'", "on_negative='shift'"]
        assert parse_fix(exc.fixes[0]) == {"on_negative": "clip"}
    else:  # pragma: no cover
        pytest.fail("no error")


def test_invalid_options_are_data_errors():
    with pytest.raises(DataError, match="samples_as"):
        load_file(b"1,2\n3,4\n", filename="x.csv", samples_as="diagonal")
    with pytest.raises(DataError, match="kind"):
        load_file(b"1,2\n3,4\n", filename="x.csv", kind="audio")
    with pytest.raises(DataError, match="on_negative"):
        load_file(b"1,2\n3,4\n", filename="x.csv", on_negative="ignore")
    with pytest.raises(DataError, match="not found"):
        load_file("/nonexistent/file.csv")
    with pytest.raises(DataError, match="expects"):
        load_file(12345)


def test_dataset_rejects_inconsistent_metadata():
    with pytest.raises(DataError, match="image_shape"):
        Dataset(X=np.ones((3, 4)), kind="images", image_shape=(3, 3))
    with pytest.raises(DataError, match="words"):
        Dataset(X=np.ones((3, 4)), kind="text", vocabulary=["a", "b"])
    with pytest.raises(DataError, match="labels"):
        Dataset(X=np.ones((3, 4)), kind="images", labels=[0, 1])


def test_counts_csv_as_text_uses_the_index_as_vocabulary():
    data = b",d1,d2,d3\ncat,1,0,2\ndog,0,3,1\nfish,1,1,0\n"
    ds = load_file(data, filename="counts.csv", kind="text")
    assert ds.kind == "text" and ds.shape == (3, 3)
    assert ds.vocabulary == ["cat", "dog", "fish"] and ds.documents == ["d1", "d2", "d3"]
    one_col = load_file(b"text\nthe cat sat on the mat\nthe dog barked at the cat\n",
                        filename="c.csv", kind="text")
    assert one_col.shape[1] == 2 and "cat" in one_col.vocabulary


def test_spectra_csv_with_wavelength_header_and_pixels_as_rows():
    # 6 pixels (rows, a 2×3 scene) × 4 bands with wavelengths in the header; a numeric header
    # row cannot be told from data when the index column is text too, so header=True is given
    rng = np.random.default_rng(0)
    A = rng.random((6, 4)) + 0.1
    text = "pixel,450,550,650,750\n" + "\n".join(
        f"p{i}," + ",".join(f"{v:.6f}" for v in row) for i, row in enumerate(A))
    ds = load_file(text.encode(), filename="s.csv", kind="spectra", samples_as="rows",
                   image_shape=(2, 3), header=True)
    assert ds.shape == (4, 6) and ds.image_shape == (2, 3)
    np.testing.assert_array_equal(ds.wavelengths, [450, 550, 650, 750])
    assert ds.wavelength_unit == "nm"
    np.testing.assert_allclose(ds.X, np.round(A, 6).T)
