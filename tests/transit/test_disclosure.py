"""Small-cell suppression of the open OD matrices (transit/disclosure.py), including the differencing attacks."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa
import pytest

from cityhub.transit.disclosure import SUPPRESSED, summary, suppress


def od(rows: list[tuple[str, str, str, int]]) -> pa.Table:
    return pa.Table.from_pylist([{"band": b, "origin_stop": o, "destination_stop": d, "journeys": n}
                                 for b, o, d, n in rows])


def cells(t: pa.Table) -> list[dict[str, Any]]:
    return t.to_pylist()


def run(rows: list[tuple[str, str, str, int]], k: int = 10) -> list[dict[str, Any]]:
    return cells(suppress(od(rows), "origin_stop", "destination_stop", k))


def test_no_published_cell_below_threshold_and_totals_kept() -> None:
    rows = [("am", "A", "B", 40), ("am", "A", "C", 3), ("am", "A", "D", 8), ("am", "B", "A", 12),
            ("am", "B", "C", 1), ("pm", "C", "A", 9), ("pm", "C", "B", 10)]
    out = run(rows)
    real = [r for r in out if SUPPRESSED not in (r["origin_stop"], r["destination_stop"])]
    assert all(r["journeys"] >= 10 for r in real)
    assert {(r["origin_stop"], r["destination_stop"]) for r in real} == {("A", "B"), ("B", "A"), ("C", "B")}
    # each band's total is the true one: every journey is in exactly one row
    for band in ("am", "pm"):
        assert sum(r["journeys"] for r in out if r["band"] == band) == sum(n for b, *_, n in rows if b == band)
    # A's two small cells (3 + 8 = 11 ≥ 10) are one "other destinations" row; B's and C's single small cells go
    # to the band's placeless remainder
    assert {"band": "am", "origin_stop": "A", "destination_stop": SUPPRESSED, "journeys": 11} in out
    assert {"band": "am", "origin_stop": SUPPRESSED, "destination_stop": SUPPRESSED, "journeys": 1} in out
    assert {"band": "pm", "origin_stop": SUPPRESSED, "destination_stop": SUPPRESSED, "journeys": 9} in out


def test_differencing_attack_one_suppressed_cell_in_a_row_is_not_recoverable() -> None:
    """The attack: origin total − published cells = the one suppressed cell. No origin total is published, and
    the only per-origin figure beside the cells is never a single suppressed cell."""
    secret = 4
    rows = [("am", "A", "B", 50), ("am", "A", "C", 30), ("am", "A", "X", secret), ("am", "Q", "R", 2),
            ("am", "Q", "S", 2)]
    out = run(rows)
    per_origin: dict[str, int] = defaultdict(int)
    for r in out:
        per_origin[r["origin_stop"]] += r["journeys"]
    published_a = sum(r["journeys"] for r in out if r["origin_stop"] == "A"
                      and r["destination_stop"] != SUPPRESSED)
    # what A's rows add up to is only its published cells: the attacker's "row total − cells" is 0, not 4
    assert per_origin["A"] - published_a == 0
    assert not any(r["origin_stop"] == "A" and r["destination_stop"] == SUPPRESSED for r in out)
    # the hidden journeys are only in the placeless band remainder, mixed with Q's
    assert [r for r in out if r["origin_stop"] == SUPPRESSED] == [
        {"band": "am", "origin_stop": SUPPRESSED, "destination_stop": SUPPRESSED, "journeys": secret + 4}]


def test_every_per_origin_remainder_is_at_least_two_cells_and_k() -> None:
    import random

    rnd = random.Random(7)
    rows = [(rnd.choice(["am", "pm"]), f"S{rnd.randrange(30)}", f"S{rnd.randrange(30)}", rnd.randrange(1, 25))
            for _ in range(2000)]
    # one row per cell, as the analysis produces
    merged: dict[tuple[str, str, str], int] = defaultdict(int)
    for b, o, d, n in rows:
        merged[(b, o, d)] += n
    rows = [(b, o, d, n) for (b, o, d), n in merged.items()]
    out = run(rows, k=10)
    small: dict[tuple[str, str], list[int]] = defaultdict(list)
    for b, o, _d, n in rows:
        if n < 10:
            small[(b, o)].append(n)
    for r in out:
        if r["destination_stop"] == SUPPRESSED and r["origin_stop"] != SUPPRESSED:
            parts = small[(r["band"], r["origin_stop"])]
            assert r["journeys"] == sum(parts) >= 10 and len(parts) >= 2
        elif r["origin_stop"] != SUPPRESSED:
            assert r["journeys"] >= 10
    assert sum(r["journeys"] for r in out) == sum(n for *_, n in rows)


def test_threshold_one_publishes_everything_and_summary() -> None:
    rows = [("am", "A", "B", 1), ("am", "A", "C", 2)]
    before = od(rows)
    assert run(rows, k=1) == [{"band": "am", "origin_stop": "A", "destination_stop": d, "journeys": n}
                              for _, _, d, n in rows]
    after = suppress(before, "origin_stop", "destination_stop", 10)
    assert summary(before, after, 10) == {"min_count": 10, "cells": 2, "cells_published": 0, "journeys": 3,
                                          "journeys_suppressed": 3}


def test_empty_table_and_reserved_marker() -> None:
    empty = pa.Table.from_pylist([], schema=pa.schema([("band", pa.string()), ("origin_stop", pa.string()),
                                                       ("destination_stop", pa.string()), ("journeys", pa.int64())]))
    assert suppress(empty, "origin_stop", "destination_stop", 10).num_rows == 0
    with pytest.raises(ValueError):
        suppress(od([("am", SUPPRESSED, "B", 50)]), "origin_stop", "destination_stop", 10)
