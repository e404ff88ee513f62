"""The home page's one-click demo, in a real browser: faces, deep and multilayer KL-NMF, then
the layers of the deep run and the two runs compared."""

from __future__ import annotations

import re

import pytest

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
    shot_content(page, "readme-layers")  # the README's picture: copied to docs/layers.png

    compare = go_to(page, "Compare")
    expect(compare.get_by_test_id("stMultiSelect")).to_contain_text("try-it multilayer")
    expect(charts(compare).filter(has=page.locator("image"))).to_have_count(2)
    no_traceback(page)
