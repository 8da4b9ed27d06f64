"""Address book: contacts, contact groups, the blacklist, tags and audience segments."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vpbx.domain.entities.base import ContactGroupRef, Document, EmployeeRef, TagRef
from vpbx.domain.fields import CallerPattern, Email, Name, PhoneNumber
from vpbx.domain.refs import Ref


class Contact(Document):
    """ADR-1: a client with phones, organization, groups and a personal manager."""

    last_name: Name
    first_name: Annotated[str, Field(max_length=200)] = ""
    email: Email | None = None
    phones: Annotated[list[PhoneNumber], Field(max_length=20)] = []
    organization: Annotated[str, Field(max_length=300)] = ""
    group_ids: list[Annotated[int, Ref("contact-groups", weak=True)]] = []
    manager_id: EmployeeRef | None = None


class ContactGroup(Document):
    """ADR-2: VIP, debtors…; rules that use a group cover its new members without re-config."""

    name: Name


class BlacklistEntry(Document):
    """BLK-1: a blocked caller number."""

    number: PhoneNumber
    comment: Annotated[str, Field(max_length=500)] = ""


class Tag(Document):
    """TAG-1: a label put on calls."""

    name: Name
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#888888"


class SegmentConditions(Document):
    """A segment matches a caller when every given condition holds."""

    contact_group_ids: list[ContactGroupRef] = []
    regions: list[Name] = []
    min_visits: Annotated[int, Field(ge=0)] | None = None
    max_visits: Annotated[int, Field(ge=0)] | None = None
    tag_ids: list[TagRef] = []
    numbers: Annotated[list[CallerPattern], Field(max_length=10000)] = []


class Segment(Document):
    """SCN-SEGMENT: a named audience segment."""

    name: Name
    conditions: SegmentConditions = SegmentConditions()


__all__ = ["BlacklistEntry", "Contact", "ContactGroup", "Segment", "SegmentConditions", "Tag"]
