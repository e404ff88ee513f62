"""The row-split KL-MU (dnmf._rowsplit) against the one-thread workspace steps it replaces,
and its threading contract: BLAS limits restored, worker errors raised, no stray warnings."""

from __future__ import annotations

import signal
import threading
import time
import warnings

import numpy as np
import pytest

from dnmf import MultilayerNMF, _rowsplit, _threads
from dnmf.divergence import beta_divergence_dense
from dnmf.models.multilayer import LayerMU

# 700 × 200 = 140 000 entries: just above the split threshold, 350 rows per chunk.
M, N, R = 700, 200, 12
# Tolerances: the split sums the H numerator chunk by chunk (other rounding than one BLAS
# call); after 25 multiplicative iterations the gap stays a few hundred ulps.
RTOL = {np.float64: 1e-11, np.float32: 2e-4}


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def problem(request):
    dtype = request.param
    rng = np.random.default_rng(7)
    W = rng.random((M, R)) + 0.1
    H = rng.random((R, N)) + 0.1
    X = (W @ H) * rng.uniform(0.5, 1.5, size=(M, N))
    X[rng.random((M, N)) < 0.05] = 0.0  # zeros: the 0 · log 0 path of the error
    X = (X / X.max()).astype(dtype)
    W0 = (rng.random((M, R)) + 0.1).astype(dtype)
    H0 = (rng.random((R, N)) + 0.1).astype(dtype)
    return X, W0, H0


def _iterate(X, W0, H0, n_threads, order, rescale, n_iter=25):
    W, H = W0.copy(), H0.copy()
    eps = float(np.finfo(X.dtype).eps)
    layer = LayerMU(X, W, H, 1.0, eps, order=order, rescale=rescale, n_threads=n_threads)
    errors = []
    with layer.threads():
        errors.append(layer.error())
        for it in range(n_iter):
            error = layer.iterate(evaluate=it % 5 == 4)
            if error is not None:
                errors.append(error)
    return W, H, np.array(errors), layer


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("order", ["HW", "WH"])
@pytest.mark.parametrize("rescale", [False, True])
def test_split_iterates_equal_the_one_thread_steps(problem, order, rescale):
    X, W0, H0 = problem
    W1, H1, e1, one = _iterate(X, W0, H0, 1, order, rescale)
    W2, H2, e2, split = _iterate(X, W0, H0, 2, order, rescale)
    assert one.split is None and split.split is not None
    rtol = RTOL[X.dtype.type]
    assert W2.dtype == X.dtype and H2.dtype == X.dtype
    assert _rel(W2, W1) < rtol
    assert _rel(H2, H1) < rtol
    np.testing.assert_allclose(e2, e1, rtol=rtol)


@pytest.mark.parametrize("n_threads", [2, 3, 5])
def test_split_error_is_the_kl_divergence_and_decreases(problem, n_threads):
    X, W0, H0 = problem
    W, H, errors, _ = _iterate(X, W0, H0, n_threads, "HW", True)
    W1, H1, errors1, _ = _iterate(X, W0, H0, 1, "HW", True)  # uneven chunks: same iterates
    assert _rel(W, W1) < RTOL[X.dtype.type] and _rel(H, H1) < RTOL[X.dtype.type]
    np.testing.assert_allclose(errors, errors1, rtol=RTOL[X.dtype.type])
    reference = beta_divergence_dense(X.astype(np.float64), W.astype(np.float64)
                                      @ H.astype(np.float64), 1.0)
    assert np.isfinite(errors).all()
    np.testing.assert_allclose(errors[-1], reference, rtol=RTOL[X.dtype.type] * 10)
    # MU never increases the objective (up to the rounding of its evaluation)
    assert np.all(np.diff(errors) <= 1e-6 * errors[:-1])


def test_split_runs_are_bit_identical(problem):
    X, W0, H0 = problem
    Wa, Ha, ea, _ = _iterate(X, W0, H0, 2, "HW", True)
    Wb, Hb, eb, _ = _iterate(X, W0, H0, 2, "HW", True)
    assert np.array_equal(Wa, Wb) and np.array_equal(Ha, Hb) and np.array_equal(ea, eb)


def _blas_counts():
    return {c.num_threads for c in _rowsplit._controllers()}


@pytest.mark.parametrize("failing_chunk", [0, 1])
def test_a_failed_step_is_raised_after_every_chunk_and_restores_blas(problem, monkeypatch,
                                                                     failing_chunk):
    from threadpoolctl import threadpool_limits

    X, W0, H0 = problem
    layer = LayerMU(X, W0.copy(), H0.copy(), 1.0, 1e-12, n_threads=2)
    original = layer.split._w_update
    finished = []

    def fail(k):
        if k == failing_chunk:
            raise RuntimeError(f"chunk {k} failed")
        time.sleep(0.3)  # the other chunk is still running when the failure happens
        original(k)
        finished.append(k)

    monkeypatch.setattr(layer.split, "_w_update", fail)
    with threadpool_limits(limits=2, user_api="blas"):  # two even on a one-core machine
        with pytest.raises(RuntimeError, match=f"chunk {failing_chunk} failed"):
            with layer.threads():
                assert _blas_counts() == {1}
                layer.iterate()
        assert finished == [1 - failing_chunk]  # the caller waited for the other chunk
        assert _blas_counts() == {2}
    with pytest.raises(RuntimeError, match="half-updated"):  # no further steps on that state
        layer.iterate()


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs signal.pthread_kill")
def test_ctrl_c_while_waiting_still_waits_for_the_workers(problem, monkeypatch):
    X, W0, H0 = problem
    layer = LayerMU(X, W0.copy(), H0.copy(), 1.0, 1e-12, n_threads=2)
    original = layer.split._w_update
    finished = []

    def slow_second_chunk(k):
        if k == 1:
            time.sleep(0.6)
        original(k)
        finished.append(k)

    monkeypatch.setattr(layer.split, "_w_update", slow_second_chunk)
    # Ctrl-C as an interactive Python gets it: a process started in the background by a
    # shell (nohup …&, as a CI runner may) inherits SIGINT ignored, and then no
    # KeyboardInterrupt is raised (this test failed so in a suite started that way)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.get_ident()
    timer = threading.Timer(0.2, signal.pthread_kill, args=(main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            with layer.threads():
                layer.iterate()  # chunk 0 is done at 0.2 s; the caller waits for chunk 1
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert sorted(finished) == [0, 1]  # the interrupt was raised only after chunk 1 ended


def test_workers_apply_the_callers_error_state(problem):
    """np.errstate(divide="raise") of the caller holds in the worker thread: a zero row
    block of W in chunk 1 (ε = 0) makes WH zero there, and Y / 0 must raise."""
    X, W0, H0 = problem
    W = W0.copy()
    W[M // 2:] = 0.0  # the rows of chunk 1
    layer = LayerMU(X, W, H0.copy(), 1.0, 0.0, n_threads=2)
    with np.errstate(divide="raise", invalid="raise"):
        with pytest.raises(FloatingPointError):
            with layer.threads():
                layer.split._refresh_numerator(with_error=False)


def test_the_error_pass_warns_nothing_on_zeros(problem):
    X, W0, H0 = problem  # X has zeros: log 0 in the error's pass
    layer = LayerMU(X, W0.copy(), H0.copy(), 1.0, 1e-12, n_threads=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with layer.threads():
            assert np.isfinite(layer.error())


@pytest.mark.parametrize("shape, beta, sparse, expected", [
    ((700, 200), 1.0, False, True),
    ((700, 200), 1.5, False, False),
    ((700, 200), 1.0, True, False),
    ((300, 200), 1.0, False, False),  # under the size threshold
    ((200, 700), 1.0, False, False),  # too few rows for two chunks
])
def test_split_is_used_only_where_it_applies(shape, beta, sparse, expected):
    import scipy.sparse as sp

    Y = np.ones(shape)
    Y = sp.csr_array(Y) if sparse else Y
    assert _rowsplit.use_row_split(Y, beta, 2) is expected
    assert _rowsplit.use_row_split(Y, beta, 1) is False


def _count_instances(monkeypatch, cls) -> list:
    """A list that gets an entry each time ``cls`` is instantiated (a split is set up)."""
    used = []
    original = cls.__init__

    def spy(self, *args, **kwargs):
        used.append(True)
        original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", spy)
    return used


def test_multilayer_fit_agrees_with_and_without_threads(monkeypatch):
    rng = np.random.default_rng(3)
    X = (rng.random((M, 20)) @ rng.random((20, N))) * rng.uniform(0.8, 1.2, size=(M, N))
    model = dict(ranks=(12, 6), beta=1.0, max_iter=30, random_state=0)
    used = _count_instances(monkeypatch, _rowsplit.RowSplitKL)
    monkeypatch.setattr(_threads, "split_threads", lambda: 2)
    split = MultilayerNMF(**model).fit(X)
    assert used  # layer 1 (700 × 200) ran split
    monkeypatch.setattr(_threads, "split_threads", lambda: 1)
    used.clear()
    one = MultilayerNMF(**model).fit(X)
    assert not used
    np.testing.assert_allclose(split.layer_errors_, one.layer_errors_, rtol=1e-10)
    for a, b in zip(split.W_, one.W_):
        assert _rel(a, b) < 1e-9


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork (POSIX)")
# Python ≥ 3.12 warns about forking a process that has threads; forking one is the point here.
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
def test_split_works_in_a_forked_child(problem):
    """A child forked after the parent used the worker pool gets its own pool (the parent's
    threads do not exist in the child: work given to them would never run)."""
    import multiprocessing as mp

    X, W0, H0 = problem
    W, H, _, _ = _iterate(X, W0, H0, 2, "HW", True, n_iter=3)  # the parent's pool exists
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_iterate_in_child, (X, W0, H0))
        W_child, H_child = result.get(timeout=60)  # a hang fails here instead
    assert np.array_equal(W_child, W) and np.array_equal(H_child, H)


def _iterate_in_child(X, W0, H0):
    W, H, _, _ = _iterate(X, W0, H0, 2, "HW", True, n_iter=3)
    return W, H


def test_overlapping_limits_restore_the_original_thread_count():
    """Two fits whose one-thread sections overlap (A enters, B enters, A leaves, B leaves)
    leave BLAS as they found it, not at the one thread B saw when it entered."""
    from threadpoolctl import threadpool_limits

    def counts():
        return [c.num_threads for c in _rowsplit._controllers()]

    with threadpool_limits(limits=2, user_api="blas"):  # two even on a one-core machine
        assert set(counts()) == {2}
        a = _rowsplit.one_blas_thread()
        b = _rowsplit.one_blas_thread()
        a.__enter__()
        b.__enter__()
        assert set(counts()) == {1}
        a.__exit__(None, None, None)
        assert set(counts()) == {1}  # B is still inside
        b.__exit__(None, None, None)
        assert set(counts()) == {2}


# ------------------------------------------------------------------ the deep sweep, split
def _deep_start(X, ranks, seed=0):
    """Positive factors with H_ℓ e = e, W_ℓ of the layer's scale (C-contiguous)."""
    rng = np.random.default_rng(seed)
    Ws, Hs, n = [], [], X.shape[1]
    for r in ranks:
        H = rng.random((r, n)) + 0.1
        Hs.append(H / H.sum(axis=1, keepdims=True))
        Ws.append(np.ascontiguousarray(rng.random((X.shape[0], r)) + 0.1))
        n = r
    return Ws, Hs


def _deep_problem(sparse: bool):
    import scipy.sparse as sp

    rng = np.random.default_rng(5)
    if sparse:  # 600 × 2000, 144 000 stored entries
        return sp.random(600, 2000, density=0.12, random_state=5, format="csr",
                         data_rvs=lambda k: rng.poisson(2.0, k) + 1.0)
    return (rng.random((500, 30)) @ rng.random((30, 400))) * rng.uniform(0.8, 1.2, (500, 400))


@pytest.mark.parametrize(("sparse", "beta"),
                         [(False, 1.0), (False, 0.5), (False, 2.0), (True, 1.0), (True, 2.0)])
@pytest.mark.parametrize("n_chunks", [2, 3])
def test_deep_split_sweeps_equal_the_unsplit_sweeps(sparse, beta, n_chunks):
    from dnmf.models.deep import deep_sweep, make_workspaces

    X = _deep_problem(sparse)
    ranks, weights, eps = (12, 6, 3), np.array([1.0, 0.3, 0.1]), np.finfo(float).eps
    Ws1, Hs1 = _deep_start(X, ranks)
    Ws2, Hs2 = [W.copy() for W in Ws1], [H.copy() for H in Hs1]
    assert _rowsplit.use_deep_split(X, Ws2, n_chunks)
    plain = make_workspaces(X, Ws1)
    split = _rowsplit.RowSplitDeep(X, Ws2, n_chunks, make_workspaces(X, Ws2))
    assert len(split.rows) == n_chunks
    with _threads.one_blas_thread():
        for _ in range(8):
            deep_sweep(X, Ws1, Hs1, beta, weights, eps, plain)
            split.sweep(Ws2, Hs2, beta, weights, eps)
    for a, b in zip(Ws1 + Hs1, Ws2 + Hs2):
        assert _rel(b, a) < 1e-11  # the H-step's terms add chunk by chunk: rounding only
    for H in Hs2:
        np.testing.assert_allclose(H.sum(axis=1), 1.0, rtol=1e-12)


def test_deep_split_is_reproducible_and_a_deep_fit_uses_it_with_two_threads(monkeypatch):
    from dnmf import DeepNMF

    X = _deep_problem(False)
    used = _count_instances(monkeypatch, _rowsplit.RowSplitDeep)
    model = dict(ranks=(12, 6, 3), beta=1.0, n_init_iter=20, max_iter=30, random_state=0)
    monkeypatch.setattr(_threads, "split_threads", lambda: 2)
    a, b = DeepNMF(**model).fit(X), DeepNMF(**model).fit(X)
    assert used
    for x, y in zip(a.W_ + a.H_, b.W_ + b.H_):
        np.testing.assert_array_equal(x, y)  # same thread count: the same bits
    objective = np.asarray(a.history_["objective"])
    deep = np.asarray(a.history_["phase"]) == "deep"
    assert np.all(np.diff(objective[deep]) <= 1e-12 * objective[deep][:-1])
    used.clear()
    monkeypatch.setattr(_threads, "split_threads", lambda: 1)
    one = DeepNMF(**model).fit(X)
    assert not used
    np.testing.assert_allclose(a.layer_errors_, one.layer_errors_, rtol=1e-10)


def test_deep_split_is_not_used_on_small_data():
    X = np.random.default_rng(0).random((200, 100))
    Ws, _ = _deep_start(X, (6, 3))
    assert not _rowsplit.use_deep_split(X, Ws, 2)  # fewer than 2 × MIN_ROWS rows
    assert not _rowsplit.use_deep_split(_deep_problem(False), Ws, 1)  # one thread


@pytest.mark.parametrize(("sparse", "beta"), [(False, 1.0), (False, 0.5), (True, 1.0)])
@pytest.mark.parametrize("n_chunks", [1, 2, 3])
def test_deep_errors_are_the_divergences_and_do_not_change_the_sweeps(sparse, beta, n_chunks):
    """The errors evaluated between sweeps (split: each chunk its rows; unsplit, n_chunks = 1:
    layer 1 with its H-step terms, on dense data with β = 1) equal the β-divergences of the
    factors, and the sweeps that follow them (which reuse layer 1's terms) compute the same
    bits as sweeps that never evaluated."""
    from dnmf.models._common import all_layer_errors
    from dnmf.models._driver import Progress
    from dnmf.models.deep import _DeepPhase, make_workspaces

    X = _deep_problem(sparse)
    ranks, weights, eps = (12, 6, 3), np.array([1.0, 0.3, 0.1]), np.finfo(float).eps

    def phase():
        Ws, Hs = _deep_start(X, ranks)
        ws = make_workspaces(X, Ws)
        split = _rowsplit.RowSplitDeep(X, Ws, n_chunks, ws) if n_chunks > 1 else None
        return _DeepPhase(X, Ws, Hs, beta, weights, eps, ws, Progress(len(ranks), 6, None), split)

    evaluated, plain = phase(), phase()
    with _threads.one_blas_thread():
        for it in range(6):
            errors = evaluated.iterate(evaluate=it % 2 == 0)
            plain.iterate(evaluate=False)
            if errors is not None:
                want = all_layer_errors(X, evaluated.Ws, evaluated.Hs, beta)
                np.testing.assert_allclose(errors, want, rtol=1e-12)
    for a, b in zip(evaluated.Ws + evaluated.Hs, plain.Ws + plain.Hs):
        np.testing.assert_array_equal(a, b)
