"""Distribution of a call to employees and the global call queue (DST-1..7, QUE-1..7, GRP-2).

Pure logic with time passed in: no I/O, no clock. Shared state (lines in use, 12 h windows,
wrap-up, percentages, queues) lives behind `SharedState`: `InProcessState` here (default, one
node), `vpbx.services.shared_state_redis.RedisState` for several nodes (``VPBX_REDIS_URL``).

Public API (what the engine's Forward operation and the switch call)
--------------------------------------------------------------------

Build the request::

    settings = resolve_settings(op.strategy, op.distribution, group.simultaneous_lines)
    targets = (EmployeeTarget(employee_id, phones=(PhoneTarget(phone_id, lines, ring_timeout,
               kind, available, percent), ...), calls_enabled, in_schedule, group_active), ...)
    request = ForwardRequest(call_id, account_id, scenario_id, op.key, caller, targets,
                             settings, kind=CallKind.INCOMING, join_queue=False)

The engine builds the targets from the domain documents: a group's distribution table in its
order (GRP-2 S/T sort applied, disabled rows → `available=False`), each employee's phones in his
order, `in_schedule` / `group_active` from `vpbx.domain.schedule.is_active` at `now`, SIP lines
`available` only when registered. Reading the group at every call is what makes GRP-3 hold.

Drive it, one `Distributor` per node, `now` in POSIX seconds::

    distributor = Distributor(state)                 # state: InProcessState() or RedisState
    step = await distributor.start(request, now)     # -> Step(actions, details)
    step = await distributor.handle(event, now)      # Answered, RingEnded, CallEnded, CallerHungUp
    when = distributor.next_timer()                  # ring timeouts, FASTEST growth, wrap-up ends
    step = await distributor.handle_timer(now)
    spot = await distributor.queue_status(call_id, now)   # QUE-4/5 replays of the queue message

With `InProcessState` nothing ever suspends: `run_sync(distributor.start(request, now))` works
without an event loop. With several nodes pass `poll_interval` so waiters look for phones that
other nodes freed.

Actions (`Step.actions`), for the switch to execute:

* `Ring(call_id, employee_id, phone_id, timeout)`: offer the call to that phone.
* `Cancel(call_id, employee_id, phone_id, reason)`: stop ringing it (timeout, answered elsewhere,
  caller hung up). The ring timeout is ours: the switch need not time rings.
* `Queued(call_id, queue_key, position, ahead, estimated_wait)`: play the queue message; `ahead`
  lists the callers ahead (QUE-4); estimated wait = average talk on the phones over 30 days ×
  position, None without history (QUE-5).
* `Held(call_id)`: an outbound-dialer call waits; employees keep being rung in parallel (QUE-7).
* `GiveUp(call_id, skipped)`: nobody can take the call; follow the `no_answer` exit. `skipped`
  says why each phone was not rung (DST-7).

`Step.details` are the call-details records (offered to whom and why, skipped and why, ring
results, queue place with the callers ahead, answer, end).

Semantics in one place
----------------------

* One round first (QUE-1): employees in strategy order, `width` of them ringing at once, each
  employee's phones one after another, each for its own ring timeout (CUSTOM may override it).
  Width: PRIORITY/IN_TURN 1; FASTEST 5 + 1 per 5 s; others the simultaneous lines.
* SUPPORT: least talk seconds in the last 12 h in this scenario first; SALES: fewest calls
  directed (offered, answered or not; once per call) in 12 h in this scenario first. The window
  is inclusive: an entry made at t counts at t + 12 h and is forgotten at t + 12 h + ε.
* IN_TURN: caller k (a counter per set of phones) → employee k among those taking calls now,
  wrapping round; only his phones are rung, and his queue is the queue of his phones.
* CUSTOM percentages (GRP-2): phones (not employees) ordered by deficit against their share of
  the operation's calls, a call counting for the phone it is directed to first (a phone that
  does not answer cannot be given a share of *answered* calls); 0 % phones are never rung.
  `equalize(n)` gives equal shares.
* Skips (DST-7): calls off, outside the employee's or the group's schedule, wrap-up («после
  разговора звонить не ранее, чем через N с»: from the end of his last call, N s exactly), line
  limit, unavailable («Номер недоступен в группе»), queue held («другие абоненты находятся в
  очереди»), not in turn, 0 %.
* Queue (QUE-2/3): one per set of phones, global over operations, scenarios and nodes. A call in
  its first round is never offered a phone that any waiter of any queue is waiting for; a free
  phone goes to the earliest waiter who can use it (the next ones get what is left). Waiters
  ring up to their width, least recently tried phones first, continuously.
* QUE-6: INCOMING and CALLAPI_SCENARIO calls queue when the operation's queue is on; TRANSFER
  when the employee has «Вставать в очередь»; OUTGOING never. QUE-7: DIALER with queue on is
  held and rings every free phone in parallel, outside the FIFO.
"""

from vpbx.scenario.distribution.distributor import Distributor, Phase, may_queue, queue_key_of
from vpbx.scenario.distribution.model import (
    Action,
    Answered,
    CallEnded,
    CallerHungUp,
    CallKind,
    Cancel,
    Detail,
    DetailKind,
    EmployeeTarget,
    Event,
    ForwardRequest,
    GiveUp,
    Held,
    PhoneTarget,
    Queued,
    Ring,
    RingEnded,
    RingResult,
    Settings,
    Skip,
    SkipReason,
    Step,
    Strategy,
)
from vpbx.scenario.distribution.state import (
    ClaimMode,
    ClaimStatus,
    InProcessState,
    QueueSpot,
    SharedState,
    Snapshot,
    SnapshotRequest,
    WaiterSpec,
    run_sync,
)
from vpbx.scenario.distribution.strategies import equalize, resolve_settings, width_at

__all__ = [
    "Action",
    "Answered",
    "CallEnded",
    "CallKind",
    "CallerHungUp",
    "Cancel",
    "ClaimMode",
    "ClaimStatus",
    "Detail",
    "DetailKind",
    "Distributor",
    "EmployeeTarget",
    "Event",
    "ForwardRequest",
    "GiveUp",
    "Held",
    "InProcessState",
    "Phase",
    "PhoneTarget",
    "QueueSpot",
    "Queued",
    "Ring",
    "RingEnded",
    "RingResult",
    "Settings",
    "SharedState",
    "Skip",
    "SkipReason",
    "Snapshot",
    "SnapshotRequest",
    "Step",
    "Strategy",
    "WaiterSpec",
    "equalize",
    "may_queue",
    "queue_key_of",
    "resolve_settings",
    "run_sync",
    "width_at",
]
