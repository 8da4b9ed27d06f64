"""Registrar logic (RFC 3261 §10.3), sans-IO: bindings with expiry and a guard against guessing.

`Bindings` keeps the contacts of each address-of-record (a SIP line login) with their expiry
times; `Bindings.apply(aor, request, now, source)` performs steps 6–8 of §10.3 (Contact `*`,
per-contact and header Expires, Call-ID/CSeq ordering) and returns either the current bindings
or the status to answer. `AuthGuard` counts failed authentications per source address and
ignores a source that failed too often within a window. Time is passed in as `now` (seconds).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from vpbx.sip.message import Request
from vpbx.sip.uri import Address, Uri

DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 60
MAX_EXPIRES = 7200


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of a line."""

    contact: Address
    expires_at: float
    call_id: str
    cseq: int
    source: tuple[str, int]
    transport: str
    user_agent: str

    @property
    def uri(self) -> Uri:
        return self.contact.uri

    def remaining(self, now: float) -> int:
        return max(0, round(self.expires_at - now))


class Outcome(enum.Enum):
    OK = "ok"
    INTERVAL_TOO_BRIEF = "interval_too_brief"
    BAD_REQUEST = "bad_request"
    OUT_OF_ORDER = "out_of_order"


@dataclass(frozen=True, slots=True)
class RegisterResult:
    outcome: Outcome
    bindings: tuple[Binding, ...] = ()
    reason: str = ""

    @property
    def status(self) -> int:
        return {
            Outcome.OK: 200,
            Outcome.INTERVAL_TOO_BRIEF: 423,
            Outcome.BAD_REQUEST: 400,
            Outcome.OUT_OF_ORDER: 500,
        }[self.outcome]


def _contact_key(contact: Address) -> str:
    return str(contact.uri)


@dataclass(slots=True)
class Bindings:
    """Contacts per address-of-record, with their expiry."""

    min_expires: int = MIN_EXPIRES
    max_expires: int = MAX_EXPIRES
    _by_aor: dict[str, dict[str, Binding]] = field(default_factory=dict)

    def current(self, aor: str, now: float) -> tuple[Binding, ...]:
        """Unexpired bindings, newest first (the order phones are forked to)."""
        live = [b for b in self._by_aor.get(aor, {}).values() if b.expires_at > now]
        return tuple(sorted(live, key=lambda b: -b.expires_at))

    def restore(self, aor: str, binding: Binding) -> bool:
        """Put back a binding stored before a restart; False when the contact is already bound
        (a REGISTER since the restart knows better than the stored copy)."""
        contacts = self._by_aor.setdefault(aor, {})
        key = _contact_key(binding.contact)
        if key in contacts:
            return False
        contacts[key] = binding
        return True

    def count(self, now: float) -> int:
        """Unexpired bindings of every AOR (the registrations gauge of /metrics)."""
        return sum(
            1 for contacts in self._by_aor.values() for b in contacts.values() if b.expires_at > now
        )

    def expire(self, now: float) -> list[str]:
        """Drop expired bindings; the AORs that lost their last binding."""
        emptied = []
        for aor, contacts in list(self._by_aor.items()):
            for key, binding in list(contacts.items()):
                if binding.expires_at <= now:
                    del contacts[key]
            if not contacts:
                del self._by_aor[aor]
                emptied.append(aor)
        return emptied

    def apply(
        self, aor: str, request: Request, now: float, source: tuple[str, int], transport: str
    ) -> RegisterResult:
        contacts = request.contacts
        header_expires = request.expires
        existing = self._by_aor.setdefault(aor, {})
        call_id, cseq = request.call_id, request.cseq.seq
        if contacts == "*":
            if header_expires != 0:
                return RegisterResult(Outcome.BAD_REQUEST, reason="Contact * needs Expires: 0")
            for binding in existing.values():
                if binding.call_id == call_id and cseq <= binding.cseq:
                    return RegisterResult(Outcome.OUT_OF_ORDER, reason="CSeq out of order")
            existing.clear()
            return RegisterResult(Outcome.OK, ())
        user_agent = request.headers.get("User-Agent") or ""
        changes: list[tuple[str, Binding | None]] = []
        for contact in contacts:
            raw = contact.params.get("expires")
            if raw is not None and raw.isdigit():
                expires = int(raw)
            elif header_expires is not None:
                expires = header_expires
            else:
                expires = DEFAULT_EXPIRES
            if 0 < expires < self.min_expires:
                return RegisterResult(
                    Outcome.INTERVAL_TOO_BRIEF, reason=f"expires {expires} < {self.min_expires}"
                )
            expires = min(expires, self.max_expires)
            key = _contact_key(contact)
            old = existing.get(key)
            if old is not None and old.call_id == call_id and cseq <= old.cseq:
                return RegisterResult(Outcome.OUT_OF_ORDER, reason="CSeq out of order")
            if expires == 0:
                changes.append((key, None))
            else:
                binding = Binding(
                    contact, now + expires, call_id, cseq, source, transport, user_agent
                )
                changes.append((key, binding))
        for key, new in changes:
            if new is None:
                existing.pop(key, None)
            else:
                existing[key] = new
        return RegisterResult(Outcome.OK, self.current(aor, now))


@dataclass(slots=True)
class AuthGuard:
    """Ignores a source address after `max_failures` failed authentications within `window` s."""

    max_failures: int = 10
    window: float = 60.0
    ban_seconds: float = 600.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _banned_until: dict[str, float] = field(default_factory=dict)

    def blocked(self, host: str, now: float) -> bool:
        until = self._banned_until.get(host)
        if until is None:
            return False
        if now >= until:
            del self._banned_until[host]
            return False
        return True

    def failure(self, host: str, now: float) -> bool:
        """Record a failure; True when this one got the source banned."""
        times = self._failures.setdefault(host, deque())
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.max_failures:
            self._banned_until[host] = now + self.ban_seconds
            del self._failures[host]
            return True
        return False

    def success(self, host: str) -> None:
        self._failures.pop(host, None)
