"""Smart-card and AVL readers: the Shenzhen Tong preset on the real sample files, a generic mapping, bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cityhub.transit.cards import (
    SHENZHEN,
    AvlMapping,
    CardMapping,
    load_taps,
    mapping_from_dict,
    mapping_from_file,
    read_avl,
    read_taps,
)
from cityhub.transit.ioreport import TransitInputError
from cityhub.transit.schema import AVL, TAPS
from tests.conftest import SHARED

# shared/ lies beside the clone (CI, the main checkout) or beside the folder of worktrees
DATA = next((d for d in (SHARED / "data" / "smartcard",
                         Path(__file__).resolve().parents[2].parent.parent / "shared" / "data" / "smartcard") if d.is_dir()),
            SHARED / "data" / "smartcard")
SAMPLE = DATA / "szt-2018-08-31-sample.csv"
PAGE = DATA / "szt-2018-09-01-page14.csv"

HEADER = "deal_date,close_date,card_no,deal_value,deal_type,company_name,car_no,station,conn_mark,deal_money,equ_no\n"
ROWS = [
    "2018-09-01 08:00:00,2018-09-01 00:00:00,CARD1,200,巴士,巴士集团,01620D,M506,0,160,1",
    "2018-09-01 08:30:00,2018-09-01 00:00:00,CARD1,0,地铁入站,地铁五号线,IGT-105,布吉,0,0,2",
    "2018-09-01 08:30:00,2018-09-01 00:00:00,CARD1,0,地铁入站,地铁五号线,IGT-105,布吉,0,0,2",   # duplicate
    "2018-09-01 09:01:00,2018-09-01 00:00:00,CARD1,500,地铁出站,地铁五号线,OGT-101,长龙,0,475,3",
    "2018-09-01 09:05:00,2018-09-01 00:00:00,,200,巴士,巴士集团,01620D,M506,0,160,4",          # no card
    "2018-09-31 09:05:00,2018-09-01 00:00:00,CARD2,200,巴士,巴士集团,01620D,M506,0,160,5",     # no such day
    "yesterday,2018-09-01 00:00:00,CARD2,200,巴士,巴士集团,01620D,M506,0,160,6",               # not a time
    "2018-09-01 09:07:00,2018-09-01 00:00:00,CARD2,200,出租车,某公司,粤A1,X,0,160,7",           # unknown type
    "2018-09-01 09:08:00,2018-09-01 00:00:00,CARD2,200,巴士,巴士集团,01620D,M506,0,abc,8",     # bad fare: kept
]


def write(tmp_path: Path, name: str, rows: list[str], header: str = HEADER, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes((header + "\n".join(rows) + "\n").encode(encoding))
    return p


#: the first 300 rows of each file, committed (tests/data/README.md), for a clone with no shared/ beside it
EXCERPT = Path(__file__).resolve().parents[1] / "data" / "smartcard"
KINDS = {"巴士": "bus/tap_on", "地铁入站": "metro/tap_in", "地铁出站": "metro/tap_out"}


def _expected(path: Path) -> tuple[int, dict[str, int], int]:
    """Rows, rows per kind and cards, counted with the csv module (independently of the reader under test)."""
    import collections
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kinds = collections.Counter(KINDS[r["deal_type"]] for r in rows)
    return len(rows), dict(kinds), len({r["card_no"] for r in rows})


@pytest.mark.parametrize("source", ["shared", "excerpt"])
def test_both_shenzhen_files_load_whatever_their_column_order(source: str) -> None:
    full = source == "shared"
    if full and not (SAMPLE.is_file() and PAGE.is_file()):
        pytest.skip(f"{DATA} is not beside this checkout; the committed excerpt is tested instead")
    sample, page = (SAMPLE, PAGE) if full else (EXCERPT / SAMPLE.name, EXCERPT / PAGE.name)
    a, ra = read_taps(sample)
    b, rb = read_taps(page)
    assert a.schema == TAPS and b.schema == TAPS
    for report, path in ((ra, sample), (rb, page)):
        rows, kinds, _cards = _expected(path)
        assert report.rows_read == rows and report.rejected == {}
        assert report.rows_loaded == rows - report.duplicates
        if report.duplicates == 0:
            assert report.by_type == kinds
    if full:
        assert (ra.rows_read, ra.rows_loaded, ra.rejected, ra.duplicates) == (10000, 10000, {}, 0)
        assert ra.by_type == {"bus/tap_on": 205, "metro/tap_in": 9360, "metro/tap_out": 435}
        # page14 has one row twice, byte for byte in its fields
        assert (rb.rows_read, rb.rows_loaded, rb.duplicates) == (37000, 36999, 1)
        assert rb.by_type == {"bus/tap_on": 18118, "metro/tap_in": 9620, "metro/tap_out": 9261}
        assert ra.cards == 9523 and rb.cards == 35935
    else:
        assert (ra.cards, rb.cards) == (_expected(sample)[2], _expected(page)[2])
    # different column orders, same meaning: a metro row's station is the stop and its line the route
    first = {r["card_id"]: r for r in b.to_pylist() if r["card_id"] == "FIAAAEIFD"}["FIAAAEIFD"]
    assert (first["mode"], first["kind"], first["stop_id"], first["route_id"], first["fare_fen"]) == \
        ("metro", "tap_out", "太安", "地铁五号线", 380)
    bus = next(r for r in b.to_pylist() if r["card_id"] == "FHEFIHBJC")
    assert (bus["mode"], bus["stop_id"], bus["route_id"], bus["vehicle_id"], bus["fare_fen"]) == \
        ("bus", None, "M506", "01620D", 160)
    both, reports = load_taps([sample, page])
    assert both.num_rows == a.num_rows + b.num_rows
    assert [r.rows_loaded for r in reports] == [ra.rows_loaded, rb.rows_loaded]


def test_bad_rows_are_rejected_with_their_reason(tmp_path: Path) -> None:
    table, report = read_taps(write(tmp_path, "bad.csv", ROWS))
    assert report.rows_read == 9
    assert report.rejected == {"missing_card": 1, "bad_time": 2, "unknown_type": 1}
    assert report.unknown_types == {"出租车": 1}
    assert report.duplicates == 1 and report.rows_loaded == 4 and report.bad_fare == 1
    assert report.cards == 2
    assert [(r["card_id"], r["kind"], r["fare_fen"]) for r in table.to_pylist()] == [
        ("CARD1", "tap_on", 160), ("CARD1", "tap_in", 0), ("CARD1", "tap_out", 475), ("CARD2", "tap_on", None)]
    assert any("yesterday" in e for e in report.examples["bad_time"])


def test_gb18030_csv_and_parquet_give_the_same_taps(tmp_path: Path) -> None:
    utf8, _ = read_taps(write(tmp_path, "u.csv", ROWS))
    gbk, report = read_taps(write(tmp_path, "g.csv", ROWS, encoding="gb18030"))
    assert report.encoding == "gb18030" and gbk.equals(utf8)
    names = HEADER.strip().split(",")
    cols = list(zip(*[r.split(",") for r in ROWS], strict=True))
    pq.write_table(pa.table({n: list(c) for n, c in zip(names, cols, strict=True)}), tmp_path / "p.parquet")
    par, _ = read_taps(tmp_path / "p.parquet")
    assert par.equals(utf8)


def test_missing_column_is_a_clear_error_and_other_files_still_load(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.csv", ["x,y"], header="deal_date,card_no\n")
    good = write(tmp_path, "good.csv", ROWS[:4])
    with pytest.raises(TransitInputError) as err:
        read_taps(broken)
    assert "deal_type" in err.value.zh and "lacks" in err.value.en
    table, reports = load_taps([broken, good])
    assert reports[0].error and "缺少列" in reports[0].error and reports[1].rows_loaded == 3
    assert table.num_rows == 3


def test_generic_mapping_from_yaml_with_epoch_times_yuan_and_a_station_list(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "name: gz-lingnan\n"
        "fields: {card_id: cid, ts: t, type: [kind], stop_id: {metro: stn}, route_id: {bus: line}, fare: yuan}\n"
        "time_format: epoch_s\n"
        "fare_scale: 100\n"
        "types:\n  IN: [metro, tap_in]\n  OUT: {mode: metro, kind: tap_out}\n  BUS: [bus, tap_on]\n"
        "stops:\n  metro: {体育西路: GZM-TYXL, 珠江新城: GZM-ZJXC}\n".replace("[kind]", "kind"),
        encoding="utf-8")
    mapping = mapping_from_file(spec)
    src = write(tmp_path, "gz.csv", [
        "A,1535760000,IN,体育西路,,0",        # 2018-09-01 00:00:00 UTC = 08:00 in Guangzhou
        "A,1535761800,OUT,珠江新城,,3.5",
        "A,1535763600,BUS,,B10,2",
        "B,1535763600,IN,火星站,,0",          # not a known station
    ], header="cid,t,kind,stn,line,yuan\n")
    table, report = read_taps(src, mapping)
    assert report.rejected == {"unknown_stop": 1} and report.unknown_stops == {"火星站": 1}
    rows = table.to_pylist()
    assert [(r["ts"].hour, r["stop_id"], r["route_id"], r["fare_fen"]) for r in rows] == [
        (8, "GZM-TYXL", None, 0), (8, "GZM-ZJXC", None, 350), (9, None, "B10", 200)]
    # the same mapping as JSON, and a preset with an override
    (tmp_path / "m.json").write_text(json.dumps({"preset": "shenzhen", "fare_scale": 2}), encoding="utf-8")
    m2 = mapping_from_file(tmp_path / "m.json")
    assert m2.fare_scale == 2 and m2.fields == SHENZHEN.fields


def test_bad_mappings_say_what_is_wrong() -> None:
    with pytest.raises(TransitInputError, match="card_id"):
        CardMapping(name="x", fields={"ts": "a", "type": "b"}, types={})
    with pytest.raises(TransitInputError, match="unknown mode"):
        CardMapping(name="x", fields={"card_id": "c", "ts": "a", "type": "b"}, types={"X": ("ferry", "tap_on")})
    with pytest.raises(TransitInputError, match="Unknown preset"):
        mapping_from_dict({"preset": "tokyo"})


def test_avl_reader(tmp_path: Path) -> None:
    src = write(tmp_path, "avl.csv", [
        "V1,2026-01-05 08:00:00,23.13,113.32,B10,0",
        "V1,2026-01-05 08:00:30,23.131,113.321,B10,0",
        "V1,2026-01-05 08:00:30,23.131,113.321,B10,0",   # duplicate
        "V2,2026-01-05 08:00:00,0,0,B10,1",              # null island
        "V2,2026/01/05 08:01,23.2,113.3,B10,1",          # other time format: accepted (two formats given)
        ",2026-01-05 08:00:00,23.2,113.3,B10,1",
        "V3,2026-01-05 08:00:00,123.2,113.3,,",
    ], header="bus,time,y,x,line,dir\n")
    mapping = AvlMapping(name="gz", fields={"vehicle_id": "bus", "ts": "time", "lat": "y", "lon": "x",
                                            "route_id": "line", "direction": "dir"},
                         time_format=("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M"))
    table, report = read_avl(src, mapping)
    assert table.schema == AVL
    assert report.rejected == {"bad_coordinates": 2, "missing_vehicle": 1} and report.duplicates == 1
    assert [(r["vehicle_id"], r["ts"].minute, r["direction"]) for r in table.to_pylist()] == [
        ("V1", 0, 0), ("V1", 0, 0), ("V2", 1, 1)]
