"""Identifier checks (pure functions; no imports from the rest of cityhub).

Unified social credit codes (GB 32100-2015) are checked with ``stdnum.cn.uscc``'s compaction and check
character, but not with its ``validate``: that one wrongly requires the first eight characters to be
digits and so rejects valid codes whose registration authority is a letter (A, N, Y, …).
"""

from __future__ import annotations

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def validate_uscc(code: str) -> str:
    """Return the compact code, or raise ``ValueError`` with a reason (Chinese / English)."""
    number = uscc.compact(code or "")
    if len(number) != 18:
        raise ValueError("统一社会信用代码应为18位 / a unified social credit code has 18 characters")
    bad = [c for c in number if c not in USCC_ALPHABET]
    if bad:
        raise ValueError(
            f"统一社会信用代码含非法字符 {''.join(bad)} / invalid characters {''.join(bad)} (no I, O, S, V, Z)"
        )
    if not number[2:8].isdigit():
        raise ValueError("统一社会信用代码第3-8位应为行政区划码 / characters 3-8 must be a division code")
    if number[-1] != uscc.calc_check_digit(number[:17]):
        raise ValueError("统一社会信用代码校验位错误 / wrong check character")
    return number


def uscc_check_char(first17: str) -> str:
    return uscc.calc_check_digit(first17)


def is_resident_id(value: str) -> bool:
    """A valid PRC resident identity number (check digit, birth date and birthplace code)."""
    try:
        ric.validate(value)
    except StdnumError:
        return False
    return True
