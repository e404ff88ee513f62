"""The session's run store: ``st.session_state["runs"]`` maps a run name to a :class:`Run`.

A run is a :class:`dnmf.FitResult` plus what the workbench needs around it: the configuration
the user chose, the dataset it was fitted on (by name; the dataset itself is kept in
``st.session_state["datasets"]`` while a run uses it), the wall time and when it was made.

The store is capped (:data:`MAX_RUNS` runs and :data:`MAX_BYTES` of factors); adding a run
beyond a cap drops the oldest runs and leaves a notice naming them. The Model page warns
*before* a fit that would drop a run and offers its download first.

Fitted models live only in the user's session state — never in ``st.cache_resource``, which
every session shares.
"""

from __future__ import annotations

import io
import math
import time
import zipfile
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

from dnmf import FitResult
from dnmf.datasets import MAX_UPLOAD_BYTES
from dnmf.result import RunFileError as FitResultError
from dnmf.ui import config as cfgmod

#: At most this many runs are kept per session.
MAX_RUNS = 12
#: … and at most this many bytes of factors (W's and H's) over all runs.
MAX_BYTES = 400 * 1024**2

RUNS = "runs"
DATASETS = "datasets"
NOTICES = "notices"
#: Session key of the persistent store behind the cache (a :class:`dnmf.ui.workspace.Backing`,
#: set by ``workspace.begin``); without it the runs live in the session only.
BACKING = "_run_backing"


@dataclass
class Run:
    """One fit kept in the session."""

    name: str
    result: FitResult
    config: dict[str, Any]
    dataset: str
    kind: str
    seconds: float
    created: float = field(default_factory=time.time)
    #: "done", "stopped" (by the user) or "interrupted" (its job died; last checkpoint)
    status: str = "done"

    @property
    def model(self) -> str:
        return str(self.config.get("model") or self.result.config.get("model", "?"))

    @property
    def nbytes(self) -> int:
        return int(sum(np.asarray(a).nbytes for a in [*self.result.W, *self.result.H]))

    @property
    def label(self) -> str:
        """``name — deep · KL · ranks 20-10-5 … on faces``."""
        return f"{self.name} — {cfgmod.describe(self.config)} on {self.dataset}"


def _state(state: MutableMapping | None) -> MutableMapping:
    return st.session_state if state is None else state


def runs(state: MutableMapping | None = None) -> dict[str, Run]:
    """The run store (created empty if missing). Insertion order is age order."""
    s = _state(state)
    if RUNS not in s:
        s[RUNS] = {}
    return s[RUNS]


def datasets(state: MutableMapping | None = None) -> dict[str, Any]:
    """Datasets used by the runs, by name."""
    s = _state(state)
    if DATASETS not in s:
        s[DATASETS] = {}
    return s[DATASETS]


def notify(text: str, level: str = "info", state: MutableMapping | None = None) -> None:
    """Leave a message for the next page render (shown once by :func:`pop_notices`)."""
    s = _state(state)
    s.setdefault(NOTICES, [])
    s[NOTICES].append((level, text))


def pop_notices(state: MutableMapping | None = None) -> list[tuple[str, str]]:
    s = _state(state)
    out = list(s.get(NOTICES, []))
    s[NOTICES] = []
    return out


def total_bytes(state: MutableMapping | None = None) -> int:
    return sum(r.nbytes for r in runs(state).values())


def unique_name(base: str, state: MutableMapping | None = None) -> str:
    """``base``, or ``base (2)``, ``base (3)``, … whichever is free."""
    existing = runs(state)
    base = base.strip() or "run"
    if base not in existing:
        return base
    i = 2
    while f"{base} ({i})" in existing:
        i += 1
    return f"{base} ({i})"


def suggest_name(cfg: dict[str, Any], dataset_name: str, state=None) -> str:
    beta = cfgmod.beta_of(cfg)
    beta_name = ("" if beta is None else
                 {1.0: "KL", 0.0: "IS", 2.0: "Fro", 1.5: "b1.5"}.get(beta, f"b{beta:g}") + "-")
    model = cfgmod.spec_of(cfg).name if cfgmod.spec_of(cfg) else cfg.get("model", "run")
    return unique_name(f"{model}-{beta_name}{dataset_name}", state)


def would_drop(n_new: int = 1, new_bytes: int = 0, state=None) -> list[str]:
    """Names of the runs that adding ``n_new`` runs (of ``new_bytes`` in all) would drop."""
    store = runs(state)
    names = list(store)
    count = len(names) + n_new
    size = sum(r.nbytes for r in store.values()) + new_bytes
    dropped = []
    while names and (count > MAX_RUNS or size > MAX_BYTES):
        old = names.pop(0)
        dropped.append(old)
        count -= 1
        size -= store[old].nbytes
    return dropped


def add_run(run: Run, dataset=None, state: MutableMapping | None = None) -> list[str]:
    """Store ``run`` (renamed if its name is taken), drop the oldest runs beyond the caps and
    return the names dropped. A notice names every dropped run."""
    s = _state(state)
    store = runs(s)
    run.name = unique_name(run.name, s)
    backing = s.get(BACKING)
    if backing is not None:  # the store applies the caps (to what it stores)
        dropped = [n for n in backing.put(run) if n in store]
    else:
        dropped = [n for n in would_drop(1, run.nbytes, s) if n in store]
    for name in dropped:
        store.pop(name, None)
        notify(
            f"Run '{name}' was dropped: a session keeps at most {MAX_RUNS} runs and "
            f"{MAX_BYTES // 1024**2} MiB of factors (oldest dropped first).",
            "warning",
            s,
        )
    store[run.name] = run
    if dataset is not None:
        datasets(s)[run.dataset] = dataset
    _prune_datasets(s)
    return dropped


def delete_run(name: str, state: MutableMapping | None = None) -> None:
    s = _state(state)
    if s.get(BACKING) is not None:
        s[BACKING].delete(name)
    runs(s).pop(name, None)
    _prune_datasets(s)


def rename_run(old: str, new: str, state: MutableMapping | None = None) -> str:
    """Rename a run, keeping its place in the store. Raises ValueError for an empty or taken
    name."""
    s = _state(state)
    store = runs(s)
    new = new.strip()
    if not new:
        raise ValueError("a run name cannot be empty")
    if new == old:
        return old
    if new in store:
        raise ValueError(f"there is already a run called '{new}'")
    if old not in store:
        raise ValueError(f"there is no run called '{old}'")
    if s.get(BACKING) is not None:
        s[BACKING].rename(old, new)
    items = [(new if k == old else k, v) for k, v in store.items()]
    store.clear()
    for k, v in items:
        store[k] = v
    store[new].name = new
    return new


def _prune_datasets(s: MutableMapping) -> None:
    used = {r.dataset for r in runs(s).values()}
    current = s.get("dataset")
    keep = used | ({current.name} if current is not None else set())
    ds = datasets(s)
    for name in list(ds):
        if name not in keep:
            ds.pop(name)


def dataset_of(run: Run, state: MutableMapping | None = None):
    """The dataset a run was fitted on, if the session still has it (or can reload it as an
    embedded sample); None otherwise."""
    s = _state(state)
    ds = datasets(s).get(run.dataset)
    if ds is not None and _fits(run, ds):
        return ds
    current = s.get("dataset")
    if current is not None and current.name == run.dataset and _fits(run, current):
        return current
    sample = (run.config.get("app") or {}).get("sample") or run.result.config.get("app", {}).get(
        "sample"
    )
    if sample:
        from dnmf.datasets import load_sample

        try:
            ds = load_sample(sample["name"], **(sample.get("options") or {}))
        except (ValueError, KeyError, TypeError):
            return None
        if _fits(run, ds):
            datasets(s)[run.dataset] = ds
            return ds
    return None


def _fits(run: Run, ds) -> bool:
    """True when ``ds`` has the shape the run's factors were fitted on."""
    return tuple(ds.shape) == (run.result.W[0].shape[0], run.result.H[0].shape[1])


# ----------------------------------------------------------------------- export / import
def _with_app_meta(run: Run) -> FitResult:
    """The run's FitResult with the workbench's metadata in ``config["app"]`` (so an exported
    run comes back with its name, dataset and configuration)."""
    res = run.result
    config = dict(res.config)
    config["app"] = {
        "run_name": run.name,
        "dataset": run.dataset,
        "kind": run.kind,
        "seconds": run.seconds,
        "ui_config": {k: v for k, v in run.config.items() if k != "app"},
        "sample": run.config.get("app", {}).get("sample"),
    }
    return FitResult(
        W=res.W, H=res.H, history=res.history, config=config, weights=res.weights,
        layer_errors=res.layer_errors, n_iter=res.n_iter, timings=res.timings,
        stopped_early=res.stopped_early, init_history=res.init_history,
    )


def export_npz(run: Run) -> bytes:
    """The run as a ``.npz`` (factors + JSON metadata; loadable without pickle)."""
    return _with_app_meta(run).to_npz_bytes()


def export_json(run: Run) -> str:
    return _with_app_meta(run).config_json()


def export_csv(run: Run) -> str:
    return run.result.history_csv()


def export_zip(run: Run) -> bytes:
    """npz factors + json config + csv history in one zip."""
    buf = io.BytesIO()
    stem = safe_filename(run.name)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{stem}.npz", export_npz(run))
        z.writestr(f"{stem}.json", export_json(run))
        z.writestr(f"{stem}_history.csv", export_csv(run))
    return buf.getvalue()


def safe_filename(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return keep.strip("_") or "run"


def _text_field(v, what: str, default: str, limit: int = 200) -> str:
    """A short single-line text from an uploaded run (control characters removed)."""
    if v is None:
        return default
    if not isinstance(v, str):
        raise FitResultError(f"could not read this run file: its {what} is not text. Upload a "
                             ".npz exported by dnmf (Download → Factors)")
    clean = "".join(c if c.isprintable() else " " for c in v).strip()
    return clean[:limit] or default


def import_npz(data: bytes, filename: str = "run.npz") -> Run:
    """A run from bytes written by :func:`export_npz` (or ``FitResult.to_npz_bytes``).

    Every field is validated (:func:`dnmf.result.read_run_npz`, and here the workbench's own
    ``config["app"]``); anything else raises ValueError with one plain sentence. Never
    unpickles. The run's size counts against :data:`MAX_BYTES`.
    """
    from dnmf.datasets import KINDS

    if len(data) > MAX_UPLOAD_BYTES:
        raise FitResultError(f"could not read this run file: it is {len(data) / 1e6:.0f} MB; "
                             f"uploads are limited to {MAX_UPLOAD_BYTES // 1000**2} MB")
    result = FitResult.from_npz_bytes(data, max_bytes=MAX_BYTES)
    app = result.config.get("app") or {}
    if not isinstance(app, dict):
        raise FitResultError("could not read this run file: its config['app'] is not a "
                             "mapping. Upload a .npz exported by dnmf (Download → Factors)")
    ui_config = app.get("ui_config") or {}
    if not isinstance(ui_config, dict):
        raise FitResultError("could not read this run file: its ui_config is not a mapping. "
                             "Upload a .npz exported by dnmf (Download → Factors)")
    ui_config = dict(ui_config)
    if not ui_config:
        ui_config = {
            k: result.config.get(k)
            for k in ("model", "beta", "ranks", "n_init_iter", "max_iter", "random_state",
                      "dtype", "weights")
            if k in result.config
        }
        ui_config.setdefault("layer_init", result.config.get("layer_init",
                                                              result.config.get("init")))
    ui_config["ranks"] = list(result.ranks)  # the factors say what the ranks are
    for key, integer in (("beta", False), ("n_init_iter", True), ("max_iter", True),
                         ("random_state", True)):
        v = ui_config.get(key)
        if v is None:
            continue
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) \
                or (integer and not float(v).is_integer()) or v < 0:
            raise FitResultError(f"could not read this run file: its {key} is not a "
                                 f"{'whole ' if integer else ''}nonnegative number. Upload a "
                                 ".npz exported by dnmf (Download → Factors)")
    if "model" in ui_config:
        ui_config["model"] = _text_field(ui_config["model"], "model", "?", 40)
    sample = app.get("sample")
    if sample is not None:
        if not (isinstance(sample, dict) and isinstance(sample.get("name"), str)
                and isinstance(sample.get("options") or {}, dict)):
            raise FitResultError("could not read this run file: its sample description is "
                                 "malformed. Upload a .npz exported by dnmf")
        ui_config["app"] = {"sample": {"name": sample["name"],
                                       "options": dict(sample.get("options") or {})}}
    kind = app.get("kind") or "generic"
    if kind not in KINDS:
        raise FitResultError(f"could not read this run file: its kind must be one of "
                             f"{', '.join(KINDS)}. Upload a .npz exported by dnmf")
    seconds = app.get("seconds")
    if seconds is None:
        seconds = result.timings.get("total", 0.0)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not \
            math.isfinite(seconds) or seconds < 0:
        raise FitResultError("could not read this run file: its run time is not a "
                             "nonnegative number. Upload a .npz exported by dnmf")
    stem = filename.rsplit(".", 1)[0]
    return Run(
        name=_text_field(app.get("run_name"), "run name", _text_field(stem, "file name",
                                                                        "run")),
        result=result,
        config=ui_config,
        dataset=_text_field(app.get("dataset"), "dataset name", "unknown data"),
        kind=str(kind),
        seconds=float(seconds),
    )
