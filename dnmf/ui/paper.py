"""The Model page's "Use the paper's settings": :func:`dnmf.datasets.paper_settings` written into
the configuration widgets (their keys are :mod:`dnmf.ui.params`').

The settings themselves live in ``dnmf.datasets.paper`` (docs/paper_settings.md); this module
only maps them onto the registry's parameters and says, in words, what the page cannot set
(e.g. per-layer min-vol weights that differ, or the paper's absolute ADMM penalty ρ).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dnmf.datasets import paper_settings
from dnmf.ui import config as cfgmod
from dnmf.ui import params

NOTES = "paper_notes"


def apply_paper_settings(dataset: Any) -> list[str]:
    """Set the Model page's widgets to the paper's settings for ``dataset``; return notes on
    what could not be set (also kept in ``st.session_state["paper_notes"]``)."""
    settings = paper_settings(dataset)
    if settings is None:
        return []
    spec = cfgmod.spec_of(settings["model"])
    notes: list[str] = []
    if spec is None:
        notes.append(f"The paper's model ({settings['model']}) is not registered here.")
        st.session_state[NOTES] = notes
        return notes
    ss = st.session_state
    by_name = {p.name: p for p in spec.params}
    ss["cfg_model"] = spec.key
    ranks = [int(r) for r in settings["ranks"]]
    ss[params.N_LAYERS_KEY] = len(ranks)
    for k, r in enumerate(ranks):
        ss[params.layer_key("ranks", k)] = r
    ss["cfg_ranks_for"] = dataset.name  # the page resets ranks for a new dataset: not these
    weights = by_name.get("weights")
    if weights is not None:
        lam = settings.get("weights", "auto")
        ss[params.layer_key(weights, "mode")] = "auto" if lam == "auto" else "manual"
        if lam != "auto":
            for k, v in enumerate(lam):
                ss[params.layer_key(weights, k)] = float(v)
    for name in ("n_init_iter", "max_iter"):
        if name in by_name and name in settings:
            ss[params.key(spec, by_name[name])] = int(settings[name])
    beta = by_name.get("beta")
    if beta is not None and "beta" in settings:
        if beta.presets:
            label = next((lab for lab, v in beta.presets.items() if v == settings["beta"]), None)
            if label is not None:
                ss[params.key(spec, beta)] = label
        else:
            ss[params.key(spec, beta)] = float(settings["beta"])
    mv = settings.get("min_vol") or {}
    if mv:
        alpha = [float(a) for a in mv.get("alpha_tilde", [])]
        if "alpha_tilde" in by_name and alpha and len(set(alpha)) == 1:
            ss[params.key(spec, by_name["alpha_tilde"])] = alpha[0]
        elif alpha:
            notes.append(
                "The paper's min-vol weights differ per layer ("
                + "; ".join(f"{a:g}" for a in alpha) + "); this page takes one α̃ for all "
                "layers, left as it was. In Python: MinVol(alpha_tilde="
                + repr(tuple(alpha)) + ").")
        if mv.get("rho_mode") == "absolute":
            notes.append(
                f"The paper's ADMM penalty ρ = {mv['rho']:g} is absolute (MinVol(rho="
                f"{mv['rho']:g}, rho_mode='absolute')); this page sets the relative ρ̃, left "
                "as it was.")
    if settings.get("paper_words") and not (getattr(dataset, "meta", {}) or {}).get(
            "paper_words"):
        notes.append("The paper uses TDT2's 500 words: choose them on the Data page (Keep the "
                     "paper's 500 words).")
    ss[NOTES] = notes
    return notes
