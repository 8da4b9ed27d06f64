"""CDR-1/CDR-2 and FILE-1 writers on both backends: `write_call`, `add_step`, `set_rating` and
`save_recording` against a migrated database (SQLite file and a PostgreSQL schema, tests/dbs.py).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.dbs import database_fixture
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account, FileKind
from vpbx.domain.errors import NotFound
from vpbx.services.accounts import create_account
from vpbx.services.call_log import (
    CHUNK_ROWS,
    CallRecord,
    StepRecord,
    add_step,
    add_steps,
    json_safe,
    set_rating,
    write_call,
)
from vpbx.services.entities import EntityService
from vpbx.services.file_store import save_recording
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine, utc_aware

migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")

MSK = ZoneInfo("Europe/Moscow")
NOW = dt.datetime(2025, 3, 14, 12, 0, tzinfo=MSK)
START = dt.datetime(2025, 3, 14, 11, 50, tzinfo=MSK)


class Colour(enum.Enum):
    RED = "red"


class Opaque:
    def __str__(self) -> str:
        return "opaque thing"


@pytest.fixture
async def engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(migrated_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def new_account(engine: AsyncEngine, name: str) -> int:
    async with engine.begin() as conn:
        return await create_account(conn, Account(name=name), NOW)


async def new_contact(engine: AsyncEngine, account_id: int, **data: object) -> int:
    async with engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: NOW)
        return int((await svc.create("contacts", data)).model_dump()["id"])


def record(account_id: int, **changes: object) -> CallRecord:
    values: dict[str, object] = {
        "account_id": account_id,
        "started_at": START,
        "direction": "incoming",
        "status": "answered",
        "caller": "89161234567",
        "called": "74951112233",
    }
    values.update(changes)
    return CallRecord(**values)  # type: ignore[arg-type]


async def call_row(engine: AsyncEngine, call_id: int) -> sa.RowMapping:
    async with engine.connect() as conn:
        query = sa.select(t.calls).where(t.calls.c.id == call_id)
        return (await conn.execute(query)).mappings().one()


async def steps_of(engine: AsyncEngine, call_id: int) -> list[sa.RowMapping]:
    async with engine.connect() as conn:
        query = (
            sa.select(t.call_steps)
            .where(t.call_steps.c.call_id == call_id)
            .order_by(t.call_steps.c.seq)
        )
        return list((await conn.execute(query)).mappings().all())


def wav(path: Path, seconds: float, rate: int = 8000, channels: int = 1) -> Path:
    frames = int(rate * seconds)
    tone = (np.sin(2 * np.pi * 440 * np.arange(frames) / rate) * 8000).astype(np.int16)
    data = tone if channels == 1 else np.stack([tone] * channels, axis=1)
    soundfile.write(path, data, rate, subtype="PCM_16", format="WAV")
    return path


async def test_write_call_stores_the_row_the_steps_in_order_and_the_contact_name(
    engine: AsyncEngine,
) -> None:
    account = await new_account(engine, "Writer")
    other = await new_account(engine, "Other")
    # The contact's phone is 7…; the switch saw 8…: the same number. Another account's contact
    # with the same phone is not this account's client.
    await new_contact(engine, other, last_name="Чужой", phones=["79161234567"])
    await new_contact(
        engine, account, last_name="Иванов", first_name="Пётр", phones=["+7 916 123-45-67"]
    )
    steps = tuple(
        StepRecord(
            at=START + dt.timedelta(seconds=i),
            kind=kind,
            text=f"step {i}",
            data={"i": i},
            leg="a" if i % 2 else "b",
        )
        for i, kind in enumerate(["rule", "operation", "ring", "answer", "hangup"])
    )
    rec = record(
        account,
        answered_at=START + dt.timedelta(seconds=20),
        ended_at=NOW,
        session_type="Входящий",
        wait_seconds=20.5,
        talk_seconds=579.5,
        rating=4,
        steps=steps,
    )

    async with engine.begin() as conn:
        call_id = await write_call(conn, rec, NOW)

    row = await call_row(engine, call_id)
    assert row["account_id"] == account
    assert row["contact_name"] == "Иванов Пётр"
    assert (row["direction"], row["status"], row["caller"], row["called"]) == (
        "incoming",
        "answered",
        "89161234567",
        "74951112233",
    )
    # Stored in UTC whatever the zone given (SQLite keeps no offset).
    assert utc_aware(row["started_at"]) == START
    assert utc_aware(row["started_at"]).replace(tzinfo=None) == dt.datetime(2025, 3, 14, 8, 50)
    assert utc_aware(row["answered_at"]) == START + dt.timedelta(seconds=20)
    assert utc_aware(row["ended_at"]) == NOW
    assert utc_aware(row["created_at"]) == NOW
    assert (row["wait_seconds"], row["talk_seconds"], row["rating"]) == (20.5, 579.5, 4)
    assert (row["tag_ids"], row["recording_file_ids"]) == ([], [])
    stored = await steps_of(engine, call_id)
    assert [s["seq"] for s in stored] == [1, 2, 3, 4, 5]
    assert [s["kind"] for s in stored] == ["rule", "operation", "ring", "answer", "hangup"]
    assert [s["leg"] for s in stored] == ["b", "a", "b", "a", "b"]
    assert [s["data"] for s in stored] == [{"i": i} for i in range(5)]
    assert [utc_aware(s["at"]) for s in stored] == [s.at for s in steps]


async def test_no_contact_no_name_and_voicemail_has_its_own_status(engine: AsyncEngine) -> None:
    account = await new_account(engine, "Voicemail")
    await new_contact(engine, account, last_name="Сидоров", phones=["79160000000"])

    async with engine.begin() as conn:
        call_id = await write_call(conn, record(account, status="voicemail"), NOW)
        anonymous = await write_call(conn, record(account, caller="anonymous"), NOW)

    row = await call_row(engine, call_id)
    assert (row["status"], row["contact_name"]) == ("voicemail", "")
    assert (await call_row(engine, anonymous))["contact_name"] == ""
    assert await steps_of(engine, call_id) == []


async def test_step_data_is_made_json_safe(engine: AsyncEngine) -> None:
    account = await new_account(engine, "Json")
    when = dt.datetime(2025, 3, 14, 9, 0, tzinfo=dt.UTC)
    data: dict[Any, Any] = {
        "phones": ("79161234567", "79167654321"),
        "when": when,
        "colour": Colour.RED,
        "thing": Opaque(),
        "nan": float("nan"),
        7: {"nested": [1, 2.5, None, True]},
        "nul": "a\x00b",
    }
    rec = record(account, steps=(StepRecord(at=START, kind="ring", text="x", data=data),))

    async with engine.begin() as conn:
        call_id = await write_call(conn, rec, NOW)

    (step,) = await steps_of(engine, call_id)
    assert step["data"] == {
        "phones": ["79161234567", "79167654321"],
        "when": "2025-03-14T09:00:00+00:00",
        "colour": "red",
        "thing": "opaque thing",
        "nan": "nan",
        "7": {"nested": [1, 2.5, None, True]},
        "nul": "a\ufffdb",
    }
    assert json_safe({"s": {3, 1, 2}}) == {"s": [1, 2, 3]}


async def test_naive_times_and_unknown_values_are_refused(engine: AsyncEngine) -> None:
    account = await new_account(engine, "Refused")
    naive = dt.datetime(2025, 3, 14, 11, 50)
    bad = [
        record(account, started_at=naive),
        record(account, steps=(StepRecord(at=naive, kind="k", text="t"),)),
        record(account, status="lost"),
        record(account, direction="sideways"),
        record(account, rating=6),
    ]
    for rec in bad:
        with pytest.raises(ValueError, match=r"aware|status|sideways|rating"):
            async with engine.begin() as conn:
                await write_call(conn, rec, NOW)
    async with engine.connect() as conn:
        count = sa.select(sa.func.count()).select_from(t.calls)
        assert (await conn.execute(count.where(t.calls.c.account_id == account))).scalar() == 0


async def test_long_texts_are_cut_to_the_columns(engine: AsyncEngine) -> None:
    account = await new_account(engine, "Long")
    rec = record(
        account,
        caller="7" * 150,
        steps=(StepRecord(at=START, kind="k" * 80, text="т" * 2500, leg="l" * 120),),
    )

    async with engine.begin() as conn:
        call_id = await write_call(conn, rec, NOW)

    assert (await call_row(engine, call_id))["caller"] == "7" * 100
    (step,) = await steps_of(engine, call_id)
    assert (len(step["kind"]), len(step["text"]), len(step["leg"])) == (64, 2000, 100)


async def test_steps_of_calls_in_progress_are_written_a_chunk_at_a_time_all_in_order(
    engine: AsyncEngine,
) -> None:
    """A beat's steps (more than a chunk, a chunk's edge inside a call) are all written, each
    call's in its own seq numbers from the first given."""
    account = await new_account(engine, "Beat")
    async with engine.begin() as conn:
        ids = [await write_call(conn, record(account), NOW) for _ in range(3)]
    counts = (CHUNK_ROWS + 30, 0, CHUNK_ROWS - 10)
    firsts = (1, 1, 4)
    items = [
        (
            call_id,
            first,
            [
                StepRecord(at=NOW, kind="ring", text=f"{call_id}.{n}", data={"n": n})
                for n in range(count)
            ],
        )
        for call_id, first, count in zip(ids, firsts, counts, strict=True)
    ]
    async with engine.begin() as conn:
        assert await add_steps(conn, items) == sum(counts)
    for call_id, first, count in zip(ids, firsts, counts, strict=True):
        stored = await steps_of(engine, call_id)
        assert [row["seq"] for row in stored] == list(range(first, first + count))
        assert [row["text"] for row in stored] == [f"{call_id}.{n}" for n in range(count)]
        assert [row["data"] for row in stored] == [{"n": n} for n in range(count)]


async def test_add_step_appends_after_the_last_and_set_rating(engine: AsyncEngine) -> None:
    account = await new_account(engine, "Later")
    other = await new_account(engine, "Stranger")
    rec = record(
        account,
        steps=(
            StepRecord(at=START, kind="answer", text="answered"),
            StepRecord(at=NOW, kind="hangup", text="hung up"),
        ),
    )
    async with engine.begin() as conn:
        call_id = await write_call(conn, rec, NOW)
        bare = await write_call(conn, record(account), NOW)

    mail = StepRecord(
        at=NOW + dt.timedelta(minutes=1),
        kind="voicemail_mail",
        text="письмо отправлено",
        data={"to": ["boss@example.ru"]},
    )
    async with engine.begin() as conn:
        await add_step(conn, account, call_id, mail)
        await add_step(conn, account, bare, mail)
        await set_rating(conn, account, call_id, 5, now=NOW + dt.timedelta(minutes=2))

    stored = await steps_of(engine, call_id)
    assert [(s["seq"], s["kind"]) for s in stored] == [
        (1, "answer"),
        (2, "hangup"),
        (3, "voicemail_mail"),
    ]
    assert stored[-1]["data"] == {"to": ["boss@example.ru"]}
    assert [s["seq"] for s in await steps_of(engine, bare)] == [1]
    row = await call_row(engine, call_id)
    assert row["rating"] == 5
    assert utc_aware(row["updated_at"]) == NOW + dt.timedelta(minutes=2)

    # Another account's call is not found; a rating outside 1..5 is refused.
    with pytest.raises(NotFound):
        async with engine.begin() as conn:
            await add_step(conn, other, call_id, mail)
    with pytest.raises(NotFound):
        async with engine.begin() as conn:
            await set_rating(conn, other, call_id, 3)
    for rating in (0, 6, True):
        with pytest.raises(ValueError, match="rating"):
            async with engine.begin() as conn:
                await set_rating(conn, account, call_id, rating)
    assert (await call_row(engine, call_id))["rating"] == 5
    assert len(await steps_of(engine, call_id)) == 3


async def test_save_recording_moves_the_wav_and_links_it_to_the_call(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account = await new_account(engine, "Recorder")
    files_dir = tmp_path / "files"
    async with engine.begin() as conn:
        call_id = await write_call(conn, record(account), NOW)
    source = wav(tmp_path / "rec-1.wav", 1.5)
    size = source.stat().st_size

    async with engine.begin() as conn:
        file_id = await save_recording(
            conn,
            files_dir,
            account,
            FileKind.RECORDING,
            source,
            name="Разговор 79161234567",
            caller="79161234567",
            called="74951112233",
            employee_id=None,
            number_id=None,
            now=NOW,
            call_id=call_id,
        )

    target = files_dir / str(account) / str(file_id) / "recording.wav"
    assert not source.exists()
    assert target.is_file()
    assert target.stat().st_size == size
    async with engine.connect() as conn:
        row = (
            (await conn.execute(sa.select(t.files).where(t.files.c.id == file_id))).mappings().one()
        )
    assert row["account_id"] == account
    assert (row["kind"], row["name"], row["content_type"]) == (
        "recording",
        "Разговор 79161234567",
        "audio/wav",
    )
    assert row["size_bytes"] == size
    assert row["duration_seconds"] == pytest.approx(1.5)
    assert row["original_path"] == row["converted_path"] == str(target.resolve())
    assert (row["caller"], row["called"], row["call_id"]) == ("79161234567", "74951112233", call_id)
    assert utc_aware(row["created_at"]) == NOW
    assert (await call_row(engine, call_id))["recording_file_ids"] == [file_id]


async def test_write_call_links_its_recordings_and_drops_foreign_ones(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account = await new_account(engine, "Linked")
    other = await new_account(engine, "Foreign")
    saved = []
    for owner, name in ((account, "mine"), (other, "theirs")):
        async with engine.begin() as conn:
            saved.append(
                await save_recording(
                    conn,
                    tmp_path / "files",
                    owner,
                    FileKind.VOICEMAIL,
                    wav(tmp_path / f"{name}.wav", 0.5),
                    name=name,
                    caller="79161234567",
                    called="74951112233",
                    employee_id=None,
                    number_id=None,
                    now=NOW,
                )
            )
    mine, theirs = saved

    async with engine.begin() as conn:
        call_id = await write_call(
            conn, record(account, recording_file_ids=(mine, theirs, 987654)), NOW
        )

    assert (await call_row(engine, call_id))["recording_file_ids"] == [mine]
    async with engine.connect() as conn:
        query = sa.select(t.files.c.id, t.files.c.call_id).where(t.files.c.id.in_(saved))
        linked = {row.id: row.call_id for row in await conn.execute(query)}
    assert linked == {mine: call_id, theirs: None}


async def test_save_recording_refuses_other_formats_and_other_accounts_calls(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account = await new_account(engine, "Strict")
    other = await new_account(engine, "Else")
    async with engine.begin() as conn:
        foreign_call = await write_call(conn, record(other), NOW)
    stereo = wav(tmp_path / "stereo.wav", 0.5, rate=44100, channels=2)
    good = wav(tmp_path / "good.wav", 0.5)

    def save(conn: AsyncConnection, path: Path, call_id: int | None = None) -> Awaitable[int]:
        return save_recording(
            conn,
            tmp_path / "files",
            account,
            FileKind.RECORDING,
            path,
            name="x",
            caller="1",
            called="2",
            employee_id=None,
            number_id=None,
            now=NOW,
            call_id=call_id,
        )

    with pytest.raises(ValueError, match="8 kHz mono or stereo 16-bit"):
        async with engine.begin() as conn:
            await save(conn, stereo)
    with pytest.raises(NotFound):
        async with engine.begin() as conn:
            await save(conn, good, foreign_call)

    assert stereo.exists()
    assert good.exists()
    assert not (tmp_path / "files").exists()
    async with engine.connect() as conn:
        count = sa.select(sa.func.count()).select_from(t.files)
        assert (await conn.execute(count.where(t.files.c.account_id == account))).scalar() == 0
