"""CDR-4: the registrar tells the live feed when a line's registration appears and ends (an
unregister, the expiry of its last binding by the registrar's own timer, a revocation when its
password changes): real digest exchanges on the loop's clock, a stand-in directory. Refreshes
(issue 17) keep one expiry entry per line, follow the latest end, and are not logged as news."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, cast

import pytest

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


async def _registered(registrar: Registrar, cseq: int, expires: int, ago: float = 0.0) -> int:
    """Register (challenge, then credentials) as if `ago` seconds ago: the binding ends `ago`
    seconds before `expires` from now (short ends without long sleeps)."""
    now = asyncio.get_running_loop().time() - ago
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


async def test_refreshes_keep_one_expiry_entry_and_the_line_ends_at_its_latest_end() -> None:
    told: list[tuple[int, int, bool]] = []
    registrar = Registrar(cast(Directory, _Lines()), bindings=Bindings(min_expires=1))
    registrar.presence = lambda account, line, registered: told.append((account, line, registered))
    try:
        for cseq in range(1, 200, 2):
            assert await _registered(registrar, cseq, 60) == 200
        # one heap entry per line, not one per REGISTER
        assert len(registrar._ends) == 1
        assert told == [(5, 50, True)]

        # a refresh that shortens the registration: told gone at the new, earlier end
        assert await _registered(registrar, 201, 1, ago=0.7) == 200
        await asyncio.sleep(0.5)
        assert told[1:] == [(5, 50, False)]

        # a refresh that lengthens it: the earlier end passes without a word, the later tells
        assert await _registered(registrar, 203, 1, ago=0.8) == 200  # ends in 0.2 s
        assert told[2:] == [(5, 50, True)]
        assert await _registered(registrar, 205, 1, ago=0.4) == 200  # now ends in 0.6 s
        await asyncio.sleep(0.4)
        assert told[3:] == []
        await asyncio.sleep(0.5)
        assert told[3:] == [(5, 50, False)]
        # left: only the first registrations' entry at +60 s, which will find nothing to tell
        assert len(registrar._ends) == 1
    finally:
        registrar.stop()


async def test_a_refresh_is_not_logged_as_a_registration(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vpbx.sip.registrar")
    registrar = Registrar(cast(Directory, _Lines()), bindings=Bindings(min_expires=1))

    def lines(message: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage() == message]

    try:
        assert await _registered(registrar, 1, 60) == 200
        for cseq in (3, 5, 7):
            assert await _registered(registrar, cseq, 60) == 200
        assert [(r.levelno, getattr(r, "contacts", None)) for r in lines("registered")] == [
            (logging.INFO, 1)
        ]
        assert [r.levelno for r in lines("registration refreshed")] == [logging.DEBUG] * 3
        assert await _registered(registrar, 9, 0) == 200  # unregistered: news again
        assert [getattr(r, "contacts", None) for r in lines("registered")] == [1, 0]
    finally:
        registrar.stop()
