"""Loads the scenario engine's `ConfigSnapshot` and one caller's `CallerFacts` from the database.

The only I/O of the engine's configuration: everything goes through `EntityService` (so the
account scoping and document shapes are the API's), plus the calls/leads history of one caller
and the numbering-plan ranges of his code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.caller_id import CidRuleView
from vpbx.domain.entities.addressbook import BlacklistEntry, Contact, ContactGroup, Segment
from vpbx.domain.entities.misc import AudioFile, Schedule
from vpbx.domain.entities.people import Employee, FmcLine, Group
from vpbx.domain.entities.routing import CallerList, CidRule, TalkOption, VirtualNumber
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.regions import NumberRange, split_number
from vpbx.scenario.snapshot import (
    CallerFacts,
    ConfigSnapshot,
    EmployeeInfo,
    FileInfo,
    FmcLineInfo,
    GroupInfo,
    GroupRow,
    PastContact,
    PhoneInfo,
    digits_of,
)
from vpbx.services.calendar import account_calendar
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

__all__ = ["load_caller_facts", "load_snapshot", "number_ranges_for"]

#: how far back the history of a caller is read (the longest visit interval is 10 years)
HISTORY = dt.timedelta(days=3650)


def _typed(rows: list[tuple[int, Any]], kind: type[Any]) -> list[tuple[int, Any]]:
    return [(i, doc) for i, doc in rows if isinstance(doc, kind)]


def _employee(eid: int, doc: Employee) -> EmployeeInfo:
    name = " ".join(part for part in (doc.last_name, doc.first_name) if part)
    phones = tuple(
        PhoneInfo(
            p.id or str(n),
            p.kind.value,
            p.lines,
            float(p.ring_timeout),
            sip_line_id=int(p.sip_line_id) if p.sip_line_id is not None else None,
            number=str(p.number) if p.number is not None else None,
            sip_uri=str(p.sip_uri) if p.sip_uri is not None else None,
            fmc_line_id=int(p.fmc_line_id) if p.fmc_line_id is not None else None,
        )
        for n, p in enumerate(doc.phones, start=1)
    )
    return EmployeeInfo(
        eid,
        name,
        doc.extension,
        tuple(p.id for p in phones),
        doc.rate_after_call,
        doc.calls_enabled,
        phones,
        doc.schedule_id,
        trainer_id=doc.trainer_id,
        auto_call_trainer=doc.auto_call_trainer,
        record_calls=doc.record_calls,
    )


async def load_snapshot(svc: EntityService) -> ConfigSnapshot:
    """Every piece of the account's configuration the engine reads, in one transaction."""
    account, sip_uri, transfer_caller_id, record_calls = (
        await svc.conn.execute(
            sa.select(
                t.accounts.c.timezone,
                t.accounts.c.sip_uri_transfer,
                t.accounts.c.transfer_caller_id,
                t.accounts.c.record_calls,
            ).where(t.accounts.c.id == svc.account_id)
        )
    ).one()
    files = []
    for fid, doc in await svc.all_documents("files"):
        audio = cast(AudioFile, doc)
        duration = float(getattr(doc, "duration_seconds", 0.0) or 0.0)
        files.append(FileInfo(fid, audio.name, audio.system_name, duration))
    employees = [
        _employee(eid, cast(Employee, doc)) for eid, doc in await svc.all_documents("employees")
    ]
    groups = []
    for gid, doc in await svc.all_documents("groups"):
        group = cast(Group, doc)
        rows = tuple(
            GroupRow(r.employee_id, r.phone_id, r.percent, r.enabled) for r in group.distribution
        )
        groups.append(
            GroupInfo(
                gid,
                group.name,
                group.extension,
                tuple(group.member_ids),
                group.simultaneous_lines,
                rows,
                group.schedule_id,
            )
        )
    blacklist = [
        cast(BlacklistEntry, doc).number for _, doc in await svc.all_documents("blacklist")
    ]
    return ConfigSnapshot.build(
        tz=str(account),
        calendar=await account_calendar(svc.conn, svc.account_id),
        numbers=_typed(await svc.all_documents("numbers"), VirtualNumber),
        scenarios=_typed(await svc.all_documents("scenarios"), Scenario),
        schedules=_typed(await svc.all_documents("schedules"), Schedule),
        contacts=_typed(await svc.all_documents("contacts"), Contact),
        contact_groups=_typed(await svc.all_documents("contact-groups"), ContactGroup),
        caller_lists=_typed(await svc.all_documents("caller-lists"), CallerList),
        blacklist=blacklist,
        employees=employees,
        groups=groups,
        segments=_typed(await svc.all_documents("segments"), Segment),
        files=files,
        sip_uri_allowed=bool(sip_uri),
        talk_options=[
            doc for _, doc in await svc.all_documents("talk-options") if isinstance(doc, TalkOption)
        ],
        transfer_caller_id=str(transfer_caller_id or "virtual_number"),
        record_calls=bool(record_calls),
        cid_rules=_cid_rules(await svc.all_documents("cid-rules")),
        fmc_lines=[
            FmcLineInfo(
                i,
                str(doc.number),
                doc.employee_id,
                doc.blocked,
                doc.connected,
                doc.service_enabled,
                doc.channels,
                doc.caller_id_number_id,
            )
            for i, doc in _typed(await svc.all_documents("fmc-lines"), FmcLine)
        ],
    )


def _cid_rules(documents: list[tuple[int, BaseModel]]) -> list[CidRuleView]:
    """CID-3 rules in priority order: by position, then as they were created."""
    rules = sorted(
        ((i, doc) for i, doc in documents if isinstance(doc, CidRule)),
        key=lambda item: (item[1].position, item[0]),
    )
    return [
        CidRuleView(
            rule.action == "allow", frozenset(rule.number_ids), frozenset(rule.employee_ids)
        )
        for _, rule in rules
    ]


async def number_ranges_for(conn: AsyncConnection, caller: str) -> tuple[NumberRange, ...]:
    """The numbering-plan rows that contain `caller` (usually one, none for foreign numbers)."""
    split = split_number(caller)
    if split is None:
        return ()
    code, subscriber = split
    query = sa.select(t.number_ranges).where(
        t.number_ranges.c.code == code,
        t.number_ranges.c.range_from <= subscriber,
        t.number_ranges.c.range_to >= subscriber,
    )
    rows = (await conn.execute(query)).mappings().all()
    return tuple(
        NumberRange(r["code"], r["range_from"], r["range_to"], r["operator"], r["region"])
        for r in rows
    )


async def load_caller_facts(svc: EntityService, caller: str, now: dt.datetime) -> CallerFacts:
    """Past calls and leads of `caller` (visit number, segments) and his numbering-plan range."""
    number = digits_of(caller)
    # stored times are UTC (SQLite keeps no offset): compare in UTC
    now = now.astimezone(dt.UTC)
    since = now - HISTORY
    past: list[PastContact] = []
    calls = sa.select(t.calls.c.started_at, t.calls.c.tag_ids).where(
        t.calls.c.account_id == svc.account_id,
        t.calls.c.caller == number,
        t.calls.c.started_at >= since,
        t.calls.c.started_at < now,
    )
    for row in (await svc.conn.execute(calls)).all():
        at = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=dt.UTC)
        past.append(PastContact(at, "call", tuple(row.tag_ids or ())))
    leads = sa.select(t.leads.c.created_at).where(
        t.leads.c.account_id == svc.account_id,
        t.leads.c.phone == number,
        t.leads.c.created_at >= since,
    )
    for row in (await svc.conn.execute(leads)).all():
        at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
        past.append(PastContact(at, "lead"))
    return CallerFacts(tuple(past), await number_ranges_for(svc.conn, number))
