"""Bound RTP/RTCP socket pairs kept open between calls, so that a new leg takes one instead of
creating, binding and registering two sockets with the loop (issue 17's pre-opened ports).

A pair is parked when its session closes and is handed out again only after resting
`rest` seconds: packets a finished call's peer still sends reach a parked pair (which drops
them) rather than latching a new call's session onto the old peer. The park holds at most
`capacity` pairs; a pair that finds it full is closed, as is every pair at `close`. Pure
bookkeeping: the caller says what time it is and what closing a pair means.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Protocol, TypeVar

__all__ = ["Parkable", "SocketPark"]


class Parkable(Protocol):
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
        """The oldest pair that has rested long enough (with `any_age`, the oldest one: when no
        port is left to bind, a short rest beats a refused call); None if there is none."""
        if not self._pairs:
            return None
        parked_at, pair = self._pairs[0]
        if not any_age and now - parked_at < self._rest:
            return None
        self._pairs.popleft()
        return pair

    def close(self) -> None:
        """Close every parked pair; pairs put later are refused."""
        self._closed = True
        while self._pairs:
            _, pair = self._pairs.popleft()
            pair.close()
