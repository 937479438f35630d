"""``cityhub harvest`` — harvest sources (CKAN Action API, DCAT RDF): create, list, run with a progress bar,
show runs, start the sources that are due."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityhub.cli.common import call as _call
from cityhub.cli.common import err, out

harvest_app = typer.Typer(help="数据采集 / harvesting (CKAN, DCAT)", no_args_is_help=True)




def _summary(run: dict[str, Any]) -> str:
    return (f"run {run['id']} {run['status']}: new {run['new']}, updated {run['updated']}, unchanged "
            f"{run['unchanged']}, withdrawn {run['withdrawn']}, errors {run['errors']}"
            + (f" ({run['seconds']} s)" if run.get("seconds") is not None else ""))


@harvest_app.command("source-create")
def source_create(name: str = typer.Argument(..., help="source name (slug)"),
                  url: str = typer.Argument(..., help="CKAN portal base URL, or DCAT document URL"),
                  kind: str = typer.Option("ckan", help="ckan | dcat"),
                  department: str = typer.Option(..., help="local department slug the datasets go to"),
                  title: str = typer.Option("", help="title (default: the name)"),
                  schedule: str = typer.Option("manual", help="manual | hourly | daily | weekly"),
                  fq: str = typer.Option("", help="CKAN filter, e.g. organization:gz-transport"),
                  timeout: float = typer.Option(30.0, help="seconds per HTTP request")) -> None:
    """Register a harvest source."""
    src = _call("harvest_source_create", {"name": name, "title": title or name, "kind": kind, "url": url,
                                          "department": department, "schedule": schedule,
                                          "config": {"fq": fq, "timeout": timeout}})
    err.print(f"harvest source {src['name']} ({src['kind']}) → {src['department']}, {src['schedule']}")


@harvest_app.command("list")
def source_list() -> None:
    """List the harvest sources."""
    table = Table("name", "kind", "url", "department", "schedule", "datasets", "last run")
    for s in _call("harvest_source_list", {}):
        last = s["last_run"]
        table.add_row(s["name"], s["kind"], s["url"], s["department"], s["schedule"] + ("" if s["enabled"] else " (off)"),
                      str(s["datasets"]), f"{last['status']} #{last['id']}" if last else "-")
    out.print(table)


@harvest_app.command("run")
def run(source: str = typer.Argument(..., help="source name")) -> None:
    """Harvest SOURCE now (in this process, with a progress bar) and print the run's counts."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as bar:
        task = bar.add_task(f"采集 {source}", total=None)

        def progress(done: int, total: int, stage: str) -> None:
            bar.update(task, completed=done, total=total or None, description=f"{source}: {stage}")

        started = _call("harvest_run", {"source": source, "wait": True}, progress=progress)
    result = _call("harvest_run_show", {"id": started["id"]})
    for entry in result["log"]:
        if entry["level"] != "info":
            err.print(f"  {entry['level']} {entry['guid']}: {entry['message']}")
    err.print(_summary(result))
    if result["status"] == "failed":
        err.print(f"[red]{result['error']}[/red]")
        raise typer.Exit(1)


@harvest_app.command("runs")
def runs(source: str = typer.Argument("", help="source name (default: all)"),
         run_id: int = typer.Option(0, "--id", help="show one run with its log (JSON)"),
         limit: int = typer.Option(20, help="runs")) -> None:
    """Recent runs, or one run with its log."""
    if run_id:
        out.print_json(json.dumps(_call("harvest_run_show", {"id": run_id}), ensure_ascii=False))
        return
    table = Table("id", "source", "status", "started", "new", "updated", "unchanged", "withdrawn", "errors")
    for r in _call("harvest_run_list", {"source": source, "limit": limit}):
        table.add_row(str(r["id"]), r["source"], r["status"], (r["started_at"] or "")[:19], str(r["new"]),
                      str(r["updated"]), str(r["unchanged"]), str(r["withdrawn"]), str(r["errors"]))
    out.print(table)


@harvest_app.command("due")
def due() -> None:
    """Harvest every enabled source whose schedule is due (for cron)."""
    result = _call("harvest_due", {"wait": True})
    for started in result["started"]:
        err.print(_summary(_call("harvest_run_show", {"id": started["run"]})))
    if not result["started"]:
        err.print("no source is due")
