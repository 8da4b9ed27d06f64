"""Installation-level services: accounts (operator only), logins and tokens of cabinet users."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.domain.errors import Forbidden, NotFound
from vpbx.domain.passwords import new_token, token_digest
from vpbx.services import audit
from vpbx.services.auth import AuthPolicy, BadCredentials, check_password, open_session
from vpbx.services.entities import violations_from
from vpbx.storage import tables as t


def _require_operator(actor: Actor) -> None:
    if actor.role is not Role.OPERATOR:
        raise Forbidden("only the installation operator manages accounts")


def parse_account(data: Any) -> Account:
    try:
        return Account.model_validate(data)
    except PydanticValidationError as error:
        raise violations_from(error) from None


async def create_account(conn: AsyncConnection, doc: Account, now: dt.datetime) -> int:
    values = doc.model_dump(mode="json") | {"created_at": now, "updated_at": now}
    result = await conn.execute(sa.insert(t.accounts).values(**values).returning(t.accounts.c.id))
    return int(result.scalar_one())


async def get_account(conn: AsyncConnection, account_id: int) -> dict[str, Any]:
    row = (
        (await conn.execute(sa.select(t.accounts).where(t.accounts.c.id == account_id)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("accounts", account_id)
    return {name: row[name] for name in ("id", *Account.model_fields)}


async def list_accounts(conn: AsyncConnection, actor: Actor) -> list[dict[str, Any]]:
    _require_operator(actor)
    rows = (
        (await conn.execute(sa.select(t.accounts.c.id).order_by(t.accounts.c.id))).scalars().all()
    )
    return [await get_account(conn, i) for i in rows]


async def replace_account(
    conn: AsyncConnection,
    account_id: int,
    doc: Account,
    now: dt.datetime,
    actor: Actor | None = None,
) -> None:
    """Replace an account's settings; with the `actor`, the change is audited."""
    before = await get_account(conn, account_id)
    await conn.execute(
        sa.update(t.accounts)
        .where(t.accounts.c.id == account_id)
        .values(**doc.model_dump(mode="json"), updated_at=now)
    )
    if actor is not None:
        before.pop("id", None)
        after = doc.model_dump(mode="json")
        await audit.record(conn, actor, now, "account", account_id, "update", before, after)


async def delete_account(conn: AsyncConnection, actor: Actor, account_id: int) -> None:
    _require_operator(actor)
    await get_account(conn, account_id)
    await conn.execute(sa.delete(t.accounts).where(t.accounts.c.id == account_id))


async def issue_token(
    conn: AsyncConnection,
    now: dt.datetime,
    user_id: int | None,
    label: str = "",
    operator: bool = False,
) -> str:
    token = new_token()
    await conn.execute(
        sa.insert(t.api_tokens).values(
            user_id=user_id,
            operator=operator,
            token_hash=token_digest(token),
            label=label,
            created_at=now,
        )
    )
    return token


async def login(conn: AsyncConnection, login_name: str, password: str, now: dt.datetime) -> str:
    """An access token of a new session, unthrottled: for trusted callers (the demo seed); the
    API signs in through `vpbx.services.auth.sign_in`."""
    row = (
        await conn.execute(
            sa.select(t.users.c.id, t.users.c.password_hash).where(t.users.c.login == login_name)
        )
    ).first()
    if not await check_password(password, row.password_hash if row is not None else None):
        raise BadCredentials()
    assert row is not None
    return (await open_session(conn, int(row.id), now, AuthPolicy())).access_token
