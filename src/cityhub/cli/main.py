"""``cityhub`` — serve the portal, migrate, load the demo, manage users and tokens, verify the audit log."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityhub.catalog.schemas import UploadedFile
from cityhub.cli.accounts import department_app, token_app, user_app
from cityhub.cli.common import call as _call
from cityhub.cli.common import err, out
from cityhub.cli.datareq import requests_app
from cityhub.cli.deid import correction_app, deid_app
from cityhub.cli.engage import discussions_app, reuses_app
from cityhub.cli.exchange import register as register_exchange
from cityhub.cli.harvest import harvest_app
from cityhub.cli.indicators import indicators_app
from cityhub.cli.publish import dataset_app
from cityhub.cli.sensing import sensing_app
from cityhub.cli.sensing_sim import register as register_sensing_transport
from cityhub.cli.sharing import sharing_app
from cityhub.cli.transit import transit_app
from cityhub.cli.transit_io import register as register_transit_io

app = typer.Typer(help="CityHub 城市数据平台 / city data platform", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="数据库 / database schema", no_args_is_help=True)
demo_app = typer.Typer(help="演示数据 / Guangzhou demo content", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志 / audit log", no_args_is_help=True)
sth_app = typer.Typer(help="签名树头 / signed tree heads", no_args_is_help=True)
audit_app.add_typer(sth_app, name="sth")
search_app = typer.Typer(help="搜索索引 / search index", no_args_is_help=True)
datastore_app = typer.Typer(help="数据表 / datastore", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(user_app, name="user")
app.add_typer(department_app, name="department")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(search_app, name="search")
app.add_typer(datastore_app, name="datastore")
app.add_typer(harvest_app, name="harvest")
app.add_typer(dataset_app, name="dataset")
# sharing and exchange (issue 12): the exchange's commands (cli/exchange.py) join the sharing group
register_exchange(sharing_app)
app.add_typer(sharing_app, name="sharing")
# sensing (issue 13): the transports' commands (simulate, receive, worker, broker) join the sensing group
register_sensing_transport(sensing_app)
app.add_typer(sensing_app, name="sensing")
app.add_typer(deid_app, name="deid")
app.add_typer(correction_app, name="correction")
# transit (issue 14): the inputs' commands (gtfs-check, cards-load, hubs-simulate, hubs-analyse) join the group
register_transit_io(transit_app)
app.add_typer(transit_app, name="transit")
# data requests (issue 15): list, show, route, answer, escalate
app.add_typer(requests_app, name="requests")
# plan indicators (issue 15): import a city's table, list, report, review, assess
app.add_typer(indicators_app, name="indicators")
# the public's voice (issue 15): moderating discussions, reviewing reuses
app.add_typer(discussions_app, name="discussions")
app.add_typer(reuses_app, name="reuses")



def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False)




@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="address to bind"),
          port: int = typer.Option(8000, help="port"),
          workers: int = typer.Option(1, help="worker processes"),
          init: bool = typer.Option(False, "--init", help="upgrade the schema and load the demo if the store is empty"),
          ) -> None:
    """Serve the portal and APIs (uvicorn)."""
    import uvicorn

    if init:
        upgrade()
        from cityhub.demo.loader import is_loaded

        if not is_loaded():
            demo_load()
        if is_loaded() and "CITYHUB_SENSING_DEMO" not in os.environ and workers == 1:
            os.environ["CITYHUB_SENSING_DEMO"] = "1"  # the live sensing demo (docs/sensing-transport.md)
            from cityhub.settings import get_settings

            get_settings.cache_clear()
        if is_loaded() and workers == 1:
            _transit_demo()
    from cityhub import jobs

    for message in jobs.startup().values():  # before any worker starts (e.g. interrupted loads marked failed)
        if message:
            err.print(message)
    err.print(f"CityHub 开放广州 → http://{host}:{port}/  (API docs: /api/docs)")
    uvicorn.run("cityhub.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False)



def _transit_demo() -> None:
    """The demo's transit analysis: with no run yet, analyse one simulated service day in the background (this
    process's job pool), so /transit shows an OD map from the start (docs/transit.md)."""
    if _call("transit_run_list", {}).get("results"):
        return
    run = _call("transit_run_start", {"taps": 30_000, "seed": 1})
    err.print(f"公交客流演示 transit demo: analysing a simulated day of ~30,000 taps (run {run.get('id', '?')}; "
              "results on /transit)")

@db_app.command("upgrade")
def upgrade() -> None:
    """Create or upgrade the catalog database schema (Alembic)."""
    from cityhub.migrate import current
    from cityhub.migrate import upgrade as do_upgrade

    do_upgrade()
    err.print(f"schema at revision {current()}")


@demo_app.command("load")
def demo_load() -> None:
    """Load the Guangzhou demo content (departments, users, 90+ data resources, plans), dated relative to today."""
    from cityhub.demo.loader import is_loaded, load

    if is_loaded():
        err.print("演示数据已存在 / demo content is already loaded")
        raise typer.Exit(0)
    with _progress() as bar:
        tasks: dict[str, Any] = {}

        def step(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done)

        result = load(step)
    table = Table(title="演示账户 demo accounts (密码只显示这一次 / passwords are shown once)")
    table.add_column("user")
    table.add_column("password")
    for name, password in result["users"].items():
        table.add_row(name, password)
    out.print(table)
    err.print(f"{result['departments']} departments, {result['datasets']} datasets, {result['plans']} plans")


@audit_app.command("verify")
def audit_verify(sth: Path | None = typer.Argument(None, exists=True, dir_okay=False,
                                                   help="a signed tree head saved earlier (JSON, as `cityhub audit "
                                                   "sth export` writes it): the log must still hold that tree")
                 ) -> None:
    """Verify the whole audit log (every record's leaf hash and MAC, the Merkle tree against every signed tree
    head); exits 1 and names the first bad record if anything was altered, removed, reordered or cut."""
    data: dict[str, Any] = {}
    if sth is not None:
        try:
            data["sth"] = json.loads(sth.read_text(encoding="utf-8"))
        except ValueError as exc:
            err.print(f"[red]错误 error[/red]: {sth} is not JSON: {exc}", soft_wrap=True)
            raise typer.Exit(2) from None
    with _progress() as bar:
        task = bar.add_task("审计树校验 verifying", total=None)
        result = _call("audit_verify", data,
                       progress=lambda n, total: bar.update(task, advance=n, total=max(total, 1)))
    if result["ok"]:
        signed = f", signed head #{result['signed_head_seq']}" if result["signed_head_seq"] else ""
        err.print(f"[green]OK[/green] {result['count']} records, root {result['head'][:16]}…{signed}, "
                  f"{result['heads_checked']} tree heads checked")
        return
    where = f"#{result['bad_seq']}" if result["bad_seq"] is not None else "-"
    err.print(f"[red]TAMPERED[/red] first bad record: {where} — {result['reason']}", soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command("head")
def audit_head() -> None:
    """Print the signed tree head kept outside the database (JSON) to copy to a separate system."""
    result = _call("audit_head_show", {})
    if result["head"] is None:
        err.print(f"no signed head at {result['path']} yet")
        raise typer.Exit(1)
    sys.stdout.write(json.dumps(result["head"]) + "\n")


@audit_app.command("proof")
def audit_proof(seq: int = typer.Argument(..., help="the audit record's sequence number"),
                since: int | None = typer.Option(None, help="also a consistency proof from this tree size")) -> None:
    """Print the inclusion proof of one audit record against the latest signed tree head (JSON)."""
    data: dict[str, Any] = {"seq": seq}
    if since is not None:
        data["since_size"] = since
    sys.stdout.write(json.dumps(_call("audit_proof", data), ensure_ascii=False, indent=2) + "\n")


def _write_json(value: Any, out_file: Path | None) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2) + "\n"
    if out_file is None:
        sys.stdout.write(text)
    else:
        out_file.write_text(text, encoding="utf-8")
        err.print(f"written to {out_file}")


@sth_app.command("export")
def audit_sth_export(out_file: Path | None = typer.Option(None, "--out", help="file to write (default: stdout)"),
                     fresh: bool = typer.Option(True, help="issue a new tree head first (else: the latest stored)"),
                     ) -> None:
    """Export a signed tree head (JSON, with the public key): keep it elsewhere and check the log against it
    later with `cityhub audit verify FILE`."""
    _write_json(_call("audit_sth_issue" if fresh else "audit_sth_show", {}), out_file)


@sth_app.command("issue")
def audit_sth_issue() -> None:
    """Issue and store a signed tree head now (the web process also issues them periodically)."""
    head = _call("audit_sth_issue", {})
    err.print(f"tree head of {head['tree_size']} records, root {head['root_hash'][:16]}…, id {head.get('id')}")


@sth_app.command("key")
def audit_sth_key() -> None:
    """Print the public key (PEM) that checks the signed tree heads."""
    sys.stdout.write(_call("audit_sth_show", {})["public_key"])


@audit_app.command("export")
def audit_export(limit: int = typer.Option(1000, help="records")) -> None:
    """Print the newest audit records as JSON lines (for a separate log system)."""
    for rec in _call("audit_list", {"limit": limit}):
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")


@search_app.command("reindex")
def search_reindex() -> None:
    """Rebuild the search index from the catalog."""
    with _progress() as bar:
        task = bar.add_task("重建索引 reindexing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = _call("search_reindex", {}, progress=progress)
    err.print(f"indexed {result['indexed']} datasets")


@datastore_app.command("load")
def datastore_load(dataset: str = typer.Argument(..., help="dataset name"),
                   file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="table file"),
                   name: str = typer.Option("", help="resource name (default: the file name)"),
                   description: str = typer.Option("", help="resource description"),
                   schema: Path = typer.Option(None, exists=True, dir_okay=False,
                                               help="Table Schema JSON overriding inferred types"),
                   encoding: str = typer.Option(None, help="utf-8 | gb18030 | gbk (default: detect)")) -> None:
    """Add FILE to DATASET as a resource and load it into the datastore; prints the new resource id."""
    declared = json.loads(schema.read_text(encoding="utf-8")) if schema else None
    with _progress() as bar, file.open("rb") as fh:
        task = bar.add_task(f"导入 {file.name}", total=100)
        res = _call("resource_create", {"dataset": dataset, "name": name or file.name, "description": description,
                                        "upload": UploadedFile(filename=file.name, stream=fh)},
                    jobs="skip")
        copy_task: list[Any] = []

        def on_progress(fraction: float, stage: str) -> None:
            # queryable first: the untyped copy ("copy:…" stages) is queryable when done ("typing"); the main bar
            # then shows the whole-file typing ("types are being checked")
            if stage.startswith("copy:") or stage == "typing":
                if not copy_task:
                    copy_task.append(bar.add_task(f"可查询副本 / queryable copy {file.name}", total=100))
                done = stage == "typing"
                bar.update(copy_task[0], completed=100 if done else fraction * 100,
                           description=f"已可查询(类型暂定)/ queryable, provisional types: {file.name}" if done
                           else f"可查询副本 / queryable copy {file.name}: {stage[5:]}")
                if done:
                    bar.update(task, completed=0, description=f"类型核对中 / checking types {file.name}")
                return
            label = "类型核对中 / checking types" if copy_task else "导入"
            bar.update(task, completed=fraction * 100, description=f"{label} {file.name}: {stage}")

        job = _call("datastore_create", {"resource_id": res["id"], "schema": declared, "encoding": encoding,
                                         "wait": True},
                    progress=on_progress)
    result = _call("datastore_job_show", {"version_id": job["id"]})
    if result["status"] == "provisional":
        err.print(f"[yellow]类型核对失败,数据仍可查询(类型暂定)/ type checking failed, the data stays queryable with "
                  f"provisional types[/yellow]: {result['error']} / {result['error_en']}")
        out.print(res["id"], highlight=False)
        raise typer.Exit(1)
    if result["status"] != "complete":
        err.print(f"[red]load {result['status']}[/red]: {result['error']} / {result['error_en']}")
        out.print(res["id"], highlight=False)
        raise typer.Exit(1)
    err.print(f"{result['rows']} rows, {len(result['columns'])} columns, {result['bad_cell_count']} bad cells "
              f"({result['encoding'] or result['format']}, {result['seconds']} s)")
    out.print(res["id"], highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
