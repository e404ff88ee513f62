"""The Learn pages run their default demos without errors and draw their figures."""

from __future__ import annotations

import time

import pytest
from apphelp import errors, goto, new_app, specs, trace_types

PAGES = {
    "learn_what": 5,  # SVD, NMF, error vs rank, non-uniqueness, zero-locking
    "learn_race": 3,  # curves, H snapshot, W snapshot
    "learn_geometry": 3,  # simplex, cone, layer cones
    "learn_deep": 2,  # MRSA bars, balance
}


@pytest.fixture(scope="module")
def app():
    return new_app(timeout=120)


@pytest.mark.parametrize("page", list(PAGES))
def test_learn_page_default_demo(app, page):
    t0 = time.perf_counter()
    goto(app, page)
    print(f"{page}: {time.perf_counter() - t0:.2f} s")
    assert not app.exception and not errors(app)
    assert len(specs(app)) == PAGES[page]
    assert app.toggle[0].label == "Presenter mode"


def test_presenter_mode_enlarges_figures(app):
    goto(app, "learn_geometry")
    small = specs(app)[0]["layout"]
    app.toggle[0].set_value(True).run()
    assert not app.exception
    big = specs(app)[0]["layout"]
    assert big["height"] > small["height"] and big["font"]["size"] > small["font"]["size"]
    app.toggle[0].set_value(False).run()


def test_race_reports_als_rises_and_descent_of_the_others(app):
    goto(app, "learn_race")
    curves = specs(app)[0]
    names = {t["name"] for t in curves["data"] if t.get("showlegend", True) is not False}
    assert any(n.startswith("ALS") and "rose" in n for n in names), names
    assert {"HALS", "MU (Lee–Seung)", "PGD", "IPG", "OPL"} <= names
    # stepping the slider redraws W and H at another iteration
    slider = app.select_slider[-1]
    slider.set_value(slider.options[0] if isinstance(slider.options[0], int)
                     else int(slider.options[0])).run()
    assert not app.exception and not errors(app)
    assert trace_types(specs(app)[1])[0] == "heatmap"


def test_race_fixed_step_pgd_diverges(app):
    goto(app, "learn_race")
    app.toggle(key="learn_race_fixed").set_value(True).run()
    assert not app.exception and not errors(app)
    names = [t["name"] for t in specs(app)[0]["data"] if t.get("showlegend", True) is not False]
    assert any(n.startswith("PGD") and "rose" in n for n in names), names
    app.toggle(key="learn_race_fixed").set_value(False).run()


def test_what_page_other_data(app):
    goto(app, "learn_what")
    app.selectbox(key="learn_what_data").set_value("digits").run()
    assert not app.exception and not errors(app)
    assert len(specs(app)) == PAGES["learn_what"]


def test_single_layer_nmf_is_offered_on_the_model_page_and_fits():
    """dnmf.NMF is registered like the other models: the Model page draws its parameters and
    fits it (here HALS on Swimmer), and Layers shows the run."""
    from apphelp import choose_sample

    at = new_app()
    choose_sample(at, "swimmer")
    goto(at, "model")
    at.selectbox(key="cfg_model").set_value("nmf").run()
    assert not at.exception and not errors(at)
    at.selectbox(key="cfg_nmf_solver").set_value("hals")
    at.number_input(key="cfg_nmf_n_components").set_value(17)
    at.number_input(key="cfg_nmf_max_iter").set_value(50)
    at.run()
    shown = {w.key for w in at.number_input}
    assert "cfg_nmf_n_components" in shown and "cfg_nmf_eps" not in shown  # ε: MU only
    at.button(key="run_fit").click().run()
    assert not at.exception and not errors(at), [e.value for e in at.error]
    (run,) = at.session_state["runs"].values()
    assert run.model == "nmf" and run.result.config["solver"] == "hals"
    assert run.result.n_iter == 50 and run.result.W[0].shape == (256, 17)
    at.session_state["layers_run"] = run.name
    goto(at, "layers")
    assert not at.exception and not errors(at)
    assert at.get("plotly_chart")
