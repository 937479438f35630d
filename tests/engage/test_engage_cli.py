"""``cityhub discussions`` and ``cityhub reuses`` as a moderator uses them (typer's runner, the demo store): the
queue of held posts, publish, hide, lock, another department's steward refused; a reuse reviewed from pending to
published; bad input exits with 2 and says why."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from cityhub.cli.main import app
from tests.conftest import Store, call_as, open_dataset, set_settings
from tests.engage.conftest import call_from, new_user

runner = CliRunner()


def _ok(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, (args, res.output)
    return res.output


def test_moderating_a_discussion_from_the_cli(demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=1)
    ds = open_dataset()["name"]  # a gz-transport dataset: the transport steward moderates it
    post = call_from(new_user(), "discussion_post_create",
                     {"dataset": ds, "kind": "error_report", "title": "坐标错误", "body": "第3行[red]经纬度[/red]颠倒"})
    assert post["status"] == "held"  # a new account's first post is held
    queue = json.loads(_ok(["discussions", "queue", "--json"]))
    assert post["id"] in {p["id"] for p in queue}
    assert f"│ {post['id']} " in _ok(["discussions", "queue"])
    # another department's steward may not moderate it; nothing changes
    refused = runner.invoke(app, ["discussions", "show", str(post["id"]), "--as", "eco_steward"])
    assert refused.exit_code == 2 and "错误 error" in refused.output
    assert call_as("steward", "discussion_post_show", {"id": post["id"]})["status"] == "held"
    shown = _ok(["discussions", "show", str(post["id"]), "--note", "核实后发布", "--as", "steward"])
    assert f"#{post['id']} [visible]" in shown
    listed = _ok(["discussions", "list", ds])
    assert "坐标错误" in listed and "1 个主题" in listed and "[red]经纬度[/red]" in listed  # printed as written
    hidden = _ok(["discussions", "hide", str(post["id"]), "--note", "重复"])
    assert f"#{post['id']} [hidden]" in hidden
    assert call_as(None, "discussion_list", {"dataset": ds})["count"] == 0  # gone for the public
    assert post["id"] in {p["id"] for p in json.loads(_ok(["discussions", "queue", "--status", "hidden", "--json"]))}
    _ok(["discussions", "show", str(post["id"])])
    locked = _ok(["discussions", "lock", str(post["id"])])
    assert "locked" in locked
    reply = runner.invoke(app, ["discussions", "lock", str(post["id"]), "--unlock", "--as", "eco_steward"])
    assert reply.exit_code == 2
    assert call_as(None, "discussion_post_show", {"id": post["id"]})["locked"] is True
    assert "locked" not in _ok(["discussions", "lock", str(post["id"]), "--unlock"]).split("]")[0]
    bad = runner.invoke(app, ["discussions", "queue", "--status", "everything"])
    assert bad.exit_code == 2 and "status" in bad.output
    missing = runner.invoke(app, ["discussions", "hide", "999999999"])
    assert missing.exit_code == 2


def test_reviewing_a_reuse_from_the_cli(demo: Store) -> None:
    ds = open_dataset()["name"]
    r: dict[str, Any] = call_from(new_user(), "reuse_create", {
        "title": "公交候车热力图", "description": "用公交数据画的热力图", "url": "https://viz.example.cn/heat",
        "type": "visualization", "datasets": [ds]})
    assert r["status"] == "pending"
    pending = json.loads(_ok(["reuses", "list", "--status", "pending", "--json"]))
    assert r["id"] in {x["id"] for x in pending["results"]}
    assert f"│ {r['id']} " in _ok(["reuses", "list", "--status", "pending"])
    wrong = runner.invoke(app, ["reuses", "review", str(r["id"]), "approve"])
    assert wrong.exit_code == 2 and "published" in wrong.output
    assert call_as("admin", "reuse_show", {"id": r["id"]})["status"] == "pending"
    refused = runner.invoke(app, ["reuses", "review", str(r["id"]), "published", "--as", "eco_steward"])
    assert refused.exit_code == 2
    done = _ok(["reuses", "review", str(r["id"]), "published", "--comment", "内容属实"])
    assert "published" in done
    shown = _ok(["reuses", "show", str(r["id"])])
    assert "内容属实" in shown and ds in shown
    public = call_as(None, "reuse_list", {"dataset": ds})
    assert [x["id"] for x in public["results"]] == [r["id"]]
    assert str(r["id"]) in _ok(["reuses", "list", "--dataset", ds])
