"""Fixtures for the AppTest suite (helpers live in apphelp.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """Compile dnmf's numba kernels once before the app tests, as app.py does in a background
    thread at server start: a cold compile (≈20 s on a fresh clone) is not what the tests
    time, and it would otherwise land in whichever test fits first."""
    try:
        from dnmf import _kernels
    except ImportError:
        return
    _kernels.warmup(dtypes=("float64",))
