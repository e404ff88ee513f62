"""Neural NMF in a real browser: stdlib-text (documents labelled by package) → Neural NMF with
40 % of the labels known and its multilayer start → accuracy and confusion on Layers → both
runs on Compare."""

from __future__ import annotations

import re

import pytest

from .ui import (
    FIT_TIMEOUT_MS,
    charts,
    choose,
    expect,
    go_to,
    no_traceback,
    open_app,
    set_number,
    shot,
    wait_idle,
)

pytestmark = pytest.mark.e2e

RANKS = (8, 4)


def test_neural_nmf_with_labels_journey(page, app_url):
    open_app(page, app_url)
    data = go_to(page, "Data")
    choose(data, page, "Sample", re.compile(r"^stdlib-text — "))
    wait_idle(page)
    expect(data.get_by_role("heading", name="stdlib-text", exact=True)).to_be_visible()

    # ------------------------------------------------------------------------ model
    model = go_to(page, "Model")
    choose(model, page, "Model", "Neural NMF (backpropagation)")
    wait_idle(page)
    set_number(model, "Layers L", len(RANKS))
    wait_idle(page)
    for i, r in enumerate(RANKS, start=1):
        set_number(model, f"r_{i}", r)
    # (the accessible name of the first is "warm\\-start …": the page escapes markdown)
    for label in (re.compile(r"^warm\\?-start iterations per layer$"),
                  re.compile(r"^backpropagation steps$")):
        box = model.get_by_role("spinbutton", name=label)
        box.fill("10")
        box.press("Enter")
        expect(box).to_have_value("10")
    wait_idle(page)
    expect(model.get_by_text("Labels known to the fit (%)")).to_be_visible()
    shot(page, "neural-1-model")
    model.get_by_role("button", name=re.compile(r"^Run neural and multilayer")).click()
    expect(model.get_by_text(re.compile(r"^done · "))).to_have_count(2, timeout=FIT_TIMEOUT_MS)
    wait_idle(page)
    no_traceback(page)

    # ----------------------------------------------------------------------- layers
    layers = go_to(page, "Layers", link=model.get_by_role("link", name="Explore the layers"))
    expect(layers.get_by_role("heading", name="Against the labels")).to_be_visible()
    accuracy = charts(layers).filter(has_text="Accuracy per layer")
    expect(accuracy).to_have_count(1)
    expect(accuracy.locator(".bars .point")).to_have_count(len(RANKS))
    expect(charts(layers).filter(has_text=re.compile(r"Layer \d: confusion"))).to_have_count(1)
    expect(layers.get_by_text(re.compile(r"^The fit saw \d+ labels"))).to_be_visible()
    no_traceback(page)
    shot(page, "neural-2-layers")

    # ---------------------------------------------------------------------- compare
    compare = go_to(page, "Compare")
    expect(compare.get_by_role("heading", name="Accuracy per layer against the labels")
           ).to_be_visible()
    no_traceback(page)
    shot(page, "neural-3-compare")
