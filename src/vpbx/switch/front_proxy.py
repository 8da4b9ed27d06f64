"""Requests relayed by a trusted front proxy (Kamailio in front of several switch nodes).

Kamailio owns the public SIP port and hands each new request to a node; the node then sees the
proxy's address as the request's source. The proxy's script strips any `ORIGIN_HEADER` a
sender put in and adds its own, "<proto>:<host>:<port>" of where it received the request. A
node believes that header only when the request comes from an address listed as a front
proxy (`VPBX_FRONT_PROXIES`, set by `vpbx run --nodes N`): anyone else could forge it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from vpbx.sip.message import Request
from vpbx.transport.sip import Peer

__all__ = ["ORIGIN_HEADER", "FrontProxies", "parse_front_proxies"]

ORIGIN_HEADER = "X-Vpbx-Source"
_TRANSPORTS = frozenset({"udp", "tcp", "tls", "ws", "wss", "sctp"})


def parse_front_proxies(text: str) -> frozenset[tuple[str, int]]:
    """ "127.0.0.1:5060, 10.0.0.2:5060" → {(host, port)}; a malformed entry raises ValueError
    (a setting, checked at start)."""
    found = set()
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        host = host.strip("[]")
        ipaddress.ip_address(host)
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(f"front proxy port out of range: {item}")
        found.add((host, number))
    return frozenset(found)


def _origin(value: str) -> str | None:
    """The host of "<proto>:<host>:<port>", or None when it is not one."""
    proto, _, rest = value.strip().partition(":")
    host, _, port = rest.rpartition(":")
    if proto.lower() not in _TRANSPORTS or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class FrontProxies:
    """Which sources may name a request's origin."""

    __slots__ = ("addresses",)

    def __init__(self, addresses: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.addresses = addresses

    def peer_of(self, request: Request, peer: Peer) -> Peer:
        """`peer` with the origin the front proxy names; `peer` itself otherwise."""
        if not self.addresses or (peer.host, peer.port) not in self.addresses:
            return peer
        value = request.headers.get(ORIGIN_HEADER)
        if value is None:
            return peer
        origin = _origin(value)
        return peer if origin is None else replace(peer, origin=origin)
