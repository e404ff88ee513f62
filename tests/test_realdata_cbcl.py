"""A shortened CBCL run of the paper's Table 2 experiment: checks the direction of the result.

The full experiment (1000 vs 500 + 500 iterations, the whole 2429 faces) is bench/cbcl_table2.py.
Here: the first 600 faces, r = (80, 40, 20), multilayer 100 iterations per layer vs deep
50 + 50 — a few seconds. Even that short, deep KL-NMF must beat multilayer at layers 2 and 3
(balancing the layers is what it optimises) and produce sparser layer-1 features.
"""

import numpy as np
import pytest
import scipy.io

from dnmf import DeepNMF, MultilayerNMF, hoyer_sparsity
from tests.conftest import shared_data_file

pytestmark = pytest.mark.realdata


def test_deep_beats_multilayer_on_cbcl_direction():
    X = np.asarray(scipy.io.loadmat(shared_data_file("CBCL.mat"))["X"], dtype=float).T[:600]
    ranks = (80, 40, 20)
    ml = MultilayerNMF(ranks=ranks, max_iter=100, random_state=0, eval_every=50).fit(X)
    deep = DeepNMF(ranks=ranks, n_init_iter=50, max_iter=50, random_state=0,
                   eval_every=25).fit(X)
    ratio = deep.layer_errors_ / ml.layer_errors_
    assert ratio[1] < 1.0 and ratio[2] < 1.0, ratio
    assert ratio[2] < ratio[1], ratio  # the deepest layer gains the most (paper: 26.8 → 4.4 %)
    sparsity_ml = hoyer_sparsity(ml.features(1)).mean()
    sparsity_deep = hoyer_sparsity(deep.features(1)).mean()
    assert sparsity_deep > sparsity_ml, (sparsity_deep, sparsity_ml)
