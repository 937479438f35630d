"""Data-resource codes in the national catalog layout (pure functions).

``{类 1 digit}{项 2 digits}{目 3 digits}{细目 0-6 digits}/{sequence, 6 digits}``, e.g. ``201001/000042``
(主题类, 项 01, 目 001, no 细目, the 42nd resource under that prefix). 类: 1 基础, 2 主题, 3 部门.
"""

from __future__ import annotations

import re

CODE_RE = re.compile(r"^(?P<cls>[1-3])(?P<item>\d{2})(?P<cat>\d{3})(?P<sub>\d{0,6})/(?P<seq>\d{6})$")


def code_prefix(class_digit: str, item: str, category: str, sub: str = "") -> str:
    if not re.fullmatch(r"[1-3]", class_digit):
        raise ValueError("类 must be 1, 2 or 3")
    if not re.fullmatch(r"\d{2}", item):
        raise ValueError("项 must be 2 digits")
    if not re.fullmatch(r"\d{3}", category):
        raise ValueError("目 must be 3 digits")
    if not re.fullmatch(r"\d{0,6}", sub):
        raise ValueError("细目 must be up to 6 digits")
    return f"{class_digit}{item}{category}{sub}"


def make_code(prefix: str, seq: int) -> str:
    if not 0 < seq < 1_000_000:
        raise ValueError("sequence out of range")
    return f"{prefix}/{seq:06d}"


def next_code(prefix: str, existing: list[str]) -> str:
    """The next free code under ``prefix`` given the codes already issued under it."""
    seqs = [int(c.split("/")[1]) for c in existing if c.startswith(prefix + "/")]
    return make_code(prefix, max(seqs, default=0) + 1)


def parse_code(code: str) -> dict[str, str]:
    m = CODE_RE.match(code)
    if not m:
        raise ValueError(f"not a catalog code: {code}")
    return m.groupdict()
