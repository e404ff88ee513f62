"""dnmf — deep nonnegative matrix factorization with β-divergences.

The solver package under the dnmf workbench: β-divergence multiplicative updates, multilayer
NMF, deep β-NMF (Leplat, Hien, Onwunta, Gillis; Algorithm 1), minimum-volume deep KL-NMF
(Algorithm 2), the Frobenius deep MF baselines and Neural NMF (hierarchical NMF trained by
backpropagation, optionally semi-supervised; Will et al.), with scikit-learn style estimators.

    >>> import numpy as np
    >>> from dnmf import DeepNMF
    >>> X = np.random.default_rng(0).random((60, 40))
    >>> model = DeepNMF(ranks=(8, 4, 2), beta=1.0, n_init_iter=50, max_iter=50,
    ...                 random_state=0).fit(X)
    >>> [W.shape for W in model.W_]
    [(60, 8), (60, 4), (60, 2)]
    >>> model.features(2).shape
    (4, 40)
"""

from . import init, metrics
from .divergence import beta_divergence, hoyer_sparsity
from .estimators import DeepNMF, FrobeniusDeepMF, LayeredEstimator, MinVol, MultilayerNMF
from .models.neural import NeuralNMF
from .models.nmf import NMF
from .registry import ModelSpec, get_model, list_models, register_model
from .result import FitResult, IterationInfo

__version__ = "0.1.0"

__all__ = [
    "DeepNMF",
    "MultilayerNMF",
    "MinVol",
    "FrobeniusDeepMF",
    "NeuralNMF",
    "LayeredEstimator",
    "NMF",
    "FitResult",
    "ModelSpec",
    "get_model",
    "list_models",
    "register_model",
    "IterationInfo",
    "beta_divergence",
    "hoyer_sparsity",
    "init",
    "metrics",
    "__version__",
]
