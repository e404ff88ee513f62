"""Registers dnmf's own models in :mod:`dnmf.registry` (imported lazily by the registry).

A first cut: the parameter tables list what the Model page offers today; the estimators and
their validation are the source of truth for ranges.
"""

from __future__ import annotations

from .estimators import DeepNMF, MinVol, MultilayerNMF
from .models.frobenius import FrobeniusDeepMF
from .registry import Capabilities, ModelSpec, ParamSpec, register_model

_RANKS = ParamSpec("ranks", "ints", (20, 10, 5), "r_1 > r_2 > … > r_L, one per layer",
                   label="ranks", low=1)
_BETA = ParamSpec("beta", "float", 1.0, "β of the divergence (1 KL, 0 IS, 2 Frobenius)",
                  label="β", low=0.0, high=2.0)
_SEED = ParamSpec("random_state", "int", 0, "seed of the initial factors", label="seed", low=0)
_DTYPE = ParamSpec("dtype", "choice", "float64", "working precision",
                   choices=("float64", "float32"))
_LAYER_INIT = ParamSpec("init", "choice", "random", "initialisation of each layer",
                        choices=("random", "nndsvda", "nndsvd", "nndsvdar", "snpa", "soda"))

register_model(ModelSpec(
    key="deep", label="Deep β-NMF (Algorithm 1)", estimator=DeepNMF,
    params=(_RANKS, _BETA,
            ParamSpec("n_init_iter", "int", 100, "multilayer warm-start iterations per layer",
                      label="warm-start iterations per layer", low=0),
            ParamSpec("max_iter", "int", 100, "iterations of the deep phase",
                      label="deep iterations", low=0),
            _SEED, _DTYPE),
    capabilities=Capabilities(sparse=True, layer_weights=True),
    description="Minimises Σ_ℓ λ_ℓ D_β(W_{ℓ-1}, W_ℓ H_ℓ) with H_ℓ e = e (paper eq. 6).",
))
register_model(ModelSpec(
    key="multilayer", label="Multilayer β-NMF", estimator=MultilayerNMF,
    params=(_RANKS, _BETA, _LAYER_INIT,
            ParamSpec("max_iter", "int", 100, "MU iterations per layer",
                      label="iterations per layer", low=1),
            _SEED, _DTYPE),
    capabilities=Capabilities(sparse=True),
    description="NMF of X, then NMF of W_1, … one layer at a time (Cichocki & Zdunek).",
))
register_model(ModelSpec(
    key="deep-minvol", label="Min-vol deep KL-NMF (Algorithm 2)", estimator=DeepNMF,
    params=(_RANKS,
            ParamSpec("n_init_iter", "int", 100, "multilayer warm-start iterations per layer",
                      label="warm-start iterations per layer", low=0),
            ParamSpec("max_iter", "int", 100, "iterations of the deep phase",
                      label="deep iterations", low=0),
            _SEED, _DTYPE),
    capabilities=Capabilities(beta_range=None, fixed_beta=1.0, sparse=True, layer_weights=True,
                              min_vol=True),
    fixed_params={"beta": 1.0, "min_vol": MinVol()},
    description="Deep KL-NMF with a log-det volume term on every W_ℓ (paper eq. 7).",
))
register_model(ModelSpec(
    key="frobenius", label="Frobenius deep MF (LC-DMF / DC-DMF / Tri-DMF)",
    estimator=FrobeniusDeepMF,
    params=(_RANKS,
            ParamSpec("loss", "choice", "layer-centric", "which Frobenius deep MF",
                      choices=("layer-centric", "data-centric", "trigeorgis")),
            ParamSpec("max_iter", "int", 100, "iterations", low=1),
            _SEED, _DTYPE),
    capabilities=Capabilities(beta_range=None, fixed_beta=2.0, sparse=True),
    description="The thesis' Frobenius baselines (ch. 5).",
))

from .models.nmf import register as _register_nmf  # noqa: E402  (single-layer teaching NMF)

_register_nmf()
