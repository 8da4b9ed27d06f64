"""`vpbx simulate` and `POST /api/v1/simulate`: one call through the real engine against the real
configuration, with a virtual clock and simulated employees.

The engine is the live one (`vpbx.scenario.engine.Call`); what the switch would do is simulated
here: prompts take their file's duration (TTS text ~12 characters a second, system messages 1 s),
keys are pressed after a prompt ends, recordings are empty (the caller says nothing). A `Dial` is
handed to the real distribution (`vpbx.scenario.distribution`, in-process state) with the
strategy, schedules, lines and ring timeouts of the configuration; every phone it rings answers
after 5 s unless its employee's extension is `busy` (busy at once) or does not answer (`answer`
names others, or `no_answer`): then the ring times out. Who was offered the call and why the
others were not (DST-7) is in the call details. External numbers of a CRM forward answer unless
`no_answer`. Interactive processing calls the CRM for real (the operation's URL, or `crm_url`
instead), or answers `crm_response` without any network.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.domain.errors import NotFound
from vpbx.domain.toll_fraud import destination_refusal
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.actions import CollectDigits, Hangup, HttpRequest, Play, Reject
from vpbx.scenario.call_logic import CallLogic, route_step
from vpbx.scenario.distribution import Distributor, InProcessState, run_sync
from vpbx.scenario.engine import CallState, Step
from vpbx.scenario.events import Digit, HttpResponse, PlaybackDone, TimerFired
from vpbx.scenario.snapshot import CallerFacts, ConfigSnapshot, digits_of
from vpbx.services.accounts import get_account
from vpbx.services.crm import CrmClient
from vpbx.services.entities import EntityService
from vpbx.services.scenario_config import load_caller_facts, load_snapshot
from vpbx.storage import tables as t

__all__ = [
    "SimulationRequest",
    "SimulationResult",
    "account_of_number",
    "format_details",
    "run_simulation",
    "simulate",
]

ANSWER_AFTER = 5.0
DEFAULT_RING = 20.0
MAX_EVENTS = 5000


@dataclass(frozen=True, slots=True)
class SimulationRequest:
    number: str
    caller: str
    at: dt.datetime
    #: keys the caller presses; `,` waits for the next prompt (e.g. "9,1": 9, then 1 later)
    keys: str = ""
    answer: tuple[str, ...] = ()
    busy: tuple[str, ...] = ()
    no_answer: bool = False
    talk_seconds: float = 60.0
    crm_url: str | None = None
    crm_response: str | None = None


@dataclass(slots=True)
class SimulationResult:
    outcome: str
    status: str
    steps: list[Step]
    actions: list[str] = field(default_factory=list)
    rating: int | None = None
    answered_by: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "status": self.status,
            "rating": self.rating,
            "answered_by": self.answered_by,
            "steps": [
                {"at": s.at.isoformat(), "kind": s.kind, "text": s.text, "data": s.data}
                for s in self.steps
            ],
            "actions": self.actions,
        }


class _Sim:
    """The switch's part, simulated: a virtual clock and simulated peers around the call core
    (`vpbx.scenario.call_logic.CallLogic`) and a distributor of its own."""

    def __init__(
        self,
        config: ConfigSnapshot,
        facts: CallerFacts,
        req: SimulationRequest,
        crm: CrmClient | None,
        toll_fraud: TollFraudPolicy | None = None,
    ) -> None:
        self.config = config
        #: the account's toll-fraud guard: a forward to a number it refuses is not rung, as live
        self.toll_fraud = toll_fraud or TollFraudPolicy()
        self.req = req
        self.crm = crm
        self.now = req.at
        self.logic = CallLogic(
            config,
            call_id="simulated",
            account_id=0,
            number=req.number,
            caller=req.caller,
            started_at=req.at,
            facts=facts,
        )
        self.queue: list[tuple[dt.datetime, int, io.Input]] = []
        self.seq = itertools.count()
        self.groups = [g for g in req.keys.split(",")] if req.keys else []
        self.pending_collect = False
        self.playing = False
        self.actions: list[str] = []
        self.distributor = Distributor(InProcessState())

    def at(self, seconds: float, event: io.Input) -> None:
        when = self.now + dt.timedelta(seconds=seconds)
        heapq.heappush(self.queue, (when, next(self.seq), event))

    def _duration(self, play: Play) -> float:
        seconds = sum(
            (self.config.files[f].duration or 3.0) if f in self.config.files else 3.0
            for f in play.file_ids
        )
        seconds += len(play.text) / 12 if play.text else 0
        seconds += 1.0 if play.system else 0
        return max(seconds, 0.5)

    def _answers(self, extension: str) -> bool:
        return not (self.req.no_answer or (self.req.answer and extension not in self.req.answer))

    def _ring_phone(self, ring: io.RingPhone) -> None:
        extension = self.config.employees[ring.employee_id].extension or ""
        if extension in self.req.busy:
            self.at(1.0, io.RingFailed(ring.ring, 486))
        elif self._answers(extension):
            self.at(ANSWER_AFTER, io.RingAnswered(ring.ring))
        # otherwise it rings until the distribution's ring timeout cancels it

    def _ring_number(self, ring: io.RingNumber) -> None:
        refusal = destination_refusal(self.toll_fraud, ring.number)
        if refusal is not None:
            data = (("rule", refusal.rule.value), ("e164", refusal.number))
            text = f"{refusal.text} (вызов {ring.number})"
            self.at(0.0, io.RingRefused(ring.ring, text, "toll_fraud", data))
        elif self.req.no_answer:
            self.at(ring.timeout, io.RingFailed(ring.ring, 408))
        else:
            self.at(ANSWER_AFTER, io.RingAnswered(ring.ring))

    def _distribution(self, step: dist.Step) -> None:
        for call_id, event in route_step(step):
            if call_id == self.logic.call_id:
                self.at(0.0, event)

    def _phones(self, employee_ids: tuple[int, ...]) -> frozenset[tuple[int, str]]:
        """Every phone of a simulated employee can ring (his SIP lines count as registered)."""
        employees = self.config.employees
        return frozenset(
            (eid, phone.id) for eid in employee_ids if eid in employees
            for phone in employees[eid].phones
        )  # fmt: skip

    async def _http(self, request: HttpRequest) -> None:
        if self.req.crm_response is not None:
            self.at(0.1, HttpResponse(request.request_id, 200, self.req.crm_response))
            return
        if self.crm is None:
            self.at(0.0, HttpResponse(request.request_id, error="no CRM client"))
            return
        url = self.req.crm_url or request.url
        started = time.perf_counter()
        real = HttpRequest(request.request_id, request.method, url, request.params, request.timeout)
        response = await self.crm.execute(real)
        self.at(min(time.perf_counter() - started, request.timeout), response)

    async def _execute(self, commands: list[io.Command]) -> None:
        for command in commands:
            self.actions.append(type(command).__name__)
            match command:
                case io.PlayToCaller(play=play):
                    self.playing = not play.loop
                    if not play.loop:
                        self.at(self._duration(play), io.PlaybackDone())
                case CollectDigits():
                    self.pending_collect = True
                case io.StopRecording():
                    # the simulated caller says nothing
                    self.at(0.0, io.RecordingSaved(None, 0.0))
                case io.StopTalkRecording():
                    # nothing is recorded in a simulation: the details say the talk would be
                    self.at(0.0, io.TalkRecordingSaved(None, 0.0, "симуляция: звук не пишется"))
                case io.FindPhones(employee_ids=ids):
                    self.at(0.0, io.PhonesFound(self._phones(ids)))
                case io.RingPhone():
                    self._ring_phone(command)
                case io.RingNumber():
                    self._ring_number(command)
                case io.ConnectCallee():
                    self.at(0.0, io.Connected())
                    self.at(self.req.talk_seconds, io.CalleeHungUp())
                case io.Distribute(request=request):
                    self._distribution(run_sync(self.distributor.start(request, self._posix())))
                case io.TellDistribution(event=event):
                    self._distribution(run_sync(self.distributor.handle(event, self._posix())))
                case HttpRequest():
                    await self._http(command)
                case _:
                    pass  # answer, ringback, hold music, stop ring, hang up: nothing to simulate

    def _posix(self) -> float:
        return self.now.timestamp()

    def _press_keys(self) -> None:
        if not self.pending_collect or self.playing:
            return
        if self.logic.engine.state not in (CallState.COLLECTING, CallState.RATING):
            return
        self.pending_collect = False
        if not self.groups:
            return
        for n, key in enumerate(self.groups.pop(0), start=1):
            self.at(0.5 * n, Digit(key))

    async def _deliver(self, event: io.Input) -> None:
        if isinstance(event, PlaybackDone | Digit):
            self.playing = False
        await self._execute(self.logic.handle(event, self.now))

    async def run(self) -> SimulationResult:
        await self._execute(self.logic.start(self.now))
        for _ in range(MAX_EVENTS):
            if self.logic.ended and not self.queue:
                break
            self._press_keys()
            timer = self.logic.next_timer()
            posix = self.distributor.next_timer()
            ring_timer = None if posix is None else dt.datetime.fromtimestamp(posix, dt.UTC)
            first = min((t for t in (timer, ring_timer) if t is not None), default=None)
            if self.queue and (first is None or self.queue[0][0] <= first):
                when, _, event = heapq.heappop(self.queue)
                self.now = max(self.now, when)
                await self._deliver(event)
            elif ring_timer is not None and (timer is None or ring_timer <= timer):
                self.now = max(self.now, ring_timer)
                self._distribution(run_sync(self.distributor.handle_timer(self._posix())))
            elif timer is not None:
                self.now = max(self.now, timer)
                await self._deliver(TimerFired())
            else:
                break
        engine = self.logic.engine
        outcome = engine.outcome
        if isinstance(outcome, Hangup):
            reason, status = outcome.reason, outcome.status
        elif isinstance(outcome, Reject):
            reason, status = outcome.reason, "blocked"
        else:
            reason, status = "unfinished", "unknown"
        return SimulationResult(
            reason,
            status,
            list(self.logic.details),
            self.actions,
            engine.rating,
            engine.answered_by,
        )


async def run_simulation(
    config: ConfigSnapshot,
    facts: CallerFacts,
    request: SimulationRequest,
    crm: CrmClient | None = None,
    toll_fraud: TollFraudPolicy | None = None,
) -> SimulationResult:
    """Simulate on an already-built configuration (no database)."""
    return await _Sim(config, facts, request, crm, toll_fraud).run()


async def simulate(
    svc: EntityService, request: SimulationRequest, crm: CrmClient | None = None
) -> SimulationResult:
    config = await load_snapshot(svc)
    facts = await load_caller_facts(svc, request.caller, request.at)
    account = await get_account(svc.conn, svc.account_id)
    toll_fraud = TollFraudPolicy.model_validate(account.get("toll_fraud") or {})
    return await run_simulation(config, facts, request, crm, toll_fraud)


async def account_of_number(conn: AsyncConnection, number: str) -> int:
    """The account a virtual number belongs to (numbers are unique across the installation)."""
    wanted = digits_of(number)
    query = sa.select(t.numbers.c.account_id).where(t.numbers.c.number == wanted)
    found = (await conn.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound("numbers", wanted)
    return int(found)


def format_details(result: SimulationResult, tz: Any = None) -> str:
    lines = []
    for step in result.steps:
        at = step.at.astimezone(tz) if tz is not None else step.at
        lines.append(f"{at:%H:%M:%S}  {step.kind:<14} {step.text}")
    lines.append(f"итог: {result.outcome} ({result.status})")
    if result.rating is not None:
        lines.append(f"оценка: {result.rating}")
    return "\n".join(lines)
