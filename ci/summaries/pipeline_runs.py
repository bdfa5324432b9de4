"""The runs of one ci/bench-pipeline size: the median by rows/s with every run beside it, or one
field of the first run (the stage and export folders the DuckDB peer reads).

usage: pipeline_runs.py median RUN_JSON...
       pipeline_runs.py field NAME RUN_JSON...
Each RUN_JSON is the `"engine":"snowdrift"` line `full_pipeline --json` prints.
"""
import json
import sys


def median(runs):
    runs = sorted(runs, key=lambda r: r["rows_per_s"])
    m = runs[len(runs) // 2]
    every = ", ".join(f"{r['rows_per_s']:,}/s p99 {r['p99_ms']} ms" for r in runs)
    return (f"median of {len(runs)}: {m['rows_per_s']:,} rows/s, freshness p50 {m['p50_ms']} ms, "
            f"p99 {m['p99_ms']} ms (all runs: {every})")


def main(argv):
    if len(argv) >= 2 and argv[0] == "median":
        print(median([json.loads(line) for line in argv[1:]]))
    elif len(argv) >= 3 and argv[0] == "field":
        print(json.loads(argv[2])[argv[1]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
