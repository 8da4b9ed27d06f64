"""The outgoing caller ID of a line's call (CID-1..3): the account's numbers and rules from the
configuration snapshot, the subscriber's history from a `CallerIdSource`, the choice itself in
`vpbx.domain.caller_id`."""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import replace
from typing import Protocol

from vpbx.domain.caller_id import (
    CallerIdChoice,
    CallerIdFacts,
    Mode,
    PoolNumber,
    choose_caller_id,
)
from vpbx.domain.directory import LineInfo
from vpbx.domain.regions import NumberRange, region_key, region_of
from vpbx.scenario.snapshot import ConfigSnapshot, digits_of

__all__ = ["CallerIdPicker", "CallerIdSource"]

#: modes that read the subscriber's calls; the regional ones also his and our numbers' regions
_HISTORY_MODES = frozenset(Mode) - {Mode.FIXED}
_REGIONAL_MODES = frozenset({Mode.REGIONAL_RANDOM, Mode.REGIONAL_FIXED})


class CallerIdSource(Protocol):
    """Where the subscriber's history and the numbering-plan rows are read (the database one is
    `vpbx.services.caller_id_facts.SqlCallerIdSource`)."""

    async def caller_id_facts(
        self, account_id: int, subscriber: str, numbers: tuple[str, ...]
    ) -> CallerIdFacts: ...


#: subscribers whose last shown number this node remembers (the report's rows are written in
#: batches: a second call right after the first must not read a history without it)
RECENT = 10_000


class CallerIdPicker:
    """Chooses the number each outgoing call of a line shows."""

    def __init__(self, source: CallerIdSource | None, rng: random.Random | None = None) -> None:
        self.source = source
        self.rng = rng or random.Random()
        self._shown: OrderedDict[tuple[int, str], int] = OrderedDict()

    async def choose(
        self, line: LineInfo, config: ConfigSnapshot, employee_id: int | None, subscriber: str
    ) -> CallerIdChoice:
        mode = line.caller_id_mode
        unranged = tuple(n.number for _, n in config.numbers.values() if not n.region)
        facts = CallerIdFacts()
        if mode in _HISTORY_MODES and self.source is not None:
            wanted = unranged if mode in _REGIONAL_MODES else ()
            facts = await self.source.caller_id_facts(line.account_id, subscriber, wanted)
        remembered = self._shown.get((line.account_id, digits_of(subscriber)))
        if remembered is not None:
            facts = replace(facts, history=replace(facts.history, last_shown=remembered))
        pool = [
            PoolNumber(i, n.number, _region(n.region, n.number, facts.ranges), n.trunk_id)
            for i, n in config.numbers.values()
        ]
        choice = choose_caller_id(
            mode,
            line.caller_id_number_id,
            pool,
            config.cid_rules,
            employee_id,
            _region(None, subscriber, facts.ranges),
            facts.history,
            self.rng.choice,
        )
        if choice.number is not None:
            self._remember((line.account_id, digits_of(subscriber)), choice.number.id)
        return choice

    def _remember(self, key: tuple[int, str], number_id: int) -> None:
        self._shown[key] = number_id
        self._shown.move_to_end(key)
        if len(self._shown) > RECENT:
            self._shown.popitem(last=False)


def _region(own: str | None, number: str, ranges: tuple[NumberRange, ...]) -> str | None:
    """The comparison key of a number's region: its own setting, else the numbering plan's."""
    name = own or region_of(number, ranges)
    return region_key(name) if name else None
