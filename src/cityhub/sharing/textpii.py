"""Personal data inside free text (pure: imports nothing else from CityHub but ``sharing.deid``).

Presidio (the brief's choice for free text) needs spaCy and its model downloads; here three regex recognizers
whose candidates are *validated* with ``python-stdnum`` do the same job offline and fast:

* ``resident_id`` -- 18 characters ``[0-9]{17}[0-9Xx]`` accepted by ``stdnum.cn.ric`` (check character, birth
  date, birthplace code) → masked ``440106********123X``;
* ``mobile`` -- ``1[3-9]`` + 9 digits (``+86``/``0086`` allowed) not inside a longer number → ``138****5678``;
* ``bank_card`` -- 13 to 19 digits (spaces allowed in groups of 4) passing the Luhn check → ``6222********1234``.

A candidate that fails validation is left as it is (an order number is not a card). Matching runs from the
most specific recognizer to the least, so a resident ID is never also read as a card.
"""

from __future__ import annotations

import re
from typing import Any

from stdnum import luhn

from cityhub.sharing import deid

_RIC = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+86|0086|86)?[ -]?(1[3-9][0-9]{9})(?![0-9])")
_CARD = re.compile(r"(?<![0-9])(?:[0-9]{4}[ -]?){3}[0-9]{1,7}(?![0-9])")


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", m.group(0))
    if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
        return digits[:4] + deid.MASK_CHAR * (len(digits) - 8) + digits[-4:]
    return m.group(0)


def _ric(m: re.Match[str]) -> str:
    return deid.mask_resident_id(m.group(0)) if deid.normalise_resident_id(m.group(0)) else m.group(0)


def find(text: str) -> list[tuple[str, str]]:
    """``(kind, matched text)`` of every validated identifier in ``text``."""
    out: list[tuple[str, str]] = []
    rest = text
    for m in _RIC.finditer(rest):
        if deid.normalise_resident_id(m.group(0)):
            out.append(("resident_id", m.group(0)))
    rest = _RIC.sub(_ric, rest)
    for m in _MOBILE.finditer(rest):
        out.append(("mobile", m.group(0).strip()))
    rest = _MOBILE.sub(lambda m: deid.mask_mobile(m.group(1)), rest)
    for m in _CARD.finditer(rest):
        digits = re.sub(r"[ -]", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            out.append(("bank_card", m.group(0)))
    return out


def redact(value: Any) -> str | None:
    """``value`` as text with each validated resident ID, mobile number and bank card masked; ``None`` stays."""
    if value is None:
        return None
    text = _RIC.sub(_ric, str(value))
    text = _MOBILE.sub(lambda m: deid.mask_mobile(m.group(1)), text)
    return _CARD.sub(_card, text)
