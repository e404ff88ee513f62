"""TDT2: the paper's Fig. 4 (error ratios) and Tables 3–4 (topics of layers 2 and 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .._log_axis import readable_log_y
from ._common import Report, Runner, Stopped, fit_pair, load_paper_file, pair_iterations

__all__ = ["reproduce_tdt2", "PAPER_RATIOS", "PAPER_TABLE4", "merges_from_H"]

RANKS = (20, 10, 5)
WEIGHTS = (4.0, 2.0, 1.0)
PAPER_RATIOS = (107.5, 30.0, 22.0)
#: Table 4: top words of the five layer-3 topics and the layer-2 topics each merges.
PAPER_TABLE4 = [
    ("Politics", "president clinton government nuclear india house political china pakistan "
     "party", "3 & 4"),
    ("Military conflicts", "iraq united states weapons iraqi military saddam security "
     "inspectors president", "1, 6 & 10"),
    ("Economy", "percent economic crisis economy asian financial billion market bank asia",
     "5 & 7"),
    ("Clinton-Lewinsky", "spkr lewinsky president clinton white house starr lawyers news case",
     "6 & 9"),
    ("Mixed topics", "tobacco olympic team city games going olympics won nagano gold",
     "2, 6 & 8"),
]
#: Table 3's labels of the ten layer-2 topics (the words are in the paper's table).
PAPER_TABLE3 = ("Iraq war", "Clinton-Lewinsky scandal", "Olympic games", "Asian economy",
                "Media", "Stock market", "Nuclear conflicts", "American politics",
                "Tobacco bill", "Asian politics")
FULL = {"ml_iter": 1000, "init_iter": 500, "deep_iter": 500}
QUICK = {"ml_iter": 6, "init_iter": 3, "deep_iter": 3}
#: A layer-2 topic j "is merged into" layer-3 topic k when k explains at least this share
#: of W_2(:, j)'s mass in W_2(:, j) ≈ Σ_k W_3(:, k) H_3(k, j).
MERGE_SHARE = 0.2


def merges_from_H(W_top: np.ndarray, H_top: np.ndarray, share: float = MERGE_SHARE) -> list:
    """For every column k of W_top, the 1-based columns j of the layer below it merges.

    share_kj = (W_top(:, k)ᵀe) H_top(k, j) / Σ_k' (W_top(:, k')ᵀe) H_top(k', j): the part of
    the lower topic j's mass that the upper topic k reconstructs; j is listed under k when
    share_kj ≥ ``share``.
    """
    mass = W_top.sum(axis=0)[:, None] * H_top
    shares = mass / np.maximum(mass.sum(axis=0, keepdims=True), np.finfo(float).tiny)
    return [[int(j) + 1 for j in np.flatnonzero(shares[k] >= share)]
            for k in range(H_top.shape[0])]


def _top(W: np.ndarray, words, n: int) -> list[list[str]]:
    return [[words[i] for i in np.argsort(-W[:, k])[:n]] for k in range(W.shape[1])]


def _best_paper_match(ours: list[str]) -> tuple[str, int]:
    best = max(PAPER_TABLE4, key=lambda row: len(set(row[1].split()) & set(ours)))
    return best[0], len(set(best[1].split()) & set(ours))


def reproduce_tdt2(data_dir=None, *, seeds: int = 1, quick: bool = False, progress=None,
                   files=None, first_seed: int = 0) -> Report:
    """TDT2 (the paper's words, variable K), r = (20, 10, 5), λ = (4, 2, 1), as §4.2.

    Multilayer KL-NMF with 1000 MU iterations per layer; deep KL-NMF warm-started by 500
    multilayer iterations per layer, then 500 iterations of Algorithm 1. Reports the final
    error ratios deep/multilayer (Fig. 4; paper 107.5 / 30 / 22 %), the 10 top words of every
    layer-2 topic (Table 3), the top words of every layer-3 topic and the layer-2 topics it
    merges (from H_3, :func:`merges_from_H`; Table 4), each layer-3 topic labelled by the
    paper's topic sharing most top words. ``seeds`` > 1 repeats the ratios over seeds (the
    topic tables are those of the first seed).
    """
    it = QUICK if quick else FULL
    seeds = max(1, min(int(seeds), 1) if quick else int(seeds))
    ds = load_paper_file("TDT2_500words.mat", data_dir, files, paper_words=True)
    X, words = ds.X, ds.vocabulary
    L = len(RANKS)
    runner = Runner(seeds * pair_iterations(L, it), progress)
    report = Report("tdt2", dataset=ds)
    ratios, first = [], None
    try:
        runner.say(f"TDT2 {X.shape[0]} words × {X.shape[1]} documents, r = {RANKS}, "
                   f"λ = {WEIGHTS}")
        for k in range(seeds):
            seed = first_seed + k
            ml, deep = fit_pair(runner, seed, X, RANKS, it, weights=WEIGHTS)
            ratios.append(100 * deep.layer_errors_ / ml.layer_errors_)
            if first is None:
                first = (ml, deep)
    except Stopped:
        report.stopped = True
    if first is None:
        report.notes.append("stopped before the first fit finished")
        return report
    ratios = np.array(ratios)
    ml, deep = first
    for ell in range(L):
        values = ratios[:, ell]
        ours = (f"{values.mean():.1f}" if len(values) == 1
                else f"{values.mean():.1f} ± {values.std(ddof=1):.1f}")
        report.rows.append((f"layer {ell + 1}: error deep/multilayer %",
                            f"{PAPER_RATIOS[ell]}", ours))
    W2, W3, H3 = deep.W_[1], deep.W_[2], deep.H_[2]
    top2 = _top(W2, words, 10)
    top3 = _top(W3, words, 10)
    merges = merges_from_H(W3, H3)
    table3 = pd.DataFrame({"layer-2 topic": range(1, RANKS[1] + 1),
                           "top 10 words": [" ".join(t) for t in top2]})
    rows4 = []
    for k in range(RANKS[2]):
        label, overlap = _best_paper_match(top3[k])
        rows4.append({"layer-3 topic": k + 1, "top 10 words": " ".join(top3[k]),
                      "merges layer-2 topics": ", ".join(map(str, merges[k])) or "—",
                      "closest paper topic": f"{label} ({overlap}/10 words)"})
    table4 = pd.DataFrame(rows4)
    paper4 = pd.DataFrame(PAPER_TABLE4, columns=["paper topic", "top 10 words",
                                                 "merges layer-2 topics"])
    report.tables = {"table3_layer2_topics": table3, "table4_layer3_topics": table4,
                     "paper_table4": paper4}
    report.numbers = {"ranks": list(RANKS), "weights": list(WEIGHTS), "iterations": it,
                      "paper_ratios": list(PAPER_RATIOS), "ratios": ratios,
                      "layer2_top_words": top2, "layer3_top_words": top3,
                      "layer3_merges": merges, "H3": H3, "merge_share": MERGE_SHARE}
    report.figures["fig4_ratios"] = _fig4(deep, ml, L)
    report.figures["h3_heatmap"] = _h3(H3, top3, top2)
    report.fits = {f"tdt2 multilayer seed {first_seed}": ml.result_,
                   f"tdt2 deep seed {first_seed}": deep.result_}
    report.notes.append(f"a layer-2 topic is listed under a layer-3 topic when that topic "
                        f"reconstructs ≥ {MERGE_SHARE:.0%} of its mass (W_2 ≈ W_3 H_3).")
    return report


def _fig4(deep, ml, L: int) -> go.Figure:
    hist = deep.history_
    fig = go.Figure()
    for ell in range(1, L + 1):
        fig.add_trace(go.Scatter(x=hist["iteration"],
                                 y=hist[f"error_layer_{ell}"] / ml.layer_errors_[ell - 1],
                                 mode="lines", name=f"layer {ell}"))
    fig.add_hline(y=1.0, line=dict(color="gray", dash="dot"))
    fig.update_layout(title="Fig. 4: deep error ÷ final multilayer error",
                      xaxis_title="iteration of Algorithm 1", yaxis_title="error ratio",
                      height=420, width=760, margin=dict(l=10, r=10, t=60, b=10))
    return readable_log_y(fig)


def _h3(H3: np.ndarray, top3, top2) -> go.Figure:
    fig = go.Figure(go.Heatmap(
        z=H3, colorscale="Blues",
        x=[f"2.{j + 1} {' '.join(top2[j][:2])}" for j in range(H3.shape[1])],
        y=[f"3.{k + 1} {' '.join(top3[k][:2])}" for k in range(H3.shape[0])]))
    fig.update_layout(title="H_3: layer-3 topics (rows) in layer-2 topics",
                      height=380, width=900, margin=dict(l=10, r=10, t=60, b=10),
                      yaxis_autorange="reversed")
    return fig
