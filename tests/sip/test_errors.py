"""The exception hierarchy: one ParseError for peer input, LocalError for our misuse."""

from __future__ import annotations

import copy
import pickle

from vpbx.sip.errors import LocalError, ParseError, SipError
from vpbx.sip.sdp import NoAcceptableMedia, SdpError


def test_hierarchy() -> None:
    assert issubclass(ParseError, SipError)
    assert issubclass(LocalError, SipError)
    assert not issubclass(LocalError, ParseError)
    assert issubclass(SdpError, ParseError)
    assert issubclass(NoAcceptableMedia, SipError)
    assert NoAcceptableMedia.status == 488


def test_parse_error_carries_status_reason_and_optional_headers() -> None:
    error = ParseError("bad thing")
    assert (error.status, error.reason, error.headers) == (400, "bad thing", None)
    assert str(error) == "400 bad thing"
    assert str(ParseError("too big", 513)) == "513 too big"


def test_parse_error_survives_pickle_and_copy() -> None:
    error = ParseError("unsupported version", 505)
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert isinstance(clone, ParseError)
        assert (clone.status, clone.reason) == (505, "unsupported version")
