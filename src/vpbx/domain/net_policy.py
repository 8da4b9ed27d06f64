"""Which addresses the server may fetch a URL from (the SSRF guard's rule, pure).

A tenant admin writes URLs the server requests (a CRM of interactive processing, webhooks): they
must not reach the installation's own network. Refused unless the installation allows them
(`VPBX_HTTP_ALLOW_NETWORKS`): loopback, private (RFC 1918, unique local), link-local (with the
cloud metadata address 169.254.169.254), carrier-grade NAT, multicast, reserved, unspecified and
every other address that is not globally routable. An IPv4 address written in IPv6 form
(`::ffff:127.0.0.1`) is judged as the IPv4 address it is.

The check after DNS resolution, and the connection to the checked address, is
`vpbx.services.net_guard`; this module also serves the check at save time (a literal address in
a URL, `check_url_host`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

__all__ = [
    "Address",
    "Network",
    "address_refusal",
    "literal_host",
    "parse_networks",
    "url_refusal",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: cloud metadata services: named apart in the refusal, they are what an SSRF is after
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
#: host names that are loopback whatever DNS says
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def parse_networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) separated by commas or spaces; ValueError names a bad one."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    found: list[Network] = []
    for item in items:
        try:
            found.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP network (CIDR): {item!r}") from None
    return tuple(found)


def in_networks(address: Address, networks: Iterable[Network]) -> bool:
    """Whether `address` lies in one of `networks` (an IPv4-mapped IPv6 address, as a
    dual-stack socket reports an IPv4 peer, is judged as the IPv4 address it carries)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


def host_in_networks(host: str, entries: Iterable[str]) -> bool:
    """Whether the peer address `host` lies in one of `entries` (CIDRs or single addresses, as
    stored: an entry that does not parse matches nothing). A name is never in a network."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return in_networks(address, networks)


def address_refusal(address: Address, allow: Sequence[Network] = ()) -> str | None:
    """Why the server may not connect to `address` (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if in_networks(address, allow):
        return None
    if address in METADATA:
        return "a cloud metadata address"
    for kind, flag in (
        ("a loopback address", address.is_loopback),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
    ):
        if flag:
            return kind
    if not address.is_global:
        return "an address that is not public"
    return None


def literal_host(url: str) -> str:
    """The host of a URL as written (brackets of an IPv6 literal removed), lower case."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return ""
    return (host or "").lower()


def url_refusal(url: str, allow: Sequence[Network] = ()) -> str | None:
    """Why a URL is refused as written, before any DNS: a literal address the rule refuses, or a
    name of the local host. A name is judged again once resolved (`net_guard`)."""
    host = literal_host(url)
    if host.rstrip(".") in LOCAL_NAMES:
        loopback = ipaddress.ip_address("127.0.0.1")
        return None if address_refusal(loopback, allow) is None else "the local host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    reason = address_refusal(address, allow)
    return f"{reason} ({address})" if reason else None
