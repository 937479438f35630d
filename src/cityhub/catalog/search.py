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

import datetime as dt
import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Date, Table, bindparam, delete, event, insert, text, update
from sqlalchemy.orm import Session, attributes

from cityhub.catalog import publication, solr, visibility
from cityhub.catalog.models import Dataset, SearchDoc, SearchFacet
from cityhub.catalog.textsearch import query_tokens, segment_doc, tokens
from cityhub.db import UTCDateTime, is_postgres
from cityhub.errors import ValidationError

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


def facet_values(ds: Dataset) -> Iterable[tuple[str, str]]:
    yield "organization", ds.department.slug
    yield "theme", ds.theme
    for fmt in _formats(ds):
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


def _formats(ds: Dataset) -> set[str]:
    """The formats a dataset is found by: those of its resources not withheld by a failed or blocked load (the
    public's listings leave those out, ``visibility.listed_resources``)."""
    return {r.format.upper() for r in ds.resources if r.format and not visibility.withheld(r)}


def is_public(ds: Dataset) -> bool:
    """The index's ``public`` flag: listed for everyone (``visibility.open_to_public``)."""
    return visibility.open_to_public(ds)


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
        "private": visibility.hidden(ds), "published": publication.is_published(ds), "department_id": ds.department_id, "modified_at": ds.modified_at,
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


@event.listens_for(Session, "after_flush")
def _follow_modified(session: Session, _context: Any) -> None:
    """Keep ``search_doc.modified_at`` equal to the dataset's: some changes move a dataset's modification time
    without reindexing it (a datastore load, a version switch), and ``metadata_modified`` ranges and sorts read
    the index (an incremental harvest asks for exactly the datasets modified since a time)."""
    rows = [{"i": obj.id, "m": obj.modified_at} for obj in session.dirty
            if isinstance(obj, Dataset) and attributes.get_history(obj, "modified_at").added]
    if rows:
        doc = cast(Table, SearchDoc.__table__)
        session.connection().execute(update(doc).where(doc.c.dataset_id == bindparam("i"))
                                     .values(modified_at=bindparam("m")), rows)


def index_formats(session: Session, datasets: Sequence[Dataset]) -> None:
    """Rewrite only the ``res_format`` facet rows of indexed datasets (their resources changed, nothing else)."""
    active = [ds for ds in datasets if ds.state == "active"]
    if not active:
        return
    ids = [ds.id for ds in active]
    session.execute(delete(SearchFacet).where(SearchFacet.dataset_id.in_(ids), SearchFacet.field == "res_format"))
    rows = [{"dataset_id": ds.id, "field": "res_format", "value": fmt}
            for ds in active for fmt in sorted(_formats(ds))]
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
                     "private": visibility.hidden(ds), "published": publication.is_published(ds), "department_id": ds.department_id, "modified_at": ds.modified_at,
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


def analyze(session: Session) -> None:
    """PostgreSQL: refresh the planner's statistics of the index after a bulk rewrite. Until autovacuum gets to
    it the planner has none and guesses, e.g. a nested loop over every dataset for a date range that matches a
    few hundred (0.5 s instead of 9 ms at 100,000 datasets)."""
    if is_postgres(session):
        session.execute(text("ANALYZE search_doc, search_facet, dataset"))


def clear(session: Session) -> None:
    if not is_postgres(session):
        session.execute(text("DELETE FROM search_fts"))
        session.execute(text("DELETE FROM search_fts_facet"))
    session.execute(delete(SearchFacet))
    session.execute(delete(SearchDoc))


# -- querying ---------------------------------------------------------------------------------------------------
#
# A query is the AND of: the visibility rule, the portal's plain-text ``q`` and facet ``filters``, and any number
# of Lucene/Solr trees (``where``, parsed by :mod:`cityhub.catalog.solr`, field names of this index). The trees
# are normalised to AND/OR/NOT/at-least-k, then compiled so that the common shapes keep their fast plans: the
# text clauses the query requires become one FTS5 MATCH (SQLite) or tsquery (PostgreSQL) that drives the query
# and ranks it, the facet clauses one FTS5 MATCH over facet tokens (SQLite), everything else plain SQL.

TEXT_FIELDS = ("text", "title", "notes")
DATE_COLUMNS = {"modified": "d.modified_at", "created": "ds.created_at"}
INT_FIELDS = ("views_total", "views_recent")
CONST_FIELDS = {"state": "active", "type": "dataset"}  # only active datasets are indexed, all of type dataset
INDEX_FIELDS = frozenset({*TEXT_FIELDS, *FACET_FIELDS, "name", "package", *DATE_COLUMNS, "public", *INT_FIELDS,
                          *CONST_FIELDS})
EXTRA_FIELD = re.compile(r"^extra\.([A-Za-z0-9_-]{1,100})$")
RECENT_DAYS = 14  # CKAN's views_recent: the views of the last 14 days (ckanext/tracking/cli/tracking.py)
MAX_EXPANSION = 64  # "at least k of n" becomes an OR of AND groups in one FTS expression up to this many groups
SORT_ALIASES = {"relevance": "score desc", "newest": "metadata_modified desc", "most_used": "popularity desc"}
SORT_FIELDS = ("score", "metadata_modified", "metadata_created", "name", "title_string", "id", "views_total",
               "views_recent", "popularity", "organization", "license_id", "capacity")
_ONE_MS = dt.timedelta(milliseconds=1)


@dataclass
class Query:
    q: str = ""
    filters: list[tuple[str, str]] = field(default_factory=list)  # (facet field, value), ANDed
    where: list[tuple[str, solr.Node]] = field(default_factory=list)  # (parameter name, Lucene tree), ANDed
    rows: int = 10
    start: int = 0
    sort: str = "relevance"
    facet_fields: list[str] = field(default_factory=list)
    facet_limit: int = 50
    visibility: str = "public"  # public | government | all
    department_id: int | None = None
    include_private: bool = False
    include_drafts: bool = False  # unpublished datasets too (those the caller may see: catalog/publication.py)
    today: dt.date | None = None  # the local day usage counts are kept by (views sorts count the days before it)
    now: dt.datetime | None = None  # NOW in date math


@dataclass
class Result:
    count: int
    ids: list[int]
    facets: dict[str, list[tuple[str, int]]]


def _fts_quote(tok: str) -> str:
    return '"' + tok.replace('"', '""') + '"'


def _ts_quote(tok: str) -> str:
    return "'" + tok.replace("\\", "\\\\").replace("'", "''") + "'"


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class _Leaf:
    node: solr.LeafNode
    param: str


# normalised trees: ("T",) ("F",) ("and", [..]) ("or", [..]) ("not", x) ("atleast", k, [..]) ("leaf", _Leaf)
# ("native", tokens): the portal's plain-text q, all tokens required
Norm = tuple[Any, ...]
TRUE: Norm = ("T",)
FALSE: Norm = ("F",)


def _invalid(leaf: _Leaf, reason: str, reason_zh: str) -> ValidationError:
    clause = leaf.node.src or str(leaf.node)
    return ValidationError(f"{leaf.param} 中的子句 {clause} 不受支持:{reason_zh}",
                           f"{leaf.param}: {reason}: {clause}", fields={leaf.param: [f"{reason}: {clause}"]})


def _and(items: list[Norm]) -> Norm:
    out: list[Norm] = []
    for item in items:
        if item == FALSE:
            return FALSE
        if item == TRUE:
            continue
        out.extend(item[1] if item[0] == "and" else [item])
    return TRUE if not out else out[0] if len(out) == 1 else ("and", out)


def _or(items: list[Norm]) -> Norm:
    out: list[Norm] = []
    for item in items:
        if item == TRUE:
            return TRUE
        if item == FALSE:
            continue
        out.extend(item[1] if item[0] == "or" else [item])
    return FALSE if not out else out[0] if len(out) == 1 else ("or", out)


def _not(item: Norm) -> Norm:
    return FALSE if item == TRUE else TRUE if item == FALSE else item[1] if item[0] == "not" else ("not", item)


def _at_least(k: int, items: list[Norm]) -> Norm:
    k -= sum(1 for i in items if i == TRUE)
    items = [i for i in items if i not in (TRUE, FALSE)]
    if k <= 0:
        return TRUE
    if k > len(items):
        return FALSE
    if k == 1:
        return _or(items)
    if k == len(items):
        return _and(items)
    return ("atleast", k, items)


def _constant(leaf: _Leaf) -> bool | None:
    """The value of a leaf that is the same for every indexed dataset, else None."""
    node = leaf.node
    fld = node.field
    if isinstance(node, solr.Exists) and fld in (*TEXT_FIELDS, "name", "package", *DATE_COLUMNS, "public",
                                                 *INT_FIELDS, *CONST_FIELDS):
        return True
    if fld in CONST_FIELDS and isinstance(node, solr.Term):
        return node.text == CONST_FIELDS[fld]
    return None


def normalise(node: solr.Node, param: str) -> Norm:
    """A Lucene tree as AND/OR/NOT/at-least-k with constants folded (BooleanQuery's matching rule: every must,
    no must_not, and ``msm`` of the should clauses, at least one when there is no must)."""
    if isinstance(node, solr.MatchAll):
        return TRUE
    if not isinstance(node, solr.Bool):
        fld = node.field
        if fld not in INDEX_FIELDS and not EXTRA_FIELD.match(fld):
            raise _invalid(_Leaf(node, param), f"unknown field {fld}", f"未知字段 {fld}")
        leaf = _Leaf(node, param)
        const = _constant(leaf)
        return ("leaf", leaf) if const is None else TRUE if const else FALSE
    if not node.clauses:
        return FALSE
    must = [normalise(c, param) for occ, c in node.clauses if occ == solr.MUST]
    should = [normalise(c, param) for occ, c in node.clauses if occ == solr.SHOULD]
    nots = [_not(normalise(c, param)) for occ, c in node.clauses if occ == solr.MUST_NOT]
    if not must and not should:
        return FALSE  # Lucene: a query of only prohibited clauses matches nothing (the parser fixes the top)
    k = node.msm if must else max(1, node.msm)
    parts = must + nots + ([_at_least(k, should)] if should and k else [])
    return _and(parts)


class _Compiler:
    def __init__(self, pg: bool, query: Query) -> None:
        self.pg = pg
        self.params: dict[str, Any] = {}
        self.types: dict[str, Any] = {}
        self.need_ds = False
        self.now = query.now or dt.datetime.now(dt.UTC)
        self.today = query.today or self.now.date()

    def bind(self, value: Any, type_: Any = None) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        if type_ is not None:
            self.types[name] = type_
        return f":{name}"

    def bind_time(self, value: dt.datetime) -> str:
        return self.bind(value, UTCDateTime())

    # -- text -------------------------------------------------------------------------------------------------

    @staticmethod
    def text_tokens(leaf: _Leaf) -> list[str]:
        node = leaf.node
        assert isinstance(node, (solr.Term, solr.Prefix))
        return query_tokens(node.text) if isinstance(node, solr.Term) else tokens(node.text)

    def is_text(self, leaf: _Leaf) -> bool:
        return isinstance(leaf.node, (solr.Term, solr.Prefix)) and leaf.node.field in TEXT_FIELDS

    def text_extra(self, leaf: _Leaf) -> str | None:
        """The SQL check a text leaf needs beyond its tokens: phrases and notes against the raw text, and (on
        PostgreSQL, whose tsvector keeps no weights without positions) title against the title's tokens."""
        node = leaf.node
        assert isinstance(node, (solr.Term, solr.Prefix))
        checks = []
        instr = "strpos" if self.pg else "instr"
        raw = " ".join(node.text.split()).lower()
        if node.field == "notes" or (isinstance(node, solr.Term) and node.phrase):
            self.need_ds = True
            p = self.bind(raw)
            cols = {"notes": ["ds.abstract"], "title": ["d.title"],
                    "text": ["d.title", "ds.title_en", "ds.abstract"]}[node.field]
            checks.append("(" + " OR ".join(f"{instr}(lower({c}), {p}) > 0" for c in cols) + ")")
        if self.pg and node.field == "title":
            toks = self.text_tokens(leaf)
            for i, tok in enumerate(toks):
                last = isinstance(node, solr.Prefix) and i == len(toks) - 1
                like = self.bind("% " + _like_escape(tok) + ("%" if last else " %"))
                checks.append(f"(' ' || d.title_tokens || ' ') LIKE {like} ESCAPE '\\'")
        return " AND ".join(checks) if checks else None

    def text_fts(self, leaf: _Leaf) -> str | None:
        """The FTS5 expression (SQLite) or tsquery (PostgreSQL) of a text leaf's tokens; None: no tokens."""
        toks = self.text_tokens(leaf)
        if not toks:
            return None
        prefix = isinstance(leaf.node, solr.Prefix)
        if self.pg:
            parts = [_ts_quote(t) + (":*" if prefix and i == len(toks) - 1 else "") for i, t in enumerate(toks)]
            return "(" + " & ".join(parts) + ")"
        parts = [_fts_quote(t) + (" *" if prefix and i == len(toks) - 1 else "") for i, t in enumerate(toks)]
        expr = "(" + " AND ".join(parts) + ")"
        col = {"title": "title", "notes": "body"}.get(leaf.node.field)
        return f"{{{col}}} : {expr}" if col else expr

    def pure_text(self, x: Norm) -> str | None:
        """One FTS5 expression / tsquery for a tree made only of text clauses without extra checks, else None."""
        kind = x[0]
        if kind == "native":
            return "(" + (" & " if self.pg else " AND ").join(
                (_ts_quote if self.pg else _fts_quote)(t) for t in x[1]) + ")"
        if kind == "leaf":
            leaf = x[1]
            if not self.is_text(leaf) or self.text_extra_needed(leaf):
                return None
            return self.text_fts(leaf)
        return self.combine(x, self.pure_text)

    def text_extra_needed(self, leaf: _Leaf) -> bool:
        node = leaf.node
        return node.field == "notes" or (isinstance(node, solr.Term) and node.phrase) or (
            self.pg and node.field == "title")

    def combine(self, x: Norm, part: Any) -> str | None:
        """An FTS5 / tsquery boolean expression of ``x`` from its parts, or None where the syntax cannot say it
        (FTS5 has no unary NOT: a negation needs a positive sibling)."""
        kind = x[0]
        if kind in ("T", "F"):
            return None
        if kind == "or":
            parts = [part(i) for i in x[1]]
            return None if None in parts else "(" + (" | " if self.pg else " OR ").join(parts) + ")"
        if kind == "not":
            inner = part(x[1])
            return None if inner is None or not self.pg else f"!{inner}"
        if kind == "and":
            pos = [part(i) for i in x[1] if i[0] != "not"]
            neg = [part(i[1]) for i in x[1] if i[0] == "not"]
            if None in pos or None in neg or not pos:
                return None
            if self.pg:
                return "(" + " & ".join(pos + [f"!{n}" for n in neg]) + ")"
            return "(" + "(" + " AND ".join(pos) + ")" + "".join(f" NOT {n}" for n in neg) + ")"
        if kind == "atleast":
            k, items = x[1], x[2]
            if math.comb(len(items), k) > MAX_EXPANSION:
                return None
            groups = [_and(list(g)) for g in itertools.combinations(items, k)]
            return self.combine(("or", groups), part)
        return None

    # -- facets ---------------------------------------------------------------------------------------------------

    @staticmethod
    def is_facet(leaf: _Leaf) -> bool:
        return leaf.node.field in FACET_FIELDS and isinstance(leaf.node, (solr.Term, solr.Prefix, solr.Exists))

    def facet_fts(self, x: Norm) -> str | None:
        """SQLite: one FTS5 expression over the facet tokens for a tree made only of facet clauses."""
        if self.pg:
            return None
        if x[0] == "leaf":
            leaf = x[1]
            if not self.is_facet(leaf):
                return None
            node = leaf.node
            letter = FACET_LETTER[node.field]
            if isinstance(node, solr.Exists):
                return _fts_quote(letter) + " *"
            token = letter + node.text.encode().hex()
            return _fts_quote(token) + (" *" if isinstance(node, solr.Prefix) else "")
        return self.combine(x, self.facet_fts)

    def facet_sql(self, leaf: _Leaf) -> str:
        node = leaf.node
        cond = [f"field = {self.bind(node.field)}"]
        if isinstance(node, solr.Term):
            cond.append(f"value = {self.bind(node.text)}")
        elif isinstance(node, solr.Prefix):
            cond.append(f"substr(value, 1, {len(node.text)}) = {self.bind(node.text)}")
        elif isinstance(node, solr.Range):
            cond.extend(self.string_range("value", node))
        return f"d.dataset_id IN (SELECT dataset_id FROM search_facet WHERE {' AND '.join(cond)})"

    def string_range(self, col: str, node: solr.Range) -> list[str]:
        col = f'{col} COLLATE "C"' if self.pg else col
        out = []
        if node.lo is not None:
            out.append(f"{col} {'>=' if node.lo_inc else '>'} {self.bind(node.lo)}")
        if node.hi is not None:
            out.append(f"{col} {'<=' if node.hi_inc else '<'} {self.bind(node.hi)}")
        return out

    # -- the other fields -------------------------------------------------------------------------------------------

    def views_expr(self, name: str) -> str:
        """A view count as of the end of yesterday (local day): stable all day while usage is flushed, as CKAN's
        tracking counts only change when its nightly job reindexes."""
        today = self.bind(self.today, Date())
        if name == "views_total":
            self.need_ds = True
            return (f"(ds.views_total - COALESCE((SELECT u.views FROM usage_daily u WHERE u.dataset_id = d.dataset_id "
                    f"AND u.day = {today}), 0))")
        if name == "popularity":
            return (f"(d.popularity - COALESCE((SELECT u.views + 5 * u.downloads + u.api_calls FROM usage_daily u "
                    f"WHERE u.dataset_id = d.dataset_id AND u.day = {today}), 0))")
        since = self.bind(self.today - dt.timedelta(days=RECENT_DAYS), Date())
        return (f"COALESCE((SELECT sum(u.views) FROM usage_daily u WHERE u.dataset_id = d.dataset_id "
                f"AND u.day >= {since} AND u.day < {today}), 0)")

    def date(self, leaf: _Leaf, value: str) -> dt.datetime:
        try:
            return solr.parse_date(value, self.now)
        except ValueError as exc:
            raise _invalid(leaf, f"not a Solr date ({exc}); write e.g. 2020-01-01T00:00:00Z or NOW-1DAY",
                           "不是 Solr 日期;例如 2020-01-01T00:00:00Z 或 NOW-1DAY") from None

    def integer(self, leaf: _Leaf, value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise _invalid(leaf, "not a whole number", "不是整数") from None

    def leaf_sql(self, leaf: _Leaf) -> str:
        node, fld = leaf.node, leaf.node.field
        if self.is_text(leaf):
            fts = self.text_fts(leaf)
            if fts is None:
                return "1=0"
            extra = self.text_extra(leaf) if self.text_extra_needed(leaf) else None
            return self.text_in(fts) + (f" AND {extra}" if extra else "")
        if fld in TEXT_FIELDS:
            raise _invalid(leaf, "ranges on text fields are not supported", "不支持对文本字段使用范围")
        if fld in FACET_FIELDS:
            return self.facet_sql(leaf)
        if fld == "name":
            self.need_ds = True
            col = 'ds.name COLLATE "C"' if self.pg else "ds.name"
            if isinstance(node, solr.Term):
                return f"ds.name = {self.bind(node.text)}"
            if isinstance(node, solr.Prefix):
                return f"substr(ds.name, 1, {len(node.text)}) = {self.bind(node.text)}"
            if isinstance(node, solr.Range):
                return " AND ".join(self.string_range("ds.name", node)) or "1=1"
            return col
        if fld == "package" and isinstance(node, solr.Term):
            row, _, micros = node.text.partition(":")
            if not (row.isdigit() and micros.lstrip("-").isdigit()):
                return "1=0"
            self.need_ds = True
            created = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))
            return f"(d.dataset_id = {self.bind(int(row))} AND ds.created_at = {self.bind_time(created)})"
        if fld in DATE_COLUMNS and isinstance(node, (solr.Term, solr.Range)):
            col = DATE_COLUMNS[fld]
            self.need_ds = self.need_ds or col.startswith("ds.")
            # Solr keeps dates to the millisecond: compare the truncated stored value, as Solr does
            if isinstance(node, solr.Term):
                t = self.date(leaf, node.text)
                return f"({col} >= {self.bind_time(t)} AND {col} < {self.bind_time(t + _ONE_MS)})"
            out = []
            if node.lo is not None:
                lo = self.date(leaf, node.lo)
                out.append(f"{col} >= {self.bind_time(lo if node.lo_inc else lo + _ONE_MS)}")
            if node.hi is not None:
                hi = self.date(leaf, node.hi)
                out.append(f"{col} < {self.bind_time(hi + _ONE_MS if node.hi_inc else hi)}")
            return "(" + " AND ".join(out) + ")"
        if fld == "public" and isinstance(node, solr.Term):
            if node.text not in ("true", "false"):
                return "1=0"
            return f"d.public = {self.bind(node.text == 'true')}"
        if fld in INT_FIELDS and isinstance(node, (solr.Term, solr.Range)):
            expr = self.views_expr(fld)
            if isinstance(node, solr.Term):
                return f"{expr} = {self.bind(self.integer(leaf, node.text))}"
            out = []
            if node.lo is not None:
                out.append(f"{expr} {'>=' if node.lo_inc else '>'} {self.bind(self.integer(leaf, node.lo))}")
            if node.hi is not None:
                out.append(f"{expr} {'<=' if node.hi_inc else '<'} {self.bind(self.integer(leaf, node.hi))}")
            return "(" + " AND ".join(out) + ")"
        m = EXTRA_FIELD.match(fld)
        if m and not isinstance(node, solr.Range):
            self.need_ds = True
            value = (f"(ds.extras ->> {self.bind(m.group(1))})" if self.pg
                     else f"json_extract(ds.extras, {self.bind('$.' + chr(34) + m.group(1) + chr(34))})")
            if isinstance(node, solr.Exists):
                return f"{value} IS NOT NULL"
            if isinstance(node, solr.Prefix):
                return f"substr(lower({value}), 1, {len(node.text)}) = {self.bind(node.text.lower())}"
            assert isinstance(node, solr.Term)
            return f"lower({value}) = {self.bind(node.text.lower())}"
        kind = {solr.Range: "ranges", solr.Prefix: "prefix queries (*)", solr.Term: "terms"}.get(type(node), "this")
        raise _invalid(leaf, f"{kind} are not supported on this field", "该字段不支持此类查询")

    def text_in(self, fts: str) -> str:
        if self.pg:
            return f"d.tsv @@ CAST({self.bind(fts)} AS tsquery)"
        return f"d.dataset_id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH {self.bind(fts)})"

    def facet_in(self, fts: str) -> str:
        return f"d.dataset_id IN (SELECT rowid FROM search_fts_facet WHERE search_fts_facet MATCH {self.bind(fts)})"

    def sql(self, x: Norm) -> str:
        kind = x[0]
        if kind == "T":
            return "1=1"
        if kind == "F":
            return "1=0"
        text_expr = self.pure_text(x) if kind != "leaf" else None
        if text_expr is not None:
            return self.text_in(text_expr)
        facet_expr = self.facet_fts(x) if kind != "leaf" or self.is_facet(x[1]) else None
        if facet_expr is not None:
            return self.facet_in(facet_expr)
        if kind == "native":
            return self.text_in(self.pure_text(x) or "")
        if kind == "leaf":
            return self.leaf_sql(x[1])
        if kind == "and":
            return "(" + " AND ".join(self.sql(i) for i in x[1]) + ")"
        if kind == "or":
            return "(" + " OR ".join(self.sql(i) for i in x[1]) + ")"
        if kind == "not":
            return f"NOT ({self.sql(x[1])})"
        k, items = x[1], x[2]
        return "(" + " + ".join(f"(CASE WHEN {self.sql(i)} THEN 1 ELSE 0 END)" for i in items) + f") >= {k}"

    def top(self, tree: Norm) -> tuple[str | None, list[str]]:
        """The driving text expression (required text clauses, ranked) and the other conditions."""
        if tree == FALSE:
            return None, ["1=0"]
        items = [] if tree == TRUE else tree[1] if tree[0] == "and" else [tree]
        pos: list[str] = []
        neg: list[str] = []
        facet_pos: list[str] = []
        facet_neg: list[str] = []
        where: list[str] = []
        rest: list[Norm] = []
        for item in items:
            if item[0] == "not":  # a negation never drives: it joins the driver below, or filters
                rest.append(item)
                continue
            expr = self.pure_text(item)
            if expr is not None:
                pos.append(expr)
                continue
            if item[0] == "leaf" and self.is_text(item[1]) and self.text_extra_needed(item[1]):
                fts = self.text_fts(item[1])  # its tokens drive; the extra check filters
                if fts is None:
                    return None, ["1=0"]
                pos.append(fts)
                where.append(self.text_extra(item[1]) or "1=1")
                continue
            facet = self.facet_fts(item)
            if facet is not None:
                facet_pos.append(facet)
                continue
            rest.append(item)
        for item in rest:
            if item[0] == "not" and pos and self.pure_text(item[1]) is not None:
                neg.append(self.pure_text(item[1]) or "")
            elif item[0] == "not" and facet_pos and self.facet_fts(item[1]) is not None:
                facet_neg.append(self.facet_fts(item[1]) or "")
            else:
                where.append(self.sql(item))
        driver = None
        if pos:
            if self.pg:
                driver = " & ".join(pos + [f"!{n}" for n in neg])
            else:
                driver = "(" + " AND ".join(pos) + ")" + "".join(f" NOT {n}" for n in neg)
        if facet_pos:
            where.append(self.facet_in("(" + " AND ".join(facet_pos) + ")" + "".join(f" NOT {n}" for n in facet_neg)))
        return driver, where

    # -- sort -----------------------------------------------------------------------------------------------------

    def sort_keys(self, spec: str, ranked: bool) -> list[tuple[str, bool]]:
        """(SQL expression, descending) per key, the tie-break included, so pages never overlap or skip."""
        spec = SORT_ALIASES.get(spec.strip(), spec)
        try:
            items = solr.parse_sort(spec)
        except solr.SortError as exc:
            raise ValidationError("排序参数不合法", f'Invalid "sort" parameter: {exc.item}',
                                  fields={"sort": [str(exc)]}) from None
        keys: list[tuple[str, bool]] = []
        unique = False
        for name, desc in items:
            if name not in SORT_FIELDS:
                raise ValidationError(f"不能按 {name} 排序", f"Cannot sort on {name}",
                                      fields={"sort": [f"sort param field can't be found: {name}"]})
            if name == "score":
                if ranked:  # bm25: lower is better; ts_rank: higher is better
                    keys.append(("m.rank" if not self.pg else "ts_rank(d.tsv, CAST(:tsq AS tsquery))",
                                 desc if self.pg else not desc))
            elif name == "metadata_modified":
                keys.append(("d.modified_at", desc))
            elif name == "metadata_created":
                self.need_ds = True
                keys.append(("ds.created_at", desc))
            elif name == "name":
                self.need_ds = True
                keys.append(('ds.name COLLATE "C"' if self.pg else "ds.name", desc))
                unique = True
            elif name == "title_string":
                keys.append(('d.title COLLATE "C"' if self.pg else "d.title", desc))
            elif name == "organization":
                slug = "(SELECT slug FROM department WHERE department.id = d.department_id)"
                keys.append((f'{slug} COLLATE "C"' if self.pg else slug, desc))
            elif name == "license_id":
                self.need_ds = True
                keys.append(('ds.license_id COLLATE "C"' if self.pg else "ds.license_id", desc))
            elif name == "capacity":  # "private" < "public"
                keys.append(("CASE WHEN d.public THEN 1 ELSE 0 END", desc))
            elif name == "id":  # package ids are UUIDs of (creation µs, row id): their order is this order
                self.need_ds = True
                keys += [("ds.created_at", desc), ("d.dataset_id", desc)]
                unique = True
            else:
                keys.append((self.views_expr(name), desc))
            if unique:
                break
        if not unique:
            keys.append(("d.dataset_id", True))
        return keys


def _scope(comp: _Compiler, scope: str, department_id: int | None, include_private: bool) -> list[str]:
    """The visibility rule as conditions on ``search_doc d`` (``visibility.search_scope``'s answer)."""
    where = []
    if scope == "public":
        where.append(f"d.public = {comp.bind(True)}")
    elif scope == "government":
        where.append(f"(d.private = {comp.bind(False)} OR d.department_id = {comp.bind(department_id or -1)})")
    if not include_private and scope != "public":
        where.append(f"d.private = {comp.bind(False)}")
    return where


def department_counts(session: Session, scope: str, department_id: int | None,
                      include_private: bool = True) -> dict[int, int]:
    """Datasets per department that a caller of this visibility scope lists (what ``search`` would count with
    an ``organization`` filter): one grouped scan of the index."""
    comp = _Compiler(is_postgres(session), Query())
    drafts = publication.search_condition(scope, department_id, False, comp.bind)  # as search() without drafts
    cond = " AND ".join(["1=1", *_scope(comp, scope, department_id, include_private), *([drafts] if drafts else [])])
    stmt = text(f"SELECT d.department_id, count(*) FROM search_doc d WHERE {cond} GROUP BY d.department_id")
    stmt = stmt.bindparams(*(bindparam(k, type_=t) for k, t in comp.types.items()))
    return {int(k): int(n) for k, n in session.execute(stmt, comp.params)}


def search(session: Session, query: Query) -> Result:
    pg = is_postgres(session)
    comp = _Compiler(pg, query)
    where = ["1=1", *_scope(comp, query.visibility, query.department_id, query.include_private)]
    drafts = publication.search_condition(query.visibility, query.department_id, query.include_drafts, comp.bind)
    if drafts is not None:
        where.append(drafts)
    parts: list[Norm] = []
    if query.q.strip():
        toks = query_tokens(query.q) or [query.q.strip().lower()]
        parts.append(("native", toks))
    parts += [("leaf", _Leaf(solr.Term(fld, value), "filters")) for fld, value in query.filters]
    parts += [normalise(node, param) for param, node in query.where]
    driver, conds = comp.top(_and(parts))
    where += conds
    if driver is not None and pg:
        source = "search_doc d"
        where.append("d.tsv @@ CAST(:tsq AS tsquery)")
        comp.params["tsq"] = driver
    elif driver is not None:
        source = ("search_doc d JOIN (SELECT rowid AS rid, bm25(search_fts, 5.0, 1.0) AS rank FROM search_fts "
                  "WHERE search_fts MATCH :match) m ON m.rid = d.dataset_id")
        comp.params["match"] = driver
    else:
        source = "search_doc d"
    keys = comp.sort_keys(query.sort or "relevance", ranked=driver is not None)
    if comp.need_ds:
        source += " JOIN dataset ds ON ds.id = d.dataset_id"
    cond = " AND ".join(where)
    cols = ", ".join(f"{expr} AS k{i}" for i, (expr, _) in enumerate(keys))
    order = ", ".join(f"k{i} {'DESC' if desc else 'ASC'}" for i, (_, desc) in enumerate(keys))
    wanted = [f for f in query.facet_fields if f in FACET_FIELDS]
    # One statement: the text match and the filters run once into a materialized set, from which the
    # count, the page and the facet counts are all read (three statements ran the match three times).
    parts_sql = ["SELECT 'c' AS kind, CAST(NULL AS TEXT) AS a, CAST(NULL AS TEXT) AS b, count(*) AS n FROM m",
                 f"SELECT 'p', CAST(id AS TEXT), NULL, row_number() OVER (ORDER BY {order}) FROM "
                 f"(SELECT * FROM m ORDER BY {order} LIMIT :rows OFFSET :start) page"]
    comp.params.update(rows=query.rows, start=query.start)
    if wanted:
        names = ", ".join(comp.bind(f) for f in wanted)
        # driven from the matched ids (index range scans on the facet primary key), never from a whole-field
        # scan; SQLite needs CROSS JOIN to keep that join order, and the unary + keeps the field list out of
        # the index key: one range scan per matched id instead of one seek per id and wanted field
        join, fld = ("JOIN", "f.field") if pg else ("CROSS JOIN", "+f.field")
        parts_sql.append(f"SELECT 'f', f.field, f.value, count(*) FROM m {join} search_facet f "
                         f"ON f.dataset_id = m.id WHERE {fld} IN ({names}) GROUP BY f.field, f.value")
    sql = (f"WITH m AS MATERIALIZED (SELECT d.dataset_id AS id, {cols} FROM {source} WHERE {cond}) "
           + " UNION ALL ".join(parts_sql))
    stmt = text(sql).bindparams(*(bindparam(k, type_=t) for k, t in comp.types.items()))
    count = 0
    page: list[tuple[int, int]] = []
    counted: list[tuple[str, str, int]] = []
    for kind, a, b, n in session.execute(stmt, comp.params):
        if kind == "c":
            count = int(n)
        elif kind == "p":
            page.append((int(n), int(a)))
        else:
            counted.append((str(a), str(b), int(n)))
    ids = [i for _, i in sorted(page)]
    facets: dict[str, list[tuple[str, int]]] = {f: [] for f in wanted}
    for fld_name, value, n in sorted(counted, key=lambda r: (-r[2], r[1])):
        if len(facets[fld_name]) < query.facet_limit:
            facets[fld_name].append((value, n))
    return Result(count=count, ids=ids, facets=facets)


SQLITE_DDL = ("CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(title, body, "
              "tokenize='unicode61 remove_diacritics 0')")
SQLITE_FACET_DDL = "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts_facet USING fts5(keys, detail=none, tokenize='ascii')"
PG_DDL = (
    "ALTER TABLE search_doc ADD COLUMN IF NOT EXISTS tsv tsvector",
    "CREATE INDEX IF NOT EXISTS ix_search_doc_tsv ON search_doc USING gin (tsv)",
)
