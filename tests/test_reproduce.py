"""dnmf.reproduce: every experiment runs (--quick), reports the paper beside dnmf, writes its
files, and names a missing or wrong data file."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from dnmf.reproduce import EXPERIMENT_FILES, EXPERIMENTS, ReproduceError, run_experiment
from dnmf.reproduce.__main__ import main
from dnmf.reproduce.tdt2 import merges_from_H

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "CBCL.mat").is_file(),
                                reason=f"the paper's data files are not in {DATA}")


def test_missing_file_is_named(tmp_path):
    for name in EXPERIMENTS:
        with pytest.raises(ReproduceError) as info:
            run_experiment(name, tmp_path, quick=True)
        first = EXPERIMENT_FILES[name][0]
        assert first in str(info.value) and str(tmp_path) in str(info.value)
        assert "deep-KL-NMF-public" in str(info.value)


def test_wrong_file_is_named(tmp_path):
    scipy.io.savemat(tmp_path / "CBCL.mat", {"M": np.random.default_rng(0).random((519, 143))})
    with pytest.raises(ReproduceError, match="is not the paper's CBCL.mat"):
        run_experiment("table2", tmp_path, quick=True)


def test_cli_exits_2_with_the_message(tmp_path, capsys):
    assert main(["tumor", "--data", str(tmp_path), "--quick", "--out", str(tmp_path)]) == 2
    assert "Tumor.mat was not found" in capsys.readouterr().err


def test_merges_from_H_by_hand():
    W3 = np.array([[1.0, 0.0], [0.0, 2.0]])  # column sums 1 and 2
    H3 = np.array([[1.0, 0.5, 0.0], [0.0, 0.25, 1.0]])
    # shares of topic 2: 0.5·1 / (0.5 + 0.5) = 0.5 each; topic 1 all from k=1, topic 3 from k=2
    assert merges_from_H(W3, H3, share=0.4) == [[1, 2], [2, 3]]
    assert merges_from_H(W3, H3, share=0.6) == [[1], [3]]


@needs_data
def test_table2_quick_writes_everything(tmp_path):
    seen = []
    assert main(["table2", "--data", str(DATA), "--quick", "--seeds", "1", "--out",
                 str(tmp_path), "--no-png"]) == 0
    out = json.loads((tmp_path / "table2.json").read_text())
    assert len(out["rows"]) == 9 and out["rows"][0][1] == "108.3 ± 1.1"
    ratio = np.array(out["numbers"]["ratio"])
    assert ratio.shape == (1, 3) and np.all(np.isfinite(ratio)) and np.all(ratio > 0)
    for fig in ("fig2_ratios", "fig3_features"):
        assert (tmp_path / f"table2_{fig}.html").stat().st_size > 1000
    del seen


@needs_data
def test_progress_and_stop():
    calls = []

    def progress(message, fraction):
        calls.append(fraction)
        return len(calls) < 3  # stop at the third report

    report = run_experiment("table2", DATA, quick=True, seeds=2, progress=progress)
    assert report.stopped
    assert all(0 <= f <= 1 for f in calls) and calls == sorted(calls)


@needs_data
@pytest.mark.parametrize("name", ["tdt2", "samson", "tumor"])
def test_experiments_quick(name):
    report = run_experiment(name, DATA, quick=True)
    assert report.rows and not report.stopped
    assert all(len(row) == 3 for row in report.rows)
    assert report.fits and report.figures
    if name == "samson":
        sad = [r for r in report.rows if "SAD (°" in r[0]]
        assert len(sad) == 3 and all(0 <= float(r[2]) <= 90 for r in sad)
    if name == "tdt2":
        t4 = report.tables["table4_layer3_topics"]
        assert len(t4) == 5 and all(len(w.split()) == 10 for w in t4["top 10 words"])
