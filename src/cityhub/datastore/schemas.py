"""Input schemas of the datastore actions (CKAN-compatible names and semantics)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.catalog.schemas import check_upload


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, arbitrary_types_allowed=True)


class TableSchemaField(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=200)
    type: Literal["integer", "number", "boolean", "date", "datetime", "string"] = "string"


class TableSchema(BaseModel):
    model_config = ConfigDict(extra="allow")
    fields: list[TableSchemaField] = Field(max_length=5000)


class LoadIn(Strict):
    resource_id: str = Field(min_length=1, max_length=36)
    upload: Any = None
    table_schema: TableSchema | None = Field(None, alias="schema")
    encoding: Literal["utf-8", "gb18030", "gbk"] | None = None
    delimiter: str | None = Field(None, max_length=1)
    wait: bool = False
    note: str = Field("", max_length=1000, description="why this version was loaded (e.g. the correction ticket)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    @field_validator("upload")
    @classmethod
    def _upload(cls, v: Any) -> Any:
        return check_upload(v)


class RunIn(Strict):
    version_id: int


class ResourceIdIn(Strict):
    resource_id: str = Field(min_length=1, max_length=36)


class InfoIn(Strict):
    id: str = Field(min_length=1, max_length=36, description="resource id")


class VersionIn(Strict):
    version_id: int


class RollbackIn(Strict):
    resource_id: str = Field(min_length=1, max_length=36)
    version: int = Field(ge=1)


Scalar = str | int | float | bool | None


class SearchIn(Strict):
    resource_id: str = Field(min_length=1, max_length=36)
    filters: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    q: str | dict[str, str] | None = Field(None, description="full text: the whole row, or column → text")
    full_text: str | None = Field(None, max_length=1000, description="full text over the whole row (CKAN)")
    plain: bool = Field(True, description="false: PostgreSQL to_tsquery syntax (& | ! <-> ( ) and prefix term:*)")
    language: str | None = Field(None, max_length=50, description="full-text language: simple")
    fields: list[str] | None = None
    sort: str | list[str] | None = Field(None, max_length=1000)
    limit: int = Field(100, ge=0, description="capped at 32,000 (CSV/TSV records: 1,000,000), as CKAN's rows_max")
    offset: int = Field(0, ge=0)
    include_total: bool = True
    distinct: bool = False
    cursor: str | None = Field(None, max_length=100)
    records_format: Literal["objects", "lists", "csv", "tsv"] = "objects"


Metric = Literal["count", "sum", "avg", "min", "max"]


def _count_only() -> list[tuple[Metric, str | None]]:
    return [("count", None)]


class AggregateIn(Strict):
    resource_id: str = Field(min_length=1, max_length=36)
    group_by: list[str] = Field(min_length=1, max_length=2)
    metrics: list[tuple[Metric, str | None]] = Field(default_factory=_count_only, max_length=10)
    filters: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    q: str | None = None
    limit: int = Field(1000, ge=1, le=10000)


class StatsIn(Strict):
    resource_id: str = Field(min_length=1, max_length=36)
    column: str = Field(min_length=1, max_length=200)
    bins: int = Field(20, ge=2, le=100)


class SqlIn(Strict):
    sql: str = Field(min_length=1, max_length=20000)
    row_cap: int = Field(10000, ge=1, le=100000)


class ExportIn(Strict):
    resource_id: str = Field(min_length=1, max_length=36)
    format: Literal["csv", "xlsx", "json", "parquet"] = "csv"
    bom: bool = False
    filters: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    q: str | None = None
    fields: list[str] | None = None
    sort: str | None = None


class DatasetIdIn(Strict):
    dataset_id: int


class Empty(Strict):
    pass


class FailureListIn(Strict):
    department_id: int | None = Field(None, description="the department's resources (absent: all; platform admins)")
    limit: int = Field(100, ge=1, le=1000)
