"""Shared fixtures: small random problems and the location of the paper's datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_file(name: str) -> Path:
    """Path of one of the paper's .mat files, or skip the test with a reason."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{name} not found in {SHARED_DATA} (the paper's datasets are not present)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def positive_matrix(rng) -> np.ndarray:
    """A 40×30 strictly positive matrix with low-rank structure plus noise."""
    W = rng.random((40, 6))
    H = rng.random((6, 30))
    return W @ H + 0.05 * rng.random((40, 30))
