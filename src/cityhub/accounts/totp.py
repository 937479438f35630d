"""Second factor: RFC 6238 time-based one-time passwords (pyotp), secrets encrypted at rest (Fernet).

The shared secret is encrypted with a key derived from ``CITYHUB_SECRET_KEY`` (HMAC-SHA256 with a fixed
label), so a copy of the database alone does not reveal it. A code is accepted for the current 30-second
step and one step either side (clock drift); the accepted step is remembered so a code cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pyotp
from cryptography.fernet import Fernet, InvalidToken

ISSUER = "CityHub"
DIGITS = 6
INTERVAL = 30
DRIFT_STEPS = 1


def _fernet(secret_key: str) -> Fernet:
    raw = hmac.new(secret_key.encode(), b"cityhub-totp-secret-v1", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(raw))


def new_secret() -> str:
    """A 160-bit base32 secret (what authenticator apps expect)."""
    return pyotp.random_base32(32)


def seal(secret: str, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def unseal(sealed: str, secret_key: str) -> str | None:
    """The secret, or None when it cannot be decrypted (e.g. the secret key changed)."""
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def provisioning_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    """``otpauth://totp/...`` for an authenticator app (QR code or manual entry)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(name=account, issuer_name=issuer)


def now_code(secret: str, at: float | None = None) -> str:
    """The current code (used by the CLI's self-test and by tests)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).at(int(at if at is not None else time.time()))


def matching_step(secret: str, code: str, last_step: int | None, at: float | None = None) -> int | None:
    """The time step ``code`` is valid for (within the drift window and after ``last_step``), else None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == DIGITS):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now = int(at if at is not None else time.time())
    current = now // INTERVAL
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * INTERVAL), code):
            return step
    return None
