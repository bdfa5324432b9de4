"""End-to-end peer for ci/bench-pipeline: DuckDB running the original pipeline's SQL on the
files that examples/full_pipeline.rs staged, one file at a time as the original's tasks would
find them:

  COPY the file into raw -> SCD-1 MERGE raw into customer -> the changes of that merge (what
  the stream on customer shows) -> SCD-2 MERGE into customer_history -> TRUNCATE raw

with two of the original's defects fixed so that the results are comparable (one winner per key,
the row with the highest `seq`, the generator's row number; null-safe comparison) and deletes taken from the `op` column. Reports rows/s
and per-file latency (a file's COPY to its history MERGE), and checks that DuckDB's customer
table equals the one snowdrift exported (business columns).

usage: pipeline_peer.py STAGE_DIR SNOWDRIFT_EXPORT_DIR
"""
import glob
import json
import os
import sys
import time

import duckdb
import polars as pl

from customer import ATTRS
COLUMNS = {"customer_id": "BIGINT", **{c: "VARCHAR" for c in ATTRS}, "op": "VARCHAR", "seq": "BIGINT"}
DIFFERS = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in ATTRS)
OPEN = "TIMESTAMP '9999-12-31 00:00:00'"
ATTR_LIST = ", ".join(ATTRS)
S_ATTRS = ", ".join(f"s.{c}" for c in ATTRS)

SETUP = f"""
CREATE TABLE raw (customer_id BIGINT, {", ".join(f"{c} VARCHAR" for c in ATTRS)}, op VARCHAR, seq BIGINT);
CREATE TABLE customer (customer_id BIGINT, {", ".join(f"{c} VARCHAR" for c in ATTRS)}, update_timestamp TIMESTAMP);
CREATE TABLE customer_history (customer_id BIGINT, {", ".join(f"{c} VARCHAR" for c in ATTRS)},
    start_time TIMESTAMP, end_time TIMESTAMP, is_current BOOLEAN);
"""

SCD1 = f"""
MERGE INTO customer t USING (
    FROM raw QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY seq DESC) = 1
) s ON t.customer_id = s.customer_id
WHEN MATCHED AND s.op = 'DELETE' THEN DELETE
WHEN MATCHED AND ({DIFFERS}) THEN UPDATE SET {", ".join(f"{c} = s.{c}" for c in ATTRS)}, update_timestamp = now()
WHEN NOT MATCHED AND s.op <> 'DELETE' THEN INSERT VALUES (s.customer_id, {S_ATTRS}, now())
"""

# What a stream on customer shows for that merge: new or changed rows, and deleted keys.
CHANGES = """
CREATE OR REPLACE TEMP TABLE upserts AS
    SELECT a.* FROM customer a LEFT JOIN before b USING (customer_id)
    WHERE b.customer_id IS NULL OR a.update_timestamp IS DISTINCT FROM b.update_timestamp;
CREATE OR REPLACE TEMP TABLE deletes AS
    SELECT b.customer_id FROM before b ANTI JOIN customer a USING (customer_id);
"""

# The original's SCD-2 MERGE over the change view: close the current version of a changed or
# deleted key, insert the new version of a changed or new one.
SCD2 = f"""
MERGE INTO customer_history t USING (
    SELECT customer_id AS merge_key, customer_id, {ATTR_LIST}, update_timestamp, FALSE AS deleted FROM upserts
    UNION ALL
    SELECT NULL, customer_id, {ATTR_LIST}, update_timestamp, FALSE FROM upserts
    UNION ALL
    SELECT customer_id, customer_id, {", ".join("NULL" for _ in ATTRS)}, now(), TRUE FROM deletes
) s ON t.customer_id = s.merge_key AND t.is_current
WHEN MATCHED THEN UPDATE SET end_time = s.update_timestamp, is_current = FALSE
WHEN NOT MATCHED AND NOT s.deleted THEN INSERT VALUES (s.customer_id, {S_ATTRS}, s.update_timestamp, {OPEN}, TRUE)
"""


def load(con, path):
    spec = ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items())
    con.execute(
        f"INSERT INTO raw SELECT * FROM read_csv('{path}', header = true, columns = {{{spec}}})"
    )


def main():
    stage, export = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(stage, "*.csv*")))
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(SETUP)
    rows = 0
    latencies = []
    start = time.perf_counter()
    for path in files:
        began = time.perf_counter()
        load(con, path)
        rows += con.execute("SELECT count(*) FROM raw").fetchone()[0]
        con.execute("CREATE OR REPLACE TEMP TABLE before AS FROM customer")
        con.execute(SCD1)
        con.execute(CHANGES)
        con.execute(SCD2)
        con.execute("TRUNCATE raw")
        latencies.append((time.perf_counter() - began) * 1000)
    seconds = time.perf_counter() - start
    latencies.sort()
    ours = pl.read_ipc(os.path.join(export, "customer.arrow")).select(["customer_id", *ATTRS]).rows()
    theirs = con.execute(f"SELECT customer_id, {ATTR_LIST} FROM customer").fetchall()
    current = con.execute("SELECT count(*) FROM customer_history WHERE is_current").fetchone()[0]
    result = {
        "engine": "duckdb (original SQL flow)",
        "duckdb": duckdb.__version__,
        "rows": rows,
        "files": len(files),
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "p50_ms": round(latencies[len(latencies) // 2]),
        "p99_ms": round(latencies[min(len(latencies) - 1, round((len(latencies) - 1) * 0.99))]),
        "customer_equal_to_snowdrift": sorted(ours, key=repr) == sorted(theirs, key=repr),
        "history_current_rows": current,
        "history_rows": con.execute("SELECT count(*) FROM customer_history").fetchone()[0],
    }
    print(json.dumps(result), flush=True)
    if not result["customer_equal_to_snowdrift"]:
        sys.exit("DuckDB's customer table differs from snowdrift's")


if __name__ == "__main__":
    main()
