"""Downloads from platforms: where they may connect, how long and how much, and what errors say.

Real HTTP on loopback (tests/fakes): the fake serves files, redirects, endless and drip-fed bodies.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from panic_edge.core.media import MediaType
from panic_edge.platforms.egress import (
    AnswerTooLarge,
    DownloadRefused,
    EgressPolicy,
    GuardedTransport,
    is_public,
)
from panic_edge.platforms.errors import PermanentError, TransientError
from panic_edge.platforms.files import fetch
from panic_edge.platforms.http import new_client, post_json
from tests.fakes.hostile import drip, endless
from tests.fakes.platforms import picture
from tests.fakes.server import FakeServer, Reply

NOT_GLOBAL_V4 = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                 "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "192.0.2.0/24"]


def addresses_in(cidr: str) -> st.SearchStrategy[ipaddress.IPv4Address]:
    net = ipaddress.IPv4Network(cidr)
    return st.integers(0, net.num_addresses - 1).map(lambda i: net[i])


REFUSED_V4 = st.one_of(*(addresses_in(c) for c in NOT_GLOBAL_V4))


@given(REFUSED_V4)
def test_loopback_private_link_local_shared_multicast_and_reserved_addresses_are_refused(ip):
    assert not is_public(ip) and not is_public(str(ip))


@given(REFUSED_V4, st.sampled_from(["mapped", "6to4", "nat64"]))
def test_an_ipv6_address_carrying_a_refused_ipv4_one_is_refused_too(ip, how):
    v6 = {"mapped": f"::ffff:{ip}", "6to4": f"2002:{int(ip) >> 16:x}:{int(ip) & 0xFFFF:x}::1",
          "nat64": f"64:ff9b::{int(ip) >> 16:x}:{int(ip) & 0xFFFF:x}"}[how]
    assert not is_public(v6)


@given(st.integers(0, 2 ** 32 - 1).map(ipaddress.IPv4Address))
def test_an_ipv4_address_is_public_exactly_when_it_is_global_unicast(ip):
    assert is_public(ip) == (ip.is_global and not ip.is_multicast and ip not in ipaddress.ip_network("100.64.0.0/10"))
    assert is_public(f"::ffff:{ip}") == is_public(ip)


@given(st.text(max_size=40))
def test_any_string_is_judged_without_an_exception(text):
    assert is_public(text) in (True, False)


def test_well_known_public_addresses_pass():
    assert all(is_public(a) for a in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450::1"))
    assert not any(is_public(a) for a in ("::1", "fe80::1", "fc00::1", "::", "ff02::1", "not an ip"))


def resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [host])
    return resolve


def files_client(base: str, policy: EgressPolicy, max_bytes: int = 1 << 20) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(5, connect=2), follow_redirects=False,
                             transport=GuardedTransport("the test output file", max_bytes, policy))


@pytest.fixture
def server():
    with FakeServer(lambda seen: Reply(404, body=b"nothing here")) as fake:
        yield fake


async def test_a_local_platform_may_serve_its_own_files_and_the_connection_goes_where_it_was_checked(server):
    server.queue("GET", "/out.webp", Reply(200, body=picture("WEBP"), content_type="image/webp"))
    port = server.url.rsplit(":", 1)[1]
    # "files.invalid" resolves nowhere on this machine: the download can only have connected to the
    # address the policy checked, never to one resolved again behind its back (DNS rebinding)
    policy = EgressPolicy("test", server.url, resolve=resolver({"files.invalid": ["127.0.0.1"]}))
    async with files_client(server.url, policy) as client:
        data = await fetch(client, "test", f"http://files.invalid:{port}/out.webp", MediaType.IMAGE, 1 << 20)
    assert data[8:12] == b"WEBP"


async def test_an_output_url_or_a_redirect_to_another_local_address_is_refused(server):
    with FakeServer(lambda seen: Reply(200, body=b"{}", content_type="application/json")) as own_api:
        server.queue("GET", "/out.webp", Reply(302, headers={"Location": f"{own_api.url}/api/status"}))
        async with files_client(server.url, EgressPolicy("test", server.url)) as client:
            with pytest.raises(DownloadRefused, match=r"127\.0\.0\.1, a loopback address"):
                await fetch(client, "test", f"{server.url}/out.webp", MediaType.IMAGE, 1 << 20)
            with pytest.raises(DownloadRefused):
                await fetch(client, "test", f"{own_api.url}/x.png", MediaType.IMAGE, 1 << 20)
        # a platform on a public address may not send the appliance to loopback at all
        public = EgressPolicy("test", "https://api.example.com", resolve=resolver({"api.example.com": ["8.8.8.8"]}))
        async with files_client(server.url, public) as client:
            with pytest.raises(DownloadRefused):
                await fetch(client, "test", f"{server.url}/out.webp", MediaType.IMAGE, 1 << 20)
        assert own_api.seen("GET") == []


async def test_redirects_are_followed_a_few_times_and_no_further(server):
    server.queue("GET", "/a", *[Reply(302, headers={"Location": "/a"})] * 10)
    async with files_client(server.url, EgressPolicy("test", server.url)) as client:
        with pytest.raises(PermanentError, match="redirects more than 5 times"):
            await fetch(client, "test", f"{server.url}/a", MediaType.IMAGE, 1 << 20)
    assert len(server.seen("GET", "/a")) == 6


async def test_a_drip_fed_download_ends_at_its_deadline_and_an_endless_one_at_its_size(server):
    server.queue("GET", "/drip", drip(0.2)())
    server.queue("GET", "/endless", endless()())
    async with files_client(server.url, EgressPolicy("test", server.url), max_bytes=64 << 20) as client:
        began = time.monotonic()
        with pytest.raises(PermanentError, match="took longer than 1 s"):
            await fetch(client, "test", f"{server.url}/drip", MediaType.IMAGE, 1 << 20, deadline=1.0)
        assert time.monotonic() - began < 5  # the read timeout (5 s) never fired: the deadline did
        with pytest.raises(PermanentError, match="larger than 2000000 bytes"):
            await fetch(client, "test", f"{server.url}/endless", MediaType.IMAGE, 2_000_000)


async def test_a_wrong_file_is_described_never_quoted(server):
    server.queue("GET", "/x", Reply(200, body=b"SECRET-BYTES \x00\xff<html>", content_type="application/octet-stream"))
    async with files_client(server.url, EgressPolicy("test", server.url)) as client:
        with pytest.raises(PermanentError) as caught:
            await fetch(client, "test", f"{server.url}/x", MediaType.IMAGE, 1 << 20)
    assert "SECRET" not in str(caught.value) and "(21 bytes)" in str(caught.value)


async def test_an_api_answer_is_capped_deadlined_and_never_quoted(server):
    server.queue("POST", "/v1/html", Reply(502, body=b"<h1>SECRET-BYTES \xff</h1>", content_type="text/html"))
    server.queue("POST", "/v1/text", Reply(200, body=b"SECRET-BYTES \xff", content_type="text/plain"))
    server.queue("POST", "/v1/endless", Reply(200, body=b'{"a": "', chunks=iter([b"x" * 65536] * 1000)))
    server.queue("POST", "/v1/drip", Reply(200, body=b"{", chunks=iter([b" "] * 100), interval=0.2))
    server.queue("POST", "/v1/moved", Reply(301, headers={"Location": "http://elsewhere.invalid/"}))
    client = new_client(server.url, 0.5, 0.5, platform="test", max_answer_bytes=1 << 20)
    try:
        for path, kind, words in [("v1/html", TransientError, "a 23-byte body of text/html"),
                                  ("v1/text", TransientError, "not JSON"),
                                  ("v1/endless", AnswerTooLarge, "larger than 1048576"),
                                  ("v1/drip", TransientError, "within 1 s"),
                                  ("v1/moved", PermanentError, r"redirect \(301\)")]:
            with pytest.raises(kind, match=words) as caught:
                await post_json(client, "test", path, {}, lambda body: None)
            assert "SECRET" not in str(caught.value)
    finally:
        await client.aclose()
    assert not any(r.path.startswith("http://elsewhere") for r in server.requests)


async def test_a_host_that_resolves_nowhere_is_a_transient_failure_not_an_offline_appliance(server):
    async with files_client(server.url, EgressPolicy("test", server.url)) as client:
        with pytest.raises(TransientError, match="downloading the test output failed"):
            await asyncio.wait_for(fetch(client, "test", "http://nowhere.invalid/x.png", MediaType.IMAGE,
                                         1 << 20), 30)
