"""What every experiment of :mod:`dnmf.reproduce` shares: data files, progress, the report."""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..datasets import DataError
from ..datasets.paper import default_data_dir
from ..estimators import DeepNMF, MultilayerNMF

__all__ = ["ReproduceError", "Report", "Runner", "load_paper_file", "write_report"]

#: Where each file comes from and what it must hold (docs/reproduce.md has the full table).
FILES = {
    "CBCL.mat": ("cbcl", "X 361×2429, one 19×19 face per column"),
    "TDT2_500words.mat": ("tdt2", "X 9394×19528 sparse counts, words, classid, K"),
    "Moffet.mat": ("moffett", "X 159×2500, bands × pixels of a 50×50 scene"),
    "samson_1.mat": ("samson", "V 156×9025, nRow, nCol"),
    "end3.mat": ("samson-truth", "M 156×3 endmembers, A 3×9025 abundances, cood"),
    "Tumor.mat": ("tumor", "M 519×143, spectra × voxels of a 13×11 grid"),
    "jasperRidge2_R198.mat": ("jasper", "Y 198×10000 uint16, nRow, nCol, maxValue"),
}
SOURCE = ("the paper's data files are published with the authors' MATLAB code "
          "(github.com/vleplat/deep-KL-NMF-public)")

#: progress(message, fraction in [0, 1]) -> False to stop
ProgressFn = Callable[[str, float], "bool | None"]


class ReproduceError(ValueError):
    """A data file is missing or is not the file the experiment needs."""


class Stopped(Exception):
    """The progress callback asked to stop."""


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir) if data_dir is not None else default_data_dir()


def load_paper_file(filename: str, data_dir=None, files: Mapping[str, Any] | None = None,
                    **options: Any):
    """The :class:`~dnmf.datasets.Dataset` of one of the paper's files, checked.

    ``files`` maps file names to bytes (uploads) and wins over ``data_dir``. Raises
    :class:`ReproduceError` naming the file, what it must hold and where it comes from.
    """
    from ..datasets import load_file

    expected, holds = FILES[filename]
    source: Any
    if files is not None and filename in files:
        source = files[filename]
        where = "the uploaded file"
    else:
        path = resolve_data_dir(data_dir) / filename
        if not path.is_file():
            raise ReproduceError(
                f"{filename} was not found in {path.parent}. It must hold {holds}; {SOURCE} "
                "(docs/data.md lists the files). Pass --data DIR, set DNMF_DATA_DIR "
                "or upload it.")
        source = path
        where = str(path)
    if expected == "samson-truth":
        return _samson_truth(source, where)
    try:
        ds = load_file(source, filename=filename if not isinstance(source, Path) else None,
                       **options)
    except (DataError, ValueError, OSError) as exc:
        raise ReproduceError(f"{filename} ({where}) could not be read: {exc}") from exc
    if ds.name != expected:
        raise ReproduceError(
            f"{where} is not the paper's {filename}: it must hold {holds} (it was read as "
            f"{ds.X.shape[0]}×{ds.X.shape[1]} '{ds.name}' data).")
    return ds


def _samson_truth(source, where: str) -> dict:
    from scipy.io import loadmat

    try:
        t = loadmat(io.BytesIO(source) if isinstance(source, bytes) else str(source))
        M = np.asarray(t["M"], dtype=float)
        A = np.asarray(t["A"], dtype=float)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise ReproduceError(f"end3.mat ({where}) could not be read as Samson's ground truth "
                             f"(M 156×3, A 3×9025): {exc}") from exc
    if M.shape != (156, 3) or A.shape != (3, 9025):
        raise ReproduceError(f"{where} is not Samson's end3.mat: M must be 156×3 and A 3×9025, "
                             f"got {M.shape} and {A.shape}.")
    return {"M": M, "A": A, "names": ["soil", "tree", "water"]}


@dataclass
class Report:
    """What one experiment produced.

    Attributes
    ----------
    experiment : str
    rows : list of (quantity, paper, dnmf) strings — the comparison table
    numbers : JSON-able dict of every number
    figures : name -> plotly Figure
    tables : name -> DataFrame (e.g. topic tables)
    fits : name -> FitResult (the app adds them to the session's runs)
    notes : list of str
    stopped : bool, the run was stopped before the end
    dataset : the Dataset the fits ran on (the app keeps it with the runs)
    """

    experiment: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    numbers: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopped: bool = False
    dataset: Any = None

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["quantity", "paper", "dnmf"])

    def markdown(self) -> str:
        lines = ["| quantity | paper | dnmf |", "|---|---|---|"]
        lines += [f"| {q} | {p} | {d} |" for q, p, d in self.rows]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"experiment": self.experiment, "stopped": self.stopped,
                           "rows": self.rows, "numbers": _jsonable(self.numbers),
                           "notes": self.notes,
                           "tables": {k: v.to_dict(orient="records")
                                      for k, v in self.tables.items()}},
                          indent=1, ensure_ascii=False)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


class Runner:
    """Counts the work of an experiment and turns a progress function into fit callbacks.

    ``total`` is the number of iterations the experiment will run (all fits together);
    each fit's callback reports ``done + its own iteration`` over it. A progress function
    that returns False stops the current fit (its callback returns False) and every later
    one (:meth:`check` raises :class:`Stopped`).
    """

    def __init__(self, total: int, progress: ProgressFn | None = None) -> None:
        self.total = max(1, int(total))
        self.progress = progress
        self.done = 0
        self.stopped = False
        self._last = 0.0

    def say(self, message: str) -> None:
        self.check()
        if self.progress is not None and self.progress(message, self.done / self.total) is False:
            self.stopped = True
            raise Stopped

    def check(self) -> None:
        if self.stopped:
            raise Stopped

    def callback(self, label: str, iterations: int):
        start = self.done

        def on_iteration(info) -> bool:
            now = time.monotonic()
            self.done = start + min(info.iteration, iterations)
            last = info.iteration >= info.total_iterations
            if self.progress is not None and (now - self._last >= 0.25 or last):
                self._last = now
                text = f"{label}: {info.phase}, iteration {info.iteration}/{info.total_iterations}"
                if self.progress(text, self.done / self.total) is False:
                    self.stopped = True
            return not self.stopped

        return on_iteration

    def finish(self, label: str, iterations: int, start: int) -> None:
        self.done = start + iterations
        if self.stopped:
            raise Stopped

    def fit(self, label: str, model, X, iterations: int, **fit_args):
        """Fit ``model`` with this runner's callback; raises :class:`Stopped` if stopped."""
        self.check()
        start = self.done
        model.set_params(callback=self.callback(label, iterations))
        model.fit(X, **fit_args)
        model.set_params(callback=None)
        self.finish(label, iterations, start)
        return model


def pair_iterations(n_layers: int, it: Mapping[str, int]) -> int:
    """The MU iterations of one seed of :func:`fit_pair` with the budget ``it``."""
    return n_layers * it["ml_iter"] + n_layers * it["init_iter"] + it["deep_iter"]


def fit_pair(runner: Runner, seed: int, X, ranks, it: Mapping[str, int], weights="auto"):
    """The two fits of one seed of Tables 2 and 3: multilayer KL-NMF (``it["ml_iter"]`` MU
    iterations per layer) and deep KL-NMF (``it["init_iter"]`` per layer of warm start, then
    ``it["deep_iter"]``) with the weights λ ``weights``. Returns (multilayer, deep)."""
    L = len(ranks)
    ml = runner.fit(f"seed {seed} multilayer", MultilayerNMF(
        ranks=ranks, max_iter=it["ml_iter"], random_state=seed, eval_every=0), X,
        L * it["ml_iter"])
    deep = runner.fit(f"seed {seed} deep", DeepNMF(
        ranks=ranks, weights=weights, n_init_iter=it["init_iter"], max_iter=it["deep_iter"],
        random_state=seed, eval_every=5), X, L * it["init_iter"] + it["deep_iter"])
    return ml, deep


def fmt_pm(values, digits: int = 1) -> str:
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def write_report(report: Report, out_dir: str | os.PathLike, *, png: bool = True,
                 say: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Write ``<experiment>.json``, the table (``.md``), every figure as HTML and PNG.

    PNG export needs kaleido and a Chromium-based browser; when either is missing the HTML
    files are still written and the reason is returned under ``"skipped"``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {"json": [], "html": [], "png": [], "skipped": []}
    base = out / report.experiment
    (base.with_suffix(".json")).write_text(report.to_json(), encoding="utf-8")
    (base.with_suffix(".md")).write_text(report.markdown() + "\n", encoding="utf-8")
    written["json"].append(str(base.with_suffix(".json")))
    for name, table in report.tables.items():
        table.to_csv(out / f"{report.experiment}_{name}.csv", index=False)
    names = list(report.figures)
    for name in names:
        path = out / f"{report.experiment}_{name}.html"
        report.figures[name].write_html(path, include_plotlyjs="cdn")
        written["html"].append(str(path))
    if png and names:
        try:
            import plotly.io as pio

            paths = [str(out / f"{report.experiment}_{n}.png") for n in names]
            try:
                pio.write_images([report.figures[n] for n in names], paths, scale=1.5)
            except Exception:  # noqa: BLE001 - retried one by one below
                pass
            for name, path in zip(names, paths):
                # kaleido's batch has dropped files and failed with "kaleido_scopes is not
                # defined" on a loaded machine: each missing file is retried alone, twice
                error: Exception | str = "no file written"
                for _ in range(2):
                    if Path(path).is_file():
                        break
                    try:
                        report.figures[name].write_image(path, scale=1.5)
                    except Exception as exc:  # noqa: BLE001
                        error = exc
                if Path(path).is_file():
                    written["png"].append(path)
                else:
                    written["skipped"].append(f"{Path(path).name}: PNG export failed "
                                              f"({type(error).__name__}: {error})")
                    say(written["skipped"][-1])
        except ImportError as exc:  # kaleido missing: HTML is enough
            written["skipped"].append(f"PNG export skipped ({exc})")
            say(written["skipped"][-1])
    return written


def pct(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}"
