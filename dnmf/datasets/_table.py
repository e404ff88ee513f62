"""Numeric tables (CSV/TSV/whitespace) through pandas' C parser, with the checks a user needs.

`read_table` turns the bytes of a delimited file into a numeric matrix plus what its other
columns are (:class:`Table`), or one `DataError` that names the line, row or column at fault:

1. the layout is scanned once, vectorised over the raw bytes (blank and ``#`` comment lines
   skipped): the delimiter and header are detected on the first lines, and a line with another
   number of fields than the rest is reported as *ragged* (pandas would pad short lines with
   NaN silently);
2. the file is parsed by ``pandas.read_csv(engine="c")``, each column getting its own type;
3. every column gets a *role* (``COLUMN_ROLES``): numeric columns are ``"data"``; a first
   column of text (or under an empty header cell) gives the sample names; an identifier
   column (consecutive integers 1, 2, …, first or named like an id) the sample names too; a
   column named like a class (``LABEL_NAMES``) the labels. Other text columns have no role
   until the caller gives one (``column_roles={name: role}``): the error offers each choice
   as a fix, and reading the table as a corpus when it has one long text column.

Numeric cells that do not parse are reported with their row and column; cells like ``1,5``
in a ``;``-separated file are recognised as decimal commas (fix: ``decimal=','``).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._types import DataError
from .validation import _plural

#: What a column of a table can be used as.
COLUMN_ROLES = ("data", "sample_names", "labels", "drop")
#: Column names read as class labels without being asked (case-insensitive).
LABEL_NAMES = ("label", "labels", "class", "classes", "target", "category")
#: Column names read as identifiers (case-insensitive; "unnamed: 0" is pandas' index column).
ID_NAMES = ("id", "ids", "index", "idx", "sample", "sample_id", "name", "names", "key", "#",
            "no", "row", "unnamed: 0")
MISSING = ("", "na", "nan", "n/a", "null", "none", "-", "?", "NA", "NaN", "N/A", "NULL",
           "None")
_HEAD_BYTES = 65536
_DELIMS = (",", "\t", ";", "|")
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+(?:[eE][-+]?\d+)?\s*$")


@dataclass
class Table:
    """A parsed table: the numeric matrix (file rows × data columns) and the other columns."""

    A: np.ndarray
    delimiter: str | None
    header: bool
    col_names: list[str] | None  # of the data columns (header only)
    row_names: list[str] | None  # sample names (from a "sample_names" column)
    labels: np.ndarray | None = None
    label_names: list[str] | None = None
    roles: dict = field(default_factory=dict)  # column (name, or position) → role but "data"
    auto: list[str] = field(default_factory=list)  # roles chosen without being asked
    notes: list[str] = field(default_factory=list)


def _is_num(tok: str) -> bool:
    t = tok.strip()
    if t.lower() in MISSING:
        return True
    try:
        float(t)
        return True
    except ValueError:
        return False


def encoding_of(data: bytes, fname: str) -> str:
    """The text encoding to parse ``data`` with (UTF-8, else cp1252, else latin-1)."""
    if b"\x00" in data[:1 << 20]:
        raise DataError(f"{fname} contains binary data (NUL bytes); it is not a text/CSV file.")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"


def detect_delimiter(lines: list[str]) -> str | None:
    """The delimiter most lines agree on (None: whitespace)."""
    sample = lines[:50]
    best, best_score = None, 0.0
    for d in _DELIMS:
        counts = [ln.count(d) for ln in sample]
        if not any(counts):
            continue
        mode, freq = Counter(counts).most_common(1)[0]
        if mode == 0:
            continue
        score = freq / len(sample) + 0.001 * mode
        if score > best_score:
            best, best_score = d, score
    return best


def _split(lines: list[str], delim: str | None) -> list[list[str]]:
    if delim is None:
        return [ln.split() for ln in lines]
    return [[t.strip() for t in r] for r in csv.reader(lines, delimiter=delim)]


def _has_header(rows: list[list[str]]) -> bool:
    """A first row of names: it has non-numeric cells, and some column whose first-row cell is
    text holds numbers in the rows below."""
    if len(rows) < 2 or all(_is_num(t) for t in rows[0]):
        return False
    body = rows[1:21]
    for j, t in enumerate(rows[0]):
        if t.strip() and not _is_num(t) and all(j < len(r) and _is_num(r[j]) and r[j].strip()
                                                for r in body):
            return True
    return False


def _per_line(positions: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many of ``positions`` (sorted byte offsets) fall on each line."""
    line = np.searchsorted(starts, positions, side="right") - 1
    return np.bincount(line, minlength=starts.size)


def _line_fields(data: bytes, delim: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Physical line numbers (1-based) of the non-blank, non-comment lines and their number
    of fields, counted over the raw bytes without a Python loop over lines; and whether every
    such line ends with the delimiter (an empty last column to ignore)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    breaks = buf == 10
    lone_cr = buf == 13  # old Mac line ends: a "\r" not followed by "\n" ends a line too
    lone_cr[:-1] &= buf[1:] != 10
    starts = np.concatenate(([0], np.flatnonzero(breaks | lone_cr) + 1))
    starts = starts[starts < buf.size]
    ends = np.concatenate((starts[1:], [buf.size]))  # exclusive, newline included
    space = (buf == 32) | (buf == 9) | (buf == 10) | (buf == 13)
    # first non-space byte of each line (ends[i] when the line is blank): few lines start
    # with a space, and those are advanced together one byte at a time
    first = starts.copy()
    todo = np.flatnonzero(space[first])
    while todo.size:
        first[todo] += 1
        todo = todo[first[todo] < ends[todo]]
        todo = todo[space[first[todo]]]
    blank = first >= ends
    keep = ~blank
    keep[keep] = buf[first[keep]] != ord("#")
    if delim is None:
        token = ~space
        token[1:] &= space[:-1]
        fields = _per_line(np.flatnonzero(token), starts)
        trailing = False
    else:
        fields = _per_line(np.flatnonzero(buf == ord(delim)), starts) + 1
        last = ends - 1
        for skip in (10, 13):  # the line's last byte before "\r\n"
            last = np.where((buf[last] == skip) & (last > starts), last - 1, last)
        ends_with = buf[last] == ord(delim)
        trailing = bool(keep.any() and ends_with[keep].all())
    lines = np.flatnonzero(keep) + 1
    return lines, fields[keep] - int(trailing), trailing


def _ragged(lines: np.ndarray, fields: np.ndarray, fname: str) -> None:
    ref = Counter(fields.tolist()).most_common(1)[0][0]
    bad = np.flatnonzero(fields != ref)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{fname} is ragged: line {int(lines[i])} has {_plural(int(fields[i]), 'value')} "
            f"but most lines have {ref} ({_plural(bad.size, 'line')} "
            f"differ{'s' if bad.size == 1 else ''}). Every row of a matrix needs the same "
            "number of values; check the delimiter, quoting, and missing cells (write NaN or "
            "leave the cell empty between delimiters).")


def _quoted_fields(text: str, delim: str | None, fname: str) -> tuple[np.ndarray, np.ndarray]:
    """The same as `_line_fields` for a file with quotes (fields may hold delimiters)."""
    lines, counts = [], []
    try:
        for i, ln in enumerate(text.splitlines(), start=1):
            if not ln.strip() or ln.lstrip().startswith("#"):
                continue
            (row,) = _split([ln], delim) or [[]]
            lines.append(i)
            counts.append(len(row))
    except (csv.Error, ValueError) as exc:
        raise DataError(f"{fname} is not a well-formed CSV file: {exc}.") from None
    return np.asarray(lines, dtype=np.int64), np.asarray(counts, dtype=np.int64)


def _label(names: list[str] | None, j: int) -> str:
    """How a column is named in messages and in ``column_roles``: its header name, else its
    0-based position."""
    return names[j] if names is not None and names[j].strip() else str(j)


def _role_key(names: list[str] | None, j: int) -> str | int:
    return names[j] if names is not None and names[j].strip() else j


def _looks_like_id(col: pd.Series, name: str | None, j: int) -> bool:
    v = col.to_numpy()
    named = name is not None and name.strip().lower() in ID_NAMES
    if v.size < (3 if named else 5) or col.dtype.kind not in "iu":
        return False
    consecutive = bool(np.all(np.diff(v) == 1)) and v[0] in (0, 1)
    return consecutive and (j == 0 or named)


def _words(col: pd.Series) -> float:
    values = col.dropna().astype(str)
    return float(values.str.split().str.len().mean()) if len(values) else 0.0


def _text_fixes(key: Any, col: pd.Series, corpus: bool, m: int) -> list[str]:
    values = col.dropna().astype(str)
    fixes = []
    if values.nunique() == len(values) == m:
        fixes.append(f"column_roles={{{key!r}: 'sample_names'}}")
    if values.nunique() < len(values):
        fixes.append(f"column_roles={{{key!r}: 'labels'}}")
    fixes.append(f"column_roles={{{key!r}: 'drop'}}")
    if corpus:
        fixes.append(f"text_column={key!r}")
    return fixes


def read_table(
    data: bytes,
    fname: str,
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    index_col: bool | None = None,
    decimal: str = ".",
    column_roles: dict | None = None,
) -> Table:
    """Parse a delimited numeric table (module doc). Raises `DataError` in words."""
    if decimal not in (".", ","):
        raise DataError(f"decimal must be '.' or ',', got {decimal!r}.")
    roles_in = _check_roles(column_roles)
    enc = encoding_of(data, fname)
    head = data[:_HEAD_BYTES].decode(enc, errors="replace")
    physical = head.splitlines()
    if len(data) > _HEAD_BYTES and len(physical) > 1:
        physical = physical[:-1]  # cut mid-line
    content = [i for i, ln in enumerate(physical)
               if ln.strip() and not ln.lstrip().startswith("#")]
    if not content:
        raise DataError(f"{fname} has no data: it is empty or only has comments/blank lines.")
    head_lines = [physical[i] for i in content]
    delim = delimiter if delimiter is not None else detect_delimiter(head_lines)
    if delim is not None and (delim == " " or (delim.isspace() and delim != "\t")):
        delim = None
    if delim is not None and len(delim) != 1:
        raise DataError(f"delimiter must be one character, got {delim!r}.")
    try:
        head_rows = _split(head_lines[:200], delim)
    except csv.Error as exc:
        raise DataError(f"{fname} is not a well-formed CSV file: {exc}.") from None
    if header is None:
        header = _has_header([[t.replace(",", ".") for t in r] for r in head_rows]
                             if decimal == "," else head_rows)
    if header and len(content) < 2:
        raise DataError(f"{fname} only has a header line and no data rows.")
    trailing = delim is not None and all(ln.rstrip().endswith(delim) for ln in head_lines[:200])
    quoted = b'"' in data

    scanned: list = []

    def scan() -> tuple[np.ndarray, np.ndarray]:
        """Line numbers and field counts of the data lines (header excluded), once."""
        if not scanned:
            if quoted:
                lines, fields = _quoted_fields(data.decode(enc, errors="replace"), delim,
                                               fname)
                if trailing:
                    fields = fields - 1
            else:
                lines, fields, _ = _line_fields(data, delim)
            if header:
                lines, fields = lines[1:], fields[1:]
            scanned.append((lines, fields))
        return scanned[0]

    ncol = len(head_rows[1 if header else 0]) - int(trailing)
    names: list[str] | None = None
    if header:
        names = [t.strip() for t in head_rows[0]]
        if trailing and names and names[-1] == "":
            names = names[:-1]
    if quoted or trailing:  # pandas cannot be trusted to count these lines: scan first
        _ragged(*scan(), fname)
    try:
        df = pd.read_csv(
            io.BytesIO(data), sep=r"\s+" if delim is None else delim, header=None,
            skiprows=content[0] + int(bool(header)), comment="#", skip_blank_lines=True,
            engine="c", encoding=enc, decimal=decimal, na_values=list(MISSING),
            keep_default_na=True, usecols=range(ncol) if trailing else None, low_memory=False,
        )
    except pd.errors.ParserError as exc:  # a line with more fields than the first
        _ragged(*scan(), fname)
        raise DataError(f"{fname} is not a well-formed table: {exc}.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{fname} is not a well-formed table: {exc}.") from None
    if df.shape[1] != ncol or df.iloc[:, -1].isna().any():
        _ragged(*scan(), fname)  # short lines are padded with NaN by pandas: were there any?
    ncol = df.shape[1]
    if names is not None and len(names) == ncol - 1:
        names = [""] + names  # a header without a cell for the index column
    if names is not None and len(names) != ncol:
        raise DataError(f"{fname} is ragged: the header has {len(names)} names but the rows "
                        f"have {ncol} values.")

    m = df.shape[0]

    def row_line(i: int) -> int:
        """The file's line number of data row i (for messages)."""
        lines = scan()[0]
        return int(lines[i]) if i < lines.size else i + 1 + int(bool(header))

    roles: dict[int, str] = {}
    given_at: set[int] = set()
    auto: list[str] = []
    text_cols: list[int] = []
    corner = names is not None and ncol >= 2 and (
        names[0].strip() == "" or names[0].strip().lower().startswith("unnamed"))
    for j in range(ncol):
        key = _role_key(names, j)
        given = roles_in.get(key, roles_in.get(j) if isinstance(key, str) else None)
        col = df.iloc[:, j]
        if given is not None:
            roles[j] = given
            given_at.add(j)
            continue
        if j == 0 and (index_col or (index_col is None and corner)):
            roles[j] = "sample_names"
            if index_col is None:
                auto.append("the first column has no header: used as sample names")
            continue
        if col.dtype.kind in "biuf":
            if index_col is not False and _looks_like_id(col, names[j] if names else None, j):
                roles[j] = "sample_names"
                auto.append(f"column {_label(names, j)!r} holds the numbers "
                            f"{int(col.iloc[0])}, {int(col.iloc[1])}, … (an identifier): "
                            "used as sample names, not as data")
            elif names is not None and names[j].strip().lower() in LABEL_NAMES:
                roles[j] = "labels"
                auto.append(f"column {names[j]!r} is read as the samples' labels")
            else:
                roles[j] = "data"
            continue
        raw = col.astype(str).where(col.notna(), None)
        num = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & num.isna()
        n_bad, n_present = int(bad.sum()), int(col.notna().sum())
        if n_bad < 0.9 * max(n_present, 1):  # numbers with a few bad cells: say where
            i = int(np.flatnonzero(bad.to_numpy())[0])
            cell = str(raw.iloc[i])
            comma = decimal == "." and delim != "," and bool(
                raw[bad].astype(str).str.match(_DECIMAL_COMMA).mean() > 0.5)
            if comma:
                raise DataError(
                    f"{fname} writes numbers with a decimal comma (e.g. {cell[:40]!r} at line "
                    f"{row_line(i)}, column {j + 1}); read it with decimal=','.",
                    fixes=["decimal=','"])
            raise DataError(
                f"{fname} has {_plural(n_bad, 'non-numeric cell')}, e.g. {cell[:40]!r} at row "
                f"{row_line(i)}, column {j + 1}. A matrix needs numbers in every cell "
                "(empty, NA and NaN count as missing).")
        if j == 0 and ncol >= 2 and index_col is None:
            roles[j] = "sample_names"
            auto.append(f"the first column ({_label(names, j)!r}) holds text: used as "
                        "sample names")
        elif names is not None and names[j].strip().lower() in LABEL_NAMES:
            roles[j] = "labels"
            auto.append(f"column {names[j]!r} is read as the samples' labels")
        else:
            text_cols.append(j)

    if text_cols:
        shown = ", ".join(f"column {j + 1} ({_label(names, j)!r})" for j in text_cols[:4])
        eg = str(df.iloc[:, text_cols[0]].dropna().astype(str).iloc[0])[:40] if \
            df.iloc[:, text_cols[0]].notna().any() else ""
        fixes: list[str] = []
        # one column of long text (sentences, not names or classes) can be read as a corpus
        long = [j for j in text_cols if _words(df.iloc[:, j]) >= 4]
        for j in text_cols[:4]:
            fixes += _text_fixes(_role_key(names, j), df.iloc[:, j], long == [j], m)
        raise DataError(
            f"{fname}: {shown} hold{'s' if len(text_cols) == 1 else ''} text, not numbers "
            f"(e.g. {eg!r}). Say what {'it is' if len(text_cols) == 1 else 'they are'}: sample "
            "names, labels (classes, used to score runs), or a column to drop"
            + (" — or read the file as a text corpus" if any(f.startswith("text_column")
                                                           for f in fixes) else "") + ".",
            fixes=fixes)
    for j, role in roles.items():
        if role == "data" and df.iloc[:, j].dtype.kind not in "biuf":
            raise DataError(f"{fname}: column {_label(names, j)!r} holds text; it cannot be "
                            "used as data (choose sample names, labels or drop).",
                            fixes=[f"column_roles={{{_role_key(names, j)!r}: 'drop'}}"])
    for role in ("sample_names", "labels"):
        cols = [j for j, r in roles.items() if r == role]
        chosen = [j for j in cols if j in given_at]
        if chosen and len(cols) > len(chosen):  # the user's choice wins over a guess
            for j in cols:
                if j not in given_at:
                    roles[j] = "drop" if role == "sample_names" else "data"
                    auto.append(f"column {_label(names, j)!r} is dropped: "
                                f"{_label(names, chosen[0])!r} gives the "
                                f"{role.replace('_', ' ')}")
            cols = chosen
        if len(cols) > 1:
            raise DataError(f"{fname}: only one column can give the {role.replace('_', ' ')}; "
                            "chosen: " + ", ".join(repr(_label(names, j)) for j in cols) + ".")
    unknown = [k for k in roles_in if not (isinstance(k, int) and 0 <= k < ncol)
               and not (names is not None and k in names)]
    if unknown:
        raise DataError(f"{fname} has no column {unknown[0]!r}; columns: "
                        + ", ".join(repr(_label(names, j)) for j in range(min(ncol, 20)))
                        + ".")

    data_cols = [j for j in range(ncol) if roles.get(j) == "data"]
    if not data_cols:
        raise DataError(f"{fname} has no numeric column left to factorise.")
    block = df.iloc[:, data_cols]
    A = block.to_numpy(dtype=np.float64, na_value=np.nan)
    row_names = labels = label_names = None
    for j, role in roles.items():
        col = df.iloc[:, j]
        if role == "sample_names":
            row_names = ["" if v is None else str(v) for v in
                         col.astype(object).where(col.notna(), None)]
            if col.dtype.kind == "f" and col.notna().all() and (col % 1 == 0).all():
                row_names = [str(int(v)) for v in col]
        elif role == "labels":
            vals = col.astype(object).where(col.notna(), None).tolist()
            if any(v is None for v in vals):
                raise DataError(f"{fname}: the label column {_label(names, j)!r} has empty "
                                "cells; every sample needs a label.")
            uniq = sorted(set(vals), key=lambda v: (isinstance(v, str), v))
            label_names = [str(v) for v in uniq]
            index = {v: k for k, v in enumerate(uniq)}
            labels = np.array([index[v] for v in vals], dtype=np.int64)
    shown_roles = {_role_key(names, j): r for j, r in sorted(roles.items())
                   if r != "data" or j in given_at}
    return Table(A=A, delimiter=delim, header=bool(header),
                 col_names=[names[j] for j in data_cols] if names is not None else None,
                 row_names=row_names, labels=labels, label_names=label_names,
                 roles=shown_roles, auto=auto)


def _check_roles(column_roles: Any) -> dict:
    if column_roles is None:
        return {}
    if not isinstance(column_roles, dict):
        raise DataError("column_roles must be a dict {column name or 0-based position: role}, "
                        f"got {type(column_roles).__name__}.")
    out = {}
    for k, v in column_roles.items():
        if v not in COLUMN_ROLES:
            raise DataError(f"column_roles[{k!r}] must be one of {COLUMN_ROLES}, got {v!r}.")
        out[k] = v
    return out
