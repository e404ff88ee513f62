"""Behaviour fixtures: every model computes today what it computed when they were recorded.

The fixtures (``tests/fixtures/behaviour/*.npz``) were written by
``scripts/record_behaviour_fixtures.py`` before the model-API refactoring (issue 11): factors,
layer errors, iteration counts and the recorded error history of every model (deep β-NMF for
five β, multilayer, min-vol deep KL-NMF, the three Frobenius losses), from fixed seeds and from
fixed initial factors, dense and sparse, on one BLAS thread. A refactoring that changes any of
them by more than 1e-12 relative (rounding of reordered but equal arithmetic) fails here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "behaviour"
RTOL = 1e-12


def _recorder():
    spec = importlib.util.spec_from_file_location(
        "record_behaviour_fixtures", ROOT / "scripts" / "record_behaviour_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORDER = _recorder()
CASES = RECORDER.cases()
INPUTS = RECORDER.data()


def test_every_case_has_a_fixture():
    names = {name for name, *_ in CASES}
    assert names == {p.stem for p in FIXTURES.glob("*.npz")}
    assert len(names) >= 20


@pytest.mark.parametrize("name, factory, data_key, fit_kwargs", CASES,
                         ids=[c[0] for c in CASES])
def test_behaviour_unchanged(name, factory, data_key, fit_kwargs):
    expected = dict(np.load(FIXTURES / f"{name}.npz"))
    got = RECORDER.fit_case(factory, data_key, fit_kwargs, INPUTS)
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        have = got[key]
        assert have.shape == want.shape, key
        assert np.array_equal(np.isnan(have), np.isnan(want)), key
        finite = ~np.isnan(want)
        scale = np.max(np.abs(want[finite])) if finite.any() else 0.0
        err = np.max(np.abs(have[finite] - want[finite])) if finite.any() else 0.0
        assert err <= RTOL * scale, f"{key}: max |Δ| = {err:.3g}, {RTOL:g} × {scale:.3g} allowed"
