"""Nothing lost on restart, on both databases: bindings stored when they change and restored
at start (the unreachable and expired ones dropped), a call's row from its start with its
details as they happen, closed as «прерван» by the next start, and a voicemail cut off by the
crash filed with its call. The end-to-end proof with `kill -9` is tests/test_crash_restart.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account, CallStatus
from vpbx.services.accounts import create_account
from vpbx.services.call_log import CallRecord, CallStart, StepRecord, heartbeat
from vpbx.services.call_writer import SqlCallWriter
from vpbx.services.directory_store import SqlDirectorySource
from vpbx.services.entities import EntityService
from vpbx.services.file_store import repair_wav_header
from vpbx.services.registrations import (
    SqlBindingStorage,
    StoredBinding,
    line_bindings,
    switch_running,
)
from vpbx.sip.uri import SipUri
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine
from vpbx.switch.call_store import CallStore, TicketState, work_file
from vpbx.switch.directory import Directory
from vpbx.switch.registrar_service import Registrar
from vpbx.switch.registration_store import RegistrationStore
from vpbx.transport.sip import Peer

migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")
T0 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _account_with_line(engine: AsyncEngine) -> tuple[int, int, str]:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="A"), T0)
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), _utc_now)
        employee = await svc.create(
            "employees", {"last_name": "Иванов", "extension": "101", "phones": [{"kind": "sip"}]}
        )
        line_id = int(employee.model_dump()["phones"][0]["sip_line_id"])
        login = (
            await conn.execute(sa.select(t.sip_lines.c.login).where(t.sip_lines.c.id == line_id))
        ).scalar_one()
    return account_id, line_id, login


async def test_bindings_come_back_after_a_restart_and_the_unreachable_are_dropped(
    migrated_db_url: str,
) -> None:
    engine = make_async_engine(migrated_db_url)
    try:
        _account_id, line_id, login = await _account_with_line(engine)
        now = _utc_now()
        later = now + dt.timedelta(seconds=300)
        store = RegistrationStore(SqlBindingStorage(engine), _utc_now)
        # As the registrar stores them (several REGISTERs at once share one commit).
        await asyncio.gather(
            store.save(
                line_id,
                [
                    StoredBinding(
                        f"sip:{login}@10.0.0.5:5062", "phone udp", "udp:127.0.0.9:5062", later
                    ),
                    # TCP from the address in its Contact: reachable by connecting to the Contact
                    StoredBinding(
                        f"sip:{login}@127.0.0.8:5070;transport=tcp",
                        "phone tcp",
                        "tcp:127.0.0.8:40001",
                        later,
                    ),
                    # TCP behind NAT: its connection died with the old process, nothing to dial
                    StoredBinding(
                        f"sip:{login}@192.168.1.20:5060;transport=tcp",
                        "phone nat",
                        "tcp:127.0.0.7:40002",
                        later,
                    ),
                    StoredBinding(
                        f"sip:{login}@127.0.0.6:5060",
                        "expired",
                        "udp:127.0.0.6:5060",
                        now - dt.timedelta(seconds=1),
                    ),
                ],
            ),
            store.save(line_id + 1000, []),  # another line unregistered in the same commit
        )
        # A new process: nothing in memory until `restore`.
        registrar = Registrar(
            Directory(SqlDirectorySource(engine)),
            store=RegistrationStore(SqlBindingStorage(engine), _utc_now),
        )
        assert registrar.locations(login, line_id, 1000.0) == []
        assert await registrar.restore(1000.0) == 2
        found = {
            (loc.peer.transport, loc.peer.host, loc.peer.port)
            for loc in registrar.locations(login, line_id, 1000.0)
        }
        # UDP: where the REGISTER came from (NAT-safe); TCP: a new connection to the Contact
        assert found == {("udp", "127.0.0.9", 5062), ("tcp", "127.0.0.8", 5070)}
        remaining = [b.expires_at - 1000.0 for b in registrar.bindings.current(login, 1000.0)]
        assert all(290 < r <= 300 for r in remaining)
        # The database (what the API reads) keeps only what was restored.
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.sip_registrations.c.user_agent))).scalars().all()
        assert sorted(rows) == ["phone tcp", "phone udp"]
        # A REGISTER since the restart wins over the stored copy of the same contact.
        assert not registrar.bindings.restore(login, registrar.bindings.current(login, 1000.0)[0])
        assert isinstance(registrar.locations(login, line_id, 1000.0)[0].contact, SipUri)
        assert Peer("udp", "127.0.0.9", 5062) in {
            loc.peer for loc in registrar.locations(login, line_id, 1000.0)
        }
    finally:
        await engine.dispose()


def _record(account_id: int, switch_id: str, steps: tuple[StepRecord, ...]) -> CallRecord:
    return CallRecord(
        account_id=account_id,
        started_at=T0,
        direction="incoming",
        status="answered",
        caller="79161234567",
        called="74951112233",
        answered_at=T0 + dt.timedelta(seconds=3),
        ended_at=T0 + dt.timedelta(seconds=20),
        talk_seconds=17.0,
        steps=steps,
        switch_call_id=switch_id,
    )


async def test_a_call_has_its_row_from_the_start_and_a_crash_closes_it_as_interrupted(
    migrated_db_url: str, tmp_path: Path
) -> None:
    engine = make_async_engine(migrated_db_url)
    work = tmp_path / "work"
    work.mkdir()
    try:
        account_id, _line_id, _login = await _account_with_line(engine)
        clock = [T0]
        store = CallStore(
            SqlCallWriter(engine, tmp_path / "files"),
            lambda: clock[0],
            0.01,
            work_dir=work,
            heartbeat_every=0.05,
        )
        store.start()
        details: dict[str, list[StepRecord]] = {"a": [], "b": [], "c": []}

        def source(name: str) -> Callable[[int], list[StepRecord]]:
            return lambda index: details[name][index:]

        tickets = {
            name: store.begin(
                CallStart(
                    account_id,
                    T0,
                    "incoming",
                    f"7916000000{n}",
                    "74951112233",
                    "scenario",
                    None,
                    name,
                ),
                source(name),
                # call a was answered 3 s in (by nobody the store needs to know)
                (lambda: (T0 + dt.timedelta(seconds=3), None)) if name == "a" else None,
            )
            for n, name in enumerate(details)
        }
        details["a"].append(StepRecord(T0, "arrived", "звонок поступил"))
        details["a"].append(
            StepRecord(T0 + dt.timedelta(seconds=2), "dial", "вызов сотрудника Иванов")
        )
        for _ in range(100):
            await asyncio.sleep(0.02)
            if (
                all(tk.state is TicketState.WRITTEN for tk in tickets.values())
                and tickets["a"].steps_written == 2
            ):
                break
        assert tickets["a"].steps_written == 2
        # One call ends normally: its row is completed, its steps continue where they stopped.
        details["c"].append(StepRecord(T0, "arrived", "звонок поступил"))
        done = details["c"] + [
            StepRecord(T0 + dt.timedelta(seconds=20), "hangup", "разговор окончен")
        ]
        call_c = await store.save(_record(account_id, "c", tuple(done)), tickets["c"])
        assert call_c == tickets["c"].call_id
        # Call b was recording a voicemail when the switch died.
        partial = work_file(work, "b")
        with soundfile.SoundFile(
            partial, "w", samplerate=8000, channels=1, subtype="PCM_16", format="WAV"
        ) as f:
            f.write((np.sin(np.arange(16000) / 5) * 8000).astype(np.int16))
        with partial.open("ab") as f:
            f.write(b"\x01\x00" * 4000)  # half a second written after the last header update
        clock[0] = T0 + dt.timedelta(seconds=42)
        await asyncio.sleep(0.2)  # a heartbeat at T0+42
        # kill -9: the writer is gone, nothing is written any more
        assert store._writer is not None
        store._writer.cancel()
        await asyncio.gather(store._writer, return_exceptions=True)

        clock[0] = T0 + dt.timedelta(minutes=5)
        after = CallStore(
            SqlCallWriter(engine, tmp_path / "files"), lambda: clock[0], work_dir=work
        )
        interrupted = await after.recover()
        assert {c.switch_call_id for c in interrupted} == {"a", "b"}
        async with engine.connect() as conn:
            calls = {r.switch_call_id: r for r in (await conn.execute(sa.select(t.calls))).all()}
            steps = (
                await conn.execute(
                    sa.select(
                        t.call_steps.c.call_id,
                        t.call_steps.c.seq,
                        t.call_steps.c.kind,
                        t.call_steps.c.text,
                    ).order_by(t.call_steps.c.call_id, t.call_steps.c.seq)
                )
            ).all()
            files = (await conn.execute(sa.select(t.files))).mappings().all()
        assert calls["c"].status == CallStatus.ANSWERED.value
        assert [s.seq for s in steps if s.call_id == calls["c"].id] == [1, 2]
        a = calls["a"]
        assert a.status == CallStatus.INTERRUPTED.value == "interrupted"
        # ended when the node was last known alive, not when it came back
        assert a.ended_at.replace(tzinfo=dt.UTC) == T0 + dt.timedelta(seconds=42)
        # answered while it lasted: the talk counts up to then
        assert a.answered_at.replace(tzinfo=dt.UTC) == T0 + dt.timedelta(seconds=3)
        assert a.talk_seconds == 39.0
        assert calls["b"].answered_at is None
        a_steps = [s for s in steps if s.call_id == a.id]
        assert [s.kind for s in a_steps] == ["arrived", "dial", "interrupted"]
        assert "прерван" in a_steps[-1].text
        assert "вызов сотрудника Иванов" in a_steps[-1].text  # the last known state
        # the partial voicemail: header repaired (2.5 s), filed, linked to its call
        (voicemail,) = files
        assert voicemail["call_id"] == calls["b"].id
        assert voicemail["kind"] == "voicemail"
        assert abs(voicemail["duration_seconds"] - 2.5) < 0.01
        assert calls["b"].recording_file_ids == [voicemail["id"]]
        assert not partial.exists()
        assert soundfile.info(voicemail["converted_path"]).duration == 2.5
        # a second start finds nothing left to close
        assert await after.recover() == []
    finally:
        await engine.dispose()


def test_a_wav_cut_off_mid_write_gets_a_header_that_covers_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    with soundfile.SoundFile(
        path, "w", samplerate=8000, channels=1, subtype="PCM_16", format="WAV"
    ) as f:
        f.write(np.zeros(8000, dtype=np.int16))
    with path.open("ab") as f:
        f.write(b"\x00" * 8001)  # 4000.5 samples: the odd byte is dropped
    assert repair_wav_header(path) == 1.5
    with wave.open(str(path)) as w:
        assert w.getnframes() == 12000


async def test_the_cabinet_says_registered_only_while_a_switch_runs(migrated_db_url: str) -> None:
    engine = make_async_engine(migrated_db_url)
    try:
        _account_id, line_id, login = await _account_with_line(engine)
        now = _utc_now()
        binding = StoredBinding(
            f"sip:{login}@127.0.0.9:5062", "ua", "udp:127.0.0.9:5062", now + dt.timedelta(minutes=5)
        )
        await RegistrationStore(SqlBindingStorage(engine), _utc_now).save(line_id, [binding])
        async with engine.begin() as conn:
            assert await switch_running(conn, now) is None  # no switch ever ran here
            await heartbeat(conn, "", now, started=True)
            assert await switch_running(conn, now + dt.timedelta(seconds=5)) is True
            # killed and not restarted: nothing rings the phone, whatever the table holds
            assert await switch_running(conn, now + dt.timedelta(seconds=11)) is False
            assert [b.contact for b in await line_bindings(conn, line_id, now)] == [binding.contact]
            assert await line_bindings(conn, line_id, now + dt.timedelta(minutes=6)) == []
    finally:
        await engine.dispose()
