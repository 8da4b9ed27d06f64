"""`GET /calendar/{year}` (SCH-3): the national production calendar for the cabinet's preview."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_year_lists_holidays_moved_days_and_shortened_days(api: Api) -> None:
    _account_id, admin = api.new_account("Календарь")
    employee = api.user(
        admin,
        "employee",
        api.create("employees", admin, {"last_name": "Календарёв", "phones": [{"kind": "sip"}]})[
            "id"
        ],
    )

    year = api.ok(api.get("/calendar/2025", admin))

    assert (year["year"], year["country"], year["first_year"]) == (2025, "RU", 1991)
    assert year["last_year"] >= 2026
    by_date = {day["date"]: day for day in year["days"]}
    assert by_date["2025-05-09"] == {
        "date": "2025-05-09", "kind": "holiday", "working": False, "shortened": False,
        "name_ru": "День Победы", "name_en": "Victory Day",
    }  # fmt: skip
    assert by_date["2025-05-08"]["kind"] == "day_off"
    assert by_date["2025-11-01"] | {"name_ru": None} == {
        "date": "2025-11-01", "kind": "working_weekend", "working": True, "shortened": True,
        "name_ru": None, "name_en": None,
    }  # fmt: skip
    assert [d for d, day in by_date.items() if day["kind"] == "shortened"] == [
        "2025-03-07", "2025-04-30", "2025-06-11",
    ]  # fmt: skip
    assert "2025-12-30" not in by_date  # an ordinary working day is not listed
    # the same for every signed-in user of every account
    assert api.ok(api.get("/calendar/2025", employee)) == year
    assert api.get("/calendar/2025").status_code == 401


def test_a_year_the_calendar_does_not_know_is_a_422_naming_the_field(api: Api) -> None:
    _account_id, admin = api.new_account("Календарь 422")
    last = api.ok(api.get("/calendar/2025", admin))["last_year"]

    for year in (1990, last + 1):
        response = api.get(f"/calendar/{year}", admin)
        assert response.status_code == 422, api.explain(response)
        body = response.json()
        assert body["error_id"] == "validation_failed"
        assert body["errors"] == [
            {
                "field": "year",
                "rule": body["errors"][0]["rule"],
                "error_id": "calendar_year_unknown",
            }
        ]
        assert f"1991..{last}" in body["errors"][0]["rule"]
    not_a_year = api.get("/calendar/20250", admin)
    assert not_a_year.status_code == 422
    assert not_a_year.json()["errors"][0]["field"] == "year"


def test_the_path_is_documented(api: Api) -> None:
    item = api.openapi()["paths"]["/api/v1/calendar/{year}"]["get"]
    assert "CalendarYear" in str(item["responses"]["200"])
    assert "ErrorBody" in str(item["responses"]["422"])
