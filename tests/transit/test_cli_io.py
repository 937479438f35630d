"""The transit input commands (registered on a group by ``register``; the merger attaches them to ``transit``)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import typer
from typer.testing import CliRunner

from cityhub.cli.transit_io import register
from tests.transit.test_cards import ROWS, write
from tests.transit.test_gtfs import GOOD, write_feed

app = typer.Typer()
register(app)
runner = CliRunner()


def test_gtfs_check(tmp_path: Path) -> None:
    files = dict(GOOD)
    files["stop_times.txt"] = GOOD["stop_times.txt"] + "T1,08:10:00,08:10:00,GHOST,3\n"
    feed = write_feed(tmp_path, files)
    res = runner.invoke(app, ["gtfs-check", str(feed), "--out-dir", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "foreign_key_violation" in res.output and "errors 1" in res.output
    assert pq.read_table(tmp_path / "o" / "stops.parquet").num_rows == 5
    res = runner.invoke(app, ["gtfs-check", str(feed), "--json", "--fail-on-error"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["errors"] == 1
    res = runner.invoke(app, ["gtfs-check", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "GTFS" in res.output


def test_cards_load(tmp_path: Path) -> None:
    src = write(tmp_path, "szt.csv", ROWS)
    res = runner.invoke(app, ["cards-load", str(src), "--preset", "shenzhen", "--out", str(tmp_path / "t.parquet"),
                              "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)[0]
    assert report["rows_loaded"] == 4 and report["rejected"]["bad_time"] == 2
    assert pq.read_table(tmp_path / "t.parquet").num_rows == 4
    res = runner.invoke(app, ["cards-load", str(src), "--preset", "tokyo"])
    assert res.exit_code == 2 and "Unknown preset" in res.output


def test_hubs_simulate_and_analyse(tmp_path: Path) -> None:
    pings = tmp_path / "p.parquet"
    res = runner.invoke(app, ["hubs-simulate", "--day", "2026-10-01", "--baseline", "2026-09-24", "--people", "300",
                              "--out", str(pings), "--truth", str(tmp_path / "truth.parquet")])
    assert res.exit_code == 0, res.output
    truth = pq.read_table(tmp_path / "truth.parquet")
    res = runner.invoke(app, ["hubs-analyse", str(pings), "--day", "2026-10-01", "--baseline", "2026-09-24",
                              "--out-dir", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert pq.read_table(tmp_path / "a" / "stays.parquet").num_rows == truth.num_rows
    assert pq.read_table(tmp_path / "a" / "surge.parquet").num_rows > 0
    assert "倍数 ratio" in res.output
    res = runner.invoke(app, ["hubs-simulate", "--day", "2026-13-01"])
    assert res.exit_code == 2
