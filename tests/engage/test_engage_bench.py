"""The all-in-one issue 15 benchmark (``benchmarks/engage_bench.py``): its met / not-met logic, and a run at tiny
sizes (200 datasets, 100 requests, 2,000 activities) that fills one store with everything and writes every
measured line, the fill times, the store size and a verdict per target."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks.engage_bench import TARGETS, verdicts

ROOT = Path(__file__).resolve().parents[2]


def test_verdicts_met_not_met_and_not_measured():
    result = {"progress_page": {"p95_ms": 100.0}, "dataset_page_hot": {"p95_ms": 100.01},
              "dataset_page_hot_first_view": {"p95_ms": float("nan")},
              "package_activity_list_action": {"p95_ms": 12.0}, "package_activity_list_api": {"p95_ms": 51.0},
              "annual_report_cold": {"max_ms": 9_999.0, "p95_ms": 20_000.0}}
    v = verdicts(result)
    assert set(v) == {key for key, *_ in TARGETS}
    assert v["progress_page"]["met"] is True  # the bound itself meets "≤"
    assert v["dataset_page_hot"]["met"] is False
    assert v["dataset_page_hot_first_view"]["met"] is None  # NaN: not measured
    assert v["package_activity_list_action"]["met"] is True
    assert v["package_activity_list_api"]["met"] is False and v["package_activity_list_api"]["target"] == 50.0
    assert v["annual_report_cold"]["met"] is True  # judged on the slowest run, not the p95 key
    assert v["annual_report_cold"]["figure"] == "max_ms" and v["annual_report_cold"]["value"] == 9_999.0
    assert v["requests_board_first_page"] == {**v["requests_board_first_page"], "value": None, "met": None}


def test_tiny_run_fills_one_store_and_writes_every_figure(tmp_path):
    out = tmp_path / "engage.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.engage_bench", "--datasets", "200", "--requests", "100",
         "--activities", "2000", "--hot", "1", "--deep", "10", "--samples", "5", "--out", str(out),
         "--home", str(tmp_path / "stores")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["sizes"]["datasets"] == 200 and len(doc["load_average_before"]) == 3
    assert len(doc["load_average_after"]) == 3
    [run] = doc["runs"]
    assert run["backend"] == "sqlite"
    # one store holds all of it: the counts are read back from it
    counts = run["counts"]
    assert counts["datasets"] == 201 and counts["requests"] == 100  # 200 generated + the indicator values' dataset
    assert counts["activities"] >= 2000  # plus those the actions recorded while filling
    assert counts["posts"] >= 3300  # one hot dataset: 300 threads x (1 + 10 replies)
    assert counts["indicators"] > 30
    assert set(run["fill"]) >= {"datasets_s", "indicators_s", "requests_s", "posts_s", "activities_s", "total_s"}
    assert run["store_bytes"] > 1_000_000
    for key in ("progress_page", "progress_page_cold_once", "dataset_page_hot", "dataset_page_hot_first_view",
                "dataset_page_no_discussion", "package_activity_list_action", "package_activity_list_api",
                "annual_report_cold", "requests_board_first_page"):
        line = run[key]
        assert line["n"] >= 1 and 0 < line["p50_ms"] <= line["p95_ms"] <= line["max_ms"], (key, line)
    assert run["progress_page"]["n"] == 5 and run["package_activity_list_action"]["n"] == 10
    assert run["targets"] == verdicts(run)
    for key, v in run["targets"].items():
        assert not math.isnan(v["value"]) and v["met"] is (v["value"] <= v["target"]), key
    assert "target annual_report_cold" in proc.stdout
