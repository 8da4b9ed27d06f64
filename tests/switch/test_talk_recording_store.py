"""Recorded conversations in the file base, on both databases (REC-1, FILE-1): a stereo recording
filed while its call lasts is linked to the call's row at once, with the caller, the virtual
number and the employee the file base filters on; and a conversation cut off by a crash is
filed at the next start, up to the last second written, linked to the interrupted call."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import numpy as np
import soundfile
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account, FileKind
from vpbx.domain.switch_records import CallStart
from vpbx.media.wavwriter import WavWriter
from vpbx.services.accounts import create_account
from vpbx.services.call_writer import SqlCallWriter
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine
from vpbx.switch.call_store import CallStore, CallTicket, TicketState, talk_work_file

migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")
T0 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
NUMBER = "74951112233"
CALLER = "79161234567"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _office(engine: AsyncEngine) -> tuple[int, int, int]:
    """An account with an employee and a virtual number: (account, employee, number) ids."""
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="Rec"), T0)
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), _utc_now)
        employee = await svc.create(
            "employees",
            {"last_name": "Петрова", "phones": [{"kind": "number", "number": "79160000001"}]},
        )
        number = await svc.create("numbers", {"number": NUMBER, "record_calls": True})
    return account_id, int(employee.model_dump()["id"]), int(number.model_dump()["id"])


def stereo_talk(path: Path, seconds: float) -> Path:
    """What the recorder writes: the caller's 500 Hz left, the employee's 1300 Hz right."""
    n = np.arange(int(8000 * seconds)) / 8000
    left = (np.sin(2 * np.pi * 500 * n) * 8000).astype(np.int16)
    right = (np.sin(2 * np.pi * 1300 * n) * 8000).astype(np.int16)
    writer = WavWriter(path, channels=2)
    writer.append(np.column_stack([left, right]))
    writer.close()
    return path


async def _written(ticket: CallTicket) -> int:
    for _ in range(200):
        if ticket.state is TicketState.WRITTEN and ticket.call_id is not None:
            return ticket.call_id
        await asyncio.sleep(0.02)
    raise AssertionError(f"the call's row was not written: {ticket}")


def _start(account_id: int, number_id: int, switch_id: str) -> CallStart:
    return CallStart(account_id, T0, "incoming", CALLER, NUMBER, "scenario", number_id, switch_id)


async def test_a_recording_filed_during_the_call_is_linked_to_its_row_at_once(
    migrated_db_url: str, tmp_path: Path
) -> None:
    engine = make_async_engine(migrated_db_url)
    try:
        account_id, employee_id, number_id = await _office(engine)
        store = CallStore(SqlCallWriter(engine, tmp_path / "files"), _utc_now, 0.01)
        store.start()
        ticket = store.begin(_start(account_id, number_id, "s1"))
        call_id = await _written(ticket)
        wav = stereo_talk(tmp_path / "talk.wav", 2.0)
        file_id, stored = await store.save_file(
            account_id,
            FileKind.RECORDING,
            wav,
            name=f"Запись разговора {CALLER}",
            caller=CALLER,
            called=NUMBER,
            employee_id=employee_id,
            number_id=number_id,
            call_id=call_id,
        )
        await store.stop()
        async with engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(t.files).where(t.files.c.id == file_id)))
                .mappings()
                .one()
            )
            links = (
                await conn.execute(
                    sa.select(t.calls.c.recording_file_ids).where(t.calls.c.id == call_id)
                )
            ).scalar_one()
        assert (row["kind"], row["call_id"], row["employee_id"], row["number_id"]) == (
            "recording",
            call_id,
            employee_id,
            number_id,
        )
        assert (row["caller"], row["called"]) == (CALLER, NUMBER)
        assert abs(row["duration_seconds"] - 2.0) < 0.01
        assert links == [file_id]
        assert not wav.exists()
        assert soundfile.info(str(stored)).channels == 2
    finally:
        await engine.dispose()


async def test_a_conversation_cut_off_by_a_crash_is_filed_with_its_interrupted_call(
    migrated_db_url: str, tmp_path: Path
) -> None:
    engine = make_async_engine(migrated_db_url)
    work = tmp_path / "work"
    work.mkdir()
    try:
        account_id, employee_id, number_id = await _office(engine)
        clock = [T0]
        store = CallStore(
            SqlCallWriter(engine, tmp_path / "files"),
            lambda: clock[0],
            0.01,
            work_dir=work,
            heartbeat_every=0.05,
        )
        store.start()
        answered = T0 + dt.timedelta(seconds=2)
        ticket = store.begin(
            _start(account_id, number_id, "talk1"), None, lambda: (answered, employee_id)
        )
        await _written(ticket)
        # The recorder had written 3 s (its header says so) and half a second more when the
        # switch was killed.
        partial = stereo_talk(talk_work_file(work, "talk1"), 3.0)
        with partial.open("ab") as f:
            f.write(b"\x01\x00\x02\x00" * 4000)
        clock[0] = T0 + dt.timedelta(seconds=10)
        await asyncio.sleep(0.2)  # heartbeats, the answer written
        assert store._writer is not None
        store._writer.cancel()  # kill -9: nothing more is written
        await asyncio.gather(store._writer, return_exceptions=True)

        clock[0] = T0 + dt.timedelta(minutes=2)
        after = CallStore(
            SqlCallWriter(engine, tmp_path / "files"), lambda: clock[0], work_dir=work
        )
        [interrupted] = await after.recover()
        async with engine.connect() as conn:
            call = (
                (await conn.execute(sa.select(t.calls).where(t.calls.c.id == interrupted.call_id)))
                .mappings()
                .one()
            )
            files = (await conn.execute(sa.select(t.files))).mappings().all()
        [recording] = files
        assert call["status"] == "interrupted"
        assert recording["kind"] == FileKind.RECORDING.value
        assert recording["name"] == f"Запись разговора {CALLER} (прервана)"
        assert (recording["call_id"], recording["employee_id"], recording["number_id"]) == (
            call["id"],
            employee_id,
            number_id,
        )
        assert abs(recording["duration_seconds"] - 3.5) < 0.01
        assert call["recording_file_ids"] == [recording["id"]]
        assert not partial.exists()
        audio, _ = soundfile.read(recording["converted_path"], dtype="int16")
        assert audio.shape == (28000, 2)
    finally:
        await engine.dispose()
