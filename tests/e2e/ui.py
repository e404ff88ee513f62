"""What a person does in the workbench, as Playwright steps: open a page from the sidebar, set a
number, wait until the app is idle, take a screenshot.

Elements are found by their visible labels and roles, inside the main area
(``get_by_role("main")``): while a script runs the header has a Stop button of its own, and the
sidebar repeats page names. Two Streamlit ``data-testid`` hooks are used where no role exists:
``stPlotlyChart`` (a chart; plotly draws image traces as SVG ``<image>`` elements) and
``stException`` (a traceback). Whether a script is running is read from ``stApp``'s
``data-test-script-state`` attribute, the hook Streamlit's own browser tests wait on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import ARTIFACTS, in_ci

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError as exc:  # skip locally, fail under CI (as the fixtures do)
    if in_ci():
        raise
    pytest.skip(f"Playwright is not installed ({exc}): pip install -e '.[e2e]'",
                allow_module_level=True)

#: Seconds a fit may take in the tests (the first one compiles the numba kernels).
FIT_TIMEOUT_MS = 180_000


def main(page: Page) -> Locator:
    return page.get_by_role("main")


def charts(scope: Locator) -> Locator:
    return scope.get_by_test_id("stPlotlyChart")


def grid_rows(scope: Locator) -> Locator:
    """The rows of a ``st.dataframe`` (header row first), from its accessible table — what a
    screen reader reads. The grid itself is drawn on a canvas and the table is the canvas'
    fallback content, which Playwright's visibility rules count as hidden: hence
    ``include_hidden``."""
    return scope.get_by_role("grid", include_hidden=True).get_by_role("row", include_hidden=True)


def cells(row: Locator) -> Locator:
    return row.get_by_role("gridcell", include_hidden=True)


def sidebar(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar")


def wait_idle(page: Page, timeout: float | None = None) -> None:
    """Wait until no script runs.

    Call it after waiting for something the last action shows (so the rerun has started), and
    before asserting on elements the previous render also had: until a script run ends,
    Streamlit keeps the previous render's elements (marked stale) next to the new ones, and a
    locator matching both fails Playwright's strict mode at once instead of waiting."""
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout)


def no_traceback(page: Page) -> None:
    expect(main(page).get_by_test_id("stException")).to_have_count(0)


def open_app(page: Page, url: str) -> None:
    """Open the home page and wait for its title and the sidebar summary (drawn last)."""
    page.goto(url)
    expect(main(page).get_by_role("heading", name="Deep NMF workbench")).to_be_visible(
        timeout=90_000)  # the first session of a new server imports dnmf and compiles kernels
    expect(sidebar(page).get_by_text("Runs:")).to_be_visible()
    wait_idle(page)


def go_to(page: Page, title: str, *, link: Locator | None = None) -> Locator:
    """Open a page from the sidebar's navigation (or by ``link``, a page link on the page);
    return the main area once the page is drawn."""
    if link is None:
        link = page.get_by_role("navigation").get_by_role("link", name=title, exact=True)
    link.click()
    m = main(page)
    expect(m.get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/{title.lower()}(\?.*)?$"))  # ?workspace=…
    wait_idle(page)
    return m


def set_number(scope: Locator, label: str, value: int) -> None:
    """Type a value into a number input and commit it (Enter), as a person would."""
    box = scope.get_by_role("spinbutton", name=label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))


def choose(scope: Locator, page: Page, label: str, option: str | re.Pattern,
           attempts: int = 4) -> None:
    """Pick an option of a selectbox (a combobox and its listbox).

    While a job runs the sidebar's job panel reruns every second, and a rerun can close the
    listbox between the two clicks (the option then never shows: test_durable's browsing test
    failed so once in a fresh-clone run): the listbox is opened again, ``attempts`` times in
    all (the same 30 s in total as one click), and a missing option still fails."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        scope.get_by_role("combobox", name=label, exact=True).click()
        try:
            page.get_by_role("option", name=option).click(timeout=30_000 // attempts)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")  # close the listbox if it is still open


def shot(page: Page, name: str, *, idle: bool = True) -> Path:
    """Full-height screenshot as ``artifacts/e2e/<name>.png``, once the page is idle (unless
    ``idle`` is False: a page caught mid-run)."""
    if idle:
        wait_idle(page)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def shot_content(page: Page, name: str, margin: int = 40) -> Path:
    """Screenshot from the top of the page down to the end of the main content (sidebar
    included, the empty rest of the tall viewport left out) — the README's picture."""
    wait_idle(page)
    box = page.get_by_test_id("stMainBlockContainer").bounding_box()
    assert box is not None, "the main block is not rendered"
    vp = page.viewport_size
    height = min(vp["height"], int(box["y"] + box["height"] + margin))
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, clip={"x": 0, "y": 0, "width": vp["width"], "height": height})
    return path
