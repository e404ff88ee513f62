"""Registers dnmf's own models in :mod:`dnmf.registry` (imported lazily by the registry).

The parameter tables say what the Model page offers and how run labels read; the estimators'
``_parameter_constraints`` and checks remain the one rulebook for what is valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .estimators import DeepNMF, FrobeniusDeepMF, MinVol, MultilayerNMF
from .init import INIT_METHODS
from .models.frobenius import FROBENIUS_INITS, LOSSES
from .registry import Capabilities, ModelSpec, ParamSpec, register_model

_RANKS = ParamSpec("ranks", "ints", (20, 10, 5), "r_1 > r_2 > … > r_L ≥ 1, one per layer",
                   label="Ranks", low=1)
_BETA = ParamSpec("beta", "float", 1.0, "β of the divergence (1 KL, 0 IS, 2 Frobenius)",
                  label="β-divergence", low=0.0, high=2.0,
                  presets={"KL (β=1)": 1.0, "IS (β=0)": 0.0, "Frobenius (β=2)": 2.0,
                           "β=3/2": 1.5, "other": None})
_WEIGHTS = ParamSpec("weights", "weights", "auto",
                     "λ_ℓ; auto: λ_ℓ = 1/D_β(W_{ℓ-1}⁰, W_ℓ⁰H_ℓ⁰) at initialisation (§4.1)",
                     label="Layer weights λ", low=0.0)
_SEED = ParamSpec("random_state", "int", 0, "seed of the initial factors", label="Seed", low=0)
_DTYPE = ParamSpec("dtype", "choice", "float64", "working precision", label="dtype",
                   choices=("float64", "float32"))
_LAYER_INIT = ParamSpec("layer_init", "choice", "random", "initialisation of each layer",
                        label="Initialisation of each layer", choices=INIT_METHODS)
_WARM = ParamSpec("n_init_iter", "int", 100, "multilayer iterations per layer before the "
                  "deep phase", label="Warm-start iterations / layer", low=0,
                  short="warm-start it")
_DEEP_ITER = ParamSpec("max_iter", "int", 100, "iterations of the deep phase",
                       label="Deep iterations", low=0, short="deep it")


def _multilayer_baseline(values: Mapping[str, Any]) -> tuple[str, dict]:
    """Multilayer β-NMF with the same β, ranks, layer initialisation, seed and dtype, and as
    many iterations per layer as the deep run spends in total (paper §4)."""
    return "multilayer", {
        "ranks": values.get("ranks", _RANKS.default),
        "beta": values.get("beta", 1.0),
        "init": values.get("layer_init", "random"),
        "max_iter": max(1, int(values.get("n_init_iter", 0)) + int(values.get("max_iter", 0))),
        "random_state": values.get("random_state", 0),
        "dtype": values.get("dtype", "float64"),
    }


def _min_vol_deep(alpha_tilde: float = 0.05, delta: float = 1.0, rho: float = 0.5,
                  **params: Any) -> DeepNMF:
    """Min-vol deep KL-NMF: DeepNMF with ``min_vol=MinVol(α̃, δ, ρ̃)``."""
    return DeepNMF(min_vol=MinVol(alpha_tilde=alpha_tilde, delta=delta, rho=rho), **params)


register_model(ModelSpec(
    key="deep", label="Deep β-NMF (Algorithm 1)", estimator=DeepNMF, short="deep",
    params=(_RANKS, _BETA, _WEIGHTS, _LAYER_INIT, _WARM, _DEEP_ITER, _SEED, _DTYPE),
    capabilities=Capabilities(sparse=True, layer_weights=True),
    description="Minimises Σ_ℓ λ_ℓ D_β(W_{ℓ-1}, W_ℓ H_ℓ) with H_ℓ e = e (paper eq. 6).",
    baseline=_multilayer_baseline,
    check_params={"ranks": (2,)},
))
register_model(ModelSpec(
    key="multilayer", label="Multilayer β-NMF", estimator=MultilayerNMF, short="multilayer",
    params=(_RANKS, _BETA,
            ParamSpec("init", "choice", "random", "initialisation of each layer",
                      label="Initialisation of each layer", choices=INIT_METHODS),
            ParamSpec("max_iter", "int", 100, "MU iterations per layer",
                      label="Iterations per layer", low=1, short="it/layer"),
            _SEED, _DTYPE),
    capabilities=Capabilities(sparse=True),
    description="NMF of X, then NMF of W_1, … one layer at a time (Cichocki & Zdunek).",
    check_params={"ranks": (2,)},
))
register_model(ModelSpec(
    key="deep-minvol", label="Min-vol deep KL-NMF (Algorithm 2)", estimator=DeepNMF,
    short="deep-minvol", builder=_min_vol_deep,
    params=(_RANKS, _WEIGHTS, _LAYER_INIT, _WARM, _DEEP_ITER,
            ParamSpec("alpha_tilde", "float", 0.05, "weight of the volume term relative to "
                      "the layer's data term at the start", label="α̃ (relative volume weight)",
                      low=0.0),
            ParamSpec("delta", "float", 1.0, "δ > 0", label="δ in logdet(WᵀW + δI)",
                      low=1e-9, log=True),
            ParamSpec("rho", "float", 0.5, "penalty of the ADMM W-updates (0.5–1 works on "
                      "every data set measured)", label="ADMM ρ̃ (relative penalty)", low=1e-9,
                      log=True),
            _SEED, _DTYPE),
    capabilities=Capabilities(beta_range=None, fixed_beta=1.0, sparse=True, layer_weights=True,
                              min_vol=True),
    fixed_params={"beta": 1.0},
    description="Deep KL-NMF with a log-det volume term on every W_ℓ (paper eq. 7).",
    baseline=_multilayer_baseline,
    check_params={"ranks": (2,), "n_init_iter": 50, "max_iter": 50},
))
register_model(ModelSpec(
    key="frobenius", label="Frobenius deep MF (LC-DMF / DC-DMF / Tri-DMF)",
    estimator=FrobeniusDeepMF, short="frobenius",
    params=(_RANKS,
            ParamSpec("loss", "choice", "layer-centric", "which Frobenius deep MF", label="Loss",
                      choices=LOSSES),
            ParamSpec("weights", "weights", "auto", "λ_ℓ; auto: the thesis' weights (ratio "
                      "10, §5.3)", label="Layer weights λ", low=0.0),
            ParamSpec("init", "choice", "snpa", "initialisation (multilayer: SNPA then "
                      "warm-start iterations per layer)", label="Initialisation",
                      choices=FROBENIUS_INITS),
            ParamSpec("n_init_iter", "int", 100, "iterations per layer of the multilayer warm "
                      "start", label="Warm-start iterations / layer", low=0,
                      applies_when={"init": ("multilayer",)}, short="warm-start it"),
            ParamSpec("max_iter", "int", 100, "BCD iterations", label="Deep iterations",
                      low=1, short="deep it"),
            _SEED, _DTYPE),
    capabilities=Capabilities(beta_range=None, fixed_beta=2.0, sparse=True),
    description="The thesis' Frobenius baselines (ch. 5), least squares (β = 2).",
    check_params={"ranks": (2,), "max_iter": 30, "n_init_iter": 5},
))

from .models.neural import register as _register_neural  # noqa: E402
from .models.nmf import register as _register_nmf  # noqa: E402  (single-layer teaching NMF)

_register_neural()
_register_nmf()
