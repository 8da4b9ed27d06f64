"""The switch's own watch of its loop stalls and garbage-collector pauses (`LoopStalls`): the
meters with a fake clock, then a real loop blocked on purpose, seen through the status endpoint
as the benchmarks read it."""

from __future__ import annotations

import asyncio
import gc
import re
import time

import httpx
import pytest
from prometheus_client import generate_latest

from vpbx.metrics import GcMeter, GcPause, LoopStalls, Metrics, StallCollector, StallMeter
from vpbx.switch.status import StatusServer


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_meter_records_how_late_each_tick_ran_and_the_worst_of_each_second() -> None:
    meter = StallMeter(interval=0.005)
    meter.start(100.0)
    assert meter.get_timer() == pytest.approx(100.005)
    meter.handle_timer(100.006)  # 1 ms late
    assert meter.get_timer() == pytest.approx(100.011)  # the next tick: an interval after
    meter.handle_timer(100.311)  # blocked: 300 ms late
    meter.handle_timer(101.016)  # the next second: 700 ms late
    meter.handle_timer(101.031)  # 10 ms late, same second: its worst stays
    assert meter.ticks == 4
    assert meter.worst == pytest.approx(0.7)
    assert meter.worst_at == pytest.approx(101.016)
    seconds = meter.seconds()
    assert [second for second, _ in seconds] == [100, 101]
    assert [late for _, late in seconds] == pytest.approx([0.3, 0.7])


def test_the_meter_keeps_only_the_last_seconds_and_ignores_a_timer_never_started() -> None:
    meter = StallMeter(interval=0.5, keep=3)
    meter.handle_timer(5.0)
    assert meter.ticks == 0
    assert meter.get_timer() is None
    meter.start(0.0)
    for now in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
        meter.handle_timer(now)
    assert [second for second, _ in meter.seconds()] == [1, 2, 3]


def test_the_gc_meter_counts_collections_by_generation_and_keeps_the_notable_ones() -> None:
    meter = GcMeter(notable=0.001)
    meter.started(10.0)
    meter.stopped(0, 5, 10.0002)
    meter.started(11.0)
    meter.stopped(1, 448_333, 11.873)
    meter.started(12.0)
    meter.stopped(1, 10, 12.002)
    meter.stopped(2, 1, 13.0)  # no start seen (the hook was added mid-collection): ignored
    assert meter.collections == [1, 2, 0]
    assert meter.longest == pytest.approx([0.0002, 0.873, 0.0])
    assert meter.total == pytest.approx([0.0002, 0.875, 0.0])
    assert meter.collected == [5, 448_343, 0]
    assert [(p.generation, p.collected) for p in meter.pauses] == [(1, 448_333), (1, 10)]
    assert meter.pauses[0] == GcPause(11.873, 1, pytest.approx(0.873), 448_333)


async def test_the_watch_ticks_on_its_clock_and_its_report_says_what_it_saw() -> None:
    clock = FakeClock(500.0)
    stalls = LoopStalls(clock=clock, interval=0.005)
    stalls.start()
    try:
        clock.now = 500.205  # the loop ran nothing for 200 ms
        stalls._tick()
        stalls._on_gc("start", {"generation": 2, "collected": 0})
        clock.now = 500.3
        stalls._on_gc("stop", {"generation": 2, "collected": 42})
        report = stalls.report()
        summary = stalls.summary()
    finally:
        stalls.stop()
    assert report["stall_max_ms"] == pytest.approx(200.0)
    assert report["stall_max_at"] == pytest.approx(500.205)
    assert report["seconds"] == [[500, pytest.approx(200.0)]]
    assert report["gc"]["collections"] == [0, 0, 1]
    assert report["gc"]["pauses"] == [[500.3, 2, pytest.approx(95.0), 42]]
    assert summary == {
        "loop_stall_max_ms": pytest.approx(200.0),
        "gc_collections": [0, 0, 1],
        "gc_pause_max_ms": [0.0, 0.0, pytest.approx(95.0)],
    }
    assert stalls._on_gc not in gc.callbacks


class Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_a_blocked_loop_and_a_collection_are_reported_by_the_status_endpoint() -> None:
    stalls = LoopStalls()
    metrics = Metrics()
    metrics.register(StallCollector(stalls))
    server = StatusServer("127.0.0.1", 0, metrics.exposition, stalls.summary, stalls.report)
    await server.start()
    stalls.start()
    try:
        start = time.monotonic()
        await asyncio.sleep(0.05)
        time.sleep(0.12)  # noqa: ASYNC251 - the loop blocked on purpose, as a long callback would
        for _ in range(1000):
            Cycle()
        gc.collect()
        await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            report = (await client.get("/loop")).json()
            health = (await client.get("/health")).json()
            text = (await client.get("/metrics")).text
    finally:
        stalls.stop()
        await server.stop()
    assert report["stall_max_ms"] >= 110
    assert start <= report["stall_max_at"] <= report["now"]
    assert max(late for _, late in report["seconds"]) == report["stall_max_ms"]
    assert report["ticks"] >= 2  # one before the block, the late one
    assert report["gc"]["collections"][2] >= 1
    assert sum(report["gc"]["collected"]) >= 1000  # the cycles (some found by younger ones)
    # read after /loop: a busy machine may have made a later tick later still
    assert health["loop_stall_max_ms"] >= report["stall_max_ms"]
    assert health["gc_collections"][2] >= 1
    exposed = re.search(r"^vpbx_event_loop_stall_max_seconds (\S+)$", text, re.MULTILINE)
    assert exposed is not None
    assert float(exposed.group(1)) * 1000 >= report["stall_max_ms"] - 0.001
    assert 'vpbx_gc_collections_total{generation="2"}' in text
    assert stalls._on_gc not in gc.callbacks


def test_the_collector_exposes_the_worst_stall_and_the_collections() -> None:
    stalls = LoopStalls(clock=FakeClock())
    stalls.stalls.start(0.0)
    stalls.stalls.handle_timer(0.035)
    stalls.gc.started(1.0)
    stalls.gc.stopped(1, 7, 1.25)
    metrics = Metrics()
    metrics.register(StallCollector(stalls))
    text = generate_latest(metrics.registry).decode()
    assert "vpbx_event_loop_stall_max_seconds 0.03" in text
    assert 'vpbx_gc_collections_total{generation="1"} 1.0' in text
    assert 'vpbx_gc_pause_max_seconds{generation="1"} 0.25' in text
    assert 'vpbx_gc_collected_objects_total{generation="1"} 7.0' in text
