"""Per-field validation messages in Chinese and English, in one place.

Actions validate their input with pydantic, whose messages are English only ("String should have at least 10
characters"); domain code adds short English codes ("duplicate", "required") and bilingual sentences written as
``"中文 / English"``. ``pydantic_message`` turns a pydantic error into a (Chinese, English) pair by its *type*
(``string_too_short``…) and context; ``localize`` shows any stored field message in the page's language.

Pure: imports nothing from the rest of CityHub (an import-linter contract).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CJK = re.compile(r"[\u3400-\u9fff]")

# pydantic error type → (Chinese, English); ``{name}`` placeholders come from the error's ``ctx``
PYDANTIC: dict[str, tuple[str, str]] = {
    "missing": ("必填", "Required"),
    "string_too_short": ("至少需要 {min_length} 个字符", "At least {min_length} characters"),
    "string_too_long": ("最多 {max_length} 个字符", "At most {max_length} characters"),
    "string_pattern_mismatch": ("格式不正确", "Wrong format"),
    "string_type": ("应为文本", "Should be text"),
    "string_unicode": ("应为有效的文本", "Should be valid text"),
    "int_parsing": ("应为整数", "Should be a whole number"),
    "int_type": ("应为整数", "Should be a whole number"),
    "int_from_float": ("应为整数", "Should be a whole number"),
    "int_parsing_size": ("数值过大", "The number is too large"),
    "float_parsing": ("应为数字", "Should be a number"),
    "float_type": ("应为数字", "Should be a number"),
    "finite_number": ("应为有限的数字", "Should be a finite number"),
    "bool_parsing": ("应为“是”或“否”", "Should be yes or no"),
    "bool_type": ("应为“是”或“否”", "Should be yes or no"),
    "date_parsing": ("日期格式应为 YYYY-MM-DD", "A date as YYYY-MM-DD"),
    "date_type": ("日期格式应为 YYYY-MM-DD", "A date as YYYY-MM-DD"),
    "date_from_datetime_parsing": ("日期格式应为 YYYY-MM-DD", "A date as YYYY-MM-DD"),
    "date_from_datetime_inexact": ("应为日期,不含时间", "A date without a time"),
    "datetime_parsing": ("时间格式应为 YYYY-MM-DD HH:MM", "A date and time as YYYY-MM-DD HH:MM"),
    "datetime_type": ("时间格式应为 YYYY-MM-DD HH:MM", "A date and time as YYYY-MM-DD HH:MM"),
    "datetime_from_date_parsing": ("时间格式应为 YYYY-MM-DD HH:MM", "A date and time as YYYY-MM-DD HH:MM"),
    "time_parsing": ("时间格式应为 HH:MM", "A time as HH:MM"),
    "greater_than": ("应大于 {gt}", "Must be greater than {gt}"),
    "greater_than_equal": ("不能小于 {ge}", "Must be at least {ge}"),
    "less_than": ("应小于 {lt}", "Must be less than {lt}"),
    "less_than_equal": ("不能大于 {le}", "Must be at most {le}"),
    "multiple_of": ("应为 {multiple_of} 的倍数", "Must be a multiple of {multiple_of}"),
    "too_short": ("至少需要 {min_length} 项", "At least {min_length} items"),
    "too_long": ("最多 {max_length} 项", "At most {max_length} items"),
    "literal_error": ("应为以下之一:{expected}", "Should be one of {expected}"),
    "enum": ("应为以下之一:{expected}", "Should be one of {expected}"),
    "extra_forbidden": ("不接受该字段", "Unknown field"),
    "list_type": ("应为列表", "Should be a list"),
    "tuple_type": ("应为列表", "Should be a list"),
    "set_type": ("应为列表", "Should be a list"),
    "dict_type": ("应为对象", "Should be an object"),
    "model_type": ("应为对象", "Should be an object"),
    "model_attributes_type": ("应为对象", "Should be an object"),
    "json_invalid": ("不是有效的 JSON", "Not valid JSON"),
    "json_type": ("不是有效的 JSON", "Not valid JSON"),
    "url_parsing": ("网址不正确", "Not a valid URL"),
    "url_scheme": ("网址须以 http(s):// 开头", "The URL must start with http(s)://"),
    "uuid_parsing": ("不是有效的 ID", "Not a valid id"),
    "uuid_type": ("不是有效的 ID", "Not a valid id"),
    "none_required": ("应为空", "Must be empty"),
    "bytes_too_long": ("内容过长", "Too long"),
    "union_tag_invalid": ("类型不正确", "Wrong kind"),
}
GENERIC = ("输入不合法", "Invalid input")

# short codes and phrases that domain code writes into ``fields``
CODES: dict[str, tuple[str, str]] = {
    "duplicate": ("已存在", "Already exists"),
    "required": ("必填", "Required"),
    "invalid": ("不正确", "Invalid"),
    "unknown": ("不存在", "Unknown"),
    "invalid JSON": ("不是有效的 JSON", "Not valid JSON"),
    "NUL character not allowed": ("不能含有 NUL 字符", "NUL characters are not allowed"),
    "renaming is not supported": ("不支持修改名称", "Renaming is not supported"),
    "not a complete version": ("不是已完成的版本", "Not a complete version"),
    "no pending secret": ("请先生成密钥", "Start enrolment first"),
}
PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^(?:must be )?at most (\d+)$"), "最多 {0}", "At most {0}"),
    (re.compile(r"^unknown field (.+)$"), "未知字段 {0}", "Unknown field {0}"),
    (re.compile(r"^(.+) belongs to another department$"), "{0} 属于其他部门", "{0} belongs to another department"),
    # pydantic's pattern message shows the regular expression, which tells a person nothing
    (re.compile(r"^String should match pattern '.*'$", re.S), "格式不正确", "Wrong format"),
)


def _fill(template: str, ctx: Mapping[str, Any] | None) -> str:
    try:
        return template.format(**{k: v for k, v in (ctx or {}).items()})
    except (KeyError, IndexError, ValueError):
        return re.sub(r"\{[a-z_]+\}", "", template).strip(" :")


def _fill_positional(template: str, values: tuple[str, ...]) -> str:
    """``{name}`` placeholders filled in order."""
    it = iter(values)
    return re.sub(r"\{[a-z_]+\}", lambda _m: next(it, ""), template)


def split_pair(message: str) -> tuple[str, str] | None:
    """``"中文 / English"`` as its two sides (the Chinese side holds CJK, the English side none)."""
    for m in re.finditer(r" / ", message):
        zh, en = message[: m.start()].strip(), message[m.end():].strip()
        if CJK.search(zh) and en and not CJK.search(en):
            return zh, en
    return None


def pydantic_message(error: Mapping[str, Any]) -> tuple[str, str]:
    """(Chinese, English) for one entry of ``pydantic.ValidationError.errors()``."""
    kind = str(error.get("type", ""))
    msg = str(error.get("msg", ""))
    if kind in ("value_error", "assertion_error"):
        text = re.sub(r"^(Value|Assertion) error, ", "", msg)
        pair = split_pair(text)
        if pair:
            return pair
        return (text, text) if CJK.search(text) else (localize(text, "zh"), text)
    template = PYDANTIC.get(kind)
    if template is None:
        return GENERIC[0], msg or GENERIC[1]
    return _fill(template[0], error.get("ctx")), _fill(template[1], error.get("ctx"))


def localize(message: str, language: str) -> str:
    """A stored field message in ``language`` ("zh" or "en"); unknown English stays as it is in English and
    becomes the generic "输入不合法" in Chinese (with the original after it, so nothing is lost)."""
    side = 1 if language == "en" else 0
    pair = split_pair(message)
    if pair:
        return pair[side]
    if message in CODES:
        return CODES[message][side]
    for pattern, zh, en in PATTERNS:
        m = pattern.match(message)
        if m:
            return (en if side else zh).format(*m.groups())
    if side == 0 and message and not CJK.search(message):
        for kind, (zh_t, en_t) in PYDANTIC.items():  # a pydantic message stored as text (the English side)
            regex = "^" + re.sub(r"\\\{[a-z_]+\\\}", "(.+)", re.escape(en_t)) + "$"
            m = re.match(regex, message)
            if m and kind:
                return _fill_positional(zh_t, m.groups())
        return f"{GENERIC[0]}({message})"
    return message
