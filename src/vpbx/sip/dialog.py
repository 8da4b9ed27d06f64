"""The dialog layer (RFC 3261 §12): dialog state, requests within a dialog, target refresh.

A `Dialog` is created from the request/response pair that establishes it, on either side:

* `Dialog.as_uac(request, response)`: we sent the INVITE; the route set is the response's
  Record-Route reversed, the remote target its Contact.
* `Dialog.as_uas(request, local_tag)`: we received it; the route set is the request's
  Record-Route in order, the remote target its Contact.

`dialog.request(method, via=..., ...)` builds a request within the dialog (CSeq + 1 except for
ACK and CANCEL, loose or strict routing per §12.2.1.1); `dialog.ack(invite, via)` builds the
ACK of a 2xx (same CSeq number as the INVITE, §13.2.2.4); `dialog.receive(request)` checks the
remote CSeq (a lower one is answered 500) and applies target refresh (re-INVITE, UPDATE).
Pure: no clock, no randomness — tags and branches are passed in (`new_tag()`/`new_branch()`
use the `secrets` module and may be called by the owner).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, replace

from vpbx.sip.errors import LocalError
from vpbx.sip.headers import MAGIC_COOKIE, Via
from vpbx.sip.message import Headers, Request, Response
from vpbx.sip.uri import Address, SipUri, Uri

TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class DialogId:
    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(slots=True)
class Dialog:
    """One side's view of a dialog; mutated by the requests and responses it sees."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: Address
    remote_uri: Address
    remote_target: Uri
    route_set: tuple[Address, ...]
    local_cseq: int
    remote_cseq: int | None
    local_contact: Address | None = None
    state: DialogState = DialogState.EARLY

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a 1xx (with To tag) or 2xx response to our request establishes."""
        remote_tag = response.to_tag
        local_tag = request.from_tag
        if remote_tag is None or local_tag is None:
            raise LocalError("a dialog needs tags on both From and To")
        contacts = response.contacts
        target = contacts[0].uri if contacts and contacts != "*" else request.uri
        contact = request.contacts
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=request.from_,
            remote_uri=response.to,
            remote_target=target,
            route_set=tuple(reversed(response.record_routes)),
            local_cseq=request.cseq.seq,
            remote_cseq=None,
            local_contact=contact[0] if contact and contact != "*" else None,
            state=DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY,
        )

    @classmethod
    def as_uas(
        cls, request: Request, local_tag: str, local_contact: Address | None = None
    ) -> Dialog:
        """The dialog our response (carrying `local_tag`) to `request` establishes."""
        remote_tag = request.from_tag
        if remote_tag is None:
            raise LocalError("a dialog needs a From tag")
        contacts = request.contacts
        target = contacts[0].uri if contacts and contacts != "*" else request.from_.uri
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=request.to.with_tag(local_tag),
            remote_uri=request.from_,
            remote_target=target,
            route_set=tuple(request.record_routes),
            local_cseq=0,
            remote_cseq=request.cseq.seq,
            local_contact=local_contact,
        )

    def confirm(self) -> None:
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

    def _routing(self) -> tuple[Uri, list[Address]]:
        """Request-URI and Route header values (§12.2.1.1: loose vs strict routing)."""
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0].uri
        if isinstance(first, SipUri) and first.lr:
            return self.remote_target, list(self.route_set)
        # A strict router: it becomes the Request-URI and the remote target goes last.
        return first, [*self.route_set[1:], Address(uri=self.remote_target)]

    def request(
        self,
        method: str,
        *,
        via: Via,
        body: bytes = b"",
        content_type: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        cseq: int | None = None,
    ) -> Request:
        """A request within the dialog; `via` carries our sent-by and a fresh branch."""
        if method not in ("ACK", "CANCEL") and cseq is None:
            self.local_cseq += 1
        number = cseq if cseq is not None else self.local_cseq
        uri, routes = self._routing()
        headers: list[tuple[str, str]] = [
            ("Via", str(via)),
            ("Max-Forwards", "70"),
            ("From", str(self.local_uri.with_tag(self.local_tag))),
            ("To", str(self.remote_uri.with_tag(self.remote_tag))),
            ("Call-ID", self.call_id),
            ("CSeq", f"{number} {method}"),
        ]
        headers += [("Route", str(route)) for route in routes]
        if self.local_contact is not None and method in TARGET_REFRESH:
            headers.append(("Contact", str(self.local_contact)))
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        headers += list(extra)
        return Request(method, uri, Headers(headers), body)

    def ack(self, invite: Request, *, via: Via, body: bytes = b"") -> Request:
        """The ACK of a 2xx to `invite` (its own transaction, same CSeq number)."""
        content_type = "application/sdp" if body else None
        return self.request(
            "ACK", via=via, body=body, content_type=content_type, cseq=invite.cseq.seq
        )

    def receive(self, request: Request) -> int | None:
        """Check an in-dialog request; the status to answer when it must be refused, else None."""
        seq = request.cseq.seq
        in_order = self.remote_cseq is None or seq >= self.remote_cseq
        if not in_order and request.method not in ("ACK", "CANCEL"):
            return 500  # §12.2.2: out of order
        if request.method not in ("ACK", "CANCEL"):
            self.remote_cseq = seq
        if request.method in TARGET_REFRESH:
            contacts = request.contacts
            if contacts and contacts != "*":
                self.remote_target = contacts[0].uri
        if request.method == "BYE":
            self.terminate()
        return None

    def on_response(self, request: Request, response: Response) -> None:
        """Target refresh by the 2xx of our re-INVITE/UPDATE; BYE's answer ends the dialog."""
        if 200 <= response.status < 300:
            self.confirm()
            if request.method in TARGET_REFRESH:
                contacts = response.contacts
                if contacts and contacts != "*":
                    self.remote_target = contacts[0].uri
        if request.method == "BYE" or (
            request.method == "INVITE" and response.status in (481, 408)
        ):
            self.terminate()


def incoming_dialog_id(message: Request | Response) -> DialogId | None:
    """The id of the dialog an incoming message belongs to (None without both tags).

    Our tag is the To tag of a request we receive and the From tag of a response we receive.
    """
    from_tag, to_tag = message.from_tag, message.to_tag
    if from_tag is None or to_tag is None:
        return None
    if isinstance(message, Response):
        return DialogId(message.call_id, from_tag, to_tag)
    return DialogId(message.call_id, to_tag, from_tag)


def with_via(message: Request, via: Via) -> Request:
    """The request with its top Via replaced (a new branch for a new transaction)."""
    headers = message.headers.remove_first_value("Via").prepend("Via", str(via))
    return replace(message, headers=headers)
