"""scikit-learn's own estimator checks, for every model in the registry.

Every registered model is checked through its spec's ``check_instance()`` (the spec's
``check_params``: small ranks and the iteration counts that converge in the checks' tiny
problems — the defaults are not changed for the checks). A check an estimator is known to
fail would be named, with its reason, by the estimator's ``_expected_failed_checks``; today
there are none (scikit-learn's own NMF needs none in its test suite either).
"""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

import dnmf
from dnmf.estimators import LayeredEstimator

ESTIMATORS = [spec.check_instance() for spec in dnmf.list_models()]


def test_every_registered_model_is_checked():
    assert len(ESTIMATORS) == len(dnmf.list_models()) >= 4
    assert all(isinstance(e, LayeredEstimator) for e in ESTIMATORS)
    assert all(e._expected_failed_checks() == {} for e in ESTIMATORS)


@parametrize_with_checks(ESTIMATORS,
                         expected_failed_checks=lambda est: est._expected_failed_checks())
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        # The checks fit 1- and 2-feature data with r_1 = 2: the trivial-rank warning is due.
        warnings.simplefilter("ignore", dnmf._validation.TrivialFactorizationWarning)
        check(estimator)
