"""No code in the app names a model: ``dnmf/ui/`` and ``pages/`` read the registry only.

A model key written as a string literal there (``"deep"``, ``'multilayer'``,
``.startswith("deep")``) means some behaviour is tied to one model, and a model registered from
outside the package would not get it. The test reads the source as tokens, so keys inside
longer strings (help text such as "deep β-NMF") do not count, only literals equal to a key or
tested as a key's prefix.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import dnmf

ROOT = Path(__file__).resolve().parents[1]
APP_FILES = sorted([ROOT / "app.py", *(ROOT / "dnmf" / "ui").glob("*.py"),
                    *(ROOT / "pages").glob("*.py")])


def key_literals(source: str, keys: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every string token whose value is a model key."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING or tok.string[:1] in "fFbB":
            continue
        try:
            value = eval(tok.string, {})  # a plain string literal (no f-string, checked above)
        except (SyntaxError, ValueError):
            continue
        if isinstance(value, str) and value in keys:
            found.append((tok.start[0], tok.string))
    return found


def test_the_check_finds_a_key_literal():
    keys = {"deep", "multilayer"}
    assert key_literals('if cfg["model"] == "deep":\n    pass\n', keys) == [(1, '"deep"')]
    assert key_literals("run.model.startswith('multilayer')\n", keys) == [(1, "'multilayer'")]
    assert key_literals('label = "Run deep and multilayer"\n', keys) == []


def test_no_model_key_is_written_in_the_app():
    keys = {spec.key for spec in dnmf.list_models()}
    assert {"deep", "multilayer", "deep-minvol", "frobenius"} <= keys
    offenders = [f"{path.relative_to(ROOT)}:{line}: {literal}"
                 for path in APP_FILES for line, literal in key_literals(path.read_text(), keys)]
    assert not offenders, "model keys compared in the app:\n" + "\n".join(offenders)
