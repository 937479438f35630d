"""Factories for datastore ingest tests: write small files into tmp_path and ingest them."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from cityhub.datastore.ingest import IngestError, IngestOptions, IngestResult, ingest

WriteFn = Callable[..., Path]


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFn:
    """write_file("a.csv", "text", encoding="utf-8") or write_file("a.bin", b"bytes")."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        p = tmp_path / "src" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_bytes(content.encode(encoding))
        return p

    return _write


#: the query engine's view of a data.parquet: the one-pass ingest's hidden side columns are not data
VISIBLE = "COLUMNS(lambda c: NOT starts_with(c, '__side_'))"


def same_result(got: IngestResult, ref: IngestResult) -> None:
    """The one-pass ingest's answer equals the staged path's: report, types, bad cells and every value."""
    for name in ("rows", "columns", "format", "encoding", "delimiter", "has_header", "bad_cells", "bad_cell_count",
                 "warnings", "rejected_rows"):
        assert getattr(got, name) == getattr(ref, name), name
    con = duckdb.connect()
    try:
        sql = f"SELECT {VISIBLE} FROM read_parquet(?) ORDER BY _id"
        assert con.execute(f"DESCRIBE {sql}", [str(got.parquet_path)]).fetchall() == con.execute(
            f"DESCRIBE {sql}", [str(ref.parquet_path)]
        ).fetchall()
        assert con.execute(sql, [str(got.parquet_path)]).fetchall() == con.execute(sql, [str(ref.parquet_path)]).fetchall()
    finally:
        con.close()


@pytest.fixture
def run_ingest(tmp_path: Path) -> Callable[..., IngestResult]:
    """Ingest a file into tmp_path/out-N (a fresh destination per call).

    Equivalence harness (issue 10): unless ``engine`` is given, every call also runs the staged path into
    its own destination and asserts the same answer (or the same error) -- so every ingest test is also a
    test that the one-pass path gives the same types, bad cells and values."""
    counter = {"n": 0}

    def _run(path: Path, filename: str | None = None, progress=None, **opts) -> IngestResult:
        counter["n"] += 1
        dest = tmp_path / f"out-{counter['n']}"
        if "engine" in opts:
            return ingest(path, filename or path.name, dest, IngestOptions(**opts), progress)
        ref_dest = tmp_path / f"out-{counter['n']}-staged"
        try:
            got = ingest(path, filename or path.name, dest, IngestOptions(**opts), progress)
        except IngestError as exc:
            with pytest.raises(IngestError) as ref_exc:
                ingest(path, filename or path.name, ref_dest, IngestOptions(**opts, engine="staged"))
            assert (ref_exc.value.code, ref_exc.value.params) == (exc.code, exc.params)
            raise
        ref = ingest(path, filename or path.name, ref_dest, IngestOptions(**opts, engine="staged"))
        same_result(got, ref)
        return got

    return _run


def read_parquet(result: IngestResult) -> list[tuple]:
    return (
        duckdb.connect()
        .execute(f"SELECT {VISIBLE} FROM read_parquet(?) ORDER BY _id", [str(result.parquet_path)])
        .fetchall()
    )


def parquet_types(result: IngestResult) -> dict[str, str]:
    rows = duckdb.connect().execute(f"DESCRIBE SELECT {VISIBLE} FROM read_parquet(?)", [str(result.parquet_path)]).fetchall()
    return {r[0]: r[1] for r in rows}


def col(result: IngestResult, name: str):
    for c in result.columns:
        if c.name == name:
            return c
    raise KeyError(name)


def resident_id(region: str = "110101", birth: str = "19850315", seq: int | None = None) -> str:
    from stdnum.cn import ric

    seq = random.randint(0, 999) if seq is None else seq
    body = f"{region}{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check digit


@pytest.fixture
def numba_without_disk_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only install: numba finds no directory for its cache and refuses ``cache=True`` (as it does, with a
    RuntimeError, when no cache locator applies); compiling without the cache still works."""
    import numba

    real = numba.njit

    def njit(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit)
