"""dnmf.labels and dnmf.plots_labels: per-layer accuracy, confusion, purity, the app's figures."""

from __future__ import annotations

import numpy as np
import pytest

from dnmf import MultilayerNMF, NeuralNMF
from dnmf.datasets import Dataset
from dnmf.labels import (
    confusion_matrix,
    known_mask,
    layer_accuracies,
    purity,
    semi_supervised_fit_args,
)
from dnmf.plots_labels import (
    accuracy_figure,
    accuracy_table,
    confusion_figure,
    run_layer_accuracies,
    sample_coordinates,
)


def _text_dataset(seed=0, words=60, docs=45):
    """Words × documents (the app's text orientation), 3 classes of documents."""
    rng = np.random.default_rng(seed)
    topics = np.zeros((words, 3))
    for k in range(3):
        topics[k * 20:(k + 1) * 20, k] = rng.random(20) + 0.5
    y = np.repeat([0, 1, 2], docs // 3)
    X = topics @ (np.eye(3)[y].T + 0.05 * rng.random((3, docs))) + 0.02 * rng.random(
        (words, docs))
    return Dataset(name="toy-text", X=X, kind="text", labels=y,
                   label_names=["alpha", "beta", "gamma"],
                   vocabulary=[f"w{i}" for i in range(words)])


def test_known_mask_is_stratified_and_sized():
    y = np.repeat([0, 1, 2, 3], [10, 20, 5, 5])
    mask = known_mask(y.size, 0.4, seed=1, y=y)
    assert [int(mask[y == c].sum()) for c in range(4)] == [4, 8, 2, 2]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        known_mask(10, 1.5)


def test_layer_accuracies_perfect_separable_and_confusion():
    y = np.array([0, 0, 1, 1, 2, 2])
    W = np.eye(3)[y] * 2.0
    known = np.array([True, False, True, False, True, False])
    (acc,) = layer_accuracies([W], y, known)
    assert acc.accuracy == 1.0
    np.testing.assert_array_equal(acc.confusion, np.eye(3, dtype=int))
    np.testing.assert_array_equal(acc.scored_rows, [1, 3, 5])
    np.testing.assert_array_equal(confusion_matrix(np.array([0, 1]), np.array([1, 1]), 2),
                                  [[0, 1], [0, 1]])


def test_purity_bounds():
    y = np.repeat([0, 1], 5)
    assert purity(np.eye(2)[y], y) == 1.0
    assert purity(np.ones((10, 1)), y) == 0.5


def test_semi_supervised_run_is_scored_on_its_hidden_labels():
    ds = _text_dataset()
    args = semi_supervised_fit_args(ds, 0.4, seed=0)
    assert args["label_axis"] == 1 and (args["y"] == -1).sum() == 27
    model = NeuralNMF(ranks=(4, 3), n_init_iter=30, max_iter=30, random_state=0).fit(
        ds.X, **args)
    accs = run_layer_accuracies(model.result_, ds)
    hidden = np.flatnonzero(args["y"] == -1)
    np.testing.assert_array_equal(accs[-1].scored_rows, hidden)
    # the last layer uses the model's own B: its predictions are the model's transduction
    np.testing.assert_array_equal(accs[-1].predicted, model.transduction_)
    assert accs[-1].accuracy > 0.9
    coords = sample_coordinates(model.result_, 2, 1)
    assert coords.shape == (45, 3)


def test_unlabelled_run_scored_alike_and_figures_build():
    ds = _text_dataset(seed=3)
    ml = MultilayerNMF(ranks=(4, 3), beta=2.0, max_iter=50, random_state=0).fit(ds.X)
    accs = run_layer_accuracies(ml.result_, ds)
    assert len(accs) == 2 and all(0 <= a.accuracy <= 1 for a in accs)
    assert accs[0].scored_rows.size == 45 - 18  # 40 % of each class known
    fig = accuracy_figure(accs)
    assert [bar for bar in fig.data[0].y] == [a.accuracy for a in accs]
    conf = confusion_figure(accs[0], ds)
    assert list(conf.data[0].x) == ["alpha", "beta", "gamma"]
    assert int(np.sum(conf.data[0].z)) == 27
    table = accuracy_table({"ml": ml.result_}, ds)
    assert list(table.columns) == ["run", "layer 1", "layer 2"]


def test_no_labels_gives_none():
    ds = _text_dataset()
    ds.labels = None
    ml = MultilayerNMF(ranks=(3,), beta=2.0, max_iter=5, random_state=0).fit(ds.X)
    assert run_layer_accuracies(ml.result_, ds) is None
    assert accuracy_table({"ml": ml.result_}, ds) is None
    assert semi_supervised_fit_args(ds, 0.4) == {}


def test_confusion_of_many_classes_shows_the_largest():
    y = np.repeat(np.arange(20), np.arange(1, 21))  # class c has c + 1 samples
    W = np.eye(20)[y]
    (acc,) = layer_accuracies([W], y)
    fig = confusion_figure(acc, max_classes=5)
    assert list(fig.data[0].x) == ["15", "16", "17", "18", "19"]
    assert "5 largest of 20 classes" in fig.layout.title.text
