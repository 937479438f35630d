"""Catalog benchmark (issue: foundation): 100,000 generated datasets, on SQLite and on PostgreSQL.

Measures, side by side in one run:
- full reindex (`search_reindex`, jieba in worker processes) — target ≤ 60 s;
- `package_search` keyword + two facet filters (+ 7 facet counts) over HTTP, sequential — target p95 ≤ 50 ms;
  baseline in the same run: the naive approach, `LIKE '%kw%'` scans with the same filters and facet counts;
- `package_show` under 50 concurrent clients (wrk, 2 threads) against 2 uvicorn workers — targets ≥ 1,000 req/s,
  p99 ≤ 100 ms. (CKAN's Solr-backed package_search: 200–300 ms per call on data.gov.)

Run: `python -m benchmarks.catalog_bench [--n 100000] [--backends sqlite,postgres]`.
The 100,000 datasets are bulk-inserted (a generator, not the steward path); everything measured goes through the
product's own code: actions, the search index, the HTTP stack.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, Server, machine, pct, pg_create, pg_drop, summary

PLACES = ["天河", "越秀", "海珠", "荔湾", "白云", "黄埔", "番禺", "花都", "南沙", "从化", "增城", "珠江新城", "琶洲", "南沙港"]
SUBJECTS = ["公交站点", "地铁客流", "停车场", "出租车", "空气质量", "水质监测", "医院", "学校", "幼儿园", "招聘会", "社保网点",
            "充电桩", "路灯", "易涝点", "井盖", "旅游景区", "博物馆", "企业登记", "人口统计", "电子证照", "信用红名单", "地块",
            "气象预警", "食品抽检", "价格监测", "GDP", "用电量", "燃气管网", "垃圾分类", "公园绿地", "体育场馆", "图书馆"]
KINDS = ["统计", "信息", "名录", "监测数据", "分布", "日报", "月报", "年度数据", "实时数据", "清单"]
PHRASES = ["按日发布", "覆盖全市各区", "用于城市规划与公共服务研究", "数据来源于业务系统", "包含名称、地址和经纬度",
           "按行政区汇总", "支持接口调用和文件下载", "定期更新并经过质量校核", "字段说明见数据项", "可用于交通与环境分析",
           "反映各区发展情况", "由主管部门统一采集"]
TAGS = ["交通", "公交", "地铁", "环境", "空气", "教育", "医疗", "就业", "社保", "能源", "旅游", "信用", "企业", "人口", "气象",
        "城市管理", "农业", "安全", "地理", "统计"]
THEMES = ["credit", "transport", "health", "education", "employment", "social-security", "energy", "environment",
          "urban-management", "economy", "agriculture", "culture-tourism", "public-safety", "geospatial", "livelihood",
          "finance", "science-technology", "organizations", "weather"]
CYCLES = ["实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "不定期"]
FORMATS = ["CSV", "XLSX", "JSON", "GEOJSON", "XML", "PDF"]
DISTRICTS = ["荔湾区", "越秀区", "海珠区", "天河区", "白云区", "黄埔区", "番禺区", "花都区", "南沙区", "从化区", "增城区"]
QUERY_WORDS = ["交通", "公交", "空气质量", "医院", "学校", "停车场", "企业", "旅游", "充电桩", "人口", "天河", "监测数据"]


def activate(home: Path, url: str) -> None:
    os.environ["CITYHUB_HOME"] = str(home)
    os.environ["CITYHUB_DATABASE_URL"] = url
    os.environ.setdefault("CITYHUB_SECRET_KEY", "benchmark-secret-key-0123456789")
    from cityhub import db
    from cityhub.settings import get_settings

    get_settings.cache_clear()
    db.reset_caches()


def generate(n: int, seed: int = 7) -> None:
    """Departments through the actions; n datasets and their resources bulk-inserted."""
    from sqlalchemy import insert, select

    from cityhub import actions, db
    from cityhub.accounts.models import Department
    from cityhub.catalog.models import Dataset, Resource
    from cityhub.context import system_context
    from cityhub.demo import content

    ctx = system_context("bench")
    for d in content.current().departments:
        actions.call("department_create", ctx, {"slug": d.slug, "name": d.name, "short_name": d.short_name,
                                                "uscc": d.uscc, "level": d.level, "district": d.district})
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    with db.session_scope() as s:
        dept_ids = list(s.scalars(select(Department.id)))
    batch = 5000
    for start in range(0, n, batch):
        datasets, resources = [], []
        for i in range(start, min(n, start + batch)):
            place, subject, kind = rng.choice(PLACES), rng.choice(SUBJECTS), rng.choice(KINDS)
            title = f"{place}{subject}{kind}"
            abstract = f"{title}，" + "，".join(rng.sample(PHRASES, 4)) + f"。样例编号{i}。"
            item, cat = 1 + i % 19, 1 + (i // 19) % 999
            modified = now - dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 900))
            datasets.append({
                "id": i + 1, "name": f"bench-{i}", "title": title, "title_en": "", "code": f"2{item:02d}{cat:03d}/{i:06d}",
                "catalog_type": "主题", "base_category": None, "class_item": f"{item:02d}",
                "class_category": f"{cat:03d}", "class_sub": "", "department_id": rng.choice(dept_ids),
                "abstract": abstract, "format": "电子表格",
                "data_items": [{"name": "名称", "type": "string", "description": "名称"},
                               {"name": "所属区", "type": "string", "description": "行政区"},
                               {"name": f"{subject}数量", "type": "integer", "description": "数量"}],
                "sharing_class": "无条件共享", "sharing_condition": "", "sharing_method": ["接口"], "sharing_basis": "",
                "opening_class": rng.choice(["无条件开放"] * 8 + ["有条件开放", "不予开放"]),
                "opening_condition": "", "update_cycle": rng.choice(CYCLES), "published_on": modified.date(),
                "related_codes": [], "theme": rng.choice(THEMES), "tags": rng.sample(TAGS, rng.randint(2, 4)),
                "license_id": "cc-by-4.0", "temporal_start": dt.date(2018, 1, 1), "temporal_end": None,
                "districts": rng.sample(DISTRICTS, rng.randint(1, 11)), "contact_name": "", "contact_email": "",
                "contact_phone": "", "private": False, "state": "active", "created_at": modified,
                "modified_at": modified, "data_updated_at": modified, "views_total": rng.randrange(0, 5000),
                "downloads_total": rng.randrange(0, 500), "api_calls_total": rng.randrange(0, 3000),
                "quality_score": 78})
            for k in range(rng.randint(1, 2)):
                fmt = rng.choice(FORMATS)
                resources.append({"id": str(uuid.uuid4()), "dataset_id": i + 1, "position": k, "name": f"{title}.{fmt}",
                                  "description": "数据文件", "url": f"https://data.example.gov.cn/{i}/{k}.{fmt.lower()}",
                                  "file_path": "", "format": fmt, "media_type": "", "size": None, "sha256": "",
                                  "created_at": modified, "modified_at": modified, "reachable": True})
        with db.session_scope() as s:
            s.execute(insert(Dataset), datasets)
            s.execute(insert(Resource), resources)
    with db.session_scope() as s:  # keep PostgreSQL's sequence past the generated ids
        if s.get_bind().dialect.name == "postgresql":
            from sqlalchemy import text

            s.execute(text("SELECT setval('dataset_id_seq', (SELECT max(id) FROM dataset))"))


def reindex() -> float:
    from cityhub import actions
    from cityhub.context import system_context

    t0 = time.perf_counter()
    out = actions.call("search_reindex", system_context("bench"), {})
    elapsed = time.perf_counter() - t0
    print(f"    reindexed {out['indexed']} datasets in {elapsed:.1f} s")
    return elapsed


def search_queries(rng: random.Random, k: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(k):
        word = rng.choice(QUERY_WORDS)
        fq = f"groups:{rng.choice(THEMES)} res_format:{rng.choice(FORMATS)}" if rng.random() < 0.5 else \
            f"res_format:{rng.choice(FORMATS)} tags:{rng.choice(TAGS)}"
        out.append({"q": word, "fq": fq, "rows": 10,
                     "facet.field": json.dumps(["organization", "groups", "res_format", "tags", "license_id",
                                                "update_cycle", "district"])})
    return out


DEPT_SLUGS = ["gz-transport", "gz-ecology-environment", "gz-health", "gz-education", "gz-statistics"]


def solr_queries(rng: random.Random, k: int) -> list[tuple[str, dict[str, Any]]]:
    """CKAN-client query shapes beyond field:value (issue 10): ckanext-harvest's incremental page (date range,
    sort id asc, rows 100), negation with an ORed group, a fielded phrase sorted by name, a theme sorted by
    recent views, date math on metadata_created. (shape, params)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(k):
        shape = i % 5
        if shape == 0:
            since = (now - dt.timedelta(days=rng.randint(1, 30), hours=1)).isoformat()
            out.append(("harvest_incremental", {"fq": f"metadata_modified:[{since}Z TO *]", "sort": "id asc",
                                                "rows": 100, "start": rng.choice([0, 0, 100])}))
        elif shape == 1:
            out.append(("negation_or_group", {
                "q": rng.choice(QUERY_WORDS), "rows": 10,
                "fq": f"-organization:{rng.choice(DEPT_SLUGS)} res_format:(CSV OR {rng.choice(FORMATS)})",
                "facet.field": json.dumps(["organization", "groups", "res_format"])}))
        elif shape == 2:
            out.append(("phrase_sort_name", {"q": f'title:"{rng.choice(SUBJECTS)}" AND tags:{rng.choice(TAGS)}',
                                             "sort": "name asc", "rows": 20}))
        elif shape == 3:
            out.append(("views_recent_sort", {"fq": f"groups:{rng.choice(THEMES)}", "sort": "views_recent desc",
                                              "rows": 20}))
        else:
            out.append(("date_math", {"q": "*:*", "fq": f"metadata_created:[NOW-{rng.randint(5, 60)}DAYS TO NOW]",
                                      "sort": "metadata_modified desc", "rows": 20}))
    return out


def http_search(url: str, queries: list[dict[str, Any]]) -> tuple[list[float], list[int]]:
    import httpx

    ms, counts = [], []
    with httpx.Client(base_url=url, timeout=30) as client:
        for q in queries[:5]:
            client.get("/api/3/action/package_search", params=q)  # warm-up
        for q in queries:
            t0 = time.perf_counter()
            r = client.get("/api/3/action/package_search", params=q)
            ms.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            counts.append(r.json()["result"]["count"])
    return ms, counts


FQ = re.compile(r"(\w+):(\S+)")


def naive_search(queries: list[dict[str, Any]]) -> tuple[list[float], list[int]]:
    """The baseline: what a catalog without an index does — LIKE scans, then facet counts over the hits."""
    from sqlalchemy import text

    from cityhub import db

    col = {"groups": "theme", "res_format": "res_format", "tags": "tags"}
    ms, counts = [], []
    with db.get_engine().connect() as conn:
        for q in queries:
            t0 = time.perf_counter()
            where = ["d.state = 'active'", "(d.title LIKE :kw OR d.abstract LIKE :kw)"]
            params: dict[str, Any] = {"kw": f"%{q['q']}%"}
            for i, (fld, value) in enumerate(FQ.findall(q["fq"])):
                if col[fld] == "theme":
                    where.append(f"d.theme = :v{i}")
                elif col[fld] == "res_format":
                    where.append(f"EXISTS (SELECT 1 FROM resource r WHERE r.dataset_id = d.id AND r.format = :v{i})")
                else:
                    where.append(f"CAST(d.tags AS TEXT) LIKE :v{i}")
                    value = f"%{json.dumps(value)}%"  # JSON columns hold ASCII-escaped text
                params[f"v{i}"] = value
            cond = " AND ".join(where)
            n = conn.execute(text(f"SELECT count(*) FROM dataset d WHERE {cond}"), params).scalar_one()
            conn.execute(text(f"SELECT d.id FROM dataset d WHERE {cond} ORDER BY d.modified_at DESC LIMIT 10"),
                         params).all()
            for facet in ("department_id", "theme", "update_cycle"):
                conn.execute(text(f"SELECT {facet}, count(*) FROM dataset d WHERE {cond} GROUP BY {facet}"),
                             params).all()
            ms.append((time.perf_counter() - t0) * 1000)
            counts.append(int(n))
    return ms, counts


def public_names() -> list[str]:
    from sqlalchemy import text

    from cityhub import db

    with db.get_engine().connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT name FROM dataset WHERE opening_class != '不予开放'"))]


def wrk_show(url: str, names: list[str], seconds: int = 20) -> dict[str, Any]:
    if not shutil.which("wrk"):
        return {"error": "wrk not installed (apt-get install wrk)"}
    script = OUT / "show.lua"
    table = ",".join(f'"{n}"' for n in names)
    script.write_text(f"""
math.randomseed(42)
local names = {{{table}}}
request = function()
  return wrk.format("GET", "/api/3/action/package_show?id=" .. names[math.random(1, #names)])
end
""")
    subprocess.run(["wrk", "-t2", "-c50", "-d3s", "-s", str(script), url], capture_output=True, check=True)  # warm
    proc = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", "-s", str(script), url],
                          capture_output=True, text=True, check=True)
    text_out = proc.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text_out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"\s+(50|75|90|99)%\s+([\d.]+\w+)", text_out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text_out)
    return {"req_per_s": rps, "latency": lat, "non_2xx": int(errors.group(1)) if errors else 0, "raw": text_out}


@contextlib.contextmanager
def generated_store(label: str, backend: str, n: int) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A fresh store (``OUT/<label>-<backend>``; PostgreSQL: a new database) with ``n`` generated datasets,
    activated in this process; yields (home, database URL, environment for a server). Dropped afterwards."""
    print(f"== {backend}: {n} datasets")
    home = OUT / f"{label}-{backend}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    db_name = None
    if backend == "postgres":
        db_name, url = pg_create(f"cityhub_{label}_bench")
    else:
        url = f"sqlite:///{home / 'cityhub.db'}"
    try:
        activate(home, url)
        from cityhub.migrate import upgrade

        upgrade(url)
        t0 = time.perf_counter()
        generate(n)
        print(f"    generated in {time.perf_counter() - t0:.1f} s")
        yield home, url, {"CITYHUB_HOME": str(home), "CITYHUB_DATABASE_URL": url,
                          "CITYHUB_SECRET_KEY": os.environ["CITYHUB_SECRET_KEY"]}
    finally:
        from cityhub import db

        db.reset_caches()
        if db_name:
            pg_drop(db_name)


def run_backend(backend: str, n: int, show: bool = True) -> dict[str, Any]:
    with generated_store("catalog", backend, n) as (_home, _url, env):
        result: dict[str, Any] = {"backend": backend, "datasets": n, "reindex_s": round(reindex(), 1),
                                  "load_average_before_search": os.getloadavg()}
        rng = random.Random(1)
        queries = search_queries(rng, 200)
        shaped = solr_queries(random.Random(2), 100)
        with Server(env, workers=2) as server:
            ours, ours_counts = http_search(server.url, queries)
            result["package_search"] = summary(ours)
            result["package_search"]["mean_hits"] = round(sum(ours_counts) / len(ours_counts))
            solr_ms, solr_counts = http_search(server.url, [q for _, q in shaped])
            result["package_search_solr_syntax"] = summary(solr_ms)
            for name in dict.fromkeys(shape for shape, _ in shaped):
                picked = [i for i, (shape, _) in enumerate(shaped) if shape == name]
                result["package_search_solr_syntax"][name] = {
                    **summary([solr_ms[i] for i in picked]),
                    "mean_hits": round(sum(solr_counts[i] for i in picked) / len(picked))}
            if show:
                shown = wrk_show(server.url, public_names())
                result["package_show"] = {k: v for k, v in shown.items() if k != "raw"}
                (OUT / f"wrk-{backend}.txt").write_text(shown.get("raw", ""))
        base, base_counts = naive_search(queries[:60])
        result["baseline_like_scan"] = summary(base)
        result["baseline_like_scan"]["mean_hits"] = round(sum(base_counts) / len(base_counts))
        result["package_search_same_60"] = summary(ours[:60])
        result["search_speedup_p95"] = round(pct(base, 95) / pct(ours[:60], 95), 1)
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-show", action="store_true", help="skip the package_show load test (search only)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "load_average": os.getloadavg(),
               "runs": [run_backend(b, args.n, show=not args.no_show) for b in args.backends.split(",")]}
    (OUT / "catalog.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(f"wrote {OUT / 'catalog.json'}")


if __name__ == "__main__":
    main()
