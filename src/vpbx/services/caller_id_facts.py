"""What an outgoing caller-ID choice (CID-1) reads from the database: the subscriber's latest
calls with the account, and the numbering-plan rows of the numbers whose region is asked."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.caller_id import CallerIdFacts, SubscriberHistory
from vpbx.domain.regions import NumberRange
from vpbx.scenario.snapshot import digits_of
from vpbx.services.scenario_config import number_ranges_for
from vpbx.storage import tables as t

__all__ = ["SqlCallerIdSource", "spellings"]


def spellings(number: str) -> tuple[str, ...]:
    """How one subscriber's number may stand in the report: incoming rows keep the trunk's
    digits, outgoing rows what the phone dialled (7…, 8…, +7…)."""
    digits = digits_of(number)
    forms = {digits, "+" + digits}
    if len(digits) == 11 and digits.startswith("7"):
        forms.add("8" + digits[1:])
    return tuple(sorted(forms))


class SqlCallerIdSource:
    """Implements `vpbx.switch.caller_id.CallerIdSource` on the calls and number_ranges tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def caller_id_facts(
        self, account_id: int, subscriber: str, numbers: tuple[str, ...]
    ) -> CallerIdFacts:
        forms = spellings(subscriber)
        c = t.calls.c
        outgoing = sa.and_(c.direction == "outgoing", c.called.in_(forms))
        incoming = sa.and_(c.direction == "incoming", c.caller.in_(forms))

        def latest(which: sa.ColumnElement[bool]) -> sa.Select[tuple[int | None]]:
            return (
                sa.select(c.number_id)
                .where(c.account_id == account_id, c.number_id.is_not(None), which)
                .order_by(c.started_at.desc(), c.id.desc())
                .limit(1)
            )

        ranges: list[NumberRange] = []
        async with self.engine.connect() as conn:
            contact = (await conn.execute(latest(sa.or_(incoming, outgoing)))).scalar()
            shown = (await conn.execute(latest(outgoing))).scalar()
            for number in (subscriber, *numbers):
                ranges.extend(await number_ranges_for(conn, number))
        return CallerIdFacts(SubscriberHistory(contact, shown), tuple(ranges))
