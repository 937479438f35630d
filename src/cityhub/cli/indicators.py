"""``cityhub indicators`` — a city's plan indicators: import its own table (CSV or YAML), list progress, report a
value with evidence (as the responsible department's steward), and review reported values (the data office)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityhub.catalog.schemas import UploadedFile
from cityhub.cli.common import call as _call
from cityhub.cli.common import call_as as _call_as
from cityhub.cli.common import err, out
from cityhub.indicators.export import export_csv
from cityhub.indicators.schemas import IndicatorCreate, import_row

indicators_app = typer.Typer(help="规划指标 / plan indicators (import, list, report, review, assess)",
                             no_args_is_help=True)
AS_USER = typer.Option("", "--as", help="act as this user (e.g. the responsible department's steward)")



def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a city's indicator table: YAML (a list of mappings) or CSV (UTF-8 or GB18030, header row)."""
    raw = path.read_bytes()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(raw.decode("utf-8"))
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError("YAML must be a list of indicator mappings")
        return data
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    return [dict(r) for r in csv.DictReader(io.StringIO(text))]


@indicators_app.command("import")
def import_table(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="FILE.csv or FILE.yaml"),
                 replace: bool = typer.Option(False, help="update indicators whose code exists")) -> None:
    """Import a plan's indicator table (columns as `indicator_create` takes them: code, area, name, unit,
    baseline_year, baseline_value, target_year, target_value, direction, department, kind, compute_key, …).
    Every row is checked first (a bad row names its line and nothing is imported)."""
    try:
        rows = read_table(path)
    except (ValueError, UnicodeDecodeError) as exc:
        err.print(f"[red]错误 error[/red]: 无法读取 cannot read {path}: {exc}")
        raise typer.Exit(2) from None
    bad = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as bar:
        task = bar.add_task("检查 checking", total=len(rows))
        for i, row in enumerate(rows, 1):
            try:
                IndicatorCreate.model_validate(import_row(row))
            except Exception as exc:
                bad.append(f"第{i}行 row {i}: {str(exc).splitlines()[-1] if str(exc) else exc}")
            bar.advance(task)
        if bad:
            for line in bad[:20]:
                err.print(f"[red]错误 error[/red]: {line}")
            raise typer.Exit(2)
        task = bar.add_task("导入 importing", total=1)
        result = _call("indicator_import", {"rows": rows, "replace": replace})
        bar.advance(task)
    out.print(f"新增 created {result['created']} · 更新 updated {result['updated']} · 跳过 skipped {result['skipped']}")


@indicators_app.command("list")
def list_indicators(area: str = typer.Option("", help="one area"),
                    as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Every indicator with its latest value, target and progress status."""
    listing = _call("indicator_list", {"area": area or None})
    if as_json:
        out.print_json(json.dumps(listing, ensure_ascii=False))
        return
    table = Table("代码 code", "指标 indicator", "最新 latest", "目标 target", "进度 share", "状态 status",
                  title=f"规划指标 plan indicators ({listing['count']})")
    for r in listing["results"]:
        last = f"{r['series'][-1][1]:g} ({r['series'][-1][0]})" if r["series"] else "—"
        target = f"{r['target_value']:g} ({r['target_year']})" if r["target_value"] is not None else "—"
        share = r["progress"]["share"]
        table.add_row(r["code"], r["name"], last, target, "—" if share is None else f"{100 * share:.1f}%",
                      r["progress"]["status"])
    out.print(table)


@indicators_app.command("report")
def report(code: str = typer.Argument(..., help="indicator code"),
           period: str = typer.Argument(..., help="2020 or 2020-06"),
           value: float = typer.Argument(..., help="the value, in the indicator's unit"),
           unit: str = typer.Option(..., help="the unit (must be the indicator's)"),
           evidence_url: str = typer.Option("", help="a link to the evidence"),
           evidence_dataset: str = typer.Option("", help="a dataset of the catalog as evidence"),
           evidence_file: Path | None = typer.Option(None, exists=True, dir_okay=False, help="a document"),
           note: str = typer.Option("", help="a note for the reviewer"), as_user: str = AS_USER) -> None:
    """Report a value with evidence; it counts once the data office approves it."""
    data: dict[str, Any] = {"code": code, "period": period, "value": value, "unit": unit, "note": note,
                            "evidence_url": evidence_url, "evidence_dataset": evidence_dataset}
    if evidence_file is not None:
        with evidence_file.open("rb") as fh:
            data["upload"] = UploadedFile(filename=evidence_file.name, stream=fh)
            made = _call_as(as_user, "indicator_report", data)
    else:
        made = _call_as(as_user, "indicator_report", data)
    out.print(f"已提交 reported #{made['id']} {code} {period} = {value:g} {unit} (待审核 awaiting review)")


@indicators_app.command("review")
def review(observation: int = typer.Argument(0, help="a reported value's id (none: list those awaiting review)"),
           approve: bool = typer.Option(False, "--approve", help="approve it"),
           reject: str = typer.Option("", "--reject", help="reject it, with this comment"),
           comment: str = typer.Option("", help="a comment with an approval"), as_user: str = AS_USER) -> None:
    """List the values awaiting review, or approve / reject one (the data office)."""
    if not observation:
        queue = _call_as(as_user, "indicator_queue", {"status": "reported"})
        table = Table("#", "代码 code", "期间 period", "数值 value", "部门 department", "填报人 reporter",
                      title=f"待审核 awaiting review ({queue['count']})")
        for o in queue["results"]:
            table.add_row(str(o["id"]), o["code"], o["period"], f"{o['value']:g} {o['unit']}", o["department"],
                          o["reporter"])
        out.print(table)
        return
    if approve == bool(reject):
        err.print("[red]错误 error[/red]: 须选择 --approve 或 --reject / choose --approve or --reject")
        raise typer.Exit(2)
    data = {"id": observation, "decision": "approve" if approve else "reject", "comment": reject or comment}
    done = _call_as(as_user, "indicator_review", data)
    out.print(f"#{done['id']} {done['code']} {done['period']}: {done['status']}")


@indicators_app.command("assess")
def assess(kind: str = typer.Argument("annual", help="annual, midterm or final"),
           year: int = typer.Option(0, help="the year assessed (default: the kind's own)"),
           fmt: str = typer.Option("json", "--format", help="json or csv (for third-party assessors)")) -> None:
    """An assessment's figures as JSON or CSV (the printable report is /indicators/reports/<kind>)."""
    report_data = _call("indicator_assessment", {"kind": kind, "year": year or None})
    if fmt == "csv":
        out.file.write(export_csv(report_data))
    else:
        out.print_json(json.dumps(report_data, ensure_ascii=False))
