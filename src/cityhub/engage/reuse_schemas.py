"""Input schemas of the reuse (成果展示) actions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.catalog.schemas import UploadedFile, check_upload
from cityhub.urls import check_url

MAX_ID = 2**31 - 1
REUSE_TYPES = ("app", "article", "visualization", "research", "other")
TYPE_LABELS = {"app": ("应用", "App"), "article": ("文章", "Article"), "visualization": ("可视化", "Visualisation"),
               "research": ("研究", "Research"), "other": ("其他", "Other")}
ReuseType = Literal["app", "article", "visualization", "research", "other"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReuseCreate(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, arbitrary_types_allowed=True)
    title: str = Field(min_length=2, max_length=200)
    description: str = Field("", max_length=5000, description="Markdown; raw HTML is not rendered")
    url: str = Field(min_length=1, max_length=2000, description="where the reuse is (http or https)")
    type: ReuseType = "app"
    datasets: list[str] = Field(min_length=1, max_length=20, description="names of the datasets it is built on")
    image: Any = Field(None, description="a PNG, JPEG or WebP image (multipart upload)")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        check_url(v)
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError("an http or https link")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: Any) -> UploadedFile | None:
        return check_upload(v)  # type: ignore[no-any-return, unused-ignore]

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, v: list[str]) -> list[str]:
        out = list(dict.fromkeys(x.strip() for x in v if x and x.strip()))
        if not out or any(len(x) > 100 for x in out):
            raise ValueError("one to twenty dataset names")
        return out


class ReuseRef(Strict):
    id: int = Field(ge=1, le=MAX_ID)


class ReuseReview(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    decision: Literal["published", "rejected"]
    comment: str = Field("", max_length=2000)


class ReuseList(Strict):
    type: ReuseType | None = None
    dataset: str | None = Field(None, min_length=1, max_length=100)
    status: Literal["published", "pending", "rejected"] = Field(
        "published", description="pending and rejected: the data office only")
    limit: int = Field(24, ge=1, le=100)
    offset: int = Field(0, ge=0, le=10**6)


class ReuseCount(Strict):
    datasets: list[str] = Field(max_length=1000, description="dataset names")
