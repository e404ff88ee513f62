"""Model configuration for the workbench, read from the model registry (:mod:`dnmf.registry`).

No streamlit here. A configuration is a plain ``dict``: ``{"model": key, <parameter>: value,
…}`` with the parameter names of the model's :class:`~dnmf.registry.ModelSpec`. This module
gives its defaults, checks it (the spec's bounds, then the estimator's own rules, so the Model
page can explain a problem before a fit starts), builds the estimator and labels runs. Nothing
here knows a model by its key: a model registered from outside the package works the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dnmf.registry import ModelSpec, get_model, list_models

#: Most layers the Model page offers.
MAX_LAYERS = 6

#: Names of the usual β values in run labels.
BETA_NAMES = {1.0: "KL", 0.0: "IS", 2.0: "Frobenius", 1.5: "β=3/2"}


def models() -> list[ModelSpec]:
    """Every registered model, in registration order."""
    return list_models()


def spec_of(cfg_or_key: Mapping[str, Any] | str | None) -> ModelSpec | None:
    """The spec of a configuration (or of a key); None for a model that is not registered
    (e.g. a run uploaded from an installation with more models)."""
    key = cfg_or_key.get("model") if isinstance(cfg_or_key, Mapping) else cfg_or_key
    if key is None:
        return models()[0]
    try:
        return get_model(str(key))
    except ValueError:
        return None


def label(cfg_or_key) -> str:
    """The model's label for menus and headings (its key when not registered)."""
    spec = spec_of(cfg_or_key)
    if spec is not None:
        return spec.label
    return str(cfg_or_key.get("model") if isinstance(cfg_or_key, Mapping) else cfg_or_key)


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


def default_config(dataset=None, model: str | None = None) -> dict[str, Any]:
    """The configuration the Model page starts from (and that "try it" runs): the first
    registered model (or ``model``) at its spec's defaults, ranks from the dataset."""
    spec = spec_of(model)
    cfg: dict[str, Any] = {"model": spec.key, **spec.defaults()}
    if dataset is not None and "ranks" in cfg:
        cfg["ranks"] = list(default_ranks(dataset))
    return cfg


def make_estimator(cfg: Mapping[str, Any], callback=None):
    """The estimator for ``cfg`` (not fitted); parameters that do not apply are left out."""
    spec = _spec(cfg)
    return spec.build(spec.values(cfg), callback=callback)


def review_config(cfg: Mapping[str, Any],
                  shape: tuple[int, int] | None = None) -> tuple[list[str], list[str]]:
    """Problems (a fit would fail) and notes (it would warn) for ``cfg`` on data of ``shape``.

    The spec checks its bounds, then the estimator its own rules (``check_params``): the same
    rules a fit applies, said before the data reach the solver.
    """
    try:
        spec = _spec(cfg)
    except ValueError as exc:
        return [str(exc)], []
    problems = spec.check(cfg)
    if problems:
        return problems, []
    estimator = make_estimator(cfg)
    check = getattr(estimator, "check_params", None)
    if check is None:
        return [], []
    return check(None if shape is None else shape[1])


def check_config(cfg: Mapping[str, Any], shape: tuple[int, int] | None = None) -> list[str]:
    """The problems of :func:`review_config` (empty: the Run button may start the fit)."""
    return review_config(cfg, shape)[0]


def baseline_config(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The configuration of the model's baseline "with the same settings", or None."""
    spec = _spec(cfg)
    if spec.baseline is None:
        return None
    key, values = spec.baseline(cfg)
    return {"model": key, **values}


def beta_of(cfg: Mapping[str, Any]) -> float | None:
    """β of the configuration: its value, the model's fixed β, or None (no β)."""
    if cfg.get("beta") is not None:
        return float(cfg["beta"])
    spec = spec_of(cfg)
    if spec is None:
        return None
    if "beta" in spec.fixed_params:
        return float(spec.fixed_params["beta"])
    return spec.capabilities.fixed_beta


def beta_name(beta: float | None) -> str:
    """``KL``, ``IS``, ``Frobenius``, ``β=3/2`` or ``β=0.7``."""
    if beta is None:
        return "β n/a"
    return BETA_NAMES.get(float(beta), f"β={float(beta):g}")


def describe(cfg: Mapping[str, Any]) -> str:
    """A one-line summary, e.g. ``deep · KL · ranks 20-10-5 · 100 warm-start it/layer · 100
    deep it · seed 0`` (the seed always last)."""
    spec = spec_of(cfg)
    parts = [spec.name if spec is not None else str(cfg.get("model", "?"))]
    beta = beta_of(cfg)
    if beta is not None:
        parts.append(beta_name(beta))
    parts.append("ranks " + "-".join(str(int(r)) for r in cfg.get("ranks", [])))
    if spec is not None:
        parts += [f"{cfg[p.name]} {p.short}" for p in spec.params
                  if p.short and p.name in cfg and p.applies(cfg)]
    parts.append(f"seed {cfg.get('random_state')}")
    return " · ".join(parts)


def default_pair(runs: Mapping[str, Any]) -> list[str]:
    """Runs to compare first: the newest run whose model has a baseline with the newest run of
    that baseline on the same dataset; else the two newest runs."""
    names = list(runs)
    for name in reversed(names):
        base = _baseline_key(runs[name])
        if base is None:
            continue
        for other in reversed(names):
            if runs[other].model == base and runs[other].dataset == runs[name].dataset:
                return [name, other]
    return names[-2:]


def default_reference(runs: Mapping[str, Any], chosen: list[str]) -> str:
    """The reference of the error ratios: the newest chosen run that is another chosen run's
    baseline (the paper divides by multilayer NMF), else the last chosen."""
    bases = {_baseline_key(runs[n]) for n in chosen}
    refs = [n for n in chosen if runs[n].model in bases]
    return refs[-1] if refs else chosen[-1]


def _baseline_key(run) -> str | None:
    spec = spec_of(run.model)
    if spec is None or spec.baseline is None:
        return None
    return spec.baseline(run.config)[0]


def _spec(cfg: Mapping[str, Any]) -> ModelSpec:
    spec = spec_of(cfg)
    if spec is None:
        known = ", ".join(s.key for s in models())
        raise ValueError(f"unknown model {cfg.get('model')!r}; choose one of {known}")
    return spec
