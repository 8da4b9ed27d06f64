"""CDR-4: the live board's snapshot and numbered, coalesced events (no clock, no I/O)."""

from __future__ import annotations

from dataclasses import replace

from vpbx.domain.live import HISTORY, EmployeeView, LiveBoard, LiveCallState


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
    assert board.snapshot(1) == {"type": "snapshot", "seq": 8, "calls": [], "employees": []}


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
