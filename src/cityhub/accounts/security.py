"""Password hashing (argon2id), password policy and random tokens."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults

MIN_PASSWORD = 12
MAX_PASSWORD = 256
COMMON_PASSWORDS = frozenset(
    ["123456789012", "password1234", "passw0rd1234", "qwertyuiop12", "1q2w3e4r5t6y", "123456123456", "111111111111", "000000000000", "abc123456789", "iloveyou1234", "admin1234567", "administrator", "welcome12345", "password123!", "qwerty123456", "letmein12345", "changeme1234", "woaini123456", "woaini520520", "a12345678910", "aa1234567890", "1234567890ab", "1234qwerasdf", "qazwsxedcrfv", "zaq12wsxcde3", "guangzhou123", "guangzhou2020", "cityhub12345", "p@ssw0rd1234", "password12345", "123456789abc"]
)


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


def password_problems(password: str, username: str = "") -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"密码至少{MIN_PASSWORD}个字符 / at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        problems.append(f"密码最多{MAX_PASSWORD}个字符 / at most {MAX_PASSWORD} characters")
    if password.lower() in COMMON_PASSWORDS or len(set(password)) <= 3:
        problems.append("密码过于常见 / this password is too common")
    if username and username.lower() in password.lower():
        problems.append("密码不能包含用户名 / must not contain the user name")
    return problems


def new_token(prefix: str) -> str:
    """A token with 256 bits from the OS's secure random source."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
