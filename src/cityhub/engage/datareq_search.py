"""Word search over data requests (issue 15, the board's ``q``): the catalog's approach, on both engines.

A request's title and description are segmented by the catalog's tokenizer (``catalog.textsearch``: jieba's
search-engine mode, so Chinese words are found without spaces between them, and a long word's dictionary
sub-words too: 公交站点 is also 公交 and 站点; Latin words lower-cased). The tokens are kept, space-joined, in
``data_request.search_tokens``, written with the row (``datareq_models``: a column default on insert, a mapper
hook when the title or the description changes). The database indexes that column:

* PostgreSQL: ``search_tsv``, a stored generated ``tsvector`` of the tokens (the catalog's
  ``array_to_tsvector(string_to_array(…))``), with a GIN index (``fastupdate`` off);
* SQLite: the FTS5 table ``search_fts_data_request`` over the column (external content, rowid = request id),
  kept in step by triggers on ``data_request``.

A query is segmented the same way; every one of its words must be found (AND, in any order) among the words of the
title or the description, whole, as in the catalog (jieba's sub-words make 公交站 a word of 公交站点; a Latin word
is not a prefix: ``bus`` does not find "buses"). Whole words rather than prefixes keep PostgreSQL's estimates
right (its statistics count lexemes; a prefix is guessed at 2% of the rows with a small vocabulary, which sent a
word no request holds down the whole table newest-first) and found as many of the demo titles' words.
Results keep the board's order (id, newest or oldest first) and its keyset paging: the match is one more
condition. A query with nothing to look for (only punctuation, or only words too common to be indexed, such as
的 or "data") is refused with a clear message rather than answered with everything or nothing.

Why not ``pg_trgm``: a trigram index serves ``ILIKE '%…%'`` only for a pattern of three characters or more, and
most Chinese words are two (公交, 地铁, 水质): those still scan the table (measured in BENCHMARKS.md), and the
extension needs a superuser to install. This index serves every word, on both engines, with one tokenizer.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from cityhub.catalog.textsearch import query_tokens, tokens
from cityhub.errors import ValidationError

#: longer tokens are not indexed (a pasted URL or hash; a query is at most 100 characters anyway)
MAX_TOKEN = 100
FTS_TABLE = "search_fts_data_request"
_WORD = re.compile(r"[^\W_]+")

PG_DDL = (
    "ALTER TABLE data_request ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
    "(array_to_tsvector(string_to_array(search_tokens, ' '))) STORED",
    # no pending list: requests are written a few at a time, read on every search; GIN's default fast update
    # queues new rows in a list each search then reads in full (1.2 ms of a 1.25 ms search, 50,000 requests
    # bulk-loaded) until a vacuum merges it
    "CREATE INDEX ix_data_request_search_tsv ON data_request USING gin (search_tsv) WITH (fastupdate = off)",
)
PG_DROP = ("DROP INDEX IF EXISTS ix_data_request_search_tsv",
           "ALTER TABLE data_request DROP COLUMN IF EXISTS search_tsv")
SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(search_tokens, content='data_request', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER data_request_search_ai AFTER INSERT ON data_request BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, search_tokens) VALUES (new.id, new.search_tokens); END",
    f"CREATE TRIGGER data_request_search_ad AFTER DELETE ON data_request BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_tokens) VALUES ('delete', old.id, old.search_tokens); END",
    f"CREATE TRIGGER data_request_search_au AFTER UPDATE OF search_tokens ON data_request BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_tokens) VALUES ('delete', old.id, old.search_tokens); "
    f"INSERT INTO {FTS_TABLE}(rowid, search_tokens) VALUES (new.id, new.search_tokens); END",
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS data_request_search_ai", "DROP TRIGGER IF EXISTS data_request_search_ad",
               "DROP TRIGGER IF EXISTS data_request_search_au", f"DROP TABLE IF EXISTS {FTS_TABLE}")


def _words(tokens_: list[str]) -> list[str]:
    """The letters-and-digits runs of jieba's tokens, each once: ``covid-19`` is ``covid`` and ``19``, ``100%`` is
    ``100``, a lone ``_`` nothing. Both engines then hold and look for the same words (SQLite's FTS5 tokenizer
    would split them so anyway; PostgreSQL's ``array_to_tsvector`` keeps what it is given)."""
    seen: dict[str, None] = {}
    for tok in tokens_:
        for word in _WORD.findall(tok):
            if len(word) <= MAX_TOKEN:
                seen.setdefault(word, None)
    return list(seen)


def _composed(word: str, parts: list[str]) -> bool:
    """Whether ``word`` is a concatenation of two or more of ``parts``."""
    if not parts:
        return False
    ends = {0}
    for i in range(1, len(word) + 1):
        if any(word[i - len(p):i] == p and i - len(p) in ends for p in parts if len(p) <= i):
            ends.add(i)
    return len(word) in ends


def doc_tokens(title: str | None, description: str | None) -> str:
    """The indexed words of a request, its title's and description's, each once, space-joined."""
    return " ".join(_words(tokens(f"{title or ''}\n{description or ''}")))


def query_terms(q: str) -> list[str]:
    """The words of a user query that are looked for (all must match). Raises ``ValidationError`` when there is
    none: only punctuation, or only words too common to be indexed."""
    terms = _words(query_tokens(q))
    # jieba's search mode gives a long word and its sub-words (空气质量: 空气, 质量, 空气质量). A request may hold
    # the sub-words without the long word (道路交通事故 is 道路, 交通事故): looking for the sub-words alone finds it
    terms = [t for t in terms if not _composed(t, [o for o in terms if len(o) < len(t)])]
    if not terms:
        raise ValidationError(
            "搜索词中没有可查找的字词(只有标点,或只有“的”这类过于常见的字词),请换用其他关键词",
            "The search has no words to look for (only punctuation, or only very common words such as \"the\" "
            "or \"data\"): try other words", fields={"q": ["no_words"]})
    return terms


def tsquery(terms: list[str]) -> str:
    """PostgreSQL ``tsquery`` text: every term as a quoted lexeme, ANDed."""
    return " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


def fts5_query(terms: list[str]) -> str:
    """FTS5 query text: every term as a quoted string, ANDed."""
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)


def condition(dialect: str, q: str) -> Any:
    """The board's condition "the request's words include ``q``'s", served by the index of ``dialect``."""
    terms = query_terms(q)
    if dialect == "postgresql":
        return text("data_request.search_tsv @@ CAST(:dr_tsq AS tsquery)").bindparams(
            bindparam("dr_tsq", tsquery(terms)))
    return text(f"data_request.id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :dr_match)").bindparams(
        bindparam("dr_match", fts5_query(terms)))


def backfill(conn: Connection, batch: int = 2000) -> int:
    """Write ``search_tokens`` of every request (the migration; run again after a tokenizer change). The
    indexes follow by themselves (generated column, triggers). Returns how many requests were written."""
    done, last = 0, 0
    while True:
        rows = conn.execute(text("SELECT id, title, description FROM data_request WHERE id > :last ORDER BY id "
                                 "LIMIT :n"), {"last": last, "n": batch}).all()
        if not rows:
            return done
        conn.execute(text("UPDATE data_request SET search_tokens = :t WHERE id = :i"),
                     [{"i": r.id, "t": doc_tokens(r.title, r.description)} for r in rows])
        done += len(rows)
        last = rows[-1].id
