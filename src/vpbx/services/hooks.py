"""Entity-specific rules run by the generic service: EMP, GRP, SCN, SIP, FMC, TALK, CB, CID-4."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor
from vpbx.domain.entities.callback import TaskStatus
from vpbx.domain.entities.people import (
    Employee,
    EmployeePhone,
    FmcLine,
    Group,
    GroupPhone,
    LineMode,
    PhoneKind,
    TypeSort,
    User,
)
from vpbx.domain.entities.routing import TalkAction, TalkOption
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.errors import ValidationFailed, Violation
from vpbx.domain.fields import fmc_extension_ok
from vpbx.domain.passwords import hash_password
from vpbx.domain.scenario_graph import graph_violations, inserted, insertion_cycle
from vpbx.storage import tables as t


class DocumentSource(Protocol):
    async def all_documents(self, name: str) -> list[tuple[int, BaseModel]]: ...


@dataclass(slots=True)
class Ctx:
    """What a hook may use: the open transaction, the account, who acts, and the service."""

    conn: AsyncConnection
    account_id: int
    actor: Actor
    now: dt.datetime
    service: DocumentSource


class Hook:
    """Rules of one resource; every step defaults to doing nothing."""

    def patched(self, merged: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
        """A PATCH's stored document with the patch applied: fields the patch implies follow."""
        return merged

    async def validate(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> BaseModel:
        """Check cross-entity rules; may complete the document (generated ids, lines)."""
        return doc

    async def prepare(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> dict[str, Any]:
        """Extra column values to store beside the document (hashes, generated logins)."""
        return {}

    async def after_write(self, ctx: Ctx, doc: BaseModel, entity_id: int) -> None:
        return None

    async def release(self, ctx: Ctx, entity_id: int) -> None:
        """On a confirmed deletion: detach the users the deletion is allowed to change."""
        return None

    async def before_delete(self, ctx: Ctx, entity_id: int) -> None:
        return None


# -- extensions (EMP-2) ----------------------------------------------------------------------


async def account_has_fmc(ctx: Ctx) -> bool:
    query = sa.select(sa.func.count()).where(t.fmc_lines.c.account_id == ctx.account_id)
    return bool((await ctx.conn.execute(query)).scalar_one())


async def check_extension(ctx: Ctx, extension: str | None, own: tuple[str, int | None]) -> None:
    """Unique across employees and groups of the account; 2XXX/2XXXX once FMC lines exist."""
    if extension is None:
        return
    for table, kind in ((t.employees, "employees"), (t.groups, "groups")):
        query = sa.select(table.c.id).where(
            table.c.account_id == ctx.account_id, table.c.extension == extension
        )
        if own[0] == kind and own[1] is not None:
            query = query.where(table.c.id != own[1])
        if (await ctx.conn.execute(query)).first() is not None:
            what = "an employee" if kind == "employees" else "a group"
            raise ValidationFailed.one(
                "extension",
                f"extension {extension} is already used by {what} of this account; extensions are "
                "unique across employees and groups",
                "extension_taken",
            )
    if not fmc_extension_ok(extension) and await account_has_fmc(ctx):
        raise ValidationFailed.one(
            "extension",
            "with FMC lines in the account every extension must be 2XXX or 2XXXX (4 or 5 digits "
            "starting with 2)",
            "extension_fmc_format",
        )


# -- employees ---------------------------------------------------------------------------------


def generated_password() -> str:
    """A new SIP line password (at creation and when an admin regenerates it)."""
    return secrets.token_urlsafe(12)


async def free_sip_login(ctx: Ctx) -> str:
    """A 7-digit SIP login not yet used anywhere in the installation (ACC-1)."""
    for _ in range(50):
        login = str(1_000_000 + secrets.randbelow(9_000_000))
        taken = await ctx.conn.execute(
            sa.select(t.sip_lines.c.id).where(t.sip_lines.c.login == login)
        )
        if taken.first() is None:
            return login
    raise RuntimeError("could not generate a free SIP login")  # pragma: no cover


async def create_sip_line(ctx: Ctx) -> int:
    """A new SIP line with a generated login and a random password (SIP-1)."""
    values = {
        "account_id": ctx.account_id,
        "login": await free_sip_login(ctx),
        "password": generated_password(),
        "mode": LineMode.IN_OUT.value,
        "caller_id_mode": "fixed",
        "caller_id_number_id": None,
        "comment": "",
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    result = await ctx.conn.execute(
        sa.insert(t.sip_lines).values(**values).returning(t.sip_lines.c.id)
    )
    return int(result.scalar_one())


async def _phone_holders(ctx: Ctx, entity_id: int | None) -> dict[tuple[str, int], str]:
    """SIP and FMC lines already used as phones by other employees of the account."""
    query = sa.select(t.employees.c.id, t.employees.c.last_name, t.employees.c.phones).where(
        t.employees.c.account_id == ctx.account_id
    )
    if entity_id is not None:
        query = query.where(t.employees.c.id != entity_id)
    held: dict[tuple[str, int], str] = {}
    for _id, last_name, phones in (await ctx.conn.execute(query)).all():
        for phone in phones:
            for key in ("sip_line_id", "fmc_line_id"):
                if phone.get(key) is not None:
                    held[(key, phone[key])] = last_name
    return held


class EmployeeHook(Hook):
    async def validate(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> BaseModel:
        assert isinstance(doc, Employee)
        await check_extension(ctx, doc.extension, ("employees", entity_id))
        if entity_id is not None and doc.trainer_id == entity_id:
            raise ValidationFailed.one("trainer_id", "an employee cannot be his own trainer")
        if doc.auto_call_trainer and doc.trainer_id is None:
            raise ValidationFailed.one("auto_call_trainer", "calling the trainer needs trainer_id")
        held = await _phone_holders(ctx, entity_id)
        account = (
            await ctx.conn.execute(
                sa.select(t.accounts.c.sip_uri_transfer).where(t.accounts.c.id == ctx.account_id)
            )
        ).one()
        problems: list[Violation] = []
        phones: list[EmployeePhone] = []
        seen_ids: set[str] = set()
        for index, phone in enumerate(doc.phones):
            path = f"phones.{index}"
            for key in ("sip_line_id", "fmc_line_id"):
                line = getattr(phone, key)
                if line is not None and (key, line) in held:
                    problems.append(
                        Violation(
                            f"{path}.{key}",
                            f"line {line} already belongs to employee "
                            f"{held[(key, line)]}; a line belongs to one employee",
                        )
                    )
            if phone.kind is PhoneKind.SIP_URI and not account.sip_uri_transfer:
                problems.append(
                    Violation(
                        f"{path}.sip_uri",
                        "SIP URI phones need the paid account option sip_uri_transfer (XFR-3)",
                        "sip_uri_option",
                    )
                )
            if phone.id is None or phone.id in seen_ids:
                phone = phone.model_copy(update={"id": secrets.token_hex(6)})
            seen_ids.add(str(phone.id))
            phones.append(phone)
        if problems:
            raise ValidationFailed(problems)
        # Lines are made only once every check passed: a refused employee leaves no orphan line.
        for index, phone in enumerate(phones):
            if phone.kind is PhoneKind.SIP and phone.sip_line_id is None:
                phones[index] = phone.model_copy(update={"sip_line_id": await create_sip_line(ctx)})
        return doc.model_copy(update={"phones": phones})

    async def after_write(self, ctx: Ctx, doc: BaseModel, entity_id: int) -> None:
        assert isinstance(doc, Employee)
        await _own_fmc_lines(ctx, entity_id, [p.fmc_line_id for p in doc.phones if p.fmc_line_id])
        await sync_distributions(ctx, entity_id)

    async def before_delete(self, ctx: Ctx, entity_id: int) -> None:
        await sync_distributions(ctx, entity_id, leaving=True)


async def _own_fmc_lines(ctx: Ctx, employee_id: int, line_ids: list[int]) -> None:
    """FMC-1: the FMC lines among an employee's phones name him as their employee; a line he
    no longer has as a phone names nobody."""
    lines = t.fmc_lines.c
    await ctx.conn.execute(
        sa.update(t.fmc_lines)
        .where(
            lines.account_id == ctx.account_id,
            lines.employee_id == employee_id,
            lines.id.not_in(line_ids),
        )
        .values(employee_id=None, updated_at=ctx.now)
    )
    if line_ids:
        await ctx.conn.execute(
            sa.update(t.fmc_lines)
            .where(
                lines.account_id == ctx.account_id,
                lines.id.in_(line_ids),
                sa.or_(lines.employee_id.is_(None), lines.employee_id != employee_id),
            )
            .values(employee_id=employee_id, updated_at=ctx.now)
        )


# -- groups ------------------------------------------------------------------------------------


async def member_phones(ctx: Ctx, member_ids: list[int]) -> list[tuple[int, Mapping[str, Any]]]:
    if not member_ids:
        return []
    query = sa.select(t.employees.c.id, t.employees.c.phones).where(
        t.employees.c.account_id == ctx.account_id, t.employees.c.id.in_(member_ids)
    )
    by_id = {row.id: row.phones for row in (await ctx.conn.execute(query)).all()}
    return [(eid, phone) for eid in member_ids for phone in by_id.get(eid, [])]


class GroupHook(Hook):
    def patched(self, merged: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
        # New members alone change a group (GRP-3): the kept table loses the removed members'
        # rows, as it does when an employee leaves; an explicit table is checked as sent.
        if "member_ids" in patch and "distribution" not in patch:
            members = set(merged.get("member_ids") or [])
            rows = merged.get("distribution") or []
            kept = [r for r in rows if r.get("employee_id") in members]
            merged["distribution"] = rescaled(rows, kept)
        return merged

    async def validate(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> BaseModel:
        assert isinstance(doc, Group)
        await check_extension(ctx, doc.extension, ("groups", entity_id))
        phones = await member_phones(ctx, list(doc.member_ids))
        known = {(eid, phone["id"]): phone for eid, phone in phones}
        rows = []
        for index, row in enumerate(doc.distribution):
            if (row.employee_id, row.phone_id) not in known:
                raise ValidationFailed.one(
                    f"distribution.{index}",
                    f"phone {row.phone_id} of employee {row.employee_id} is not a phone of a "
                    "member of this group",
                )
            rows.append(row)
        listed = {(r.employee_id, r.phone_id) for r in rows}
        for eid, phone in phones:
            if (eid, phone["id"]) not in listed:
                rows.append(GroupPhone(employee_id=eid, phone_id=phone["id"]))
        if doc.type_sort is not None:
            sip_first = doc.type_sort is TypeSort.SIP_FIRST

            def is_sip(r: Any) -> bool:
                return bool(known[(r.employee_id, r.phone_id)]["kind"] in ("sip", "fmc"))

            rows.sort(key=lambda r: 0 if is_sip(r) == sip_first else 1)
        total = sum(r.percent for r in rows)
        if total and abs(total - 100) > 0.01:
            raise ValidationFailed.one(
                "distribution",
                "percentages of the distribution table must add up to 100 "
                f"(they add up to {total:g})",
                "percent_sum",
            )
        return doc.model_copy(update={"distribution": rows})


def _is_sip(phone: Mapping[str, Any]) -> bool:
    return bool(phone["kind"] in ("sip", "fmc"))


def rescaled(rows: list[dict[str, Any]], kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`kept` (what is left of the table `rows`) with its shares scaled back to the old total."""
    before, after = (sum(float(r.get("percent", 0)) for r in table) for table in (rows, kept))
    if after and abs(after - before) > 0.01:
        return [r | {"percent": float(r.get("percent", 0)) * before / after} for r in kept]
    return kept


async def sync_distributions(ctx: Ctx, employee_id: int, leaving: bool = False) -> None:
    """GRP-2 after an employee's phones or groups changed (or he leaves): the distribution table
    of each group concerned lists exactly its members' phones, new ones at 0 %; when rows with a
    share went away, the shares left are scaled back to the table's total (100 %)."""
    groups = await ctx.conn.execute(
        sa.select(t.groups.c.id, t.groups.c.distribution, t.groups.c.type_sort).where(
            t.groups.c.account_id == ctx.account_id
        )
    )
    for group_id, rows, type_sort in groups.all():
        members = list(
            (
                await ctx.conn.execute(
                    sa.select(t.group_members.c.employee_id)
                    .where(t.group_members.c.group_id == group_id)
                    .order_by(t.group_members.c.position, t.group_members.c.employee_id)
                )
            ).scalars()
        )
        if employee_id not in members and all(r["employee_id"] != employee_id for r in rows):
            continue
        if leaving:
            members = [m for m in members if m != employee_id]
        known = {(eid, phone["id"]): phone for eid, phone in await member_phones(ctx, members)}
        kept = [r for r in rows if (r["employee_id"], r["phone_id"]) in known]
        listed = {(r["employee_id"], r["phone_id"]) for r in kept}
        kept += [
            GroupPhone(employee_id=eid, phone_id=phone_id).model_dump(mode="json")
            for eid, phone_id in known
            if (eid, phone_id) not in listed
        ]
        if type_sort is not None:
            sip_first = type_sort == TypeSort.SIP_FIRST.value
            kept.sort(
                key=lambda r: (
                    0 if _is_sip(known[(r["employee_id"], r["phone_id"])]) == sip_first else 1
                )
            )
        kept = rescaled(rows, kept)
        if kept != rows:
            await ctx.conn.execute(
                sa.update(t.groups)
                .where(t.groups.c.id == group_id)
                .values(distribution=kept, updated_at=ctx.now)
            )


# -- scenarios ---------------------------------------------------------------------------------


class ScenarioHook(Hook):
    async def validate(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> BaseModel:
        assert isinstance(doc, Scenario)
        problems = graph_violations(doc)
        if problems:
            raise ValidationFailed(problems)
        own = entity_id if entity_id is not None else -1
        edges = {
            sid: inserted(other)
            for sid, other in await ctx.service.all_documents("scenarios")
            if isinstance(other, Scenario)
        }
        edges[own] = inserted(doc)
        cycle = insertion_cycle(own, edges)
        if cycle is not None:
            names = " → ".join("this scenario" if s == own else f"scenario {s}" for s in cycle)
            raise ValidationFailed.one(
                "operations", f"inserting scenarios must not form a cycle: {names}", "insert_cycle"
            )
        return doc


# -- users, lines ------------------------------------------------------------------------------


class UserHook(Hook):
    async def prepare(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> dict[str, Any]:
        assert isinstance(doc, User)
        if doc.password is not None:
            # scrypt costs ~50 ms of CPU: in a worker thread, never on the event loop.
            return {"password_hash": await asyncio.to_thread(hash_password, doc.password)}
        if entity_id is None:
            raise ValidationFailed.one("password", "a new user needs a password (8+ characters)")
        return {}


class SipLineHook(Hook):
    async def prepare(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> dict[str, Any]:
        if entity_id is not None:
            return {}
        return {"login": await free_sip_login(ctx), "password": generated_password()}


class FmcLineHook(Hook):
    async def validate(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> BaseModel:
        if entity_id is not None:
            assert isinstance(doc, FmcLine)
            return await _adopted(ctx, doc, entity_id)
        offenders = []
        for table, kind in ((t.employees, "employee"), (t.groups, "group")):
            query = sa.select(table.c.id, table.c.extension).where(
                table.c.account_id == ctx.account_id, table.c.extension.is_not(None)
            )
            for row in (await ctx.conn.execute(query)).all():
                if not fmc_extension_ok(row.extension):
                    offenders.append(f"{kind} {row.id} ({row.extension})")
        if offenders:
            raise ValidationFailed.one(
                "number",
                "with FMC lines every extension must be 2XXX or 2XXXX; change these first: "
                + ", ".join(offenders),
                "extension_fmc_format",
            )
        return doc

    async def after_write(self, ctx: Ctx, doc: BaseModel, entity_id: int) -> None:
        """FMC-1: assigning the line's employee puts it among his phones (the manual: the number
        appears in his card), at the end of his list; nobody else keeps it as a phone."""
        assert isinstance(doc, FmcLine)
        await _hand_fmc_line(ctx, entity_id, doc.employee_id, doc.channels)

    async def release(self, ctx: Ctx, entity_id: int) -> None:
        """A confirmed deletion: the line leaves its holder's phones first (ACC-4: without the
        confirmation the deletion is refused, naming him)."""
        await _hand_fmc_line(ctx, entity_id, None, 1)


async def _adopted(ctx: Ctx, doc: FmcLine, line_id: int) -> FmcLine:
    """A line saved without an employee that never named one, while an employee's card holds it
    (put there through the API before lines named their holder): it is his, and stays in his
    card. Only clearing an employee the line did name takes it out of the card."""
    if doc.employee_id is not None:
        return doc
    stored = await ctx.conn.execute(
        sa.select(t.fmc_lines.c.employee_id).where(
            t.fmc_lines.c.id == line_id, t.fmc_lines.c.account_id == ctx.account_id
        )
    )
    if stored.scalar() is not None:
        return doc
    query = sa.select(t.employees.c.id, t.employees.c.phones).where(
        t.employees.c.account_id == ctx.account_id
    )
    for employee_id, phones in (await ctx.conn.execute(query)).all():
        if any(p.get("fmc_line_id") == line_id for p in phones):
            return doc.model_copy(update={"employee_id": employee_id})
    return doc


async def _hand_fmc_line(ctx: Ctx, line_id: int, holder: int | None, channels: int) -> None:
    """The FMC line `line_id` is a phone of `holder` (appended when missing) and of nobody else;
    taking it from an employee whose only phone it is, is refused (EMP-1)."""
    query = sa.select(t.employees.c.id, t.employees.c.phones).where(
        t.employees.c.account_id == ctx.account_id
    )
    for employee_id, phones in (await ctx.conn.execute(query)).all():
        has_it = any(p.get("fmc_line_id") == line_id for p in phones)
        if employee_id == holder and not has_it:
            phone = EmployeePhone(
                id=secrets.token_hex(6), kind=PhoneKind.FMC, fmc_line_id=line_id, lines=channels
            )
            kept = [*phones, phone.model_dump(mode="json")]
        elif employee_id != holder and has_it:
            kept = [p for p in phones if p.get("fmc_line_id") != line_id]
            if not kept:
                raise ValidationFailed.one(
                    "employee_id",
                    f"the line is the only phone of employee {employee_id}: give him another "
                    "phone first (EMP-1)",
                    "fmc_only_phone",
                )
        else:
            continue
        await ctx.conn.execute(
            sa.update(t.employees)
            .where(t.employees.c.id == employee_id)
            .values(phones=kept, updated_at=ctx.now)
        )
        await sync_distributions(ctx, employee_id)


class TalkOptionHook(Hook):
    async def validate(self, ctx: Ctx, doc: BaseModel, entity_id: int | None) -> BaseModel:
        assert isinstance(doc, TalkOption)
        if doc.key == "#" and doc.action is not TalkAction.TRANSFER:
            raise ValidationFailed.one("key", "# is the transfer key (TALK-5); bind another key")
        return doc


class NumberHook(Hook):
    async def release(self, ctx: Ctx, entity_id: int) -> None:
        """CID-4: lines that showed this number turn to incoming only."""
        await ctx.conn.execute(
            sa.update(t.sip_lines)
            .where(
                t.sip_lines.c.account_id == ctx.account_id,
                t.sip_lines.c.caller_id_number_id == entity_id,
            )
            .values(caller_id_number_id=None, mode=LineMode.IN_ONLY.value, updated_at=ctx.now)
        )


class CallbackRuleHook(Hook):
    async def before_delete(self, ctx: Ctx, entity_id: int) -> None:
        """CB-3: deleting a rule cancels the tasks it made."""
        await ctx.conn.execute(
            sa.update(t.callback_tasks)
            .where(
                t.callback_tasks.c.account_id == ctx.account_id,
                t.callback_tasks.c.rule_id == entity_id,
                t.callback_tasks.c.status.in_([TaskStatus.PENDING.value, TaskStatus.RUNNING.value]),
            )
            .values(
                status=TaskStatus.CANCELLED.value, last_result="rule deleted", updated_at=ctx.now
            )
        )


HOOKS: Mapping[str, Hook] = {
    "employees": EmployeeHook(),
    "groups": GroupHook(),
    "scenarios": ScenarioHook(),
    "users": UserHook(),
    "sip-lines": SipLineHook(),
    "fmc-lines": FmcLineHook(),
    "talk-options": TalkOptionHook(),
    "numbers": NumberHook(),
    "callback-rules": CallbackRuleHook(),
}
