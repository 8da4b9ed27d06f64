"""Address matching shared by SIP lines' and trunks' allow-lists and the SSRF guard."""

from __future__ import annotations

import ipaddress

from vpbx.domain.net_policy import address_refusal, host_in_networks, parse_networks
from vpbx.switch.directory import LineInfo


def test_a_host_is_matched_against_stored_entries() -> None:
    assert host_in_networks("10.1.2.3", ["192.0.2.7", "10.0.0.0/8"])
    assert not host_in_networks("10.1.2.3", ["192.0.2.7"])
    assert not host_in_networks("phone.example", ["10.0.0.0/8"])  # a name is in no network
    assert host_in_networks("10.1.2.3", ["not-a-network", "10.1.2.3"])  # a bad entry is skipped


def test_an_ipv4_mapped_peer_is_judged_as_its_ipv4_address() -> None:
    """A dual-stack socket reports an IPv4 phone as ::ffff:a.b.c.d: the line allowing that
    office's IPv4 network must admit it (the copies this replaced never did)."""
    assert host_in_networks("::ffff:10.1.2.3", ["10.0.0.0/8"])
    line = LineInfo(1, 1, "l", "p", "sip", None, ("10.0.0.0/8",))
    assert line.admits("::ffff:10.1.2.3")
    assert not line.admits("::ffff:192.0.2.1")
    allow = parse_networks("127.0.0.0/8")
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allow) is None
