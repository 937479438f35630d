"""Search: jieba segmentation, facets, sorting, consistency after create/update/delete, reindex."""

from __future__ import annotations

from cityhub.catalog.textsearch import query_tokens, tokens
from tests.conftest import Store, call_as, open_dataset, unique


def _names(result: dict) -> list[str]:
    return [r["name"] for r in result["results"]]


def test_segmentation() -> None:
    assert "交通" in tokens("广州市交通运输局") and "交通运输" in tokens("广州市交通运输局")
    assert query_tokens("公交 公交") == ["公交"]


def test_keyword_finds_words_inside_titles(demo: Store) -> None:
    res = call_as(None, "dataset_search", {"q": "交通", "rows": 50, "facet_fields": ["theme", "organization"]})
    assert res["count"] >= 5
    titles = " ".join(r["title"] + r["abstract"] + r["department_name"] for r in res["results"])
    assert "交通" in titles
    theme_counts = {f["name"]: f["count"] for f in res["facets"]["theme"]}
    assert theme_counts.get("transport", 0) >= 3
    assert sum(theme_counts.values()) == res["count"]


def test_search_by_column_name_and_department(demo: Store) -> None:
    col = unique("字段")
    ds = open_dataset(
        data_items=[{"name": f"{col}编号", "type": "string", "description": "专门用于搜索测试"}])
    assert ds["name"] in _names(call_as(None, "dataset_search", {"q": f"{col}编号", "rows": 10}))
    by_dept = call_as(None, "dataset_search", {"q": "生态环境局", "rows": 100})
    assert by_dept["count"] >= 1
    assert all(r["department"] == "gz-ecology-environment" for r in by_dept["results"][:3])


def test_two_facet_filters_narrow(demo: Store) -> None:
    all_transport = call_as(None, "dataset_search", {"filters": {"theme": "transport"}, "rows": 1000,
                                                     "facet_fields": ["res_format", "update_cycle"]})
    fmt = all_transport["facets"]["res_format"][0]["name"]
    narrowed = call_as(None, "dataset_search", {"filters": {"theme": "transport", "res_format": fmt}, "rows": 1000})
    assert 0 < narrowed["count"] <= all_transport["count"]
    assert narrowed["count"] == all_transport["facets"]["res_format"][0]["count"]
    assert all(fmt in r["resource_formats"] and r["theme"] == "transport" for r in narrowed["results"])


def test_sorts(demo: Store) -> None:
    newest = call_as(None, "dataset_search", {"sort": "metadata_modified desc", "rows": 20})["results"]
    stamps = [r["modified_at"] for r in newest]
    assert stamps == sorted(stamps, reverse=True)
    # usage sorts count the days before today (stable while today's counts are flushed)
    recent = _usage_before_today("sum(views)", 14)
    used = call_as(None, "dataset_search", {"sort": "views_recent desc", "rows": 20})["results"]
    assert [recent.get(r["id"], 0) for r in used] == sorted((recent.get(r["id"], 0) for r in used), reverse=True)
    assert max(recent.values()) > 0
    today = _usage_before_today("sum(views + 5 * downloads + api_calls)", 0, today_only=True)
    popular = call_as(None, "dataset_search", {"sort": "most_used", "rows": 20})["results"]
    pop = [r["views"] + 5 * r["downloads"] + r["api_calls"] - today.get(r["id"], 0) for r in popular]
    assert pop == sorted(pop, reverse=True)
    titled = call_as(None, "dataset_search", {"sort": "title_string asc", "rows": 20})["results"]
    assert [r["title"] for r in titled] == sorted(r["title"] for r in titled)


def _usage_before_today(expr: str, days: int, today_only: bool = False) -> dict[int, int]:
    """Per dataset id: ``expr`` over its daily usage of the ``days`` days before today (or of today)."""
    import datetime as dt

    from sqlalchemy import Date, bindparam, text

    from cityhub import db
    from cityhub.catalog.actions import today_local

    today = today_local()
    where = "day = :today" if today_only else "day >= :since AND day < :today"
    stmt = text(f"SELECT dataset_id, {expr} FROM usage_daily WHERE {where} GROUP BY dataset_id").bindparams(
        bindparam("today", type_=Date()), *([] if today_only else [bindparam("since", type_=Date())]))
    params = {"today": today} if today_only else {"today": today, "since": today - dt.timedelta(days=days)}
    with db.get_engine().connect() as conn:
        return {int(i): int(n) for i, n in conn.execute(stmt, params)}


def test_consistent_after_create_update_delete(demo: Store) -> None:
    word = unique("冷链")
    ds = open_dataset(title=f"{word}物流车辆", theme="transport")
    assert _names(call_as(None, "dataset_search", {"q": word})) == [ds["name"]]
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "普通物流车辆", "theme": "economy"})
    assert _names(call_as(None, "dataset_search", {"q": word})) == []
    found = call_as(None, "dataset_search", {"q": "普通物流车辆", "filters": {"theme": "economy"}})
    assert ds["name"] in _names(found)
    call_as("steward", "dataset_update", {"id": ds["name"], "private": True})
    assert ds["name"] not in _names(call_as(None, "dataset_search", {"q": "普通物流车辆"}))
    call_as("steward", "dataset_delete", {"id": ds["name"]})
    assert ds["name"] not in _names(call_as("admin", "dataset_search", {"q": "普通物流车辆"}))


def test_injection_through_query_is_inert(demo: Store) -> None:
    for q in ['" OR 1=1 --', "'); DROP TABLE dataset; --", "title:*", "NEAR(交通", "交通 AND OR NOT", "*"]:
        res = call_as(None, "dataset_search", {"q": q, "rows": 5})
        assert isinstance(res["count"], int)
    assert call_as(None, "dataset_search", {"rows": 0})["count"] >= 60


def test_reindex_rebuilds_same_results(demo: Store) -> None:
    before = call_as(None, "dataset_search", {"q": "空气质量", "rows": 100, "facet_fields": ["organization"]})
    out = call_as("admin", "search_reindex", {})
    assert out["indexed"] >= 91
    after = call_as(None, "dataset_search", {"q": "空气质量", "rows": 100, "facet_fields": ["organization"]})
    assert sorted(_names(before)) == sorted(_names(after)) and before["count"] == after["count"] > 0
    assert before["facets"] == after["facets"]


def test_rjieba_agrees_with_python_jieba_on_catalog_texts() -> None:
    """rjieba (jieba-rs) is used for speed; it must segment like the reference Python jieba."""
    import logging

    import jieba
    import rjieba

    from cityhub.demo import content

    jieba.setLogLevel(logging.WARNING)
    demo = content.current()
    texts = [t for ds in demo.datasets for t in (ds.title, ds.abstract, *(c.description for c in ds.columns))]
    texts += [d.name for d in demo.departments]
    def chinese(toks: list[str]) -> list[str]:  # the two differ only in sub-tokens of ASCII runs like "PM2.5"
        return [t for t in toks if t and all("\u4e00" <= c <= "\u9fff" for c in t)]

    differ = [t for t in texts if chinese(rjieba.cut_for_search(t, True)) != chinese(list(jieba.cut_for_search(t)))]
    assert len(texts) > 500
    assert differ == []


def _facet_truth(filters: list[tuple[str, str]]) -> set[int]:
    """Public, published, active datasets with every (field, value) of ``filters``, straight from the facet rows."""
    from sqlalchemy import text

    from cityhub import db

    with db.get_engine().connect() as conn:
        ids = set(conn.execute(text("SELECT dataset_id FROM search_doc WHERE public = :t AND published = :t"),
                                    {"t": True}).scalars())
        for fld, value in filters:
            ids &= set(conn.execute(text("SELECT dataset_id FROM search_facet WHERE field = :f AND value = :v"),
                                    {"f": fld, "v": value}).scalars())
    return ids


def _filtered_ids(filters: list[tuple[str, str]], q: str = "") -> set[int]:
    raw: dict[str, list[str]] = {}
    for fld, value in filters:
        raw.setdefault(fld, []).append(value)
    res = call_as(None, "dataset_search", {"q": q, "filters": raw, "rows": 1000})
    assert res["count"] == len(res["results"])
    return {r["id"] for r in res["results"]}


def test_facet_filters_agree_with_facet_rows_through_changes(demo: Store) -> None:
    """Facet filters (on SQLite an FTS5 query over facet tokens) select exactly the datasets whose facet rows
    match, after a create, a resource change (only the format facet is rewritten), a delete and a reindex."""
    odd = "智慧 城市-2.0"  # a space, a dash, a dot and Chinese in one tag
    ds = open_dataset(tags=[odd, "公交"], districts=["天河区", "越秀区"])
    cases = [[("tags", odd)], [("tags", odd), ("district", "天河区")], [("theme", "transport"), ("tags", "公交")],
             [("tags", odd), ("district", "荔湾区")], [("organization", "gz-transport"), ("res_format", "CSV")],
             [("tags", "no-such-tag")], [("tags", odd), ("tags", "公交"), ("opening_class", "无条件开放")]]

    def check() -> None:
        for filters in cases:
            assert _filtered_ids(filters) == _facet_truth(filters), filters

    check()
    assert ds["id"] in _filtered_ids([("tags", odd), ("district", "天河区")])
    call_as("steward", "resource_create", {"dataset": ds["name"], "name": "x", "url": "https://example.org/x.xlsx",
                                           "format": "XLSX"})
    assert ds["id"] in _filtered_ids([("tags", odd), ("res_format", "XLSX")])
    cases.append([("tags", odd), ("res_format", "XLSX")])
    check()
    call_as("steward", "dataset_delete", {"id": ds["name"]})
    assert ds["id"] not in _filtered_ids([("tags", odd)])
    check()
    call_as("system", "search_reindex", {})
    check()


def test_reindex_refreshes_planner_statistics_on_postgresql(demo: Store) -> None:
    """After the bulk rewrite of ``search_reindex`` PostgreSQL's planner must not wait for autovacuum: with no
    statistics it picked a nested loop over every dataset for a date range matching a few hundred (0.5 s
    instead of 9 ms at 100,000 datasets; BENCHMARKS.md)."""
    import time

    import pytest
    from sqlalchemy import text

    from cityhub import db

    if demo.backend != "postgres":
        pytest.skip("PostgreSQL's planner statistics")
    with db.get_engine().connect() as conn:
        before = conn.execute(text("SELECT now()")).scalar_one()
    call_as("system", "search_reindex", {})
    deadline = time.monotonic() + 10
    while True:
        with db.get_engine().connect() as conn:
            analyzed = dict(conn.execute(text(
                "SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname IN "
                "('search_doc', 'search_facet', 'dataset')")).all())
        if all(t is not None and t >= before for t in analyzed.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(analyzed) == 3 and all(t is not None and t >= before for t in analyzed.values()), analyzed
