"""Personal-data detectors for table columns (pure: imports nothing from cityhub).

``detect(values)`` looks at the distinct non-null values of one column (the engine passes up to 2,000)
and returns the name of the detector that matches at least 80% of them, or None:

* ``resident_id`` -- PRC resident identity card number: 18 characters, valid ISO 7064 check digit, a real
  birth date and a known region code (``stdnum.cn.ric``);
* ``mobile`` -- mainland mobile number ``1[3-9]`` + 9 digits, optionally prefixed by +86 / 86 / 0086;
* ``bank_card`` -- 13 to 19 digits passing the Luhn check (``stdnum.luhn``);
* ``email`` -- a simple ``local@domain.tld`` shape.

Detectors are tried from the most specific to the least; the first one reaching the threshold wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from stdnum import luhn
from stdnum.cn import ric

THRESHOLD = 0.8
MAX_VALUES = 2000

_MOBILE_RE = re.compile(r"(?:\+?86|0086)?[ -]?1[3-9][0-9]{9}")
_CARD_RE = re.compile(r"[0-9]{13,19}")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_RIC_RE = re.compile(r"[0-9]{17}[0-9Xx]")


def is_resident_id(value: str) -> bool:
    v = value.strip()
    if not _RIC_RE.fullmatch(v):
        return False
    return bool(ric.is_valid(v.upper()))


def is_mobile(value: str) -> bool:
    return _MOBILE_RE.fullmatch(value.strip()) is not None


def is_bank_card(value: str) -> bool:
    v = value.strip().replace(" ", "")
    if not _CARD_RE.fullmatch(v):
        return False
    return bool(luhn.is_valid(v))


def is_email(value: str) -> bool:
    return _EMAIL_RE.fullmatch(value.strip()) is not None


#: Most specific first: a valid resident ID is never counted as a bank card.
DETECTORS: dict[str, Callable[[str], bool]] = {
    "resident_id": is_resident_id,
    "mobile": is_mobile,
    "bank_card": is_bank_card,
    "email": is_email,
}


def detect(values: Iterable[str], threshold: float = THRESHOLD, max_values: int = MAX_VALUES) -> str | None:
    """Name of the detector matching at least ``threshold`` of the distinct non-empty values, else None."""
    distinct: list[str] = []
    seen: set[str] = set()
    for raw in values:
        if raw is None:
            continue
        v = str(raw).strip()
        if not v or v in seen:
            continue
        seen.add(v)
        distinct.append(v)
        if len(distinct) >= max_values:
            break
    n = len(distinct)
    if n == 0:
        return None
    allowed_misses = int((1.0 - threshold) * n + 1e-9)
    for name, predicate in DETECTORS.items():
        misses = 0
        for v in distinct:
            if not predicate(v):
                misses += 1
                if misses > allowed_misses:
                    break
        else:
            return name
    return None
