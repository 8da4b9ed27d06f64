"""The database schema: one table per entity, its columns derived from the entity document.

Scalar fields of a document become typed columns (so reports filter and sort in SQL); nested
fields (lists, sub-documents) become JSON columns. Deriving the columns keeps the schema and the
documents from drifting apart; the Alembic migrations are written out from this metadata and a
test proves that migrating to head yields exactly it.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from typing import Any, Literal, Union

import sqlalchemy as sa
from pydantic import BaseModel

from vpbx.domain.entities.addressbook import (
    BlacklistEntry,
    Contact,
    ContactGroup,
    Segment,
    Tag,
)
from vpbx.domain.entities.callback import CallbackRule, CallbackTask, Lead, LeadCallbackRule
from vpbx.domain.entities.misc import (
    Account,
    AudioFile,
    CalendarOverride,
    Call,
    CallStep,
    Schedule,
    Webhook,
)
from vpbx.domain.entities.people import Employee, FmcLine, Group, SipLine, User
from vpbx.domain.entities.routing import CallerList, CidRule, TalkOption, Trunk, VirtualNumber
from vpbx.domain.entities.scenarios import Scenario

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _strip(annotation: Any) -> tuple[Any, bool]:
    """The base type of a field annotation and whether None is allowed."""
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            arms = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(arms) < len(typing.get_args(annotation))
            if len(arms) != 1:
                return annotation, nullable
            annotation = arms[0]
        else:
            return annotation, nullable


def column_type(annotation: Any) -> sa.types.TypeEngine[Any]:
    """The column type that stores values of a document field."""
    base, _ = _strip(annotation)
    if typing.get_origin(base) is Literal:
        return sa.Text()
    if isinstance(base, type):
        if issubclass(base, bool):
            return sa.Boolean()
        if issubclass(base, enum.Enum) or issubclass(base, str):
            return sa.Text()
        if issubclass(base, int):
            return sa.BigInteger()
        if issubclass(base, float):
            return sa.Float()
        if issubclass(base, dt.datetime):
            return sa.DateTime(timezone=True)
        if issubclass(base, dt.date):
            return sa.Date()
    return sa.JSON()


def is_json(annotation: Any) -> bool:
    return isinstance(column_type(annotation), sa.JSON)


def document_columns(
    doc: type[BaseModel], skip: frozenset[str] = frozenset()
) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = []
    for name, info in doc.model_fields.items():
        if name in skip:
            continue
        _, nullable = _strip(info.annotation)
        columns.append(sa.Column(name, column_type(info.annotation), nullable=nullable))
    return columns


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def entity_table(
    name: str,
    doc: type[BaseModel],
    *extra: sa.Column[Any] | sa.Constraint | sa.Index,
    skip: frozenset[str] = frozenset(),
    account_scoped: bool = True,
) -> sa.Table:
    owner: list[sa.Column[Any]] = []
    if account_scoped:
        owner.append(
            sa.Column(
                "account_id",
                sa.BigInteger(),
                sa.ForeignKey("accounts.id", ondelete="CASCADE"),
                nullable=False,
                index=True,
            )
        )
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        *owner,
        *document_columns(doc, skip),
        *_timestamps(),
        *extra,
    )


accounts = entity_table("accounts", Account, account_scoped=False)

users = entity_table(
    "users",
    User,
    sa.Column("password_hash", sa.Text(), nullable=False),
    sa.UniqueConstraint("login"),
    skip=frozenset({"password"}),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "user_id",
        sa.BigInteger(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    sa.Column("operator", sa.Boolean(), nullable=False, default=False),
    sa.Column("token_hash", sa.Text(), nullable=False, unique=True),
    sa.Column("label", sa.Text(), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    # A login's tokens belong to its session: "access" (short-lived bearer) or "refresh" (turned
    # into a new pair once; a second use revokes the session). Operator and directly issued
    # tokens have no session and kind "access".
    sa.Column(
        "session_id",
        sa.BigInteger(),
        sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    sa.Column("kind", sa.Text(), nullable=False, server_default="access"),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
)

#: One per successful login: the family of its access and refresh tokens, revoked as a whole
#: (logout, a reused refresh token, a password change).
auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "user_id",
        sa.BigInteger(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("source", sa.Text(), nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_why", sa.Text(), nullable=False, server_default=""),
)

#: Login attempts not (yet) known to have succeeded, for throttling: in the database so that
#: every API worker process counts the same failures. Rows older than the window are purged.
login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("login", sa.Text(), nullable=False),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "login", "at"),
    sa.Index(None, "source", "at"),
    sa.Index(None, "at"),  # the purge of expired attempts, at every attempt
)

#: Who changed what in an account's configuration and when, with the entity before and after
#: (secrets masked); written in the transaction of the change.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    # The user is not a foreign key: the trail outlives a deleted user (his login is kept).
    sa.Column(
        "account_id",
        sa.BigInteger(),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_role", sa.Text(), nullable=False),
    sa.Column("user_id", sa.BigInteger(), nullable=True),
    sa.Column("user_login", sa.Text(), nullable=False, server_default=""),
    sa.Column("resource", sa.Text(), nullable=False),
    sa.Column("entity_id", sa.BigInteger(), nullable=True),
    sa.Column("operation", sa.Text(), nullable=False),
    sa.Column("before", sa.JSON(), nullable=True),
    sa.Column("after", sa.JSON(), nullable=True),
    sa.Index(None, "account_id", "at"),
    sa.Index(None, "account_id", "resource", "at"),
)

employees = entity_table("employees", Employee, skip=frozenset({"group_ids"}))
groups = entity_table("groups", Group, skip=frozenset({"member_ids"}))
group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column(
        "group_id",
        sa.BigInteger(),
        sa.ForeignKey("groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "employee_id",
        sa.BigInteger(),
        sa.ForeignKey("employees.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), nullable=False),
)

sip_lines = entity_table(
    "sip_lines",
    SipLine,
    sa.Column("login", sa.Text(), nullable=False),
    sa.Column("password", sa.Text(), nullable=False),
    sa.UniqueConstraint("login"),
)
sip_registrations = sa.Table(
    "sip_registrations",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "sip_line_id",
        sa.BigInteger(),
        sa.ForeignKey("sip_lines.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("contact", sa.Text(), nullable=False),
    sa.Column("user_agent", sa.Text(), nullable=False, default=""),
    sa.Column("source", sa.Text(), nullable=False, default=""),
    sa.Column("node", sa.Text(), nullable=False, default=""),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

#: One row per switch process (node): when it started and when it was last known alive (a
#: heartbeat), so the next start can date the end of the calls a crash cut off.
switch_nodes = sa.Table(
    "switch_nodes",
    metadata,
    sa.Column("node", sa.Text(), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("alive_at", sa.DateTime(timezone=True), nullable=False),
)

#: An account's configuration as it was before an applied import (or rollback): its export YAML,
#: so `vpbx config rollback` and POST /config/rollback restore it. The user is not a foreign key:
#: an import may replace the users, the history stays.
config_versions = sa.Table(
    "config_versions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "account_id",
        sa.BigInteger(),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_id", sa.BigInteger(), nullable=True),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("document", sa.Text(), nullable=False),
    sa.Index(None, "account_id", "id"),
)

fmc_lines = entity_table("fmc_lines", FmcLine, sa.UniqueConstraint("number"))
schedules = entity_table("schedules", Schedule)
calendar_overrides = entity_table(
    "calendar_overrides", CalendarOverride, sa.UniqueConstraint("account_id", "date")
)
scenarios = entity_table("scenarios", Scenario)
numbers = entity_table("numbers", VirtualNumber, sa.UniqueConstraint("number"))
caller_lists = entity_table("caller_lists", CallerList)
trunks = entity_table("trunks", Trunk)
talk_options = entity_table("talk_options", TalkOption, sa.UniqueConstraint("account_id", "key"))
cid_rules = entity_table("cid_rules", CidRule)

contacts = entity_table("contacts", Contact, skip=frozenset({"group_ids"}))
contact_groups = entity_table("contact_groups", ContactGroup)
contact_group_members = sa.Table(
    "contact_group_members",
    metadata,
    sa.Column(
        "contact_group_id",
        sa.BigInteger(),
        sa.ForeignKey("contact_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "contact_id",
        sa.BigInteger(),
        sa.ForeignKey("contacts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), nullable=False),
)
blacklist = entity_table("blacklist", BlacklistEntry, sa.UniqueConstraint("account_id", "number"))
tags = entity_table("tags", Tag)
segments = entity_table("segments", Segment)

files = entity_table(
    "files",
    AudioFile,
    sa.Column("content_type", sa.Text(), nullable=False, default=""),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False, default=0),
    sa.Column("duration_seconds", sa.Float(), nullable=False, default=0.0),
    sa.Column("original_path", sa.Text(), nullable=True),
    sa.Column("converted_path", sa.Text(), nullable=True),
    sa.Column("call_id", sa.BigInteger(), nullable=True, index=True),
    sa.Column("caller", sa.Text(), nullable=True),
    sa.Column("called", sa.Text(), nullable=True),
    sa.Column("employee_id", sa.BigInteger(), nullable=True),
    sa.Column("number_id", sa.BigInteger(), nullable=True),
)

callback_rules = entity_table("callback_rules", CallbackRule)
callback_tasks = entity_table(
    "callback_tasks",
    CallbackTask,
    # callback (a missed call, CB-1) | callapi (API-1: employee → number, asked by HTTP) |
    # record (FILE-1: a sound file recorded by phone, asked by HTTP)
    sa.Column("kind", sa.Text(), nullable=True),
    # CallAPI: the employee called first, and the report row the API answered at once
    sa.Column("employee_id", sa.BigInteger(), nullable=True),
    sa.Column("result_call_id", sa.BigInteger(), nullable=True),
    # record (FILE-1 «Записать сообщение»): the sound file's name and the longest recording
    sa.Column("file_name", sa.Text(), nullable=True),
    sa.Column("record_seconds", sa.Integer(), nullable=True),
    # a node's claim while its attempt runs (vpbx.services.callbacks): no other node takes it
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("lease_owner", sa.Text(), nullable=True),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "account_id", "caller", "status"),
)
lead_callback_rules = entity_table("lead_callback_rules", LeadCallbackRule)
leads = entity_table("leads", Lead)
webhooks = entity_table("webhooks", Webhook)

calls = entity_table(
    "calls",
    Call,
    # Which switch process wrote the row and its own id of the call: at start-up a switch closes
    # the rows it left "active" when it died (and finds the partial recordings of those calls).
    sa.Column("node", sa.Text(), nullable=True),
    sa.Column("switch_call_id", sa.Text(), nullable=True),
    sa.Index(None, "account_id", "started_at"),
    sa.Index(None, "status", "node"),
    # a talk option finds its call by the switch's id; caller-ID history and a caller's visits
    # look for one subscriber's latest calls
    sa.Index(None, "account_id", "switch_call_id"),
    sa.Index(None, "account_id", "caller", "started_at"),
    sa.Index(None, "account_id", "called", "started_at"),
    # the calls report's employee and status filters: the page newest first and its count
    sa.Index(None, "account_id", "employee_id", "started_at"),
    sa.Index(None, "account_id", "status", "started_at"),
)
call_steps = sa.Table(
    "call_steps",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "call_id",
        sa.BigInteger(),
        sa.ForeignKey("calls.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("seq", sa.Integer(), nullable=False),
    *document_columns(CallStep),
)


# Daily rollups of the calls for the dashboards (CDR-3), by the account's local day; made and
# kept right by vpbx.storage.call_rollups (a trigger on calls marks the hours to redo).
def _rollup_table(name: str, *columns: sa.Column[Any]) -> sa.Table:
    """A rollup of the account's calls of a local day and a direction: `columns` after those."""
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "account_id",
            sa.BigInteger(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        *columns,
        sa.Index(None, "account_id", "day"),
    )


def _sums_table(name: str, *keys: sa.Column[Any]) -> sa.Table:
    return _rollup_table(
        name,
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("number_id", sa.BigInteger(), nullable=True),
        *keys,
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("wait_sum", sa.Float(), nullable=False),
        sa.Column("talk_sum", sa.Float(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("ratings", sa.Integer(), nullable=False),
    )


call_rollups = _sums_table("call_rollups")
# the same per employee (the calls that name one), for the employees' figures
call_employee_rollups = _sums_table(
    "call_employee_rollups", sa.Column("employee_id", sa.BigInteger(), nullable=False)
)
# the waits of the answered and missed calls in bins (0.1 s below 10 s, 1 s above), for p90
call_wait_rollups = _rollup_table(
    "call_wait_rollups",
    sa.Column("number_id", sa.BigInteger(), nullable=True),
    sa.Column("bin", sa.Integer(), nullable=False),
    sa.Column("calls", sa.Integer(), nullable=False),
    sa.Column("wait_min", sa.Float(), nullable=False),
    sa.Column("wait_max", sa.Float(), nullable=False),
)
# UTC hours whose calls changed since their local days were rolled up (no foreign key: the
# trigger that writes them runs while an account's calls are deleted with it)
call_rollup_marks = sa.Table(
    "call_rollup_marks",
    metadata,
    sa.Column("account_id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
)
# the time zone an account's rollups are cut in (another one: they are all rebuilt)
call_rollup_zones = sa.Table(
    "call_rollup_zones",
    metadata,
    sa.Column(
        "account_id",
        sa.BigInteger(),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("zone", sa.Text(), nullable=False),
)

# Installation-wide reference data: the official numbering plan (ABC/DEF ranges) for regions.
number_ranges = sa.Table(
    "number_ranges",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("code", sa.Integer(), nullable=False),
    sa.Column("range_from", sa.BigInteger(), nullable=False),
    sa.Column("range_to", sa.BigInteger(), nullable=False),
    sa.Column("operator", sa.Text(), nullable=False),
    sa.Column("region", sa.Text(), nullable=False),
    sa.Index(None, "code", "range_from"),
)

# The durable outbox (API-2, SCN-VM): webhook requests and voicemail mails waiting for delivery,
# claimed by the switch nodes' deliverers (vpbx.services.outbox, docs/decisions.md "Outbox").
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("kind", sa.Text(), nullable=False),  # webhook | mail
    sa.Column(
        "account_id",
        sa.BigInteger(),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    # the webhook a request is for (its URL and secret are read at each attempt)
    sa.Column("webhook_id", sa.BigInteger(), nullable=True),
    # the URL or the mail's recipients, as when the row was made (the delivery log shows it)
    sa.Column("target", sa.Text(), nullable=False),
    # the event's type (call_started…) or "voicemail_mail"
    sa.Column("event_type", sa.Text(), nullable=False),
    # the idempotency key the receiver sees (X-Vpbx-Event-Id): the same on every attempt
    sa.Column("event_id", sa.Text(), nullable=False),
    # rows with the same key are delivered one after another, in id order (a call's events to
    # one webhook); NULL: no order
    sa.Column("ordering_key", sa.Text(), nullable=True),
    # the request body exactly as sent (signed as it is), or the mail as RFC 5322 text
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("state", sa.Text(), nullable=False),  # pending | delivered | given_up
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_status", sa.Integer(), nullable=True),
    sa.Column("last_reason", sa.Text(), nullable=False),
    # a node's claim: until then no other node takes the row (its delivery is in flight)
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("lease_owner", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index(None, "ordering_key", "state", "id"),
    sa.Index(None, "webhook_id", "id"),
)
