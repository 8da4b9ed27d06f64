"""Who performs a domain operation: the installation operator or a cabinet user of one account."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """ACC-2 roles, plus the installation operator who manages accounts and FMC lines (FMC-1)."""

    OPERATOR = "operator"
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    EMPLOYEE = "employee"


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a service: a role, the account it acts in, and its own ids when it has them."""

    role: Role
    account_id: int | None
    user_id: int | None = None
    employee_id: int | None = None
