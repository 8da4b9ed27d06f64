"""The durable outbox's rules, pure: what a row is, when it is tried again, when it is given up,
and how a webhook is signed (API-2).

The rows themselves live in the database (`vpbx.services.outbox`); the deliverer that claims and
sends them is `vpbx.services.deliverer`. Nothing here reads a clock: times come in as arguments.

Signature (docs/api.md, "Webhooks"): the header `X-Vpbx-Signature: t=<unix seconds>,v1=<hex>`
where `<hex>` is HMAC-SHA256 with the webhook's secret over the bytes `"<t>." + body`. A header
may carry several `v1=` entries (the receiver accepts the request if any of them matches).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
from dataclasses import dataclass

__all__ = [
    "SIGNATURE_HEADER",
    "Attempt",
    "Failure",
    "OutboxKind",
    "OutboxState",
    "RetryPolicy",
    "Signature",
    "parse_signature",
    "sign",
    "signature_header",
    "verify",
]

#: the header carrying the signature of a webhook request
SIGNATURE_HEADER = "X-Vpbx-Signature"


class OutboxKind(enum.StrEnum):
    WEBHOOK = "webhook"
    MAIL = "mail"


class OutboxState(enum.StrEnum):
    #: waiting for its (next) attempt
    PENDING = "pending"
    #: the receiver took it (a 2xx, or the SMTP server accepted the mail)
    DELIVERED = "delivered"
    #: no more attempts (too old, a permanent refusal, the webhook deleted); the reason is kept
    GIVEN_UP = "given_up"


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one delivery attempt."""

    delivered: bool
    #: the HTTP status or SMTP code the other side answered (None: no answer at all)
    status: int | None = None
    #: why it failed (empty when delivered)
    reason: str = ""
    #: waiting will not help (every recipient refused, the webhook deleted): give up now
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class Failure:
    """What becomes of a row whose attempt failed: tried again at `retry_at`, or given up."""

    retry_at: dt.datetime | None

    @property
    def given_up(self) -> bool:
        return self.retry_at is None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed row is tried again.

    Exponential backoff (`base`, `base*factor`, … capped at `cap` seconds) until the row is
    `give_up_after` seconds old; or, with `delays`, exactly those delays one after another and
    no attempt after the last (the voicemail mail's `smtp_retry_delays`).
    """

    base: float = 5.0
    factor: float = 2.0
    cap: float = 3600.0
    give_up_after: float = 86400.0
    delays: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("base", "cap", "give_up_after"):
            value = getattr(self, name)
            if not 0 <= value < float("inf"):
                raise ValueError(f"retry policy: {name} must be finite and >= 0, got {value}")
        if not 1 <= self.factor < float("inf"):
            raise ValueError(f"retry policy: factor must be >= 1, got {self.factor}")

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1 = the first)."""
        if attempts < 1:
            raise ValueError(f"attempts start at 1, got {attempts}")
        if self.delays is not None:
            return self.delays[min(attempts, len(self.delays)) - 1] if self.delays else 0.0
        # factor ** n overflows a float long before it matters: the cap is reached first
        exponent = min(attempts - 1, 64)
        return float(min(self.cap, self.base * self.factor**exponent))

    def after_failure(
        self,
        attempts: int,
        created: dt.datetime,
        now: dt.datetime,
        *,
        permanent: bool = False,
    ) -> Failure:
        """The fate of a row created at `created` whose `attempts`-th attempt failed at `now`."""
        if permanent:
            return Failure(None)
        if self.delays is not None:
            if attempts > len(self.delays):
                return Failure(None)
            return Failure(now + dt.timedelta(seconds=self.delay(attempts)))
        if (now - created).total_seconds() >= self.give_up_after:
            return Failure(None)
        return Failure(now + dt.timedelta(seconds=self.delay(attempts)))


# -- signatures ----------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>." + body` with `secret`."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of `X-Vpbx-Signature` for a request sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


@dataclass(frozen=True, slots=True)
class Signature:
    """A parsed `X-Vpbx-Signature` value."""

    timestamp: int
    signatures: tuple[str, ...]


_HEX = frozenset("0123456789abcdef")


def parse_signature(value: str) -> Signature:
    """Parse `t=<unix>,v1=<hex>[,v1=<hex>…]`; unknown keys are ignored (later schemes).

    Raises ValueError naming what is wrong: no `t`, two `t`, a `t` that is not a number, no
    `v1`, a `v1` that is not 64 lower-case hex digits, an item without `=`.
    """
    timestamp: int | None = None
    found: list[str] = []
    for item in value.split(","):
        key, sep, text = item.strip().partition("=")
        if not sep:
            raise ValueError(f"signature item {item.strip()!r} has no '='")
        if key == "t":
            if timestamp is not None:
                raise ValueError("signature has two timestamps (t=)")
            if not text.isascii() or not text.isdigit() or len(text) > 12:
                raise ValueError(f"signature timestamp {text!r} is not unix seconds")
            timestamp = int(text)
        elif key == "v1":
            if len(text) != 64 or not set(text) <= _HEX:
                raise ValueError("a v1 signature is 64 lower-case hex digits")
            found.append(text)
    if timestamp is None:
        raise ValueError("signature has no timestamp (t=)")
    if not found:
        raise ValueError("signature has no v1= entry")
    return Signature(timestamp, tuple(found))


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """What a receiver does (docs/api.md): the header parses, its timestamp is within
    `tolerance` seconds of `now` (replays of an old request are refused) and one of its `v1`
    signatures is ours (compared in constant time)."""
    try:
        parsed = parse_signature(header)
    except ValueError:
        return False
    if abs(now - parsed.timestamp) > tolerance:
        return False
    expected = sign(secret, parsed.timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in parsed.signatures)
