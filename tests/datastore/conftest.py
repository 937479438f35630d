"""Factories for datastore ingest tests: write small files into tmp_path and ingest them."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from cityhub.datastore.ingest import IngestOptions, IngestResult, ingest

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


@pytest.fixture
def run_ingest(tmp_path: Path) -> Callable[..., IngestResult]:
    """Ingest a file into tmp_path/out-N (a fresh destination per call)."""
    counter = {"n": 0}

    def _run(path: Path, filename: str | None = None, progress=None, **opts) -> IngestResult:
        counter["n"] += 1
        dest = tmp_path / f"out-{counter['n']}"
        return ingest(path, filename or path.name, dest, IngestOptions(**opts), progress)

    return _run


def read_parquet(result: IngestResult) -> list[tuple]:
    return duckdb.connect().execute("SELECT * FROM read_parquet(?) ORDER BY _id", [str(result.parquet_path)]).fetchall()


def parquet_types(result: IngestResult) -> dict[str, str]:
    rows = duckdb.connect().execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(result.parquet_path)]).fetchall()
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
