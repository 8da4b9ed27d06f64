"""The SIP endpoint: drives the sans-IO transaction layer from the asyncio transport.

Every input (a datagram, a TCP message, a timer) runs the layer with `now = loop.time()`, then
the layer's outputs are carried out: messages sent, new requests validated and handed to the
transaction user (`RequestHandler`), responses and time-outs of client transactions handed to
the callbacks the user registered when it sent the request. One timer handle is re-armed to the
layer's earliest deadline after every step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.message import Message, Request, Response, make_response
from vpbx.sip.transaction import (
    Ack,
    CancelReceived,
    Deliver,
    MergedRequest,
    NewRequest,
    Send,
    StrayResponse,
    Terminated,
    Timeout,
    TimerConfig,
    TransactionKey,
    TransactionLayer,
)
from vpbx.sip.validate import validate_request, validate_response
from vpbx.switch.front_proxy import FrontProxies
from vpbx.transport.sip import (
    ConnectionLimits,
    Peer,
    SipTransport,
    TlsListener,
    response_destination,
)

log = logging.getLogger("vpbx.sip.endpoint")

ResponseCallback = Callable[[Response], None]
TimeoutCallback = Callable[[], None]


class SipTraffic(Protocol):
    """Counts messages (see `vpbx.metrics.SipCounters`)."""

    def received(self, message: Message) -> None: ...

    def sent(self, message: Message) -> None: ...


class RequestHandler(Protocol):
    """The transaction user: what the PBX does with requests (see `vpbx.switch.pbx`)."""

    def on_request(self, request: Request, peer: Peer, key: TransactionKey) -> None: ...

    def on_cancel(self, event: CancelReceived[Peer]) -> None: ...

    def on_ack(self, request: Request, peer: Peer) -> None: ...

    def on_stray_response(self, response: Response, peer: Peer) -> None: ...


@dataclass(slots=True)
class _Pending:
    on_response: ResponseCallback
    on_timeout: TimeoutCallback | None


class SipEndpoint:
    """Transport + transaction layer + timers; the PBX talks SIP through this object."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timers: TimerConfig = TimerConfig(),
        partial_timeout: float = 10.0,
        idle_timeout: float = 900.0,
        limits: ConnectionLimits | None = None,
        tls: TlsListener | None = None,
    ) -> None:
        self.transport = SipTransport(
            host,
            port,
            self._on_message,
            partial_timeout=partial_timeout,
            idle_timeout=idle_timeout,
            limits=limits,
            tls=tls,
        )
        self.layer: TransactionLayer[Peer] = TransactionLayer(timers)
        self.handler: RequestHandler | None = None
        self._pending: dict[TransactionKey, _Pending] = {}
        #: server transactions of requests refused by validation: answered to their source
        self._refused: set[TransactionKey] = set()
        self._timer: asyncio.Handle | None = None
        #: the deadline `_timer` is armed for (None: not armed)
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: told of every message received and sent (the SIP counters of /metrics)
        self.traffic: SipTraffic | None = None
        #: the proxies whose word on a request's origin is believed (several nodes)
        self.front = FrontProxies()

    async def start(self, handler: RequestHandler) -> None:
        self.handler = handler
        self._loop = asyncio.get_running_loop()
        await self.transport.start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.transport.stop()

    @property
    def port(self) -> int:
        return self.transport.port

    def now(self) -> float:
        assert self._loop is not None, "the endpoint is not started"
        return self._loop.time()

    # -- the transaction user's interface ------------------------------------------------------

    def send_request(
        self,
        request: Request,
        peer: Peer,
        on_response: ResponseCallback,
        on_timeout: TimeoutCallback | None = None,
    ) -> TransactionKey:
        key = self.layer.send_request(request, peer, self.now())
        self._pending[key] = _Pending(on_response, on_timeout)
        self._run()
        return key

    def respond(self, target: Request | TransactionKey, response: Response) -> None:
        try:
            self.layer.respond(target, response, self.now())
        except LocalError:
            log.warning("response without a transaction dropped", extra={"status": response.status})
        self._run()

    def cancel(self, invite_key: TransactionKey) -> None:
        self.layer.cancel(invite_key, self.now())
        self._run()

    def answer_cancel(self, event: CancelReceived[Peer], to_tag: str | None) -> None:
        """200 to the CANCEL and 487 to its pending INVITE (481 when there is none)."""
        try:
            self.layer.answer_cancel(event, self.now(), to_tag=to_tag)
        except LocalError:
            log.warning("cancel of an unknown invite", extra={"call_id": event.request.call_id})
        self._run()

    def send_stateless(self, message: Message, peer: Peer) -> None:
        """Outside any transaction: the ACK of a 2xx, a 2xx retransmission."""
        if self.traffic is not None:
            self.traffic.sent(message)
        self.transport.send(message, peer)

    # -- the machinery -------------------------------------------------------------------------

    def _on_message(self, message: Message, peer: Peer) -> None:
        if self.traffic is not None:
            self.traffic.received(message)
        if isinstance(message, Response):
            problem = validate_response(message)
            if problem is not None:
                self.transport.noise.record("response discarded", problem, _source(peer))
                return
        elif self.front.addresses:
            peer = self.front.peer_of(message, peer)
        try:
            self.layer.receive(message, peer, self.now())
        except ParseError as error:
            self.transport.noise.record("unmatchable sip message", error.reason, _source(peer))
            if isinstance(message, Request) and message.method != "ACK":
                self.transport.send(make_response(message, error.status or 400), peer)
            return
        self._run()

    def _run(self) -> None:
        outputs = self.layer.drain()
        # Until nothing is left: carrying out an output can produce more (a refused request's
        # answer), which would otherwise wait for the next message or timer.
        while outputs:
            # Messages first: the transaction's own ACK of a 407 must leave before the INVITE
            # the transaction user sends in reaction to that 407.
            if len(outputs) > 1:
                outputs.sort(key=lambda output: not isinstance(output, Send))
            for output in outputs:
                try:
                    self._carry_out(output)
                except Exception:  # one broken call must not stop the others
                    log.exception(
                        "handling a transaction output failed", extra={"output": repr(output)}
                    )
            outputs = self.layer.drain()
        self._arm()

    def _carry_out(self, output: object) -> None:
        handler = self.handler
        assert handler is not None
        match output:
            case Send(message=message, destination=destination, key=key):
                if isinstance(message, Response) and key not in self._refused:
                    destination = response_destination(message, destination)
                if self.traffic is not None:
                    self.traffic.sent(message)
                self.transport.send(message, destination)
            case NewRequest(request=request, source=source, key=key):
                rejection = validate_request(request)
                if rejection is not None:
                    self.transport.noise.record(
                        "sip request refused", rejection.reason, _source(source)
                    )
                    answer = make_response(request, rejection.status, headers=rejection.headers)
                    # The refusal (and its retransmissions) goes to the packet's source, not
                    # to the Via of a request we refuse to believe (no reflection).
                    self._refused.add(key)
                    try:
                        self.layer.respond(key, answer, self.now())
                    except LocalError:
                        # Too broken for its transaction (e.g. CSeq naming another method):
                        # answer statelessly, as §8.2 allows for a rejected request.
                        self._refused.discard(key)
                        self.transport.send(answer, source)
                    return
                handler.on_request(request, source, key)
            case MergedRequest(request=request, key=key):
                self.layer.respond(key, make_response(request, 482), self.now())
            case CancelReceived():
                handler.on_cancel(output)
            case Ack(request=request, source=source):
                handler.on_ack(request, source)
            case StrayResponse(response=response, source=source):
                handler.on_stray_response(response, source)
            case Deliver(response=response, key=key):
                # A final response is the last thing a client transaction delivers (and no
                # time-out follows it): its callbacks, which hold their call, are let go now
                # rather than when Timer K (5 s) or D (32 s) ends it.
                final = response.status >= 200
                pending = self._pending.pop(key, None) if final else self._pending.get(key)
                if pending is not None:
                    pending.on_response(response)
            case Timeout(key=key):
                pending = self._pending.pop(key, None)
                if pending is not None and pending.on_timeout is not None:
                    pending.on_timeout()
            case Terminated(key=key):
                self._pending.pop(key, None)
                self._refused.discard(key)
            case _:
                log.warning("unknown transaction output", extra={"output": repr(output)})

    def _arm(self) -> None:
        deadline = self.layer.get_timer()
        if deadline == self._timer_at:
            # Most messages leave the earliest deadline where it was: a new handle each time
            # left a cancelled one in the loop's heap per message.
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = None
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._fire)
            self._timer_at = deadline

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.layer.handle_timer(self.now())
        self._run()


def _source(peer: Peer) -> str:
    return f"{peer.transport}:{peer.host}"
