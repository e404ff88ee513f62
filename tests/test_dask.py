"""Dask arrays on a LocalCluster (two worker processes on 127.0.0.1): the blockwise solver of
:mod:`dnmf.distributed` against the in-memory NumPy/SciPy fit from the same initial factors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from dnmf import DeepNMF, FitResult, MultilayerNMF

da = pytest.importorskip("dask.array", reason="dask is not installed")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

from dnmf.distributed import DaskBackend  # noqa: E402
from dnmf.portable import fit_estimator  # noqa: E402

RTOL = 1e-8  # the acceptance bound; measured ~1e-15 (only the block sums are rounded apart)
M, N, CHUNK = 150, 40, 50


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       worker_dashboard_address=None)
    c = distributed.Client(cluster)
    c.run(lambda: __import__("dnmf.distributed"))  # workers import the solver once, here
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X = np.random.default_rng(0).poisson(0.4, size=(M, N)).astype(float)
    return X


def _dask(X, kind, layout="rows"):
    """X (rows: M × N split into row blocks) or Xᵀ (columns: N × M split into column blocks)."""
    if layout == "columns":
        Xd = da.from_array(np.ascontiguousarray(X.T), chunks=(N, CHUNK))
    else:
        Xd = da.from_array(X, chunks=(CHUNK, N))
    return Xd.map_blocks(sp.csr_matrix) if kind == "sparse" else Xd


def _max_rel(a_list, b_list) -> float:
    return max(float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))
               for a, b in zip(a_list, b_list))


MODELS = {
    "multilayer": lambda **kw: MultilayerNMF(ranks=(5, 2), beta=1.0, max_iter=6,
                                             random_state=2, **kw),
    "deep": lambda **kw: DeepNMF(ranks=(5, 2), beta=1.0, n_init_iter=3, max_iter=6,
                                 eval_every=1, random_state=2, **kw),
}


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("model", ["multilayer", "deep"])
def test_cluster_matches_in_memory(client, data, kind, model, layout):
    Xm = data if layout == "rows" else np.ascontiguousarray(data.T)
    ref = MODELS[model]().fit(sp.csr_array(Xm) if kind == "sparse" else Xm)
    est = MODELS[model]().fit(_dask(data, kind, layout))
    assert est.result_.config["backend"] == "dask"
    if layout == "rows":  # every W_ℓ keeps X's row blocks; the H_ℓ are small
        assert all(isinstance(W, da.Array) for W in est.W_)
        assert all(isinstance(H, np.ndarray) for H in est.H_)
        assert est.W_[0].numblocks == (M // CHUNK, 1)
    else:  # H_1 keeps X's column blocks; the W_ℓ and H_ℓ≥2 are small
        assert isinstance(est.H_[0], da.Array) and est.H_[0].numblocks == (1, M // CHUNK)
        assert all(isinstance(W, np.ndarray) for W in est.W_)
        assert isinstance(est.H_[1], np.ndarray)
    assert _max_rel(est.W_, ref.W_) <= RTOL
    assert _max_rel(est.H_, ref.H_) <= RTOL
    np.testing.assert_allclose(est.layer_errors_, ref.layer_errors_, rtol=RTOL)
    if model == "deep":
        objective = est.history_["objective"].to_numpy()
        np.testing.assert_allclose(objective, ref.history_["objective"].to_numpy(), rtol=RTOL)
        assert np.all(np.diff(objective) <= 1e-12 * objective[0])  # monotone (Algorithm 1)


def test_only_small_statistics_travel(client, data):
    """Per iteration the driver sends and receives O(chunks · r · n) numbers, never m × r."""
    X = _dask(data, "sparse")
    counts = []
    for max_iter in (2, 6):
        backend = DaskBackend(client)
        est = MultilayerNMF(ranks=(5,), max_iter=max_iter, eval_every=0, random_state=0)
        fit_estimator(est, X, backend=backend)
        counts.append((backend.bytes_sent, backend.bytes_received, backend.round_trips))
    sent, received, trips = (np.subtract(counts[1], counts[0]) / 4).tolist()
    k, r = M // CHUNK, 5
    # H (r×n) to every block twice (H-step, W-step), the column maxima (r) once.
    assert sent == 8 * k * (2 * r * N + r)
    # Q (r×n) and P (r) summed on each of the 2 workers, the column maxima (r) of each block.
    assert received == 8 * (2 * (r * N + r) + k * r)
    assert trips == 2
    assert received < 8 * M * r  # less than the long factor itself


@pytest.mark.parametrize("beta, trips", [(1.0, 2), (1.5, None)])
def test_column_blocks_traffic_and_batched_newton(client, data, beta, trips):
    """Column blocks: per deep iteration the row-sum multiplier of H_1 costs one reduction
    (β = 1, explicit) or one per Newton step for all r_1 rows together (β = 1.5), and W_1's
    terms one more; only m × r_1 and r_1-sized statistics travel."""
    X = _dask(data, "dense", "columns")
    counts = []
    for max_iter in (2, 4):
        backend = DaskBackend.for_array(X, client)
        assert type(backend).__name__ == "DaskColumnBackend"
        est = DeepNMF(ranks=(5, 2), beta=beta, n_init_iter=2, max_iter=max_iter, eval_every=0,
                      random_state=0)
        fit_estimator(est, X, backend=backend)
        counts.append((backend.bytes_received, backend.round_trips))
    received, per_iter_trips = (np.subtract(counts[1], counts[0]) / 2).tolist()
    r = 5
    if trips is not None:
        assert per_iter_trips == trips
        # 2 workers: the row sums (r) of H_1 ⊙ Q, then W_1's Q (N×r) and P (r).
        assert received == 8 * 2 * (r + N * r + r)
    else:
        assert 3 < per_iter_trips < 40  # start, Newton steps (batched over rows), finite, W
    assert received < 8 * r * M * per_iter_trips  # never the long factor H_1 per round trip


def test_stop_and_callback(client, data):
    seen = []

    def stop_after_8(info):  # 2 layers × 3 warm-start iterations, then 2 deep iterations
        seen.append((info.iteration, info.phase))
        return info.iteration < 8

    est = MODELS["deep"](callback=stop_after_8).fit(_dask(data, "dense"))
    assert [i for i, _ in seen] == list(range(1, 9))
    assert seen[0][1] == "init layer 1" and seen[-1][1] == "deep"
    assert est.stopped_early_ and est.n_iter_ == 2
    assert np.all(np.isfinite(est.layer_errors_))


def test_result_saves_long_and_small_factors(client, data, tmp_path):
    est = MODELS["multilayer"]().fit(_dask(data, "dense"))
    path = tmp_path / "fit.npz"
    est.result_.save(path)
    loaded = FitResult.load(path)
    np.testing.assert_array_equal(loaded.W[0], est.W_[0].compute())
    np.testing.assert_array_equal(loaded.H[1], est.H_[1])


def test_without_client_runs_in_process(data):
    ref = MODELS["deep"]().fit(data)
    backend = DaskBackend.__new__(DaskBackend)
    from dnmf.distributed import _LocalExecutor

    backend.ex = _LocalExecutor()
    result = fit_estimator(MODELS["deep"](), _dask(data, "dense"), backend=backend)
    assert _max_rel(result.W, ref.W_) <= RTOL


def test_bad_dask_input_says_what_is_wrong(client):
    X = da.from_array(np.array([[1.0, -2.0], [3.0, 4.0], [0.0, 1.0]]), chunks=(2, 2))
    with pytest.raises(ValueError, match="negative"):
        MultilayerNMF(ranks=(1,)).fit(X)
