"""Draws a soak run (the JSON lines of examples/soak.rs): resident memory and freshness (file
landed -> visible in history, p50 and p99 of the files that became visible in each second)
against the changes staged so far.

usage: plot_soak.py SOAK_JSONL OUT_PNG
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> int:
    samples, summary = [], None
    with open(sys.argv[1]) as f:
        for line in f:
            row = json.loads(line)
            if row.get("summary"):
                summary = row
            else:
                samples.append(row)
    if not samples:
        print("no samples", file=sys.stderr)
        return 1
    millions = [s["changes"] / 1e6 for s in samples]
    fig, (rss, fresh) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    rss.plot(millions, [s["rss_mb"] for s in samples], color="tab:blue")
    rss.set_ylabel("resident memory (MB)")
    rss.set_ylim(bottom=0)
    rss.grid(alpha=0.3)
    title = "snowdrift soak: whole embedded pipeline, population fixed after the first inserts"
    if summary:
        title += (
            f"\n{summary['changes'] / 1e6:.0f}M changes in {summary['seconds']:.0f} s; peak RSS "
            f"{summary['peak_rss_mb_3m']:.0f} MB after 3M, {summary['peak_rss_mb']:.0f} MB overall"
        )
    rss.set_title(title, fontsize=10)
    seen = [(m, s) for m, s in zip(millions, samples) if s["fresh_p99_ms"] is not None]
    fresh.plot([m for m, _ in seen], [s["fresh_p99_ms"] for _, s in seen], label="p99", color="tab:red")
    fresh.plot([m for m, _ in seen], [s["fresh_p50_ms"] for _, s in seen], label="p50", color="tab:green")
    fresh.set_ylabel("freshness (ms)")
    fresh.set_xlabel("changes staged (millions)")
    fresh.set_ylim(bottom=0)
    fresh.grid(alpha=0.3)
    fresh.legend()
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    print(f"plot: {sys.argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
