from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest

from cityhub.datastore import formats, infer
from cityhub.datastore.ingest import IngestError, IngestOptions, ingest
from tests.datastore.conftest import col, parquet_types, read_parquet, resident_id

CHINESE = "广州市天河区人民政府，“数据开放”——测试𠀀"  # includes a GB18030 4-byte character


# --------------------------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")],
)
def test_encodings_round_trip(write_file, run_ingest, encoding, expected):
    text = f"名称,数量\n{CHINESE},1\n第二行,2\n"
    r = run_ingest(write_file("a.csv", text, encoding))
    assert r.encoding == expected
    assert [c.name for c in r.columns] == ["名称", "数量"]
    assert read_parquet(r) == [(1, CHINESE, 1), (2, "第二行", 2)]


def test_gbk(write_file, run_ingest):
    text = "单位名称,地址\n广州市越秀区,府前路1号\n"
    r = run_ingest(write_file("a.csv", text, "gbk"))
    assert r.encoding == "gb18030"
    assert read_parquet(r) == [(1, "广州市越秀区", "府前路1号")]


def test_declared_utf8_but_gb18030(write_file, run_ingest):
    r = run_ingest(write_file("a.csv", f"名称\n{CHINESE}\n", "gb18030"), encoding="utf-8")
    assert r.encoding == "gb18030"
    assert read_parquet(r) == [(1, CHINESE)]
    assert any("GB18030" in w for w in r.warnings)


def test_declared_gbk_but_utf8(write_file, run_ingest):
    r = run_ingest(write_file("a.csv", f"名称\n{CHINESE}\n"), encoding="gbk")
    assert r.encoding == "utf-8"
    assert read_parquet(r) == [(1, CHINESE)]
    assert r.warnings


def test_undecodable(write_file, run_ingest):
    data = b"a,b\n" + b"\x81\x30\xff\xfe,1\n" * 3
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("a.csv", data))
    assert e.value.code == "undecodable"
    assert e.value.message and e.value.message_en


def test_encoding_decided_on_a_prefix_is_confirmed_over_the_whole_file(write_file, run_ingest, monkeypatch):
    """Large CSVs are classified on their first bytes; a file that changes encoding later is detected again
    over the whole file, never garbled."""
    from cityhub.datastore import ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "ENCODING_CHECK_BYTES", 64)
    ascii_head = "名称,编号\n" + "".join(f"abc{i},{i}\n" for i in range(40))
    tail = f"{CHINESE},999\n"
    # ASCII prefix (looks like UTF-8), GB18030 later: DuckDB rejects the lines, the full check finds GB18030
    r = run_ingest(write_file("late-gb.csv", (ascii_head + tail).encode("gb18030")))
    assert r.encoding == "gb18030" and r.rejected_rows == 0
    assert read_parquet(r)[-1] == (41, CHINESE, 999)
    # UTF-8 throughout, Chinese only late: stays UTF-8
    r = run_ingest(write_file("late-utf8.csv", ascii_head + tail))
    assert r.encoding == "utf-8" and read_parquet(r)[-1] == (41, CHINESE, 999)
    # GB18030 prefix, bytes later that are neither GB18030 nor UTF-8: the strict transcoder stops, the full
    # check refuses the file
    bad = (f"{CHINESE},1\n" * 20).encode("gb18030") + b"\x81\x30\xff\xfe,1\n"
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("late-bad.csv", "名称,编号\n".encode("gb18030") + bad))
    assert e.value.code == "undecodable"


def test_transcode_chunk_boundaries(tmp_path):
    src = tmp_path / "g.csv"
    src.write_bytes(("汉字" * 1000).encode("gb18030"))
    dst = tmp_path / "u.csv"
    formats.transcode(src, dst, "gb18030", chunk=7)  # odd chunk size splits multi-byte characters
    assert dst.read_text("utf-8") == "汉字" * 1000


def _gb_lines(n: int) -> str:
    """Lines of varying length with one-, two- and four-byte GB18030 characters (€ and 𠀀 are four bytes)."""
    return "".join(f"{i},广州{'汉' * (i % 37)},€𠀀{'x' * (i % 11)}\n" for i in range(n))


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(formats, "PARALLEL_TRANSCODE_MIN_BYTES", 0)
    monkeypatch.setattr(formats, "PARALLEL_TRANSCODE_CHUNK", 1000)


def test_parallel_transcode_equals_the_codec(tmp_path, small_pieces):
    """Pieces cut after newlines, converted by the compiled decoder on two threads and written in order: the
    same text as Python's codec, whatever the piece size (a line longer than a piece, no final newline, skipped
    bytes)."""
    assert formats._gb18030_kernel() is not None  # numba installed: the threaded path is the one under test
    text = _gb_lines(3000) + "长" * 5000 + "\n" + "末行没有换行"
    src = tmp_path / "g.csv"
    src.write_bytes(b"\x84\x31\x95\x33" + text.encode("gb18030"))  # the GB18030 byte-order mark, skipped
    dst = tmp_path / "u.csv"
    ticks: list[int] = []
    formats.transcode_parallel(src, dst, "gb18030", skip=4, progress=lambda done, total: ticks.append(done))
    assert dst.read_bytes() == text.encode("utf-8")
    assert len(ticks) > 10 and ticks == sorted(ticks) and ticks[-1] == src.stat().st_size


def _gb18030_decode(data: bytes) -> bytes:
    """The compiled decoder on ``data`` alone; an error as the codec raises it (start offset)."""
    import numpy as np

    out = np.empty(len(data) * 3 // 2 + 16, np.uint8)
    got = formats._gb18030_kernel()(np.frombuffer(data, np.uint8).copy(), *formats._gb18030_tables(), out)
    if got < 0:
        raise UnicodeDecodeError("gb18030", data, -1 - got, -got, "invalid")
    return out[:got].tobytes()


def test_gb18030_decoder_maps_every_character_as_the_codec():
    """Every two-byte character, every four-byte BMP character and the supplementary planes' edges and a
    stride through them: the decoder's UTF-8 is the codec's, character by character (one long input)."""
    two = [bytes((lead, trail)) for lead in range(0x81, 0xFF) for trail in [*range(0x40, 0x7F), *range(0x80, 0xFF)]]
    four = [formats._gb4_bytes(i) for i in range(formats._GB4_BMP)]
    supplementary = [formats._gb4_bytes(formats._GB4_SUPPLEMENTARY + k) for k in [*range(0, 0x100000, 977), 0xFFFFF]]
    assert len(two) == 23940 and four[-1] == b"\x84\x31\xa4\x39" and supplementary[-1] == b"\xe3\x32\x9a\x35"
    for chars in (two, four, supplementary):
        data = b"a,".join(chars) + b"\n"
        assert _gb18030_decode(data) == data.decode("gb18030").encode("utf-8")


@pytest.mark.parametrize(
    "bad",
    [b"\x80", b"\xff", b"\x81\x7f", b"\x81\xff", b"\x81 ", b"\x81", b"\x81\x30\x81", b"\x81\x30\x20\x30",
     b"\x81\x3a\x81\x30", b"\x81\x30\x81\x3a", b"\x81\x30\xff\x30", b"\x84\x31\xa5\x30", b"\x8f\x39\xfe\x39",
     b"\xe3\x32\x9a\x36", b"\xfe\x39\xfe\x39", b"\x80\x30\x81\x30", b"\xff\x30\x81\x30", b"\x80\xa1"],
)  # fmt: skip
def test_gb18030_decoder_refuses_what_the_codec_refuses(bad):
    """Invalid (0x80 and 0xFF lead nothing), unassigned (after U+FFFF's four bytes, beyond U+10FFFF) and
    truncated sequences after good text: an error at the offset where Python's strict codec reports it."""
    data = "广州,1\n".encode("gb18030") + bad
    with pytest.raises(UnicodeDecodeError) as codec:
        data.decode("gb18030")
    with pytest.raises(UnicodeDecodeError) as ours:
        _gb18030_decode(data)
    assert ours.value.start == codec.value.start == len(data) - len(bad)


@pytest.mark.parametrize("tail", [b"\x81\x20,1\n", b"\x81\x30\x81"], ids=["invalid", "truncated"])
def test_parallel_transcode_is_strict(tmp_path, small_pieces, tail):
    """An invalid sequence in a late piece, or a character cut off by the end of the file, fails the whole
    conversion (as the strict codec), with the offset of the bad byte."""
    good = _gb_lines(2000).encode("gb18030")
    src = tmp_path / "g.csv"
    src.write_bytes(good + tail)
    with pytest.raises(UnicodeDecodeError) as e:
        formats.transcode_parallel(src, tmp_path / "u.csv", "gb18030")
    assert e.value.start == len(good)


def test_gb18030_decoder_compiles_without_a_cache_directory(numba_without_disk_cache):
    """A read-only install (no directory for numba's cache): the decoder is compiled for the process alone and
    decodes as before."""
    formats._gb18030_kernel.cache_clear()
    try:
        assert _gb18030_decode("广州,€𠀀\n".encode("gb18030")) == "广州,€𠀀\n".encode()
    finally:
        formats._gb18030_kernel.cache_clear()


def test_parallel_transcode_without_numba_uses_the_codec(tmp_path, small_pieces, monkeypatch):
    monkeypatch.setattr(formats, "_gb18030_kernel", lambda: None)
    text = _gb_lines(500)
    src = tmp_path / "g.csv"
    src.write_bytes(text.encode("gb18030"))
    formats.transcode_parallel(src, tmp_path / "u.csv", "gb18030")
    assert (tmp_path / "u.csv").read_text("utf-8") == text


# --------------------------------------------------------------------------------------------- dialects


@pytest.mark.parametrize(("delim", "name"), [("\t", "a.tsv"), (";", "a.csv"), ("|", "a.txt")])
def test_delimiters(write_file, run_ingest, delim, name):
    text = delim.join(["名称", "金额", "备注"]) + "\n" + delim.join(["甲", "1.5", "x,y"]) + "\n"
    text += delim.join(["乙", "2.5", "z"]) + "\n"
    r = run_ingest(write_file(name, text))
    assert r.delimiter == delim
    assert read_parquet(r) == [(1, "甲", 1.5, "x,y"), (2, "乙", 2.5, "z")]


def test_headerless(write_file, run_ingest):
    r = run_ingest(write_file("a.csv", "1,2018-09-01,3.5\n2,2018-09-02,4.5\n3,2018-09-03,5\n"))
    assert r.has_header is False
    assert [c.name for c in r.columns] == ["column_1", "column_2", "column_3"]
    assert [c.type for c in r.columns] == ["integer", "date", "number"]
    assert r.rows == 3


def test_header_detected_over_numbers(write_file, run_ingest):
    r = run_ingest(write_file("a.csv", "id,amount\n1,2.5\n2,3\n"))
    assert r.has_header is True
    r2 = run_ingest(write_file("b.csv", "id,amount\n1,2.5\n"), has_header=False)
    assert r2.rows == 2 and col(r2, "column_1").type == "string"


def test_quoted_fields_and_crlf(write_file, run_ingest):
    text = 'a,b\r\n"x, ""quoted""","多行\r\n文本"\r\nplain,2\r\n'
    r = run_ingest(write_file("a.csv", text))
    assert read_parquet(r) == [(1, 'x, "quoted"', "多行\r\n文本"), (2, "plain", "2")]


# --------------------------------------------------------------------------------------------- types


def test_types(write_file, run_ingest):
    header = "i,n,b,b01,d1,d2,d3,d4,d5,dt,code,long,txt,nul"
    rows = [
        "1,1.5,是,1,2018-09-01,2018/9/1,2018年9月1日,20180901,2018.9.1,2018-09-01 12:30:00,007,123456789012345678,甲,N/A",
        "-2,2,否,0,2019-12-31,2019/12/31,2019年12月31日,20191231,2019.12.31,2019/12/31 8:05,012,123456789012345679,乙,",
        "3,-3e2,是,1,2020-02-29,2020/2/29,2020年2月29日,20200229,2020.2.29,2020-02-29 23:59,100,223456789012345678,丙,NULL",
    ]
    r = run_ingest(write_file("t.csv", header + "\n" + "\n".join(rows) + "\n"))
    types = {c.name: c.type for c in r.columns}
    assert types == {
        "i": "integer", "n": "number", "b": "boolean", "b01": "integer",
        "d1": "date", "d2": "date", "d3": "date", "d4": "date", "d5": "date",
        "dt": "datetime", "code": "string", "long": "string", "txt": "string", "nul": "string",
    }
    data = read_parquet(r)
    assert data[0][1:5] == (1, 1.5, True, 1)
    assert data[0][5:10] == (dt.date(2018, 9, 1),) * 5
    assert data[1][10] == dt.datetime(2019, 12, 31, 8, 5)
    assert data[0][11] == "007" and data[0][12] == "123456789012345678"
    assert col(r, "nul").nulls == 3
    pt = parquet_types(r)
    assert pt["_id"] == "BIGINT" and pt["i"] == "BIGINT" and pt["n"] == "DOUBLE" and pt["dt"] == "TIMESTAMP"


@pytest.mark.parametrize("marker", infer.NULL_MARKERS)
def test_null_markers(write_file, run_ingest, marker):
    r = run_ingest(write_file("a.csv", f"x,y\n1,a\n{marker},b\n3,c\n"))
    assert col(r, "x").type == "integer"
    assert col(r, "x").nulls == 1
    assert col(r, "x").bad_cells == 0
    assert [row[1] for row in read_parquet(r)] == [1, None, 3]


def test_eight_digit_codes_not_dates(write_file, run_ingest):
    vals = [str(10000000 + i * 7919) for i in range(200)]  # mostly invalid as dates
    r = run_ingest(write_file("a.csv", "code\n" + "\n".join(vals) + "\n"))
    assert col(r, "code").type == "integer"


def test_boolean_words(write_file, run_ingest):
    r = run_ingest(write_file("a.csv", "a,b\nyes,Y\nno,N\nTrue,y\n"))
    assert [c.type for c in r.columns] == ["boolean", "boolean"]
    assert [row[1] for row in read_parquet(r)] == [True, False, True]


def test_bad_cells_become_null_and_reported(write_file, run_ingest):
    lines = ["id,amount,day"]
    for i in range(1, 2001):
        amount = "abc" if i in (500, 1500) else str(i * 10)
        day = "2018-02-30" if i == 700 else "2018-09-01"
        lines.append(f"{i},{amount},{day}")
    r = run_ingest(write_file("a.csv", "\n".join(lines) + "\n"))
    assert col(r, "amount").type == "integer"
    assert col(r, "amount").bad_cells == 2
    assert col(r, "day").type == "date" and col(r, "day").bad_cells == 1
    assert r.bad_cell_count == 3
    got = [(b.row, b.column, b.value, b.reason) for b in r.bad_cells]
    assert got == [
        (500, "amount", "abc", "not an integer"),
        (700, "day", "2018-02-30", "not a date"),
        (1500, "amount", "abc", "not an integer"),
    ]
    data = read_parquet(r)
    assert data[499][2] is None and data[498][2] == 4990
    assert data[699][3] is None


def test_bad_cell_report_is_capped_but_counted(write_file, run_ingest):
    lines = ["x"] + [("oops" if i % 200 == 0 else str(i)) for i in range(1, 20001)]
    r = run_ingest(write_file("a.csv", "\n".join(lines) + "\n"), max_bad_cells_reported=10)
    assert col(r, "x").type == "integer"
    assert r.bad_cell_count == 100
    assert len(r.bad_cells) == 10
    assert r.bad_cells[0].row == 200


def test_mostly_text_stays_string(write_file, run_ingest):
    lines = ["v"] + [str(i) for i in range(90)] + [f"文本{i}" for i in range(10)]
    r = run_ingest(write_file("a.csv", "\n".join(lines) + "\n"))
    assert col(r, "v").type == "string"
    assert r.bad_cell_count == 0
    assert read_parquet(r)[0][1] == "0"


def test_whole_file_inference_not_sample(write_file, run_ingest):
    # a late "N/A" does not break the load; a late text value beyond 1% makes it string
    lines = ["v"] + [str(i) for i in range(30000)] + ["N/A"]
    r = run_ingest(write_file("a.csv", "\n".join(lines) + "\n"))
    assert col(r, "v").type == "integer" and col(r, "v").nulls == 1
    lines = ["v"] + [str(i) for i in range(30000)] + ["x"] * 400
    r = run_ingest(write_file("b.csv", "\n".join(lines) + "\n"))
    assert col(r, "v").type == "string"


# --------------------------------------------------------------------------------------------- schema


def test_schema_override(write_file, run_ingest):
    text = "code,amount,flag\n007,1,1\n012,2,0\n"
    schema = {"fields": [{"name": "code", "type": "integer"}, {"name": "amount", "type": "string"},
                         {"name": "flag", "type": "boolean"}]}
    r = run_ingest(write_file("a.csv", text), schema=schema)
    assert [c.type for c in r.columns] == ["integer", "string", "boolean"]
    assert all(c.declared for c in r.columns)
    assert read_parquet(r) == [(1, 7, "1", True), (2, 12, "2", False)]


def test_schema_mismatch(write_file, run_ingest, tmp_path):
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("a.csv", "a,b\n1,2\n"), schema={"fields": [{"name": "nope", "type": "integer"}]})
    assert e.value.code == "schema_mismatch"
    assert "nope" in e.value.message and "nope" in e.value.message_en


# --------------------------------------------------------------------------------------------- refusals


def test_empty(write_file, run_ingest):
    for content in (b"", b"\xef\xbb\xbf", b"\n\n  \n"):
        with pytest.raises(IngestError) as e:
            run_ingest(write_file("a.csv", content))
        assert e.value.code == "empty"
        assert "空" in e.value.message


def test_header_only(write_file, run_ingest):
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("a.csv", "名称,数量\n"))
    assert e.value.code == "header_only"
    assert "表头" in e.value.message and "header" in e.value.message_en


def test_binary_garbage(write_file, run_ingest):
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("a.csv", bytes(range(256)) * 10))
    assert e.value.code == "binary"


def test_too_many_columns(write_file, run_ingest):
    header = ",".join(f"c{i}" for i in range(5000))
    row = ",".join(str(i) for i in range(5000))
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("wide.csv", header + "\n" + row + "\n"))
    assert e.value.code == "too_many_columns"
    header = ",".join(f"c{i}" for i in range(300))
    row = ",".join(str(i) for i in range(300))
    r = run_ingest(write_file("wide2.csv", header + "\n" + row + "\n"), max_columns=300)
    assert len(r.columns) == 300


def test_no_partial_parquet_after_failure(write_file, tmp_path):
    dest = tmp_path / "dest"
    src = write_file("a.csv", "a,b\n1,2\n")
    with pytest.raises(IngestError):
        ingest(src, "a.csv", dest, IngestOptions(schema={"fields": [{"name": "zz"}]}))
    assert list(dest.iterdir()) == []


def test_dest_dir_contains_only_parquet(write_file, tmp_path):
    dest = tmp_path / "dest"
    r = ingest(write_file("a.csv", "名称\n甲\n", "gb18030"), "a.csv", dest, IngestOptions())
    assert [p.name for p in dest.iterdir()] == ["data.parquet"]
    assert r.parquet_path == dest / "data.parquet"


# --------------------------------------------------------------------------------------------- rows / names


def test_ragged_rows(write_file, run_ingest):
    text = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n13,x,15\n"
    r = run_ingest(write_file("a.csv", text))
    assert r.rows == 4
    assert read_parquet(r)[1] == (2, 4, "5", None)
    ragged = [b for b in r.bad_cells if b.column == "*"]
    assert [(b.row, b.reason, b.value) for b in ragged] == [(3, "ragged row", "6,7,8,9")]
    assert r.rejected_rows == 1
    # the source row of a cell after the skipped row accounts for it
    assert col(r, "b").type == "string"


def test_column_names(write_file, run_ingest):
    text = "\ufeff select ,from,,名称,名称,_id,Name,name\n1,2,3,4,5,6,7,8\n"
    r = run_ingest(write_file("a.csv", text))
    names = [c.name for c in r.columns]
    assert names == ["select", "from", "column_3", "名称", "名称_2", "_id_2", "Name", "name_2"]
    assert [c.source_name for c in r.columns][:3] == ["select", "from", ""]
    con = duckdb.connect()
    got = con.execute(
        'SELECT "_id", "select", "from", "名称_2", "_id_2" FROM read_parquet(?)', [str(r.parquet_path)]
    ).fetchall()
    assert got == [(1, 1, 2, 5, 6)]


def test_id_is_file_order(write_file, run_ingest):
    lines = ["v"] + [f"行{i}" for i in range(50000)]
    r = run_ingest(write_file("a.csv", "\n".join(lines) + "\n"), threads=2)
    data = read_parquet(r)
    assert all(row[1] == f"行{row[0] - 1}" for row in data)
    con = duckdb.connect()
    ids = [x for (x,) in con.execute("SELECT _id FROM read_parquet(?)", [str(r.parquet_path)]).fetchall()]
    assert ids == list(range(1, 50001))


def test_progress(write_file, run_ingest):
    calls: list[tuple[float, str]] = []
    run_ingest(write_file("a.csv", "名称\n甲\n", "gb18030"), progress=lambda f, s: calls.append((f, s)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    stages = [s for _, s in calls]
    for stage in ("sniff", "decode", "read", "infer", "write", "pii"):
        assert stage in stages


# --------------------------------------------------------------------------------------------- spreadsheets


def _xlsx(path: Path, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_xlsx(tmp_path, run_ingest):
    p = _xlsx(
        tmp_path / "t.xlsx",
        [
            ["2018年统计表"],
            ["名称", "数量", "金额", "日期", "时间", "代码"],
            ["甲", 1, 1.5, dt.datetime(2018, 9, 1), dt.datetime(2018, 9, 1, 12, 30), "007"],
            ["乙", 2, 2.25, dt.datetime(2019, 1, 2), dt.datetime(2019, 1, 2, 8, 0), "012"],
        ],
    )
    r = run_ingest(p)
    assert r.format == "xlsx"
    assert [c.name for c in r.columns] == ["名称", "数量", "金额", "日期", "时间", "代码"]
    assert [c.type for c in r.columns] == ["string", "integer", "number", "date", "datetime", "string"]
    assert read_parquet(r)[0] == (1, "甲", 1, 1.5, dt.date(2018, 9, 1), dt.datetime(2018, 9, 1, 12, 30), "007")
    assert any("title" in w for w in r.warnings)


def test_xlsx_extension_ignored_magic_wins(tmp_path, run_ingest):
    p = _xlsx(tmp_path / "t.xlsx", [["a"], [1]])
    renamed = tmp_path / "upload.csv"
    p.rename(renamed)
    r = run_ingest(renamed)
    assert r.format == "xlsx" and r.rows == 1


def test_xlsx_zip_bomb_total(tmp_path, run_ingest):
    p = _xlsx(tmp_path / "t.xlsx", [["a"], [1]])
    with zipfile.ZipFile(p, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/big.bin", b"\0" * (4 << 20))
    with pytest.raises(IngestError) as e:
        run_ingest(p, max_expanded_bytes=1 << 20)
    assert e.value.code == "zip_bomb"


def test_xlsx_zip_bomb_ratio(tmp_path, run_ingest):
    p = tmp_path / "bomb.xlsx"
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            for _ in range(101):
                fh.write(chunk)
    with pytest.raises(IngestError) as e:
        run_ingest(p)
    assert e.value.code == "zip_bomb"


def test_xls_magic_detection(write_file, run_ingest):
    assert formats.sniff_format(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "x.bin") == "xls"
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600))
    assert e.value.code == "bad_spreadsheet"


def test_html_disguised_as_xls(write_file, run_ingest):
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("a.xls", "<html><table><tr><td>1</td></tr></table></html>"))
    assert e.value.code == "unsupported_format"


def test_magic_bytes():
    assert formats.sniff_format(b"PK\x03\x04rest", "a.csv") == "xlsx"
    assert formats.sniff_format(b"PAR1xxxx", "a") == "parquet"
    assert formats.sniff_format(b"  [{\"a\":1}]", "upload") == "json"
    assert formats.sniff_format(b"{\"a\":1}\n{\"a\":2}", "upload") == "ndjson"
    assert formats.sniff_format(b"a,b\n1,2", "upload") == "csv"


# --------------------------------------------------------------------------------------------- json / parquet


def test_json_array(write_file, run_ingest):
    data = [{"名称": "甲", "数量": 1, "嵌套": {"x": [1, 2]}, "日期": "2018-09-01"},
            {"名称": "乙", "数量": "2", "额外": True, "日期": None}]
    r = run_ingest(write_file("a.json", json.dumps(data, ensure_ascii=False)))
    assert r.format == "json"
    assert [c.name for c in r.columns] == ["名称", "数量", "嵌套", "日期", "额外"]
    assert [c.type for c in r.columns] == ["string", "integer", "string", "date", "boolean"]
    rows = read_parquet(r)
    assert rows[0][:4] == (1, "甲", 1, '{"x":[1,2]}')
    assert rows[1][4] is None and rows[1][5] is True


def test_ndjson(write_file, run_ingest):
    text = '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n{"a": 3.5, "c": null}\n'
    r = run_ingest(write_file("a.ndjson", text))
    assert r.format == "ndjson"
    assert r.rows == 3
    assert col(r, "a").type == "number"


def test_json_gb18030(write_file, run_ingest):
    r = run_ingest(write_file("a.json", json.dumps([{"名称": CHINESE}], ensure_ascii=False), "gb18030"))
    assert read_parquet(r) == [(1, CHINESE)]


@pytest.mark.parametrize("text", ['[{"a": 1}, {"a": ', '{"a": 1}\n{"a" 2}\n', "[1, 2, 3]"])
def test_bad_json(write_file, run_ingest, text):
    with pytest.raises(IngestError) as e:
        run_ingest(write_file("a.json", text))
    assert e.value.code == "bad_json"


def test_parquet_passthrough(tmp_path, run_ingest):
    p = tmp_path / "in.parquet"
    duckdb.connect().execute(
        "COPY (SELECT i::INTEGER AS n, i * 1.5 AS x, 'v' || i AS s, DATE '2020-01-01' + CAST(i AS INTEGER) AS d, i % 2 = 0 AS b, "
        "[i, i] AS l, NULL::VARCHAR AS \"_id\" FROM range(5) t(i)) TO ? (FORMAT parquet)",
        [str(p)],
    )
    r = run_ingest(p, "in.parquet")
    assert r.format == "parquet"
    assert [(c.name, c.type) for c in r.columns] == [
        ("n", "integer"), ("x", "number"), ("s", "string"), ("d", "date"), ("b", "boolean"), ("l", "string"),
        ("_id_2", "string"),
    ]
    rows = read_parquet(r)
    assert rows[0][:5] == (1, 0, 0.0, "v0", dt.date(2020, 1, 1))
    assert rows[4][0] == 5
    assert col(r, "_id_2").nulls == 5


# --------------------------------------------------------------------------------------------- pii


def test_pii_columns(write_file, run_ingest):
    from tests.datastore.test_pii import luhn_card

    lines = ["身份证,手机,卡号,邮箱,随机"]
    import random

    rnd = random.Random(5)
    for i in range(300):
        lines.append(
            f"{resident_id(seq=i % 1000)},1{rnd.choice('3456789')}{rnd.randint(0, 999999999):09d},"
            f"{luhn_card(rnd=rnd)},u{i}@example.cn,{rnd.randint(10**17, 10**18 - 1)}"
        )
    r = run_ingest(write_file("p.csv", "\n".join(lines) + "\n"))
    assert {c.name: c.pii for c in r.columns} == {
        "身份证": "resident_id", "手机": "mobile", "卡号": "bank_card", "邮箱": "email", "随机": None,
    }
    assert col(r, "手机").type == "integer"


def test_infer_python_rules():
    assert infer.infer_values(["1", "2", "N/A"]) == "integer"
    assert infer.infer_values(["0", "1", "1"]) == "integer"
    assert infer.infer_values(["是", "否"]) == "boolean"
    assert infer.infer_values(["007", "12"]) == "string"
    assert infer.infer_values(["20180901", "20191231"]) == "date"
    assert infer.infer_values(["2018-09-01 12:00", "2018-09-02"]) == "datetime"
    assert infer.infer_values(["1.5", "2"]) == "number"
    assert infer.infer_values(["a", "1"]) == "string"
    assert infer.parse_date("2018年9月1日") == dt.date(2018, 9, 1)
    assert infer.parse_date("2018.9.1") == dt.date(2018, 9, 1)
    assert formats.clean_column_names(["", "a", "A", "_id"]) == ["column_1", "a", "A_2", "_id_2"]


def test_real_xls_workbook(tmp_path, run_ingest):
    """A genuine BIFF8 .xls (written with xlwt): Chinese text, numbers, Excel dates, booleans, a title
    row above the header, a second sheet chosen by name."""
    import datetime as dt

    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    first = book.add_sheet("说明")
    first.write(0, 0, "本表为示例")
    sheet = book.add_sheet("停车场")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    sheet.write(0, 0, "广州市公共停车场一览表")  # a caption above the header
    for c, name in enumerate(["名称", "所属区", "泊位数", "收费标准", "开放日期", "是否收费"]):
        sheet.write(1, c, name)
    rows = [("天河城停车场", "天河区", 1200, 8.5, dt.date(2018, 9, 1), True),
            ("北京路停车场", "越秀区", 300, 10.0, dt.date(2019, 1, 15), True),
            ("南沙湿地停车场", "南沙区", 80, 0, dt.date(2020, 5, 20), False)]
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write(r, c, dt.datetime(value.year, value.month, value.day), date_style)
            else:
                sheet.write(r, c, value)
    path = tmp_path / "parking.xls"
    book.save(str(path))

    result = run_ingest(path, sheet="停车场")
    assert result.format == "xls" and result.rows == 3
    assert [(c.name, c.type) for c in result.columns] == [
        ("名称", "string"), ("所属区", "string"), ("泊位数", "integer"), ("收费标准", "number"),
        ("开放日期", "date"), ("是否收费", "boolean")]
    got = read_parquet(result)
    assert got[0][1:] == ("天河城停车场", "天河区", 1200, 8.5, dt.date(2018, 9, 1), True)
    assert got[2][1:] == ("南沙湿地停车场", "南沙区", 80, 0.0, dt.date(2020, 5, 20), False)
    assert any("title row" in w for w in result.warnings)
    with pytest.raises(IngestError) as e:
        run_ingest(path, sheet="不存在的表")
    assert e.value.code == "bad_spreadsheet"


def test_large_file_sampled_typing_matches_the_full_count(tmp_path, run_ingest, monkeypatch):
    """Above SAMPLE_ABOVE_ROWS a strided sample proposes types and a scan over every row confirms them;
    the outcome must equal counting every flag over every row, including values the sample never saw."""
    import duckdb

    from cityhub.datastore import ingest as ingest_mod

    n = 400_000
    step = n // ingest_mod.SAMPLE_ROWS
    path = tmp_path / "big.csv"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT
        i AS 编号,
        CASE WHEN i = 399_999 THEN '0042' ELSE CAST(i * 7 AS VARCHAR) END AS 代码,
        CASE WHEN i % {step} <> 0 AND i > 200_000 THEN CAST(i AS VARCHAR) || '.5' ELSE CAST(i AS VARCHAR) END AS 金额,
        CASE WHEN i = 123_457 THEN '是' ELSE CAST(i % 2 AS VARCHAR) END AS 标志,
        CASE WHEN i % 997 = 1 THEN '无效值' ELSE CAST(DATE '2018-01-01' + CAST(i % 3000 AS INTEGER) AS VARCHAR) END AS 日期,
        CASE WHEN i % {step * 2} = 1 THEN CAST(i AS VARCHAR) ELSE NULL END AS 稀疏,
        '文本' || CAST(i % 13 AS VARCHAR) AS 名称
      FROM range({n}) t(i)) TO '{path}' (HEADER, DELIMITER ',')""")
    con.close()

    sampled = run_ingest(path)
    monkeypatch.setattr(ingest_mod, "SAMPLE_ABOVE_ROWS", 10**9)
    exact = run_ingest(path)
    got = {c.name: (c.type, c.bad_cells, c.nulls) for c in sampled.columns}
    assert got == {c.name: (c.type, c.bad_cells, c.nulls) for c in exact.columns}
    assert got["编号"][0] == "integer"
    assert got["代码"][0] == "string"  # one leading-zero code, outside the sample, keeps the column text
    assert got["金额"][:2] == ("number", 0)  # decimals only between sampled rows
    assert got["标志"][0] == "boolean"  # a single boolean word outside the sample
    assert got["日期"][:2] == ("date", len(range(1, n, 997)))  # every bad cell counted, not estimated
    assert got["稀疏"][0] == "integer"
    assert sampled.bad_cell_count == exact.bad_cell_count
