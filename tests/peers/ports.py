"""Free loopback ports for test peers, outside the kernel's ephemeral range.

Ports handed out by binding port 0 come from the ephemeral range, where any outgoing connection
(a database client, an HTTP client, SIPp's TCP) may take them again before the peer binds:
baresip's TLS listener (SIP port + 1) lost such races. Test ports are drawn from 10000-19999
instead: below the ephemeral range and below vpbx's default RTP range (20000-30000), each
pytest-xdist worker from its own share of it.
"""

from __future__ import annotations

import os
import random
import socket


def _worker_range() -> tuple[int, int]:
    """The whole range, or under pytest-xdist one share per worker: two workers run peers at
    once, and a port one worker found free may be promised by the other before it binds."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count < 2:
        return 10000, 20000
    share = 10000 // count
    low = 10000 + int(worker[2:]) * share
    return low, low + share


LOW, HIGH = _worker_range()
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
    for attempt in range(1000):
        if attempt == 500:
            # the ports handed out are scattered over this worker's share (a module of many
            # peers): those of earlier modules are bound or free again by now, forget them
            _HANDED.clear()
        start = random.randrange(LOW, HIGH - size)
        ports = range(start, start + size)
        if _HANDED.isdisjoint(ports) and all(_bindable(port) for port in ports):
            _HANDED.update(ports)
            return start
    raise RuntimeError(f"no {size} consecutive free ports in {LOW}-{HIGH}")
