"""Full-text ``q`` of ``datastore_search`` as CKAN runs it on PostgreSQL (``ckanext/datastore/backend/
postgres.py``: ``_textsearch_query``, ``_build_query_and_rank_statements``): words, not substrings, with a
``rank``.

Words: a row's text (every column but ``_id``, as text, joined by spaces — CKAN's ``_full_text``) is split into
runs of letters and digits, lower-cased; a run holding Chinese characters is segmented by jieba (``rjieba``):
its precise words give the positions (for phrases) and its search-mode words (words plus their dictionary
sub-words, as the catalog search indexes them) the set a query word is looked up in.

Queries: ``plain`` (the default, PostgreSQL ``plainto_tsquery``): every word of ``q`` must occur. ``plain=false``
(``to_tsquery``): operands joined by ``&``, ``|``, ``!``, ``<->`` / ``<N>`` (followed by) and parentheses; an
operand ending in ``:*`` matches words starting with it (CKAN's filter typeahead and the datatables search box
send ``term:*``); an operand that splits into several words (``foo_bar``) is a phrase, as PostgreSQL makes it.
Weights (``:A``…): our rows carry none (PostgreSQL's weight D), so an operand restricted to A–C matches nothing.

Rank: PostgreSQL's ``ts_rank(…, 32)`` is ``r / (r + 1)``; here ``r`` is 0.1 per occurrence of a matched query
word in the row (0.1 is PostgreSQL's weight of D lexemes). The order it gives (more occurrences first) is
PostgreSQL's for single-word queries; the values are not PostgreSQL's.

Languages: ``simple`` only (no stemming, no stop words; Chinese through jieba). CityHub's configured default
language (CKAN's ``ckan.datastore.default_fts_lang``) is ``simple``; any other ``language`` is refused.
"""

from __future__ import annotations

import collections
import functools
import re
from dataclasses import dataclass
from typing import Any

import rjieba

LANGUAGES = ("simple",)
DEFAULT_LANGUAGE = "simple"
MAX_OPERANDS = 32

_HAN_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: runs: of Chinese characters, or of other letters and digits (``_`` and punctuation separate)
_RUN = re.compile(f"[{_HAN_CHARS}]+|[^\\W_{_HAN_CHARS}]+")
_HAN = re.compile(f"[{_HAN_CHARS}]")
#: what PostgreSQL's parser keeps together as one token: letters and digits, Chinese or not
_CHUNK = re.compile(r"[^\W_]+")
#: the same runs as DuckDB (RE2) patterns, for scoring inside the engine
HAN_RUN_RE2 = r"[\x{3400}-\x{4dbf}\x{4e00}-\x{9fff}\x{f900}-\x{faff}]+"
WORD_RUN_RE2 = r"[^\x{3400}-\x{4dbf}\x{4e00}-\x{9fff}\x{f900}-\x{faff}\p{P}\p{S}\p{Z}\p{C}]+"


class FullTextError(ValueError):
    """A query CKAN would refuse (PostgreSQL: syntax error in tsquery) or one we cannot run."""

    def __init__(self, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en


def words(text: str) -> list[str]:
    """Precise words of ``text`` in order (positions for phrases)."""
    out: list[str] = []
    for run in _RUN.findall(text.lower()):
        if _HAN.search(run):
            out.extend(w for w in rjieba.cut(run) if _RUN.fullmatch(w))
        else:
            out.append(run)
    return out


def tokens(text: str) -> collections.Counter[str]:
    """Every word of ``text`` a query word is looked up in, with its count: precise words and, in Chinese,
    jieba's search-mode sub-words."""
    out: collections.Counter[str] = collections.Counter()
    for run in _RUN.findall(text.lower()):
        if _HAN.search(run):
            out.update(w for w in rjieba.cut_for_search(run) if _RUN.fullmatch(w))
        else:
            out[run] += 1
    return out


@functools.lru_cache(maxsize=100_000)
def _search_words(run: str) -> list[str]:
    """jieba's search-mode words of one Chinese run (cached: tables repeat their districts, categories…)."""
    return [w for w in rjieba.cut_for_search(run) if _RUN.fullmatch(w)]


def is_han(text: str) -> bool:
    return bool(_HAN.search(text))


def run_hits(run: str, w: Word) -> int:
    """How often ``w`` occurs among the words of one run (a Chinese run: jieba's search-mode words)."""
    if _HAN.search(run):
        ws = _search_words(run)
        return sum(1 for x in ws if x.startswith(w.text)) if w.prefix else ws.count(w.text)
    return int(run == w.text or (w.prefix and run.startswith(w.text)))


# --------------------------------------------------------------------------- query trees


@dataclass
class Word:
    """One query word: ``text`` matches a row word equal to it (``prefix``: starting with it)."""

    text: str
    prefix: bool = False
    weights: str = ""


@dataclass
class Op:
    kind: str  # "and", "or", "not", "phrase"
    items: list[Any]
    distance: int = 1


def _word(text: str, prefix: bool, weights: str) -> Word:
    return Word(text.lower(), prefix, weights.upper())


def _operand(text: str, prefix: bool, weights: str) -> Any:
    """An operand as PostgreSQL's parser splits it: one word, several (a phrase: consecutive words, as
    ``to_tsquery('foo_bar')`` is ``'foo' <-> 'bar'``), or none (dropped)."""
    ws = words(text)
    if not ws:
        return None
    if len(ws) == 1:
        return _word(ws[0], prefix, weights)
    return Op("phrase", [_word(w, prefix, weights) for w in ws])


def parse(q: str, plain: bool) -> Any:
    """The query tree of ``q`` (None: no words, which matches nothing, as an empty tsquery)."""
    if plain:
        # each run of letters and digits is one word; a run jieba splits (名称12号) is a phrase of its words
        items = [x for x in (_operand(chunk, False, "") for chunk in _CHUNK.findall(q)) if x is not None]
        if len(items) > MAX_OPERANDS:
            raise FullTextError(f"q 最多 {MAX_OPERANDS} 个词。", f"q has at most {MAX_OPERANDS} words.")
        return None if not items else items[0] if len(items) == 1 else Op("and", list(items))
    return _Parser(q).parse()


class _Parser:
    """PostgreSQL's ``to_tsquery`` syntax: ``!`` binds tightest, then ``<->``, then ``&``, then ``|``."""

    TOKEN = re.compile(r"\s*(?:(?P<op><->|<\d+>|[&|!()])|'(?P<quoted>(?:[^']|'')*)'|(?P<word>[^\s&|!()<:']+))"
                       r"(?P<suffix>:[*ABCDabcd]+)?")  # fmt: skip

    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, Any]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = self.TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise self.error(text[pos : pos + 20])
            pos = m.end()
            if m.group("op"):
                if m.group("suffix"):
                    raise self.error(m.group(0).strip())
                self.items.append(("op", m.group("op")))
            else:
                word = (
                    m.group("word") if m.group("word") is not None else m.group("quoted").replace("''", "'")
                )
                suffix = (m.group("suffix") or ":")[1:]
                self.items.append(("word", (word, "*" in suffix, suffix.replace("*", ""))))
        self.i = 0
        self.operands = 0

    @staticmethod
    def error(near: str) -> FullTextError:
        return FullTextError(
            f"全文查询语法错误（{near}）。", f"Invalid query: syntax error in tsquery near {near!r}."
        )

    def peek(self) -> tuple[str, Any] | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def parse(self) -> Any:
        if not self.items:
            return None
        node = self.or_()
        if self.peek() is not None:
            raise self.error(str(self.peek()[1]))  # type: ignore[index]
        return node

    def or_(self) -> Any:
        items = [self.and_()]
        while self.peek() == ("op", "|"):
            self.i += 1
            items.append(self.and_())
        return _combine("or", items)

    def and_(self) -> Any:
        items = [self.phrase()]
        while self.peek() == ("op", "&"):
            self.i += 1
            items.append(self.phrase())
        return _combine("and", items)

    def phrase(self) -> Any:
        left = self.unary()
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1].startswith("<"):
            self.i += 1
            right = self.unary()
            distance = 1 if tok[1] == "<->" else int(tok[1][1:-1])
            if left is None or right is None:
                left = left if right is None else right
                continue
            if not (isinstance(left, Word) and isinstance(right, Word)):
                raise FullTextError(
                    "「<->」只能连接单个词。",
                    "Invalid query: <-> (followed by) joins single words only here.",
                )
            left = Op("phrase", [left, right], distance)
        return left

    def unary(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.error("end of query")
        self.i += 1
        if tok == ("op", "!"):
            inner = self.unary()
            return None if inner is None else Op("not", [inner])
        if tok == ("op", "("):
            node = self.or_()
            if self.peek() != ("op", ")"):
                raise self.error("(")
            self.i += 1
            return node
        if tok[0] == "word":
            self.operands += 1
            if self.operands > MAX_OPERANDS:
                raise FullTextError(f"q 最多 {MAX_OPERANDS} 个词。", f"q has at most {MAX_OPERANDS} words.")
            text, prefix, weights = tok[1]
            return _operand(text, prefix, weights)
        raise self.error(str(tok[1]))


def _combine(kind: str, items: list[Any]) -> Any:
    kept = [x for x in items if x is not None]  # PostgreSQL drops operands without words
    return None if not kept else kept[0] if len(kept) == 1 else Op(kind, kept)


# --------------------------------------------------------------------------- matching


class Doc:
    """One row's text. Only what a query needs is worked out, once: the lower-cased runs; the search-mode
    words of just the Chinese runs that hold a query word; the precise words only for phrases."""

    def __init__(self, text: str) -> None:
        self.text = text.lower()
        self._runs: list[str] | None = None
        self._words: list[str] | None = None
        self._subs: dict[int, set[str]] = {}

    @property
    def runs(self) -> list[str]:
        if self._runs is None:
            self._runs = _RUN.findall(self.text)
        return self._runs

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = words(self.text)
        return self._words

    def hits(self, w: Word) -> int:
        """How often ``w`` occurs as a word (a prefix: how many words start with it)."""
        if w.weights and "D" not in w.weights:
            return 0
        if w.text not in self.text:
            return 0
        return sum(run_hits(run, w) for run in self.runs if w.text in run)


def _at(doc: Doc, w: Word, i: int) -> bool:
    """Whether the word at position ``i`` is ``w`` (or, in Chinese, holds it as a search-mode sub-word)."""
    ws = doc.words
    if not 0 <= i < len(ws):
        return False
    if ws[i] == w.text or (w.prefix and ws[i].startswith(w.text)):
        return True
    if not _HAN.search(ws[i]):
        return False
    if i not in doc._subs:
        doc._subs[i] = set(rjieba.cut_for_search(ws[i]))
    subs = doc._subs[i]
    return w.text in subs or (w.prefix and any(s.startswith(w.text) for s in subs))


def score(node: Any, doc: Doc) -> float:
    """0 when the row does not match, else the raw rank (0.1 per occurrence of a matched word)."""
    if isinstance(node, Word):
        return 0.1 * doc.hits(node)
    if node.kind == "and":
        total = 0.0
        for item in node.items:
            s = score(item, doc)
            if s <= 0:
                return 0.0
            total += s
        return total
    if node.kind == "or":
        return sum(score(item, doc) for item in node.items)
    if node.kind == "not":
        return 0.0 if score(node.items[0], doc) > 0 else 1e-9  # matches, adds (almost) nothing to the rank
    # phrase: consecutive words (each Chinese word as jieba's precise word)
    first, rest = node.items[0], node.items[1:]
    if not all(doc.hits(w) for w in node.items):
        return 0.0
    n = 0
    for i in range(len(doc.words)):
        if _at(doc, first, i) and all(_at(doc, w, i + k * node.distance) for k, w in enumerate(rest, 1)):
            n += 1
    return 0.1 * n * len(node.items)


def rank(raw: float) -> float:
    """CKAN's ``ts_rank(…, 32)`` normalisation: ``r / (r + 1)``."""
    return raw / (raw + 1.0)


def needles(node: Any) -> Any:
    """A necessary condition as nested ("and"|"or", [substring | condition]) for a fast SQL pre-filter
    (``contains`` on the lower-cased text); None: every row may match."""
    if isinstance(node, Word):
        return node.text
    if node.kind == "not":
        return None
    subs = [needles(x) for x in node.items]
    if node.kind == "or":
        return None if any(s is None for s in subs) else ("or", subs)
    kept = [s for s in subs if s is not None]
    return ("and", kept) if kept else None
