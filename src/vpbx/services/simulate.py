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
from vpbx.scenario import distribution as dist
from vpbx.scenario.actions import (
    Action,
    Bridge,
    CollectDigits,
    Dial,
    Hangup,
    HttpRequest,
    Play,
    Record,
    Reject,
)
from vpbx.scenario.dist_details import detail_step, give_up_reasons
from vpbx.scenario.distribution import Distributor, InProcessState, run_sync
from vpbx.scenario.engine import Call, CallState, Step
from vpbx.scenario.events import (
    Answered,
    CallArrived,
    DialFailed,
    Digit,
    Event,
    HttpResponse,
    PlaybackDone,
    RecordingDone,
    TalkEnded,
)
from vpbx.scenario.forwarding import forward_request
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
        self.call = Call(config, call_id="simulated", facts=facts)
        self.now = req.at
        self.queue: list[tuple[dt.datetime, int, Event | dist.Event]] = []
        self.seq = itertools.count()
        self.groups = [g for g in req.keys.split(",")] if req.keys else []
        self.pending_collect = False
        self.playing = False
        self.actions: list[str] = []
        self.distributor = Distributor(InProcessState())
        self.account_id = 0

    def at(self, seconds: float, event: Event | dist.Event) -> None:
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

    def _dial(self, dial: Dial) -> None:
        numbers: list[str] = []
        refused: list[str] = []
        for target in dial.targets:
            if target.number is None:
                continue
            refusal = destination_refusal(self.toll_fraud, target.number)
            if refusal is None:
                numbers.append(target.number)
                continue
            data = {"rule": refusal.rule.value, "e164": refusal.number}
            text = f"{refusal.text} (вызов {target.number})"
            self.call.details.append(Step(self.now, "toll_fraud", text, data))
            refused.append(f"{target.number}: {refusal.text}")
        request = forward_request(
            dial,
            self.config,
            call_id=self.call.call_id,
            account_id=self.account_id,
            caller=self.req.caller,
            now=self.now,
        )
        if not request.targets:
            if numbers and not self.req.no_answer:
                self.at(ANSWER_AFTER, Answered(number=numbers[0]))
            elif refused and not numbers:
                self.at(0.0, DialFailed("failed", tuple(refused)))
            else:
                ring = float(dial.ring_timeout or DEFAULT_RING)
                self.at(ring, DialFailed("no_answer", tuple(f"{n}: не ответил" for n in numbers)))
            return
        self._distribution(run_sync(self.distributor.start(request, self.now.timestamp())))

    def _distribution(self, step: dist.Step) -> None:
        """Carry out what the distribution decided; its details join the call details."""
        for detail in step.details:
            self.call.details.append(detail_step(detail, self.config.employees))
        for action in step.actions:
            match action:
                case dist.Ring(call_id=call_id, employee_id=eid, phone_id=phone):
                    extension = self.config.employees[eid].extension or ""
                    if extension in self.req.busy:
                        self.at(1.0, dist.RingEnded(call_id, eid, phone, dist.RingResult.BUSY))
                    elif not (
                        self.req.no_answer or (self.req.answer and extension not in self.req.answer)
                    ):
                        self.at(ANSWER_AFTER, dist.Answered(call_id, eid, phone))
                case dist.GiveUp(skipped=skipped):
                    reasons = give_up_reasons(skipped, self.config.employees)
                    self.at(0.0, DialFailed("no_answer", reasons))
                case _:
                    pass  # Cancel, Queued, Held: their details are already in the call details

    async def _deliver(self, event: Event | dist.Event) -> None:
        if isinstance(event, dist.Answered | dist.RingEnded | dist.CallEnded | dist.CallerHungUp):
            step = run_sync(self.distributor.handle(event, self.now.timestamp()))
            self._distribution(step)
            if isinstance(event, dist.Answered):
                await self._execute(
                    self.call.handle(Answered(event.employee_id, event.phone_id), self.now)
                )
            return
        if isinstance(event, PlaybackDone | Digit):
            self.playing = False
        await self._execute(self.call.handle(event, self.now))

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

    async def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            self.actions.append(type(action).__name__)
            match action:
                case Play():
                    self.playing = not action.loop
                    if not action.loop:
                        self.at(self._duration(action), PlaybackDone())
                case CollectDigits():
                    self.pending_collect = True
                case Record():
                    self.at(3.0, RecordingDone(None, 0.0))
                case Dial():
                    self._dial(action)
                case Bridge():
                    self.at(self.req.talk_seconds, dist.CallEnded(self.call.call_id))
                    self.at(self.req.talk_seconds, TalkEnded("employee"))
                case HttpRequest():
                    await self._http(action)
                case _:
                    pass

    def _press_keys(self) -> None:
        if not self.pending_collect or self.playing:
            return
        if self.call.state not in (CallState.COLLECTING, CallState.RATING):
            return
        self.pending_collect = False
        if not self.groups:
            return
        for n, key in enumerate(self.groups.pop(0), start=1):
            self.at(0.5 * n, Digit(key))

    async def run(self) -> SimulationResult:
        await self._execute(
            self.call.handle(CallArrived(self.req.number, self.req.caller), self.now)
        )
        for _ in range(MAX_EVENTS):
            if self.call.ended:
                break
            self._press_keys()
            timer = self.call.get_timer()
            posix = self.distributor.next_timer()
            ring_timer = None if posix is None else dt.datetime.fromtimestamp(posix, dt.UTC)
            first = min((t for t in (timer, ring_timer) if t is not None), default=None)
            if self.queue and (first is None or self.queue[0][0] <= first):
                when, _, event = heapq.heappop(self.queue)
                self.now = max(self.now, when)
                await self._deliver(event)
            elif ring_timer is not None and (timer is None or ring_timer <= timer):
                self.now = max(self.now, ring_timer)
                step = run_sync(self.distributor.handle_timer(self.now.timestamp()))
                self._distribution(step)
            elif timer is not None:
                self.now = max(self.now, timer)
                await self._execute(self.call.handle_timer(self.now))
            else:
                break
        outcome = self.call.outcome
        if isinstance(outcome, Hangup):
            reason, status = outcome.reason, outcome.status
        elif isinstance(outcome, Reject):
            reason, status = outcome.reason, "blocked"
        else:
            reason, status = "unfinished", "unknown"
        return SimulationResult(
            reason,
            status,
            list(self.call.details),
            self.actions,
            self.call.rating,
            self.call.answered_by,
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
