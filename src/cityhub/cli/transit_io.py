"""``cityhub transit`` input commands: check a GTFS feed, load smart-card taps (or AVL), simulate and analyse hub
pings. :func:`register` adds them to the ``transit`` command group.

These work on files (the pure modules of :mod:`cityhub.transit`); nothing is stored in the catalog.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.table import Table

from cityhub.cli.common import err, out
from cityhub.transit.ioreport import TransitInputError


def _fail(exc: TransitInputError) -> None:
    err.print(f"[red]错误 error[/red]: {exc.zh} / {exc.en}")
    raise typer.Exit(2)


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(f"[red]错误 error[/red]: {name} 应为 YYYY-MM-DD 日期 / {name} must be a date as YYYY-MM-DD")
        raise typer.Exit(2) from None


def gtfs_check(feed: Path = typer.Argument(..., help="GTFS feed: a .zip or a folder"),
               out_dir: Path | None = typer.Option(None, "--out-dir", help="write stops, route_stops, routes, trips, "
                                                                          "stop_times, service_dates as Parquet"),
               show: int = typer.Option(20, help="problems listed (all are counted)"),
               as_json: bool = typer.Option(False, "--json", help="print the whole report as JSON"),
               fail_on_error: bool = typer.Option(False, "--fail-on-error", help="exit 1 when there is an error"),
               ) -> None:
    """Load a GTFS feed and report its problems (gtfs-validator's notice codes) — 校验 GTFS 数据包."""
    from cityhub.transit.gtfs import load_gtfs

    try:
        result = load_gtfs(feed)
    except TransitInputError as exc:
        _fail(exc)
        return
    report = result.report
    if as_json:
        out.print_json(json.dumps(report.to_dict(), ensure_ascii=False, default=str))
    else:
        counts = Table("级别 severity", "规则 code", "数量 count")
        for c in report.log.summary():
            counts.add_row(c["severity"], c["code"], str(c["count"]))
        out.print(counts)
        listing = Table("级别 severity", "规则 code", "文件 file", "行 row", "字段 field", "值 value", "说明 message")
        for p in report.problems[:show]:
            listing.add_row(p.severity, p.code, p.file, "" if p.row is None else str(p.row), p.field or "",
                            p.value or "", p.message)
        if report.problems:
            out.print(listing)
        for note in report.notes:
            out.print(f"注 note: {note}")
        out.print("输出 outputs: " + ", ".join(f"{k} {v}" for k, v in report.outputs.items()))
        out.print(f"错误 errors {report.errors}, 警告 warnings {report.warnings}")
    if out_dir is not None:
        for name in ("stops", "route_stops", "routes", "trips", "stop_times", "service_dates"):
            _write(getattr(result, name), out_dir / f"{name}.parquet")
        err.print(f"→ {out_dir}")
    if fail_on_error and report.errors:
        raise typer.Exit(1)


def cards_load(files: list[Path] = typer.Argument(..., help="CSV or Parquet files"),
               preset: str = typer.Option("shenzhen", help="column mapping preset (shenzhen)"),
               mapping: Path | None = typer.Option(None, help="a YAML/JSON mapping file (overrides --preset)"),
               out_path: Path = typer.Option(Path("taps.parquet"), "--out", help="TAPS Parquet file to write"),
               avl: bool = typer.Option(False, "--avl", help="the files are AVL pings (needs --mapping)"),
               as_json: bool = typer.Option(False, "--json", help="print the reports as JSON"),
               ) -> None:
    """Read smart-card transactions into TAPS (or AVL pings into AVL) — 读取刷卡(或车辆定位)数据."""
    from cityhub.transit import cards

    try:
        if avl:
            if mapping is None:
                raise TransitInputError("读取车辆定位数据需要 --mapping", "AVL needs --mapping", "mapping")
            amap = cards.avl_mapping_from_file(mapping)
            tables: list[pa.Table] = []
            reports: list[cards.CardsReport] = []
            for f in files:
                try:
                    t, r = cards.read_avl(f, amap)
                    tables.append(t)
                except TransitInputError as exc:
                    r = cards.CardsReport(file=f.name, error=str(exc))
                reports.append(r)
            table = pa.concat_tables(tables) if tables else cards.AVL.empty_table()
        else:
            if mapping is not None:
                m = cards.mapping_from_file(mapping)
            elif preset in cards.PRESETS:
                m = cards.PRESETS[preset]
            else:
                raise TransitInputError(f"未知的预设:{preset}", f"Unknown preset: {preset}", "preset")
            table, reports = cards.load_taps(files, m)
    except TransitInputError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in reports], ensure_ascii=False))
    else:
        t = Table("文件 file", "读取 read", "载入 loaded", "拒绝 rejected", "重复 duplicates",
                  "卡/车 cards", "时间 from–to", "错误 error")
        for r in reports:
            t.add_row(r.file, str(r.rows_read), str(r.rows_loaded),
                      ", ".join(f"{k} {v}" for k, v in r.rejected.items()) or "0", str(r.duplicates), str(r.cards),
                      f"{r.first_ts or ''} – {r.last_ts or ''}", r.error or "")
        out.print(t)
    _write(table, out_path)
    err.print(f"{table.num_rows} rows → {out_path}")
    if reports and all(r.error for r in reports):
        raise typer.Exit(2)


def hubs_simulate(day: str = typer.Option("2026-10-01", help="the day (YYYY-MM-DD)"),
                  holiday: bool = typer.Option(True, "--holiday/--ordinary", help="is the day a holiday"),
                  baseline: str = typer.Option("", help="also simulate this ordinary day (YYYY-MM-DD)"),
                  people: int = typer.Option(20_000, help="people on an ordinary day"),
                  seed: int = typer.Option(0, help="random seed"),
                  out_path: Path = typer.Option(Path("pings.parquet"), "--out", help="PINGS Parquet file"),
                  truth: Path | None = typer.Option(None, help="also write the ground truth here"),
                  ) -> None:
    """Simulate device pings at Guangzhou South station — 模拟广州南站手机信令."""
    from cityhub.transit.hubsim import simulate_days

    days = [(_day(day, "day"), holiday)]
    if baseline:
        days.insert(0, (_day(baseline, "baseline"), False))
    try:
        sim = simulate_days(days, people=people, seed=seed)
    except ValueError as exc:
        err.print(f"[red]错误 error[/red]: {exc}")
        raise typer.Exit(2) from None
    _write(sim.pings, out_path)
    if truth is not None:
        _write(sim.truth, truth)
    out.print(", ".join(f"{k} {v}" for k, v in sim.counts.items()))
    err.print(f"→ {out_path}")


def hubs_analyse(pings: Path = typer.Argument(..., help="PINGS Parquet file"),
                 hub_zones: str = typer.Option("", help="comma-separated zones inside the hub (default: the "
                                                       "simulator's 广州南站 zones; 'all' for every zone)"),
                 gap_min: float = typer.Option(15, help="a visit ends after this silence (minutes)"),
                 interval_min: float = typer.Option(15, help="reporting interval (minutes)"),
                 dwell_min: float = typer.Option(30, help="stayed vs passed-through threshold (minutes)"),
                 origin_window_min: float = typer.Option(120, help="origin: previous stay ended within (minutes)"),
                 day: str = typer.Option("", help="surge view: this day (YYYY-MM-DD) …"),
                 baseline: str = typer.Option("", help="… against this baseline day"),
                 out_dir: Path | None = typer.Option(None, "--out-dir", help="write visits, stays, presence, "
                                                                            "dwell, origins as Parquet"),
                 ) -> None:
    """People present, arrivals, departures, dwell, origins (and a holiday surge) — 枢纽客流分析."""
    from cityhub.transit import hubs
    from cityhub.transit.hubsim import HUB_ZONE_IDS

    zones: tuple[str, ...] | None
    if hub_zones == "all":
        zones = None
    elif hub_zones:
        zones = tuple(z.strip() for z in hub_zones.split(",") if z.strip())
    else:
        zones = HUB_ZONE_IDS
    try:
        params = hubs.HubParams(gap_s=int(gap_min * 60), interval_s=int(interval_min * 60),
                                dwell_threshold_s=int(dwell_min * 60), origin_window_s=int(origin_window_min * 60),
                                hub_zones=zones)
        table = pq.read_table(pings)
    except (ValueError, OSError) as exc:
        err.print(f"[red]错误 error[/red]: {exc}")
        raise typer.Exit(2) from None
    missing = [c for c in ("device_id", "ts", "zone_id") if c not in table.column_names]
    if missing:
        err.print(f"[red]错误 error[/red]: 缺少列 {', '.join(missing)} / missing column(s) {', '.join(missing)}")
        raise typer.Exit(2)
    result = hubs.analyse(table.select(["device_id", "ts", "zone_id"]), params)
    out.print(", ".join(f"{k} {v}" for k, v in result.summary.items()))
    d = Table("停留 dwell (min)", "人次 stays", "占比 share")
    for r in result.dwell.to_pylist():
        d.add_row(r["bin"], str(r["stays"]), f"{r['share']:.1%}")
    out.print(d)
    o = Table("来源 origin", "人次 stays", "占比 share")
    for r in result.origins.to_pylist()[:10]:
        o.add_row(r["zone_id"], str(r["stays"]), f"{r['share']:.1%}")
    out.print(o)
    if day and baseline:
        s = hubs.surge(result.presence, _day(day, "day"), _day(baseline, "baseline"))
        st = Table("时段 time", "在场 present", "基准 baseline", "倍数 ratio")
        for r in s.to_pylist():
            ratio = "" if r["present_ratio"] is None else f"{r['present_ratio']:.2f}"
            st.add_row(str(r["time_of_day"])[:5], str(r["present"]), str(r["present_baseline"]), ratio)
        out.print(st)
        if out_dir is not None:
            _write(s, out_dir / "surge.parquet")
    if out_dir is not None:
        for name in ("visits", "stays", "presence", "dwell", "origins"):
            _write(getattr(result, name), out_dir / f"{name}.parquet")
        err.print(f"→ {out_dir}")


def register(app: typer.Typer) -> None:
    """Add the input commands to the ``transit`` group."""
    app.command("gtfs-check")(gtfs_check)
    app.command("cards-load")(cards_load)
    app.command("hubs-simulate")(hubs_simulate)
    app.command("hubs-analyse")(hubs_analyse)
