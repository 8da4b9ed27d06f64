"""Account settings, schedules, calendar overrides, files, webhooks, calls and their details."""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from vpbx.domain.entities.base import (
    Document,
    EmployeeRef,
    FileRef,
    NumberRef,
    ScenarioRef,
    TagRef,
)
from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.domain.fields import FetchedUrl, Name, OptionalText
from vpbx.domain.schedule import ScheduleSpec


def check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name like Europe/Moscow"
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(check_timezone)]


class TransferCallerId(enum.StrEnum):
    """XFR-1: what the employee sees on a transferred call."""

    VIRTUAL_NUMBER = "virtual_number"
    CALLER = "caller"


class Account(Document):
    """ACC-1: a client company and its account-wide settings."""

    name: Name
    timezone: TimeZone = "Europe/Moscow"
    transfer_caller_id: TransferCallerId = TransferCallerId.VIRTUAL_NUMBER
    sip_uri_transfer: bool = False
    callback_enabled: bool = True
    lead_callback_enabled: bool = True
    enabled: bool = True
    #: REC-1: every conversation of the account is recorded (the caller and the employee on
    #: separate channels) into the file base's «Записанные разговоры»
    record_calls: Annotated[
        bool,
        Field(
            description="Записывать все разговоры аккаунта (REC-1): звонящий и сотрудник на "
            "разных каналах. Record every conversation of the account."
        ),
    ] = False
    #: the toll-fraud guard of outgoing calls (allowed destinations, simultaneous calls, minutes)
    toll_fraud: Annotated[
        TollFraudPolicy,
        Field(description="Защита от мошенничества (toll fraud): исходящие вызовы"),
    ] = TollFraudPolicy()


class Schedule(ScheduleSpec):
    """SCH: a named activity schedule."""

    name: Name


class CalendarOverride(Document):
    """SCH-3: the admin's correction of the production calendar for one date."""

    date: dt.date
    working: bool
    comment: Annotated[str, Field(max_length=500)] = ""


class FileKind(enum.StrEnum):
    """FILE-1 tabs."""

    SOUND = "sound"
    SYSTEM = "system"
    VOICEMAIL = "voicemail"
    RECORDING = "recording"


class AudioFile(Document):
    """FILE-1: metadata of a file of the file base (the audio itself is handled by media)."""

    name: Name
    kind: FileKind = FileKind.SOUND
    system_name: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")] | None = None
    text: OptionalText = ""


class WebhookEvent(enum.StrEnum):
    CALL_STARTED = "call_started"
    CALL_ANSWERED = "call_answered"
    CALL_ENDED = "call_ended"
    CALL_MISSED = "call_missed"
    VOICEMAIL = "voicemail"
    #: RATE-1: the caller rated the talk (the rating is in the event's call)
    CALL_RATED = "call_rated"


class Webhook(Document):
    """API-2: an HTTP endpoint notified of call events."""

    url: FetchedUrl
    events: Annotated[list[WebhookEvent], Field(min_length=1)]
    enabled: bool = True
    secret: Annotated[str, Field(max_length=200)] = ""


class CallDirection(enum.StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"
    INTERNAL = "internal"


class CallStatus(enum.StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"
    BLOCKED = "blocked"
    FAILED = "failed"
    #: not answered, and the caller left a voicemail message (the message is in the files)
    VOICEMAIL = "voicemail"
    ACTIVE = "active"
    #: the switch died during the call (its row was closed at the next start)
    INTERRUPTED = "interrupted"


class Call(Document):
    """CDR-1: one call of the calls report (written by the switch, read by everyone)."""

    started_at: dt.datetime
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    direction: CallDirection
    session_type: Annotated[str, Field(max_length=100)] = ""
    status: CallStatus = CallStatus.ACTIVE
    caller: Annotated[str, Field(max_length=100)]
    called: Annotated[str, Field(max_length=100)]
    number_id: NumberRef | None = None
    scenario_id: ScenarioRef | None = None
    employee_id: EmployeeRef | None = None
    contact_name: Annotated[str, Field(max_length=400)] = ""
    wait_seconds: float = 0
    talk_seconds: float = 0
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    tag_ids: list[TagRef] = []
    recording_file_ids: list[FileRef] = []


class CallStep(Document):
    """CDR-2: one step of a call's details, with the reason the engine gave."""

    at: dt.datetime
    leg: Annotated[str, Field(max_length=100)] = ""
    kind: Annotated[str, Field(max_length=64)]
    text: Annotated[str, Field(max_length=2000)]
    data: dict[str, Any] = {}


__all__ = [
    "Account",
    "AudioFile",
    "CalendarOverride",
    "Call",
    "CallStep",
    "Schedule",
    "TimeZone",
    "Webhook",
]
