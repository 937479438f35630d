"""k-anonymity over chosen quasi-identifier columns (pure: imports nothing else from CityHub but ``deid``).

Records with the same values in every quasi-identifier form an equivalence class; k is the size of the
smallest class (0 for no records). A release at target k needs every class to have at least k records; the
records in smaller classes are those to generalise further or suppress.

* ``check(rows, quasi, target_k=…, top=…)`` → ``Report`` (k, the number of records and classes, the
  ``top`` smallest classes with their values, the records in classes below the target) over rows in memory;
* ``summary_sql`` / ``smallest_sql`` build the same two GROUP BY queries for DuckDB (SQL text and ``?``
  parameters) so the caller runs them on a big table; ``report_from_sql`` turns their results into the same
  ``Report``;
* ``suggest(rows, quasi, generalisers)`` generalises one column at a time (each generaliser once) and ranks
  the columns by the k reached, so a steward sees which generalisation helps most.

``None`` (SQL NULL) is a value like any other: the records missing a value form their class, as in GROUP BY.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cityhub.sharing import deid
from cityhub.sharing.problems import SharingInputError

MAX_TOP = 1000


@dataclass(frozen=True)
class Group:
    """One equivalence class: its quasi-identifier values and its size."""

    values: tuple[Any, ...]
    size: int


@dataclass(frozen=True)
class Report:
    quasi: tuple[str, ...]
    records: int
    classes: int
    k: int
    smallest: tuple[Group, ...]
    target_k: int | None = None
    below_target: int = 0

    @property
    def meets_target(self) -> bool:
        return self.target_k is None or (self.records > 0 and self.k >= self.target_k)

    def smallest_as_dicts(self) -> list[dict[str, Any]]:
        return [{**dict(zip(self.quasi, g.values, strict=True)), "size": g.size} for g in self.smallest]


@dataclass(frozen=True)
class Suggestion:
    """What generalising ``column`` alone (with its generaliser) would give."""

    column: str
    k: int
    classes: int
    below_target: int
    gain: int  # k after minus k before


def _check_args(quasi: Sequence[str], target_k: int | None, top: int) -> tuple[str, ...]:
    if isinstance(quasi, str) or not quasi:
        raise SharingInputError(
            "请至少选择一个准标识符列", "Choose at least one quasi-identifier column", "quasi"
        )
    cols = tuple(quasi)
    if not all(isinstance(c, str) and c for c in cols):
        raise SharingInputError("列名应为非空文本", "Column names must be non-empty text", "quasi")
    if len(set(cols)) != len(cols):
        raise SharingInputError("准标识符列重复", "A quasi-identifier column is listed twice", "quasi")
    if target_k is not None and (isinstance(target_k, bool) or not isinstance(target_k, int) or target_k < 1):
        raise SharingInputError(
            "目标 k 应为不小于 1 的整数", "The target k must be a whole number of at least 1", "target_k"
        )
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= MAX_TOP:
        raise SharingInputError(
            f"最小分组数应为 0 到 {MAX_TOP} 之间的整数",
            f"top must be a whole number from 0 to {MAX_TOP}",
            "top",
        )
    return cols


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _order(groups: list[Group]) -> list[Group]:
    """Smallest first; ties by values, None last (as ``ORDER BY … NULLS LAST``)."""
    try:
        return sorted(groups, key=lambda g: (g.size, tuple((v is None, v) for v in g.values)))
    except TypeError:  # mixed types in a column: compare their text
        return sorted(groups, key=lambda g: (g.size, tuple((v is None, str(v)) for v in g.values)))


def _report(
    cols: tuple[str, ...], counts: Counter[tuple[Any, ...]], target_k: int | None, top: int
) -> Report:
    sizes = counts.values()
    groups = [Group(values, size) for values, size in counts.items()]
    smallest = _order(groups)[:top] if top else []
    return Report(
        quasi=cols,
        records=sum(sizes),
        classes=len(counts),
        k=min(sizes, default=0),
        smallest=tuple(smallest),
        target_k=target_k,
        below_target=sum(s for s in sizes if target_k is not None and s < target_k),
    )


def _count(rows: Iterable[Mapping[str, Any]], cols: tuple[str, ...]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(_hashable(row.get(c)) for c in cols) for row in rows)


def check(
    rows: Iterable[Mapping[str, Any]], quasi: Sequence[str], *, target_k: int | None = None, top: int = 5
) -> Report:
    """k-anonymity of ``rows`` over the ``quasi`` columns (a column a row lacks counts as None)."""
    cols = _check_args(quasi, target_k, top)
    return _report(cols, _count(rows, cols), target_k, top)


def suggest(
    rows: Iterable[Mapping[str, Any]],
    quasi: Sequence[str],
    generalisers: Mapping[str, Callable[[Any], Any] | str],
    *,
    target_k: int | None = None,
) -> list[Suggestion]:
    """For each quasi column with a generaliser (a function, or a ``deid`` generalisation name such as
    ``"age_band"``), the k reached by generalising that column alone; best first (highest k, then fewest
    records below the target, then fewest classes, then the column name)."""
    cols = _check_args(quasi, target_k, 0)
    data = [dict(r) for r in rows]
    before = _report(cols, _count(data, cols), target_k, 0).k
    out: list[Suggestion] = []
    for column, gen in generalisers.items():
        if column not in cols:
            raise SharingInputError(
                f"{column} 不是所选的准标识符列",
                f"{column} is not one of the chosen quasi-identifiers",
                "generalisers",
            )
        func = deid.generaliser(gen) if isinstance(gen, str) else gen
        i = cols.index(column)
        counts: Counter[tuple[Any, ...]] = Counter()
        for row in data:
            key = [_hashable(row.get(c)) for c in cols]
            key[i] = _hashable(func(row.get(column)))
            counts[tuple(key)] += 1
        rep = _report(cols, counts, target_k, 0)
        out.append(Suggestion(column, rep.k, rep.classes, rep.below_target, rep.k - before))
    out.sort(key=lambda s: (-s.k, s.below_target, s.classes, s.column))
    return out


# --- the same check in SQL (DuckDB) ---------------------------------------------------------------------


def quote_ident(name: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise SharingInputError("名称应为非空文本", "A name must be non-empty text", "quasi")
    return '"' + name.replace('"', '""') + '"'


def _table(table: str | Sequence[str]) -> str:
    parts = [table] if isinstance(table, str) else list(table)
    if not parts:
        raise SharingInputError("请指定表名", "Name the table", "table")
    return ".".join(quote_ident(p) for p in parts)


def _grouped(table: str | Sequence[str], cols: tuple[str, ...]) -> str:
    cols_sql = ", ".join(quote_ident(c) for c in cols)
    return f"SELECT {cols_sql}, count(*) AS n FROM {_table(table)} GROUP BY {cols_sql}"


def summary_sql(
    table: str | Sequence[str], quasi: Sequence[str], *, target_k: int | None = None
) -> tuple[str, list[Any]]:
    """One row: (records, classes, k, records below the target). ``table`` may be ``("schema", "table")``."""
    cols = _check_args(quasi, target_k, 0)
    sql = (
        f"WITH g AS ({_grouped(table, cols)}) "
        "SELECT coalesce(sum(n), 0), count(*), coalesce(min(n), 0), coalesce(sum(n) FILTER (WHERE n < ?), 0) FROM g"
    )
    return sql, [target_k or 0]


def smallest_sql(table: str | Sequence[str], quasi: Sequence[str], *, top: int = 5) -> tuple[str, list[Any]]:
    """The ``top`` smallest classes: the quasi values then ``n``, smallest first, ties by values (NULLs last)."""
    cols = _check_args(quasi, None, top)
    order = ", ".join(f"{quote_ident(c)} ASC NULLS LAST" for c in cols)
    return f"{_grouped(table, cols)} ORDER BY n ASC, {order} LIMIT ?", [top]


def report_from_sql(
    quasi: Sequence[str],
    summary_row: Sequence[Any],
    smallest_rows: Iterable[Sequence[Any]],
    *,
    target_k: int | None = None,
) -> Report:
    """The ``Report`` from the results of ``summary_sql`` (its one row) and ``smallest_sql``."""
    cols = _check_args(quasi, target_k, 0)
    records, classes, k, below = (int(x) for x in summary_row)
    smallest = tuple(Group(tuple(r[: len(cols)]), int(r[len(cols)])) for r in smallest_rows)
    return Report(cols, records, classes, k, smallest, target_k, below if target_k is not None else 0)
