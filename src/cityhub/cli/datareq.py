"""``cityhub requests`` — data requests (数据需求): list the board, show one, route it to a department, answer it,
escalate overdue ones. Commands run as the local operator (the city data office); ``--as USER`` runs an answer
as that user instead (the routed department's steward), under the same rules as the portal and the API."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from cityhub.cli.common import call as _call
from cityhub.cli.common import call_as as _call_as
from cityhub.cli.common import err, out

requests_app = typer.Typer(help="数据需求 / data requests (the public asks, the data office routes, departments "
                                "answer)", no_args_is_help=True)

AS_USER = typer.Option("", "--as", help="act as this user (e.g. the routed department's steward)")



def _deadline(r: dict[str, Any]) -> str:
    if not r["deadline"]:
        return "-"
    mark = " 逾期 overdue" if r["overdue"] else (" 逾期答复 late" if r["late"] else "")
    return r["deadline"] + mark


def _print(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(r, ensure_ascii=False))
        return
    dept = r["department"]["slug"] if r["department"] else "-"
    out.print(f"#{r['id']} {r['title']} · {r['status']} · {dept} · 期限 deadline {_deadline(r)}")
    if r.get("answer"):
        a = r["answer"]
        detail = a["open_by"] or (a["dataset"] or {}).get("name") or a["url"] or a["legal_basis"] or ""
        out.print(f"  答复 answer: {a['kind']} {detail}" + (" (逾期 late)" if a["late"] else ""))


@requests_app.command("list")
def list_(status: str = typer.Option(None, help="submitted, routed, answered, withdrawn or closed"),
          department: str = typer.Option(None, help="routed to this department (slug)"),
          overdue: bool = typer.Option(False, help="only requests past their deadline"),
          q: str = typer.Option(None, help="words in the title or description"),
          limit: int = typer.Option(50, help="at most this many (1-100)"),
          cursor: int = typer.Option(None, help="continue after this id (the previous page's 'next')"),
          as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """The board: data requests, newest first."""
    page = _call("data_request_list", {"status": status, "department": department, "overdue": overdue, "q": q,
                                       "limit": limit, "cursor": cursor})
    if as_json:
        out.print_json(json.dumps(page, ensure_ascii=False))
        return
    table = Table("id", "标题 title", "状态 status", "部门 department", "天 age", "期限 deadline",
                  title=f"数据需求 data requests: {page['count']}")
    for r in page["results"]:
        table.add_row(str(r["id"]), r["title"], r["status"], r["department"]["slug"] if r["department"] else "-",
                      str(r["age_days"]), _deadline(r))
    out.print(table)
    if page["next"]:
        err.print(f"more: --cursor {page['next']}")


@requests_app.command("show")
def show(rid: int = typer.Argument(..., help="request id"),
         as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """One request with its history."""
    r = _call("data_request_show", {"id": rid})
    _print(r, as_json)
    if not as_json:
        for e in r["events"]:
            out.print(f"  {e['at']} {e['actor']} {e['event']} {e['note']}")


@requests_app.command("route")
def route(rid: int = typer.Argument(..., help="request id"),
          department: str = typer.Argument(..., help="the department that answers (slug)"),
          note: str = typer.Option("", help="a note for the history"),
          as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Route (or re-route) a request to a department (the data office)."""
    _print(_call("data_request_route", {"id": rid, "department": department, "note": note}), as_json)


@requests_app.command("answer")
def answer(rid: int = typer.Argument(..., help="request id"),
           kind: str = typer.Argument(..., help="will_open, already_open or cannot_open"),
           open_by: str = typer.Option(None, help="will_open: the date the data will be open (YYYY-MM-DD)"),
           dataset: str = typer.Option(None, help="already_open: the catalog dataset (name)"),
           url: str = typer.Option(None, help="already_open: where the data is open"),
           legal_basis: str = typer.Option("", help="cannot_open: the law or rule that forbids opening"),
           text: str = typer.Option("", help="the answer in words"),
           user: str = AS_USER,
           as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Answer a request (its department's steward with --as; the data office only once escalated)."""
    data = {"id": rid, "kind": kind, "open_by": open_by, "dataset": dataset, "url": url,
            "legal_basis": legal_basis, "text": text}
    _print(_call_as(user, "data_request_answer", {k: v for k, v in data.items() if v not in (None, "")}), as_json)


@requests_app.command("escalate")
def escalate() -> None:
    """Escalate requests past their answer deadline now (the hourly job does it too)."""
    result = _call("data_request_escalate", {})
    out.print(f"升级 escalated: {len(result['escalated'])} ({result['today']})")
