"""Errors shown in words: every ``ValueError`` from dnmf becomes a plain ``st.error``.

Pages never show a traceback: they call dnmf through :func:`attempt`, which returns
``(value, None)`` or ``(None, message)`` after drawing the message. :func:`data_error` also
offers the fixes a :class:`dnmf.datasets.DataError` lists as buttons. Anything else that
escapes a page reaches :func:`unexpected` (``app.py``'s last resort): a short message on the
page, the traceback in the server's log only.

Messages hold what users typed or uploaded (file, column, run and dataset names), and
Streamlit reads message bodies, captions, button labels and radio options as Markdown: every
such string goes through :func:`plain` first, so ``[click](http://…)``, ``**x**``, ``$x^2$``
or ``<b>`` show as typed — never as a link, bold, LaTeX or HTML.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Callable
from typing import Any

import streamlit as st

_LOG = logging.getLogger("dnmf.app")
#: Characters that start Markdown, Streamlit directives (``:red[…]``, ``:material/…:``), LaTeX
#: (``$``) or HTML wherever they stand; CommonMark lets any of them be backslash-escaped.
_MARKDOWN = re.compile(r"([\\`*\[\]<>$~|:^&])")
#: ``_`` emphasises only at a word's edge (never inside ``on_negative``).
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
#: Block markers count only at the start of a line: headings, lists, quotes, rules.
_LINE_START = re.compile(r"(?m)^(\s*)(\d*)([#>+=.)-])")


#: GFM turns bare URLs, www. names and e-mail addresses into links even when their
#: punctuation is escaped (checked in the browser); a word joiner (U+2060, invisible) between
#: the scheme and its colon, after "www" and before "@" stops that.
_AUTOLINK = re.compile(r"(?i)((?:https?|ftp|file)(?=\\?:\\?/)|(?:mailto|xmpp)(?=\\?:)"
                       r"|www(?=\\?\.))|(?=@)")
WORD_JOINER = "\u2060"


def plain(text: Any) -> str:
    """``text`` escaped so that Markdown shows it literally (line breaks kept), without
    links, emphasis, LaTeX, HTML or directives.

    What a user reads is the text itself; :func:`shown` undoes the escapes (for tests)."""
    escaped = _MARKDOWN.sub(r"\\\1", str(text))
    escaped = _UNDERSCORE.sub(r"\\_", escaped)
    escaped = _LINE_START.sub(lambda m: m.group(1) + m.group(2) + "\\" + m.group(3), escaped)
    return _AUTOLINK.sub(lambda m: (m.group(1) or "") + WORD_JOINER, escaped)


def shown(markdown: str) -> str:
    """The text :func:`plain` Markdown displays (its backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(WORD_JOINER, "")


def message_of(exc: BaseException) -> str:
    """The message of an exception, as a sentence."""
    text = str(getattr(exc, "message", None) or exc).strip() or type(exc).__name__
    first_word = text.split(maxsplit=1)[0]
    if first_word.isalpha():  # leave file names ("ragged.csv …") and identifiers as they are
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def show_error(exc: BaseException, prefix: str = "") -> None:
    """The message of ``exc`` as ``st.error``, shown literally (:func:`plain`)."""
    st.error(plain(f"{prefix}{message_of(exc)}"), icon=":material/error:")


def unexpected(exc: BaseException, where: str = "this page") -> None:
    """The last resort for an error no page expected: log the traceback server-side and show
    one short sentence — the error's type, never its text (it may hold server paths)."""
    _LOG.error("Unexpected error on %s", where, exc_info=exc)
    st.error(
        f"Something went wrong on {where} ({type(exc).__name__}); the details are in the "
        "server's log. Your data and runs are kept: try another file or setting, or another "
        "page.",
        icon=":material/error:",
    )


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


_ROLE_WORDS = {"sample_names": "sample names", "labels": "labels", "drop": "drop it",
               "data": "data"}


def fix_label(fix: str) -> str:
    """What a fix's button says: ``"on_negative='clip'"`` → ``on_negative = clip``;
    ``"column_roles={'name': 'drop'}"`` → ``'name': drop it``; ``"text_column='review'"`` →
    ``read as a corpus of 'review'``. Not yet escaped for Markdown (:func:`plain`)."""
    key, _, value = fix.partition("=")
    key = key.strip()
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        parsed = None
    if key == "column_roles" and isinstance(parsed, dict) and len(parsed) == 1:
        (col, role), = parsed.items()
        return f"'{col}': {_ROLE_WORDS.get(role, role)}"
    if key == "text_column":
        return f"read as a corpus of '{parsed}'"
    if key == "paper_words" and parsed is True:
        return "the paper's 500 words"
    return f"{key} = {value.strip().strip(chr(39)).strip(chr(34))}"


_FIX_HELP = {
    "on_negative": "what to do with negative entries",
    "on_nonfinite": "what to do with NaN / inf entries",
    "samples_as": "whether samples are the rows or the columns of the matrix (transpose)",
    "drop_empty": "drop rows/columns that are all zero",
    "variable": "which variable of the file holds the matrix",
    "column_roles": "what this column is: sample names, labels (classes), or not used",
    "text_column": "read the file as a text corpus, one document per row",
    "decimal": "numbers are written with a decimal comma",
    "paper_words": "the paper's preprocessing of TDT2: its 500 words",
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
            plain(fix_label(fix)),
            key=f"{key}_{i}",
            on_click=on_fix,
            args=(fix,),
            help=_FIX_HELP.get(name, f"retry with {fix}"),
            icon=":material/build:",
        )
