"""Web leads arriving by HTTP (CB-4 «Автоперезвон по заявкам»): stored, then called back by the
account's lead rules.

`accept_lead` is the whole of an arrival, in the request's transaction: the per-source limit
(leads of the same account, source and site within the last minute, counted on the leads table
so every API worker shares it: a flood is answered 429 and makes no rows), the lead itself
(through the catalogue, so its rules and permissions are the `leads` resource's), and the task
of the first matching lead rule (`vpbx.services.callbacks.create_lead_task`), which a switch
node's scheduler places like any callback. A subscriber with an open callback gets no second
task: many leads from one phone are one call.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.callback_plan import LeadFacts, site_host
from vpbx.domain.entities.callback import LeadSource
from vpbx.domain.errors import DomainError, Forbidden
from vpbx.domain.fields import PhoneNumber
from vpbx.domain.regions import region_of
from vpbx.scenario.segments import segment_matches
from vpbx.scenario.snapshot import CallerFacts
from vpbx.services.callbacks import COMMENT, create_lead_task
from vpbx.services.entities import EntityService
from vpbx.services.scenario_config import load_caller_facts, load_snapshot
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = ["AcceptedLead", "IncomingLead", "LeadLimits", "TooManyLeads", "accept_lead"]

#: the window of the per-source limit
WINDOW = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class LeadLimits:
    #: leads one source (account, kind of source, site) may send per minute (0: none)
    per_minute: int = 30


class TooManyLeads(DomainError):
    """The source sent its limit of leads within the last minute (HTTP 429)."""

    error_id = "too_many_leads"
    status = 429

    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(
            f"превышен лимит заявок источника: {limit} в минуту, повторите через "
            f"{retry_after} с / the source's limit of {limit} leads per minute reached, retry "
            f"in {retry_after} s"
        )
        self.retry_after = retry_after


class IncomingSource(enum.StrEnum):
    """Where a lead comes from (CB-4's kinds of source; «сайт», «сегмент» and «все» are what
    rules choose by, not kinds of source)."""

    CUSTOM = LeadSource.CUSTOM.value
    STANDARD = LeadSource.STANDARD.value
    AD_PLATFORM = LeadSource.AD_PLATFORM.value


class IncomingLead(BaseModel):
    """A lead as a site's form, its back end or a CRM sends it."""

    model_config = ConfigDict(extra="forbid")

    phone: PhoneNumber = Field(description="the number to call back")
    name: Annotated[str, Field(max_length=200)] = Field(
        default="", description="how the person introduced himself"
    )
    comment: Annotated[str, Field(max_length=1000)] = Field(
        default="", description="what he asked (said to the employee in the whisper with data)"
    )
    source: IncomingSource = Field(
        default=IncomingSource.CUSTOM,
        description="custom (the site's own JS code or back end), standard (a standard form), "
        "ad_platform (an ad platform's lead form)",
    )
    site: Annotated[str, Field(max_length=300)] = Field(
        default="", description="the site the lead came from (a host or URL; kept as the host)"
    )


class AcceptedLead(BaseModel):
    """The lead is stored; `task_id` is its callback's task, or null with the reason."""

    lead_id: int
    task_id: int | None
    reason: str = Field(description="which rule made the task, or why none was made (Russian)")


async def accept_lead(
    conn: AsyncConnection,
    who: Actor,
    body: IncomingLead,
    now: dt.datetime,
    limits: LeadLimits,
) -> AcceptedLead:
    account_id = who.account_id
    if account_id is None:
        raise Forbidden("no account chosen (operators pass X-Account-Id)")
    if who.role not in (Role.ADMIN, Role.OPERATOR):
        raise Forbidden("leads are sent with an admin's (or the operator's) token")
    now = as_utc(now)
    site = site_host(body.site)
    await _check_rate(conn, account_id, body.source.value, site, now, limits.per_minute)
    svc = EntityService(conn, who, lambda: now)
    payload = {COMMENT: body.comment} if body.comment else {}
    lead = await svc.create(
        "leads",
        {
            "source": body.source.value,
            "phone": body.phone,
            "name": body.name,
            "site": site,
            "payload": payload,
        },
    )
    lead_id = int(lead.model_dump()["id"])
    facts = LeadFacts(
        lead_id, body.phone, LeadSource(body.source.value), now, body.name, site, body.comment
    )
    reader = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: now)
    config = await load_snapshot(reader)
    caller: CallerFacts | None = None

    def in_segment(segment_id: int) -> bool:
        segment = config.segments.get(segment_id)
        if segment is None or caller is None:
            return False
        region = region_of(body.phone, caller.ranges)
        return segment_matches(segment, config, caller, body.phone, region, now)

    if config.segments:  # segment rules need the subscriber's history
        caller = await load_caller_facts(reader, body.phone, now)
    task_id, reason = await create_lead_task(conn, facts, account_id, config, in_segment, now)
    return AcceptedLead(lead_id=lead_id, task_id=task_id, reason=reason)


async def _check_rate(
    conn: AsyncConnection, account_id: int, source: str, site: str, now: dt.datetime, limit: int
) -> None:
    k = t.leads.c
    query = sa.select(k.created_at).where(
        k.account_id == account_id,
        k.source == source,
        k.site == site,
        k.created_at > now - WINDOW,
    )
    arrived = sorted(as_utc(at) for at in (await conn.execute(query)).scalars())
    if len(arrived) < limit:
        return
    # the lead that leaves the window first makes room for one more
    frees_at = arrived[len(arrived) - limit] + WINDOW if arrived else now + WINDOW
    raise TooManyLeads(max(1, math.ceil((frees_at - now).total_seconds())), limit)
