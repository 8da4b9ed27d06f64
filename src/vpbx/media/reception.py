"""Reception statistics of one RTP source for RTCP report blocks (RFC 3550 §6.4.1, A.1, A.8)."""

from __future__ import annotations

from vpbx.media.rtp import ReportBlock, ntp_middle32

__all__ = ["ReceptionStats"]


class ReceptionStats:
    """Sequence tracking, loss and interarrival jitter of one source; times come in as arguments."""

    __slots__ = (
        "_base_seq",
        "_cycles",
        "_expected_prior",
        "_jitter",
        "_last_arrival",
        "_last_ts",
        "_lsr",
        "_lsr_at",
        "_max_seq",
        "_rate",
        "_received",
        "_received_prior",
        "ssrc",
    )

    def __init__(self, ssrc: int, sequence: int, rate: int = 8000) -> None:
        self.ssrc = ssrc
        self._rate = rate
        self._base_seq = sequence
        self._max_seq = sequence
        self._cycles = 0
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter = 0.0
        self._last_arrival: float | None = None
        self._last_ts = 0
        self._lsr = 0
        self._lsr_at = 0.0

    @property
    def received(self) -> int:
        return self._received

    @property
    def jitter(self) -> float:
        """Interarrival jitter in timestamp units."""
        return self._jitter

    def update(self, sequence: int, timestamp: int, arrival: float, *, media: bool = True) -> None:
        """Count one packet; `media` False for packets whose timestamp is not a sampling instant
        (RFC 4733 events repeat their start), which must not feed the jitter estimate."""
        delta = (sequence - self._max_seq) & 0xFFFF
        if 0 < delta < 0x8000:
            if sequence < self._max_seq:
                self._cycles += 0x10000
            self._max_seq = sequence
        self._received += 1
        if not media:
            return
        if self._last_arrival is not None:
            ts_delta = (timestamp - self._last_ts) & 0xFFFF_FFFF
            if ts_delta >= 0x8000_0000:
                ts_delta -= 0x1_0000_0000
            d = abs((arrival - self._last_arrival) * self._rate - ts_delta)
            self._jitter += (d - self._jitter) / 16
        self._last_arrival = arrival
        self._last_ts = timestamp

    def sender_report(self, ntp_timestamp: int, now: float) -> None:
        """The source sent an SR at `now`: echo it in the next report block (LSR/DLSR)."""
        self._lsr = ntp_middle32(ntp_timestamp)
        self._lsr_at = now

    def report_block(self, now: float) -> ReportBlock:
        """The block for the next RR/SR; starts a new interval for `fraction_lost`."""
        extended_max = self._cycles + self._max_seq
        expected = extended_max - self._base_seq + 1
        lost = max(-0x800000, min(0x7FFFFF, expected - self._received))
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = round((now - self._lsr_at) * 65536) & 0xFFFF_FFFF if self._lsr else 0
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            packets_lost=lost,
            highest_sequence=extended_max & 0xFFFF_FFFF,
            jitter=int(self._jitter),
            lsr=self._lsr,
            dlsr=dlsr,
        )
