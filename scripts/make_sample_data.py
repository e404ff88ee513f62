"""Rebuild the precomputed files in sample_data/.

    python scripts/make_sample_data.py          # writes sample_data/stdlib_text.npz

stdlib_text.npz: the "stdlib-text" sample — docstrings (≥ 30 words) of the running Python's
standard library, parsed with ast (nothing imported), CountVectorizer(stop_words='english',
max_features=2000, min_df=3, max_df=0.5), words × documents counts with package/module labels.
Everything is stored as plain arrays (no pickled objects): load with allow_pickle=False.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dnmf.datasets.text import STDLIB_TEXT_FILE, build_stdlib_corpus, save_text_npz  # noqa: E402


def main() -> None:
    out = ROOT / "sample_data" / STDLIB_TEXT_FILE
    ds = build_stdlib_corpus()
    save_text_npz(ds, out)
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size / 1024:.0f} KiB): {ds.summary()}")


if __name__ == "__main__":
    main()
