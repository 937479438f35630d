"""The small exception tree every layer maps to one JSON error shape.

Shape (native API)::

    {"error": {"type": "not_found", "message": "…", "message_en": "…", "fields": {...}}}
"""

from __future__ import annotations

from typing import Any


class CityHubError(Exception):
    """Base class: carries a machine type, an HTTP status and bilingual messages."""

    type = "error"
    status = 400
    ckan_type = "Validation Error"

    def __init__(self, message: str, message_en: str = "", fields: dict[str, list[str]] | None = None,
                 fields_zh: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_en = message_en or message
        self.fields = fields or {}
        #: the same per-field messages in Chinese, where they were written in English (pydantic's); pages show
        #: them (``cityhub.messages.localize`` covers the rest); the API keeps ``fields``
        self.fields_zh = fields_zh or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "message": self.message, "message_en": self.message_en}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


class ValidationError(CityHubError):
    type = "validation_error"
    status = 422
    ckan_type = "Validation Error"


class NotFound(CityHubError):
    type = "not_found"
    status = 404
    ckan_type = "Not Found Error"


class NotAuthorized(CityHubError):
    type = "not_authorized"
    status = 403
    ckan_type = "Authorization Error"


class NotAuthenticated(CityHubError):
    type = "not_authenticated"
    status = 401
    ckan_type = "Authorization Error"


class Conflict(CityHubError):
    type = "conflict"
    status = 409
    ckan_type = "Validation Error"


class TooManyRequests(CityHubError):
    type = "too_many_requests"
    status = 429
    ckan_type = "Authorization Error"

    def __init__(self, message: str, message_en: str = "", fields: dict[str, list[str]] | None = None,
                 retry_after: int = 900) -> None:
        super().__init__(message, message_en, fields)
        self.retry_after = retry_after  # seconds, for the Retry-After header


class PayloadTooLarge(CityHubError):
    type = "payload_too_large"
    status = 413
    ckan_type = "Validation Error"
