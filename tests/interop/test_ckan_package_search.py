"""package_search conformance: the Lucene/Solr query subset CKAN clients send in ``q`` / ``fq`` / ``fq_list``,
and ``sort``, answered as CKAN 2.10/2.11 answers them, on SQLite and PostgreSQL, over HTTP.

Each test names the CKAN (or Solr/Lucene) function its behaviour comes from. Every test works on datasets it
creates with a tag of its own, so the expected answer is exact."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from cityhub.interop.ckan_map import package_id
from tests.conftest import Store, call_as, unique
from tests.conftest import dataset_payload as _payload
from tests.harvest.conftest import make_department

# Datasets are made in departments of the test's own, so the demo's departments keep their counts and
# their search results (other tests read them).
DEPTS: list[str] = []


@pytest.fixture(autouse=True)
def _own_departments(demo: Store) -> None:
    DEPTS[:] = [make_department(), make_department()]


def dataset_payload(**over: Any) -> dict[str, Any]:
    return _payload(**{"department": DEPTS[0], **over})


def _search(client: Any, **params: Any) -> dict[str, Any]:
    r = client.get("/api/3/action/package_search", params=params)
    body = r.json()
    assert r.status_code == 200 and body["success"], (params, body)
    result: dict[str, Any] = body["result"]
    return result


def _post(client: Any, **data: Any) -> dict[str, Any]:
    r = client.post("/api/3/action/package_search", json=data)
    body = r.json()
    assert r.status_code == 200 and body["success"], (data, body)
    result: dict[str, Any] = body["result"]
    return result


def _refused(client: Any, status: int = 409, **params: Any) -> dict[str, Any]:
    r = client.get("/api/3/action/package_search", params=params)
    body = r.json()
    assert r.status_code == status and body["success"] is False, (params, r.status_code, body)
    error: dict[str, Any] = body["error"]
    return error


def _names(result: dict[str, Any]) -> set[str]:
    names = [p["name"] for p in result["results"]]
    assert len(names) == len(set(names)) and result["count"] == len(names), result["count"]
    return set(names)


def _make(tag: str, n: int, **over: Any) -> list[str]:
    out = []
    for i in range(n):
        payload = dataset_payload(**{"tags": [tag, f"第{i}组"], **over})
        out.append(call_as("system", "dataset_create", payload)["name"])
    return out


def _set_times(name: str, *, modified: dt.datetime | None = None, created: dt.datetime | None = None) -> None:
    """Move a dataset's timestamps (the ORM path: the index follows ``modified_at`` by itself)."""
    from sqlalchemy import select

    from cityhub import db
    from cityhub.catalog.models import Dataset

    with db.session_scope() as s:
        ds = s.scalars(select(Dataset).where(Dataset.name == name)).one()
        if modified is not None:
            ds.modified_at = modified
        if created is not None:
            ds.created_at = created


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_metadata_modified_ranges_and_date_math(app_client: Any) -> None:
    """``fq=metadata_modified:[… TO *]`` as ``ckanext/harvest/harvesters/ckanharvester.py`` ``gather_stage``
    sends it; Solr's ``DatePointField`` keeps milliseconds (a range bound and a stored time compare at
    millisecond precision) and ``DateMathParser`` reads ``NOW``, ``+1DAY``, ``/DAY``."""
    tag = unique("日期")
    a, b, c = _make(tag, 3)
    _set_times(a, modified=_utc(2020, 1, 1))
    _set_times(b, modified=dt.datetime(2021, 6, 1, 12, 0, 0, 123100, tzinfo=dt.UTC))
    _set_times(c, modified=_utc(2022, 1, 1))

    def fq(expr: str) -> set[str]:
        return _names(_search(app_client, fq=f"tags:{tag} {expr}", rows=100))

    assert fq("metadata_modified:[2021-06-01T12:00:00.123456Z TO *]") == {b, c}  # .1231 and .123456: same ms
    assert fq("metadata_modified:{2021-06-01T12:00:00.123Z TO *]") == {c}
    assert fq("metadata_modified:[* TO 2021-06-01T12:00:00.123Z]") == {a, b}
    assert fq("metadata_modified:[* TO 2021-06-01T12:00:00.123Z}") == {a}
    assert fq('metadata_modified:"2021-06-01T12:00:00.123Z"') == {b}
    assert fq("metadata_modified:2021-06-01T12\\:00\\:00.123Z") == {b}
    assert fq("metadata_modified:[2021-01-01T00:00:00Z TO 2021-12-31T23:59:59.999Z]") == {b}
    assert fq("metadata_modified:[2021-06-01T20:00:00+08:00 TO 2021-06-01T20:00:00.124+08:00}") == {b}
    assert fq("metadata_modified:[2021-06-01T12:00:00Z/DAY TO 2021-06-01T00:00:00Z+1DAY]") == {b}
    assert fq("metadata_modified:[NOW-10YEARS TO NOW]") == {a, b, c}
    assert fq("metadata_modified:[NOW/DAY TO *]") == set()
    assert fq("metadata_created:[NOW-1HOUR TO *]") == {a, b, c}
    assert fq("metadata_modified:*") == {a, b, c}
    # the package shows the time it was found by
    found = _search(app_client, fq=f"tags:{tag} metadata_modified:[2021-06-01T00:00:00Z TO 2021-06-02T00:00:00Z]")
    assert found["results"][0]["metadata_modified"].startswith("2021-06-01T12:00:00.1231")
    for bad in ("metadata_modified:[2021-01-01 TO *]", "metadata_modified:[2021-01-01T00:00:00 TO *]",
                "metadata_modified:[yesterday TO *]", "metadata_created:[NOW-1FORTNIGHT TO *]"):
        error = _refused(app_client, fq=f"tags:{tag} {bad}")
        assert error["__type"] == "Validation Error" and bad.split(":", 1)[1][:12] in error["fq"][0], error


def test_boolean_operators_groups_and_fq_list(app_client: Any) -> None:
    """``OR``, ``AND``, ``NOT``, ``-`` and ``+`` prefixes, parentheses and several filter queries (``fq`` and
    ``fq_list``, each a Solr filter: ``PackageSearchQuery.run`` passes them as a list)."""
    tag = unique("布尔")
    a, b = _make(tag, 2, theme="transport")
    c, d = _make(tag, 2, department=DEPTS[1], theme="environment")

    def fq(expr: str) -> set[str]:
        return _names(_search(app_client, fq=expr, rows=100))

    assert fq(f"tags:{tag}") == {a, b, c, d}
    assert fq(f"tags:{tag} AND (name:{a} OR name:{c})") == {a, c}
    assert fq(f"tags:{tag} AND name:({a} OR {c} OR nothing-here)") == {a, c}
    assert fq(f"tags:{tag} -organization:{DEPTS[1]}") == {a, b}
    assert fq(f"tags:{tag} NOT organization:{DEPTS[1]}") == {a, b}
    assert fq(f"tags:{tag} AND NOT groups:transport") == {c, d}
    assert fq(f"+tags:{tag} +groups:environment -name:{d}") == {c}
    assert fq(f"tags:{tag} && (groups:transport || name:{d}) && !name:{a}") == {b, d}
    assert fq(f"tags:{tag} ((organization:{DEPTS[1]} AND -name:{c}) OR name:{a})") == {a, d}
    assert fq(f"tags:{tag} (*:* -organization:{DEPTS[1]})") == {a, b}
    assert fq(f'tags:"{tag}" res_format:* -license_id:*') == set()
    posted = _post(app_client, fq=f"tags:{tag}", fq_list=[f"organization:{DEPTS[1]}", f"-name:{c}"], rows=100)
    assert _names(posted) == {d}
    listed = app_client.get("/api/3/action/package_search",
                            params=[("fq", f"tags:{tag}"), ("fq_list", "groups:transport")]).json()["result"]
    assert _names(listed) == {a, b}


def test_or_next_to_a_required_clause_filters_nothing_as_on_ckan(app_client: Any) -> None:
    """With ``q.op=AND`` (``PackageSearchQuery.run``), Lucene's ``addClause`` makes both sides of ``OR``
    optional, and ``package_search`` puts ``+capacity:public`` in the same ``fq`` string: so
    ``organization:a OR organization:b`` filters nothing on CKAN (ckanext-harvest issue #518). We answer the
    same; ``organization:(a OR b)`` is the query that filters."""
    tag = unique("或")
    a = _make(tag, 1)[0]
    e = _make(tag, 1, department=DEPTS[1], theme="environment")[0]
    quirk = _search(app_client, fq=f"organization:{DEPTS[1]} OR organization:no-such-org", rows=0)
    everything = _search(app_client, rows=0)
    assert quirk["count"] == everything["count"] > 2
    assert _names(_search(app_client, fq=f"tags:{tag} organization:({DEPTS[1]} OR no-such-org)")) == {e}
    assert _names(_search(app_client, fq=f"tags:{tag} organization:{DEPTS[1]} OR name:{a}")) == {a, e}
    # include_private: no +capacity:public in front, still +state:(active) behind: the same quirk
    assert _search(app_client, fq=f"organization:{DEPTS[1]} OR organization:no-such-org", include_private="true",
                   rows=0)["count"] == everything["count"]
    # alone, an OR is a real disjunction (q is not concatenated with anything)
    assert _names(_search(app_client, q=f"name:{a} OR name:{e}")) == {a, e}


def test_fielded_q_phrases_names_and_text(app_client: Any) -> None:
    """``q=title:"…"``, ``q=name:…``, ``notes:``, ``text:`` and bare words: a ``q`` with a colon is read by the
    standard parser (``df=text``, ``q.op=AND``), without one by DisMax over the text (``PackageSearchQuery.run``);
    ``name``, ``tags`` and ``res_format`` are string fields (exact), ``title``/``notes``/``text`` text fields."""
    tag = unique("字段")
    word = unique("词")[-8:]
    a = call_as("system", "dataset_create", dataset_payload(
        tags=[tag], title=f"荔湾区{word}空气质量监测站点", abstract=f"记录各监测站{word}的小时浓度,数据来源为环境监测系统。"))
    b = call_as("system", "dataset_create", dataset_payload(
        tags=[tag], title=f"质量监测{word}空气站", abstract="另一个测试数据集,含空气与质量两个词,但不相邻。" * 2))
    a_name, b_name = a["name"], b["name"]
    assert _names(_search(app_client, q=f'title:"{word}空气质量"')) == {a_name}
    assert _names(_search(app_client, q=f"title:空气 AND tags:{tag}")) == {a_name, b_name}
    assert _names(_search(app_client, q=f'tags:{tag} title:"空气质量"')) == {a_name}
    assert _names(_search(app_client, q=f"name:{a_name}")) == {a_name}
    assert _names(_search(app_client, q=f"name:{a_name[:-2]}")) == set()  # string field: exact
    assert _names(_search(app_client, q=f"name:{a_name[:-2]}*")) == {a_name}
    assert _names(_search(app_client, q=f"notes:小时浓度 tags:{tag}")) == {a_name}
    assert _names(_search(app_client, q=f"title:小时浓度 tags:{tag}")) == set()
    assert _names(_search(app_client, q=f'text:"{word}的小时" tags:{tag}')) == {a_name}
    assert _names(_search(app_client, q=f"{word} 荔湾区")) == {a_name}
    assert _names(_search(app_client, q=f"{word}", fq=f"tags:{tag}")) == {a_name, b_name}
    assert _names(_search(app_client, q=f"{word} -荔湾区")) == {b_name}
    assert _names(_search(app_client, q=f"tags:{tag} -{word}")) == set()
    assert _names(_search(app_client, q=f"tags:{tag} title:{word[:5]}*")) == {a_name, b_name}
    assert _names(_search(app_client, q=f"tags:{tag} notes:{word[:5]}*")) == {a_name}
    assert _names(_search(app_client, q=f"tags:{tag} title:荔湾*")) == {a_name}


def test_dismax_minimum_should_match(app_client: Any) -> None:
    """Bare words go to DisMax with CKAN's ``mm='2<-1 5<80%'`` (``PackageSearchQuery.run``): of three words two
    must match, of two both; ``+`` still requires a word and ``mm`` can be sent."""
    w = [unique("词")[-8:] for _ in range(3)]
    tag = unique("mm")
    two = call_as("system", "dataset_create", dataset_payload(tags=[tag], title=f"{w[0]} {w[1]} 数据"))["name"]
    one = call_as("system", "dataset_create", dataset_payload(tags=[tag], title=f"{w[2]} 数据"))["name"]
    assert _names(_search(app_client, q=f"{w[0]} {w[1]} {w[2]}")) == {two}
    assert _names(_search(app_client, q=f"{w[0]} {w[2]}")) == set()
    assert _names(_search(app_client, q=f"{w[0]} OR {w[2]}")) == set()  # both optional, mm requires both
    assert _names(_search(app_client, q=f"{w[0]} {w[2]}", mm="1")) == {two, one}
    assert _names(_search(app_client, q=f"{w[0]} {w[1]} +{w[2]}")) == set()
    assert _names(_search(app_client, q=f"{w[0]} {w[1]} {w[2]}", defType="lucene")) == set()
    assert _refused(app_client, q="x", mm="most")["__type"] == "Validation Error"
    assert "edismax" in _refused(app_client, q="x", defType="edismax")["defType"][0]


def test_type_capacity_private_state_id_and_facet_fields(app_client: Any) -> None:
    """``dataset_type`` / ``type`` (``index_package`` indexes both), ``capacity`` (public/private, what
    ``package_search`` filters on), ``private``, ``state``, ``id``, and our own catalog fields and extras
    (``index_package`` puts each extra under ``extras_<key>`` and under its own key)."""
    tag = unique("类型")
    pub = call_as("system", "dataset_create", dataset_payload(tags=[tag], update_cycle="每日",
                                                              extras={"source_system": "Old-Portal"}))
    closed = call_as("system", "dataset_create", dataset_payload(tags=[tag], opening_class="不予开放",
                                                                 sharing_class="有条件共享",
                                                                 sharing_condition="仅限政务用途",
                                                                 sharing_basis="《广州市政务信息共享管理规定》"))
    admin = {"Authorization": call_as("system", "token_create", {"user": "admin", "days": 1})["token"]}
    p, c = pub["name"], closed["name"]

    def admin_fq(expr: str, **extra: Any) -> set[str]:
        r = app_client.get("/api/3/action/package_search", headers=admin,
                           params={"fq": f"tags:{tag} {expr}", "rows": 100, **extra})
        assert r.status_code == 200, r.text
        return _names(r.json()["result"])

    assert admin_fq("") == {p}  # +capacity:public in front of fq (package_search without include_private)
    assert admin_fq("", include_private="true") == {p, c}
    assert admin_fq("capacity:private", include_private="true") == {c}
    assert admin_fq("private:true", include_private="true") == {c}
    assert admin_fq("-capacity:public", include_private="true") == {c}
    assert admin_fq("dataset_type:dataset type:dataset state:active") == {p}
    assert admin_fq("dataset_type:harvest", include_private="true") == set()
    assert admin_fq("+state:(draft OR deleted)", include_private="true") == set()
    pkg = package_id(pub["id"], pub["created_at"])
    assert admin_fq(f"id:{pkg}") == {p}
    assert admin_fq(f'id:"{pkg}" OR name:{c}', include_private="true") == {p, c}
    assert admin_fq("id:00000000-0000-8000-8000-000000000001") == set()
    assert admin_fq("update_cycle:每日 extras_update_cycle:每日") == {p}
    assert admin_fq("sharing_class:有条件共享", include_private="true") == {c}
    assert admin_fq("extras_source_system:old-portal extras_source_system:*") == {p}
    assert admin_fq("-extras_source_system:*", include_private="true") == {c}
    assert admin_fq("res_format:csv") == admin_fq("res_format:CSV")
    assert _names(_search(app_client, fq=f"tags:{tag}", include_private="true")) == {p}  # anonymous: public only


def test_refused_clauses_name_the_clause(app_client: Any) -> None:
    """Anything outside the subset is a 409 Validation Error naming the parameter and the clause, never a
    silent empty success (CKAN would pass it to Solr; the issue's rule: refuse loudly)."""
    cases = {
        "fq": ["title:air~2", "name:a?c", "name:/ab.*/", "organisation:gz-transport", "tags:x AND (-name:y)",
               "extras_code:123", "title:[a TO b]", "views_total:[a TO 5]", "capacity:pub*", "title:(a",
               "{!lucene}x", "tags:x^"],
        "q": ["title:air~2", "name:(a", "_query_:x"],
    }
    for param, queries in cases.items():
        for query in queries:
            error = _refused(app_client, **{param: query})
            assert error["__type"] == "Validation Error" and list(error) == [param, "__type"], (query, error)
            assert error[param][0], error
    error = _refused(app_client, fq="tags:x organisation:gz-transport")
    assert error["fq"] == ["unknown field organisation: organisation:gz-transport"]
    assert _refused(app_client, q="title:a", fq_list=json.dumps(["x"]))  # fq_list in a URL: one string is one fq
    bad = app_client.post("/api/3/action/package_search", json={"fq_list": [{"x": 1}]})
    assert bad.status_code == 409 and "fq_list" in bad.json()["error"]


def test_sorts_follow_ckan(app_client: Any) -> None:
    """``sort``: ``name asc`` sorts by name (not title), ``title_string`` by title, ``id`` by the package id
    string, ``metadata_created``, multi-key sorts, the echoed ``sort`` and CKAN's default ``score desc,
    metadata_modified desc`` (``package_search``, ``ckan.search.default_package_sort``); an unknown field is
    Solr's error (409 ``Search Error``), a missing order CKAN's ``SearchQueryError`` (400)."""
    tag = unique("srt")
    # created in the order c, a, b; names a < b < c; titles 丙 (U+4E19) < 乙 (U+4E59) < 甲 (U+7532)
    spec = [("c", "丙 数据", 2, 0, 0), ("a", "甲 数据", 1, 1, 1), ("b", "乙 数据", 0, 0, 0)]
    for name_part, title, created_day, modified_day, dept in spec:
        name = call_as("system", "dataset_create", dataset_payload(name=f"{tag}-{name_part}", title=title,
                                                                   tags=[tag], department=DEPTS[dept]))["name"]
        _set_times(name, created=_utc(2020, 1, 1) + dt.timedelta(days=created_day),
                   modified=_utc(2023, 1, 1) + dt.timedelta(days=modified_day))

    def order(sort: str, **extra: Any) -> list[str]:
        res = _search(app_client, fq=f"tags:{tag}", sort=sort, **extra)
        assert res["sort"] == sort
        return [p["name"][len(tag) + 1:] for p in res["results"]]

    assert order("name asc") == ["a", "b", "c"]
    assert order("name desc") == ["c", "b", "a"]
    assert order("title_string asc") == ["c", "b", "a"]  # by code point, as Solr compares strings
    assert order("title_string desc") == ["a", "b", "c"]
    assert order("metadata_created asc") == ["b", "a", "c"]
    assert order("metadata_created desc") == ["c", "a", "b"]
    assert order("metadata_modified desc, name desc") == ["a", "c", "b"]
    assert order("metadata_modified asc,name asc") == ["b", "c", "a"]
    # no text to score: score drops out, metadata_modified desc, then the newest row first
    assert order("score desc, metadata_modified desc") == ["a", "b", "c"]
    # single-valued strings CKAN also sorts on; constant fields order nothing
    first_dept_first = DEPTS[0] < DEPTS[1]  # c and b are in DEPTS[0], a in DEPTS[1]
    assert order("organization asc, name asc") == (["b", "c", "a"] if first_dept_first else ["a", "b", "c"])
    assert order("owner_org desc,name asc") == (["a", "b", "c"] if first_dept_first else ["b", "c", "a"])
    assert order("private asc, state asc, dataset_type desc, name desc") == ["c", "b", "a"]
    assert order("capacity desc, license_id asc, type asc, name asc") == ["a", "b", "c"]
    res = _search(app_client, fq=f"tags:{tag}", sort="id asc")
    ids = [p["id"] for p in res["results"]]
    assert ids == sorted(ids) and len(ids) == 3
    assert [p["id"] for p in _search(app_client, fq=f"tags:{tag}", sort="id desc")["results"]] == ids[::-1]
    assert _search(app_client, fq=f"tags:{tag}")["sort"] == "score desc, metadata_modified desc"
    assert _search(app_client, fq=f"tags:{tag}", sort="rank")["sort"] == "score desc, metadata_modified desc"
    unknown = _refused(app_client, fq=f"tags:{tag}", sort="popularity desc")
    assert unknown["__type"] == "Search Error" and "popularity" in unknown["message"]
    assert _refused(app_client, sort="title asc")["__type"] == "Search Error"  # a text field: Solr cannot
    no_order = _refused(app_client, 400, sort="name")
    assert no_order == {"__type": "Search Query Error", "message": "Search Query is invalid: "
                        "('Invalid \"sort\" parameter',)"}


def test_paging_by_views_is_stable_while_views_are_counted(app_client: Any) -> None:
    """``sort=views_recent desc`` / ``views_total desc`` (ckanext/tracking: ``views_recent`` is the views of the
    last 14 days, both indexed by the nightly tracking job, so they do not move while a client pages): counts
    are taken as of the end of yesterday, and views flushed between pages move nothing; the id tie-break keeps
    equal counts in one order."""
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    tag = unique("浏览")
    made = _make(tag, 7)
    rows = [{"dataset": name, "day": (today - dt.timedelta(days=1)).isoformat(), "views": 70 - 10 * i}
            for i, name in enumerate(made)]
    rows += [{"dataset": made[6], "day": (today - dt.timedelta(days=20)).isoformat(), "views": 1000},
             {"dataset": made[5], "day": (today - dt.timedelta(days=3)).isoformat(), "views": 5}]
    call_as("system", "usage_import", {"rows": rows})
    ids = {name: call_as("system", "dataset_show", {"id": name})["id"] for name in made}

    def page_through(sort: str) -> list[str]:
        seen: list[str] = []
        for start in range(0, 8, 2):
            res = _search(app_client, fq=f"tags:{tag}", sort=sort, rows=2, start=start)
            assert res["count"] == 7
            seen += [p["name"] for p in res["results"]]
            # between pages the last dataset is viewed a lot today, and the counts are flushed
            for _ in range(500):
                call_as(None, "usage_record", {"dataset_id": ids[made[6]], "kind": "views"})
            call_as("system", "usage_flush", {})
        return seen

    recent = page_through("views_recent desc")
    assert recent == [*made[:5], made[5], made[6]]  # 20+5 recent for made[5]; made[6]'s 1000 are 20 days old
    total = page_through("views_total desc")
    assert total == [made[6], *made[:6]]  # 1010 in all before today
    assert page_through("views_recent asc, name asc") == recent[::-1]
    tied = _make(tag, 3)  # no views at all: the tie-break (newest row first) orders them
    order = [p["name"] for p in _search(app_client, fq=f"tags:{tag} views_recent:0", sort="views_recent desc",
                                        rows=10)["results"]]
    assert order == tied[::-1]
    assert _names(_search(app_client, fq=f"tags:{tag} views_total:[60 TO *]", rows=10)) == {made[0], made[1],
                                                                                          made[6]}
    assert _names(_search(app_client, fq=f"tags:{tag} views_recent:{{50 TO 70]", rows=10)) == {made[0], made[1]}


def test_largest_queries_answer(app_client: Any) -> None:
    """The largest queries the parser takes (500 clauses, parentheses 20 deep) compile to SQL both engines
    run; one clause more is refused by name."""
    tag = unique("大")
    a = _make(tag, 1)[0]
    mixed = " OR ".join(f"name:x{i} OR title:词{i} OR extras_k{i}:v OR views_total:{i}" for i in range(123))
    assert _names(_search(app_client, fq=f"tags:{tag} AND ({mixed} OR name:{a} OR tags:y OR groups:z)")) == {a}
    words = " ".join(f"w{i}" for i in range(499))
    assert _search(app_client, q=words, rows=0)["count"] == 0
    nested = "(" * 20 + f"name:{a}" + ")" * 20
    assert _names(_search(app_client, fq=f"tags:{tag} {nested}")) == {a}
    assert "500" in _refused(app_client, q=words + " w499 w500")["q"][0]
