"""``cityhub sharing`` as the operator uses it (typer's runner, the sharing tests' store)."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from cityhub.cli.main import app
from tests.conftest import call_as
from tests.sharing.test_flow import apply

runner = CliRunner()


def test_cli_lists_answers_and_revokes(w: dict[str, Any]) -> None:
    assert runner.invoke(app, ["sharing", "--help"]).exit_code == 0
    req = apply(w)
    listed = runner.invoke(app, ["sharing", "requests", "--box", "all"])
    assert listed.exit_code == 0, listed.output
    assert f"│ {req['id']} " in listed.output or f"┃ {req['id']} " in listed.output, listed.output
    # the data office may not answer before escalation; the provider's steward may
    refused = runner.invoke(app, ["sharing", "approve", str(req["id"])])
    assert refused.exit_code == 2 and "escalated" in refused.output
    wider = runner.invoke(app, ["sharing", "approve", str(req["id"]), "--as", "steward", "--columns", "身份证号",
                                "--note", "x"])
    assert wider.exit_code == 2 and "columns" in wider.output
    done = runner.invoke(app, ["sharing", "approve", str(req["id"]), "--as", "steward", "--columns", "所属区",
                               "--rows", '{"所属区": ["天河区"]}', "--days", "30", "--note", "只提供天河区"])
    assert done.exit_code == 0, done.output
    shown = call_as("eco_steward", "share_request_show", {"id": req["id"]})
    assert shown["status"] == "narrowed" and shown["grants"][0]["row_filter"] == {"所属区": ["天河区"]}
    gid = shown["grants"][0]["id"]
    grants = runner.invoke(app, ["sharing", "grants"])
    assert grants.exit_code == 0 and str(gid) in grants.output
    revoked = runner.invoke(app, ["sharing", "revoke", str(gid), "--reason", "项目结束"])
    assert revoked.exit_code == 0, revoked.output
    assert not call_as("eco_steward", "share_request_show", {"id": req["id"]})["grants"][0]["in_force"]
    esc = runner.invoke(app, ["sharing", "escalate"])
    assert esc.exit_code == 0 and "escalated" in esc.output
    made = runner.invoke(app, ["sharing", "system-register", "GZ-EE/cli-check", "命令行登记", "--department",
                               "gz-ecology-environment"])
    assert made.exit_code == 0 and "sys_" in made.output
