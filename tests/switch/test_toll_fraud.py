"""The toll-fraud guard on real calls: a baresip phone dials out, SIPp is the provider's trunk.

International and premium numbers are refused with 403 and the rule as its reason phrase, a
blocked row in the calls report saying «исходящий вызов запрещён: …», a security event in the
log and in /metrics; a domestic number goes out and holds its place until it ends; the
simultaneous cap refuses the (N+1)-th call and frees its place when a call ends."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers.baresip import BaresipPhone
from tests.peers.rtp_pcap import tone
from tests.peers.sipp import start_sipp
from tests.peers.trunk_caller import TrunkCaller
from tests.switch.harness import (
    NUMBER,
    TRUNK_IP,
    RunningPbx,
    Setup,
    line_phone,
    running_pbx,
)
from vpbx.app import utc_now
from vpbx.services.accounts import get_account, parse_account, replace_account
from vpbx.services.entities import EntityService

pytestmark = pytest.mark.peers

TRUNK = {"username": "vpbx-trunk", "password": "trunk-secret"}


def _api(pbx: RunningPbx, path: str) -> Any:
    response = httpx.get(
        f"http://127.0.0.1:{pbx.http_port}/api/v1{path}",
        headers={"Authorization": f"Bearer {pbx.admin_token()}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _rows(pbx: RunningPbx, count: int, status: str | None = None) -> list[dict[str, Any]]:
    """The calls report once it holds `count` finished rows (of `status`, if given)."""
    deadline = time.monotonic() + 10
    while True:
        rows = [
            row
            for row in _api(pbx, "/calls?limit=100")["items"]
            if row["status"] != "active" and status in (None, row["status"])
        ]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _dial_refused(device: BaresipPhone, pbx: RunningPbx, number: str) -> str:
    """Dial `number`; the phone's call is closed with a 403: its reason phrase."""
    device.command("dial", f"sip:{number}@127.0.0.1:{pbx.sip_port}")
    closed = device.wait_event("CALL_CLOSED", timeout=20)
    param = str(closed.get("param"))
    assert "403" in param, closed
    return param


def _security_events(pbx: RunningPbx, kind: str) -> float:
    assert pbx.application is not None
    text = pbx.application.metrics.exposition().decode()
    found = re.search(rf'security_events_total\{{kind="{kind}"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def _limit(**policy: Any) -> Any:
    """A `customize` that sets the account's toll-fraud settings before the PBX starts."""

    async def customize(svc: EntityService, setup: Setup) -> None:
        account = await get_account(svc.conn, setup.account_id)
        document = {k: v for k, v in account.items() if k != "id"}
        document["toll_fraud"] = {**(document.get("toll_fraud") or {}), **policy}
        doc = parse_account(document)
        await replace_account(svc.conn, setup.account_id, doc, utc_now())

    return customize


def test_international_and_premium_numbers_are_refused_with_a_report_row(
    tmp_path: Path, tone_wav: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No provider listens: a call the guard let through would fail otherwise, not with 403.
    refused = {
        "00442071234567": "destination",
        "+442071234567": "destination",
        "810442071234567": "destination",
        "88091234567": "blocked_prefix",
        "+78091234567": "blocked_prefix",
    }
    caplog.set_level(logging.WARNING, logger="vpbx.security")
    with running_pbx(tmp_path, trunk=TRUNK) as pbx:
        device = line_phone(pbx, tmp_path, 0, tone_wav)
        try:
            pbx.wait_registered(0)
            for number, rule in refused.items():
                reason = _dial_refused(device, pbx, number)
                expected = "blocked destination" if rule == "blocked_prefix" else "not allowed"
                assert expected in reason, reason
        finally:
            device.stop()
        rows = _rows(pbx, len(refused))
        assert sorted(row["called"] for row in rows) == sorted(refused)
        for row in rows:
            assert row["direction"] == "outgoing"
            assert row["status"] == "blocked"
            assert row["employee_id"] == pbx.lines[0].employee_id
            details = _api(pbx, f"/calls/{row['id']}/details")
            (step,) = [s for s in details if s["kind"] == "toll_fraud"]
            assert step["text"].startswith("исходящий вызов запрещён: ")
            assert step["data"]["rule"] == refused[row["called"]]
        assert _security_events(pbx, "toll_fraud_refused") == len(refused)
    events = [r for r in caplog.records if r.name == "vpbx.security"]
    logged = {(r.__dict__["destination"], r.__dict__["rule"]) for r in events}
    assert logged == set(refused.items())
    for record in events:
        assert record.__dict__["event"] == "toll_fraud_refused"
        assert record.__dict__["account_id"] == pbx.account_id
        assert record.__dict__["line"] == pbx.lines[0].login


def test_a_domestic_number_goes_out_and_holds_its_place_until_the_call_ends(
    tmp_path: Path, tone_wav: Path
) -> None:
    provider = start_sipp("provider_invite.xml", tmp_path / "provider", ip=TRUNK_IP, timeout=40)
    with running_pbx(tmp_path, trunk={**TRUNK, "port": provider.port}) as pbx:
        assert pbx.application is not None
        guard = pbx.application.pbx.toll_guard
        assert guard is not None
        device = line_phone(pbx, tmp_path, 0, tone_wav)
        try:
            pbx.wait_registered(0)
            device.command("dial", f"sip:89161234567@127.0.0.1:{pbx.sip_port}")
            device.wait_event("CALL_ESTABLISHED", timeout=20)
            assert guard.active_leases() == 1
            time.sleep(1)
            device.command("hangup")
            device.wait_event("CALL_CLOSED")
        finally:
            device.stop()
        result = provider.finish(timeout=30)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        assert "INVITE sip:89161234567@" in result.messages()
        (row,) = _rows(pbx, 1)
        assert row["status"] == "answered"
        deadline = time.monotonic() + 5
        while guard.active_leases():
            assert time.monotonic() < deadline, "the lease of the ended call was kept"
            time.sleep(0.1)
        assert _security_events(pbx, "toll_fraud_refused") == 0


def test_the_simultaneous_cap_refuses_the_next_call_until_one_ends(
    tmp_path: Path, tone_wav: Path
) -> None:
    provider = start_sipp(
        "provider_invite.xml", tmp_path / "provider", ip=TRUNK_IP, timeout=60, extra=["-m", "2"]
    )
    with running_pbx(
        tmp_path,
        employees=2,
        trunk={**TRUNK, "port": provider.port},
        customize=_limit(max_simultaneous_calls=1),
    ) as pbx:
        first = line_phone(pbx, tmp_path, 0, tone_wav)
        second = line_phone(pbx, tmp_path, 1, tone_wav)
        try:
            pbx.wait_registered(0)
            pbx.wait_registered(1)
            first.command("dial", f"sip:79161234567@127.0.0.1:{pbx.sip_port}")
            first.wait_event("CALL_ESTABLISHED", timeout=20)
            reason = _dial_refused(second, pbx, "79161234568")
            assert "too many simultaneous" in reason, reason
            first.command("hangup")
            first.wait_event("CALL_CLOSED")
            time.sleep(0.5)  # the lease is released as the call ends
            second.command("dial", f"sip:79161234568@127.0.0.1:{pbx.sip_port}")
            second.wait_event("CALL_ESTABLISHED", timeout=20)
            second.command("hangup")
            second.wait_event("CALL_CLOSED")
        finally:
            first.stop()
            second.stop()
        result = provider.finish(timeout=30)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        (blocked,) = _rows(pbx, 1, "blocked")
        assert blocked["called"] == "79161234568"
        assert blocked["employee_id"] == pbx.lines[1].employee_id
        details = _api(pbx, f"/calls/{blocked['id']}/details")
        (step,) = [s for s in details if s["kind"] == "toll_fraud"]
        assert step["data"]["rule"] == "simultaneous_calls"
        assert "1 из 1" in step["text"]
        assert len(_rows(pbx, 2, "answered")) == 2


def test_a_forward_to_an_employees_foreign_mobile_is_refused_in_the_call_details(
    tmp_path: Path,
) -> None:
    """The same guard on a scenario's forward: the group's only employee has a UK mobile; the
    trunk's call to the virtual number is not sent out, and its details say why."""

    async def foreign_mobile(svc: EntityService, setup: Setup) -> None:
        phones = [{"kind": "number", "number": "447700900123", "ring_timeout": 20}]
        await svc.update("employees", setup.staff[0]["id"], {"phones": phones})

    with running_pbx(tmp_path, trunk=TRUNK, customize=foreign_mobile) as pbx:
        caller = TrunkCaller(
            tmp_path / "trunk", pbx.sip_port, NUMBER, [tone(500.0, 3.0)], ip=TRUNK_IP, timeout=15
        )
        # The call is not answered (nobody may be rung): SIPp's own verdict does not matter.
        caller.run()
        (row,) = _rows(pbx, 1)
        assert row["direction"] == "incoming"
        assert row["status"] != "answered"
        details = _api(pbx, f"/calls/{row['id']}/details")
        (step,) = [s for s in details if s["kind"] == "toll_fraud"]
        assert step["text"].startswith("исходящий вызов запрещён: ")
        assert "447700900123" in step["text"]
        assert step["data"]["rule"] == "destination"
        assert _security_events(pbx, "toll_fraud_refused") == 1


def test_a_talking_call_is_hung_up_when_the_minutes_per_hour_are_used_up(
    tmp_path: Path, tone_wav: Path
) -> None:
    """One minute an hour: the guard's clock is moved a minute on while the call talks, and its
    check (what its timer runs) hangs the call up on both sides; the row says why."""
    provider = start_sipp("provider_invite.xml", tmp_path / "provider", ip=TRUNK_IP, timeout=40)
    with running_pbx(
        tmp_path, trunk={**TRUNK, "port": provider.port}, customize=_limit(max_minutes_per_hour=1)
    ) as pbx:
        assert pbx.application is not None
        guard = pbx.application.pbx.toll_guard
        assert guard is not None
        shift = [0.0]
        guard.clock = lambda: time.time() + shift[0]
        device = line_phone(pbx, tmp_path, 0, tone_wav)
        try:
            pbx.wait_registered(0)
            device.command("dial", f"sip:79161234567@127.0.0.1:{pbx.sip_port}")
            device.wait_event("CALL_ESTABLISHED", timeout=20)
            time.sleep(0.5)
            pbx.run(guard._check())
            assert guard.active_leases() == 1  # half a second of the minute: it talks on
            shift[0] = 61.0
            pbx.run(guard._check())
            device.wait_event("CALL_CLOSED", timeout=10)
        finally:
            device.stop()
        # The provider got our BYE (its scenario ends with BYE and 200).
        result = provider.finish(timeout=30)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        (row,) = _rows(pbx, 1)
        assert row["status"] == "answered"
        details = _api(pbx, f"/calls/{row['id']}/details")
        (step,) = [s for s in details if s["kind"] == "toll_fraud"]
        assert step["text"] == "разговор прерван: исчерпан лимит минут исходящих разговоров за час"
        assert _security_events(pbx, "toll_fraud_cut") == 1


def test_a_call_given_up_while_ringing_frees_its_place(tmp_path: Path, tone_wav: Path) -> None:
    """The other way a leg ends: the employee hangs up while the provider still rings (CANCEL
    on both legs); the lease is free at once and the account's count is back to zero."""
    provider = start_sipp(
        "provider_never_answers.xml", tmp_path / "provider", ip=TRUNK_IP, timeout=40
    )
    with running_pbx(
        tmp_path,
        trunk={**TRUNK, "port": provider.port},
        customize=_limit(max_simultaneous_calls=1),
    ) as pbx:
        assert pbx.application is not None
        guard = pbx.application.pbx.toll_guard
        assert guard is not None
        device = line_phone(pbx, tmp_path, 0, tone_wav)
        try:
            pbx.wait_registered(0)
            device.command("dial", f"sip:74951234567@127.0.0.1:{pbx.sip_port}")
            device.wait_event("CALL_RINGING", timeout=20)
            assert guard.active_leases() == 1
            device.command("hangup")
            device.wait_event("CALL_CLOSED")
            result = provider.finish(timeout=30)
            assert result.returncode == 0, result.stdout[-2000:] + result.errors()
            deadline = time.monotonic() + 5
            while guard.active_leases():
                assert time.monotonic() < deadline, "the lease of the cancelled call was kept"
                time.sleep(0.1)
            assert pbx.run(guard.counters.active(pbx.account_id)) == 0
        finally:
            device.stop()
