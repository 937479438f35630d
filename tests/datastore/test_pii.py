from __future__ import annotations

import random

from stdnum import luhn

from cityhub.datastore import pii
from tests.datastore.conftest import resident_id


def luhn_card(prefix: str = "622202", length: int = 19, rnd: random.Random | None = None) -> str:
    rnd = rnd or random.Random(1)
    body = prefix + "".join(rnd.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def test_resident_id_predicate():
    rid = resident_id(seq=123)
    assert pii.is_resident_id(rid)
    assert pii.is_resident_id(rid.lower())
    bad_check = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    assert not pii.is_resident_id(bad_check)
    assert not pii.is_resident_id(resident_id(birth="19851340", seq=1))  # month 13
    assert not pii.is_resident_id("12345")


def test_resident_ids_detected_random_digits_not():
    rnd = random.Random(7)
    ids = [resident_id(birth=f"19{rnd.randint(50, 99)}0{rnd.randint(1, 9)}1{rnd.randint(0, 9)}", seq=i) for i in range(300)]
    assert pii.detect(ids) == "resident_id"
    random18 = ["".join(rnd.choice("0123456789") for _ in range(18)) for _ in range(300)]
    assert pii.detect(random18) is None


def test_threshold_80_percent():
    ids = [resident_id(seq=i) for i in range(80)] + [f"not-an-id-{i}" for i in range(20)]
    assert pii.detect(ids) == "resident_id"
    ids = [resident_id(seq=i) for i in range(79)] + [f"not-an-id-{i}" for i in range(21)]
    assert pii.detect(ids) is None


def test_mobile():
    assert pii.is_mobile("13812345678")
    assert pii.is_mobile("+8613812345678")
    assert pii.is_mobile("86 13812345678")
    assert not pii.is_mobile("12812345678")
    assert not pii.is_mobile("1381234567")
    phones = [f"13{random.Random(i).randint(0, 999999999):09d}" for i in range(200)]
    assert pii.detect(phones) == "mobile"
    assert pii.detect(["020-83123456"] * 3 + [f"020-8312345{i}" for i in range(9)]) is None


def test_bank_card_luhn():
    rnd = random.Random(3)
    cards = [luhn_card(rnd=rnd) for _ in range(200)]
    assert all(pii.is_bank_card(c) for c in cards)
    assert pii.detect(cards) == "bank_card"
    invalid = [c[:-1] + str((int(c[-1]) + 1) % 10) for c in cards]
    assert not any(pii.is_bank_card(c) for c in invalid)
    assert pii.detect(invalid) is None


def test_email():
    assert pii.is_email("zhang.san@gz.gov.cn")
    assert not pii.is_email("zhang.san@")
    assert pii.detect([f"user{i}@example.com" for i in range(50)]) == "email"


def test_detect_ignores_empty_and_duplicates():
    assert pii.detect([]) is None
    assert pii.detect(["", "  "]) is None
    assert pii.detect(["a@b.cn"] * 10 + ["x"]) is None  # distinct: 1 of 2 match
