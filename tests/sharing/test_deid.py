"""De-identification operators and policies (``cityhub.sharing.deid``)."""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.sharing import deid
from cityhub.sharing.problems import SharingInputError

ID_X = "44010619880801060X"  # valid (stdnum.cn.ric), 天河区, born 1988-08-01, check character X
ID_2 = "440106199005171236"  # valid, born 1990-05-17
ID_BAD = "440106199005171237"  # wrong check digit
KEY = b"0123456789abcdef-secret"


def test_mask_resident_id_mobile_and_generic() -> None:
    assert deid.mask_resident_id(ID_X) == "440106********060X"
    assert deid.mask_resident_id(ID_X.lower()) == "440106********060X"
    assert deid.mask_resident_id(" 440106199005171236 ") == "440106********1236"
    for bad in (ID_BAD, "44010619900230123X", "123", "", 440106199005171236.0):
        assert deid.mask_resident_id(bad) == "*" * 18, bad
    assert deid.mask_mobile("13812345678") == "138****5678"
    assert deid.mask_mobile("+86 138-1234-5678") == "138****5678"
    assert deid.mask_mobile(13812345678) == "138****5678"  # a number, not text
    assert deid.mask_mobile("12812345678") == "*" * 11
    assert deid.mask_mobile("020-83123456") == "*" * 11  # a landline is not a mobile
    assert deid.mask_generic("张三丰", keep_first=1) == "张**"
    assert deid.mask_generic("abcdefgh", keep_first=2, keep_last=2) == "ab****gh"
    assert deid.mask_generic("abc", keep_first=2, keep_last=2) == "***"  # nothing would be hidden
    assert deid.mask_generic(12345, keep_last=2) == "***45"


def test_pseudonym_is_keyed_stable_and_joinable() -> None:
    a = deid.pseudonym(ID_X, KEY)
    assert a == deid.pseudonym(ID_X, KEY)
    assert a.startswith("P") and len(a) == 17 and all(c in "0123456789abcdef" for c in a[1:])
    assert a != deid.pseudonym(ID_X, b"another-secret-key-16")
    assert a != deid.pseudonym(ID_2, KEY)
    # normalised spellings of the same person agree
    rule = deid.Rule.build("pseudonym", key=KEY, kind="resident_id", prefix="RID-", length=12)
    assert rule.apply(ID_X.lower()) == rule.apply(" " + ID_X) == rule.apply(ID_X)
    assert rule.apply(ID_X).startswith("RID-") and len(rule.apply(ID_X)) == 16
    mob = deid.Rule.build("pseudonym", key=KEY, kind="mobile")
    assert mob.apply("+86 138 1234 5678") == mob.apply("13812345678")
    assert mob.apply(None) is None
    # a str key works too and equals its UTF-8 bytes
    assert deid.Rule.build("pseudonym", key=KEY.decode()).apply("x") == deid.pseudonym("x", KEY)


def test_generalise() -> None:
    assert deid.birth_year("1990-05-17") == 1990
    assert deid.birth_year("1990/5/7") == 1990
    assert deid.birth_year("19900517") == 1990
    assert deid.birth_year("1990年5月17日") == 1990
    assert deid.birth_year(dt.date(1990, 5, 17)) == 1990
    assert deid.birth_year(dt.datetime(1990, 5, 17, 8, 0)) == 1990
    assert deid.birth_year("1990-05-17 08:00:00") == 1990
    for bad in ("1990-02-30", "1990-13-01", "yesterday", "", None, 1990, 3.5):
        assert deid.birth_year(bad) is None, bad
    assert deid.resident_birth_year(ID_X) == 1988
    assert deid.resident_birth_year(ID_BAD) is None
    assert deid.resident_region(ID_X) == "440100"
    assert deid.resident_region(ID_X, "county") == "440106"
    assert deid.resident_region(ID_X, "province") == "440000"
    assert deid.resident_region("not an id") is None
    assert deid.district("广州市天河区天河路385号") == "天河区"
    assert deid.district("广东省广州市越秀区天河路1号") == "越秀区"  # 天河路 is a road, not the district
    assert deid.district("广州市萝岗区科学城") == "黄埔区"  # merged into 黄埔区 in 2014
    assert deid.district("广州市东山区农林下路") == "越秀区"
    assert deid.district("增城市荔城街") == "增城区"
    assert deid.district("深圳市南山区") is None
    assert deid.district(None) is None and deid.district(12) is None
    assert deid.age_band(34) == "30-39"
    assert deid.age_band("7") == "0-9"
    assert deid.age_band("45岁") == "40-49"
    assert deid.age_band(39.9) == "30-39"
    assert deid.age_band(34, width=5) == "30-34"
    for bad in (-1, 150, "old", None, True, float("nan")):
        assert deid.age_band(bad) is None, bad


def test_policy_over_rows_and_one_column() -> None:
    policy = deid.Policy.from_dict(
        {
            "id_no": {"op": "mask", "kind": "resident_id"},
            "mobile": {"op": "mask", "kind": "mobile"},
            "person": {"op": "pseudonym", "key": KEY, "kind": "resident_id"},
            "birth": {"op": "generalise", "to": "year"},
            "address": {"op": "generalise", "to": "district"},
            "age": {"op": "generalise", "to": "age_band"},
            "name": {"op": "drop"},
            "amount": {"op": "keep"},
        }
    )
    rows = [
        {
            "id_no": ID_X,
            "mobile": "13812345678",
            "person": ID_X,
            "birth": "1988-08-01",
            "address": "广州市海珠区新港中路",
            "age": 38,
            "name": "张三",
            "amount": 12.5,
            "notes": "secret",
        },
        {
            "id_no": None,
            "mobile": None,
            "person": None,
            "birth": "bad",
            "address": None,
            "age": None,
            "name": None,
            "amount": None,
            "notes": None,
        },
    ]
    before = [dict(r) for r in rows]
    out = policy.apply(rows)
    assert rows == before  # the input is not changed
    assert out[0] == {
        "id_no": "440106********060X",
        "mobile": "138****5678",
        "person": deid.pseudonym(ID_X, KEY),
        "birth": 1988,
        "address": "海珠区",
        "age": "30-39",
        "amount": 12.5,
    }  # name dropped; notes had no rule: dropped by default
    assert out[1] == {
        "id_no": None,
        "mobile": None,
        "person": None,
        "birth": None,
        "address": None,
        "age": None,
        "amount": None,
    }
    assert policy.output_columns(["name", "id_no", "notes", "amount"]) == ["id_no", "amount"]
    assert policy.apply_column("id_no", [ID_2, ID_BAD]) == ["440106********1236", "*" * 18]
    assert policy.apply_column("name", ["张三"]) == []
    assert deid.Policy.from_dict({}, default="keep").apply([{"notes": "x"}]) == [{"notes": "x"}]
    assert policy.apply([]) == []


def test_bad_policies_are_refused_with_both_languages() -> None:
    cases = [
        ({"c": {"op": "shuffle"}}, "Unknown de-identification operator"),
        ({"c": {"op": "mask", "kind": "passport"}}, "Parameter kind"),
        ({"c": {"op": "mask", "keep_first": -1}}, "Parameter keep_first"),
        ({"c": {"op": "mask", "keep_firts": 2}}, "takes no parameter keep_firts"),
        ({"c": {"op": "pseudonym"}}, "secret key"),
        ({"c": {"op": "pseudonym", "key": b"short"}}, "secret key"),
        ({"c": {"op": "pseudonym", "key": KEY, "length": 4}}, "Parameter length"),
        ({"c": {"op": "pseudonym", "key": KEY, "prefix": 7}}, "prefix"),
        ({"c": {"op": "generalise"}}, "Parameter to"),
        ({"c": {"op": "generalise", "to": "region", "level": "street"}}, "Parameter level"),
        ({"c": {"op": "generalise", "to": "age_band", "width": 0}}, "Parameter width"),
        ({"c": {"kind": "mobile"}}, "needs an operator"),
        ({"c": "mask"}, "needs an operator"),
    ]
    for spec, english in cases:
        with pytest.raises(SharingInputError) as e:
            deid.Policy.from_dict(spec)  # type: ignore[arg-type]
        assert english in e.value.en, (spec, e.value.en)
        assert e.value.zh and e.value.field == "c"
        assert str(e.value) == f"{e.value.zh} / {e.value.en}"
    with pytest.raises(SharingInputError):
        deid.Policy.from_dict({}, default="mask")
    with pytest.raises(SharingInputError):
        deid.generaliser("shoe_size")


def test_a_rule_built_directly_is_checked_too() -> None:
    assert deid.Rule("mask", {"kind": "mobile"}).apply("13812345678") == "138****5678"
    assert deid.Rule("mask", {"kind": "mobile"}) == deid.Rule.build("mask", kind="mobile")
    with pytest.raises(SharingInputError):
        deid.Rule("mask", {"kind": "passport"})
    with pytest.raises(SharingInputError):
        deid.Rule("hash")
    with pytest.raises(SharingInputError):
        deid.Rule("pseudonym")  # no key: never a silent identity


def test_resident_id_check_is_exactly_stdnum() -> None:
    from stdnum.cn import ric

    rnd = __import__("random").Random(5)
    codes = ["440106", "440103", "440114", "440183", "110105", "999999", "440100", "441900"]
    seen_valid = 0
    for _ in range(3000):
        body = rnd.choice(codes) + f"{rnd.randrange(1900, 2030):04d}{rnd.randrange(1, 14):02d}"
        body += f"{rnd.randrange(1, 32):02d}{rnd.randrange(1000):03d}"
        number = body + (
            ric.calc_check_digit(body + "0") if rnd.random() < 0.8 else rnd.choice("0123456789X")
        )
        ours = deid.normalise_resident_id(number) is not None
        assert ours == ric.is_valid(number), number
        seen_valid += ours
    assert 500 < seen_valid < 3000  # both outcomes were exercised


def test_the_platform_key_is_given_to_pseudonym_rules_that_name_none() -> None:
    stored = {
        "person": {"op": "pseudonym", "kind": "resident_id"},
        "other": {"op": "pseudonym", "key": b"x" * 16},
    }
    policy = deid.Policy.from_dict(stored, key=KEY)
    assert policy.apply_column("person", [ID_X]) == [deid.pseudonym(ID_X, KEY, kind="resident_id")]
    assert policy.apply_column("other", ["a"]) == [deid.pseudonym("a", b"x" * 16)]
    assert "key" not in stored["person"]  # the stored form is not changed
    with pytest.raises(SharingInputError):
        deid.Policy.from_dict(stored)  # no key anywhere: refused, never an unkeyed hash
