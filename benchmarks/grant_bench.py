"""Grant-scoped datastore search benchmark (issue 12): a 1,000,000-row resource, 50 concurrent clients over HTTP
against a real uvicorn server (2 workers), wrk measuring requests/s and latency percentiles.

Side by side in one run, same server, same table, same random query mix (an equality filter on one of 40 licence
categories, limit 100, exact total):
- **scoped**: ``/api/exchange/{rid}/search`` as a registered system whose grant allows 4 of the 7 columns and the
  rows of 2 of the 11 districts (credentials and grant checked, the call metered);
- **unscoped, same answer**: the native ``datastore_search`` as the owning department's steward (API token) with
  the grant's district filter added to the filters and the grant's columns as ``fields`` — the same rows;
- **unscoped, whole table**: the same request without the district condition (what a search costs with no grant).
Targets (issue 12): scoped ≥ 500 requests/s, p99 ≤ 100 ms. Then the metering flush alone (``flush_bench``): 20,000
buffered calls written by one ``exchange_call_flush`` (with their audit records), and the audit log verified.

With ``--answer-cache both`` (the default) the three runs are made twice, against a server with the datastore
answer cache on (its default size) and one with it off (``CITYHUB_DATASTORE_ANSWER_CACHE_MB=0``), and printed side
by side. The query mix has 40 distinct queries per variant (one per category): with the cache on, after the warm-up
nearly every request is answered from it (see BENCHMARKS.md).

Run: ``python -m benchmarks.grant_bench [--rows 1000000] [--seconds 20] [--answer-cache on|off|both]``; results go to
``benchmarks/out/grant.json``. The store lives in ``benchmarks/out/grant-store`` and is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.common import OUT, Server, machine

DISTRICTS = ["荔湾区", "越秀区", "海珠区", "天河区", "白云区", "黄埔区", "番禺区", "花都区", "南沙区", "从化区", "增城区"]
CATEGORIES = [f"许可类别{i:02d}" for i in range(40)]
GRANT_COLUMNS = ["编号", "所属区", "许可类别", "从业人数"]
GRANT_ROWS = {"所属区": ["天河区", "越秀区"]}


def activate(home: Path, url: str) -> None:
    os.environ["CITYHUB_HOME"] = str(home)
    os.environ["CITYHUB_DATABASE_URL"] = url
    os.environ.setdefault("CITYHUB_SECRET_KEY", "benchmark-secret-key-0123456789")
    from cityhub import db
    from cityhub.settings import get_settings

    get_settings.cache_clear()
    db.reset_caches()


def make_csv(n: int, path: Path) -> None:
    import duckdb

    districts = "[" + ", ".join(f"'{d}'" for d in DISTRICTS) + "]"
    cats = "[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]"
    duckdb.sql(f"""COPY (SELECT 100000000 + i AS "编号", {districts}[1 + (hash(i * 10 + 1) % 11)::INTEGER] AS "所属区",
                  '单位' || ((hash(i * 10 + 2) % 100000)::INTEGER)::VARCHAR AS "单位名称", {cats}[1 + (hash(i * 10 + 3) % 40)::INTEGER] AS "许可类别",
                  ((hash(i * 10 + 4) % 500)::INTEGER)::INTEGER AS "从业人数", round(((hash(i * 10 + 5) % 1000000)::INTEGER) / 100.0, 2) AS "注册资本",
                  DATE '2015-01-01' + ((hash(i * 10 + 6) % 3000)::INTEGER)::INTEGER AS "发证日期"
                  FROM range({n}) t(i)) TO '{path}' (FORMAT csv, HEADER true)""")


def setup(n: int) -> dict[str, Any]:
    """Departments, a steward, a conditionally shared dataset with the n-row table, a consumer system and its grant,
    through the actions (the system and grant rows directly: their workflow is another part of issue 12)."""
    from cityhub import actions, jobs
    from cityhub.accounts.models import Department
    from cityhub.accounts.security import token_hash
    from cityhub.catalog.schemas import UploadedFile
    from cityhub.context import system_context
    from cityhub.db import session_scope, utcnow
    from cityhub.demo import content
    from cityhub.sharing.models import ShareGrant, ShareRequest, SharingSystem

    ctx = system_context("bench")
    ctx.extra["jobs"] = "inline"
    demo = content.load(dt.date.today())
    provider, consumer = demo.departments[0], demo.departments[1]
    for d in (provider, consumer):
        actions.call("department_create", system_context("bench"), {
            "slug": d.slug, "name": d.name, "short_name": d.short_name, "name_en": d.name_en, "uscc": d.uscc,
            "level": d.level, "district": d.district, "description": d.description})
    password = "Bench-Steward-Passphrase-" + secrets.token_hex(4)
    actions.call("user_create", system_context("bench"), {"name": "bench_steward", "password": password,
                                                          "role": "steward", "department": provider.slug})
    user_token = actions.call("token_create", system_context("bench"), {"user": "bench_steward", "days": 1})["token"]
    data = {"name": "bench-licences", "title": "经营许可信息（基准测试）", "department": provider.slug,
            "catalog_type": "主题", "class_item": "02", "class_category": "001", "format": "电子表格",
            "abstract": "用于授权范围查询基准测试的经营许可信息，共一百万条记录，按区和许可类别查询。" * 2,
            "data_items": [{"name": c, "type": "string", "description": c} for c in GRANT_COLUMNS],
            "sharing_class": "有条件共享", "sharing_basis": "《政务信息资源共享管理暂行办法》",
            "sharing_condition": "仅限执法核查", "opening_class": "不予开放", "update_cycle": "每月",
            "published_on": "2020-05-01", "theme": "transport", "tags": ["基准"], "license_id": "cc-by-4.0"}
    ds = actions.call("dataset_create", system_context("bench"), data)
    if ds.get("publication") == "draft":
        actions.call("dataset_submit", system_context("bench"), {"id": ds["name"]})
    if ds.get("publication") != "published":
        actions.call("dataset_approve", system_context("bench"), {"id": ds["name"]})
    csv_path = OUT / "grant-rows.csv"
    print(f"  generating {n:,} rows …")
    make_csv(n, csv_path)
    t0 = time.perf_counter()
    with csv_path.open("rb") as fh:
        res = actions.call("resource_create", ctx, {"dataset": ds["name"], "upload": UploadedFile("许可.csv", fh)})
    jobs.wait_idle()
    print(f"  loaded in {time.perf_counter() - t0:.1f} s")
    csv_path.unlink()
    system_token = secrets.token_urlsafe(24)
    with session_scope() as db:
        prov = db.query(Department).filter_by(slug=provider.slug).one()
        cons = db.query(Department).filter_by(slug=consumer.slug).one()
        system = SharingSystem(department_id=cons.id, code="bench-app", name="benchmark system",
                               token_hash=token_hash(system_token), active=True)
        db.add(system)
        db.flush()
        req = ShareRequest(kind="share", dataset_id=ds["id"], resource_id=res["id"], provider_department_id=prov.id,
                           department_id=cons.id, system_id=system.id, purpose="benchmark", columns=GRANT_COLUMNS,
                           row_scope=GRANT_ROWS, duration_days=30, status="approved", deadline=dt.date.today())
        db.add(req)
        db.flush()
        db.add(ShareGrant(request_id=req.id, dataset_id=ds["id"], resource_id=res["id"], system_id=system.id,
                          columns=GRANT_COLUMNS, row_filter=GRANT_ROWS, expires_at=utcnow() + dt.timedelta(days=1)))
    return {"rid": res["id"], "client": f"{consumer.slug}/bench-app", "system_token": system_token,
            "user_token": user_token, "consumer": consumer.slug}


def lua(path: str, headers: dict[str, str], extra_filters: dict[str, Any], fields: list[str] | None) -> str:
    """A wrk script: GET ``path`` with a random licence category as the filter (plus ``extra_filters``)."""
    cats = ",".join(f'"{c}"' for c in CATEGORIES)
    head = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    prefix = json.dumps(extra_filters, ensure_ascii=False)[:-1]
    sep = ", " if extra_filters else ""
    fields_q = "&fields=" + quote(",".join(fields)) if fields else ""
    return f"""
math.randomseed(42)
local cats = {{{cats}}}
{head}
local function enc(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
request = function()
  local f = '{prefix}{sep}"许可类别": "' .. cats[math.random(1, #cats)] .. '"}}'
  return wrk.format("GET", "{path}?limit=100{fields_q}&filters=" .. enc(f))
end
"""


def run_wrk(url: str, script: str, name: str, seconds: int) -> dict[str, Any]:
    path = OUT / f"grant-{name}.lua"
    path.write_text(script)
    subprocess.run(["wrk", "-t2", "-c50", "-d3s", "-s", str(path), url], capture_output=True, check=True)  # warm
    load = os.getloadavg()
    proc = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(path), url],
                          capture_output=True, text=True, check=True)
    out = proc.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"\s+(50|75|90|99)%\s+([\d.]+\w+)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    (OUT / f"wrk-grant-{name}.txt").write_text(out)
    return {"req_per_s": rps, "latency": lat, "non_2xx": int(errors.group(1)) if errors else 0,
            "load_average_before": [round(x, 2) for x in load]}


def flush_bench(n: int = 20_000) -> dict[str, Any]:
    """The metering flush on its own: ``n`` calls buffered in memory (as ``n`` exchange calls leave them), then
    one ``exchange_call_flush`` (the per-second job) writes them (and, since the exchange reads are audited, one
    audit record per call in the same transaction). Also: the exchange records in the audit log and whether the
    log verifies."""
    from sqlalchemy import func, select

    from cityhub import audit
    from cityhub.db import session_scope
    from cityhub.sharing import metering
    from cityhub.sharing.exchange_actions import flush_pending
    from cityhub.sharing.models import ShareGrant

    flush_pending()
    with session_scope() as db:
        g = db.scalars(select(ShareGrant)).first()
        assert g is not None and g.system_id is not None
        system_id, grant_id, rid = g.system_id, g.id, g.resource_id
        before = audit.count(db)
    t0 = time.perf_counter()
    for _ in range(n):
        metering.record(system_id=system_id, consumer_department_id=2, provider_department_id=1, grant_id=grant_id,
                        resource_id=rid, action="exchange_search", status="ok", rows=100, size=9000, ms=5.0)
    buffered = time.perf_counter() - t0
    t0 = time.perf_counter()
    written = flush_pending()
    flushed = time.perf_counter() - t0
    with session_scope() as db:
        added = audit.count(db) - before
        audited = db.scalar(select(func.count()).select_from(audit.AuditRecord)
                            .where(audit.AuditRecord.action.in_(("exchange_search", "exchange_sql"))))
        t0 = time.perf_counter()
        verified = audit.verify(db)
        verify_s = time.perf_counter() - t0
    out = {"calls": written, "record_us_per_call": round(buffered / n * 1e6, 2), "flush_s": round(flushed, 3),
           "flush_calls_per_s": round(written / flushed), "audit_records_added": added,
           "exchange_audit_records": int(audited or 0), "audit_verified": verified.ok,
           "audit_size": verified.count, "verify_s": round(verify_s, 2)}
    print("  flush:", out)
    return out


def check_same(url: str, s: dict[str, Any]) -> None:
    """The scoped answer equals the unscoped one with the grant applied (a spot check before timing)."""
    import httpx

    f = {"许可类别": CATEGORIES[3]}
    a = httpx.get(f"{url}/api/exchange/{s['rid']}/search", params={"filters": json.dumps(f), "limit": 100},
                  headers={"X-Road-Client": s["client"], "Authorization": f"Bearer {s['system_token']}"}).json()
    b = httpx.get(f"{url}/api/v1/resources/{s['rid']}/datastore/search",
                  params={"filters": json.dumps({**f, **GRANT_ROWS}), "limit": 100,
                          "fields": ",".join(["_id", *GRANT_COLUMNS])},
                  headers={"Authorization": f"Bearer {s['user_token']}"}).json()
    assert a["records"] == b["records"] and a["total"] == b["total"], (a.get("error"), b.get("error"))
    print(f"  equality check: {a['total']:,} rows in scope for one category, same answer both ways")


def side_by_side(result: dict[str, Any], modes: list[str]) -> str:
    """The runs of each answer-cache mode as one table (requests/s, p50, p99, non-2xx)."""
    lines = [f"{'':28}" + "".join(f"{'cache ' + m:>36}" for m in modes)]
    for name in ("scoped", "unscoped_same_answer", "unscoped_whole_table"):
        cells = []
        for m in modes:
            r = result[f"answer_cache_{m}"][name]
            lat = r["latency"]
            cells.append(f"{r['req_per_s']:>9.1f}/s p50 {lat.get('50', '?'):>8} p99 {lat.get('99', '?'):>8}"
                         f" {r['non_2xx']:>3}")
        lines.append(f"{name:28}" + "".join(f"{c:>36}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--answer-cache", choices=("on", "off", "both"), default="both",
                        help="the datastore answer cache on (default size), off (0), or both, one after the other")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    OUT.mkdir(parents=True, exist_ok=True)
    home = OUT / "grant-store"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'cityhub.db'}"
    activate(home, url)
    from cityhub.migrate import upgrade

    upgrade(url)
    print(f"== grant bench: {args.rows:,} rows")
    s = setup(args.rows)
    env = {"CITYHUB_HOME": str(home), "CITYHUB_DATABASE_URL": url,
           "CITYHUB_SECRET_KEY": os.environ["CITYHUB_SECRET_KEY"]}
    result: dict[str, Any] = {"machine": machine(), "rows": args.rows, "grant_columns": GRANT_COLUMNS,
                              "grant_rows": GRANT_ROWS, "clients": 50, "server_workers": 2, "seconds": args.seconds}
    modes = {"on": ["on"], "off": ["off"], "both": ["on", "off"]}[args.answer_cache]
    try:
        for mode in modes:
            # the answer cache of datastore_search (CITYHUB_DATASTORE_ANSWER_CACHE_MB): the default size, or 0 (off)
            mode_env = {**env, "CITYHUB_DATASTORE_ANSWER_CACHE_MB": os.environ.get(
                "CITYHUB_DATASTORE_ANSWER_CACHE_MB", "64") if mode == "on" else "0"}
            part: dict[str, Any] = {"answer_cache_mb": int(mode_env["CITYHUB_DATASTORE_ANSWER_CACHE_MB"])}
            result[f"answer_cache_{mode}"] = part
            print(f"  -- answer cache {mode} ({part['answer_cache_mb']} MiB)")
            with Server(mode_env, workers=2) as server:
                check_same(server.url, s)
                sys_headers = {"X-Road-Client": s["client"], "Authorization": f"Bearer {s['system_token']}"}
                user_headers = {"Authorization": f"Bearer {s['user_token']}"}
                native = f"/api/v1/resources/{s['rid']}/datastore/search"
                part["scoped"] = run_wrk(server.url, lua(f"/api/exchange/{s['rid']}/search", sys_headers, {}, None),
                                         f"scoped-{mode}", args.seconds)
                print("  scoped:", part["scoped"])
                part["unscoped_same_answer"] = run_wrk(
                    server.url, lua(native, user_headers, GRANT_ROWS, ["_id", *GRANT_COLUMNS]), f"same-{mode}",
                    args.seconds)
                print("  unscoped, same answer:", part["unscoped_same_answer"])
                part["unscoped_whole_table"] = run_wrk(server.url, lua(native, user_headers, {}, None),
                                                       f"whole-{mode}", args.seconds)
                print("  unscoped, whole table:", part["unscoped_whole_table"])
        if len(modes) > 1:
            print(side_by_side(result, modes))
        activate(home, url)
        from cityhub import actions
        from cityhub.context import system_context

        usage = actions.call("exchange_usage_show", system_context("bench"), {})
        result["metered_calls"] = usage["total"]["calls"]
        result["metered_records"] = usage["total"]["records"]
        print(f"  metered: {usage['total']['calls']:,} calls, {usage['total']['records']:,} records")
        result["flush"] = flush_bench()
    finally:
        from cityhub import db

        db.reset_caches()
        shutil.rmtree(home, ignore_errors=True)
    (OUT / "grant.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
