"""Ground truth that comes in its own file, and how it attaches to a dataset.

Recognised (`read_ground_truth`):

- Samson's ``end3.mat``: endmembers ``M`` (bands × 3), abundances ``A`` (3 × pixels), names
  ``cood`` — the same dictionary `dnmf.datasets.paper.samson_truth` builds;
- an ``.npz`` or ``.mat`` (v5 or v7.3) with ``endmembers`` (and optionally ``abundances``), or
  with per-layer factors ``W_1 … W_L`` (and optionally ``H_1 … H_L``) and no ``meta`` entry (a
  file with ``meta`` is a dnmf run export, not ground truth); optional ``labels`` (one class
  per sample) and ``names``;
- a labels-only file: an ``.npz``/``.mat`` with just ``labels`` (and ``label_names``).

`attach_ground_truth` checks the shapes against the dataset (a true ``W_ℓ`` has one row per
row of X, true abundances one column per column of X, labels one entry per sample) and returns
a new Dataset with ``ground_truth`` (and ``labels``) set; the views of the Layers and Compare
pages then score runs against it (SAD, MRSA, abundance RMSE, label purity).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._types import DataError, Dataset

_W_KEY = re.compile(r"^W_?(\d+)$")
_H_KEY = re.compile(r"^H_?(\d+)$")


def _mat_vars(data: bytes, fname: str) -> dict[str, Any]:
    from .readers import _mat_variables

    shapes, _, load = _mat_variables(data, fname)
    return load(list(shapes))


def _npz_vars(data: bytes, fname: str) -> dict[str, Any]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            out = {}
            for k in z.files:
                try:
                    out[k] = z[k]
                except ValueError:  # an object array: never unpickled, just left out
                    continue
            return out
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{fname} is not a readable .npz file ({type(exc).__name__}).") from None


def _variables(data: bytes, fname: str) -> dict[str, Any] | None:
    ext = Path(fname).suffix.lower()
    head = data[:16]
    if ext == ".mat" or head.startswith(b"MATLAB"):
        return _mat_vars(data, fname)
    if ext == ".npz" or head.startswith(b"PK\x03\x04"):
        return _npz_vars(data, fname)
    return None


def _names(v: Any) -> list[str]:
    from .paper import _cellstr

    a = np.asarray(v)
    if a.dtype.kind in "US":
        return [str(s).strip() for s in a.ravel()]
    return [s.strip() for s in _cellstr(a)]


def looks_like_ground_truth(data: bytes, filename: str) -> bool:
    """True when the file holds ground truth (module doc) rather than data; never raises."""
    try:
        return bool(_truth_from_vars(_variables(data, filename) or {}))
    except Exception:  # any unreadable file is simply not ground truth
        return False


def _truth_from_vars(v: dict[str, Any]) -> dict[str, Any]:
    keys = set(v)
    if "meta" in keys:  # a dnmf run export
        return {}
    gt: dict[str, Any] = {}
    if {"M", "A", "cood"} <= keys:  # Samson's end3.mat
        names = [n.split("-", 1)[-1].strip().lower() for n in _names(v["cood"])]
        M = np.asarray(v["M"], dtype=np.float64)
        A = np.asarray(v["A"], dtype=np.float64)
        return {"endmembers": M, "abundances": A, "names": names, "W": [M], "H": [A]}
    if "endmembers" in keys:
        M = np.asarray(v["endmembers"], dtype=np.float64)
        gt.update(endmembers=M, W=[M])
        if "abundances" in keys:
            A = np.asarray(v["abundances"], dtype=np.float64)
            gt.update(abundances=A, H=[A])
    else:
        Ws = sorted((int(m.group(1)), k) for k in keys if (m := _W_KEY.match(k)))
        if Ws and [i for i, _ in Ws] == list(range(1, len(Ws) + 1)):
            gt["W"] = [np.asarray(v[k], dtype=np.float64) for _, k in Ws]
            Hs = sorted((int(m.group(1)), k) for k in keys if (m := _H_KEY.match(k)))
            if Hs and [i for i, _ in Hs] == list(range(1, len(Hs) + 1)):
                gt["H"] = [np.asarray(v[k], dtype=np.float64) for _, k in Hs]
    if "names" in keys:
        gt["names"] = _names(v["names"])
    if "labels" in keys:
        lab = np.asarray(v["labels"]).ravel()
        if lab.dtype.kind in "iub" or (lab.dtype.kind == "f" and np.all(lab == np.round(lab))):
            gt["labels"] = lab.astype(np.int64)
        elif lab.dtype.kind in "US":
            names = sorted(set(lab.tolist()))
            gt["labels"] = np.array([names.index(x) for x in lab.tolist()], dtype=np.int64)
            gt["label_names"] = [str(s) for s in names]
    if "label_names" in keys:
        gt["label_names"] = _names(v["label_names"])
    return gt


def read_ground_truth(data: bytes, filename: str) -> dict[str, Any]:
    """The ground truth a file holds (module doc), or `DataError` when it holds none."""
    v = _variables(data, filename)
    gt = _truth_from_vars(v or {})
    if not gt:
        raise DataError(
            f"{filename} holds no ground truth: expected endmembers (and abundances), per-layer "
            "factors W_1 … W_L (and H_1 … H_L), or labels — as in Samson's end3.mat.")
    for k in ("W", "H"):
        for i, a in enumerate(gt.get(k, []), start=1):
            if a.ndim != 2 or not np.all(np.isfinite(a)):
                raise DataError(f"{filename}: the true {k}_{i} is not a finite 2-D matrix "
                                f"(shape {a.shape}).")
    return gt


def attach_ground_truth(ds: Dataset, truth: dict[str, Any], source: str = "") -> Dataset:
    """``ds`` with ``truth`` as its ground truth, after checking the shapes; `DataError`
    (saying which shape does not match) otherwise."""
    m, n = ds.shape
    src = f"{source}: " if source else ""
    gt = {k: v for k, v in truth.items() if k not in ("labels", "label_names")}
    W, H = gt.get("W", []), gt.get("H", [])
    if W and W[0].shape[0] != m:
        what = "bands" if ds.kind == "spectra" else "rows"
        raise DataError(
            f"{src}the true W_1 (endmembers) has {W[0].shape[0]} rows but {ds.name} has {m} "
            f"{what}: this ground truth belongs to another dataset.")
    for i in range(1, len(W)):
        if W[i].shape[0] != m:
            raise DataError(f"{src}the true W_{i + 1} has {W[i].shape[0]} rows, not {m}.")
    if H and H[0].shape[1] != n:
        raise DataError(
            f"{src}the true H_1 (abundances) has {H[0].shape[1]} columns but {ds.name} has {n}"
            f" {'pixels' if ds.kind == 'spectra' else 'columns'}: this ground truth belongs to "
            "another dataset.")
    for i, (Wi, Hi) in enumerate(zip(W, H), start=1):
        if Hi.shape[0] != Wi.shape[1]:
            raise DataError(f"{src}the true W_{i} has {Wi.shape[1]} columns but H_{i} has "
                            f"{Hi.shape[0]} rows; they do not multiply.")
    changes: dict[str, Any] = {}
    lab = truth.get("labels")
    if lab is not None:
        if lab.size != ds.n_samples:
            raise DataError(f"{src}{lab.size} labels for the {ds.n_samples} samples of "
                            f"{ds.name}.")
        changes.update(labels=lab, label_names=truth.get("label_names"))
    parts = []
    if W:
        parts.append(f"{len(W)} true layer{'s' if len(W) > 1 else ''} "
                     f"(W_1 {W[0].shape[0]}×{W[0].shape[1]})")
    if H:
        parts.append("abundances")
    if lab is not None:
        parts.append(f"{len(set(lab.tolist()))} label classes")
    if gt:
        merged = dict(ds.ground_truth)
        merged.update(gt)
        changes["ground_truth"] = merged
    if not changes:
        raise DataError(f"{src}nothing to attach.")
    changes["provenance"] = (ds.provenance.rstrip() + f" Ground truth from {source or 'a file'}"
                             f": {', '.join(parts)}.")
    meta = dict(ds.meta)
    meta["truth_files"] = [*meta.get("truth_files", []), source] if source else \
        meta.get("truth_files", [])
    changes["meta"] = meta
    return ds.replace(**changes)
