"""A user-SQL worker process: ``python -m cityhub.datastore.query.worker MEMORY_BYTES``.

User SQL can build single values DuckDB does not count against ``memory_limit`` and cannot interrupt
(``len(range(300000000))`` makes a 2.4 GB list inside one function call; ``repeat('x', 1000000)`` over a
1,000-row vector is 1 GB of strings before the first row can be read, so no byte count can stop it first). So the SQL runs here, in a process
whose data segment the kernel caps (``RLIMIT_DATA``): an allocation past the cap fails inside DuckDB, which
answers with its ordinary out-of-memory error; the process answers, then ends (a fresh one serves the next
query, so no fragmented or leftover memory carries over).
The parent kills the process at the deadline if the connection's interrupt has not stopped the query.

Protocol on stdin/stdout, one frame per message: 4 bytes big-endian length, then UTF-8 JSON. The worker
says ``{"ready": true}`` once, then answers each request with ``{"ok": true, "fields", "rows",
"truncated", "peak_kb"}`` or ``{"ok": false, "code", "message", "message_en", "field"}``. Rows are read
from DuckDB a few at a time; their JSON bytes are counted as they come, and reading stops at the row cap
(``truncated``) or with a ``too_large`` error at the byte cap.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

from .sql import read_frame, write_frame

#: rows taken from DuckDB per fetch (DuckDB computes and converts whole vectors of up to 2,048 rows)
FETCH_ROWS = 256


def peak_kb() -> int:
    """This process's peak resident memory (VmHWM), in KiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run(request: dict[str, Any]) -> dict[str, Any]:
    """One request: the checked SQL over ``views`` under the given limits."""
    from .engine import (
        Limits,
        QueryError,
        TimeLimit,
        duck_type_name,
        jsonable,
        memory_error,
        result_too_large,
        sandbox,
    )
    from .sql import scope_of

    lim = request["limits"]
    limits = Limits(
        memory_limit=lim["memory_limit"],
        threads=int(lim["threads"]),
        temp_dir=Path(lim["temp_dir"]) if lim.get("temp_dir") else None,
        max_temp_bytes=int(lim["max_temp_bytes"]),
    )
    row_cap, max_bytes = int(request["row_cap"]), int(request["max_bytes"])
    try:
        with (
            sandbox(
                request["views"], limits,
                {name: scope_of(spec) for name, spec in (request.get("scopes") or {}).items()},
                request.get("selects") or {},
            ) as conn,
            TimeLimit(conn, float(request["timeout_s"]), request["hide"]),
        ):
            cur = conn.execute(request["sql"])
            desc = cur.description or []
            rows: list[Any] = []
            size = 0
            truncated = False
            while len(rows) <= row_cap:
                batch = cur.fetchmany(min(FETCH_ROWS, row_cap + 1 - len(rows)))
                if not batch:
                    break
                for r in batch:
                    values = [jsonable(v) for v in r]
                    size += len(json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
                    if size > max_bytes:
                        raise result_too_large(max_bytes)
                    rows.append(values)
            if len(rows) > row_cap:
                truncated = True
                del rows[row_cap:]
        return {
            "ok": True,
            "fields": [[str(d[0]), duck_type_name(d[1])] for d in desc],
            "rows": rows,
            "truncated": truncated,
            "peak_kb": peak_kb(),
        }
    except (QueryError, MemoryError) as e:
        q = e if isinstance(e, QueryError) else memory_error()
        return {
            "ok": False,
            "code": q.code,
            "message": q.message,
            "message_en": q.message_en,
            "field": q.field,
            "peak_kb": peak_kb(),
        }


def main() -> None:
    cap = int(sys.argv[1])
    if cap > 0:
        # the kernel counts the whole data segment (the imports' too) against the cap
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the protocol stream
    import duckdb  # noqa: F401 - loaded now, so the first query does not pay for it

    from . import engine  # noqa: F401

    write_frame(stdout, {"ready": True, "pid": os.getpid()})
    while (request := read_frame(stdin)) is not None:
        try:
            answer = run(request)
        except Exception as e:  # an answer, never a silent death
            answer = {
                "ok": False,
                "code": "query_failed",
                "message": "查询失败。",
                "message_en": f"The query failed ({type(e).__name__}).",
                "field": "sql",
                "peak_kb": peak_kb(),
            }
        # after running out of memory or time the process may hold fragmented or leftover memory: it ends
        # and a fresh process serves the next query
        answer["retire"] = answer.get("code") in ("too_large", "timeout")
        write_frame(stdout, answer)
        if answer["retire"]:
            break


if __name__ == "__main__":
    main()
