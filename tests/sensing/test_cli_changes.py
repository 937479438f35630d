"""``cityhub sensing`` rule, webhook and gateway commands: change, delete, assign (audited like every action), and
the CSV import registering gateways first so devices in any chunk may name them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cityhub.cli.main import app
from tests.conftest import call_as

runner = CliRunner()


def _ok(*args: str) -> str:
    r = runner.invoke(app, ["sensing", *args])
    assert r.exit_code == 0, r.output
    return r.output


def test_rule_webhook_and_gateway_commands(sqlite_empty: Any, tmp_path: Path) -> None:
    _ok("rule-create", "pm", "air_quality", "--alarm-type", "pm25_high",
        "--condition", json.dumps({"attr": "pm25", "op": ">", "value": 75}))
    _ok("rule-update", "pm", "--severity", "critical", "--condition", json.dumps({"attr": "pm25", "op": ">",
                                                                                  "value": 60}))
    (rule,) = call_as("system", "rule_list", {})
    assert rule["severity"] == "critical" and rule["condition"]["value"] == 60
    bad = runner.invoke(app, ["sensing", "rule-update", "pm", "--severity", "huge"])
    assert bad.exit_code != 0
    _ok("rule-delete", "pm")
    assert call_as("system", "rule_list", {}) == []
    assert runner.invoke(app, ["sensing", "rule-delete", "pm"]).exit_code != 0  # gone
    _ok("webhook-create", "ops", "https://ops.example.gov.cn/hook")
    _ok("webhook-update", "ops", "--min-severity", "major", "--no-enabled")
    assert "major" in _ok("webhook-list")
    assert call_as("system", "webhook_list", {})[0]["enabled"] is False
    _ok("webhook-delete", "ops")
    assert call_as("system", "webhook_list", {}) == []
    actions = [e["action"] for e in call_as("system", "audit_list", {"limit": 20})]
    assert {"rule_update", "rule_delete", "webhook_update", "webhook_delete"} <= set(actions)
    # gateways first: a device of the first chunk names a gateway listed at the end of the file
    src = tmp_path / "fleet.csv"
    rows = [f"D{i:03d},noise,n{i},GW-1" for i in range(600)] + ["GW-1,gateway,the gateway,"]
    src.write_text("code,type,name,gateway\n" + "\n".join(rows) + "\n", encoding="utf-8")
    _ok("device-import", str(src), "--tokens", str(tmp_path / "tokens.csv"))
    assert call_as("system", "device_show", {"code": "D000"})["gateway_device"] == "GW-1"
    _ok("device-create", "D-new", "noise", "--gateway", "GW-1")
    _ok("device-gateway", "D-new")  # unassign
    assert call_as("system", "device_show", {"code": "D-new"})["gateway_device"] == ""
    assert runner.invoke(app, ["sensing", "device-gateway", "D-new", "D000"]).exit_code != 0  # not a gateway
