"""Rules and webhooks changed and deleted (rule_update, rule_delete, webhook_update, webhook_delete): over the API,
audited, platform admins only (a department admin or steward of any department is refused, before the input is
read), bad input refused with per-field messages, and a deleted rule's past alarms stay readable."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.errors import NotAuthorized
from tests.conftest import call_as, token_for, unique
from tests.sensing.conftest import bearer as _h


def _rule(client: TestClient, **over: Any) -> dict[str, Any]:
    """A rule on one device of its own (a type-wide rule would raise alarms in other tests sharing the store)."""
    if "device" not in over:
        over["device"] = client.post("/api/sensing/devices", headers=_h(token_for("admin")),
                                     json={"code": unique("aq"), "type": "air_quality"}).json()["code"]
    body = {"name": unique("r"), "device_type": "air_quality", "alarm_type": unique("pm25"), "severity": "major",
            "condition": {"attr": "pm25", "op": ">", "value": 75}, **over}
    r = client.post("/api/sensing/rules", headers=_h(token_for("admin")), json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_rule_update_changes_what_raises_alarms(client: TestClient) -> None:
    admin = _h(token_for("admin"))
    r = client.post("/api/sensing/devices", headers=admin, json={"code": unique("aq"), "type": "air_quality"})
    dev = r.json()
    rule = _rule(client, device=dev["code"])
    send = lambda v: client.post("/api/telemetry", headers=_h(dev["token"]), json={"values": {"pm25": v}}).json()  # noqa: E731
    assert send(50)["alarms_raised"] == 0
    r = client.patch(f"/api/sensing/rules/{rule['name']}", headers=admin,
                     json={"condition": {"attr": "pm25", "op": ">", "value": 40}, "severity": "critical"})
    assert r.status_code == 200, r.text
    assert r.json()["severity"] == "critical" and r.json()["condition"]["value"] == 40
    assert send(45)["alarms_raised"] == 1  # the new threshold applies at once (the pipeline's cache is refreshed)
    audit = call_as("admin", "audit_list", {"action": "rule_update", "limit": 1})[0]
    assert audit["target"] == rule["name"] and audit["outcome"] == "success"
    # disabled: no more evaluation
    assert client.patch(f"/api/sensing/rules/{rule['name']}", headers=admin, json={"enabled": False}).json()[
        "enabled"] is False
    listed = {x["name"]: x for x in client.get("/api/sensing/rules", headers=admin, params={"limit": 10000}).json()}
    assert listed[rule["name"]]["enabled"] is False


def test_rule_update_refuses_bad_input(client: TestClient) -> None:
    admin = _h(token_for("admin"))
    rule = _rule(client)
    url = f"/api/sensing/rules/{rule['name']}"
    r = client.patch(url, headers=admin, json={"condition": {"attr": "pm25", "op": "~", "value": 1}})
    assert r.status_code == 422 and "condition" in r.json()["error"]["fields"]
    r = client.patch(url, headers=admin, json={"condition": {"attr": "tilt", "op": ">", "value": 1}})
    assert r.status_code == 422 and "tilt" in r.text  # an attribute the device type lacks
    assert client.patch(url, headers=admin, json={"severity": "apocalyptic"}).status_code == 422
    assert client.patch(url, headers=admin, json={"device_type": "noise"}).status_code == 422  # cannot change
    assert client.patch(url, headers=admin, json={"alarm_type": ""}).status_code == 422
    assert client.patch("/api/sensing/rules/no-such-rule", headers=admin, json={"enabled": False}).status_code == 404
    assert client.delete("/api/sensing/rules/no-such-rule", headers=admin).status_code == 404
    assert client.delete("/api/sensing/rules/bad%20name!", headers=admin).status_code == 422


@pytest.mark.parametrize("who", ["deptadmin", "steward", "eco_steward", "analyst", "citizen"])
def test_rule_and_webhook_changes_refuse_other_roles_and_departments(client: TestClient, who: str) -> None:
    """Rules and webhooks belong to the platform (no department owns one): a department admin or steward of any
    department — the transport bureau's, the ecology bureau's — is refused with 403, and nothing changes."""
    admin = _h(token_for("admin"))
    rule = _rule(client)
    hook = client.post("/api/sensing/webhooks", headers=admin,
                       json={"name": unique("h"), "url": "https://ops.example.gov.cn/hook"}).json()
    them = _h(token_for(who))
    for method, url, body in (("PATCH", f"/api/sensing/rules/{rule['name']}", {"severity": "minor"}),
                              ("DELETE", f"/api/sensing/rules/{rule['name']}", None),
                              ("PATCH", f"/api/sensing/webhooks/{hook['name']}", {"enabled": False}),
                              ("DELETE", f"/api/sensing/webhooks/{hook['name']}", None)):
        r = client.request(method, url, headers=them, json=body)
        assert r.status_code == 403, (method, url, r.status_code)
    for action, data in (("rule_update", {"name": rule["name"], "severity": "minor"}),
                         ("rule_delete", {"name": rule["name"]}), ("webhook_delete", {"name": hook["name"]})):
        with pytest.raises(NotAuthorized):
            call_as(who, action, data)
    assert call_as("admin", "audit_list", {"action": "webhook_delete", "limit": 1})[0]["outcome"] == "denied"
    rules = {x["name"]: x for x in client.get("/api/sensing/rules", headers=admin, params={"limit": 10000}).json()}
    assert rules[rule["name"]]["severity"] == "major"
    hooks = {x["name"]: x for x in client.get("/api/sensing/webhooks", headers=admin).json()}
    assert hooks[hook["name"]]["enabled"] is True
    assert client.delete(f"/api/sensing/rules/{rule['name']}").status_code == 401  # anonymous
    # the admin may (and the endpoint is not left subscribed for the other tests' alarms)
    assert client.delete(f"/api/sensing/webhooks/{hook['name']}", headers=admin).status_code == 200
    assert client.delete(f"/api/sensing/rules/{rule['name']}", headers=admin).status_code == 200


def test_rule_delete_keeps_its_alarms_readable(client: TestClient) -> None:
    admin = _h(token_for("admin"))
    dev = client.post("/api/sensing/devices", headers=admin, json={"code": unique("aq"), "type": "air_quality"}).json()
    rule = _rule(client, device=dev["code"])
    # (type-wide rules of other tests may raise alarms on this device too: ours is told by its alarm type)
    assert client.post("/api/telemetry", headers=_h(dev["token"]), json={"pm25": 120}).json()["alarms_raised"] >= 1
    r = client.delete(f"/api/sensing/rules/{rule['name']}", headers=admin)
    assert r.status_code == 200 and r.json() == {"name": rule["name"], "deleted": True, "alarms_kept": 1}
    alarms = client.get("/api/sensing/alarms", headers=admin, params={"device": dev["code"], "status": "all",
                                                                       "type": rule["alarm_type"]})
    (alarm,) = alarms.json()["alarms"]
    assert alarm["type"] == rule["alarm_type"] and alarm["active"] is True
    shown = call_as("admin", "alarm_list", {"device": dev["code"], "status": "all",
                                            "type": rule["alarm_type"]})["alarms"][0]
    assert shown["rule_id"] is None and shown["details"]["rule"] == rule["name"]
    assert rule["name"] not in {x["name"] for x in client.get("/api/sensing/rules", headers=admin,
                                                               params={"limit": 10000}).json()}
    # the rule evaluates no more (its alarm is not repeated); the alarm is still cleared by hand
    client.post("/api/telemetry", headers=_h(dev["token"]), json={"pm25": 130})
    again = call_as("admin", "alarm_list", {"device": dev["code"], "status": "all", "type": rule["alarm_type"]})
    assert again["alarms"][0]["count"] == 1
    assert client.post(f"/api/sensing/alarms/{alarm['id']}/clear", headers=admin).status_code == 200
    audit = call_as("admin", "audit_list", {"action": "rule_delete", "limit": 1})[0]
    assert audit["target"] == rule["name"] and audit["outcome"] == "success"
    # the name is free again
    _rule(client, name=rule["name"])


def test_webhook_update_and_delete(client: TestClient) -> None:
    admin = _h(token_for("admin"))
    name = unique("h")
    assert client.post("/api/sensing/webhooks", headers=admin,
                       json={"name": name, "url": "https://ops.example.gov.cn/a", "secret": "s1"}).status_code == 201
    r = client.patch(f"/api/sensing/webhooks/{name}", headers=admin,
                     json={"url": "https://ops.example.gov.cn/b", "min_severity": "major", "secret": "s2"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": r.json()["id"], "name": name, "url": "https://ops.example.gov.cn/b",
                        "min_severity": "major", "enabled": True}  # the secret is never shown back
    audit = call_as("admin", "audit_list", {"action": "webhook_update", "limit": 1})[0]
    assert audit["target"] == name
    # bad input: not http(s), not a URL, an unknown severity, an unknown field
    for body in ({"url": "ftp://ops.example.gov.cn/x"}, {"url": "not a url at all"}, {"min_severity": "meh"},
                 {"colour": "red"}):
        assert client.patch(f"/api/sensing/webhooks/{name}", headers=admin, json=body).status_code == 422, body
    assert client.patch("/api/sensing/webhooks/nope", headers=admin, json={"enabled": False}).status_code == 404
    r = client.delete(f"/api/sensing/webhooks/{name}", headers=admin)
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert name not in {h["name"] for h in client.get("/api/sensing/webhooks", headers=admin).json()}
    assert client.delete(f"/api/sensing/webhooks/{name}", headers=admin).status_code == 404
