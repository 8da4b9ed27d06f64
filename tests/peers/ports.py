"""Free loopback ports for test peers, outside the kernel's ephemeral range.

Ports handed out by binding port 0 come from the ephemeral range, where any outgoing connection
(a database client, an HTTP client, SIPp's TCP) may take them again before the peer binds:
baresip's TLS listener (SIP port + 1) lost such races. Test ports are drawn from 10000-19999
instead: below the ephemeral range and below vpbx's default RTP range (20000-30000).
"""

from __future__ import annotations

import random
import socket

LOW, HIGH = 10000, 20000
#: ports this process already handed out: peers started together (a module's twenty trunk
#: callers) each bind later, so a port still free now may be promised to an earlier one
_HANDED: set[int] = set()


def _bindable(port: int) -> bool:
    """Free for both UDP and TCP right now on 127.0.0.1 and on 127.0.0.2 (the trunk's address
    in the tests)."""
    for host in ("127.0.0.1", "127.0.0.2"):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    return False
    return True


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 at the time of the call."""
    return free_range(1)


def free_range(size: int) -> int:
    """The first of `size` consecutive ports free for UDP and TCP (SIP + TLS, RTP ranges)."""
    if len(_HANDED) > (HIGH - LOW) // 2:
        _HANDED.clear()
    for _ in range(500):
        start = random.randrange(LOW, HIGH - size)
        ports = range(start, start + size)
        if _HANDED.isdisjoint(ports) and all(_bindable(port) for port in ports):
            _HANDED.update(ports)
            return start
    raise RuntimeError(f"no {size} consecutive free ports in {LOW}-{HIGH}")
