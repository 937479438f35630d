"""The public base URL of a request: the configured ``CITYHUB_BASE_URL`` when set, otherwise what the client used.

Derived from the request's scheme, ``Host`` header and mount path. Behind a reverse proxy listed in
``CITYHUB_TRUSTED_PROXIES`` (only then: anyone else could name any host), uvicorn's ``ProxyHeadersMiddleware`` sets the
scheme from ``X-Forwarded-Proto`` and :class:`ForwardedHostMiddleware` (outside it, so it still sees the proxy's
address) takes the host from ``X-Forwarded-Host`` and the mount path from ``X-Forwarded-Prefix``: their right-most
values, the ones that proxy itself wrote, as werkzeug's ``ProxyFix`` with one trusted hop. Values that are not a
plain host[:port] or path are ignored, so a header can never put markup or a second URL into a link.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from cityhub.settings import get_settings

#: ASGI scope key of the mount path a trusted proxy announced (``X-Forwarded-Prefix``)
PREFIX_KEY = "cityhub.forwarded_prefix"

HOST_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                     r"[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")
PREFIX_RE = re.compile(r"^(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _networks(raw: str) -> tuple[Network, ...]:
    out = []
    for part in raw.split(","):
        part = part.strip()
        if part:
            out.append(ipaddress.ip_network(part, strict=False))
    return tuple(out)


def trusted_proxy(peer: str | None, trusted: str) -> bool:
    """Whether ``peer`` (the address the connection came from) is one of the ``trusted`` proxies."""
    if not peer or not trusted:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in _networks(trusted))


def _last(value: str | None) -> str:
    return value.rsplit(",", 1)[-1].strip() if value else ""


class ForwardedHostMiddleware:
    """From a trusted proxy: ``Host`` becomes the right-most ``X-Forwarded-Host``, and the right-most
    ``X-Forwarded-Prefix`` is kept as the mount path for links (:data:`PREFIX_KEY`; routing is unchanged)."""

    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and trusted_proxy(client[0] if client else None, self.trusted):
            headers = list(scope["headers"])
            found = {k: v.decode("latin-1") for k, v in headers if k in (b"x-forwarded-host", b"x-forwarded-prefix")}
            host = _last(found.get(b"x-forwarded-host"))
            if host and HOST_RE.match(host):
                headers = [(k, v) for k, v in headers if k != b"host"] + [(b"host", host.encode("latin-1"))]
                scope = {**scope, "headers": headers}
            prefix = _last(found.get(b"x-forwarded-prefix"))
            if prefix and PREFIX_RE.match(prefix):
                scope = {**scope, PREFIX_KEY: prefix}
        await self.app(scope, receive, send)


def base_url_of(request: Request) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash, for links in this request's response."""
    configured = get_settings().public_base_url
    if configured is not None:
        return configured
    scope = request.scope
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    prefix = str(scope.get(PREFIX_KEY) or scope.get("root_path") or "")
    server = scope.get("server")
    return _compose(scheme, request.headers.get("host", ""), prefix, tuple(server) if server else None)


@functools.lru_cache(maxsize=1024)
def _compose(scheme: str, host: str, prefix: str, server: tuple[str, int] | None) -> str:
    """The base URL of checked parts (memoised: the same few hosts arrive on every request)."""
    if not HOST_RE.match(host):
        host = f"{server[0]}:{server[1]}" if server else "127.0.0.1"
        if not HOST_RE.match(host):
            host = "127.0.0.1"
    default = ":443" if scheme == "https" else ":80"  # example.org:443 over https is example.org (as url_for)
    if host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}{prefix.rstrip('/') if PREFIX_RE.match(prefix) else ''}"
