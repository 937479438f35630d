"""The Lucene/Solr query subset (cityhub.catalog.solr), pure: each behaviour names the Lucene, Solr or CKAN
function it follows."""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.catalog import solr
from cityhub.catalog.solr import MUST, MUST_NOT, SHOULD, Bool, Exists, MatchAll, Prefix, Range, Term


def shape(node: solr.Node) -> object:
    """A compact, comparable form: leaves as 'field:text', Bools as (msm, [(occur, shape)])."""
    if isinstance(node, Bool):
        return (node.msm, [(occ, shape(c)) for occ, c in node.clauses])
    if isinstance(node, Term):
        return f'{node.field}:"{node.text}"' if node.phrase else f"{node.field}:{node.text}"
    if isinstance(node, Prefix):
        return f"{node.field}:{node.text}*"
    if isinstance(node, Exists):
        return f"{node.field}:*"
    if isinstance(node, Range):
        return (f"{node.field}:{'[' if node.lo_inc else '{'}{node.lo or '*'} TO {node.hi or '*'}"
                f"{']' if node.hi_inc else '}'}")
    return "*:*"


def test_add_clause_with_default_operator_and() -> None:
    """Lucene ``QueryParserBase.addClause`` with ``q.op=AND`` (which CKAN's ``PackageSearchQuery.run`` sets):
    ``OR`` makes its left neighbour optional, so optional clauses beside a required one filter nothing."""
    assert shape(solr.parse("a b")) == (0, [(MUST, "text:a"), (MUST, "text:b")])
    assert shape(solr.parse("a OR b")) == (0, [(SHOULD, "text:a"), (SHOULD, "text:b")])
    assert shape(solr.parse("a OR b c")) == (0, [(SHOULD, "text:a"), (SHOULD, "text:b"), (MUST, "text:c")])
    assert shape(solr.parse("+a OR b")) == (0, [(SHOULD, "text:a"), (SHOULD, "text:b")])
    assert shape(solr.parse("-a OR b")) == (0, [(MUST_NOT, "text:a"), (SHOULD, "text:b")])
    assert shape(solr.parse("a AND NOT b")) == (0, [(MUST, "text:a"), (MUST_NOT, "text:b")])
    assert shape(solr.parse("a || b && !c")) == (0, [(SHOULD, "text:a"), (MUST, "text:b"), (MUST_NOT, "text:c")])
    # what ckanext-harvest sends for organizations_filter_include=[a, b] with CKAN's +capacity:public in front
    fq = "+capacity:public organization:a OR organization:b metadata_modified:[2020-01-01T00:00:00Z TO *]"
    assert shape(solr.parse(fq)) == (0, [(MUST, "capacity:public"), (SHOULD, "organization:a"),
                                         (SHOULD, "organization:b"),
                                         (MUST, "metadata_modified:[2020-01-01T00:00:00Z TO *]")])


def test_default_operator_or() -> None:
    """``addClause`` with the OR operator (DisMax's): plain clauses optional, ``AND`` and ``+`` required."""
    assert shape(solr.parse("a b", default_op="OR")) == (0, [(SHOULD, "text:a"), (SHOULD, "text:b")])
    assert shape(solr.parse("a AND b c", default_op="OR")) == (0, [(MUST, "text:a"), (MUST, "text:b"),
                                                                   (SHOULD, "text:c")])


def test_fields_phrases_groups_ranges_prefixes() -> None:
    """``QueryParser.jj``: ``field:`` applies to one term or a parenthesised group; ``"…"`` phrases; ``[a TO b]``
    / ``{a TO b}`` with ``*`` bounds and mixed brackets; a trailing ``*`` is a prefix; ``field:*`` and
    ``[* TO *]`` test existence (Solr's ``getWildcardQuery`` / ``getRangeQuery``); ``*:*`` matches all; boosts
    are accepted; ``a-b`` is one term, ``\\:`` an escaped colon, ``\\u3000`` whitespace."""
    q = 'title:"空气 质量" tags:(a OR "b c") name:gz-air* -res_format:* views_total:[5 TO *} x^2'
    assert shape(solr.parse(q)) == (0, [
        (MUST, 'title:"空气 质量"'), (MUST, (0, [(SHOULD, "tags:a"), (SHOULD, 'tags:"b c"')])),
        (MUST, "name:gz-air*"), (MUST_NOT, "res_format:*"), (MUST, "views_total:[5 TO *}"), (MUST, "text:x")])
    assert shape(solr.parse("metadata_created:{NOW-1DAY TO NOW]")) == "metadata_created:{NOW-1DAY TO NOW]"
    assert shape(solr.parse("id:[* TO *]")) == "id:*"
    assert isinstance(solr.parse("*:*"), MatchAll)
    assert shape(solr.parse("name:a-b\\:c\u3000tags:x")) == (0, [(MUST, "name:a-b:c"), (MUST, "tags:x")])
    assert shape(solr.parse('metadata_modified:"2020-01-01T00:00:00Z"')) == 'metadata_modified:"2020-01-01T00:00:00Z"'
    assert shape(solr.parse("AND_more OR_x")) == (0, [(MUST, "text:AND_more"), (MUST, "text:OR_x")])


def test_pure_negative_top_level_and_nested() -> None:
    """Solr's ``QueryUtils.makeQueryable`` adds ``*:*`` to a query of only prohibited clauses, at the top level
    only; nested, Lucene matches nothing (SOLR-18256), so we refuse it rather than answer nothing."""
    assert shape(solr.parse("-organization:x")) == (0, [(MUST, "*:*"), (MUST_NOT, "organization:x")])
    assert shape(solr.parse("(-organization:x)")) == (0, [(MUST, "*:*"), (MUST_NOT, "organization:x")])
    with pytest.raises(solr.QueryError) as err:
        solr.parse("+capacity:public (-organization:x)")
    assert err.value.clause == "-organization:x" and "SOLR-18256" in err.value.reason


@pytest.mark.parametrize(("query", "clause"), [
    ("title:air~2", "~2"), ('title:"a b"~3', "~3"), ("name:a?c", "a?c"), ("name:*abc", "*abc"),
    ("name:/ab.*/", "/ab.*/"), ("{!lucene}x", "{!lucene}"), ("_query_:x", "_query_"), ("title:(a", ""),
    ("a AND", ""), ('title:"open', '"open'), ("metadata_modified:[2020 TO", "[2020 TO"), ("x ^", "^"),
])
def test_outside_the_subset_is_refused_naming_the_clause(query: str, clause: str) -> None:
    """Fuzzy, slop, wildcards other than a trailing ``*``, regular expressions, local parameters, nested
    queries and syntax errors: ``QueryError`` naming the clause (CKAN returns Solr's error as 409)."""
    with pytest.raises(solr.QueryError) as err:
        solr.parse(query)
    assert clause in err.value.clause
    assert err.value.reason and err.value.reason_zh


def test_limits() -> None:
    """Bounded work for any input: at most 500 clauses (Solr's ``maxBooleanClauses`` is 1,024), parentheses
    20 deep, 20,000 characters."""
    assert len(solr.parse(" OR ".join(f"name:n{i}" for i in range(500))).clauses) == 500  # type: ignore[union-attr]
    for query in (" ".join(f"t{i}" for i in range(501)), "(" * 21 + "a" + ")" * 21, "a" * 20_001):
        with pytest.raises(solr.QueryError):
            solr.parse(query)
    with pytest.raises(solr.QueryError):
        solr.parse_dismax("w " * 600)


def test_drops_asks_analysis() -> None:
    """A term the analyzer reduces to nothing is dropped after ``addClause`` adjusted its neighbour, exactly
    where Lucene drops a null clause."""
    drops = lambda fld, text: text == "的"  # noqa: E731
    assert shape(solr.parse("a 的 OR b", drops=drops)) == (0, [(SHOULD, "text:a"), (SHOULD, "text:b")])
    assert solr.parse("的", drops=drops) == solr.MATCH_NONE


def test_dismax_as_ckan_sets_it_up() -> None:
    """A ``q`` without a colon goes to DisMax (``PackageSearchQuery.run``) with ``mm='2<-1 5<80%'``: Solr's
    ``SolrPluginUtils.calculateMinShouldMatch`` gives how many optional clauses must match; special characters
    except ``+ - "`` are literal (``partialEscape``), unbalanced quotes removed (``stripUnbalancedQuotes``)."""
    assert [solr.min_should_match(n, solr.CKAN_MM) for n in range(1, 12)] == [1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 8]
    assert solr.min_should_match(4, "100%") == 4 and solr.min_should_match(4, "-25%") == 3
    assert solr.min_should_match(3, "1") == 1 and solr.min_should_match(2, "3") == 2
    assert shape(solr.parse_dismax("交通 公交 地铁")) == (2, [(SHOULD, "text:交通"), (SHOULD, "text:公交"),
                                                       (SHOULD, "text:地铁")])
    assert shape(solr.parse_dismax("a OR b")) == (2, [(SHOULD, "text:a"), (SHOULD, "text:b")])
    assert shape(solr.parse_dismax("+a -b c")) == (1, [(MUST, "text:a"), (MUST_NOT, "text:b"), (SHOULD, "text:c")])
    assert shape(solr.parse_dismax('title:(x) "air quality')) == (2, [(SHOULD, "text:title:(x)"),
                                                                    (SHOULD, "text:air"), (SHOULD, "text:quality")])
    assert shape(solr.parse_dismax("water* ?")) == (2, [(SHOULD, "text:water*"), (SHOULD, "text:?")])
    assert shape(solr.parse_dismax("-a")) == (0, [(MUST, "*:*"), (MUST_NOT, "text:a")])
    assert solr.valid_mm("2<-1 5<80%") and solr.valid_mm("75%") and not solr.valid_mm("lots")


def test_sort_syntax() -> None:
    """Solr's ``SortSpecParsing``: ``field asc|desc`` joined by commas; no order is CKAN's 'Invalid "sort"
    parameter' (``PackageSearchQuery.run`` turns "Can't determine a Sort Order" into ``SearchQueryError``)."""
    assert solr.parse_sort("score desc, metadata_modified desc") == [("score", True), ("metadata_modified", True)]
    assert solr.parse_sort("name ASC") == [("name", False)]
    with pytest.raises(solr.SortError) as err:
        solr.parse_sort("name")
    assert err.value.kind == "order"
    with pytest.raises(solr.SortError) as err:
        solr.parse_sort("sum(a,b) desc")
    assert err.value.kind == "field"


def test_date_math() -> None:
    """Solr's ``DateMathParser``: an instant with ``Z`` (or an offset), ``NOW``, ``+``/``-`` units and ``/``
    rounding in UTC, kept to the millisecond as ``DatePointField`` stores it."""
    now = dt.datetime(2024, 3, 31, 12, 34, 56, 789123, tzinfo=dt.UTC)
    utc = dt.UTC
    assert solr.parse_date("NOW", now) == dt.datetime(2024, 3, 31, 12, 34, 56, 789000, tzinfo=utc)
    assert solr.parse_date("NOW-1MONTH", now) == dt.datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=utc)
    assert solr.parse_date("NOW/DAY-7DAYS", now) == dt.datetime(2024, 3, 24, tzinfo=utc)
    assert solr.parse_date("2020-01-01T00:00:00Z+1MONTH/MONTH", now) == dt.datetime(2020, 2, 1, tzinfo=utc)
    assert solr.parse_date("2020-01-31T10:00:00.123456Z", now) == dt.datetime(2020, 1, 31, 10, 0, 0, 123000,
                                                                               tzinfo=utc)
    assert solr.parse_date("2020-01-01T08:00:00+08:00", now) == dt.datetime(2020, 1, 1, tzinfo=utc)
    for bad in ("2020-01-01", "2020-01-01T00:00:00", "yesterday", "NOW-1FORTNIGHT", "2020-02-30T00:00:00Z"):
        with pytest.raises(ValueError):
            solr.parse_date(bad, now)


def test_json_round_trip_and_refusals() -> None:
    """The tree travels to the ``dataset_search`` action as JSON; anything else is refused."""
    node = solr.parse('title:"a b" OR (name:x* -tags:y) views_total:[1 TO 5}')
    assert solr.from_json(solr.to_json(node)) == node
    for bad in ([], {"bool": "x"}, {"term": 1, "text": "a"}, {"bool": [["maybe", {"all": True}]]}, {"what": 1}):
        with pytest.raises(ValueError):
            solr.from_json(bad)
    deep: dict[str, object] = {"all": True}
    for _ in range(60):
        deep = {"bool": [["must", deep]]}
    with pytest.raises(ValueError):
        solr.from_json(deep)
