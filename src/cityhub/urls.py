"""Which URLs CityHub accepts and renders as links: absolute http, https and ftp URLs only.

Pure (standard library only): the catalog schemas check every stored URL with ``check_url`` (resource links,
harvested landing pages and access URLs), and the templates render a stored URL as a link only when
``link_url`` passes it, so a ``javascript:`` or ``data:`` URL stored before the check existed shows as text.

The schemes are CKAN's ``ckan.valid_url_schemes`` default (``http https ftp``, ``ckan/config/
config_declaration.yaml``, used by ``h.is_url`` to decide what is rendered as a link); like CKAN's
``url_validator`` (``ckan/logic/validators.py``) a URL needs a scheme and a host and a numeric port.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

URL_SCHEMES = ("http", "https", "ftp")
#: what may not appear anywhere in a URL: whitespace, control characters, quotes and angle brackets
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f<>\"'`\\]")
MAX_URL = 2000


class BadURL(ValueError):
    """A URL CityHub does not accept; the message is bilingual (Chinese / English)."""


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable link (a bilingual sentence), or ``None`` when it is."""
    if len(value) > MAX_URL:
        return f"链接过长(最多 {MAX_URL} 字符) / the URL is longer than {MAX_URL} characters"
    if _FORBIDDEN.search(value):
        return "链接含有空白、引号或控制字符 / the URL contains whitespace, quotes or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return "链接格式不正确 / the URL is malformed"
    del port
    if parts.scheme.lower() not in URL_SCHEMES:
        return ("链接须以 http://、https:// 或 ftp:// 开头 / the URL must be an http, https or ftp URL "
                f"(not {parts.scheme.lower() + ':' if parts.scheme else 'a relative link'})")
    if not parts.hostname:
        return "链接缺少主机名 / the URL has no host name"
    return None


def check_url(value: str) -> str:
    """``value`` when it is an acceptable link (empty stays empty); else ``BadURL``."""
    if not value:
        return value
    problem = url_problem(value)
    if problem:
        raise BadURL(problem)
    return value


def link_url(value: object) -> str | None:
    """``value`` when it may be rendered as a link, else ``None`` (render it as text)."""
    if not isinstance(value, str) or not value:
        return None
    return None if url_problem(value.strip()) else value.strip()
