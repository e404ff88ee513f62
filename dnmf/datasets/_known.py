"""Recognising the paper's .mat files and building their `Dataset`.

`detect_known` names the paper dataset a .mat file holds from its variables and shapes;
`build_known` turns the loaded variables into the Dataset (orientation, image shape, pixel
order and preprocessing as in the paper; docs/data.md). Both `dnmf.datasets.readers` (any
upload of the same file) and `dnmf.datasets.paper` (`load_paper_dataset`) go through here, so
this module imports neither of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ._types import DataError, Dataset

PAPER_FILES = {
    "cbcl": "CBCL.mat",
    "tdt2": "TDT2_500words.mat",
    "moffett": "Moffet.mat",
    "samson": "samson_1.mat",
    "jasper": "jasperRidge2_R198.mat",
    "tumor": "Tumor.mat",
}
_ALIASES = {"moffet": "moffett", "jasperridge": "jasper", "jasper-ridge": "jasper",
            "jasper_ridge": "jasper", "glioma": "tumor", "tumour": "tumor"}

#: Samson's ground truth file (endmembers M, abundances A, names cood).
SAMSON_TRUTH = "end3.mat"
SAMSON_FLOOR = 1e-9


def _scalar(v: Any) -> float:
    return float(np.asarray(v).ravel()[0])


def _cellstr(v: Any) -> list[str]:
    out = []
    for c in np.asarray(v, dtype=object).ravel():
        a = np.asarray(c).ravel()
        out.append(str(a[0]) if a.size else "")
    return out


def detect_known(shapes: dict[str, tuple]) -> str | None:
    """Name of the paper dataset a .mat file holds, from ``{variable: shape}`` (as listed by
    ``scipy.io.whosmat``), or None."""
    s = shapes
    if set(s) >= {"X", "K", "words"} and len(s.get("X", ())) == 2:
        return "tdt2"
    if set(s) >= {"M", "A", "cood"}:
        return "samson-truth"
    if "Y" in s and "maxValue" in s and {"nRow", "nCol"} <= set(s):
        return "jasper"
    if "V" in s and {"nRow", "nCol"} <= set(s) and tuple(s["V"]) == (156, 9025):
        return "samson"
    if set(s) == {"X"} and tuple(s["X"]) == (361, 2429):
        return "cbcl"
    if set(s) == {"X"} and tuple(s["X"]) == (159, 2500):
        return "moffett"
    if set(s) == {"M"} and tuple(s["M"]) == (519, 143):
        return "tumor"
    return None


def build_known(name: str, v: dict[str, Any], *, paper_words: bool = False,
                source: str = "") -> Dataset:
    """Build the paper dataset ``name`` from the loaded variables ``v`` of its .mat file;
    ``meta["paper"]`` names it (for
    `dnmf.datasets.paper.paper_settings`)."""
    ds = _build_known(name, v, paper_words=paper_words, source=source)
    meta = dict(ds.meta)
    meta["paper"] = name
    if name == "tdt2":
        meta["paper_words"] = bool(paper_words)
    return ds.replace(meta=meta)


def _build_known(name: str, v: dict[str, Any], *, paper_words: bool,
                 source: str) -> Dataset:
    src = f" ({source})" if source else ""
    if name == "cbcl":
        X = np.asarray(v["X"], dtype=np.float64).T
        return Dataset(
            X=X, kind="images", name="cbcl", image_shape=(19, 19), pixel_order="F",
            provenance=(f"CBCL faces{src}: the file's X is 361×2429 (one face per column); "
                        "the dataset is its transpose 2429 faces × 361 pixels, 19×19 in "
                        "Fortran (column-major) order, as in the paper (Table 2, Figs 2–3)."),
        )
    if name == "tdt2":
        D = v["X"]
        D = sp.csr_matrix(D, dtype=np.float64) if sp.issparse(D) else sp.csr_matrix(
            np.asarray(D, dtype=np.float64))
        X = sp.csr_matrix(D.T)  # words × docs
        words = _cellstr(v["words"])
        labels = np.asarray(v["classid"]).ravel().astype(np.int64) - 1 if "classid" in v else None
        what = f"all {X.shape[0]} words"
        if paper_words:
            K = np.asarray(v["K"]).ravel().astype(np.int64) - 1  # 1-based in the file
            X = X[K]
            words = [words[k] for k in K]
            what = f"the paper's {K.size} words (variable K, 1-based)"
        # words that occur in no document and documents with none of the kept words
        rows = np.flatnonzero(X.getnnz(axis=1) > 0)
        cols = np.flatnonzero(X.getnnz(axis=0) > 0)
        dropped = (X.shape[0] - rows.size, X.shape[1] - cols.size)
        X = X[rows][:, cols]
        words = [words[i] for i in rows]
        if labels is not None:
            labels = labels[cols]
        return Dataset(
            X=X, kind="text", name="tdt2", vocabulary=words, labels=labels,
            label_names=[f"topic {i + 1}" for i in range(30)] if labels is not None else None,
            meta={"docs_kept": cols, "words_kept": rows},
            provenance=(f"TDT2 top-30 news corpus{src}: counts docs×words transposed to "
                        f"words×docs, {what}; {dropped[0]} words that occur in no document and "
                        f"{dropped[1]} documents without any kept word dropped; labels = "
                        "classid (30 topics)."),
        )
    if name == "moffett":
        X = np.asarray(v["X"], dtype=np.float64)
        return Dataset(
            X=X, kind="spectra", name="moffett", image_shape=(50, 50), pixel_order="F",
            wavelengths=np.arange(1, X.shape[0] + 1), wavelength_unit="band",
            provenance=(f"AVIRIS Moffett Field 50×50 sub-image{src}, 159 bands × 2500 pixels "
                        "(band numbers only; pixel j ↔ (row, col) in Fortran order). Paper: "
                        "min-vol deep KL-NMF r=[4, 2] (Figs 6–7)."),
        )
    if name == "samson":
        V = np.asarray(v["V"], dtype=np.float64)
        nrow, ncol = int(_scalar(v["nRow"])), int(_scalar(v["nCol"]))
        X = np.maximum(V, SAMSON_FLOOR)
        return Dataset(
            X=X, kind="spectra", name="samson", image_shape=(nrow, ncol), pixel_order="F",
            wavelengths=np.arange(1, X.shape[0] + 1), wavelength_unit="band",
            provenance=(f"Samson {nrow}×{ncol}, {X.shape[0]} bands{src}; floored at "
                        f"{SAMSON_FLOOR:g} as the authors do; Fortran pixel order. Paper: "
                        "r=[4, 2] (Figs 10–11)."),
        )
    if name == "jasper":
        Y = np.asarray(v["Y"], dtype=np.float64)
        mx = _scalar(v["maxValue"])
        nrow, ncol = int(_scalar(v["nRow"])), int(_scalar(v["nCol"]))
        bands = np.asarray(v.get("SlectBands", np.arange(1, Y.shape[0] + 1))).ravel()
        return Dataset(
            X=Y / mx, kind="spectra", name="jasper", image_shape=(nrow, ncol),
            pixel_order="F", wavelengths=bands.astype(float), wavelength_unit="band",
            provenance=(f"Jasper Ridge {nrow}×{ncol}, {Y.shape[0]} of 224 AVIRIS bands{src} "
                        f"(uint16 counts divided by maxValue={mx:g}; wavelengths = the selected "
                        "band numbers SlectBands); Fortran pixel order. Authors' scripts: "
                        "r=[6, 4]."),
        )
    if name == "tumor":
        M = np.asarray(v["M"], dtype=np.float64)
        return Dataset(
            X=M, kind="spectra", name="tumor", image_shape=(13, 11), pixel_order="F",
            wavelengths=np.arange(1, M.shape[0] + 1), wavelength_unit="band",
            provenance=(f"Simulated MRSI of a glioma{src}: {M.shape[0]} spectral points × "
                        f"{M.shape[1]} voxels on a 13×11 grid (Fortran order); 'bands' are "
                        "spectral (frequency) points. Paper: r=[3, 2] (Figs 8–9): necrosis, "
                        "tumour, healthy tissue."),
        )
    if name == "samson-truth":
        raise DataError(
            "This file holds Samson's ground truth (endmembers M, abundances A, names cood), "
            "not data to factorise. Upload it together with the data file samson_1.mat (or "
            "while Samson is the dataset in use): it attaches to the data and the Layers and "
            "Compare pages score runs against it. In Python: "
            "attach_ground_truth(ds, read_ground_truth(data, 'end3.mat'))."
        )
    raise DataError(f"Unknown paper dataset {name!r}.")  # pragma: no cover
