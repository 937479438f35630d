"""``cityhub sharing`` — consuming systems, share requests (list, show, approve, refuse), grants (list, revoke)
and the escalation of overdue requests. Commands run as the local operator (the city data office); ``--as
USER`` runs an answer as that user instead (a provider's steward), under the same rules as the portal."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from cityhub.cli.common import call as _call
from cityhub.cli.common import call_as as _call_as
from cityhub.cli.common import err, out

sharing_app = typer.Typer(help="共享交换 / sharing between departments (requests, grants, systems)",
                          no_args_is_help=True)

AS_USER = typer.Option("", "--as", help="act as this user (e.g. the providing department's steward)")



def _left(r: dict[str, Any]) -> str:
    if r["working_days_left"] is None:
        return "-"
    return f"逾期 overdue {-r['working_days_left']}" if r["overdue"] else str(r["working_days_left"])


@sharing_app.command("systems")
def systems(department: str = typer.Option(None, help="department slug (default: all)"),
            inactive: bool = typer.Option(False, help="include deactivated systems")) -> None:
    """List registered consuming systems."""
    table = Table("id", "department", "code", "name", "active")
    for s in _call("system_list", {"department": department, "include_inactive": inactive}):
        table.add_row(str(s["id"]), s["department"] or "-", s["code"], s["name"], "yes" if s["active"] else "no")
    out.print(table)


@sharing_app.command("system-register")
def system_register(code: str = typer.Argument(..., help="system code, e.g. GZ-GA/population-check"),
                    name: str = typer.Argument(..., help="system name"),
                    department: str = typer.Option(..., help="the consuming department's slug")) -> None:
    """Register a consuming system; prints its secret once."""
    s = _call("system_register", {"code": code, "name": name, "department": department})
    err.print(f"system {s['id']} {s['department']}/{s['code']} registered; its secret (shown once):")
    out.print(s["token"])


@sharing_app.command("system-rotate")
def system_rotate(system_id: int = typer.Argument(..., help="system id")) -> None:
    """Give a system a new secret (printed once); the old one stops working."""
    out.print(_call("system_token_rotate", {"id": system_id})["token"])


@sharing_app.command("system-deactivate")
def system_deactivate(system_id: int = typer.Argument(..., help="system id")) -> None:
    """Stop a system: its secret and its grants stop working."""
    s = _call("system_deactivate", {"id": system_id})
    err.print(f"system {s['id']} {s['code']} deactivated")


@sharing_app.command("requests")
def requests(box: str = typer.Option("all", help="all | review | mine"),
             status: str = typer.Option(None, help="submitted | approved | narrowed | refused | withdrawn | expired"),
             overdue: bool = typer.Option(False, help="only unanswered requests past their deadline"),
             as_user: str = AS_USER) -> None:
    """List share requests with their deadlines and working days left."""
    page = _call_as(as_user, "share_request_list", {"box": box, "status": status, "overdue": overdue,
                                                    "limit": 1000})
    table = Table("id", "kind", "dataset", "provider", "requester", "status", "deadline", "working days left")
    for r in page["results"]:
        requester = (r["department"] or {}).get("slug") or r["user"] or "-"
        table.add_row(str(r["id"]), r["kind"], r["dataset"]["name"] or "-", r["provider"]["slug"], requester,
                      r["status"] + (" (escalated)" if r["escalated_at"] else ""), r["deadline"], _left(r))
    out.print(table)
    err.print(f"{page['count']} request(s)")


@sharing_app.command("request")
def request_show(request_id: int = typer.Argument(..., help="request id"), as_user: str = AS_USER) -> None:
    """Show one request with its history and grants (JSON)."""
    out.print_json(json.dumps(_call_as(as_user, "share_request_show", {"id": request_id}), ensure_ascii=False))


@sharing_app.command("approve")
def approve(request_id: int = typer.Argument(..., help="request id"),
            columns: str = typer.Option(None, help="columns granted, comma-separated (default: as requested)"),
            rows: str = typer.Option(None, help='rows granted as JSON filters, e.g. {"district": ["440106"]}'),
            days: int = typer.Option(None, help="days granted (default: as requested)"),
            allow_personal: bool = typer.Option(False, help="personal data may be read undisguised"),
            note: str = typer.Option("", help="why the scope was narrowed"), as_user: str = AS_USER) -> None:
    """Approve a request as asked, or narrower (never wider)."""
    data: dict[str, Any] = {"id": request_id, "note": note, "allow_personal": allow_personal}
    if columns:
        data["columns"] = [c.strip() for c in columns.split(",") if c.strip()]
    if rows:
        try:
            data["row_filter"] = json.loads(rows)
        except json.JSONDecodeError:
            err.print("[red]错误 error[/red]: --rows 不是 JSON / --rows is not JSON")
            raise typer.Exit(2) from None
    if days:
        data["duration_days"] = days
    r = _call_as(as_user, "share_request_approve", data)
    err.print(f"request {r['id']} {r['status']}: {len(r['grants'])} grant(s)")


@sharing_app.command("refuse")
def refuse(request_id: int = typer.Argument(..., help="request id"),
           reason: str = typer.Option(..., help="why (required)"), as_user: str = AS_USER) -> None:
    """Refuse a request with its reason."""
    r = _call_as(as_user, "share_request_refuse", {"id": request_id, "reason": reason})
    err.print(f"request {r['id']} {r['status']}")


@sharing_app.command("grants")
def grants(side: str = typer.Option("all", help="all | provider | consumer"),
           inactive: bool = typer.Option(False, help="also revoked and expired grants"),
           as_user: str = AS_USER) -> None:
    """List grants with their scope."""
    page = _call_as(as_user, "grant_list", {"side": side, "active": not inactive, "limit": 1000})
    table = Table("id", "request", "dataset", "to", "columns", "rows", "expires", "in force")
    for g in page["results"]:
        to = (g["system"] or {}).get("code") or g["user"] or "-"
        table.add_row(str(g["id"]), str(g["request_id"]), g["dataset"]["name"] or "-", to,
                      ",".join(g["columns"]) if g["columns"] else "*",
                      json.dumps(g["row_filter"], ensure_ascii=False) if g["row_filter"] else "*",
                      g["expires_at"][:10], "yes" if g["in_force"] else "no")
    out.print(table)


@sharing_app.command("revoke")
def revoke(grant_id: int = typer.Argument(..., help="grant id"), reason: str = typer.Option(..., help="why"),
           as_user: str = AS_USER) -> None:
    """Revoke a grant; it ends with the system's next call."""
    r = _call_as(as_user, "grant_revoke", {"id": grant_id, "reason": reason})
    err.print(f"revoked {len(r['revoked'])} grant(s) of request {r['request']['id']}")


@sharing_app.command("escalate")
def escalate(today: str = typer.Option(None, help="judge deadlines on this day (YYYY-MM-DD; default today)")) -> None:
    """Escalate overdue requests to the data office and mark expired ones (what the hourly job does)."""
    r = _call("share_request_escalate", {"today": today})
    err.print(f"escalated: {r['escalated'] or '-'}; expired: {r['expired'] or '-'} (as of {r['today']})")
