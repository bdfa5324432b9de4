"""CSV write peers for ci/bench-stage: Python's csv module (csv.DictWriter, as
the original generator wrote its files) and Polars write_csv, on the rows that
examples/stage_throughput.rs wrote to <dir>/input.csv. Best of five each.
Prints one JSON line per peer, then a table of ratios against snowdrift's
lines read from <dir>.jsonl.

usage: stage_peer.py <dir>
"""
import csv
import json
import os
import sys
import time

import polars as pl


def best_of(run):
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    folder = sys.argv[1]
    frame = pl.read_csv(os.path.join(folder, "input.csv"), infer_schema_length=0)
    rows = frame.height
    fields = frame.columns
    records = frame.to_dicts()
    target = os.path.join(folder, "peer.csv")

    def python_csv():
        with open(target, "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)

    results = []
    for engine, run in [("python csv.DictWriter", python_csv), ("polars write_csv", lambda: frame.write_csv(target))]:
        seconds = best_of(run)
        size = os.path.getsize(target)
        result = {"engine": engine, "rows": rows, "bytes": size, "seconds": round(seconds, 4),
                  "rows_per_s": round(rows / seconds), "mb_per_s": round(size / seconds / 1e6, 1)}
        print(json.dumps(result), flush=True)
        results.append(result)
    os.remove(target)

    ours = [json.loads(line) for line in open(folder + ".jsonl") if '"snowdrift"' in line]
    print(f"\n{'snowdrift case':42} {'rows/s':>12} {'MB/s':>8} {'x python csv':>13} {'x polars':>9}")
    for line in ours:
        print(f"{line['case']:42} {line['rows_per_s']:>12,.0f} {line['mb_per_s']:>8.1f} "
              f"{line['rows_per_s'] / results[0]['rows_per_s']:>13.1f} {line['rows_per_s'] / results[1]['rows_per_s']:>9.2f}")
    for r in results:
        print(f"{r['engine']:42} {r['rows_per_s']:>12,.0f} {r['mb_per_s']:>8.1f}")


if __name__ == "__main__":
    main()
