"""rtpengine's ng control protocol: bencoded dictionaries over UDP, each behind a cookie.

A request is `<cookie> <bencoded dict>` (the dict has a "command": "offer", "answer",
"delete", "ping"…), the reply `<cookie> <bencoded dict>` with "result" "ok" (or "pong") or
"error" and an "error-reason". Bencode (BitTorrent's encoding): integers `i42e`, byte strings
`4:spam`, lists `l…e`, dictionaries `d…e` with keys sorted as raw bytes. `encode`/`decode` are
pure; `NgClient` is the few lines of blocking UDP the benchmark needs.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
from collections.abc import Mapping, Sequence

__all__ = ["BencodeError", "Bencoded", "NgClient", "NgError", "decode", "encode"]

#: what bencode carries: text is sent as UTF-8 and always comes back as bytes
Bencoded = (
    int | bytes | str | Sequence["Bencoded"] | Mapping[str, "Bencoded"] | Mapping[bytes, "Bencoded"]
)
Decoded = int | bytes | list["Decoded"] | dict[bytes, "Decoded"]

_INTEGER = re.compile(rb"0|-?[1-9][0-9]*")
_LENGTH = re.compile(rb"0|[1-9][0-9]*")


class BencodeError(ValueError):
    """Bytes that are not one well-formed bencoded value."""


class NgError(RuntimeError):
    """rtpengine answered a command with an error, or not at all."""


def _raw(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def encode(value: Bencoded) -> bytes:
    """The bencoding of `value` (bool is refused: it would pass for an int)."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Bencoded, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, str | bytes):
        raw = _raw(value)
        out.append(b"%d:%s" % (len(raw), raw))
    elif isinstance(value, Mapping):
        items = sorted(((_raw(k), v) for k, v in value.items()), key=lambda item: item[0])
        if any(a[0] == b[0] for a, b in itertools.pairwise(items)):
            raise ValueError("a key given both as text and as bytes")
        out.append(b"d")
        for key, item in items:
            out.append(b"%d:%s" % (len(key), key))
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, Sequence):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> Decoded:
    """The one value `data` holds (dictionary keys as bytes); BencodeError otherwise."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise BencodeError(f"trailing bytes at {end}")
    return value


def _decode(data: bytes, at: int) -> tuple[Decoded, int]:
    if at >= len(data):
        raise BencodeError("truncated")
    kind = data[at : at + 1]
    if kind == b"i":
        end = data.find(b"e", at)
        if end < 0:
            raise BencodeError("unterminated integer")
        text = data[at + 1 : end]
        if not _INTEGER.fullmatch(text):  # canonical only: no "-0", no leading zeros
            raise BencodeError(f"bad integer {text!r}")
        return int(text), end + 1
    if kind == b"l":
        items: list[Decoded] = []
        at += 1
        while data[at : at + 1] != b"e":
            item, at = _decode(data, at)
            items.append(item)
        return items, at + 1
    if kind == b"d":
        # Keys in any order: rtpengine writes its replies' keys unsorted.
        found: dict[bytes, Decoded] = {}
        at += 1
        while data[at : at + 1] != b"e":
            key, at = _decode(data, at)
            if not isinstance(key, bytes):
                raise BencodeError("a dictionary key that is not a string")
            if key in found:
                raise BencodeError(f"dictionary key {key!r} twice")
            found[key], at = _decode(data, at)
        return found, at + 1
    if kind.isdigit():
        colon = data.find(b":", at)
        if colon < 0 or not _LENGTH.fullmatch(data[at:colon]):
            raise BencodeError("bad string length")
        end = colon + 1 + int(data[at:colon])
        if end > len(data):
            raise BencodeError("truncated string")
        return data[colon + 1 : end], end
    raise BencodeError(f"unexpected {kind!r} at {at}")


class NgClient:
    """Blocking ng requests to one rtpengine (a fresh cookie each, retried on timeout)."""

    def __init__(self, address: tuple[str, int], timeout: float = 2.0, attempts: int = 3) -> None:
        self._address = address
        self._attempts = attempts
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.settimeout(timeout)
        self._prefix = os.urandom(4).hex()
        self._count = itertools.count()

    def close(self) -> None:
        self._sock.close()

    def request(self, command: Mapping[str, Bencoded]) -> dict[bytes, Decoded]:
        """The reply's dictionary; NgError when it says "error" or never comes."""
        cookie = f"{self._prefix}{next(self._count)}".encode()
        message = cookie + b" " + encode(command)
        for _ in range(self._attempts):
            self._sock.sendto(message, self._address)
            try:
                while True:
                    data = self._sock.recv(65536)
                    got, _, body = data.partition(b" ")
                    if got == cookie:  # a late reply to an earlier attempt is skipped
                        break
            except TimeoutError:
                continue
            reply = decode(body)
            if not isinstance(reply, dict):
                raise NgError(f"reply is not a dictionary: {reply!r}")
            if reply.get(b"result") == b"error":
                reason = reply.get(b"error-reason", b"")
                raise NgError(f"{command.get('command')}: {reason!r}")
            return reply
        raise NgError(f"no reply from rtpengine at {self._address} to {command.get('command')}")
