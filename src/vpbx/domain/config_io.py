"""Config as code (ACC-3): a whole account as one YAML-ready document, and back.

The export numbers the entities of each resource 1..n (in id order) and writes references in
those numbers, so a document does not depend on the database it came from. The import replaces
the account's configuration: it removes the current entities and creates the document's through
the same service (every rule applies), in an order that resolves references, filling the few
cyclic references (an employee's trainer, a SIP line's caller ID, an FMC line's employee) in a
second pass. SIP logins and passwords are kept where the login is free in the installation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from vpbx.domain.accounts import get_account, parse_account, replace_account
from vpbx.domain.catalog import BY_NAME, Resource
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.errors import ValidationFailed, Violation
from vpbx.domain.passwords import new_token
from vpbx.domain.refs import Ref, field_ref, map_refs
from vpbx.domain.scenario_graph import inserted
from vpbx.domain.service import EntityService
from vpbx.storage import tables as t

FORMAT_VERSION = 1

#: creation order: each resource only refers to earlier ones, except the deferred fields
ORDER = (
    "schedules",
    "calendar-overrides",
    "tags",
    "files",
    "contact-groups",
    "segments",
    "trunks",
    "sip-lines",
    "fmc-lines",
    "employees",
    "groups",
    "caller-lists",
    "contacts",
    "blacklist",
    "scenarios",
    "numbers",
    "talk-options",
    "cid-rules",
    "callback-rules",
    "lead-callback-rules",
    "webhooks",
    "users",
)
#: references that point forward in ORDER: created empty, filled in the second pass
DEFERRED: Mapping[str, tuple[str, ...]] = {
    "employees": ("trainer_id",),
    "sip-lines": ("caller_id_number_id",),
    "fmc-lines": ("employee_id",),
}
#: list fields that mirror another resource's field (memberships are written from one side)
MIRRORS: Mapping[str, tuple[str, ...]] = {"employees": ("group_ids",)}
SECRETS: Mapping[str, tuple[str, ...]] = {
    "sip-lines": ("login", "password"),
    "users": ("password_hash",),
}


async def export_account(svc: EntityService) -> dict[str, Any]:
    """The account's whole configuration with document-local ids."""
    docs = {name: await svc.all_documents(name) for name in ORDER}
    local = {
        name: {db_id: n for n, (db_id, _doc) in enumerate(items, 1)} for name, items in docs.items()
    }

    def to_local(ref: Ref, db_id: int) -> int | None:
        return local[ref.kind].get(db_id)

    account = await get_account(svc.conn, svc.account_id)
    out: dict[str, Any] = {
        "vpbx_config": FORMAT_VERSION,
        "account": {k: v for k, v in account.items() if k != "id"},
    }
    for name in ORDER:
        res = BY_NAME[name]
        secrets = await _secrets(svc, res) if name in SECRETS else {}
        items = []
        for db_id, doc in docs[name]:
            entry = {"id": local[name][db_id], **map_refs(doc, to_local).model_dump(mode="json")}
            entry.update(secrets.get(db_id, {}))
            items.append(entry)
        out[name] = items
    return out


async def _secrets(svc: EntityService, res: Resource) -> dict[int, dict[str, Any]]:
    names = SECRETS[res.name]
    query = sa.select(res.table.c.id, *(res.table.c[n] for n in names)).where(
        res.table.c.account_id == svc.account_id
    )
    return {
        row.id: {n: getattr(row, n) for n in names} for row in (await svc.conn.execute(query)).all()
    }


def _scenario_order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scenarios after the ones they insert (SCN-INS forbids cycles, so this terminates)."""
    by_id = {item["id"]: item for item in items}
    done: list[dict[str, Any]] = []
    placed: set[int] = set()

    def place(item: dict[str, Any], stack: frozenset[int]) -> None:
        if item["id"] in placed or item["id"] in stack:
            return
        doc = Scenario.model_validate({k: v for k, v in item.items() if k != "id"})
        for dep in sorted(inserted(doc)):
            if dep in by_id:
                place(by_id[dep], stack | {item["id"]})
        placed.add(item["id"])
        done.append(item)

    for item in items:
        place(item, frozenset())
    return done


async def import_account(svc: EntityService, document: Mapping[str, Any]) -> None:
    """Replace the account's configuration with `document` (in the caller's transaction)."""
    if document.get("vpbx_config") != FORMAT_VERSION:
        raise ValidationFailed.one("vpbx_config", f"must be {FORMAT_VERSION} (the format version)")
    unknown = sorted(set(document) - {"vpbx_config", "account", *ORDER})
    if unknown:
        raise ValidationFailed.one(unknown[0], f"unknown section; sections are: {', '.join(ORDER)}")
    if "account" in document:
        await replace_account(
            svc.conn, svc.account_id, parse_account(document["account"]), svc.clock()
        )
    await _clear(svc)
    new_ids: dict[str, dict[int, int]] = {name: {} for name in ORDER}
    pending: list[tuple[Resource, int, dict[str, Any]]] = []

    def to_db(ref: Ref, local_id: int) -> int | None:
        found = new_ids[ref.kind].get(local_id)
        if found is None:
            raise ValidationFailed.one(
                ref.kind, f"refers to {ref.kind} {local_id}, absent from the document"
            )
        return found

    for name in ORDER:
        res = BY_NAME[name]
        items = list(document.get(name) or [])
        if name == "scenarios":
            items = _scenario_order(items)
        for index, raw in enumerate(items):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), int):
                raise ValidationFailed.one(f"{name}.{index}.id", "each entry needs an integer id")
            entry = dict(raw)
            local_id = entry.pop("id")
            secret = {k: entry.pop(k) for k in SECRETS.get(name, ()) if k in entry}
            for mirror in MIRRORS.get(name, ()):
                entry.pop(mirror, None)
            later = {k: entry[k] for k in DEFERRED.get(name, ()) if entry.get(k) is not None}
            for k in later:
                entry[k] = None
            if name == "users":
                entry.setdefault("password", new_token())  # replaced by the exported hash below
            try:
                doc = map_refs(svc.parse(res, entry), to_db)
                existing = await _same_login_user(svc, entry) if name == "users" else None
                out = await svc.save(res, doc, existing)
            except ValidationFailed as error:
                raise _located(error, f"{name}.{index}") from None
            db_id = int(out.model_dump(include={"id"})["id"])
            new_ids[name][local_id] = db_id
            if secret:
                await _restore_secret(svc, res, db_id, secret)
            if later:
                pending.append((res, db_id, later))
    for res, db_id, later in pending:
        patch = {k: to_db(Ref(_ref_kind(res, k)), v) for k, v in later.items()}
        await svc.update(res.name, db_id, patch)


def _located(error: ValidationFailed, where: str) -> ValidationFailed:
    """The same violations, their fields prefixed with the entry of the document."""
    return ValidationFailed(
        [Violation(f"{where}.{v.field}", v.rule, v.error_id) for v in error.violations]
    )


def _ref_kind(res: Resource, field: str) -> str:
    ref, _ = field_ref(res.doc, field)
    assert ref is not None
    return ref.kind


async def _same_login_user(svc: EntityService, entry: Mapping[str, Any]) -> int | None:
    """Users are matched by login: the importing admin keeps his account and token."""
    query = sa.select(t.users.c.id).where(
        t.users.c.account_id == svc.account_id, t.users.c.login == entry.get("login")
    )
    return (await svc.conn.execute(query)).scalar_one_or_none()


async def _restore_secret(
    svc: EntityService, res: Resource, db_id: int, secret: dict[str, Any]
) -> None:
    if res.name == "sip-lines":
        # SIP logins are unique in the installation: keep the exported one only where it is free.
        taken = await svc.conn.execute(
            sa.select(res.table.c.id).where(
                res.table.c.login == secret.get("login"), res.table.c.id != db_id
            )
        )
        if not secret.get("login") or taken.first() is not None:
            return
    await svc.conn.execute(sa.update(res.table).where(res.table.c.id == db_id).values(**secret))


async def _clear(svc: EntityService) -> None:
    """Remove the account's configuration (not its users' history: calls stay)."""
    await svc.conn.execute(
        sa.update(t.callback_tasks)
        .where(t.callback_tasks.c.account_id == svc.account_id)
        .values(rule_id=None, lead_rule_id=None)
    )
    for name in reversed(ORDER):
        res = BY_NAME[name]
        if name == "users":
            continue  # the importing admin keeps his login; users are upserted by login below
        await svc.conn.execute(sa.delete(res.table).where(res.table.c.account_id == svc.account_id))
