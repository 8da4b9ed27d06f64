"""Visit number (SCN-VISIT) and audience segments (SCN-SEGMENT) of a caller. Pure."""

from __future__ import annotations

import datetime as dt

from vpbx.domain.entities.addressbook import Segment
from vpbx.domain.regions import region_key
from vpbx.scenario.snapshot import CallerFacts, ConfigSnapshot, matches_pattern

__all__ = ["caller_segments", "segment_matches", "visits_within"]


def visits_within(facts: CallerFacts, now: dt.datetime, hours: int, all_kinds: bool) -> int:
    """Past communications within `hours` before `now`: calls only, or every kind."""
    since = now - dt.timedelta(hours=hours)
    return sum(1 for p in facts.past if since <= p.at < now and (all_kinds or p.kind == "call"))


def segment_matches(
    segment: Segment,
    config: ConfigSnapshot,
    facts: CallerFacts,
    caller: str,
    region: str | None,
    now: dt.datetime,
) -> bool:
    """Every given condition holds (an empty condition list matches every caller)."""
    c = segment.conditions
    if c.numbers and not any(matches_pattern(caller, p) for p in c.numbers):
        return False
    if c.contact_group_ids:
        groups = {g for contact in config.contacts_of(caller) for g in contact.group_ids}
        if not groups & set(c.contact_group_ids):
            return False
    if c.regions and (
        region is None or region_key(region) not in {region_key(r) for r in c.regions}
    ):
        return False
    visits = sum(1 for p in facts.past if p.at < now)
    if c.min_visits is not None and visits < c.min_visits:
        return False
    if c.max_visits is not None and visits > c.max_visits:
        return False
    if c.tag_ids:
        tags = {t for p in facts.past for t in p.tag_ids}
        if not tags & set(c.tag_ids):
            return False
    return True


def caller_segments(
    config: ConfigSnapshot,
    facts: CallerFacts,
    caller: str,
    region: str | None,
    now: dt.datetime,
) -> list[int]:
    """Ids of every segment of the account the caller belongs to, in id order."""
    return [
        sid
        for sid, segment in sorted(config.segments.items())
        if segment_matches(segment, config, facts, caller, region, now)
    ]
