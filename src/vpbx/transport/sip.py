"""SIP over UDP, TCP and TLS on asyncio: bytes in → parsed messages out, and messages back.

Malformed input never reaches the transaction user: a request whose header section is readable
gets its 4xx (built by `error_response`) sent to the packet's source address, never to what its
Via claims (a forged Via would make us reflect traffic at a third party); anything else is
dropped. Malformed traffic is counted and summarised by `NoiseLog`, not logged per datagram. A
TCP peer that sends garbage is disconnected; one that leaves half a message unfinished for
`partial_timeout` seconds is disconnected too; other connections are not affected. Requests get
`received`/`rport` on their top Via (RFC 3261 §18.2.1, RFC 3581) so responses go back where the
request really came from, which is what phones behind NAT need; a `received` the sender wrote
itself is overwritten. A destination that is a host name, not an address, is resolved off the
event loop (`loop.getaddrinfo`) before sending.

Connections are capped per source address and in all (`ConnectionLimits`), and one that has
not sent a complete message is closed after `partial_timeout`: idle sockets cannot take the
descriptors RTP and the database need. TLS connections are served like TCP ones (transport
"tls"); a phone registered over one is reached back over the same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.headers import Via
from vpbx.sip.message import Message, Request, Response, error_response, with_top_via
from vpbx.sip.parser import Ping, StreamFramer, is_keepalive, parse_message, serialize
from vpbx.sip.uri import format_host
from vpbx.transport.noise import NoiseLog

log = logging.getLogger("vpbx.sip.transport")


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from, or goes to: transport, address, and the TCP connection id.

    `origin` is the address a trusted front proxy (Kamailio, in front of several switch
    nodes) says it received the request from: answers still go to `host` (the proxy), but
    what depends on who sent the request (a trunk's address, a line's allowed addresses,
    the failed-authentication count) reads `source_host`."""

    transport: str
    host: str
    port: int
    connection: int | None = None
    origin: str = ""

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    @property
    def source_host(self) -> str:
        return self.origin or self.host


Handler = Callable[[Message, Peer], None]


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Caps on TCP/TLS connections, so idle sockets cannot take the descriptors calls need.

    ~20,000 idle connections from one attacker once used up every descriptor and new calls
    failed to bind RTP. `per_source` caps the connections of one address (a whole office
    behind NAT is a handful of phones, each with one connection); `total` caps them all and is
    set from the descriptor limit minus a reserve for RTP sockets and the database
    (`vpbx.transport.limits.connection_cap`). A connection over a cap is closed at once.
    """

    per_source: int = 50
    total: int = 10_000


@dataclass(frozen=True, slots=True)
class TlsListener:
    """SIP over TLS (RFC 3261 §26.2): the port (0 = any, for tests) and the server context."""

    port: int
    context: ssl.SSLContext


def client_context() -> ssl.SSLContext:
    """For connections we open to a TLS peer whose own connection is gone.

    Phones present self-signed certificates and are known by their digest credentials, not by a
    certificate, so the peer's certificate is not verified: the channel is encrypted, the
    peer authenticated by SIP.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def stamp_via(request: Request, peer: Peer) -> Request:
    """Add `received` (and `rport` when asked) to the top Via, RFC 3261 §18.2.1 / RFC 3581."""
    vias = request.vias
    if not vias:
        return request
    top = vias[0]
    params: dict[str, str | None] = {}
    if top.host != peer.host or (top.received is not None and top.received != peer.host):
        # A `received` written by the sender is overwritten: responses follow it, and it must
        # name where the request really came from, not where its sender wants them to go.
        params["received"] = peer.host
    if top.rport_requested:
        params["rport"] = str(peer.port)
        params["received"] = peer.host
    if not params:
        return request
    stamped: Via = top.with_params(**params)
    return with_top_via(request, stamped)


def response_destination(response: Response, default: Peer) -> Peer:
    """Where a response goes: the connection it came on, else Via received/rport (§18.2.2)."""
    if default.reliable:
        return default
    top = response.vias[0] if response.vias else None
    if top is None:
        return default
    host = top.received or top.host
    port = top.rport or top.port or 5060
    return Peer("udp", host, port)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        host, port = str(addr[0]), int(str(addr[1]))
        self.owner.on_datagram(data, Peer("udp", host, port))

    def error_received(self, exc: Exception) -> None:
        log.warning("udp socket error", extra={"error": str(exc)})


class SipTransport:
    """UDP and TCP listeners on one address, feeding `handler` with parsed messages."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        max_size: int = 65535,
        partial_timeout: float = 10.0,
        idle_timeout: float = 900.0,
        limits: ConnectionLimits | None = None,
        tls: TlsListener | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.handler = handler
        self.max_size = max_size
        #: seconds a connection may go without a complete message: a new one before its first
        #: message, and any one in the middle of a message
        self.partial_timeout = partial_timeout
        #: seconds a connection that has sent a complete message may stay silent
        self.idle_timeout = idle_timeout
        self.limits = limits or ConnectionLimits()
        self.tls = tls
        #: the bound TLS port (0 = no TLS listener)
        self.tls_port = 0
        self._tls_server: asyncio.Server | None = None
        self._tls_client: ssl.SSLContext | None = None
        #: live TCP/TLS connections: in all, and per source address (accepted and our own)
        self.connections = 0
        self._per_source: dict[str, int] = {}
        #: connections refused by the caps since start (for metrics and tests)
        self.refused = 0
        #: told of each refused connection ("sip_connection_per_source" / "_cap"): /metrics
        self.security_event: Callable[[str], None] | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._by_address: dict[tuple[str, int], int] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        #: malformed traffic, counted and summarised (the endpoint records its refusals here too)
        self.noise = NoiseLog(log)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(self.host, self.port)
        )
        if self.port == 0:
            self.port = int(self._udp.get_extra_info("sockname")[1])
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)
        if self.tls is not None:
            # A handshake that stalls holds a descriptor like an idle connection: it gets the
            # same short timeout.
            self._tls_server = await asyncio.start_server(
                self._serve_tls,
                self.host,
                self.tls.port,
                ssl=self.tls.context,
                ssl_handshake_timeout=self.partial_timeout,
            )
            self.tls_port = int(self._tls_server.sockets[0].getsockname()[1])
        log.info(
            "sip listening", extra={"host": self.host, "port": self.port, "tls_port": self.tls_port}
        )

    async def stop(self) -> None:
        self.noise.close()
        if self._tcp is not None:
            self._tcp.close()
        if self._tls_server is not None:
            self._tls_server.close()
        for writer in list(self._writers.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        if self._tls_server is not None:
            await self._tls_server.wait_closed()
        if self._udp is not None:
            self._udp.close()

    @property
    def bound(self) -> bool:
        return self._udp is not None and self._tcp is not None

    @property
    def local_via_host(self) -> str:
        return format_host(self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1")

    # -- receiving ---------------------------------------------------------------------------

    def on_datagram(self, data: bytes, peer: Peer) -> None:
        if is_keepalive(data):
            return
        try:
            message = parse_message(data, max_size=self.max_size)
        except ParseError as error:
            self._reject(error, peer)
            return
        self._deliver(message, peer)

    def _reject(self, error: ParseError, peer: Peer) -> None:
        try:
            response = error_response(error)
        except ParseError:
            response = None  # headers too broken to build an answer from: drop
        self.noise.record(
            "malformed sip message",
            error.reason,
            f"{peer.transport}:{peer.host}",
            status=error.status,
            answered=response is not None,
        )
        if response is not None:
            # To the packet's source, never to its Via: a message we cannot even parse has no
            # say in where our answer goes.
            self.send(response, peer)

    def _deliver(self, message: Message, peer: Peer) -> None:
        if isinstance(message, Request):
            try:
                message = stamp_via(message, peer)
            except ParseError as error:
                # An unreadable Via (RFC 4475 badinv01): the rest of the header section is
                # readable, so the 400 can still be built (it copies the Via as written) and
                # goes to the source, like every answer to a malformed request.
                headers = error.headers if error.headers is not None else message.headers
                self._reject(ParseError(error.reason, error.status, headers=headers), peer)
                return
        try:
            self.handler(message, peer)
        except Exception:  # the transport must outlive any bug in the layers above
            log.exception("sip handler failed", extra={"peer": f"{peer.host}:{peer.port}"})

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve_stream(reader, writer, "tcp")

    async def _serve_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve_stream(reader, writer, "tls")

    def _admit(self, host: str) -> tuple[str, str] | None:
        """(event kind, reason) a new connection from `host` is refused for, or None."""
        if self.connections >= self.limits.total:
            return "sip_connection_cap", "connection cap reached (descriptors kept for RTP)"
        if self._per_source.get(host, 0) >= self.limits.per_source:
            return "sip_connection_per_source", "too many connections from this address"
        return None

    async def _serve_stream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        transport: str,
        *,
        outbound: bool = False,
    ) -> None:
        address = writer.get_extra_info("peername")
        host, port = str(address[0]), int(address[1])
        refusal = None if outbound else self._admit(host)
        if refusal is not None:
            self.refused += 1
            kind, reason = refusal
            self.noise.record("sip connection refused", reason, f"{transport}:{host}")
            if self.security_event is not None:
                self.security_event(kind)
            # abort, not close: the descriptor is what we are short of, free it now.
            writer.transport.abort()
            return
        conn_id = next(self._ids)
        peer = Peer(transport, host, port, conn_id)
        self.connections += 1
        self._per_source[host] = self._per_source.get(host, 0) + 1
        self._writers[conn_id] = writer
        self._by_address[(peer.host, peer.port)] = conn_id
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        framer = StreamFramer(max_size=self.max_size)
        # Until the peer has sent one complete message it gets the short timeout: a connection
        # opened only to hold a descriptor is closed after `partial_timeout`, not `idle_timeout`.
        # Keep-alive pings do not count as messages. A connection we opened ourselves was for
        # a message of ours, and waits for its answers as long as any established one.
        established = outbound
        try:
            while True:
                short = framer.buffered or not established
                timeout = self.partial_timeout if short else self.idle_timeout
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except TimeoutError:
                    self.noise.record(
                        "sip connection timed out",
                        "incomplete message" if short else "idle",
                        f"{transport}:{host}",
                        partial_bytes=framer.buffered,
                    )
                    return
                if not data:
                    return
                try:
                    for item in framer.feed(data):
                        if isinstance(item, Ping):
                            writer.write(b"\r\n")
                        else:
                            established = True
                            self._deliver(item, peer)
                except ParseError as error:
                    self._reject(error, peer)
                    await writer.drain()
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            self.connections -= 1
            left = self._per_source.get(host, 1) - 1
            if left > 0:
                self._per_source[host] = left
            else:
                self._per_source.pop(host, None)
            self._writers.pop(conn_id, None)
            self._by_address.pop((peer.host, peer.port), None)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    # -- sending -----------------------------------------------------------------------------

    def send(self, message: Message, peer: Peer) -> None:
        try:
            data = serialize(message)
        except LocalError:
            log.exception("cannot serialize sip message")
            return
        if peer.transport == "udp":
            if self._udp is None:
                return
            if not _is_address(peer.host):
                # uvloop refuses a name here and the default loop would resolve it blocking.
                self._spawn(self._resolve_and_send(data, peer))
                return
            try:
                self._udp.sendto(data, (peer.host, peer.port))
            except (OSError, ValueError) as error:
                log.warning(
                    "udp send failed",
                    extra={"peer": f"{peer.host}:{peer.port}", "error": str(error)},
                )
            return
        conn = peer.connection or self._by_address.get((peer.host, peer.port))
        writer = self._writers.get(conn) if conn is not None else None
        if writer is None or writer.is_closing():
            self._spawn(self._connect_and_send(data, peer))
            return
        writer.write(data)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve_and_send(self, data: bytes, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(
                loop.getaddrinfo(peer.host, peer.port, type=socket.SOCK_DGRAM), 5
            )
        except (OSError, TimeoutError) as error:
            log.warning(
                "cannot resolve sip destination",
                extra={"peer": f"{peer.host}:{peer.port}", "error": str(error)},
            )
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        address = next((info[4] for info in found if info[0] == family), None)
        if address is None or self._udp is None:
            log.warning("no usable address for sip destination", extra={"peer": peer.host})
            return
        try:
            self._udp.sendto(data, (str(address[0]), int(address[1])))
        except (OSError, ValueError) as error:
            log.warning("udp send failed", extra={"peer": peer.host, "error": str(error)})

    async def _connect_and_send(self, data: bytes, peer: Peer) -> None:
        context: ssl.SSLContext | None = None
        if peer.transport == "tls":
            if self._tls_client is None:
                self._tls_client = client_context()
            context = self._tls_client
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(peer.host, peer.port, ssl=context), 5
            )
        except (OSError, TimeoutError) as error:
            log.warning(
                "tcp connect failed",
                extra={"peer": f"{peer.host}:{peer.port}", "error": str(error)},
            )
            return
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        await self._serve_stream(reader, writer, peer.transport, outbound=True)


def _is_address(host: str) -> bool:
    # No IP address is that long: a sender's long Via host is not cached (the cache's bound
    # counts entries, not bytes)
    return len(host) <= 64 and _is_short_address(host)


@functools.lru_cache(maxsize=4096)
def _is_short_address(host: str) -> bool:
    # Asked for every message sent: parsing the address each time was a measurable part of
    # answering a REGISTER. Bounded: destinations come from Vias peers write.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
