"""CDR-4: the live board's snapshot and numbered, coalesced events (no clock, no I/O)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import MappingProxyType
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from vpbx.domain.live import HISTORY, EmployeeState, EmployeeView, LiveBoard, LiveCallState, Roster
from vpbx.domain.schedule import ProductionCalendar, ScheduleSpec, TimeInterval, WeeklyDay

MSK = ZoneInfo("Europe/Moscow")


def _call(
    call_id: str = "c1",
    *,
    step: str = "",
    ringing: tuple[int, ...] = (),
    talker: int | None = None,
    answered_at: float | None = None,
) -> LiveCallState:
    return LiveCallState(
        call_id=call_id,
        caller="79160000001",
        number="74950000000",
        started_at=1.0,
        step=step,
        ringing=ringing,
        talker=talker,
        answered_at=answered_at,
    )


def test_changes_between_flushes_coalesce_into_one_numbered_event_per_item() -> None:
    board = LiveBoard()
    board.put_call(1, _call(step="Приветствие"))
    board.put_call(1, _call(step="Меню", ringing=(7,)))
    events = board.flush()[1]
    assert [(e["type"], e["seq"]) for e in events] == [("call", 1), ("employee", 2)]
    assert events[0]["call"]["step"] == "Меню"
    assert events[1]["employee"] == {"employee_id": 7, "state": "ringing"}
    assert board.flush() == {}  # nothing changed since
    assert not board.put_call(1, _call(step="Меню", ringing=(7,)))  # the same state: no event


def test_answer_then_end_moves_the_employee_from_ringing_to_talking_to_offline() -> None:
    board = LiveBoard()
    board.put_call(1, _call(ringing=(7, 8)))
    board.flush()
    board.put_call(1, _call(talker=7, answered_at=5.0))
    events = board.flush()[1]
    assert [e["type"] for e in events] == ["call", "employee", "employee"]
    assert {e["employee"]["employee_id"]: e["employee"]["state"] for e in events[1:]} == {
        7: "talking",
        8: "offline",
    }
    board.end_call(1, "c1")
    ended = board.flush()[1]
    assert ended[0] == {"type": "ended", "seq": 7, "call_id": "c1"}
    assert ended[1]["employee"] == {"employee_id": 7, "state": "offline"}
    assert board.snapshot(1) == {
        "type": "snapshot",
        "seq": 8,
        "calls": [],
        "employees": [],
        "presence": False,
    }


def test_accounts_are_numbered_and_seen_apart() -> None:
    board = LiveBoard()
    board.put_call(1, _call("a"))
    board.put_call(2, _call("b"))
    out = board.flush()
    assert [e["call"]["call_id"] for e in out[1]] == ["a"]
    assert [e["call"]["call_id"] for e in out[2]] == ["b"]
    assert out[1][0]["seq"] == out[2][0]["seq"] == 1
    assert [c["call_id"] for c in board.snapshot(2)["calls"]] == ["b"]


def test_since_gives_what_was_missed_or_none_when_it_is_gone() -> None:
    board = LiveBoard()
    for step in range(HISTORY + 10):
        board.put_call(1, _call(step=str(step)))
        board.flush()
    seq = board.snapshot(1)["seq"]
    assert seq == HISTORY + 10
    assert board.since(1, seq) == []
    assert [e["seq"] for e in board.since(1, seq - 3) or []] == [seq - 2, seq - 1, seq]
    assert board.since(1, 5) is None  # beyond the history: a fresh snapshot
    assert board.since(1, seq + 1) is None  # a number of another switch run


def test_an_employee_sees_his_own_calls_and_state_only() -> None:
    board = LiveBoard()
    board.put_call(1, _call("mine", ringing=(7,)))
    board.put_call(1, _call("other", talker=8))
    board.flush()
    view = EmployeeView(7)
    snapshot = view.filter(board.snapshot(1))
    assert snapshot is not None
    assert [c["call_id"] for c in snapshot["calls"]] == ["mine"]
    assert snapshot["employees"] == [{"employee_id": 7, "state": "ringing"}]
    # another employee answers his call: it leaves his view; the others' calls never enter it
    board.put_call(1, _call("mine", talker=9))
    board.put_call(1, _call("other", step="Меню", talker=8))
    board.put_call(1, _call("new", ringing=(8,)))
    events = board.flush()[1]
    shown = [view.filter(e) for e in events]
    assert [(s["type"], s.get("call_id")) for s in shown if s] == [
        ("ended", "mine"),
        ("employee", None),
    ]
    board.end_call(1, "mine")
    board.end_call(1, "other")
    assert [view.filter(e) for e in board.flush()[1] if e["type"] == "ended"] == [None, None]


def test_a_supervisor_is_ringing_then_talking_while_he_takes_part() -> None:
    """TRN-1: the supervisor joining from the live view is shown as his phone rings and while
    he is in the talk, and free again when he leaves."""
    board = LiveBoard()
    board.put_call(1, _call(talker=7, answered_at=5.0))
    board.flush()

    def state_of(call: LiveCallState) -> dict[int, str]:
        board.put_call(1, call)
        return {
            e["employee"]["employee_id"]: e["employee"]["state"]
            for e in board.flush()[1]
            if e["type"] == "employee"
        }

    talk = _call(talker=7, answered_at=5.0)
    ringing = replace(talk, supervisor=9)
    assert state_of(ringing) == {9: "ringing"}
    assert state_of(replace(ringing, supervise_mode="whisper")) == {9: "talking"}
    assert board.snapshot(1)["calls"][0]["supervise_mode"] == "whisper"
    assert state_of(talk) == {9: "offline"}


def _at(day: str, clock: str) -> float:
    return dt.datetime.combine(
        dt.date.fromisoformat(day), dt.time.fromisoformat(clock), MSK
    ).timestamp()


#: Mon-Fri 09:00-18:00 by the Russian production calendar
OFFICE = ScheduleSpec(
    kind="weekly",
    weekly=tuple(
        WeeklyDay(
            weekday=d,
            intervals=(TimeInterval(start=dt.time(9), end=dt.time(18)),),
        )
        for d in range(1, 6)
    ),
    use_production_calendar=True,
)
#: employee 7 has lines 70, 71 and the office schedule; 8 has line 80 and no schedule
ROSTER = Roster(
    MSK,
    ProductionCalendar(),
    MappingProxyType({7: frozenset({70, 71}), 8: frozenset({80})}),
    MappingProxyType({7: OFFICE}),
)
MONDAY_NOON = _at("2026-12-07", "12:00")


def _employees(board: LiveBoard) -> dict[int, dict[str, object]]:
    return {
        e["employee"]["employee_id"]: e["employee"]
        for e in board.flush().get(1, [])
        if e["type"] == "employee"
    }


def test_a_line_registering_and_unregistering_moves_its_employee() -> None:
    board = LiveBoard()
    assert not board.set_line(1, 80, True)  # the roster is not known yet: no employee to move
    board.set_roster(1, ROSTER, MONDAY_NOON)
    assert _employees(board) == {8: {"employee_id": 8, "state": "registered"}}
    assert board.set_line(1, 70, True)
    assert not board.set_line(1, 70, True)  # the same: nothing changes
    board.set_line(1, 71, True)
    board.set_line(1, 70, False)  # his other line is still registered
    assert _employees(board) == {7: {"employee_id": 7, "state": "registered"}}
    board.set_line(1, 71, False)
    assert _employees(board) == {7: {"employee_id": 7, "state": "offline"}}
    snapshot = board.snapshot(1)
    assert snapshot["presence"] is True
    assert snapshot["employees"] == [{"employee_id": 8, "state": "registered"}]


def test_after_a_talk_the_employee_is_in_wrap_up_until_his_pause_ends() -> None:
    board = LiveBoard()
    board.set_roster(1, ROSTER, MONDAY_NOON)
    board.set_line(1, 80, True)
    board.flush()
    talk = replace(_call(talker=8, answered_at=MONDAY_NOON), wrapup_seconds=30.0)
    board.put_call(1, talk, MONDAY_NOON)
    assert _employees(board) == {8: {"employee_id": 8, "state": "talking"}}
    assert board.next_timer() is None
    board.end_call(1, "c1", MONDAY_NOON + 100)
    until = MONDAY_NOON + 130
    assert _employees(board) == {8: {"employee_id": 8, "state": "wrap_up", "until": until}}
    assert board.next_timer() == until
    assert "wrapup_seconds" not in board.snapshot(1)["employees"][0]
    assert not board.tick(until - 1, schedules=False)  # not yet
    assert board.tick(until, schedules=False)
    assert _employees(board) == {8: {"employee_id": 8, "state": "registered"}}
    assert board.next_timer() is None
    # a talk without a post-call pause leaves him free at once
    board.put_call(1, _call("c2", talker=8), until)
    assert _employees(board) == {8: {"employee_id": 8, "state": "talking"}}
    board.end_call(1, "c2", until + 5)
    assert _employees(board) == {8: {"employee_id": 8, "state": "registered"}}


def test_off_schedule_follows_the_clock_and_the_production_calendar() -> None:
    board = LiveBoard()
    board.set_roster(1, ROSTER, _at("2026-12-07", "08:59"))
    board.set_line(1, 70, True)
    assert _employees(board) == {7: {"employee_id": 7, "state": "off_schedule"}}
    assert board.tick(_at("2026-12-07", "09:00"))
    assert _employees(board) == {7: {"employee_id": 7, "state": "registered"}}
    assert not board.tick(_at("2026-12-07", "09:01"))  # the same: no event
    # 4 January 2027 is a Monday, and a New Year holiday by the Russian calendar
    assert board.tick(_at("2027-01-04", "12:00"))
    assert _employees(board) == {7: {"employee_id": 7, "state": "off_schedule"}}
    assert board.tick(_at("2027-01-11", "12:00"))  # a working Monday
    assert _employees(board) == {7: {"employee_id": 7, "state": "registered"}}


_ORDER = [
    EmployeeState.TALKING,
    EmployeeState.RINGING,
    EmployeeState.WRAP_UP,
    EmployeeState.OFF_SCHEDULE,
    EmployeeState.REGISTERED,
    EmployeeState.OFFLINE,
]


@given(
    talking=st.booleans(),
    ringing=st.booleans(),
    wrap_up=st.booleans(),
    off=st.booleans(),
    registered=st.booleans(),
)
def test_the_state_shown_is_the_first_that_holds(
    talking: bool, ringing: bool, wrap_up: bool, off: bool, registered: bool
) -> None:
    """talking > ringing > wrap-up > off schedule > registered > offline (docs/decisions.md),
    whatever order the facts arrive in."""
    board = LiveBoard()
    now = _at("2026-12-07", "20:00" if off else "12:00")
    board.set_roster(1, ROSTER, now)
    board.set_line(1, 70, registered)
    if wrap_up:
        board.put_call(1, replace(_call("w", talker=7), wrapup_seconds=60.0), now - 10)
        board.end_call(1, "w", now - 5)
    if ringing:
        board.put_call(1, _call("r", ringing=(7,)), now)
    if talking:
        board.put_call(1, _call("t", talker=7), now)
    board.flush()
    holds = [talking, ringing, wrap_up, off, registered, True]
    expected = _ORDER[holds.index(True)]
    shown = {e["employee_id"]: e["state"] for e in board.snapshot(1)["employees"]}
    assert shown.get(7, "offline") == expected.value


def test_a_call_is_sent_with_every_field_but_the_boards_own_wrap_up() -> None:
    """`as_json` is written field by field (for speed): a field added to the state and
    forgotten there would silently never reach the cabinet."""
    from dataclasses import asdict, fields

    call = LiveCallState(
        call_id="c1",
        caller="74957654321",
        number="74951112233",
        started_at=1.5,
        step="x",
        ringing=(3, 4),
        talker=5,
        answered_at=2.5,
        queue_place=2,
        supervisor=6,
        supervise_mode="listen",
        wrapup_seconds=30.0,
    )
    expected = {k: v for k, v in asdict(call).items() if k != "wrapup_seconds"}
    expected["ringing"] = [3, 4]
    assert call.as_json() == expected
    assert set(call.as_json()) == {f.name for f in fields(LiveCallState)} - {"wrapup_seconds"}
