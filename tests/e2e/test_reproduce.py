"""The Reproduce page in a real browser: upload CBCL.mat, run table2 quick, see the paper's
numbers beside dnmf's and the two figures; the experiment is a job, so switching pages while it
runs does not stop it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .ui import (
    FIT_TIMEOUT_MS,
    charts,
    expect,
    grid_rows,
    main,
    no_traceback,
    open_app,
    shot,
    sidebar,
    wait_idle,
)

pytestmark = pytest.mark.e2e

CBCL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "CBCL.mat"


def _start_table2_quick(page, app_url):
    open_app(page, app_url)
    page.get_by_role("navigation").get_by_role("link", name="Reproduce", exact=True).click()
    m = main(page)
    expect(m.get_by_role("heading", name="Reproduce the paper")).to_be_visible()
    wait_idle(page)
    m.locator("input[type=file]").set_input_files(str(CBCL))
    expect(m.get_by_test_id("stFileChipName")).to_have_text("CBCL.mat")
    quick = m.get_by_role("switch", name=re.compile(r"^Quick"))
    m.get_by_text("Quick (a few iterations").click()
    expect(quick).to_be_checked()
    wait_idle(page)  # the toggle's rerun is over: a click now is not lost in it
    run = m.get_by_role("button", name="Run", exact=True)
    started = m.get_by_text("table2 · quick")
    run.click()
    try:
        expect(started).to_be_visible(timeout=10_000)  # the run started
    except AssertionError:
        # The switch shows "checked" before its rerun starts, so wait_idle can pass before that
        # rerun; a click that lands as it starts is dropped (seen 1 run in 4 in the full suite
        # under CI). Click once more after the page is idle; a second miss fails.
        wait_idle(page)
        run.click()
        expect(started).to_be_visible()
    return m


@pytest.mark.skipif(not CBCL.is_file(), reason=f"CBCL.mat not found at {CBCL}")
def test_table2_quick_from_an_upload(page, app_url):
    m = _start_table2_quick(page, app_url)
    expect(m.get_by_text(re.compile(r"^done · [\d.]+ s"))).to_be_visible(timeout=FIT_TIMEOUT_MS)
    wait_idle(page)
    no_traceback(page)
    expect(grid_rows(m).first).to_be_attached()
    expect(m.get_by_role("gridcell", name="108.3 ± 1.1", include_hidden=True)).to_have_count(1)
    expect(charts(m)).to_have_count(2)
    expect(m.get_by_role("button", name="Numbers (JSON)")).to_be_visible()
    shot(page, "reproduce-table2-quick")


@pytest.mark.skipif(not CBCL.is_file(), reason=f"CBCL.mat not found at {CBCL}")
def test_a_page_switch_does_not_stop_the_experiment(page, app_url):
    _start_table2_quick(page, app_url)
    nav = page.get_by_role("navigation")
    nav.get_by_role("link", name="Layers", exact=True).click()  # while it runs
    busy = sidebar(page).get_by_text(re.compile(r"Busy"))
    expect(busy).to_be_visible()
    expect(busy).to_have_count(0, timeout=FIT_TIMEOUT_MS)  # it ended on its own
    expect(main(page).get_by_text(re.compile(r"table2 · quick finished; its \d+ fit"))
           ).to_be_visible()
    nav.get_by_role("link", name="Reproduce", exact=True).click()
    m = main(page)
    expect(m.get_by_role("gridcell", name="108.3 ± 1.1", include_hidden=True)).to_have_count(1)
    expect(charts(m)).to_have_count(2)
    wait_idle(page)
    no_traceback(page)
    shot(page, "reproduce-after-page-switch")
