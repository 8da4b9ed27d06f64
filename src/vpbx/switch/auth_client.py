"""Answering a 401/407 challenge as a client (trunk registration, calls out through a trunk)."""

from __future__ import annotations

import secrets

from vpbx.sip import digest
from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.message import Request, Response


def with_credentials(
    request: Request, response: Response, username: str, password: str, via: str
) -> Request | None:
    """The request again, CSeq + 1 and a new branch, answering the 401/407 of `response`."""
    proxy = response.status == 407
    try:
        challenge = digest.choose_challenge(
            response.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        )
    except (ParseError, LocalError):
        return None
    value = digest.build_authorization(
        challenge, request.method, str(request.uri), username, password, secrets.token_hex(8)
    )
    headers = (
        request.headers.remove_first_value("Via")
        .prepend("Via", via)
        .set("CSeq", f"{request.cseq.seq + 1} {request.method}")
        .set("Proxy-Authorization" if proxy else "Authorization", value)
    )
    return Request(request.method, request.uri, headers, request.body)
