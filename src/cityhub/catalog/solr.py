"""The Lucene/Solr query subset CKAN clients send to ``package_search``, parsed to a small syntax tree (pure:
no CityHub imports).

What it follows, and from where:

* ``parse`` is Lucene's classic query parser (``QueryParser.jj`` and ``QueryParserBase.addClause``, which Solr's
  standard "lucene" parser copies): terms, ``field:value``, quoted phrases, ``field:(…)`` groups, ranges
  ``[a TO b]`` / ``{a TO b}`` (mixed brackets and ``*`` bounds too), ``field:*``, ``*:*``, trailing-``*``
  prefixes, ``AND``/``&&``, ``OR``/``||``, ``NOT``/``!``, ``+``/``-``, parentheses and ``^`` boosts (accepted,
  they only change scores). Clauses get Lucene's occurs, operator precedence quirks included: with the
  default operator AND, ``a OR b c`` is ``a b +c`` (``a`` and ``b`` become optional, and optional clauses next
  to a required one filter nothing). CKAN runs ``fq`` with ``q.op=AND``, so this is what CKAN answers.
* ``parse_dismax`` is Solr's DisMax parser as CKAN uses it for a ``q`` without a colon: quotes stripped when
  unbalanced, every other special character but ``+ - "`` taken literally, default operator OR, and the
  ``mm`` rule CKAN sets (``2<-1 5<80%``: up to two optional clauses all must match, three to five all but one,
  more than five 80%).
* A query that is all negative clauses matches everything but them at the top level (Solr's
  ``QueryUtils.makeQueryable``); inside parentheses Solr matches nothing for it (SOLR-18256), so it is
  refused here rather than answered with silently nothing.
* ``parse_sort`` is Solr's sort syntax (``field asc|desc`` joined by commas); ``parse_date`` is Solr's date
  format with date math (``NOW``, ``NOW-1DAY``, ``2020-01-01T00:00:00Z/MONTH+1MONTH``; rounding in UTC).

What it refuses (``QueryError`` naming the clause): fuzzy ``~``, phrase slop, ``?`` and inner ``*`` wildcards,
regular expressions, local parameters ``{!…}``, ``_query_``, ``filter(…)``, and syntax errors. What a field
means (which fields exist, which are text) is for the caller: the parser only asks ``drops(field, text)``
whether analysis leaves nothing of a term (Lucene then drops the clause, as the analyzer does).

Why not a library: luqum (the maintained Python Lucene parser) reads ``&&``, ``||`` and ``!`` as words and builds
an operator-precedence tree, where Lucene's classic parser has no precedence, only ``addClause``'s occurs; the
grammar is small, so it is ported here and tested clause by clause.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal

Occur = Literal["must", "should", "must_not"]
MUST: Occur = "must"
SHOULD: Occur = "should"
MUST_NOT: Occur = "must_not"
CKAN_MM = "2<-1 5<80%"  # ckan/lib/search/query.py PackageSearchQuery.run: query['mm']

Drops = Callable[[str, str], bool]
MAX_CLAUSES = 500  # clauses per query (Solr's maxBooleanClauses is 1,024; ours also bounds the SQL's depth)
MAX_DEPTH = 20  # nested parentheses
MAX_LENGTH = 20_000  # characters


class QueryError(ValueError):
    """A query outside the supported subset, or malformed; ``clause`` is the offending part of the text."""

    def __init__(self, reason: str, reason_zh: str, clause: str) -> None:
        super().__init__(f"{reason}: {clause}")
        self.reason = reason
        self.reason_zh = reason_zh
        self.clause = clause
        self.param = ""  # the request parameter it was in (set by the caller)


class SortError(ValueError):
    """A sort Solr refuses: ``kind`` is ``order`` (no asc/desc: CKAN's 'Invalid "sort" parameter') or
    ``field`` (a field that cannot be sorted on)."""

    def __init__(self, kind: Literal["order", "field"], message: str, item: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.item = item


# -- the syntax tree ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchAll:
    """``*:*`` (or ``*``)."""

    src: str = dc_field(default="*:*", compare=False)


@dataclass(frozen=True)
class Term:
    """``field:value`` or ``field:"a phrase"`` (``phrase``: the value was quoted)."""

    field: str
    text: str
    phrase: bool = False
    src: str = dc_field(default="", compare=False)


@dataclass(frozen=True)
class Prefix:
    """``field:abc*``."""

    field: str
    text: str
    src: str = dc_field(default="", compare=False)


@dataclass(frozen=True)
class Exists:
    """``field:*`` or ``field:[* TO *]``: the field has a value."""

    field: str
    src: str = dc_field(default="", compare=False)


@dataclass(frozen=True)
class Range:
    """``field:[lo TO hi]`` (inclusive) / ``{lo TO hi}`` (exclusive); ``None`` is an open ``*`` bound."""

    field: str
    lo: str | None
    hi: str | None
    lo_inc: bool = True
    hi_inc: bool = True
    src: str = dc_field(default="", compare=False)


@dataclass(frozen=True)
class Bool:
    """A Lucene BooleanQuery: every ``must`` matches, no ``must_not`` does, and at least ``msm`` of the
    ``should`` clauses (at least one when there is no ``must``). No clauses at all: matches nothing."""

    clauses: tuple[tuple[Occur, Node], ...]
    msm: int = 0
    src: str = dc_field(default="", compare=False)


Node = MatchAll | Term | Prefix | Exists | Range | Bool
LeafNode = Term | Prefix | Exists | Range
MATCH_NONE = Bool(())


def leaves(node: Node) -> list[Node]:
    if isinstance(node, Bool):
        return [leaf for _, c in node.clauses for leaf in leaves(c)]
    return [node]


def map_leaves(node: Node, fn: Callable[[LeafNode], Node]) -> Node:
    """``node`` with every field leaf replaced by ``fn(leaf)`` (``*:*`` stays)."""
    if isinstance(node, Bool):
        return Bool(tuple((occ, map_leaves(c, fn)) for occ, c in node.clauses), node.msm, node.src)
    if isinstance(node, MatchAll):
        return node
    return fn(node)


def to_json(node: Node) -> dict[str, Any]:
    if isinstance(node, MatchAll):
        return {"all": True}
    if isinstance(node, Term):
        return {"term": node.field, "text": node.text, "phrase": node.phrase, "src": node.src}
    if isinstance(node, Prefix):
        return {"prefix": node.field, "text": node.text, "src": node.src}
    if isinstance(node, Exists):
        return {"exists": node.field, "src": node.src}
    if isinstance(node, Range):
        return {"range": node.field, "lo": node.lo, "hi": node.hi, "lo_inc": node.lo_inc, "hi_inc": node.hi_inc,
                "src": node.src}
    return {"bool": [[occ, to_json(c)] for occ, c in node.clauses], "msm": node.msm, "src": node.src}


def _str(obj: dict[str, Any], key: str, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > 1000:
        raise ValueError(f"{key} must be a string")
    return value


def from_json(obj: Any, depth: int = 0) -> Node:
    """The node of ``to_json``; ``ValueError`` for anything else (input from outside)."""
    if depth > 50 or not isinstance(obj, dict):
        raise ValueError("a query node must be an object (at most 50 levels deep)")
    src = obj.get("src", "")
    if not isinstance(src, str):
        raise ValueError("src must be a string")
    if obj.get("all") is True:
        return MatchAll()
    if "term" in obj:
        return Term(_str(obj, "term"), _str(obj, "text"), bool(obj.get("phrase", False)), src)
    if "prefix" in obj:
        return Prefix(_str(obj, "prefix"), _str(obj, "text"), src)
    if "exists" in obj:
        return Exists(_str(obj, "exists"), src)
    if "range" in obj:
        return Range(_str(obj, "range"), _str(obj, "lo", True), _str(obj, "hi", True), bool(obj.get("lo_inc", True)),
                     bool(obj.get("hi_inc", True)), src)
    if "bool" in obj:
        clauses = obj["bool"]
        msm = obj.get("msm", 0)
        if not isinstance(clauses, list) or len(clauses) > 1000 or not isinstance(msm, int) or msm < 0:
            raise ValueError("bool needs a list of [occur, node] and a whole msm")
        out: list[tuple[Occur, Node]] = []
        for item in clauses:
            if not (isinstance(item, list) and len(item) == 2 and item[0] in (MUST, SHOULD, MUST_NOT)):
                raise ValueError("bool clauses are [occur, node]")
            out.append((item[0], from_json(item[1], depth + 1)))
        return Bool(tuple(out), msm, src)
    raise ValueError("unknown query node")


# -- the lexer ---------------------------------------------------------------------------------------------

_WS = " \t\n\r\u3000"
_NOT_START = set(_WS) | set('+-!():^[]"{}~*?\\/')
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass
class Tok:
    kind: str  # AND OR NOT PLUS MINUS LPAREN RPAREN COLON STAR CARAT QUOTED TERM PREFIX WILD REGEX FUZZY
    #            RANGE_START RANGE_END RANGE_TO RANGE_GOOP RANGE_QUOTED BAREOP NUMBER LPARAMS EOF
    text: str
    start: int
    end: int


def _term_end(s: str, i: int) -> int:
    """End of a run of term characters from ``i`` (escapes, ``-`` and ``+`` included; wildcards excluded)."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            i += 2
        elif c in ("-", "+") or c not in _NOT_START:
            i += 1
        else:
            break
    return i


def _wild_end(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        j = _term_end(s, i)
        if j < n and s[j] in "*?":
            i = j + 1
        else:
            return j
    return i


def tokenize(s: str) -> list[Tok]:
    """Tokens as Lucene's ``QueryParser.jj`` defines them (longest match; ties go to the earlier definition)."""
    out: list[Tok] = []
    i, n = 0, len(s)
    in_range, range_start = False, 0
    while i < n:
        c = s[i]
        if c in _WS:
            i += 1
            continue
        if in_range:
            if c in "]}":
                out.append(Tok("RANGE_END", c, i, i + 1))
                in_range = False
                i += 1
            elif c == '"':
                j = i + 1
                while j < n and s[j] != '"':
                    j += 2 if s[j] == "\\" else 1
                if j >= n:
                    raise QueryError("unbalanced quote in a range", "范围中的引号不成对", s[i:])
                out.append(Tok("RANGE_QUOTED", s[i + 1:j], i, j + 1))
                i = j + 1
            else:
                j = i
                while j < n and s[j] not in _WS and s[j] not in "]}":
                    j += 1
                word = s[i:j]
                out.append(Tok("RANGE_TO" if word == "TO" else "RANGE_GOOP", word, i, j))
                i = j
            continue
        if s.startswith("&&", i) or s.startswith("||", i):
            out.append(Tok("AND" if c == "&" else "OR", s[i:i + 2], i, i + 2))
            i += 2
            continue
        if c in "+-!" and i + 1 < n and s[i + 1] in _WS:
            out.append(Tok("BAREOP", c, i, i + 1))
            i += 1
            continue
        single = {"+": "PLUS", "-": "MINUS", "!": "NOT", "(": "LPAREN", ")": "RPAREN", ":": "COLON", "^": "CARAT",
                  "[": "RANGE_START", "{": "RANGE_START"}
        if c == "{" and s.startswith("{!", i):
            j = s.find("}", i)
            out.append(Tok("LPARAMS", s[i:j + 1 if j >= 0 else n], i, j + 1 if j >= 0 else n))
            i = j + 1 if j >= 0 else n
            continue
        if c in single:
            out.append(Tok(single[c], c, i, i + 1))
            if c in "[{":
                in_range, range_start = True, i
            i += 1
            if c == "^":  # Boost state: a number follows
                m = _NUMBER.match(s, i)
                if m:
                    out.append(Tok("NUMBER", m.group(), m.start(), m.end()))
                    i = m.end()
            continue
        if c == '"':
            j = i + 1
            while j < n and s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            if j >= n:
                raise QueryError("unbalanced quote", "引号不成对", s[i:])
            out.append(Tok("QUOTED", s[i + 1:j], i, j + 1))
            i = j + 1
            continue
        if c == "~":
            j = _term_end(s, i + 1)
            out.append(Tok("FUZZY", s[i:j], i, j))
            i = j
            continue
        if c == "/":
            j = i + 1
            while j < n and s[j] != "/":
                j += 2 if s[j] == "\\" else 1
            out.append(Tok("REGEX", s[i:j + 1], i, min(j + 1, n)))
            i = j + 1
            continue
        if c == "\\" and i + 1 >= n:
            raise QueryError("a trailing backslash escapes nothing", "末尾的反斜杠无可转义", s[i:])
        # TERM, PREFIXTERM (term then one trailing *), WILDTERM (any ? or inner *), STAR
        term_end = _term_end(s, i) if c not in "*?" else i
        wild_end = _wild_end(s, i) if c not in "*?" else _wild_end(s, i + 1)
        if c == "*" and wild_end == i + 1:
            out.append(Tok("STAR", "*", i, i + 1))
            i += 1
        elif c not in "*?" and wild_end == term_end:
            if term_end == i:
                raise QueryError("unexpected character", "意外的字符", s[i:i + 1])
            word = s[i:term_end]
            out.append(Tok(word if word in ("AND", "OR", "NOT") else "TERM", word, i, term_end))
            i = term_end
        elif c not in "*?" and wild_end == term_end + 1 and s[term_end] == "*":
            out.append(Tok("PREFIX", s[i:term_end], i, wild_end))
            i = wild_end
        else:
            out.append(Tok("WILD", s[i:wild_end], i, wild_end))
            i = wild_end
    if in_range:
        raise QueryError("unclosed range", "范围未闭合", s[range_start:])
    out.append(Tok("EOF", "", n, n))
    return out


def unescape(text: str) -> str:
    """Lucene's ``discardEscapeChar`` (``\\uXXXX`` included)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6] or ""):
                out.append(chr(int(text[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# -- the parser (Lucene's classic grammar) ---------------------------------------------------------------------

CONJ_NONE, CONJ_AND, CONJ_OR = 0, 1, 2
MOD_NONE, MOD_NOT, MOD_REQ = 0, 10, 11


class _Parser:
    def __init__(self, text: str, default_field: str, default_and: bool, drops: Drops | None) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.pos = 0
        self.default_field = default_field
        self.default_and = default_and
        self.drops = drops
        self.depth = 0
        self.leaves = 0

    # tokens
    def peek(self, ahead: int = 0) -> Tok:
        return self.toks[min(self.pos + ahead, len(self.toks) - 1)]

    def take(self) -> Tok:
        tok = self.toks[self.pos]
        self.pos = min(self.pos + 1, len(self.toks) - 1)
        return tok

    def error(self, tok: Tok, reason: str, reason_zh: str) -> QueryError:
        clause = self.text[tok.start:tok.end] or self.text[max(0, tok.start - 20):] or self.text
        return QueryError(reason, reason_zh, clause)

    def src(self, start: int) -> str:
        end = self.toks[self.pos - 1].end if self.pos > 0 else start
        return self.text[start:end]

    # grammar
    def top(self) -> Node | None:
        q = self.query(self.default_field)
        tok = self.peek()
        if tok.kind != "EOF":
            raise self.error(tok, "cannot parse the query here", "无法解析查询的这一部分")
        return q

    def conjunction(self) -> int:
        kind = self.peek().kind
        if kind == "AND":
            self.take()
            return CONJ_AND
        if kind == "OR":
            self.take()
            return CONJ_OR
        return CONJ_NONE

    def modifiers(self) -> int:
        kind = self.peek().kind
        if kind == "PLUS":
            self.take()
            return MOD_REQ
        if kind in ("MINUS", "NOT"):
            self.take()
            return MOD_NOT
        return MOD_NONE

    def starts_clause(self) -> bool:
        return self.peek().kind in ("AND", "OR", "NOT", "PLUS", "MINUS", "LPAREN", "STAR", "QUOTED", "TERM", "PREFIX",
                                    "WILD", "REGEX", "RANGE_START", "BAREOP", "NUMBER", "LPARAMS")

    def query(self, fld: str) -> Node | None:
        clauses: list[list[Any]] = []  # [occur, node, src] as addClause builds them
        start = self.peek().start
        mods = self.modifiers()
        q = self.clause(fld)
        self.add_clause(clauses, CONJ_NONE, mods, q)
        first = q if mods == MOD_NONE else None
        while self.starts_clause():
            conj = self.conjunction()
            mods = self.modifiers()
            q = self.clause(fld)
            self.add_clause(clauses, conj, mods, q)
        if len(clauses) == 1 and first is not None:
            return first
        if not clauses:
            return None  # everything analysed away: Lucene's getBooleanQuery returns null
        return Bool(tuple((c[0], c[1]) for c in clauses), 0, self.src(start))

    def add_clause(self, clauses: list[list[Any]], conj: int, mods: int, q: Node | None) -> None:
        """``QueryParserBase.addClause``, line by line."""
        if clauses and conj == CONJ_AND and clauses[-1][0] != MUST_NOT:
            clauses[-1][0] = MUST
        if clauses and self.default_and and conj == CONJ_OR and clauses[-1][0] != MUST_NOT:
            clauses[-1][0] = SHOULD
        if q is None:
            return
        if not self.default_and:
            prohibited = mods == MOD_NOT
            required = mods == MOD_REQ or (conj == CONJ_AND and not prohibited)
        else:
            prohibited = mods == MOD_NOT
            required = not prohibited and conj != CONJ_OR
        clauses.append([MUST if required else MUST_NOT if prohibited else SHOULD, q])

    def clause(self, fld: str) -> Node | None:
        start_tok = self.peek()
        if start_tok.kind == "LPARAMS":
            raise self.error(start_tok, "local parameters are not supported", "不支持本地参数 {!…}")
        if start_tok.kind in ("TERM", "STAR") and self.peek(1).kind == "COLON":
            name = self.take()
            self.take()
            fld = "*" if name.kind == "STAR" else unescape(name.text)
            if fld == "_query_":
                raise self.error(name, "nested queries (_query_) are not supported", "不支持嵌套查询 _query_")
        tok = self.peek()
        if tok.kind == "LPAREN":
            self.take()
            if fld == "*":
                raise self.error(tok, "*: needs a term", "*: 之后须为 *")
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(tok, f"parentheses nest at most {MAX_DEPTH} deep", f"括号最多嵌套 {MAX_DEPTH} 层")
            q = self.query(fld)
            self.depth -= 1
            if self.peek().kind != "RPAREN":
                raise self.error(self.peek(), "missing closing parenthesis", "缺少右括号")
            self.take()
            self.boost()
            return q
        self.leaves += 1
        if self.leaves > MAX_CLAUSES:
            raise self.error(start_tok, f"at most {MAX_CLAUSES} clauses in a query", f"一个查询最多 {MAX_CLAUSES} 个子句")
        return self.term(fld, start_tok.start)

    def boost(self) -> None:
        if self.peek().kind == "CARAT":
            tok = self.take()
            if self.peek().kind != "NUMBER":
                raise self.error(tok, "^ needs a number", "^ 之后须为数字")
            self.take()

    def reject_fuzzy(self) -> None:
        if self.peek().kind == "FUZZY":
            tok = self.peek()
            raise self.error(tok, "fuzzy and proximity searches (~) are not supported", "不支持模糊和邻近搜索(~)")

    def term(self, fld: str, start: int) -> Node | None:
        tok = self.take()
        if fld == "*" and tok.kind != "STAR":
            raise self.error(tok, "*: needs *", "*: 之后须为 *")
        if tok.kind in ("TERM", "BAREOP", "NUMBER"):
            self.reject_fuzzy()
            self.boost()
            text = unescape(tok.text)
            if self.drops and self.drops(fld, text):
                return None
            return Term(fld, text, False, self.src(start))
        if tok.kind == "STAR":
            self.boost()
            return MatchAll(self.src(start)) if fld == "*" else Exists(fld, self.src(start))
        if tok.kind == "PREFIX":
            self.boost()
            return Prefix(fld, unescape(tok.text), self.src(start))
        if tok.kind == "QUOTED":
            if self.peek().kind == "FUZZY":
                raise self.error(self.peek(), "phrase slop (~) is not supported", "不支持短语间距(~)")
            self.boost()
            text = unescape(tok.text)
            if self.drops and self.drops(fld, text):
                return None
            return Term(fld, text, True, self.src(start))
        if tok.kind == "RANGE_START":
            return self.range(fld, tok, start)
        if tok.kind == "WILD":
            raise self.error(tok, "wildcards other than a trailing * are not supported", "仅支持末尾的 * 通配符")
        if tok.kind == "REGEX":
            raise self.error(tok, "regular expressions are not supported", "不支持正则表达式")
        if tok.kind == "FUZZY":
            raise self.error(tok, "fuzzy and proximity searches (~) are not supported", "不支持模糊和邻近搜索(~)")
        if tok.kind == "EOF":
            raise self.error(tok, "the query ends where a term was expected", "查询在应有词项处结束")
        if tok.text.lower() == "filter" or (tok.kind == "LPARAMS"):
            raise self.error(tok, "filter() and local parameters are not supported", "不支持 filter() 和本地参数")
        raise self.error(tok, "unexpected token", "意外的符号")

    def range(self, fld: str, open_tok: Tok, start: int) -> Node:
        lo_inc = open_tok.text == "["
        bounds: list[Tok] = []
        while self.peek().kind in ("RANGE_GOOP", "RANGE_QUOTED", "RANGE_TO"):
            bounds.append(self.take())
        end = self.take()
        if end.kind != "RANGE_END":
            raise self.error(open_tok, "unclosed range", "范围未闭合")
        if len(bounds) == 3 and bounds[1].kind == "RANGE_TO":
            lo_tok, hi_tok = bounds[0], bounds[2]
        elif len(bounds) == 2 and "RANGE_TO" not in (bounds[0].kind, bounds[1].kind):
            lo_tok, hi_tok = bounds
        else:
            raise QueryError("a range is [from TO to]", "范围的写法是 [起 TO 止]", self.text[open_tok.start:end.end])
        src = self.text[open_tok.start:end.end]
        self.boost()
        lo = None if lo_tok.kind == "RANGE_GOOP" and lo_tok.text == "*" else unescape(lo_tok.text)
        hi = None if hi_tok.kind == "RANGE_GOOP" and hi_tok.text == "*" else unescape(hi_tok.text)
        if fld == "*":
            raise QueryError("a range needs a field", "范围须指定字段", src)
        src = self.src(start)
        if lo is None and hi is None:
            return Exists(fld, src)
        return Range(fld, lo, hi, lo_inc, end.text == "]", src)


def _pure_negative(node: Node) -> bool:
    return isinstance(node, Bool) and bool(node.clauses) and all(occ == MUST_NOT for occ, _ in node.clauses)


def _refuse_nested_negatives(node: Node) -> None:
    if isinstance(node, Bool):
        for _, child in node.clauses:
            if _pure_negative(child):
                raise QueryError(
                    "a group of only negative clauses matches nothing in Solr (SOLR-18256); write it at the top "
                    "level or as (*:* -field:value)",
                    "括号内只有否定子句时 Solr 不匹配任何数据集;请写在顶层,或写成 (*:* -字段:值)", child.src)
            _refuse_nested_negatives(child)


def _top_level(node: Node | None) -> Node:
    """Solr's treatment of a whole query: nothing left matches nothing; all-negative gets ``*:*`` added
    (``QueryUtils.makeQueryable``), which Solr does for the whole query only: a negative-only group inside it
    is refused."""
    if node is None:
        return MATCH_NONE
    _refuse_nested_negatives(node)
    if _pure_negative(node):
        assert isinstance(node, Bool)
        return Bool(((MUST, MatchAll()), *node.clauses), node.msm, node.src)
    return node


def parse(text: str, *, default_field: str = "text", default_op: Literal["AND", "OR"] = "AND",
          drops: Drops | None = None) -> Node:
    """A Lucene query (Solr's standard parser with ``df`` and ``q.op``) as a tree; ``QueryError`` if it is
    malformed or outside the subset. A query that analysis leaves empty matches nothing."""
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the query is too long (at most {MAX_LENGTH:,} characters)", f"查询过长(最多 {MAX_LENGTH:,} 个字符)",
                         text[:40] + "…")
    if not text.strip():
        raise QueryError("an empty query", "查询为空", text)
    return _top_level(_Parser(text, default_field, default_op == "AND", drops).top())


def min_should_match(optional: int, spec: str) -> int:
    """Solr's ``SolrPluginUtils.calculateMinShouldMatch``: how many of ``optional`` clauses ``mm`` requires."""
    result = optional
    spec = spec.strip()
    if "<" in spec:
        spec = re.sub(r"\s*<\s*", "<", spec)
        for part in spec.split():
            upper, _, rest = part.partition("<")
            if optional <= int(upper):
                return result
            result = min_should_match(optional, rest)
        return result
    if spec.endswith("%"):
        calc = result * int(spec[:-1]) / 100
        result = result + math.trunc(calc) if calc < 0 else math.trunc(calc)
    else:
        calc_i = int(spec)
        result = result + calc_i if calc_i < 0 else calc_i
    return optional if optional < result else max(result, 0)


def valid_mm(spec: str) -> bool:
    try:
        min_should_match(7, spec)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\s*(?:-?\d+%?|(?:\d+\s*<\s*-?\d+%?\s*)+)\s*", spec))


_DISMAX_ESCAPE = set('\\!():^[]/{}~*?')


def parse_dismax(text: str, *, default_field: str = "text", mm: str = CKAN_MM, drops: Drops | None = None) -> Node:
    """A ``q`` as Solr's DisMax parser reads it (``DisMaxQParser.getUserQuery``): unbalanced quotes removed,
    special characters other than ``+ - "`` (and ``&&``/``||``) taken literally, operator OR between
    clauses, then ``mm`` decides how many optional clauses must match."""
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the query is too long (at most {MAX_LENGTH:,} characters)", f"查询过长(最多 {MAX_LENGTH:,} 个字符)",
                         text[:40] + "…")
    if text.count('"') % 2:
        text = text.replace('"', "")  # SolrPluginUtils.stripUnbalancedQuotes
    escaped = "".join("\\" + c if c in _DISMAX_ESCAPE else c for c in text)  # partialEscape
    escaped = re.sub(r"\s+[+-](?:\s*[+-]+)+", " ", escaped)  # stripIllegalOperators: consecutive operators
    escaped = re.sub(r"\s+[-+\\]?$", "", escaped)  # ... and a dangling one at the end
    if not escaped.strip():
        return MATCH_NONE
    node = _Parser(escaped, default_field, False, drops).top()
    if node is None:
        return MATCH_NONE
    if not isinstance(node, Bool):
        node = Bool(((SHOULD, node),), 0, node.src)
    optional = sum(1 for occ, _ in node.clauses if occ == SHOULD)
    if optional:
        node = Bool(node.clauses, min_should_match(optional, mm), node.src)
    return _top_level(node)


# -- sort ---------------------------------------------------------------------------------------------------


def parse_sort(spec: str) -> list[tuple[str, bool]]:
    """``"score desc, metadata_modified desc"`` → ``[("score", True), ("metadata_modified", True)]`` (field,
    descending), as Solr's ``SortSpecParsing`` reads it; ``SortError`` otherwise."""
    out: list[tuple[str, bool]] = []
    if "(" in spec:
        raise SortError("field", "sorting by functions is not supported", spec.strip())
    for item in spec.split(","):
        words = item.split()
        if not words:
            continue
        if len(words) != 2:
            raise SortError("order", 'Invalid "sort" parameter', item.strip())
        name, order = words[0], words[1].lower()
        if order not in ("asc", "desc", "top", "bottom"):
            raise SortError("order", 'Invalid "sort" parameter', item.strip())
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
            raise SortError("field", f"sort param field can't be found: {name}", item.strip())
        out.append((name, order in ("desc", "top")))
    return out


# -- dates ---------------------------------------------------------------------------------------------------

_INSTANT = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
_MATH = re.compile(r"([+-])(\d+)([A-Za-z]+)|/([A-Za-z]+)")
_UNITS = {"YEAR": "year", "YEARS": "year", "MONTH": "month", "MONTHS": "month", "DAY": "day", "DAYS": "day",
          "DATE": "day", "HOUR": "hour", "HOURS": "hour", "MINUTE": "minute", "MINUTES": "minute",
          "SECOND": "second", "SECONDS": "second", "MILLI": "milli", "MILLIS": "milli", "MILLISECOND": "milli",
          "MILLISECONDS": "milli"}


def _add(value: dt.datetime, unit: str, n: int) -> dt.datetime:
    if unit in ("year", "month"):
        months = value.month - 1 + n * (12 if unit == "year" else 1)
        year, month = value.year + months // 12, months % 12 + 1
        day = min(value.day, calendar.monthrange(year, month)[1])
        return value.replace(year=year, month=month, day=day)
    step = {"day": dt.timedelta(days=1), "hour": dt.timedelta(hours=1), "minute": dt.timedelta(minutes=1),
            "second": dt.timedelta(seconds=1), "milli": dt.timedelta(milliseconds=1)}[unit]
    return value + step * n


def _round(value: dt.datetime, unit: str) -> dt.datetime:
    if unit == "year":
        return value.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "month":
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return value.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    if unit == "minute":
        return value.replace(second=0, microsecond=0)
    if unit == "second":
        return value.replace(microsecond=0)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parse_date(text: str, now: dt.datetime) -> dt.datetime:
    """A Solr date (``DateMathParser``): an instant ``YYYY-MM-DDThh:mm:ss[.fff]Z`` or ``NOW``, then any date
    math (``+1DAY``, ``-2MONTHS``, ``/DAY``), in UTC, truncated to the millisecond as Solr stores dates.
    ``ValueError`` for anything else (Solr: "Invalid Date String")."""
    s = text.strip()
    if s.upper().startswith("NOW"):
        value = now.astimezone(dt.UTC)
        rest = s[3:]
    else:
        m = _INSTANT.match(s)
        if not m:
            raise ValueError(f"Invalid Date String: {text!r}")
        y, mo, d, h, mi, sec, frac, off = m.groups()
        try:
            value = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec),
                                int((frac or "0").ljust(6, "0")[:6]), tzinfo=dt.UTC)
        except ValueError:
            raise ValueError(f"Invalid Date String: {text!r}") from None
        if off not in ("Z", "z"):
            sign = 1 if off[0] == "+" else -1
            value -= sign * dt.timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
        rest = s[m.end():]
    pos = 0
    while pos < len(rest):
        m = _MATH.match(rest, pos)
        if not m:
            raise ValueError(f"Invalid Date Math String: {text!r}")
        unit_name = (m.group(3) or m.group(4)).upper()
        if unit_name not in _UNITS:
            raise ValueError(f"Invalid Date Math String: unknown unit {unit_name}")
        unit = _UNITS[unit_name]
        try:
            if m.group(4):
                value = _round(value, unit)
            else:
                value = _add(value, unit, int(m.group(2)) * (1 if m.group(1) == "+" else -1))
        except (OverflowError, ValueError):
            raise ValueError(f"Invalid Date Math String: {text!r} is out of range") from None
        pos = m.end()
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
