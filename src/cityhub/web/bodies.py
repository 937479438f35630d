"""Request bodies, decided before and while they are read (the ASGI middleware in ``web/app.py`` calls this).

* **Uploads** (``multipart/form-data``) come only from a signed-in user who may write some department's
  catalog (``Actor.may_upload``): anyone else is answered 401/403 before a single byte of the body is read,
  so an anonymous chunked upload never reaches the multipart parser or the disk. The bytes are counted as
  they stream in and the request is stopped at ``CITYHUB_MAX_UPLOAD_MB`` (plus 1 MiB for the other form
  fields) with a 413, with or without a ``Content-Length``; the parser's spooled temporary files are closed
  (they are unlinked on creation) and nothing reaches the file store.
* **Every other body** (JSON, forms) is read by the middleware up to ``CITYHUB_MAX_JSON_MB`` (413 past it)
  and, when it is JSON (or a form that is one JSON document, as ``curl -d`` sends CKAN calls), refused when
  nested deeper than ``CITYHUB_MAX_JSON_DEPTH``: a 1,000-deep document would otherwise end in Python's
  ``RecursionError`` (a 500) wherever it is walked. The app then reads the same bytes from memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.types import Message, Receive

from cityhub.context import Actor
from cityhub.errors import NotAuthenticated, NotAuthorized, PayloadTooLarge
from cityhub.settings import Settings

UPLOAD_SLACK = 1 << 20  # the form fields and multipart framing around the file
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes its cap (the middleware answers 413)."""


def kind(method: str, headers: Headers) -> str | None:
    """``"upload"`` (multipart), ``"data"`` (anything else with a body) or ``None`` (no body expected)."""
    if method not in BODY_METHODS:
        return None
    if headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return "upload"
    return "data"


#: small uploads to one path with their own cap (bytes of the file) and their own senders (roles), in place of
#: ``CITYHUB_MAX_UPLOAD_MB`` and ``Actor.may_upload``: e.g. a 2 MiB zones GeoJSON that an analyst may send to
#: start a transit run (registered by the route module that serves the path)
SMALL_UPLOADS: dict[str, tuple[int, tuple[str, ...]]] = {}
SMALL_SLACK = 64 << 10  # the form fields and multipart framing around a small file


def limit(body_kind: str, settings: Settings, path: str = "") -> int:
    """The most bytes a body of this kind may have."""
    if body_kind == "upload":
        if path in SMALL_UPLOADS:
            return SMALL_UPLOADS[path][0] + SMALL_SLACK
        return (settings.max_upload_mb << 20) + UPLOAD_SLACK
    return settings.max_json_mb << 20


def too_large(body_kind: str, settings: Settings, path: str = "") -> PayloadTooLarge:
    if body_kind == "upload":
        if path in SMALL_UPLOADS:
            mb = SMALL_UPLOADS[path][0] / (1 << 20)
            return PayloadTooLarge(f"上传文件超过上限 {mb:g} MiB", f"The upload exceeds the limit of {mb:g} MiB")
        mb = settings.max_upload_mb
        return PayloadTooLarge(f"上传文件超过上限 {mb} MiB", f"The upload exceeds the limit of {mb} MiB")
    mb = settings.max_json_mb
    return PayloadTooLarge(f"请求体超过上限 {mb} MiB", f"Request body exceeds the limit of {mb} MiB")


#: where any signed-in user (not only those who upload to the catalog) may send a multipart body: a reuse's
#: submission with its image (issue 15); the body is capped at the image limit instead of the upload limit
PUBLIC_UPLOAD_PATHS = frozenset({"/api/reuses", "/showcase/new"})


def public_upload(method: str, path: str) -> bool:
    return method == "POST" and path in PUBLIC_UPLOAD_PATHS


def public_upload_cap(settings: Settings) -> int:
    return settings.reuse_image_max_kb * 1024 + UPLOAD_SLACK


def check_signed_in(actor: Actor | None) -> None:
    """The coarse right to send a reuse's image: being signed in."""
    if actor is None:
        raise NotAuthenticated("上传文件需要先登录", "Sign in (or send an API token) to upload files")


def check_uploader(actor: Actor | None, path: str = "") -> None:
    """The coarse right to send a file, decided from the caller alone (the action checks the rest)."""
    if actor is None:
        raise NotAuthenticated("上传文件需要先登录", "Sign in (or send an API token) to upload files")
    if path in SMALL_UPLOADS:
        if actor.role not in SMALL_UPLOADS[path][1]:
            raise NotAuthorized("您的角色不能上传此文件", "Your role cannot upload this file")
        return
    if not actor.may_upload:
        raise NotAuthorized("您的角色不能上传文件", "Your role cannot upload files")


async def read_all(receive: Receive, cap: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it passes ``cap`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body`` first, then whatever the server sends (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def counting(receive: Receive, cap: int) -> tuple[Receive, Callable[[], bool]]:
    """A ``receive`` that raises ``BodyTooLarge`` once more than ``cap`` body bytes went through, and a
    function telling whether it did."""
    size = 0
    over = False

    async def counted() -> Message:
        nonlocal size, over
        if over:
            raise BodyTooLarge
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > cap:
                over = True
                raise BodyTooLarge
        return message

    return counted, lambda: over


def json_candidate(body: bytes, content_type: str) -> bytes | None:
    """The bytes to check as JSON: the body itself when it is (or may be) JSON, a form's decoded text when
    the form is one JSON document (CKAN clients' ``curl -d '{…}'``), else ``None``."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/x-www-form-urlencoded":
        decoded = unquote_to_bytes(body.replace(b"+", b" "))
        return decoded if decoded.lstrip()[:1] in (b"{", b"[") else None
    if not mime or mime.endswith(("/json", "+json")) or body.lstrip()[:1] in (b"{", b"["):
        return body
    return None


def depth_exceeds(raw: bytes, max_depth: int) -> bool:
    """Whether the JSON document ``raw`` nests arrays/objects deeper than ``max_depth`` (a document that is not
    JSON is left to the app, which says so in its own words)."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:  # cannot be deeper: no parse needed (most bodies)
        return False
    try:
        doc = json.loads(raw)
    except RecursionError:
        return True
    except (ValueError, UnicodeDecodeError):
        return False
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False

