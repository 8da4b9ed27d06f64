"""`POST /calls` (API-1 CallAPI) on a running API, both backends: 202 with the call's id at
once, the active row readable at `GET /calls/{id}` and the task a switch node claims; 422s
naming the field (unknown employee, a number the toll-fraud policy refuses, a caller ID the
CID-3 rules deny or that is not the account's, the line's own denied number); an employee calls
only as himself; the per-account limit answers 429 with Retry-After; the call_started webhook
event is in the outbox; the route is in the served OpenAPI document. «Номер → сценарий»
(`scenario_id`): the row names the scenario and shows the number the scenario serves (or the
one asked, or the first the CID-3 rules allow); another account's or an unknown scenario, a
denied caller ID, both an employee and a scenario are 422s naming the field; an employee user
may not start one; both modes share the limit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.api.conftest import Api, unique
from vpbx.services.callapi import CallApiLimits
from vpbx.storage import tables as t

CLIENT = "79161234567"


def _office(api: Api) -> tuple[int, str, dict[str, Any], int]:
    """An account with one employee on a SIP line and a virtual number on that line."""
    account_id, admin = api.new_account(f"CallAPI {unique()}")
    number = api.create("numbers", admin, {"number": f"7495{unique()}"})
    employee = api.create(
        "employees",
        admin,
        {"last_name": "Иванов", "extension": "201", "phones": [{"kind": "sip"}]},
    )
    line_id = employee["phones"][0]["sip_line_id"]
    api.ok(api.patch(f"/sip-lines/{line_id}", admin, json={"caller_id_number_id": number["id"]}))
    return account_id, admin, employee, number["id"]


def _error(api: Api, response: Any, status: int = 422) -> tuple[str, str]:
    assert response.status_code == status, api.explain(response)
    body = response.json()
    (field,) = body["errors"]
    return field["field"], field["error_id"]


def _rows(api: Api, table: sa.Table, **match: Any) -> list[Any]:
    query = sa.select(table)
    for name, value in match.items():
        query = query.where(table.c[name] == value)
    with api.db.connect() as conn:
        return list(conn.execute(query).mappings())


def test_a_call_is_accepted_at_once_and_readable(api: Api) -> None:
    account_id, admin, employee, number_id = _office(api)
    hook = {"url": "https://crm.example.com/hook", "events": ["call_started"], "secret": "s"}
    api.create("webhooks", admin, hook)
    response = api.post("/calls", admin, json={"employee_id": employee["id"], "number": CLIENT})
    started = api.ok(response, 202)
    assert response.headers["location"] == f"/api/v1/calls/{started['id']}"
    assert started["status"] == "active"
    assert started["employee_id"] == employee["id"]
    row = api.ok(api.get(f"/calls/{started['id']}", admin))
    assert row["session_type"] == "CallAPI"
    assert row["direction"] == "outgoing"
    assert row["status"] == "active"
    assert row["called"] == CLIENT
    assert row["employee_id"] == employee["id"]
    (task,) = _rows(api, t.callback_tasks, id=started["task_id"])
    assert (task["kind"], task["status"], task["caller"]) == ("callapi", "pending", CLIENT)
    assert task["result_call_id"] == started["id"]
    events = _rows(api, t.outbox, account_id=account_id)
    assert [e["event_type"] for e in events] == ["call_started"]
    assert f'"id":{started["id"]}' in events[0]["payload"]
    # by extension, showing a number of the account chosen by the request
    by_extension = api.ok(
        api.post("/calls", admin, json={"extension": "201", "number": CLIENT}), 202
    )
    assert by_extension["employee_id"] == employee["id"]
    chosen = api.post(
        "/calls",
        admin,
        json={"employee_id": employee["id"], "number": CLIENT, "caller_id": _number(api, admin)},
    )
    row = api.ok(api.get(f"/calls/{api.ok(chosen, 202)['id']}", admin))
    assert row["number_id"] == number_id


def _number(api: Api, token: str) -> str:
    return str(api.ok(api.get("/numbers", token))["items"][0]["number"])


def test_refusals_name_the_field(api: Api) -> None:
    _account_id, admin, employee, number_id = _office(api)
    eid = employee["id"]
    unknown = api.post("/calls", admin, json={"employee_id": 999999, "number": CLIENT})
    assert _error(api, unknown) == ("employee_id", "unknown_employee")
    assert _error(api, api.post("/calls", admin, json={"extension": "299", "number": CLIENT})) == (
        "extension",
        "unknown_employee",
    )
    # both or neither employee field
    api.ok(api.post("/calls", admin, json={"number": CLIENT}), 422)
    api.ok(api.post("/calls", admin, json={"employee_id": eid, "extension": "201",
                                           "number": CLIENT}), 422)  # fmt: skip
    _number_and_caller_id_refusals(api, admin, {"employee_id": eid}, number_id)
    # and, with no caller_id, the line's own (fixed) number is denied too
    got = api.post("/calls", admin, json={"employee_id": eid, "number": CLIENT})
    field, error_id = _error(api, got)
    assert (field, error_id) == ("caller_id", "caller_id_denied")
    assert "denied" in got.json()["message"]


def _number_and_caller_id_refusals(
    api: Api, admin: str, first: dict[str, Any], number_id: int
) -> None:
    """The refusals both forms share (`first`: the employee, or the scenario); the account's
    only number `number_id` is denied by a CID-3 rule at the end."""

    def refusal(**body: str) -> tuple[str, str]:
        return _error(api, api.post("/calls", admin, json={"number": CLIENT, **first, **body}))

    # toll fraud: premium-rate 7809 is blocked, international is not allowed by default
    for refused in ("78091234567", "441234567890"):
        assert refusal(number=refused) == ("number", "toll_fraud_refused"), refused
    # a caller ID that is not the account's
    assert refusal(caller_id="74990000000") == ("caller_id", "unknown_number")
    # CID-3: the number denied (to this employee; to calls of nobody in particular)
    api.create("cid-rules", admin, {"action": "deny", "number_ids": [number_id], "position": 0})
    assert refusal(caller_id=_number(api, admin)) == ("caller_id", "caller_id_denied")


def test_an_employee_calls_as_himself_only(api: Api) -> None:
    _account_id, admin, employee, _number_id = _office(api)
    other = api.create("employees", admin, {"last_name": "Петров", "phones": [{"kind": "sip"}]})
    token = api.user(admin, "employee", employee["id"])
    api.ok(api.post("/calls", token, json={"employee_id": employee["id"], "number": CLIENT}), 202)
    refused = api.post("/calls", token, json={"employee_id": other["id"], "number": CLIENT})
    assert refused.status_code == 403, api.explain(refused)


def test_the_limit_per_account_answers_429_with_retry_after(api: Api) -> None:
    _account_id, admin, employee, _number_id = _office(api)
    _other_account, other_admin, other_employee, _n = _office(api)
    body = {"employee_id": employee["id"], "number": CLIENT}
    for _ in range(CallApiLimits().per_minute):
        api.ok(api.post("/calls", admin, json=body), 202)
    refused = api.post("/calls", admin, json=body)
    assert refused.status_code == 429, api.explain(refused)
    assert refused.json()["error_id"] == "too_many_calls"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # another account is not limited by this one
    other = {"employee_id": other_employee["id"], "number": CLIENT}
    api.ok(api.post("/calls", other_admin, json=other), 202)


def _scenario(api: Api, admin: str, name: str = "Меню") -> int:
    body = {"name": name, "entry": "vm", "operations": [{"key": "vm", "kind": "voicemail"}]}
    return int(api.create("scenarios", admin, body)["id"])


def test_a_number_then_scenario_call_is_accepted_showing_the_scenarios_number(api: Api) -> None:
    account_id, admin, _employee, first_number = _office(api)
    scenario_id = _scenario(api, admin)
    hook = {"url": "https://crm.example.com/hook", "events": ["call_started"], "secret": "s"}
    api.create("webhooks", admin, hook)
    served = api.create(
        "numbers", admin, {"number": f"7495{unique()}", "rules": [{"scenario_id": scenario_id}]}
    )
    response = api.post("/calls", admin, json={"scenario_id": scenario_id, "number": CLIENT})
    started = api.ok(response, 202)
    assert response.headers["location"] == f"/api/v1/calls/{started['id']}"
    assert (started["status"], started["employee_id"], started["scenario_id"]) == (
        "active", None, scenario_id,
    )  # fmt: skip
    row = api.ok(api.get(f"/calls/{started['id']}", admin))
    assert (row["session_type"], row["direction"], row["status"]) == (
        "CallAPI", "outgoing", "active",
    )  # fmt: skip
    assert (row["called"], row["caller"]) == (CLIENT, served["number"])
    assert (row["scenario_id"], row["employee_id"], row["number_id"]) == (
        scenario_id, None, served["id"],
    )  # fmt: skip
    (task,) = _rows(api, t.callback_tasks, id=started["task_id"])
    assert (task["kind"], task["status"], task["caller"], task["employee_id"]) == (
        "callapi", "pending", CLIENT, None,
    )  # fmt: skip
    assert task["result_call_id"] == started["id"]
    events = _rows(api, t.outbox, account_id=account_id)
    assert [e["event_type"] for e in events] == ["call_started"]
    assert f'"id":{started["id"]}' in events[0]["payload"]
    # the number asked for is shown
    asked = api.post("/calls", admin, json={"scenario_id": scenario_id, "number": CLIENT,
                                            "caller_id": _number(api, admin)})  # fmt: skip
    row = api.ok(api.get(f"/calls/{api.ok(asked, 202)['id']}", admin))
    assert row["number_id"] == first_number
    # a scenario no number leads to: the account's first number
    other = _scenario(api, admin, "Другой")
    alone = api.post("/calls", admin, json={"scenario_id": other, "number": CLIENT})
    row = api.ok(api.get(f"/calls/{api.ok(alone, 202)['id']}", admin))
    assert row["number_id"] == first_number
    # CID-3 denies the served number (to calls of nobody in particular): the next allowed
    api.create("cid-rules", admin, {"action": "deny", "number_ids": [served["id"]], "position": 0})
    denied = api.post("/calls", admin, json={"scenario_id": scenario_id, "number": CLIENT})
    row = api.ok(api.get(f"/calls/{api.ok(denied, 202)['id']}", admin))
    assert row["number_id"] == first_number


def test_number_then_scenario_refusals_name_the_field(api: Api) -> None:
    _account_id, admin, employee, number_id = _office(api)
    scenario_id = _scenario(api, admin)
    _other_account, other_admin, _e, _n = _office(api)
    foreign = _scenario(api, other_admin)
    for unknown in (foreign, 999999):
        got = api.post("/calls", admin, json={"scenario_id": unknown, "number": CLIENT})
        assert _error(api, got) == ("scenario_id", "unknown_scenario"), unknown
    # an employee and a scenario at once
    api.ok(api.post("/calls", admin, json={"scenario_id": scenario_id, "number": CLIENT,
                                           "employee_id": employee["id"]}), 422)  # fmt: skip
    _number_and_caller_id_refusals(api, admin, {"scenario_id": scenario_id}, number_id)
    # the account's only number denied: not asked for, nothing may be shown either
    got = api.post("/calls", admin, json={"scenario_id": scenario_id, "number": CLIENT})
    assert _error(api, got) == ("caller_id", "caller_id_denied")
    assert "denied" in got.json()["message"]
    # an employee user starts calls as himself only: never to a scenario
    token = api.user(admin, "employee", employee["id"])
    refused = api.post("/calls", token, json={"scenario_id": scenario_id, "number": CLIENT})
    assert refused.status_code == 403, api.explain(refused)


def test_both_modes_share_the_limit_per_account(api: Api) -> None:
    _account_id, admin, employee, _number_id = _office(api)
    scenario_id = _scenario(api, admin)
    for index in range(CallApiLimits().per_minute):
        body: dict[str, Any] = {"number": CLIENT}
        body.update({"scenario_id": scenario_id} if index % 2 else {"employee_id": employee["id"]})
        api.ok(api.post("/calls", admin, json=body), 202)
    refused = api.post("/calls", admin, json={"scenario_id": scenario_id, "number": CLIENT})
    assert refused.status_code == 429, api.explain(refused)
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_the_route_is_documented(api: Api) -> None:
    operation = api.openapi()["paths"]["/api/v1/calls"]["post"]
    assert "202" in operation["responses"]
    assert "429" in operation["responses"]
    assert "422" in operation["responses"]
    schema = api.openapi()["components"]["schemas"]["CallRequest"]
    assert "scenario_id" in schema["properties"]
