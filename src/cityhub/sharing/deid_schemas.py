"""Input schemas of the de-identification, base-item (一数一源) and correction (校核) actions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.urls import check_url

RID = Field(min_length=1, max_length=36, description="resource id")
BASE_ITEM_CODES = ("person", "legal_person", "geography", "e_licence", "credit")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResourceRef(Strict):
    resource_id: str = RID


class PolicySet(Strict):
    resource_id: str = RID
    rules: dict[str, dict[str, Any]] = Field(
        description='column → rule, e.g. {"身份证号": {"op": "pseudonym", "kind": "resident_id"}}; operators: '
        "drop, keep, mask, pseudonym (the key comes from the settings), generalise, redact (free text)")
    default: Literal["drop", "keep"] = Field("drop", description="what happens to a column with no rule")
    quasi: list[str] = Field(default_factory=list, max_length=20,
                             description="quasi-identifier columns the k-anonymity check groups by")


class ViewBuild(Strict):
    resource_id: str = RID


class ViewRelease(Strict):
    resource_id: str = RID
    view_id: int | None = Field(None, ge=1, description="the built view (default: the newest)")
    quasi: list[str] | None = Field(None, max_length=20, description="quasi-identifiers (default: the policy's)")


class BaseItemSet(Strict):
    code: Literal["person", "legal_person", "geography", "e_licence", "credit"]
    department: str = Field(min_length=1, max_length=100, description="slug of the authoritative department")
    resource_id: str | None = Field(None, max_length=36, description="its authoritative resource, if any")


class Empty(Strict):
    pass


class DatasetRef(Strict):
    dataset: str = Field(min_length=1, max_length=100, description="dataset name or id")


class CorrectionCreate(Strict):
    resource_id: str = RID
    key_column: str = Field("_id", min_length=1, max_length=200, description="column naming the record")
    key_value: str = Field(min_length=1, max_length=500)
    field: str = Field(min_length=1, max_length=200, description="the disputed column")
    claimed_value: str = Field(max_length=5000, description="what the value should be")
    evidence: str = Field(min_length=1, max_length=5000, description="why (the evidence)")
    evidence_url: str = Field("", max_length=2000)

    @field_validator("evidence_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v:
            check_url(v)
        return v


class CorrectionRef(Strict):
    id: int = Field(ge=1, le=2**31 - 1)


class CorrectionResolve(Strict):
    id: int = Field(ge=1, le=2**31 - 1)
    outcome: Literal["upheld", "rejected"]
    corrected_value: str | None = Field(None, max_length=5000,
                                        description="the value to write (default: the claimed value)")
    reason: str = Field("", max_length=5000, description="required when rejected")


class CorrectionList(Strict):
    status: Literal["", "open", "accepted", "upheld", "rejected", "applied"] = ""
    resource_id: str = Field("", max_length=36)
    limit: int = Field(100, ge=1, le=1000)
