"""CDR-1, CDR-2, BLK-2, TAG-1, FILE-1 over HTTP on a running API (both backends): the calls report
tabs and filters, its CSV export, the call details, and the file base tabs.

The calls are written the way the switch writes them (`write_call`, `save_recording`) into the
database the server reads. The account is in Asia/Yekaterinburg (UTC+5), so a time without an
offset in a filter is visibly read in the account's zone, not in UTC.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.api import rich
from tests.api.conftest import Api, unique
from vpbx.domain.entities.misc import FileKind
from vpbx.services.call_log import CallRecord, StepRecord, add_step, set_rating, write_call
from vpbx.services.file_store import save_recording
from vpbx.services.reports import CSV_COLUMNS
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine

T = TypeVar("T")
ZONE = ZoneInfo("Asia/Yekaterinburg")
NOW = dt.datetime(2025, 3, 10, 18, 0, tzinfo=ZONE)


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=ZONE)


def in_db(api: Api, action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `action` in one transaction on the server's database (as the switch would)."""

    async def main() -> T:
        engine = make_async_engine(api.db_url)
        try:
            async with engine.begin() as conn:
                return await action(conn)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def wav(path: Path, seconds: float) -> Path:
    frames = int(8000 * seconds)
    tone = (np.sin(2 * np.pi * 440 * np.arange(frames) / 8000) * 8000).astype(np.int16)
    soundfile.write(path, tone, 8000, subtype="PCM_16", format="WAV")
    return path


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), body[:20]
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8")), delimiter=";"))


@dataclass
class Office:
    account_id: int
    admin: str
    employee: str  # a cabinet user who is employee e1
    number_a: int
    number_b: int
    num_a: str
    num_b: str
    e1: int
    e2: int
    scenario: int
    vip: int
    sale: int
    calls: dict[str, int]
    files: dict[str, int]
    sound: int
    #: an account of its own, with one call
    stranger: str
    stranger_call: int


STEPS = (
    StepRecord(local(10, 9), "rule", "правило «Рабочее время»", {"rule": 1}, "a"),
    StepRecord(local(10, 9), "ring", "звоним Петров Иван", {"phones": ["sip:2001"]}, "b1"),
    StepRecord(
        local(10, 9, 0) + dt.timedelta(seconds=12),
        "answer",
        "ответил Петров Иван",
        {"employee_id": None, "wait": 12.4},
        "b1",
    ),
)


@pytest.fixture(scope="module")
def office(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Office:
    account_id, admin = api.new_account(f"Report {unique()}", timezone="Asia/Yekaterinburg")
    num_a, num_b = rich.virtual_number(unique()), rich.virtual_number(unique())
    number_a = api.create("numbers", admin, {"number": num_a})["id"]
    number_b = api.create("numbers", admin, {"number": num_b})["id"]
    phone = [{"kind": "number", "number": "79160000001"}]
    e1 = api.create(
        "employees", admin, {"last_name": "Петров", "first_name": "Иван", "phones": phone}
    )["id"]
    e2 = api.create("employees", admin, {"last_name": "Смирнова", "phones": phone})["id"]
    scenario = api.create("scenarios", admin, {"name": "Основной"})["id"]
    vip = api.create("tags", admin, {"name": "VIP"})["id"]
    sale = api.create("tags", admin, {"name": "Продажа"})["id"]
    api.create(
        "contacts",
        admin,
        {"last_name": "Иванов", "first_name": "Пётр", "phones": ["79161110001"]},
    )
    employee = api.user(admin, "employee", employee_id=e1)

    def call(**values: Any) -> Callable[[AsyncConnection], Awaitable[int]]:
        record = CallRecord(account_id=account_id, **values)
        return lambda conn: write_call(conn, record, NOW)

    plan: dict[str, dict[str, Any]] = {
        "prev": dict(
            started_at=local(9, 23, 30),
            direction="incoming",
            status="answered",
            caller="79166660006",
            called=num_b,
            number_id=number_b,
            employee_id=e1,
            talk_seconds=30,
        ),
        "night": dict(
            started_at=local(10, 2),
            direction="incoming",
            status="voicemail",
            caller="89165550005",
            called=num_a,
            number_id=number_a,
            scenario_id=scenario,
            wait_seconds=40.0,
        ),
        "inc_ans": dict(
            started_at=local(10, 9),
            answered_at=local(10, 9) + dt.timedelta(seconds=12),
            ended_at=local(10, 9, 2),
            direction="incoming",
            status="answered",
            caller="79161110001",
            called=num_a,
            number_id=number_a,
            scenario_id=scenario,
            employee_id=e1,
            wait_seconds=12.4,
            talk_seconds=95.6,
            rating=5,
            steps=STEPS,
        ),
        "inc_blk": dict(
            started_at=local(10, 9, 30),
            direction="incoming",
            status="blocked",
            caller="79162220002",
            called=num_a,
            number_id=number_a,
        ),
        "out_ans": dict(
            started_at=local(10, 10),
            direction="outgoing",
            status="answered",
            caller=num_b,
            called="79163330003",
            number_id=number_b,
            employee_id=e2,
            talk_seconds=61,
        ),
        "internal": dict(
            started_at=local(10, 11),
            direction="internal",
            status="answered",
            caller="2001",
            called="2002",
            employee_id=e1,
        ),
        "out_blk": dict(
            started_at=local(10, 12),
            direction="outgoing",
            status="blocked",
            caller=num_b,
            called="79164440004",
            number_id=number_b,
            employee_id=e2,
        ),
    }
    calls = {name: in_db(api, call(**values)) for name, values in plan.items()}
    with api.db.begin() as conn:
        for name, tags in (("inc_ans", [vip]), ("out_ans", [vip, sale])):
            conn.execute(sa.update(t.calls).where(t.calls.c.id == calls[name]).values(tag_ids=tags))

    # The file base: voicemail of the night call, two recordings; and one uploaded sound file.
    folder = tmp_path_factory.mktemp("recordings")
    recordings = {
        "vm": dict(
            kind=FileKind.VOICEMAIL,
            now=local(10, 2, 1),
            call_id=calls["night"],
            caller="89165550005",
            called=num_a,
            employee_id=None,
            number_id=number_a,
        ),
        "rec1": dict(
            kind=FileKind.RECORDING,
            now=local(10, 9, 5),
            call_id=calls["inc_ans"],
            caller="79161110001",
            called=num_a,
            employee_id=e1,
            number_id=number_a,
        ),
        "rec2": dict(
            kind=FileKind.RECORDING,
            now=local(10, 10, 5),
            call_id=calls["out_ans"],
            caller=num_b,
            called="79163330003",
            employee_id=e2,
            number_id=number_b,
        ),
    }

    def recording(name: str) -> Callable[[AsyncConnection], Awaitable[int]]:
        values: dict[str, Any] = recordings[name]
        source = wav(folder / f"{name}.wav", 0.25)
        return lambda conn: save_recording(
            conn, api.server.files_dir, account_id, wav=source, name=name, **values
        )

    files = {name: in_db(api, recording(name)) for name in recordings}
    sound = api.create("files", admin, {"name": "Приветствие", "kind": "sound"})["id"]

    stranger_id, stranger = api.new_account(f"Stranger {unique()}")
    stranger_call = in_db(
        api,
        lambda conn: write_call(
            conn,
            CallRecord(
                account_id=stranger_id,
                started_at=local(10, 9, 45),
                direction="incoming",
                status="answered",
                caller="79161110001",
                called="74950000000",
            ),
            NOW,
        ),
    )
    return Office(
        account_id,
        admin,
        employee,
        number_a,
        number_b,
        num_a,
        num_b,
        e1,
        e2,
        scenario,
        vip,
        sale,
        calls,
        files,
        sound,
        stranger,
        stranger_call,
    )


def report(api: Api, office: Office, token: str | None = None, **params: Any) -> list[int]:
    page = api.ok(api.get("/calls", token or office.admin, params=params))
    assert page["total"] == len(page["items"]) or "limit" in params
    return ids(page)


def named(office: Office, *names: str) -> list[int]:
    return [office.calls[n] for n in names]


NEWEST_FIRST = ("out_blk", "internal", "out_ans", "inc_blk", "inc_ans", "night", "prev")


def test_tabs_split_by_direction_and_blocked_cuts_across(api: Api, office: Office) -> None:
    assert report(api, office) == named(office, *NEWEST_FIRST)
    assert report(api, office, tab="all") == named(office, *NEWEST_FIRST)
    # Blocked incoming calls stay in «Входящие» (greyed in the cabinet), internal calls only in
    # «Все»; «Заблокированные» holds the blocked calls of either direction.
    assert report(api, office, tab="incoming") == named(
        office, "inc_blk", "inc_ans", "night", "prev"
    )
    assert report(api, office, tab="outgoing") == named(office, "out_blk", "out_ans")
    assert report(api, office, tab="blocked") == named(office, "out_blk", "inc_blk")
    response = api.get("/calls", office.admin, params={"tab": "lost"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "tab"


def test_report_items_carry_the_call(api: Api, office: Office) -> None:
    page = api.ok(api.get("/calls", office.admin, params={"id": office.calls["inc_ans"]}))
    (item,) = page["items"]
    assert item == {
        "id": office.calls["inc_ans"],
        "started_at": "2025-03-10T04:00:00Z",
        "answered_at": "2025-03-10T04:00:12Z",
        "ended_at": "2025-03-10T04:02:00Z",
        "direction": "incoming",
        "session_type": "",
        "status": "answered",
        "caller": "79161110001",
        "called": office.num_a,
        "number_id": office.number_a,
        "scenario_id": office.scenario,
        "employee_id": office.e1,
        "contact_name": "Иванов Пётр",
        "wait_seconds": 12.4,
        "talk_seconds": 95.6,
        "rating": 5,
        "tag_ids": [office.vip],
        "recording_file_ids": [office.files["rec1"]],
    }
    night = api.ok(api.get("/calls", office.admin, params={"id": office.calls["night"]}))
    assert night["items"][0]["status"] == "voicemail"


def test_period_is_half_open_and_read_in_the_accounts_zone(api: Api, office: Office) -> None:
    everything_but_prev = [c for c in NEWEST_FIRST if c != "prev"]
    # 2025-03-10 00:00 in Yekaterinburg = 2025-03-09 19:00 UTC: the 02:00 call is in.
    assert report(api, office, **{"from": "2025-03-10T00:00:00"}) == named(
        office, *everything_but_prev
    )
    assert report(api, office, **{"from": "2025-03-10T00:00:00+05:00"}) == named(
        office, *everything_but_prev
    )
    # Midnight UTC is 05:00 there: the night call is out.
    assert report(api, office, **{"from": "2025-03-10T00:00:00Z"}) == named(
        office, "out_blk", "internal", "out_ans", "inc_blk", "inc_ans"
    )
    # The end is exclusive: the 11:00 call is not before 11:00.
    assert report(api, office, **{"from": "2025-03-10T09:00", "to": "2025-03-10T11:00"}) == named(
        office, "out_ans", "inc_blk", "inc_ans"
    )
    assert report(api, office, to="2025-03-10T02:00") == named(office, "prev")
    response = api.get(
        "/calls", office.admin, params={"from": "2025-03-10T11:00", "to": "2025-03-10T09:00"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "to"
    response = api.get("/calls", office.admin, params={"from": "yesterday"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "from"


def test_filters_by_number_employee_caller_status_and_tag(api: Api, office: Office) -> None:
    assert report(api, office, number_id=office.number_a) == named(
        office, "inc_blk", "inc_ans", "night"
    )
    assert report(api, office, number_id=office.number_b) == named(
        office, "out_blk", "out_ans", "prev"
    )
    assert report(api, office, employee_id=office.e1) == named(
        office, "internal", "inc_ans", "prev"
    )
    assert report(api, office, employee_id=office.e2) == named(office, "out_blk", "out_ans")
    # Digits contained in the caller or the called number; the input's formatting is ignored.
    assert report(api, office, caller="916555") == named(office, "night")
    assert report(api, office, caller="+7 (916) 333") == named(office, "out_ans")
    assert report(api, office, caller="2002") == named(office, "internal")
    assert report(api, office, caller=office.num_b[-7:]) == named(
        office, "out_blk", "out_ans", "prev"
    )
    assert report(api, office, status="voicemail") == named(office, "night")
    assert report(api, office, status="missed") == []
    assert report(api, office, status="blocked") == named(office, "out_blk", "inc_blk")
    assert report(api, office, tag_id=office.vip) == named(office, "out_ans", "inc_ans")
    assert report(api, office, tag_id=office.sale) == named(office, "out_ans")
    assert report(api, office, tag_id=987_654_321) == []
    # Filters combine, with the tab too.
    assert report(api, office, tab="incoming", status="answered") == named(
        office, "inc_ans", "prev"
    )
    assert report(api, office, tab="outgoing", tag_id=office.vip, employee_id=office.e2) == named(
        office, "out_ans"
    )
    for params, field in (
        ({"caller": " - "}, "caller"),
        ({"status": "lost"}, "status"),
        ({"number_id": "x"}, "number_id"),
        ({"tag_id": "0"}, "tag_id"),
    ):
        response = api.get("/calls", office.admin, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["errors"][0]["field"] == field


def test_generic_filters_sort_and_paging_still_work(api: Api, office: Office) -> None:
    assert report(api, office, direction="internal") == named(office, "internal")
    assert report(api, office, id=office.calls["night"]) == named(office, "night")
    assert report(api, office, sort="started_at") == named(office, *reversed(NEWEST_FIRST))
    assert report(api, office, sort="-talk_seconds,started_at") == named(
        office, "inc_ans", "out_ans", "prev", "night", "inc_blk", "internal", "out_blk"
    )
    page = api.ok(api.get("/calls", office.admin, params={"limit": 2, "offset": 1}))
    assert (ids(page), page["total"], page["limit"], page["offset"]) == (
        named(office, "internal", "out_ans"),
        7,
        2,
        1,
    )
    for params in (
        {"account_id": office.account_id},
        {"tag_ids": office.vip},
        {"sort": "nope"},
        {"columns": "caller"},  # an export parameter, not a filter of the list
    ):
        response = api.get("/calls", office.admin, params=params)
        assert response.status_code == 422, (params, response.text)


def test_details_come_in_order_with_every_field(api: Api, office: Office) -> None:
    call_id = office.calls["inc_ans"]

    steps = api.ok(api.get(f"/calls/{call_id}/details", office.admin))

    assert steps == [
        {
            "at": "2025-03-10T04:00:00Z",
            "leg": "a",
            "kind": "rule",
            "text": "правило «Рабочее время»",
            "data": {"rule": 1},
        },
        {
            "at": "2025-03-10T04:00:00Z",
            "leg": "b1",
            "kind": "ring",
            "text": "звоним Петров Иван",
            "data": {"phones": ["sip:2001"]},
        },
        {
            "at": "2025-03-10T04:00:12Z",
            "leg": "b1",
            "kind": "answer",
            "text": "ответил Петров Иван",
            "data": {"employee_id": None, "wait": 12.4},
        },
    ]
    assert api.ok(api.get(f"/calls/{office.calls['inc_blk']}/details", office.admin)) == []


def test_steps_and_ratings_added_after_the_call_show_up(api: Api, office: Office) -> None:
    call_id = office.calls["out_ans"]
    mail = StepRecord(local(10, 10, 3), "rating", "оценка 3", {"key": "3"}, "a")

    async def later(conn: AsyncConnection) -> None:
        await add_step(conn, office.account_id, call_id, mail)
        await set_rating(conn, office.account_id, call_id, 3)

    in_db(api, later)

    steps = api.ok(api.get(f"/calls/{call_id}/details", office.admin))
    assert [(s["kind"], s["text"], s["data"]) for s in steps] == [
        ("rating", "оценка 3", {"key": "3"})
    ]
    assert api.ok(api.get(f"/calls/{call_id}", office.admin))["rating"] == 3
    assert report(api, office, rating=3) == [call_id]


def test_another_accounts_calls_are_invisible(api: Api, office: Office) -> None:
    theirs = office.stranger_call
    assert theirs not in report(api, office, limit=1000)
    assert report(api, office, id=theirs) == []
    assert report(api, office, caller="79161110001") == named(office, "inc_ans")
    assert api.get(f"/calls/{theirs}", office.admin).status_code == 404
    assert api.get(f"/calls/{theirs}/details", office.admin).status_code == 404
    # And the other way round.
    assert report(api, office, token=office.stranger) == [theirs]
    rows = parse_csv(api.get("/calls/export.csv", office.stranger).content)
    assert len(rows) == 2
    assert "Иванов Пётр" not in str(rows)


def test_employee_sees_only_his_calls(api: Api, office: Office) -> None:
    mine = named(office, "internal", "inc_ans", "prev")
    assert report(api, office, token=office.employee) == mine
    assert report(api, office, token=office.employee, tab="incoming") == named(
        office, "inc_ans", "prev"
    )
    assert report(api, office, token=office.employee, tab="outgoing") == []
    assert report(api, office, token=office.employee, employee_id=office.e2) == []
    assert report(api, office, token=office.employee, number_id=office.number_b) == named(
        office, "prev"
    )
    response = api.get(f"/calls/{office.calls['out_ans']}/details", office.employee)
    assert response.status_code == 404
    rows = parse_csv(
        api.get("/calls/export.csv", office.employee, params={"columns": "caller"}).content
    )
    assert rows == [["Кто звонил"], ["2001"], ["79161110001"], ["79166660006"]]


def test_csv_export_has_the_chosen_columns_and_rows(api: Api, office: Office) -> None:
    response = api.get(
        "/calls/export.csv",
        office.admin,
        params={"tab": "incoming", "columns": ",".join(CSV_COLUMNS)},
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = parse_csv(response.content)
    assert rows[0] == [
        "Дата и время",
        "Направление",
        "Статус",
        "Кто звонил",
        "Куда звонил",
        "ФИО контакта",
        "Сотрудник",
        "Виртуальный номер",
        "Сценарий",
        "Ожидание, с",
        "Разговор, с",
        "Оценка",
        "Теги",
        "Запись разговора",
    ]
    recording = f"{api.api_url}/files/{office.files['rec1']}/content"
    a, b = office.num_a, office.num_b
    assert rows[1:] == [
        [
            "2025-03-10 09:30:00",
            "Входящий",
            "Заблокированный",
            "79162220002",
            a,
            "",
            "",
            a,
            "",
            "0",
            "0",
            "",
            "",
            "",
        ],
        [
            "2025-03-10 09:00:00",
            "Входящий",
            "Отвеченный",
            "79161110001",
            a,
            "Иванов Пётр",
            "Петров Иван",
            a,
            "Основной",
            "12",
            "96",
            "5",
            "VIP",
            recording,
        ],
        [
            "2025-03-10 02:00:00",
            "Входящий",
            "Голосовая почта",
            "89165550005",
            a,
            "",
            "",
            a,
            "Основной",
            "40",
            "0",
            "",
            "",
            "",
        ],
        [
            "2025-03-09 23:30:00",
            "Входящий",
            "Отвеченный",
            "79166660006",
            b,
            "",
            "Петров Иван",
            b,
            "",
            "0",
            "30",
            "",
            "",
            "",
        ],
    ]
    # The link of the recording downloads it.
    audio = api.client.get(recording, headers=api.headers(office.admin))
    assert audio.status_code == 200
    samples, rate = soundfile.read(io.BytesIO(audio.content), dtype="int16")
    assert (rate, len(samples)) == (8000, 2000)


def test_csv_columns_are_chosen_in_order_and_filters_apply(api: Api, office: Office) -> None:
    rows = parse_csv(
        api.get(
            "/calls/export.csv",
            office.admin,
            params={"columns": "tags, status,caller", "tag_id": office.vip},
        ).content
    )
    assert rows == [
        ["Теги", "Статус", "Кто звонил"],
        ["VIP, Продажа", "Отвеченный", office.num_b],
        ["VIP", "Отвеченный", "79161110001"],
    ]
    everything = parse_csv(api.get("/calls/export.csv", office.admin).content)
    assert everything[0] == list(CSV_COLUMNS.values())
    assert [row[3] for row in everything[1:]] == [
        office.num_b,
        "2001",
        office.num_b,
        "79162220002",
        "79161110001",
        "89165550005",
        "79166660006",
    ]


def test_unknown_csv_column_is_refused_naming_the_allowed_ones(api: Api, office: Office) -> None:
    response = api.get("/calls/export.csv", office.admin, params={"columns": "caller,duration"})

    assert response.status_code == 422
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["columns"]
    assert "duration" in body["message"]
    for name in CSV_COLUMNS:
        assert name in body["message"]
    bad_filter = api.get("/calls/export.csv", office.admin, params={"caller": "--"})
    assert bad_filter.status_code == 422


def test_big_exports_are_streamed(api: Api) -> None:
    account_id, admin = api.new_account(f"Busy {unique()}")
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rows = [
        {
            "account_id": account_id,
            "started_at": start + dt.timedelta(minutes=i),
            "direction": "incoming",
            "session_type": "",
            "status": "answered",
            "caller": f"7916{i:07d}",
            "called": "74950000000",
            "contact_name": "",
            "wait_seconds": 0.0,
            "talk_seconds": float(i % 100),
            "tag_ids": [],
            "recording_file_ids": [],
            "created_at": start,
            "updated_at": start,
        }
        for i in range(1234)
    ]
    with api.db.begin() as conn:
        conn.execute(sa.insert(t.calls), rows)

    with api.client.stream(
        "GET",
        f"{api.api_url}/calls/export.csv",
        headers=api.headers(admin),
        params={"columns": "caller,talk_seconds"},
    ) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        body = response.read()

    parsed = parse_csv(body)
    assert len(parsed) == 1 + 1234
    assert parsed[1] == ["79160001233", "33"]
    assert parsed[-1] == ["79160000000", "0"]
    assert len({row[0] for row in parsed[1:]}) == 1234


# -- FILE-1 ------------------------------------------------------------------------------------


def files(api: Api, office: Office, token: str | None = None, **params: Any) -> list[int]:
    return ids(api.ok(api.get("/files", token or office.admin, params=params)))


def test_file_tabs_filters_and_newest_first(api: Api, office: Office) -> None:
    f = office.files
    assert files(api, office, kind="recording") == [f["rec2"], f["rec1"]]
    assert files(api, office, kind="voicemail") == [f["vm"]]
    assert files(api, office, kind="sound") == [office.sound]
    # Without a tab, in creation order as every list.
    assert files(api, office) == [f["vm"], f["rec1"], f["rec2"], office.sound]
    assert files(api, office, kind="recording", sort="created_at") == [f["rec1"], f["rec2"]]
    assert files(api, office, kind="recording", employee_id=office.e1) == [f["rec1"]]
    assert files(api, office, number_id=office.number_a) == [f["vm"], f["rec1"]]
    assert files(api, office, kind="recording", **{"from": "2025-03-10T10:00"}) == [f["rec2"]]
    assert files(api, office, kind="recording", to="2025-03-10T10:00") == [f["rec1"]]
    assert files(api, office, **{"from": "2025-03-10T02:00", "to": "2025-03-10T09:06"}) == [
        f["vm"],
        f["rec1"],
    ]
    assert files(api, office, caller="916111") == [f["rec1"]]
    assert files(api, office, caller="3330003") == [f["rec2"]]
    assert files(api, office, name="Приветствие") == [office.sound]
    for params, field in (({"kind": "music"}, "kind"), ({"caller": "x"}, "caller")):
        response = api.get("/files", office.admin, params=params)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field


def test_file_rows_show_caller_called_date_and_duration(api: Api, office: Office) -> None:
    page = api.ok(api.get("/files", office.admin, params={"kind": "recording"}))
    rec1 = next(item for item in page["items"] if item["id"] == office.files["rec1"])
    assert rec1["caller"] == "79161110001"
    assert rec1["called"] == office.num_a
    assert rec1["created_at"] == "2025-03-10T04:05:00Z"
    assert rec1["duration_seconds"] == pytest.approx(0.25)
    assert (rec1["employee_id"], rec1["number_id"], rec1["call_id"]) == (
        office.e1,
        office.number_a,
        office.calls["inc_ans"],
    )
    assert rec1["content_type"] == "audio/wav"
    converted = api.get(
        f"/files/{office.files['rec2']}/content", office.admin, params={"variant": "converted"}
    )
    assert converted.status_code == 200
    assert converted.headers["content-type"] == "audio/wav"
    assert soundfile.info(io.BytesIO(converted.content)).samplerate == 8000


def test_employee_sees_only_his_files(api: Api, office: Office) -> None:
    assert files(api, office, token=office.employee) == [office.files["rec1"]]
    assert files(api, office, token=office.employee, kind="recording") == [office.files["rec1"]]
    assert files(api, office, token=office.stranger, kind="recording") == []
