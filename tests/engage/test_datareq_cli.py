"""``cityhub requests`` as the operator uses it (typer's runner, the data-request tests' store): list, route,
answer (as the department's steward), show, escalate; errors exit with 2 and say why."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from cityhub.cli.main import app
from tests.conftest import call_as
from tests.engage.conftest import ask

runner = CliRunner()


def test_cli_lists_routes_and_answers(w: dict[str, Any]) -> None:
    assert runner.invoke(app, ["requests", "--help"]).exit_code == 0
    r = ask(title="地铁站出入口客流")
    listed = runner.invoke(app, ["requests", "list", "--status", "submitted"])
    assert listed.exit_code == 0, listed.output
    assert f"│ {r['id']} " in listed.output or f"┃ {r['id']} " in listed.output, listed.output
    unknown = runner.invoke(app, ["requests", "route", str(r["id"]), "gz-nowhere"])
    assert unknown.exit_code == 2 and "department" in unknown.output
    routed = runner.invoke(app, ["requests", "route", str(r["id"]), "gz-transport", "--note", "交通数据"])
    assert routed.exit_code == 0 and "routed" in routed.output and "gz-transport" in routed.output, routed.output
    # the data office may not answer before escalation; another department's steward may not either
    refused = runner.invoke(app, ["requests", "answer", str(r["id"]), "will_open", "--open-by", "2030-01-01"])
    assert refused.exit_code == 2 and "escalated" in refused.output
    wrong = runner.invoke(app, ["requests", "answer", str(r["id"]), "will_open", "--open-by", "2030-01-01",
                                "--as", "eco_steward"])
    assert wrong.exit_code == 2 and "未分派给您的部门" in wrong.output
    bad = runner.invoke(app, ["requests", "answer", str(r["id"]), "cannot_open", "--as", "steward"])
    assert bad.exit_code == 2 and "legal_basis" in bad.output
    done = runner.invoke(app, ["requests", "answer", str(r["id"]), "will_open", "--open-by", "2030-01-01",
                               "--text", "纳入开放计划", "--as", "steward"])
    assert done.exit_code == 0, done.output
    assert call_as(None, "data_request_show", {"id": r["id"]})["answer"]["open_by"] == "2030-01-01"
    shown = runner.invoke(app, ["requests", "show", str(r["id"])])
    assert shown.exit_code == 0 and "answered" in shown.output and "will_open" in shown.output
    as_json = runner.invoke(app, ["requests", "list", "--department", "gz-transport", "--json", "--limit", "5"])
    assert as_json.exit_code == 0 and '"summary"' in as_json.output
    esc = runner.invoke(app, ["requests", "escalate"])
    assert esc.exit_code == 0 and "escalated" in esc.output
