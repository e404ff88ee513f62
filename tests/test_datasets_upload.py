"""Issue 12's data cases: orientation, column roles, MATLAB v7.3, ground truth beside data,
.npz extras, the paper's settings."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
import scipy.sparse as sp

from dnmf.datasets import (
    DataError,
    attach_ground_truth,
    load_file,
    looks_like_ground_truth,
    paper_settings,
    parse_fix,
    read_ground_truth,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def samples_csv(m: int = 120, n: int = 40, seed: int = 0) -> tuple[bytes, np.ndarray]:
    """A pandas-style table: header, an index column of sample names, m samples × n features."""
    A = np.random.default_rng(seed).random((m, n))
    head = "," + ",".join(f"f{j}" for j in range(n))
    body = "\n".join(f"s{i}," + ",".join(f"{v:.6f}" for v in row) for i, row in enumerate(A))
    return (head + "\n" + body + "\n").encode(), np.round(A, 6)


# ---------------------------------------------------------------------------- orientation
def test_samples_by_features_table_is_read_with_samples_as_rows():
    data, A = samples_csv()
    ds = load_file(data, filename="table.csv")
    assert ds.shape == (120, 40) and ds.sample_axis == 0
    assert ds.n_samples == 120 and ds.n_features == 40
    np.testing.assert_allclose(ds.X, A)
    assert ds.meta["sample_names"][:2] == ["s0", "s1"]
    assert ds.meta["feature_names"][-1] == "f39"
    assert ds.orientation().startswith("120 samples × 40 features; layer features are "
                                       "combinations of the 40 columns")
    # the flip: the file's columns are the samples
    flipped = load_file(data, filename="table.csv", samples_as="columns")
    assert flipped.shape == (40, 120) and flipped.n_samples == 40
    np.testing.assert_allclose(flipped.X, A.T)
    assert flipped.meta["sample_names"][:2] == ["f0", "f1"]
    assert flipped.orientation().startswith("40 samples × 120 features")


def test_drop_samples_with_nan_drops_rows_of_a_samples_table():
    """The NaN fix "drop the samples" drops the samples (rows), not the features."""
    data, _ = samples_csv(m=6, n=4)
    lines = data.decode().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",nan"  # sample s2
    bad = ("\n".join(lines) + "\n").encode()
    with pytest.raises(DataError) as info:
        load_file(bad, filename="t.csv")
    assert "on_nonfinite='drop'" in info.value.fixes
    ds = load_file(bad, filename="t.csv", on_nonfinite="drop")
    assert ds.shape == (5, 4)
    assert "s2" not in ds.meta["sample_names"] and len(ds.meta["sample_names"]) == 5


# ---------------------------------------------------------------------------- column roles
ID_NAME = (b"id,name,f1,f2,f3\n1,alice,0.5,1,2\n2,bob,0.3,2,1\n3,carl,1,1,0\n4,dana,2,0,1\n")


def test_text_column_offers_roles_and_each_fix_loads():
    with pytest.raises(DataError) as info:
        load_file(ID_NAME, filename="people.csv")
    err = info.value
    assert "'name'" in str(err) and "text" in str(err)
    assert "column_roles={'name': 'sample_names'}" in err.fixes
    assert "column_roles={'name': 'drop'}" in err.fixes
    assert not any(f.startswith("text_column") for f in err.fixes)  # names are no corpus
    for fix in err.fixes:
        ds = load_file(ID_NAME, filename="people.csv", **parse_fix(fix))
        assert ds.shape == (4, 3)  # id and name are not data
        np.testing.assert_array_equal(ds.X[:, 0], [0.5, 0.3, 1, 2])
    named = load_file(ID_NAME, filename="people.csv", column_roles={"name": "sample_names"})
    assert named.meta["sample_names"] == ["alice", "bob", "carl", "dana"]
    assert named.meta["column_roles"] == {"id": "drop", "name": "sample_names"}


def test_label_column_gives_labels_and_keeps_them_per_sample():
    data = b"x1,x2,kind\n1,2,cat\n3,4,dog\n5,6,cat\n7,1,dog\n"
    with pytest.raises(DataError) as info:
        load_file(data, filename="l.csv", index_col=False)
    assert "column_roles={'kind': 'labels'}" in info.value.fixes
    ds = load_file(data, filename="l.csv", column_roles={"kind": "labels"})
    assert ds.shape == (4, 2) and ds.label_names == ["cat", "dog"]
    np.testing.assert_array_equal(ds.labels, [0, 1, 0, 1])
    auto = load_file(b"a,b,label\n1,2,0\n3,4,1\n5,6,0\n", filename="a.csv")
    assert auto.shape == (3, 2) and list(auto.labels) == [0, 1, 0]


def test_a_long_text_column_can_be_read_as_a_corpus():
    data = (b"id,review\n1,the film was long and the plot was thin\n"
            b"2,a warm funny film with a great cast\n3,the plot was thin but the cast was great\n")
    with pytest.raises(DataError) as info:
        load_file(data, filename="r.csv")
    assert "text_column='review'" in info.value.fixes
    ds = load_file(data, filename="r.csv", **parse_fix("text_column='review'"))
    assert ds.kind == "text" and ds.shape[1] == 3


def test_decimal_commas_are_named_and_fixed():
    data = b"1,5;2,25;3\n4;5,5;6\n7;8;9,75\n"
    with pytest.raises(DataError) as info:
        load_file(data, filename="eu.csv")
    assert "decimal comma" in str(info.value) and info.value.fixes == ["decimal=','"]
    ds = load_file(data, filename="eu.csv", decimal=",")
    np.testing.assert_allclose(ds.X, [[1.5, 2.25, 3], [4, 5.5, 6], [7, 8, 9.75]])


def test_ragged_line_is_named_by_its_line_number_after_comments():
    data = b"# made by hand\n1,2,3\n\n4,5,6\n7,8\n"
    with pytest.raises(DataError, match=r"line 5 has 2 values but most lines have 3"):
        load_file(data, filename="r.csv")
    with pytest.raises(DataError, match=r"line 3 has 4 values"):
        load_file(b"1,2,3\n4,5,6\n7,8,9,10\n", filename="r.csv")


def test_unknown_role_column_is_a_message():
    with pytest.raises(DataError, match="no column 'nope'"):
        load_file(ID_NAME, filename="p.csv", column_roles={"name": "drop", "nope": "drop"})
    with pytest.raises(DataError, match="must be one of"):
        load_file(ID_NAME, filename="p.csv", column_roles={"name": "eat"})


# ---------------------------------------------------------------------------- MATLAB v7.3
def mat73_bytes(tmp_path: Path, **variables) -> bytes:
    """A MATLAB v7.3 file written with h5py as MATLAB writes it: a 512-byte text header,
    arrays with their axes reversed, MATLAB_class attributes, sparse as data/ir/jc."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        for k, v in variables.items():
            if sp.issparse(v):
                c = sp.csc_matrix(v)
                g = f.create_group(k)
                g.attrs["MATLAB_class"] = np.bytes_("double")
                g.attrs["MATLAB_sparse"] = np.uint64(c.shape[0])
                g["data"], g["ir"], g["jc"] = c.data, c.indices.astype(np.uint64), \
                    c.indptr.astype(np.uint64)
            elif isinstance(v, str):
                d = f.create_dataset(k, data=np.array([[ord(ch)] for ch in v], np.uint16))
                d.attrs["MATLAB_class"] = np.bytes_("char")
            else:
                a = np.asarray(v)
                d = f.create_dataset(k, data=a.T)
                d.attrs["MATLAB_class"] = np.bytes_({"f": "double", "i": "int64",
                                                     "u": "uint16"}[a.dtype.kind])
    raw = bytearray(path.read_bytes())
    head = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 ."
    raw[:len(head)] = head
    raw[len(head):512] = b" " * (512 - len(head))
    return bytes(raw)


def test_mat_v73_reads_like_v5(tmp_path):
    A = np.random.default_rng(0).random((6, 9)) + 0.1
    data = mat73_bytes(tmp_path, X=A, note="hello")
    ds = load_file(data, filename="a.mat")
    np.testing.assert_array_equal(ds.X, A)  # MATLAB's 6×9, not HDF5's 9×6
    v5 = load_file(io.BytesIO(_v5(X=A, note="hello")), filename="a.mat")
    np.testing.assert_array_equal(v5.X, ds.X)
    # several matrices: the same choice of variable as v5, with the same fixes
    two = mat73_bytes(tmp_path, A=A, B=A[:4])
    with pytest.raises(DataError, match="several") as info:
        load_file(two, filename="two.mat")
    assert info.value.fixes == ["variable='A'", "variable='B'"]
    np.testing.assert_array_equal(load_file(two, filename="two.mat", variable="B").X, A[:4])
    # a hyperspectral layout (nRow × nCol pixels) is recognised as in v5
    hs = mat73_bytes(tmp_path, Y=np.random.default_rng(1).random((5, 12)) + 0.1,
                     nRow=np.array([[3.0]]), nCol=np.array([[4.0]]))
    spec = load_file(hs, filename="hs.mat")
    assert spec.kind == "spectra" and spec.image_shape == (3, 4)
    S = sp.random(8, 7, density=0.4, random_state=0, format="csc") * 5
    sparse = load_file(mat73_bytes(tmp_path, D=S), filename="s.mat")
    assert sparse.is_sparse
    np.testing.assert_allclose(sparse.X.toarray(), S.toarray())


def _v5(**variables) -> bytes:
    b = io.BytesIO()
    sio.savemat(b, variables)
    return b.getvalue()


def test_corrupt_v73_is_a_message(tmp_path):
    data = mat73_bytes(tmp_path, X=np.ones((3, 3)))
    with pytest.raises(DataError, match="v7.3"):
        load_file(data[:700], filename="cut.mat")


# ---------------------------------------------------------------------------- ground truth
def test_npz_ground_truth_attaches_and_checks_shapes():
    rng = np.random.default_rng(0)
    W1, H1 = rng.random((10, 3)), rng.random((3, 8))
    X = W1 @ H1
    b = io.BytesIO()
    np.savez(b, W_1=W1, H_1=H1, labels=np.arange(10) % 2)
    truth_bytes = b.getvalue()
    assert looks_like_ground_truth(truth_bytes, "truth.npz")
    gt = read_ground_truth(truth_bytes, "truth.npz")
    ds = load_file(X, name="x")
    with_gt = attach_ground_truth(ds, gt, "truth.npz")
    np.testing.assert_array_equal(with_gt.ground_truth["W"][0], W1)
    np.testing.assert_array_equal(with_gt.labels, np.arange(10) % 2)
    assert "truth.npz" in with_gt.provenance
    with pytest.raises(DataError, match="another dataset"):
        attach_ground_truth(load_file(X[:, :5].T.copy(), name="other"), gt, "truth.npz")
    # a dnmf run export has W_1 … too, but it is a run, not ground truth
    import pandas as pd

    from dnmf.result import FitResult

    run = FitResult(W=[W1], H=[H1], history=pd.DataFrame()).to_npz_bytes()
    assert not looks_like_ground_truth(run, "run.npz")
    assert not looks_like_ground_truth(b"\x00garbage" * 10, "g.npz")


def test_npz_extras_labels_and_names_are_kept():
    rng = np.random.default_rng(0)
    b = io.BytesIO()
    np.savez(b, data=rng.random((5, 3)), labels=np.array([0, 1, 1, 0, 2]),
             names=np.array(list("abcde")))
    ds = load_file(b.getvalue(), filename="d.npz")
    assert ds.shape == (5, 3)
    np.testing.assert_array_equal(ds.labels, [0, 1, 1, 0, 2])
    assert ds.meta["sample_names"] == list("abcde")
    b = io.BytesIO()
    np.savez(b, data=rng.random((5, 3)), labels=np.array([0, 1]))
    short = load_file(b.getvalue(), filename="d.npz")
    assert short.labels is None and "do not match" in " ".join(short.meta["notes"])


@pytest.mark.skipif(not (DATA / "end3.mat").is_file(), reason="../shared/data is absent")
def test_samson_end3_attaches_to_samson():
    ds = load_file(DATA / "samson_1.mat")
    end3 = (DATA / "end3.mat").read_bytes()
    assert looks_like_ground_truth(end3, "end3.mat")
    assert not looks_like_ground_truth((DATA / "samson_1.mat").read_bytes(), "samson_1.mat")
    with pytest.raises(DataError, match="together with the data file samson_1.mat"):
        load_file(end3, filename="end3.mat")
    with_gt = attach_ground_truth(ds, read_ground_truth(end3, "end3.mat"), "end3.mat")
    assert with_gt.ground_truth["endmembers"].shape == (156, 3)
    assert with_gt.ground_truth["names"] == ["rock", "tree", "water"]


# ---------------------------------------------------------------------------- paper settings
def test_paper_settings_of_section_4():
    assert paper_settings("cbcl")["ranks"] == [80, 40, 20]
    tdt2 = paper_settings("tdt2")
    assert tdt2["ranks"] == [20, 10, 5] and tdt2["weights"] == [4.0, 2.0, 1.0]
    assert tdt2["paper_words"] is True
    assert paper_settings("moffet")["ranks"] == [4, 2]  # alias
    assert paper_settings("samson")["min_vol"]["alpha_tilde"] == [0.45, 0.45]
    assert paper_settings("samson")["max_iter"] == 800
    assert paper_settings("tumor")["ranks"] == [3, 2]
    assert paper_settings("jasper")["ranks"] == [6, 4]
    assert paper_settings("faces") is None
    s = paper_settings("cbcl")
    s["ranks"].append(1)  # a copy: the table itself is not changed
    assert paper_settings("cbcl")["ranks"] == [80, 40, 20]


@pytest.mark.skipif(not (DATA / "TDT2_500words.mat").is_file(), reason="../shared/data absent")
def test_tdt2_file_is_recognised_and_its_500_words_offered():
    full = load_file(DATA / "TDT2_500words.mat")
    assert full.meta["paper"] == "tdt2" and paper_settings(full)["paper_words"]
    words = load_file(DATA / "TDT2_500words.mat", paper_words=True)
    assert words.shape[0] <= 500 < full.shape[0]


def test_the_readers_safety_net_keeps_server_details_out_of_the_message(monkeypatch, caplog):
    from dnmf.datasets import readers

    def broken(data, **kw):
        raise OSError("cannot open /srv/dnmf/secret/cache.bin")

    monkeypatch.setitem(readers._READERS, "csv", broken)
    with pytest.raises(DataError) as info:
        load_file(b"1,2\n3,4\n", filename="a.csv")
    msg = str(info.value)
    assert "OSError" in msg and "/srv" not in msg and "secret" not in msg
    assert "/srv/dnmf/secret" in caplog.text  # the details are in the server's log


def test_old_mac_line_ends_are_lines():
    """A lone "\\r" ends a line for pandas and for the layout scan alike (found by the
    property test: b'0\\r\\x01' raised IndexError inside the reader)."""
    with pytest.raises(DataError, match=r"'x' at row 3, column 2"):
        load_file(b"1,2\r3,4\r5,x\r", filename="mac.csv")
    with pytest.raises(DataError, match=r"line 3 has 3 values"):
        load_file(b"1,2\r3,4\r5,6,7\r", filename="mac.csv")
    np.testing.assert_array_equal(load_file(b"1,2\r3,4\r5,6\r", filename="mac.csv").X,
                                  [[1, 2], [3, 4], [5, 6]])
