"""Data-request board benchmark (issue 15): the public board ``/requests`` (HTML page) and its API
``/api/data-requests`` with 50,000 requests, served by a real uvicorn server (1 worker), requests sent one after
the other by a second process; p50/p95/p99 per kind of board view.

Views, side by side in one run, same server, same store: the first page (newest first); a deep page (keyset
``cursor`` at a random id); by status; by department; overdue only; a department's overdue requests (the
department page's section); a word search (jieba words through the index: GIN ``tsvector`` on PostgreSQL, FTS5 on
SQLite; ``engage/datareq_search.py``) with words every twentieth request holds, and with words held by one
request or none; the same first page through the JSON API. Target (issue 15): board page p95 ≤ 100 ms.

The baseline side by side, in the same run on the same store: the board's word search as it was before the index
(``LIKE``/``instr`` on SQLite, ``ILIKE`` on PostgreSQL over title and description: a scan), timed against the
indexed one by calling the ``data_request_list`` action in this process with the same queries (the only
difference between the two is the word condition). ``agreement``: on the Guangzhou demo's titles, how many of the
dictionary words a title contains as text the indexed search finds it by, and how many titles it finds that do
not contain the word as text (no database needed).

The requests are bulk-inserted (Core ``INSERT``; 20% waiting to be routed, 40% routed — a fifth of those
overdue —, 32% answered, some late, 8% withdrawn or closed) across 40 departments over three years; everything
measured runs through the product's pages, actions and HTTP stack.

Run: ``python -m benchmarks.datareq_bench [--requests 50000] [--n 200] [--pg]``; results go to
``benchmarks/out/datareq.json``. The store lives in ``benchmarks/out/datareq-store`` and is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, Server, machine, pg_create, pg_drop, summary

WORDS = ["公交", "地铁", "停车", "空气质量", "水质", "学校", "医院", "企业登记", "气象", "路网", "人口", "住房", "绿地",
         "垃圾分类", "充电桩", "噪声", "排水", "路灯", "旅游", "餐饮许可"]

# words no request of the fill holds (the scan's worst case: it reads every row)
RARE = [f"/requests?q={w}" for w in ("潮汐车道", "无障碍设施", "GTFS", "共享单车", "古树名木")]


def activate(home: Path, url: str) -> None:
    os.environ["CITYHUB_HOME"] = str(home)
    os.environ["CITYHUB_DATABASE_URL"] = url
    os.environ.setdefault("CITYHUB_SECRET_KEY", "benchmark-secret-key-0123456789")
    from cityhub import db
    from cityhub.settings import get_settings

    get_settings.cache_clear()
    db.reset_caches()


def fill(n: int, rnd: random.Random) -> dict[str, Any]:
    """40 departments, one asker, ``n`` requests (Core bulk insert), and their first history event."""
    from sqlalchemy import insert, select, text

    from cityhub import actions
    from cityhub.accounts.models import Department, User
    from cityhub.context import system_context
    from cityhub.db import session_factory
    from cityhub.engage import datareq_rules as rules
    from cityhub.engage.datareq_models import DataRequest, DataRequestEvent
    from cityhub.ids import uscc_check_char

    ctx = system_context("cli")
    for i in range(40):
        first = f"1144010000{i:07d}"
        actions.call("department_create", ctx, {"slug": f"bench-dept-{i:02d}", "name": f"广州市测试局{i:02d}",
                                                "short_name": f"测试局{i:02d}", "uscc": first + uscc_check_char(first),
                                                "level": "市"})
    actions.call("user_create", ctx, {"name": "asker", "password": "Quiet-River-Lantern-Bench-2026", "role": "public"})
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    with session_factory()() as s:
        depts = list(s.scalars(select(Department.id)))
        user_id = s.scalar(select(User.id).where(User.name == "asker"))
        rows: list[dict[str, Any]] = []
        for i in range(n):
            created = now - dt.timedelta(minutes=(n - i) * 30)  # oldest first: ids grow with time
            word = rnd.choice(WORDS)
            roll = rnd.random()
            dept = rnd.choice(depts)
            row: dict[str, Any] = {
                "title": f"{word}相关数据需求 {i}", "description": f"希望开放{word}的明细数据,按月更新,第{i}号。" * 3,
                "purpose": "研究", "suggested_department_id": dept if roll < 0.5 else None, "contact": "",
                "user_id": user_id, "created_by": "asker", "created_at": created, "status": rules.SUBMITTED,
                "department_id": None, "routed_at": None, "routed_by": "", "deadline": None,
                "deadline_provisional": False, "escalated_at": None, "answer_kind": "", "answer_text": "",
                "open_by": None, "answer_dataset_id": None, "answer_url": "", "legal_basis": "", "answered_at": None,
                "answered_by": "", "answered_late": False, "merged_into_id": None, "closed_reason": "",
                "updated_at": created}
            if roll >= 0.2:
                routed = created + dt.timedelta(days=1)
                overdue = rnd.random() < 0.2
                # still in time: due within the next four weeks; overdue: due 3 to 60 days ago
                deadline = (today - dt.timedelta(days=rnd.randrange(3, 60))) if overdue else \
                    (today + dt.timedelta(days=rnd.randrange(0, 28)))
                row.update(status=rules.ROUTED, department_id=dept, routed_at=routed, routed_by="admin",
                           deadline=deadline)
                if roll >= 0.6:
                    row.update(status=rules.ANSWERED, answer_kind=rnd.choice(rules.ANSWER_KINDS),
                               answer_text="已答复", answered_at=routed + dt.timedelta(days=10),
                               answered_by="steward", answered_late=rnd.random() < 0.1,
                               legal_basis="《保密法》", deadline=routed.date() + dt.timedelta(days=28))
                if roll >= 0.92:
                    row.update(status=rnd.choice((rules.WITHDRAWN, rules.CLOSED)), answer_kind="", answered_at=None)
            rows.append(row)
        for start in range(0, n, 5000):
            s.execute(insert(DataRequest), rows[start:start + 5000])
        ids = list(s.scalars(select(DataRequest.id)))
        s.execute(insert(DataRequestEvent), [{"request_id": rid, "at": now, "actor": "asker", "event": "submitted",
                                              "note": "", "detail": {}} for rid in ids])
        s.commit()
        if s.get_bind().dialect.name == "postgresql":
            # the planner's statistics of the filled table, as autovacuum gives a running portal (it may not have
            # got to it by the time the views are measured, and then the figures depend on when it did)
            s.execute(text("ANALYZE data_request, data_request_event"))
            s.commit()
    return {"min_id": min(ids), "max_id": max(ids), "departments": len(depts)}


def legacy_words(ctx: Any, q: str) -> Any:
    """The word condition before the index (the baseline): a scan of title and description."""
    from sqlalchemy import func, or_

    from cityhub.engage.datareq_models import DataRequest

    if ctx.db.get_bind().dialect.name == "sqlite":
        if not any("a" <= c.lower() <= "z" for c in q):
            return or_(func.instr(DataRequest.title, q) > 0, func.instr(DataRequest.description, q) > 0)
        return or_(DataRequest.title.contains(q, autoescape=True),
                   DataRequest.description.contains(q, autoescape=True))
    return or_(DataRequest.title.icontains(q, autoescape=True), DataRequest.description.icontains(q, autoescape=True))


def side_by_side(queries: dict[str, list[str]], n: int) -> dict[str, Any]:
    """The board's word search (``data_request_list``, first page of 50, not counted, as the board asks) with the
    index and with the scan it replaced, alternating query by query."""
    from cityhub import actions
    from cityhub.context import system_context
    from cityhub.engage import datareq_actions

    indexed = datareq_actions._words
    out: dict[str, Any] = {}
    for name, qs in queries.items():
        times: dict[str, list[float]] = {"index": [], "scan (before)": []}
        for i in range(n):
            q = qs[i % len(qs)]
            for label, words in (("index", indexed), ("scan (before)", legacy_words)):
                datareq_actions._words = words  # type: ignore[assignment]
                try:
                    t0 = time.perf_counter()
                    actions.call("data_request_list", system_context("web"), {"q": q, "limit": 50, "count": False})
                    times[label].append((time.perf_counter() - t0) * 1000)
                finally:
                    datareq_actions._words = indexed  # type: ignore[assignment]
        out[name] = {label: summary(ms) for label, ms in times.items()}
    return out


def agreement() -> dict[str, Any]:
    """Indexed search against text containment on the demo's titles: every dictionary word (2-4 Chinese
    characters) a title contains as text, searched for."""
    import re

    import rjieba
    import yaml

    from cityhub.engage.datareq_search import doc_tokens, query_terms

    titles: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "title" and isinstance(v, str) and re.search("[\u4e00-\u9fff]", v):
                    titles.add(v)
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for f in sorted((Path(__file__).resolve().parents[1] / "src/cityhub/demo/data").glob("*.yaml")):
        walk(yaml.safe_load(f.read_text(encoding="utf-8")))
    toks = {t: set(doc_tokens(t, "").split()) for t in titles}
    words = {t[i:i + n] for t in titles for n in (2, 3, 4) for i in range(len(t) - n + 1)}
    words = {w for w in words if re.fullmatch("[\u4e00-\u9fff]+", w) and list(rjieba.cut(w, False)) == [w]}

    def hit(w: str, t: str) -> bool:
        return all(q in toks[t] for q in query_terms(w))

    pairs = [(w, t) for w in words for t in titles if w in t]
    found = sum(hit(w, t) for w, t in pairs)
    extra = sum(1 for w in words for t in titles if w not in t and hit(w, t))
    return {"titles": len(titles), "words": len(words), "word_in_title_pairs": len(pairs), "found": found,
            "found_share": round(found / len(pairs), 3), "found_without_the_text": extra}


def measure(url: str, paths: list[str], n: int) -> dict[str, float]:
    import httpx

    ms: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in paths[:3]:  # warm the worker's caches
            client.get(path)
        for i in range(n):
            path = paths[i % len(paths)]
            t0 = time.perf_counter()
            resp = client.get(path)
            ms.append((time.perf_counter() - t0) * 1000)
            if resp.status_code != 200:
                raise RuntimeError(f"{path}: {resp.status_code} {resp.text[:200]}")
    return summary(ms)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--n", type=int, default=200, help="page loads per view")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of the embedded SQLite store")
    args, _others = parser.parse_known_args()
    OUT.mkdir(parents=True, exist_ok=True)
    home = OUT / "datareq-store"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    pg_name = None
    if args.pg:
        pg_name, url = pg_create("cityhub_datareq_bench")
    else:
        url = f"sqlite:///{home / 'cityhub.db'}"
    activate(home, url)
    from cityhub.migrate import upgrade

    upgrade(url)
    rnd = random.Random(15)
    t0 = time.perf_counter()
    info = fill(args.requests, rnd)
    results: dict[str, Any] = {"machine": machine(), "backend": "postgresql" if args.pg else "sqlite",
                               "requests": args.requests, "fill_s": round(time.perf_counter() - t0, 1), **info}
    from cityhub import actions
    from cityhub.context import system_context

    t0 = time.perf_counter()  # the hourly job, as a running portal would have run it (it also refreshes statistics)
    escalated = actions.call("data_request_escalate", system_context("job"), {})["escalated"]
    results["escalate_s"], results["escalated"] = round(time.perf_counter() - t0, 2), len(escalated)
    depts = [f"bench-dept-{i:02d}" for i in range(40)]
    lo, hi = info["min_id"], info["max_id"]
    views = {
        "first page": ["/requests"],
        "deep page (cursor)": [f"/requests?cursor={rnd.randrange(lo + 100, hi)}" for _ in range(50)],
        "status=routed": ["/requests?status=routed", "/requests?status=answered", "/requests?status=submitted"],
        "department": [f"/requests?department={d}" for d in depts],
        "overdue": ["/requests?overdue=1", "/requests?overdue=1&sort=oldest"],
        "department overdue": [f"/requests?department={d}&overdue=1" for d in depts],
        "word search (index), common words": [f"/requests?q={w}" for w in WORDS],
        "word search (index), rare or absent words": RARE + [f"/requests?q=第{rnd.randrange(0, args.requests)}号"
                                                            for _ in range(10)],
        "API word search (counted to 10,000)": [f"/api/data-requests?q={w}" for w in WORDS[:10]],
        "API first page": ["/api/data-requests"],
        "API deep page": [f"/api/data-requests?cursor={rnd.randrange(lo + 100, hi)}" for _ in range(50)],
        "request page": [f"/requests/{rnd.randrange(lo, hi)}" for _ in range(50)],
    }
    results["side_by_side"] = side_by_side({
        "common words": WORDS,
        "rare or absent words": [p.split("q=", 1)[1] for p in RARE] + [f"第{rnd.randrange(0, args.requests)}号"
                                                                      for _ in range(10)],
    }, min(args.n, 100))
    results["agreement"] = agreement()
    env = {"CITYHUB_HOME": str(home), "CITYHUB_DATABASE_URL": url, "CITYHUB_SENSING_DEMO": "false",
           "CITYHUB_SECRET_KEY": os.environ["CITYHUB_SECRET_KEY"]}
    try:
        with Server(env, workers=1) as server:
            results["views"] = {name: measure(server.url, paths, args.n) for name, paths in views.items()}
    finally:
        if pg_name:
            from cityhub import db

            db.reset_caches()
            pg_drop(pg_name)
    shutil.rmtree(home, ignore_errors=True)
    board = [v["p95_ms"] for k, v in results["views"].items() if not k.startswith("API")]
    results["board_p95_worst_ms"] = max(board)
    out = OUT / ("datareq-pg.json" if args.pg else "datareq.json")
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
