"""The untyped copy of a queryable-first load written by Polars (``datastore/polarspass.py``) must read every file
exactly as DuckDB's strict reader does -- the same rows, the same ``_id``, the same text through the typed view --
or refuse it, so that the DuckDB copy is written instead (issue 10)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cityhub.datastore import polarspass, typedpass
from cityhub.datastore.ingest import IngestOptions

ROWS = "".join(f"{i},{['天河区', '越秀区'][i % 2]},{i * 1.5},2018年9月{1 + i % 28}日\n" for i in range(50))

#: CSV shapes the ingest tests use; True: Polars writes the copy, False: Polars refuses and DuckDB writes it
SHAPES: dict[str, tuple[bytes, bool]] = {
    "plain": (("编号,区,数值,日期\n" + ROWS).encode(), True),
    "crlf": (("编号,区,数值,日期\n" + ROWS).replace("\n", "\r\n").encode(), True),
    "bom": (b"\xef\xbb\xbf" + ("编号,区,数值,日期\n" + ROWS).encode(), True),
    "no_final_newline": (("编号,区,数值,日期\n" + ROWS).rstrip("\n").encode(), True),
    "quoted": (
        '名称,备注,数值\n"广州, 天河","他说""好""",1\n"多\n行",  两侧空格  ,2\n"",,3\n" ",N/A,4\n'.encode(),
        True,
    ),
    "whitespace": (
        (
            "名称,数值\n"
            + "".join(
                f"{v},{i}\n"
                for i, v in enumerate(
                    [
                        " 天河 ",
                        "\t越秀",
                        "海珠\u3000",
                        "\u3000番禺",
                        "\u00a0白云\u00a0",
                        " \u00a0花都\u2003 ",
                        "从化\t",
                        " NULL ",
                        "\t无",
                        "— ",
                        "  ",
                        "\u3000",
                        "增城 ",
                        "\u2009黄埔\u2009 ",
                        "南沙",
                    ]
                )
            )
        ).encode(),
        True,
    ),
    "short_rows": (b"a,b,c\n1,2,3\n4,5\n6\n7,8,9\n", True),
    "empty_and_markers": ("a,b\n1,\n,x\nNULL,无\n-,—\n2,/\n".encode(), True),
    "semicolon": (b"a;b;c\n1;x;2018-01-02\n2;y;2018-01-03\n", True),
    "tab": ("a\tb\n1\t广州\n2\t深圳\n".encode(), True),
    "no_header": (b"1,2,3\n4,5,6\n7,8,9\n", True),
    "single_column_blank_line": (b"a\n1\n\n2\n", False),
    "quote_inside_field": (b'a,b\n1,x"y\n2,z\n', False),  # Polars refuses it
    "blank_lines": (b"a,b\n1,2\n\n3,4\n\n", False),  # Polars reads a blank line as a row
    "empty_fields_row": (b"a,b\n1,2\n,\n3,4\n", False),  # all-null row: taken for a blank line
    "ragged": (b"x,y\n1,2\n3,4,5\n6,7\n8,\n", False),
    "text_after_closing_quote": (b'a,b\n1,"x"y\n2,z\n3,w\n', False),
}


def _copy(src: Path, dest: Path, use_polars: bool) -> typedpass.RawCopy:
    raw = typedpass.write_raw_copy(src, src.name, dest, IngestOptions(polars=use_polars))
    assert raw is not None, f"{src.name}: write_raw_copy gave no copy of a CSV it takes"
    return raw


def _served(raw: typedpass.RawCopy) -> list[tuple]:
    con = duckdb.connect()
    return con.execute(f"SELECT {raw.select} FROM read_parquet(?) ORDER BY _id", [str(raw.path)]).fetchall()


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_polars_copy_reads_every_shape_as_duckdb_does(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, polars_takes_it = SHAPES[name]
    src = tmp_path / f"{name}.csv"
    src.write_bytes(content)
    used: list[int | None] = []
    real = polarspass.write_raw

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(real(*args, **kwargs))
        return used[-1]

    monkeypatch.setattr(polarspass, "write_raw", spy)
    ours = _copy(src, tmp_path / "polars" / "raw.parquet", use_polars=True)
    ref = _copy(src, tmp_path / "duckdb" / "raw.parquet", use_polars=False)
    assert len(used) == 1, "the DuckDB reference must not call Polars"
    assert (used[0] is not None) is polars_takes_it, used
    assert ours.rows == ref.rows
    assert ours.columns == ref.columns
    assert ours.select == ref.select
    assert _served(ours) == _served(ref)
    assert [r[0] for r in _served(ours)] == list(range(1, ours.rows + 1))


def test_polars_copy_of_a_gb18030_file(tmp_path: Path) -> None:
    src = tmp_path / "gb.csv"
    src.write_bytes(("编号,区,数值,日期\n" + ROWS * 40).encode("gb18030"))
    ours = _copy(src, tmp_path / "p" / "raw.parquet", use_polars=True)
    ref = _copy(src, tmp_path / "d" / "raw.parquet", use_polars=False)
    assert ours.rows == ref.rows == 2000
    assert _served(ours) == _served(ref)
    assert _served(ours)[1][2] == "越秀区"


def test_refused_file_leaves_no_partial_copy(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text("x,y\n1,2\n3,4,5\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    from cityhub.datastore import formats, infer

    dialect = formats.sniff_dialect(formats.read_sample(src), src.name, None, None, infer.detect_header)
    assert polarspass.write_raw(src, dialect, ["x", "y"], out, 1000) is None
    assert not out.exists()
