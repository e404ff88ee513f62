"""Tick settings for the log-scale error axes, so that their labels never overlap.

Left to itself, a plotly log axis spanning a decade or two puts a tick at every digit
(``dtick="D1"``); with a full-number ``tickformat`` each of them carries a long label, and on a
figure a few hundred pixels tall they run into one another. Here an axis over one to three
decades gets ticks at 1, 2 and 5 of each decade; over more, one labelled tick per decade (or per
few decades, at most :data:`MAX_TICKS` of them), written as powers of ten; a narrower axis
keeps plotly's in-decade ticks, limited to :data:`MAX_TICKS`, with short full-number labels.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

#: Most labelled ticks on a log error axis.
MAX_TICKS = 6


def log_tick_settings(values) -> dict:
    """Axis properties (``dtick``, ``nticks``, ``tickformat``, ``exponentformat``) for a log
    axis over ``values`` (any array-likes; non-positive and non-finite entries ignored)."""
    v = np.concatenate([np.ravel(np.asarray(x, dtype=float)) for x in values] or [np.empty(0)])
    v = v[np.isfinite(v) & (v > 0)]
    decades = float(np.log10(v.max() / v.min())) if v.size else 0.0
    if 1.0 <= decades < 3.0:  # ticks at 1, 2 and 5 of each decade, as full numbers
        return dict(dtick="D2", tickformat=".4~g", exponentformat="power", nticks=None)
    if decades >= 3.0:
        return dict(dtick=max(1, math.ceil(decades / MAX_TICKS)), tickformat="",
                    exponentformat="power", nticks=None)
    return dict(dtick=None, nticks=MAX_TICKS, tickformat=".3~g", exponentformat="power")


def readable_log_y(fig: go.Figure, **selector) -> go.Figure:
    """Make ``fig``'s y axis (or the subplot's, given ``row``/``col``) a log axis whose tick
    labels do not overlap, from the y values of its traces (all of them; with a subplot
    selector, those of that subplot)."""
    traces = fig.select_traces(**selector) if selector else fig.data
    ys = [t.y for t in traces if getattr(t, "y", None) is not None]
    fig.update_yaxes(type="log", **log_tick_settings(ys), **selector)
    return fig
