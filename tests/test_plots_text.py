"""User-supplied strings in Plotly figures are text: Plotly reads labels as pseudo-HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dnmf import plots
from dnmf.datasets import Dataset
from dnmf.result import FitResult

EVIL = "<a href='http://example.com'>x</a> & <b>y</b>"


def _result() -> FitResult:
    rng = np.random.default_rng(0)
    return FitResult(W=[rng.random((6, 3)), rng.random((6, 2))],
                     H=[rng.random((3, 5)), rng.random((2, 3))],
                     history=pd.DataFrame({"iteration": [0, 1], "error_layer_1": [2.0, 1.0]}),
                     layer_errors=np.array([1.0, 2.0]))


def test_names_and_words_are_escaped_in_figures():
    fig = plots.matrix_heatmap(np.ones((3, 3)), title=EVIL)
    assert "<a href" not in fig.layout.title.text and "&lt;a href" in fig.layout.title.text
    res = _result()
    curves = plots.error_ratio_curves({EVIL: res}, res, reference_name=EVIL)
    assert all("<a" not in t.name for t in curves.data)
    assert "<b>" not in curves.layout.title.text
    ds = Dataset(X=np.random.default_rng(1).random((6, 5)) + 0.1, kind="text",
                 vocabulary=[EVIL, "b", "c", "d", "e", "f"])
    bar = plots.top_words_bar(ds)
    assert not any("<a" in str(x) for x in bar.data[0].x)
    words = plots.topic_words(res, ds, 1, n_words=6)
    assert not any("<a" in str(y) for t in words.data for y in (t.y or ()))


def test_label_purity_is_one_for_features_that_split_the_classes():
    W = np.array([[1.0, 0], [0.9, 0.1], [0, 1], [0.2, 0.8]])
    res = FitResult(W=[W], H=[np.ones((2, 3))], history=pd.DataFrame())
    ds = Dataset(X=np.ones((4, 3)), labels=np.array([0, 0, 1, 1]))
    table = plots.label_purity(res, ds)
    assert table["label purity"].tolist() == [1.0] and table["largest class"].tolist() == [0.5]
    mixed = Dataset(X=np.ones((4, 3)), labels=np.array([0, 1, 0, 1]))
    assert plots.label_purity(res, mixed)["label purity"].tolist() == [0.5]
