"""What the switch asks of storage when an employee uses a talk option (TALK-4/6/7): a Protocol
the switch defines and the services implement (the switch holds no SQL)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["TalkRecords"]


class TalkRecords(Protocol):
    async def tag_call(
        self,
        account_id: int,
        switch_call_id: str,
        tag_id: int | None,
        new_tag_name: str | None,
    ) -> int | None:
        """TALK-4/TAG-1: tag the call (its row exists from its start): an existing tag, or a
        new one by name; the tag's id, None when refused (a tag of another account)."""
        ...

    async def assign_manager(self, account_id: int, caller_number: str, employee_id: int) -> None:
        """TALK-6: the employee becomes the personal manager of the caller's contact (created
        by the manual's rule when the address book has none)."""
        ...

    async def save_caller(
        self,
        account_id: int,
        caller_number: str,
        contact_group_id: int | None,
        to_blacklist: bool,
    ) -> None:
        """TALK-7: the caller's number into a contact group, or into the blacklist (BLK-1)."""
        ...
