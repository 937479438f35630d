"""Outbound HTTP for harvesting: every request has a timeout and a cap on the bytes read, and every
failure becomes a ``FetchError`` with a clear bilingual message for the run log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from cityhub import __version__

USER_AGENT = f"CityHub-harvester/{__version__}"


class FetchError(Exception):
    """The source could not be read: timeout, connection refused, HTTP error, oversize or garbage."""

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


class Fetcher:
    """One HTTP client per run (connection reuse on loopback matters for 10,000 datasets)."""

    def __init__(self, timeout: float, max_bytes: int) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True,
                                   headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, params: dict[str, Any] | None = None, accept: str = "*/*") -> Response:
        """GET ``url``; the body is read in chunks and refused past ``max_bytes``."""
        try:
            with self.client.stream("GET", url, params=params, headers={"Accept": accept}) as resp:
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
        except httpx.TimeoutException:
            raise FetchError(f"请求超时({self.timeout:g} 秒): {url}",
                             f"Timed out after {self.timeout:g} s: {url}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"无法连接来源: {url} ({type(exc).__name__})",
                             f"Could not reach the source: {url} ({type(exc).__name__}: {exc})") from None
        if status >= 400:
            raise FetchError(f"来源返回 HTTP {status}: {final}", f"The source answered HTTP {status}: {final}")
        return Response(final, status, ctype, body)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """GET and decode JSON (a body that is not JSON is a ``FetchError``)."""
        resp = self.get(url, params, accept="application/json")
        try:
            return json.loads(resp.body)
        except (ValueError, UnicodeDecodeError):
            snippet = resp.body[:80].decode("utf-8", "replace")
            raise FetchError(f"来源返回的不是 JSON: {resp.url}",
                             f"The source did not return JSON: {resp.url} (starts with {snippet!r})") from None
