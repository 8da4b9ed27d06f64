"""Auto-callback of missed calls (CB-1..3) and of web leads (CB-4): rules and tasks."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

from pydantic import Field, model_validator

from vpbx.domain.entities.base import (
    CallRef,
    Document,
    EmployeeRef,
    FileRef,
    GroupRef,
    NumberRef,
    ScenarioRef,
    ScheduleRef,
    SegmentRef,
)
from vpbx.domain.fields import Name, OptionalText, PhoneNumber
from vpbx.domain.refs import Ref

MAX_ATTEMPTS = 5
MAX_MIN_WAIT = 60
MAX_CONCURRENT = 5


class LossPlace(enum.StrEnum):
    ANY = "any"
    NUMBER = "number"
    SCENARIO = "scenario"
    TRANSFER = "transfer"


class CallbackMethod(enum.StrEnum):
    """CB-1 «Как перезванивать»."""

    CAMPAIGN = "campaign"
    GROUP = "group"
    NUMBER = "number"
    EMPLOYEE = "employee"
    TRIED = "tried"
    LAST_PHASE = "last_phase"
    SCENARIO = "scenario"


class HowToCall(Document):
    method: CallbackMethod
    group_id: GroupRef | None = None
    number: PhoneNumber | None = None
    employee_id: EmployeeRef | None = None
    scenario_id: ScenarioRef | None = None

    @model_validator(mode="after")
    def _method_params(self) -> HowToCall:
        needed = {
            CallbackMethod.GROUP: "group_id",
            CallbackMethod.NUMBER: "number",
            CallbackMethod.EMPLOYEE: "employee_id",
            CallbackMethod.SCENARIO: "scenario_id",
        }.get(self.method)
        if needed is not None and getattr(self, needed) is None:
            raise ValueError(f"method {self.method.value} needs {needed}")
        return self


class Whisper(Document):
    """What the employee hears before the caller is dialled; default «автоперезвон»."""

    text: OptionalText = ""
    file_id: FileRef | None = None
    call_data: bool = False


Attempts = Annotated[
    list[Annotated[int, Field(ge=0, le=7 * 24 * 3600)]],
    Field(min_length=1, max_length=MAX_ATTEMPTS),
]
Concurrency = Annotated[int, Field(ge=1, le=MAX_CONCURRENT)]


class CallbackRule(Document):
    """CB-1: a rule of auto-callback for missed calls; rules are ordered by `position`."""

    name: Name
    position: Annotated[int, Field(ge=0)] = 0
    enabled: bool = True
    place: LossPlace = LossPlace.ANY
    number_id: NumberRef | None = None
    scenario_id: ScenarioRef | None = None
    how: HowToCall
    whisper: Whisper = Whisper()
    call_schedule_id: ScheduleRef | None = None
    rule_schedule_id: ScheduleRef | None = None
    attempt_intervals: Attempts = [0]
    min_wait_seconds: Annotated[int, Field(ge=0, le=MAX_MIN_WAIT)] = 0
    max_concurrent: Concurrency = 1

    @model_validator(mode="after")
    def _place_params(self) -> CallbackRule:
        if self.place is LossPlace.NUMBER and self.number_id is None:
            raise ValueError("place number needs number_id")
        if self.place is LossPlace.SCENARIO and self.scenario_id is None:
            raise ValueError("place scenario needs scenario_id")
        if self.place is LossPlace.TRANSFER and self.min_wait_seconds:
            raise ValueError("min_wait_seconds does not apply to place transfer")
        return self


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class CallbackTask(Document):
    """A pending callback created by a rule for one missed call (kept until done, CB-3)."""

    rule_id: Annotated[int, Ref("callback-rules")] | None = None
    lead_rule_id: Annotated[int, Ref("lead-callback-rules")] | None = None
    call_id: CallRef | None = None
    lead_id: Annotated[int, Ref("leads")] | None = None
    caller: PhoneNumber
    status: TaskStatus = TaskStatus.PENDING
    attempts_made: Annotated[int, Field(ge=0, le=MAX_ATTEMPTS)] = 0
    next_attempt_at: dt.datetime | None = None
    last_result: Annotated[str, Field(max_length=500)] = ""


class LeadSource(enum.StrEnum):
    """CB-4 «Какие заявки обрабатываем»."""

    AD_PLATFORM = "ad_platform"
    CUSTOM = "custom"
    STANDARD = "standard"
    SITE = "site"
    SEGMENT = "segment"
    ALL = "all"


class LeadCallbackRule(Document):
    """CB-4: auto-callback of web leads; default whisper «Автоперезвон по заявкам»."""

    name: Name
    position: Annotated[int, Field(ge=0)] = 0
    enabled: bool = True
    source: LeadSource = LeadSource.ALL
    site: Annotated[str, Field(max_length=300)] = ""
    segment_id: SegmentRef | None = None
    how: HowToCall
    whisper: Whisper = Whisper()
    call_schedule_id: ScheduleRef | None = None
    rule_schedule_id: ScheduleRef | None = None
    max_concurrent: Concurrency = 1

    @model_validator(mode="after")
    def _source_params(self) -> LeadCallbackRule:
        if self.source is LeadSource.SEGMENT and self.segment_id is None:
            raise ValueError("source segment needs segment_id")
        if self.source is LeadSource.SITE and not self.site:
            raise ValueError("source site needs site")
        return self


class Lead(Document):
    """A web lead (form, ad platform, custom endpoint) that may be called back."""

    source: LeadSource
    phone: PhoneNumber
    name: Annotated[str, Field(max_length=200)] = ""
    site: Annotated[str, Field(max_length=300)] = ""
    payload: dict[str, str] = {}


__all__ = [
    "MAX_ATTEMPTS",
    "MAX_CONCURRENT",
    "MAX_MIN_WAIT",
    "CallbackRule",
    "CallbackTask",
    "HowToCall",
    "Lead",
    "LeadCallbackRule",
    "Whisper",
]
