"""DuckDB as the peer of snowdrift's history by event time: the same re-stitch of late changes
in SQL, on the rows `examples/restitch_vs_duckdb.rs` wrote, and a check that DuckDB's history
equals snowdrift's, row for row.

The SQL applies the rules of docs/scd.md ("History by event time") for what the workload holds:
at most one upsert per customer per merge. A change that differs from the version holding its
event time splits it (the version ends at the change, the change takes the rest of its
interval); a change where no version holds its time opens one until the next version's start,
or open. (Same-instant replacement, deletes and several changes of one key per merge are not in
the workload.)

usage: restitch_peer.py DIR THREADS
Prints one JSON line per run: time, changes/s, and whether the result is identical to
snowdrift's (`identical`).
"""
import json
import sys
import time

import duckdb

from customer import ATTRS
BUSINESS = {"customer_id": "BIGINT", **{c: "VARCHAR" for c in ATTRS}}
VALIDITY = {"start_time": "TIMESTAMP", "end_time": "TIMESTAMP", "is_current": "BOOLEAN"}
OPEN = "TIMESTAMP '9999-12-31 00:00:00'"
DIFFERS = " OR ".join(f"h.{c} IS DISTINCT FROM c.{c}" for c in ATTRS)
RUNS = 3  # best of three, each on a fresh copy of the history, as the snowdrift side does

RESTITCH = [
    # The changes with the version holding their time (if any) and the next version's start.
    f"""CREATE OR REPLACE TEMP TABLE placed AS
    SELECT c.*, h.start_time AS held_start, h.end_time AS held_end,
        (SELECT min(n.start_time) FROM customer_history n
         WHERE n.customer_id = c.customer_id AND n.start_time > c.event_time) AS next_start
    FROM changes c LEFT JOIN customer_history h
        ON h.customer_id = c.customer_id AND h.start_time <= c.event_time
        AND c.event_time < h.end_time
    WHERE h.customer_id IS NULL OR ({DIFFERS})""",
    # The held version ends at the change.
    """UPDATE customer_history h SET end_time = p.event_time, is_current = FALSE
    FROM placed p WHERE p.held_start IS NOT NULL AND h.customer_id = p.customer_id
        AND h.start_time = p.held_start""",
    # The change takes the rest of the interval.
    f"""INSERT INTO customer_history
    SELECT customer_id, {", ".join(ATTRS)}, event_time,
        coalesce(held_end, next_start, {OPEN}), coalesce(held_end, next_start, {OPEN}) = {OPEN}
    FROM placed""",
]


def read_csv(path, extra):
    cols = dict(BUSINESS, **extra)
    spec = ", ".join(f"'{k}': '{v}'" for k, v in cols.items())
    return f"read_csv('{path}', header = true, columns = {{{spec}}})"


def differences(con, path):
    theirs = read_csv(path, VALIDITY)
    a = con.execute(f"SELECT count(*) FROM (FROM customer_history EXCEPT ALL FROM {theirs})").fetchone()[0]
    b = con.execute(f"SELECT count(*) FROM (FROM {theirs} EXCEPT ALL FROM customer_history)").fetchone()[0]
    return a + b


def main():
    d, threads = sys.argv[1], int(sys.argv[2])
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(f"CREATE TABLE history AS FROM {read_csv(d + '/history.csv', VALIDITY)}")
    for run in ["in_order", "late"]:
        con.execute("DROP TABLE IF EXISTS changes")
        con.execute(f"CREATE TABLE changes AS FROM "
                    f"{read_csv(f'{d}/{run}_changes.csv', {'event_time': 'TIMESTAMP'})}")
        changes = con.execute("SELECT count(*) FROM changes").fetchone()[0]
        seconds = float("inf")
        for _ in range(RUNS):
            con.execute("CREATE OR REPLACE TABLE customer_history AS FROM history")
            start = time.perf_counter()
            for statement in RESTITCH:
                con.execute(statement)
            seconds = min(seconds, time.perf_counter() - start)
        diff = differences(con, f"{d}/{run}_snowdrift.csv")
        print(json.dumps({"tool": "duckdb", "run": run, "threads": threads, "changes": changes,
                          "seconds": round(seconds, 4), "changes_per_sec": round(changes / seconds),
                          "identical": diff == 0, "differing_rows": diff}), flush=True)


if __name__ == "__main__":
    main()
