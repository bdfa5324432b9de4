"""fakesnow in server mode, behind the small adapter the Rust connector needs.

    .cache/venv/bin/python crates/testkit/fakesnow_adapter.py [--port N]

Prints `listening on <port>` once it accepts connections, then serves Snowflake's
REST protocol on 127.0.0.1 from fakesnow (a Snowflake emulator on DuckDB). It
exits when its parent process does, so a test that started it never leaves it
behind.

What the adapter changes (fakesnow 0.12.1):
- login requests get an empty `data.SESSION_PARAMETERS` when the client sent
  none (fakesnow requires the key; the Rust connector omits it when empty);
- query results that fakesnow returns as Arrow are re-encoded as Snowflake's
  JSON rowset (the Rust connector reads JSON): values as strings, booleans
  "1"/"0", TIMESTAMP_NTZ as "<seconds>.<9-digit fraction>", DATE as days;
- error responses get a `data.queryId` (the connector requires one).
"""

import argparse
import asyncio
import base64
import datetime
import decimal
import gzip
import json
import os
import socket
import sys
import threading
import time
import uuid

import pyarrow as pa
import uvicorn

import fakesnow.server as fakesnow_server

LOGIN_PATH = "/session/v1/login-request"
QUERY_PATH = "/queries/v1/query-request"


def cell(value, column):
    """One Arrow value as Snowflake's JSON rowset writes it."""
    if value is None:
        return None
    kind = (column.get("type") or "").lower()
    scale = column.get("scale") or 0
    if isinstance(value, dict):  # Snowflake's Arrow timestamps: {epoch, fraction}
        epoch = value.get("epoch")
        if epoch is None:
            return None
        fraction = value.get("fraction") or 0
        return f"{epoch}.{fraction:09d}"
    if kind.startswith("timestamp"):
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            delta = value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
            micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
            seconds, rest = divmod(micros, 1_000_000)
            return f"{seconds}.{rest * 1000:09d}"
        seconds, rest = divmod(int(value), 10**scale)
        return f"{seconds}.{rest * 10 ** (9 - scale):09d}"
    if kind == "boolean" or isinstance(value, bool):
        return "1" if value else "0"
    if kind == "date":
        if isinstance(value, datetime.date):
            return str((value - datetime.date(1970, 1, 1)).days)
        return str(int(value))
    if kind == "fixed" and scale and isinstance(value, int):
        return str(decimal.Decimal(value).scaleb(-scale))
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def arrow_to_json(data):
    encoded = data.get("rowsetBase64") or ""
    rowtype = data.get("rowtype") or []
    rows = []
    if encoded:
        table = pa.ipc.open_stream(base64.b64decode(encoded)).read_all()
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        for values in zip(*columns):
            rows.append([cell(v, rowtype[i] if i < len(rowtype) else {}) for i, v in enumerate(values)])
    data.pop("rowsetBase64", None)
    data["queryResultFormat"] = "json"
    data["rowset"] = rows
    data["total"] = len(rows)
    data["returned"] = len(rows)
    return data


def rewrite_response(path, body):
    if not path.startswith(QUERY_PATH):
        return body
    try:
        reply = json.loads(body)
    except ValueError:
        return body
    data = reply.get("data")
    if not reply.get("success"):
        reply["data"] = data = data or {}
        data.setdefault("queryId", str(uuid.uuid4()))
    elif isinstance(data, dict) and data.get("queryResultFormat") == "arrow":
        arrow_to_json(data)
    return json.dumps(reply).encode()


def rewrite_login(body, headers):
    if headers.get(b"content-encoding") == b"gzip":
        body = gzip.decompress(body)
        headers.pop(b"content-encoding")
    request = json.loads(body)
    request.setdefault("data", {}).setdefault("SESSION_PARAMETERS", {})
    return json.dumps(request).encode()


def adapter(app):
    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        path = scope["path"]
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = dict(scope["headers"])
        if path.startswith(LOGIN_PATH):
            body = rewrite_login(body, headers)
        headers[b"content-length"] = str(len(body)).encode()
        scope = dict(scope, headers=list(headers.items()))
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        start = {}
        out = []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                return await send(message)
            out.append(message.get("body", b""))
            if message.get("more_body"):
                return
            new_body = rewrite_response(path, b"".join(out))
            response_headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            response_headers.append((b"content-length", str(len(new_body)).encode()))
            await send(dict(start, headers=response_headers))
            await send({"type": "http.response.body", "body": new_body})

        await app(scope, replay, capture)

    return wrapped


def exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    config = uvicorn.Config(adapter(fakesnow_server.app), log_level="warning")
    server = uvicorn.Server(config)

    async def serve():
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.02)
        print(f"listening on {sock.getsockname()[1]}", flush=True)
        await task

    asyncio.run(serve())
    sys.exit(0)


if __name__ == "__main__":
    main()
