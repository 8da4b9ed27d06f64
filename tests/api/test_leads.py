"""`POST /leads/incoming` (CB-4 leads) on a running API, both backends: a lead is stored and the
first matching lead rule makes its callback task; no task when the account's lead callback is
off, no rule matches or the phone already waits; 422 naming the field; a flood from one source
answers 429 with Retry-After and makes no rows, another source is not limited by it; another
account's rules and leads are never used or shown; roles; the route in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.api.conftest import Api, unique
from vpbx.services.leads import LeadLimits
from vpbx.storage import tables as t

PHONE = "79161234567"


def _office(api: Api) -> tuple[int, str, dict[str, Any]]:
    """An account with one employee and two lead rules: site example.ru first, then all."""
    account_id, admin = api.new_account(f"Leads {unique()}")
    employee = api.create(
        "employees", admin, {"last_name": "Иванов", "extension": "201", "phones": [{"kind": "sip"}]}
    )
    how = {"method": "employee", "employee_id": employee["id"]}
    api.create("lead-callback-rules", admin,
               {"name": "Все заявки", "position": 2, "source": "all", "how": how})  # fmt: skip
    api.create("lead-callback-rules", admin,
               {"name": "С сайта", "position": 1, "source": "site", "site": "example.ru",
                "how": how})  # fmt: skip
    return account_id, admin, employee


def _tasks(api: Api, account_id: int) -> list[Any]:
    c = t.callback_tasks.c
    query = sa.select(t.callback_tasks).where(c.account_id == account_id).order_by(c.id)
    with api.db.connect() as conn:
        return list(conn.execute(query).mappings())


def _rule_ids(api: Api, token: str) -> dict[str, int]:
    rules = api.ok(api.get("/lead-callback-rules", token))["items"]
    return {rule["name"]: rule["id"] for rule in rules}


def test_a_lead_is_stored_and_called_back_by_the_first_matching_rule(api: Api) -> None:
    account_id, admin, _employee = _office(api)
    body = {"phone": PHONE, "name": "Пётр", "comment": "после обеда",
            "site": "https://www.Example.ru/contacts"}  # fmt: skip
    response = api.post("/leads/incoming", admin, json=body)
    accepted = api.ok(response, 201)
    assert response.headers["location"] == f"/api/v1/leads/{accepted['lead_id']}"
    lead = api.ok(api.get(f"/leads/{accepted['lead_id']}", admin))
    assert (lead["phone"], lead["name"], lead["source"], lead["site"]) == (
        PHONE, "Пётр", "custom", "example.ru",
    )  # fmt: skip
    assert lead["payload"] == {"comment": "после обеда"}
    [task] = _tasks(api, account_id)
    rules = _rule_ids(api, admin)
    assert task["id"] == accepted["task_id"]
    assert (task["kind"], task["status"], task["caller"]) == ("lead", "pending", PHONE)
    assert (task["lead_rule_id"], task["lead_id"]) == (rules["С сайта"], accepted["lead_id"])
    assert accepted["reason"] == "правило «С сайта»"
    # another site: the next rule; the same phone again: stored, no second task
    elsewhere = {"phone": "79160000001", "site": "shop.example.com"}
    other = api.ok(api.post("/leads/incoming", admin, json=elsewhere), 201)
    again = api.ok(api.post("/leads/incoming", admin, json={"phone": PHONE}), 201)
    assert again["task_id"] is None
    assert again["reason"] == "абонент уже ждет перезвона"
    tasks = _tasks(api, account_id)
    assert [r["lead_rule_id"] for r in tasks] == [rules["С сайта"], rules["Все заявки"]]
    assert tasks[1]["id"] == other["task_id"]
    assert api.count("leads", admin) == 3


def test_no_task_when_switched_off_or_no_rule_matches(api: Api) -> None:
    account_id, admin, employee = _office(api)
    settings = api.ok(api.get("/account", admin))
    settings = {k: v for k, v in settings.items() if k != "id"}
    api.ok(api.put("/account", admin, json=settings | {"lead_callback_enabled": False}))
    off = api.ok(api.post("/leads/incoming", admin, json={"phone": PHONE}), 201)
    assert (off["task_id"], off["reason"]) == (None, "автоперезвон по заявкам выключен")
    api.ok(api.put("/account", admin, json=settings | {"lead_callback_enabled": True}))
    for rule_id in _rule_ids(api, admin).values():
        api.ok(api.delete(f"/lead-callback-rules/{rule_id}", admin), 204)
    api.create("lead-callback-rules", admin, {"name": "Реклама", "source": "ad_platform",
               "how": {"method": "employee", "employee_id": employee["id"]}})  # fmt: skip
    none = api.ok(api.post("/leads/incoming", admin, json={"phone": PHONE}), 201)
    assert none["task_id"] is None
    assert "ни одно правило" in none["reason"]
    ad = api.ok(api.post("/leads/incoming", admin, json={"phone": PHONE, "source": "ad_platform"}),
                201)  # fmt: skip
    assert ad["task_id"] is not None
    assert [r["id"] for r in _tasks(api, account_id)] == [ad["task_id"]]


def test_bad_leads_are_refused_naming_the_field(api: Api) -> None:
    account_id, admin, _employee = _office(api)
    cases = [
        ({"phone": "call me"}, "phone"),
        ({}, "phone"),
        ({"phone": PHONE, "source": "all"}, "source"),
        ({"phone": PHONE, "comment": "x" * 1001}, "comment"),
        ({"phone": PHONE, "name": "x" * 201}, "name"),
        ({"phone": PHONE, "site": "x" * 301}, "site"),
        ({"phone": PHONE, "budget": 100}, "budget"),
    ]
    for body, field in cases:
        response = api.post("/leads/incoming", admin, json=body)
        assert response.status_code == 422, (body, api.explain(response))
        assert [e["field"] for e in response.json()["errors"]] == [field], response.json()
    nul = api.post("/leads/incoming", admin, json={"phone": PHONE, "name": "a\u0000b"})
    assert nul.status_code == 422, api.explain(nul)
    assert [e["field"] for e in nul.json()["errors"]] == ["name"]
    assert api.count("leads", admin) == 0
    assert _tasks(api, account_id) == []


def test_a_flood_from_one_source_answers_429_and_makes_no_rows(api: Api) -> None:
    account_id, admin, _employee = _office(api)
    limit = LeadLimits().per_minute
    for index in range(limit):
        body = {"phone": f"7916{index:07d}", "site": "example.ru"}
        api.ok(api.post("/leads/incoming", admin, json=body), 201)
    refused = api.post("/leads/incoming", admin, json={"phone": PHONE, "site": "example.ru"})
    assert refused.status_code == 429, api.explain(refused)
    assert refused.json()["error_id"] == "too_many_leads"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert api.count("leads", admin) == limit
    assert len(_tasks(api, account_id)) == limit  # one per phone, none for the refused one
    # another source of the same account is not limited by this one
    api.ok(api.post("/leads/incoming", admin, json={"phone": PHONE, "site": "other.ru"}), 201)


def test_accounts_are_isolated_and_only_admins_send_leads(api: Api) -> None:
    a_account, a_admin, _a_employee = _office(api)
    b_account, b_admin = api.new_account(f"Leads B {unique()}")
    got = api.ok(api.post("/leads/incoming", b_admin, json={"phone": PHONE}), 201)
    # B has no rules: A's are never used for B's lead
    assert got["task_id"] is None
    assert _tasks(api, a_account) == []
    assert _tasks(api, b_account) == []
    assert api.get(f"/leads/{got['lead_id']}", a_admin).status_code == 404
    assert api.count("leads", a_admin) == 0
    # the operator sends leads into the account he names; nobody without a token
    by_operator = api.post("/leads/incoming", api.operator_token, account_id=b_account,
                           json={"phone": "79160000002"})  # fmt: skip
    assert api.ok(by_operator, 201)["lead_id"] != got["lead_id"]
    assert api.count("leads", b_admin) == 2
    anonymous = api.post("/leads/incoming", None, json={"phone": PHONE})
    assert anonymous.status_code == 401, api.explain(anonymous)
    employee = api.create(
        "employees", a_admin, {"last_name": "Петров", "phones": [{"kind": "sip"}]}
    )
    token = api.user(a_admin, "employee", employee["id"])
    refused = api.post("/leads/incoming", token, json={"phone": PHONE})
    assert refused.status_code == 403, api.explain(refused)
    supervisor = api.user(a_admin, "supervisor")
    assert api.post("/leads/incoming", supervisor, json={"phone": PHONE}).status_code == 403
    assert api.count("leads", a_admin) == 0


def test_the_route_is_documented(api: Api) -> None:
    operation = api.openapi()["paths"]["/api/v1/leads/incoming"]["post"]
    assert {"201", "422", "429"} <= set(operation["responses"])
