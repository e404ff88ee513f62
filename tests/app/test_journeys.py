"""The main journey for each kind of data: load → configure → run → layers → compare."""

from __future__ import annotations

import pytest
from apphelp import choose_sample, errors, goto, new_app, quick_settings, specs, title, trace_types

# sample, kind, expected preview traces (type of the first chart's traces, count)
KINDS = [
    ("faces", "images"),
    ("spectral-scene", "spectra"),
    ("stdlib-text", "text"),
    ("synthetic-layers", "generic"),
]


def _by_title(at, prefix: str) -> list[dict]:
    return [s for s in specs(at) if title(s).startswith(prefix)]


@pytest.mark.parametrize("sample,kind", KINDS, ids=[k for _, k in KINDS])
def test_journey(sample, kind):
    at = new_app()

    # ---- Data: the preview fits the kind
    choose_sample(at, sample)
    ds = at.session_state["dataset"]
    assert ds.kind == kind
    assert not errors(at)
    charts = specs(at)
    if kind == "images":
        assert len(charts) == 1
        assert trace_types(charts[0]) == ["heatmap"] * min(40, ds.shape[0])
    elif kind == "spectra":
        types = [trace_types(s) for s in charts]
        assert "scatter" in types[0] and len(types[0]) >= 2  # pixel spectra + mean
        assert types[1] == ["image"]  # false colour
    elif kind == "text":
        assert [trace_types(s) for s in charts] == [["bar"], ["histogram"]]
    else:
        assert [trace_types(s) for s in charts] == [["heatmap"]]

    # ---- Model: the dataset stays selected; deep + multilayer in one click
    goto(at, "model")
    assert f"**{ds.name}**" in " ".join(c.value for c in at.caption)
    quick_settings(at)
    ranks = [at.number_input(key=f"cfg_ranks_{i}").value
             for i in range(at.number_input(key="cfg_n_layers").value)]
    at.button(key="run_pair").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    runs = at.session_state["runs"]
    assert len(runs) == 2
    deep, multi = runs.values()
    assert deep.model == "deep" and multi.model == "multilayer"
    assert deep.dataset == multi.dataset == sample
    assert list(deep.result.ranks) == ranks
    assert deep.result.weights is not None and len(deep.result.weights) == len(ranks)
    assert multi.config["max_iter"] == 40  # the deep run's budget: 20 warm start + 20 deep
    assert any("λ used" in s.value for s in at.success)

    # ---- Layers: one view per layer, as many pictures/topics/maps as the rank
    goto(at, "layers")
    assert at.selectbox(key="layers_run").value == deep.name
    conv = _by_title(at, "Convergence")
    assert len(conv) == 1 and len(conv[0]["data"]) == len(ranks)
    assert len(at.dataframe) >= 1  # the per-layer table (error, λ, sparsity)
    if kind == "images":
        for ell, r in enumerate(ranks, start=1):
            (g,) = _by_title(at, f"Layer {ell}: {r} features")
            assert trace_types(g) == ["heatmap"] * min(r, 40)
        (rec,) = _by_title(at, "Image 0 and its reconstruction")
        assert len(rec["data"]) == len(ranks) + 1
    elif kind == "spectra":
        for ell, r in enumerate(ranks, start=1):
            (maps,) = _by_title(at, f"Layer {ell}: abundance maps")
            assert trace_types(maps) == ["heatmap"] * r
            # one colour scale shared by every layer
            assert maps["layout"]["coloraxis"]["cmin"] == 0.0
            (lines,) = _by_title(at, f"Layer {ell}: spectra")
            assert len(lines["data"]) == r
        assert len(_by_title(at, "Hierarchy")) == 1
        assert len(_by_title(at, "Layer 1: estimated (solid) vs true")) == 1
    elif kind == "text":
        for ell, r in enumerate(ranks, start=1):
            (bars,) = _by_title(at, f"Layer {ell}: {r} topics")
            assert trace_types(bars) == ["bar"] * r
        (sankey,) = _by_title(at, "Hierarchy")
        assert trace_types(sankey) == ["sankey"]
        node_labels = sankey["data"][0]["node"]["label"]
        assert len(node_labels) == sum(ranks)
        # choosing a topic lists its documents
        at.selectbox(key="layers_topic").set_value(2).run()
        assert not at.exception
        docs = at.dataframe[-1].value
        assert len(docs) > 0 and "text" in docs.columns
    else:
        for ell in range(1, len(ranks) + 1):
            (f,) = _by_title(at, f"Layer {ell}: coefficients and features")
            assert trace_types(f) == ["heatmap", "heatmap"]

    # ---- Compare: ratio curves against the multilayer run, Table 2, features side by side
    goto(at, "compare")
    assert at.multiselect(key="compare_runs").value == [deep.name, multi.name]
    assert at.selectbox(key="compare_ref").value == multi.name
    (ratio,) = _by_title(at, "Error per layer ÷ final error")
    assert len(ratio["data"]) == len(ranks)  # one curve per layer of the deep run
    table = at.dataframe[0].value
    assert list(table["layer"]) == list(range(1, len(ranks) + 1))
    assert f"{deep.name}: error % of {multi.name}" in table.columns
    assert f"{multi.name}: sparsity %" in table.columns
    if kind == "images":
        galleries = _by_title(at, "Layer 1: ")
        assert len(galleries) == 2
        assert all(trace_types(g) == ["heatmap"] * ranks[0] for g in galleries)
    if kind in ("spectra", "generic"):  # ground truth is known for these samples
        assert any("MRSA" in df.value.columns for df in at.dataframe)


@pytest.mark.parametrize("model", ["deep", "multilayer", "deep-minvol", "frobenius"])
def test_every_model_runs_from_the_model_page(model):
    from dnmf.ui import config as cfgmod

    assert model in [spec.key for spec in cfgmod.models()]
    at = new_app()
    choose_sample(at, "spectral-scene")
    goto(at, "model")
    at.selectbox(key="cfg_model").set_value(model).run()
    quick_settings(at, 5, 5)
    at.button(key="run_fit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    (run,) = at.session_state["runs"].values()
    assert run.model == model
    assert run.result.n_iter >= 1
    goto(at, "layers")
    assert not at.exception
    scores = [df.value for df in at.dataframe if "MRSA" in df.value.columns]
    assert scores and "abundance RMSE" in scores[0].columns
