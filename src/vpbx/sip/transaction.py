"""RFC 3261 §17 transactions, sans-IO: callers pass ``now`` in seconds and drain an outbox.

API notes
---------
``TransactionLayer(config=TimerConfig(), trying_delay=0.2)`` is what a UA or proxy core uses:

* ``receive(message, source, now)`` routes a parsed message: request retransmissions and ACKs
  of non-2xx are absorbed by their server transaction, responses go to their client transaction;
  a new request yields `NewRequest` (or `MergedRequest`, `CancelReceived`, `Ack`), a response
  matching no transaction yields `StrayResponse` (a 2xx retransmission the core must re-ACK).
  Raises `ParseError` when the Via/CSeq/From/To/Call-ID needed for matching is malformed.
* ``send_request(request, destination, now, reliable=None) -> TransactionKey`` starts a client
  transaction; the request must carry its own RFC 3261 branch (the TU picks it).
* ``respond(request_or_key, response, now) -> bool`` answers through the server transaction;
  False when discarded because a final response was already sent (§17.2.2).
* ``cancel(invite_key, now)`` sends a CANCEL once a provisional response was received (§9.1);
  ``answer_cancel(event, now)`` is the usual reaction to `CancelReceived` (200 + 487, or 481).
* ``transport_error(key, now)``, ``get_timer()`` (earliest deadline or None) and
  ``handle_timer(now)``; ``drain()`` returns and clears the outputs (see `Output`).

Sources and destinations are opaque to this module (`Endpoint`: anything with ``reliable``,
such as `vpbx.transport.sip.Peer`, hence ``TransactionLayer[Peer]``); a server transaction
answers to its request's source and the transport applies §18.2.2. The four transaction classes
can be used on their own: feed them, then ``drain()`` them. Terminated transactions are dropped
by the layer after emitting `Terminated`. An INVITE server transaction ended by a 2xx leaves a
64*T1 "accepted" record so INVITE retransmissions are not mistaken for new calls (the problem
RFC 6026 fixes) and so the TU can retransmit its 2xx with ``respond``.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import secrets
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeAlias, TypeVar

from vpbx.sip.errors import LocalError
from vpbx.sip.message import Headers, Request, Response, bare, make_response

__all__ = [
    "Ack",
    "CancelReceived",
    "ClientInviteState",
    "ClientInviteTransaction",
    "ClientNonInviteState",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "Deliver",
    "Endpoint",
    "MergedRequest",
    "NewRequest",
    "Output",
    "Send",
    "ServerInviteState",
    "ServerInviteTransaction",
    "ServerNonInviteState",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "StrayResponse",
    "Terminated",
    "TerminationReason",
    "Timeout",
    "TimerConfig",
    "TimerName",
    "TransactionKey",
    "TransactionLayer",
    "build_ack",
    "build_cancel",
    "client_key",
    "server_key",
]


class Endpoint(Protocol):
    """Where a message comes from or goes to; only its reliability matters here."""

    @property
    def reliable(self) -> bool: ...


P = TypeVar("P", bound=Endpoint)


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 timer base values in seconds (Table 4); ``d`` is Timer D on unreliable links."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0

    def __post_init__(self) -> None:
        if not (0 < self.t1 <= self.t2) or self.t4 <= 0 or self.d < 0:
            raise LocalError(f"invalid timer configuration {self!r}")

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H and J."""
        return 64 * self.t1


class TimerName(enum.Enum):
    A = "A"
    B = "B"
    D = "D"
    E = "E"
    F = "F"
    K = "K"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 - the RFC's name
    J = "J"
    TRYING = "Trying"  # the 200 ms "send 100 Trying" timer of §17.2.1
    CANCELLED = "Cancelled"  # §9.1: give up on a CANCELled INVITE after 64*T1


class TerminationReason(enum.StrEnum):
    COMPLETED = "completed"
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport error"


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """§17.1.3 / §17.2.3 matching key; ACK uses its INVITE's key, CANCEL has its own."""

    branch: str
    sent_by: str
    method: str

    def __str__(self) -> str:
        return f"{self.method} {self.branch} {self.sent_by}"


# -- outputs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send(Generic[P]):
    """Transmit ``message`` to ``destination`` (for responses: the request's source)."""

    message: Request | Response
    destination: P
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class Deliver:
    """A response for the TU of a client transaction (each distinct response once)."""

    response: Response
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class NewRequest(Generic[P]):
    """A new request: a server transaction ``key`` exists, the TU must ``respond`` to it."""

    request: Request
    source: P
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class MergedRequest(Generic[P]):
    """§8.2.2.2: same From tag, Call-ID and CSeq as ``original`` but another branch; answer 482."""

    request: Request
    source: P
    key: TransactionKey
    original: TransactionKey


@dataclass(frozen=True, slots=True)
class CancelReceived(Generic[P]):
    """A CANCEL with its own server transaction ``key``.

    ``invite_key`` is the matching INVITE server transaction (None: answer 481);
    ``invite_pending`` says it has no final response yet (answer it 487).
    """

    request: Request
    source: P
    key: TransactionKey
    invite_key: TransactionKey | None
    invite_pending: bool


@dataclass(frozen=True, slots=True)
class Ack(Generic[P]):
    """An ACK matching no INVITE server transaction: the ACK of a 2xx, for the TU/dialog."""

    request: Request
    source: P


@dataclass(frozen=True, slots=True)
class StrayResponse(Generic[P]):
    """A response matching no client transaction (e.g. a 2xx retransmission to re-ACK)."""

    response: Response
    source: P


@dataclass(frozen=True, slots=True)
class Timeout:
    """Timer B, F or H fired (or the §9.1 CANCEL guard): the peer never completed."""

    key: TransactionKey
    timer: TimerName


@dataclass(frozen=True, slots=True)
class Terminated:
    key: TransactionKey
    reason: TerminationReason


Output: TypeAlias = (
    Send[P]
    | Deliver
    | NewRequest[P]
    | MergedRequest[P]
    | CancelReceived[P]
    | Ack[P]
    | StrayResponse[P]
    | Timeout
    | Terminated
)


# -- keys and in-transaction requests -----------------------------------------------------------


def _sent_by(request_or_response: Request | Response) -> str:
    # Host names compare case-insensitively (§19.1.4); the Via keeps the peer's spelling.
    return request_or_response.via.sent_by.lower()


def server_key(request: Request) -> TransactionKey:
    """The server transaction a request belongs to (§17.2.3); ACK maps to its INVITE."""
    via = request.via
    method = "INVITE" if request.method == "ACK" else request.method
    if via.is_rfc3261_branch:
        assert via.branch is not None
        branch = via.branch
    else:
        # RFC 2543 peers have no usable branch: match on the identifiers §17.2.3 lists instead
        # (To tag left out so the ACK, which carries the tag we added, still matches).
        branch = f"2543 {request.uri} {request.from_tag} {request.call_id} {request.cseq.seq}"
    return TransactionKey(branch, _sent_by(request), method)


def client_key(response: Response) -> TransactionKey:
    """The client transaction a response belongs to (§17.1.3: top Via branch + CSeq method)."""
    return TransactionKey(response.via.branch or "", _sent_by(response), response.cseq.method)


def _request_key(request: Request) -> TransactionKey:
    via = request.via
    if not via.is_rfc3261_branch:
        raise LocalError("a client transaction needs a z9hG4bK branch in the top Via")
    assert via.branch is not None
    return TransactionKey(via.branch, _sent_by(request), request.method)


def _copied_headers(invite: Request, to_value: str, method: str) -> Headers:
    """Via (top only), Max-Forwards, Route, From, To, Call-ID, CSeq for ACK/CANCEL (§17.1.1.3)."""
    items: list[tuple[str, str]] = [
        ("Via", invite.headers.get_list("Via")[0]),
        ("Max-Forwards", invite.headers.get("Max-Forwards") or "70"),
    ]
    items.extend(("Route", value) for value in invite.headers.get_all("Route"))
    items.append(("From", invite.headers.get("From") or ""))
    items.append(("To", to_value))
    items.append(("Call-ID", invite.call_id))
    items.append(("CSeq", f"{invite.cseq.seq} {method}"))
    return Headers(items)


def build_ack(invite: Request, response: Response) -> Request:
    """The ACK of a non-2xx final response, part of the INVITE transaction (§17.1.1.3)."""
    to_value = response.headers.get("To") or invite.headers.get("To") or ""
    return Request("ACK", invite.uri, _copied_headers(invite, to_value, "ACK"))


def build_cancel(invite: Request) -> Request:
    """The CANCEL of ``invite``: same branch, Request-URI, Call-ID, From, To, Route (§9.1)."""
    return Request(
        "CANCEL", invite.uri, _copied_headers(invite, invite.headers.get("To") or "", "CANCEL")
    )


# -- transactions --------------------------------------------------------------------------------


class _Transaction(Generic[P]):
    """Timers and outbox shared by the four state machines.

    A transaction that has its final response may linger (Timers D, I, J, K: up to 32 s on UDP)
    only to absorb retransmissions; from then on it keeps only what that takes (the message to
    send again, bare; the numbers to check a late response against) and lets go of the rest
    (the request, the responses seen). At 100 calls/s, 32 s of lingering transactions were the
    largest part of what the garbage collector walked (docs/decisions.md, "No pauses").
    """

    __slots__ = ("_out", "_timers", "config", "key", "peer", "reliable", "terminated")

    def __init__(
        self, key: TransactionKey, peer: P, *, reliable: bool, config: TimerConfig
    ) -> None:
        self.key = key
        self.peer = peer
        self.reliable = reliable
        self.config = config
        # Deadlines by the timer's name as a string: a dict of strings and floats is one the
        # collector does not track (the TimerName members are objects it does).
        self._timers: dict[str, float] = {}
        self._out: list[Output[P]] | None = None  # made by the first output, dropped by drain
        self.terminated = False

    def get_timer(self) -> float | None:
        """The earliest pending deadline, or None."""
        return min(self._timers.values(), default=None)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        timers = self._timers
        while timers and not self.terminated:
            name = min(timers, key=timers.__getitem__)
            if timers[name] > now:
                return
            del timers[name]
            self._fire(TimerName(name), now)

    def drain(self) -> list[Output[P]]:
        out, self._out = self._out, None
        return [] if out is None else out

    def _emit(self, output: Output[P]) -> None:
        if self._out is None:
            self._out = [output]
        else:
            self._out.append(output)

    def _start(self, name: TimerName, deadline: float) -> None:
        self._timers[name.value] = deadline

    def transport_error(self) -> None:
        if not self.terminated:
            self._terminate(TerminationReason.TRANSPORT_ERROR)

    def _fire(self, name: TimerName, now: float) -> None:
        raise NotImplementedError

    def _send(self, message: Request | Response) -> None:
        self._emit(Send(message, self.peer, self.key))

    def _stop(self, *names: TimerName) -> None:
        for name in names:
            self._timers.pop(name.value, None)

    def _linger(self, name: TimerName, duration: float, now: float) -> None:
        """Start the timer that absorbs retransmissions; 0 (reliable links) ends at once."""
        if duration <= 0:
            self._terminate(TerminationReason.COMPLETED)
        else:
            self._start(name, now + duration)

    def _timeout(self, name: TimerName) -> None:
        self._emit(Timeout(self.key, name))
        self._terminate(TerminationReason.TIMEOUT)

    def _terminate(self, reason: TerminationReason) -> None:
        self._timers.clear()
        self.terminated = True
        self._set_terminated_state()
        self._emit(Terminated(self.key, reason))

    def _set_terminated_state(self) -> None:
        raise NotImplementedError


class ClientInviteState(enum.Enum):
    CALLING = "Calling"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class ClientInviteTransaction(_Transaction[P]):
    """§17.1.1 (Figure 5). A 2xx terminates it: the TU/dialog ACKs 2xx responses.

    ``request`` is None once a final response came (Completed keeps only its ACK).
    """

    __slots__ = ("_interval", "_seen", "ack", "cancel_sent", "request", "state")

    def __init__(
        self,
        request: Request,
        destination: P,
        now: float,
        *,
        reliable: bool,
        config: TimerConfig = TimerConfig(),
    ) -> None:
        if request.method != "INVITE":
            raise LocalError(f"not an INVITE: {request.method}")
        super().__init__(_request_key(request), destination, reliable=reliable, config=config)
        self.request: Request | None = request
        self.state = ClientInviteState.CALLING
        self.ack: Request | None = None
        self.cancel_sent = False  # set by the layer so a CANCEL goes out at most once
        self._seen: set[Response] | None = set()
        self._interval = config.t1
        self._send(request)
        if not reliable:
            self._start(TimerName.A, now + config.t1)
        self._start(TimerName.B, now + config.timeout)

    def receive_response(self, response: Response, now: float) -> None:
        status = response.status
        match self.state:
            case ClientInviteState.CALLING | ClientInviteState.PROCEEDING if status < 200:
                # No Timer B in Proceeding: ringing may last; the TU CANCELs when it gives up.
                self.state = ClientInviteState.PROCEEDING
                self._stop(TimerName.A, TimerName.B)
                self._deliver(response)
            case ClientInviteState.CALLING | ClientInviteState.PROCEEDING if status < 300:
                self._deliver(response)
                self._terminate(TerminationReason.COMPLETED)
            case ClientInviteState.CALLING | ClientInviteState.PROCEEDING:
                self._deliver(response)
                assert self.request is not None  # kept until a final response
                ack = build_ack(self.request, response)
                self._send(ack)
                # Timer D keeps only the ACK to repeat (§17.1.1.2), bare (see _Transaction).
                self.ack, self.request, self._seen = bare(ack), None, None
                self.state = ClientInviteState.COMPLETED
                self._stop(TimerName.A, TimerName.B, TimerName.CANCELLED)
                self._linger(TimerName.D, 0 if self.reliable else self.config.d, now)
            case ClientInviteState.COMPLETED if status >= 300 and self.ack is not None:
                self._send(self.ack)  # our ACK was lost: the server retransmitted its final
            case _:
                pass  # late provisional or stray 2xx after a non-2xx final: nothing to do

    def cancel_guard(self, now: float) -> None:
        """§9.1: destroy the transaction if no final response comes 64*T1 after the CANCEL."""
        if self.state in (ClientInviteState.CALLING, ClientInviteState.PROCEEDING):
            self._start(TimerName.CANCELLED, now + self.config.timeout)

    def _deliver(self, response: Response) -> None:
        # Retransmitted provisionals are identical messages; the TU sees each one once.
        seen = self._seen
        if seen is not None and response not in seen:
            seen.add(response)
            self._emit(Deliver(response, self.key))

    def _fire(self, name: TimerName, now: float) -> None:
        match name, self.state:
            case TimerName.A, ClientInviteState.CALLING if self.request is not None:
                self._send(self.request)
                self._interval *= 2  # no T2 cap for INVITE (§17.1.1.2)
                self._start(TimerName.A, now + self._interval)
            case ((TimerName.B | TimerName.CANCELLED), _):
                self._timeout(name)
            case TimerName.D, _:
                self._terminate(TerminationReason.COMPLETED)
            case _:
                pass

    def _set_terminated_state(self) -> None:
        self.state = ClientInviteState.TERMINATED


class ClientNonInviteState(enum.Enum):
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class ClientNonInviteTransaction(_Transaction[P]):
    """§17.1.2 (Figure 6), including CANCEL. ``request`` is None once a final response came."""

    __slots__ = ("_interval", "_seen", "request", "state")

    def __init__(
        self,
        request: Request,
        destination: P,
        now: float,
        *,
        reliable: bool,
        config: TimerConfig = TimerConfig(),
    ) -> None:
        if request.method in ("INVITE", "ACK"):
            raise LocalError(f"not a non-INVITE transaction method: {request.method}")
        super().__init__(_request_key(request), destination, reliable=reliable, config=config)
        self.request: Request | None = request
        self.state = ClientNonInviteState.TRYING
        self._seen: set[Response] | None = set()
        self._interval = config.t1
        self._send(request)
        if not reliable:
            self._start(TimerName.E, now + config.t1)
        self._start(TimerName.F, now + config.timeout)

    def receive_response(self, response: Response, now: float) -> None:
        match self.state:
            case ClientNonInviteState.TRYING | ClientNonInviteState.PROCEEDING:
                seen = self._seen
                if seen is None or response in seen:
                    return
                seen.add(response)
                self._emit(Deliver(response, self.key))
                if response.status < 200:
                    self.state = ClientNonInviteState.PROCEEDING
                else:
                    self.state = ClientNonInviteState.COMPLETED
                    # Timer K only absorbs retransmitted finals: nothing else is needed.
                    self.request, self._seen = None, None
                    self._stop(TimerName.E, TimerName.F)
                    self._linger(TimerName.K, 0 if self.reliable else self.config.t4, now)
            case _:
                pass  # Completed absorbs response retransmissions

    def _fire(self, name: TimerName, now: float) -> None:
        match name, self.state:
            case (
                TimerName.E,
                ClientNonInviteState.TRYING | ClientNonInviteState.PROCEEDING,
            ) if self.request is not None:
                self._send(self.request)
                # A provisional says the server has it: retransmit slowly, every T2.
                if self.state is ClientNonInviteState.PROCEEDING:
                    self._interval = self.config.t2
                else:
                    self._interval = min(2 * self._interval, self.config.t2)
                self._start(TimerName.E, now + self._interval)
            case TimerName.F, _:
                self._timeout(name)
            case TimerName.K, _:
                self._terminate(TerminationReason.COMPLETED)
            case _:
                pass

    def _set_terminated_state(self) -> None:
        self.state = ClientNonInviteState.TERMINATED


class ServerInviteState(enum.Enum):
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class ServerInviteTransaction(_Transaction[P]):
    """§17.2.1 (Figure 7). A 2xx terminates it: the TU/dialog retransmits 2xx until ACKed.

    ``trying_delay``: send 100 Trying if the TU has not answered within that many seconds
    (None: never; 0: at once). ``request`` is None once a non-2xx final response was sent
    (Completed and Confirmed keep only that response, bare).
    """

    __slots__ = ("_cseq", "_interval", "accepted", "last_response", "request", "state")

    def __init__(
        self,
        request: Request,
        source: P,
        now: float,
        *,
        reliable: bool,
        config: TimerConfig = TimerConfig(),
        trying_delay: float | None = 0.2,
    ) -> None:
        if request.method != "INVITE":
            raise LocalError(f"not an INVITE: {request.method}")
        super().__init__(server_key(request), source, reliable=reliable, config=config)
        self.request: Request | None = request
        self._cseq = _answered(request)
        self.state = ServerInviteState.PROCEEDING
        self.last_response: Response | None = None
        self.accepted = False  # ended by a 2xx (the layer keeps an "accepted" record)
        self._interval = config.t1
        if trying_delay is not None:
            if trying_delay <= 0:
                self._trying()
            else:
                self._start(TimerName.TRYING, now + trying_delay)

    @property
    def to_tag(self) -> str | None:
        """The To tag of the last response sent (to reuse in 487 and the CANCEL's 200)."""
        return None if self.last_response is None else self.last_response.to_tag

    def receive_request(self, request: Request, now: float) -> None:
        """A retransmission of the INVITE, or the ACK of our non-2xx final response."""
        match request.method, self.state:
            case "ACK", ServerInviteState.COMPLETED:
                self.state = ServerInviteState.CONFIRMED
                self._stop(TimerName.G, TimerName.H)
                self._linger(TimerName.I, 0 if self.reliable else self.config.t4, now)
            case "ACK", _:
                pass
            case _, ServerInviteState.PROCEEDING | ServerInviteState.COMPLETED:
                if self.last_response is not None:
                    self._send(self.last_response)
            case _:
                pass  # Confirmed: only ACK retransmissions would be expected; absorb

    def respond(self, response: Response, now: float) -> bool:
        """Send the TU's response; False when discarded (a final one was already sent)."""
        _check_answers(self._cseq, response)
        status = response.status
        match self.state:
            case ServerInviteState.PROCEEDING if status < 200:
                self._stop(TimerName.TRYING)
                self.last_response = response
                self._send(response)
            case ServerInviteState.PROCEEDING if status < 300:
                self._send(response)
                self.last_response = response
                self.accepted = True
                self._terminate(TerminationReason.COMPLETED)
            case ServerInviteState.PROCEEDING:
                self._stop(TimerName.TRYING)
                self._send(response)
                # Timers G/H and I only repeat this response (see _Transaction).
                self.last_response, self.request = bare(response), None
                self.state = ServerInviteState.COMPLETED
                if not self.reliable:
                    self._start(TimerName.G, now + self.config.t1)
                self._start(TimerName.H, now + self.config.timeout)
            case _:
                # §17.2.2 discards such responses; a TU racing a CANCEL or timeout gets False.
                return False
        return True

    def _trying(self) -> None:
        assert self.request is not None  # only in Proceeding
        self.last_response = make_response(self.request, 100)
        self._send(self.last_response)

    def _fire(self, name: TimerName, now: float) -> None:
        match name, self.state:
            case TimerName.TRYING, ServerInviteState.PROCEEDING if self.last_response is None:
                self._trying()
            case TimerName.G, ServerInviteState.COMPLETED if self.last_response is not None:
                self._send(self.last_response)
                self._interval = min(2 * self._interval, self.config.t2)
                self._start(TimerName.G, now + self._interval)
            case TimerName.H, _:
                self._timeout(name)
            case TimerName.I, _:
                self._terminate(TerminationReason.COMPLETED)
            case _:
                pass

    def _set_terminated_state(self) -> None:
        self.state = ServerInviteState.TERMINATED


class ServerNonInviteState(enum.Enum):
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class ServerNonInviteTransaction(_Transaction[P]):
    """§17.2.2 (Figure 8), including CANCEL. ``request`` is None once a final response was sent
    (Timer J keeps only that response, bare)."""

    __slots__ = ("_cseq", "last_response", "request", "state")

    def __init__(
        self,
        request: Request,
        source: P,
        now: float,
        *,
        reliable: bool,
        config: TimerConfig = TimerConfig(),
    ) -> None:
        if request.method in ("INVITE", "ACK"):
            raise LocalError(f"not a non-INVITE transaction method: {request.method}")
        super().__init__(server_key(request), source, reliable=reliable, config=config)
        self.request: Request | None = request
        self._cseq = _answered(request)
        self.state = ServerNonInviteState.TRYING
        self.last_response: Response | None = None

    @property
    def to_tag(self) -> str | None:
        return None if self.last_response is None else self.last_response.to_tag

    def receive_request(self, request: Request, now: float) -> None:
        """A retransmission: re-send the last response (nothing yet in Trying)."""
        if self.last_response is not None and self.state in (
            ServerNonInviteState.PROCEEDING,
            ServerNonInviteState.COMPLETED,
        ):
            self._send(self.last_response)

    def respond(self, response: Response, now: float) -> bool:
        """Send the TU's response; False when discarded (a final one was already sent)."""
        _check_answers(self._cseq, response)
        match self.state:
            case ServerNonInviteState.TRYING | ServerNonInviteState.PROCEEDING:
                self._send(response)
                if response.status < 200:
                    self.last_response = response
                    self.state = ServerNonInviteState.PROCEEDING
                else:
                    # Timer J only repeats this response (see _Transaction).
                    self.last_response, self.request = bare(response), None
                    self.state = ServerNonInviteState.COMPLETED
                    self._linger(TimerName.J, 0 if self.reliable else self.config.timeout, now)
            case _:
                return False  # §17.2.2: "MUST be discarded while in the Completed state"
        return True

    def _fire(self, name: TimerName, now: float) -> None:
        if name is TimerName.J:
            self._terminate(TerminationReason.COMPLETED)

    def _set_terminated_state(self) -> None:
        self.state = ServerNonInviteState.TERMINATED


# What a server transaction checks its TU's responses against once it has let go of the
# request: the CSeq number, the method and the CSeq as written (for the error). A plain tuple of
# a number and strings, which the collector stops tracking (a NamedTuple it would not).
_Answered: TypeAlias = tuple[int, str, str]


def _answered(request: Request) -> _Answered:
    return (request.cseq.seq, request.method, str(request.cseq))


def _check_answers(answered: _Answered, response: Response) -> None:
    seq, method, cseq = answered
    if response.cseq.method != method or response.cseq.seq != seq:
        raise LocalError(f"{response.status} with CSeq {response.cseq} does not answer {cseq}")


ClientTransaction: TypeAlias = ClientInviteTransaction[P] | ClientNonInviteTransaction[P]
ServerTransaction: TypeAlias = ServerInviteTransaction[P] | ServerNonInviteTransaction[P]


# -- the layer ----------------------------------------------------------------------------------


# §8.2.2.2's identity of a request outside a dialog: From tag, Call-ID, CSeq number and method.
# A plain tuple of strings and a number, which the collector stops tracking (an accepted INVITE
# keeps its entry for 32 s; a dataclass or NamedTuple would stay tracked).
_MergeKey: TypeAlias = tuple[str, str, int, str]


@dataclass(frozen=True, slots=True)
class _Accepted(Generic[P]):
    """What is left of an INVITE server transaction after its 2xx (see the module docstring)."""

    source: P
    until: float
    to_tag: str | None


class TransactionLayer(Generic[P]):
    """Owns every transaction of one SIP element; see the module docstring."""

    def __init__(
        self, config: TimerConfig = TimerConfig(), *, trying_delay: float | None = 0.2
    ) -> None:
        self.config = config
        self.trying_delay = trying_delay
        self._clients: dict[TransactionKey, ClientTransaction[P]] = {}
        self._servers: dict[TransactionKey, ServerTransaction[P]] = {}
        self._merge: dict[_MergeKey, TransactionKey] = {}
        self._merge_of: dict[TransactionKey, _MergeKey] = {}
        self._accepted: dict[TransactionKey, _Accepted[P]] = {}
        self._held_cancels: set[TransactionKey] = set()
        self._out: list[Output[P]] = []
        # Deadlines as (when, seq, "c"|"s"|"a", *key), pushed whenever a transaction's earliest
        # timer may have changed; stale entries are skipped when they come up. Looking at every
        # live transaction for each message instead costs O(calls per 32 s) and, under load,
        # falls further behind the more it has to do. The key is spelled out as its three
        # strings: a tuple of atomic values is one the collector stops tracking, and a
        # lingering call has three entries here for 5 to 32 s.
        self._heap: list[tuple[float, int, str, str, str, str]] = []
        self._seq = itertools.count()

    # -- inspection ---------------------------------------------------------------------------

    def client(self, key: TransactionKey) -> ClientTransaction[P] | None:
        """The live client transaction ``key`` (to look at its state), or None."""
        return self._clients.get(key)

    def server(self, key: TransactionKey) -> ServerTransaction[P] | None:
        """The live server transaction ``key``, or None."""
        return self._servers.get(key)

    @property
    def active(self) -> int:
        """How many transactions (and accepted-INVITE records) are still alive."""
        return len(self._clients) + len(self._servers) + len(self._accepted)

    def drain(self) -> list[Output[P]]:
        """Every output produced since the last call, in order."""
        out, self._out = self._out, []
        return out

    # -- input --------------------------------------------------------------------------------

    def receive(self, message: Request | Response, source: P, now: float) -> None:
        """Route a parsed, validated message from ``source``; outputs go to `drain`."""
        if isinstance(message, Response):
            self._receive_response(message, source, now)
        else:
            self._receive_request(message, source, now)

    def _receive_response(self, response: Response, source: P, now: float) -> None:
        key = client_key(response)
        txn = self._clients.get(key)
        if txn is None:
            self._out.append(StrayResponse(response, source))
            return
        txn.receive_response(response, now)
        self._collect(txn, now)
        if key in self._held_cancels and isinstance(txn, ClientInviteTransaction):
            self._release_cancel(txn, now)

    def _receive_request(self, request: Request, source: P, now: float) -> None:
        key = server_key(request)
        existing = self._servers.get(key)
        if existing is not None:
            existing.receive_request(request, now)  # retransmission, or ACK of a non-2xx
            self._collect(existing, now)
            return
        match request.method:
            case "ACK":
                self._out.append(Ack(request, source))
            case "INVITE" if key in self._accepted:
                pass  # retransmission crossing our 2xx: the TU already has this call
            case "CANCEL":
                self._new_cancel(request, source, key, now)
            case _:
                self._new_request(request, source, key, now)

    def _new_request(self, request: Request, source: P, key: TransactionKey, now: float) -> None:
        merge = _merge_key(request)  # may raise ParseError: before any state is created
        txn = self._new_server(request, source, now)
        original = None if merge is None else self._merge.get(merge)
        if original is not None and original != key:
            self._out.append(MergedRequest(request, source, key, original))
        else:
            if merge is not None:
                # The transaction's own key object: an equal copy would be one more object
                # for the collector for as long as the entry lives (32 s after a 2xx).
                self._merge[merge] = txn.key
                self._merge_of[txn.key] = merge
            self._out.append(NewRequest(request, source, key))
        self._collect(txn, now)

    def _new_cancel(self, request: Request, source: P, key: TransactionKey, now: float) -> None:
        txn = self._new_server(request, source, now)
        invite_key = replace(key, method="INVITE")
        invite = self._servers.get(invite_key)
        if isinstance(invite, ServerInviteTransaction):
            pending = invite.state is ServerInviteState.PROCEEDING
            self._out.append(CancelReceived(request, source, key, invite_key, pending))
        elif invite_key in self._accepted:
            self._out.append(CancelReceived(request, source, key, invite_key, False))
        else:
            self._out.append(CancelReceived(request, source, key, None, False))
        self._collect(txn, now)

    def _new_server(self, request: Request, source: P, now: float) -> ServerTransaction[P]:
        txn: ServerTransaction[P]
        if request.method == "INVITE":
            txn = ServerInviteTransaction(
                request,
                source,
                now,
                reliable=source.reliable,
                config=self.config,
                trying_delay=self.trying_delay,
            )
        else:
            txn = ServerNonInviteTransaction(
                request, source, now, reliable=source.reliable, config=self.config
            )
        self._servers[txn.key] = txn
        return txn

    # -- TU actions ---------------------------------------------------------------------------

    def send_request(
        self, request: Request, destination: P, now: float, *, reliable: bool | None = None
    ) -> TransactionKey:
        """Start a client transaction; ``reliable`` defaults to ``destination.reliable``."""
        if request.method == "ACK":
            raise LocalError("ACK of a 2xx is sent by the dialog without a transaction (§13.2.2.4)")
        key = _request_key(request)
        if key in self._clients:
            raise LocalError(f"a client transaction {key} already exists (reused branch)")
        rel = destination.reliable if reliable is None else reliable
        txn: ClientTransaction[P]
        if request.method == "INVITE":
            txn = ClientInviteTransaction(
                request, destination, now, reliable=rel, config=self.config
            )
        else:
            txn = ClientNonInviteTransaction(
                request, destination, now, reliable=rel, config=self.config
            )
        self._clients[txn.key] = txn  # its own key object (see _new_request)
        self._collect(txn, now)
        return txn.key

    def respond(self, target: Request | TransactionKey, response: Response, now: float) -> bool:
        """Send ``response`` through the server transaction of ``target``.

        Returns False when it is discarded: the transaction already sent a final response, or
        is gone (it can only end after one, or on a transport error). A 2xx for an INVITE
        answered with a 2xx less than 64*T1 ago is sent: that is the TU retransmitting it.
        Raises `LocalError` if the response's CSeq does not answer the request.
        """
        key = server_key(target) if isinstance(target, Request) else target
        txn = self._servers.get(key)
        if txn is None:
            accepted = self._accepted.get(key)
            if accepted is not None and 200 <= response.status < 300:
                # The TU retransmits its 2xx (§13.3.1.4) after the transaction ended.
                self._out.append(Send(response, accepted.source, key))
                return True
            return False
        sent = txn.respond(response, now)
        self._collect(txn, now)
        return sent

    def cancel(self, invite_key: TransactionKey, now: float) -> TransactionKey | None:
        """CANCEL a pending INVITE; returns the CANCEL's key, or None if too late.

        Before any provisional response the CANCEL is held and sent when one arrives; it is
        dropped if a final response comes first (§9.1).
        """
        txn = self._clients.get(invite_key)
        if txn is None:
            return None
        if not isinstance(txn, ClientInviteTransaction):
            raise LocalError(f"only INVITE transactions can be cancelled, not {invite_key}")
        cancel_key = replace(invite_key, method="CANCEL")
        match txn.state:
            case _ if txn.cancel_sent or invite_key in self._held_cancels:
                return cancel_key
            case ClientInviteState.CALLING:
                self._held_cancels.add(invite_key)
                return cancel_key
            case ClientInviteState.PROCEEDING:
                self._start_cancel(txn, now)
                return cancel_key
            case _:
                return None

    def answer_cancel(
        self, event: CancelReceived[P], now: float, *, to_tag: str | None = None
    ) -> None:
        """The usual answer to a CANCEL: 200 and 487 to the pending INVITE, else 481 (§9.2).

        The To tag (the same in both, §9.2) defaults to the one the INVITE was answered with,
        else a fresh one: a final response must carry a tag (§8.2.6.2).
        """
        invite_key = event.invite_key
        if invite_key is None:
            tag = to_tag or _new_tag()
            self.respond(event.key, make_response(event.request, 481, to_tag=tag), now)
            return
        invite = self._servers.get(invite_key)
        accepted = self._accepted.get(invite_key)
        known = accepted.to_tag if accepted is not None else None
        if isinstance(invite, ServerInviteTransaction):
            known = invite.to_tag
        tag = to_tag or known or _new_tag()
        self.respond(event.key, make_response(event.request, 200, to_tag=tag), now)
        if (
            isinstance(invite, ServerInviteTransaction)
            and invite.state is ServerInviteState.PROCEEDING
            and invite.request is not None  # always, in Proceeding
        ):
            self.respond(invite_key, make_response(invite.request, 487, to_tag=tag), now)

    def transport_error(self, key: TransactionKey, now: float) -> None:
        """The transport could not send for ``key``: end it (§17.1.4, §17.2.4)."""
        txn: ClientTransaction[P] | ServerTransaction[P] | None = self._clients.get(key)
        if txn is None:
            txn = self._servers.get(key)
        if txn is not None:
            txn.transport_error()
            self._collect(txn, now)

    # -- timers -------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earliest deadline over all transactions, or None when nothing is pending."""
        heap = self._heap
        while heap:
            deadline, _, kind, branch, sent_by, method = heap[0]
            if self._current(kind, TransactionKey(branch, sent_by, method), deadline):
                return deadline
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, kind, branch, sent_by, method = heapq.heappop(heap)
            key = TransactionKey(branch, sent_by, method)
            if not self._current(kind, key, deadline):
                continue
            if kind == "a":
                del self._accepted[key]
                self._forget_merge(key)
                continue
            txn: ClientTransaction[P] | ServerTransaction[P] | None = (
                self._clients.get(key) if kind == "c" else self._servers.get(key)
            )
            assert txn is not None
            txn.handle_timer(now)
            self._collect(txn, now)

    def _schedule(self, kind: str, key: TransactionKey, deadline: float | None) -> None:
        if deadline is not None:
            entry = (deadline, next(self._seq), kind, key.branch, key.sent_by, key.method)
            heapq.heappush(self._heap, entry)

    def _current(self, kind: str, key: TransactionKey, deadline: float) -> bool:
        """Whether a heap entry is still the earliest deadline of what it names."""
        if kind == "a":
            accepted = self._accepted.get(key)
            return accepted is not None and accepted.until == deadline
        txn = self._clients.get(key) if kind == "c" else self._servers.get(key)
        return txn is not None and txn.get_timer() == deadline

    # -- internals ----------------------------------------------------------------------------

    def _release_cancel(self, txn: ClientInviteTransaction[P], now: float) -> None:
        # Any response ends Calling: a provisional lets the CANCEL go (§9.1), a final response
        # leaves nothing to cancel.
        self._held_cancels.discard(txn.key)
        if txn.state is ClientInviteState.PROCEEDING:
            self._start_cancel(txn, now)

    def _start_cancel(self, txn: ClientInviteTransaction[P], now: float) -> None:
        assert txn.request is not None  # Proceeding: no final response yet
        txn.cancel_sent = True
        txn.cancel_guard(now)
        self._schedule("c", txn.key, txn.get_timer())
        cancel = ClientNonInviteTransaction(
            build_cancel(txn.request), txn.peer, now, reliable=txn.reliable, config=self.config
        )
        self._clients[cancel.key] = cancel
        self._collect(cancel, now)

    def _collect(self, txn: ClientTransaction[P] | ServerTransaction[P], now: float) -> None:
        self._out.extend(txn.drain())
        client = isinstance(txn, ClientInviteTransaction | ClientNonInviteTransaction)
        if not txn.terminated:
            self._schedule("c" if client else "s", txn.key, txn.get_timer())
            return
        key = txn.key
        if client:
            if self._clients.get(key) is txn:
                del self._clients[key]
            self._held_cancels.discard(key)
            return
        if self._servers.get(key) is txn:
            del self._servers[key]
        if isinstance(txn, ServerInviteTransaction) and txn.accepted:
            # Keep the merge entry too: a forked copy arriving after our 2xx is still merged.
            accepted = _Accepted(txn.peer, now + self.config.timeout, txn.to_tag)
            self._accepted[key] = accepted
            self._schedule("a", key, accepted.until)
        else:
            self._forget_merge(key)

    def _forget_merge(self, key: TransactionKey) -> None:
        merge = self._merge_of.pop(key, None)
        if merge is not None and self._merge.get(merge) == key:
            del self._merge[merge]


def _new_tag() -> str:
    return secrets.token_hex(6)


def _merge_key(request: Request) -> _MergeKey | None:
    """§8.2.2.2 applies to requests outside a dialog (no To tag) from RFC 3261 peers."""
    if request.to_tag is not None:
        return None
    from_tag = request.from_tag
    if from_tag is None:
        return None
    cseq = request.cseq
    return (from_tag, request.call_id, cseq.seq, cseq.method)
