"""The data-request word search (``/requests?q=``, ``/api/data-requests?q=``) on both engines: jieba words found
inside Chinese titles and descriptions, Latin words whatever their case (whole words), the board's order and keyset
paging, a query with nothing to look for, injection attempts as plain text, a request found right after it is
created or edited and after a merge, the index actually serving the query, and the migration's backfill."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from cityhub.errors import ValidationError
from tests.conftest import call_as
from tests.engage.conftest import ask


@pytest.fixture
def client(w: dict[str, Any]) -> Iterator[TestClient]:
    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def mark() -> str:
    """A word no other request of the session holds (jieba keeps a run of ASCII letters and digits whole)."""
    return "zq" + uuid.uuid4().hex[:10]


def found(q: str, **more: Any) -> list[int]:
    return [r["id"] for r in call_as(None, "data_request_list", {"q": q, "limit": 100, **more})["results"]]


def test_chinese_words_inside_titles_and_descriptions(w: dict[str, Any]) -> None:
    m = mark()
    bus = ask(title=f"公交线路站点数据 {m}", description="各条线路的站点位置和首末班时间。")["id"]
    metro = ask(title=f"地铁出入口站点坐标 {m}", description="希望开放地铁各出入口和站点的客流。")["id"]
    air = ask(title=f"空气质量监测 {m}", description="各监测站的小时浓度,包括细颗粒物。")["id"]
    assert found(f"公交 {m}") == [bus]  # a word inside a title without spaces
    assert found(f"站点 {m}") == [metro, bus]  # newest first, as the board lists
    assert found(f"线路站点 {m}") == [bus]  # two words: both must be there
    assert found(f"质量 {m}") == [air]  # a sub-word of a longer dictionary word (空气质量)
    assert found(f"客流 地铁 {m}") == [metro]  # in any order
    assert found(f"细颗粒物 {m}") == [air]  # a word of the description only
    assert found(f"公交站 {m}") == []  # not in any of them (substring semantics would not find it either)
    assert found(f"医院 {m}") == []
    assert found(f"公交 {m}", sort="oldest") == [bus]
    assert found(f"站点 {m}", sort="oldest") == [bus, metro]


def test_latin_words_case_and_whole_words(w: dict[str, Any]) -> None:
    m = mark()
    gtfs = ask(title=f"gtfs feed of bus routes {m}", description="Stops, trips and timetables as a GTFS feed.")["id"]
    mixed = ask(title=f"GTFS实时数据 {m}", description="车辆位置 GTFS-Realtime 格式。")["id"]
    stops = ask(title=f"公交站点客流 {m}", description="各公交站点按小时的上下车客流数据。")["id"]
    assert found(f"GTFS {m}") == [mixed, gtfs]  # upper case finds lower case, next to Chinese too
    assert found(f"gtfs {m}") == [mixed, gtfs]
    assert found(f"realtime {m}") == [mixed]  # a part of GTFS-Realtime
    assert found(f"gtfs-realtime {m}") == [mixed]
    assert found(f"timetables {m}") == [gtfs]
    assert found(f"公交站 {m}") == [stops]  # jieba's sub-word of 公交站点
    assert found(f"feed {m.upper()}") == [gtfs]  # the marker itself in upper case
    assert found(f"bus {m}") == [gtfs]
    # whole words, as the catalog's search: not a prefix, not a longer word
    assert found(f"GTF {m}") == [] and found(f"timetable {m}") == [] and found(f"buses {m}") == []


def test_keyset_paging_and_filters_with_a_search(w: dict[str, Any]) -> None:
    m = mark()
    ids = [ask(title=f"停车场泊位实时数据 {i} {m}")["id"] for i in range(7)]
    seen: list[int] = []
    cursor = None
    while True:
        page = call_as(None, "data_request_list", {"q": f"泊位 {m}", "limit": 3, "cursor": cursor})
        seen += [r["id"] for r in page["results"]]
        if page["next"] is None:
            break
        assert len(page["results"]) == 3
        cursor = page["next"]
    assert seen == ids[::-1]
    oldest = call_as(None, "data_request_list", {"q": f"停车场 {m}", "sort": "oldest", "limit": 4})
    assert [r["id"] for r in oldest["results"]] == ids[:4] and oldest["next"] == ids[3]
    assert [r["id"] for r in call_as(None, "data_request_list", {"q": f"停车场 {m}", "sort": "oldest",
                                                                  "cursor": ids[3]})["results"]] == ids[4:]
    counted = call_as(None, "data_request_list", {"q": f"实时 {m}", "limit": 1})
    assert counted["count"] == 7 and counted["count_capped"] is False
    call_as("admin", "data_request_route", {"id": ids[2], "department": "gz-transport"})
    assert found(f"泊位 {m}", status="routed") == [ids[2]]
    assert found(f"泊位 {m}", department="gz-transport") == [ids[2]]
    assert found(f"泊位 {m}", status="answered") == []


@pytest.mark.parametrize("q", ["!!!", "。,、;?", "的", "data", "的 the of", "%_*", "_", "——"])
def test_a_query_with_nothing_to_look_for_is_refused_clearly(w: dict[str, Any], q: str) -> None:
    with pytest.raises(ValidationError) as e:
        call_as(None, "data_request_list", {"q": q})
    assert e.value.fields == {"q": ["no_words"]} and "标点" in e.value.message and "punctuation" in e.value.message_en


def test_nothing_to_look_for_over_http(client: TestClient, w: dict[str, Any]) -> None:
    resp = client.get("/api/data-requests", params={"q": "!!!"})
    assert resp.status_code == 422
    assert resp.json()["error"]["fields"] == {"q": ["no_words"]} and "标点" in resp.json()["error"]["message"]
    assert client.get("/api/data-requests", params={"q": "   "}).status_code == 422  # blank: not a query
    page = client.get("/requests", params={"q": "?!"})
    assert page.status_code == 200 and 'id="search-problem"' in page.text and "标点" in page.text
    assert page.text.count('id="request-') == 0 and 'id="b-department"' in page.text  # the filters still there
    english = client.get("/requests", params={"q": "的", "lang": "en"})
    assert english.status_code == 200 and "no words to look for" in english.text
    assert 'id="search-problem"' not in client.get("/requests", params={"q": "  "}).text  # empty: the whole board
    m = mark()
    r = ask(title=f"路灯故障报修数据 {m}")
    board = client.get("/requests", params={"q": f"路灯 {m}"})
    assert f'id="request-{r["id"]}"' in board.text and 'id="search-problem"' not in board.text
    api = client.get("/api/data-requests", params={"q": f"报修 {m}"}).json()
    assert [x["id"] for x in api["results"]] == [r["id"]] and api["count"] == 1


@pytest.mark.parametrize("attack", [
    "'; DROP TABLE data_request; --",
    "x' OR '1'='1",
    "公交' & !'x':* | ('",  # tsquery operators
    'NEAR("公交" "数据") OR * ^col: -',  # FTS5 syntax
    '"unterminated',
    "\\' \\\\ %' _",
])
def test_an_injection_attempt_is_just_text(w: dict[str, Any], attack: str) -> None:
    m = mark()
    r = ask(title=f"{attack} {m} 公交", description=f"{attack} 原样保存的文字。")["id"]
    assert found(f"{attack} {m}") == [r]  # its words find it, nothing else happens
    assert found(f"{m}") == [r]
    assert call_as(None, "data_request_show", {"id": r})["title"].startswith(attack.strip())
    try:  # alone: runs, whatever it finds, or says it has no words to look for
        call_as(None, "data_request_list", {"q": attack, "limit": 5})
    except ValidationError as e:
        assert e.fields == {"q": ["no_words"]}


def _edit(rid: int, **values: str) -> None:
    """An edit of the title or description through the ORM (no action edits them yet)."""
    from cityhub.db import session_scope
    from cityhub.engage.datareq_models import DataRequest

    with session_scope() as s:
        req = s.get_one(DataRequest, rid)
        for k, v in values.items():
            setattr(req, k, v)


def test_found_right_after_create_edit_and_merge(w: dict[str, Any]) -> None:
    m = mark()
    r = ask(title=f"噪声监测点位 {m}", description="各噪声自动监测点的位置和小时数据。")["id"]
    assert found(f"噪声 {m}") == [r]  # right after it is created
    _edit(r, title=f"垃圾分类投放点 {m}")
    assert found(f"垃圾分类 {m}") == [r] and found(f"投放 {m}") == [r]  # the new title's words
    assert found(f"噪声 点位 {m}") == []  # the old title's no longer
    assert found(f"自动监测 {m}") == [r]  # the description unchanged
    _edit(r, description="各小区垃圾分类投放点位置和开放时间。")
    assert found(f"自动监测 {m}") == [] and found(f"开放时间 {m}") == [r]
    _edit(r, purpose="与搜索无关的字段:排水")  # other fields: the words stay as they were
    assert found(f"排水 {m}") == [] and found(f"垃圾分类 {m}") == [r]
    dup = ask("citizen2", title=f"垃圾分类投放点位置 {m}", description="重复提出的需求,内容相同。")["id"]
    assert found(f"垃圾分类 {m}") == [dup, r]
    call_as("admin", "data_request_close", {"id": dup, "duplicate_of": r, "reason": "重复"})
    assert found(f"垃圾分类 {m}") == [dup, r]  # merged: both still found, as closed and open
    assert found(f"垃圾分类 {m}", status="closed") == [dup]
    assert found(f"重复 {m}") == [dup]


def test_the_index_serves_the_search(w: dict[str, Any]) -> None:
    from cityhub.db import session_scope
    from cityhub.engage import datareq_search
    from cityhub.engage.datareq_models import DataRequest

    m = mark()
    r = ask(title=f"充电桩分布 {m}")["id"]
    with session_scope() as s:
        tokens = s.scalar(select(DataRequest.search_tokens).where(DataRequest.id == r))
        assert tokens is not None and "充电" in tokens.split() and m in tokens.split()
        cond = datareq_search.condition(s.get_bind().dialect.name, f"充电 {m}")
        stmt = select(DataRequest.id).where(cond)
        sql = str(stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(s.scalars(text("EXPLAIN " + sql)))
            assert "ix_data_request_search_tsv" in plan, plan
            assert s.scalar(text("SELECT count(*) FROM data_request WHERE search_tsv IS NULL")) == 0
            assert s.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'ix_data_request_search_tsv'")) \
                == ["fastupdate=off"]
        else:
            plan = "\n".join(str(row[-1]) for row in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "search_fts_data_request VIRTUAL TABLE INDEX" in plan, plan
            # the FTS5 index holds exactly the table's tokens (checked against the content table)
            s.execute(text("INSERT INTO search_fts_data_request(search_fts_data_request, rank) "
                           "VALUES ('integrity-check', 1)"))
        assert list(s.scalars(stmt)) == [r]


def test_migration_backfills_existing_requests(w: dict[str, Any]) -> None:
    """Requests written before the migration (no tokens) are found after it; downgrade and upgrade again."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from cityhub import db as cdb
    from cityhub.migrate import alembic_config

    m = mark()
    before = ask(title=f"旅游景区客流 {m}")["id"]
    cfg = alembic_config(w["store"].url)
    previous = ScriptDirectory.from_config(cfg).get_revision("0022").down_revision
    assert isinstance(previous, str)
    cdb.reset_caches()
    command.downgrade(cfg, previous)
    try:
        with cdb.get_engine().begin() as conn:
            cols = [c for c in ("title", "description", "purpose", "suggested_department_id", "contact", "user_id",
                                "created_by", "created_at", "status", "routed_by", "deadline_provisional",
                                "answer_kind", "answer_text", "answer_url", "legal_basis", "answered_by",
                                "answered_late", "closed_reason", "updated_at")]
            extra = ", ".join(f"'餐饮许可证照 {m}'" if c == "title" else c for c in cols)
            conn.execute(text(f"INSERT INTO data_request ({', '.join(cols)}) SELECT {extra} FROM data_request "
                              "WHERE id = :id"), {"id": before})
            old = conn.scalar(text("SELECT max(id) FROM data_request"))
    finally:
        cdb.reset_caches()
        command.upgrade(cfg, "head")
        cdb.reset_caches()
    assert found(f"旅游 {m}") == [before]  # written again from its title
    assert found(f"餐饮 {m}") == [old]  # written before the index existed
    assert found(f"客流 {m}") == [old, before]  # the copy kept the description
