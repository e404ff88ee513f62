"""The estimators, all on one base (:class:`LayeredEstimator`; see ``docs/architecture.md``).

Orientation (paper §1): the features are factorised layer after layer,

    X ≈ W_1 H_1,  W_1 ≈ W_2 H_2,  …,  W_{L-1} ≈ W_L H_L,   so X ≈ W_ℓ (H_ℓ ⋯ H_1),

with X of shape (m, n), W_ℓ of shape (m, r_ℓ) and H_ℓ of shape (r_ℓ, r_{ℓ-1}), r_0 = n.
"""

from ._base import LayeredEstimator
from ._beta import DeepNMF, MinVol, MultilayerNMF
from ._frobenius import FrobeniusDeepMF

__all__ = ["LayeredEstimator", "DeepNMF", "MultilayerNMF", "MinVol", "FrobeniusDeepMF"]
