"""What talk options write (TALK-4, TALK-6, TALK-7), the SQL behind
`vpbx.switch.talk_records.TalkRecords`.

* `tag_call` (TALK-4, TAG-1): a tag of the account on the call the switch knows by its own id,
  an existing one or a new one by name (created once: a tag of that name is reused);
* `assign_manager` (TALK-6): the employee becomes the personal manager of the caller's contact;
* `save_caller` (TALK-7, BLK-1): the caller's number into a contact group (the contact with that
  phone joins it) or into the blacklist.

The caller's contact is found the way the configuration snapshot finds it (`contacts_by_phone`:
`digits_of` on both sides, so 8XXXXXXXXXX is 7XXXXXXXXXX); with several, the oldest (the one the
personal-manager forward reads first). Without one, a contact is created by the manual's rule:
last name = the number, phone = the number (TALK-6), here also for a contact group (TALK-7).

Configuration entities (tags, contacts, blacklist entries) are written through the entity
service, so every rule of the API holds (references of the account, uniqueness, phone format),
and each write is an audit entry by the role `employee` with the login «(talk option, employee
N)»: no cabinet user acted. After a committed change of the configuration `on_change(account)`
is called (`vpbx.app`: the node's snapshot cache and directory are dropped, and other nodes are
told), so the next call from a number just blacklisted is refused.

A refusal (a tag or a contact group of another account, a caller number that is no phone
number, a call with no row) writes nothing, is logged as a warning and is answered None; a
database failure raises (the switch logs it, the call goes on).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import DomainError
from vpbx.scenario.snapshot import digits_of
from vpbx.services import audit
from vpbx.services.call_tags import add_call_tag, find_call
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

__all__ = ["BLACKLIST_COMMENT", "SqlTalkRecords", "contact_with_phone"]

log = logging.getLogger("vpbx.services.talk_records")

Clock = Callable[[], dt.datetime]
OnChange = Callable[[int], None]

#: the comment of a blacklist entry saved by TALK-7 (the cabinet shows where it came from)
BLACKLIST_COMMENT = "Сохранено во время разговора (опция «Сохранить АОН»)"


async def contact_with_phone(conn: AsyncConnection, account_id: int, number: str) -> int | None:
    """The oldest contact of the account with this phone (numbers compared by `digits_of`)."""
    wanted = digits_of(number)
    if not wanted:
        return None
    # Stored phones are digits only: the last ten digits narrow the search in SQL on both
    # backends (the JSON as text), the exact comparison is made here.
    query = (
        sa.select(t.contacts.c.id, t.contacts.c.phones)
        .where(
            t.contacts.c.account_id == account_id,
            sa.cast(t.contacts.c.phones, sa.Text).contains(wanted[-10:], autoescape=True),
        )
        .order_by(t.contacts.c.id)
    )
    for row in (await conn.execute(query)).all():
        if any(digits_of(str(phone)) == wanted for phone in row.phones or ()):
            return int(row.id)
    return None


async def _blacklisted(conn: AsyncConnection, account_id: int, number: str) -> bool:
    """Whether the blacklist has the number already, in any of its spellings (8… / 7…)."""
    b = t.blacklist.c
    query = sa.select(b.number).where(
        b.account_id == account_id, b.number.contains(number[-10:], autoescape=True)
    )
    return any(digits_of(n) == number for n in (await conn.execute(query)).scalars())


def _document(resource: str, saved: BaseModel) -> dict[str, Any] | None:
    """An entity as the audit log shows it: its document, without the id the answer adds."""
    values = audit.document_values(resource, saved)
    if values is not None:
        values.pop("id", None)
    return values


class _Writes:
    """One talk option's writes in one transaction, audited as the employee's."""

    def __init__(
        self, conn: AsyncConnection, account_id: int, now: dt.datetime, employee_id: int | None
    ) -> None:
        self.conn = conn
        self.account_id = account_id
        self.now = now
        # The entity service acts for the account (the admin's talk-option settings allowed
        # this write, not the employee's cabinet role); its own audit entries are replaced by
        # ours, which say who pressed the key.
        self.svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: now)
        self.svc.audited = False
        self.by = Actor(Role.EMPLOYEE, account_id, employee_id=employee_id)
        self.login = "(talk option)"
        if employee_id is not None:
            self.login = f"(talk option, employee {employee_id})"
        #: whether the account's configuration changed (the switch's caches must go)
        self.changed = False

    async def create(self, resource: str, data: Mapping[str, Any]) -> int:
        saved = await self.svc.create(resource, data)
        entity_id = int(saved.model_dump()["id"])
        await audit.record(
            self.conn,
            self.by,
            self.now,
            resource,
            entity_id,
            "create",
            after=_document(resource, saved),
            login=self.login,
        )
        self.changed = True
        return entity_id

    async def update(self, resource: str, entity_id: int, patch: Mapping[str, Any]) -> None:
        before = await self.svc.get(resource, entity_id)
        saved = await self.svc.update(resource, entity_id, patch)
        await audit.record(
            self.conn,
            self.by,
            self.now,
            resource,
            entity_id,
            "update",
            _document(resource, before),
            _document(resource, saved),
            login=self.login,
        )
        self.changed = True

    async def tag_named(self, name: str) -> int:
        """The account's tag of this name, created when there is none (TALK-4: a new tag)."""
        query = (
            sa.select(t.tags.c.id)
            .where(t.tags.c.account_id == self.account_id, t.tags.c.name == name)
            .order_by(t.tags.c.id)
            .limit(1)
        )
        found = (await self.conn.execute(query)).scalar_one_or_none()
        if found is not None:
            return int(found)
        return await self.create("tags", {"name": name})

    async def contact(
        self, number: str, *, manager_id: int | None = None, group_id: int | None = None
    ) -> int:
        """The caller's contact, given the manager and/or joining the group; created by the
        manual's rule (last name = phone = the number) when the address book has none."""
        contact_id = await contact_with_phone(self.conn, self.account_id, number)
        if contact_id is None:
            data: dict[str, Any] = {"last_name": number, "phones": [number]}
            if manager_id is not None:
                data["manager_id"] = manager_id
            if group_id is not None:
                data["group_ids"] = [group_id]
            return await self.create("contacts", data)
        current: Any = await self.svc.get("contacts", contact_id)
        patch: dict[str, Any] = {}
        if manager_id is not None and current.manager_id != manager_id:
            patch["manager_id"] = manager_id  # TALK-6: a manager there before is replaced
        if group_id is not None and group_id not in current.group_ids:
            patch["group_ids"] = [*current.group_ids, group_id]
        if patch:
            await self.update("contacts", contact_id, patch)
        return contact_id


class SqlTalkRecords:
    """Implements `vpbx.switch.talk_records.TalkRecords` on the database.

    `on_change(account_id)` is called after a committed change of the account's configuration
    (a new tag, a contact, a blacklist entry). Writes are made one at a time on a node: two
    employees adding the same new tag or the same caller at once get one entity, not two."""

    def __init__(
        self, engine: AsyncEngine, clock: Clock, on_change: OnChange | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.on_change = on_change
        self._one_at_a_time = asyncio.Lock()

    def _changed(self, account_id: int) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(account_id)
        except Exception:
            # the change is committed; the switch's caches expire after their TTL anyway
            log.exception("configuration change not told", extra={"account_id": account_id})

    async def tag_call(
        self,
        account_id: int,
        switch_call_id: str,
        tag_id: int | None,
        new_tag_name: str | None,
        *,
        employee_id: int | None = None,
    ) -> int | None:
        """TALK-4/TAG-1: the tag `tag_id`, or else the tag named `new_tag_name` (created when
        the account has none of that name), on the call; its id, or None when refused."""
        name = (new_tag_name or "").strip()
        context = {"account_id": account_id, "call": switch_call_id, "tag_id": tag_id}
        async with self._one_at_a_time:
            try:
                async with self.engine.begin() as conn:
                    now = self.clock()
                    writes = _Writes(conn, account_id, now, employee_id)
                    call_id = await find_call(conn, account_id, switch_call_id, now)
                    if call_id is None:
                        log.warning("call to tag not found", extra=context)
                        return None
                    if tag_id is None:
                        if not name:
                            log.warning("no tag to put on the call", extra=context)
                            return None
                        tag_id = await writes.tag_named(name)
                    if not await add_call_tag(conn, account_id, call_id, tag_id, now):
                        # a tag of another account, or deleted meanwhile: nothing is written
                        log.warning("tag refused: not a tag of the account", extra=context)
                        return None
            except DomainError as error:
                log.warning("tag refused", extra=context | {"error": error.message})
                return None
        if writes.changed:
            self._changed(account_id)
        return tag_id

    async def assign_manager(self, account_id: int, caller_number: str, employee_id: int) -> None:
        """TALK-6: `employee_id` becomes the personal manager of the caller's contact (created
        as last name = phone = the number when the address book has none)."""
        number = digits_of(caller_number)
        context = {"account_id": account_id, "caller": caller_number, "employee_id": employee_id}
        if not number:
            log.warning("personal manager not assigned: no caller number", extra=context)
            return
        async with self._one_at_a_time:
            try:
                async with self.engine.begin() as conn:
                    writes = _Writes(conn, account_id, self.clock(), employee_id)
                    await writes.contact(number, manager_id=employee_id)
            except DomainError as error:
                log.warning(
                    "personal manager not assigned", extra=context | {"error": error.message}
                )
                return
        if writes.changed:
            self._changed(account_id)

    async def save_caller(
        self,
        account_id: int,
        caller_number: str,
        contact_group_id: int | None,
        to_blacklist: bool,
        *,
        employee_id: int | None = None,
    ) -> None:
        """TALK-7: the caller's contact joins `contact_group_id` (created when missing) and/or
        the number goes into the blacklist (BLK-1); what is there already is left as it is."""
        number = digits_of(caller_number)
        context = {
            "account_id": account_id,
            "caller": caller_number,
            "contact_group_id": contact_group_id,
            "to_blacklist": to_blacklist,
        }
        if not number:
            log.warning("caller number not saved: no caller number", extra=context)
            return
        async with self._one_at_a_time:
            try:
                async with self.engine.begin() as conn:
                    writes = _Writes(conn, account_id, self.clock(), employee_id)
                    if contact_group_id is not None:
                        await writes.contact(number, group_id=contact_group_id)
                    if to_blacklist and not await _blacklisted(conn, account_id, number):
                        await writes.create(
                            "blacklist", {"number": number, "comment": BLACKLIST_COMMENT}
                        )
            except DomainError as error:
                log.warning("caller number not saved", extra=context | {"error": error.message})
                return
        if writes.changed:
            self._changed(account_id)
