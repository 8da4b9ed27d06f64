"""Registration of vpbx to providers' trunks (SIP-4): REGISTER with digest credentials,
answering 401/407 challenges, refreshed before expiry and retried after failures."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
from dataclasses import dataclass, field

from vpbx.sip.dialog import new_tag
from vpbx.sip.message import Headers, Request, Response
from vpbx.sip.uri import SipUri
from vpbx.switch.auth_client import with_credentials
from vpbx.switch.b2bua import Contact
from vpbx.switch.directory import Directory, TrunkInfo
from vpbx.switch.endpoint import SipEndpoint
from vpbx.transport.sip import Peer

log = logging.getLogger("vpbx.switch.trunks")

REGISTER_EXPIRES = 600
RETRY_SECONDS = 30.0


class TrunkState(enum.StrEnum):
    UNREGISTERED = "unregistered"
    REGISTERED = "registered"
    FAILED = "failed"


@dataclass(slots=True)
class TrunkStatus:
    state: TrunkState = TrunkState.UNREGISTERED
    last_status: int | None = None
    expires: int = 0


def trunk_peer(trunk: TrunkInfo) -> Peer:
    return Peer(trunk.transport, trunk.host, trunk.port)


async def send_and_wait(endpoint: SipEndpoint, request: Request, peer: Peer) -> Response | None:
    """Send through a client transaction; the final response, or None on its time-out."""
    loop = asyncio.get_running_loop()
    final: asyncio.Future[Response | None] = loop.create_future()

    def on_response(response: Response) -> None:
        if response.status >= 200 and not final.done():
            final.set_result(response)

    def on_timeout() -> None:
        if not final.done():
            final.set_result(None)

    endpoint.send_request(request, peer, on_response, on_timeout)
    return await final


@dataclass(slots=True)
class TrunkRegistrations:
    """Keeps every trunk marked `registration` registered while the switch runs."""

    endpoint: SipEndpoint
    directory: Directory
    me: Contact
    status: dict[int, TrunkStatus] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for trunk in await self.directory.trunks():
            if trunk.registration:
                self.status[trunk.trunk_id] = TrunkStatus()
                self._tasks.append(asyncio.ensure_future(self._keep(trunk)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep(self, trunk: TrunkInfo) -> None:
        call_id = f"{secrets.token_hex(10)}@{self.me.host}"
        tag = new_tag()
        cseq = 0
        while True:
            cseq += 2  # room for the authenticated retry
            response = await self.register_once(trunk, call_id, tag, cseq)
            status = self.status[trunk.trunk_id]
            status.last_status = None if response is None else response.status
            if response is not None and response.status == 200:
                status.state = TrunkState.REGISTERED
                status.expires = _granted(response)
                log.info("trunk registered", extra={"trunk": trunk.name, "expires": status.expires})
                await asyncio.sleep(max(10.0, status.expires * 0.8))
            else:
                status.state = TrunkState.FAILED
                log.warning(
                    "trunk registration failed",
                    extra={"trunk": trunk.name, "status": status.last_status},
                )
                await asyncio.sleep(RETRY_SECONDS)

    async def register_once(
        self, trunk: TrunkInfo, call_id: str, tag: str, cseq: int
    ) -> Response | None:
        peer = trunk_peer(trunk)
        aor = f"sip:{trunk.username}@{trunk.host}"
        request = Request(
            "REGISTER",
            SipUri(host=trunk.host, port=trunk.port),
            Headers(
                [
                    ("Via", str(self.me.via(peer.transport))),
                    ("Max-Forwards", "70"),
                    ("From", f"<{aor}>;tag={tag}"),
                    ("To", f"<{aor}>"),
                    ("Call-ID", call_id),
                    ("CSeq", f"{cseq} REGISTER"),
                    ("Contact", f"<sip:{trunk.username}@{self.me.host}:{self.me.port}>"),
                    ("Expires", str(REGISTER_EXPIRES)),
                    ("User-Agent", "vpbx"),
                ]
            ),
        )
        response = await send_and_wait(self.endpoint, request, peer)
        if response is not None and response.status in (401, 407):
            retry = with_credentials(
                request, response, trunk.username, trunk.password, str(self.me.via(peer.transport))
            )
            if retry is None:
                return response
            response = await send_and_wait(self.endpoint, retry, peer)
        return response


def _granted(response: Response) -> int:
    contacts = response.contacts
    if contacts and contacts != "*":
        raw = contacts[0].params.get("expires")
        if raw is not None and raw.isdigit():
            return int(raw)
    return response.expires if response.expires is not None else REGISTER_EXPIRES
