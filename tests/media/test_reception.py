"""Reception statistics for RTCP report blocks: loss, wrap-around, jitter, LSR/DLSR."""

from __future__ import annotations

import pytest

from vpbx.media.reception import ReceptionStats


def test_loss_and_sequence_wrap_around() -> None:
    stats = ReceptionStats(ssrc=7, sequence=65530)
    sequences = [(65530 + i) & 0xFFFF for i in range(100) if i % 10 != 3]
    for n, seq in enumerate(sequences):
        stats.update(seq, 160 * n, n * 0.02)
    block = stats.report_block(now=2.0)
    assert block.ssrc == 7
    assert block.highest_sequence == 0x10000 + ((65530 + 99) & 0xFFFF)
    assert block.packets_lost == 10
    assert block.fraction_lost == (10 << 8) // 100
    # The next interval starts afresh.
    stats.update((65530 + 100) & 0xFFFF, 16000, 2.0)
    assert stats.report_block(now=2.1).fraction_lost == 0


def test_jitter_is_zero_for_perfect_pacing_and_grows_with_jitter() -> None:
    steady = ReceptionStats(1, 0)
    shaky = ReceptionStats(2, 0)
    for n in range(200):
        steady.update(n, 160 * n, n * 0.02)
        shaky.update(n, 160 * n, n * 0.02 + (0.005 if n % 2 else 0.0))
    assert steady.jitter == pytest.approx(0, abs=1e-6)
    assert shaky.jitter == pytest.approx(40, rel=0.05)  # 5 ms at 8 kHz


def test_event_packets_do_not_feed_jitter_and_sr_is_echoed() -> None:
    stats = ReceptionStats(1, 0)
    for n in range(5):
        stats.update(n, 1000, n * 0.05, media=False)  # RFC 4733: same timestamp throughout
    assert stats.jitter == 0
    assert stats.received == 5
    stats.sender_report((0x1234_5678 << 32) | 0x9ABC_0000, now=10.0)
    block = stats.report_block(now=10.5)
    assert block.lsr == 0x5678_9ABC
    assert block.dlsr == 32768
