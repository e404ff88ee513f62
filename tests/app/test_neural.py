"""Neural NMF in the app: Model (labels known to the fit) → Layers (accuracy, confusion) →
Compare (beside deep and multilayer), on the stdlib-text sample (documents labelled by package).
"""

from __future__ import annotations

import numpy as np
from apphelp import choose_sample, errors, goto, new_app, specs, title

RANKS = (8, 4)


def _by_title(at, prefix: str) -> list[dict]:
    return [s for s in specs(at) if title(s).startswith(prefix)]


def _configure(at, model: str, iters: int = 8) -> None:
    at.selectbox(key="cfg_model").set_value(model).run()
    at.number_input(key="cfg_n_layers").set_value(len(RANKS)).run()
    for k, r in enumerate(RANKS):
        at.number_input(key=f"cfg_ranks_{k}").set_value(r)
    for name in ("n_init_iter", "max_iter"):
        keys = [w.key for w in at.number_input if w.key == f"cfg_{model}_{name}"]
        if keys:
            at.number_input(key=keys[0]).set_value(iters)
    at.run()


def test_neural_nmf_model_layers_compare_journey():
    at = new_app(timeout=300)
    choose_sample(at, "stdlib-text")
    ds = at.session_state["dataset"]
    y = np.asarray(ds.labels)

    # ---- Model: Neural NMF offers how many labels the fit may see
    goto(at, "model")
    _configure(at, "neural")
    slider = at.slider(key="cfg_known_labels")
    assert slider.value == 40
    slider.set_value(40).run()
    at.button(key="run_fit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    (neural,) = at.session_state["runs"].values()
    assert neural.result.config["model"] == "neural"
    info = neural.result.config["labels"]
    assert info["axis"] == 1  # text: documents are the columns of X
    n_known = len(info["known"])
    assert abs(n_known - 0.4 * y.size) < 0.05 * y.size  # stratified per package

    # ---- deep and multilayer beside it (the slider is not offered: they take no labels)
    for model in ("deep", "multilayer"):
        _configure(at, model)
        assert not [s for s in at.slider if s.key == "cfg_known_labels"]
        at.button(key="run_fit").click().run()
        assert not at.exception, [e.value for e in at.exception]
    runs = at.session_state["runs"]
    assert len(runs) == 3

    # ---- Layers: accuracy per layer and a confusion matrix beside the topics
    goto(at, "layers")
    at.selectbox(key="layers_run").set_value(neural.name).run()
    assert not at.exception, [e.value for e in at.exception]
    (acc,) = _by_title(at, "Accuracy per layer")
    hidden = y.size - n_known
    assert f"({hidden} samples with hidden labels)" in title(acc)
    values = acc["data"][0]["y"]
    assert len(values) == len(RANKS) and all(0 <= v <= 1 for v in values)
    (conf,) = _by_title(at, f"Layer {len(RANKS)}: confusion")
    assert "12 largest of" in title(conf)
    assert len(_by_title(at, "Layer 1: 8 topics")) == 1  # the topics are still there

    # ---- Compare: Neural NMF beside deep and multilayer, accuracy per layer of each
    goto(at, "compare")
    at.multiselect(key="compare_runs").set_value(list(runs)).run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [df.value for df in at.dataframe if "run" in df.value.columns]
    (accuracy,) = [t for t in tables if "layer 1" in t.columns]
    assert list(accuracy["run"]) == list(runs)
    assert accuracy[["layer 1", "layer 2"]].notna().all().all()


def test_neural_nmf_on_unlabelled_data_has_no_label_widgets():
    at = new_app(timeout=300)
    choose_sample(at, "spectral-scene")
    goto(at, "model")
    at.selectbox(key="cfg_model").set_value("neural").run()
    assert not [s for s in at.slider if s.key == "cfg_known_labels"]
    for name in ("n_init_iter", "max_iter"):
        at.number_input(key=f"cfg_neural_{name}").set_value(5)
    at.run()
    at.button(key="run_fit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    (run,) = at.session_state["runs"].values()
    assert "labels" not in run.result.config
    goto(at, "layers")
    assert not at.exception, [e.value for e in at.exception]
    assert not _by_title(at, "Accuracy per layer")
    assert any("MRSA" in df.value.columns for df in at.dataframe)  # ground truth still scored
