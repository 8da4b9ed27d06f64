"""Exceptions of the SIP stack: ParseError for bad input from the peer, LocalError for our misuse.

Modelled after h11: everything the peer can send us that we cannot accept surfaces as a
`ParseError` (a "remote" error) carrying the status code a server should answer with, so a
transport loop needs exactly one ``except ParseError`` around parsing.  `LocalError` marks a bug
on our side (building an invalid message, feeding a broken framer) and is never caused by
untrusted bytes alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vpbx.sip.message import Headers

__all__ = ["LocalError", "ParseError", "SipError"]


class SipError(Exception):
    """Base class of every exception raised by `vpbx.sip`."""


class ParseError(SipError):
    """Input from the peer is malformed or unacceptable.

    ``status`` is the response a UAS should send when the input was a request (400 unless a more
    specific code applies: 413, 416, 505, 513...). For a response, or when no response can be
    built, the message is simply discarded and ``status`` is informational.
    ``reason`` is a short English explanation, suitable for a Warning header or a log line.
    ``headers`` is set by the parser when the rejected input was a request whose header section
    could still be read, so that a stateless error response can be built
    (see `vpbx.sip.message.error_response`); otherwise it is None.
    """

    def __init__(self, reason: str, status: int = 400, *, headers: Headers | None = None) -> None:
        # reason and status go to args so that pickling/copying rebuilds an equal exception.
        super().__init__(reason, status)
        self.status = status
        self.reason = reason
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


class LocalError(SipError):
    """We tried to do something invalid: build an unserializable message, misuse an API."""
