"""The SSRF guard of every URL the server fetches: resolve, check every address, connect to the
checked one.

`NetGuard.pin(url)` resolves the URL's host (off the loop, `getaddrinfo`), refuses it if ANY of
its addresses is one the rule refuses (`vpbx.domain.net_policy`: loopback, private, link-local,
metadata… unless the installation allows it with `VPBX_HTTP_ALLOW_NETWORKS`), and answers the
request to send instead: the URL with the checked address in place of the name, the Host header
and, for https, the name for SNI and the certificate check. The connection therefore goes to the
address that was checked; a DNS answer that changes between the check and the connection (DNS
rebinding) cannot move it. Redirects are not followed by the clients that use it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vpbx.domain.net_policy import LOCAL_NAMES, Address, Network, address_refusal

__all__ = ["NetGuard", "PinnedRequest", "UrlRefused"]


class UrlRefused(Exception):
    """The URL may not be fetched; the message says why (logged, and shown in call details)."""


@dataclass(frozen=True, slots=True)
class PinnedRequest:
    """What to send: `url` names the checked address; `headers` and `extensions` keep the name."""

    url: str
    address: Address
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


class NetGuard:
    def __init__(self, allow: Sequence[Network] = ()) -> None:
        self.allow = tuple(allow)

    async def resolve(self, host: str, port: int) -> list[Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise UrlRefused(f"cannot resolve {host!r}: {error}") from None
        found: list[Address] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the address is before it.
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
        if not found:
            raise UrlRefused(f"{host!r} has no address")
        return found

    async def pin(self, url: str) -> PinnedRequest:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise UrlRefused(f"not a valid URL: {error}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UrlRefused("only http and https URLs with a host are fetched")
        host = parts.hostname
        port = port or (443 if parts.scheme == "https" else 80)
        if host.lower().rstrip(".") in LOCAL_NAMES:
            addresses: list[Address] = [ipaddress.ip_address("127.0.0.1")]
        else:
            addresses = await self.resolve(host, port)
        # Every address is checked, not only the one used: a name that also resolves inside is
        # refused as a whole.
        for address in addresses:
            reason = address_refusal(address, self.allow)
            if reason is not None:
                raise UrlRefused(f"{host} resolves to {address}, {reason}: refused")
        address = addresses[0]
        shown = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        host_header = parts.netloc.rsplit("@", 1)[-1]  # no user info in Host
        extensions: dict[str, Any] = {}
        if parts.scheme == "https":
            extensions["sni_hostname"] = host  # SNI and the certificate check use the name
        return PinnedRequest(pinned, address, {"Host": host_header}, extensions)
