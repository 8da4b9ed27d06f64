"""`POST /files/recordings-by-phone` (FILE-1 «Записать сообщение») on a running API, both
backends: 202 with the request at once (`Location`), its state readable by id, the call's row in
the calls report and its `call_started` webhook event; 422s naming the field (name empty, blank
or too long, the employee unknown or another account's, the number refused by the toll-fraud
policy, neither or both targets, the length out of the voicemail's limits); admins and the
operator only; 404 for another account's id; 409 while the same phone is being called; 429 past
the account's recordings per minute; the route in the served OpenAPI document."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.api.conftest import Api, unique
from vpbx.services.record_by_phone import RecordLimits
from vpbx.storage import tables as t

PATH = "/files/recordings-by-phone"


def _office(api: Api) -> tuple[int, str, dict[str, Any]]:
    account_id, admin = api.new_account(f"Record {unique()}")
    employee = api.create(
        "employees", admin, {"last_name": "Иванов", "extension": "201", "phones": [{"kind": "sip"}]}
    )
    return account_id, admin, employee


def _error(api: Api, response: Any, status: int = 422) -> tuple[str, str]:
    assert response.status_code == status, api.explain(response)
    body = response.json()
    (field,) = body["errors"]
    return field["field"], field["error_id"]


def test_a_recording_is_accepted_at_once_and_readable(api: Api) -> None:
    account_id, admin, employee = _office(api)
    hook = {"url": "https://crm.example.com/hook", "events": ["call_started"], "secret": "s"}
    api.create("webhooks", admin, hook)
    response = api.post(PATH, admin, json={"name": "Приветствие", "employee_id": employee["id"]})
    started = api.ok(response, 202)
    assert response.headers["location"] == f"/api/v1{PATH}/{started['id']}"
    assert started["status"] == "pending"
    assert (started["name"], started["employee_id"], started["number"]) == (
        "Приветствие",
        employee["id"],
        None,
    )
    assert (started["max_seconds"], started["file_id"], started["outcome"]) == (120, None, None)
    assert api.ok(api.get(f"{PATH}/{started['id']}", admin)) == started
    row = api.ok(api.get(f"/calls/{started['call_id']}", admin))
    assert (row["session_type"], row["status"], row["direction"]) == (
        "Запись сообщения",
        "active",
        "outgoing",
    )
    assert (row["caller"], row["called"], row["employee_id"]) == (
        "201",
        "Приветствие",
        employee["id"],
    )
    with api.db.connect() as conn:
        task = conn.execute(
            sa.select(t.callback_tasks).where(t.callback_tasks.c.id == started["id"])
        ).mappings().one()  # fmt: skip
        events = conn.execute(
            sa.select(t.outbox.c.event_type).where(t.outbox.c.account_id == account_id)
        ).scalars().all()  # fmt: skip
    assert (task["kind"], task["status"], task["file_name"]) == ("record", "pending", "Приветствие")
    assert list(events) == ["call_started"]
    # not a callback task of the account
    assert api.ok(api.get("/callback-tasks", admin))["total"] == 0
    assert api.get(f"/callback-tasks/{started['id']}", admin).status_code == 404
    # an outside number, a name trimmed, a length of its own
    outside = api.post(
        PATH, admin, json={"name": "  Меню  ", "number": "+7 (916) 123-45-67", "max_seconds": 30}
    )
    body = api.ok(outside, 202)
    assert (body["name"], body["number"], body["employee_id"], body["max_seconds"]) == (
        "Меню",
        "79161234567",
        None,
        30,
    )


def test_refusals_name_the_field(api: Api) -> None:
    _account_id, admin, employee = _office(api)
    _other, other_admin, stranger = _office(api)
    eid = employee["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "", "employee_id": eid}, "name"),
        ({"name": "   ", "employee_id": eid}, "name"),
        ({"name": "x" * 201, "employee_id": eid}, "name"),
        ({"employee_id": eid}, "name"),
        ({"name": "x", "employee_id": eid, "max_seconds": 4}, "max_seconds"),
        ({"name": "x", "employee_id": eid, "max_seconds": 601}, "max_seconds"),
        ({"name": "x", "number": "123"}, "number"),
        ({"name": "x", "employee_id": eid, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        got = api.post(PATH, admin, json=body)
        assert got.status_code == 422, (body, api.explain(got))
        assert field in {e["field"] for e in got.json()["errors"]}, (body, got.json())
    # neither or both whom to call
    api.ok(api.post(PATH, admin, json={"name": "x"}), 422)
    both = {"name": "x", "employee_id": eid, "number": "79161234567"}
    api.ok(api.post(PATH, admin, json=both), 422)
    # unknown, or another account's employee: the same answer
    for unknown in (999_999_999, stranger["id"]):
        got = api.post(PATH, admin, json={"name": "x", "employee_id": unknown})
        assert _error(api, got) == ("employee_id", "unknown_employee")
    # toll fraud: premium-rate 7809 is blocked, international is not allowed by default
    for refused in ("78091234567", "441234567890"):
        got = api.post(PATH, admin, json={"name": "x", "number": refused})
        assert _error(api, got) == ("number", "toll_fraud_refused"), refused
    assert api.ok(api.get("/calls", admin))["total"] == 0  # nothing refused left a row
    assert api.ok(api.get("/calls", other_admin))["total"] == 0


def test_admins_and_the_operator_only(api: Api) -> None:
    account_id, admin, employee = _office(api)
    body = {"name": "Приветствие", "employee_id": employee["id"]}
    for role, employee_id in (("supervisor", None), ("employee", employee["id"])):
        token = api.user(admin, role, employee_id)
        refused = api.post(PATH, token, json=body)
        assert refused.status_code == 403, api.explain(refused)
    started = api.post(PATH, api.operator_token, account_id=account_id, json=body)
    recording = api.ok(started, 202)
    supervisor = api.user(admin, "supervisor")
    assert api.get(f"{PATH}/{recording['id']}", supervisor).status_code == 403
    assert api.ok(api.get(f"{PATH}/{recording['id']}", admin))["id"] == recording["id"]
    assert api.post(PATH, json=body).status_code == 401


def test_another_account_s_recording_is_not_found(api: Api) -> None:
    _a, admin, employee = _office(api)
    _b, other_admin, _stranger = _office(api)
    mine = api.ok(api.post(PATH, admin, json={"name": "x", "employee_id": employee["id"]}), 202)
    theirs = api.get(f"{PATH}/{mine['id']}", other_admin)
    missing = api.get(f"{PATH}/987654321", other_admin)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["message"].replace(str(mine["id"]), "ID") == missing.json()[
        "message"
    ].replace("987654321", "ID")


def test_one_call_per_phone_at_a_time_and_the_limit_per_minute(api: Api) -> None:
    _account_id, admin, employee = _office(api)
    _other, other_admin, other_employee = _office(api)
    body = {"name": "Приветствие", "employee_id": employee["id"]}
    api.ok(api.post(PATH, admin, json=body), 202)
    busy = api.post(PATH, admin, json=body)
    assert busy.status_code == 409, api.explain(busy)
    assert busy.json()["error_id"] == "recording_under_way"
    assert busy.json()["errors"][0]["field"] == "employee_id"
    number = {"name": "x", "number": "79160000000"}
    api.ok(api.post(PATH, admin, json=number), 202)
    assert _error(api, api.post(PATH, admin, json=number), 409) == ("number", "conflict")
    for n in range(2, RecordLimits().per_minute):
        api.ok(api.post(PATH, admin, json={"name": "x", "number": f"7916000000{n}"}), 202)
    refused = api.post(PATH, admin, json={"name": "x", "number": "79160000099"})
    assert refused.status_code == 429, api.explain(refused)
    assert refused.json()["error_id"] == "too_many_calls"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # another account is not limited by this one
    other = {"name": "x", "employee_id": other_employee["id"]}
    api.ok(api.post(PATH, other_admin, json=other), 202)


def test_the_route_is_documented(api: Api) -> None:
    paths = api.openapi()["paths"]
    start = paths[f"/api/v1{PATH}"]["post"]
    for status in ("202", "409", "422", "429"):
        assert status in start["responses"], status
    assert "404" in paths[f"/api/v1{PATH}/{{recording_id}}"]["get"]["responses"]
