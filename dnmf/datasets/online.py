"""Online extras: datasets scikit-learn downloads on first use (then caches in
``~/scikit_learn_data``). They are *not* embedded samples — `list_samples` stays offline — and
without internet (and without a cached copy) they fail with a clear `DataError`.

* "olivetti": 400 faces 64×64 (40 people × 10), images × pixels, labels = person.
* "20newsgroups": newsgroup posts (headers, footers and quotes removed) → words × documents,
  with a two-level ground truth: newsgroup (``comp.sys.mac.hardware``, layer 1) → top-level
  hierarchy (``comp``, layer 2).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ._types import DataError, Dataset
from .text import corpus_dataset

ONLINE = {
    "olivetti": "400 faces 64×64 (AT&T/Olivetti, 40 people), downloaded by scikit-learn",
    "20newsgroups": "20 Newsgroups posts, words × documents, newsgroup → hierarchy labels; "
                    "downloaded by scikit-learn",
}


def list_online_datasets() -> list[str]:
    return list(ONLINE)


def _offline_error(name: str, exc: BaseException) -> DataError:
    return DataError(
        f"The online dataset {name!r} is not available: it is downloaded by scikit-learn on "
        f"first use, and that failed ({type(exc).__name__}: {exc}). Connect to the internet "
        "once (it is cached in ~/scikit_learn_data afterwards), or use an embedded sample "
        "(faces, digits, stdlib-text, spectral-scene, synthetic-layers)."
    )


@functools.lru_cache(maxsize=4)
def _olivetti(download: bool, data_home: str | None) -> Dataset:
    from sklearn.datasets import fetch_olivetti_faces

    try:
        b = fetch_olivetti_faces(data_home=data_home, download_if_missing=download)
    except Exception as exc:  # URLError, OSError, HTTPError, ...
        raise _offline_error("olivetti", exc) from None
    X = np.asarray(b.images, dtype=np.float64).reshape(len(b.images), -1)
    return Dataset(
        X=X, kind="images", name="olivetti", image_shape=b.images.shape[1:], pixel_order="C",
        labels=b.target, label_names=[f"person {i + 1}" for i in range(int(b.target.max()) + 1)],
        provenance="sklearn.datasets.fetch_olivetti_faces(): 400 faces 64×64 in [0, 1], one "
                   "image per row, C pixel order; labels = person.",
    )


@functools.lru_cache(maxsize=4)
def _newsgroups(download: bool, data_home: str | None, subset: str,
                max_features: int) -> Dataset:
    from sklearn.datasets import fetch_20newsgroups

    try:
        b = fetch_20newsgroups(data_home=data_home, subset=subset, download_if_missing=download,
                               remove=("headers", "footers", "quotes"))
    except Exception as exc:
        raise _offline_error("20newsgroups", exc) from None
    groups = list(b.target_names)
    tops = sorted({g.split(".")[0] for g in groups})
    ds = corpus_dataset(b.data, name="20newsgroups", labels=b.target, label_names=groups,
                        max_features=max_features, min_df=5, max_df=0.5,
                        provenance=f"sklearn.datasets.fetch_20newsgroups(subset={subset!r}, "
                        "remove=(headers, footers, quotes)).")
    fine = np.asarray(ds.labels)
    coarse = np.array([tops.index(groups[g].split(".")[0]) for g in fine])
    return ds.replace(ground_truth={"labels": [fine, coarse], "label_names": [groups, tops]})


def load_online_dataset(name: str, *, download: bool = True, data_home: str | None = None,
                        **options: Any) -> Dataset:
    """Load "olivetti" or "20newsgroups" (options: ``subset="train"|"test"|"all"``,
    ``max_features=2000``). ``download=False`` only uses a cached copy."""
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    key = {"olivettifaces": "olivetti", "newsgroups": "20newsgroups"}.get(key, key)
    if key not in ONLINE:
        raise DataError(f"Unknown online dataset {name!r}; choose one of {', '.join(ONLINE)}.")
    if key == "olivetti":
        if options:
            raise DataError(f"Unknown option(s) for 'olivetti': {', '.join(options)}.")
        return _olivetti(bool(download), data_home).copy()
    subset = options.pop("subset", "train")
    max_features = int(options.pop("max_features", 2000))
    if options:
        raise DataError(f"Unknown option(s) for '20newsgroups': {', '.join(options)}.")
    if subset not in ("train", "test", "all"):
        raise DataError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")
    return _newsgroups(bool(download), data_home, subset, max_features).copy()
