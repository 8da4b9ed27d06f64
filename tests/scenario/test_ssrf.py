"""The SSRF guard (issue 11): a tenant admin's CRM URL cannot make the server request 127.0.0.1,
[::1], 169.254.169.254 or any other inside address, checked after DNS resolution, with the
connection going to the address that was checked; a refusal takes the call's fallback and is
logged with its reason. On 5a8b3ed the loopback CRM below received the request."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from tests.scenario.helpers import Driver, config
from tests.scenario.test_ivx_http import Crm, ask, at_op, ivx_ops
from vpbx.domain.net_policy import Address, address_refusal, parse_networks, url_refusal
from vpbx.scenario.actions import HttpRequest
from vpbx.services.crm import CrmClient
from vpbx.services.net_guard import NetGuard, UrlRefused

REFUSED = [
    "127.0.0.1",
    "127.10.0.1",
    "::1",
    "169.254.169.254",
    "fd00:ec2::254",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
]


@pytest.mark.parametrize("address", REFUSED)
def test_inside_addresses_are_refused_by_default(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2a00:1450:4010:c0e::65", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_the_installation_allows_listed_networks() -> None:
    allow = parse_networks("127.0.0.0/8, 10.0.0.0/8 fd00::/8")
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow) is None
    assert address_refusal(ipaddress.ip_address("10.9.9.9"), allow) is None
    assert address_refusal(ipaddress.ip_address("192.168.0.1"), allow) is not None
    with pytest.raises(ValueError, match="not an IP network"):
        parse_networks("10.0.0.0/33")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data/",
        "https://LOCALHOST/x",
        "http://user@10.0.0.1/",
    ],
)
def test_literal_inside_urls_are_refused_as_written(url: str) -> None:
    assert url_refusal(url) is not None


class _Resolving(NetGuard):
    """Resolves every name to fixed addresses (what a hostile DNS answers)."""

    def __init__(self, addresses: list[str], allow: str = "") -> None:
        super().__init__(parse_networks(allow))
        self.addresses: list[Address] = [ipaddress.ip_address(a) for a in addresses]

    async def resolve(self, host: str, port: int) -> list[Address]:
        return list(self.addresses)


@pytest.fixture(scope="module")
def crm() -> object:
    with Crm() as server:
        yield server


@pytest.mark.parametrize(
    "url",
    [
        "{crm}/json/code-2",
        "http://localhost:{port}/json/code-2",
        "http://[::1]:{port}/json/code-2",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_a_crm_url_inside_takes_the_fallback_and_is_logged(
    crm: Crm, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = crm.url.rsplit(":", 1)[1]
    before = len(crm.requests)
    d = Driver(config(ivx_ops(url.format(crm=crm.url, port=port))))
    request = next(a for a in d.arrive() if isinstance(a, HttpRequest))
    with caplog.at_level(logging.WARNING, logger="vpbx.crm"):
        async with CrmClient() as client:
            response = await client.execute(request)
    assert response.error is not None
    assert "refused" in response.error
    d.send(response)
    assert at_op(d) == "fb"
    assert len(crm.requests) == before  # nothing reached the server
    assert any(getattr(r, "reason", "") for r in caplog.records)


async def test_a_name_with_any_inside_address_is_refused() -> None:
    guard = _Resolving(["93.184.216.34", "127.0.0.1"])
    with pytest.raises(UrlRefused, match=r"127\.0\.0\.1"):
        await guard.pin("http://crm.example/ivx")


async def test_the_connection_goes_to_the_checked_address_with_the_name_kept(crm: Crm) -> None:
    """DNS rebinding: the name is resolved once, checked, and the request is sent to that
    address (here the loopback CRM, allowed), carrying the name in Host."""
    port = crm.url.rsplit(":", 1)[1]
    guard = _Resolving(["127.0.0.1"], allow="127.0.0.0/8")
    pinned = await guard.pin(f"http://crm.example:{port}/json/code-2")
    assert pinned.url == f"http://127.0.0.1:{port}/json/code-2"
    assert pinned.headers == {"Host": f"crm.example:{port}"}
    https = await guard.pin("https://crm.example/ivx")
    assert https.extensions == {"sni_hostname": "crm.example"}
    d = Driver(config(ivx_ops(f"http://crm.example:{port}/json/code-2")))
    async with CrmClient(guard=guard) as client:
        request = next(a for a in d.arrive() if isinstance(a, HttpRequest))
        d.send(await client.execute(request))
    assert at_op(d) == "two"
    assert crm.requests[-1][1] == "/json/code-2"


async def test_allowed_loopback_still_works(crm: Crm) -> None:
    d = Driver(config(ivx_ops(f"{crm.url}/json/code-2")))
    await ask(d, d.arrive())
    assert at_op(d) == "two"
