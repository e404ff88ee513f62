"""The home page's one-click demo, in a real browser: faces, deep and multilayer KL-NMF, then
the layers of the deep run and the two runs compared."""

from __future__ import annotations

import re

import pytest

from .conftest import ARTIFACTS
from .ui import (
    FIT_TIMEOUT_MS,
    charts,
    expect,
    go_to,
    no_traceback,
    open_app,
    shot,
    shot_content,
    sidebar,
)

pytestmark = pytest.mark.e2e


def test_try_it_fits_faces_and_opens_the_layers(page, app_url):
    open_app(page, app_url)
    home = page.get_by_role("main")
    home.get_by_role("button", name="Try it: faces, deep vs multilayer").click()
    expect(home.get_by_text(re.compile(
        r"^Fitted try-it deep and try-it multilayer in [\d.]+ s\."))).to_be_visible(
        timeout=FIT_TIMEOUT_MS)
    expect(sidebar(page).get_by_text("Runs: 2 / 12")).to_be_visible()
    no_traceback(page)
    shot(page, "home-1-try-it")
    expect(home.get_by_role("link", name="Compare deep vs multilayer")).to_be_visible()

    layers = go_to(page, "Layers", link=home.get_by_role("link", name="Explore the layers"))
    expect(layers.get_by_role("combobox", name="Run", exact=True)).to_have_value(
        re.compile(r"^try-it deep — deep · KL · ranks 20-10-5 · 100 warm-start it · 100 deep it"))
    expect(layers.get_by_role("tabpanel").locator("image")).to_have_count(20)
    no_traceback(page)
    shot(page, "home-2-layers")
    # The layers table fits its column at 1400 px: no column cut off, no sideways scrolling.
    grid = layers.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    grid.locator(".dvn-scroller").first.wait_for(state="attached")
    sizes = grid.locator(".dvn-scroller").first.evaluate(
        "el => [el.scrollWidth, el.clientWidth]")
    assert page.viewport_size["width"] == 1400
    assert sizes[0] <= sizes[1], f"the layers table scrolls sideways: {sizes}"
    grid.screenshot(path=ARTIFACTS / "home-2-layers-table.png")
    shot_content(page, "readme-layers")  # the README's picture: copied to docs/layers.png

    compare = go_to(page, "Compare")
    expect(compare.get_by_test_id("stMultiSelect")).to_contain_text("try-it multilayer")
    expect(charts(compare).filter(has=page.locator("image"))).to_have_count(2)
    no_traceback(page)
