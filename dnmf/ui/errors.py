"""Errors shown in words: every ``ValueError`` from dnmf becomes a plain ``st.error``.

Pages never show a traceback: they call dnmf through :func:`attempt`, which returns
``(value, None)`` or ``(None, message)`` after drawing the message. :func:`data_error` also
offers the fixes a :class:`dnmf.datasets.DataError` lists as buttons.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import streamlit as st


def message_of(exc: BaseException) -> str:
    """The message of an exception, as a sentence."""
    text = str(getattr(exc, "message", None) or exc).strip() or type(exc).__name__
    first_word = text.split(maxsplit=1)[0]
    if first_word.isalpha():  # leave file names ("ragged.csv …") and identifiers as they are
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def show_error(exc: BaseException, prefix: str = "") -> None:
    st.error(f"{prefix}{message_of(exc)}", icon=":material/error:")


def attempt(fn: Callable[..., Any], *args: Any, prefix: str = "", **kwargs: Any):
    """Call ``fn``; on ``ValueError`` (DataError included) draw it with ``st.error`` and return
    ``(None, message)``; otherwise ``(value, None)``."""
    try:
        return fn(*args, **kwargs), None
    except ValueError as exc:
        show_error(exc, prefix)
        return None, message_of(exc)


def parse_fix(fix: str) -> dict[str, Any]:
    """``"on_negative='clip'"`` → ``{"on_negative": "clip"}`` (``ast.literal_eval``: safe)."""
    key, _, value = fix.partition("=")
    key = key.strip()
    if not key.isidentifier() or not value.strip():
        raise ValueError(f"not a fix of the form name=value: {fix!r}")
    return {key: ast.literal_eval(value.strip())}


def fix_label(fix: str) -> str:
    """``"on_negative='clip'"`` → ``on_negative = clip`` (what a button says)."""
    key, _, value = fix.partition("=")
    return f"{key.strip()} = {value.strip().strip(chr(39)).strip(chr(34))}"


_FIX_HELP = {
    "on_negative": "what to do with negative entries",
    "on_nonfinite": "what to do with NaN / inf entries",
    "samples_as": "whether samples are the rows or the columns of the matrix (transpose)",
    "drop_empty": "drop rows/columns that are all zero",
    "variable": "which variable of the file holds the matrix",
}


def data_error(exc: BaseException, on_fix: Callable[[str], None], key: str = "fix") -> None:
    """Draw a data error and one button per fix it offers; clicking calls ``on_fix(fix)``."""
    show_error(exc)
    fixes = list(getattr(exc, "fixes", None) or [])
    if not fixes:
        return
    st.caption("Load it anyway with one of these options:")
    row = st.container(horizontal=True)
    for i, fix in enumerate(fixes):
        name = fix.partition("=")[0].strip()
        row.button(
            fix_label(fix),
            key=f"{key}_{i}",
            on_click=on_fix,
            args=(fix,),
            help=_FIX_HELP.get(name, f"retry with {fix}"),
            icon=":material/build:",
        )
