"""CDR-4: the registrar tells the live feed when a line's registration appears and ends (an
unregister, the expiry of its last binding by the registrar's own timer, a revocation when its
password changes): real digest exchanges on the loop's clock, a stand-in directory."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

from vpbx.domain.directory import LineInfo
from vpbx.sip.digest import build_authorization
from vpbx.sip.message import Request, Response
from vpbx.sip.parser import parse_message
from vpbx.sip.registrar import Bindings
from vpbx.switch.directory import Directory
from vpbx.switch.registrar_service import Registrar
from vpbx.transport.sip import Peer

LINE = LineInfo(5, 50, "l50", "secret", "in_out", None)
PEER = Peer("udp", "127.0.0.1", 5062)


class _Lines:
    """The directory's two calls the registrar makes, over one line."""

    def __init__(self) -> None:
        self.current: LineInfo | None = LINE

    async def line(self, login: str) -> LineInfo | None:
        found = self.current
        return found if found is not None and login == found.login else None

    async def save_registration(self, *_args: Any) -> None:
        return None


def _register(cseq: int, expires: int, authorization: str | None = None) -> Request:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK{cseq}",
        "From: <sip:l50@127.0.0.1>;tag=a",
        "To: <sip:l50@127.0.0.1>",
        "Call-ID: presence",
        f"CSeq: {cseq} REGISTER",
        "Contact: <sip:l50@127.0.0.1:5062>",
        f"Expires: {expires}",
        *([f"Authorization: {authorization}"] if authorization else []),
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


async def _registered(registrar: Registrar, cseq: int, expires: int) -> int:
    now = asyncio.get_running_loop().time()
    challenge = await registrar.register(_register(cseq, expires), PEER, now)
    assert isinstance(challenge, Response)
    auth = build_authorization(
        challenge.headers.get("WWW-Authenticate") or "",
        "REGISTER",
        "sip:127.0.0.1",
        "l50",
        "secret",
        "abcd",
        1,
    )
    answer = await registrar.register(_register(cseq + 1, expires, auth), PEER, now)
    assert answer is not None
    return answer.status


async def test_a_line_is_told_registered_then_gone_by_unregister_expiry_and_revocation() -> None:
    told: list[tuple[int, int, bool]] = []
    lines = _Lines()
    registrar = Registrar(cast(Directory, lines), bindings=Bindings(min_expires=1))
    registrar.presence = lambda account, line, registered: told.append((account, line, registered))
    try:
        assert await _registered(registrar, 1, 60) == 200
        assert await _registered(registrar, 3, 60) == 200  # a refresh: nothing new to tell
        assert told == [(5, 50, True)]
        assert await _registered(registrar, 5, 0) == 200  # unregistered
        assert told[1:] == [(5, 50, False)]

        assert await _registered(registrar, 7, 1) == 200
        assert told[2:] == [(5, 50, True)]
        await asyncio.sleep(1.2)  # its only binding expires: the registrar's timer tells
        assert told[3:] == [(5, 50, False)]

        assert await _registered(registrar, 9, 60) == 200
        lines.current = replace(LINE, password="changed")
        assert await registrar.revoke_changed(5) == 1
        assert told[4:] == [(5, 50, True), (5, 50, False)]
    finally:
        registrar.stop()
