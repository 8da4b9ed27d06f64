"""Calls seeded for the dashboard tests (CDR-3), and what a dashboard of them must show, computed
here in Python from the seeds alone (local buckets by zoneinfo, p90 by `statistics.quantiles`),
independently of the SQL under test. Used by the service, API and browser tests."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from vpbx.domain.switch_records import CallRecord
from vpbx.services.call_log import write_calls
from vpbx.storage.db import make_async_engine

#: statuses of each figure, as the calls report names them
GROUPS: Mapping[str, tuple[str, ...]] = {
    "answered": ("answered",),
    "missed": ("missed",),
    "lost": ("failed", "interrupted"),
    "voicemail": ("voicemail",),
    "blocked": ("blocked",),
    "active": ("active",),
}
WAITED = ("answered", "missed")


@dataclass(frozen=True, slots=True)
class Seed:
    """One call as the switch would write it; `employee` and `number` are keys of the test's
    own employees and numbers."""

    started: dt.datetime
    status: str
    wait: float = 0.0
    direction: str = "incoming"
    number: str | None = "a"
    employee: str | None = None
    talk: float = 0.0
    rating: int | None = None

    def record(
        self, account_id: int, numbers: Mapping[str, int], employees: Mapping[str, int]
    ) -> CallRecord:
        started = self.started.astimezone(dt.UTC)
        answered = self.status in ("answered", "interrupted") and self.employee is not None
        return CallRecord(
            account_id=account_id,
            started_at=started,
            direction=self.direction,
            status=self.status,
            caller="79160000001" if self.direction != "outgoing" else "101",
            called="74950000001" if self.direction != "outgoing" else "79160000001",
            answered_at=started + dt.timedelta(seconds=self.wait) if answered else None,
            ended_at=None
            if self.status == "active"
            else started + dt.timedelta(seconds=self.wait + self.talk),
            number_id=numbers[self.number] if self.number is not None else None,
            employee_id=employees[self.employee] if self.employee is not None else None,
            wait_seconds=self.wait,
            talk_seconds=self.talk,
            rating=self.rating,
        )


async def write_seeds(
    db_url: str,
    account_id: int,
    seeds: Sequence[Seed],
    numbers: Mapping[str, int],
    employees: Mapping[str, int],
) -> None:
    """Write the calls into the database a server reads, as the switch writes them."""
    engine = make_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            records = [s.record(account_id, numbers, employees) for s in seeds]
            await write_calls(conn, records, dt.datetime.now(dt.UTC))
    finally:
        await engine.dispose()


def p90(values: Sequence[float]) -> float | None:
    """percentile_cont(0.9): linear interpolation at (n - 1) * 0.9."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def figures(seeds: Iterable[Seed]) -> dict[str, float | int | None]:
    chosen = list(seeds)
    out: dict[str, float | int | None] = {"total": len(chosen)}
    for name, statuses in GROUPS.items():
        out[name] = sum(1 for s in chosen if s.status in statuses)
    waits = sorted(s.wait for s in chosen if s.status in WAITED)
    out["waited"] = len(waits)
    out["wait_avg"] = sum(waits) / len(waits) if waits else None
    out["wait_p90"] = p90(waits)
    return out


def chosen(
    seeds: Iterable[Seed],
    start: dt.datetime,
    end: dt.datetime,
    *,
    number: str | None = None,
    directions: tuple[str, ...] = ("incoming",),
    employee: str | None = None,
) -> list[Seed]:
    """The seeds a dashboard of `[start, end)` covers (aware bounds)."""
    return [
        s
        for s in seeds
        if start <= s.started < end
        and s.direction in directions
        and (number is None or s.number == number)
        and (employee is None or s.employee == employee)
    ]


def local_bucket(started: dt.datetime, zone: ZoneInfo, hourly: bool) -> dt.datetime:
    """The local wall-clock hour or day a call started in (naive)."""
    here = started.astimezone(zone).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    return here if hourly else here.replace(hour=0)


def by_bucket(
    seeds: Iterable[Seed], zone: ZoneInfo, hourly: bool
) -> dict[dt.datetime, dict[str, float | int | None]]:
    groups: dict[dt.datetime, list[Seed]] = {}
    for seed in seeds:
        groups.setdefault(local_bucket(seed.started, zone, hourly), []).append(seed)
    return {key: figures(group) for key, group in groups.items()}


def by_employee(seeds: Sequence[Seed]) -> dict[str, dict[str, float | int | None]]:
    out: dict[str, dict[str, float | int | None]] = {}
    for name in sorted({s.employee for s in seeds if s.employee is not None}):
        his = [s for s in seeds if s.employee == name]
        ratings = [s.rating for s in his if s.rating is not None]
        out[name] = {
            "calls": len(his),
            "answered": sum(1 for s in his if s.status == "answered"),
            "talk_seconds": sum(s.talk for s in his),
            "rating_avg": sum(ratings) / len(ratings) if ratings else None,
            "ratings": len(ratings),
        }
    return out
