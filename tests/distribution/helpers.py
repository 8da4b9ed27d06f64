"""Builders and a synchronous driver for distribution tests (in-process store, fake clock)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vpbx.scenario.distribution import (
    Action,
    CallKind,
    Distributor,
    EmployeeTarget,
    Event,
    ForwardRequest,
    PhoneTarget,
    Ring,
    Settings,
    Step,
    Strategy,
    run_sync,
)

ACCOUNT = 1


def phone(phone_id: str = "p1", lines: int = 1, timeout: float = 20, **kw: object) -> PhoneTarget:
    return PhoneTarget(phone_id, lines, timeout, **kw)  # type: ignore[arg-type]


def employee(employee_id: int, *phones: PhoneTarget, **kw: bool) -> EmployeeTarget:
    return EmployeeTarget(employee_id, phones or (phone(),), **kw)


def staff(count: int, **phone_kw: object) -> tuple[EmployeeTarget, ...]:
    return tuple(employee(i, phone(**phone_kw)) for i in range(1, count + 1))  # type: ignore[arg-type]


def request(
    call_id: str,
    targets: tuple[EmployeeTarget, ...],
    strategy: Strategy = Strategy.PRIORITY,
    *,
    kind: CallKind = CallKind.INCOMING,
    scenario_id: int = 1,
    operation_key: str = "fwd",
    join_queue: bool = False,
    caller: str | None = None,
    **settings: object,
) -> ForwardRequest:
    return ForwardRequest(
        call_id,
        ACCOUNT,
        scenario_id,
        operation_key,
        caller or f"+7999{call_id}",
        targets,
        Settings(strategy=strategy, **settings),  # type: ignore[arg-type]
        kind=kind,
        join_queue=join_queue,
    )


@dataclass
class Sim:
    """A distributor on the in-process store, driven synchronously; keeps every step."""

    distributor: Distributor = field(default_factory=Distributor)
    steps: list[Step] = field(default_factory=list)

    def start(self, req: ForwardRequest, now: float) -> Step:
        return self._keep(run_sync(self.distributor.start(req, now)))

    def handle(self, event: Event, now: float) -> Step:
        return self._keep(run_sync(self.distributor.handle(event, now)))

    def timer(self, now: float) -> Step:
        return self._keep(run_sync(self.distributor.handle_timer(now)))

    def advance(self, until: float) -> list[Step]:
        """Fire every timer due up to `until`, in order."""
        fired = []
        while (when := self.distributor.next_timer()) is not None and when <= until:
            fired.append(self.timer(when))
        return fired

    def ringing(self, call_id: str) -> list[int]:
        return sorted(e for e, _ in self.distributor.ringing(call_id))

    def _keep(self, step: Step) -> Step:
        self.steps.append(step)
        return step


def rings(step: Step) -> list[tuple[int, str]]:
    return [(a.employee_id, a.phone_id) for a in step.actions if isinstance(a, Ring)]


def of_type(step: Step, kind: type[Action]) -> list[Action]:
    return [a for a in step.actions if isinstance(a, kind)]
