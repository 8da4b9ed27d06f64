"""The dashboards (CDR-3, issue 16 must-show 5) in a real headless Chromium against a real
`vpbx run` (SQLite): a known set of calls written as the switch writes them, and the «Аналитика»
page shows their counts, waits and per-employee figures exactly as tests/dashboard_seeds.py
computes them from the seeds; a virtual number narrows them; a period without calls says so."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.dashboard_seeds import Seed, by_bucket, by_employee, chosen, figures, write_seeds
from tests.web.conftest import Tenant, api, screenshot
from tests.web.test_cabinet_reports_browser import sign_in

ZONE = ZoneInfo("Europe/Moscow")  # the demo account's
DAY = dt.date(2025, 3, 10)
SECOND_NUMBER = "74951110077"


def msk(hour: int, minute: int = 0, day: int = 10) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=ZONE)


SEEDS = (
    # 21:20 UTC on the 9th: the 10th in Moscow
    Seed(msk(0, 20), "answered", 4, employee="Иванов", talk=95, rating=5),
    Seed(msk(9, 5), "answered", 6, employee="Иванов", talk=125, rating=4),
    Seed(msk(9, 15), "answered", 12, employee="Петрова", talk=300, rating=3),
    Seed(msk(9, 40), "missed", 25),
    Seed(msk(10, 10), "missed", 41),
    Seed(msk(10, 30), "answered", 9, employee="Петрова", talk=61),
    Seed(msk(11, 0), "failed", 2),
    Seed(msk(11, 30), "interrupted", 7, employee="Иванов", talk=20),
    Seed(msk(12, 0), "voicemail", 33, employee="Петрова"),
    Seed(msk(12, 30), "blocked"),
    Seed(msk(13, 0), "missed", 18, number="b"),
    Seed(msk(14, 0), "answered", 3, number="b", employee="Иванов", talk=44, rating=4),
    Seed(msk(15, 0), "answered", 1, direction="outgoing", employee="Петрова", talk=70),
    Seed(msk(0, 10, day=11), "missed", 5),  # 21:10 UTC on the 10th: the next day in Moscow
)


@dataclass
class Office:
    names: dict[str, str]  # employee key → the name the API gives
    numbers: dict[str, int]


@pytest.fixture(scope="module")
def office(served: Tenant) -> Office:
    """The demo account's two employees and its number, a second number, the seeded calls."""
    with api(served, served.token()) as client:
        account_id = client.get("/account").json()["id"]
        staff = client.get("/employees").json()["items"]
        employees = {e["last_name"]: e["id"] for e in staff}
        names = {e["last_name"]: f"{e['last_name']} {e['first_name']}" for e in staff}
        (demo,) = client.get("/numbers").json()["items"]
        second = client.post("/numbers", json={"number": SECOND_NUMBER, "name": "Реклама"})
        assert second.status_code == 201, second.text
    numbers = {"a": demo["id"], "b": second.json()["id"]}
    url = f"sqlite:///{served.data_dir / 'vpbx.db'}"
    # Playwright's sync API keeps an event loop running in this thread
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            lambda: asyncio.run(write_seeds(url, account_id, SEEDS, numbers, employees))
        ).result()
    return Office(names, numbers)


def ru(value: float, digits: int = 1) -> str:
    """A number as the cabinet shows it in Russian (Intl, ru-RU): decimal comma, no trailing 0."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def clock(seconds: float) -> str:
    total = math.floor(seconds + 0.5)
    h, m, s = total // 3600, total % 3600 // 60, total % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def test_the_dashboard_shows_the_counts_of_the_seeded_calls(
    page: Page, served: Tenant, office: Office
) -> None:
    period = f"period=custom&from={DAY}&to={DAY}"
    sign_in(page, served, served.admin, f"/dashboards?{period}")
    expect(page.get_by_role("heading", name="Аналитика")).to_be_visible()
    start = dt.datetime.combine(DAY, dt.time(), ZONE)
    seeds = chosen(SEEDS, start, start + dt.timedelta(days=1))
    want = figures(seeds)
    assert want["total"] == 12  # the outgoing call and the next day's are not in it

    for name in ("total", "answered", "missed", "lost", "voicemail", "blocked"):
        expect(_figure(page, name)).to_have_text(str(want[name]))
    assert isinstance(want["wait_avg"], float)
    assert isinstance(want["wait_p90"], float)
    expect(_figure(page, "wait-avg")).to_have_text(f"{ru(want['wait_avg'])} с")
    expect(_figure(page, "wait-p90")).to_have_text(f"{ru(want['wait_p90'])} с")

    # the chart of calls by hour: its hidden table has every hour of the day, in Moscow time
    table = page.get_by_role("table", name="Звонки по часам")
    expect(table.get_by_role("row")).to_have_count(25)
    hours = by_bucket(seeds, ZONE, hourly=True)
    for hour, got in sorted(hours.items()):
        other = int(got["voicemail"] or 0) + int(got["blocked"] or 0) + int(got["active"] or 0)
        cells = [str(got["answered"]), str(got["missed"]), str(got["lost"]), str(other)]
        row = table.get_by_role("row", name=hour.strftime("%d.%m.%Y %H:00"))
        expect(row.get_by_role("cell")).to_have_text(cells)
    chart = page.get_by_role(
        "img",
        name=f"Звонки по часам: всего {want['total']}, отвеченных {want['answered']}, "
        f"пропущенных {want['missed']}, потерянных {want['lost']}, прочих "
        f"{int(want['voicemail'] or 0) + int(want['blocked'] or 0)}",
    )
    expect(chart).to_be_visible()
    segments = [
        [h["answered"], h["missed"], h["lost"], int(h["voicemail"] or 0) + int(h["blocked"] or 0)]
        for h in hours.values()
    ]
    expect(chart.locator("rect")).to_have_count(sum(1 for bar in segments for v in bar if v))

    # per employee: longest talk first
    staff = page.get_by_test_id("dashboard-employees")
    per_employee = by_employee(seeds)
    order = sorted(per_employee, key=lambda k: -float(per_employee[k]["talk_seconds"] or 0))
    rows = staff.locator("tbody tr")
    expect(rows).to_have_count(len(order))
    for n, key in enumerate(order):
        his = per_employee[key]
        rating = his["rating_avg"]
        expect(rows.nth(n).get_by_role("cell")).to_have_text(
            [
                office.names[key],
                str(his["calls"]),
                str(his["answered"]),
                clock(float(his["talk_seconds"] or 0)),
                "—" if rating is None else ru(float(rating), 2),
                str(his["ratings"]),
            ]
        )
    screenshot(page, "dashboard")

    # one virtual number: the figures of its calls only
    page.get_by_role("combobox", name="Виртуальный номер").click()
    page.get_by_title(f"{SECOND_NUMBER} (Реклама)").click()
    on_b = figures(chosen(SEEDS, start, start + dt.timedelta(days=1), number="b"))
    expect(page).to_have_url(re.compile(rf"[?&]number={office.numbers['b']}(&|$)"))
    for name in ("total", "answered", "missed"):
        expect(_figure(page, name)).to_have_text(str(on_b[name]))


def _figure(page: Page, name: str) -> Locator:
    """The value of one of the totals (without its title)."""
    return page.get_by_test_id(f"figure-{name}").locator(".ant-statistic-content")


def test_a_period_without_calls_says_so_with_empty_charts(
    page: Page, served: Tenant, office: Office
) -> None:
    sign_in(page, served, served.admin, "/dashboards?period=custom&from=2024-01-01&to=2024-01-07")
    expect(page.get_by_text("Нет звонков за период")).to_be_visible()
    expect(_figure(page, "total")).to_have_text("0")
    expect(_figure(page, "wait-p90")).to_have_text("—")
    chart = page.get_by_role("img", name="Звонки по дням: всего 0", exact=False)
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).to_have_count(0)
    expect(page.get_by_role("table", name="Звонки по дням").get_by_role("row")).to_have_count(8)
    # the seeded calls are there, in another period
    assert office.numbers
