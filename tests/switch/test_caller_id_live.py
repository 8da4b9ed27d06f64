"""CID-1..3 on real calls: baresip phones dial out, SIPp is the provider's trunk and the test
reads the caller ID in the From of every INVITE it received.

Line 1 is «случайный»: twenty calls to one subscriber never show the same number twice in a
row. Line 2 is «региональный случайный»: a subscriber of Sverdlovsk oblast (by the numbering
plan) always sees one of the account's Sverdlovsk numbers. Line 3's employee is denied every
number by a CID-3 rule: his call gets 403, nothing reaches the trunk, and the report has a
blocked row whose details say why."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.peers.sipp import start_sipp
from tests.switch.harness import TRUNK_IP, RunningPbx, Setup, line_phone, running_pbx
from tests.switch.observe import api_get
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

pytestmark = pytest.mark.peers

TRUNK = {"username": "vpbx-trunk", "password": "trunk-secret"}
MOSCOW = ["74951110001", "74951110002", "74951110003"]
SVERDLOVSK = ["73432220001", "73432220002"]
RANDOM_SUBSCRIBER = "79161234567"
URAL_SUBSCRIBER = "79121234567"
RANDOM_CALLS, REGIONAL_CALLS = 20, 8


async def _numbers_and_rules(svc: EntityService, setup: Setup) -> None:
    for number in MOSCOW:
        await svc.create("numbers", {"number": number})
    for number in SVERDLOVSK:
        await svc.create("numbers", {"number": number, "region": "Свердловская область"})
    await svc.conn.execute(
        sa.insert(t.number_ranges),
        [
            {
                "code": 912,
                "range_from": 0,
                "range_to": 9999999,
                "operator": "Test",
                "region": "Свердловская обл.",
            }
        ],
    )
    lines = [employee["phones"][0]["sip_line_id"] for employee in setup.staff]
    await svc.update("sip-lines", lines[0], {"caller_id_mode": "random"})
    await svc.update("sip-lines", lines[1], {"caller_id_mode": "regional_random"})
    await svc.create(
        "cid-rules", {"action": "deny", "employee_ids": [setup.staff[2]["id"]], "position": 0}
    )


def _shown(messages: str) -> list[tuple[str, str]]:
    """(called, caller ID) of each INVITE the provider received, in order."""
    found = re.findall(r"^INVITE sip:(\d+)@.*?^From:[^\n]*?sip:(\+?\d+)@", messages, re.M | re.S)
    return [(called, caller) for called, caller in found]


def _finished_rows(pbx: RunningPbx, count: int) -> list[dict[str, Any]]:
    """The report's rows once `count` calls have ended (the writer works in batches)."""
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in api_get(pbx, "/calls", limit=100)["items"] if r["status"] != "active"]
        if len(rows) >= count or time.monotonic() > deadline:
            assert len(rows) == count, rows
            return rows
        time.sleep(0.2)


def _dial(pbx: RunningPbx, device: object, number: str) -> str:
    device.command("dial", f"sip:{number}@127.0.0.1:{pbx.sip_port}")  # type: ignore[attr-defined]
    closed = device.wait_event("CALL_CLOSED", timeout=20)  # type: ignore[attr-defined]
    return str(closed.get("param"))


def test_random_never_repeats_regional_keeps_to_the_region_and_a_denied_number_blocks(
    tmp_path: Path, tone_wav: Path
) -> None:
    provider = start_sipp(
        "provider_refuses.xml",
        tmp_path / "provider",
        ip=TRUNK_IP,
        timeout=90,
        extra=["-m", str(RANDOM_CALLS + REGIONAL_CALLS)],
    )
    with running_pbx(
        tmp_path, employees=3, trunk={**TRUNK, "port": provider.port}, customize=_numbers_and_rules
    ) as pbx:
        phones = [line_phone(pbx, tmp_path, i, tone_wav) for i in range(3)]
        try:
            for index in range(3):
                pbx.wait_registered(index)
            for _ in range(RANDOM_CALLS):
                # the provider refuses (503), the phone is told 480: the trunk saw the INVITE
                assert "480" in _dial(pbx, phones[0], RANDOM_SUBSCRIBER)
            for _ in range(REGIONAL_CALLS):
                assert "480" in _dial(pbx, phones[1], URAL_SUBSCRIBER)
            refused = _dial(pbx, phones[2], RANDOM_SUBSCRIBER)
            assert "403" in refused, refused
            assert "caller ID not allowed" in refused, refused
        finally:
            for phone in phones:
                phone.stop()
        result = provider.finish(timeout=30)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        shown = _shown(result.messages())
        assert len(shown) == RANDOM_CALLS + REGIONAL_CALLS, shown
        random_ids = [caller for called, caller in shown if called == RANDOM_SUBSCRIBER]
        regional_ids = [caller for called, caller in shown if called == URAL_SUBSCRIBER]
        assert len(random_ids) == RANDOM_CALLS
        pool = {pbx.number, *MOSCOW, *SVERDLOVSK}
        assert set(random_ids) <= pool
        assert all(a != b for a, b in itertools.pairwise(random_ids)), random_ids
        assert len(set(random_ids)) >= 3, random_ids  # random, not an alternation of two
        assert len(regional_ids) == REGIONAL_CALLS
        assert set(regional_ids) <= set(SVERDLOVSK), regional_ids

        rows = _finished_rows(pbx, RANDOM_CALLS + REGIONAL_CALLS + 1)
        (blocked,) = [r for r in rows if r["status"] == "blocked"]
        assert blocked["employee_id"] == pbx.lines[2].employee_id
        details = api_get(pbx, f"/calls/{blocked['id']}/details")
        (step,) = [s for s in details if s["kind"] == "caller_id"]
        assert "запрещен правилами выбора АОН" in step["text"], step
        # the outgoing rows keep the number they showed: later choices read it from them
        by_id = {n["id"]: n["number"] for n in api_get(pbx, "/numbers", limit=100)["items"]}
        shown_in_rows = [by_id.get(r["number_id"]) for r in rows if r is not blocked]
        assert sorted(shown_in_rows) == sorted(caller for _, caller in shown)
