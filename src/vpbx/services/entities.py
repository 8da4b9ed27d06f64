"""The generic entity service: validate, check references and uniqueness, store; one transaction.

Entity-specific rules live in `vpbx.services.hooks`; this module runs them for every resource in the
same order, so every write path (API, YAML import, seed, CLI) enforces the same rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.base import MAX_ID
from vpbx.domain.errors import (
    Conflict,
    Forbidden,
    InUse,
    NotFound,
    PreconditionFailed,
    Usage,
    ValidationFailed,
    Violation,
)
from vpbx.domain.net_policy import Network
from vpbx.domain.refs import iter_refs, map_refs
from vpbx.services import audit
from vpbx.services.auth import revoke_user
from vpbx.services.catalog import BY_NAME, CATALOG, Resource
from vpbx.services.hooks import HOOKS, Ctx, generated_password
from vpbx.services.registrations import save_bindings
from vpbx.storage.tables import is_json

Clock = Callable[[], dt.datetime]


#: fields that select the variant of a discriminated union (the kind of a scenario operation)
_DISCRIMINATORS = ("kind",)


def _aware(res: Resource, name: str) -> bool:
    column = res.table.c.get(name)
    return column is not None and getattr(column.type, "timezone", False) is True


def _document_path(loc: Sequence[int | str], data: Any) -> list[int | str]:
    """An error location as a path into the submitted document.

    Pydantic puts the tag of a discriminated union into the location (`operations.0.auth.code`);
    the document has no such key, so the tag is dropped (`operations.0.code`).
    """
    path: list[int | str] = []
    node = data
    for part in loc:
        if (
            isinstance(node, Mapping)
            and isinstance(part, str)
            and part not in node
            and any(node.get(name) == part for name in _DISCRIMINATORS)
        ):
            continue
        path.append(part)
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return path


def violations_from(
    error: PydanticValidationError, prefix: str = "", data: Any = None
) -> ValidationFailed:
    """The pydantic errors of a document as domain violations naming field and rule.

    With the submitted `data`, the fields are paths into it (see `_document_path`).
    """
    found = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in _document_path(item["loc"], data))
        message = str(item["msg"]).removeprefix("Value error, ")
        kind = str(item.get("type", "invalid"))
        found.append(Violation(f"{prefix}{path}" or "(document)", message, kind))
    return ValidationFailed(found)


def entity_tag(out: BaseModel, updated_at: dt.datetime | None) -> str:
    """The ETag of one entity: a hash of what GET answers plus the row's last write time.

    The answer covers changes made through another entity (a group's members written by an
    employee's save); the write time covers a changed secret, which the answer masks.
    """
    stamp = ""
    if updated_at is not None:
        aware = updated_at if updated_at.tzinfo is not None else updated_at.replace(tzinfo=dt.UTC)
        stamp = aware.astimezone(dt.UTC).isoformat()
    text = json.dumps(out.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return '"' + hashlib.sha256(f"{stamp}\n{text}".encode()).hexdigest()[:32] + '"'


def tag_matches(if_match: str, current: str) -> bool:
    """RFC 9110 If-Match: `*` or a list of entity tags, compared strongly (a weak one never
    matches)."""
    value = if_match.strip()
    if value == "*":
        return True
    return current in (part.strip() for part in value.split(","))


@dataclass(frozen=True, slots=True)
class Page:
    items: list[BaseModel]
    total: int
    limit: int
    offset: int


class EntityService:
    """CRUD for every resource of one account, enforcing the domain rules."""

    def __init__(
        self,
        conn: AsyncConnection,
        actor: Actor,
        clock: Clock,
        *,
        url_allow: Sequence[Network] = (),
    ) -> None:
        if actor.account_id is None:
            raise Forbidden("an account must be chosen for this operation")
        #: inside networks a saved URL may name (the installation's VPBX_HTTP_ALLOW_NETWORKS)
        self.url_allow = tuple(url_allow)
        self.conn = conn
        self.actor = actor
        self.account_id: int = actor.account_id
        self.clock = clock
        #: whether saves and deletions write audit entries (an import writes one of its own)
        self.audited = True

    # -- permissions -------------------------------------------------------------------------

    def _check_read(self, res: Resource) -> None:
        if self.actor.role not in res.readable_by:
            raise Forbidden(f"role {self.actor.role.value} may not read {res.name}")

    def _check_write(self, res: Resource, creating: bool = False, deleting: bool = False) -> None:
        allowed = (
            res.creatable_by if (creating or deleting) and res.creatable_by else res.writable_by
        )
        if self.actor.role not in allowed:
            action = "create or delete" if (creating or deleting) else "change"
            raise Forbidden(f"role {self.actor.role.value} may not {action} {res.name}")

    def require_write(self, name: str) -> None:
        """Refuse (403) unless the actor may change entities of resource `name`."""
        self._check_write(BY_NAME[name])

    def _own_filter(self, res: Resource) -> sa.ColumnElement[bool] | None:
        if self.actor.role is Role.EMPLOYEE and res.own_rows_column is not None:
            return res.table.c[res.own_rows_column] == self.actor.employee_id
        return None

    # -- reading -----------------------------------------------------------------------------

    def _scoped(self, res: Resource) -> sa.Select[Any]:
        query = sa.select(res.table).where(res.table.c.account_id == self.account_id)
        if res.only is not None:
            query = query.where(res.only(res.table))
        own = self._own_filter(res)
        return query.where(own) if own is not None else query

    async def _row(self, res: Resource, entity_id: int) -> sa.RowMapping:
        query = self._scoped(res).where(res.table.c.id == entity_id)
        row = (await self.conn.execute(query)).mappings().first()
        if row is None:
            raise NotFound(res.name, entity_id)
        return row

    async def _assoc_values(
        self, res: Resource, ids: Sequence[int]
    ) -> dict[str, dict[int, list[int]]]:
        found: dict[str, dict[int, list[int]]] = {}
        for name, assoc in res.assoc.items():
            per: dict[int, list[int]] = {i: [] for i in ids}
            if ids:
                table = assoc.table
                query = (
                    sa.select(table.c[assoc.own], table.c[assoc.other])
                    .where(table.c[assoc.own].in_(ids))
                    .order_by(table.c[assoc.own], table.c.position, table.c[assoc.other])
                )
                for own, other in (await self.conn.execute(query)).all():
                    per[own].append(other)
            found[name] = per
        return found

    def _values(
        self, res: Resource, row: sa.RowMapping, assoc: Mapping[str, Any]
    ) -> dict[str, Any]:
        values = {name: row[name] for name in res.doc.model_fields if name in row}
        for name in res.assoc:
            values[name] = assoc[name][row["id"]]
        for name in res.hidden:
            values.pop(name, None)
        return values

    def _out(self, res: Resource, row: sa.RowMapping, assoc: Mapping[str, Any]) -> BaseModel:
        values = self._values(res, row, assoc)
        values["id"] = row["id"]
        for name in res.readonly:
            values[name] = row[name]
        for name, value in values.items():
            # SQLite hands timezone-aware columns back naive (they hold UTC): the answer says so.
            if isinstance(value, dt.datetime) and value.tzinfo is None and _aware(res, name):
                values[name] = value.replace(tzinfo=dt.UTC)
        # Secrets are never shown, to any role: an admin asks for one explicitly (reveal).
        return res.out.model_validate(audit.masked(res.name, values))

    def document(self, res: Resource, row: sa.RowMapping, assoc: Mapping[str, Any]) -> BaseModel:
        """The stored entity as its writable document (what the export carries)."""
        return res.doc.model_validate(self._values(res, row, assoc))

    async def get(self, name: str, entity_id: int) -> BaseModel:
        res = BY_NAME[name]
        self._check_read(res)
        row = await self._row(res, entity_id)
        return self._out(res, row, await self._assoc_values(res, [entity_id]))

    async def get_tagged(self, name: str, entity_id: int) -> tuple[BaseModel, str]:
        """The entity as GET answers it, and its ETag (`entity_tag`)."""
        res = BY_NAME[name]
        self._check_read(res)
        row = await self._row(res, entity_id)
        out = self._out(res, row, await self._assoc_values(res, [entity_id]))
        return out, entity_tag(out, row.get("updated_at"))

    async def tag(self, name: str, entity_id: int) -> str:
        return (await self.get_tagged(name, entity_id))[1]

    async def _check_version(self, res: Resource, entity_id: int, if_match: str | None) -> None:
        """A write based on a version (If-Match) is refused once the entity has changed."""
        if if_match is None:
            await self._row(res, entity_id)
            return
        # Lock the row before reading it, so the checked version cannot go stale before this
        # transaction writes: a write of nothing (not SELECT … FOR UPDATE, which SQLite lacks
        # and where pysqlite would not even open the transaction before the first write). A
        # concurrent save of the same row waits here for this one (PostgreSQL's row lock,
        # SQLite's single writer) and then sees the new version.
        await self.conn.execute(
            sa.update(res.table)
            .where(res.table.c.id == entity_id, res.table.c.account_id == self.account_id)
            .values(updated_at=res.table.c.updated_at)
        )
        row = await self._row(res, entity_id)
        current = entity_tag(
            self._out(res, row, await self._assoc_values(res, [entity_id])), row.get("updated_at")
        )
        if not tag_matches(if_match, current):
            raise PreconditionFailed(
                f"{res.name} {entity_id} изменён(а) другим пользователем после того, как вы его "
                "открыли: перезагрузите и повторите / it was changed by someone else since you "
                "loaded it (If-Match does not match its ETag): reload and retry"
            )

    async def page(
        self,
        name: str,
        filters: Mapping[str, str] | None = None,
        sort: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        res = BY_NAME[name]
        self._check_read(res)
        query = self._scoped(res)
        for field_name, raw in (filters or {}).items():
            column = self._filter_column(res, field_name)
            query = query.where(column == _coerce(column, field_name, raw))
        total = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))
        ).scalar_one()
        order: list[sa.ColumnElement[Any]] = []
        if sort:
            for part in sort.split(","):
                desc = part.startswith("-")
                column = self._filter_column(res, part.lstrip("-+"), what="sort")
                order.append(column.desc() if desc else column.asc())
        order.append(res.table.c.id.asc())
        rows = (
            (await self.conn.execute(query.order_by(*order).limit(limit).offset(offset)))
            .mappings()
            .all()
        )
        assoc = await self._assoc_values(res, [r["id"] for r in rows])
        return Page([self._out(res, r, assoc) for r in rows], total, limit, offset)

    def _filter_column(self, res: Resource, name: str, what: str = "filter") -> sa.Column[Any]:
        allowed = {
            c.name
            for c in res.table.columns
            # Never by a secret: a filter on it would be an oracle for guessing it.
            if c.name not in ("account_id", "password_hash", *res.hidden)
            and c.name not in audit.SECRET_FIELDS.get(res.name, ())
            and not isinstance(c.type, sa.JSON)
        }
        if name not in allowed:
            raise ValidationFailed.one(
                what, f"cannot {what} {res.name} by {name!r}; allowed: {', '.join(sorted(allowed))}"
            )
        return res.table.c[name]

    async def all_documents(self, name: str) -> list[tuple[int, BaseModel]]:
        """Every entity of a resource in the account, as (id, document), in id order."""
        res = BY_NAME[name]
        rows = (
            (await self.conn.execute(self._scoped(res).order_by(res.table.c.id))).mappings().all()
        )
        assoc = await self._assoc_values(res, [r["id"] for r in rows])
        return [(r["id"], self.document(res, r, assoc)) for r in rows]

    async def exists(self, name: str, entity_id: int) -> bool:
        res = BY_NAME[name]
        query = sa.select(res.table.c.id).where(
            res.table.c.account_id == self.account_id, res.table.c.id == entity_id
        )
        if res.only is not None:
            query = query.where(res.only(res.table))
        return (await self.conn.execute(query)).first() is not None

    # -- writing -----------------------------------------------------------------------------

    def parse(self, res: Resource, data: Mapping[str, Any]) -> BaseModel:
        try:
            # The context turns on the save-time rules, e.g. no inside address in a fetched URL.
            doc = res.doc.model_validate(data, context={"url_allow": self.url_allow})
        except PydanticValidationError as error:
            raise violations_from(error, data=data) from None
        nul = list(_nul_paths(doc.model_dump(mode="json"), ""))
        if nul:
            # PostgreSQL text cannot hold U+0000 and no name or number needs it.
            raise ValidationFailed(
                [
                    Violation(path, "must not contain the NUL character (U+0000)", "nul_character")
                    for path in nul
                ]
            )
        return doc

    async def create(self, name: str, data: Mapping[str, Any]) -> BaseModel:
        res = BY_NAME[name]
        self._check_write(res, creating=True)
        if not res.api_writable:
            raise Forbidden(f"{res.name} are written by the system, not through the API")
        doc = self.parse(res, data)
        return await self.save(res, doc, None)

    async def replace(
        self,
        name: str,
        entity_id: int,
        data: Mapping[str, Any],
        *,
        if_match: str | None = None,
    ) -> BaseModel:
        """PUT. With `if_match` (an ETag of this entity) it is refused if the entity changed."""
        res = BY_NAME[name]
        self._check_write(res)
        if not res.api_writable:
            raise Forbidden(f"{res.name} are written by the system, not through the API")
        await self._check_version(res, entity_id, if_match)
        # A secret left out (it is never shown, so a GET sent back lacks it) is kept.
        kept = {n: audit.MASK for n in _doc_secrets(res) if n not in data}
        saved = await self.save(res, self.parse(res, {**data, **kept}), entity_id)
        await self._password_changed(res, entity_id, data)
        return saved

    async def update(
        self,
        name: str,
        entity_id: int,
        patch: Mapping[str, Any],
        *,
        if_match: str | None = None,
    ) -> BaseModel:
        """PATCH: top-level fields of `patch` replace the stored ones; the whole is validated."""
        res = BY_NAME[name]
        self._check_write(res)
        await self._check_version(res, entity_id, if_match)
        row = await self._row(res, entity_id)
        current = self.document(res, row, await self._assoc_values(res, [entity_id]))
        merged = current.model_dump(mode="json")
        unknown = sorted(set(patch) - set(res.doc.model_fields))
        if unknown:
            raise ValidationFailed(
                [
                    Violation(
                        u, "unknown field (extra fields are not permitted)", "extra_forbidden"
                    )
                    for u in unknown
                ]
            )
        # Write-only fields are not in the stored document: a patch without them keeps them.
        merged.update({name: row[name] for name in res.hidden if name in row})
        merged.update(patch)
        hook = HOOKS.get(res.name)
        if hook is not None:
            merged = hook.patched(merged, patch)
        saved = await self.save(res, self.parse(res, merged), entity_id)
        await self._password_changed(res, entity_id, patch)
        return saved

    async def _password_changed(
        self, res: Resource, entity_id: int, data: Mapping[str, Any]
    ) -> None:
        """A user whose password an admin set loses every session (whoever held them).

        Here rather than in the users' hook: an import re-saves users with placeholder
        passwords and restores their hashes, which must not log the importing admin out.
        """
        if res.name == "users" and data.get("password") is not None:
            await revoke_user(self.conn, entity_id, self.clock(), "password changed by an admin")

    async def save(self, res: Resource, doc: BaseModel, entity_id: int | None) -> BaseModel:
        """Run every rule for `doc` and store it (insert when `entity_id` is None)."""
        ctx = Ctx(self.conn, self.account_id, self.actor, self.clock(), self)
        await self._check_references(doc)
        before: BaseModel | None = None
        stored: sa.RowMapping | None = None
        if entity_id is not None:
            stored = await self._row(res, entity_id)
            before = self.document(res, stored, await self._assoc_values(res, [entity_id]))
        doc = self._keep_masked_secrets(res, doc, stored)
        hook = HOOKS.get(res.name)
        extra: dict[str, Any] = {}
        if hook is not None:
            doc = await hook.validate(ctx, doc, entity_id)
        await self._check_unique(res, doc, entity_id)
        if hook is not None:
            extra = await hook.prepare(ctx, doc, entity_id)
        values = self._columns(res, doc)
        values.update(extra)
        values["updated_at"] = ctx.now
        if entity_id is None:
            values["account_id"] = self.account_id
            values["created_at"] = ctx.now
            result = await self.conn.execute(
                sa.insert(res.table).values(**values).returning(res.table.c.id)
            )
            entity_id = int(result.scalar_one())
        else:
            await self.conn.execute(
                sa.update(res.table)
                .where(res.table.c.id == entity_id, res.table.c.account_id == self.account_id)
                .values(**values)
            )
        await self._write_assoc(res, doc, entity_id)
        if hook is not None:
            await hook.after_write(ctx, doc, entity_id)
        row = await self._row(res, entity_id)
        assoc = await self._assoc_values(res, [entity_id])
        if self.audited:
            await audit.record(
                self.conn,
                self.actor,
                ctx.now,
                res.name,
                entity_id,
                "create" if before is None else "update",
                audit.document_values(res.name, before),
                audit.document_values(res.name, self.document(res, row, assoc)),
            )
        return self._out(res, row, assoc)

    def _keep_masked_secrets(
        self, res: Resource, doc: BaseModel, stored: sa.RowMapping | None
    ) -> BaseModel:
        """A secret sent back as the mask keeps the stored one (never becomes the mask)."""
        keep: dict[str, Any] = {}
        for name in _doc_secrets(res):
            if getattr(doc, name) != audit.MASK:
                continue
            if stored is None:
                raise ValidationFailed.one(
                    name,
                    f"«{audit.MASK}» — это маска, а не значение: укажите сам секрет / "
                    "the mask is not a value: send the secret itself",
                    "masked_secret",
                )
            keep[name] = stored[name]
        return doc.model_copy(update=keep) if keep else doc

    async def reveal(self, name: str, entity_id: int) -> dict[str, str]:
        """The secrets of one entity, for an admin, written to the audit log."""
        res = BY_NAME[name]
        if self.actor.role not in (Role.ADMIN, Role.OPERATOR):
            raise Forbidden("only an admin may see a secret / секреты видит только администратор")
        fields = [n for n in audit.SECRET_FIELDS.get(name, ()) if n in res.table.c]
        if name not in audit.REVEALABLE:
            fields = []  # a user's password is stored as a hash: nothing to reveal
        if not fields:
            raise NotFound(f"{name} secrets", entity_id)
        row = await self._row(res, entity_id)
        await audit.record(
            self.conn, self.actor, self.clock(), name, entity_id, "reveal", after={"fields": fields}
        )
        return {n: str(row[n] or "") for n in fields}

    async def regenerate_secret(self, name: str, entity_id: int) -> dict[str, str]:
        """A new generated password for a SIP line (SIP-1), for an admin, written to the audit
        log; the new secret is answered as `reveal` answers it. The registrar reads the
        line's password afresh for every request, so the old one stops working at once; the
        line's stored registrations go too (a switch started later does not restore them, and
        the running one drops its own when told of the change: `Registrar.revoke_changed`)."""
        res = BY_NAME[name]
        if self.actor.role not in (Role.ADMIN, Role.OPERATOR):
            raise Forbidden(
                "only an admin may change a secret / секреты меняет только администратор"
            )
        if name != "sip-lines":
            raise NotFound(f"{name} secrets", entity_id)
        await self._row(res, entity_id)
        password = generated_password()
        now = self.clock()
        await self.conn.execute(
            sa.update(res.table)
            .where(res.table.c.id == entity_id, res.table.c.account_id == self.account_id)
            .values(password=password, updated_at=now)
        )
        await save_bindings(self.conn, {entity_id: []}, now)
        await audit.record(
            self.conn,
            self.actor,
            now,
            name,
            entity_id,
            "regenerate",
            after={"fields": ["password"]},
        )
        return {"password": password}

    def _columns(self, res: Resource, doc: BaseModel) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, info in res.doc.model_fields.items():
            # Hidden fields are stored when they are columns (a trunk's password), not when a
            # hook stores something else for them (a user's password hash).
            if name in res.assoc or name not in res.table.c:
                continue
            value = getattr(doc, name)
            if is_json(info.annotation):
                dumped = doc.model_dump(mode="json", include={name})
                value = dumped[name]
            values[name] = value
        return values

    async def _write_assoc(self, res: Resource, doc: BaseModel, entity_id: int) -> None:
        for name, assoc in res.assoc.items():
            table = assoc.table
            await self.conn.execute(sa.delete(table).where(table.c[assoc.own] == entity_id))
            ids: list[int] = list(dict.fromkeys(getattr(doc, name)))
            if ids:
                await self.conn.execute(
                    sa.insert(table),
                    [
                        {assoc.own: entity_id, assoc.other: other, "position": i}
                        for i, other in enumerate(ids)
                    ],
                )

    async def _check_references(self, doc: BaseModel) -> None:
        found = []
        for ref in iter_refs(doc):
            # An id beyond the BIGINT columns exists nowhere (asking the driver would overflow).
            beyond = not 1 <= ref.target_id <= MAX_ID
            if beyond or not await self.exists(ref.ref.kind, ref.target_id):
                found.append(
                    Violation(
                        ref.path,
                        f"must reference an existing {ref.ref.kind} entry of this account "
                        f"(no id {ref.target_id})",
                        "unknown_reference",
                    )
                )
        if found:
            raise ValidationFailed(found)

    async def _check_unique(self, res: Resource, doc: BaseModel, entity_id: int | None) -> None:
        for scope, names in (
            ("installation", res.installation_unique),
            ("account", res.account_unique),
        ):
            for name in names:
                value = getattr(doc, name)
                if value is None:
                    continue
                query = sa.select(res.table.c.id).where(res.table.c[name] == value)
                if scope == "account":
                    query = query.where(res.table.c.account_id == self.account_id)
                if entity_id is not None:
                    query = query.where(res.table.c.id != entity_id)
                if (await self.conn.execute(query)).first() is not None:
                    where = "in this installation" if scope == "installation" else "in this account"
                    raise Conflict(name, f"{name} {value} is already taken {where}")

    # -- deleting ----------------------------------------------------------------------------

    async def usages(
        self, name: str, entity_id: int
    ) -> tuple[list[Usage], list[tuple[Resource, int]]]:
        """Strong users (refusing deletion) and holders of weak references (to be cleaned)."""
        strong: list[Usage] = []
        weak: list[tuple[Resource, int]] = []
        for res in CATALOG:
            for other_id, doc in await self.all_documents(res.name):
                if res.name == name and other_id == entity_id:
                    continue
                hits = [
                    r for r in iter_refs(doc) if r.ref.kind == name and r.target_id == entity_id
                ]
                if not hits:
                    continue
                if any(not r.ref.weak for r in hits) and res.blocks_deletion:
                    values = doc.model_dump() | {"id": other_id}
                    if any(f not in values for f in res.label_fields):
                        # labelled by a read-only column (a SIP line by its login)
                        values = dict(await self._row(res, other_id)) | values
                    label = res.label(values)
                    paths = ", ".join(r.path for r in hits if not r.ref.weak)
                    strong.append(Usage(res.section, label, paths))
                elif any(r.ref.weak for r in hits):
                    weak.append((res, other_id))
        return strong, weak

    async def delete(self, name: str, entity_id: int, confirm: bool = False) -> None:
        """Delete unless used (ACC-4); `confirm` accepts the side effects a hook announces."""
        res = BY_NAME[name]
        self._check_write(res, deleting=True)
        await self._row(res, entity_id)
        hook = HOOKS.get(res.name)
        ctx = Ctx(self.conn, self.account_id, self.actor, self.clock(), self)
        if hook is not None and confirm:
            await hook.release(ctx, entity_id)
        strong, weak = await self.usages(name, entity_id)
        if strong:
            raise InUse(name, entity_id, strong)
        if hook is not None:
            await hook.before_delete(ctx, entity_id)
        if self.audited:
            gone = await self._row(res, entity_id)
            before = self.document(res, gone, await self._assoc_values(res, [entity_id]))
            await audit.record(
                self.conn,
                self.actor,
                ctx.now,
                res.name,
                entity_id,
                "delete",
                audit.document_values(res.name, before),
            )
        for holder, holder_id in weak:
            row = await self._row(holder, holder_id)
            doc = self.document(holder, row, await self._assoc_values(holder, [holder_id]))
            cleaned = map_refs(
                doc, lambda ref, i: None if ref.kind == name and i == entity_id else i
            )
            await self.conn.execute(
                sa.update(holder.table)
                .where(holder.table.c.id == holder_id)
                .values(**self._columns(holder, cleaned))
            )
        # Memberships of the deleted entity, from either side (the cascade is not relied upon).
        for table in {a.table for r in CATALOG for a in r.assoc.values()}:
            for column in table.columns:
                if any(fk.column.table is res.table for fk in column.foreign_keys):
                    await self.conn.execute(sa.delete(table).where(column == entity_id))
        await self.conn.execute(
            sa.delete(res.table).where(
                res.table.c.id == entity_id, res.table.c.account_id == self.account_id
            )
        )


def _doc_secrets(res: Resource) -> list[str]:
    """The secret fields that are part of a resource's document (stored in its columns)."""
    return [
        n
        for n in audit.SECRET_FIELDS.get(res.name, ())
        if n in res.doc.model_fields and n in res.table.c
    ]


def _coerce(column: sa.Column[Any], name: str, raw: str) -> Any:
    try:
        if isinstance(column.type, sa.Boolean):
            if raw.lower() in ("true", "1", "yes"):
                return True
            if raw.lower() in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        if isinstance(column.type, sa.Integer | sa.BigInteger):
            value = int(raw)
            if not -(2**63) <= value < 2**63:
                raise ValueError(raw)  # beyond BIGINT: no row can have it
            return value
        if isinstance(column.type, sa.Float):
            return float(raw)
        if isinstance(column.type, sa.DateTime):
            return dt.datetime.fromisoformat(raw)
        if isinstance(column.type, sa.Date):
            return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed.one(
            name, f"filter value {raw!r} is not a valid {column.type}"
        ) from None
    return raw


def _nul_paths(value: Any, path: str) -> Iterator[str]:
    """Dotted paths of the strings in a dumped document that contain U+0000."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path or "(document)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nul_paths(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}.{index}" if path else str(index))
