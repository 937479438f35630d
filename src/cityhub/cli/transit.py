"""``cityhub transit`` — simulate a city-day of smart-card taps, run the transit rules on Parquet inputs,
validate a run against the simulator's ground truth. Inputs and outputs are Parquet files in a directory
(``taps``, ``stops``, ``route_stops``, ``avl``; outputs ``stages``, ``journeys``, the analysis tables and
``report.json``). Works on files only (no catalog database): the algorithms are the pure transit modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cityhub.cli.common import err, out

transit_app = typer.Typer(help="公交地铁客流分析 / transit smart-card analytics", no_args_is_help=True)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False)


def _read(directory: Path, name: str, required: bool = True) -> Any:
    import pyarrow.parquet as pq

    path = directory / f"{name}.parquet"
    if not path.exists():
        if required:
            err.print(f"[red]错误 error[/red]: 缺少输入文件 {path} / missing input file {path}")
            raise typer.Exit(2)
        return None
    return pq.read_table(path)


def _params(params_file: Path | None, max_walk: float | None) -> Any:
    from cityhub.transit.params import TransitParams

    data: dict[str, Any] = {}
    if params_file is not None:
        data = json.loads(params_file.read_text(encoding="utf-8"))
    if max_walk is not None:
        data["max_walk_m"] = max_walk
    try:
        return TransitParams.from_dict(data)
    except (ValueError, TypeError) as exc:
        err.print(f"[red]错误 error[/red]: 参数有误 / bad parameters: {exc}")
        raise typer.Exit(2) from None


@transit_app.command("simulate")
def simulate(out_dir: Path = typer.Argument(..., help="directory to write the Parquet files to"),
             taps: int = typer.Option(50_000, help="about this many taps"),
             seed: int = typer.Option(1, help="random seed (same seed, same city-day)")) -> None:
    """Write a simulated Guangzhou-like service day: taps, stops, route_stops, avl, truth, vehicle_offsets."""
    from cityhub.transit.simulate import simulate as sim

    with _progress() as bar:
        task = bar.add_task("模拟 simulating", total=2)
        city = sim(taps, seed)
        bar.update(task, advance=1, description="写入 writing")
        counts = city.write(out_dir)
        bar.update(task, advance=1)
    err.print(", ".join(f"{k} {v:,}" for k, v in counts.items()) + f" → {out_dir}")


@transit_app.command("run")
def run(in_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="directory with the inputs"),
        out_dir: Path = typer.Argument(..., help="directory for stages, journeys, analyses and report.json"),
        params_file: Path | None = typer.Option(None, "--params", exists=True, dir_okay=False,
                                                help="JSON of rule parameters overriding the defaults"),
        max_walk: float | None = typer.Option(None, help="max walk to the next boarding, m (400/750/1000)"),
        zones: Path | None = typer.Option(None, exists=True, dir_okay=False,
                                          help="custom zones for an OD matrix by zone (od_zone.parquet): a GeoJSON "
                                               "of polygons (.geojson/.json, WGS-84) or a Parquet/CSV of "
                                               "stop_id,zone_id"),
        engine: str = typer.Option("numpy", help="trip-chaining engine: numpy (single machine) or spark "
                                                 "(PySpark local mode, Java 17; the same rules)"),
        spark_cores: int = typer.Option(2, min=1, help="local Spark cores (with --engine spark)"),
        ) -> None:
    """Infer boarding and alighting stops, link journeys, aggregate; write Parquet outputs and report.json."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from cityhub.transit import analysis, pipeline

    params = _params(params_file, max_walk)
    tables = {n: _read(in_dir, n, n != "avl") for n in ("taps", "stops", "route_stops", "avl")}
    if engine not in ("numpy", "spark"):
        err.print(f"[red]错误 error[/red]: 未知引擎 / unknown engine {engine!r} (numpy, spark)")
        raise typer.Exit(2)
    zone_table = None
    if zones is not None and zones.suffix.lower() in (".geojson", ".json"):
        from cityhub.transit import zones as zmod

        try:
            polygons = zmod.parse(zones.read_bytes())
        except zmod.ZoneError as exc:
            err.print(f"[red]错误 error[/red]: 区域文件有误 {exc.message} / bad zones file: {exc.message_en}")
            raise typer.Exit(2) from None
        zone_table = zmod.stop_zones(tables["stops"], polygons)
        err.print(f"{len(polygons)} 个区域 zones, {zone_table.num_rows:,} 个站点在区域内 stops inside")
    elif zones is not None:
        zone_table = pcsv.read_csv(zones) if zones.suffix.lower() == ".csv" else pq.read_table(zones)
    session, own_session = None, False
    if engine == "spark":
        from cityhub.transit.ioreport import TransitInputError as SparkMissing
        from cityhub.transit.spark import active_session, spark_session

        try:
            session = active_session()  # a session this process already runs (an embedding program, tests)
            own_session = session is None
            if session is None:
                session = spark_session(cores=spark_cores, app="cityhub-transit-run")
        except SparkMissing as exc:
            err.print(f"[red]错误 error[/red]: {exc}")
            raise typer.Exit(2) from None
        session.sparkContext.setLogLevel("ERROR")
    with _progress() as bar:
        task = bar.add_task("推断 running", total=len(pipeline.STEPS) + 1)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, description=f"推断 {step}")

        try:
            result = pipeline.run(tables["taps"], tables["stops"], tables["route_stops"], tables["avl"], params,
                                  progress=progress, spark=session)
        except pipeline.TransitInputError as exc:
            err.print(f"[red]错误 error[/red]: {exc.message} / {exc.message_en}")
            raise typer.Exit(2) from None
        finally:
            if own_session and session is not None:
                session.stop()
        bar.update(task, description="汇总 analysing")
        aggregates = analysis.analyse(result.stages, result.journeys, tables["stops"], tables["route_stops"],
                                      params, zone_table)
        bar.update(task, completed=len(pipeline.STEPS) + 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(result.stages, out_dir / "stages.parquet", compression="zstd")
    pq.write_table(result.journeys, out_dir / "journeys.parquet", compression="zstd")
    for name, table in aggregates.items():
        pq.write_table(table, out_dir / f"{name}.parquet", compression="zstd")
    report = dict(result.report)
    report["analysis"] = analysis.summary(aggregates)
    (out_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    st = report["stages"]
    err.print(f"{st['stages']:,} stages, destinations {st['with_destination']:,} "
              f"({(st['rate_all'] or 0):.1%}; multi-tap card-days {(st['rate_multi_tap'] or 0):.1%}), "
              f"{report['journeys']['journeys']:,} journeys → {out_dir}")


@transit_app.command("validate")
def validate(run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="output of `transit run`"),
             truth_dir: Path = typer.Argument(..., exists=True, file_okay=False,
                                              help="the simulated inputs with truth.parquet")) -> None:
    """Compare a run with the simulator's ground truth; prints JSON and writes validation.json to RUN_DIR."""
    from cityhub.transit import validate as val

    result = val.compare(_read(run_dir, "stages"), _read(truth_dir, "truth"), _read(truth_dir, "route_stops"))
    text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    (run_dir / "validation.json").write_text(text, encoding="utf-8")
    out.print_json(text)
    if not all(t["met"] for t in result["targets"].values()):
        err.print("[yellow]未达到全部目标 / not every target met[/yellow]")
        raise typer.Exit(1)
