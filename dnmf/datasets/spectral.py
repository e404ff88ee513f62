"""A synthetic hyperspectral scene built from the real reflectance spectra of `earthlib`.

earthlib (MIT) ships 7,261 measured/simulated reflectance spectra × 180 bands (0.40–2.45 µm,
water-vapour bands already removed) with a class hierarchy in its metadata: LEVEL_1
(pervious / impervious) → LEVEL_2 (bare, burned, npv, vegetation, built) → LEVEL_3 (soil, sand,
canopy, road, comp_shingle, …).

The scene follows that hierarchy over two layers:

* layer 1 — six *materials* (LEVEL_3 classes), two per LEVEL_2 class:
  vegetation: dense canopy, sparse canopy (PROSAIL canopies of high / low NIR brightness);
  bare: soil, sand;  built: road, roof (composition shingle).
  Each material spectrum is the library spectrum closest to the median of its selection
  (deterministic; no random draw from the library).
* layer 2 — the three LEVEL_2 classes vegetation / bare / built.

Abundances: for every material an independent Gaussian random field, smoothed with
``scipy.ndimage.gaussian_filter(sigma=smoothness)``, standardised and passed through a softmax
with ``sharpness`` — smooth maps, nonnegative, summing to one in every pixel.

X = max(W_1* A_1 + ν N ‖X*‖/‖N‖, 0): bands × pixels (180 × h·w), pixel j ↔ (row, col) with
``np.unravel_index(j, image_shape, order="C")``.

Ground truth (physical normalisation: spectra are reflectances, abundances sum to one per
pixel, i.e. the *columns* of H_1* sum to one — not the rows as in the synthetic generators):

* ``hierarchy="classes"`` (default): W_1* = the six real spectra; H_1* = A_1 (6 × n);
  W_2* = the class-mean spectra (mean of the two members); H_2* = the 3 × 6 membership matrix
  (one 1 per column), so W_2* H_2* is the least-squares grouping of W_1* and
  A_2 = H_2* A_1 are the class abundances. The layer-2 relation W_1* ≈ W_2* H_2* is
  approximate (real spectra of two soils are not proportional); its relative error is in
  ``ground_truth["layer_residuals"]``.
* ``hierarchy="exact"``: W_2* = the three class spectra (real: canopy, soil, road), and the
  six layer-1 endmembers are the mixtures W_1* = W_2* H_2* with the thesis' H_2* (80/20
  mixtures of two classes, a hexagon in the class simplex) — W_1* = W_2* H_2* holds exactly.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ._types import DataError, Dataset
from .synthetic import THESIS_H2, _posint, add_relative_noise

#: (material name, LEVEL_2 class, LEVEL_3 class, selection rule)
MATERIALS = (
    ("dense canopy", "vegetation", "canopy", "bright"),
    ("sparse canopy", "vegetation", "canopy", "dark"),
    ("soil", "bare", "soil", "median"),
    ("sand", "bare", "sand", "median"),
    ("road", "built", "road", "median"),
    ("roof (shingle)", "built", "comp_shingle", "median"),
)
CLASSES = ("vegetation", "bare", "built")


@functools.lru_cache(maxsize=1)
def _library() -> tuple[np.ndarray, np.ndarray, object]:
    """(spectra n_spectra × 180 float64, wavelengths µm, metadata DataFrame) from earthlib."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import earthlib
    except Exception as exc:  # pragma: no cover - earthlib is a hard dependency
        raise DataError(f"the spectral scene needs the 'earthlib' package ({exc}); "
                        "pip install earthlib") from None
    lib = earthlib.full_library
    data = np.asarray(lib.data, dtype=np.float64)
    wl = np.asarray(lib.sensor.band_centers, dtype=np.float64)
    return data, wl, lib.metadata


def _pick(data: np.ndarray, meta, level3: str, rule: str) -> tuple[np.ndarray, str]:
    idx = np.flatnonzero((meta["LEVEL_3"] == level3).to_numpy())
    S = data[idx]
    if rule in ("bright", "dark"):
        # split canopies by NIR brightness (0.8–1.1 µm plateau, bands 40–70), take the median
        # spectrum of the top / bottom quartile
        nir = S[:, 40:70].mean(axis=1)
        q = np.quantile(nir, [0.25, 0.75])
        keep = nir >= q[1] if rule == "bright" else nir <= q[0]
        idx, S = idx[keep], S[keep]
    med = np.median(S, axis=0)
    j = int(np.argmin(np.linalg.norm(S - med, axis=1)))
    return S[j], str(meta["NAME"].iloc[idx[j]])


@functools.lru_cache(maxsize=1)
def endmember_spectra() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(W 180 × 6 material spectra, wavelengths in µm, earthlib spectrum names)."""
    data, wl, meta = _library()
    cols, names = [], []
    for _, _, level3, rule in MATERIALS:
        s, nm = _pick(data, meta, level3, rule)
        cols.append(s)
        names.append(nm)
    return np.stack(cols, axis=1), wl, names


def abundance_maps(shape: tuple[int, int], r: int, smoothness: float, sharpness: float,
                   rng: np.random.Generator) -> np.ndarray:
    """r × (h·w) abundances (C pixel order): smoothed Gaussian fields → softmax."""
    from scipy.ndimage import gaussian_filter

    h, w = shape
    F = rng.standard_normal((r, h, w))
    for k in range(r):
        F[k] = gaussian_filter(F[k], sigma=smoothness, mode="reflect")
        F[k] = (F[k] - F[k].mean()) / (F[k].std() + 1e-12)
    Z = sharpness * F.reshape(r, -1)
    Z -= Z.max(axis=0, keepdims=True)
    A = np.exp(Z)
    A /= A.sum(axis=0, keepdims=True)
    return A


def spectral_scene(
    image_shape: tuple[int, int] = (40, 40),
    noise: float = 0.01,
    smoothness: float = 4.0,
    sharpness: float = 3.0,
    hierarchy: str = "classes",
    seed: int = 0,
) -> Dataset:
    """Synthetic 2-layer hyperspectral scene (see the module docstring). Deterministic."""
    h = _posint(image_shape[0], "image_shape[0]", minimum=2)
    w = _posint(image_shape[1], "image_shape[1]", minimum=2)
    if h * w > 1_000_000:
        raise DataError("image_shape is too large for the sample scene (at most 10⁶ pixels).")
    if not smoothness >= 0 or not sharpness > 0:
        raise DataError("smoothness must be ≥ 0 and sharpness > 0.")
    W1_real, wl, lib_names = endmember_spectra()
    mat_names = [m[0] for m in MATERIALS]
    membership = np.zeros((3, 6))
    for k, (_, level2, _, _) in enumerate(MATERIALS):
        membership[CLASSES.index(level2), k] = 1.0
    if hierarchy == "classes":
        W1 = W1_real
        W2 = (W1_real @ membership.T) / membership.sum(axis=1)
        H2 = membership
        layer2 = W2 @ H2
        residual = float(np.linalg.norm(W1 - layer2) / np.linalg.norm(W1))
        names1, names2 = mat_names, list(CLASSES)
    elif hierarchy == "exact":
        W2 = W1_real[:, [0, 2, 4]]  # dense canopy, soil, road: one real spectrum per class
        H2 = THESIS_H2.copy()
        W1 = W2 @ H2
        residual = 0.0
        names2 = ["vegetation (dense canopy)", "bare (soil)", "built (road)"]
        names1 = [
            " + ".join(f"{int(round(100 * H2[c, k]))}% {CLASSES[c]}"
                       for c in np.argsort(-H2[:, k]) if H2[c, k] > 0)
            for k in range(6)
        ]
    else:
        raise DataError(f"hierarchy must be 'classes' or 'exact', got {hierarchy!r}.")
    rng = np.random.default_rng(seed)
    A1 = abundance_maps((h, w), 6, float(smoothness), float(sharpness), rng)
    A2 = H2 @ A1 if hierarchy == "classes" else None
    Xstar = W1 @ A1
    X = add_relative_noise(Xstar, float(noise), rng)
    actual = float(np.linalg.norm(X - Xstar) / np.linalg.norm(Xstar))
    gt = {
        "W": [W1, W2],
        "H": [A1, H2],
        "endmembers": W1,
        "abundances": A1,
        "names": names1,
        "layer_names": [names1, names2],
        "X_clean": Xstar,
        "noise": float(noise),
        "noise_actual": actual,
        "layer_residuals": [0.0, residual],
        "normalization": "physical: W are reflectances, columns of H_1* (abundances) sum to one",
    }
    if A2 is not None:
        gt["abundances_layer2"] = A2
    prov = (
        f"Synthetic {h}×{w} hyperspectral scene from earthlib reflectance spectra "
        f"({', '.join(f'{a} [{b}]' for a, b in zip(mat_names, lib_names))}); layer 2 = "
        f"vegetation / bare / built ({hierarchy} hierarchy, relative layer-2 residual "
        f"{residual:.3f}); abundances = softmax({sharpness:g}·Gaussian fields smoothed with "
        f"σ={smoothness:g}); relative Gaussian noise ν={float(noise):g} clipped at 0 "
        f"(achieved {actual:.4g}); seed={seed}."
    )
    return Dataset(
        X=X, kind="spectra", name="spectral-scene", provenance=prov,
        image_shape=(h, w), pixel_order="C", wavelengths=wl * 1000.0, wavelength_unit="nm",
        ground_truth=gt,
    )
