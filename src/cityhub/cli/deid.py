"""``cityhub deid`` (de-identified views, 一数一源 base items) and ``cityhub correction`` (校核 tickets), run as the
local operator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cityhub.cli.common import call as _call
from cityhub.cli.common import err, out

deid_app = typer.Typer(help="脱敏视图与一数一源 / de-identified views and base data items", no_args_is_help=True)
correction_app = typer.Typer(help="数据校核工单 / correction tickets", no_args_is_help=True)


def _json(data: Any) -> None:
    out.print_json(json.dumps(data, ensure_ascii=False, default=str))


@deid_app.command("policy-show")
def policy_show(resource_id: str = typer.Argument(..., help="resource id")) -> None:
    """Print a resource's policy, its columns with the personal-data findings, and the suggested rules."""
    _json(_call("deid_policy_show", {"resource_id": resource_id}))


@deid_app.command("policy-set")
def policy_set(resource_id: str = typer.Argument(..., help="resource id"),
               rules: Path = typer.Argument(..., exists=True, dir_okay=False,
                                            help='JSON file: {"column": {"op": "mask", "kind": "mobile"}, …}'),
               quasi: list[str] = typer.Option([], "--quasi", "-q", help="a quasi-identifier column (repeat)"),
               keep_others: bool = typer.Option(False, help="keep columns without a rule (default: drop them)")) -> None:
    """Save a resource's de-identification policy from a JSON file."""
    try:
        spec = json.loads(rules.read_text(encoding="utf-8"))
    except ValueError as exc:
        err.print(f"[red]错误 error[/red]: 规则文件不是有效的JSON / the rules file is not valid JSON: {exc}")
        raise typer.Exit(2) from None
    saved = _call("deid_policy_set", {"resource_id": resource_id, "rules": spec, "quasi": quasi,
                                      "default": "keep" if keep_others else "drop"})
    err.print(f"policy saved: {len(saved['rules'])} rules, quasi-identifiers {', '.join(saved['quasi']) or '-'}")


@deid_app.command("build")
def build(resource_id: str = typer.Argument(..., help="resource id")) -> None:
    """Build the de-identified view of a resource from its saved policy; prints its k-anonymity report."""
    v = _call("deid_view_build", {"resource_id": resource_id})
    err.print(f"view {v['id']}: {v['rows']} rows, columns {', '.join(v['columns'])}, k={v['k']} ({v['seconds']} s)")


@deid_app.command("release")
def release(resource_id: str = typer.Argument(..., help="resource id"),
            quasi: list[str] = typer.Option([], "--quasi", "-q", help="quasi-identifiers (default: the policy's)")) -> None:
    """Release the newest built view after the k-anonymity check (refused below CITYHUB_DEID_MIN_K)."""
    v = _call("deid_view_release", {"resource_id": resource_id, **({"quasi": quasi} if quasi else {})})
    err.print(f"view {v['id']} released: k={v['k']}")


@deid_app.command("base-items")
def base_items() -> None:
    """List the base data items and their authoritative departments (一数一源)."""
    table = Table("code", "item", "department", "resource")
    for i in _call("base_item_list", {}):
        table.add_row(i["code"], i["name"], i["department"] or "-", i["resource_id"] or "-")
    out.print(table)


@deid_app.command("base-item-set")
def base_item_set(code: str = typer.Argument(..., help="person | legal_person | geography | e_licence | credit"),
                  department: str = typer.Argument(..., help="authoritative department (slug)"),
                  resource_id: str = typer.Option("", help="its authoritative resource")) -> None:
    """Designate the authoritative department (and resource) of a base data item."""
    i = _call("base_item_set", {"code": code, "department": department, "resource_id": resource_id or None})
    err.print(f"{i['code']} ({i['name']}) → {i['department']}")


@deid_app.command("coverage")
def coverage() -> None:
    """The data office's report: each base item's source and the datasets that duplicate it."""
    table = Table("code", "department", "resource", "own datasets", "duplicates")
    for r in _call("base_item_coverage", {}):
        table.add_row(r["code"], r["department"] or "-", "yes" if r["has_resource"] else "no",
                      str(len(r["authoritative_datasets"])),
                      ", ".join(f"{d['dataset']} ({d['department']})" for d in r["duplicates"]) or "-")
    out.print(table)


@correction_app.command("list")
def correction_list(status: str = typer.Option("", help="open | accepted | upheld | rejected | applied")) -> None:
    """List correction tickets with their deadlines."""
    table = Table("#", "resource", "field", "key", "status", "accept by", "answer by")
    for t in _call("correction_list", {"status": status}):
        table.add_row(str(t["id"]), t["resource_id"], t["field"], f"{t['key_column']}={t['key_value']}", t["status"],
                      t["accept_due"] + (" OVERDUE" if t["accept_overdue"] else ""),
                      t["answer_due"] + (" OVERDUE" if t["answer_overdue"] else ""))
    out.print(table)


@correction_app.command("create")
def correction_create(resource_id: str = typer.Argument(...), key_value: str = typer.Argument(...),
                      field: str = typer.Argument(...), claimed_value: str = typer.Argument(...),
                      evidence: str = typer.Option(..., help="why the value is wrong"),
                      key_column: str = typer.Option("_id"), evidence_url: str = typer.Option("")) -> None:
    """Report a disputed record."""
    t = _call("correction_create", {"resource_id": resource_id, "key_column": key_column, "key_value": key_value,
                                    "field": field, "claimed_value": claimed_value, "evidence": evidence,
                                    "evidence_url": evidence_url})
    err.print(f"ticket #{t['id']}: accept by {t['accept_due']}, answer by {t['answer_due']}")


@correction_app.command("show")
def correction_show(cid: int = typer.Argument(...)) -> None:
    """Print one ticket."""
    _json(_call("correction_show", {"id": cid}))


@correction_app.command("accept")
def correction_accept(cid: int = typer.Argument(...)) -> None:
    """Accept a ticket."""
    t = _call("correction_accept", {"id": cid})
    err.print(f"ticket #{t['id']} accepted" + (" (late)" if t["accepted_late"] else ""))


@correction_app.command("resolve")
def correction_resolve(cid: int = typer.Argument(...), outcome: str = typer.Argument(..., help="upheld | rejected"),
                       value: str = typer.Option(None, help="corrected value (default: the claimed one)"),
                       reason: str = typer.Option("", help="required when rejected")) -> None:
    """Answer a ticket."""
    t = _call("correction_resolve", {"id": cid, "outcome": outcome, "corrected_value": value, "reason": reason})
    err.print(f"ticket #{t['id']} {t['status']}")


@correction_app.command("apply")
def correction_apply(cid: int = typer.Argument(...)) -> None:
    """Write an upheld correction into the resource's next datastore version."""
    t = _call("correction_apply", {"id": cid})
    err.print(f"ticket #{t['id']} applied: version {t['applied_version']} queued")
