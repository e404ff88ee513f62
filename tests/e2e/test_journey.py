"""A newcomer's first session, in a real browser: home → faces → a deep and a multilayer fit →
the layers' features → the comparison → the run's factors downloaded and loaded with dnmf."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dnmf import FitResult

from .ui import (
    FIT_TIMEOUT_MS,
    cells,
    charts,
    choose,
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

#: Few iterations (the defaults are 100 + 100), enough for faces to show parts.
WARM, DEEP = 50, 50
RANKS = (20, 10, 5)
DEEP_RUN, MULTI_RUN = "faces-KL deep", "faces-KL multilayer"


def test_faces_deep_vs_multilayer_journey(page, app_url, tmp_path):
    # ------------------------------------------------------------------------------ home
    open_app(page, app_url)
    home = page.get_by_role("main")
    expect(home.get_by_role("button", name="Try it: faces, deep vs multilayer")).to_be_visible()
    expect(home.get_by_text("No runs yet.")).to_be_visible()
    no_traceback(page)
    shot(page, "journey-1-home")

    # ------------------------------------------------------------------------------ data
    data = go_to(page, "Data")
    choose(data, page, "Sample", re.compile(r"^faces — "))
    expect(data.get_by_role("combobox", name="Sample")).to_have_value(re.compile(r"^faces — "))
    wait_idle(page)
    expect(data.get_by_role("heading", name="faces", exact=True)).to_be_visible()
    expect(data.get_by_test_id("stMetric").filter(has_text="Rows (m)")).to_contain_text("100")
    expect(data.get_by_test_id("stMetric").filter(has_text="Columns (n)")).to_contain_text("625")
    # the preview: the first 40 faces, one plotly image trace each
    expect(charts(data).first.locator("image")).to_have_count(40)
    expect(sidebar(page).get_by_text("Dataset: faces (images, 100 × 625)")).to_be_visible()
    no_traceback(page)
    shot(page, "journey-2-data")

    # ------------------------------------------------------------------------- model: fit
    model = go_to(page, "Model")
    expect(model.get_by_text("Dataset: faces · images · 100 × 625")).to_be_visible()
    for i, r in enumerate(RANKS, start=1):
        expect(model.get_by_role("spinbutton", name=f"r_{i}", exact=True)).to_have_value(str(r))
    set_number(model, "Warm-start iterations / layer", WARM)
    set_number(model, "Deep iterations", DEEP)
    wait_idle(page)
    model.get_by_role("button", name="Run deep and multilayer with the same settings").click()

    # two fits, each in its box with a progress bar that ends at 100 % and says "done"
    bars = model.get_by_role("progressbar")
    expect(bars.first).to_be_visible()
    expect(model.get_by_text(re.compile(rf"^done · {DEEP} iterations · [\d.]+ s$"))).to_be_visible(
        timeout=FIT_TIMEOUT_MS)
    expect(bars).to_have_count(2, timeout=FIT_TIMEOUT_MS)
    expect(model.get_by_text(re.compile(
        rf"^done · {len(RANKS) * (WARM + DEEP)} iterations · [\d.]+ s$"))).to_be_visible(
        timeout=FIT_TIMEOUT_MS)
    for i in range(2):
        expect(bars.nth(i)).to_have_attribute("aria-valuenow", "100")
    expect(model.get_by_text(f"{DEEP_RUN}: {DEEP} iterations")).to_be_visible()
    expect(model.get_by_text(f"{MULTI_RUN}: ")).to_be_visible()
    wait_idle(page)
    # both runs are listed in the session's table and in the sidebar
    runs = grid_rows(model)
    expect(runs).to_have_count(3)
    number = re.compile(r"^\d[\d.e+, -]*$")
    expect(cells(runs.filter(has_text=DEEP_RUN))).to_have_text(
        [DEEP_RUN, "deep", "faces", "1", "20-10-5", str(DEEP), number, number, "false", "done"])
    expect(cells(runs.filter(has_text=MULTI_RUN))).to_have_text(
        [MULTI_RUN, "multilayer", "faces", "1", "20-10-5", str(len(RANKS) * (WARM + DEEP)),
         number, number, "false", "done"])
    expect(sidebar(page).get_by_text("Runs: 2 / 12")).to_be_visible()
    expect(sidebar(page).get_by_text(f"· {DEEP_RUN} — deep · KL")).to_be_visible()
    no_traceback(page)
    shot(page, "journey-3-model")

    # ------------------------------------------------------------------------------ layers
    layers = go_to(page, "Layers", link=model.get_by_role("link", name="Explore the layers"))
    expect(layers.get_by_role("combobox", name="Run", exact=True)).to_have_value(
        re.compile(rf"^{DEEP_RUN} — deep"))
    expect(layers.get_by_text(f"· {DEEP} iterations in ")).to_be_visible()
    # the table of every layer and the convergence plot
    table = grid_rows(layers)
    expect(table).to_have_count(1 + len(RANKS))
    for ell, r in enumerate(RANKS, start=1):
        expect(cells(table.nth(ell))).to_have_text([str(ell), str(r)] + [number] * 4)
    expect(charts(layers).first.locator(".scatterlayer .trace")).to_have_count(len(RANKS))
    # each layer's tab shows its r_ℓ features as images
    tabs = layers.get_by_role("tab")
    expect(tabs).to_have_text([f"Layer {ell} · r = {r}" for ell, r in enumerate(RANKS, 1)])
    for ell, r in reversed(list(enumerate(RANKS, start=1))):  # end on layer 1
        tabs.nth(ell - 1).click()
        panel = layers.get_by_role("tabpanel")
        expect(panel).to_have_count(1)
        expect(charts(panel).locator("image")).to_have_count(r)
    # one face and its reconstruction at every layer
    expect(layers.get_by_role("heading", name="Reconstruction of one image at every layer")
           ).to_be_visible()
    expect(charts(layers).last.locator("image")).to_have_count(1 + len(RANKS))
    no_traceback(page)
    shot(page, "journey-4-layers")

    # ----------------------------------------------------------------------------- compare
    compare = go_to(page, "Compare")
    picked = compare.get_by_test_id("stMultiSelect")
    expect(picked).to_contain_text(DEEP_RUN)
    expect(picked).to_contain_text(MULTI_RUN)
    expect(compare.get_by_role("combobox", name=re.compile("^Reference run"))).to_have_value(
        MULTI_RUN)
    expect(compare.get_by_role("heading", name="Error per layer relative to the reference")
           ).to_be_visible()
    expect(grid_rows(compare)).to_have_count(1 + len(RANKS))
    # the features of layer 1 side by side: r_1 images for each run
    expect(compare.get_by_role("heading", name="Features side by side")).to_be_visible()
    for name in (DEEP_RUN, MULTI_RUN):
        expect(compare.get_by_text(name, exact=True)).to_be_visible()
    galleries = charts(compare).filter(has=page.locator("image"))
    expect(galleries).to_have_count(2)
    for i in range(2):
        expect(galleries.nth(i).locator("image")).to_have_count(RANKS[0])
    no_traceback(page)
    shot(page, "journey-5-compare")

    # ------------------------------------------------------------ download the deep run's npz
    model = go_to(page, "Model")
    choose(model, page, "Run to manage", re.compile(rf"^{DEEP_RUN} — "))
    expect(model.get_by_role("textbox", name="New name")).to_have_value(DEEP_RUN)
    wait_idle(page)
    with page.expect_download() as info:
        model.get_by_role("button", name="Factors (.npz)").click()
    download = info.value
    assert download.suggested_filename == "faces-KL_deep.npz"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    res = FitResult.load(saved)
    assert res.ranks == RANKS
    assert res.n_iter == DEEP
    assert not res.stopped_early
    assert [W.shape for W in res.W] == [(100, r) for r in RANKS]
    assert res.H[0].shape == (RANKS[0], 625)
    assert all(np.all(np.isfinite(e)) and e > 0 for e in res.layer_errors)
    assert res.config["app"]["run_name"] == DEEP_RUN
    assert res.config["app"]["dataset"] == "faces"
