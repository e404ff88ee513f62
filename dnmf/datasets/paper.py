"""The real datasets of the paper (where they are looked for: docs/data.md, The paper's datasets).

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

import copy
import os
from pathlib import Path
from typing import Any

from ._known import _ALIASES, PAPER_FILES, SAMSON_TRUTH
from ._known import SAMSON_FLOOR as SAMSON_FLOOR  # re-exported: these lived here first
from ._known import build_known as build_known
from ._known import detect_known as detect_known
from ._types import DataError, Dataset
from .readers import load_file
from .truth import read_ground_truth


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


def samson_truth(path: str | os.PathLike) -> dict[str, Any]:
    """Samson's end3.mat as a ground-truth dict (:func:`dnmf.datasets.read_ground_truth`)."""
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
            "data files there (docs/data.md lists them), set DNMF_DATA_DIR, or pass "
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
