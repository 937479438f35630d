"""Where the harvester may connect: public addresses only, unless an admin allowed a network.

Pure (standard library ``ipaddress``/``socket`` and httpcore's network-backend interface): no CityHub import.

* ``refusal(ip, allowed)`` says why an address is not reachable (loopback, private, link-local, CGNAT,
  multicast, unspecified, reserved, IPv6 unique-local, or any other non-global address), looking through
  IPv4-mapped, IPv4-compatible, 6to4, Teredo and NAT64 IPv6 forms to the IPv4 address they carry.
* ``checked_addresses(host, port, allowed)`` resolves ``host`` (``getaddrinfo``, so ``2130706433``,
  ``0177.0.0.1`` and ``0x7f.1`` are read as the C library reads them, i.e. as 127.0.0.1) and refuses the host
  when *any* of its addresses is refused, so a name that resolves to a public and a private address cannot be
  used to reach the private one.
* ``GuardedBackend`` is the httpcore network backend the harvester's HTTP client connects through: every new
  connection (the first request, each redirect hop, each page) is resolved and checked there, and the socket
  is opened to the checked address itself: no second DNS lookup happens between the check and the connect,
  so a name that changes its answer (DNS rebinding) cannot slip through. TLS still verifies the host name.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")

#: why an address is refused: (Chinese, English)
REASONS = {
    "loopback": ("本机回环地址", "a loopback address"),
    "private": ("内网地址", "a private network address"),
    "link_local": ("链路本地地址", "a link-local address"),
    "cgnat": ("运营商共享地址(CGNAT)", "a shared (CGNAT) address"),
    "multicast": ("组播地址", "a multicast address"),
    "unspecified": ("未指定地址", "the unspecified address"),
    "unique_local": ("IPv6 唯一本地地址", "an IPv6 unique-local address"),
    "reserved": ("保留地址", "a reserved address"),
    "not_global": ("非公网地址", "not a public address"),
}


class Refused(Exception):
    """A connection the policy does not allow (``reason`` is a key of ``REASONS``)."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        zh, en = REASONS[reason]
        super().__init__(f"{host} resolves to {address}, {en}")
        self.host, self.address, self.reason = host, address, reason
        self.message = f"拒绝连接 {host}:解析为 {address},属于{zh};如确需采集,请由管理员在 harvest_allowed_networks 中放行该网段"
        self.message_en = (f"Refused to connect to {host}: it resolves to {address}, {en}; an admin can allow the "
                           "network in harvest_allowed_networks")


def parse_networks(spec: str) -> tuple[Network, ...]:
    """``"10.20.0.0/16, 127.0.0.1, ::1"`` → networks (a bare address is a one-address network); ``ValueError``
    names a bad entry."""
    out: list[Network] = []
    for part in spec.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not a network (CIDR) or address: {part!r}") from None
    return tuple(out)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries (mapped, 6to4, Teredo client, NAT64, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why ``ip`` may not be reached (a ``REASONS`` key), or ``None`` when it may."""
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return refusal(inner, allowed)
        if ip in ipaddress.IPv6Network("fc00::/7"):
            return "unique_local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "cgnat"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not_global"
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    out: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        addr = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone index
        if addr not in out:
            out.append(addr)
    return out


def checked_addresses(host: str, port: int, allowed: Sequence[Network] = ()) -> list[str]:
    """The addresses of ``host`` to connect to, all checked; ``Refused`` if any of them is not allowed."""
    addresses = resolve(host, port)
    for addr in addresses:
        reason = refusal(ipaddress.ip_address(addr), allowed)
        if reason:
            raise Refused(host, addr, reason)
    return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's blocking backend, connecting only to checked addresses (see the module docstring)."""

    def __init__(self, allowed: Iterable[Network] = ()) -> None:
        self.allowed = tuple(allowed)
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        error: Exception | None = None
        for addr in checked_addresses(host, port, self.allowed):
            try:
                return self._inner.connect_tcp(addr, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("the harvester does not use unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
