"""REC-1 and FILE-1 over HTTP on a running API (both backends): the recording settings of the
account, the virtual numbers, the employees and the Forward operation are documents like the
others (API, config as code); the «Записанные разговоры» tab filters by period, virtual number,
employee and caller; a stereo recording downloads whole or by byte ranges (206, 416), as a
browser's player asks for it."""

from __future__ import annotations

import asyncio
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
import yaml
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.api import rich
from tests.api.conftest import Api, unique
from vpbx.api.app import PREFIX
from vpbx.api.ranges import RangeNotSatisfiable, requested_range
from vpbx.domain.entities.misc import FileKind
from vpbx.media.wavwriter import WavWriter
from vpbx.services.call_log import CallRecord, write_call
from vpbx.services.file_links import link_actor
from vpbx.services.file_store import save_recording
from vpbx.storage.db import make_async_engine

T = TypeVar("T")
ZONE = ZoneInfo("Europe/Moscow")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=ZONE)


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


def stereo(path: Path, seconds: float, left_hz: float, right_hz: float) -> Path:
    n = np.arange(int(8000 * seconds)) / 8000
    left = (np.sin(2 * np.pi * left_hz * n) * 8000).astype(np.int16)
    right = (np.sin(2 * np.pi * right_hz * n) * 8000).astype(np.int16)
    writer = WavWriter(path, channels=2)
    writer.append(np.column_stack([left, right]))
    writer.close()
    return path


@dataclass
class Recorded:
    admin: str
    employee_token: str
    numbers: tuple[int, int]
    employees: tuple[int, int]
    files: dict[str, int]
    callers: dict[str, str]


@pytest.fixture(scope="module")
def recorded(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    account_id, admin = api.new_account(f"Recorded {unique()}", record_calls=True)
    num_a, num_b = rich.virtual_number(unique()), rich.virtual_number(unique())
    number_a = api.create("numbers", admin, {"number": num_a, "record_calls": True})["id"]
    number_b = api.create("numbers", admin, {"number": num_b})["id"]
    phone = [{"kind": "number", "number": "79160000001"}]
    e1 = api.create(
        "employees", admin, {"last_name": "Петрова", "phones": phone, "record_calls": True}
    )["id"]
    e2 = api.create("employees", admin, {"last_name": "Смирнов", "phones": phone})["id"]
    folder = tmp_path_factory.mktemp("talks")
    plan = {
        # name: (when, caller, number, its id, employee, seconds)
        "morning": (at(10, 9), "79161110001", num_a, number_a, e1, 1.0),
        "noon": (at(10, 12), "79162220002", num_b, number_b, e2, 1.5),
        "evening": (at(11, 18), "79161110001", num_b, number_b, e1, 2.0),
    }
    files: dict[str, int] = {}
    for name, (when, caller, called, number_id, employee_id, seconds) in plan.items():
        record = CallRecord(
            account_id=account_id,
            started_at=when,
            direction="incoming",
            status="answered",
            caller=caller,
            called=called,
            number_id=number_id,
            employee_id=employee_id,
            answered_at=when,
            ended_at=when + dt.timedelta(seconds=seconds),
            talk_seconds=seconds,
        )
        wav = stereo(folder / f"{name}.wav", seconds, 500, 1300)
        files[name] = in_db(api, filed(api, account_id, record, wav))
    employee_token = api.user(admin, "employee", employee_id=e1)
    return Recorded(
        admin,
        employee_token,
        (number_a, number_b),
        (e1, e2),
        files,
        {name: plan[name][1] for name in plan},
    )


def filed(
    api: Api, account_id: int, record: CallRecord, wav: Path
) -> Callable[[AsyncConnection], Awaitable[int]]:
    """The call written as the switch writes it, and its recording filed a minute in."""

    async def store(conn: AsyncConnection) -> int:
        call_id = await write_call(conn, record, record.started_at)
        return await save_recording(
            conn,
            api.server.files_dir,
            account_id,
            FileKind.RECORDING,
            wav,
            name=f"Запись разговора {record.caller}",
            caller=record.caller,
            called=record.called,
            employee_id=record.employee_id,
            number_id=record.number_id,
            now=record.started_at + dt.timedelta(minutes=1),
            call_id=call_id,
        )

    return store


def tab(api: Api, token: str, **params: Any) -> list[int]:
    page = api.ok(api.get("/files", token, params={"kind": "recording", **params}))
    return [item["id"] for item in page["items"]]


# -- the settings --------------------------------------------------------------------------------


def test_the_settings_are_off_by_default_and_kept_when_set(api: Api) -> None:
    _account_id, admin = api.new_account(f"Settings {unique()}")
    account = api.ok(api.get("/account", admin))
    assert account["record_calls"] is False
    settings = {k: v for k, v in account.items() if k != "id"} | {"record_calls": True}
    assert api.ok(api.put("/account", admin, json=settings))["record_calls"] is True
    phone = [{"kind": "number", "number": "79160000002"}]
    employee = api.create("employees", admin, {"last_name": "Новиков", "phones": phone})
    assert employee["record_calls"] is False
    changed = api.ok(api.patch(f"/employees/{employee['id']}", admin, json={"record_calls": True}))
    assert changed["record_calls"] is True
    number = api.create("numbers", admin, {"number": rich.virtual_number(unique())})
    assert number["record_calls"] is False
    scenario = api.create(
        "scenarios",
        admin,
        {
            "name": "Запись",
            "entry": "fwd",
            "operations": [
                {
                    "key": "fwd",
                    "kind": "forward",
                    "targets": [{"employee_id": employee["id"]}],
                    "record": True,
                }
            ],
        },
    )
    assert scenario["operations"][0]["record"] is True
    # config as code carries them
    exported = yaml.safe_load(api.get("/config", admin).text)
    assert exported["account"]["record_calls"] is True
    assert [e["record_calls"] for e in exported["employees"]] == [True]
    assert [n["record_calls"] for n in exported["numbers"]] == [False]
    assert exported["scenarios"][0]["operations"][0]["record"] is True
    # a value that is not a flag is refused on its field
    response = api.patch(f"/numbers/{number['id']}", admin, json={"record_calls": "sometimes"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "record_calls"


# -- the tab (FILE-1) ----------------------------------------------------------------------------


def test_the_recordings_tab_filters_by_period_number_employee_and_caller(
    api: Api, recorded: Recorded
) -> None:
    f, admin = recorded.files, recorded.admin
    (number_a, number_b), (e1, e2) = recorded.numbers, recorded.employees
    assert tab(api, admin) == [f["evening"], f["noon"], f["morning"]]  # newest first
    assert tab(api, admin, **{"from": "2026-03-10T00:00", "to": "2026-03-11T00:00"}) == [
        f["noon"],
        f["morning"],
    ]
    assert tab(api, admin, **{"from": "2026-03-10T10:00"}) == [f["evening"], f["noon"]]
    assert tab(api, admin, number_id=number_a) == [f["morning"]]
    assert tab(api, admin, number_id=number_b) == [f["evening"], f["noon"]]
    assert tab(api, admin, employee_id=e1) == [f["evening"], f["morning"]]
    assert tab(api, admin, employee_id=e2) == [f["noon"]]
    assert tab(api, admin, caller="+7 (916) 111") == [f["evening"], f["morning"]]
    assert tab(api, admin, caller="2220002", employee_id=e2, number_id=number_b) == [f["noon"]]
    assert tab(api, admin, caller="2220002", employee_id=e1) == []
    # the employee of the recordings sees his own only (ACC-2)
    assert tab(api, recorded.employee_token) == [f["evening"], f["morning"]]


def test_a_recording_row_shows_caller_number_date_duration_and_its_call(
    api: Api, recorded: Recorded
) -> None:
    page = api.ok(api.get("/files", recorded.admin, params={"kind": "recording"}))
    noon = next(item for item in page["items"] if item["id"] == recorded.files["noon"])
    assert noon["caller"] == recorded.callers["noon"]
    assert noon["number_id"] == recorded.numbers[1]
    assert noon["employee_id"] == recorded.employees[1]
    assert noon["created_at"] == "2026-03-10T09:01:00Z"  # 12:01 in Moscow
    assert noon["duration_seconds"] == pytest.approx(1.5)
    assert noon["call_id"] is not None
    call = api.ok(api.get(f"/calls/{noon['call_id']}", recorded.admin))
    assert call["recording_file_ids"] == [noon["id"]]


# -- the download -------------------------------------------------------------------------------


def content(api: Api, recorded: Recorded, name: str, **headers: str) -> Any:
    return api.get(
        f"/files/{recorded.files[name]}/content",
        recorded.admin,
        params={"variant": "converted"},
        headers=headers,
    )


def test_the_whole_recording_downloads_as_stereo_and_says_it_takes_ranges(
    api: Api, recorded: Recorded
) -> None:
    whole = content(api, recorded, "morning")
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/wav"
    audio, rate = soundfile.read(io.BytesIO(whole.content), dtype="int16")
    assert (rate, audio.shape) == (8000, (8000, 2))


def test_a_byte_range_is_answered_206_with_its_content_range(api: Api, recorded: Recorded) -> None:
    whole = content(api, recorded, "evening").content
    size = len(whole)
    for asked, first, last in (
        ("bytes=0-99", 0, 99),
        ("bytes=44-", 44, size - 1),
        ("bytes=-100", size - 100, size - 1),
        (f"bytes=1000-{size * 5}", 1000, size - 1),
    ):
        part = content(api, recorded, "evening", Range=asked)
        assert part.status_code == 206, (asked, part.text)
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert int(part.headers["content-length"]) == last - first + 1
        assert part.content == whole[first : last + 1]
    # what a browser's player does after the first answer: resumes where it stopped
    etag = content(api, recorded, "evening").headers["etag"]
    resumed = content(api, recorded, "evening", Range="bytes=2000-", **{"If-Range": etag})
    assert resumed.status_code == 206
    changed = content(api, recorded, "evening", Range="bytes=2000-", **{"If-Range": '"old"'})
    assert changed.status_code == 200  # the file is not the one the client saw: all of it
    assert changed.content == whole


def test_a_range_beyond_the_file_is_416_and_odd_ranges_get_the_whole_file(
    api: Api, recorded: Recorded
) -> None:
    whole = content(api, recorded, "noon").content
    size = len(whole)
    refused = content(api, recorded, "noon", Range=f"bytes={size}-")
    assert refused.status_code == 416
    assert refused.headers["content-range"] == f"bytes */{size}"
    assert refused.json()["error_id"] == "range.not_satisfiable"
    for ignored in ("bytes=0-1,5-9", "items=0-5", "bytes=9-2", "bytes=abc"):
        answer = content(api, recorded, "noon", Range=ignored)
        assert answer.status_code == 200, ignored
        assert answer.content == whole


def test_another_accounts_recording_is_not_found(api: Api, recorded: Recorded) -> None:
    _, stranger = api.new_account(f"Stranger {unique()}")
    answer = api.get(
        f"/files/{recorded.files['morning']}/content", stranger, headers={"Range": "bytes=0-9"}
    )
    assert answer.status_code == 404


def test_the_download_documents_its_ranges(api: Api) -> None:
    responses = api.openapi()["paths"][f"{PREFIX}/files/{{entity_id}}/content"]["get"]["responses"]
    assert {"200", "206", "416"} <= set(responses)
    assert "ErrorBody" in str(responses["416"])


# -- links for a browser's player (its media element cannot send the bearer token) ---------------


def link(api: Api, token: str, file_id: int, variant: str = "original") -> str:
    """The URL of `POST /files/{id}/link`, absolute."""
    body = api.ok(api.post(f"/files/{file_id}/link", token, params={"variant": variant}))
    url: str = body["url"]
    assert url.startswith(f"{PREFIX}/files/{file_id}/content?variant={variant}&link=")
    return api.base_url + url


def test_a_file_link_streams_ranges_without_the_bearer_token(api: Api, recorded: Recorded) -> None:
    whole = content(api, recorded, "evening").content
    url = link(api, recorded.admin, recorded.files["evening"])
    part = api.client.get(url, headers={"Range": "bytes=100-199"})  # no Authorization
    assert part.status_code == 206, part.text
    assert part.content == whole[100:200]
    assert api.client.get(url).content == whole


def test_a_file_link_opens_only_its_own_file_and_variant(api: Api, recorded: Recorded) -> None:
    url = link(api, recorded.admin, recorded.files["evening"])
    token = url.partition("link=")[2]
    morning = recorded.files["morning"]
    wrong = [
        f"{api.api_url}/files/{morning}/content?variant=original&link={token}",
        url.replace("variant=original", "variant=converted"),
        url.replace("link=", "link=9"),  # another account's number in front
        url[:-2],
    ]
    for tampered in wrong:
        answer = api.client.get(tampered)
        assert answer.status_code == 401, (tampered, answer.text)
        assert answer.json()["error_id"] == "file_link.invalid"
    # a link is no bearer token
    assert api.get("/files", token).status_code == 401


def test_an_employee_gets_links_to_his_own_files_only(api: Api, recorded: Recorded) -> None:
    own = link(api, recorded.employee_token, recorded.files["morning"])
    assert api.client.get(own).status_code == 200
    other = api.post(f"/files/{recorded.files['noon']}/link", recorded.employee_token)
    assert other.status_code == 404


def test_a_file_link_ends_with_its_session_and_after_ten_minutes(
    api: Api, recorded: Recorded
) -> None:
    login, password = f"super{unique()}", "super-pass-2026"
    api.ok(
        api.post(
            "/users",
            recorded.admin,
            json={"login": login, "password": password, "role": "supervisor"},
        ),
        201,
    )
    token = api.login(login, password)
    file_id = recorded.files["noon"]
    url = link(api, token, file_id)
    assert api.client.get(url).status_code == 200
    secret = url.partition("link=")[2]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    assert in_db(api, lambda conn: link_actor(conn, secret, file_id, "original", later)) is None
    api.ok(api.post("/auth/logout", token), 204)
    assert api.client.get(url).status_code == 401


# -- the range rules, alone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 0)),
        ("bytes=10-", (10, 999)),
        ("BYTES = 10-20", (10, 20)),
        ("bytes=-1", (999, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-" + "9" * 400, (990, 999)),  # a huge last byte is the end of the file
        ("bytes=0-1,3-4", None),
        ("bytes=5-4", None),
        ("bytes=-", None),
        ("bytes=x-1", None),
        ("bytes=١-٢", None),  # only ASCII digits
        ("seconds=1-2", None),
        ("bytes", None),
    ],
)
def test_requested_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert requested_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=" + "9" * 400 + "-"]
)
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as refused:
        requested_range(header, 1000)
    assert refused.value.headers == {"Content-Range": "bytes */1000"}
