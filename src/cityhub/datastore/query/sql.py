"""User SQL (CKAN ``datastore_search_sql``): the guard first (``sqlguard``), then only the resolved
tables, in a fresh sandbox inside a worker process whose memory the kernel caps (``worker.py``), with a
deadline (the connection is interrupted; the process is killed if that does not stop it), a row cap and
a byte cap counted while the rows stream out."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from ..sqlguard import CheckedSql, check_sql
from .engine import (
    DEFAULT_LIMITS,
    GrantScope,
    Limits,
    QueryError,
    TableRef,
    abspath,
    check_limit,
    err,
    query_slot,
    timeout_error,
)
from .params import outside_grant
from .rows import CSV_LIMIT

#: after the deadline, the worker gets this long to report the interrupt before it is killed
KILL_GRACE_S = 0.5
#: a new worker must be ready within this many seconds
START_TIMEOUT_S = 60.0
#: idle workers kept per process and memory cap
IDLE_WORKERS = 4
#: environment a worker is started with (no secrets: it never needs CITYHUB_* or credentials)
_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "HOME", "PYTHONHOME", "VIRTUAL_ENV")


# --------------------------------------------------------------------------- protocol

HEAD = struct.Struct(">I")


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    head = stream.read(HEAD.size)
    if len(head) < HEAD.size:
        return None
    (n,) = HEAD.unpack(head)
    body = stream.read(n)
    if len(body) < n:
        return None
    out = json.loads(body)
    return out if isinstance(out, dict) else None


def write_frame(stream: BinaryIO, message: dict[str, Any]) -> None:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    stream.write(HEAD.pack(len(body)) + body)
    stream.flush()


# --------------------------------------------------------------------------- workers


class _Gone(Exception):
    """The worker ended or the deadline passed before it answered."""


def _crashed() -> QueryError:
    return err(
        "too_large",
        "查询进程被终止（超出内存上限），请缩小查询范围。",
        "The query process was stopped (it went past the memory limit); narrow the query down.",
    )


class Worker:
    """One worker process (see ``worker.py``), capped at ``memory_bytes`` by the kernel."""

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        env = {k: os.environ[k] for k in _ENV_KEYS if k in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "cityhub.datastore.query.worker", str(memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.peak_kb = 0
        self.retired = False  # it said it ends after this answer
        try:
            self.receive(time.monotonic() + START_TIMEOUT_S)
        except _Gone:
            self.kill()
            raise err("unavailable", "查询进程无法启动。", "The query process could not start.") from None

    def _read(self, n: int, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        parts: list[bytes] = []
        while n > 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise _Gone("deadline")
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                raise _Gone("ended")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def receive(self, deadline: float) -> dict[str, Any]:
        (n,) = HEAD.unpack(self._read(HEAD.size, deadline))
        out = json.loads(self._read(n, deadline))
        if not isinstance(out, dict):
            raise _Gone("garbled")
        self.peak_kb = max(self.peak_kb, int(out.get("peak_kb") or 0))
        return out

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin, message)  # type: ignore[arg-type]
        except (BrokenPipeError, OSError) as e:
            raise _Gone("ended") from e

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        """Ask the worker to end (end of input) and reap it."""
        with contextlib.suppress(Exception):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(Exception):
            if self.proc.stdout is not None:
                self.proc.stdout.close()  # else a ResourceWarning when the pipe is collected


_idle: dict[int, list[Worker]] = {}
_idle_lock = threading.Lock()
#: the peak memory (KiB) of every worker that has ended, for tests and diagnostics
ended_peaks_kb: list[int] = []


@contextlib.contextmanager
def _worker(memory_bytes: int) -> Iterator[Worker]:
    """An idle worker (or a new one); back to the pool afterwards unless it was killed."""
    w: Worker | None = None
    with _idle_lock:
        pool = _idle.setdefault(memory_bytes, [])
        while pool and w is None:
            cand = pool.pop()
            if cand.alive():
                w = cand
            else:
                cand.kill()
    if w is None:
        w = Worker(memory_bytes)
    try:
        yield w
    except BaseException:
        _retire(w, kill=True)
        raise
    if w.retired or not w.alive():
        _retire(w, kill=False)
        return
    with _idle_lock:
        pool = _idle.setdefault(memory_bytes, [])
        if len(pool) < IDLE_WORKERS:
            pool.append(w)
            return
    _retire(w, kill=False)


def _retire(w: Worker, *, kill: bool) -> None:
    if kill:
        w.kill()
    else:
        w.close()
    ended_peaks_kb.append(w.peak_kb)


def shutdown_workers() -> None:
    """End every idle worker (tests; process exit ends them anyway: their input closes)."""
    with _idle_lock:
        workers = [w for pool in _idle.values() for w in pool]
        _idle.clear()
    for w in workers:
        _retire(w, kill=False)


def _remove_spill_dirs(temp_dir: Path | None, pid: int) -> None:
    """A killed worker cannot remove its spill directories; do it for it."""
    if temp_dir is None:
        return
    with contextlib.suppress(OSError):
        for d in Path(temp_dir).glob(f"q-{pid}-*"):
            shutil.rmtree(d, ignore_errors=True)


#: DuckDB's binder errors naming a column the query's relations do not have
_MISSING_COLUMN = re.compile(r'(?:Referenced column|does not have a column named) "([^"]+)"')


def _hidden_named(sql: str, hidden: set[str]) -> str | None:
    """The first column outside the caller's grant that the SQL names as an identifier (plain or quoted)."""
    lowered = {h.lower(): h for h in hidden}
    for pos, (start, kind) in enumerate(tokens := duckdb.tokenize(sql)):
        kind_name = str(kind).rsplit(".", 1)[-1]
        end = tokens[pos + 1][0] if pos + 1 < len(tokens) else len(sql)
        text = sql[start:end].strip()
        if kind_name == "numeric_const" and text.startswith("."):  # the tokenizer's ``t.col``: "t", ".col"
            text = text[1:]
        elif kind_name != "identifier":
            continue  # keywords (DuckDB's ``name``, ``date``…) are left to the binder's error, mapped below
        if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
            text = text[1:-1].replace('""', '"')
        found = lowered.get(text.lower())
        if found is not None:
            return found
    return None


def scope_of(spec: dict[str, Any]) -> GrantScope:
    """The grant scope a worker request carries for one view."""
    return GrantScope(columns=tuple(str(c) for c in spec["columns"]), where_sql=str(spec.get("where") or ""),
                      masks=tuple((str(c), str(cond)) for c, cond in spec.get("masks") or ()))


def run_sql(
    sql: str,
    resolve: Callable[[str], TableRef | None],
    *,
    timeout_s: float | None = None,
    row_cap: int = 10_000,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """CKAN ``datastore_search_sql``: guard first, then only the resolved tables, sandboxed in a worker
    process, within ``limits`` (``timeout_s`` overrides its deadline) and a row cap (``truncated`` says
    whether more rows existed)."""
    limits = limits.with_timeout(timeout_s)
    if (
        not isinstance(limits.timeout_s, (int, float))
        or isinstance(limits.timeout_s, bool)
        or not limits.timeout_s > 0
    ):
        raise err("invalid", "超时时间必须为正数。", "timeout_s must be a positive number.", "timeout_s")
    row_cap = check_limit(row_cap, "row_cap", 1, CSV_LIMIT)
    checked: CheckedSql = check_sql(sql)
    views: dict[str, str] = {}
    selects: dict[str, str] = {}
    hide: dict[str, str] = {}
    scopes: dict[str, dict[str, Any]] = {}
    hidden: set[str] = set()
    for name in checked.tables:
        ref = resolve(name)
        if ref is None:
            raise err(
                "not_found",
                f"数据表 {name} 不存在或无权访问。",
                f"The table {name} does not exist (or is not readable).",
                "sql",
            )
        views[name] = abspath(ref.path)
        if ref.select:  # a provisional table: its typed view over the untyped copy
            selects[name] = ref.select
        hide[abspath(ref.path)] = name
        if ref.scope is not None:  # the sandbox's only view of this table is the granted columns and rows
            scopes[name] = {"columns": list(ref.scope.columns), "where": ref.scope.where_sql,
                            "masks": [list(m) for m in ref.scope.masks]}
            hidden |= ref.scope.hidden
    if hidden:
        named = _hidden_named(checked.sql, hidden)
        if named is not None:
            raise outside_grant(named, "sql")
    request = {
        "sql": checked.sql,
        "views": views,
        "selects": selects,
        "hide": hide,
        "scopes": scopes,
        "timeout_s": limits.timeout_s,
        "row_cap": row_cap,
        "max_bytes": limits.max_result_bytes,
        "limits": {
            "memory_limit": limits.memory_limit,
            "threads": limits.threads,
            "temp_dir": abspath(limits.temp_dir) if limits.temp_dir is not None else None,
            "max_temp_bytes": limits.max_temp_bytes,
        },
    }
    with query_slot(limits), _worker(limits.process_memory_bytes()) as w:
        w.send(request)
        try:
            answer = w.receive(time.monotonic() + limits.timeout_s + KILL_GRACE_S)
        except _Gone as e:
            w.kill()
            _remove_spill_dirs(limits.temp_dir, w.pid)
            if str(e) == "deadline":
                raise timeout_error(limits.timeout_s) from None
            raise _crashed() from None
        if answer.get("retire"):
            w.retired = True
    if not answer.get("ok"):
        missing = _MISSING_COLUMN.search(str(answer.get("message_en") or ""))
        if missing and hidden and missing.group(1).lower() in {h.lower() for h in hidden}:
            raise outside_grant(missing.group(1), "sql")
        raise err(str(answer["code"]), str(answer["message"]), str(answer["message_en"]), answer.get("field"))
    names = [f[0] for f in answer["fields"]]
    return {
        "fields": [{"id": n, "type": t} for n, t in answer["fields"]],
        "records": [dict(zip(names, r, strict=False)) for r in answer["rows"]],
        "truncated": bool(answer["truncated"]),
    }
