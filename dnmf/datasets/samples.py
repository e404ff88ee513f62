"""Embedded sample datasets: offline, deterministic, fast after first use.

=====================  ==========================================================  =========
name                   what                                                        kind
=====================  ==========================================================  =========
faces                  the 100 face images of ``skimage.data.lfw_subset()``, 25×25  images
digits                 ``sklearn.datasets.load_digits()``, 1797 images 8×8          images
stdlib-text            docstrings of the Python standard library                    text
spectral-scene         synthetic 40×40 scene from earthlib reflectance spectra     spectra
synthetic-layers       general L-layer generator (default ranks (8, 4, 2))          generic
synthetic-thesis       the thesis' 2-layer example (m=3, r=(6, 3), n=1000)         generic
swimmer                Donoho & Stodden's Swimmer, 256 images 32×32 (in code)       images
=====================  ==========================================================  =========

Each loader is cached (`functools.lru_cache` keyed on its options) and `load_sample` returns
a deep copy, so callers may modify what they get.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from . import spectral, swimmer, synthetic, text
from ._types import DataError, Dataset


def _faces(n_samples: int = 100) -> Dataset:
    from skimage.data import lfw_subset

    n = synthetic._posint(n_samples, "n_samples", minimum=2)
    if n > 100:
        raise DataError(f"faces has 100 images; n_samples must be ≤ 100, got {n}.")
    imgs = lfw_subset()[:n]  # only the first 100 of the 200 are faces
    X = imgs.reshape(n, -1).astype(np.float64)  # C order: row-major pixels
    return Dataset(
        X=X, kind="images", name="faces", image_shape=imgs.shape[1:], pixel_order="C",
        provenance=(f"skimage.data.lfw_subset(): the first {n} images (faces; images 100–199 "
                    "are non-faces and are left out), 25×25 grey levels in [0, 1], one image "
                    "per row, pixels in C (row-major) order."),
    )


def _digits(n_samples: int = 1797, scale: bool = True) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    n = synthetic._posint(n_samples, "n_samples", minimum=2)
    n = min(n, d.data.shape[0])
    X = d.data[:n].astype(np.float64)
    if scale:
        X = X / 16.0
    return Dataset(
        X=X, kind="images", name="digits", image_shape=(8, 8), pixel_order="C",
        labels=d.target[:n], label_names=[str(i) for i in range(10)],
        provenance=(f"sklearn.datasets.load_digits(): {n} handwritten digits 8×8, grey levels "
                    + ("0–16 divided by 16" if scale else "0–16") + ", one image per row, "
                    "C pixel order. Some border pixels are 0 in every image (kept so the "
                    "images keep their shape)."),
    )


def _stdlib_text(rebuild: bool = False) -> Dataset:
    return text.stdlib_text(rebuild=rebuild)


#: name → (builder, one-line description)
_REGISTRY: dict[str, tuple[Callable[..., Dataset], str]] = {
    "faces": (_faces, "100 face images 25×25 from scikit-image's LFW subset (images × pixels)"),
    "digits": (_digits, "1797 handwritten digits 8×8 from scikit-learn, with labels 0–9"),
    "stdlib-text": (_stdlib_text, "docstrings of the Python standard library (words × "
                    "documents), labels: package → module"),
    "spectral-scene": (spectral.spectral_scene, "synthetic 40×40 hyperspectral scene from "
                       "real earthlib spectra; ground truth at 2 layers (materials → classes)"),
    "synthetic-layers": (synthetic.layered, "synthetic deep data, ranks (8, 4, 2), exact "
                         "layered ground truth W_l = W_(l+1) H_(l+1)"),
    "synthetic-thesis": (synthetic.thesis_example, "the thesis' 2-layer example: m=3, "
                         "r=(6, 3), n=1000, Dirichlet(0.05) mixtures + noise"),
    "swimmer": (swimmer.swimmer, "Swimmer (Donoho & Stodden 2003): 256 images 32×32, a torso "
                "and four limbs in four positions; exact rank-17 NMF, the parts as truth"),
}


def list_samples() -> list[str]:
    """Names of the embedded samples."""
    return list(_REGISTRY)


def describe_sample(name: str) -> str:
    """One-line description of a sample."""
    return _REGISTRY[_check_name(name)][1]


def sample_options(name: str) -> dict[str, Any]:
    """The options of a sample and their defaults, e.g. ``{"noise": 0.01, "seed": 0, …}``."""
    fn = _REGISTRY[_check_name(name)][0]
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()}


def _check_name(name: str) -> str:
    key = str(name).strip().lower()
    aliases = {"text": "stdlib-text", "spectra": "spectral-scene", "synthetic": "synthetic-layers",
               "thesis": "synthetic-thesis", "lfw": "faces"}
    key = aliases.get(key, key)
    if key not in _REGISTRY:
        raise DataError(f"Unknown sample {name!r}. Available samples: "
                        + ", ".join(_REGISTRY) + ".")
    return key


def _freeze(v: Any) -> Any:
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    return v


@functools.lru_cache(maxsize=32)
def _load_cached(name: str, frozen: tuple) -> Dataset:
    fn = _REGISTRY[name][0]
    return fn(**dict(frozen))


def load_sample(name: str, **options: Any) -> Dataset:
    """Load an embedded sample by name (see `list_samples`) with its options
    (see `sample_options`), e.g. ``load_sample("synthetic-thesis", noise=0.1, seed=3)``.

    Unknown names or options raise `DataError`. The result is a fresh copy; loaders are cached
    so a second call with the same options is fast.
    """
    key = _check_name(name)
    valid = sample_options(key)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise DataError(f"Unknown option(s) {', '.join(unknown)} for sample {key!r}; valid "
                        "options: " + ", ".join(f"{k}={v!r}" for k, v in valid.items()) + ".")
    frozen = tuple(sorted((k, _freeze(v)) for k, v in options.items()))
    try:
        ds = _load_cached(key, frozen)
    except DataError:
        raise
    except (TypeError, ValueError) as exc:
        raise DataError(f"Invalid options for sample {key!r}: {exc}") from None
    return copy.deepcopy(ds)
