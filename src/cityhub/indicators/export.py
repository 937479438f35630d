"""The assessment as flat rows for third-party assessors (CSV; the JSON export is the assessment itself). Pure."""

from __future__ import annotations

import csv
import io
from typing import Any

EXPORT_COLUMNS = ("code", "area", "name", "name_en", "unit", "baseline_year", "baseline_value", "baseline_note",
                  "target_year", "target_value", "target_note", "direction", "department", "kind", "source",
                  "latest_period", "latest_value", "share", "expected", "status", "achieved")


def export_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per indicator of an assessment (for the assessors' CSV)."""
    rows = []
    for r in report["indicators"]:
        pr = r["progress"]
        last = r["series"][-1] if r["series"] else [None, None]
        rows.append({**{k: r.get(k) for k in EXPORT_COLUMNS if k in r}, "latest_period": last[0],
                     "latest_value": last[1], "share": pr["share"], "expected": pr["expected"],
                     "status": pr["status"], "achieved": pr["achieved"]})
    return rows


def export_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in export_rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()
