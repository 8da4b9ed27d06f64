"""`GET /webhooks/{id}/deliveries` (API-2) on a running API, both backends: the log shows each
request's state, attempts, last status and reason and the next attempt; admins and supervisors
read it, an employee may not, another account's webhook is a 404; the route is in the served
OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.api.conftest import Api, unique, utcnow
from vpbx.storage import tables as t


def _row(account_id: int, webhook_id: int, n: int, **changes: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "kind": "webhook",
        "account_id": account_id,
        "webhook_id": webhook_id,
        "target": "https://crm.example.com/hook",
        "event_type": "call_started",
        "event_id": f"ev{n}-{unique()}",
        "ordering_key": f"call:{n}:webhook:{webhook_id}",
        "payload": "{}",
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_status": None,
        "last_reason": "",
        "created_at": now + dt.timedelta(seconds=n),
        "updated_at": now,
        **changes,
    }


def test_the_delivery_log_of_a_webhook(api: Api) -> None:
    account_id, admin = api.new_account(f"Hooks {unique()}")
    hook = api.create(
        "webhooks",
        admin,
        {"url": "https://crm.example.com/hook", "events": ["call_started"], "secret": "x"},
    )
    path = f"/webhooks/{hook['id']}/deliveries"
    assert api.ok(api.get(path, admin)) == []
    api.insert(t.outbox, _row(account_id, hook["id"], 1, state="delivered", attempts=2,
                              last_status=200))  # fmt: skip
    api.insert(t.outbox, _row(account_id, hook["id"], 2, state="given_up", attempts=9,
                              last_status=500, last_reason="HTTP 500: oops"))  # fmt: skip
    api.insert(t.outbox, _row(account_id, hook["id"], 3, attempts=1, last_reason="ConnectError"))
    log = api.ok(api.get(path, admin))
    assert [d["state"] for d in log] == ["pending", "given_up", "delivered"]
    assert log[0]["next_attempt_at"] is not None
    assert log[0]["last_reason"] == "ConnectError"
    assert log[1]["last_status"] == 500
    assert log[1]["last_reason"] == "HTTP 500: oops"
    assert log[1]["attempts"] == 9
    assert log[1]["next_attempt_at"] is None
    assert [d["state"] for d in api.ok(api.get(path, admin, params={"limit": 1}))] == ["pending"]
    given_up = api.ok(api.get(path, admin, params={"state": "given_up"}))
    assert [d["attempts"] for d in given_up] == [9]
    supervisor = api.user(admin, "supervisor")
    assert len(api.ok(api.get(path, supervisor))) == 3
    employee_id = api.create(
        "employees",
        admin,
        {"first_name": "Иван", "last_name": f"Иванов{unique()}", "phones": [{"kind": "sip"}]},
    )["id"]
    employee = api.user(admin, "employee", employee_id)
    assert api.get(path, employee).status_code == 403
    _other, stranger = api.new_account(f"Other {unique()}")
    assert api.get(path, stranger).status_code == 404
    assert api.get(path, admin, params={"limit": 0}).status_code == 422
    assert api.get(path, admin, params={"state": "lost"}).status_code == 422


def test_the_route_is_in_the_served_document(api: Api) -> None:
    paths = api.openapi()["paths"]
    route = paths["/api/v1/webhooks/{webhook_id}/deliveries"]["get"]
    assert route["tags"] == ["webhooks"]
    assert "X-Vpbx-Event-Id" in route["description"]
