"""Payloads that give an account at least one entity of every resource of the catalogue.

`build(resource, ids, mark, unique)` is the body of one resource, referring to the entities
created before it (`ids`: resource name -> id, of the same account). `mark` is put into the names
and texts so a test can tell this account's data in any response; `unique` (7 digits) keeps the
installation-unique values (virtual and FMC numbers, user logins) apart between seeds.

`ORDER` is a creation order in which every reference points backwards. `calls` and
`callback-tasks` are written by the switch, not the API: `system_rows` gives rows to insert
directly (plus a call step for `GET /calls/{id}/details`).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from vpbx.domain.entities.misc import CallStep
from vpbx.services.catalog import BY_NAME
from vpbx.storage.tables import is_json

#: Resources in creation order; fmc-lines are created by the operator (X-Account-Id).
ORDER: tuple[str, ...] = (
    "schedules",
    "calendar-overrides",
    "tags",
    "files",
    "contact-groups",
    "segments",
    "trunks",
    "caller-lists",
    "employees",
    "groups",
    "scenarios",
    "numbers",
    "fmc-lines",
    "sip-lines",
    "contacts",
    "blacklist",
    "talk-options",
    "cid-rules",
    "callback-rules",
    "lead-callback-rules",
    "leads",
    "webhooks",
    "users",
)
OPERATOR_CREATES = frozenset({"fmc-lines"})
SYSTEM_WRITTEN = ("calls", "callback-tasks")
USER_PASSWORD = "employee-pass-1"


def virtual_number(unique: str) -> str:
    return f"7495{unique}"


def fmc_number(unique: str) -> str:
    return f"7916{unique}"


def build(resource: str, ids: Mapping[str, int], mark: str, unique: str) -> dict[str, Any]:
    """The creation body of `resource` (see the module docstring)."""
    i = ids
    bodies: dict[str, Any] = {
        "schedules": lambda: {
            "name": f"{mark} office hours",
            "kind": "weekly",
            "use_production_calendar": True,
            "weekly": [
                {"weekday": day, "intervals": [{"start": "09:00", "end": "18:00"}]}
                for day in range(1, 6)
            ],
        },
        "calendar-overrides": lambda: {
            "date": "2026-01-09",
            "working": True,
            "comment": f"{mark} override",
        },
        "tags": lambda: {"name": f"{mark} vip", "color": "#ff8800"},
        "files": lambda: {"name": f"{mark} greeting", "kind": "sound", "text": f"{mark} hello"},
        "contact-groups": lambda: {"name": f"{mark} key clients"},
        "segments": lambda: {
            "name": f"{mark} segment",
            "conditions": {
                "contact_group_ids": [i["contact-groups"]],
                "tag_ids": [i["tags"]],
                "regions": ["Moscow"],
                "numbers": ["7495*"],
            },
        },
        "trunks": lambda: {
            "name": f"{mark} trunk",
            "host": "sip.example.com",
            "username": f"{mark}login",
            "password": "trunk-secret-1",
            "registration": True,
            "allow_ips": ["192.0.2.10"],
        },
        "caller-lists": lambda: {"name": f"{mark} callers", "numbers": ["74951112233", "7916*"]},
        "employees": lambda: {
            "last_name": f"{mark} Ivanov",
            "first_name": "Ivan",
            "email": "ivan@example.com",
            # 2XXX: the account gets an FMC line below (EMP-2/FMC-2).
            "extension": "2001",
            "schedule_id": i["schedules"],
            "phones": [
                {"kind": "sip"},
                {"kind": "number", "number": "79161234567", "ring_timeout": 30},
            ],
            "rate_after_call": True,
        },
        "groups": lambda: {
            "name": f"{mark} sales",
            "extension": "2100",
            "member_ids": [i["employees"]],
            "schedule_id": i["schedules"],
            "simultaneous_lines": 2,
        },
        "scenarios": lambda: {
            "name": f"{mark} main menu",
            "entry": "menu",
            "operations": [
                {
                    "key": "menu",
                    "kind": "menu",
                    "prompt_file_id": i["files"],
                    "prompt_text": f"{mark} press 1",
                    "exits": {"1": "sales", "timeout": "segment", "invalid": "vm"},
                },
                {
                    "key": "segment",
                    "kind": "segment",
                    "branches": [{"segment_id": i["segments"], "target": "sales"}],
                    "exits": {"others": "sales"},
                },
                {
                    "key": "sales",
                    "kind": "forward",
                    "targets": [{"group_id": i["groups"]}, {"employee_id": i["employees"]}],
                    "exits": {"no_answer": "vm"},
                },
                {
                    "key": "vm",
                    "kind": "voicemail",
                    "prompt_file_id": i["files"],
                    "emails": ["boss@example.com"],
                },
            ],
        },
        "numbers": lambda: {
            "number": virtual_number(unique),
            "name": f"{mark} main number",
            "trunk_id": i["trunks"],
            "rules": [
                {
                    "name": f"{mark} office",
                    "schedule_id": i["schedules"],
                    "callers": {"scope": "lists", "caller_list_ids": [i["caller-lists"]]},
                    "scenario_id": i["scenarios"],
                },
                {"name": "always", "scenario_id": i["scenarios"]},
            ],
        },
        "fmc-lines": lambda: {
            "number": fmc_number(unique),
            "employee_id": i["employees"],
            "caller_id_number_id": i["numbers"],
            "channels": 2,
        },
        "sip-lines": lambda: {
            "comment": f"{mark} line",
            "caller_id_mode": "fixed",
            "caller_id_number_id": i["numbers"],
        },
        "contacts": lambda: {
            "last_name": f"{mark} Client",
            "email": "client@example.com",
            "phones": ["74957654321"],
            "organization": f"{mark} LLC",
            "group_ids": [i["contact-groups"]],
            "manager_id": i["employees"],
        },
        "blacklist": lambda: {"number": "74990000001", "comment": f"{mark} spam"},
        "talk-options": lambda: {
            "key": "1",
            "action": "run_scenario",
            "scenario_id": i["scenarios"],
        },
        "cid-rules": lambda: {
            "action": "allow",
            "number_ids": [i["numbers"]],
            "employee_ids": [i["employees"]],
            "comment": f"{mark} cid",
        },
        "callback-rules": lambda: {
            "name": f"{mark} callback",
            "place": "number",
            "number_id": i["numbers"],
            "how": {"method": "group", "group_id": i["groups"]},
            "whisper": {"text": "callback", "file_id": i["files"]},
            "call_schedule_id": i["schedules"],
            "attempt_intervals": [0, 300],
        },
        "lead-callback-rules": lambda: {
            "name": f"{mark} leads",
            "source": "segment",
            "segment_id": i["segments"],
            "how": {"method": "employee", "employee_id": i["employees"]},
        },
        "leads": lambda: {
            "source": "site",
            "phone": "79160001122",
            "name": f"{mark} lead",
            "site": "example.com",
            "payload": {"utm": mark},
        },
        "webhooks": lambda: {
            "url": f"https://example.com/hooks/{mark}",
            "events": ["call_ended", "call_missed"],
            "secret": "hook-secret",
        },
        "users": lambda: {
            "login": f"{mark}.emp{unique}",
            "password": USER_PASSWORD,
            "role": "employee",
            "full_name": f"{mark} Ivan",
            "employee_id": i["employees"],
        },
    }
    return dict(bodies[resource]())


def patch_of(resource: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A one-field PATCH taken from a valid body (the first field that is not a unique key)."""
    skip = {"password", "login", "number", "date", "key"}
    name = next(k for k in body if k not in skip)
    return {name: body[name]}


def columns(doc: BaseModel) -> dict[str, Any]:
    """The column values of a document, stored the way the entity service stores them."""
    values: dict[str, Any] = {}
    for name, info in type(doc).model_fields.items():
        value = getattr(doc, name)
        if is_json(info.annotation):
            value = doc.model_dump(mode="json", include={name})[name]
        elif isinstance(value, enum.Enum):
            value = value.value
        values[name] = value
    return values


def call_document(
    ids: Mapping[str, int], mark: str, employee_id: int | None, now: dt.datetime
) -> dict[str, Any]:
    return {
        "started_at": now - dt.timedelta(minutes=5),
        "answered_at": now - dt.timedelta(minutes=4),
        "ended_at": now,
        "direction": "incoming",
        "session_type": "call",
        "status": "answered",
        "caller": "79161112233",
        "called": "74951234567",
        "number_id": ids.get("numbers"),
        "scenario_id": ids.get("scenarios"),
        "employee_id": employee_id,
        "contact_name": f"{mark} Client",
        "talk_seconds": 240,
        "tag_ids": [ids["tags"]] if "tags" in ids else [],
        "recording_file_ids": [ids["files"]] if "files" in ids else [],
    }


def call_row(
    account_id: int,
    ids: Mapping[str, int],
    mark: str,
    now: dt.datetime,
    employee_id: int | None = None,
) -> dict[str, Any]:
    doc = BY_NAME["calls"].doc.model_validate(call_document(ids, mark, employee_id, now))
    return columns(doc) | {"account_id": account_id, "created_at": now, "updated_at": now}


def call_step_row(call_id: int, mark: str, now: dt.datetime) -> dict[str, Any]:
    doc = CallStep(at=now, leg="a", kind="answer", text=f"{mark} answered by the group")
    return columns(doc) | {"call_id": call_id, "seq": 0}


def callback_task_row(account_id: int, ids: Mapping[str, int], now: dt.datetime) -> dict[str, Any]:
    doc = BY_NAME["callback-tasks"].doc.model_validate(
        {
            "rule_id": ids.get("callback-rules"),
            "call_id": ids.get("calls"),
            "caller": "79161112233",
            "status": "pending",
            "next_attempt_at": now + dt.timedelta(minutes=5),
        }
    )
    return columns(doc) | {"account_id": account_id, "created_at": now, "updated_at": now}


def file_row(
    account_id: int, mark: str, now: dt.datetime, employee_id: int | None, call_id: int | None
) -> dict[str, Any]:
    """A call recording as the switch stores it (employee_id is read-only through the API)."""
    doc = BY_NAME["files"].doc.model_validate({"name": f"{mark} recording", "kind": "recording"})
    return columns(doc) | {
        "account_id": account_id,
        "employee_id": employee_id,
        "call_id": call_id,
        "content_type": "audio/wav",
        "created_at": now,
        "updated_at": now,
    }
