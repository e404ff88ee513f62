"""Stop during a long fit, in a real browser: the fit ends at once and the partial run is kept."""

from __future__ import annotations

import re

import pytest

from .ui import (
    FIT_TIMEOUT_MS,
    cells,
    charts,
    expect,
    go_to,
    grid_rows,
    no_traceback,
    open_app,
    set_number,
    shot,
    sidebar,
    wait_idle,
)

pytestmark = pytest.mark.e2e

#: Deep iterations no one waits for (a million: hours); the faces default warm start is
#: 100 iterations for each of the 3 layers.
LONG = 1_000_000
TOTAL = 3 * 100 + LONG
RUN = "deep-KL-faces"


def test_stop_during_a_long_fit_keeps_the_partial_run(page, app_url):
    open_app(page, app_url)
    data = go_to(page, "Data")
    expect(data.get_by_role("heading", name="faces", exact=True)).to_be_visible()  # default
    model = go_to(page, "Model")
    set_number(model, "Deep iterations", LONG)
    wait_idle(page)
    model.get_by_role("button", name="Run", exact=True).click()

    # the fit is in its deep phase: the progress line counts the iterations
    progress = model.get_by_text(re.compile(rf"^deep · iteration \d+ of {TOTAL} · "))
    expect(progress).to_be_visible(timeout=FIT_TIMEOUT_MS)
    expect(model.get_by_role("progressbar")).to_have_count(1)
    shot(page, "stop-1-running", idle=False)
    model.get_by_role("button", name="Stop", exact=True).click()

    # the page comes back at once with a notice naming the partial run …
    notice = model.get_by_role("alert").filter(has_text="Fit stopped at iteration")
    expect(notice).to_have_text(re.compile(
        rf"^Fit stopped at iteration (\d+) of {TOTAL}; the partial run '{RUN}' is kept "
        r"\([\d.]+ s\)\.$"))
    stopped_at = int(re.search(r"iteration (\d+) of", notice.inner_text()).group(1))
    assert 300 < stopped_at < TOTAL
    wait_idle(page, timeout=10_000)  # the script ended: the fit is not running any more
    expect(model.get_by_role("progressbar")).to_have_count(0)
    # … and the run is listed, flagged as stopped early, with fewer iterations than asked for
    runs = grid_rows(model)
    expect(runs).to_have_count(2)
    row = cells(runs.nth(1))
    expect(row).to_have_text([RUN, "deep", "faces", "1", "20-10-5", re.compile(r"^\d+$"),
                              re.compile(r"^[\d.]+$"), re.compile(r"\d"), "true", "stopped"])
    assert int(row.nth(5).inner_text()) < LONG
    expect(sidebar(page).get_by_text(f"· {RUN} ⏹ — ")).to_be_visible()
    no_traceback(page)
    shot(page, "stop-2-stopped")

    # the partial run can be explored like any other
    layers = go_to(page, "Layers")
    expect(layers.get_by_text("stopped early (partial run)")).to_be_visible()
    expect(layers.get_by_role("tabpanel").locator("image")).to_have_count(20)
    expect(charts(layers).first).to_be_visible()
    no_traceback(page)
    shot(page, "stop-3-layers")
