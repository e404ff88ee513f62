"""Min-vol deep KL-NMF on the thesis' §5.3 two-layer example (lowest noise level).

The thesis reports that minimum-volume deep models recover the layer-1 vertices W₁* better than
multilayer NMF in most repetitions. Measured here (same SNPA warm start, 4 seeds): min-vol's
layer-1 MRSA is below multilayer KL-NMF's in every seed, by a small margin (0.2–1.6 %) — at
ν = 0.01 the SNPA-started multilayer fit is already close to the noise floor. The test asks for
"most" (≥ 3 of 4) as the acceptance does, not for a margin.
"""

import numpy as np

from dnmf import DeepNMF, MinVol, MultilayerNMF
from dnmf.datasets import load_sample
from dnmf.metrics import mrsa


def test_min_vol_recovers_layer_one_better_than_multilayer_in_most_runs():
    wins = []
    for seed in range(4):
        ds = load_sample("synthetic-thesis", seed=seed, noise=0.01)
        W1_true = ds.ground_truth["W"][0]
        multilayer = MultilayerNMF(ranks=(6, 3), max_iter=300, init="snpa",
                                   random_state=seed, eval_every=0).fit(ds.X)
        min_vol = DeepNMF(ranks=(6, 3), min_vol=MinVol(alpha_tilde=0.5), n_init_iter=150,
                          max_iter=150, layer_init="snpa", random_state=seed,
                          eval_every=0).fit(ds.X)
        wins.append(mrsa(W1_true, min_vol.W_[0]).mean < mrsa(W1_true, multilayer.W_[0]).mean)
    assert np.sum(wins) >= 3, wins
