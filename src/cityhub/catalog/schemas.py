"""Input schemas of the catalog actions, with the catalog guide's rules as validators."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cityhub.catalog.vocab import (
    BASE_CATEGORIES,
    LICENSES,
    OPENING_CLASSES,
    RESOURCE_FORMATS,
    SHARING_CLASSES,
    SHARING_METHODS,
    THEME_BY_SLUG,
    UPDATE_CYCLES,
)
from cityhub.geo import DISTRICT_NAMES
from cityhub.settings import get_settings
from cityhub.urls import check_url

SLUG = r"^[a-z0-9][a-z0-9_-]{1,99}$"
MAX_EXTRAS = 100
MAX_EXTRA_CHARS = 10_000
MAX_EXTRAS_TOTAL = 65_536
DANGEROUS = re.compile(r"<\s*/?\s*(script|iframe|object|embed|style|link|meta|base|form)\b|javascript\s*:|"
                       r"vbscript\s*:|data\s*:\s*text/html|<[^>]+\son\w+\s*=", re.I)


def check_text(value: str, label: str = "text") -> str:
    limit = get_settings().max_description_chars
    if len(value) > limit:
        raise ValueError(f"{label}过长(最多{limit}字符) / too long (at most {limit} characters)")
    if DANGEROUS.search(value):
        raise ValueError(f"{label}含有脚本或不安全的HTML / contains script or unsafe HTML")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DataItem(Strict):
    name: str = Field(min_length=1, max_length=100)
    type: Literal["integer", "number", "string", "date", "datetime", "boolean", "time"] = "string"
    length: int | None = Field(None, ge=1, le=100000)
    description: str = Field("", max_length=1000)


class DatasetFields(Strict):
    """Every metadata field; used whole for create and, after merging, for update."""

    title: str = Field(min_length=2, max_length=300)
    title_en: str = Field("", max_length=300)
    department: str = Field(min_length=1, max_length=100, description="provider department slug")
    catalog_type: Literal["基础", "主题", "部门"] = "部门"
    base_category: str | None = None
    class_item: str = Field("01", pattern=r"^\d{2}$")
    class_category: str = Field("001", pattern=r"^\d{3}$")
    class_sub: str = Field("", pattern=r"^\d{0,6}$")
    abstract: str = Field(min_length=10)
    format: str = "电子表格"
    data_items: list[DataItem] = Field(default_factory=list, max_length=5000)
    sharing_class: str = "无条件共享"
    sharing_condition: str = Field("", max_length=2000)
    sharing_method: list[str] = Field(default_factory=lambda: ["接口"])
    sharing_basis: str = Field("", max_length=2000)
    opening_class: str = "无条件开放"
    opening_condition: str = Field("", max_length=2000)
    update_cycle: str = "不定期"
    published_on: dt.date | None = None
    related_codes: list[str] = Field(default_factory=list, max_length=100)
    theme: str
    tags: list[str] = Field(default_factory=list, max_length=30)
    license_id: str = "cc-by-4.0"
    temporal_start: dt.date | None = None
    temporal_end: dt.date | None = None
    districts: list[str] = Field(default_factory=list)
    contact_name: str = Field("", max_length=100)
    contact_email: str = Field("", max_length=254, pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")
    contact_phone: str = Field("", max_length=40, pattern=r"^[0-9+\-() ]*$")
    private: bool = False
    extras: dict[str, str] = Field(default_factory=dict, description="free-form CKAN extras (key → value)")

    @field_validator("extras")
    @classmethod
    def _extras(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > MAX_EXTRAS:
            raise ValueError(f"附加字段最多{MAX_EXTRAS}个 / at most {MAX_EXTRAS} extras")
        for key, value in v.items():
            if not 1 <= len(key) <= 100 or any(c in key for c in "<>\"'") or not key.isprintable():
                raise ValueError(f"附加字段名不合法 / invalid extra key: {key[:100]}")
            if len(value) > MAX_EXTRA_CHARS:
                raise ValueError(f"附加字段值过长 / extra value too long: {key}")
        if sum(len(k) + len(x) for k, x in v.items()) > MAX_EXTRAS_TOTAL:
            raise ValueError(f"附加字段总长超过{MAX_EXTRAS_TOTAL}字符 / extras exceed {MAX_EXTRAS_TOTAL} characters")
        return v

    @field_validator("abstract")
    @classmethod
    def _abstract(cls, v: str) -> str:
        return check_text(v, "摘要")

    @field_validator("title", "title_en", "sharing_condition", "sharing_basis", "opening_condition")
    @classmethod
    def _plain(cls, v: str) -> str:
        return check_text(v, "字段")

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v not in RESOURCE_FORMATS:
            raise ValueError(f"信息资源格式应为 {'/'.join(RESOURCE_FORMATS)} / unknown format")
        return v

    @field_validator("sharing_class")
    @classmethod
    def _sharing(cls, v: str) -> str:
        if v not in SHARING_CLASSES:
            raise ValueError(f"共享类型应为 {'/'.join(SHARING_CLASSES)} / unknown sharing class")
        return v

    @field_validator("opening_class")
    @classmethod
    def _opening(cls, v: str) -> str:
        if v not in OPENING_CLASSES:
            raise ValueError(f"开放类型应为 {'/'.join(OPENING_CLASSES)} / unknown opening class")
        return v

    @field_validator("sharing_method")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if m not in SHARING_METHODS]
        if bad:
            raise ValueError(f"未知共享方式 / unknown sharing method: {', '.join(bad)}")
        return list(dict.fromkeys(v))

    @field_validator("update_cycle")
    @classmethod
    def _cycle(cls, v: str) -> str:
        if v not in UPDATE_CYCLES:
            raise ValueError(f"更新周期应为 {'/'.join(UPDATE_CYCLES)} / unknown update cycle")
        return v

    @field_validator("theme")
    @classmethod
    def _theme(cls, v: str) -> str:
        if v not in THEME_BY_SLUG:
            raise ValueError(f"未知主题 / unknown theme: {v}")
        return v

    @field_validator("license_id")
    @classmethod
    def _license(cls, v: str) -> str:
        if v and v not in LICENSES:
            raise ValueError(f"未知许可协议 / unknown licence: {v}")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        out = []
        for t in v:
            t = t.strip()
            if not t:
                continue
            if len(t) > 50 or DANGEROUS.search(t) or any(c in t for c in "<>\"'"):
                raise ValueError(f"标签不合法 / invalid tag: {t[:50]}")
            out.append(t)
        return list(dict.fromkeys(out))

    @field_validator("districts")
    @classmethod
    def _districts(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in DISTRICT_NAMES]
        if bad:
            raise ValueError(f"未知行政区 / unknown district: {', '.join(bad)}")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _rules(self) -> DatasetFields:
        if self.catalog_type == "基础":
            if self.base_category not in BASE_CATEGORIES:
                raise ValueError(f"基础信息资源须指定基础类别 {'/'.join(BASE_CATEGORIES)} / base data needs its category")
            if self.sharing_class != "无条件共享":
                raise ValueError("基础信息资源必须无条件共享 / base data must be shared unconditionally")
            self.class_item = BASE_CATEGORIES[self.base_category]
        elif self.base_category is not None:
            raise ValueError("只有基础信息资源有基础类别 / only base data has a base category")
        if self.sharing_class != "无条件共享" and not self.sharing_basis.strip():
            raise ValueError(
                f"{self.sharing_class}须注明法律法规或政策依据 / {self.sharing_class} requires a legal or policy basis")
        if self.sharing_class == "有条件共享" and not self.sharing_condition.strip():
            raise ValueError("有条件共享须说明共享条件 / conditional sharing needs its condition")
        if self.opening_class == "有条件开放" and not self.opening_condition.strip():
            raise ValueError("有条件开放须说明开放条件 / conditional opening needs its condition")
        if self.temporal_start and self.temporal_end and self.temporal_end < self.temporal_start:
            raise ValueError("时间范围结束早于开始 / temporal coverage ends before it starts")
        return self


class DatasetCreate(DatasetFields):
    name: str = Field(pattern=SLUG, description="URL name (slug), unique")
    code: str | None = Field(None, pattern=r"^[1-3]\d{5}\d{0,6}/\d{6}$",
                             description="catalog code to keep (e.g. from a CityHub dump); used when free and "
                                         "matching the classification, otherwise a new one is generated")
    publication: Literal["draft", "published"] | None = Field(
        None, description="draft (the default for a person): the department reviews it before it is open; "
                          "published: open at once when the caller may approve it (the department's admin, a "
                          "platform admin), otherwise submitted for review. The harvester and the local operator "
                          "create published datasets.")


class DatasetPatch(Strict):
    """Fields to change; everything omitted stays as it is. The merged record is validated whole."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)
    id: str = Field(min_length=1, max_length=100, description="dataset name or id")

    @model_validator(mode="after")
    def _known(self) -> DatasetPatch:
        extra = set(self.model_extra or {}) - set(DatasetFields.model_fields)
        if extra:
            raise ValueError(f"未知字段 / unknown fields: {', '.join(sorted(extra))}")
        return self

    def changes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DatasetRef(Strict):
    id: str = Field(min_length=1, max_length=100, description="dataset name or id")


class DatasetShowIn(DatasetRef):
    include_deleted: bool = Field(False, description="platform admins: show a withdrawn dataset too")


class ResourceSpec(Strict):
    """One resource of a whole-dataset save: an existing one (``id``) to keep and update, or a new link."""

    id: str | None = Field(None, min_length=1, max_length=36)
    name: str = Field("", max_length=300)
    description: str = Field("", max_length=5000)
    url: str = Field("", max_length=2000)
    format: str = Field("", max_length=20, pattern=r"^[A-Za-z0-9.+-]*$")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_url(v)


class DatasetSave(Strict):
    """A whole dataset with its resources (CKAN's ``package_create`` / ``package_update``)."""

    id: str | None = Field(None, min_length=1, max_length=100,
                           description="the dataset to replace (name or id); absent: create a new one")
    dataset: dict[str, Any] = Field(description="dataset_create input (for a replace: every field, no name)")
    resources: list[ResourceSpec] | None = Field(
        None, max_length=1000, description="the resources, in order; absent: leave them as they are")


class WhereIn(Strict):
    """A Lucene/Solr query tree (``cityhub.catalog.solr.to_json``) over the index's field names; ``param`` is
    the request parameter it came from (``q``, ``fq``), named in errors."""

    param: str = Field(min_length=1, max_length=20)
    query: dict[str, Any]


class SearchIn(Strict):
    q: str = Field("", max_length=500)
    filters: dict[str, list[str] | str] = Field(default_factory=dict)
    where: list[WhereIn] = Field(default_factory=list, max_length=50,
                                 description="Lucene/Solr query trees, all of which must match (CKAN q and fq)")
    rows: int = Field(10, ge=0, le=1000)
    start: int = Field(0, ge=0, le=1_000_000)
    sort: str = Field("relevance", max_length=300,
                      description="relevance | newest | most_used, or Solr's 'field asc|desc, …' over score, "
                                  "metadata_modified, metadata_created, name, title_string, id, views_total, "
                                  "views_recent, popularity, organization, license_id, capacity")
    facet_fields: list[str] = Field(default_factory=list)
    facet_limit: int = Field(50, ge=1, le=1000)
    include_private: bool = False
    include_drafts: bool = Field(False, description="unpublished datasets too (those the caller may see: its own "
                                                    "department's, or all for platform admins)")
    full: bool = Field(False, description="return whole records (resources, data items, quality) like dataset_show")
    quality: bool = Field(True, description="with full: include the quality report (false: leave it out, faster)")


@dataclass
class UploadedFile:
    """A file the web layer or CLI has received; not constructible from JSON input."""

    filename: str
    stream: BinaryIO


def check_upload(v: Any) -> Any:
    """An upload must come from the web layer or the CLI as an ``UploadedFile``, never from JSON input."""
    if v is not None and not isinstance(v, UploadedFile):
        raise ValueError("upload must be a multipart file")
    return v


class ResourceCreate(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, arbitrary_types_allowed=True)
    dataset: str = Field(min_length=1, max_length=100)
    name: str = Field("", max_length=300)
    description: str = Field("", max_length=5000)
    url: str = Field("", max_length=2000)
    format: str = Field("", max_length=20, pattern=r"^[A-Za-z0-9.+-]*$")
    last_modified: dt.datetime | None = Field(None, description="when the data was last updated (default: now)")
    upload: Any = None

    @field_validator("upload")
    @classmethod
    def _upload(cls, v: Any) -> Any:
        return check_upload(v)

    @field_validator("last_modified")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        if v is not None and v > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5):
            raise ValueError("last_modified 不能晚于当前时间 / must not be in the future")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_url(v)

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str) -> str:
        return check_text(v, "说明")

    @model_validator(mode="after")
    def _one(self) -> ResourceCreate:
        if not self.url and self.upload is None:
            raise ValueError("须提供文件或链接 / give a file or a URL")
        return self


class ResourceUpdate(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, arbitrary_types_allowed=True)
    id: str = Field(min_length=1, max_length=36)
    name: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=5000)
    url: str | None = Field(None, max_length=2000)
    format: str | None = Field(None, max_length=20, pattern=r"^[A-Za-z0-9.+-]*$")
    upload: Any = None

    @field_validator("upload")
    @classmethod
    def _upload(cls, v: Any) -> Any:
        return check_upload(v)

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str | None) -> str | None:
        return None if v is None else check_text(v, "说明")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v)


class ResourceRef(Strict):
    id: str = Field(min_length=1, max_length=36)


class PlanItemIn(Strict):
    title: str = Field(min_length=2, max_length=300)
    dataset: str | None = None
    target_date: dt.date
    format: str = Field("CSV", max_length=20)
    update_cycle: str = "不定期"

    @field_validator("update_cycle")
    @classmethod
    def _cycle(cls, v: str) -> str:
        if v not in UPDATE_CYCLES:
            raise ValueError("未知更新周期 / unknown update cycle")
        return v

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        return check_text(v, "标题")


class PlanUpsert(Strict):
    department: str
    year: int = Field(ge=2000, le=2100)
    published_on: dt.date | None = None
    note: str = Field("", max_length=5000)
    items: list[PlanItemIn] = Field(default_factory=list, max_length=1000)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str) -> str:
        return check_text(v, "说明")


class PlanQuery(Strict):
    department: str | None = None
    year: int | None = None


class UsageIn(Strict):
    dataset_id: int
    kind: Literal["views", "downloads", "api_calls"]


class UsageRow(Strict):
    dataset: str
    day: dt.date
    views: int = Field(0, ge=0)
    downloads: int = Field(0, ge=0)
    api_calls: int = Field(0, ge=0)


class UsageImport(Strict):
    rows: list[UsageRow] = Field(max_length=100000)


class HistoryIn(Strict):
    id: str
    limit: int = Field(50, ge=1, le=1000)


class Empty(Strict):
    pass


class ListIn(Strict):
    limit: int = Field(1000, ge=1, le=100000)
    offset: int = Field(0, ge=0)
    all_fields: bool = False


class ReviewIn(DatasetRef):
    """A publication step on one dataset; a rejection or a withdrawal says why."""

    comment: str = Field("", max_length=2000, description="the reviewer's comment (required to reject or withdraw)")


class ReviewListIn(Strict):
    department: str | None = Field(None, max_length=60, description="department slug (default: the caller's)")
    limit: int = Field(200, ge=1, le=1000)


class DashboardIn(Strict):
    department: str | None = Field(None, max_length=60,
                                   description="department slug (default: the caller's; platform admins: any)")
    limit: int = Field(100, ge=1, le=1000)
