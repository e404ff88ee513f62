"""Data layer of dnmf: the `Dataset` type, embedded samples, file readers and validation.

    from dnmf.datasets import list_samples, load_sample, load_file, load_paper_dataset
    from dnmf.datasets import Dataset, DataError, validate_matrix

* `list_samples()` / `load_sample(name, **options)` — offline samples: "faces", "digits",
  "stdlib-text", "spectral-scene", "synthetic-layers", "synthetic-thesis".
* `load_file(path_or_bytes, name=None, **options)` — CSV/TSV, NPY/NPZ, MATLAB v5, text corpora,
  ZIPs of .txt or images; one clear `DataError` (with ``.fixes``) for every bad file.
* `load_paper_dataset(name, data_dir=None)` — the paper's real datasets ("cbcl", "tdt2",
  "moffett", "samson", "jasper", "tumor") from ``../shared/data``; `paper_settings(ds)` —
  the paper's model settings for one of them (docs/paper_settings.md).
* `read_ground_truth(bytes, filename)` / `attach_ground_truth(ds, truth)` — ground truth in
  its own file (Samson's end3.mat, endmembers or per-layer factors, labels).
* `load_online_dataset(name)` — "olivetti", "20newsgroups": downloaded by scikit-learn on
  first use; a clear `DataError` offline.
* `validate_matrix(X, on_negative=, on_nonfinite=, drop_empty=, max_bytes=)` — the checks
  every matrix passes (also for the solver and the app).

Orientation (DESIGN.md §1): images are images × pixels (one image per row); spectra are
bands × pixels; text is words × documents; a generic table is samples × features (one sample
per row, as pandas and scikit-learn) unless the file or ``samples_as=`` says otherwise.
Limits: matrices up to ``MAX_MATRIX_BYTES`` (2 GiB as dense float64), uploads up to
``MAX_UPLOAD_BYTES`` (200 MB).
"""

from ._types import (
    KINDS,
    MAX_MATRIX_BYTES,
    MAX_UPLOAD_BYTES,
    DataError,
    Dataset,
    parse_fix,
)
from .online import list_online_datasets, load_online_dataset
from .paper import (
    PAPER_SETTINGS,
    list_paper_datasets,
    load_paper_dataset,
    paper_data_available,
    paper_name,
    paper_settings,
)
from .readers import load_file
from .samples import describe_sample, list_samples, load_sample, sample_options
from .spectral import spectral_scene
from .synthetic import THESIS_NOISE_LEVELS, layered, thesis_example
from .text import corpus_dataset
from .truth import attach_ground_truth, looks_like_ground_truth, read_ground_truth
from .validation import validate_dataset, validate_matrix

__all__ = [
    "KINDS",
    "MAX_MATRIX_BYTES",
    "MAX_UPLOAD_BYTES",
    "PAPER_SETTINGS",
    "THESIS_NOISE_LEVELS",
    "DataError",
    "Dataset",
    "attach_ground_truth",
    "corpus_dataset",
    "describe_sample",
    "layered",
    "list_online_datasets",
    "list_paper_datasets",
    "list_samples",
    "load_file",
    "load_online_dataset",
    "load_paper_dataset",
    "load_sample",
    "looks_like_ground_truth",
    "paper_data_available",
    "paper_name",
    "paper_settings",
    "read_ground_truth",
    "parse_fix",
    "sample_options",
    "spectral_scene",
    "thesis_example",
    "validate_dataset",
    "validate_matrix",
]
