"""The nftables text of kernel RTP forwarding (issue 17): what to send `nft -f -` to set the
table up, to let the kernel carry one bridged call's audio, and to take it back; and the
reading of the counters `nft -j` reports. Pure: no process, no socket, no clock.

Shape (one table per switch node, `ip vpbx_rtp_<first RTP port>`: nodes on one host have
disjoint port ranges, so each node's start cleans its own leftovers and no other node's):

- a base chain at prerouting, priority raw (-300), looks every UDP packet to the RTP port
  range up in one verdict map keyed by the 4-tuple `peer address . peer port . our address .
  our port`: a hash lookup per packet, whatever the number of calls (a rule per call would
  be a linear scan);
- each forwarded direction has a chain of its own with one rule: RTP version 2 with the
  call's audio payload type (`@th,64,2`, `@th,73,7`: the UDP header is 64 bits, and the
  second RTP byte is marker bit then payload type) is not tracked (conntrack would pin a NAT
  decision on the whole 5-tuple) and rewritten statelessly to come from our other socket
  and go to the other peer (nft fixes the IP and UDP checksums), with a named counter;
- the RTP header is made to continue our own stream to that peer: its SSRC is set to ours
  (`@th,128,32`) and its sequence number (`@th,80,16`) to `numgen inc` (a counter of the
  rule's own, from 0) plus the next number of our stream, shifted into the upper half of the
  32-bit register nft writes big-endian from (the shift also wraps the sum at 65536). Phones
  drop a stream whose numbers go back (baresip 1.0 even after an SSRC change), so the
  peer's own numbering cannot pass. Timestamps stay the peer's (nft cannot add to a field).
  Anything else of the same 5-tuple (RFC 4733 events, comfort noise, STUN) misses the rule,
  leaves the chain and reaches vpbx's socket as before: talk options keep hearing keys.

Only IPv4 is forwarded; an IPv6 leg stays in userspace (`unsupported` says why).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Final

__all__ = [
    "FAMILY",
    "TABLE_PREFIX",
    "UNSPECIFIED",
    "CounterValue",
    "Direction",
    "FlowPair",
    "Stream",
    "add_script",
    "drop_script",
    "parse_counters",
    "remove_script",
    "setup_script",
    "table_name",
    "teardown_script",
    "unhook_script",
    "unsupported",
]

FAMILY: Final = "ip"
TABLE_PREFIX: Final = "vpbx_rtp_"
MAP: Final = "flows"
#: the base chain's name; "prerouting" is also the hook, which nft accepts as a name
BASE_CHAIN: Final = "prerouting"
#: raw: before conntrack (-200), so `notrack` still applies and no NAT table sees the packet
PRIORITY: Final = -300

Address = tuple[str, int]


def _ipv4(host: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        return None


#: the reason `unsupported` gives for 0.0.0.0: a socket bound to the wildcard (the default
#: VPBX_SIP_HOST, which VPBX_RTP_HOST falls back to) receives packets to the box's real
#: address, so a key or a `saddr set` naming 0.0.0.0 would install a rule nothing matches
UNSPECIFIED: Final = (
    "unspecified address 0.0.0.0: kernel forwarding needs VPBX_RTP_HOST (or VPBX_SIP_HOST)"
    " set to the box's own address"
)


def unsupported(*addresses: Address) -> str | None:
    """Why these addresses cannot be forwarded by the kernel, or None when they can."""
    for host, port in addresses:
        address = _ipv4(host)
        if address is None:
            return f"not an IPv4 address: {host!r}"
        if address.is_unspecified:
            return UNSPECIFIED
        if not 0 < port < 65536:
            return f"not a UDP port: {port}"
    return None


@dataclass(frozen=True, slots=True)
class Stream:
    """What our socket sends to its peer: the SSRC, and the sequence number the kernel's first
    packet is to carry."""

    ssrc: int
    sequence: int

    def __post_init__(self) -> None:
        if not 0 <= self.ssrc < 1 << 32:
            raise ValueError(f"not an SSRC: {self.ssrc}")
        if not 0 <= self.sequence < 1 << 16:
            raise ValueError(f"not a sequence number: {self.sequence}")


@dataclass(frozen=True, slots=True)
class Direction:
    """One forwarded direction: packets of `peer` to our `local` socket leave as sent from our
    `out` socket to `to`, numbered as `stream`; only RTP of `payload_type` is taken."""

    peer: Address
    local: Address
    out: Address
    to: Address
    payload_type: int
    stream: Stream
    #: the flow's serial number (see `FlowPair.serial`)
    serial: int = 0

    def __post_init__(self) -> None:
        reason = unsupported(self.peer, self.local, self.out, self.to)
        if reason is not None:
            raise ValueError(reason)
        if not 0 <= self.payload_type < 128:
            raise ValueError(f"not an RTP payload type: {self.payload_type}")
        if self.serial < 0:
            raise ValueError(f"not a serial number: {self.serial}")

    @property
    def name(self) -> str:
        """The direction's chain and counter name. Our receiving socket is unique on the host
        at any one time, but a flow's removal and the next flow of the same socket can be in
        one transaction (a call leaving and re-entering the plain state, or a port reused at
        once): the serial keeps their chains apart, where the socket alone would clash."""
        host = int(ipaddress.IPv4Address(self.local[0]))
        return f"f{host:08x}_{self.local[1]}_{self.serial}"

    @property
    def key(self) -> str:
        """The verdict map's key of this direction's packets."""
        return f"{self.peer[0]} . {self.peer[1]} . {self.local[0]} . {self.local[1]}"


@dataclass(frozen=True, slots=True)
class FlowPair:
    """Both directions of one bridged call: `a_peer` talks to our `a_local`, `b_peer` to our
    `b_local`, and both legs carry the same audio payload type (no transcoding); `a_stream`
    is what our `a_local` sends to `a_peer`, `b_stream` what `b_local` sends to `b_peer`."""

    a_peer: Address
    a_local: Address
    b_local: Address
    b_peer: Address
    payload_type: int
    a_stream: Stream
    b_stream: Stream
    #: told apart from every other flow of the table (the forwarder numbers its flows): part
    #: of the chain and counter names
    serial: int = 0

    @property
    def directions(self) -> tuple[Direction, Direction]:
        pt, n = self.payload_type, self.serial
        return (
            Direction(self.a_peer, self.a_local, self.b_local, self.b_peer, pt, self.b_stream, n),
            Direction(self.b_peer, self.b_local, self.a_local, self.a_peer, pt, self.a_stream, n),
        )


def table_name(port_min: int) -> str:
    """The table of the node whose RTP ports start at `port_min`."""
    return f"{TABLE_PREFIX}{port_min}"


def setup_script(table: str, port_min: int, port_max: int) -> str:
    """A fresh table: whatever a crashed run left is deleted in the same transaction.

    `add table` first makes the `delete table` valid when there was none (nft 1.0.6 has no
    `destroy`)."""
    if not 0 < port_min <= port_max < 65536:
        raise ValueError(f"not a port range: {port_min}-{port_max}")
    t = f"{FAMILY} {table}"
    return (
        f"add table {t}\n"
        f"delete table {t}\n"
        f"add table {t}\n"
        f"add map {t} {MAP} {{ type ipv4_addr . inet_service . ipv4_addr . inet_service"
        f" : verdict ; }}\n"
        f"add chain {t} {BASE_CHAIN} {{ type filter hook prerouting priority {PRIORITY} ;"
        f" policy accept ; }}\n"
        f"add rule {t} {BASE_CHAIN} udp dport {port_min}-{port_max}"
        f" ip saddr . udp sport . ip daddr . udp dport vmap @{MAP}\n"
    )


def teardown_script(table: str) -> str:
    """Remove the table (vpbx stops; also when a run found it already gone)."""
    t = f"{FAMILY} {table}"
    return f"add table {t}\ndelete table {t}\n"


def add_script(table: str, pair: FlowPair) -> str:
    """Install both directions of `pair` (one transaction when sent as one `nft -f`)."""
    t = f"{FAMILY} {table}"
    lines = []
    for d in pair.directions:
        lines += [
            f"create counter {t} {d.name}",
            f"create chain {t} {d.name}",
            f"add rule {t} {d.name} @th,64,2 2 @th,73,7 {d.payload_type} notrack"
            f" @th,80,16 set numgen inc mod 65536 offset {d.stream.sequence} << 16"
            f" @th,128,32 set {d.stream.ssrc:#010x}"
            f" ip saddr set {d.out[0]} udp sport set {d.out[1]}"
            f" ip daddr set {d.to[0]} udp dport set {d.to[1]}"
            f' counter name "{d.name}"',
        ]
    elements = ", ".join(f"{d.key} : goto {d.name}" for d in pair.directions)
    lines.append(f"create element {t} {MAP} {{ {elements} }}")
    return "\n".join(lines) + "\n"


def unhook_script(table: str, pair: FlowPair) -> str:
    """Stop forwarding `pair`: its map elements go, so its packets reach our sockets again;
    its chains and counters stay, the counters final, until `drop_script`.

    Idempotent, as a retry needs: an nft that timed out may have committed the deletion, and a
    plain `delete element` of a missing key fails for ever. `add element` of the element as
    installed is a no-op when it is there and makes the `delete` valid when it is not (the same
    trick as `setup_script`'s; nft 1.0.6 has no `destroy`)."""
    t = f"{FAMILY} {table}"
    elements = ", ".join(f"{d.key} : goto {d.name}" for d in pair.directions)
    keys = ", ".join(d.key for d in pair.directions)
    return f"add element {t} {MAP} {{ {elements} }}\ndelete element {t} {MAP} {{ {keys} }}\n"


def drop_script(table: str, pair: FlowPair) -> str:
    """Delete the chains and counters of an unhooked `pair` (a chain the map still jumps to
    could not go)."""
    t = f"{FAMILY} {table}"
    lines = []
    for d in pair.directions:
        lines += [f"delete chain {t} {d.name}", f"delete counter {t} {d.name}"]
    return "\n".join(lines) + "\n"


def remove_script(table: str, pair: FlowPair) -> str:
    """Take both directions of `pair` out at once (counters unread)."""
    return unhook_script(table, pair) + drop_script(table, pair)


@dataclass(frozen=True, slots=True)
class CounterValue:
    packets: int
    bytes: int


def parse_counters(table: str, text: str) -> dict[str, CounterValue]:
    """The named counters of `table` in `nft -j list counters table ...` output."""
    found: dict[str, CounterValue] = {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"nft printed no JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("nftables"), list):
        raise ValueError("nft printed JSON without an nftables list")
    for item in document["nftables"]:
        counter = item.get("counter") if isinstance(item, dict) else None
        if not isinstance(counter, dict) or counter.get("table") != table:
            continue
        name, packets, size = counter.get("name"), counter.get("packets"), counter.get("bytes")
        if isinstance(name, str) and isinstance(packets, int) and isinstance(size, int):
            found[name] = CounterValue(packets, size)
    return found
