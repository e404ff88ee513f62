"""The Learn pages in a real browser: each default demo is timed from the click in the
sidebar until the page is idle with its charts drawn, and kept as a screenshot
(``artifacts/e2e/learn-*.png``; the times go to ``artifacts/e2e/learn-times.txt``)."""

from __future__ import annotations

import os
import re
import time

import pytest

from .conftest import ARTIFACTS
from .ui import charts, expect, main, no_traceback, open_app, shot, wait_idle

pytestmark = pytest.mark.e2e

#: nav title, heading, screenshot name, charts drawn by the default demo
PAGES = [
    ("What NMF finds", "What NMF finds", "learn-what", 5),
    ("Algorithms race", "Algorithms race", "learn-race", 3),
    ("Geometry", "The geometry of NMF", "learn-geometry", 3),
    ("Deep vs multilayer", "Deep vs multilayer, against the truth", "learn-deep", 2),
]
#: The issue's budget for a default demo is 2 s of computing on the 2-core machine (the
#: AppTest in tests/app/test_learn.py prints each page's script time). This test also times
#: the browser's drawing, and on the machine shared with other sessions (load average 11-18
#: while measured) the What page's first visit took 12-28 s where it took 0.9 s in AppTest at
#: a lower load: a limit near 2 s would test the load, not the page. It fails only beyond
#: this limit and writes the measured times (and the load average) for the report.
LIMIT_S = 60.0


def _open(page, nav: str, heading: str, n_charts: int) -> float:
    t0 = time.perf_counter()
    page.get_by_role("navigation").get_by_role("link", name=nav, exact=True).click()
    m = main(page)
    expect(m.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(charts(m)).to_have_count(n_charts)
    wait_idle(page)
    return time.perf_counter() - t0


#: Taller than the workbench's viewport: the Learn pages are long (Streamlit scrolls inside
#: its main element, so only the viewport is captured).
LEARN_VIEWPORT = {"width": 1400, "height": 4000}


def test_learn_pages_default_demos(page, app_url):
    page.set_viewport_size(LEARN_VIEWPORT)
    open_app(page, app_url)
    nav = page.get_by_role("navigation")
    expect(nav.get_by_text("Learn", exact=True)).to_be_visible()
    expect(nav.get_by_text("Workbench", exact=True)).to_be_visible()
    times = {}
    for title, heading, name, n_charts in PAGES:
        times[name] = _open(page, title, heading, n_charts)
        no_traceback(page)
        shot(page, name)
    # second visits come from st.cache_data
    cached = {name: _open(page, title, heading, n) for title, heading, name, n in PAGES}
    lines = [f"{name}: first {times[name]:.2f} s, cached {cached[name]:.2f} s"
             for name in times]
    print("\n".join(lines))
    load = os.getloadavg()[0]
    (ARTIFACTS / "learn-times.txt").write_text("\n".join(lines) + f"\nload average {load:.1f}\n")
    slow = {k: round(v, 2) for k, v in times.items() if v > LIMIT_S}
    assert not slow, f"default demos slower than {LIMIT_S} s (load {load:.1f}): {slow}"


def test_presenter_mode_and_race_controls(page, app_url):
    page.set_viewport_size(LEARN_VIEWPORT)
    open_app(page, app_url)
    _open(page, "Algorithms race", "Algorithms race", 3)
    m = main(page)
    m.get_by_text("Presenter mode").click()
    # the rerun has drawn when the text is large (1.45rem)
    expect(m.locator(".stMarkdown p").first).to_have_css("font-size", "23.2px")
    wait_idle(page)
    no_traceback(page)
    expect(charts(m)).to_have_count(3)
    shot(page, "learn-race-presenter")
    m.get_by_text("PGD with a fixed step").click()
    expect(m.get_by_text(re.compile(r"PGD \(\d+ rises\)"))).to_be_visible()
    wait_idle(page)
    no_traceback(page)
    shot(page, "learn-race-fixed-step")
