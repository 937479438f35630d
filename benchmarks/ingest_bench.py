"""Datastore ingest beside PostgreSQL COPY (issue 10, "the restated target"), interleaved, medians.

The file is the datastore benchmark's (``datastore_bench.generate_csv``: 10 columns, integers, decimals, dates
in three Chinese formats, 0.1 % bad cells per typed column). Each round runs, in this order:

1. PostgreSQL ``COPY ... FROM STDIN`` of the UTF-8 file into text columns (CKAN xloader's method);
2. our typed ingest of the UTF-8 file (``ingest()`` with the product's default options, in a child process
   for its peak RSS; the one-pass path);
3. PostgreSQL ``COPY`` of the GB18030 file (``ENCODING 'GB18030'``) into text columns;
4. our typed ingest of the GB18030 file;
5. the untyped columnar copy (what a queryable-first load would serve before typing): DuckDB reads the
   UTF-8 file as text, ``typedpass.write_parquet_with_id`` adds ``_id`` and writes snappy Parquet (the one
   pass's writer; not a product path on its own: a measured floor);
6. PostgreSQL ``COPY`` of a *cleaned* copy (bad cells emptied, dates ISO -- written from our typed result)
   into typed columns (bigint, double precision, date): raw, the file cannot be loaded that way;
7. queryable first, UTF-8 then GB18030 (in a child process): the untyped copy with its typed view
   (``typedpass.write_raw_copy``) and the first successful search of it (``query.search`` through the typed
   view, the function ``datastore_search`` runs: a filtered page of 100 rows) -- the "queryable" time and CPU
   -- then the whole-file typing that follows in the background (``ingest()``), timed to its end ("typed");
8. with ``--staged``: the staged path (``engine="staged"``, the shipped ingest before the pass) on UTF-8.

CPU seconds are recorded beside every wall time (ours: the child process and its ``iconv`` children; COPY:
the PostgreSQL backend from ``/proc/<pid>/stat`` plus the client sending the file): on a shared machine they
move much less with the load than wall times do.

Targets (issue 10): typed UTF-8 ≥ 1.5× COPY (aim 2×), GB18030 ≥ 1.3×, queryable ≥ 3×, peak RSS ≤ 1 GB.
Ratios are COPY's median seconds over ours (= rows/s ratio). The load average is recorded around every step.

Run: ``python -m benchmarks.ingest_bench [--rows 10000000] [--rounds 3] [--staged]``; results in
``benchmarks/out/ingest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, PG_ADMIN, machine, pg_create, pg_drop
from benchmarks.datastore_bench import COLUMNS, generate_csv

TYPED_PG = {"编号": "bigint", "从业人数": "bigint", "注册资本": "double precision", "发证日期": "date",
            "有效期至": "date", "评分": "double precision"}


def _cpu_self() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def _cpu_pid(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def _child(source: str, filename: str, dest: str, engine: str, q: Any) -> None:
    from cityhub.datastore.ingest import IngestOptions, ingest

    t0 = time.perf_counter()
    c0 = _cpu_self()
    try:
        r = ingest(Path(source), filename, Path(dest), IngestOptions(engine=engine))
        q.put({"ok": True, "seconds": time.perf_counter() - t0, "cpu_s": round(_cpu_self() - c0, 2), "rows": r.rows,
               "engine": r.engine,
               "encoding": r.encoding, "types": {c.name: c.type for c in r.columns}, "bad_cells": r.bad_cell_count,
               "timings": {k: round(v, 2) for k, v in r.timings.items()}, "peak_rss_mb": round(_vm_hwm_kb() / 1024)})
    except Exception as e:  # reported, not raised
        q.put({"ok": False, "seconds": time.perf_counter() - t0, "error": f"{type(e).__name__}: {e}"[:400]})


def ours(source: Path, dest: Path, engine: str = "pass") -> dict[str, Any]:
    shutil.rmtree(dest, ignore_errors=True)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    load0 = _load()
    p = ctx.Process(target=_child, args=(str(source), source.name, str(dest), engine, q))
    p.start()
    out: dict[str, Any] = q.get()
    p.join()
    out["seconds"] = round(out["seconds"], 2)
    out["load"] = [load0, _load()]
    return out


def _queryable_child(source: str, filename: str, dest: str, q: Any) -> None:
    from cityhub.datastore import query, typedpass
    from cityhub.datastore.ingest import IngestOptions, ingest

    t0 = time.perf_counter()
    c0 = _cpu_self()
    try:
        raw = typedpass.write_raw_copy(Path(source), filename, Path(dest) / "raw.parquet", IngestOptions())
        if raw is None:
            raise RuntimeError("no untyped copy (not a CSV the pass takes)")
        ref = query.TableRef(resource_id="bench", path=raw.path, rows=raw.rows,
                             columns=[(c["name"], c["type"]) for c in raw.columns], select=raw.select)
        found = query.search(ref, filters={"所属区": "天河区"}, limit=100)
        if not found["records"]:
            raise RuntimeError("the first search found nothing")
        queryable, cpu_q = time.perf_counter() - t0, _cpu_self() - c0
        proposed = {c["name"]: c["type"] for c in raw.columns}
        r = ingest(Path(source), filename, Path(dest), IngestOptions())
        q.put({"ok": True, "seconds": round(queryable, 2), "cpu_s": round(cpu_q, 2),
               "typed_seconds": round(time.perf_counter() - t0, 2), "typed_cpu_s": round(_cpu_self() - c0, 2),
               "rows": r.rows, "engine": r.engine, "proposed_types_final": proposed == {c.name: c.type for c in r.columns},
               "bad_cells": r.bad_cell_count, "peak_rss_mb": round(_vm_hwm_kb() / 1024)})
    except Exception as e:  # reported, not raised
        q.put({"ok": False, "seconds": None, "error": f"{type(e).__name__}: {e}"[:400]})


def queryable_first(source: Path, dest: Path) -> dict[str, Any]:
    shutil.rmtree(dest, ignore_errors=True)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    load0 = _load()
    p = ctx.Process(target=_queryable_child, args=(str(source), source.name, str(dest), q))
    p.start()
    out: dict[str, Any] = q.get()
    p.join()
    out["load"] = [load0, _load()]
    shutil.rmtree(dest, ignore_errors=True)
    return out


def untyped_copy(source: Path, work: Path) -> dict[str, Any]:
    """DuckDB reads the CSV as text, ``typedpass.write_parquet_with_id`` adds ``_id`` and writes snappy Parquet
    (the queryable-first copy, written the way the one pass writes)."""
    import duckdb

    from cityhub.datastore.typedpass import write_parquet_with_id

    dest = work / "untyped.parquet"
    cols = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(COLUMNS))) + "}"
    con = duckdb.connect(":memory:")
    load0 = _load()
    try:
        con.execute("SET threads = 2")
        con.execute("SET memory_limit = '1GB'")
        con.execute("SET preserve_insertion_order = true")
        t0 = time.perf_counter()
        c0 = _cpu_self()
        write_parquet_with_id(
            con,
            f"SELECT * FROM read_csv('{source}', columns = {cols}, header = true, auto_detect = false, parallel = true)",
            dest,
        )
        secs = time.perf_counter() - t0
        cpu = _cpu_self() - c0
    finally:
        con.close()
    dest.unlink(missing_ok=True)
    return {"seconds": round(secs, 2), "cpu_s": round(cpu, 2), "load": [load0, _load()]}


def cleaned_copy(parquet: Path, out: Path) -> None:
    """The typed result back to CSV: bad cells empty, dates ISO, the header as in the source."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 2")
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        con.execute(f"COPY (SELECT {names} FROM read_parquet('{parquet}')) TO '{out}' (FORMAT csv, HEADER true)")
    finally:
        con.close()


def pg_copy(conninfo: str, source: Path, types: dict[str, str], encoding: str | None) -> dict[str, Any]:
    """COPY ... FROM STDIN into a new table (text columns unless ``types`` says otherwise), then drop it."""
    import psycopg

    cols = ", ".join(f'"{c}" {types.get(c, "text")}' for c in COLUMNS)
    opts = "FORMAT csv, HEADER true" + (f", ENCODING '{encoding}'" if encoding else "")
    load0 = _load()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS t_load")
        conn.execute(f"CREATE TABLE t_load ({cols})")
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        pid = int(row[0]) if row else -1
        b0, c0 = _cpu_pid(pid), _cpu_self()
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY t_load FROM STDIN WITH ({opts})") as cp, source.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        secs = time.perf_counter() - t0
        backend, client = _cpu_pid(pid) - b0, _cpu_self() - c0
        n = conn.execute("SELECT count(*) FROM t_load").fetchone()
        conn.execute("DROP TABLE t_load")
    return {"seconds": round(secs, 2), "rows": int(n[0]) if n else 0, "cpu_s": round(backend + client, 2),
            "cpu_backend_s": round(backend, 2), "load": [load0, _load()]}


def pg_text(conninfo: str, source: Path, encoding: str | None) -> dict[str, Any]:
    return pg_copy(conninfo, source, {}, encoding)


def pg_copy_typed(conninfo: str, source: Path) -> dict[str, Any]:
    return pg_copy(conninfo, source, TYPED_PG, None)


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 2) if xs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--staged", action="store_true", help="also time the staged path (slow)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "ingest-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    res: dict[str, Any] = {"machine": machine(), "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           "rows": args.rows, "rounds": [], "load_start": os.getloadavg()}
    db_name, _ = pg_create("cityhub_ingestbench")
    conninfo = PG_ADMIN.rsplit("/", 1)[0] + f"/{db_name}"
    try:
        utf8, gb, clean = work / "data-utf8.csv", work / "data-gb18030.csv", work / "data-clean.csv"
        generate_csv(args.rows, utf8)
        subprocess.run(["iconv", "-f", "UTF-8", "-t", "GB18030", "-o", str(gb), str(utf8)], check=True)
        first = ours(utf8, work / "v-first")
        cleaned_copy(work / "v-first" / "data.parquet", clean)
        shutil.rmtree(work / "v-first", ignore_errors=True)
        res["files"] = {"utf8_mb": round(utf8.stat().st_size / 1e6, 1), "gb18030_mb": round(gb.stat().st_size / 1e6, 1),
                        "clean_mb": round(clean.stat().st_size / 1e6, 1), "types": first.get("types"),
                        "bad_cells": first.get("bad_cells")}
        print(f"== files: {res['files']}", flush=True)
        for k in range(args.rounds):
            rnd: dict[str, Any] = {}
            rnd["pg_text_utf8"] = pg_text(conninfo, utf8, None)
            rnd["ours_utf8"] = ours(utf8, work / "v")
            rnd["pg_text_gb18030"] = pg_text(conninfo, gb, "GB18030")
            rnd["ours_gb18030"] = ours(gb, work / "v")
            rnd["untyped_copy_utf8"] = untyped_copy(utf8, work)
            rnd["pg_typed_clean"] = pg_copy_typed(conninfo, clean)
            rnd["queryable_utf8"] = queryable_first(utf8, work / "q")
            rnd["queryable_gb18030"] = queryable_first(gb, work / "q")
            if args.staged:
                rnd["staged_utf8"] = ours(utf8, work / "v", "staged")
            shutil.rmtree(work / "v", ignore_errors=True)
            print(f"== round {k + 1}: {json.dumps(rnd, ensure_ascii=False)}", flush=True)
            res["rounds"].append(rnd)
    finally:
        pg_drop(db_name)
        shutil.rmtree(work, ignore_errors=True)
    keys = list(res["rounds"][0]) if res["rounds"] else []
    med = {k: _median([r[k]["seconds"] for r in res["rounds"] if r[k].get("seconds") is not None]) for k in keys}
    res["median_s"] = med
    res["median_cpu_s"] = {k: _median([r[k]["cpu_s"] for r in res["rounds"] if r[k].get("cpu_s") is not None])
                           for k in keys}
    for k in ("queryable_utf8", "queryable_gb18030"):
        if k in keys:  # the whole-file typing that follows the queryable copy, timed from the start
            med[k + "_typed"] = _median([r[k]["typed_seconds"] for r in res["rounds"] if r[k].get("typed_seconds")])
            res["median_cpu_s"][k + "_typed"] = _median([r[k]["typed_cpu_s"] for r in res["rounds"]
                                                         if r[k].get("typed_cpu_s")])
    res["median_cpu_s_per_million_rows"] = {k: round(v * 1e6 / args.rows, 2) for k, v in res["median_cpu_s"].items()}
    rss = {k: max(r[k].get("peak_rss_mb", 0) for r in res["rounds"])
           for k in keys if k.startswith(("ours", "staged", "queryable"))}
    res["peak_rss_mb"] = rss
    loads = [x for r in res["rounds"] for v in r.values() for x in v.get("load", [])]
    res["load_range"] = [min(loads), max(loads)] if loads else []
    ratio = {
        "typed_utf8_vs_copy": round(med["pg_text_utf8"] / med["ours_utf8"], 2),
        "typed_gb18030_vs_copy": round(med["pg_text_gb18030"] / med["ours_gb18030"], 2),
        "untyped_copy_vs_copy": round(med["pg_text_utf8"] / med["untyped_copy_utf8"], 2),
        "queryable_utf8_vs_copy": round(med["pg_text_utf8"] / med["queryable_utf8"], 2),
        "queryable_gb18030_vs_copy": round(med["pg_text_gb18030"] / med["queryable_gb18030"], 2),
        "pg_typed_clean_vs_pg_text": round(med["pg_text_utf8"] / med["pg_typed_clean"], 2),
    }
    if "staged_utf8" in med:
        ratio["staged_utf8_vs_copy"] = round(med["pg_text_utf8"] / med["staged_utf8"], 2)
    res["ratios"] = ratio
    engines = {r[k].get("engine") for r in res["rounds"] for k in ("ours_utf8", "ours_gb18030")}
    res["engines"] = sorted(str(e) for e in engines)
    print(json.dumps({"median_s": med, "median_cpu_s": res["median_cpu_s"],
                      "cpu_s_per_million_rows": res["median_cpu_s_per_million_rows"], "ratios": ratio, "peak_rss_mb": rss, "load_range": res["load_range"],
                      "engines": res["engines"]}, ensure_ascii=False, indent=1))
    (OUT / "ingest.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    print(f"wrote {OUT / 'ingest.json'}")


if __name__ == "__main__":
    main()
