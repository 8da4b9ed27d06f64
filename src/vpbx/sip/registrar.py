"""Registrar logic (RFC 3261 §10.3), sans-IO: bindings with expiry and a guard against guessing.

`Bindings` keeps the contacts of each address-of-record (a SIP line login) with their expiry
times; `Bindings.apply(aor, request, now, source)` performs steps 6–8 of §10.3 (Contact `*`,
per-contact and header Expires, Call-ID/CSeq ordering) and returns either the current bindings
or the status to answer. `AuthGuard` counts failed authentications per source address and
login (and per source over all logins, with a higher limit) and ignores what failed too often
within a window. Time is passed in as `now` (seconds).
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
    #: the contact's URI as text, the binding's key among its line's (computed when not given:
    #: it is read on every REGISTER, for the 200, the peers and the stored row)
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", _contact_key(self.contact))

    @property
    def uri(self) -> Uri:
        return self.contact.uri

    def same_place(self, other: Binding) -> bool:
        """Whether `other` reaches the same contact the same way (only its expiry, Call-ID or
        CSeq may differ): a refresh, not a new registration."""
        return (
            self.key == other.key
            and self.source == other.source
            and self.transport == other.transport
            and self.user_agent == other.user_agent
        )

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
    #: a contact was added or removed, or one now registers from elsewhere (False for a refresh
    #: that only moves expiry times)
    changed: bool = False

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


def _moved(old: Binding | None, new: Binding | None, now: float) -> bool:
    """Whether a contact's binding appeared, ended or now reaches it another way (`old`
    before a REGISTER, `new` after it; an expired one counts as none)."""
    if old is None or old.expires_at <= now:
        return new is not None
    return new is None or not old.same_place(new)


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
        key = binding.key
        if key in contacts:
            return False
        contacts[key] = binding
        return True

    def forget(self, aor: str) -> tuple[Binding, ...]:
        """Drop every binding of an AOR at once (its credentials changed); the dropped ones."""
        return tuple(self._by_aor.pop(aor, {}).values())

    def aors(self) -> list[str]:
        """The AORs holding bindings (expired ones included until `expire` runs)."""
        return list(self._by_aor)

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
            changed = any(b.expires_at > now for b in existing.values())
            existing.clear()
            return RegisterResult(Outcome.OK, (), changed=changed)
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
                    contact, now + expires, call_id, cseq, source, transport, user_agent, key
                )
                changes.append((key, binding))
        before = {key: existing.get(key) for key, _ in changes}
        for key, new in changes:
            if new is None:
                existing.pop(key, None)
            else:
                existing[key] = new
        changed = any(_moved(old, existing.get(key), now) for key, old in before.items())
        return RegisterResult(Outcome.OK, self.current(aor, now), changed=changed)


@dataclass(frozen=True, slots=True)
class Ban:
    """What a failure got ignored: one login from a source (``login`` set), or the whole source
    on its channel (``login`` None), until ``until``."""

    host: str
    login: str | None
    reliable: bool
    until: float


@dataclass(slots=True)
class _Failures:
    times: deque[float] = field(default_factory=deque)
    banned_until: float = float("-inf")


@dataclass(slots=True)
class AuthGuard:
    """Ignores whoever keeps failing to authenticate, without letting a spoofer lock others out.

    Failures are counted per (channel, source address, login): `max_failures` within `window`
    seconds get that login ignored from that source for `ban_seconds`. Guessing over many
    logins is stopped by a second count per (channel, source) with the higher
    `max_source_failures`. The channel is UDP or a stream (TCP, TLS): a UDP source address can
    be forged by anyone, a stream's cannot (the handshake proves it), so failures forged over
    UDP never ban a phone that authenticates over TCP or TLS, and failures for one login never
    ban another login behind the same office NAT address.
    """

    max_failures: int = 10
    max_source_failures: int = 50
    window: float = 60.0
    ban_seconds: float = 600.0
    _counts: dict[tuple[bool, str, str | None], _Failures] = field(default_factory=dict)
    _next_sweep: float = 0.0

    def blocked(
        self, host: str, now: float, login: str | None = None, *, reliable: bool = False
    ) -> bool:
        """Whether requests from `host` (for `login`, when known) are ignored now."""
        keys: list[tuple[bool, str, str | None]] = [(reliable, host, None)]
        if login is not None:
            keys.append((reliable, host, login))
        for key in keys:
            entry = self._counts.get(key)
            if entry is not None and now < entry.banned_until:
                return True
        return False

    def failure(
        self, host: str, now: float, login: str = "", *, reliable: bool = False
    ) -> Ban | None:
        """Record a failure; the ban it caused, if any (the login's first, else the source's)."""
        self._sweep(now)
        caused: Ban | None = None
        for login_key, limit in ((login, self.max_failures), (None, self.max_source_failures)):
            entry = self._counts.setdefault((reliable, host, login_key), _Failures())
            if now < entry.banned_until:
                continue
            times = entry.times
            times.append(now)
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= limit:
                times.clear()
                entry.banned_until = now + self.ban_seconds
                caused = caused or Ban(host, login_key, reliable, entry.banned_until)
        return caused

    def success(self, host: str, login: str = "", *, reliable: bool = False) -> None:
        """A login authenticated from `host`: its own failures are forgiven (not the source's)."""
        entry = self._counts.get((reliable, host, login))
        if entry is not None:
            entry.times.clear()

    def __len__(self) -> int:
        return len(self._counts)

    def _sweep(self, now: float) -> None:
        """Forget keys with no failure in the window and no ban: forged sources and logins
        cannot grow the table beyond what one window and the live bans hold."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window
        horizon = now - self.window
        stale = [
            key
            for key, entry in self._counts.items()
            if now >= entry.banned_until and (not entry.times or entry.times[-1] <= horizon)
        ]
        for key in stale:
            del self._counts[key]
