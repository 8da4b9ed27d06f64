"""GRP-1 live: an employee dials a group's extension and the group's distribution rings it (in
priority order, one line at a time), with baresip phones as the employees."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.switch.harness import RunningPbx, Setup, line_phone, running_pbx, tone_file
from tests.switch.observe import api_get, details, heard
from vpbx.media.tones import dominant_frequency
from vpbx.services.entities import EntityService

GROUP_EXTENSION = "500"


def finished_calls(pbx: RunningPbx, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in api_get(pbx, "/calls")["items"] if r["status"] != "active"]
        if rows:
            return rows
        assert time.monotonic() < deadline, "no call written"
        time.sleep(0.2)


def test_dialling_a_group_extension_rings_its_members_by_the_distribution(
    tmp_path: Path,
) -> None:
    async def sales_group(svc: EntityService, setup: Setup) -> None:
        # employees 2 and 3 in this order, one phone at a time
        members = [setup.staff[1]["id"], setup.staff[2]["id"]]
        await svc.create(
            "groups",
            {
                "name": "Продажи",
                "extension": GROUP_EXTENSION,
                "member_ids": members,
                "simultaneous_lines": 1,
            },
        )

    devices: list[BaresipPhone] = []
    try:
        with running_pbx(tmp_path, employees=3, customize=sales_group) as pbx:
            tones = (600.0, 1400.0, 1900.0)
            for index, answermode in enumerate(("auto", "manual", "auto")):
                source = tone_file(tmp_path / f"tone{index}.wav", tones[index])
                devices.append(line_phone(pbx, tmp_path, index, source, answermode=answermode))
                pbx.wait_registered(index)
            caller, first, second = devices
            caller.command("dial", f"sip:{GROUP_EXTENSION}@127.0.0.1:{pbx.sip_port}")
            first.wait_event("CALL_INCOMING", timeout=15)
            first.command("hangup")  # busy: the distribution goes on to the next member
            second.wait_event("CALL_ESTABLISHED", timeout=15)
            caller.wait_event("CALL_ESTABLISHED", timeout=15)
            time.sleep(2.5)
            caller.command("hangup")
            second.wait_event("CALL_CLOSED")
            caller.wait_event("CALL_CLOSED")
            assert abs(dominant_frequency(heard(caller)[4000:]) - 1900) < 15
            assert abs(dominant_frequency(heard(second)[4000:]) - 600) < 15
            (row,) = finished_calls(pbx)
            assert (row["direction"], row["status"]) == ("internal", "answered")
            assert row["called"] == GROUP_EXTENSION
            assert row["caller"] == pbx.lines[0].extension  # the extension, not the login
            assert row["employee_id"] == pbx.lines[2].employee_id
            offered = [
                s["data"]["employee_id"]
                for s in details(pbx, row["id"])
                if s["kind"] == "distribution" and s["data"]["kind"] == "offered"
            ]
            # offered to employee 2 first, then to employee 3, who answered
            assert offered == [pbx.lines[1].employee_id, pbx.lines[2].employee_id]
    finally:
        stop_phones(devices)
