"""One widget per :class:`~dnmf.registry.ParamSpec`: the Model page's configuration form.

Widget keys are ``cfg_<model>_<parameter>`` (each model keeps its own values, and a value valid
for one model's bounds never reaches another's widget), except the per-layer values, which
every model shares: ``cfg_n_layers`` (L) and ``cfg_<parameter>_<k>`` for k = 0 … L-1
(e.g. ``cfg_ranks_0``), so the ranks follow the user from one model to the next.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dnmf.registry import ModelSpec, ParamSpec
from dnmf.ui.config import MAX_LAYERS
from dnmf.ui.errors import plain
from dnmf.ui.state import PERSIST, init_default

N_LAYERS_KEY = "cfg_n_layers"
_PER_LAYER = ("ints", "floats", "weights")
_ROW = 4  # scalar widgets per row


def as_text(text: str) -> str:
    """``text`` shown as written, never interpreted as Markdown (a spec's strings may come from
    a plug-in): :func:`dnmf.ui.errors.plain`, which escapes only what Markdown would read, so
    that accessible names stay clean (no "warm\\-start")."""
    return plain(text)


def key(spec: ModelSpec, p: ParamSpec | str, suffix: str = "") -> str:
    """The session-state key of a scalar parameter's widget."""
    name = p if isinstance(p, str) else p.name
    return f"cfg_{spec.key}_{name}{suffix}"


def layer_key(p: ParamSpec | str, k: int) -> str:
    """The key of layer k's (0-based) value of a per-layer parameter."""
    return f"cfg_{p if isinstance(p, str) else p.name}_{k}"


def draw(spec: ModelSpec, n_default_layers: int) -> dict[str, Any]:
    """Draw the spec's parameters (those that apply) and return their values."""
    defaults = spec.defaults()
    values: dict[str, Any] = {}
    init_default(N_LAYERS_KEY, n_default_layers)
    row: list[ParamSpec] = []
    sets_layers = [True]  # the first per-layer integers (the ranks) carry the L widget

    def flush() -> None:
        if not row:
            return
        for col, p in zip(st.columns(_ROW), row):
            with col:
                values[p.name] = _scalar(spec, p)
        row.clear()

    for p in spec.params:
        if not p.applies({**defaults, **_chosen(spec), **values}):
            continue
        if p.kind in _PER_LAYER:
            flush()
            values[p.name] = _per_layer(p, sets_layers)
        elif p.presets:  # a row of named values needs the page's width
            flush()
            values[p.name] = _scalar(spec, p)
        else:
            row.append(p)
            if len(row) == _ROW:
                flush()
    flush()
    return values


def _chosen(spec: ModelSpec) -> dict[str, Any]:
    """Values already in the widgets' state (of widgets drawn later in the same row too)."""
    out = {}
    for p in spec.params:
        k = key(spec, p)
        if k in st.session_state and not p.presets and p.kind not in _PER_LAYER:
            out[p.name] = st.session_state[k]
    return out


def _n_layers() -> int:
    return int(st.session_state[N_LAYERS_KEY])


def _per_layer(p: ParamSpec, sets_layers: list[bool]):
    st.markdown(f"**{as_text(p.title)}**", help=as_text(p.help) if p.help else None)
    if p.kind == "weights":
        mode_key = layer_key(p, "mode")
        init_default(mode_key, "auto")
        mode = st.radio(as_text(p.title), ["auto", "manual"], key=mode_key, horizontal=True,
                        label_visibility="collapsed", **PERSIST)
        if mode == "auto":
            st.caption(as_text(p.help))
            return "auto"
        return _layer_inputs(p, float, 1.0)
    if p.kind == "ints" and sets_layers[0]:
        sets_layers[0] = False
        c_l, c_r = st.columns([1, 4])
        with c_l:
            st.number_input("Layers L", min_value=1, max_value=MAX_LAYERS, step=1,
                            key=N_LAYERS_KEY, **PERSIST)
        with c_r:
            return _layer_inputs(p, int, 1)
    return _layer_inputs(p, int if p.kind == "ints" else float, 1)


def _layer_inputs(p: ParamSpec, cast, fallback) -> list:
    cols = st.columns(MAX_LAYERS)
    out: list = []
    default = p.default if isinstance(p.default, (list, tuple)) else ()
    for k in range(_n_layers()):
        if k < len(default):
            first = cast(default[k])
        elif out and cast is int:
            first = max(1, out[-1] // 2)
        else:
            first = cast(fallback)
        init_default(layer_key(p, k), first)
        kwargs: dict[str, Any] = {"step": 1} if cast is int else {"format": "%g"}
        if p.low is not None:
            kwargs["min_value"] = cast(p.low)
        if p.high is not None:
            kwargs["max_value"] = cast(p.high)
        label = f"r_{k + 1}" if p.name == "ranks" else as_text(f"{p.title} {k + 1}")
        out.append(cast(cols[k].number_input(label, key=layer_key(p, k), **kwargs, **PERSIST)))
    return out


def _scalar(spec: ModelSpec, p: ParamSpec):
    k = key(spec, p)
    help_text = as_text(p.help) if p.help else None
    if p.kind == "choice":
        init_default(k, p.default)
        if st.session_state[k] not in p.choices:
            st.session_state[k] = p.default
        return st.selectbox(as_text(p.title), list(p.choices), key=k, help=help_text, **PERSIST)
    if p.kind == "bool":
        init_default(k, bool(p.default))
        return st.toggle(as_text(p.title), key=k, help=help_text, **PERSIST)
    if p.kind == "str":
        init_default(k, str(p.default))
        return st.text_input(as_text(p.title), key=k, help=help_text, **PERSIST)
    if p.presets:
        labels = list(p.presets)
        first = next((lab for lab, v in p.presets.items() if v == p.default), labels[0])
        init_default(k, first)
        chosen = st.segmented_control(as_text(p.title), labels, key=k, help=help_text,
                                      **PERSIST) or first
        value = p.presets[chosen]
        if value is not None:
            return value
        free = key(spec, p, "_free")
        return _number(p, free, as_text(f"{p.title} (value)"))
    return _number(p, k, as_text(p.title))


def _number(p: ParamSpec, k: str, label: str):
    integral = p.kind == "int"
    cast = int if integral else float
    init_default(k, cast(p.default))
    kwargs: dict[str, Any] = {"step": 1} if integral else {"format": "%g"}
    if p.low is not None:
        kwargs["min_value"] = cast(p.low)
    if p.high is not None:
        kwargs["max_value"] = cast(p.high)
    help_text = as_text(p.help) if p.help else None
    return cast(st.number_input(label, key=k, help=help_text, **kwargs, **PERSIST))
