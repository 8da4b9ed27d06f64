"""Secrets in the YAML configuration (ACC-3): masked on export, kept when imported masked.

An exported document shows SIP-line passwords, trunk passwords, webhook secrets and users'
password hashes as the mask unless an admin asks for them (an audited reveal). Imported back,
a masked value means "keep what is stored": it is taken from the entity of the account that the
document's entry names by its natural key (a SIP line's login, a trunk's name, a webhook's URL,
a user's login); a masked value with nothing to keep is refused, naming the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.errors import ValidationFailed, Violation
from vpbx.services import audit
from vpbx.services.audit import MASK
from vpbx.services.catalog import BY_NAME

#: section -> (the field naming an entry, the secret fields of the entry)
_SECRETS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "sip-lines": ("login", ("password",)),
    "trunks": ("name", ("password",)),
    "webhooks": ("url", ("secret",)),
    "users": ("login", ("password_hash",)),
}


def mask_export(document: dict[str, Any]) -> dict[str, Any]:
    """The exported document with every non-empty secret replaced by the mask (in place)."""
    for section in _SECRETS:
        entries = document.get(section)
        if isinstance(entries, list):
            document[section] = [audit.masked(section, e) or e for e in entries]
    return document


async def unmask_import(
    conn: AsyncConnection, account_id: int, document: Mapping[str, Any]
) -> dict[str, Any]:
    """A copy of `document` whose masked secrets hold the stored values they stand for."""
    out = dict(document)
    problems: list[Violation] = []
    for section, (key, fields) in _SECRETS.items():
        items = document.get(section)
        if not isinstance(items, list):
            continue
        table = BY_NAME[section].table
        copied: list[Any] = []
        for index, entry in enumerate(items):
            if not isinstance(entry, Mapping) or not any(entry.get(f) == MASK for f in fields):
                copied.append(entry)
                continue
            entry = dict(entry)
            query = sa.select(*(table.c[f] for f in fields)).where(
                table.c.account_id == account_id, table.c[key] == str(entry.get(key))
            )
            row = (await conn.execute(query.limit(1))).first()
            for name in fields:
                if entry.get(name) != MASK:
                    continue
                if row is not None:
                    entry[name] = getattr(row, name)
                elif section == "sip-lines":
                    entry.pop(name)  # a new line: a password is generated for it
                else:
                    problems.append(
                        Violation(
                            f"{section}.{index}.{name}",
                            f"«{MASK}» — маска, а в аккаунте нет записи с {key} "
                            f"{entry.get(key)!r}, чей секрет можно сохранить: укажите секрет / "
                            f"masked, but no entry of the account has this {key} to keep the "
                            "secret of: send the secret itself",
                            "masked_secret",
                        )
                    )
            copied.append(entry)
        out[section] = copied
    if problems:
        raise ValidationFailed(problems)
    return out
