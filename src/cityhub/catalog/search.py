"""The dataset search index: jieba tokens in FTS5 (SQLite) or a weighted tsvector (PostgreSQL), plus a
facet table. It is written in the same transaction as the dataset, so search never disagrees with the
catalog after a create, update or delete.

On SQLite the facet values of each dataset are also tokens of a second FTS5 table (``search_fts_facet``, one
row per dataset, no positions): a set of facet filters is then one FTS5 AND query, an intersection of
compressed posting lists, where SQLite otherwise built an ephemeral index of every filter's whole posting
list (tens of thousands of rows for a common format or tag) before the text match could be probed against
them. The text table, and so bm25, is untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, text
from sqlalchemy.orm import Session

from cityhub.catalog.models import Dataset, SearchDoc, SearchFacet
from cityhub.catalog.textsearch import query_tokens, segment_doc, tokens
from cityhub.db import is_postgres

FACET_FIELDS = ("organization", "theme", "res_format", "sharing_class", "opening_class", "update_cycle",
                "district", "tags", "catalog_type", "license_id")
# The token of a facet value in ``search_fts_facet``: the field's letter and the value's UTF-8 bytes in hex (only
# ASCII letters and digits, so FTS5's ascii tokenizer keeps it whole; exact: no two values share a token).
# Stored tokens are built in SQL by FACET_KEYS_SQL, query tokens by facet_token(): keep the letters in step.
FACET_LETTER = {"organization": "o", "theme": "t", "res_format": "f", "sharing_class": "s", "opening_class": "p",
                "update_cycle": "u", "district": "d", "tags": "g", "catalog_type": "c", "license_id": "l"}
FACET_KEYS_SQL = ("SELECT dataset_id, group_concat(CASE field "
                  + " ".join(f"WHEN '{f}' THEN '{c}'" for f, c in FACET_LETTER.items())
                  + " ELSE 'x' END || lower(hex(value)), ' ') FROM search_facet WHERE {where} GROUP BY dataset_id")
SORTS = {
    "relevance": "score",
    "score desc": "score",
    "newest": "d.modified_at DESC",
    "metadata_modified desc": "d.modified_at DESC",
    "metadata_modified asc": "d.modified_at ASC",
    "most_used": "d.popularity DESC",
    "views_recent desc": "d.popularity DESC",
    "title_string asc": "d.title ASC",
    "title_string desc": "d.title DESC",
    "name asc": "d.title ASC",
}


def facet_values(ds: Dataset) -> Iterable[tuple[str, str]]:
    yield "organization", ds.department.slug
    yield "theme", ds.theme
    for fmt in {r.format.upper() for r in ds.resources if r.format}:
        yield "res_format", fmt
    yield "sharing_class", ds.sharing_class
    yield "opening_class", ds.opening_class
    yield "update_cycle", ds.update_cycle
    yield "catalog_type", ds.catalog_type
    if ds.license_id:
        yield "license_id", ds.license_id
    for d in set(ds.districts):
        yield "district", d
    for t in set(ds.tags):
        yield "tags", t[:200]


def is_public(ds: Dataset) -> bool:
    return ds.state == "active" and not ds.private and ds.opening_class != "不予开放"


def doc_source(ds: Dataset) -> tuple[str, str, tuple[str, ...]]:
    """Plain text of a dataset for segmentation: title, unique body text, repeated short parts."""
    shared = [ds.department.name, ds.department.short_name, *ds.tags]
    for col in ds.data_items:
        shared.append(str(col.get("name", "")))
        shared.append(str(col.get("description", "")))
    return f"{ds.title} {ds.title_en}", f"{ds.abstract} {ds.name} {ds.code}", tuple(p for p in shared if p)


def doc_text(ds: Dataset) -> tuple[str, str]:
    return segment_doc(doc_source(ds))


def facet_token(fld: str, value: str) -> str:
    return FACET_LETTER[fld] + value.encode().hex()


def _write_facet_keys(session: Session, ids: Sequence[int], *, replace: bool = False) -> None:
    """(Re)write the ``search_fts_facet`` rows of datasets ``ids`` from their ``search_facet`` rows (SQLite)."""
    params = {"ids": json.dumps(list(ids))}
    if replace:
        session.execute(text("DELETE FROM search_fts_facet WHERE rowid IN (SELECT value FROM json_each(:ids))"),
                        params)
    session.execute(text("INSERT INTO search_fts_facet(rowid, keys) "
                         + FACET_KEYS_SQL.format(where="dataset_id IN (SELECT value FROM json_each(:ids))")), params)


def remove(session: Session, dataset_id: int) -> None:
    if not is_postgres(session):
        session.execute(text("DELETE FROM search_fts WHERE rowid = :id"), {"id": dataset_id})
        session.execute(text("DELETE FROM search_fts_facet WHERE rowid = :id"), {"id": dataset_id})
    session.execute(delete(SearchFacet).where(SearchFacet.dataset_id == dataset_id))
    session.execute(delete(SearchDoc).where(SearchDoc.dataset_id == dataset_id))


def index(session: Session, ds: Dataset) -> None:
    """(Re)write the index entries of one dataset inside the caller's transaction."""
    remove(session, ds.id)
    if ds.state != "active":
        return
    title, body = doc_text(ds)
    # Core inserts (as in index_many): no ORM unit-of-work bookkeeping for rows nothing reads back
    session.execute(insert(SearchDoc), [{
        "dataset_id": ds.id, "title_tokens": title, "body_tokens": body, "public": is_public(ds),
        "private": ds.private, "department_id": ds.department_id, "modified_at": ds.modified_at,
        "popularity": ds.views_total + ds.downloads_total * 5 + ds.api_calls_total, "title": ds.title}])
    session.execute(insert(SearchFacet), [{"dataset_id": ds.id, "field": f, "value": v}
                                          for f, v in sorted(set(facet_values(ds)))])
    if is_postgres(session):
        session.execute(
            text("UPDATE search_doc SET tsv = setweight(array_to_tsvector(string_to_array(title_tokens, ' ')), 'A')"
                 " || array_to_tsvector(string_to_array(body_tokens, ' ')) WHERE dataset_id = :id"),
            {"id": ds.id},
        )
    else:
        session.execute(text("INSERT INTO search_fts(rowid, title, body) VALUES (:id, :t, :b)"),
                        {"id": ds.id, "t": title, "b": body})
        _write_facet_keys(session, [ds.id])


def index_formats(session: Session, datasets: Sequence[Dataset]) -> None:
    """Rewrite only the ``res_format`` facet rows of indexed datasets (their resources changed, nothing else)."""
    active = [ds for ds in datasets if ds.state == "active"]
    if not active:
        return
    ids = [ds.id for ds in active]
    session.execute(delete(SearchFacet).where(SearchFacet.dataset_id.in_(ids), SearchFacet.field == "res_format"))
    rows = [{"dataset_id": ds.id, "field": "res_format", "value": fmt}
            for ds in active for fmt in sorted({r.format.upper() for r in ds.resources if r.format})]
    if rows:
        session.execute(insert(SearchFacet), rows)
    if not is_postgres(session):
        _write_facet_keys(session, ids, replace=True)


def index_many(session: Session, datasets: Sequence[Dataset]) -> None:
    """Index many datasets at once (full reindex): bulk inserts, no per-row deletes."""
    pg = is_postgres(session)
    docs: list[dict[str, Any]] = []
    facets: list[dict[str, Any]] = []
    fts: list[dict[str, Any]] = []
    active = [ds for ds in datasets if ds.state == "active"]
    for ds in active:
        title, body = doc_text(ds)
        docs.append({"dataset_id": ds.id, "title_tokens": title, "body_tokens": body, "public": is_public(ds),
                     "private": ds.private, "department_id": ds.department_id, "modified_at": ds.modified_at,
                     "popularity": ds.views_total + ds.downloads_total * 5 + ds.api_calls_total, "title": ds.title})
        facets.extend({"dataset_id": ds.id, "field": f, "value": v} for f, v in set(facet_values(ds)))
        fts.append({"id": ds.id, "t": title, "b": body})
    if not docs:
        return
    session.execute(insert(SearchDoc), docs)
    session.execute(insert(SearchFacet), facets)
    if pg:
        session.execute(
            text("UPDATE search_doc SET tsv = setweight(array_to_tsvector(string_to_array(title_tokens, ' ')), 'A')"
                 " || array_to_tsvector(string_to_array(body_tokens, ' ')) WHERE dataset_id = ANY(:ids)"),
            {"ids": [d["dataset_id"] for d in docs]},
        )
    else:
        session.execute(text("INSERT INTO search_fts(rowid, title, body) VALUES (:id, :t, :b)"), fts)
        _write_facet_keys(session, [d["dataset_id"] for d in docs])


def clear(session: Session) -> None:
    if not is_postgres(session):
        session.execute(text("DELETE FROM search_fts"))
        session.execute(text("DELETE FROM search_fts_facet"))
    session.execute(delete(SearchFacet))
    session.execute(delete(SearchDoc))


@dataclass
class Query:
    q: str = ""
    filters: list[tuple[str, str]] = field(default_factory=list)  # (facet field, value), ANDed
    rows: int = 10
    start: int = 0
    sort: str = "relevance"
    facet_fields: list[str] = field(default_factory=list)
    facet_limit: int = 50
    visibility: str = "public"  # public | government | all
    department_id: int | None = None
    include_private: bool = False


@dataclass
class Result:
    count: int
    ids: list[int]
    facets: dict[str, list[tuple[str, int]]]


def _fts_quote(tok: str) -> str:
    return '"' + tok.replace('"', '""') + '"'


def _ts_quote(tok: str) -> str:
    return "'" + tok.replace("\\", "\\\\").replace("'", "''") + "'"


def search(session: Session, query: Query) -> Result:
    pg = is_postgres(session)
    params: dict[str, Any] = {}
    where = ["1=1"]
    if query.visibility == "public":
        where.append("d.public = :true")
        params["true"] = True
    elif query.visibility == "government":
        where.append("(d.private = :false OR d.department_id = :dept)")
        params.update(false=False, dept=query.department_id or -1)
    if not query.include_private and query.visibility != "public":
        where.append("d.private = :noprivate")
        params["noprivate"] = False
    if query.filters and not pg:  # all filters at once: one AND query over the facet tokens
        where.append("d.dataset_id IN (SELECT rowid FROM search_fts_facet WHERE search_fts_facet MATCH :facets)")
        params["facets"] = " ".join(_fts_quote(facet_token(fld, value)) for fld, value in query.filters)
    for i, (fld, value) in enumerate(query.filters if pg else ()):
        where.append(f"d.dataset_id IN (SELECT dataset_id FROM search_facet WHERE field = :ff{i} AND value = :fv{i})")
        params[f"ff{i}"], params[f"fv{i}"] = fld, value
    toks = query_tokens(query.q) if query.q.strip() else []
    if query.q.strip() and not toks:
        toks = [t for t in tokens(query.q)] or [query.q.strip().lower()]
    if toks and pg:
        source = "search_doc d"
        where.append("d.tsv @@ CAST(:tsq AS tsquery)")
        params["tsq"] = " & ".join(_ts_quote(t) for t in toks)
        score = "ts_rank(d.tsv, CAST(:tsq AS tsquery)) DESC"
    elif toks:
        source = ("search_doc d JOIN (SELECT rowid AS rid, bm25(search_fts, 5.0, 1.0) AS rank FROM search_fts "
                  "WHERE search_fts MATCH :match) m ON m.rid = d.dataset_id")
        params["match"] = " ".join(_fts_quote(t) for t in toks)
        score = "m.rank ASC"
    else:
        source = "search_doc d"
        score = "d.popularity DESC"
    order = SORTS.get(query.sort, "score")
    order_sql = score if order == "score" else order
    key_expr, _, direction = order_sql.rpartition(" ")
    cond = " AND ".join(where)
    wanted = [f for f in query.facet_fields if f in FACET_FIELDS]
    # One statement: the text match and the filters run once into a materialized set, from which the
    # count, the page and the facet counts are all read (three statements ran the match three times).
    parts = ["SELECT 'c' AS kind, CAST(NULL AS TEXT) AS a, CAST(NULL AS TEXT) AS b, count(*) AS n FROM m",
             f"SELECT 'p', CAST(id AS TEXT), NULL, row_number() OVER (ORDER BY k {direction}, id DESC) FROM "
             f"(SELECT id, k FROM m ORDER BY k {direction}, id DESC LIMIT :rows OFFSET :start) page"]
    params.update(rows=query.rows, start=query.start)
    if wanted:
        names = ", ".join(f":fname{i}" for i in range(len(wanted)))
        params.update({f"fname{i}": f for i, f in enumerate(wanted)})
        # driven from the matched ids (index range scans on the facet primary key), never from a whole-field
        # scan; SQLite needs CROSS JOIN to keep that join order, and the unary + keeps the field list out of
        # the index key: one range scan per matched id instead of one seek per id and wanted field
        join, fld = ("JOIN", "f.field") if pg else ("CROSS JOIN", "+f.field")
        parts.append(f"SELECT 'f', f.field, f.value, count(*) FROM m {join} search_facet f ON f.dataset_id = m.id "
                     f"WHERE {fld} IN ({names}) GROUP BY f.field, f.value")
    sql = (f"WITH m AS MATERIALIZED (SELECT d.dataset_id AS id, {key_expr} AS k FROM {source} WHERE {cond}) "
           + " UNION ALL ".join(parts))
    count = 0
    page: list[tuple[int, int]] = []
    counted: list[tuple[str, str, int]] = []
    for kind, a, b, n in session.execute(text(sql), params):
        if kind == "c":
            count = int(n)
        elif kind == "p":
            page.append((int(n), int(a)))
        else:
            counted.append((str(a), str(b), int(n)))
    ids = [i for _, i in sorted(page)]
    facets: dict[str, list[tuple[str, int]]] = {f: [] for f in wanted}
    for fld, value, n in sorted(counted, key=lambda r: (-r[2], r[1])):
        if len(facets[fld]) < query.facet_limit:
            facets[fld].append((value, n))
    return Result(count=count, ids=ids, facets=facets)


SQLITE_DDL = ("CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(title, body, "
              "tokenize='unicode61 remove_diacritics 0')")
SQLITE_FACET_DDL = "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts_facet USING fts5(keys, detail=none, tokenize='ascii')"
PG_DDL = (
    "ALTER TABLE search_doc ADD COLUMN IF NOT EXISTS tsv tsvector",
    "CREATE INDEX IF NOT EXISTS ix_search_doc_tsv ON search_doc USING gin (tsv)",
)
