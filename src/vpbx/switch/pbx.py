"""The transaction user of the PBX: registrar, OPTIONS, calls, and requests within dialogs.

Calls to a virtual number are accepted only from the account's trunks (SIP-4); anything else
asking for a virtual number gets 403, a number of a disabled account 403 too, and a trunk asking
for a number nobody has 404. Until the scenario engine drives calls, a call is routed by the
number's first enabled rule to the first Forward operation of its scenario, and rings the
registered SIP lines of the employees (or group members) it names. Registered phones place calls
after a 407 digest challenge: to an extension of their account (employee or group), or to an
outside number through the outbound trunk of the line's caller-ID number (or the account's
first), showing the line's caller ID (SIP-3); incoming-only lines cannot call out.

EMP-4 on these calls (docs/decisions.md): the employee called takes an internal call only with
his call status on, inside his schedule and with a free line on his phone; the employee calling
out to an outside number must be inside his schedule; both calls hold a line of the phones they
use while they last (the distribution sees those phones busy).

Who takes these calls is read from the account's `ConfigSnapshot` (its employees, groups,
extensions, numbers and scenarios), the same cached copy the call logic reads: a change saved
in the cabinet drops it, so it reaches the next call (GRP-3).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from vpbx.domain.entities.scenarios import Forward
from vpbx.domain.switch_records import CallRecord, StepRecord
from vpbx.domain.toll_fraud import Refusal
from vpbx.media.dtmf import DtmfDigit, DtmfParseError, parse_dtmf_info
from vpbx.scenario.distribution.state import ClaimMode, ClaimStatus, phone_key
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, FmcLineInfo, digits_of
from vpbx.sip import sdp
from vpbx.sip.dialog import DialogId, incoming_dialog_id
from vpbx.sip.errors import ParseError
from vpbx.sip.message import Headers, Request, Response, make_response
from vpbx.sip.replaces import Replaces, parse_replaces, replaces_of
from vpbx.sip.transaction import CancelReceived, TransactionKey
from vpbx.sip.uri import SipUri, TelUri, parse_address
from vpbx.switch.b2bua import (
    B2BCall,
    CallController,
    CallState,
    Consultation,
    Contact,
    LegRole,
    Target,
)
from vpbx.switch.caller_id import CallerIdPicker
from vpbx.switch.clock import WallClock, utc_now
from vpbx.switch.directory import Directory, LineInfo, NumberInfo
from vpbx.switch.endpoint import SipEndpoint
from vpbx.switch.media import MediaPlant, negotiate, offers_srtp
from vpbx.switch.plain_calls import refused_call_record
from vpbx.switch.registrar_service import Registrar
from vpbx.switch.snapshots import schedule_active
from vpbx.switch.toll_guard import TollGuard
from vpbx.transport.sip import Peer

log = logging.getLogger("vpbx.switch")

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, REFER, NOTIFY"
DTMF_INFO_TYPES = frozenset({"application/dtmf-relay", "application/dtmf"})
#: reason phrases of refusals (docs/decisions.md: a disabled account, EMP-4)
ACCOUNT_DISABLED = "Forbidden (account disabled)"
OUTSIDE_SCHEDULE = "Forbidden (outside the employee's schedule)"
CALLER_ID_DENIED = "Forbidden (caller ID not allowed)"
FMC_REFUSED = "Forbidden (FMC line blocked, switched off or unassigned)"
FMC_BUSY = "Busy Here (every channel of the FMC line is in use)"
#: FMC-2: the calls report's session type of a call placed from an FMC line
FMC_SESSION = "Исходящий с FMC"


class PhoneLines(Protocol):
    """Lines in use per phone, shared with the distribution (`SharedState` fits): a plain call
    holds a line of each phone it uses while it lasts."""

    async def claim(
        self, call_id: str, phone: str, lines: int, mode: ClaimMode, now: float
    ) -> ClaimStatus: ...

    async def release(self, call_id: str, phone: str) -> None: ...


class Configs(Protocol):
    """Each account's configuration snapshot (`vpbx.switch.snapshots.SnapshotCache` fits, the
    very cache the call logic reads, so one invalidation reaches both): the snapshot, and
    whether its scenarios need the caller's history (unused here)."""

    async def get(self, account_id: int) -> tuple[ConfigSnapshot, bool]: ...


def request_user(request: Request) -> str | None:
    uri = request.uri
    if isinstance(uri, SipUri):
        return uri.user
    if isinstance(uri, TelUri):
        return uri.digits
    return None


class Pbx:
    """Implements `RequestHandler` for the endpoint."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        directory: Directory,
        registrar: Registrar,
        me: Contact,
        media: MediaPlant,
        configs: Configs,
        wall: WallClock = utc_now,
    ) -> None:
        self.endpoint = endpoint
        #: dates calls and report rows; SIP and RTP timing run on the loop's clock
        self.wall = wall
        self.media = media
        self.directory = directory
        #: the accounts' employees, groups, extensions, numbers, scenarios and schedules
        self.configs = configs
        self.registrar = registrar
        self.me = me
        self.calls: dict[TransactionKey, B2BCall] = {}
        #: calls taken since the start (the calls counter of /metrics)
        self.calls_started = 0
        #: the call logic of calls to virtual numbers (the scenario engine's runner); None
        #: rings the first Forward of the number's first rule (tests of the switch alone)
        self.controllers: ControllerFactory | None = None
        #: the call logic of internal calls to a group's extension (GRP-1: through the group's
        #: distribution); None rings the members' phones at once (tests of the switch alone)
        self.group_calls: GroupCallFactory | None = None
        #: told of every call that ended without call logic (internal and outgoing calls),
        #: for the calls report
        self.plain_call_ended: Callable[[B2BCall], None] | None = None
        #: told when such a call starts ringing (its row is written from then on)
        self.plain_call_started: Callable[[B2BCall], None] | None = None
        #: the toll-fraud guard asked before every leg to an outside number (None: unguarded,
        #: tests of the switch alone)
        self.toll_guard: TollGuard | None = None
        #: told of an outgoing call the guard refused (its row in the calls report)
        self.call_refused: Callable[[CallRecord], None] | None = None
        #: CID-1..3: the number each outgoing call of a line shows (without a history source
        #: the modes that need one fall back to the line's number)
        self.caller_ids = CallerIdPicker(None)
        #: lines in use per phone, shared with the distribution (None: not counted)
        self.lines: PhoneLines | None = None
        #: the phone lines each plain call holds (call id → phone key → employee)
        self._held: dict[str, dict[str, int]] = {}
        self.by_dialog: dict[DialogId, tuple[B2BCall, LegRole]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("request handling failed", exc_info=task.exception())

    async def stop(self) -> None:
        self.registrar.stop()
        for call in list(self.calls.values()):
            call.hangup_all()
        for task in list(self._tasks):
            task.cancel()
        if self.toll_guard is not None:
            await self.toll_guard.stop()
        self.media.close()

    # -- RequestHandler ------------------------------------------------------------------------

    def on_request(self, request: Request, peer: Peer, key: TransactionKey) -> None:
        method = request.method
        if request.to_tag is not None:
            self._in_dialog(request, peer, key)
        elif method == "REGISTER":
            # A task only when the registrar must await something (a line to read): nearly
            # every REGISTER is answered from here, its 200 once its binding is committed.
            if not self.registrar.register_at_once(
                request, peer, self.endpoint.now(), functools.partial(self.endpoint.respond, key)
            ):
                self._spawn(self._register(request, peer, key))
        elif method == "OPTIONS":
            headers = [("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "")]
            # RFC 3261 §8.2.6.2: a UAS adds a To tag to its responses outside a dialog.
            answer = make_response(request, 200, headers=headers, to_tag=secrets.token_hex(4))
            self.endpoint.respond(key, answer)
        elif method == "INVITE":
            self._spawn(self._invite(request, peer, key))
        elif method in ("BYE", "INFO", "UPDATE"):
            self.endpoint.respond(key, make_response(request, 481))
        else:
            self.endpoint.respond(key, make_response(request, 405, headers=[("Allow", ALLOW)]))

    def on_cancel(self, event: CancelReceived[Peer]) -> None:
        call = self.calls.get(event.invite_key) if event.invite_key is not None else None
        self.endpoint.answer_cancel(event, to_tag=call.tag if call is not None else None)
        # Before our 200 the CANCEL ends the call, even with a phone already answered (an
        # operator message still playing to him); after it, a CANCEL changes nothing (RFC 3261).
        if call is not None and not call.caller_up and call.state is not CallState.ENDED:
            call.caller_cancelled()

    def on_ack(self, request: Request, peer: Peer) -> None:
        dialog_id = incoming_dialog_id(request)
        found = self.by_dialog.get(dialog_id) if dialog_id is not None else None
        if found is not None:
            call, role = found
            call.acked(role)

    def on_stray_response(self, response: Response, peer: Peer) -> None:
        log.debug("stray response", extra={"status": response.status})

    # -- registrar -----------------------------------------------------------------------------

    async def _register(self, request: Request, peer: Peer, key: TransactionKey) -> None:
        response = await self.registrar.register(request, peer, self.endpoint.now())
        if response is not None:
            self.endpoint.respond(key, response)

    # -- calls ---------------------------------------------------------------------------------

    async def _invite(self, request: Request, peer: Peer, key: TransactionKey) -> None:
        if request.headers.get_all("Replaces"):
            self._invite_replacing(request, key)
            return
        called = request_user(request)
        number = await self.directory.number(called) if called else None
        if number is not None:
            trunks = await self.directory.trunk_for_source(peer.source_host)
            if not any(t.account_id == number.account_id for t in trunks):
                log.warning(
                    "call to a virtual number from outside its trunks refused",
                    extra={"number": called, "source": peer.source_host},
                )
                self.endpoint.respond(key, make_response(request, 403))
                return
            if not number.account_enabled:
                log.info("call to a disabled account refused", extra={"number": called})
                self.endpoint.respond(key, make_response(request, 403, ACCOUNT_DISABLED))
                return
            if self.controllers is not None:
                await self._start_controlled_call(number, request, peer, key, self.controllers)
                return
            config = await self._config(number.account_id)
            targets = await self._targets(_forwarded_phones(config, number.number))
            await self._start_call(number.account_id, request, peer, key, targets)
            return
        if await self._from_trunk(request, peer):
            if await self._call_from_fmc(request, peer, key, called or ""):
                return
            # A provider asks for a number nobody here has: it is not a phone to challenge.
            log.info("trunk call to an unassigned number", extra={"number": called})
            self.endpoint.respond(key, make_response(request, 404, "Not Found (no such number)"))
            return
        await self._call_from_line(request, peer, key, called or "")

    async def _from_trunk(self, request: Request, peer: Peer) -> bool:
        """A request from a trunk's address that carries no phone's credentials (a phone in the
        provider's network answering our challenge is still a phone)."""
        if request.headers.get("Proxy-Authorization") is not None:
            return False
        return bool(await self.directory.trunk_for_source(peer.source_host))

    async def outbound_target(
        self,
        account_id: int,
        number: str,
        *,
        call_id: str,
        caller_id: str,
        employee_id: int | None,
        source: str,
        trunk_id: int | None = None,
        line: str = "",
    ) -> Target | Refusal | None:
        """An outside number through the account's outbound trunk, admitted by the toll-fraud
        guard: the one way every leg to the PSTN is made.

        `trunk_id` (the virtual number's `trunk_id`) picks the trunk when it names an enabled
        outbound trunk of the account, else the account's first one is taken; None when the
        account has none. `caller_id` is what the provider is shown (XFR-2: a virtual number of
        the account); `source` and `line` say who dials, for the guard's log (line, forward,
        employee_phone…). An admitted target holds the guard's lease (`Target.lease`), which the
        call frees when the leg ends; a `Refusal` holds none.
        """
        trunk = await self.directory.outbound_trunk(account_id, trunk_id)
        if trunk is None:
            return None
        lease = ""
        if self.toll_guard is not None:
            admitted = await self.toll_guard.admit(
                account_id, call_id, number, line=line, source=source
            )
            if isinstance(admitted, Refusal):
                return admitted
            lease = admitted.id
        return Target(
            uri=SipUri(host=trunk.host, port=trunk.port, user=number),
            peer=Peer(trunk.transport, trunk.host, trunk.port),
            to=f"<sip:{number}@{trunk.host}>",
            label=f"trunk {trunk.name}: {number}",
            caller_id=caller_id,
            credentials=(trunk.username, trunk.password) if trunk.username else None,
            employee_id=employee_id,
            lease=lease,
        )

    async def _call_from_line(
        self, request: Request, peer: Peer, key: TransactionKey, called: str
    ) -> None:
        """A call placed by a registered phone: an extension of its account, or an outside
        number through the account's outbound trunk with the line's caller ID (SIP-3)."""
        line, refusal = await self.registrar.authenticate(
            request, peer, self.endpoint.now(), proxy=True
        )
        if line is None:
            if refusal is not None:
                self.endpoint.respond(key, refusal)
            return
        if not await self.directory.account_enabled(line.account_id):
            log.info("call from a line of a disabled account refused", extra={"login": line.login})
            self.endpoint.respond(key, make_response(request, 403, ACCOUNT_DISABLED))
            return
        if line.encryption == "srtp" and not offers_srtp(request.body):
            # The line requires SRTP: a call offered in the clear is not placed at all.
            log.info("plain rtp offer from an srtp line refused", extra={"login": line.login})
            warning = '304 vpbx "the line requires SRTP (RTP/SAVP with a=crypto)"'
            self.endpoint.respond(key, make_response(request, 488, headers=[("Warning", warning)]))
            return
        # 88 + an extension (at most 5 digits, EMP-2) is a pickup; longer is an outside number
        # dialled with the domestic 8: 8-800…, 8-809…
        if 2 < len(called) <= 7 and called.startswith("88"):
            await self._pick_up(line.account_id, line.line_id, request, peer, key, called[2:])
            return
        config = await self._config(line.account_id)
        caller = _caller_of(_employee_of_line(config, line.line_id), line)
        owner = config.extensions.get(called)
        if owner is not None and owner[0] == "group" and self.group_calls is not None:
            await self._group_call(line.account_id, request, peer, key, called, caller, owner[1])
            return
        employees = _employees_of_extension(config, called)
        if employees:
            await self._internal_call(
                line.account_id, request, peer, key, called, caller, config, employees
            )
            return
        await self._outside_call(line, request, peer, key, called, caller, config)

    async def _outside_call(
        self,
        line: LineInfo,
        request: Request,
        peer: Peer,
        key: TransactionKey,
        called: str,
        caller: Caller,
        config: ConfigSnapshot,
        call_id: str | None = None,
        session_type: str = "",
    ) -> None:
        """A line's call to an outside number (SIP-3, CID-1..3, the toll-fraud guard)."""
        # An outside number: 10 to 15 digits, or "+" and E.164 (judged by the toll-fraud guard).
        digits = called.removeprefix("+")
        if not (digits.isdigit() and 10 <= len(digits) <= 15):
            self.endpoint.respond(key, make_response(request, 404))
            return
        if line.mode == "in_only":
            log.info(
                "outgoing call from an incoming-only line refused", extra={"login": line.login}
            )
            self.endpoint.respond(
                key, make_response(request, 403, "Forbidden (line is incoming only)")
            )
            return
        if caller.employee_id is not None and not self._in_schedule(config, caller.schedule_id):
            log.info("outgoing call outside the employee's schedule", extra={"login": line.login})
            self.endpoint.respond(key, make_response(request, 403, OUTSIDE_SCHEDULE))
            return
        choice = await self.caller_ids.choose(line, config, caller.employee_id, called)
        if choice.refusal:
            log.info(
                "outgoing call refused by the caller-ID rules",
                extra={"login": line.login, "reason": choice.refusal},
            )
            why = StepRecord(
                self.wall(), "caller_id", choice.refusal, {"mode": line.caller_id_mode}
            )
            self._refuse_outgoing(
                request, key, line.account_id, called, caller, CALLER_ID_DENIED, why, session_type
            )
            return
        caller_id, trunk_id = line.login, None
        if choice.number is not None:
            caller_id, trunk_id = choice.number.number, choice.number.trunk_id
        call_id = call_id or secrets.token_hex(8)
        target = await self.outbound_target(
            line.account_id,
            called,
            call_id=call_id,
            caller_id=caller_id,
            employee_id=caller.employee_id,
            source="line",
            trunk_id=trunk_id,
            line=line.login,
        )
        if target is None:
            self.endpoint.respond(key, make_response(request, 503, "No outbound trunk"))
            return
        if isinstance(target, Refusal):
            why = StepRecord(
                self.wall(),
                "toll_fraud",
                target.text,
                {"rule": target.rule.value, "e164": target.number},
            )
            self._refuse_outgoing(
                request, key, line.account_id, called, caller, target.reason, why, session_type
            )
            return
        await self._start_call(
            line.account_id,
            request,
            peer,
            key,
            [(target, 120.0)],
            "outgoing",
            called,
            caller,
            call_id,
            choice.number.id if choice.number is not None else None,
            session_type,
        )

    async def _fmc_line(self, request: Request, peer: Peer) -> tuple[int, FmcLineInfo] | None:
        """The account and FMC line whose SIM places this trunk call (its number in From)."""
        uri = request.from_.uri
        caller = digits_of(uri.user or "") if isinstance(uri, SipUri) else ""
        if not caller:
            return None
        accounts = {
            trunk.account_id for trunk in await self.directory.trunk_for_source(peer.source_host)
        }
        for account_id in sorted(accounts):
            config = await self._config(account_id)
            line_id = config.fmc_by_number.get(caller)
            if line_id is not None:
                return account_id, config.fmc_lines[line_id]
        return None

    async def _call_from_fmc(
        self, request: Request, peer: Peer, key: TransactionKey, called: str
    ) -> bool:
        """FMC-2: the trunk brings a call from the SIM of an FMC line (its mobile number in
        From). It is the line's employee calling, as from a SIP line: an extension of the
        account, or an outside number through the outbound trunk showing the line's caller ID
        (session type «Исходящий с FMC»). The line's channels are counted with the calls that
        ring it: none free, 486. False: the caller is no FMC line of the trunk's accounts."""
        found = await self._fmc_line(request, peer)
        if found is None:
            return False
        account_id, fmc = found
        if not await self.directory.account_enabled(account_id):
            self.endpoint.respond(key, make_response(request, 403, ACCOUNT_DISABLED))
            return True
        config = await self._config(account_id)
        owner = config.fmc_owner(fmc.id)
        refusal: str | None
        if owner is None:
            caller = Caller(fmc.number)
            refusal = fmc.refusal() or f"FMC-линия {fmc.number} не закреплена за сотрудником"
        else:
            employee, phone = owner
            caller = Caller(employee.extension or fmc.number, employee.id, employee.schedule_id)
            refusal = fmc.refusal()
        if refusal is not None or owner is None:
            log.info("call from an fmc line refused", extra={"fmc": fmc.number, "why": refusal})
            why = StepRecord(self.wall(), "fmc", refusal or "", {"fmc_line_id": fmc.id})
            self._refuse_outgoing(
                request, key, account_id, called, caller, FMC_REFUSED, why, FMC_SESSION
            )
            return True
        call_id = secrets.token_hex(8)
        # the SIM's channels are its phone's lines (`ConfigSnapshot.build`), shared with the
        # distribution under the phone's key; a SIP line id means nothing here
        channel = EmployeePhone(employee.id, 0, phone.ring_timeout, phone.id, phone.lines)
        if not await self._claim(call_id, account_id, channel):
            log.info("call from an fmc line with no free channel", extra={"fmc": fmc.number})
            self.endpoint.respond(key, make_response(request, 486, FMC_BUSY))
            return True
        try:
            # the call holds the channel from here on (released when it ends); the caller's
            # phone is not claimed again below (`caller.phone` is None)
            await self._place_fmc_call(
                account_id, fmc, config, caller, request, peer, key, called, call_id
            )
        finally:
            if not any(call.id == call_id for call in self.calls.values()):
                self._release(call_id)  # refused before the call was made
        return True

    async def _place_fmc_call(
        self,
        account_id: int,
        fmc: FmcLineInfo,
        config: ConfigSnapshot,
        caller: Caller,
        request: Request,
        peer: Peer,
        key: TransactionKey,
        called: str,
        call_id: str,
    ) -> None:
        """The FMC line's call to `called`, its channel held under `call_id`."""
        owner = config.extensions.get(called)
        if owner is not None and owner[0] == "group" and self.group_calls is not None:
            await self._group_call(
                account_id, request, peer, key, called, caller, owner[1], call_id
            )
            return
        employees = _employees_of_extension(config, called)
        if employees:
            await self._internal_call(
                account_id,
                request,
                peer,
                key,
                called,
                caller,
                config,
                employees,
                call_id,
                FMC_SESSION,
            )
            return
        # FMC-1: the line shows its own caller ID (fixed, by the CID-3 rules); without one, the
        # SIM's own number, as a SIP line without one shows its login
        line = LineInfo(account_id, 0, fmc.number, "", "in_out", fmc.caller_id_number_id)
        await self._outside_call(
            line, request, peer, key, called, caller, config, call_id, FMC_SESSION
        )

    async def _internal_call(
        self,
        account_id: int,
        request: Request,
        peer: Peer,
        key: TransactionKey,
        called: str,
        caller: Caller,
        config: ConfigSnapshot,
        employees: list[EmployeeInfo],
        call_id: str | None = None,
        session_type: str = "",
    ) -> None:
        """An extension dialled: the SIP phones of the employees who take calls now (call status
        on, inside their schedule, a free line), the caller's own phone excepted."""
        takers = []
        for employee in employees:
            if not employee.calls_enabled or employee.id == caller.employee_id:
                continue
            if self._in_schedule(config, employee.schedule_id):
                takers.append(employee)
        phones = _sip_phones(takers)
        if not phones:
            self.endpoint.respond(
                key, make_response(request, 480, "Temporarily Unavailable (not taking calls)")
            )
            return
        call_id = call_id or secrets.token_hex(8)
        free = [p for p in phones if await self._claim(call_id, account_id, p)]
        if not free:
            self.endpoint.respond(key, make_response(request, 486, "Busy Here (no free line)"))
            return
        targets = await self._targets(free, caller_id=caller.extension)
        await self._start_call(
            account_id,
            request,
            peer,
            key,
            targets,
            "internal",
            called,
            caller,
            call_id,
            session_type=session_type,
        )

    async def _config(self, account_id: int) -> ConfigSnapshot:
        config, _needs_facts = await self.configs.get(account_id)
        return config

    def _in_schedule(self, config: ConfigSnapshot, schedule_id: int | None) -> bool:
        """EMP-4: whether the schedule is active now (none, or one not found: always)."""
        return schedule_active(config, schedule_id, self.wall())

    async def _claim(self, call_id: str, account_id: int, phone: EmployeePhone) -> bool:
        """Take a line of `phone` for the call (False: all its lines are in use)."""
        if self.lines is None:
            return True
        key = phone_key(account_id, phone.employee_id, phone.phone_id)
        status = await self.lines.claim(
            call_id, key, phone.lines, ClaimMode.DIALER, self.wall().timestamp()
        )
        if status is not ClaimStatus.OK:
            return False
        self._held.setdefault(call_id, {})[key] = phone.employee_id
        return True

    def _release(self, call_id: str, keep_employee: int | None = None) -> None:
        """Give back the lines a call holds (but those of `keep_employee`)."""
        held = self._held.get(call_id)
        if held is None or self.lines is None:
            return
        for key, employee_id in list(held.items()):
            if keep_employee is not None and employee_id == keep_employee:
                continue
            del held[key]
            self._spawn(self.lines.release(call_id, key))
        if not held:
            del self._held[call_id]

    def _refuse_outgoing(
        self,
        request: Request,
        key: TransactionKey,
        account_id: int,
        called: str,
        caller: Caller,
        reason: str,
        why: StepRecord,
        session_type: str = "",
    ) -> None:
        """403 with `reason` as the reason phrase, and the refused call's row in the report."""
        self.endpoint.respond(key, make_response(request, 403, reason))
        if self.call_refused is not None:
            record = refused_call_record(
                account_id, caller.extension, called, caller.employee_id, why, self.wall()
            )
            self.call_refused(replace(record, session_type=session_type))

    async def _pick_up(
        self,
        account_id: int,
        line_id: int,
        request: Request,
        peer: Peer,
        key: TransactionKey,
        extension: str,
    ) -> None:
        """EMP-5: 88 + extension answers a call ringing that extension (employee or group)."""
        config = await self._config(account_id)
        wanted = {e.id for e in _employees_of_extension(config, extension)}
        picker = _employee_of_line(config, line_id)
        for call in list(self.calls.values()):
            ringing = call.ringing_leg_of(wanted) if call.account_id == account_id else None
            if ringing is not None and picker is not None:
                log.info("pickup", extra={"call": call.id, "extension": extension})
                await call.pick_up(request, peer, key, ringing, picker.id)
                return
        self.endpoint.respond(key, make_response(request, 481, "Nothing ringing to pick up"))

    async def _new_call(
        self,
        account_id: int,
        request: Request,
        peer: Peer,
        key: TransactionKey,
        call_id: str | None = None,
    ) -> B2BCall | None:
        """A call with the caller's media ready; None when his offer was refused (488)."""
        call = B2BCall(
            self.endpoint,
            self.me,
            request,
            peer,
            key,
            self._ended,
            self._answered,
            self.media,
            account_id,
            clock=self.wall,
            started_at=self.wall(),
        )
        if call_id is not None:
            call.id = call_id  # the id the toll-fraud guard's lease names
        call.guard = self.toll_guard
        self.calls[key] = call
        self.calls_started += 1
        return call if await call.prepare_media() else None

    async def _start_call(
        self,
        account_id: int,
        request: Request,
        peer: Peer,
        key: TransactionKey,
        targets: list[tuple[Target, float]],
        direction: str = "incoming",
        called: str = "",
        caller: Caller | None = None,
        call_id: str | None = None,
        number_id: int | None = None,
        session_type: str = "",
    ) -> None:
        if caller is not None and caller.phone is not None and call_id is not None:
            # The caller's phone is in use while the call lasts (a line of it, if one is free).
            await self._claim(call_id, account_id, caller.phone)
        call = await self._new_call(account_id, request, peer, key, call_id)
        if call is None:
            if call_id is not None:
                self._release(call_id)
            return
        call.direction = direction
        call.called = called
        call.number_id = number_id
        call.session_type = session_type
        if caller is not None:
            call.caller_employee_id = caller.employee_id
            call.caller_extension = caller.extension
        if self.plain_call_started is not None:
            self.plain_call_started(call)
        await call.ring(targets)

    def originate(self, account_id: int, shown: str, call_id: str | None = None) -> B2BCall:
        """A call the PBX places itself (CB-1 auto-callback, API-1 CallAPI): no INVITE came
        in, its legs are all ours (`B2BCall.originated`); the call logic rings them. `shown`
        names the call's other party (its `caller`) until a leg answers."""
        call_id = call_id or secrets.token_hex(8)
        host = self.me.host
        headers = Headers(
            [
                ("From", f"<sip:{shown or 'vpbx'}@{host}>;tag={call_id}"),
                ("To", f"<sip:{shown or 'vpbx'}@{host}>"),
                ("Call-ID", f"{call_id}@{host}"),
                ("CSeq", "1 INVITE"),
            ]
        )
        request = Request("INVITE", SipUri(host=host, user=shown or None), headers)
        key = TransactionKey(call_id, "originated", "INVITE")
        call = B2BCall(
            self.endpoint,
            self.me,
            request,
            Peer("udp", host, self.me.port),
            key,
            self._ended,
            self._answered,
            self.media,
            account_id,
            id=call_id,
            clock=self.wall,
            started_at=self.wall(),
            originated=True,
            direction="outgoing",
            called=shown,
        )
        call.guard = self.toll_guard
        self.calls[key] = call
        self.calls_started += 1
        return call

    async def _start_controlled_call(
        self,
        number: NumberInfo,
        request: Request,
        peer: Peer,
        key: TransactionKey,
        factory: ControllerFactory,
    ) -> None:
        call = await self._new_call(number.account_id, request, peer, key)
        if call is not None:
            call.called = number.number
            call.controller = await factory(call, number)

    async def _group_call(
        self,
        account_id: int,
        request: Request,
        peer: Peer,
        key: TransactionKey,
        called: str,
        caller: Caller,
        group_id: int,
        call_id: str | None = None,
    ) -> None:
        """GRP-1: a group's extension dialled: the call logic rings it by its distribution
        (simultaneous lines, schedules, availability); the caller's phone holds a line."""
        assert self.group_calls is not None
        call_id = call_id or secrets.token_hex(8)
        if caller.phone is not None:
            await self._claim(call_id, account_id, caller.phone)
        call = await self._new_call(account_id, request, peer, key, call_id)
        if call is None:
            self._release(call_id)
            return
        call.direction = "internal"
        call.called = called
        call.caller_employee_id = caller.employee_id
        call.caller_extension = caller.extension
        call.controller = await self.group_calls(call, group_id)

    async def _targets(
        self, phones: list[EmployeePhone], caller_id: str = ""
    ) -> list[tuple[Target, float]]:
        """The registered contacts of the SIP-line phones, each with the phone's ring timeout
        (`caller_id`: what the phones show as the caller, e.g. the calling extension)."""
        logins = await self.directory.line_logins([p.line_id for p in phones])
        now = self.endpoint.now()
        found: list[tuple[Target, float]] = []
        for phone in phones:
            login = logins.get(phone.line_id)
            if login is None:
                continue
            for location in self.registrar.locations(login, phone.line_id, now):
                target = Target.phone(location, phone.employee_id)
                if caller_id:
                    target = replace(target, caller_id=caller_id)
                found.append((target, phone.ring_timeout))
        return found

    def _answered(self, call: B2BCall) -> None:
        """Dialogs exist once answered: index them for in-dialog requests; call a trainer.
        Said again whenever the call's legs change (a trainer, a transfer target, the target
        taking the employee's place): the index is rebuilt, so a leg that left is not found."""
        known = {d for d, (c, r) in self.by_dialog.items() if c is call}
        for dialog_id in known:
            del self.by_dialog[dialog_id]
        if call.dialog is not None:
            self.by_dialog[call.dialog.id] = (call, LegRole.CALLER)
        winner = call.winner
        if winner is not None and call.id in self._held:
            # the phones that did not answer are free again; the caller's and the winner's not
            keep = {call.caller_employee_id, winner.target.employee_id}
            held = self._held[call.id]
            for phone, employee_id in list(held.items()):
                if employee_id not in keep and self.lines is not None:
                    del held[phone]
                    self._spawn(self.lines.release(call.id, phone))
        if winner is not None and winner.dialog is not None:
            answering = winner.target.employee_id
            # (the employee answering a call the PBX placed talks to nobody yet: no trainer)
            if winner.dialog.id not in known and answering is not None and not call.originated:
                self._spawn(self._auto_trainer(call, answering))
            self.by_dialog[winner.dialog.id] = (call, LegRole.CALLEE)
        if call.trainer is not None and call.trainer.dialog is not None:
            self.by_dialog[call.trainer.dialog.id] = (call, LegRole.TRAINER)
        if call.target is not None and call.target.dialog is not None:
            self.by_dialog[call.target.dialog.id] = (call, LegRole.TARGET)

    async def _auto_trainer(self, call: B2BCall, employee_id: int) -> None:
        """TRN-1: an employee whose trainer joins every call automatically."""
        config = await self._config(call.account_id)
        employee = config.employees.get(employee_id)
        if employee is not None and employee.auto_call_trainer:
            await self.call_trainer_of(call, employee_id)

    async def call_trainer_of(self, call: B2BCall, employee_id: int) -> None:
        """TRN-1 / TALK-3: ring the trainer of `employee_id`; he joins the talk as a whisper."""
        config = await self._config(call.account_id)
        employee = config.employees.get(employee_id)
        if employee is None or employee.trainer_id is None or call.trainer_joining:
            return
        targets = await self._targets(_sip_phones(_employees(config, [employee.trainer_id])))
        if targets:
            await call.call_trainer(targets)

    async def employee_targets(
        self, account_id: int, employee_id: int
    ) -> list[tuple[Target, float]]:
        """The reachable phones of `employee_id` (his registered SIP lines), as a call to him
        rings them, though his call status is off (he asked): whom a supervisor's request from
        the live view rings (TRN-1)."""
        config = await self._config(account_id)
        employees = _employees(config, [employee_id])
        return await self._targets([p for e in employees for p in _phones_of(e)])

    async def call_supervisor(self, call: B2BCall, employee_id: int, mode: str) -> None:
        """TRN-1 from the live view: ring the supervisor's phones; he joins in `mode`."""
        if call.trainer_joining:
            return
        targets = await self.employee_targets(call.account_id, employee_id)
        if targets:
            await call.call_trainer(targets, mode)

    def call_by_id(self, call_id: str) -> B2BCall | None:
        """A call in progress by its id (None once it has ended)."""
        return next((call for call in self.calls.values() if call.id == call_id), None)

    def cut(self, call_id: str, reason: str) -> None:
        """Hang up a call by its id (the toll-fraud guard's minutes per hour are used up)."""
        for call in list(self.calls.values()):
            if call.id == call_id:
                call.cut_reason = reason
                call.hangup_all()

    def _ended(self, call: B2BCall) -> None:
        if self.toll_guard is not None:
            self.toll_guard.call_over(call.id)
        self._release(call.id)
        if call.key in self.calls and call.controller is None and self.plain_call_ended:
            self.plain_call_ended(call)
        self.calls.pop(call.key, None)
        for dialog_id in [d for d, (c, _) in self.by_dialog.items() if c is call]:
            del self.by_dialog[dialog_id]

    def _in_dialog(self, request: Request, peer: Peer, key: TransactionKey) -> None:
        dialog_id = incoming_dialog_id(request)
        found = self.by_dialog.get(dialog_id) if dialog_id is not None else None
        if found is None:
            self.endpoint.respond(key, make_response(request, 481))
            return
        call, role = found
        dialog = call.leg_dialog(role)
        if dialog is not None:
            refused = dialog.receive(request)
            if refused is not None:
                self.endpoint.respond(key, make_response(request, refused))
                return
        if request.method == "BYE":
            self.endpoint.respond(key, make_response(request, 200))
            call.on_bye(role)
        elif request.method == "INVITE":
            self._reinvite(call, role, request, key)
        elif request.method == "INFO" and request.content_type in DTMF_INFO_TYPES:
            self._info_digit(call, role, request, key)
        elif request.method == "REFER":
            self._refer(call, role, request, key)
        else:
            self.endpoint.respond(key, make_response(request, 200))

    def _refer(self, call: B2BCall, role: LegRole, request: Request, key: TransactionKey) -> None:
        """The employee's phone transfers the caller (its transfer button): RFC 3515. 202, a
        NOTIFY of 100 at once; the call logic rings the target and says how it went."""
        controller = call.controller
        if role is not LegRole.CALLEE or controller is None:
            reason = "Only the employee of a call to a virtual number can transfer it"
            self.endpoint.respond(key, make_response(request, 403, reason))
            return
        values = request.headers.get_all("Refer-To")
        if len(values) != 1:
            self.endpoint.respond(key, make_response(request, 400, "Exactly one Refer-To needed"))
            return
        try:
            uri = parse_address(values[0]).uri
            replaces = replaces_of(uri)
        except ParseError as error:
            self.endpoint.respond(key, make_response(request, 400, f"Bad Refer-To: {error}"))
            return
        user = uri.user if isinstance(uri, SipUri) else None
        if not user and replaces is None:
            self.endpoint.respond(key, make_response(request, 400, "Refer-To names no user"))
            return
        vias = request.vias
        contact = ("Contact", self.me.uri(vias[0].transport.lower() if vias else "udp"))
        self.endpoint.respond(key, make_response(request, 202, headers=[contact]))
        dialog = call.leg_dialog(role)
        winner = call.winner
        assert dialog is not None  # the request was found by it
        assert winner is not None
        call.refer = (dialog, winner.peer)
        call.notify_refer(100, "Trying")
        if replaces is not None:
            # the phone's own attended transfer: the target is the one it consulted
            found = self._consultation(call, replaces)
            log.info(
                "refer with replaces",
                extra={"call": call.id, "consultation": found.call_id, "status": found.status},
            )
            controller.replaces_asked(call, found)
            return
        assert user is not None
        assert isinstance(uri, SipUri)
        foreign = "" if self._ours(uri) else f"{user}@{uri.host}"
        if foreign and uri.port:
            foreign += f":{uri.port}"
        log.info("refer", extra={"call": call.id, "target": user, "uri": foreign})
        controller.transfer_asked(call, user, foreign)

    def _ours(self, uri: SipUri) -> bool:
        """Whether a Refer-To names this PBX (its advertised host, on a SIP port of ours or
        none): any other server is a SIP URI of another PBX (XFR-3)."""
        ports = (None, self.me.port, self.me.tls_port)
        return (
            uri.host.strip("[]").lower() == self.me.host.strip("[]").lower() and uri.port in ports
        )

    def _consultation(self, call: B2BCall, replaces: Replaces) -> Consultation:
        """The call an attended transfer's Replaces names (RFC 3891 §3: its to-tag is our tag,
        its from-tag the phone's): one the same employee's phone placed through the PBX to an
        employee, who answered. Otherwise the status the phone is notified (docs/decisions.md):
        481 no such dialog, 486 early-only (we index confirmed dialogs only), 403 a call of
        somebody else, 501 a consultation we do not hand over (an outside number, a call the
        phone took rather than placed)."""
        found = self.by_dialog.get(replaces.dialog_id)
        if found is None:
            return Consultation(status=481, reason="Call/Transaction Does Not Exist")
        if replaces.early_only:
            return Consultation(status=486, reason="Busy Here (the dialog is confirmed)")
        other, role = found
        employee = call.winner.target.employee_id if call.winner is not None else None
        if other is call or other.account_id != call.account_id:
            return Consultation(status=403, reason="Forbidden (not a call of this phone)")
        if role is LegRole.CALLER and other.caller_employee_id != employee:
            return Consultation(status=403, reason="Forbidden (not a call of this phone)")
        callee = other.winner
        target = callee.target if callee is not None else None
        if role is not LegRole.CALLER or target is None or target.employee_id is None:
            reason = "Not Implemented (only a call this phone placed to an employee)"
            return Consultation(status=501, reason=reason)
        return Consultation(other.id, target.employee_id)

    def _invite_replacing(self, request: Request, key: TransactionKey) -> None:
        """An INVITE with Replaces (RFC 3891 §3) is never carried out (docs/decisions.md):
        400 for a bad header, 481 when it names no dialog of ours, 486 for an early-only one
        (we hold confirmed dialogs only), 501 otherwise: phones transfer with REFER."""
        values = request.headers.get_all("Replaces")
        try:
            if len(values) != 1:
                raise ParseError("exactly one Replaces needed")
            replaces = parse_replaces(values[0])
        except ParseError as error:
            self.endpoint.respond(key, make_response(request, 400, f"Bad Replaces: {error}"))
            return
        if replaces.dialog_id not in self.by_dialog:
            answer = make_response(request, 481, "Call/Transaction Does Not Exist")
        elif replaces.early_only:
            answer = make_response(request, 486, "Busy Here (the dialog is confirmed)")
        else:
            answer = make_response(request, 501, "Not Implemented (INVITE with Replaces)")
        log.info("invite with replaces refused", extra={"status": answer.status})
        self.endpoint.respond(key, answer)

    def _info_digit(
        self, call: B2BCall, role: LegRole, request: Request, key: TransactionKey
    ) -> None:
        """A key sent as SIP INFO (application/dtmf-relay, application/dtmf)."""
        try:
            digit = parse_dtmf_info(request.headers.get("Content-Type") or "", request.body)
        except DtmfParseError as error:
            self.endpoint.respond(key, make_response(request, 400, f"Bad DTMF body: {error}"))
            return
        self.endpoint.respond(key, make_response(request, 200))
        session = call.leg_session(role)
        if session is not None:
            session.deliver_digit(DtmfDigit(digit, 0, 0, self.endpoint.now()))

    def _reinvite(
        self, call: B2BCall, role: LegRole, request: Request, key: TransactionKey
    ) -> None:
        """Hold, resume, session refresh: our leg follows the new offer and our answer mirrors
        its direction (RFC 3264 §6.1: sendonly → recvonly, inactive → inactive). The other
        phone is not re-INVITEd (media is anchored): on hold the call stops the talk and plays
        it hold music, on resume it bridges them again (issue 13)."""
        session = call.leg_session(role)
        if session is None or not request.body:
            self.endpoint.respond(key, make_response(request, 488))
            return
        try:
            offer = sdp.parse_sdp(request.body)
            negotiated = negotiate(offer)
            body = self.media.answer(offer, session)
        except (ParseError, sdp.NoAcceptableMedia) as error:
            warning = [("Warning", f'304 vpbx "{error}"')]
            self.endpoint.respond(key, make_response(request, 488, headers=warning))
            return
        session.update_remote(
            negotiated.remote, negotiated.payload_type, negotiated.dtmf_payload_type
        )
        if session.srtp is not None and negotiated.crypto is not None:
            # An encrypted leg stays encrypted (a plain re-offer got 488 above); a new key of
            # the phone's is used from now on.
            session.srtp.set_remote(negotiated.crypto.key)
        # The phone's transport (a TLS phone must keep talking to us over TLS).
        vias = request.vias
        contact = ("Contact", self.me.uri(vias[0].transport.lower() if vias else "udp"))
        headers = [contact, ("Content-Type", "application/sdp")]
        self.endpoint.respond(key, make_response(request, 200, headers=headers, body=body))
        log.info("re-invite", extra={"call": call.id, "direction": negotiated.direction})
        call.set_hold(role, negotiated.holding)


ControllerFactory = Callable[[B2BCall, NumberInfo], Awaitable[CallController]]
#: the call logic of a call to a group's extension (the group's id)
GroupCallFactory = Callable[[B2BCall, int], Awaitable[CallController]]


@dataclass(frozen=True, slots=True)
class EmployeePhone:
    """A SIP-line phone of an employee, as the switch rings it."""

    employee_id: int
    line_id: int
    ring_timeout: float
    #: the phone's id in the employee's list (the distribution's phone key) and its lines
    phone_id: str = "1"
    lines: int = 1


@dataclass(frozen=True, slots=True)
class Caller:
    """Who places a call from a SIP line: the line's employee (if any) and his phone."""

    #: how the report and the phones called name him: his extension, else the line's login
    extension: str
    employee_id: int | None = None
    schedule_id: int | None = None
    phone: EmployeePhone | None = None


def _caller_of(employee: EmployeeInfo | None, line: LineInfo) -> Caller:
    if employee is None:
        return Caller(line.login)
    phone = next((p for p in _phones_of(employee) if p.line_id == line.line_id), None)
    return Caller(employee.extension or line.login, employee.id, employee.schedule_id, phone)


def _phones_of(employee: EmployeeInfo) -> list[EmployeePhone]:
    """An employee's SIP-line phones, in order (phone keys as the distribution makes them)."""
    return [
        EmployeePhone(employee.id, phone.sip_line_id, phone.ring_timeout, phone.id, phone.lines)
        for phone in employee.phones
        if phone.kind == "sip" and phone.sip_line_id is not None
    ]


def _sip_phones(employees: list[EmployeeInfo]) -> list[EmployeePhone]:
    """The SIP-line phones of the employees who take calls (call status on), in order."""
    return [
        phone for employee in employees if employee.calls_enabled for phone in _phones_of(employee)
    ]


def _employees(config: ConfigSnapshot, ids: Iterable[int]) -> list[EmployeeInfo]:
    """The account's employees with these ids, in this order (unknown ids left out)."""
    return [config.employees[i] for i in ids if i in config.employees]


def _employee_of_line(config: ConfigSnapshot, line_id: int) -> EmployeeInfo | None:
    """The employee one of whose phones is this SIP line (the caller of an internal call)."""
    return next(
        (e for e in config.employees.values() if any(p.sip_line_id == line_id for p in e.phones)),
        None,
    )


def _employees_of_extension(config: ConfigSnapshot, extension: str) -> list[EmployeeInfo]:
    """The employee with this extension, or the members of the group with it (EMP-2)."""
    match config.extensions.get(extension):
        case ("employee", employee_id):
            return _employees(config, [employee_id])
        case ("group", group_id) if group_id in config.groups:
            return _employees(config, config.groups[group_id].member_ids)
    return []


def _forwarded_phones(config: ConfigSnapshot, number: str) -> list[EmployeePhone]:
    """Without call logic (tests of the switch alone): the SIP phones of the employees and group
    members named by the first Forward of the scenario of the number's first enabled rule."""
    entry = config.numbers.get(digits_of(number))
    rule = next((r for r in entry[1].rules if r.enabled), None) if entry is not None else None
    scenario = config.scenarios.get(rule.scenario_id) if rule is not None else None
    if scenario is None:
        return []
    forward = next((op for op in scenario.operations if isinstance(op, Forward)), None)
    if forward is None:
        return []
    ids: list[int] = []
    for target in forward.targets:
        if target.group_id is not None:
            group = config.groups.get(target.group_id)
            ids += group.member_ids if group is not None else ()
        elif target.employee_id is not None:
            ids.append(target.employee_id)
    return _sip_phones(_employees(config, dict.fromkeys(ids)))
