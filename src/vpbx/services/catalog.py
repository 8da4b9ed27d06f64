"""The catalogue of resources: for each entity its document, table, roles and uniqueness rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field, create_model

from vpbx.domain.actor import Role
from vpbx.domain.entities import addressbook as ab
from vpbx.domain.entities import callback as cb
from vpbx.domain.entities import misc
from vpbx.domain.entities import people as pp
from vpbx.domain.entities import routing as rt
from vpbx.domain.entities import scenarios as sc
from vpbx.scenario.record_by_phone import RECORD
from vpbx.storage import tables as t

CONFIG_READERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SUPERVISOR})
ADMINS = frozenset({Role.OPERATOR, Role.ADMIN})
EVERYONE = frozenset(Role)


@dataclass(frozen=True, slots=True)
class Assoc:
    """A list-of-ids field kept in an association table rather than a column."""

    table: sa.Table
    own: str
    other: str


@dataclass(frozen=True, slots=True)
class Resource:
    """One entity type as the API, the services and the YAML export see it."""

    name: str
    section: str
    doc: type[BaseModel]
    table: sa.Table
    label_fields: tuple[str, ...] = ("name",)
    installation_unique: tuple[str, ...] = ()
    account_unique: tuple[str, ...] = ()
    assoc: Mapping[str, Assoc] = field(default_factory=dict)
    readable_by: frozenset[Role] = CONFIG_READERS
    writable_by: frozenset[Role] = ADMINS
    creatable_by: frozenset[Role] | None = None
    #: read-only columns shown in the output: name -> (type, default)
    readonly: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    #: fields accepted on input but never shown (passwords)
    hidden: tuple[str, ...] = ()
    #: whether references held by this entity keep their targets from deletion (ACC-4);
    #: history (calls) and work items (tasks) do not
    blocks_deletion: bool = True
    #: whether the API may create/replace it (the switch writes calls, not the API)
    api_writable: bool = True
    #: the employee role sees only rows where this column is his employee id
    own_rows_column: str | None = None
    #: part of the whole-account export (ACC-3)
    exported: bool = True
    #: which of the account's rows of the table are this resource's (None: all)
    only: Callable[[sa.Table], sa.ColumnElement[bool]] | None = None
    out: type[BaseModel] = field(init=False)

    def __post_init__(self) -> None:
        extra: dict[str, Any] = {"id": (int, ...)}
        extra.update(self.readonly)
        for name in self.hidden:
            extra[name] = (None, Field(default=None, exclude=True))
        out = create_model(f"{self.doc.__name__}Out", __base__=self.doc, **extra)
        object.__setattr__(self, "out", out)

    def label(self, values: Mapping[str, Any]) -> str:
        parts = [str(values[f]) for f in self.label_fields if values.get(f)]
        return " ".join(parts) or f"#{values.get('id')}"


CATALOG: tuple[Resource, ...] = (
    Resource("schedules", "Графики активности", misc.Schedule, t.schedules),
    Resource(
        "calendar-overrides",
        "Производственный календарь",
        misc.CalendarOverride,
        t.calendar_overrides,
        label_fields=("date",),
        account_unique=("date",),
    ),
    Resource("tags", "Теги", ab.Tag, t.tags, account_unique=("name",)),
    Resource(
        "files",
        "База файлов",
        misc.AudioFile,
        t.files,
        readable_by=EVERYONE,
        own_rows_column="employee_id",
        readonly={
            "content_type": (str, ""),
            "size_bytes": (int, 0),
            "duration_seconds": (float, 0.0),
            "call_id": (int | None, None),
            "caller": (str | None, None),
            "called": (str | None, None),
            "employee_id": (int | None, None),
            "number_id": (int | None, None),
            # FILE-1: the date a recording or voicemail was made (an upload's creation)
            "created_at": (dt.datetime | None, None),
        },
    ),
    Resource("contact-groups", "Адресная книга: группы", ab.ContactGroup, t.contact_groups),
    Resource("segments", "Сегменты", ab.Segment, t.segments),
    Resource(
        "trunks",
        "SIP-транки",
        rt.Trunk,
        t.trunks,
        hidden=("password",),
    ),
    Resource(
        "numbers",
        "Виртуальные номера и правила",
        rt.VirtualNumber,
        t.numbers,
        label_fields=("number", "name"),
        installation_unique=("number",),
    ),
    Resource(
        "sip-lines",
        "SIP-линии",
        pp.SipLine,
        t.sip_lines,
        label_fields=("login",),
        readonly={"login": (str, ...), "password": (str, ...)},
    ),
    Resource(
        "fmc-lines",
        "FMC-линии",
        pp.FmcLine,
        t.fmc_lines,
        label_fields=("number",),
        installation_unique=("number",),
        creatable_by=frozenset({Role.OPERATOR}),
    ),
    Resource(
        "employees",
        "Сотрудники",
        pp.Employee,
        t.employees,
        label_fields=("last_name", "first_name"),
        assoc={"group_ids": Assoc(t.group_members, "employee_id", "group_id")},
    ),
    Resource(
        "groups",
        "Группы",
        pp.Group,
        t.groups,
        assoc={"member_ids": Assoc(t.group_members, "group_id", "employee_id")},
    ),
    Resource("caller-lists", "Списки АОНов", rt.CallerList, t.caller_lists),
    Resource(
        "contacts",
        "Адресная книга",
        ab.Contact,
        t.contacts,
        label_fields=("last_name", "first_name"),
        assoc={"group_ids": Assoc(t.contact_group_members, "contact_id", "contact_group_id")},
    ),
    Resource(
        "blacklist",
        "Блокировка звонков",
        ab.BlacklistEntry,
        t.blacklist,
        label_fields=("number",),
        account_unique=("number",),
    ),
    Resource("scenarios", "Сценарии", sc.Scenario, t.scenarios),
    Resource(
        "talk-options",
        "Опции разговора",
        rt.TalkOption,
        t.talk_options,
        label_fields=("key", "action"),
        account_unique=("key",),
    ),
    Resource(
        "cid-rules",
        "Правила выбора АОН",
        rt.CidRule,
        t.cid_rules,
        label_fields=("action", "comment"),
    ),
    Resource("callback-rules", "Автоперезвон", cb.CallbackRule, t.callback_rules),
    Resource(
        "lead-callback-rules", "Автоперезвон по заявкам", cb.LeadCallbackRule, t.lead_callback_rules
    ),
    Resource(
        "leads",
        "Заявки",
        cb.Lead,
        t.leads,
        label_fields=("phone", "name"),
        exported=False,
        blocks_deletion=False,
    ),
    Resource(
        "callback-tasks",
        "Задачи автоперезвона",
        cb.CallbackTask,
        t.callback_tasks,
        label_fields=("caller",),
        blocks_deletion=False,
        api_writable=False,
        exported=False,
        # FILE-1: a sound file recorded by phone is a task of its own route, not a callback
        only=lambda table: sa.or_(table.c.kind.is_(None), table.c.kind != RECORD),
    ),
    Resource("webhooks", "Уведомления", misc.Webhook, t.webhooks, label_fields=("url",)),
    Resource(
        "users",
        "Пользователи кабинета",
        pp.User,
        t.users,
        label_fields=("login",),
        installation_unique=("login",),
        hidden=("password",),
        readable_by=ADMINS,
    ),
    Resource(
        "calls",
        "Звонки",
        misc.Call,
        t.calls,
        label_fields=("caller", "called", "started_at"),
        readable_by=EVERYONE,
        blocks_deletion=False,
        api_writable=False,
        own_rows_column="employee_id",
        exported=False,
    ),
)

BY_NAME: Mapping[str, Resource] = {r.name: r for r in CATALOG}

ACCOUNTS = Resource(
    "accounts",
    "Аккаунты",
    misc.Account,
    t.accounts,
    readable_by=frozenset({Role.OPERATOR}),
    writable_by=frozenset({Role.OPERATOR}),
    exported=False,
)
