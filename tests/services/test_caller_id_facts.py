"""CID-1 history on both backends: the subscriber's latest contact (in or out, whichever the
report spells his number as) and the number last shown to him, read by `SqlCallerIdSource`;
and the numbering-plan rows of the subscriber and of the numbers asked for."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.domain.switch_records import CallStart
from vpbx.services.accounts import create_account
from vpbx.services.call_log import begin_calls
from vpbx.services.caller_id_facts import SqlCallerIdSource, spellings
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

NOW = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)
SUBSCRIBER = "79121234567"


def clock() -> dt.datetime:
    return NOW


async def account_with_numbers(engine: AsyncEngine, name: str, *numbers: str) -> list[int]:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name=name), NOW)
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), clock)
        ids = [
            int((await svc.create("numbers", {"number": n})).model_dump()["id"]) for n in numbers
        ]
    return [account_id, *ids]


async def call(
    engine: AsyncEngine,
    account_id: int,
    minutes_ago: int,
    direction: str,
    other: str,
    number_id: int,
) -> None:
    incoming = direction == "incoming"
    start = CallStart(
        account_id=account_id,
        started_at=NOW - dt.timedelta(minutes=minutes_ago),
        direction=direction,
        caller=other if incoming else "101",
        called="" if incoming else other,
        number_id=number_id,
    )
    async with engine.begin() as conn:
        await begin_calls(conn, [start], NOW, node="n1")


def test_the_spellings_of_a_russian_number() -> None:
    assert spellings("+7 (912) 123-45-67") == ("+79121234567", "79121234567", "89121234567")
    assert spellings("89121234567") == ("+79121234567", "79121234567", "89121234567")
    assert spellings("442071234567") == ("+442071234567", "442071234567")


async def test_the_latest_contact_and_the_last_shown_number(engine: AsyncEngine) -> None:
    account, first, second, third = await account_with_numbers(
        engine, "A", "74951110001", "74951110002", "74951110003"
    )
    other, foreign = await account_with_numbers(engine, "B", "74951119999")
    source = SqlCallerIdSource(engine)
    facts = await source.caller_id_facts(account, SUBSCRIBER, ())
    assert (facts.history.last_contact, facts.history.last_shown) == (None, None)

    await call(engine, account, 30, "outgoing", "89121234567", first)  # dialled with 8
    await call(engine, account, 20, "incoming", SUBSCRIBER, second)  # he called number 2
    await call(engine, account, 10, "outgoing", "+79127654321", third)  # someone else
    await call(engine, other, 1, "incoming", SUBSCRIBER, foreign)  # another account
    facts = await source.caller_id_facts(account, "+7 912 123-45-67", ())
    assert facts.history.last_contact == second
    assert facts.history.last_shown == first


async def test_the_numbering_plan_rows_of_the_subscriber_and_the_numbers_asked(
    engine: AsyncEngine,
) -> None:
    (account,) = await account_with_numbers(engine, "C")
    rows = [
        {
            "code": 912,
            "range_from": 0,
            "range_to": 9999999,
            "operator": "X",
            "region": "Свердловская обл.",
        },
        {
            "code": 343,
            "range_from": 2000000,
            "range_to": 2999999,
            "operator": "Y",
            "region": "Свердловская обл.",
        },
        {"code": 495, "range_from": 0, "range_to": 9999999, "operator": "Z", "region": "г. Москва"},
    ]
    async with engine.begin() as conn:
        await conn.execute(sa.insert(t.number_ranges), rows)
    facts = await SqlCallerIdSource(engine).caller_id_facts(account, SUBSCRIBER, ("73432220003",))
    assert sorted(r.code for r in facts.ranges) == [343, 912]
