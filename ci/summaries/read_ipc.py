"""Polars reads an Arrow IPC file the embedded warehouse exported and prints its shape.

usage: read_ipc.py FILE
"""
import sys

import polars as pl

if len(sys.argv) != 2:
    sys.exit(__doc__)
frame = pl.read_ipc(sys.argv[1])
print(f"polars read_ipc: {sys.argv[1]} has {frame.height} rows, columns {frame.columns}")
