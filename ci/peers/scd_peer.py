"""DuckDB as the peer of snowdrift-scd: the same SCD-1 and SCD-2 merges with
`MERGE INTO`, on the rows `examples/scd_vs_duckdb.rs` wrote, and a check that
DuckDB's resulting tables equal snowdrift's, row for row.

usage: scd_peer.py DIR THREADS
Prints one JSON line per merge: time, changes/s, and whether the result is
identical to snowdrift's (`identical`).
"""
import json
import sys
import time

import duckdb

from customer import ATTRS
BUSINESS = {"customer_id": "BIGINT", **{c: "VARCHAR" for c in ATTRS}}
LOADED_AT = "TIMESTAMP '2024-01-01 00:00:00'"
MERGED_AT = "TIMESTAMP '2024-01-02 00:00:00'"
OPEN = "TIMESTAMP '9999-12-31 00:00:00'"
DIFFERS = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in ATTRS)


def read_csv(path, extra=None):
    cols = dict(BUSINESS, **(extra or {}))
    spec = ", ".join(f"'{k}': '{v}'" for k, v in cols.items())
    return f"read_csv('{path}', header = true, columns = {{{spec}}})"


SCD1 = f"""
MERGE INTO customer t USING changes s ON t.customer_id = s.customer_id
WHEN MATCHED AND ({DIFFERS}) THEN UPDATE SET
    {", ".join(f"{c} = s.{c}" for c in ATTRS)}, update_timestamp = {MERGED_AT}
WHEN NOT MATCHED THEN INSERT VALUES (
    s.customer_id, {", ".join(f"s.{c}" for c in ATTRS)}, {MERGED_AT})
"""

# The classic one-statement SCD-2 MERGE: each change once with its key (to
# close the current version) and, when it changes an existing customer, once
# more with a NULL key (to insert the new version).
SCD2 = f"""
MERGE INTO customer_history t USING (
    SELECT s.customer_id AS merge_key, s.* FROM changes s
    UNION ALL
    SELECT NULL AS merge_key, s.* FROM changes s
    JOIN customer_history t ON t.customer_id = s.customer_id AND t.is_current
    WHERE {DIFFERS}
) s ON t.customer_id = s.merge_key AND t.is_current
WHEN MATCHED AND ({DIFFERS}) THEN UPDATE SET end_time = {MERGED_AT}, is_current = FALSE
WHEN NOT MATCHED THEN INSERT VALUES (
    s.customer_id, {", ".join(f"s.{c}" for c in ATTRS)}, {MERGED_AT}, {OPEN}, TRUE)
"""


def differences(con, table, path, extra):
    theirs = read_csv(path, extra)
    a = con.execute(f"SELECT count(*) FROM (FROM {table} EXCEPT ALL FROM {theirs})").fetchone()[0]
    b = con.execute(f"SELECT count(*) FROM (FROM {theirs} EXCEPT ALL FROM {table})").fetchone()[0]
    return a + b


RUNS = 3  # best of three, each on a freshly created table, as the snowdrift side does


def run(con, d, name, create, statement, table, extra, changes):
    seconds = float("inf")
    for _ in range(RUNS):
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(create)
        start = time.perf_counter()
        con.execute(statement)
        seconds = min(seconds, time.perf_counter() - start)
    diff = differences(con, table, f"{d}/{name}_snowdrift.csv", extra)
    print(json.dumps({"tool": "duckdb", "merge": name, "threads": con.execute(
        "SELECT current_setting('threads')").fetchone()[0], "changes": changes,
        "seconds": round(seconds, 4), "changes_per_sec": round(changes / seconds),
        "identical": diff == 0, "differing_rows": diff}), flush=True)


def main():
    d, threads = sys.argv[1], int(sys.argv[2])
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(f"CREATE TABLE target AS FROM {read_csv(d + '/target.csv')}")
    con.execute(f"CREATE TABLE changes AS FROM {read_csv(d + '/changes.csv')}")
    changes = con.execute("SELECT count(*) FROM changes").fetchone()[0]
    run(con, d, "scd1",
        f"CREATE TABLE customer AS SELECT *, {LOADED_AT} AS update_timestamp FROM target",
        SCD1, "customer", {"update_timestamp": "TIMESTAMP"}, changes)
    run(con, d, "scd2",
        f"CREATE TABLE customer_history AS SELECT *, {LOADED_AT} AS start_time, "
        f"{OPEN} AS end_time, TRUE AS is_current FROM target",
        SCD2, "customer_history",
        {"start_time": "TIMESTAMP", "end_time": "TIMESTAMP", "is_current": "BOOLEAN"}, changes)


if __name__ == "__main__":
    main()
