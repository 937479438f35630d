"""Outbound HTTP for harvesting: every request has a timeout and a cap on the bytes read, connects only to
addresses the policy allows (``cityhub.harvest.netguard``), follows redirects itself (each hop checked like the
first URL, at most ``MAX_REDIRECTS``), and every failure becomes a ``FetchError`` with a clear bilingual
message for the run log. A message says what happened (status, size, a generic reason), never what the remote
answered: the body of a response is not quoted anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from cityhub import __version__
from cityhub.harvest.netguard import GuardedBackend, Network, Refused
from cityhub.urls import url_problem

USER_AGENT = f"CityHub-harvester/{__version__}"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    """The source could not be read: refused address, timeout, connection refused, HTTP error, oversize or
    garbage."""

    def __init__(self, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en


@dataclass
class Response:
    url: str
    status: int
    content_type: str
    body: bytes


def http_url_problem(url: str) -> tuple[str, str] | None:
    """Why the harvester will not request ``url`` (Chinese, English), or ``None``."""
    problem = url_problem(url)
    if problem is None and not url.lower().startswith(("http://", "https://")):
        problem = "采集只使用 http(s) 地址 / the harvester reads http(s) URLs only"
    if problem is None:
        return None
    zh, _, en = problem.partition(" / ")
    return f"地址不可用:{zh}", f"URL not usable: {en or zh}"


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose network backend is the address guard."""

    def __init__(self, allowed: Iterable[Network] = (), max_connections: int = 10) -> None:
        super().__init__(trust_env=False)  # no proxy from the environment: it would connect for us, unchecked
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                             max_connections=max_connections,
                                             network_backend=GuardedBackend(allowed))


class Fetcher:
    """One HTTP client per run (connection reuse on loopback matters for 10,000 datasets)."""

    def __init__(self, timeout: float, max_bytes: int, allowed: Iterable[Network] = ()) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False,
                                   transport=GuardedTransport(allowed), headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, params: dict[str, Any] | None = None, accept: str = "*/*") -> Response:
        """GET ``url``, following up to ``MAX_REDIRECTS`` redirects; the body is read in chunks and refused past
        ``max_bytes``."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            refused = http_url_problem(current)
            if refused:
                raise FetchError(f"{refused[0]}: {current}", f"{refused[1]}: {current}")
            location, response = self._get_once(current, params, accept)
            if location is None:
                assert response is not None
                return response
            current, params = location, None  # the redirect target carries its own query
        raise FetchError(f"重定向超过 {MAX_REDIRECTS} 次: {url}", f"More than {MAX_REDIRECTS} redirects: {url}")

    def _get_once(self, url: str, params: dict[str, Any] | None, accept: str) -> tuple[str | None, Response | None]:
        try:
            with self.client.stream("GET", url, params=params, headers={"Accept": accept}) as resp:
                if resp.status_code in REDIRECTS and resp.headers.get("location"):
                    try:
                        return str(resp.url.join(resp.headers["location"])), None
                    except httpx.InvalidURL:
                        raise FetchError(f"来源返回了无效的重定向地址: {url}",
                                         f"The source redirected to an invalid URL: {url}") from None
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(f"响应超过 {self.max_bytes} 字节上限: {url}",
                                         f"Response larger than the {self.max_bytes}-byte cap: {url}")
                    chunks.append(chunk)
                body = b"".join(chunks)
                status, ctype, final = resp.status_code, resp.headers.get("content-type", ""), str(resp.url)
        except Refused as exc:
            raise FetchError(exc.message, exc.message_en) from None
        except httpx.InvalidURL:
            raise FetchError(f"地址或其重定向地址格式不正确: {url}", f"Malformed URL or redirect: {url}") from None
        except httpx.TimeoutException:
            raise FetchError(f"请求超时({self.timeout:g} 秒): {url}",
                             f"Timed out after {self.timeout:g} s: {url}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"无法连接来源: {url} ({type(exc).__name__})",
                             f"Could not reach the source: {url} ({type(exc).__name__})") from None
        if status >= 400:
            raise FetchError(f"来源返回 HTTP {status}({size} 字节): {url}",
                             f"The source answered HTTP {status} ({size} bytes): {url}")
        return None, Response(final, status, ctype, body)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """GET and decode JSON (a body that is not JSON is a ``FetchError``; its content is not quoted)."""
        resp = self.get(url, params, accept="application/json")
        try:
            return json.loads(resp.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise FetchError(f"来源返回的不是 JSON(HTTP {resp.status},{len(resp.body)} 字节): {resp.url}",
                             f"The source did not return JSON (HTTP {resp.status}, {len(resp.body)} bytes): "
                             f"{resp.url}") from None
