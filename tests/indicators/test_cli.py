"""``cityhub indicators`` as the operator uses it: import a city's own table (CSV, YAML, GB18030), list, report as
a steward, review, assess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cityhub.cli.main import app
from tests.conftest import call_as

runner = CliRunner()
CSV = ("code,area,name,unit,baseline_year,baseline_value,target_year,target_value,direction,department\n"
       "cli.a,industry,软件收入,亿元,2015,\"2,259\",2020,3600,at_least,gz-transport\n"
       "cli.b,e_government,网办比例,%,,,2020,95,at_least,gz-transport\n")


def test_import_list_report_review(iw: dict[str, Any], tmp_path: Path) -> None:
    assert runner.invoke(app, ["indicators", "--help"]).exit_code == 0
    f = tmp_path / "plan.csv"
    f.write_bytes(CSV.encode("gb18030"))
    done = runner.invoke(app, ["indicators", "import", str(f)])
    assert done.exit_code == 0, done.output
    assert "created 2" in done.output
    assert call_as(None, "indicator_show", {"code": "cli.a"})["baseline_value"] == 2259
    y = tmp_path / "plan.yaml"
    y.write_text("- {code: cli.c, area: other, name: 其他, unit: 个, target_year: 2020, target_value: 3}\n",
                 encoding="utf-8")
    assert runner.invoke(app, ["indicators", "import", str(y)]).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("code,area,name,unit,target_year,target_value,max_value\ncli.d,other,坏,%,2020,50,300\n",
                   encoding="utf-8")
    refused = runner.invoke(app, ["indicators", "import", str(bad)])
    assert refused.exit_code == 2 and "row 1" in refused.output
    listed = runner.invoke(app, ["indicators", "list"])
    assert listed.exit_code == 0 and "cli.a" in listed.output
    other = runner.invoke(app, ["indicators", "report", "cli.a", "2018", "3000", "--unit", "亿元",
                                "--evidence-url", "https://x.gov.cn", "--as", "eco_steward"])
    assert other.exit_code == 2 and "本部门" in other.output
    evidence = tmp_path / "公报.txt"
    evidence.write_text("2018 统计公报", encoding="utf-8")
    made = runner.invoke(app, ["indicators", "report", "cli.a", "2018", "3000", "--unit", "亿元",
                               "--evidence-file", str(evidence), "--as", "steward"])
    assert made.exit_code == 0, made.output
    oid = int(made.output.split("#")[1].split()[0])
    queue = runner.invoke(app, ["indicators", "review"])
    assert queue.exit_code == 0 and "cli.a" in queue.output
    assert runner.invoke(app, ["indicators", "review", str(oid)]).exit_code == 2  # neither approve nor reject
    ok = runner.invoke(app, ["indicators", "review", str(oid), "--approve", "--as", "admin"])
    assert ok.exit_code == 0 and "approved" in ok.output
    assert ["2018", 3000.0] in call_as(None, "indicator_show", {"code": "cli.a"})["series"]
    csv_out = runner.invoke(app, ["indicators", "assess", "annual", "--year", "2018", "--format", "csv"])
    assert csv_out.exit_code == 0 and "cli.a" in csv_out.output
