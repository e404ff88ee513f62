"""``python -m dnmf.reproduce EXPERIMENT --data DIR [--seeds N] [--quick] [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
import time

from . import EXPERIMENTS, ReproduceError, run_experiment, write_report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dnmf.reproduce",
        description="Reproduce an experiment of the paper's Section 4 and print its numbers "
                    "beside the paper's.")
    parser.add_argument("experiment", choices=list(EXPERIMENTS))
    parser.add_argument("--data", metavar="DIR",
                        help="folder of the paper's .mat files (default: $DNMF_DATA_DIR or "
                             "../shared/data)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of runs (table2: default 10; the HSI scenes: 1)")
    parser.add_argument("--quick", action="store_true",
                        help="a few iterations only (seconds): checks the pipeline, not the "
                             "paper's numbers")
    parser.add_argument("--out", metavar="DIR", default="reproduce-out",
                        help="where the JSON, the table and the figures go")
    parser.add_argument("--no-png", action="store_true", help="write HTML figures only")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    last = [-1e9]

    def progress(message: str, fraction: float) -> None:
        now = time.perf_counter()
        if now - last[0] >= 2.0 or "iteration" not in message:  # a line every 2 s at most
            last[0] = now
            print(f"[{now - t0:7.1f} s {100 * fraction:5.1f} %] {message}", flush=True)

    options = {"quick": args.quick, "progress": progress}
    if args.seeds is not None:
        options["seeds"] = args.seeds
    try:
        report = run_experiment(args.experiment, args.data, **options)
    except ReproduceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print()
    print(report.markdown())
    for name, table in report.tables.items():
        print(f"\n{name}:")
        print(table.to_string(index=False))
    for note in report.notes:
        print(f"\nnote: {note}")
    written = write_report(report, args.out, png=not args.no_png)
    print(f"\nwrote {args.out}/: {len(written['json'])} JSON, {len(written['html'])} HTML, "
          f"{len(written['png'])} PNG figure(s) ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
