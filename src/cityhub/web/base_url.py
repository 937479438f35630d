"""The public base URL of a request: the configured ``CITYHUB_BASE_URL`` when set, otherwise what the client used.

Derived from the request's scheme, ``Host`` header and mount path (ASGI ``root_path``). ``X-Forwarded-Proto``,
``X-Forwarded-Host`` and ``X-Forwarded-Prefix`` are believed only from a peer listed in
``CITYHUB_TRUSTED_PROXIES`` (anyone else could name any host), and then only their right-most value — the one that
proxy itself wrote, as werkzeug's ``ProxyFix`` with one trusted hop. Values that are not a plain scheme, host[:port]
or path are ignored, so a header can never put markup or a second URL into a link.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from fastapi import Request

from cityhub.settings import get_settings

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


def base_url_of(request: Request) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash, for links in this request's response."""
    settings = get_settings()
    configured = settings.public_base_url
    if configured is not None:
        return configured
    scope = request.scope
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    host = request.headers.get("host", "")
    prefix = str(scope.get("root_path") or "")
    if settings.trusted_proxies:
        client = scope.get("client")
        if trusted_proxy(client[0] if client else None, settings.trusted_proxies):
            proto = _last(request.headers.get("x-forwarded-proto")).lower()
            if proto in ("http", "https"):
                scheme = proto
            host = _last(request.headers.get("x-forwarded-host")) or host
            forwarded_prefix = _last(request.headers.get("x-forwarded-prefix"))
            if forwarded_prefix and PREFIX_RE.match(forwarded_prefix):
                prefix = forwarded_prefix
    server = scope.get("server")
    return _compose(scheme, host, prefix, tuple(server) if server else None)


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
