"""`python -m vpbx.bench`: run every benchmark and write docs/benchmarks.{md,json}.

A benchmark measures operations per second of one code path, best of several rounds. Where a
reference implementation can run beside us on the same load (rtpengine, sippy), its figure is
measured in the same run and the ratio is reported; where none exists, reference is null.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from vpbx.bench.baseline import BENCHMARKS as BASELINE
from vpbx.bench.baseline import baseline_campaign, baseline_method
from vpbx.bench.cabinet import BENCHMARKS as CABINET
from vpbx.bench.cabinet import cabinet_campaign, cabinet_method
from vpbx.bench.callbacks import BENCHMARKS as CALLBACKS
from vpbx.bench.callbacks import callbacks_method
from vpbx.bench.calls import BENCHMARKS as CALLS
from vpbx.bench.calls import CALLS_METHOD, calls_campaign
from vpbx.bench.core import Result, rate
from vpbx.bench.distribution import BENCHMARKS as DISTRIBUTION
from vpbx.bench.engine import bench_engine
from vpbx.bench.flood import BENCHMARKS as FLOOD
from vpbx.bench.flood import flood_campaign, flood_method
from vpbx.bench.live import BENCHMARKS as LIVE
from vpbx.bench.live import live_campaign, live_method
from vpbx.bench.nodes import BENCHMARKS as NODES
from vpbx.bench.nodes import nodes_campaign, nodes_method
from vpbx.bench.recording import BENCHMARKS as RECORDING
from vpbx.bench.recording import recording_campaign, recording_method
from vpbx.bench.register import BENCHMARKS as REGISTER
from vpbx.bench.register import register_campaign, register_method
from vpbx.bench.relay import BENCHMARKS as RELAY
from vpbx.bench.relay import relay_campaign, relay_method
from vpbx.bench.setup_vs_sippy import BENCHMARKS as SETUP
from vpbx.bench.setup_vs_sippy import setup_campaign, setup_method
from vpbx.bench.stall import BENCHMARKS as STALL
from vpbx.bench.stall import stall_campaign, stall_method
from vpbx.bench.webhooks import BENCHMARKS as WEBHOOKS
from vpbx.bench.webhooks import webhooks_method

ROOT = Path(__file__).resolve().parents[3]


def bench_schedule() -> Result:
    from vpbx.domain.schedule import ProductionCalendar, ScheduleSpec, is_active

    spec = ScheduleSpec.model_validate(
        {
            "kind": "weekly",
            "use_production_calendar": True,
            "weekly": [
                {
                    "weekday": d,
                    "intervals": [
                        {"start": "09:00", "end": "13:00"},
                        {"start": "14:00", "end": "18:00"},
                    ],
                }
                for d in range(1, 6)
            ],
        }
    )
    tz = ZoneInfo("Europe/Moscow")
    calendar = ProductionCalendar({})
    instant = dt.datetime(2025, 11, 5, 9, 30, tzinfo=dt.UTC)

    def work() -> None:
        for _ in range(100):
            is_active(spec, instant, tz, calendar)

    return Result("schedule.is_active", rate(work, 100), "checks/s", None, None, None, None)


def bench_g711() -> Result:
    from vpbx.media.g711 import ulaw_encode

    frame = (np.sin(np.arange(160) * 2 * np.pi * 1000 / 8000) * 8000).astype(np.int16)

    def work() -> None:
        for _ in range(100):
            ulaw_encode(frame)

    return Result(
        "g711.ulaw_encode 20 ms frame", rate(work, 100), "frames/s", None, None, None, None
    )


def bench_employee_validation() -> Result:
    from vpbx.domain.entities.people import Employee

    data = {
        "last_name": "Иванов",
        "extension": "101",
        "phones": [{"kind": "sip"}, {"kind": "number", "number": "+7 495 123-45-67"}],
    }

    def work() -> None:
        for _ in range(100):
            Employee.model_validate(data)

    return Result(
        "domain.Employee validation", rate(work, 100), "documents/s", None, None, None, None
    )


INVITE = (
    b"INVITE sip:74951112233@pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Caller" <sip:74957654321@trunk.example.com>;tag=1928301774\r\n'
    b"To: <sip:74951112233@pbx.example.com>\r\n"
    b"Call-ID: a84b4c76e66710@10.0.0.1\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:74957654321@10.0.0.1:5060>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def bench_sip_parse() -> Result:
    from vpbx.sip.parser import parse_message

    def work() -> None:
        for _ in range(100):
            message = parse_message(INVITE)
            # The typed accessors a transaction needs (parsed lazily).
            _ = (message.vias, message.cseq, message.from_tag)

    return Result(
        "sip.parse INVITE (+ Via, CSeq, From tag)",
        rate(work, 100),
        "messages/s",
        None,
        None,
        None,
        ">= 10,000/s",
    )


BENCHMARKS: tuple[Callable[[], Result], ...] = (
    bench_sip_parse,
    bench_schedule,
    bench_g711,
    bench_employee_validation,
    bench_engine,
    *DISTRIBUTION,
    *CALLS,
    *BASELINE,
    *SETUP,
    *NODES,
    *STALL,
    *FLOOD,
    *RECORDING,
    *RELAY,
    *REGISTER,
    *WEBHOOKS,
    *CALLBACKS,
    *CABINET,
    *LIVE,
)


def main() -> None:
    results = [bench() for bench in BENCHMARKS]
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "benchmarks.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        "# Benchmarks",
        "",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine}.",
        "",
        "Method: `make bench` (`python -m vpbx.bench`): each figure is the best of 5 rounds of at",
        "least 0.2 s of the code path in one process; references run in the same run where one",
        "exists.",
        "",
        *CALLS_METHOD,
        *(f"- {line}" for line in calls_campaign().log),
        "",
        *baseline_method(),
        *(f"- {line}" for line in baseline_campaign().log),
        "",
        *setup_method(),
        *(f"- {line}" for line in setup_campaign().log),
        "",
        *nodes_method(),
        *(f"- {line}" for line in nodes_campaign().log),
        "",
        *stall_method(),
        *(f"- {line}" for line in stall_campaign().log),
        "",
        *flood_method(),
        *(f"- {line}" for line in flood_campaign().log),
        "",
        *recording_method(),
        *(f"- {line}" for line in recording_campaign().log),
        "",
        *relay_method(),
        *(f"- {line}" for line in relay_campaign().log),
        "",
        *register_method(),
        *(f"- {line}" for line in register_campaign().log),
        "",
        *webhooks_method(),
        "",
        *callbacks_method(),
        "",
        *cabinet_method(),
        *(f"- {line}" for line in cabinet_campaign().log),
        "",
        *live_method(),
        *(f"- {line}" for line in live_campaign().log),
        "",
        "| name | value | unit | reference | reference value | ratio | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ref = r.reference or "—"
        ref_value = f"{r.reference_value:,.0f}" if r.reference_value is not None else "—"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "—"
        target = r.target or "—"
        lines.append(
            f"| {r.name} | {r.value:,.0f} | {r.unit} | {ref} | {ref_value} | {ratio} | {target} |"
        )
    (docs / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
