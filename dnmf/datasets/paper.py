"""The real datasets of the paper (``../shared/data``, see its README.md).

=========  ======================  =====================================  ================
name       file                    Dataset X                              view metadata
=========  ======================  =====================================  ================
cbcl       CBCL.mat                Xᵀ: 2429 faces × 361 pixels, images    19×19, order "F"
tdt2       TDT2_500words.mat       Xᵀ: words × 9394 docs, text (sparse)   vocabulary, 30 topics
moffett    Moffet.mat              159 bands × 2500 pixels, spectra       50×50, order "F"
samson     samson_1.mat (+end3)    156 bands × 9025 pixels, spectra       95×95, order "F"
jasper     jasperRidge2_R198.mat   198 bands × 10000 pixels, spectra      100×100, order "F"
tumor      Tumor.mat               519 spectral points × 143 voxels       13×11, order "F"
=========  ======================  =====================================  ================

The same files given to `dnmf.datasets.load_file` (path, or bytes + ``filename=``) give the
same Dataset: `detect_known` recognises them by their variables and shapes. Samson's ground
truth lives in a second file (end3.mat), which only `load_paper_dataset` reads.
"""

from __future__ import annotations

import os
from pathlib import Path
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


def list_paper_datasets() -> list[str]:
    return list(PAPER_FILES)


def default_data_dir() -> Path:
    """``$DNMF_DATA_DIR`` if set, else ``../shared/data`` next to the repository."""
    env = os.environ.get("DNMF_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def paper_data_available(data_dir: str | os.PathLike | None = None) -> bool:
    d = Path(data_dir) if data_dir is not None else default_data_dir()
    return d.is_dir() and any((d / f).is_file() for f in PAPER_FILES.values())


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
    ``meta["paper"]`` names it (for :func:`paper_settings`)."""
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


def samson_truth(path: str | os.PathLike) -> dict[str, Any]:
    """Samson's end3.mat as a ground-truth dict (:func:`dnmf.datasets.read_ground_truth`)."""
    from .truth import read_ground_truth

    return read_ground_truth(Path(path).read_bytes(), Path(path).name)


#: The model settings of the paper's Section 4 per dataset (docs/paper_settings.md says where
#: each number comes from). Keys are those of the workbench's configuration.
PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "cbcl": {"model": "deep", "beta": 1.0, "ranks": [80, 40, 20], "weights": "auto",
             "n_init_iter": 500, "max_iter": 500,
             "source": "§4.1 (CBCL): r = [80, 40, 20]; deep KL-NMF warm-started by 500 "
                       "iterations of multilayer KL-NMF, then 500 iterations of Algorithm 1; "
                       "λ_ℓ = 1 / D(W_{ℓ-1}⁰, W_ℓ⁰ H_ℓ⁰) (auto)."},
    "tdt2": {"model": "deep", "beta": 1.0, "ranks": [20, 10, 5], "weights": [4.0, 2.0, 1.0],
             "n_init_iter": 500, "max_iter": 500, "paper_words": True,
             "source": "§4.2 (TDT2): the 500-word subset (variable K), r = [20, 10, 5], "
                       "λ = [4, 2, 1], otherwise as for CBCL."},
    "moffett": {"model": "deep-minvol", "beta": 1.0, "ranks": [4, 2], "weights": "auto",
                "n_init_iter": 100, "max_iter": 300,
                "min_vol": {"alpha_tilde": [4.0, 1.0], "delta": 1.0, "rho": 100.0,
                            "rho_mode": "absolute", "admm_tol": 1e-6},
                "source": "§4.3 (Moffett): r = [4, 2], 300 iterations, Algorithm 2 with "
                          "ρ = 100, ε = 10⁻⁶ and min-vol weights [4; 1]."},
    "tumor": {"model": "deep-minvol", "beta": 1.0, "ranks": [3, 2], "weights": "auto",
              "n_init_iter": 100, "max_iter": 200,
              "min_vol": {"alpha_tilde": [0.25e-4, 1e-2], "delta": 1.0, "rho": 100.0,
                          "rho_mode": "absolute", "admm_tol": 1e-6},
              "source": "§4.3 (Tumor): r = [3, 2], 200 iterations, Algorithm 2 with the same "
                        "ADMM settings and min-vol weights [¼·10⁻⁴; 10⁻²]."},
    "samson": {"model": "deep-minvol", "beta": 1.0, "ranks": [4, 2], "weights": "auto",
               "n_init_iter": 100, "max_iter": 800,
               "min_vol": {"alpha_tilde": [0.45, 0.45], "delta": 1.0, "rho": 100.0,
                           "rho_mode": "absolute", "admm_tol": 1e-6},
               "source": "§4.3 (Samson): r = [4, 2], 800 iterations, Algorithm 2 with the same "
                         "ADMM settings and min-vol weights [0.45; 0.45]."},
    "jasper": {"model": "deep", "beta": 1.0, "ranks": [6, 4], "weights": "auto",
               "n_init_iter": 100, "max_iter": 500,
               "source": "Jasper Ridge is not in the paper's Section 4; r = [6, 4] as in the "
                         "authors' scripts, other settings dnmf's defaults."},
}


def paper_name(dataset: Any) -> str | None:
    """The paper dataset a Dataset (or a name) is, or None."""
    if isinstance(dataset, str):
        key = _ALIASES.get(dataset.strip().lower(), dataset.strip().lower())
        return key if key in PAPER_SETTINGS else None
    meta = getattr(dataset, "meta", None) or {}
    key = meta.get("paper")
    return key if key in PAPER_SETTINGS else None


def paper_settings(dataset: Any) -> dict[str, Any] | None:
    """The paper's model settings (Section 4) for a recognised dataset — a Dataset loaded from
    one of the paper's files, or its name — as a configuration dict (``model``, ``beta``,
    ``ranks``, ``weights`` (λ or "auto"), ``n_init_iter``, ``max_iter``, ``min_vol`` for the
    min-vol models, ``paper_words`` for TDT2's preprocessing, and ``source``: where the
    numbers come from). None for any other dataset.
    """
    import copy

    key = paper_name(dataset)
    if key is None:
        return None
    out = copy.deepcopy(PAPER_SETTINGS[key])
    out["dataset"] = key
    return out


def load_paper_dataset(name: str, data_dir: str | os.PathLike | None = None,
                       **options: Any) -> Dataset:
    """Load one of the paper's datasets: "cbcl", "tdt2", "moffett", "samson", "jasper",
    "tumor" (aliases: "moffet", "jasperridge", "glioma").

    ``data_dir`` defaults to ``$DNMF_DATA_DIR`` or ``../shared/data``. Options: ``paper_words``
    (TDT2 only: keep the paper's 500 words, variable K; default False = all words).
    Raises `DataError` when the file is missing.
    """
    from .readers import load_file

    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in PAPER_FILES:
        raise DataError(f"Unknown paper dataset {name!r}; choose one of "
                        + ", ".join(PAPER_FILES) + ".")
    unknown = set(options) - ({"paper_words"} if key == "tdt2" else set())
    if unknown:
        raise DataError(f"Unknown option(s) {', '.join(sorted(unknown))} for {key!r}.")
    d = Path(data_dir) if data_dir is not None else default_data_dir()
    path = d / PAPER_FILES[key]
    if not path.is_file():
        raise DataError(
            f"The paper's file {PAPER_FILES[key]} was not found in {d}. Put the published "
            "data files there (see shared/data/README.md), set DNMF_DATA_DIR, or pass "
            "data_dir=...; in the app, upload the same .mat file."
        )
    ds = load_file(path, **options)
    if key == "samson":
        tp = d / SAMSON_TRUTH
        if tp.is_file():
            gt = samson_truth(tp)
            ds = ds.replace(ground_truth=gt,
                            provenance=ds.provenance + f" Ground truth from {SAMSON_TRUTH}: "
                            "endmembers M (156×3), abundances A (3×9025), names "
                            + ", ".join(gt["names"]) + ".")
    return ds
