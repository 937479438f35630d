"""CKAN ``datastore_search`` / ``datastore_search_sql`` fidelity (issue 10), as conformance tests against CKAN
2.11's own source: ``ckanext/datastore/logic/schema.py`` (datastore_search_schema), ``ckanext/datastore/
backend/postgres.py`` (_textsearch_query, _build_query_and_rank_statements, _sort, _insert_links, search_data,
search_sql), ``ckanext/datastore/backend/__init__.py`` (_parse_sort_clause), and the clients that call them:
CKAN's datatables view (``ckanext/datatablesview/blueprint.py`` ajax) and the view filter module
(``ckan/public/base/javascript/modules/resource-view-filters.js``), whose exact requests are replayed."""

from __future__ import annotations

import csv
import io
import json
import re
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from tests.conftest import Store, call_as, open_dataset

KINDS = ["Bus Stop", "Metro Station", "Bus Terminal", "Ferry Pier"]
DISTRICTS = ["天河区", "越秀区", "海珠区"]
N = 40


def _row(i: int) -> str:
    count = "" if i % 10 == 0 else str(i)
    return f"站点{i},{KINDS[i % 4]},{DISTRICTS[i % 3]},{count}\n"


CSV_TEXT = "站点名称,类别,所属区,数量\n" + "".join(_row(i) for i in range(1, N + 1))


@pytest.fixture
def rid(demo: Store) -> str:
    ds = open_dataset()
    res = call_as("steward", "resource_create",
                  {"dataset": ds["name"], "upload": UploadedFile("stops.csv", io.BytesIO(CSV_TEXT.encode()))})
    jobs.wait_idle()
    return str(res["id"])


def action(client: Any, name: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
    if body is not None:
        return client.post(f"/api/3/action/{name}", json=body)
    return client.get(f"/api/3/action/{name}", params=params)


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["result"]


def rows_where(pred: Any) -> list[int]:
    return [i for i in range(1, N + 1) if pred(i)]


# --------------------------------------------------------------------------- the datatables view, replayed


def datatables_ajax(client: Any, rid: str, form: dict[str, str], view_filters: dict[str, Any] | None = None) -> dict[str, Any]:
    """``ckanext/datatablesview/blueprint.py`` ``ajax()``: the same two datastore_search calls with the same
    parameters (sent over HTTP here), and the same ``dtdata`` built from their answers."""
    view_filters = view_filters or {}
    unfiltered = ok(action(client, "datastore_search", {"resource_id": rid, "limit": 0, "filters": view_filters}))
    cols = [f["id"] for f in unfiltered["fields"]]
    sort_list, i = [], 0
    while f"order[{i}][column]" in form:
        direction = "desc" if form[f"order[{i}][dir]"] == "desc" else "asc"
        sort_list.append(cols[int(form[f"order[{i}][column]"])] + " " + direction)
        i += 1
    colsearch, i = {}, 0
    while f"columns[{i}][search][value]" in form:
        v = form[f"columns[{i}][search][value]"]
        if v:
            colsearch[form[f"columns[{i}][name]"]] = re.sub(r"[^0-9a-zA-Z\-]+", "_", v) + ":*"
        i += 1
    search_text = form["search[value]"]
    if colsearch:
        search_text = json.dumps(colsearch)
    else:
        search_text = re.sub(r"[^0-9a-zA-Z\-]+", "_", search_text) + ":*" if search_text else ""
    r = action(client, "datastore_search", {
        "q": search_text, "resource_id": rid, "plain": False, "language": "simple", "offset": int(form["start"]),
        "limit": int(form["length"]), "sort": ", ".join(sort_list), "filters": view_filters})
    response = ok(r)
    data = []
    for row in response["records"]:
        record = {c: escape(str("" if row.get(c, "") is None else row.get(c, ""))) for c in cols}
        record["DT_RowId"] = "row" + str(row.get("_id", ""))
        data.append(record)
    return {"draw": int(form["draw"]), "recordsTotal": unfiltered.get("total", 0),
            "recordsFiltered": response.get("total", 0), "data": data}


def form(search: str = "", start: int = 0, length: int = 10, order: tuple[int, str] | None = None,
         column_search: dict[int, tuple[str, str]] | None = None) -> dict[str, str]:
    f = {"draw": "3", "search[value]": search, "start": str(start), "length": str(length)}
    if order:
        f["order[0][column]"], f["order[0][dir]"] = str(order[0]), order[1]
    names = ["_id", "站点名称", "类别", "所属区", "数量"]  # DataTables sends every column, searched or not
    for i, name in enumerate(names):
        f[f"columns[{i}][name]"] = name
        f[f"columns[{i}][search][value]"] = (column_search or {}).get(i, (name, ""))[1]
    return f


def test_datatables_view_requests_get_what_the_view_expects(app_client: Any, rid: str) -> None:
    # the first page, sorted by the 5th column (数量) descending: PostgreSQL puts NULLs first
    dt = datatables_ajax(app_client, rid, form(order=(4, "desc")))
    assert dt["draw"] == 3 and dt["recordsTotal"] == N and dt["recordsFiltered"] == N
    assert [d["数量"] for d in dt["data"][:5]] == ["", "", "", "", str(N - 1)]
    assert dt["data"][0]["DT_RowId"].startswith("row") and set(dt["data"][0]) >= {"_id", "站点名称", "类别"}
    # the search box: "sto" becomes the prefix query sto:* (plain=false, language simple)
    dt = datatables_ajax(app_client, rid, form(search="sto", order=(0, "asc")))
    stops = rows_where(lambda i: i % 4 == 0)
    assert dt["recordsFiltered"] == len(stops)
    assert [int(d["_id"]) for d in dt["data"]] == stops[:10]
    assert all(d["类别"] == "Bus Stop" for d in dt["data"])
    # two words: "bus st" becomes bus_st:*, PostgreSQL's phrase 'bus' <-> 'st':* (Bus Stop, not Bus Terminal)
    dt = datatables_ajax(app_client, rid, form(search="bus st", length=50))
    assert dt["recordsFiltered"] == len(stops)
    # a column's own search box: q={"类别": "Metro:*"}; paging with start/length
    dt = datatables_ajax(app_client, rid, form(start=5, length=5, order=(0, "asc"), column_search={2: ("类别", "Metro")}))
    metro = rows_where(lambda i: i % 4 == 1)
    assert dt["recordsFiltered"] == len(metro)
    assert [int(d["_id"]) for d in dt["data"]] == metro[5:10]
    # view filters narrow both the total and the search
    dt = datatables_ajax(app_client, rid, form(search="sto"), view_filters={"所属区": ["天河区"]})
    assert dt["recordsTotal"] == len(rows_where(lambda i: i % 3 == 0))
    assert dt["recordsFiltered"] == len([i for i in stops if i % 3 == 0])
    # the view turns a Chinese search into "_:*", which has no words: as on PostgreSQL, nothing matches
    assert datatables_ajax(app_client, rid, form(search="天河"))["recordsFiltered"] == 0


def test_filter_module_requests(app_client: Any, rid: str) -> None:
    """resource-view-filters.js: distinct values of one column for the dropdown, then typeahead with
    q={"col": "term:*"} and plain=false (a term with a space is sent plain)."""
    base = {"resource_id": rid, "limit": 20, "offset": 0, "fields": "所属区", "distinct": "true", "sort": "所属区",
            "include_total": "false"}
    got = ok(action(app_client, "datastore_search", **base))
    assert [r["所属区"] for r in got["records"]] == sorted(DISTRICTS)
    assert "total" not in got and [f["id"] for f in got["fields"]] == ["所属区"]
    got = ok(action(app_client, "datastore_search", **base, q=json.dumps({"所属区": "天河:*"}), plain="false"))
    assert got["records"] == [{"所属区": "天河区"}]
    got = ok(action(app_client, "datastore_search", **{**base, "fields": "类别", "sort": "类别"},
                    q=json.dumps({"类别": "bus stop"})))
    assert got["records"] == [{"类别": "Bus Stop"}]


# --------------------------------------------------------------------------- full text: words and rank


def test_full_text_matches_words_and_returns_rank(app_client: Any, rid: str) -> None:
    """postgres.py _textsearch_query: a string q adds column ``rank`` (float), a dict q ``rank <column>``;
    without a sort the best matches come first (_sort: rank DESC). Words, not substrings."""
    r = ok(action(app_client, "datastore_search", resource_id=rid, q="stop"))
    assert r["total"] == len(rows_where(lambda i: i % 4 == 0))
    assert r["fields"][-1] == {"id": "rank", "type": "float"}
    assert all(0 < rec["rank"] < 1 for rec in r["records"])
    assert ok(action(app_client, "datastore_search", resource_id=rid, q="sto"))["total"] == 0  # not a word
    assert ok(action(app_client, "datastore_search", resource_id=rid, q="天河"))["total"] == N // 3  # jieba
    assert ok(action(app_client, "datastore_search", resource_id=rid, q="河区"))["total"] == 0  # a substring only
    r = ok(action(app_client, "datastore_search", resource_id=rid, q=json.dumps({"类别": "metro"}), limit=2))
    assert r["fields"][-1] == {"id": "rank 类别", "type": "float"} and "rank 类别" in r["records"][0]
    # the rank orders: rows with both words (Bus Terminal) before rows with one (Bus Stop)
    r = ok(action(app_client, "datastore_search", resource_id=rid, q="bus | terminal", plain="false", limit=20))
    ranks = [rec["rank"] for rec in r["records"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]
    assert [rec["类别"] for rec in r["records"][:10]] == ["Bus Terminal"] * 10
    # fields chooses: rank only when asked for
    r = ok(action(app_client, "datastore_search", resource_id=rid, q="stop", fields="_id,rank", limit=1))
    assert list(r["records"][0]) == ["_id", "rank"]
    r = ok(action(app_client, "datastore_search", resource_id=rid, q="stop", fields="_id", limit=1))
    assert list(r["records"][0]) == ["_id"]
    # to_tsquery operators
    assert ok(action(app_client, "datastore_search", resource_id=rid, q="bus & !stop", plain="false"))["total"] == \
        len(rows_where(lambda i: i % 4 == 2))
    assert ok(action(app_client, "datastore_search", resource_id=rid, q="(metro | ferry) & 天河区", plain="false"))["total"] == \
        len(rows_where(lambda i: i % 4 in (1, 3) and i % 3 == 0))
    bad = action(app_client, "datastore_search", resource_id=rid, q="bus & | stop", plain="false")
    assert bad.status_code == 409 and "query" in bad.json()["error"]  # CKAN: {"query": ["Invalid query"]}


def test_language_and_unknown_parameters_refused_loudly(app_client: Any, rid: str) -> None:
    r = action(app_client, "datastore_search", resource_id=rid, q="stop", language="english")
    assert r.status_code == 409 and "language" in r.json()["error"]
    ok(action(app_client, "datastore_search", resource_id=rid, q="stop", language="simple"))
    r = action(app_client, "datastore_search", resource_id=rid, frobnicate="1")
    assert r.status_code == 409 and r.json()["error"]["frobnicate"] == ["The input field frobnicate was not expected."]
    r = action(app_client, "datastore_search", resource_id=rid, records_format="xml")
    assert r.status_code == 409 and "records_format" in r.json()["error"]
    # accepted as CKAN accepts them: total_estimation_threshold (our totals are always exact), full_text
    r = ok(action(app_client, "datastore_search", resource_id=rid, total_estimation_threshold=1000, full_text="metro"))
    assert r["total"] == len(rows_where(lambda i: i % 4 == 1)) and r["total_was_estimated"] is False


# --------------------------------------------------------------------------- paging links, formats, sort, limit


def test_links_keep_the_search(app_client: Any, rid: str) -> None:
    """postgres.py _insert_links: start = the request without offset, next = offset + limit, prev when > 0."""
    params = {"resource_id": rid, "q": "bus", "filters": json.dumps({"所属区": "天河区"}), "sort": "数量 desc",
              "fields": "_id,数量", "limit": 2, "offset": 4}
    r = ok(action(app_client, "datastore_search", **params))
    nxt = parse_qs(urlparse(r["_links"]["next"]).query)
    assert urlparse(r["_links"]["next"]).path == "/api/3/action/datastore_search"
    assert {k: v[0] for k, v in nxt.items()} == {**{k: str(v) for k, v in params.items()}, "offset": "6"}
    start = parse_qs(urlparse(r["_links"]["start"]).query)
    assert "offset" not in start and start["q"] == ["bus"] and start["limit"] == ["2"]
    assert parse_qs(urlparse(r["_links"]["prev"]).query)["offset"] == ["2"]
    # following next gives the next page of the same search
    page2 = ok(app_client.get(r["_links"]["next"]))
    full = ok(action(app_client, "datastore_search", **{**params, "limit": 10, "offset": 0}))
    assert page2["records"] == full["records"][6:8]
    # a POSTed search: the links carry its parameters too
    r = ok(action(app_client, "datastore_search", {"resource_id": rid, "filters": {"所属区": "越秀区"}, "limit": 3}))
    page2 = ok(app_client.get(r["_links"]["next"]))
    assert page2["offset"] == 3 and all(rec["所属区"] == "越秀区" for rec in page2["records"])


def test_records_formats(app_client: Any, rid: str) -> None:
    """schema.py: records_format one of objects, lists, csv, tsv (postgres.py search_data: COPY … csv / tab)."""
    r = ok(action(app_client, "datastore_search", resource_id=rid, records_format="tsv", fields="_id,类别", limit=2))
    assert r["records_format"] == "tsv"
    assert list(csv.reader(io.StringIO(r["records"]), delimiter="\t")) == [["1", "Metro Station"], ["2", "Bus Terminal"]]
    r = ok(action(app_client, "datastore_search", resource_id=rid, records_format="csv", fields="_id,类别", limit=1))
    assert r["records"] == "1,Metro Station\n"
    r = ok(action(app_client, "datastore_search", resource_id=rid, records_format="lists", fields="_id,类别", limit=1))
    assert r["records"] == [[1, "Metro Station"]]


def test_sort_nulls_and_limit_cap(app_client: Any, rid: str) -> None:
    """backend/__init__.py _parse_sort_clause accepts "field [asc|desc] [nulls first|last]"; PostgreSQL's default
    puts NULLs last ascending and first descending. schema.py limit_to_configured_maximum caps limit at
    rows_max (32,000) instead of refusing it."""
    def first(sort: str) -> Any:
        return ok(action(app_client, "datastore_search", resource_id=rid, sort=sort, limit=1))["records"][0]["数量"]

    assert first("数量 desc") is None
    assert first("数量 desc nulls last") == N - 1
    assert first("数量 asc") == 1
    assert first("数量 asc nulls first") is None
    assert first('"数量" DESC NULLS LAST') == N - 1
    r = ok(action(app_client, "datastore_search", {"resource_id": rid, "sort": ["所属区 asc", "数量 desc nulls last"], "limit": 1}))
    assert r["records"][0]["所属区"] == "天河区" and r["records"][0]["数量"] == 39
    r = ok(action(app_client, "datastore_search", resource_id=rid, limit=50_000))
    assert r["limit"] == 32_000 and len(r["records"]) == N


# --------------------------------------------------------------------------- datastore_search_sql errors


def test_search_sql_errors_are_keyed_query(app_client: Any, rid: str) -> None:
    """postgres.py search_sql: statement errors are ValidationError({'query': [...]}); a table PostgreSQL cannot
    find ('relation does not exist') is one too; a timeout is {'query': ['Query took too long']}-like."""
    for sql in ("SELEC 1", f'SELECT nope FROM "{rid}"', 'SELECT * FROM "no-such-table"'):
        r = action(app_client, "datastore_search_sql", sql=sql)
        err = r.json()["error"]
        assert r.status_code == 409 and err["__type"] == "Validation Error", (sql, err)
        assert isinstance(err["query"], list) and err["query"], (sql, err)
