"""Text corpora → words × documents count matrices.

* `corpus_dataset`: a list of documents → `Dataset` (kind "text") with scikit-learn's
  ``CountVectorizer`` (English stop words, min/max document frequency, ``max_features``).
* `harvest_stdlib_docstrings`: documents from the docstrings of the Python standard library,
  read by parsing the ``.py`` sources with `ast` — nothing is imported or executed (so no
  ``antigravity``, ``this``, ``turtle`` … side effects).
* `stdlib_text`: the "stdlib-text" sample, from ``sample_data/stdlib_text.npz`` (precomputed,
  see ``scripts/make_sample_data.py``) or harvested live with ``rebuild=True``.
"""

from __future__ import annotations

import ast
import functools
import os
import sys
import sysconfig
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._types import DataError, Dataset

#: Directories of the stdlib that are not harvested: tests (noisy, huge), demo scripts, bundled
#: third-party code and build/config data. (Parsing is safe for every file — nothing is
#: imported — so GUI packages such as tkinter and idlelib are harvested like the rest.)
SKIP_DIRS = frozenset({
    "site-packages", "dist-packages", "test", "tests", "idle_test", "turtledemo", "lib2to3",
    "ensurepip", "__pycache__", "pydoc_data",
})
MIN_WORDS = 30
TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z]+\b"  # words of ≥ 2 letters, no numbers


def vectorize(
    documents: Sequence[str],
    *,
    max_features: int | None = 2000,
    min_df: float | int | None = None,
    max_df: float | int | None = None,
    stop_words: str | None = "english",
    token_pattern: str = TOKEN_PATTERN,
) -> tuple[sp.csr_matrix, list[str], np.ndarray]:
    """CountVectorizer → (X words × docs CSR float64, vocabulary, kept document indices).

    Defaults adapt to the corpus size: ``min_df`` = 2 documents (1 for < 10 documents),
    ``max_df`` = 0.95 (1.0 for < 20 documents). Documents left without any vocabulary word are
    dropped (their indices are missing from the third output).

    ``max_features`` keeps the most frequent words, equal frequencies in alphabetical order.
    (CountVectorizer's own cut sorts the frequencies with NumPy's unstable sort, whose SIMD
    implementation differs between CPUs: the stdlib corpus kept 43 other words of frequency 6
    on an AMD machine than on an Intel one.)
    """
    from sklearn.feature_extraction.text import CountVectorizer

    docs = [d for d in documents]
    n = len(docs)
    if n == 0:
        raise DataError("The corpus is empty: no documents were found. A text corpus needs "
                        "one document per line (.txt), a text column (CSV), or .txt files "
                        "in a ZIP.")
    if min_df is None:
        min_df = 2 if n >= 10 else 1
    if max_df is None:
        max_df = 0.95 if n >= 20 else 1.0
    cv = CountVectorizer(stop_words=stop_words, min_df=min_df, max_df=max_df,
                         token_pattern=token_pattern, dtype=np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            D = cv.fit_transform(docs)
    except ValueError as exc:
        raise DataError(
            f"The corpus is empty after tokenisation ({exc}). The {n} documents contain no "
            "words that pass the filters (stop words removed, words in at least "
            f"min_df={min_df} documents and at most max_df={max_df} of them). Use more or "
            "longer documents, or relax min_df/max_df.",
            fixes=["min_df=1", "max_df=1.0"] if (min_df != 1 or max_df != 1.0) else [],
        ) from None
    vocab = [str(w) for w in cv.get_feature_names_out()]  # in alphabetical order
    if max_features is not None and len(vocab) > max_features:
        frequency = np.asarray(D.sum(axis=0)).ravel()
        # by frequency, then by word (the columns are alphabetical): a stable sort of -frequency
        top = np.sort(np.argsort(-frequency, kind="stable")[:max_features])
        D = D[:, top]
        vocab = [vocab[i] for i in top]
    X = sp.csr_matrix(D.T, dtype=np.float64)
    keep = np.flatnonzero(X.getnnz(axis=0) > 0)
    if keep.size < X.shape[1]:
        X = X[:, keep]
    return X, vocab, keep


def corpus_dataset(
    documents: Sequence[str],
    *,
    name: str = "corpus",
    titles: Sequence[str] | None = None,
    labels: Sequence[int] | None = None,
    label_names: Sequence[str] | None = None,
    provenance: str = "",
    max_features: int | None = 2000,
    min_df: float | int | None = None,
    max_df: float | int | None = None,
    stop_words: str | None = "english",
) -> Dataset:
    """Documents → `Dataset` (text, words × documents). Empty documents (blank, or without a
    word of the vocabulary) are dropped and counted in the provenance."""
    docs = [str(d) for d in documents]
    idx = [i for i, d in enumerate(docs) if d.strip()]
    if not idx:
        raise DataError("The corpus is empty: no non-blank documents were found.")
    X, vocab, keep = vectorize([docs[i] for i in idx], max_features=max_features,
                               min_df=min_df, max_df=max_df, stop_words=stop_words)
    kept = np.asarray(idx)[keep]
    if titles is None:
        titles = [_snippet(d) for d in docs]
    dropped = len(docs) - kept.size
    prov = provenance.rstrip()
    prov += (" " if prov else "") + (
        f"{len(docs)} documents, CountVectorizer(stop_words={stop_words!r}, "
        f"max_features={max_features}, min_df={min_df if min_df is not None else 'auto'}, "
        f"max_df={max_df if max_df is not None else 'auto'}) → {X.shape[0]} words × "
        f"{X.shape[1]} documents"
        + (f"; {dropped} empty documents dropped" if dropped else "") + "."
    )
    if X.shape[1] < 2:
        raise DataError(f"The corpus has only {X.shape[1]} usable document — a single column. "
                        "NMF needs at least 2 documents.")
    if X.shape[0] < 2:
        raise DataError("The corpus vocabulary has a single word — a single row. Use more "
                        "or longer documents.")
    return Dataset(
        X=X, kind="text", name=name, provenance=prov, vocabulary=vocab,
        documents=[str(titles[i]) for i in kept],
        labels=None if labels is None else np.asarray(labels)[kept],
        label_names=None if label_names is None else list(label_names),
        meta={"documents_kept": kept},
    )


def _snippet(text: str, n: int = 60) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1].rstrip() + "…"


# ------------------------------------------------------------------ stdlib harvest
def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def harvest_stdlib_docstrings(root: str | os.PathLike | None = None,
                              min_words: int = MIN_WORDS) -> list[tuple[str, str, str]]:
    """[(module, qualified name, docstring)] for every module / public class / public function
    docstring of ≥ ``min_words`` words in the standard library, in a deterministic order
    (sorted paths, source order within a file). Uses ``ast.parse`` + ``ast.get_docstring``
    on the source text: no stdlib module is imported."""
    root = Path(root) if root is not None else stdlib_dir()
    out: list[tuple[str, str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not d.startswith((".", "test", "config-")))
        for fn in sorted(filenames):
            if not fn.endswith(".py") or fn.startswith(("test_", "_test")):
                continue
            path = Path(dirpath) / fn
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if not parts:
                continue
            module = ".".join(parts)
            try:
                tree = ast.parse(path.read_bytes(), filename=str(path))
            except (SyntaxError, ValueError, OSError, UnicodeDecodeError):
                continue
            _visit(tree, module, "", out, min_words)
    return out


def _visit(node, module: str, qual: str, out: list, min_words: int) -> None:
    doc = ast.get_docstring(node, clean=True)
    if doc and len(doc.split()) >= min_words:
        out.append((module, qual or module, doc))
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if child.name.startswith("_"):
                continue
            _visit(child, module, f"{qual}.{child.name}" if qual else f"{module}.{child.name}",
                   out, min_words)


def build_stdlib_corpus(max_features: int = 2000, min_df: int = 3, max_df: float = 0.5,
                        min_words: int = MIN_WORDS) -> Dataset:
    """Harvest the running interpreter's stdlib docstrings into a text `Dataset`.

    Two-level ground truth: layer 1 (finer) = module (e.g. ``email.mime.text``), layer 2
    (coarser) = top-level package (``email``); ``labels`` = the package of each document.
    """
    items = harvest_stdlib_docstrings(min_words=min_words)
    if not items:  # pragma: no cover - a Python without sources
        raise DataError("No standard-library sources (.py files) were found to harvest.")
    modules = [m for m, _, _ in items]
    packages = [m.split(".")[0] for m in modules]
    X, vocab, keep = vectorize([d for _, _, d in items], max_features=max_features,
                               min_df=min_df, max_df=max_df)
    titles = [items[i][1] for i in keep]
    mod_names = sorted(set(modules[i] for i in keep))
    pkg_names = sorted(set(packages[i] for i in keep))
    mod_labels = np.array([mod_names.index(modules[i]) for i in keep], dtype=np.int64)
    pkg_labels = np.array([pkg_names.index(packages[i]) for i in keep], dtype=np.int64)
    py = ".".join(str(v) for v in sys.version_info[:3])
    prov = (
        f"Docstrings (≥ {min_words} words) of the Python {py} standard library — modules, "
        "public classes and functions, parsed with ast (nothing imported); tests, turtledemo, "
        "lib2to3, ensurepip and site-packages skipped. "
        f"CountVectorizer(stop_words='english', max_features={max_features}, min_df={min_df}, "
        f"max_df={max_df}) → {X.shape[0]} words × {X.shape[1]} documents. Labels: package "
        "(layer 2) and module (layer 1)."
    )
    return Dataset(
        X=X, kind="text", name="stdlib-text", provenance=prov, vocabulary=vocab,
        documents=titles, labels=pkg_labels, label_names=pkg_names,
        ground_truth={
            "labels": [mod_labels, pkg_labels],
            "label_names": [mod_names, pkg_names],
        },
        meta={"python_version": py},
    )


# ------------------------------------------------------------------ npz round trip
def sample_data_dir() -> Path:
    """The repository's ``sample_data/`` folder (next to the ``dnmf`` package)."""
    return Path(__file__).resolve().parents[2] / "sample_data"


STDLIB_TEXT_FILE = "stdlib_text.npz"


def save_text_npz(ds: Dataset, path: str | os.PathLike) -> None:
    """Write a text Dataset with two-level labels to a compressed npz (no pickled objects)."""
    X = sp.csr_matrix(ds.X)
    gt = ds.ground_truth
    np.savez_compressed(
        path,
        format_version=np.array(1),
        data=X.data.astype(np.float32) if np.all(X.data == np.round(X.data)) else X.data,
        indices=X.indices.astype(np.int32),
        indptr=X.indptr.astype(np.int32),
        shape=np.array(X.shape, dtype=np.int64),
        vocabulary=np.array(ds.vocabulary, dtype=str),
        documents=np.array(ds.documents, dtype=str),
        labels_module=np.asarray(gt["labels"][0], dtype=np.int32),
        labels_package=np.asarray(gt["labels"][1], dtype=np.int32),
        names_module=np.array(gt["label_names"][0], dtype=str),
        names_package=np.array(gt["label_names"][1], dtype=str),
        provenance=np.array(ds.provenance),
        python_version=np.array(ds.meta.get("python_version", "")),
    )


def load_text_npz(path: str | os.PathLike) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        X = sp.csr_matrix((z["data"].astype(np.float64), z["indices"], z["indptr"]),
                          shape=tuple(int(s) for s in z["shape"]))
        mod_labels = z["labels_module"].astype(np.int64)
        pkg_labels = z["labels_package"].astype(np.int64)
        mod_names = [str(s) for s in z["names_module"]]
        pkg_names = [str(s) for s in z["names_package"]]
        return Dataset(
            X=X, kind="text", name="stdlib-text",
            provenance=str(z["provenance"]) + f" Precomputed file sample_data/{STDLIB_TEXT_FILE}.",
            vocabulary=[str(s) for s in z["vocabulary"]],
            documents=[str(s) for s in z["documents"]],
            labels=pkg_labels, label_names=pkg_names,
            ground_truth={"labels": [mod_labels, pkg_labels],
                          "label_names": [mod_names, pkg_names]},
            meta={"python_version": str(z["python_version"])},
        )


@functools.lru_cache(maxsize=2)
def _stdlib_text_cached(rebuild: bool) -> Dataset:
    path = sample_data_dir() / STDLIB_TEXT_FILE
    if not rebuild and path.is_file():
        return load_text_npz(path)
    return build_stdlib_corpus()


def stdlib_text(rebuild: bool = False) -> Dataset:
    """The "stdlib-text" sample: the precomputed ``sample_data/stdlib_text.npz`` if present
    (harvested from Python 3.11), else — or with ``rebuild=True`` — harvested live from the
    running interpreter (a few seconds; cached for the session)."""
    return _stdlib_text_cached(bool(rebuild))
