"""Webhooks of a real call (API-2, issue 15 must-show 4): a SIPp trunk caller talks to an
employee's baresip phone through the switch, and a real HTTP receiver (an asyncio server on
loopback, tests/services/webhook_receiver.py) checks each request's HMAC signature with the
recipe of docs/api.md. The receiver is stopped for 10 s while the call is in progress (after
`call_started`, before the answer) and started again on the same port: the answer, announced
while it was down, arrives after it is back, then the end, in order; the delivery log showed
the waiting event tried again and again meanwhile. The retry intervals are the short ones the
settings allow (0.5 s doubling to 2 s), so the 10 s down is the test's only long wait.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.ports import free_port
from tests.peers.rtp_pcap import tone
from tests.services.webhook_receiver import Receiver
from tests.switch.harness import NUMBER, RunningPbx, Setup, line_phone, running_pbx, tone_file
from tests.switch.live import Caller, row_and_steps
from tests.switch.observe import api_get
from vpbx.app import utc_now
from vpbx.domain.actor import Actor, Role
from vpbx.domain.net_policy import parse_networks
from vpbx.services.entities import EntityService

pytestmark = pytest.mark.peers

SECRET = "whsec_live"
CALLER = "74957000301"
DOWN = 10.0  # seconds the receiver is away (the figure)
EVENTS = ["call_started", "call_answered", "call_ended", "call_missed"]


class ReceiverThread:
    """The receiver on its own event loop in a thread (the test itself is synchronous)."""

    def __init__(self, port: int) -> None:
        self.receiver = Receiver(SECRET, port=port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def start(self) -> None:
        self.run(self.receiver.start())

    def stop(self) -> None:
        self.run(self.receiver.stop())

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def wait(self, count: int, timeout: float) -> None:
        """Until `count` requests were received (signed, answered 200)."""
        wait_for(lambda: len(self.receiver.got) >= count, timeout, f"{count} webhooks")


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def deliveries(pbx: RunningPbx, hook_id: int) -> list[dict[str, Any]]:
    """The webhook's delivery log (API-2), newest first."""
    log: list[dict[str, Any]] = api_get(pbx, f"/webhooks/{hook_id}/deliveries")
    return log


@pytest.fixture
def receiver() -> Iterator[ReceiverThread]:
    running = ReceiverThread(free_port())
    running.start()
    try:
        yield running
    finally:
        running.close()


def test_the_webhooks_of_a_live_call_arrive_signed_in_order_across_10_s_down(
    tmp_path: Path, receiver: ReceiverThread
) -> None:
    hooks: list[int] = []
    url = receiver.receiver.url

    async def webhook(svc: EntityService, setup: Setup) -> None:
        # the installation allows loopback receivers (VPBX_HTTP_ALLOW_NETWORKS below)
        allowed = EntityService(
            svc.conn,
            Actor(Role.ADMIN, setup.account_id),
            utc_now,
            url_allow=parse_networks("127.0.0.0/8"),
        )
        created = await allowed.create("webhooks", {"url": url, "events": EVENTS, "secret": SECRET})
        hooks.append(int(created.model_dump()["id"]))

    settings = {
        "http_allow_networks": "127.0.0.0/8",
        "webhook_retry_base": 0.5,
        "webhook_retry_cap": 2.0,
        "webhook_timeout": 2.0,
    }
    with running_pbx(tmp_path, customize=webhook, settings=settings) as pbx:
        phone = line_phone(
            pbx, tmp_path, 0, tone_file(tmp_path / "employee.wav", 440.0), answermode="manual"
        )
        call = Caller(tmp_path / "caller", pbx, NUMBER, CALLER, [tone(600.0, 30.0)])
        try:
            pbx.wait_registered(0)
            call.start()
            phone.wait_event("CALL_INCOMING", 15)
            receiver.wait(1, 10)  # call_started
            receiver.stop()  # the CRM goes down while the phone rings
            down_at = time.monotonic()
            phone.command("accept")
            phone.wait_event("CALL_ESTABLISHED", 10)
            time.sleep(max(0.0, down_at + DOWN - time.monotonic()))
            log = deliveries(pbx, hooks[0])
            receiver.start()  # back on the same port, the call still in progress
            up_at = time.monotonic()
            receiver.wait(2, 10)  # call_answered, delivered by a retry
            assert call.sipp is not None
            assert call.sipp.process.poll() is None  # the call is still in progress
            phone.command("hangup")
            phone.wait_event("CALL_CLOSED", 10)
            call.wait().assert_ok()
            receiver.wait(3, 10)  # call_ended
            time.sleep(1.0)  # nothing more comes (no duplicate, no missed event)
        finally:
            call.stop()
            phone.stop()
        row, _steps = row_and_steps(pbx, caller=CALLER, called=NUMBER)
        final = deliveries(pbx, hooks[0])

    # while it was down: the answer was tried again and again and failed to connect
    waiting = [d for d in log if d["state"] == "pending"]
    assert [d["event_type"] for d in waiting] == ["call_answered"], log
    assert waiting[0]["attempts"] >= 3, waiting
    assert "ConnectError" in waiting[0]["last_reason"], waiting
    assert [d["event_type"] for d in log if d["state"] == "delivered"] == ["call_started"], log
    # then every event of the call, once, in order, each signed (the receiver checked the HMAC
    # and the timestamp; a bad signature is answered 401 and not recorded)
    got = receiver.receiver.got
    assert receiver.receiver.events() == [
        (row["id"], "call_started"),
        (row["id"], "call_answered"),
        (row["id"], "call_ended"),
    ], got
    assert all(r.signed for r in got)
    assert got[1].at > up_at > got[0].at  # the answer came after the receiver was back
    assert int(got[1].headers["x-vpbx-attempt"]) >= 4  # 1 and the retries while down
    assert got[0].headers["x-vpbx-attempt"] == got[2].headers["x-vpbx-attempt"] == "1"
    assert [r.headers["x-vpbx-event"] for r in got] == [r.body["type"] for r in got]
    assert [r.headers["x-vpbx-event-id"] for r in got] == [r.body["id"] for r in got]
    assert len({r.body["id"] for r in got}) == 3
    assert {r.body["call"]["caller"] for r in got} == {CALLER}
    assert got[1].body["call"]["answered_at"] is not None
    assert got[2].body["call"]["status"] == "answered"
    assert row["status"] == "answered", row
    assert {d["state"] for d in final} == {"delivered"}, final
