"""Fit results: factors, history, configuration and timings, saved without pickle.

A :class:`FitResult` round-trips through a single ``.npz`` file (``allow_pickle=False``): the
factors are arrays ``W_1 … W_L``, ``H_1 … H_L``, and everything else (configuration, history,
timings) is one JSON document stored as a unicode array, so loading an untrusted file never
executes code.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FitResult", "IterationInfo", "RunFileError", "features_product", "read_run_npz"]

FORMAT_VERSION = 1
#: An imported run may have at most this many layers …
MAX_RUN_LAYERS = 64
#: … this many bytes of factors (as float64) unless the caller gives ``max_bytes`` …
MAX_RUN_BYTES = 400 * 1024**2
#: … and this many history rows.
MAX_HISTORY_ROWS = 1_000_000


@dataclass
class IterationInfo:
    """What a fit reports to its callback after every iteration.

    Attributes
    ----------
    iteration : int
        1-based count over the whole fit (initialisation phase included).
    total_iterations : int
        The number of iterations the fit will run if not stopped.
    phase : str
        ``"init layer ℓ"`` / ``"layer ℓ"`` while one layer is fitted, ``"deep"`` for the deep phase.
    seconds : float
        Elapsed wall time since the fit started.
    layer_errors : ndarray of shape (L,)
        The latest evaluated D_β(W_{ℓ-1}, W_ℓ H_ℓ); NaN for layers not evaluated yet.
    objective : float
        The latest evaluated objective (NaN if not available).
    snapshot : callable or None
        ``snapshot()`` returns copies of the fit's current factors in the units of the data,
        ``(Ws, Hs, history_rows)`` — the layers reached so far (during a warm start, the
        finished layers and the current one) and the history rows of the current part of the
        fit — or None. Nothing is copied unless it is called (a job's checkpoint calls it
        every few seconds). None when the model does not offer it.
    """

    iteration: int
    total_iterations: int
    phase: str
    seconds: float
    layer_errors: np.ndarray
    objective: float = math.nan
    snapshot: Any = field(default=None, repr=False, compare=False)

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]."""
        return min(1.0, self.iteration / max(1, self.total_iterations))


def features_product(H: list[np.ndarray], layer: int) -> np.ndarray:
    """H_ℓ ⋯ H_1 for ``layer`` = ℓ ≥ 1: the layer-ℓ features, shape (r_ℓ, n)."""
    if not 1 <= layer <= len(H):
        raise ValueError(f"layer must be between 1 and {len(H)}, got {layer}")
    out = H[0]
    for Hl in H[1:layer]:
        out = Hl @ out
    return out


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, type) and issubclass(obj, np.generic):
        return np.dtype(obj).name
    if isinstance(obj, np.dtype):
        return obj.name
    return str(obj)


def _frame_to_json(df: pd.DataFrame | None):
    """Columns as plain lists: Python's float repr round-trips every bit through JSON."""
    if df is None:
        return None
    return {"columns": [str(c) for c in df.columns],
            "data": [df[c].tolist() for c in df.columns]}


def _frame_from_json(obj) -> pd.DataFrame | None:
    if obj is None:
        return None
    return pd.DataFrame(dict(zip(obj["columns"], obj["data"])), columns=obj["columns"])


@dataclass
class FitResult:
    """The outcome of one fit.

    Attributes
    ----------
    W : list of L ndarrays, ``W[l]`` of shape (m, r_{l+1})
    H : list of L ndarrays, ``H[0]`` of shape (r_1, n), ``H[l]`` of shape (r_{l+1}, r_l)
    history : DataFrame
        One row per evaluation: iteration, seconds, error_layer_1 … error_layer_L, objective.
    config : dict
        JSON-serialisable parameters of the fit (model, ranks, beta, …).
    weights : ndarray of shape (L,) or None
        The λ_ℓ used (deep models).
    layer_errors : ndarray of shape (L,)
        D_β(W_{ℓ-1}, W_ℓ H_ℓ) at the end (W_0 = X).
    n_iter : int
    timings : dict
        Seconds spent per part of the fit (e.g. ``init``, ``deep``, ``total``).
    stopped_early : bool
        True when the callback asked to stop.
    init_history : DataFrame or None
        History of the initialisation phase (multilayer warm start), one row per evaluation,
        with a column ``layer``.
    """

    W: list[np.ndarray]
    H: list[np.ndarray]
    history: pd.DataFrame
    config: dict = field(default_factory=dict)
    weights: np.ndarray | None = None
    layer_errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_iter: int = 0
    timings: dict = field(default_factory=dict)
    stopped_early: bool = False
    init_history: pd.DataFrame | None = None

    @property
    def n_layers(self) -> int:
        return len(self.W)

    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(int(W.shape[1]) for W in self.W)

    def features(self, layer: int) -> np.ndarray:
        """H_ℓ ⋯ H_1, shape (r_ℓ, n); ``layer`` counts from 1."""
        return features_product(self.H, layer)

    def reconstruction(self, layer: int) -> np.ndarray:
        """W_ℓ H_ℓ ⋯ H_1 ≈ X at layer ℓ, shape (m, n)."""
        return self.W[layer - 1] @ self.features(layer)

    # -- serialisation ------------------------------------------------------------------------

    def _meta(self) -> dict:
        return {
            "format": "dnmf.FitResult",
            "version": FORMAT_VERSION,
            "config": self.config,
            "weights": None if self.weights is None else np.asarray(self.weights).tolist(),
            "layer_errors": np.asarray(self.layer_errors, dtype=float).tolist(),
            "n_iter": int(self.n_iter),
            "timings": self.timings,
            "stopped_early": bool(self.stopped_early),
            "history": _frame_to_json(self.history),
            "init_history": _frame_to_json(self.init_history),
        }

    def to_npz_bytes(self) -> bytes:
        """The result as the bytes of a compressed ``.npz`` file (no pickle)."""
        arrays: dict[str, np.ndarray] = {}
        for i, (W, H) in enumerate(zip(self.W, self.H), start=1):
            arrays[f"W_{i}"] = np.asarray(W)
            arrays[f"H_{i}"] = np.asarray(H)
        meta = json.dumps(self._meta(), default=_json_default, allow_nan=True)
        arrays["meta"] = np.array(meta)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    def save(self, path: str | Path) -> None:
        """Write the result to ``path`` (an ``.npz`` file)."""
        Path(path).write_bytes(self.to_npz_bytes())

    @classmethod
    def from_npz_bytes(cls, data: bytes, *, max_bytes: int | None = None) -> FitResult:
        """Read a result written by :meth:`to_npz_bytes`.

        Every field is checked before it is used (:func:`read_run_npz`): a file that is not a
        dnmf run, or one whose factors are not finite and nonnegative or do not chain
        (W_ℓ is m × r_ℓ, H_1 is r_1 × n, H_ℓ is r_ℓ × r_{ℓ-1}), raises :class:`RunFileError`
        (a ValueError) with one plain sentence. Nothing is ever unpickled.
        """
        return cls(**read_run_npz(data, max_bytes=max_bytes))

    @classmethod
    def load(cls, path: str | Path) -> FitResult:
        """Read a result saved with :meth:`save`."""
        return cls.from_npz_bytes(Path(path).read_bytes())

    def history_csv(self) -> str:
        """The history as CSV text."""
        return self.history.to_csv(index=False)

    def config_json(self) -> str:
        """The configuration (and final errors, weights, timings) as JSON text."""
        meta = self._meta()
        meta.pop("history")
        meta.pop("init_history")
        return json.dumps(meta, default=_json_default, indent=2, allow_nan=True)


# ------------------------------------------------------------------------- reading run files
class RunFileError(ValueError):
    """An uploaded run file that cannot be used; the message is one plain sentence."""


def _refuse(reason: str) -> RunFileError:
    return RunFileError(f"could not read this run file: {reason}. Upload a .npz exported by "
                        "dnmf (Download → Factors)")


def _npz_headers(zf) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of an open .npz, from the .npy headers alone."""
    fmt = np.lib.format
    out = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise _refuse(f"it holds a member {info.filename[:40]!r} that is not an array")
        with zf.open(info) as fh:
            head = io.BytesIO(fh.read(65536 + 16))
        version = fmt.read_magic(head)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(head)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(head)
        else:
            raise _refuse(f"array {info.filename[:-4][:40]!r} has an unknown format")
        out[info.filename[:-4]] = (tuple(int(n) for n in shape), dtype)
    return out


def _number(v: Any, what: str, *, integer: bool = False) -> Any:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    if integer:
        ok = ok and float(v).is_integer()
    if not ok:
        raise _refuse(f"{what} must be a {'whole ' if integer else ''}number, got "
                      f"{type(v).__name__}")
    return int(v) if integer else float(v)


def _frame(obj: Any, what: str) -> pd.DataFrame | None:
    if obj is None:
        return None
    if not isinstance(obj, dict) or set(obj) != {"columns", "data"}:
        raise _refuse(f"{what} is not a table (expected columns and data)")
    cols, data = obj["columns"], obj["data"]
    if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
        raise _refuse(f"the column names of {what} are not text")
    if len(set(cols)) != len(cols):
        raise _refuse(f"{what} repeats a column name")
    if not isinstance(data, list) or len(data) != len(cols):
        raise _refuse(f"{what} has {len(cols)} column names but "
                      f"{len(data) if isinstance(data, list) else 'no'} columns")
    lengths = {len(c) if isinstance(c, list) else -1 for c in data}
    if -1 in lengths or len(lengths) > 1:
        raise _refuse(f"the columns of {what} do not have the same length")
    if lengths and lengths.pop() > MAX_HISTORY_ROWS:
        raise _refuse(f"{what} has more than {MAX_HISTORY_ROWS:,} rows")
    for name, col in zip(cols, data):
        if name == "phase" or name == "layer" and all(isinstance(v, str) for v in col):
            continue  # text columns some models record
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                   for v in col):
            raise _refuse(f"column {name[:40]!r} of {what} holds values that are not numbers")
    return _frame_from_json(obj)


def read_run_npz(data: bytes, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The validated fields of a run file (keyword arguments of :class:`FitResult`), or
    :class:`RunFileError` naming the first field that does not pass."""
    import zipfile

    limit = MAX_RUN_BYTES if max_bytes is None else int(max_bytes)
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise _refuse("the file is empty")
    if bytes(data[:4]) != b"PK\x03\x04":
        raise _refuse("its content is not a .npz archive (it is some other kind of file, or "
                      "damaged)")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        with zf:
            headers = _npz_headers(zf)
            if "meta" not in headers:
                raise _refuse("it has no 'meta' entry — a .npz of arrays, but not a dnmf run")
            shape, dtype = headers["meta"]
            if dtype.kind != "U" or shape != () or dtype.itemsize > 64 * 1024**2:
                raise _refuse("its 'meta' entry is not the run's description (a JSON text)")
            L = sum(1 for k in headers if k.startswith("W_"))
            names = {f"W_{i}" for i in range(1, L + 1)} | {f"H_{i}" for i in range(1, L + 1)}
            extra = set(headers) - names - {"meta"}
            if L == 0 or extra:
                raise _refuse("its factors are not W_1 … W_L and H_1 … H_L"
                              + (f" (found {sorted(extra)[0][:40]!r})" if extra else ""))
            if L > MAX_RUN_LAYERS:
                raise _refuse(f"it has {L} layers; at most {MAX_RUN_LAYERS} are accepted")
            total = 0
            for k in sorted(names):
                shp, dt = headers[k]
                if len(shp) != 2:
                    raise _refuse(f"{k} is not a matrix (shape {shp})")
                if dt.hasobject or dt.kind not in "iuf":
                    raise _refuse(f"{k} does not hold real numbers ({dt})")
                total += shp[0] * shp[1] * 8
            if total > limit:
                raise _refuse(f"its factors take {total / 1024**2:.0f} MiB; at most "
                              f"{limit / 1024**2:.0f} MiB are accepted")
            W = [headers[f"W_{i}"][0] for i in range(1, L + 1)]
            H = [headers[f"H_{i}"][0] for i in range(1, L + 1)]
            m = W[0][0]
            for ell in range(1, L + 1):
                (mw, r), (rh, c) = W[ell - 1], H[ell - 1]
                prev = f"r_{ell - 1} = {H[ell - 2][0]}" if ell > 1 else "n"
                if mw != m:
                    raise _refuse(f"W_{ell} has {mw} rows but W_1 has {m}")
                if rh != r:
                    raise _refuse(f"W_{ell} is {mw}×{r} but H_{ell} has {rh} rows; they do "
                                  "not multiply")
                if ell > 1 and c != H[ell - 2][0]:
                    raise _refuse(f"H_{ell} has {c} columns but {prev} (the rows of "
                                  f"H_{ell - 1})")
                if min(mw, r, c) < 1:
                    raise _refuse(f"W_{ell} or H_{ell} is empty")
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta_text = str(npz["meta"])
                Ws = [np.asarray(npz[f"W_{i}"], dtype=np.float64) for i in range(1, L + 1)]
                Hs = [np.asarray(npz[f"H_{i}"], dtype=np.float64) for i in range(1, L + 1)]
    except RunFileError:
        raise
    except Exception as exc:  # zip/npy damage of any kind: a plain message, no details
        raise _refuse(f"the archive is damaged ({type(exc).__name__})") from None
    for name, A in [*((f"W_{i}", a) for i, a in enumerate(Ws, 1)),
                    *((f"H_{i}", a) for i, a in enumerate(Hs, 1))]:
        if not np.all(np.isfinite(A)):
            raise _refuse(f"{name} has NaN or infinite entries")
        if A.size and A.min() < 0:
            raise _refuse(f"{name} has negative entries (min {A.min():.3g}); NMF factors are "
                          "nonnegative")
    try:
        meta = json.loads(meta_text)
    except (ValueError, RecursionError):
        raise _refuse("its description ('meta') is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != "dnmf.FitResult":
        raise _refuse("its description does not say it is a dnmf.FitResult")
    version = meta.get("version")
    if not (isinstance(version, int) and 1 <= version <= FORMAT_VERSION):
        raise _refuse(f"it has format version {str(version)[:20]!r}; this dnmf reads "
                      f"version {FORMAT_VERSION}")
    config = meta.get("config") or {}
    if not isinstance(config, dict):
        raise _refuse("its config is not a mapping")
    weights = meta.get("weights")
    if weights is not None:
        if not isinstance(weights, list) or len(weights) != L:
            raise _refuse(f"its weights λ are not a list of {L} numbers")
        weights = np.array([_number(w, "every weight λ") for w in weights])
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise _refuse("its weights λ are not positive finite numbers")
    errors = meta.get("layer_errors") or []
    if not isinstance(errors, list) or len(errors) not in (0, L):
        raise _refuse(f"its layer_errors are not a list of {L} numbers")
    errors = np.array([math.nan if e is None else _number(e, "every layer error")
                       for e in errors], dtype=float)
    n_iter = _number(meta.get("n_iter", 0), "n_iter", integer=True)
    if n_iter < 0:
        raise _refuse("n_iter is negative")
    timings = meta.get("timings") or {}
    if not isinstance(timings, dict):
        raise _refuse("its timings are not a mapping")
    timings = {str(k): _number(v, f"timing {str(k)[:40]!r}") for k, v in timings.items()}
    stopped = meta.get("stopped_early", False)
    if not isinstance(stopped, bool):
        raise _refuse("stopped_early is not true/false")
    history = _frame(meta.get("history"), "the history")
    init_history = _frame(meta.get("init_history"), "the initialisation history")
    if history is not None:
        bad = [c for c in history.columns if c.startswith("error_layer_")
               and not (c[12:].isdigit() and 1 <= int(c[12:]) <= L)]
        if bad:
            raise _refuse(f"its history has a column {bad[0][:40]!r} for a layer it does "
                          "not have")
    return dict(W=Ws, H=Hs, history=pd.DataFrame() if history is None else history,
                config=config, weights=weights, layer_errors=errors, n_iter=n_iter,
                timings=timings, stopped_early=stopped, init_history=init_history)
