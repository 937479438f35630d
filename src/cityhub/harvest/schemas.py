"""Input schemas of the harvest actions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.urls import check_url

SLUG = r"^[a-z0-9][a-z0-9_-]{1,99}$"
KINDS = ("ckan", "dcat")
SCHEDULES = ("manual", "hourly", "daily", "weekly")


def source_url(v: str) -> str:
    """A source is read over http(s) only (an ftp URL is a fine link, but not a catalog we fetch)."""
    check_url(v)
    if not v.lower().startswith(("http://", "https://")):
        raise ValueError("来源地址须为 http(s) URL / the source URL must be http(s)")
    return v


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SourceConfig(Strict):
    """Per-source options (stored as JSON)."""

    fq: str = Field("", max_length=500, description="CKAN: package_search filter, e.g. organization:gz-transport")
    rows: int = Field(1000, ge=1, le=1000, description="CKAN: page size of package_search")
    timeout: float = Field(30.0, gt=0, le=600, description="seconds allowed for each HTTP request")
    max_mb: int = Field(200, ge=1, le=2000, description="largest response read, in MiB")
    max_pages: int = Field(1000, ge=1, le=100000, description="DCAT: most Hydra pages followed")
    map_organizations: bool = Field(True, description="put a dataset in the local department whose slug is "
                                    "the remote organization's (or whose name is the DCAT publisher's), if any")
    default_theme: str = Field("livelihood", max_length=40, description="DCAT: theme when none maps")
    batch: int = Field(200, ge=1, le=5000, description="datasets imported per transaction")


class SourceFields(Strict):
    title: str = Field(min_length=1, max_length=300)
    kind: Literal["ckan", "dcat"]
    url: str = Field(min_length=8, max_length=2000)
    department: str = Field(min_length=1, max_length=100, description="local department slug of the datasets")
    schedule: Literal["manual", "hourly", "daily", "weekly"] = "manual"
    enabled: bool = True
    config: SourceConfig = Field(default_factory=lambda: SourceConfig.model_validate({}))

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return source_url(v)


class SourceCreate(SourceFields):
    name: str = Field(pattern=SLUG, description="URL name of the source, unique")


class SourceUpdate(Strict):
    name: str = Field(min_length=1, max_length=100)
    title: str | None = Field(None, min_length=1, max_length=300)
    url: str | None = Field(None, min_length=8, max_length=2000)
    department: str | None = Field(None, min_length=1, max_length=100)
    schedule: Literal["manual", "hourly", "daily", "weekly"] | None = None
    enabled: bool | None = None
    config: SourceConfig | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else source_url(v)


class SourceRef(Strict):
    name: str = Field(min_length=1, max_length=100)


class SourceDelete(SourceRef):
    withdraw: bool = Field(True, description="withdraw the source's datasets (else they become ordinary local "
                           "datasets that stewards may edit)")


class ListIn(Strict):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class RunStart(Strict):
    source: str = Field(min_length=1, max_length=100)
    wait: bool = Field(False, description="run in the caller's thread and return the finished run")


class RunRef(Strict):
    id: int = Field(ge=1)


class RunListIn(Strict):
    source: str = Field("", max_length=100)
    limit: int = Field(20, ge=1, le=500)


class DueIn(Strict):
    wait: bool = Field(False, description="run the due sources in the caller's thread")


class PageIn(Strict):
    """A page of prepared records (internal: the harvester calls it in its own context)."""

    run_id: int
    source_id: int
    records: list[dict[str, Any]] = Field(max_length=5000)


class DatasetListIn(Strict):
    source: str = Field(min_length=1, max_length=100)
    limit: int = Field(100000, ge=1, le=1_000_000)
