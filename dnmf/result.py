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

__all__ = ["FitResult", "IterationInfo", "features_product"]

FORMAT_VERSION = 1


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
    """

    iteration: int
    total_iterations: int
    phase: str
    seconds: float
    layer_errors: np.ndarray
    objective: float = math.nan

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
    def from_npz_bytes(cls, data: bytes) -> FitResult:
        """Read a result written by :meth:`to_npz_bytes`; raises ValueError on a foreign file."""
        meta = None
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                files = set(npz.files)
                if "meta" in files:
                    meta = json.loads(str(npz["meta"]))
                    n_layers = sum(1 for name in files if name.startswith("W_"))
                    W = [npz[f"W_{i}"] for i in range(1, n_layers + 1)]
                    H = [npz[f"H_{i}"] for i in range(1, n_layers + 1)]
        except Exception as exc:  # BadZipFile, pickled object arrays, KeyError, JSON errors
            raise ValueError(
                f"could not read the run file ({type(exc).__name__}: {exc}); "
                "upload a .npz exported by dnmf"
            ) from None
        if meta is None:
            raise ValueError(
                "this .npz file is not a dnmf run export (no 'meta' entry); "
                "export runs from dnmf and upload that file"
            )
        if not isinstance(meta, dict) or meta.get("format") != "dnmf.FitResult":
            raise ValueError("this .npz file is not a dnmf run export")
        if n_layers == 0 or any(w.ndim != 2 for w in W) or any(h.ndim != 2 for h in H):
            raise ValueError("the run file has no valid factors W_1 … W_L, H_1 … H_L")
        weights = meta.get("weights")
        history = _frame_from_json(meta.get("history"))
        return cls(
            W=W,
            H=H,
            history=pd.DataFrame() if history is None else history,
            config=meta.get("config") or {},
            weights=None if weights is None else np.asarray(weights, dtype=float),
            layer_errors=np.asarray(meta.get("layer_errors") or [], dtype=float),
            n_iter=int(meta.get("n_iter", 0)),
            timings=meta.get("timings") or {},
            stopped_early=bool(meta.get("stopped_early", False)),
            init_history=_frame_from_json(meta.get("init_history")),
        )

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
