"""What the switch reads of the configuration to route a request: a SIP line by its login, a
virtual number, a trunk. Plain values (no I/O): the switch's directory caches them, the storage
side (`vpbx.services.directory_store`) builds them from rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vpbx.domain.net_policy import host_in_networks

__all__ = ["LineInfo", "NumberInfo", "TrunkInfo"]


@dataclass(frozen=True, slots=True)
class LineInfo:
    account_id: int
    line_id: int
    login: str
    password: str
    mode: str
    caller_id_number_id: int | None
    #: IPs and networks the line may be used from; empty = anywhere
    allowed_addresses: tuple[str, ...] = ()
    #: "srtp": the line's calls must be encrypted (SRTP), "none": as the phone offers
    encryption: str = "none"
    #: CID-1: how the outgoing caller ID is chosen; `caller_id_number_id` is its fixed or default
    caller_id_mode: str = "fixed"

    def admits(self, host: str) -> bool:
        """Whether requests from `host` may use this line's credentials."""
        return not self.allowed_addresses or host_in_networks(host, self.allowed_addresses)


@dataclass(frozen=True, slots=True)
class NumberInfo:
    account_id: int
    number_id: int
    number: str
    kind: str
    rules: list[dict[str, Any]]
    #: the trunk the number's outgoing calls leave through (None: the account's first outbound)
    trunk_id: int | None
    #: False when the account is disabled: calls to its numbers are refused
    account_enabled: bool = True


@dataclass(frozen=True, slots=True)
class TrunkInfo:
    account_id: int
    trunk_id: int
    name: str
    host: str
    port: int
    transport: str
    allow_ips: tuple[str, ...]
    username: str
    password: str
    registration: bool
    outbound: bool

    def allows(self, host: str) -> bool:
        return host_in_networks(host, self.allow_ips)
