"""The nftables text of kernel RTP forwarding: one direction's rule matches the peer and our
socket and the audio payload type only, and rewrites to our other socket and the other peer;
removal names exactly what installation created; counters are read back from nft's JSON."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpbx.media.kernel_rtp_rules import (
    UNSPECIFIED,
    Direction,
    FlowPair,
    Stream,
    add_script,
    parse_counters,
    remove_script,
    setup_script,
    table_name,
    unhook_script,
    unsupported,
)

# 0.0.0.0 is refused (see test_an_unspecified_address_is_refused)
hosts = st.ip_addresses(v=4).filter(lambda a: not a.is_unspecified).map(str)
ports = st.integers(1, 65535)
addresses = st.tuples(hosts, ports)
payload_types = st.integers(0, 127)
streams = st.builds(Stream, st.integers(0, 2**32 - 1), st.integers(0, 65535))
pairs = st.builds(
    FlowPair, addresses, addresses, addresses, addresses, payload_types, streams, streams
)

RULE = re.compile(
    r"add rule ip vpbx_rtp_20000 (?P<chain>\S+) @th,64,2 2 @th,73,7 (?P<pt>\d+) notrack"
    r" @th,80,16 set numgen inc mod 65536 offset (?P<seq>\d+) << 16"
    r" @th,128,32 set (?P<ssrc>0x[0-9a-f]{8})"
    r" ip saddr set (?P<out_host>\S+) udp sport set (?P<out_port>\d+)"
    r" ip daddr set (?P<to_host>\S+) udp dport set (?P<to_port>\d+)"
    r' counter name "(?P<counter>\S+)"$'
)
T = table_name(20000)
S = Stream(0x1234_5678, 100)
ELEMENT = re.compile(r"(\S+) \. (\d+) \. (\S+) \. (\d+) : goto (\w+)")


@given(pairs)
def test_each_direction_rewrites_to_the_other_leg(pair: FlowPair) -> None:
    script = add_script(T, pair)
    rules = [m.groupdict() for m in map(RULE.match, script.splitlines()) if m]
    assert len(rules) == 2
    elements = ELEMENT.findall(script.splitlines()[-1])
    assert len(elements) == 2
    expected = [
        (pair.a_peer, pair.a_local, pair.b_local, pair.b_peer, pair.b_stream),
        (pair.b_peer, pair.b_local, pair.a_local, pair.a_peer, pair.a_stream),
    ]
    for rule, element, (peer, local, out, to, stream) in zip(
        rules, elements, expected, strict=True
    ):
        # the packet continues the stream our `out` socket sends to `to`
        assert int(rule["ssrc"], 16) == stream.ssrc
        assert int(rule["seq"]) == stream.sequence
        assert element[:4] == (peer[0], str(peer[1]), local[0], str(local[1]))
        assert element[4] == rule["chain"] == rule["counter"]
        assert (rule["out_host"], int(rule["out_port"])) == out
        assert (rule["to_host"], int(rule["to_port"])) == to
        assert int(rule["pt"]) == pair.payload_type


@pytest.mark.parametrize(("ssrc", "sequence"), [(-1, 0), (1 << 32, 0), (0, -1), (0, 65536)])
def test_streams_are_checked(ssrc: int, sequence: int) -> None:
    with pytest.raises(ValueError, match=r"not an SSRC|not a sequence number"):
        Stream(ssrc, sequence)


@given(pairs)
def test_removal_names_what_installation_created(pair: FlowPair) -> None:
    added = add_script(T, pair)
    removed = remove_script(T, pair)
    created = set(re.findall(r"create (chain|counter) ip vpbx_rtp_20000 (\S+)", added))
    deleted = set(re.findall(r"delete (chain|counter) ip vpbx_rtp_20000 (\S+)", removed))
    assert created == deleted
    keys = {e[:4] for e in ELEMENT.findall(added)}
    removed_keys = set(re.findall(r"(\S+) \. (\d+) \. (\S+) \. (\d+)", removed))
    assert removed_keys == keys
    # the map lets go of the chains before they are deleted
    assert removed.index("delete element") < removed.index("delete chain")


@given(addresses, addresses)
def test_chain_names_differ_by_our_socket(first: tuple[str, int], second: tuple[str, int]) -> None:
    peer = ("192.0.2.1", 4000)
    one = Direction(peer, first, second, peer, 0, S)
    two = Direction(peer, second, first, peer, 0, S)
    assert (one.name == two.name) == (first == second)
    assert re.fullmatch(r"f[0-9a-f]{8}_\d+_\d+", one.name)


@given(pairs, st.integers(0, 2**40), st.integers(0, 2**40))
def test_flows_of_one_socket_with_other_serials_share_no_name(
    pair: FlowPair, first: int, second: int
) -> None:
    # a removal and the next installation of the same sockets can meet in one transaction
    old = dataclasses.replace(pair, serial=first)
    new = dataclasses.replace(pair, serial=second)
    old_names = {d.name for d in old.directions}
    new_names = {d.name for d in new.directions}
    assert (old_names == new_names) == (first == second)
    if first != second:
        assert not old_names & new_names
        assert not set(re.findall(r"\S+", remove_script(T, old))) & new_names


def test_a_negative_serial_is_refused() -> None:
    with pytest.raises(ValueError, match="serial"):
        Direction(("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3), ("127.0.0.1", 4), 0, S, -1)


@given(pairs, st.integers(0, 3))
def test_an_unspecified_address_is_refused(pair: FlowPair, where: int) -> None:
    # the default VPBX_SIP_HOST binds 0.0.0.0: no packet carries it, so no rule may name it
    addresses = [pair.a_peer, pair.a_local, pair.b_local, pair.b_peer]
    addresses[where] = ("0.0.0.0", addresses[where][1])
    assert unsupported(*addresses) == UNSPECIFIED
    assert "VPBX_RTP_HOST" in UNSPECIFIED
    a_peer, a_local, b_local, b_peer = addresses
    with pytest.raises(ValueError, match="unspecified address"):
        FlowPair(a_peer, a_local, b_local, b_peer, pair.payload_type, S, S).directions  # noqa: B018


@given(pairs)
def test_unhooking_can_be_sent_again(pair: FlowPair) -> None:
    # a retry after a timeout that did commit: the element is put back, then deleted
    script = unhook_script(T, pair).splitlines()
    assert len(script) == 2
    assert script[0].startswith("add element ip vpbx_rtp_20000 flows {")
    assert ELEMENT.findall(script[0]) == ELEMENT.findall(add_script(T, pair).splitlines()[-1])
    assert script[1].startswith("delete element ip vpbx_rtp_20000 flows {")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (("::1", 4000), "not an IPv4 address"),
        (("example.org", 4000), "not an IPv4 address"),
        (("127.0.0.1", 0), "not a UDP port"),
        (("127.0.0.1", 65536), "not a UDP port"),
    ],
)
def test_unforwardable_addresses_are_refused(address: tuple[str, int], reason: str) -> None:
    found = unsupported(("127.0.0.1", 4000), address)
    assert found is not None
    assert found.startswith(reason)
    with pytest.raises(ValueError, match=reason):
        Direction(address, ("127.0.0.1", 4000), ("127.0.0.1", 4002), ("127.0.0.1", 5000), 0, S)


@pytest.mark.parametrize("pt", [-1, 128])
def test_payload_type_is_seven_bits(pt: int) -> None:
    with pytest.raises(ValueError, match="payload type"):
        Direction(("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3), ("127.0.0.1", 4), pt, S)


def test_setup_replaces_a_left_table_and_hooks_the_port_range() -> None:
    script = setup_script(T, 20000, 30000).splitlines()
    assert script[:3] == [
        "add table ip vpbx_rtp_20000",
        "delete table ip vpbx_rtp_20000",
        "add table ip vpbx_rtp_20000",
    ]
    assert "hook prerouting priority -300" in script[4]
    assert "udp dport 20000-30000" in script[5]
    with pytest.raises(ValueError, match="not a port range"):
        setup_script(T, 30000, 20000)


@given(
    st.dictionaries(
        st.from_regex(r"f[0-9a-f]{8}_\d{1,5}", fullmatch=True),
        st.tuples(st.integers(0, 2**63), st.integers(0, 2**63)),
    )
)
def test_counters_are_read_from_nft_json(values: dict[str, tuple[int, int]]) -> None:
    items: list[object] = [{"metainfo": {"version": "1.0.6"}}]
    items += [
        {
            "counter": {
                "family": "ip",
                "name": n,
                "table": T,
                "handle": 1,
                "packets": p,
                "bytes": b,
            }
        }
        for n, (p, b) in values.items()
    ]
    items.append({"counter": {"name": "other", "table": "filter", "packets": 1, "bytes": 1}})
    found = parse_counters(T, json.dumps({"nftables": items}))
    assert {n: (c.packets, c.bytes) for n, c in found.items()} == values


def test_garbage_from_nft_is_an_error() -> None:
    with pytest.raises(ValueError, match="no JSON"):
        parse_counters(T, "Error: No such file")
    with pytest.raises(ValueError, match="without an nftables list"):
        parse_counters(T, "[]")


def test_ambiguous_address_forms_are_refused() -> None:
    # nft and Python could read a leading zero differently (octal): such text never reaches nft
    assert unsupported(("010.0.0.1", 4000)) is not None
