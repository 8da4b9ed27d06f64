"""The registrar of SIP lines (SIP-1, SIP-2): digest authentication against the line's password,
bindings in memory (the switch forks calls to them) mirrored to the database for the cabinet.

Unknown logins and wrong passwords get the same 401 with a fresh challenge (no enumeration); a
login that fails 10 times within a minute from one source is ignored from there for
`ban_seconds`, a source failing 50 times over any logins too, and it is logged (see
`vpbx.sip.registrar.AuthGuard` for why UDP and TCP are counted apart). Credentials are bound to
their request: the digest-uri must name the Request-URI and each nonce-count is used once, so a
captured header cannot place another call.

CDR-4: `presence` is told when a line's first binding appears and when its last one vanishes
(unregistered, expired, revoked), for the live view's employee states; expiry is watched by
one loop timer at the next binding's end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import heapq
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vpbx.domain.switch_records import StoredBinding
from vpbx.sip import digest
from vpbx.sip.errors import ParseError
from vpbx.sip.message import Request, Response, make_response
from vpbx.sip.registrar import AuthGuard, Binding, Bindings, Outcome
from vpbx.sip.uri import Address, SipUri, parse_uri
from vpbx.switch.clock import WallClock, utc_now
from vpbx.switch.directory import Directory, LineInfo
from vpbx.switch.registration_store import RegistrationStore
from vpbx.transport.noise import NoiseLog
from vpbx.transport.sip import Peer

log = logging.getLogger("vpbx.sip.registrar")


@dataclass(frozen=True, slots=True)
class Location:
    """Where to reach a registered line: the contact and the address it registered from."""

    line_id: int
    login: str
    contact: SipUri
    peer: Peer


@dataclass(slots=True)
class Registrar:
    directory: Directory
    realm: str = "vpbx"
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    guard: AuthGuard = field(default_factory=AuthGuard)
    #: seconds a nonce is good for; an older one with the right password is answered stale=true
    nonce_lifetime: float = 300.0
    counts: digest.NonceCounts = field(default_factory=digest.NonceCounts)
    #: told of each security event by kind (the security events counter of /metrics)
    security_event: Callable[[str], None] | None = None
    #: refusals an attacker can repeat at will (replays, foreign addresses, bans) are summarised
    refusals: NoiseLog = field(
        default_factory=lambda: NoiseLog(
            log, summary="security: sip credentials refused", level=logging.WARNING
        )
    )
    bindings: Bindings = field(default_factory=Bindings)
    #: where bindings are stored as they change (None: only through the directory, as tests do)
    store: RegistrationStore | None = None
    #: the wall clock of stored expiry times and the Date header (the loop's clock, passed in
    #: as `now`, times everything else)
    wall: WallClock = utc_now
    _peers: dict[tuple[str, str], Peer] = field(default_factory=dict)
    #: login → (account, line, fingerprint of the password its bindings were made with): a
    #: binding lasts only as long as the credentials that made it (`revoke_changed`)
    _made_with: dict[str, tuple[int, int, bytes]] = field(default_factory=dict)
    #: CDR-4: told (account, line, registered) when a line's registration appears or ends
    presence: Callable[[int, int, bool], None] | None = None
    #: logins told registered → (account, line); when their bindings end (a heap); its timer
    _present: dict[str, tuple[int, int]] = field(default_factory=dict)
    _ends: list[tuple[float, str]] = field(default_factory=list)
    #: login → the earliest end it has in `_ends`
    _due: dict[str, float] = field(default_factory=dict)
    _expiry: asyncio.TimerHandle | None = None
    _expiry_at: float | None = None
    #: the wall clock's second and its Date header (`_date_now`)
    _date: tuple[int, str] = (-1, "")

    def __post_init__(self) -> None:
        # A nonce-count must be remembered for as long as its nonce is accepted.
        self.counts.lifetime = self.nonce_lifetime

    def challenge(
        self, request: Request, now: float, *, stale: bool = False, proxy: bool = False
    ) -> Response:
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        value = digest.make_challenge(self.realm, now, self.secret, stale=stale)
        return make_response(
            request, 407 if proxy else 401, to_tag=secrets.token_hex(4), headers=[(name, value)]
        )

    async def authenticate(
        self, request: Request, peer: Peer, now: float, *, proxy: bool = False
    ) -> tuple[LineInfo | None, Response | None]:
        """The line whose credentials `request` carries, or the response to send instead.

        Returns (None, None) when the source (or this login from it) is being ignored: the
        request gets no answer. Credentials count only for the request they were computed for
        (the digest-uri names the Request-URI, the nonce-count was not used before) and only
        from the line's allowed addresses; a refusal on any of these looks like a wrong
        password.
        """
        found = self._credentials_of(request, peer, now, proxy)
        if not isinstance(found, digest.Credentials):
            return None, found
        line = await self.directory.line(found.username)
        return self._judge(request, peer, now, found, line, proxy)

    def _credentials_of(
        self, request: Request, peer: Peer, now: float, proxy: bool
    ) -> digest.Credentials | Response | None:
        """What `authenticate` decides before it needs the line: the credentials to check, the
        challenge to send, or None (the source or login is ignored)."""
        reliable = peer.reliable
        # behind a front proxy (several nodes) the sender is the one the proxy names
        if self.guard.blocked(peer.source_host, now, reliable=reliable):
            return None
        header = request.headers.get("Proxy-Authorization" if proxy else "Authorization")
        if header is None:
            return self.challenge(request, now, proxy=proxy)
        try:
            credentials = digest.parse_authorization(header)
        except ParseError:
            return self.challenge(request, now, proxy=proxy)
        if self.guard.blocked(peer.source_host, now, credentials.username, reliable=reliable):
            return None
        return credentials

    def _judge(
        self,
        request: Request,
        peer: Peer,
        now: float,
        credentials: digest.Credentials,
        line: LineInfo | None,
        proxy: bool,
    ) -> tuple[LineInfo | None, Response | None]:
        """`authenticate`'s verdict on `credentials` once the login's line (None: unknown) is
        read."""
        login = credentials.username
        reliable = peer.reliable
        # An unknown login is checked against a random password: the same work, the same 401.
        password = line.password if line is not None else secrets.token_hex(16)
        verdict = digest.verify(
            credentials,
            request.method,
            password,
            now,
            self.secret,
            self.nonce_lifetime,
            realm=self.realm,
            request_uri=request.uri,
            counts=self.counts,
        )
        if (
            line is not None
            and verdict is not digest.Verdict.BAD
            and not line.admits(peer.source_host)
        ):
            self.refusals.record(
                "security: line used from outside its allowed addresses",
                "outside the allowed addresses",
                f"{peer.transport}:{peer.source_host}",
                login=login,
            )
            self._event("sip_address_refused")
            verdict = digest.Verdict.BAD
        if verdict is digest.Verdict.OK and line is not None:
            self.guard.success(peer.source_host, login, reliable=reliable)
            return line, None
        if verdict is digest.Verdict.STALE and line is not None:
            return None, self.challenge(request, now, stale=True, proxy=proxy)
        if verdict is digest.Verdict.REPLAY and line is not None:
            # Right digest, used before: a captured header replayed, or the client's requests
            # overtook each other. Not a guess, so no failure is counted; a real client
            # answers the fresh nonce, a replayer cannot.
            self.refusals.record(
                "security: replayed digest credentials refused",
                "replayed digest",
                f"{peer.transport}:{peer.source_host}",
                login=login,
                method=request.method,
            )
            self._event("sip_digest_replay")
            return None, self.challenge(request, now, stale=True, proxy=proxy)
        ban = self.guard.failure(peer.source_host, now, login, reliable=reliable)
        if ban is not None:
            # Through the summary too: forged UDP sources could make a ban every 10 packets.
            self.refusals.record(
                "security: source ignored after repeated authentication failures",
                "banned" if ban.login is None else "login banned",
                f"{peer.transport}:{peer.source_host}",
                login=ban.login,
                seconds=self.guard.ban_seconds,
            )
            self._event("sip_auth_ban")
        return None, self.challenge(request, now, proxy=proxy)

    def _event(self, kind: str) -> None:
        if self.security_event is not None:
            self.security_event(kind)

    async def register(self, request: Request, peer: Peer, now: float) -> Response | None:
        line, refusal = await self.authenticate(request, peer, now)
        if line is None:
            return refusal
        bound = self._bind(request, peer, now, line)
        if isinstance(bound, Response):
            return bound
        await self._mirror(line, bound, now)
        return self._ok(request, bound, now)

    def register_at_once(
        self, request: Request, peer: Peer, now: float, answer: Callable[[Response], None]
    ) -> bool:
        """`register` without a task, when nothing needs awaiting: the login's line is in the
        directory's cache and bindings go to a `store` (whose commit `answer` waits for, as
        `register`'s response does). `answer` is called with the response, now or after the
        commit, or not at all (the source is ignored; the commit failed, as `register` raises
        then). Returns False, having done nothing, when `register` must be awaited instead.

        One task per REGISTER was a large part of a REGISTER's cost (issue 17): under load
        nearly every line is cached, and its commit joins one already under way.
        """
        store = self.store
        if store is None:
            return False
        found = self._credentials_of(request, peer, now, False)
        if not isinstance(found, digest.Credentials):
            if found is not None:
                answer(found)
            return True
        cached, line = self.directory.cached_line(found.username)
        if not cached:
            # The guard was asked, which changes nothing: `register` asks again.
            return False
        line, refusal = self._judge(request, peer, now, found, line, False)
        if line is None:
            if refusal is not None:
                answer(refusal)
            return True
        bound = self._bind(request, peer, now, line)
        if isinstance(bound, Response):
            answer(bound)
            return True

        def committed(error: BaseException | None) -> None:
            if error is None:
                answer(self._ok(request, bound, now))

        store.submit(line.line_id, self._stored(bound, now), committed)
        return True

    def _bind(
        self, request: Request, peer: Peer, now: float, line: LineInfo
    ) -> Response | tuple[Binding, ...]:
        """Apply an authenticated REGISTER (RFC 3261 §10.3 from step 4): the refusal, or the
        line's bindings now, to be stored before `_ok` answers with them."""
        to_uri = request.to.uri
        if not isinstance(to_uri, SipUri) or to_uri.user != line.login:
            return make_response(request, 403, "Forbidden (To does not match the credentials)")
        result = self.bindings.apply(
            line.login, request, now, (peer.host, peer.port), peer.transport
        )
        if result.outcome is Outcome.INTERVAL_TOO_BRIEF:
            return make_response(
                request, 423, headers=[("Min-Expires", str(self.bindings.min_expires))]
            )
        if result.outcome is not Outcome.OK:
            return make_response(request, result.status, result.reason or None)
        for binding in result.bindings:
            self._peers[(line.login, binding.key)] = peer
        self._made_with[line.login] = _credentials(line)
        self._presence(line.login, line.account_id, line.line_id, now, result.bindings)
        # A phone refreshes its registration every few minutes: only a new or moved contact is
        # news for the operator (a line per refresh was most of the log of a quiet PBX).
        if result.changed:
            log.info("registered", extra=_registered(line, result.bindings, peer))
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("registration refreshed", extra=_registered(line, result.bindings, peer))
        return result.bindings

    def _ok(self, request: Request, bindings: tuple[Binding, ...], now: float) -> Response:
        """The 200 of a REGISTER whose `bindings` (as of `now`) are stored."""
        contacts = [
            ("Contact", f"<{binding.key}>;expires={binding.remaining(now)}") for binding in bindings
        ]
        return make_response(request, 200, headers=[*contacts, ("Date", self._date_now())])

    def _date_now(self) -> str:
        """The Date header of now: formatted once a second, not once per 200 (strftime and
        the time zone's conversion were ~3 % of the switch's CPU under REGISTER load)."""
        wall = self.wall()
        second = int(wall.timestamp())
        if second != self._date[0]:
            self._date = (second, _http_date(wall))
        return self._date[1]

    def _stored(self, bindings: tuple[Binding, ...], now: float) -> list[StoredBinding]:
        wall = self.wall()
        return [
            StoredBinding(
                b.key,
                b.user_agent,
                f"{b.transport}:{b.source[0]}:{b.source[1]}",
                wall + dt.timedelta(seconds=max(0.0, b.expires_at - now)),
            )
            for b in bindings
        ]

    async def _mirror(self, line: LineInfo, bindings: tuple[Binding, ...], now: float) -> None:
        """Store the line's bindings before the 200 goes out: a phone told it is registered
        stays reachable after a crash of the switch (restored by `restore`)."""
        rows = self._stored(bindings, now)
        if self.store is not None:
            await self.store.save(line.line_id, rows)
            return
        await self.directory.save_registration(
            line.line_id,
            [(r.contact, r.user_agent, r.source, r.expires_at) for r in rows],
            self.wall(),
        )

    async def restore(self, now: float) -> int:
        """Ring again at once what was registered before a restart (the unexpired bindings
        stored by `_mirror`); the ones a restarted switch cannot reach are deleted, so the
        cabinet does not call them registered. Returns how many were restored.

        UDP bindings are rung where the REGISTER came from, as before. A TCP/TLS binding's
        connection died with the old process: it is rung by opening a connection to its
        Contact, which only reaches the phone when the Contact is the address the phone
        registered from (no NAT between); others are dropped until the phone registers again
        (docs/decisions.md).
        """
        if self.store is None:
            return 0
        wall = self.wall()
        restored, unusable = 0, []
        try:
            loaded = await self.store.load()
        except Exception:
            # A switch without its stored bindings still serves: phones come back as they
            # register again, as before bindings were stored.
            log.exception("stored registrations not loaded")
            return 0
        for stored in loaded:
            peer, uri = _reachable(stored)
            if peer is None or uri is None:
                unusable.append(stored.row_id)
                continue
            binding = _stored_binding(stored, peer, uri, now, wall)
            if self.bindings.restore(stored.login, binding):
                self._peers[(stored.login, str(uri))] = peer
                restored += 1
        await self.store.drop(unusable)
        # A restored binding was made with the password the line had when the switch stopped;
        # a password changed meanwhile dropped the stored rows (`regenerate_secret`), so the
        # current one is the one these bindings stand for.
        for login in {stored.login for stored in loaded} - set(self._made_with):
            line = await self.directory.line(login)
            if line is not None:
                self._made_with[login] = _credentials(line)
        for login in {stored.login for stored in loaded}:
            made = self._made_with.get(login)
            if made is not None:
                self._presence(login, made[0], made[1], now)
        log.info(
            "registrations restored",
            extra={"bindings": restored, "dropped_unreachable": len(unusable)},
        )
        return restored

    async def adopt(self, line_id: int, stored: Sequence[StoredBinding], now: float) -> int:
        """Another node committed this line's bindings (several nodes behind a front proxy):
        they replace what this node held for it, so a call landing here rings the phone where
        it registered. Returns how many are ringable from here."""
        login = (await self.directory.line_logins([line_id])).get(line_id)
        if login is None:
            return 0
        wall = self.wall()
        self.bindings.forget(login)
        for key in [key for key in self._peers if key[0] == login]:
            del self._peers[key]
        adopted = 0
        for row in stored:
            peer, uri = _reachable(row)
            remaining = (row.expires_at - wall).total_seconds()
            if peer is None or uri is None or remaining <= 0:
                continue
            binding = _stored_binding(row, peer, uri, now, wall)
            if self.bindings.restore(login, binding):
                self._peers[(login, str(uri))] = peer
                adopted += 1
        self._arm_expiry()
        return adopted

    async def revoke_changed(self, account_id: int) -> int:
        """An account's configuration changed: drop the registrations of its lines whose
        password changed or that were deleted since the phone registered (SIP-1: a
        regenerated password cuts the phone off now, not at its registration's expiry).
        Returns how many lines lost their registrations."""
        revoked = 0
        bound = set(self.bindings.aors())
        for login, (owner, line_id, fingerprint) in list(self._made_with.items()):
            if login not in bound:
                del self._made_with[login]  # expired or unregistered: nothing to revoke
                continue
            if owner != account_id:
                continue
            line = await self.directory.line(login)
            if line is not None and _credentials(line) == (owner, line_id, fingerprint):
                continue
            if self._made_with.get(login) != (owner, line_id, fingerprint):
                continue  # registered again (with the new password) while we were reading
            del self._made_with[login]
            dropped = self.bindings.forget(login)
            for binding in dropped:
                self._peers.pop((login, binding.key), None)
            self._presence(login, owner, line_id, asyncio.get_running_loop().time())
            if self.store is not None:
                await self.store.save(line_id, [])
            revoked += 1
            log.info(
                "registrations revoked: line credentials changed",
                extra={"login": login, "bindings": len(dropped), "deleted": line is None},
            )
        return revoked

    def _presence(
        self,
        login: str,
        account_id: int,
        line_id: int,
        now: float,
        current: tuple[Binding, ...] | None = None,
    ) -> None:
        """Tell `presence` when the login's registration appeared or ended at `now`
        (`current`: the login's bindings at `now`, when the caller has them)."""
        if current is None:
            current = self.bindings.current(login, now)
        if current:
            self._watch(login, max(b.expires_at for b in current))
            self._arm_expiry()
            if login not in self._present:
                self._present[login] = (account_id, line_id)
                self._tell(account_id, line_id, True)
        elif self._present.pop(login, None) is not None:
            self._tell(account_id, line_id, False)

    def _tell(self, account_id: int, line_id: int, registered: bool) -> None:
        if self.presence is not None:
            self.presence(account_id, line_id, registered)

    def _watch(self, login: str, end: float) -> None:
        """Have the expiry timer look at `login` by `end`. A refresh moves the end later, and
        the entry already due earlier looks again then (`_expired`), so the heap holds about
        one entry per registered line, not one per REGISTER (at 2,000 REGISTER/s an hour of
        refreshes was millions of entries)."""
        due = self._due.get(login)
        if due is None or end < due:
            heapq.heappush(self._ends, (end, login))
            self._due[login] = end

    def _arm_expiry(self) -> None:
        if not self._ends or self._ends[0][0] == self._expiry_at:
            return
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_at = when = self._ends[0][0]
        self._expiry = asyncio.get_running_loop().call_at(when, self._expired)

    def _expired(self) -> None:
        """The timer at the first binding's end: the lines left without bindings are told."""
        self._expiry = self._expiry_at = None
        now = asyncio.get_running_loop().time()
        while self._ends and self._ends[0][0] <= now:
            end, login = heapq.heappop(self._ends)
            if self._due.get(login) == end:
                del self._due[login]
            found = self._present.get(login)
            if found is None:
                continue
            current = self.bindings.current(login, now)
            if current:  # refreshed since: looked at again at its new end
                self._watch(login, max(b.expires_at for b in current))
            else:
                self._presence(login, *found, now, current)
        self._arm_expiry()

    def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = self._expiry_at = None

    def locations(self, login: str, line_id: int, now: float) -> list[Location]:
        """Where a line can be rung now (newest registration first)."""
        found = []
        for binding in self.bindings.current(login, now):
            uri = binding.uri
            if not isinstance(uri, SipUri):
                continue
            peer = self._peers.get((login, binding.key))
            if peer is None:
                peer = Peer(binding.transport, binding.source[0], binding.source[1])
            found.append(Location(line_id, login, uri, peer))
        return found


def _registered(line: LineInfo, bindings: tuple[Binding, ...], peer: Peer) -> dict[str, object]:
    return {"login": line.login, "contacts": len(bindings), "source": f"{peer.host}:{peer.port}"}


def _credentials(line: LineInfo) -> tuple[int, int, bytes]:
    """What a binding depends on: its line's account, id and a digest of its password (the
    password itself is not kept beside the bindings)."""
    return line.account_id, line.line_id, hashlib.sha256(line.password.encode()).digest()


def _stored_binding(
    stored: StoredBinding, peer: Peer, uri: SipUri, now: float, wall: dt.datetime
) -> Binding:
    """A stored binding as the registrar holds it: its expiry on the loop's clock, no
    Call-ID or CSeq (the phone's next REGISTER, whatever they are, replaces it)."""
    remaining = (stored.expires_at - wall).total_seconds()
    return Binding(
        Address(uri=uri),
        now + remaining,
        "",
        0,
        (peer.host, peer.port),
        peer.transport,
        stored.user_agent,
    )


def _reachable(stored: StoredBinding) -> tuple[Peer | None, SipUri | None]:
    """Where a stored binding can be rung after a restart, and its contact; (None, None) when
    it cannot (see `Registrar.restore`)."""
    try:
        uri = parse_uri(stored.contact)
        host, port = stored.address
    except (ParseError, ValueError):
        return None, None
    if not isinstance(uri, SipUri):
        return None, None
    transport = stored.transport
    if transport == "udp":
        return Peer("udp", host, port), uri
    if uri.host != host:
        return None, uri
    default = 5061 if transport == "tls" else 5060
    return Peer(transport, uri.host, uri.port or default), uri


def _http_date(wall: dt.datetime) -> str:
    return wall.astimezone(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
