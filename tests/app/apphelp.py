"""AppTest helpers: the app from its absolute path, page switching, plotly specs.

(A plain module, not conftest.py: tests/conftest.py already owns that module name.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def new_app(timeout: float = 60) -> AppTest:
    """The app, run once (so st.navigation has registered the pages)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def specs(at: AppTest) -> list[dict]:
    """The JSON specs of every plotly chart on the page, in order."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def trace_types(spec: dict) -> list[str]:
    return [t.get("type", "scatter") for t in spec["data"]]


def title(spec: dict) -> str:
    t = spec["layout"].get("title", {})
    return t.get("text", "") if isinstance(t, dict) else str(t)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def choose_sample(at: AppTest, name: str) -> AppTest:
    goto(at, "data")
    at.selectbox(key="data_sample").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["dataset"].name == name
    return at


def cfg_key(at: AppTest, name: str) -> str:
    """The Model page's widget key of parameter ``name`` of the chosen model."""
    model = at.session_state["cfg_model"] if "cfg_model" in at.session_state else "deep"
    return f"cfg_{model}_{name}"


def has_widget(at: AppTest, kind: str, key: str) -> bool:
    return any(getattr(w, "key", None) == key for w in at.get(kind))


def quick_settings(at: AppTest, n_init_iter: int = 20, max_iter: int = 20) -> AppTest:
    """Few iterations so a fit takes a fraction of a second."""
    if has_widget(at, "number_input", cfg_key(at, "n_init_iter")):
        at.number_input(key=cfg_key(at, "n_init_iter")).set_value(n_init_iter)
    at.number_input(key=cfg_key(at, "max_iter")).set_value(max_iter)
    return at.run()
