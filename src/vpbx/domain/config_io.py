"""Config as code (ACC-3): a whole account as one YAML-ready document, and back.

The export numbers the entities of each resource 1..n (in id order) and writes references in
those numbers, so a document does not depend on the database it came from. The import replaces
the account's configuration: it removes the current entities and creates the document's through
the same service (every rule applies), in an order that resolves references, filling the few
cyclic references (an employee's trainer, a SIP line's caller ID, an FMC line's employee and
caller ID) in a second pass. Scenarios are created empty in the document's order first, so ids
(and a second export) keep that order whatever they insert. SIP logins and passwords are kept
where the login is free in the installation; trunk passwords and users' hashes travel too.
Errors name the entry as the document numbers it: `<section>.<index>.<field>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from vpbx.domain import audit
from vpbx.domain.accounts import get_account, parse_account, replace_account
from vpbx.domain.catalog import BY_NAME, Resource
from vpbx.domain.config_secrets import mask_export, unmask_import
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.errors import ValidationFailed, Violation
from vpbx.domain.passwords import new_token
from vpbx.domain.refs import Ref, field_ref, iter_refs, map_refs
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
    "fmc-lines": ("employee_id", "caller_id_number_id"),
}
#: fields valid only with a deferred reference: held at this value until it is filled
HELD_BACK: Mapping[str, Mapping[str, Any]] = {"employees": {"auto_call_trainer": False}}
#: list fields that mirror another resource's field (memberships are written from one side)
MIRRORS: Mapping[str, tuple[str, ...]] = {"employees": ("group_ids",)}
SECRETS: Mapping[str, tuple[str, ...]] = {
    "trunks": ("password",),
    "sip-lines": ("login", "password"),
    "users": ("password_hash",),
}


async def export_account(svc: EntityService, *, reveal_secrets: bool = True) -> dict[str, Any]:
    """The account's whole configuration with document-local ids.

    `reveal_secrets=False` masks the secrets (what GET /config answers unless an admin asks);
    a masked document still imports back (`unmask_import` keeps the stored secrets).
    """
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
            for mirror in MIRRORS.get(name, ()):
                # Written from the other side on import, so its order here is not kept: sorted.
                entry[mirror] = sorted(entry[mirror])
            entry.update(secrets.get(db_id, {}))
            items.append(entry)
        out[name] = items
    return out if reveal_secrets else mask_export(out)


async def _secrets(svc: EntityService, res: Resource) -> dict[int, dict[str, Any]]:
    names = SECRETS[res.name]
    query = sa.select(res.table.c.id, *(res.table.c[n] for n in names)).where(
        res.table.c.account_id == svc.account_id
    )
    return {
        row.id: {n: getattr(row, n) for n in names} for row in (await svc.conn.execute(query)).all()
    }


def _inserted_ids(item: Mapping[str, Any]) -> list[int]:
    """The scenarios an entry of the document inserts (read leniently: it is not validated yet)."""
    operations = item.get("operations")
    if not isinstance(operations, list):
        return []
    found = {
        op.get("scenario_id")
        for op in operations
        if isinstance(op, Mapping) and op.get("kind") == "insert"
    }
    return sorted(i for i in found if isinstance(i, int))


def _scenario_order(items: list[Mapping[str, Any]]) -> list[int]:
    """Indices of the scenarios, each after the ones it inserts (a cycle is cut, then refused)."""
    by_id = {item.get("id"): index for index, item in enumerate(items)}
    done: list[int] = []
    placed: set[int] = set()

    def place(index: int, stack: frozenset[int]) -> None:
        if index in placed or index in stack:
            return
        for dep in _inserted_ids(items[index]):
            if dep in by_id:
                place(by_id[dep], stack | {index})
        placed.add(index)
        done.append(index)

    for index in range(len(items)):
        place(index, frozenset())
    return done


async def import_account(svc: EntityService, document: Mapping[str, Any]) -> None:
    """Replace the account's configuration with `document` (in the caller's transaction)."""
    if document.get("vpbx_config") != FORMAT_VERSION:
        raise ValidationFailed.one("vpbx_config", f"must be {FORMAT_VERSION} (the format version)")
    unknown = sorted(set(document) - {"vpbx_config", "account", *ORDER})
    if unknown:
        raise ValidationFailed.one(unknown[0], f"unknown section; sections are: {', '.join(ORDER)}")
    # Before anything is cleared: masked secrets stand for the stored ones.
    document = await unmask_import(svc.conn, svc.account_id, document)
    # One audit entry for the whole import, not one per entity it re-creates.
    svc.audited = False
    sections = {name: list(document.get(name) or []) for name in ORDER}
    await _check_roles(svc, sections)
    if "account" in document:
        await replace_account(
            svc.conn, svc.account_id, parse_account(document["account"]), svc.clock()
        )
    await _clear(svc)
    local_ids = {
        name: {item.get("id") for item in items if isinstance(item, Mapping)}
        for name, items in sections.items()
    }
    new_ids: dict[str, dict[int, int]] = {name: {} for name in ORDER}
    pending: list[tuple[str, int, int, dict[str, Any], dict[str, Any]]] = []

    def to_db(ref: Ref, local_id: int) -> int | None:
        return new_ids[ref.kind][local_id]

    def absent(path: str, kind: str, local_id: object) -> Violation:
        return Violation(
            path, f"refers to {kind} {local_id}, absent from the document", "unknown_reference"
        )

    async def store(
        name: str, index: int, entry: dict[str, Any], deferred: dict[str, Any], db_id: int | None
    ) -> int:
        """Validate one entry of the document and save it; errors name `<name>.<index>.<field>`."""
        res = BY_NAME[name]
        try:
            parsed = svc.parse(res, entry)
            missing = [
                absent(r.path, r.ref.kind, r.target_id)
                for r in iter_refs(parsed)
                if r.target_id not in new_ids.get(r.ref.kind, {})
            ]
            for key, value in deferred.items():
                kind = _ref_kind(res, key)
                if value not in local_ids.get(kind, set()):
                    missing.append(absent(key, kind, value))
            if missing:
                raise ValidationFailed(missing)
            doc = map_refs(parsed, to_db)
            if db_id is None and name == "users":
                db_id = await _same_login_user(svc, entry)
            out = await svc.save(res, doc, db_id)
        except ValidationFailed as error:
            raise _located(error, f"{name}.{index}") from None
        return int(out.model_dump(include={"id"})["id"])

    for name in ORDER:
        res = BY_NAME[name]
        entries: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        seen: set[int] = set()
        for index, raw in enumerate(sections[name]):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), int):
                raise ValidationFailed.one(f"{name}.{index}.id", "each entry needs an integer id")
            if raw["id"] in seen:
                raise ValidationFailed.one(f"{name}.{index}.id", f"id {raw['id']} is used twice")
            seen.add(raw["id"])
            entry = dict(raw)
            secret = {k: entry.pop(k) for k in SECRETS.get(name, ()) if k in entry}
            for mirror in MIRRORS.get(name, ()):
                entry.pop(mirror, None)
            if name == "users" and entry.get("password") is None:
                entry["password"] = new_token()  # replaced by the exported hash below
            entries.append((index, entry, secret))
        order = list(range(len(entries)))
        if name == "scenarios":
            # Ids follow the document's order (so a second export numbers them alike): empty
            # scenarios first, then each graph after the scenarios it inserts (SCN-INS).
            for _index, entry, _secret in entries:
                empty = await svc.save(res, Scenario(name="(import)"), None)
                new_ids[name][entry["id"]] = int(empty.model_dump(include={"id"})["id"])
            order = _scenario_order(sections[name])
        for position in order:
            index, entry, secret = entries[position]
            local_id = entry.pop("id")
            deferred = {k: entry[k] for k in DEFERRED.get(name, ()) if entry.get(k) is not None}
            entry.update(dict.fromkeys(deferred))
            held = {k: entry[k] for k in HELD_BACK.get(name, {}) if deferred and k in entry}
            entry.update({k: HELD_BACK[name][k] for k in held})
            shell = new_ids[name].get(local_id) if name == "scenarios" else None
            db_id = await store(name, index, entry, deferred, shell)
            new_ids[name][local_id] = db_id
            if secret:
                await _restore_secret(svc, res, db_id, secret)
            if deferred:
                pending.append((name, index, db_id, deferred, held))
    for name, index, db_id, later, held in pending:
        res = BY_NAME[name]
        patch = {k: to_db(Ref(_ref_kind(res, k)), v) for k, v in later.items()} | held
        try:
            await svc.update(name, db_id, patch)
        except ValidationFailed as error:
            raise _located(error, f"{name}.{index}") from None
    svc.audited = True
    counts = {name: len(sections[name]) for name in ORDER}
    await audit.record(svc.conn, svc.actor, svc.clock(), "config", None, "import", after=counts)


async def _check_roles(svc: EntityService, sections: Mapping[str, list[Any]]) -> None:
    """The import deletes and creates entities: the actor must be allowed to (FMC-1: only the
    operator adds or removes FMC lines, so only he imports where they are)."""
    for name in ORDER:
        res = BY_NAME[name]
        if res.creatable_by is not None and not sections[name]:
            query = sa.select(res.table.c.id).where(res.table.c.account_id == svc.account_id)
            if (await svc.conn.execute(query.limit(1))).first() is None:
                continue
        svc._check_write(res, creating=True)


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
