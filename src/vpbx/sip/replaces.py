"""The Replaces header (RFC 3891): which dialog an attended transfer takes the place of.

A phone doing an attended transfer sends REFER with
``Refer-To: <sip:B@pbx?Replaces=CALLID%3Bto-tag%3DT%3Bfrom-tag%3DF>`` (RFC 5589 §7): the
consultation dialog, named as its receiver sees it. The same value arrives as a ``Replaces:``
header of an INVITE. ``to-tag`` is compared with the receiver's local tag and ``from-tag`` with
its remote tag (RFC 3891 §3), so the dialog is ``DialogId(call_id, to_tag, from_tag)``.

``parse_replaces(value)`` reads one header value (unescaped: `SipUri` has already undone the
``%3B`` of a Refer-To URI) and raises `ParseError` for anything else; ``replaces_of(uri)``
finds it among a Refer-To URI's headers (None when there is none). Pure, no state.

Grammar (RFC 3891 §6.1)::

    Replaces       = "Replaces" HCOLON callid *(SEMI replaces-param)
    replaces-param = to-tag / from-tag / early-flag / generic-param
    to-tag         = "to-tag" EQUAL token
    from-tag       = "from-tag" EQUAL token
    early-flag     = "early-only"
    callid         = word [ "@" word ]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vpbx.sip._scan import TOKEN_RE
from vpbx.sip.dialog import DialogId
from vpbx.sip.errors import ParseError
from vpbx.sip.uri import SipUri, Uri

__all__ = ["Replaces", "parse_replaces", "replaces_of"]

# RFC 3261 §25.1 word: token characters plus ( ) < > : \ " / [ ] ? { }
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALLID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?")
#: longer values are not a Call-ID and tags a phone made (and not worth scanning)
MAX_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Replaces:
    """One Replaces value: the dialog as its receiver names it, and the early-only flag."""

    call_id: str
    to_tag: str
    from_tag: str
    #: replace the dialog only while it is early (RFC 3891 §3: a confirmed one is 486)
    early_only: bool = False

    @property
    def dialog_id(self) -> DialogId:
        """The receiver's id of the dialog: to-tag is its local tag, from-tag its remote."""
        return DialogId(self.call_id, self.to_tag, self.from_tag)


def parse_replaces(value: str) -> Replaces:
    """One Replaces header value; `ParseError` (400) when it is not one."""
    if len(value) > MAX_LENGTH:
        raise ParseError("Replaces too long")
    call_id, *pieces = (piece.strip(" \t") for piece in value.split(";"))
    if _CALLID_RE.fullmatch(call_id) is None:
        raise ParseError(f"Replaces names no Call-ID: {value!r}")
    tags: dict[str, str] = {}
    early_only = False
    for piece in pieces:
        name, eq, text = (part.strip(" \t") for part in piece.partition("="))
        name = name.lower()
        if TOKEN_RE.fullmatch(name) is None:
            raise ParseError(f"bad Replaces parameter {piece!r}")
        if name in ("to-tag", "from-tag"):
            if not eq or TOKEN_RE.fullmatch(text) is None:
                raise ParseError(f"bad {name} in Replaces: {piece!r}")
            if name in tags:
                raise ParseError(f"two {name} in Replaces")
            tags[name] = text
        elif name == "early-only":
            if eq:
                raise ParseError("early-only takes no value")
            early_only = True
        # any other generic-param is allowed and ignored
    missing = [name for name in ("to-tag", "from-tag") if name not in tags]
    if missing:
        raise ParseError(f"Replaces without {' and '.join(missing)}")
    return Replaces(call_id, tags["to-tag"], tags["from-tag"], early_only)


def replaces_of(uri: Uri) -> Replaces | None:
    """The Replaces header of a (Refer-To) URI: None when it carries none, `ParseError` when it
    carries a bad one or more than one."""
    if not isinstance(uri, SipUri):
        return None
    values = [value for name, value in uri.headers if name.lower() == "replaces"]
    if not values:
        return None
    if len(values) > 1:
        raise ParseError("more than one Replaces")
    return parse_replaces(values[0])
