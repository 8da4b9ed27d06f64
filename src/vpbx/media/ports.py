"""RTP port pairs (even RTP, odd RTCP) handed out from a configured range."""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

from vpbx.media.errors import PortsExhausted

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

    from vpbx.media._fastrelay import Engine

__all__ = ["PortPool"]

log = logging.getLogger("vpbx.media.ports")


class PortPool:
    """Even ports of [first, last] for RTP, each with port + 1 for RTCP.

    Released ports go to the back of the queue: a port just freed is reused last, so stray
    packets of a finished call rarely reach the next one. Not thread-safe (one event loop).
    """

    __slots__ = ("_first", "_free", "_last", "_used", "relay_engine")

    def __init__(self, first: int, last: int) -> None:
        if first % 2:
            first += 1  # RTP takes the even port of each pair (RFC 3550 §11)
        if not 0 < first < last <= 65535:
            raise ValueError(f"invalid RTP port range {first}-{last}")
        self._first = first
        self._last = last
        # The pair (p, p + 1) must fit in the range.
        self._free: deque[int] = deque(range(first, last, 2))
        self._used: set[int] = set()
        #: the native relay's thread of this pool's sessions, with the loop it wakes
        #: (`vpbx.media.fastrelay.engine_of`; made at the first bridge that enters it)
        self.relay_engine: tuple[AbstractEventLoop, Engine] | None = None

    @property
    def capacity(self) -> int:
        return len(self._free) + len(self._used)

    @property
    def available(self) -> int:
        return len(self._free)

    def acquire(self) -> int:
        """An even RTP port (its RTCP port is the next one); PortsExhausted if none is left."""
        if not self._free:
            log.warning("rtp ports exhausted", extra={"first": self._first, "last": self._last})
            raise PortsExhausted(self._first, self._last)
        port = self._free.popleft()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        """Give a port back; releasing one that is not in use is a bug of the caller."""
        if port not in self._used:
            raise ValueError(f"port {port} is not allocated from this pool")
        self._used.remove(port)
        self._free.append(port)
