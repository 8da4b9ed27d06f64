"""The counters behind /metrics: SIP messages by method and status, RTP totals over sessions
that come and go, security events."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client import generate_latest

from vpbx.media.ports import PortPool
from vpbx.media.session import RtpSession
from vpbx.metrics import (
    LoopWatch,
    Metrics,
    RtpCounters,
    SipCounters,
    SwitchCollector,
    SwitchMetrics,
)
from vpbx.sip.message import make_response
from vpbx.sip.parser import parse_message

OPTIONS = (
    b"OPTIONS sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:pbx>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
    b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def exposition(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_sip_messages_are_counted_by_method_and_status_and_odd_methods_pooled() -> None:
    sip = SipCounters()
    request = parse_message(OPTIONS)
    sip.received(request)
    sip.sent(make_response(request, 200))
    sip.received(parse_message(OPTIONS.replace(b"OPTIONS", b"XYZZY")))
    metrics = Metrics()
    metrics.register(
        SwitchCollector(
            calls_active=lambda: 2,
            calls_started=lambda: 5,
            registrations=lambda: 3,
            sip=sip,
            rtp=RtpCounters(),
        )
    )
    text = exposition(metrics)
    assert 'vpbx_sip_messages_total{direction="in",method="OPTIONS",status=""} 1.0' in text
    assert 'vpbx_sip_messages_total{direction="out",method="OPTIONS",status="200"} 1.0' in text
    assert 'vpbx_sip_messages_total{direction="in",method="other",status=""} 1.0' in text
    assert "XYZZY" not in text
    assert "vpbx_calls_active 2.0" in text
    assert "vpbx_calls_total 5.0" in text
    assert "vpbx_registrations 3.0" in text


def test_security_events_are_counted_by_kind() -> None:
    metrics = Metrics()
    metrics.security_event("login_failed")
    metrics.security_events.labels(kind="login_failed").inc()
    assert 'vpbx_security_events_total{kind="login_failed"} 2.0' in exposition(metrics)


async def test_rtp_totals_keep_what_closed_sessions_counted() -> None:
    rtp = RtpCounters()
    pool = PortPool(30100, 30199)
    first = await RtpSession.open(pool, host="127.0.0.1", remote_addr=("127.0.0.1", 9))
    second = await RtpSession.open(pool, host="127.0.0.1", remote_addr=("127.0.0.1", 9))
    rtp.track(first)
    rtp.track(second)
    first.stats.sent_packets = 10
    second.stats.sent_packets = 5
    second.stats.dropped_foreign_ssrc = 1
    first.close()
    rtp.sweep()
    assert rtp.live == 1  # the closed session is no longer held
    totals = rtp.totals()
    assert totals["sent_packets"] == 15
    assert totals["dropped_foreign_ssrc"] == 1
    second.close()
    assert rtp.totals()["sent_packets"] == 15
    assert rtp.live == 0


def sample(text: str, pattern: str) -> float:
    found = re.search(pattern, text)
    assert found is not None, pattern
    return float(found.group(1))


async def test_the_loop_watch_sees_a_stalled_loop() -> None:
    metrics = SwitchMetrics()
    ticks: list[None] = []
    watch = LoopWatch(metrics, tick=lambda: ticks.append(None), interval=0.02)
    watch.start()
    await asyncio.sleep(0.03)
    time.sleep(0.1)  # noqa: ASYNC251 - the loop blocked, as by scrypt or a big YAML on it
    await asyncio.sleep(0.05)
    await watch.stop()
    assert ticks
    text = exposition(metrics)
    count = sample(text, r"vpbx_event_loop_lag_seconds_count (\S+)")
    fast = sample(text, r'vpbx_event_loop_lag_seconds_bucket\{le="0.05"\} (\S+)')
    assert fast < count  # one measure saw the 100 ms stall


def test_the_api_workers_counters_are_added_up(tmp_path: Path) -> None:
    """Each uvicorn worker counts in its own process; /metrics of any of them shows the sum
    (prometheus-client's multiprocess mode, chosen by the environment when it is imported)."""
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = (
        "from vpbx.metrics import Metrics, multiprocess_dir_from_environment\n"
        "m = Metrics('vpbx_api', multiprocess_dir_from_environment())\n"
        "m.security_event('login_failed')\n"
    )
    for _worker in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    show = count.replace("m.security_event('login_failed')", "print(m.exposition().decode())")
    text = subprocess.run(
        [sys.executable, "-c", show], env=env, check=True, timeout=60, capture_output=True
    ).stdout.decode()
    assert 'vpbx_api_security_events_total{kind="login_failed"} 2.0' in text
