"""The origin a trusted front proxy names is believed from it alone (vpbx.switch.front_proxy)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpbx.sip.message import Request
from vpbx.sip.parser import parse_message
from vpbx.switch.front_proxy import ORIGIN_HEADER, FrontProxies, parse_front_proxies
from vpbx.transport.sip import Peer

PROXY = Peer("udp", "127.0.0.1", 5060)


def invite(origin: str | None) -> Request:
    extra = f"{ORIGIN_HEADER}: {origin}\r\n" if origin is not None else ""
    data = (
        "INVITE sip:100@pbx SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKk1\r\n"
        "Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bKt1\r\n"
        "From: <sip:trunk@10.1.2.3>;tag=a\r\nTo: <sip:100@pbx>\r\n"
        "Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 69\r\n"
        f"{extra}Content-Length: 0\r\n\r\n"
    ).encode()
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def test_the_proxy_names_the_sender():
    front = FrontProxies(frozenset({("127.0.0.1", 5060)}))
    peer = front.peer_of(invite("udp:10.1.2.3:5060"), PROXY)
    assert peer.source_host == "10.1.2.3"
    # answers still go back through the proxy
    assert (peer.host, peer.port, peer.transport) == ("127.0.0.1", 5060, "udp")


def test_anyone_else_naming_a_sender_is_not_believed():
    front = FrontProxies(frozenset({("127.0.0.1", 5060)}))
    forged = Peer("udp", "127.0.0.1", 5999)  # same host, another port: not the proxy
    assert front.peer_of(invite("udp:10.1.2.3:5060"), forged) is forged
    assert FrontProxies().peer_of(invite("udp:10.1.2.3:5060"), PROXY).source_host == "127.0.0.1"


@pytest.mark.parametrize(
    "value", ["", "udp:", "udp:host.example:5060", "x:1.2.3.4:5", "udp:1.2.3.4"]
)
def test_a_malformed_origin_leaves_the_proxy_as_sender(value: str):
    front = FrontProxies(frozenset({("127.0.0.1", 5060)}))
    assert front.peer_of(invite(value), PROXY).source_host == "127.0.0.1"


def test_an_ipv6_origin():
    front = FrontProxies(frozenset({("127.0.0.1", 5060)}))
    assert front.peer_of(invite("tcp:[2001:db8::1]:5070"), PROXY).source_host == "2001:db8::1"


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60))
def test_any_origin_value_gives_an_address_or_the_proxy(value: str):
    front = FrontProxies(frozenset({("127.0.0.1", 5060)}))
    peer = front.peer_of(invite(value), PROXY)
    ipaddress.ip_address(peer.source_host)  # never a non-address
    assert (peer.host, peer.port) == ("127.0.0.1", 5060)


def test_the_setting_is_parsed_and_checked():
    assert parse_front_proxies(" 127.0.0.1:5060, [::1]:5070 ,") == {
        ("127.0.0.1", 5060),
        ("::1", 5070),
    }
    for bad, why in (
        ("kamailio:5060", "does not appear to be an IPv4 or IPv6 address"),
        ("127.0.0.1:0", "out of range"),
        ("127.0.0.1", "does not appear to be an IPv4 or IPv6 address"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_front_proxies(bad)
