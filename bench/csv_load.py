"""Time `dnmf.datasets.load_file` on a ~30 MB CSV (header row + index column, 6-digit floats).

    PYTHONPATH=$PWD python bench/csv_load.py [--mb 30] [--repeat 3]

Prints the file size, the shape read, and the best of ``--repeat`` wall times. Issue 12 used it
to compare the hand-written tokenizer with pandas' C parser (same machine, same run of the
script on each commit; the machine is shared, so compare ratios).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dnmf.datasets import load_file


def make_csv(mb: float, n_cols: int = 150, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    row_bytes = n_cols * 9 + 8  # "0.123456," per cell + the index
    n_rows = max(2, int(mb * 1e6 / row_bytes))
    A = rng.random((n_rows, n_cols))
    header = "id," + ",".join(f"f{j}" for j in range(n_cols)) + "\n"
    body = "\n".join(f"s{i}," + ",".join(f"{v:.6f}" for v in row) for i, row in enumerate(A))
    return (header + body + "\n").encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = make_csv(args.mb)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ds = load_file(data, filename="bench.csv")
        times.append(time.perf_counter() - t0)
    print(f"{len(data) / 1e6:.1f} MB CSV -> {ds.shape} ({ds.summary().split(';')[0]}); "
          f"best of {args.repeat}: {min(times):.2f} s (all: "
          + ", ".join(f"{t:.2f}" for t in times) + ")")


if __name__ == "__main__":
    main()
