"""The model registry: one :class:`ModelSpec` per model the workbench and the library offer.

Everything that must know which models exist reads this registry — parameter validation, the
Model page's widgets, the app's fit dispatch, run labels and Compare — so a model registered
from outside the package (:func:`register_model`) appears everywhere with no change to the app.

    >>> from dnmf import list_models
    >>> [spec.key for spec in list_models()][:2]   # doctest: +SKIP
    ['deep', 'multilayer']

A spec describes its estimator's parameters declaratively (:class:`ParamSpec`): the Model page
draws one widget per parameter, shows it only when ``applies_when`` holds, and builds the
estimator with ``spec.build(**values)``. Parameters that every layered model shares (ranks, β,
iterations, seed, dtype) are parameters like the others; :class:`Capabilities` says what the
model accepts so the app can offer only what will work.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Capabilities",
    "ModelSpec",
    "ParamSpec",
    "get_model",
    "list_models",
    "register_model",
    "unregister_model",
]

#: Kinds of parameter values a spec can declare (what the Model page draws for each).
#: "ints"/"floats": one value per layer; "weights": "auto" or one positive value per layer.
PARAM_KINDS = ("int", "float", "bool", "choice", "ints", "floats", "weights", "str")


@dataclass(frozen=True)
class ParamSpec:
    """One estimator parameter as the UI and validation see it.

    Parameters
    ----------
    name : str
        The estimator's ``__init__`` argument.
    kind : {"int", "float", "bool", "choice", "ints", "floats", "weights", "str"}
        ``"ints"``/``"floats"``: one value per layer (e.g. ranks); ``"weights"``: ``"auto"``
        or one positive value per layer (λ_ℓ).
    default : object
        The value the Model page starts from.
    help : str
        One line shown beside the widget.
    label : str or None
        Widget label; the name when None.
    low, high : float or None
        Inclusive bounds of numeric values.
    choices : tuple
        Allowed values of a ``"choice"`` parameter.
    applies_when : mapping of str to tuple, or None
        The parameter only matters when every named parameter has one of the listed values,
        e.g. ``{"solver": ("pgd",)}``; the Model page hides it otherwise.
    log : bool
        Numeric values span decades (the widget may use a log scale).
    presets : mapping of str to value, or None
        Named values offered first (e.g. "KL (β=1)" → 1.0); a value None means "other", a
        free value.
    short : str or None
        How run labels name the value, e.g. ``"it/layer"`` gives "100 it/layer"; not in
        labels when None.
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    label: str | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    applies_when: Mapping[str, tuple] | None = None
    log: bool = False
    presets: Mapping[str, Any] | None = None
    short: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"ParamSpec {self.name!r}: kind must be one of {PARAM_KINDS}, "
                             f"got {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"ParamSpec {self.name!r}: a choice parameter needs choices")

    @property
    def title(self) -> str:
        return self.label or self.name

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether this parameter matters given the other parameters' ``values``."""
        if not self.applies_when:
            return True
        return all(values.get(other) in allowed for other, allowed in self.applies_when.items())

    def check(self, value: Any) -> str | None:
        """A sentence saying what is wrong with ``value``, or None when it is valid."""
        if self.kind == "choice":
            return None if value in self.choices else (
                f"{self.title} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"{self.title} must be true or false"
        if self.kind == "str":
            return None if isinstance(value, str) else f"{self.title} must be text"
        if self.kind == "weights" and value == "auto":
            return None
        per_layer = self.kind in ("ints", "floats", "weights")
        try:
            values = list(value) if per_layer else [value]
        except TypeError:
            return f"{self.title} needs one value per layer"
        if per_layer and not values:
            return f"{self.title} needs at least one value"
        for v in values:
            integral = self.kind in ("int", "ints")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return f"{self.title} must be {'whole numbers' if integral else 'numbers'}"
            if integral and int(v) != v:
                return f"{self.title} must be whole numbers, got {v!r}"
            if not math.isfinite(v):
                return f"{self.title} must be finite, got {v!r}"
            if self.low is not None and v < self.low:
                return f"{self.title} must be ≥ {self.low:g}, got {v!r}"
            if self.high is not None and v > self.high:
                return f"{self.title} must be ≤ {self.high:g}, got {v!r}"
            if self.kind == "weights" and v <= 0:
                return f"{self.title} must be positive numbers, got {v!r}"
        return None

    def convert(self, value: Any) -> Any:
        """``value`` in the type the estimator takes (tuples for per-layer values)."""
        if self.kind == "int":
            return int(value)
        if self.kind == "float":
            return float(value)
        if self.kind == "ints":
            return tuple(int(v) for v in value)
        if self.kind == "floats":
            return tuple(float(v) for v in value)
        if self.kind == "weights":
            return value if isinstance(value, str) else tuple(float(v) for v in value)
        return value


@dataclass(frozen=True)
class Capabilities:
    """What a model accepts and what it can be scored on.

    Parameters
    ----------
    beta_range : (float, float) or None
        Closed range of β the model fits; None when β is fixed (see ``fixed_beta``).
    fixed_beta : float or None
        The β of a model that has no β parameter (e.g. 2 for Frobenius models).
    sparse : bool
        Accepts scipy.sparse input without densifying it.
    float32 : bool
        Fits in float32 when asked.
    layer_weights : bool
        Has per-layer weights λ_ℓ.
    min_vol : bool
        Has a minimum-volume term.
    ground_truth : bool
        Its factors can be scored against ground truth (MRSA, SAD, …).
    layered : bool
        Has several layers (False for a single-layer NMF).
    labels : bool
        Uses class labels ``y`` when given (semi-supervised models).
    """

    beta_range: tuple[float, float] | None = (0.0, 2.0)
    fixed_beta: float | None = None
    sparse: bool = False
    float32: bool = True
    layer_weights: bool = False
    min_vol: bool = False
    ground_truth: bool = True
    layered: bool = True
    labels: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """A model as the registry knows it.

    Parameters
    ----------
    key : str
        Short stable identifier (stored in run configs), e.g. ``"deep"``.
    label : str
        Human-readable name for menus and run labels.
    estimator : type
        The estimator class; ``estimator(**params)`` builds it.
    params : tuple of ParamSpec
        Parameters the UI offers, in display order.
    capabilities : Capabilities
    description : str
        A sentence or two shown under the model picker.
    fixed_params : mapping
        Keyword arguments always passed to the estimator (e.g. ``beta=1.0`` for the min-vol
        variant of :class:`~dnmf.DeepNMF`); not shown as widgets.
    builder : callable or None
        ``builder(**kwargs)`` makes the estimator from the fixed and the given parameters when
        they are not all ``__init__`` arguments (e.g. the min-vol model gathers α̃, δ, ρ̃
        into a :class:`~dnmf.MinVol`); default ``estimator(**kwargs)``.
    short : str
        The model in run labels ("deep · KL · ranks 20-10-5 · …"); the key when empty.
    baseline : callable or None
        ``baseline(values) -> (key, values)``: the model and parameters this model is compared
        with "with the same settings" (the paper fits multilayer NMF with the deep model's
        total iteration budget); None when it has no baseline.
    check_params : mapping
        Parameters that make a small, converged instance for scikit-learn's estimator checks
        (``tests/test_sklearn_checks.py``); every registered model is checked.
    """

    key: str
    label: str
    estimator: type
    params: tuple[ParamSpec, ...] = ()
    capabilities: Capabilities = field(default_factory=Capabilities)
    description: str = ""
    fixed_params: Mapping[str, Any] = field(default_factory=dict)
    builder: Callable[..., Any] | None = None
    short: str = ""
    baseline: Callable[[Mapping[str, Any]], tuple[str, dict]] | None = None
    check_params: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"model {self.key!r} has no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        """Every parameter at its default value."""
        return {p.name: p.default for p in self.params}

    def check(self, values: Mapping[str, Any]) -> list[str]:
        """Problems with ``values`` (parameters that apply only), in words; empty when fine."""
        problems = []
        for p in self.params:
            if p.name in values and p.applies(values):
                problem = p.check(values[p.name])
                if problem:
                    problems.append(problem)
        return problems

    def values(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters of ``config`` that apply, converted (others in it are ignored)."""
        return {p.name: p.convert(config[p.name]) for p in self.params
                if p.name in config and p.applies(config)}

    def build(self, values: Mapping[str, Any] | None = None, **runtime: Any):
        """The estimator with parameter ``values`` (unknown names raise ``ValueError``).

        ``runtime`` are arguments every estimator takes that are not model parameters, such
        as ``callback``.
        """
        values = dict(values or {})
        known = {p.name for p in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"model {self.key!r} has no parameter(s) {', '.join(unknown)}; "
                             f"it has {', '.join(sorted(known))}")
        kwargs = {**self.fixed_params, **values, **runtime}
        return (self.builder or self.estimator)(**kwargs)

    def check_instance(self):
        """A small instance for scikit-learn's estimator checks (see ``check_params``)."""
        return (self.builder or self.estimator)(**{**self.fixed_params, **self.check_params})

    @property
    def name(self) -> str:
        """The model in run labels."""
        return self.short or self.key


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add ``spec`` to the registry (``replace=True`` to overwrite a key); returns it."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register_model expects a ModelSpec, got {type(spec).__name__}")
    if not spec.key or not isinstance(spec.key, str):
        raise ValueError("a model key must be a non-empty string")
    if spec.key in _REGISTRY and not replace:
        raise ValueError(f"a model with key {spec.key!r} is already registered; "
                         "pass replace=True to overwrite it")
    _REGISTRY[spec.key] = spec
    return spec


def unregister_model(key: str) -> None:
    """Remove a model (tests and plug-ins that clean up after themselves)."""
    _REGISTRY.pop(key, None)


def list_models() -> list[ModelSpec]:
    """Every registered model, built-in models first, in registration order."""
    _ensure_builtins()
    return list(_REGISTRY.values())


def get_model(key: str) -> ModelSpec:
    """The spec registered under ``key`` (``ValueError`` naming the known keys otherwise)."""
    _ensure_builtins()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ValueError(f"unknown model {key!r}; registered models: "
                         f"{', '.join(_REGISTRY)}") from None


_BUILTINS_LOADED = False
_BUILTINS_LOCK = threading.RLock()


def _ensure_builtins() -> None:
    """Import the modules that register dnmf's own models (once, lazily: no import cycle).

    Thread-safe: a thread asking while another runs the import waits for it to finish (it saw a
    half-filled registry before: "Unknown model 'deep'" in a job started beside another). The
    flag is set only once the import is done; a call made by the importing thread itself during
    the import re-enters the lock and gets the partly run module from ``sys.modules``."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    with _BUILTINS_LOCK:
        if _BUILTINS_LOADED:
            return
        from . import _builtin_models  # noqa: F401  (registers on import)

        _BUILTINS_LOADED = True
