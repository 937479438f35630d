"""``cityhub sharing usage`` — the exchange's usage report (calls and records exchanged per month, per consumer
and provider department, per grant). ``register(group)`` adds the commands to the ``sharing`` command group."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from cityhub.cli.common import call as _call
from cityhub.cli.common import out


def usage(month_from: str = typer.Option("", "--from", help="first month, YYYY-MM (Asia/Shanghai)"),
          month_to: str = typer.Option("", "--to", help="last month, YYYY-MM"),
          department: int = typer.Option(0, help="one department's calls (as consumer or provider), by id"),
          grant: int = typer.Option(0, help="one grant's calls, by id"),
          as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    """Exchange usage: calls and records exchanged per month (city-wide), per department and per grant."""
    report: dict[str, Any] = _call("exchange_usage_show", {
        "month_from": month_from or None, "month_to": month_to or None,
        "department_id": department or None, "grant_id": grant or None})
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False))
        return
    total = report["total"]
    out.print(f"交换调用 calls {total['calls']:,} · 交换记录 records {total['records']:,} · "
              f"字节 bytes {total['bytes']:,} · 失败 errors {total['errors']:,}")
    months = Table("月份 month", "调用 calls", "记录 records", "字节 bytes", title="按月 per month")
    for m in report["by_month"]:
        months.add_row(m["month"], f"{m['calls']:,}", f"{m['records']:,}", f"{m['bytes']:,}")
    out.print(months)
    for key, title in (("by_consumer", "使用部门 consumers"), ("by_provider", "提供部门 providers")):
        table = Table("部门 department", "调用 calls", "记录 records", title=title)
        for d in report[key]:
            table.add_row(d.get("name") or str(d["department_id"]), f"{d['calls']:,}", f"{d['records']:,}")
        out.print(table)
    grants = Table("授权 grant", "资源 resource", "调用 calls", "记录 records", title="按授权 per grant")
    for g in report["by_grant"]:
        grants.add_row(str(g["grant_id"] or "无条件共享"), g["resource_id"], f"{g['calls']:,}", f"{g['records']:,}")
    out.print(grants)


def register(group: typer.Typer) -> None:
    """Add the exchange commands to the ``sharing`` command group."""
    group.command("usage")(usage)
