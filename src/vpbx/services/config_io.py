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

`apply_import` is what the API and the CLI call: sections the document omits are kept (unless
`replace_missing`), a dry run answers the diff and writes nothing, and an applied import first
stores the export as it was (`config_versions`), which `rollback` restores. `parse_document`
reads the YAML with a bounded nesting depth and size (callers run it off the event loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import yaml

from vpbx.domain.actor import Role
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.errors import Forbidden, NotFound, ValidationFailed, Violation
from vpbx.domain.passwords import new_token
from vpbx.domain.refs import Ref, field_ref, iter_refs, map_refs
from vpbx.services import audit
from vpbx.services.accounts import get_account, parse_account, replace_account
from vpbx.services.catalog import BY_NAME, Resource
from vpbx.services.config_secrets import mask_export, unmask_import
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t
from vpbx.storage.db import utc_aware

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


def _check_shape(document: Mapping[str, Any]) -> None:
    """The document's structure, before anything reads it: a wrong type is a 422 naming the
    section (it was a TypeError, a 500)."""
    keys = [k for k in document if not isinstance(k, str)]
    if keys:
        raise ValidationFailed.one(
            str(keys[0]),
            "имя раздела должно быть строкой / a section name must be a string",
            "config.section_name",
        )
    if document.get("vpbx_config") != FORMAT_VERSION:
        raise ValidationFailed.one("vpbx_config", f"must be {FORMAT_VERSION} (the format version)")
    unknown = sorted(set(document) - {"vpbx_config", "account", *ORDER})
    if unknown:
        raise ValidationFailed.one(unknown[0], f"unknown section; sections are: {', '.join(ORDER)}")
    if "account" in document and not isinstance(document["account"], Mapping):
        raise ValidationFailed.one(
            "account", "раздел должен быть словарём / the section must be a mapping", "config.shape"
        )
    for name in ORDER:
        items = document.get(name)
        if items is not None and not isinstance(items, list):
            raise ValidationFailed.one(
                name,
                "раздел должен быть списком записей / the section must be a list of entries",
                "config.shape",
            )
        for index, item in enumerate(items or []):
            if not isinstance(item, Mapping) or any(not isinstance(k, str) for k in item):
                raise ValidationFailed.one(
                    f"{name}.{index}",
                    "запись должна быть словарём с именами полей / an entry must be a mapping of "
                    "field names",
                    "config.shape",
                )
            local_id = item.get("id")
            if not isinstance(local_id, int) or isinstance(local_id, bool):
                raise ValidationFailed.one(f"{name}.{index}.id", "each entry needs an integer id")
            for secret in SECRETS.get(name, ()):
                # Secrets bypass the entity's model (they are written as stored): typed here.
                if not isinstance(item.get(secret), str | None):
                    raise ValidationFailed.one(
                        f"{name}.{index}.{secret}",
                        "должно быть строкой / must be a string",
                        "config.shape",
                    )


async def import_account(
    svc: EntityService, document: Mapping[str, Any], *, kept: frozenset[str] = frozenset()
) -> None:
    """Replace the account's configuration with `document` (in the caller's transaction).

    `kept`: sections copied from the current export (`apply_import`): re-created as they were,
    so they are no creation or removal the actor's role must allow.
    """
    _check_shape(document)
    # Before anything is cleared: masked secrets stand for the stored ones.
    document = await unmask_import(svc.conn, svc.account_id, document)
    sections = {name: list(document.get(name) or []) for name in ORDER}
    # One audit entry for the whole import, not one per entity it re-creates.
    svc.audited = False
    try:
        await _write_sections(svc, document, sections, kept)
    finally:
        svc.audited = True
    counts = {name: len(sections[name]) for name in ORDER}
    await audit.record(svc.conn, svc.actor, svc.clock(), "config", None, "import", after=counts)


async def _write_sections(
    svc: EntityService,
    document: Mapping[str, Any],
    sections: dict[str, list[Any]],
    kept: frozenset[str],
) -> None:
    """The account settings and every section of `document`, in place of what is stored."""
    await _check_roles(svc, sections, kept)
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


async def _check_roles(
    svc: EntityService, sections: Mapping[str, list[Any]], kept: frozenset[str] = frozenset()
) -> None:
    """The import deletes and creates entities: the actor must be allowed to (FMC-1: only the
    operator adds or removes FMC lines, so only he imports where they are)."""
    for name in ORDER:
        res = BY_NAME[name]
        if name in kept:
            continue
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


# -- safe import: parse, diff, dry run, versions, rollback ---------------------------------------

#: nesting of the YAML document (an export nests about 8 deep): deeper was a RecursionError (500)
MAX_DEPTH = 64
#: nodes of the document with aliases expanded (a 10 MB export has about a million): bounds what
#: a small document of nested aliases ("billion laughs") makes the import walk
MAX_NODES = 5_000_000
#: previous versions kept per account (older ones are dropped at each import)
KEEP_VERSIONS = 50


class _TooLarge(yaml.YAMLError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses a document nested deeper than MAX_DEPTH or larger than MAX_NODES
    (counting what aliases repeat), before building any Python object of it."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._depth = 0
        self._weight: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)  # weighed where it was anchored
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooLarge(f"nested deeper than {MAX_DEPTH} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        children: list[Any] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        weight = 1 + sum(self._weight.get(id(child), 1) for child in children)
        if weight > MAX_NODES:
            raise _TooLarge(f"more than {MAX_NODES} values (aliases counted as often as used)")
        self._weight[id(node)] = weight
        return node


def parse_document(text: str | bytes) -> dict[str, Any]:
    """A YAML document of an account, checked for shape; CPU-bound: run it off the event loop."""
    try:
        document = yaml.load(text, Loader=_BoundedLoader)
    except _TooLarge as error:
        raise ValidationFailed.one(
            "(body)",
            f"документ слишком глубокий или большой / the document is too deep or too large: "
            f"{error}",
            "config.too_large",
        ) from None
    except (yaml.YAMLError, RecursionError, UnicodeDecodeError) as error:
        raise ValidationFailed.one("(body)", f"not valid YAML: {error}", "config.yaml") from None
    if not isinstance(document, dict):
        raise ValidationFailed.one("(body)", "the document must be a YAML mapping", "config.yaml")
    _check_shape(document)
    return document


def dump_document(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), allow_unicode=True, sort_keys=False)


@dataclass(slots=True)
class SectionDiff:
    """What an import does to one section, by the document's entry ids."""

    created: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    kept: bool = False


@dataclass(slots=True)
class ImportResult:
    dry_run: bool
    replace_missing: bool
    #: sections the document omitted and the import left as they were
    kept: list[str]
    sections: dict[str, SectionDiff]
    account_changed: bool
    #: the stored previous version (None for a dry run)
    version_id: int | None = None


def diff_exports(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, SectionDiff]:
    out: dict[str, SectionDiff] = {}
    for name in ORDER:
        old = {item["id"]: item for item in before.get(name) or []}
        new = {item["id"]: item for item in after.get(name) or []}
        out[name] = SectionDiff(
            created=sorted(set(new) - set(old)),
            changed=sorted(i for i in set(new) & set(old) if new[i] != old[i]),
            deleted=sorted(set(old) - set(new)),
        )
    return out


async def apply_import(
    svc: EntityService,
    document: Mapping[str, Any],
    *,
    dry_run: bool = False,
    replace_missing: bool = False,
    source: str = "import",
) -> ImportResult:
    """Import `document` in the caller's transaction, answering what it changes.

    Sections the document omits are kept as they are (re-created from the current export with
    the same content) unless `replace_missing`, which empties them. A dry run rolls the
    caller's transaction back after computing the diff. An applied import first stores the
    current export as a version (`rollback` restores it).
    """
    _check_shape(document)
    before = await export_account(svc)
    omitted = [name for name in ORDER if name not in document]
    kept = [] if replace_missing else omitted
    merged = dict(document)
    for name in kept:
        merged[name] = before[name]
    if "account" not in merged:
        merged["account"] = before["account"]
    await import_account(svc, merged, kept=frozenset(kept))
    after = await export_account(svc)
    sections = diff_exports(before, after)
    for name in kept:
        sections[name].kept = True
    result = ImportResult(
        dry_run=dry_run,
        replace_missing=replace_missing,
        kept=kept,
        sections=sections,
        account_changed=before["account"] != after["account"],
    )
    if dry_run:
        await svc.conn.rollback()
    else:
        result.version_id = await _store_version(svc, before, source)
    return result


async def _store_version(svc: EntityService, before: Mapping[str, Any], source: str) -> int:
    table = t.config_versions
    # Dumping a large configuration is seconds of CPU: off the event loop, like its parse.
    text = await asyncio.to_thread(dump_document, before)
    inserted = await svc.conn.execute(
        sa.insert(table)
        .values(
            account_id=svc.account_id,
            created_at=svc.clock(),
            user_id=svc.actor.user_id,
            source=source,
            document=text,
        )
        .returning(table.c.id)
    )
    version_id = int(inserted.scalar_one())
    old = (
        sa.select(table.c.id)
        .where(table.c.account_id == svc.account_id)
        .order_by(table.c.id.desc())
        .offset(KEEP_VERSIONS)
    )
    stale = [row.id for row in (await svc.conn.execute(old)).all()]
    if stale:
        await svc.conn.execute(sa.delete(table).where(table.c.id.in_(stale)))
    return version_id


async def list_versions(svc: EntityService) -> list[dict[str, Any]]:
    """The account's stored versions, newest first (without their documents)."""
    _admin_only(svc)
    table = t.config_versions
    query = (
        sa.select(
            table.c.id,
            table.c.created_at,
            table.c.user_id,
            table.c.source,
            sa.func.length(table.c.document).label("size"),
        )
        .where(table.c.account_id == svc.account_id)
        .order_by(table.c.id.desc())
    )
    rows = (await svc.conn.execute(query)).all()
    return [
        {
            "id": row.id,
            "created_at": utc_aware(row.created_at),
            "user_id": row.user_id,
            "source": row.source,
            "size": row.size,
        }
        for row in rows
    ]


async def version_document(svc: EntityService, version_id: int | None) -> tuple[int, str]:
    """(id, YAML) of a stored version of the account; None = the newest."""
    _admin_only(svc)
    table = t.config_versions
    query = sa.select(table.c.id, table.c.document).where(table.c.account_id == svc.account_id)
    if version_id is not None:
        query = query.where(table.c.id == version_id)
    row = (await svc.conn.execute(query.order_by(table.c.id.desc()).limit(1))).first()
    if row is None:
        raise NotFound("config versions", version_id if version_id is not None else "(any)")
    return int(row.id), str(row.document)


async def rollback(svc: EntityService, version_id: int | None = None) -> ImportResult:
    """Restore a stored version (default: the newest) as a whole; the configuration it replaces
    is stored as a version in turn, so a rollback can be rolled back."""
    _, text = await version_document(svc, version_id)
    return await apply_import(svc, parse_document(text), replace_missing=True, source="rollback")


def _admin_only(svc: EntityService) -> None:
    if svc.actor.role not in (Role.ADMIN, Role.OPERATOR):
        raise Forbidden(
            "only an admin reads or restores configuration versions (they hold secrets)"
        )
