"""Routing with real peers: a trunk asking for a number nobody has (404), a disabled account's
number (403), an outgoing call through the virtual number's own trunk, and EMP-4 on internal
and outgoing calls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.sipp import run_sipp, start_sipp
from tests.switch.harness import (
    NUMBER,
    TRUNK_IP,
    RunningPbx,
    Setup,
    line_phone,
    running_pbx,
    tone_file,
)
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

OUTSIDE = "74997654321"


@pytest.fixture
def phones() -> Iterator[list[BaresipPhone]]:
    started: list[BaresipPhone] = []
    yield started
    stop_phones(started)


def phone(
    pbx: RunningPbx, tmp_path: Path, started: list[BaresipPhone], index: int, answermode: str
) -> BaresipPhone:
    source = tone_file(tmp_path / f"tone{index}.wav", 600.0 + 200 * index)
    device = line_phone(pbx, tmp_path, index, source, answermode=answermode)
    started.append(device)
    pbx.wait_registered(index)
    return device


# -- 1. what a trunk asks for -----------------------------------------------------------------


def test_a_trunk_calling_an_unassigned_number_gets_404_not_a_challenge(tmp_path: Path) -> None:
    with running_pbx(tmp_path) as pbx:
        result = run_sipp(
            "expect_404.xml",
            f"127.0.0.1:{pbx.sip_port}",
            tmp_path / "sipp",
            extra=["-i", TRUNK_IP, "-s", "74950000000"],
            timeout=15,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()


async def disable_account(svc: EntityService, setup: Setup) -> None:
    await svc.conn.execute(
        sa.update(t.accounts).where(t.accounts.c.id == setup.account_id).values(enabled=False)
    )


def test_a_disabled_accounts_number_is_refused_with_403(tmp_path: Path) -> None:
    with running_pbx(tmp_path, customize=disable_account) as pbx:
        result = run_sipp(
            "trunk_refused.xml",
            f"127.0.0.1:{pbx.sip_port}",
            tmp_path / "sipp",
            extra=["-i", TRUNK_IP, "-s", NUMBER],
            timeout=15,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        assert "account disabled" in result.messages()


# -- 2. the virtual number's trunk ------------------------------------------------------------


def test_an_outgoing_call_leaves_through_the_trunk_of_the_lines_caller_id_number(
    tmp_path: Path, phones: list[BaresipPhone]
) -> None:
    provider = start_sipp("provider_invite.xml", tmp_path / "provider", ip=TRUNK_IP, timeout=40)

    async def second_trunk(svc: EntityService, setup: Setup) -> None:
        # The account's first trunk (port 5060 of TRUNK_IP) takes nothing; the number's own
        # trunk is the provider.
        second = await svc.create(
            "trunks",
            {"name": "Second", "host": TRUNK_IP, "port": provider.port, "username": "u2",
             "password": "p2"},
        )  # fmt: skip
        await svc.update("numbers", setup.number_id, {"trunk_id": second.model_dump()["id"]})

    with running_pbx(tmp_path, employees=1, customize=second_trunk) as pbx:
        device = phone(pbx, tmp_path, phones, 0, "auto")
        device.command("dial", f"sip:{OUTSIDE}@127.0.0.1:{pbx.sip_port}")
        device.wait_event("CALL_ESTABLISHED", timeout=20)
        time.sleep(1)
        device.command("hangup")
        device.wait_event("CALL_CLOSED")
        result = provider.finish(timeout=30)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        assert 'username="u2"' in result.messages()


# -- 4. EMP-4 on internal and outgoing calls ---------------------------------------------------


def test_an_employee_with_calls_off_is_not_rung_by_an_internal_call(
    tmp_path: Path, phones: list[BaresipPhone]
) -> None:
    async def calls_off(svc: EntityService, setup: Setup) -> None:
        await svc.update("employees", setup.staff[1]["id"], {"calls_enabled": False})

    with running_pbx(tmp_path, employees=2, customize=calls_off) as pbx:
        caller = phone(pbx, tmp_path, phones, 0, "auto")
        callee = phone(pbx, tmp_path, phones, 1, "auto")
        caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
        closed = caller.wait_event("CALL_CLOSED", timeout=20)
        assert "480" in str(closed.get("param"))
        with pytest.raises(AssertionError):
            callee.wait_event("CALL_INCOMING", timeout=1)


def test_a_busy_phone_with_one_line_gets_no_second_internal_call(
    tmp_path: Path, phones: list[BaresipPhone]
) -> None:
    with running_pbx(tmp_path, employees=3) as pbx:
        first = phone(pbx, tmp_path, phones, 0, "auto")
        second = phone(pbx, tmp_path, phones, 1, "auto")
        third = phone(pbx, tmp_path, phones, 2, "auto")
        first.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
        second.wait_event("CALL_ESTABLISHED", timeout=20)
        # employee 2's phone has one line, in use: a call to him is busy
        third.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
        closed = third.wait_event("CALL_CLOSED", timeout=20)
        assert "486" in str(closed.get("param"))
        # so is employee 1's, who placed the first call
        third.command("dial", f"sip:{pbx.lines[0].extension}@127.0.0.1:{pbx.sip_port}")
        closed = third.wait_event("CALL_CLOSED", timeout=20)
        assert "486" in str(closed.get("param"))
        first.command("hangup")
        second.wait_event("CALL_CLOSED", timeout=10)
        time.sleep(0.5)
        # the lines are free again
        third.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
        second.wait_event("CALL_ESTABLISHED", timeout=20)
        third.command("hangup")


def test_an_outgoing_call_outside_the_callers_schedule_is_refused(
    tmp_path: Path, phones: list[BaresipPhone]
) -> None:
    async def never(svc: EntityService, setup: Setup) -> None:
        # a schedule active only on a date long past: never now
        schedule = await svc.create(
            "schedules",
            {"name": "never", "active_from": "2000-01-01", "active_to": "2000-01-02",
             "weekly": [{"weekday": d, "intervals": [{"start": "00:00", "end": "23:59"}]}
                        for d in range(1, 8)]},
        )  # fmt: skip
        await svc.update(
            "employees", setup.staff[0]["id"], {"schedule_id": schedule.model_dump()["id"]}
        )

    with running_pbx(tmp_path, employees=1, trunk={"port": 5999}, customize=never) as pbx:
        device = phone(pbx, tmp_path, phones, 0, "auto")
        device.command("dial", f"sip:{OUTSIDE}@127.0.0.1:{pbx.sip_port}")
        closed = device.wait_event("CALL_CLOSED", timeout=20)
        assert "403" in str(closed.get("param"))
