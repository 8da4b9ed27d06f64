"""The immutable configuration a `Call` reads: one account's numbers, scenarios, people, files.

Pure data: built by `ConfigSnapshot.build` from domain documents (the loader that reads them from
the database lives in `vpbx.services.scenario_config`). `CallerFacts` are the per-call facts the
loader looks up for one caller: past communications (visit number, segments) and the numbering
plan ranges of the caller's code (region).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from vpbx.domain.caller_id import CidRuleView
from vpbx.domain.entities.addressbook import Contact, ContactGroup, Segment
from vpbx.domain.entities.routing import CallerList, TalkOption, VirtualNumber
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.regions import NumberRange
from vpbx.domain.schedule import ProductionCalendar, ScheduleSpec

__all__ = [
    "SYSTEM_LABELS",
    "CallerFacts",
    "ConfigSnapshot",
    "EmployeeInfo",
    "FileInfo",
    "FmcLineInfo",
    "GroupInfo",
    "GroupRow",
    "PastContact",
    "PhoneInfo",
    "digits_of",
    "matches_pattern",
]

#: how the call details name a system message (FILE-1)
SYSTEM_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "input_timeout": "Секунда тишины",
        "voicemail_greeting": "Приветствие голосовой почты",
        "rate_prompt": "Оценка работы оператора",
        "queue_message": "Сообщение в очереди",
        "no_route": "Нет подходящего правила",
    }
)


def digits_of(number: str) -> str:
    """A number as compared everywhere: digits only; a Russian 8XXXXXXXXXX becomes 7XXXXXXXXXX."""
    digits = number if number.isdigit() else "".join(ch for ch in number if ch.isdigit())
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits


def matches_pattern(number: str, pattern: str) -> bool:
    """A caller-list pattern: an exact number, or a prefix ending in `*`."""
    if pattern.endswith("*"):
        return number.startswith(digits_of(pattern[:-1]))
    return number == digits_of(pattern)


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """One phone of an employee as the distribution rings it (EMP-3)."""

    id: str
    kind: str = "sip"
    lines: int = 1
    ring_timeout: float = 20.0
    #: where it rings, by kind: the SIP line, the PSTN number, the SIP URI, the FMC line (whose
    #: mobile number `ConfigSnapshot.build` puts in `number`)
    sip_line_id: int | None = None
    number: str | None = None
    sip_uri: str | None = None
    fmc_line_id: int | None = None


@dataclass(frozen=True, slots=True)
class FmcLineInfo:
    """FMC-1: a mobile SIM of the operator used as a line of the PBX, as calls see it."""

    id: int
    number: str
    employee_id: int | None = None
    blocked: bool = True
    connected: bool = True
    service_enabled: bool = True
    channels: int = 1
    #: the virtual number its outgoing calls show (CID-1, fixed)
    caller_id_number_id: int | None = None

    def refusal(self) -> str | None:
        """Why no call goes through the line now (None: it works), as the call details say."""
        if not self.service_enabled:
            return f"FMC-линия {self.number}: услуга FMC отключена"
        if self.blocked:
            return f"FMC-линия {self.number} заблокирована"
        if not self.connected:
            return f"FMC-линия {self.number} не подключена"
        return None


@dataclass(frozen=True, slots=True)
class EmployeeInfo:
    id: int
    name: str
    extension: str | None
    phone_ids: tuple[str, ...]
    rate_after_call: bool = False
    calls_enabled: bool = True
    phones: tuple[PhoneInfo, ...] = ()
    schedule_id: int | None = None
    #: TRN-1: his trainer, and whether the trainer joins each of his answered calls at once
    trainer_id: int | None = None
    auto_call_trainer: bool = False
    #: REC-1: his conversations are recorded
    record_calls: bool = False


@dataclass(frozen=True, slots=True)
class GroupRow:
    """A row of a group's distribution table (GRP-2)."""

    employee_id: int
    phone_id: str
    percent: float = 0.0
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class GroupInfo:
    id: int
    name: str
    extension: str | None
    member_ids: tuple[int, ...]
    simultaneous_lines: int = 1
    rows: tuple[GroupRow, ...] = ()
    schedule_id: int | None = None


@dataclass(frozen=True, slots=True)
class FileInfo:
    id: int
    name: str
    system_name: str | None = None
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class PastContact:
    """A past communication with the caller: kind `call`, `lead`, `chat` or `goal`."""

    at: dt.datetime
    kind: str = "call"
    tag_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CallerFacts:
    past: tuple[PastContact, ...] = ()
    ranges: tuple[NumberRange, ...] = ()


def _with_fmc(employee: EmployeeInfo, lines: Mapping[int, FmcLineInfo]) -> EmployeeInfo:
    """An employee whose FMC phones carry their line's mobile number (what the trunk is asked
    to ring) and its channel count as their lines (FMC-1: 1 or 2; the distribution and the
    line's own calls count them together)."""
    if not any(phone.kind == "fmc" for phone in employee.phones):
        return employee
    phones = []
    for phone in employee.phones:
        line = lines.get(phone.fmc_line_id) if phone.fmc_line_id is not None else None
        if phone.kind == "fmc" and line is not None:
            phone = replace(phone, number=digits_of(line.number), lines=line.channels)
        phones.append(phone)
    return replace(employee, phones=tuple(phones))


def _frozen(items: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(items))


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """One account's configuration as the engine sees it; never changes after it is built."""

    tz: ZoneInfo
    calendar: ProductionCalendar | None
    numbers: Mapping[str, tuple[int, VirtualNumber]]
    scenarios: Mapping[int, Scenario]
    schedules: Mapping[int, tuple[str, ScheduleSpec]]
    contacts: Mapping[int, Contact]
    contact_groups: Mapping[int, ContactGroup]
    caller_lists: Mapping[int, CallerList]
    blacklist: frozenset[str]
    employees: Mapping[int, EmployeeInfo]
    groups: Mapping[int, GroupInfo]
    segments: Mapping[int, Segment]
    files: Mapping[int, FileInfo]
    contacts_by_phone: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    extensions: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    files_by_name: Mapping[str, int] = field(default_factory=dict)
    #: the account's own files for system messages (FILE-1 overrides): system name → file id
    system_files: Mapping[str, int] = field(default_factory=dict)
    #: operations of each scenario by key (scenario id → key → operation)
    operations: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    #: XFR-3: the account may ring SIP URI phones (a paid option)
    sip_uri_allowed: bool = False
    #: TALK-1..7: the account's talk options by key (`#` is always the transfer, TALK-5)
    talk_options: Mapping[str, TalkOption] = field(default_factory=dict)
    #: XFR-1: what an employee a call is transferred to sees: "virtual_number" or "caller"
    transfer_caller_id: str = "virtual_number"
    #: REC-1: every conversation of the account is recorded
    record_calls: bool = False
    #: CID-3: the account's allow/deny rules for outgoing caller IDs, in priority order
    cid_rules: tuple[CidRuleView, ...] = ()
    #: FMC-1: the account's FMC lines by id, and their ids by mobile number (digits)
    fmc_lines: Mapping[int, FmcLineInfo] = field(default_factory=dict)
    fmc_by_number: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        tz: ZoneInfo | str = "Europe/Moscow",
        calendar: ProductionCalendar | None = None,
        numbers: Iterable[tuple[int, VirtualNumber]] = (),
        scenarios: Iterable[tuple[int, Scenario]] = (),
        schedules: Iterable[tuple[int, ScheduleSpec]] = (),
        contacts: Iterable[tuple[int, Contact]] = (),
        contact_groups: Iterable[tuple[int, ContactGroup]] = (),
        caller_lists: Iterable[tuple[int, CallerList]] = (),
        blacklist: Iterable[str] = (),
        employees: Iterable[EmployeeInfo] = (),
        groups: Iterable[GroupInfo] = (),
        segments: Iterable[tuple[int, Segment]] = (),
        files: Iterable[FileInfo] = (),
        sip_uri_allowed: bool = False,
        talk_options: Iterable[TalkOption] = (),
        transfer_caller_id: str = "virtual_number",
        record_calls: bool = False,
        cid_rules: Iterable[CidRuleView] = (),
        fmc_lines: Iterable[FmcLineInfo] = (),
    ) -> ConfigSnapshot:
        fmc_map = {line.id: line for line in fmc_lines}
        employee_map = {e.id: _with_fmc(e, fmc_map) for e in employees}
        group_map = {g.id: g for g in groups}
        file_map = {f.id: f for f in files}
        contact_map = dict(contacts)
        by_phone: dict[str, list[int]] = {}
        for cid, contact in contact_map.items():
            for phone in contact.phones:
                by_phone.setdefault(digits_of(phone), []).append(cid)
        extensions: dict[str, tuple[str, int]] = {}
        for e in employee_map.values():
            if e.extension:
                extensions[e.extension] = ("employee", e.id)
        for g in group_map.values():
            if g.extension:
                extensions.setdefault(g.extension, ("group", g.id))
        scenario_map = dict(scenarios)
        return cls(
            tz=tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz),
            calendar=calendar,
            numbers=_frozen({digits_of(n.number): (i, n) for i, n in numbers}),
            scenarios=_frozen(scenario_map),
            schedules=_frozen({i: (str(getattr(s, "name", f"#{i}")), s) for i, s in schedules}),
            contacts=_frozen(contact_map),
            contact_groups=_frozen(dict(contact_groups)),
            caller_lists=_frozen(dict(caller_lists)),
            blacklist=frozenset(digits_of(n) for n in blacklist),
            employees=_frozen(employee_map),
            groups=_frozen(group_map),
            segments=_frozen(dict(segments)),
            files=_frozen(file_map),
            contacts_by_phone=_frozen({k: tuple(v) for k, v in by_phone.items()}),
            extensions=_frozen(extensions),
            files_by_name=_frozen({f.name: f.id for f in file_map.values()}),
            system_files=_frozen({f.system_name: f.id for f in file_map.values() if f.system_name}),
            operations=_frozen(
                {
                    sid: MappingProxyType({op.key: op for op in sc.operations})
                    for sid, sc in scenario_map.items()
                }
            ),
            sip_uri_allowed=sip_uri_allowed,
            talk_options=_frozen({o.key: o for o in talk_options}),
            transfer_caller_id=transfer_caller_id,
            record_calls=record_calls,
            cid_rules=tuple(cid_rules),
            fmc_lines=_frozen(fmc_map),
            fmc_by_number=_frozen({digits_of(f.number): i for i, f in fmc_map.items()}),
        )

    def fmc_refusal(self, phone: PhoneInfo) -> str | None:
        """Why an FMC phone is not rung now (None: it rings, or it is not an FMC phone)."""
        if phone.kind != "fmc":
            return None
        line = self.fmc_lines.get(phone.fmc_line_id) if phone.fmc_line_id is not None else None
        if line is None:
            return f"телефон {phone.id}: FMC-линии нет в настройках"
        return line.refusal()

    def fmc_owner(self, line_id: int) -> tuple[EmployeeInfo, PhoneInfo] | None:
        """The employee whose phone is this FMC line, with that phone (FMC-1: exactly one)."""
        for employee in self.employees.values():
            for phone in employee.phones:
                if phone.kind == "fmc" and phone.fmc_line_id == line_id:
                    return employee, phone
        return None

    def file_label(self, file_id: int) -> str:
        info = self.files.get(file_id)
        return info.name if info is not None else f"файл #{file_id} (нет в базе файлов)"

    def contacts_of(self, caller: str) -> tuple[Contact, ...]:
        return tuple(self.contacts[c] for c in self.contacts_by_phone.get(caller, ()))
