"""Input schemas of the discussion actions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_ID = 2**31 - 1
DATASET = Field(min_length=1, max_length=100, description="dataset name or id")
POST_ID = Field(ge=1, le=MAX_ID, description="post id")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PostCreate(Strict):
    dataset: str = DATASET
    kind: Literal["question", "error_report", "reply"] = Field(
        "question", description="question or error_report opens a thread; reply answers a post (parent_id)")
    title: str = Field("", max_length=200, description="the thread's title (thread openers)")
    body: str = Field(min_length=1, max_length=10000, description="Markdown; raw HTML is not rendered")
    parent_id: int | None = Field(None, ge=1, le=MAX_ID, description="the post replied to (replies)")

    @model_validator(mode="after")
    def _shape(self) -> PostCreate:
        if self.kind == "reply" and self.parent_id is None:
            raise ValueError("a reply needs parent_id")
        if self.kind != "reply" and self.parent_id is not None:
            raise ValueError("only a reply has a parent_id")
        if self.kind != "reply" and not self.title:
            raise ValueError("a new thread needs a title")
        return self


class PostUpdate(Strict):
    id: int = POST_ID
    body: str = Field(min_length=1, max_length=10000, description="the new Markdown; raw HTML is not rendered")
    title: str | None = Field(None, max_length=200, description="a thread opener's new title (none: unchanged)")


class PostRef(Strict):
    id: int = POST_ID


class PostReport(Strict):
    id: int = POST_ID
    reason: str = Field("", max_length=500)


class PostHide(Strict):
    id: int = POST_ID
    hidden: bool = Field(True, description="true: hide; false: show (publishes a held post)")
    note: str = Field("", max_length=1000, description="the moderator's reason")


class ThreadLock(Strict):
    id: int = Field(ge=1, le=MAX_ID, description="the thread (its first post)")
    locked: bool = True
    note: str = Field("", max_length=1000)


class DiscussionList(Strict):
    dataset: str = DATASET
    limit: int = Field(20, ge=1, le=100, description="threads per page")
    offset: int = Field(0, ge=0, le=10**6)
    replies: int = Field(50, ge=0, le=500, description="the newest replies shown per thread (reply_count: all)")
    thread: int | None = Field(None, ge=1, le=MAX_ID, description="only this thread")


class DiscussionQueue(Strict):
    status: Literal["pending", "reported", "hidden"] = Field(
        "pending", description="pending: held posts; reported: visible posts with reports; hidden")
    limit: int = Field(100, ge=1, le=500)


class PostCorrection(Strict):
    id: int = POST_ID
    resource_id: str = Field(min_length=1, max_length=36, description="the resource whose record is wrong")
    key_column: str = Field("_id", min_length=1, max_length=200)
    key_value: str = Field(min_length=1, max_length=500)
    field: str = Field(min_length=1, max_length=200)
    claimed_value: str = Field(max_length=5000)
