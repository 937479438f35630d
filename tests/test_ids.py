from __future__ import annotations

import pytest

from cityhub.ids import uscc_check_char, validate_uscc


def _code(first17: str) -> str:
    return first17 + uscc_check_char(first17)


@pytest.mark.parametrize("first17", ["11440100006940001", "Y1440100MA5D12345", "A1440106MA5ABCDEF",
                                     "N2440111M00000001", "91440101MA59XXXX0"])
def test_valid_codes_including_letter_authorities(first17: str) -> None:
    code = _code(first17)
    assert validate_uscc(code) == code
    assert validate_uscc(code[:6] + " " + code[6:]) == code  # spaces are compacted


@pytest.mark.parametrize("bad, reason", [
    ("11440100006940001", "18"),
    ("11440100006940001TX", "18"),
    ("1144010000694000IT", "非法字符"),
    ("11ABCDEF006940001T", "行政区划"),
])
def test_invalid_codes(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_uscc(bad)


def test_wrong_check_character() -> None:
    code = _code("11440100006940001")
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(ValueError, match="校验位"):
        validate_uscc(wrong)
