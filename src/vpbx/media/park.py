"""Bound RTP/RTCP socket pairs kept open between calls, so that a new leg takes one instead of
creating, binding and registering two sockets with the loop (issue 17's pre-opened ports).

A pair is parked when its session closes and is handed out again only after `rest` seconds
without a packet: the first packet from anywhere latches a new session, so a finished call's
peer still streaming to the port (a phone or gateway that goes on after its BYE) must fall
silent first, or the new call's audio would go to it. A parked pair drops what it receives
and notes when (`quiet_since`); one heard lately goes to the back to rest again. The park
holds at most `capacity` pairs; a pair that finds it full is closed, as is every pair at
`close`. Pure bookkeeping: the caller says what time it is and what closing a pair means.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Protocol, TypeVar

__all__ = ["Parkable", "SocketPark"]

#: parked pairs looked at per `take` before a leg binds new sockets instead
TRIES = 8


class Parkable(Protocol):
    #: when the pair last received a packet, or was parked (the caller's clock)
    quiet_since: float

    def close(self) -> None:
        """Close the pair's sockets for good."""
        ...


P = TypeVar("P", bound=Parkable)


class SocketPark(Generic[P]):
    """Open pairs waiting for their next session, oldest first."""

    __slots__ = ("_capacity", "_closed", "_pairs", "_rest")

    def __init__(self, *, capacity: int = 1024, rest: float = 10.0) -> None:
        if capacity < 0 or rest < 0:
            raise ValueError("capacity and rest must not be negative")
        self._capacity = capacity
        self._rest = rest
        self._pairs: deque[tuple[float, P]] = deque()
        self._closed = False

    def __len__(self) -> int:
        return len(self._pairs)

    def has_room(self) -> bool:
        return not self._closed and len(self._pairs) < self._capacity

    def put(self, pair: P, now: float) -> bool:
        """Park `pair` (its session has let it go); False: not taken, the caller closes it."""
        if not self.has_room():
            return False
        self._pairs.append((now, pair))
        return True

    def take(self, now: float, *, any_age: bool = False) -> P | None:
        """The oldest pair that has been quiet long enough (with `any_age`, the oldest one:
        when no port is left to bind, a short rest beats a refused call); None if none is."""
        pairs = self._pairs
        for _ in range(min(len(pairs), TRIES)):
            parked_at, pair = pairs[0]
            if any_age:
                break
            if now - parked_at < self._rest:
                return None  # the oldest has not rested yet: nor has any parked after it
            pairs.popleft()
            if now - pair.quiet_since >= self._rest:
                return pair
            pairs.append((pair.quiet_since, pair))  # still hears a stream: rests again
        else:
            return None
        pairs.popleft()
        return pair

    def close(self) -> None:
        """Close every parked pair; pairs put later are refused."""
        self._closed = True
        while self._pairs:
            _, pair = self._pairs.popleft()
            pair.close()
