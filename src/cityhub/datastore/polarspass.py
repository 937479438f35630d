"""The untyped copy of a queryable-first load, written by Polars (issue 10, "queryable first").

A queryable-first load serves an untyped copy of the CSV (every column text, plus ``_id``) through a typed view
while the whole file is typed (``typedpass.write_raw_copy``). The copy is pure reading and writing, which is what
Polars' streaming CSV reader and Parquet writer do fastest here: 10M rows of the benchmark file in 3.4 s of wall
time and 6.1 CPU s (Intel, uncompressed), against 5.0 s and 9.3 CPU s for DuckDB's reader with the pass's pyarrow
writer (BENCHMARKS.md).

Polars must read the file exactly as DuckDB's strict reader does, or not at all: the copy's rows and ``_id`` are
the typed table's (a row is the same row before and after the swap). So the reader is strict -- a row with too
many fields, broken quoting or bytes that are not UTF-8 raise -- and ``write_raw`` then returns False: the caller
writes the copy with DuckDB, which skips and reports such rows. The equivalence with DuckDB's copy is tested on
every CSV shape the ingest tests use (``tests/datastore/test_polarspass.py``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cityhub.datastore import formats

__all__ = ["write_raw"]

log = logging.getLogger(__name__)

#: The copy lives until the typed table replaces it (seconds to minutes), so it is written for speed: no
#: compression and only null counts (``_has_all_null_row`` reads them; min/max of text in file order prune
#: nothing). 10M rows of the benchmark file: 3.39-3.43 s and 6.0-6.1 CPU s against 3.87-3.93 s and 7.2-7.3 for
#: snappy with every statistic; 534 MB on disk against 316 (BENCHMARKS.md).
COMPRESSION = "uncompressed"
STATISTICS = {"min": False, "max": False, "distinct_count": False, "null_count": True}


def _polars() -> Any:
    """Polars, imported on first use (0.1 s: a typed load that never writes a copy does not pay it). Polars sizes
    its thread pool once, when it is first imported: as many threads as the ingest's DuckDB uses by default
    (IngestOptions.threads), unless the operator sets POLARS_MAX_THREADS."""
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    import polars

    return polars


def write_raw(
    text_path: Path, dialect: formats.Dialect, names: list[str], out: Path, row_group_rows: int
) -> int | None:
    """Write ``_id`` (1, 2, ... in file order) and every column as text under ``names`` to ``out`` (Parquet as
    ``COMPRESSION`` and ``STATISTICS`` say, row groups of ``row_group_rows``); the row count, or None when Polars would not read the file
    as DuckDB's strict reader does (the caller then writes the copy with DuckDB)."""
    pl = _polars()
    raw = [f"c{i}" for i in range(dialect.columns)]
    try:
        lf = pl.scan_csv(
            text_path,
            has_header=False,
            skip_rows=1 if dialect.has_header else 0,  # skips a header row, quoted newlines included
            separator=dialect.delimiter,
            quote_char='"',
            schema=dict.fromkeys(raw, pl.String),
            encoding="utf8",
            truncate_ragged_lines=False,
            raise_if_empty=True,
        ).with_row_index("_id", offset=1)
        cols = [pl.col(r).alias(n) for r, n in zip(raw, names, strict=True)]
        lf.select(pl.col("_id").cast(pl.Int64), *cols).sink_parquet(
            out, compression=COMPRESSION, statistics=STATISTICS, row_group_size=row_group_rows, maintain_order=True
        )
        if _has_all_null_row(out, names):
            raise ValueError("a row with every field empty: a blank line, which DuckDB's reader skips")
        return int(pl.scan_parquet(out).select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        log.info("untyped copy: Polars gave way to DuckDB (%s)", str(exc)[:300])
        out.unlink(missing_ok=True)
        return None


def _has_all_null_row(path: Path, names: list[str]) -> bool:
    """Whether a row of the copy has every column null. Polars reads a blank line as such a row where DuckDB
    skips it (and a line of empty fields, ``,,``, is such a row for both): then DuckDB writes the copy. Free when
    some column has no null at all (the Parquet statistics say so); otherwise one scan of the copy."""
    meta = pq.ParquetFile(path).metadata
    for c in range(1, meta.num_columns):  # column 0 is _id
        stats = [meta.row_group(g).column(c).statistics for g in range(meta.num_row_groups)]
        if all(st is not None and st.has_null_count and st.null_count == 0 for st in stats):
            return False
    pl = _polars()
    cols = [pl.col(n).is_null() for n in names]
    return bool(pl.scan_parquet(path).filter(pl.all_horizontal(cols)).select(pl.len()).collect().item())
