"""TALK-4/6/7 on both backends: what a talk option writes through `SqlTalkRecords` (the service
behind the switch's `TalkRecords`; `vpbx.app` hands it to the runner, so mypy checks that it
fits): a tag on a call by the switch's own id (existing or new by name, never another account's),
the personal manager of the caller's contact, the caller's number into a contact group or the
blacklist, and the next call from a blacklisted number refused once the snapshot cache was told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.domain.switch_records import CallRecord, CallStart
from vpbx.scenario.actions import Reject
from vpbx.scenario.engine import Call
from vpbx.scenario.events import CallArrived
from vpbx.services.accounts import create_account
from vpbx.services.call_log import begin_calls, finish_calls
from vpbx.services.entities import EntityService
from vpbx.services.snapshot_source import SqlSnapshotSource
from vpbx.services.talk_records import BLACKLIST_COMMENT, SqlTalkRecords
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine
from vpbx.switch.snapshots import SnapshotCache

migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")

NOW = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)
CALLER = "74951234567"


def clock() -> dt.datetime:
    return NOW


@pytest.fixture
async def engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(migrated_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


class Changes:
    """The `on_change` of the service: the accounts it was told of, in order."""

    def __init__(self) -> None:
        self.accounts: list[int] = []

    def __call__(self, account_id: int) -> None:
        self.accounts.append(account_id)


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def records(engine: AsyncEngine, changes: Changes) -> SqlTalkRecords:
    return SqlTalkRecords(engine, clock, on_change=changes)


async def new_account(engine: AsyncEngine, name: str) -> int:
    async with engine.begin() as conn:
        return await create_account(conn, Account(name=name), NOW)


async def create(engine: AsyncEngine, account_id: int, resource: str, **data: Any) -> int:
    async with engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), clock)
        return int((await svc.create(resource, data)).model_dump()["id"])


async def employee(engine: AsyncEngine, account_id: int, name: str = "Petrov") -> int:
    phone = {"kind": "number", "number": "79160000001"}
    return await create(engine, account_id, "employees", last_name=name, phones=[phone])


async def start_call(engine: AsyncEngine, account_id: int, switch_call_id: str) -> int:
    """The call's `active` row, as the switch's call store writes it when the call arrives."""
    start = CallStart(
        account_id=account_id,
        started_at=NOW - dt.timedelta(minutes=2),
        direction="incoming",
        caller=CALLER,
        called="74950000000",
        switch_call_id=switch_call_id,
    )
    async with engine.begin() as conn:
        (call_id,) = await begin_calls(conn, [start], NOW, node="node-1")
    return call_id


async def rows(engine: AsyncEngine, table: sa.Table, account_id: int) -> list[sa.RowMapping]:
    query = sa.select(table).where(table.c.account_id == account_id).order_by(table.c.id)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())


async def tags_of(engine: AsyncEngine, call_id: int) -> list[int]:
    async with engine.connect() as conn:
        query = sa.select(t.calls.c.tag_ids).where(t.calls.c.id == call_id)
        return list((await conn.execute(query)).scalar_one())


async def audit_entries(engine: AsyncEngine, account_id: int) -> list[sa.RowMapping]:
    return await rows(engine, t.audit_log, account_id)


# -- TALK-4 / TAG-1: tags ----------------------------------------------------------------------


async def test_a_new_tag_by_name_is_created_once_and_put_on_the_calls(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    account = await new_account(engine, "tags")
    first = await start_call(engine, account, "sw-1")
    second = await start_call(engine, account, "sw-2")

    tag = await records.tag_call(account, "sw-1", None, "  Горячий лид ", employee_id=None)
    again = await records.tag_call(account, "sw-1", None, "Горячий лид")
    other = await records.tag_call(account, "sw-2", None, "Горячий лид")

    assert tag is not None
    assert again == tag
    assert other == tag
    tags = await rows(engine, t.tags, account)
    assert [(r["id"], r["name"]) for r in tags] == [(tag, "Горячий лид")]
    assert await tags_of(engine, first) == [tag]  # the same tag twice: once on the call
    assert await tags_of(engine, second) == [tag]
    # a new tag is a configuration change: told once, when it was created
    assert changes.accounts == [account]
    (entry,) = await audit_entries(engine, account)
    assert (entry["resource"], entry["operation"], entry["entity_id"]) == ("tags", "create", tag)
    assert entry["actor_role"] == "employee"
    assert entry["user_login"] == "(talk option)"
    assert entry["after"]["name"] == "Горячий лид"


async def test_an_existing_tag_is_put_on_the_call_and_kept_when_the_call_ends(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    account = await new_account(engine, "existing tag")
    vip = await create(engine, account, "tags", name="VIP")
    sale = await create(engine, account, "tags", name="Продажа")
    call = await start_call(engine, account, "sw-1")

    assert await records.tag_call(account, "sw-1", vip, None) == vip
    # an id wins over a name: nothing is created
    assert await records.tag_call(account, "sw-1", sale, "ignored name") == sale
    record = CallRecord(
        account_id=account,
        started_at=NOW - dt.timedelta(minutes=2),
        direction="incoming",
        status="answered",
        caller=CALLER,
        called="74950000000",
        ended_at=NOW,
        switch_call_id="sw-1",
    )
    async with engine.begin() as conn:
        await finish_calls(conn, [(call, record, 0)], NOW)
    # after the end too (the after-talk tagging, SCN-TAG)
    assert await records.tag_call(account, "sw-1", vip, None) == vip

    assert await tags_of(engine, call) == [vip, sale]
    assert [r["name"] for r in await rows(engine, t.tags, account)] == ["VIP", "Продажа"]
    assert changes.accounts == []  # no configuration changed


async def test_a_tag_of_another_account_is_refused(
    engine: AsyncEngine, records: SqlTalkRecords
) -> None:
    mine = await new_account(engine, "mine")
    theirs = await new_account(engine, "theirs")
    foreign = await create(engine, theirs, "tags", name="чужой")
    call = await start_call(engine, mine, "sw-1")

    assert await records.tag_call(mine, "sw-1", foreign, None) is None
    assert await records.tag_call(mine, "sw-1", 10**12, None) is None  # no such tag at all

    assert await tags_of(engine, call) == []


async def test_another_accounts_call_an_unknown_call_and_nothing_to_put_are_refused(
    engine: AsyncEngine, records: SqlTalkRecords
) -> None:
    mine = await new_account(engine, "mine")
    theirs = await new_account(engine, "theirs")
    tag = await create(engine, mine, "tags", name="VIP")
    their_call = await start_call(engine, theirs, "sw-theirs")
    await start_call(engine, mine, "sw-1")

    assert await records.tag_call(mine, "sw-theirs", tag, None) is None
    assert await records.tag_call(mine, "sw-unknown", None, "new") is None
    assert await records.tag_call(mine, "", tag, None) is None
    assert await records.tag_call(mine, "sw-1", None, "   ") is None
    assert await records.tag_call(mine, "sw-1", None, "x" * 201) is None  # Name: 200 at most

    assert await tags_of(engine, their_call) == []
    # no tag was created for a call that is not there, nor a name the rules refuse
    assert [r["name"] for r in await rows(engine, t.tags, mine)] == ["VIP"]


# -- TALK-6: personal manager ------------------------------------------------------------------


async def test_the_manager_is_assigned_to_the_callers_contact_replacing_the_one_before(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    account = await new_account(engine, "manager")
    before = await employee(engine, account, "Ivanov")
    pressing = await employee(engine, account, "Petrov")
    # stored with 8: the same number as the caller's 7… (as the snapshot compares them)
    contact = await create(
        engine, account, "contacts", last_name="Smirnov", phones=["84951234567"], manager_id=before
    )
    newer = await create(engine, account, "contacts", last_name="Same phone", phones=[CALLER])

    await records.assign_manager(account, CALLER, pressing)

    found = {r["id"]: r for r in await rows(engine, t.contacts, account)}
    assert found[contact]["manager_id"] == pressing  # the oldest contact with the phone
    assert found[newer]["manager_id"] is None
    assert changes.accounts == [account]
    entry = (await audit_entries(engine, account))[-1]
    assert (entry["resource"], entry["operation"]) == ("contacts", "update")
    assert entry["before"]["manager_id"] == before
    assert entry["after"]["manager_id"] == pressing
    assert entry["user_login"] == f"(talk option, employee {pressing})"
    snapshot = await SqlSnapshotSource(engine, clock).snapshot(account)
    assert snapshot.contacts_of(CALLER)[0].manager_id == pressing


async def test_a_missing_contact_is_created_by_the_manuals_rule(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    account = await new_account(engine, "new contact")
    pressing = await employee(engine, account)

    await records.assign_manager(account, "+7 (495) 123-45-67", pressing)
    await records.assign_manager(account, "84951234567", pressing)  # the same caller again

    (contact,) = await rows(engine, t.contacts, account)
    assert contact["last_name"] == CALLER
    assert contact["phones"] == [CALLER]
    assert contact["manager_id"] == pressing
    assert changes.accounts == [account]  # the second time changed nothing
    entry = (await audit_entries(engine, account))[-1]
    assert (entry["resource"], entry["operation"]) == ("contacts", "create")


async def test_a_manager_of_another_account_or_no_phone_number_writes_nothing(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    mine = await new_account(engine, "mine")
    theirs = await new_account(engine, "theirs")
    foreign = await employee(engine, theirs)
    pressing = await employee(engine, mine)

    await records.assign_manager(mine, CALLER, foreign)
    await records.assign_manager(mine, "101", pressing)  # an extension: no contact's phone
    await records.assign_manager(mine, "anonymous", pressing)

    assert await rows(engine, t.contacts, mine) == []
    assert changes.accounts == []


# -- TALK-7: save caller ID --------------------------------------------------------------------


async def test_a_blacklisted_caller_is_refused_on_the_next_call(
    engine: AsyncEngine, changes: Changes
) -> None:
    account = await new_account(engine, "blacklist")
    cache = SnapshotCache(SqlSnapshotSource(engine, clock), ttl=3600)

    def changed(account_id: int) -> None:
        changes(account_id)
        cache.invalidate(account_id)  # what `vpbx.app` wires (with the directory and Redis)

    records = SqlTalkRecords(engine, clock, on_change=changed)
    before, _ = await cache.get(account)  # cached: the call that is talking now
    assert CALLER not in before.blacklist

    await records.save_caller(account, "8 495 123-45-67", None, True, employee_id=None)

    after, _ = await cache.get(account)
    assert CALLER in after.blacklist
    actions = Call(after).handle(CallArrived("74950000000", "84951234567"), NOW)
    assert actions == [Reject("blacklisted")]
    (entry,) = await rows(engine, t.blacklist, account)
    assert (entry["number"], entry["comment"]) == (CALLER, BLACKLIST_COMMENT)
    assert changes.accounts == [account]


async def test_a_number_already_in_the_blacklist_is_not_added_twice(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    account = await new_account(engine, "twice")
    await create(engine, account, "blacklist", number="84951234567", comment="спам")

    await records.save_caller(account, CALLER, None, True)
    await records.save_caller(account, CALLER, None, True)

    assert [r["number"] for r in await rows(engine, t.blacklist, account)] == ["84951234567"]
    assert changes.accounts == []


async def test_the_caller_joins_a_contact_group_through_his_contact_or_a_new_one(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    account = await new_account(engine, "groups")
    vip = await create(engine, account, "contact-groups", name="VIP")
    debtors = await create(engine, account, "contact-groups", name="Должники")
    known = await create(
        engine, account, "contacts", last_name="Known", phones=[CALLER], group_ids=[debtors]
    )

    await records.save_caller(account, CALLER, vip, False)
    await records.save_caller(account, CALLER, vip, False)  # a member already: nothing
    await records.save_caller(account, "79169998877", vip, False)

    contacts = await rows(engine, t.contacts, account)
    assert contacts[0]["id"] == known
    assert [c["last_name"] for c in contacts] == ["Known", "79169998877"]
    assert contacts[1]["phones"] == ["79169998877"]
    async with engine.connect() as conn:
        m = t.contact_group_members.c
        query = sa.select(m.contact_id, m.contact_group_id).order_by(m.contact_id, m.position)
        members = [tuple(r) for r in (await conn.execute(query)).all()]
    assert members == [(known, debtors), (known, vip), (contacts[1]["id"], vip)]
    assert changes.accounts == [account, account]
    assert await rows(engine, t.blacklist, account) == []
    snapshot = await SqlSnapshotSource(engine, clock).snapshot(account)
    assert vip in snapshot.contacts_of(CALLER)[0].group_ids


async def test_a_contact_group_of_another_account_is_refused(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    mine = await new_account(engine, "mine")
    theirs = await new_account(engine, "theirs")
    foreign = await create(engine, theirs, "contact-groups", name="VIP")

    # both asked: all or nothing (the blacklist entry is not written either)
    await records.save_caller(mine, CALLER, foreign, True)

    assert await rows(engine, t.contacts, mine) == []
    assert await rows(engine, t.blacklist, mine) == []
    assert changes.accounts == []


async def test_a_caller_that_is_no_phone_number_is_not_saved(
    engine: AsyncEngine, records: SqlTalkRecords, changes: Changes
) -> None:
    account = await new_account(engine, "short")

    await records.save_caller(account, "101", None, True)
    await records.save_caller(account, "", None, True)

    assert await rows(engine, t.blacklist, account) == []
    assert changes.accounts == []


async def test_a_failing_on_change_does_not_undo_the_write(engine: AsyncEngine) -> None:
    account = await new_account(engine, "on change fails")

    def broken(_account_id: int) -> None:
        raise RuntimeError("cache gone")

    await SqlTalkRecords(engine, clock, on_change=broken).save_caller(account, CALLER, None, True)

    assert [r["number"] for r in await rows(engine, t.blacklist, account)] == [CALLER]
