"""Scenarios: a named graph of operations whose named exits link to other operations (SCN)."""

from __future__ import annotations

import enum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from vpbx.domain.entities.base import (
    Document,
    EmployeeRef,
    FileRef,
    GroupRef,
    ScenarioRef,
    SegmentRef,
)
from vpbx.domain.fields import (
    DigitCode,
    Email,
    FetchedUrl,
    Name,
    OptionalText,
    PhoneNumber,
)

OpKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,40}$")]
Target = OpKey | None
Timeout = Annotated[float, Field(ge=1, le=60)]
#: the longest recording of a voicemail (SCN-VM), and of a sound file recorded by phone (FILE-1)
RecordSeconds = Annotated[int, Field(ge=5, le=600)]
DEFAULT_RECORD_SECONDS = 120
MENU_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#")


class Operation(Document):
    """Common part of every operation: its key in the scenario graph and its fixed exits."""

    key: OpKey
    title: Annotated[str, Field(max_length=200)] = ""
    exits: dict[str, Target] = {}

    #: exit names this kind of operation has (besides its branch lists)
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _known_exits(self) -> Operation:
        unknown = sorted(set(self.exits) - set(self.EXIT_NAMES))
        if unknown:
            allowed = ", ".join(self.EXIT_NAMES) or "none"
            raise ValueError(f"unknown exit(s) {', '.join(unknown)}; allowed: {allowed}")
        return self

    def links(self) -> list[tuple[str, str]]:
        """(exit name, target key) for every linked exit, branch exits included."""
        return [(name, target) for name, target in self.exits.items() if target is not None]


class Authorization(Operation):
    """SCN-AUTH: the caller types a code; exits yes / no."""

    kind: Literal["auth"] = "auth"
    prompt_file_id: FileRef | None = None
    code: DigitCode
    inter_digit_timeout: Timeout = 5
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("yes", "no")


class Voicemail(Operation):
    """SCN-VM: record a message and mail it (also when nothing was recorded)."""

    kind: Literal["voicemail"] = "voicemail"
    prompt_file_id: FileRef | None = None
    emails: Annotated[list[Email], Field(max_length=20)] = []
    max_seconds: RecordSeconds = DEFAULT_RECORD_SECONDS
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("next",)


class InfoMessage(Operation):
    """SCN-INFO: play files or TTS text, then continue."""

    kind: Literal["info"] = "info"
    file_ids: list[FileRef] = []
    text: OptionalText = ""
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("next",)

    @model_validator(mode="after")
    def _has_something_to_say(self) -> InfoMessage:
        if not self.file_ids and not self.text:
            raise ValueError("an info message needs file_ids or text")
        return self


class Menu(Operation):
    """SCN-MENU: IVR keys, timeout, invalid input and the optional extension-input exit."""

    kind: Literal["menu"] = "menu"
    prompt_file_id: FileRef | None = None
    prompt_text: OptionalText = ""
    timeout: Timeout = 5
    hash_returns: bool = False
    EXIT_NAMES: ClassVar[tuple[str, ...]] = (*MENU_KEYS, "timeout", "invalid", "extension_input")


class Strategy(enum.StrEnum):
    """DST-1..6: the ready-made distribution strategies and the custom one."""

    SUPPORT = "support"
    SALES = "sales"
    PRIORITY = "priority"
    IN_TURN = "in_turn"
    FASTEST = "fastest"
    CUSTOM = "custom"


class ForwardTarget(Document):
    """A group, or one employee (optionally one of his phones), or an external number."""

    group_id: GroupRef | None = None
    employee_id: EmployeeRef | None = None
    phone_id: str | None = None
    number: PhoneNumber | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ForwardTarget:
        chosen = [n for n in ("group_id", "employee_id", "number") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("a forward target is exactly one of group_id, employee_id, number")
        if self.phone_id is not None and self.employee_id is None:
            raise ValueError("phone_id needs employee_id")
        return self


class Distribution(Document):
    """DST-6: the knobs of distribution; the ready strategies preset them."""

    simultaneous_lines: Annotated[int, Field(ge=1, le=100)] | None = None
    ring_timeout: Annotated[int, Field(ge=5, le=300)] | None = None
    percentage: bool = False
    queue: bool = False
    wrapup_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    initial_lines: Annotated[int, Field(ge=1, le=100)] = 5
    add_line_every: Annotated[int, Field(ge=1, le=300)] = 5


class Forward(Operation):
    """SCN-FWD: ring groups and/or phones with a strategy; exit `no_answer` after the forward."""

    kind: Literal["forward"] = "forward"
    ringback_file_ids: list[FileRef] = []
    targets: Annotated[list[ForwardTarget], Field(min_length=1)]
    strategy: Strategy = Strategy.PRIORITY
    distribution: Distribution = Distribution()
    queue_message_file_id: FileRef | None = None
    operator_message_file_id: FileRef | None = None
    operator_message_text: OptionalText = ""
    tag_after_call: bool = False
    rate_after_call: bool = False
    record: Annotated[
        bool,
        Field(
            description="Записывать разговор, если на звонок ответили через эту операцию "
            "(REC-1). Record the conversation when the call is answered through this forward."
        ),
    ] = False
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("no_answer",)


class ExtensionForward(Operation):
    """SCN-EXT: the caller dials an extension. `from_menu` marks the Menu's special variant."""

    kind: Literal["extension"] = "extension"
    prompt_file_id: FileRef | None = None
    ringback_file_ids: list[FileRef] = []
    inter_digit_timeout: Timeout = 5
    from_menu: bool = False
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("failed", "invalid")


class PersonalManager(Operation):
    """SCN-PM: ring the caller's personal manager (ADR-2); exit `failed`."""

    kind: Literal["personal_manager"] = "personal_manager"
    ringback_file_ids: list[FileRef] = []
    ring_timeout: Annotated[int, Field(ge=5, le=300)] = 30
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("failed",)


class InsertScenario(Operation):
    """SCN-INS: run another scenario here; its unlinked exits end the call."""

    kind: Literal["insert"] = "insert"
    scenario_id: ScenarioRef
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ()


class IvxParam(enum.StrEnum):
    CDR_ID = "cdr_id"
    START_TIME = "start_time"
    INPUT_RESULT = "input_result"
    NUMA = "numa"
    NUMB = "numb"


class CodeBranch(Document):
    code: Annotated[int, Field(ge=0, le=9999)]
    target: Target = None


class Interactive(Operation):
    """SCN-IVX/IVX-1: ask a CRM over HTTP; `fallback` on any failure (IVX-3)."""

    kind: Literal["interactive"] = "interactive"
    url: FetchedUrl
    method: Literal["GET", "POST"] = "GET"
    params: list[IvxParam] = [IvxParam.CDR_ID, IvxParam.NUMA, IvxParam.NUMB]
    dtmf_length: Annotated[int, Field(ge=1, le=32)] | None = None
    prompt_file_id: FileRef | None = None
    timeout: Annotated[float, Field(gt=0, le=30)] = 5
    codes: list[CodeBranch] = []
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("fallback",)

    def links(self) -> list[tuple[str, str]]:
        found = super().links()
        found += [(f"code {b.code}", b.target) for b in self.codes if b.target is not None]
        return found


class VisitDistribution(Operation):
    """SCN-VISIT: first or repeat contact within an interval."""

    kind: Literal["visit"] = "visit"
    interval_hours: Annotated[int, Field(ge=1, le=24 * 365 * 10)] = 24 * 30
    count_all_communications: bool = False
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("first", "repeat")


class RegionBranch(Document):
    region: Name
    target: Target = None


class RegionDistribution(Operation):
    """SCN-REGION: a branch per region of the caller's number, plus `others`."""

    kind: Literal["region"] = "region"
    branches: list[RegionBranch] = []
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("others",)

    def links(self) -> list[tuple[str, str]]:
        found = super().links()
        return found + [(b.region, b.target) for b in self.branches if b.target is not None]


class SegmentBranch(Document):
    segment_id: SegmentRef
    target: Target = None


class SegmentDistribution(Operation):
    """SCN-SEGMENT: a branch per audience segment, plus `no_segment` and `others`."""

    kind: Literal["segment"] = "segment"
    branches: list[SegmentBranch] = []
    EXIT_NAMES: ClassVar[tuple[str, ...]] = ("no_segment", "others")

    def links(self) -> list[tuple[str, str]]:
        found = super().links()
        found += [(f"segment {b.segment_id}", b.target) for b in self.branches if b.target]
        return found


AnyOperation = Annotated[
    Authorization
    | Voicemail
    | InfoMessage
    | Menu
    | Forward
    | ExtensionForward
    | PersonalManager
    | InsertScenario
    | Interactive
    | VisitDistribution
    | RegionDistribution
    | SegmentDistribution,
    Field(discriminator="kind"),
]


class Scenario(Document):
    """A scenario graph: `entry` is the first operation; an unlinked exit ends the call."""

    name: Name
    entry: OpKey | None = None
    operations: Annotated[list[AnyOperation], Field(max_length=500)] = []

    def operation(self, key: str) -> AnyOperation | None:
        return next((op for op in self.operations if op.key == key), None)


__all__ = [
    "DEFAULT_RECORD_SECONDS",
    "MENU_KEYS",
    "AnyOperation",
    "Operation",
    "RecordSeconds",
    "Scenario",
    "Strategy",
]
