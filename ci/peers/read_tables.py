"""The embedded warehouse's tables as other tools read them: for every table a checkpoint wrote
a manifest for, DuckDB runs the generated view (`tables/<name>.duckdb.sql`) and Polars reads the
files the JSON manifest lists; both must equal the rows the warehouse itself exported
(`export_ipc`, `<export>/<name>.arrow`), compared as sorted rows over all columns.

usage: read_tables.py WAREHOUSE_ROOT EXPORT_DIR
Exits 1 on any difference, printing what differs.
"""
import glob
import json
import os
import sys

import duckdb
import polars as pl


def sorted_frame(frame: pl.DataFrame) -> pl.DataFrame:
    columns = sorted(frame.columns)
    return frame.select(columns).sort(columns, nulls_last=True)


def read_with_polars(root: str, manifest: dict) -> pl.DataFrame:
    files = [os.path.join(root, f) for f in manifest["files"]]
    frame = pl.read_parquet(files, missing_columns="insert")
    return frame.drop(manifest["row_id_column"], strict=False)


def read_with_duckdb(root: str, table: str) -> pl.DataFrame:
    con = duckdb.connect()
    with open(os.path.join(root, "tables", f"{table}.duckdb.sql")) as f:
        con.execute(f.read())
    return con.sql(f'SELECT * FROM "{table}"').pl()


def main() -> int:
    root, export = sys.argv[1], sys.argv[2]
    failures = []
    compared = 0
    for path in sorted(glob.glob(os.path.join(export, "*.arrow"))):
        table = os.path.basename(path)[: -len(".arrow")]
        manifest_path = os.path.join(root, "tables", f"{table}.json")
        if not os.path.exists(manifest_path):
            failures.append(f"{table}: no manifest at {manifest_path}")
            continue
        with open(manifest_path) as f:
            manifest = json.load(f)
        want = sorted_frame(pl.read_ipc(path))
        if manifest["rows"] != want.height:
            failures.append(f"{table}: manifest says {manifest['rows']} rows, export has {want.height}")
        for reader, frame in [
            ("duckdb", read_with_duckdb(root, table)),
            ("polars", read_with_polars(root, manifest)),
        ]:
            got = sorted_frame(frame)
            if got.columns != want.columns:
                failures.append(f"{table} ({reader}): columns {got.columns}, want {want.columns}")
            elif not got.equals(want):
                failures.append(f"{table} ({reader}): {got.height} rows differ from the {want.height} exported")
        compared += 1
    if compared == 0:
        failures.append(f"no exported tables under {export}")
    for failure in failures:
        print(f"MISMATCH: {failure}", file=sys.stderr)
    if not failures:
        print(f"DuckDB and Polars read the {compared} tables from their files as the warehouse does")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
