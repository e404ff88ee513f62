"""Uploading files that are not a usable matrix, in a real browser: a message in words (and,
where one exists, a fix in one click), never a traceback."""

from __future__ import annotations

import re

import pytest

from .ui import expect, go_to, no_traceback, open_app, shot, sidebar, wait_idle

pytestmark = pytest.mark.e2e

RAGGED = b"1,2,3\n4,5\n6,7,8,9\n"
NEGATIVE = b"1,2,3,4\n-1,3,4,5\n2,2,1,7\n4,1,1,2\n"


def _upload(data_page, name: str, content: bytes) -> None:
    uploader = data_page.get_by_test_id("stFileUploader").filter(has_text="Data file")
    uploader.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": content}])
    expect(data_page.get_by_text(f"File: {name} (")).to_be_visible()


def test_malformed_csv_shows_what_is_wrong_and_keeps_the_dataset(page, app_url):
    open_app(page, app_url)
    data = go_to(page, "Data")
    expect(data.get_by_role("heading", name="faces", exact=True)).to_be_visible()  # default
    data.get_by_text("Upload a file", exact=True).click()
    expect(data.get_by_text("Upload a matrix file to use it.")).to_be_visible()
    wait_idle(page)

    _upload(data, "ragged.csv", RAGGED)
    alert = data.get_by_role("alert").filter(has_text="ragged")
    # (case-insensitive: the message's first letter is capitalised, file name included)
    expect(alert).to_have_text(re.compile(
        r"ragged\.csv is ragged: line 2 has 2 values but most lines have 3 .*check the "
        r"delimiter", re.IGNORECASE))
    no_traceback(page)
    # the dataset chosen before is still the one every page uses
    expect(sidebar(page).get_by_text("Dataset: faces (images, 100 × 625)")).to_be_visible()
    expect(data.get_by_role("heading", name="faces", exact=True)).to_be_visible()
    shot(page, "upload-1-ragged")


def test_negative_csv_offers_a_fix_that_loads_it(page, app_url):
    open_app(page, app_url)
    data = go_to(page, "Data")
    data.get_by_text("Upload a file", exact=True).click()
    expect(data.get_by_text("Upload a matrix file to use it.")).to_be_visible()
    wait_idle(page)
    _upload(data, "negative.csv", NEGATIVE)
    expect(data.get_by_role("alert").filter(has_text="negative")).to_contain_text(
        "The matrix has 1 negative entry (minimum -1); NMF needs nonnegative data.")
    clip = data.get_by_role("button", name="on_negative = clip")
    expect(data.get_by_role("button", name="on_negative = shift")).to_be_visible()
    shot(page, "upload-2-negative")
    clip.click()

    expect(data.get_by_role("heading", name="negative", exact=True)).to_be_visible()
    wait_idle(page)  # the faces preview of the previous render is gone
    expect(data.get_by_test_id("stMetric").filter(has_text="Samples (rows, m)")
           ).to_contain_text("4")
    expect(data.get_by_test_id("stMetric").filter(has_text="Values")).to_contain_text("0 – 7")
    expect(data.get_by_role("alert")).to_have_count(0)
    expect(sidebar(page).get_by_text("Dataset: negative (generic, 4 × 4)")).to_be_visible()
    no_traceback(page)
    shot(page, "upload-3-clipped")
