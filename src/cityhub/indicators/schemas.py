"""Input schemas of the indicator actions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cityhub.catalog.schemas import check_upload

CODE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
SLUG = r"^[a-z0-9][a-z0-9_-]{0,99}$"
PERIOD = re.compile(r"^(19|20|21)\d\d(-(0[1-9]|1[0-2]))?$")
AREAS = ("infrastructure", "industry", "big_data", "economy", "smart_city", "e_government", "security", "other")
LIVE_KEYS = ("open_datasets", "plan_share", "records_exchanged", "overdue_datasets", "monthly_downloads",
             "monthly_api_calls")
Direction = Literal["at_least", "at_most", "reach"]
Kind = Literal["live", "reported"]
Frequency = Literal["yearly", "monthly"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Empty(Strict):
    pass


def check_period(v: str) -> str:
    if not PERIOD.match(v):
        raise ValueError("期间应为年份(2019)或年月(2019-06) / period must be a year (2019) or a month (2019-06)")
    return v


class IndicatorFields(Strict):
    area: str = Field(max_length=40, pattern=r"^[a-z_]{2,40}$", description=f"one of {', '.join(AREAS)} "
                      "(or a city's own area key)")
    name: str = Field(min_length=1, max_length=300)
    name_en: str = Field("", max_length=300)
    unit: str = Field(min_length=1, max_length=40, description="as the plan gives it: %, Mbps, 亿元, 个, …")
    baseline_year: int | None = Field(None, ge=1990, le=2100)
    baseline_value: float | None = None
    baseline_note: str = Field("", max_length=2000, description="the plan's words where it gives no number")
    target_year: int = Field(ge=1990, le=2100)
    target_value: float | None = Field(None, description="none: monitored only (no target)")
    target_note: str = Field("", max_length=2000)
    direction: Direction = "at_least"
    department: str | None = Field(None, pattern=SLUG, description="responsible department (slug)")
    source: str = Field("", max_length=2000)
    kind: Kind = "reported"
    compute_key: str = Field("", max_length=40, description=f"live indicators: one of {', '.join(LIVE_KEYS)}")
    frequency: Frequency = "yearly"
    min_value: float | None = Field(None, description="plausible lower bound of a reported value")
    max_value: float | None = Field(None, description="plausible upper bound (percentages: 100)")
    position: int = Field(0, ge=0, le=100_000)

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorFields:
        if self.kind == "live" and self.compute_key not in LIVE_KEYS:
            raise ValueError(f"实时指标须指定计算方法({', '.join(LIVE_KEYS)}) / a live indicator needs a "
                             f"computation key ({', '.join(LIVE_KEYS)})")
        if self.kind == "reported" and self.compute_key:
            raise ValueError("填报指标不设计算方法 / a reported indicator has no computation key")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError("下限大于上限 / the lower bound is above the upper bound")
        if self.unit == "%":
            lo = 0.0 if self.min_value is None else self.min_value
            hi = 100.0 if self.max_value is None else self.max_value
            if lo < 0 or hi > 100:
                raise ValueError("百分比指标的合理范围须在0–100之间 / percentage bounds must lie within 0–100")
        if self.baseline_value is not None and self.baseline_year is None:
            raise ValueError("有基期值须有基期年份 / a baseline value needs its year")
        if self.baseline_year is not None and self.baseline_year > self.target_year:
            raise ValueError("基期年份晚于目标年份 / the baseline year is after the target year")
        return self


class IndicatorCreate(IndicatorFields):
    code: str = Field(pattern=CODE, description="stable key, e.g. gz2020.open-datasets")


class IndicatorUpdate(Strict):
    code: str = Field(pattern=CODE)
    area: str | None = Field(None, max_length=40, pattern=r"^[a-z_]{2,40}$")
    name: str | None = Field(None, min_length=1, max_length=300)
    name_en: str | None = Field(None, max_length=300)
    unit: str | None = Field(None, min_length=1, max_length=40)
    baseline_year: int | None = Field(None, ge=1990, le=2100)
    baseline_value: float | None = None
    baseline_note: str | None = Field(None, max_length=2000)
    target_year: int | None = Field(None, ge=1990, le=2100)
    target_value: float | None = None
    target_note: str | None = Field(None, max_length=2000)
    direction: Direction | None = None
    department: str | None = Field(None, pattern=SLUG)
    source: str | None = Field(None, max_length=2000)
    frequency: Frequency | None = None
    min_value: float | None = None
    max_value: float | None = None
    position: int | None = Field(None, ge=0, le=100_000)
    active: bool | None = None
    #: fields to set to empty (a nullable number cleared), since ``None`` means "unchanged"
    clear: list[Literal["baseline_year", "baseline_value", "target_value", "department", "min_value",
                        "max_value"]] = Field(default_factory=list)


class IndicatorImport(Strict):
    rows: list[dict[str, Any]] = Field(max_length=2000)
    replace: bool = Field(False, description="update indicators whose code exists (else they are skipped)")


class IndicatorRef(Strict):
    code: str = Field(pattern=CODE)


class IndicatorList(Strict):
    area: str | None = Field(None, max_length=40, pattern=r"^[a-z_]{2,40}$")
    department: str | None = Field(None, pattern=SLUG)
    include_inactive: bool = False


class ObservationReport(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, arbitrary_types_allowed=True)
    code: str = Field(pattern=CODE)
    period: str = Field(max_length=7)
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(min_length=1, max_length=40, description="must be the indicator's unit")
    note: str = Field("", max_length=5000)
    evidence_url: str = Field("", max_length=2000)
    evidence_dataset: str = Field("", max_length=100, pattern=r"^([a-z0-9][a-z0-9_-]{0,99})?$")
    upload: Any = None
    reported_at: dt.datetime | None = Field(None, description="platform admins back-filling historical reports: "
                                            "when the value was reported (default: now)")

    _period = field_validator("period")(check_period)

    @field_validator("upload")
    @classmethod
    def _upload(cls, v: Any) -> Any:
        return check_upload(v)

    @field_validator("evidence_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not re.match(r"^https?://[^\s]+$", v):
            raise ValueError("证明材料链接须为 http(s) 地址 / the evidence link must be an http(s) URL")
        return v

    @model_validator(mode="after")
    def _evidence(self) -> ObservationReport:
        if not (self.evidence_url or self.evidence_dataset or self.upload is not None):
            raise ValueError("须提供证明材料(上传文件、链接或数据集) / evidence is required (a document, a link or "
                             "a dataset)")
        return self


class ObservationReview(Strict):
    id: int = Field(ge=1)
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _comment(self) -> ObservationReview:
        if self.decision == "reject" and not self.comment:
            raise ValueError("驳回须说明理由 / a rejection needs a comment")
        return self


class ObservationRef(Strict):
    id: int = Field(ge=1)


class QueueIn(Strict):
    status: Literal["reported", "approved", "rejected", "superseded"] = "reported"
    department: str | None = Field(None, pattern=SLUG)
    limit: int = Field(100, ge=1, le=1000)


class AssessmentIn(Strict):
    kind: Literal["annual", "midterm", "final"] = "annual"
    year: int | None = Field(None, ge=1990, le=2100, description="annual: the year evaluated (default: last year)")
    area: str | None = Field(None, max_length=40, pattern=r"^[a-z_]{2,40}$")


def _num(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    text = str(v).strip().replace(",", "")
    if text in ("", "-", "—"):
        return None
    return float(text)


def import_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of a city's own table (CSV or YAML) as ``indicator_create`` input: empty cells are left out,
    numbers may carry thousands separators."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        key = str(key).strip()
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key in ("baseline_value", "target_value", "min_value", "max_value"):
            out[key] = _num(value)
        elif key in ("baseline_year", "target_year", "position"):
            out[key] = int(str(value).strip())
        else:
            out[key] = value.strip() if isinstance(value, str) else value
    return out
