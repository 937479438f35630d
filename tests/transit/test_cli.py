"""``cityhub transit simulate | run | validate`` end to end on a tiny day."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from cityhub.cli.main import app


def test_simulate_run_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    sim, out = tmp_path / "sim", tmp_path / "out"
    r = runner.invoke(app, ["transit", "simulate", str(sim), "--taps", "8000", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert pq.read_table(sim / "taps.parquet").num_rows > 5000
    r = runner.invoke(app, ["transit", "run", str(sim), str(out), "--max-walk", "750"])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["params"]["max_walk_m"] == 750
    assert report["stages"]["stages"] == pq.read_table(out / "stages.parquet").num_rows
    assert (out / "od_district.parquet").exists() and (out / "line_load.parquet").exists()
    r = runner.invoke(app, ["transit", "validate", str(out), str(sim)])
    assert r.exit_code == 0, r.output
    v = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    assert v["targets"]["rate_multi_tap"]["met"]


def test_run_reports_missing_inputs_and_columns(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["transit", "run", str(tmp_path), str(tmp_path / "o")])
    assert r.exit_code == 2 and "missing input file" in r.output
    sim = tmp_path / "sim"
    assert runner.invoke(app, ["transit", "simulate", str(sim), "--taps", "3000"]).exit_code == 0
    taps = pq.read_table(sim / "taps.parquet").drop_columns(["card_id"])
    pq.write_table(taps, sim / "taps.parquet")
    r = runner.invoke(app, ["transit", "run", str(sim), str(tmp_path / "o")])
    assert r.exit_code == 2 and "card_id" in r.output and "缺少" in r.output
