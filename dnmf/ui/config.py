"""Model configuration for the workbench: defaults per dataset, checks, estimator construction.

No streamlit here: the Model page collects a plain ``dict`` (see :func:`default_config`) and
this module turns it into a dnmf estimator. Everything the user could get wrong is checked by
dnmf itself (it raises ``ValueError`` in words); :func:`check_config` only repeats the checks
that can be made before the data reaches the solver, so the page can explain them at once and
keep the Run button from starting a fit that would fail.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import dnmf

#: Model keys → labels shown in the UI. Models that have not landed in dnmf yet are hidden
#: (see :func:`available_models`).
MODEL_LABELS = {
    "deep": "Deep β-NMF (Algorithm 1)",
    "multilayer": "Multilayer β-NMF",
    "deep-minvol": "Min-vol deep KL-NMF (Algorithm 2)",
    "frobenius": "Frobenius deep MF (LC-DMF / DC-DMF / Tri-DMF)",
}

#: β presets: label → value (None: free value).
BETA_PRESETS = {
    "KL (β=1)": 1.0,
    "IS (β=0)": 0.0,
    "Frobenius (β=2)": 2.0,
    "β=3/2": 1.5,
    "other": None,
}

LAYER_INITS = ("random", "nndsvda", "nndsvd", "nndsvdar", "snpa", "soda")
FROBENIUS_LOSSES = ("layer-centric", "data-centric", "trigeorgis")
DTYPES = ("float64", "float32")
MAX_LAYERS = 6


def _frobenius_class():
    cls = getattr(dnmf, "FrobeniusDeepMF", None)
    if cls is None:
        try:
            from dnmf.models.frobenius import FrobeniusDeepMF as cls
        except ImportError:
            return None
    return cls


def available_models() -> list[str]:
    """The model keys this installation of dnmf supports."""
    out = ["deep", "multilayer"]
    if hasattr(dnmf, "MinVol"):
        out.append("deep-minvol")
    if _frobenius_class() is not None:
        out.append("frobenius")
    return out


def default_ranks(dataset) -> tuple[int, ...]:
    """Ranks that fit in seconds and make sense for the dataset.

    Ground truth, when known, gives the ranks; otherwise (20, 10, 5) clipped to the data.
    """
    gt = getattr(dataset, "ground_truth", None) or {}
    W_true = gt.get("W")
    if isinstance(W_true, (list, tuple)) and W_true:
        try:
            ranks = tuple(int(np.asarray(W).shape[1]) for W in W_true)
            if all(a > b for a, b in zip(ranks, ranks[1:])) and ranks[0] < dataset.shape[1]:
                return ranks
        except (IndexError, TypeError, ValueError):
            pass
    m, n = dataset.shape
    top = max(1, min(20, n - 1, m))
    ranks = [top]
    while len(ranks) < 3 and ranks[-1] // 2 >= 2:
        ranks.append(ranks[-1] // 2)
    return tuple(ranks)


def default_config(dataset=None) -> dict[str, Any]:
    """The configuration the Model page starts from (and that "try it" runs)."""
    ranks = default_ranks(dataset) if dataset is not None else (20, 10, 5)
    return {
        "model": "deep",
        "beta": 1.0,
        "ranks": list(ranks),
        "weights": "auto",
        "layer_init": "random",
        "n_init_iter": 100,
        "max_iter": 100,
        "random_state": 0,
        "dtype": "float64",
        "min_vol": {"alpha_tilde": 0.05, "delta": 1.0, "rho": 0.5},
        "frobenius_loss": "layer-centric",
    }


def check_config(cfg: dict[str, Any], shape: tuple[int, int] | None = None) -> list[str]:
    """Problems with ``cfg`` that can be seen before fitting, in words (empty: fine)."""
    problems: list[str] = []
    ranks = list(cfg.get("ranks") or [])
    if not ranks:
        problems.append("Give at least one layer.")
    elif any(int(r) < 1 for r in ranks):
        problems.append("Every rank must be at least 1.")
    else:
        for i, (a, b) in enumerate(zip(ranks, ranks[1:]), start=1):
            if b >= a:
                problems.append(
                    f"Ranks must strictly decrease from layer to layer: r_{i + 1} = {b} is not "
                    f"smaller than r_{i} = {a}."
                )
                break
        if shape is not None and ranks[0] >= shape[1]:
            problems.append(
                f"The first rank r_1 = {ranks[0]} must be smaller than the number of columns of "
                f"X (n = {shape[1]}); otherwise X = W_1 H_1 is trivial."
            )
    beta = cfg.get("beta")
    if cfg.get("model") == "frobenius":
        beta = 2.0  # least squares by construction; the β choice does not apply
    if beta is None or not (isinstance(beta, (int, float)) and 0.0 <= float(beta) <= 2.0):
        problems.append(f"β must be a number in [0, 2], got {beta!r}.")
    if cfg.get("model") == "deep-minvol" and beta is not None and float(beta) != 1.0:
        problems.append("Min-vol deep NMF is implemented for KL (β = 1) only: choose KL.")
    w = cfg.get("weights")
    if not isinstance(w, str):
        vals = list(w or [])
        if len(vals) != len(ranks):
            problems.append(f"Give one weight λ per layer ({len(ranks)}), got {len(vals)}.")
        elif any(not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0) for v in vals):
            problems.append("Every weight λ must be a positive number.")
    if int(cfg.get("max_iter", 1)) < 1 and cfg.get("model") == "multilayer":
        problems.append("The multilayer model needs at least one iteration per layer.")
    return problems


def make_estimator(cfg: dict[str, Any], callback=None):
    """The dnmf estimator for ``cfg`` (not fitted). Invalid values raise ``ValueError`` from
    dnmf when the estimator is fitted."""
    model = cfg.get("model", "deep")
    dtype = np.float32 if cfg.get("dtype") == "float32" else np.float64
    ranks = tuple(int(r) for r in cfg["ranks"])
    seed = cfg.get("random_state")
    common = dict(
        ranks=ranks,
        random_state=None if seed is None else int(seed),
        dtype=dtype,
        callback=callback,
    )
    if model == "multilayer":
        return dnmf.MultilayerNMF(
            beta=float(cfg["beta"]),
            init=cfg.get("layer_init", "random"),
            max_iter=int(cfg["max_iter"]),
            **common,
        )
    if model in ("deep", "deep-minvol"):
        weights = cfg.get("weights", "auto")
        min_vol = None
        if model == "deep-minvol":
            mv = cfg.get("min_vol") or {}
            min_vol = dnmf.MinVol(
                alpha_tilde=float(mv.get("alpha_tilde", 0.05)),
                delta=float(mv.get("delta", 1.0)),
                rho=float(mv.get("rho", 0.5)),
            )
        return dnmf.DeepNMF(
            beta=float(cfg["beta"]),
            min_vol=min_vol,
            weights=weights if isinstance(weights, str) else [float(v) for v in weights],
            init="multilayer",
            layer_init=cfg.get("layer_init", "random"),
            n_init_iter=int(cfg["n_init_iter"]),
            max_iter=int(cfg["max_iter"]),
            **common,
        )
    if model == "frobenius":
        cls = _frobenius_class()
        if cls is None:
            raise ValueError("the Frobenius deep MF baselines are not available in this dnmf")
        weights = cfg.get("weights", "auto")
        return cls(
            loss=cfg.get("frobenius_loss", "layer-centric"),
            init=cfg.get("layer_init", "snpa"),
            n_init_iter=int(cfg.get("n_init_iter", 100)),
            weights=weights if isinstance(weights, str) else [float(v) for v in weights],
            max_iter=int(cfg["max_iter"]),
            **common,
        )
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_LABELS)}")


def multilayer_twin(cfg: dict[str, Any]) -> dict[str, Any]:
    """The multilayer configuration that matches a deep one (the paper's protocol): same β,
    ranks, layer initialisation, seed and dtype, and as many MU iterations per layer as the
    deep run spends in total (warm start + deep phase)."""
    twin = dict(cfg)
    twin["model"] = "multilayer"
    twin["max_iter"] = max(1, int(cfg.get("n_init_iter", 0)) + int(cfg.get("max_iter", 0)))
    twin["weights"] = "auto"
    return twin


def describe(cfg: dict[str, Any]) -> str:
    """A one-line summary: ``deep · KL · ranks 20-10-5 · 100+100 it · seed 0``."""
    beta = float(cfg.get("beta", 1.0))
    beta_name = {1.0: "KL", 0.0: "IS", 2.0: "Frobenius", 1.5: "β=3/2"}.get(beta, f"β={beta:g}")
    ranks = "-".join(str(int(r)) for r in cfg.get("ranks", []))
    model = cfg.get("model", "deep")
    if model == "multilayer":
        its = f"{int(cfg.get('max_iter', 0))} it/layer"
    else:
        its = f"{int(cfg.get('n_init_iter', 0))}+{int(cfg.get('max_iter', 0))} it"
    return f"{model} · {beta_name} · ranks {ranks} · {its} · seed {cfg.get('random_state')}"
