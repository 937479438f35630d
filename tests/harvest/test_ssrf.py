"""The harvester reaches public addresses only (unless an admin allows a network): every address form of an
internal host is refused, redirects are checked hop by hop, the socket goes to the address that was checked,
``hydra:next`` cannot steer it to another host, and nothing a remote answered appears in the run log."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub.harvest import netguard
from cityhub.harvest.fetch import Fetcher, FetchError
from tests.conftest import Store, call_as, unique
from tests.harvest.conftest import Script, harvest, local_state, make_department, scripted_server
from tests.harvest.test_dcat_source import catalog, dataset_ttl


@pytest.fixture(autouse=True)
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Overrides the harvest tests' loopback allowance: these tests run with the default (nothing allowed)
    unless they set ``CITYHUB_HARVEST_ALLOWED_NETWORKS`` themselves."""
    from cityhub.settings import get_settings

    monkeypatch.delenv("CITYHUB_HARVEST_ALLOWED_NETWORKS", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def allow(monkeypatch: pytest.MonkeyPatch, networks: str) -> None:
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_HARVEST_ALLOWED_NETWORKS", networks)
    get_settings.cache_clear()


@pytest.fixture
def store(empty_store: Store) -> Store:
    empty_store.activate()
    return empty_store


# -- the address policy, without a database ----------------------------------------------------------------


@pytest.mark.parametrize("host, reason", [
    ("127.0.0.1", "a loopback address"),
    ("localhost", "a loopback address"),
    ("2130706433", "a loopback address"),  # decimal 127.0.0.1
    ("0x7f000001", "a loopback address"),  # hexadecimal
    ("0x7f.1", "a loopback address"),  # hexadecimal, short form
    ("017700000001", "a loopback address"),  # octal
    ("127.1", "a loopback address"),
    ("[::1]", "a loopback address"),
    ("[::ffff:127.0.0.1]", "a loopback address"),  # IPv4-mapped IPv6
    ("[::ffff:7f00:1]", "a loopback address"),
    ("[64:ff9b::7f00:1]", "a loopback address"),  # NAT64
    ("[2002:7f00:1::]", "a loopback address"),  # 6to4
    ("10.0.0.8", "a private network address"),
    ("172.16.5.4", "a private network address"),
    ("192.168.1.1", "a private network address"),
    ("[::ffff:192.168.1.1]", "a private network address"),
    ("169.254.169.254", "a link-local address"),  # cloud metadata
    ("[fe80::1]", "a link-local address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("224.0.0.251", "a multicast address"),
    ("[ff02::1]", "a multicast address"),
    ("0.0.0.0", "the unspecified address"),
    ("0", "the unspecified address"),
    ("[::]", "the unspecified address"),
    ("[fd00::1]", "an IPv6 unique-local address"),
    ("240.0.0.1", "a private network address"),  # reserved class E (Python files it under private)
])
def test_default_refuses_every_internal_address_form(host: str, reason: str) -> None:
    with scripted_server() as (base, script), Fetcher(2, 1 << 20) as fetcher:
        port = base.rsplit(":", 1)[1]
        with pytest.raises(FetchError) as refused:
            fetcher.get(f"http://{host}:{port}/catalog.ttl")
        assert script.hits == []  # nothing reached the loopback server
    assert "Refused to connect" in refused.value.message_en and reason in refused.value.message_en
    assert "拒绝连接" in refused.value.message


def test_octal_dotted_form_is_refused_too() -> None:
    """``0177.0.0.1`` (octal 127.0.0.1) is not even a URL httpx will read: refused before any connection."""
    with scripted_server() as (base, script), Fetcher(2, 1 << 20) as fetcher:
        port = base.rsplit(":", 1)[1]
        with pytest.raises(FetchError):
            fetcher.get(f"http://0177.0.0.1:{port}/")
        assert script.hits == []


def test_public_addresses_pass_and_an_admin_allowance_is_honoured() -> None:
    for public in ("8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert netguard.refusal(ipaddress.ip_address(public)) is None
    allowed = netguard.parse_networks("10.20.0.0/16, 127.0.0.1")
    assert netguard.refusal(ipaddress.ip_address("10.20.3.4"), allowed) is None
    assert netguard.refusal(ipaddress.ip_address("10.21.3.4"), allowed) == "private"
    assert netguard.refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert netguard.refusal(ipaddress.ip_address("127.0.0.2"), allowed) == "loopback"
    with pytest.raises(ValueError, match="not a network"):
        netguard.parse_networks("10.0.0.0/33")
    with scripted_server() as (base, script), Fetcher(2, 1 << 20, allowed) as fetcher:
        script.routes["/ok"] = (200, "text/plain", b"fine", 0)
        assert fetcher.get(f"{base}/ok").body == b"fine"


def test_every_address_of_a_name_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that resolves to a public and a loopback address is refused, whichever comes first."""
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "mixed.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with Fetcher(2, 1 << 20) as fetcher, pytest.raises(FetchError, match=r"127\.0\.0\.1, a loopback address"):
        fetcher.get("http://mixed.example/catalog.ttl")


def test_the_socket_goes_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name answers an allowed address to the check and a forbidden one afterwards. The
    connection must go to the address that was checked (and the name is looked up once)."""
    real = socket.getaddrinfo
    lookups: list[str] = []
    with scripted_server("127.0.0.2") as (allowed_base, allowed_script), \
            scripted_server("127.0.0.1") as (_internal_base, internal_script):
        allowed_port = int(allowed_base.rsplit(":", 1)[1])
        internal_port = int(_internal_base.rsplit(":", 1)[1])
        allowed_script.routes["/c"] = (200, "text/plain", b"allowed", 0)
        internal_script.routes["/c"] = (200, "text/plain", b"internal", 0)

        def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "rebind.example":
                lookups.append(host)
                first = len(lookups) == 1
                addr, p = ("127.0.0.2", allowed_port) if first else ("127.0.0.1", internal_port)
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, p))]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        with Fetcher(2, 1 << 20, netguard.parse_networks("127.0.0.2/32")) as fetcher:
            assert fetcher.get(f"http://rebind.example:{allowed_port}/c").body == b"allowed"
        assert lookups == ["rebind.example"] and internal_script.hits == []


def test_each_redirect_hop_is_checked() -> None:
    """An allowed source that redirects to an internal address: the hop is refused and never requested."""
    with scripted_server("127.0.0.2") as (base, script), scripted_server("127.0.0.1") as (inner, inner_script):
        inner_script.routes["/secret"] = (200, "text/plain", b"internal secret", 0)
        script.routes["/c.ttl"] = (302, "text/plain", b"", 0)
        script.headers["/c.ttl"] = {"Location": f"{inner}/secret"}
        script.routes["/loop"] = (302, "text/plain", b"", 0)
        script.headers["/loop"] = {"Location": "/loop"}
        script.routes["/ok-redirect"] = (301, "text/plain", b"", 0)
        script.headers["/ok-redirect"] = {"Location": "/final"}
        script.routes["/final"] = (200, "text/plain", b"final", 0)
        with Fetcher(2, 1 << 20, netguard.parse_networks("127.0.0.2/32")) as fetcher:
            with pytest.raises(FetchError, match=r"127\.0\.0\.1, a loopback address"):
                fetcher.get(f"{base}/c.ttl")
            assert inner_script.hits == []
            with pytest.raises(FetchError, match="More than 5 redirects"):
                fetcher.get(f"{base}/loop")
            followed = fetcher.get(f"{base}/ok-redirect")
            assert (followed.body, followed.url) == (b"final", f"{base}/final")
        for location, refusal in (("javascript:alert(1)", "Malformed URL or redirect"),
                                  ("ftp://127.0.0.2/c.ttl", "reads http\\(s\\) URLs only")):
            script.headers["/c.ttl"] = {"Location": location}
            with Fetcher(2, 1 << 20, netguard.parse_networks("127.0.0.2/32")) as fetcher, \
                    pytest.raises(FetchError, match=refusal):
                fetcher.get(f"{base}/c.ttl")


# -- through a harvest run -----------------------------------------------------------------------------------


def _dcat_source(url: str) -> str:
    name = unique("ssrf")
    call_as("system", "harvest_source_create", {"name": name, "title": "内网探测", "kind": "dcat", "url": url,
                                                "department": make_department()})
    return name


def test_a_run_against_an_internal_address_fails_and_says_why(store: Store, tiny_server: tuple[str, Script]) -> None:
    base, script = tiny_server
    script.routes["/c.ttl"] = (200, "text/turtle", catalog(dataset_ttl("internal", "内部数据")), 0)
    port = base.rsplit(":", 1)[1]
    for url in (f"{base}/c.ttl", f"http://2130706433:{port}/c.ttl", f"http://[::ffff:127.0.0.1]:{port}/c.ttl"):
        run = harvest(_dcat_source(url))
        assert run["status"] == "failed" and run["new"] == 0, run
        assert "Refused to connect" in run["error"] and "拒绝连接" in run["error"]
        assert any("a loopback address" in e["message"] for e in run["log"])
    assert script.hits == []


def test_hydra_next_cannot_steer_the_fetch_to_another_host(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    allow(monkeypatch, "127.0.0.0/8")
    with scripted_server("127.0.0.1") as (base, script), scripted_server("127.0.0.3") as (other, other_script):
        other_script.routes["/page2.ttl"] = (200, "text/turtle", catalog(dataset_ttl("steered", "被引导的数据")), 0)
        script.routes["/c.ttl"] = (200, "text/turtle", catalog(dataset_ttl("first-page", "第一页数据"),
                                                               next_page=f"{other}/page2.ttl"), 0)
        src = _dcat_source(f"{base}/c.ttl")
        run = harvest(src)
        assert other_script.hits == []
        assert run["status"] == "succeeded" and run["new"] == 1, run
        assert any("hydra:next" in e["message"] and "not followed" in e["message"] for e in run["log"])
        assert local_state(src) == {"first-page": "active"}
        # a later run whose listing is cut short by the refused page withdraws nothing
        script.routes["/c.ttl"] = (200, "text/turtle", catalog(next_page=f"{other}/page2.ttl"), 0)
        assert harvest(src)["withdrawn"] == 0 and local_state(src) == {"first-page": "active"}


SECRET = "INTERNAL-SECRET-7f3a9c"


@pytest.mark.parametrize("answer", ["http500", "not_rdf", "not_json", "ckan_refusal"])
def test_no_remote_body_in_the_run_log(store: Store, tiny_server: tuple[str, Script], answer: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    allow(monkeypatch, "127.0.0.0/8")
    base, script = tiny_server
    body = {"http500": f"<h1>500</h1> db password {SECRET}".encode(),
            "not_rdf": f"@prefix x: <{SECRET}> . this is {SECRET} not turtle {{{{".encode(),
            "not_json": f"<html>{SECRET}</html>".encode(),
            "ckan_refusal": json.dumps({"success": False, "error": {"message": SECRET}}).encode()}[answer]
    status = 500 if answer == "http500" else 200
    kind = "ckan" if answer in ("not_json", "ckan_refusal") else "dcat"
    path = "/api/3/action/package_search" if kind == "ckan" else "/c.ttl"
    script.routes[path] = (status, "application/json" if kind == "ckan" else "text/turtle", body, 0)
    name = unique("leak")
    call_as("system", "harvest_source_create", {"name": name, "title": "泄露测试", "kind": kind,
                                                "url": base if kind == "ckan" else f"{base}/c.ttl",
                                                "department": make_department()})
    run = harvest(name)
    assert run["status"] == "failed", run
    assert SECRET not in run["error"] and all(SECRET not in e["message"] for e in run["log"]), run
    assert "bytes" in run["error"] or "success is not true" in run["error"]
