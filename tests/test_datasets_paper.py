"""The paper's real datasets (../shared/data): kinds, shapes, metadata, orientation, and
load_file on the same bytes gives the same Dataset. Skipped when the files are absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from dnmf.datasets import DataError, load_file, load_paper_dataset
from dnmf.datasets.paper import PAPER_FILES

pytestmark = pytest.mark.realdata

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def need(name: str) -> Path:
    path = DATA / PAPER_FILES.get(name, name)
    if not path.exists():
        pytest.skip(f"{path.name} not found in {DATA} (the paper's datasets are not present)")
    return path


EXPECTED = {
    # name: (kind, shape, image_shape, pixel_order)
    "cbcl": ("images", (2429, 361), (19, 19), "F"),
    "moffett": ("spectra", (159, 2500), (50, 50), "F"),
    "samson": ("spectra", (156, 9025), (95, 95), "F"),
    "jasper": ("spectra", (198, 10000), (100, 100), "F"),
    "tumor": ("spectra", (519, 143), (13, 11), "F"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paper_dataset_kind_shape_metadata(name):
    need(name)
    ds = load_paper_dataset(name)
    kind, shape, img, order = EXPECTED[name]
    assert ds.kind == kind and ds.shape == shape
    assert ds.image_shape == img and ds.pixel_order == order
    assert ds.X.dtype == np.float64 and np.isfinite(ds.X).all() and ds.X.min() >= 0
    if kind == "spectra":
        assert ds.wavelengths.shape == (shape[0],)


def test_cbcl_is_the_transpose_of_the_file():
    import scipy.io as sio

    raw = sio.loadmat(need("cbcl"))["X"]
    ds = load_paper_dataset("cbcl")
    np.testing.assert_array_equal(ds.X, raw.T)
    # face j of the file, reshaped as MATLAB would (column-major), is image j of the dataset
    np.testing.assert_array_equal(ds.images([5])[0], raw[:, 5].reshape(19, 19, order="F"))


def test_cbcl_faces_are_upright():
    """The mean CBCL face, reshaped with the dataset's pixel order, is a face the right way up:

    * it is left-right symmetric (mirror difference) much more than top-bottom — a transposed
      reshape (order "C") would be the other way round;
    * the dark vertical shadow of the nose bridge/between the eyes (centre column) is in the
      upper half, and the eyes (dark spots at the lateral eye columns) are darker than the
      forehead above them — an upside-down face fails both.
    (A montage of the first faces was also checked by eye: upright.)
    """
    need("cbcl")
    ds = load_paper_dataset("cbcl")
    mean = ds.to_image(ds.X.mean(axis=0))
    lr = np.abs(mean - mean[:, ::-1]).mean()
    ud = np.abs(mean - mean[::-1]).mean()
    assert lr < 0.5 * ud
    centre = mean[:, 9]
    assert centre[:9].mean() < centre[10:].mean() - 0.1
    eyes = mean[7:11][:, [2, 3, 4, 14, 15, 16]].mean()
    forehead = mean[2:6][:, [2, 3, 4, 14, 15, 16]].mean()
    assert eyes < forehead - 0.15
    wrong = ds.X.mean(axis=0).reshape(19, 19, order="C")  # the transposed reading
    assert np.abs(wrong - wrong[:, ::-1]).mean() > np.abs(wrong - wrong[::-1]).mean()


def test_tumor_pixel_order_gives_smooth_maps():
    """Tumor's 13×11 grid is not square, so the pixel order matters: with the Fortran order the
    voxel image is much smoother (neighbours alike) than with the C order. (For the square
    scenes the two orders only transpose the picture; their orientation follows the README.)"""
    need("tumor")
    ds = load_paper_dataset("tumor")

    def roughness(img):
        img = img / img.std()
        return np.abs(np.diff(img, axis=0)).mean() + np.abs(np.diff(img, axis=1)).mean()

    total = ds.X.sum(axis=0)
    assert roughness(ds.to_image(total)) < 0.8 * roughness(total.reshape(13, 11, order="C"))


def test_samson_floor_and_ground_truth():
    need("samson")
    ds = load_paper_dataset("samson")
    assert ds.X.min() >= 1e-9
    gt = ds.ground_truth
    assert gt["endmembers"].shape == (156, 3) and gt["abundances"].shape == (3, 9025)
    assert gt["names"] == ["rock", "tree", "water"]
    np.testing.assert_allclose(gt["abundances"].sum(axis=0), 1.0, atol=1e-6)
    # the linear mixing model explains every pixel's spectral shape (endmembers are scaled
    # to max 1, so compare directions: cosine between X(:, j) and M A(:, j))
    Y = gt["endmembers"] @ gt["abundances"]
    cos = (ds.X * Y).sum(axis=0) / np.linalg.norm(ds.X, axis=0) / np.linalg.norm(Y, axis=0)
    assert np.median(cos) > 0.99 and cos.min() > 0.95


def test_jasper_scaled_by_max_value():
    import scipy.io as sio

    raw = sio.loadmat(need("jasper"))
    ds = load_paper_dataset("jasper")
    np.testing.assert_allclose(ds.X, raw["Y"].astype(float) / raw["maxValue"].item())
    np.testing.assert_array_equal(ds.wavelengths, raw["SlectBands"].ravel())


def test_tdt2_words_by_documents():
    import scipy.io as sio

    raw = sio.loadmat(need("tdt2"))
    ds = load_paper_dataset("tdt2")
    assert ds.kind == "text" and ds.is_sparse
    assert ds.shape[1] == 9394 and ds.shape[0] <= 19528  # unused words dropped
    assert len(ds.vocabulary) == ds.shape[0] and len(ds.labels) == 9394
    assert ds.labels.min() == 0 and ds.labels.max() == 29
    paper = load_paper_dataset("tdt2", paper_words=True)
    K = raw["K"].ravel().astype(int) - 1
    words = [str(np.asarray(w).ravel()[0]) for w in raw["words"].ravel()]
    assert paper.shape[0] == 500
    assert paper.vocabulary == [words[k] for k in K]
    # counts are the file's, transposed (docs × words → words × docs)
    cols = paper.meta["docs_kept"]
    D = sp.csr_matrix(raw["X"])[:, K][cols].T
    assert (sp.csr_matrix(D) != paper.X).nnz == 0


@pytest.mark.parametrize("name", ["cbcl", "tdt2", "moffett", "samson", "jasper", "tumor"])
def test_load_file_on_the_same_bytes_gives_the_same_dataset(name):
    path = need(name)
    ref = load_paper_dataset(name)
    up = load_file(path.read_bytes(), filename=path.name)
    assert up.name == ref.name and up.kind == ref.kind and up.shape == ref.shape
    assert up.image_shape == ref.image_shape and up.pixel_order == ref.pixel_order
    if sp.issparse(ref.X):
        assert (ref.X != up.X).nnz == 0
        assert up.vocabulary == ref.vocabulary
    else:
        np.testing.assert_array_equal(up.X, ref.X)
    # also under another file name: recognised by its variables and shapes, not its name
    other = load_file(path.read_bytes(), filename="renamed.mat")
    assert other.shape == ref.shape and other.kind == ref.kind


def test_samson_truth_file_alone_is_explained():
    path = need("end3.mat")
    with pytest.raises(DataError, match="ground truth"):
        load_file(path)


def test_missing_data_dir_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_paper_dataset("cbcl", data_dir=tmp_path)
    with pytest.raises(DataError, match="Unknown paper dataset"):
        load_paper_dataset("mnist")
