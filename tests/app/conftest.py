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


@pytest.fixture(scope="session", autouse=True)
def jobs_in_threads(tmp_path_factory):
    """Fits run as jobs in threads of the test process (a Dask cluster would outlive AppTest's
    script), their runs stored under a temporary DNMF_HOME; pages follow a job for at most
    50 s (within the AppTest timeout) before leaving it to the sidebar panel."""
    import os

    os.environ["DNMF_JOBS"] = "threads"
    os.environ["DNMF_HOME"] = str(tmp_path_factory.mktemp("dnmf_home"))
    from dnmf.ui import fit

    fit.FOREGROUND = 50.0
