"""CDR-3 over HTTP on a running API (both backends): `GET /dashboards` shows the counts of a
seeded set of calls as computed from the seeds (tests/dashboard_seeds.py), the same figures for
the admin, the supervisor and the operator, an employee's own figures, and 422 naming the field
for every bad period (never a 500). Account isolation is in test_isolation.py."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api import rich
from tests.api.conftest import Api, unique
from tests.dashboard_seeds import Seed, by_bucket, by_employee, chosen, figures, write_seeds

ZONE = ZoneInfo("Asia/Yekaterinburg")  # UTC+5


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=ZONE)


SEEDS = (
    Seed(local(9, 23, 50), "missed", 14),
    Seed(local(10, 0, 10), "answered", 3, employee="e1", talk=61, rating=5),  # 19:10 UTC, 9th
    Seed(local(10, 0, 20), "answered", 8, employee="e2", talk=30, rating=3),
    Seed(local(10, 0, 40), "failed", 2),
    Seed(local(10, 10, 0), "interrupted", 9, employee="e1", talk=12),
    Seed(local(10, 10, 5), "voicemail", 25, employee="e1"),
    Seed(local(10, 10, 30), "missed", 40, number="b"),
    Seed(local(10, 11, 0), "answered", 1, direction="outgoing", employee="e2", talk=90),
    Seed(local(10, 11, 30), "blocked"),
)
PERIOD = {"from": "2025-03-09T22:00:00", "to": "2025-03-11T00:00:00"}


@dataclass
class Office:
    admin: str
    supervisor: str
    employee: str
    account_id: int
    numbers: dict[str, int]
    employees: dict[str, int]


@pytest.fixture(scope="module")
def office(api: Api) -> Office:
    account_id, admin = api.new_account(f"Dashboards {unique()}", timezone=ZONE.key)
    numbers = {
        key: api.create("numbers", admin, {"number": rich.virtual_number(unique())})["id"]
        for key in ("a", "b")
    }
    phone = [{"kind": "number", "number": "79160000001"}]
    employees = {
        "e1": api.create(
            "employees", admin, {"last_name": "Петров", "first_name": "Иван", "phones": phone}
        )["id"],
        "e2": api.create("employees", admin, {"last_name": "Смирнова", "phones": phone})["id"],
    }
    asyncio.run(write_seeds(api.db_url, account_id, SEEDS, numbers, employees))
    return Office(
        admin,
        api.user(admin, "supervisor"),
        api.user(admin, "employee", employee_id=employees["e1"]),
        account_id,
        numbers,
        employees,
    )


def _bounds() -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.fromisoformat(PERIOD["from"]).replace(tzinfo=ZONE)
    return start, dt.datetime.fromisoformat(PERIOD["to"]).replace(tzinfo=ZONE)


def _assert_figures(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == (pytest.approx(value) if isinstance(value, float) else value), name


def test_the_dashboard_shows_the_seeded_counts(api: Api, office: Office) -> None:
    body = api.ok(api.get("/dashboards", office.admin, params=PERIOD))
    seeds = chosen(SEEDS, *_bounds())

    assert (body["bucket"], body["timezone"]) == ("hour", "Asia/Yekaterinburg")
    assert (body["start"], body["end"]) == ("2025-03-09T17:00:00Z", "2025-03-10T19:00:00Z")
    _assert_figures(body["totals"], figures(seeds))
    assert (body["totals"]["missed"], body["totals"]["lost"]) == (2, 2)
    # local hours with the account's offset; 00:10 local is 19:10 UTC of the day before
    starts = [b["start"] for b in body["buckets"]]
    assert starts[0] == "2025-03-09T22:00:00+05:00"
    assert len(starts) == 26
    expected = by_bucket(seeds, ZONE, hourly=True)
    for item in body["buckets"]:
        key = dt.datetime.fromisoformat(item["start"]).replace(tzinfo=None)
        _assert_figures(item["figures"], expected.get(key, figures([])))
    midnight = next(b for b in body["buckets"] if b["start"] == "2025-03-10T00:00:00+05:00")
    assert (midnight["figures"]["answered"], midnight["figures"]["lost"]) == (2, 1)

    per_employee = by_employee(seeds)
    rows = {r["employee_id"]: r for r in body["employees"]}
    assert set(rows) == {office.employees[k] for k in per_employee}
    for name, want in per_employee.items():
        row = rows[office.employees[name]]
        _assert_figures({k: row[k] for k in want}, want)
    assert rows[office.employees["e1"]]["name"] == "Петров Иван"

    # one number; every direction (the outgoing call too)
    one = api.ok(
        api.get("/dashboards", office.admin, params=PERIOD | {"number_id": office.numbers["b"]})
    )
    _assert_figures(one["totals"], figures(chosen(SEEDS, *_bounds(), number="b")))
    every = api.ok(api.get("/dashboards", office.admin, params=PERIOD | {"tab": "all"}))
    directions = ("incoming", "outgoing", "internal")
    _assert_figures(every["totals"], figures(chosen(SEEDS, *_bounds(), directions=directions)))


def test_a_month_is_shown_by_local_day(api: Api, office: Office) -> None:
    params = {"from": "2025-03-01T00:00:00", "to": "2025-04-01T00:00:00"}
    body = api.ok(api.get("/dashboards", office.admin, params=params))
    assert body["bucket"] == "day"
    assert len(body["buckets"]) == 31
    days = {b["start"][:10]: b["figures"]["total"] for b in body["buckets"]}
    assert (days["2025-03-09"], days["2025-03-10"]) == (1, 7)


def test_supervisor_and_operator_see_the_same_employee_sees_his_own(
    api: Api, office: Office
) -> None:
    admin = api.ok(api.get("/dashboards", office.admin, params=PERIOD))
    assert api.ok(api.get("/dashboards", office.supervisor, params=PERIOD)) == admin
    operator = api.get(
        "/dashboards", api.operator_token, account_id=office.account_id, params=PERIOD
    )
    assert api.ok(operator) == admin

    mine = api.ok(api.get("/dashboards", office.employee, params=PERIOD))
    _assert_figures(mine["totals"], figures(chosen(SEEDS, *_bounds(), employee="e1")))
    assert [r["employee_id"] for r in mine["employees"]] == [office.employees["e1"]]
    # a number filter does not widen what he sees
    other_number = PERIOD | {"number_id": office.numbers["b"]}
    assert api.ok(api.get("/dashboards", office.employee, params=other_number))["totals"][
        "total"
    ] == len(chosen(SEEDS, *_bounds(), employee="e1", number="b"))
    assert api.get("/dashboards", params=PERIOD).status_code == 401


def test_an_empty_period_gives_empty_figures(api: Api, office: Office) -> None:
    params = {"from": "2024-06-01T00:00:00", "to": "2024-06-02T00:00:00"}
    body = api.ok(api.get("/dashboards", office.admin, params=params))
    assert body["totals"] == figures([])
    assert [b["figures"] for b in body["buckets"]] == [figures([])] * 24
    assert body["employees"] == []


@pytest.mark.parametrize(
    ("params", "field", "error_id"),
    [
        ({"to": "2025-03-10T00:00:00"}, "from", "missing"),
        ({"from": "2025-03-10T00:00:00"}, "to", "missing"),
        ({"from": "2025-03-10T00:00:00", "to": "2025-03-10T00:00:00"}, "to", "period_order"),
        ({"from": "2025-03-10T00:00:00", "to": "2025-03-09T00:00:00"}, "to", "period_order"),
        ({"from": "2025-01-01T00:00:00", "to": "2026-01-03T00:00:00"}, "to", "period_too_long"),
        ({"from": "1899-12-31T00:00:00", "to": "1900-01-02T00:00:00"}, "from", "value_error"),
        ({"from": "2999-12-31T00:00:00", "to": "3000-01-01T00:00:00"}, "to", "value_error"),
        ({"from": "вчера", "to": "2025-03-10T00:00:00"}, "from", "datetime_from_date_parsing"),
        (PERIOD | {"number_id": "0"}, "number_id", "greater_than_equal"),
        (PERIOD | {"number_id": str(2**63)}, "number_id", "less_than_equal"),
        (PERIOD | {"tab": "missed"}, "tab", "enum"),
    ],
)
def test_a_bad_period_or_filter_is_a_422_naming_the_field(
    api: Api, office: Office, params: dict[str, str], field: str, error_id: str
) -> None:
    response = api.get("/dashboards", office.admin, params=params)
    assert response.status_code == 422, api.explain(response)
    body = response.json()
    assert body["error_id"] == "validation_failed"
    assert [(e["field"], e["error_id"]) for e in body["errors"]] == [(field, error_id)]
    if error_id.startswith("period_"):
        assert " / " in body["message"]  # Russian / English
        assert "период" in body["message"]
