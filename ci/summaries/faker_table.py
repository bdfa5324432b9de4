"""The ci/bench-faker summary: the Python peer's rates (its JSON lines) beside the criterion
bench's, as rows per second and as multiples of the original generator (`generate+csv`).

usage: faker_table.py PEER_JSONL CRITERION_DIR
CRITERION_DIR is criterion's folder for the `faker` group (`target/criterion/faker`). Each
bench's rows per iteration come from the throughput it declares (criterion's
`new/benchmark.json`), its time from `new/estimates.json`: criterion's saved results, the only
machine-readable output the criterion crate writes (cargo-criterion's JSON messages need a tool
this project does not install).
"""
import json
import os
import sys

BENCHES = ["classic_1_thread", "classic_parallel", "changes_1_thread", "changes_parallel"]


def bench_rate(folder, name):
    base = os.path.join(folder, name, "new")
    with open(os.path.join(base, "benchmark.json")) as f:
        throughput = json.load(f)["throughput"]
    rows = throughput.get("Elements") if throughput else None
    if rows is None:
        sys.exit(f"{name}: the bench declares no Throughput::Elements")
    with open(os.path.join(base, "estimates.json")) as f:
        mean_ns = json.load(f)["mean"]["point_estimate"]
    return rows / (mean_ns / 1e9)


def main(peer_jsonl, folder):
    with open(peer_jsonl) as f:
        peer = {r["mode"]: r["rows_per_sec"] for r in map(json.loads, f)}
    base = peer["generate+csv"]
    print(f"{'what':<40} {'rows/s':>14} {'x original':>11}")
    for mode, rate in peer.items():
        print(f"{'python faker ' + mode:<40} {rate:>14,.0f} {rate / base:>11.1f}")
    for name in BENCHES:
        rate = bench_rate(folder, name)
        print(f"{'snowdrift-faker ' + name:<40} {rate:>14,.0f} {rate / base:>11.0f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
