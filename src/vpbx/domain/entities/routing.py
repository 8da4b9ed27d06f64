"""Virtual numbers with their ordered rules, caller-ID lists, trunks, talk options, CID rules."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from vpbx.domain.entities.base import (
    CallerListRef,
    ContactGroupRef,
    ContactRef,
    Document,
    EmployeeRef,
    NumberRef,
    ScenarioRef,
    ScheduleRef,
    TagRef,
    TrunkRef,
)
from vpbx.domain.fields import CallerPattern, Name, PhoneNumber


class CallerScope(enum.StrEnum):
    """NUM-2: which callers a rule is for."""

    ALL = "all"
    CONTACTS = "contacts"
    CONTACT_GROUPS = "contact_groups"
    UNKNOWN = "unknown"
    LISTS = "lists"


class CallerFilter(Document):
    scope: CallerScope = CallerScope.ALL
    contact_ids: list[ContactRef] = []
    contact_group_ids: list[ContactGroupRef] = []
    caller_list_ids: list[CallerListRef] = []

    @model_validator(mode="after")
    def _scope_has_its_list(self) -> CallerFilter:
        needed = {
            CallerScope.CONTACTS: "contact_ids",
            CallerScope.CONTACT_GROUPS: "contact_group_ids",
            CallerScope.LISTS: "caller_list_ids",
        }.get(self.scope)
        if needed is not None and not getattr(self, needed):
            raise ValueError(f"scope {self.scope.value} needs a non-empty {needed}")
        return self


class NumberRule(Document):
    """NUM-2: schedule (None = «Не указан», always) + callers + scenario; first match wins."""

    name: Annotated[str, Field(max_length=200)] = ""
    enabled: bool = True
    schedule_id: ScheduleRef | None = None
    callers: CallerFilter = CallerFilter()
    scenario_id: ScenarioRef


class NumberKind(enum.StrEnum):
    """NUM-1: analytics numbers forward to one number; PBX numbers run scenarios."""

    PBX = "pbx"
    ANALYTICS = "analytics"


class VirtualNumber(Document):
    """A virtual number of the account (unique across the installation, ACC-1)."""

    number: PhoneNumber
    kind: NumberKind = NumberKind.PBX
    name: Annotated[str, Field(max_length=200)] = ""
    forward_to: PhoneNumber | None = None
    rules: Annotated[list[NumberRule], Field(max_length=100)] = []
    trunk_id: TrunkRef | None = None
    region: Annotated[str, Field(max_length=200)] | None = None
    record_calls: Annotated[
        bool,
        Field(
            description="Записывать разговоры звонков на этот номер (REC-1). Record the "
            "conversations of calls to this number."
        ),
    ] = False

    @model_validator(mode="after")
    def _kind_fields(self) -> VirtualNumber:
        if self.kind is NumberKind.ANALYTICS:
            if self.forward_to is None:
                raise ValueError("an analytics number needs forward_to (exactly one number)")
            if self.rules:
                raise ValueError("an analytics number has no rules; use a PBX number")
        elif self.forward_to is not None:
            raise ValueError("forward_to is only for analytics numbers")
        return self


class CallerList(Document):
    """«Список АОНов»: a named list of caller numbers or prefixes (ending in *)."""

    name: Name
    numbers: Annotated[list[CallerPattern], Field(max_length=10000)] = []


class TrunkTransport(enum.StrEnum):
    UDP = "udp"
    TCP = "tcp"


class Trunk(Document):
    """SIP-4: a provider: inbound by IP allow-list or registration, outbound with credentials."""

    name: Name
    host: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.\-:\[\]]+$")]
    port: Annotated[int, Field(ge=1, le=65535)] = 5060
    transport: TrunkTransport = TrunkTransport.UDP
    allow_ips: list[Annotated[str, Field(max_length=64)]] = []
    username: Annotated[str, Field(max_length=200)] = ""
    password: Annotated[str, Field(max_length=200)] = ""
    registration: bool = False
    outbound: bool = True
    enabled: bool = True

    @model_validator(mode="after")
    def _reachable_inbound(self) -> Trunk:
        if self.registration and not self.username:
            raise ValueError("a trunk that registers needs username and password")
        return self


class TalkAction(enum.StrEnum):
    """TALK-1..7: what a key does during a conversation."""

    RUN_SCENARIO = "run_scenario"
    RECORDER = "recorder"
    CALL_TRAINER = "call_trainer"
    TAG = "tag"
    TRANSFER = "transfer"
    ASSIGN_MANAGER = "assign_manager"
    SAVE_CALLER_ID = "save_caller_id"


class TalkOption(Document):
    """A talk option bound to a key by the admin."""

    key: Annotated[str, Field(pattern=r"^[0-9*#]$")]
    action: TalkAction
    scenario_id: ScenarioRef | None = None
    tag_id: TagRef | None = None
    contact_group_id: ContactGroupRef | None = None
    to_blacklist: bool = False

    @model_validator(mode="after")
    def _action_params(self) -> TalkOption:
        if self.action is TalkAction.RUN_SCENARIO and self.scenario_id is None:
            raise ValueError("run_scenario needs scenario_id")
        if self.action is TalkAction.SAVE_CALLER_ID and (
            (self.contact_group_id is None) == (not self.to_blacklist)
        ):
            raise ValueError("save_caller_id needs exactly one of contact_group_id, to_blacklist")
        return self


class CidRule(Document):
    """CID-3: allow or deny numbers as outgoing caller IDs, per employee; first match wins."""

    position: Annotated[int, Field(ge=0)] = 0
    action: Literal["allow", "deny"]
    number_ids: list[NumberRef] = []
    employee_ids: list[EmployeeRef] = []
    comment: Annotated[str, Field(max_length=500)] = ""


__all__ = [
    "CallerFilter",
    "CallerList",
    "CallerScope",
    "CidRule",
    "NumberKind",
    "NumberRule",
    "TalkAction",
    "TalkOption",
    "Trunk",
    "VirtualNumber",
]
