"""Disclosure control of the open OD matrices: small cells suppressed, their journeys kept in the totals.

A stop-to-stop (or zone, or district) cell holding a few journeys in one time band can single out a person
("the one rider from stop A to stop B before 07:00"). :func:`suppress` applies one rule to an OD table with
``band``, an origin column, a destination column and ``journeys``, for a threshold ``k``
(``CITYHUB_TRANSIT_OD_MIN_COUNT``):

1. **Primary suppression** — every cell with ``journeys < k`` is left out.
2. **Per-origin remainder** — for each (band, origin), the suppressed cells' journeys are published as ONE row
   with destination :data:`SUPPRESSED` ("other destinations") when that sum is ``≥ k``. Such a sum always
   comes from at least two cells (each is ``< k``), so it does not give any single cell's value, and it is
   itself a count of at least ``k`` journeys.
3. **Per-band remainder** — the remainders of the origins whose sum is ``< k`` (which could be one cell: the
   differencing attack "origin total − published cells") are not published per origin; they are added up into
   one row per band with origin and destination both :data:`SUPPRESSED`. That row names no place, so it says
   how many journeys are hidden, not where.

No row total or column total is published, so a suppressed cell cannot be recovered by subtracting the published
cells of its origin from the origin's total: the only per-origin figure beside the published cells is the
remainder row of rule 2, which is never a single cell. Every journey of the input is in exactly one published
row, so the table's total (and each band's) is the true one. Zero cells are absent anyway, so an absent cell may
be a zero or a suppressed cell.

Pure: pyarrow only, imports nothing from the rest of CityHub.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa

#: the origin/destination value of a row that holds suppressed journeys
SUPPRESSED = "(suppressed)"
COUNT = "journeys"


def suppress(table: pa.Table, origin: str, destination: str, k: int, count: str = COUNT) -> pa.Table:
    """The table with cells ``< k`` suppressed (rules above); same columns (origin/destination as strings).
    ``k ≤ 1`` suppresses nothing (the table comes back with the columns cast). Raises ``ValueError`` when an
    origin or destination already holds the :data:`SUPPRESSED` marker."""
    rows = table.select(["band", origin, destination, count]).to_pylist()
    published: list[dict[str, Any]] = []
    remainder: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        o, d = _text(r[origin]), _text(r[destination])
        if SUPPRESSED in (o, d):
            raise ValueError(f"{SUPPRESSED!r} is a reserved OD value")
        n = int(r[count] or 0)
        if n >= k:
            published.append({"band": r["band"], origin: o, destination: d, count: n})
        elif n > 0:
            remainder[(r["band"], o)] += n
    per_band: dict[str, int] = defaultdict(int)
    for (band, o), n in sorted(remainder.items()):
        if n >= k:
            published.append({"band": band, origin: o, destination: SUPPRESSED, count: n})
        else:
            per_band[band] += n
    for band, n in sorted(per_band.items()):
        published.append({"band": band, origin: SUPPRESSED, destination: SUPPRESSED, count: n})
    schema = pa.schema([("band", pa.string()), (origin, pa.string()), (destination, pa.string()),
                        (count, pa.int64())])
    return pa.Table.from_pylist(published, schema=schema)


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def summary(before: pa.Table, after: pa.Table, k: int, count: str = COUNT) -> dict[str, Any]:
    """How much a suppression hid: cells in and out, suppressed journeys (they are in the remainder rows)."""
    col = after.column(count).to_pylist() if after.num_rows else []
    names = after.column_names
    hidden = sum(n for n, o, d in zip(col, after.column(names[1]).to_pylist(), after.column(names[2]).to_pylist(),
                                      strict=True) if SUPPRESSED in (o, d)) if after.num_rows else 0
    return {"min_count": k, "cells": before.num_rows,
            "cells_published": sum(1 for o, d in zip(after.column(names[1]).to_pylist(),
                                                     after.column(names[2]).to_pylist(), strict=True)
                                   if SUPPRESSED not in (o, d)) if after.num_rows else 0,
            "journeys": sum(int(v or 0) for v in before.column(count).to_pylist()) if before.num_rows else 0,
            "journeys_suppressed": int(hidden)}
