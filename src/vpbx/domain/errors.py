"""Domain errors: each carries a stable error_id, the field it is about and the rule in words."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: `field` is a dotted path into the submitted document."""

    field: str
    rule: str
    error_id: str = "invalid"


class DomainError(Exception):
    """Base of the errors the domain layer raises for the API and the CLI to report."""

    error_id = "domain_error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """The submitted entity breaks one or more rules (HTTP 422)."""

    error_id = "validation_failed"
    status = 422

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.rule}" for v in violations))

    @classmethod
    def one(cls, field_path: str, rule: str, error_id: str = "invalid") -> ValidationFailed:
        return cls([Violation(field_path, rule, error_id)])


class NotFound(DomainError):
    """The entity does not exist in the caller's account (HTTP 404; also for other tenants' ids)."""

    error_id = "not_found"
    status = 404

    def __init__(self, kind: str, entity_id: object) -> None:
        super().__init__(f"{kind} {entity_id} not found")
        self.kind = kind
        self.entity_id = entity_id


@dataclass(frozen=True, slots=True)
class Usage:
    """A place that refers to an entity: shown when its deletion is refused (ACC-4)."""

    section: str
    name: str
    where: str = ""

    def describe(self) -> str:
        suffix = f" ({self.where})" if self.where else ""
        return f"«{self.section}»: {self.name}{suffix}"


class InUse(DomainError):
    """Deleting an entity that other entities use is refused, naming every user (HTTP 409)."""

    error_id = "in_use"
    status = 409

    def __init__(self, kind: str, entity_id: object, usages: list[Usage]) -> None:
        self.usages = usages
        places = "; ".join(u.describe() for u in usages)
        super().__init__(
            f"Нельзя удалить: используется в {places} / Cannot delete {kind} {entity_id}: "
            f"used in {places}"
        )


class Conflict(DomainError):
    """A uniqueness rule across the installation or account is broken (HTTP 409)."""

    error_id = "conflict"
    status = 409

    def __init__(self, field_path: str, rule: str) -> None:
        super().__init__(f"{field_path}: {rule}")
        self.field = field_path
        self.rule = rule


class PreconditionFailed(DomainError):
    """A write named the version it was based on (If-Match) and the entity has changed since
    (HTTP 412): someone else saved it in between; the client reloads instead of overwriting."""

    error_id = "precondition_failed"
    status = 412


class Forbidden(DomainError):
    """The cabinet user's role does not allow this (HTTP 403)."""

    error_id = "forbidden"
    status = 403
