"""Every experiment of the paper's Section 4 as one function and one command.

    python -m dnmf.reproduce EXPERIMENT --data DIR [--seeds N] [--quick] [--out DIR]

=========  ===========================================================================
table2     CBCL: Table 2 (mean ± std over seeds), Fig. 2 ratio curves, Fig. 3 features
tdt2       TDT2: Fig. 4 ratios, Tables 3–4 (top words of layers 2 and 3, merges from H_3)
moffett    Moffett: Figs 6–7, abundance maps of min-vol deep KL-NMF, LC-DMF, multilayer
samson     Samson: Figs 10–11 and SAD / MRSA / abundance RMSE against end3.mat
tumor      Tumor: Figs 8–9
jasper     Jasper Ridge (the authors' scripts' r = (6, 4)): abundance maps
=========  ===========================================================================

Each function returns a :class:`Report` (the "quantity | paper | dnmf" rows, a JSON-able dict
of numbers, plotly figures, tables and the fits as :class:`~dnmf.result.FitResult`);
:func:`write_report` writes them. The parameters and the paper's numbers each experiment
uses are listed in ``docs/reproduce.md``.
"""

from ._common import Report, ReproduceError, write_report
from .hsi import reproduce_jasper, reproduce_moffett, reproduce_samson, reproduce_tumor
from .table2 import reproduce_table2
from .tdt2 import reproduce_tdt2

EXPERIMENTS = {
    "table2": reproduce_table2,
    "tdt2": reproduce_tdt2,
    "moffett": reproduce_moffett,
    "samson": reproduce_samson,
    "tumor": reproduce_tumor,
    "jasper": reproduce_jasper,
}

#: The files each experiment reads (the app asks for these).
EXPERIMENT_FILES = {
    "table2": ("CBCL.mat",),
    "tdt2": ("TDT2_500words.mat",),
    "moffett": ("Moffet.mat",),
    "samson": ("samson_1.mat", "end3.mat"),
    "tumor": ("Tumor.mat",),
    "jasper": ("jasperRidge2_R198.mat",),
}


def run_experiment(name: str, data_dir=None, **options) -> Report:
    """Run the experiment called ``name`` (a key of :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ReproduceError(f"unknown experiment {name!r}; choose one of "
                             + ", ".join(EXPERIMENTS))
    return EXPERIMENTS[name](data_dir, **options)


def run_task(name: str, data_dir=None, **options) -> Report | ReproduceError:
    """:func:`run_experiment` for a job runner: a missing or wrong data file comes back as the
    :class:`ReproduceError` (its message names the file) instead of being raised, so the app
    can tell it from a failure of the job itself."""
    try:
        return run_experiment(name, data_dir, **options)
    except ReproduceError as exc:
        return exc


__all__ = ["EXPERIMENTS", "EXPERIMENT_FILES", "Report", "ReproduceError", "run_experiment",
           "run_task",
           "write_report", "reproduce_table2", "reproduce_tdt2", "reproduce_moffett",
           "reproduce_samson", "reproduce_tumor", "reproduce_jasper"]
