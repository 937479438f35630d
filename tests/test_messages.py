"""Per-field validation messages in both languages (``cityhub.messages``)."""

from __future__ import annotations

import datetime as dt

import pydantic
import pytest

from cityhub import actions, messages
from cityhub.context import Context
from cityhub.errors import ValidationError


class Form(pydantic.BaseModel):
    abstract: str = pydantic.Field(min_length=10)
    day: dt.date
    kind: str = pydantic.Field(pattern=r"^[a-z]+$")
    n: int = pydantic.Field(ge=1)


def _pairs(data: dict[str, object]) -> dict[str, tuple[str, str]]:
    try:
        Form.model_validate(data)
    except pydantic.ValidationError as exc:
        return {str(e["loc"][0]): messages.pydantic_message(e) for e in exc.errors()}
    raise AssertionError("valid")


def test_pydantic_errors_by_type_in_both_languages() -> None:
    pairs = _pairs({"abstract": "短", "day": "2031-13-45", "kind": "A1", "n": 0})
    assert pairs["abstract"] == ("至少需要 10 个字符", "At least 10 characters")
    assert pairs["day"][0] == "日期格式应为 YYYY-MM-DD"
    assert pairs["kind"] == ("格式不正确", "Wrong format")
    assert pairs["n"] == ("不能小于 1", "Must be at least 1")
    assert _pairs({"abstract": "x" * 20, "day": "2031-01-01", "kind": "a", "n": "three"})["n"][0] == "应为整数"


def test_stored_messages_localize() -> None:
    assert messages.localize("duplicate", "zh") == "已存在"
    assert messages.localize("duplicate", "en") == "Already exists"
    assert messages.localize("未知主题 / unknown theme: x", "zh") == "未知主题"
    assert messages.localize("未知主题 / unknown theme: x", "en") == "unknown theme: x"
    assert messages.localize("at most 100", "zh") == "最多 100"
    assert messages.localize("中文说明", "en") == "中文说明"


def test_action_validation_errors_carry_chinese_field_messages(sqlite_empty: object) -> None:
    with pytest.raises(ValidationError) as caught:
        actions.call("dataset_search", Context(source="t", via="test"), {"rows": -1})
    exc = caught.value
    assert exc.fields["rows"] == ["Input should be greater than or equal to 0"]  # the API keeps pydantic's text
    assert exc.fields_zh["rows"] == ["不能小于 0"]
