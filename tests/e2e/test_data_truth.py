"""Issue 12 in a real browser: the paper's Samson scene uploaded together with its ground truth
(end3.mat) is scored on Layers and Compare (SAD table); a samples × features CSV is read as
samples × features and said so in words."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from .ui import (
    FIT_TIMEOUT_MS,
    expect,
    go_to,
    no_traceback,
    open_app,
    shot,
    sidebar,
    wait_idle,
)

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _uploader(data):
    return data.get_by_test_id("stFileUploader").filter(has_text="Data file").locator(
        'input[type="file"]')


def _upload_tab(page):
    data = go_to(page, "Data")
    data.get_by_text("Upload a file", exact=True).click()
    expect(data.get_by_text("Upload a matrix file to use it.")).to_be_visible()
    wait_idle(page)
    return data


@pytest.mark.skipif(not (DATA / "end3.mat").is_file() or not (DATA / "samson_1.mat").is_file(),
                    reason="../shared/data (samson_1.mat, end3.mat) is absent")
def test_samson_with_end3_is_scored_on_layers_and_compare(page, app_url):
    open_app(page, app_url)
    data = _upload_tab(page)
    _uploader(data).set_input_files([str(DATA / "samson_1.mat"), str(DATA / "end3.mat")])
    expect(data.get_by_role("heading", name="samson", exact=True)).to_be_visible(timeout=60_000)
    expect(data.get_by_text(re.compile(r"^File: samson_1\.mat .* ground truth: end3\.mat"))
           ).to_be_visible()
    expect(data.get_by_text(re.compile(r"Ground truth known for 1 layer \(rock, tree, water\)"))
           ).to_be_visible()
    expect(data.get_by_text(re.compile(r"Recognised as the paper's samson dataset"))
           ).to_be_visible()
    expect(sidebar(page).get_by_text("Dataset: samson (spectra, 156 × 9025)")).to_be_visible()
    no_traceback(page)
    shot(page, "data-truth-1-samson")

    model = go_to(page, "Model")
    # (the warm-start box is found by part of its name: main's params.as_text escapes its "-",
    # and the accessible name keeps the backslash)
    for label in ("start iterations", "Deep iterations"):
        box = model.get_by_role("spinbutton", name=re.compile(label))
        box.fill("20")
        box.press("Enter")
        expect(box).to_have_value("20")
    wait_idle(page)
    model.get_by_role("button", name="Run deep and multilayer with the same settings").click()
    expect(sidebar(page).get_by_text("Runs: 2 / 12")).to_be_visible(timeout=FIT_TIMEOUT_MS)
    wait_idle(page, timeout=FIT_TIMEOUT_MS)

    layers = go_to(page, "Layers")
    expect(layers.get_by_role("heading", name="Against the ground truth")).to_be_visible()
    table = layers.get_by_role("grid", include_hidden=True).filter(has_text="mean SAD")
    expect(table).to_have_count(1)
    expect(table.get_by_role("row", include_hidden=True)).to_have_count(2)  # header + layer 1
    no_traceback(page)
    shot(page, "data-truth-2-layers")

    compare = go_to(page, "Compare")
    expect(compare.get_by_role("heading", name="Against the ground truth")).to_be_visible()
    sad = compare.get_by_role("grid", include_hidden=True).filter(has_text="mean SAD")
    expect(sad.get_by_role("row", include_hidden=True)).to_have_count(3)  # header + 2 runs
    no_traceback(page)
    shot(page, "data-truth-3-compare")


def test_samples_by_features_csv_is_read_as_samples_by_features(page, app_url):
    rng = np.random.default_rng(0)
    A = rng.random((120, 40))
    csv = ("," + ",".join(f"f{j}" for j in range(40)) + "\n" + "\n".join(
        f"s{i}," + ",".join(f"{v:.4f}" for v in r) for i, r in enumerate(A)) + "\n").encode()
    open_app(page, app_url)
    data = _upload_tab(page)
    _uploader(data).set_input_files(files=[{"name": "table.csv", "mimeType": "text/csv",
                                            "buffer": csv}])
    expect(data.get_by_role("heading", name="table", exact=True)).to_be_visible()
    expect(data.get_by_text("120 samples × 40 features; layer features are combinations of "
                            "the 40 columns")).to_be_visible()
    expect(data.get_by_test_id("stMetric").filter(has_text="Samples (rows, m)")
           ).to_contain_text("120")
    expect(sidebar(page).get_by_text("Dataset: table (generic, 120 × 40)")).to_be_visible()
    no_traceback(page)
    shot(page, "data-truth-4-samples-by-features")
    data.get_by_role("button", name="Flip: the file's columns are the samples").click()
    expect(data.get_by_text("40 samples × 120 features")).to_be_visible()
    expect(sidebar(page).get_by_text("Dataset: table (generic, 40 × 120)")).to_be_visible()
    no_traceback(page)
    shot(page, "data-truth-5-flipped")


def test_text_column_shows_its_roles_and_markdown_names_stay_text(page, app_url):
    people = b"id,name,f1,f2,f3\n1,alice,0.5,1,2\n2,bob,0.3,2,1\n3,carl,1,1,0\n4,dana,2,0,1\n"
    open_app(page, app_url)
    data = _upload_tab(page)
    _uploader(data).set_input_files(files=[{"name": "**[people](http://example.com)**.csv",
                                            "mimeType": "text/csv", "buffer": people}])
    alert = data.get_by_role("alert").filter(has_text="holds text")
    expect(alert).to_contain_text("column 2 ('name') holds text")
    expect(data.get_by_role("button", name="'name': drop it")).to_be_visible()
    # shown as typed (a word joiner keeps GFM from linking the bare URL): no live link at all
    expect(data.get_by_text("File: **[people](http")).to_be_visible()
    expect(data.get_by_role("link").filter(has_text="example")).to_have_count(0)
    shot(page, "data-truth-6-roles")
    data.get_by_role("button", name="'name': drop it").click()
    expect(sidebar(page).get_by_text(re.compile(r"generic, 4 × 3"))).to_be_visible()
    no_traceback(page)
    shot(page, "data-truth-7-roles-loaded")
