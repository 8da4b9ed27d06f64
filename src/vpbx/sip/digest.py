"""HTTP Digest authentication for SIP, sans-IO: RFC 2617/7616 with MD5 and SHA-256 (RFC 8760).

Server side (registrar, UAS):

- ``make_challenge(realm, now, secret, algorithm="MD5", stale=False) -> str``: the value of a
  WWW-Authenticate / Proxy-Authenticate header. The nonce is stateless: it carries its creation
  time (milliseconds) and an HMAC-SHA256 over time and realm keyed by ``secret``, so any worker
  holding the secret can check it and its age without shared state.
- ``parse_authorization(value) -> Credentials`` (ParseError for another scheme, such as RFC 4475
  regaut01, or a malformed value: answer 401 with a fresh challenge).
- ``verify(authorization, method, password_or_ha1, now, secret, nonce_lifetime=300.0) -> Verdict``:
  ``OK``, ``STALE`` (right password, expired nonce: re-challenge with ``stale=True``),
  ``REPLAY`` (right password, but the nonce-count was already used: re-challenge with
  ``stale=True``, see `NonceCounts`) or ``BAD``. ``password_or_ha1`` is the clear password
  (``str``) or an `HA1` (precomputed H(username:realm:password) for one algorithm). qop=auth,
  qop=auth-int (pass ``body``) and the RFC 2069 no-qop form are accepted, with MD5, SHA-256
  and their ``-sess`` variants. Pass ``request_uri`` (the parsed Request-URI) so that
  credentials computed for one request cannot be carried to another target, and ``counts``
  so that a captured header cannot be replayed: stateless nonces alone cannot tell.
- ``NonceCounts``: the highest nonce-count accepted per nonce while the nonce is alive; a
  count not above it is a replay. Credentials without qop (no nc) use their nonce once.

Client side (trunk registration, outbound calls):

- ``parse_challenge(value) -> Challenge``; ``choose_challenge(values)`` picks the strongest
  supported challenge among several WWW-Authenticate values (RFC 8760 §2.4: SHA-256 first).
- ``build_authorization(challenge, method, uri, username, password, cnonce, nc=1)`` returns the
  Authorization / Proxy-Authorization value; qop=auth is used when offered, else no-qop.

Helpers: ``compute_ha1``, ``digest_response``. Time is always passed in as ``now`` (seconds).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vpbx.sip._scan import TOKEN_RE, quote_string, read_quoted, skip_ws, unquote, unquote_pairs
from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "ALGORITHMS",
    "HA1",
    "Challenge",
    "Credentials",
    "NonceCounts",
    "Verdict",
    "build_authorization",
    "choose_challenge",
    "compute_ha1",
    "digest_response",
    "make_challenge",
    "parse_authorization",
    "parse_challenge",
    "uri_matches",
    "verify",
]


def _md5(data: str) -> str:
    return hashlib.md5(data.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()


def _sha256(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8", "surrogateescape")).hexdigest()


_HASHES: dict[str, Callable[[str], str]] = {"MD5": _md5, "SHA-256": _sha256}
# Canonical algorithm names we support, strongest first (RFC 8760 ordering).
ALGORITHMS = ("SHA-256", "SHA-256-sess", "MD5", "MD5-sess")
_CANONICAL_ALGORITHMS = {a.upper(): a for a in ALGORITHMS}


def _algorithm(name: str | None) -> str:
    """Canonical algorithm name; a missing one means MD5 (RFC 2617)."""
    if name is None:
        return "MD5"
    canonical = _CANONICAL_ALGORITHMS.get(name.upper())
    if canonical is None:
        raise ParseError(f"unsupported digest algorithm {name[:30]!r}")
    return canonical


def _hash_for(algorithm: str) -> Callable[[str], str]:
    return _HASHES[algorithm.removesuffix("-sess")]


class Verdict(enum.Enum):
    """Outcome of `verify`."""

    OK = "ok"
    STALE = "stale"  # the response was right but the nonce expired: challenge with stale=true
    BAD = "bad"  # wrong password, forged or foreign nonce, malformed credentials, another uri
    # The response was right but its nonce-count was used before: a replayed header, or a
    # client whose requests overtook each other. Re-challenge with stale=true: a real client
    # answers the fresh nonce at once, an eavesdropper cannot.
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class HA1:
    """A stored H(username:realm:password) in hex for one algorithm ("MD5" or "SHA-256")."""

    value: str
    algorithm: str = "MD5"


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(username:realm:password) in hex for MD5 or SHA-256 (without the -sess step)."""
    return _hash_for(_algorithm(algorithm))(f"{username}:{realm}:{password}")


def digest_response(
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The request-digest of RFC 2617 §3.2.2.1 / RFC 7616 §3.4.1.

    ``ha1`` is H(username:realm:password); for a ``-sess`` algorithm the session step is
    applied here.
    """
    canonical = _algorithm(algorithm)
    h = _hash_for(canonical)
    if canonical.endswith("-sess"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce or ''}")
    if qop == "auth-int":
        body_hash = hashlib.new(canonical.removesuffix("-sess").replace("-", "").lower(), body)
        ha2 = h(f"{method}:{uri}:{body_hash.hexdigest()}")
    else:
        ha2 = h(f"{method}:{uri}")
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# -- header parsing ------------------------------------------------------------------------------

_BARE_VALUE_RE = re.compile(r"[^\s,\"]+")
_TOKEN = TOKEN_RE.pattern
# The scanner's grammar below, one parameter per match: name, '=', a quoted-string (its inside in
# group 2) or a bare value (group 3), then the comma that must separate it from the next one.
_SCHEME_FAST_RE = re.compile(rf"[ \t]*({_TOKEN})[ \t]*")
# (the quoted-string unrolled: a character class per run instead of an alternation per character)
_PARAM_FAST_RE = re.compile(
    rf'({_TOKEN})[ \t]*=[ \t]*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s,"]+))[ \t]*(,[ \t]*)?',
    re.DOTALL,
)


def _parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """Split ``scheme param=value, param="value"...`` into (scheme, lower-cased params).

    Every REGISTER and INVITE of a phone carries one: a well-formed value is read one regular
    expression match per parameter (`_parse_auth_fast`); anything that does not read that way
    goes through the character scanner, which says what is wrong (a property test holds the
    two to the same answers)."""
    return _parse_auth_fast(value) or _scan_auth_header(value)


def _parse_auth_fast(value: str) -> tuple[str, dict[str, str]] | None:
    """`_scan_auth_header`'s answer for a well-formed value; None for anything else."""
    m = _SCHEME_FAST_RE.match(value)
    if m is None:
        return None
    scheme = m.group(1)
    i, n = m.end(), len(value)
    params: dict[str, str] = {}
    while i < n:
        m = _PARAM_FAST_RE.match(value, i)
        if m is None:
            return None
        name = m.group(1).lower()
        if name in params:
            return None
        quoted = m.group(2)
        params[name] = m.group(3) if quoted is None else unquote_pairs(quoted)
        i = m.end()
        if m.group(4) is None and i < n:
            return None
    return scheme, params


def _scan_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """`_parse_auth_header` character by character, with a precise ParseError."""
    n = len(value)
    i = skip_ws(value, 0)
    m = TOKEN_RE.match(value, i)
    if m is None:
        raise ParseError("missing authentication scheme")
    scheme = m.group()
    i = skip_ws(value, m.end())
    params: dict[str, str] = {}
    while i < n:
        m = TOKEN_RE.match(value, i)
        if m is None:
            raise ParseError("malformed authentication parameter")
        name = m.group().lower()
        i = skip_ws(value, m.end())
        if i >= n or value[i] != "=":
            raise ParseError(f"authentication parameter {name!r} without value")
        i = skip_ws(value, i + 1)
        if i < n and value[i] == '"':
            raw, i = read_quoted(value, i)
            param_value = unquote(raw)
        else:
            mv = _BARE_VALUE_RE.match(value, i)
            if mv is None:
                raise ParseError(f"authentication parameter {name!r} without value")
            param_value = mv.group()
            i = mv.end()
        if name in params:
            raise ParseError(f"repeated authentication parameter {name!r}")
        params[name] = param_value
        i = skip_ws(value, i)
        if i < n:
            if value[i] != ",":
                raise ParseError("authentication parameters must be comma-separated")
            i = skip_ws(value, i + 1)
    return scheme, params


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """A Digest challenge (WWW-Authenticate / Proxy-Authenticate); ``str()`` renders it."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None

    def __str__(self) -> str:
        parts = [f"realm={quote_string(self.realm)}"]
        if self.domain is not None:
            parts.append(f"domain={quote_string(self.domain)}")
        parts.append(f"nonce={quote_string(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote_string(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote_string(','.join(self.qop))}")
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str) -> Challenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value (Digest only)."""
    scheme, params = _parse_auth_header(value)
    if scheme.lower() != "digest":
        raise ParseError(f"unsupported authentication scheme {scheme[:30]!r}")
    if "realm" not in params or "nonce" not in params:
        raise ParseError("digest challenge without realm or nonce")
    qop = tuple(q.strip() for q in params["qop"].split(",") if q.strip()) if "qop" in params else ()
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=_algorithm(params.get("algorithm")),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        domain=params.get("domain"),
    )


def choose_challenge(values: Iterable[str]) -> Challenge:
    """The strongest supported Digest challenge among header values (SHA-256 before MD5).

    Raises ParseError when none is usable.
    """
    best: Challenge | None = None
    for value in values:
        try:
            challenge = parse_challenge(value)
        except ParseError:
            continue
        if best is None or ALGORITHMS.index(challenge.algorithm) < ALGORITHMS.index(best.algorithm):
            best = challenge
    if best is None:
        raise ParseError("no supported digest challenge")
    return best


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """Digest credentials (Authorization / Proxy-Authorization); ``str()`` renders them."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    def __str__(self) -> str:
        parts = [
            f"username={quote_string(self.username)}",
            f"realm={quote_string(self.realm)}",
            f"nonce={quote_string(self.nonce)}",
            f"uri={quote_string(self.uri)}",
            f"response={quote_string(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.cnonce is not None:
            parts.append(f"cnonce={quote_string(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote_string(self.opaque)}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        return "Digest " + ", ".join(parts)


_NC_RE = re.compile(r"[0-9A-Fa-f]{8}")


def parse_authorization(value: str) -> Credentials:
    """Parse an Authorization / Proxy-Authorization value (Digest only)."""
    scheme, params = _parse_auth_header(value)
    if scheme.lower() != "digest":
        raise ParseError(f"unsupported authentication scheme {scheme[:30]!r}")
    missing = [k for k in ("username", "realm", "nonce", "uri", "response") if k not in params]
    if missing:
        raise ParseError(f"digest credentials without {', '.join(missing)}")
    qop = params.get("qop")
    if qop is not None:
        if qop not in ("auth", "auth-int"):
            raise ParseError(f"unsupported qop {qop[:30]!r}")
        if "cnonce" not in params or _NC_RE.fullmatch(params.get("nc", "")) is None:
            raise ParseError("qop requires cnonce and an 8-digit hex nc")
    return Credentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"],
        algorithm=_algorithm(params.get("algorithm")),
        qop=qop,
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
        opaque=params.get("opaque"),
    )


# -- server side ---------------------------------------------------------------------------------

_NONCE_RE = re.compile(r"([0-9a-f]{1,16}-[0-9a-f]{8})\.([0-9a-f]{32})")
# Clock skew tolerated between workers sharing the secret (nonce from the near future).
_MAX_SKEW = 5.0


def _nonce_mac(secret: bytes, stamp: str, realm: str) -> str:
    message = f"{stamp}:{realm}".encode("utf-8", "surrogateescape")
    return hmac.digest(secret, message, "sha256").hex()[:32]  # one call into C (hmac.new: six)


def make_nonce(realm: str, now: float, secret: bytes) -> str:
    """A stateless nonce: creation time in ms (hex), a random salt, and an HMAC binding both
    to ``realm``. The salt keeps two challenges of the same millisecond (every request read in
    one turn of the event loop has the same `now`) apart: nonce-counts are tracked per nonce, so
    two clients answering one shared nonce with nc=1 would make the second look like a replay."""
    if not secret:
        raise LocalError("the nonce secret must not be empty")
    stamp = f"{max(0, int(now * 1000)):x}-{secrets.token_hex(4)}"
    return f"{stamp}.{_nonce_mac(secret, stamp, realm)}"


def nonce_age(nonce: str, realm: str, now: float, secret: bytes) -> float | None:
    """Seconds since ``nonce`` was made, or None when it is not one of ours for ``realm``."""
    m = _NONCE_RE.fullmatch(nonce)
    if m is None or not secret:
        return None
    stamp, mac = m.groups()
    if not hmac.compare_digest(mac, _nonce_mac(secret, stamp, realm)):
        return None
    return now - int(stamp.split("-", 1)[0], 16) / 1000


def make_challenge(
    realm: str,
    now: float,
    secret: bytes,
    algorithm: str = "MD5",
    stale: bool = False,
    *,
    opaque: str | None = None,
    qop: tuple[str, ...] = ("auth",),
) -> str:
    """A WWW-Authenticate / Proxy-Authenticate value with a fresh stateless nonce."""
    try:
        canonical = _algorithm(algorithm)
    except ParseError:
        raise LocalError(f"unsupported digest algorithm {algorithm!r}") from None
    return str(
        Challenge(
            realm=realm,
            nonce=make_nonce(realm, now, secret),
            algorithm=canonical,
            qop=qop,
            opaque=opaque,
            stale=stale,
        )
    )


@dataclass(slots=True)
class NonceCounts:
    """The highest nonce-count accepted for each live nonce (RFC 7616 §3.4: the server "should"
    check that nc increases; this is what makes a captured Authorization useless).

    Only credentials that passed every other check are recorded, so the table holds at most
    what real clients used within ``lifetime`` seconds (the nonce lifetime: after it the nonce
    is refused as stale anyway, so its entry can go). A count equal to or below the recorded one
    is a replay. Requests of one client that arrive out of order over UDP lose the late one to
    a stale challenge, which the client answers with a fresh nonce: strictness costs a round
    trip, never a call.
    """

    lifetime: float = 300.0
    _highest: dict[str, tuple[float, int]] = field(default_factory=dict)  # nonce -> (until, nc)
    _next_sweep: float = 0.0

    def accept(self, nonce: str, nc: str | None, now: float) -> bool:
        """True (and recorded) when ``nc`` is above every count seen with ``nonce``.

        Credentials without qop carry no nc: they count as 0, so their nonce serves once.
        """
        count = int(nc, 16) if nc else 0
        seen = self._highest.get(nonce)
        if seen is not None and now < seen[0] and count <= seen[1]:
            return False
        self._sweep(now)
        self._highest[nonce] = (now + self.lifetime + _MAX_SKEW, count)
        return True

    def __len__(self) -> int:
        return len(self._highest)

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.lifetime / 10
        for nonce in [n for n, (until, _) in self._highest.items() if until <= now]:
            del self._highest[nonce]


def uri_matches(digest_uri: str, request_uri: Uri) -> bool:
    """Whether the credentials' digest-uri names the Request-URI (RFC 7616 §3.4.6: the server
    must check it, or a response computed for one target opens another).

    SIP URIs compare by RFC 3261 §19.1.4 equivalence (a client may escape or order parameters
    differently from how we print them); other schemes compare as written.
    """
    if isinstance(request_uri, SipUri):
        try:
            written = parse_uri(digest_uri)
        except ParseError:
            return False
        return request_uri.equivalent(written)
    return digest_uri == str(request_uri)


def verify(
    authorization: Credentials | str,
    method: str,
    password_or_ha1: str | HA1,
    now: float,
    secret: bytes,
    nonce_lifetime: float = 300.0,
    *,
    realm: str | None = None,
    uri: str | None = None,
    request_uri: Uri | None = None,
    counts: NonceCounts | None = None,
    body: bytes = b"",
) -> Verdict:
    """Check Digest credentials against a password or stored HA1; see the module docstring.

    ``realm`` and ``uri``, when given, must equal the credentials' values; ``request_uri``,
    when given, must be named by the digest-uri (`uri_matches`); ``counts``, when given,
    refuses a nonce-count already used (`Verdict.REPLAY`). Never raises on bad input.
    """
    try:
        creds = (
            authorization
            if isinstance(authorization, Credentials)
            else parse_authorization(authorization)
        )
    except ParseError:
        return Verdict.BAD
    if (realm is not None and creds.realm != realm) or (uri is not None and creds.uri != uri):
        return Verdict.BAD
    if request_uri is not None and not uri_matches(creds.uri, request_uri):
        return Verdict.BAD
    age = nonce_age(creds.nonce, creds.realm, now, secret)
    if age is None or age < -_MAX_SKEW:
        return Verdict.BAD
    base_algorithm = creds.algorithm.removesuffix("-sess")
    if isinstance(password_or_ha1, HA1):
        if password_or_ha1.algorithm.upper() not in ("MD5", "SHA-256"):
            raise LocalError(f"HA1 algorithm must be MD5 or SHA-256: {password_or_ha1.algorithm!r}")
        if password_or_ha1.algorithm.upper() != base_algorithm:
            return Verdict.BAD
        ha1 = password_or_ha1.value.lower()
    else:
        ha1 = compute_ha1(creds.username, creds.realm, password_or_ha1, base_algorithm)
    expected = digest_response(
        creds.algorithm,
        ha1,
        creds.nonce,
        method,
        creds.uri,
        qop=creds.qop,
        nc=creds.nc,
        cnonce=creds.cnonce,
        body=body,
    )
    if not hmac.compare_digest(expected, creds.response.lower()):
        return Verdict.BAD
    if age > nonce_lifetime:
        return Verdict.STALE
    if counts is not None and not counts.accept(creds.nonce, creds.nc, now):
        return Verdict.REPLAY
    return Verdict.OK


# -- client side ---------------------------------------------------------------------------------


def build_authorization(
    challenge: Challenge | str,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
    *,
    body: bytes = b"",
) -> str:
    """The Authorization / Proxy-Authorization value answering ``challenge``.

    Uses qop=auth when offered (else auth-int with ``body``, else the RFC 2069 form). ``nc``
    counts the requests sent with this nonce (1 for the first); ``cnonce`` should be random.
    """
    ch = challenge if isinstance(challenge, Challenge) else parse_challenge(challenge)
    if not 0 < nc <= 0xFFFFFFFF:
        raise LocalError(f"nonce count out of range: {nc}")
    qop: str | None = None
    if "auth" in ch.qop:
        qop = "auth"
    elif "auth-int" in ch.qop:
        qop = "auth-int"
    elif ch.qop:
        raise ParseError(f"no supported qop in {','.join(ch.qop)[:40]!r}")
    nc_text = f"{nc:08x}" if qop else None
    ha1 = compute_ha1(username, ch.realm, password, ch.algorithm.removesuffix("-sess"))
    response = digest_response(
        ch.algorithm,
        ha1,
        ch.nonce,
        method,
        uri,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce if qop or ch.algorithm.endswith("-sess") else None,
        body=body,
    )
    return str(
        Credentials(
            username=username,
            realm=ch.realm,
            nonce=ch.nonce,
            uri=uri,
            response=response,
            algorithm=ch.algorithm,
            qop=qop,
            nc=nc_text,
            cnonce=cnonce if qop or ch.algorithm.endswith("-sess") else None,
            opaque=ch.opaque,
        )
    )
