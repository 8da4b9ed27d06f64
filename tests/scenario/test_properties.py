"""Properties: on random scenarios and random event sequences the engine never raises, time in
its details never goes back, and every call ends in a terminal action once the switch answers
its actions the plain way (prompts end, nobody answers, CRMs fail) — no caller input needed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scenario.helpers import CALLER, NOW, VIP_CALLER, Driver, config
from vpbx.domain.entities.addressbook import Segment
from vpbx.domain.entities.misc import CallStep
from vpbx.scenario.actions import Hangup, Reject
from vpbx.scenario.engine import CallState
from vpbx.scenario.events import (
    Answered,
    CallerHungUp,
    DialFailed,
    Digit,
    Event,
    HttpResponse,
    PlaybackDone,
    RecordingDone,
    TalkEnded,
    TimerFired,
)

KEYS = ["a", "b", "c", "d", "e"]
target = st.one_of(st.none(), st.sampled_from(KEYS))


def exits(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={n: target for n in names}).map(
        lambda d: {k: v for k, v in d.items() if v is not None}
    )


def operation(key: str) -> st.SearchStrategy[dict[str, Any]]:
    menu_exits = ["1", "2", "#", "timeout", "invalid", "extension_input"]
    return st.one_of(
        exits(["next"]).map(lambda e: {"key": key, "kind": "info", "text": "x", "exits": e}),
        exits(["yes", "no"]).map(
            lambda e: {
                "key": key,
                "kind": "auth",
                "code": "12",
                "inter_digit_timeout": 2,
                "exits": e,
            }
        ),
        exits(["next"]).map(
            lambda e: {"key": key, "kind": "voicemail", "emails": ["a@b.ru"], "exits": e}
        ),
        st.tuples(exits(menu_exits), st.booleans()).map(
            lambda p: {"key": key, "kind": "menu", "hash_returns": p[1], "exits": p[0]}
        ),
        exits(["no_answer"]).map(
            lambda e: {
                "key": key,
                "kind": "forward",
                "targets": [{"group_id": 10}],
                "rate_after_call": True,
                "exits": e,
            }
        ),
        st.tuples(exits(["failed", "invalid"]), st.booleans()).map(
            lambda p: {"key": key, "kind": "extension", "from_menu": p[1], "exits": p[0]}
        ),
        exits(["failed"]).map(lambda e: {"key": key, "kind": "personal_manager", "exits": e}),
        exits(["fallback"]).map(
            lambda e: {
                "key": key,
                "kind": "interactive",
                "url": "http://crm.local/x",
                "dtmf_length": 2,
                "codes": [{"code": 1, "target": "a"}],
                "exits": e,
            }
        ),
        exits(["first", "repeat"]).map(lambda e: {"key": key, "kind": "visit", "exits": e}),
        exits(["others"]).map(
            lambda e: {
                "key": key,
                "kind": "region",
                "branches": [{"region": "Москва", "target": "a"}],
                "exits": e,
            }
        ),
        exits(["no_segment", "others"]).map(
            lambda e: {
                "key": key,
                "kind": "segment",
                "branches": [{"segment_id": 50, "target": "b"}],
                "exits": e,
            }
        ),
        st.just({"key": key, "kind": "insert", "scenario_id": 1}),
    )


scenarios = st.tuples(*(operation(k) for k in KEYS)).map(list)

events: st.SearchStrategy[Event] = st.one_of(
    st.sampled_from("0123456789*#").map(Digit),
    st.just(PlaybackDone()),
    st.just(TimerFired()),
    st.builds(RecordingDone, st.one_of(st.none(), st.just(5)), st.floats(0, 100)),
    st.builds(Answered, st.sampled_from([1, 2, None]), st.just("p1")),
    st.builds(DialFailed, st.sampled_from(["busy", "no_answer"])),
    st.builds(TalkEnded, st.sampled_from(["employee", "caller"])),
    st.builds(
        HttpResponse,
        st.integers(0, 3),
        st.sampled_from([200, 500, None]),
        st.sampled_from(['{"returned_code": 1}', '{"phones": ["74951234567"]}', "nope", "{}"]),
    ),
    st.just(CallerHungUp()),
)
SEGMENTS = [
    (50, Segment.model_validate({"name": "VIP", "conditions": {"contact_group_ids": [30]}}))
]


def finish(d: Driver) -> None:
    """Answer what the call waits for the plain way, without caller input; the call must end."""
    replies: dict[CallState, Callable[[], Event]] = {
        CallState.PLAYING: PlaybackDone,
        CallState.COLLECTING: PlaybackDone,  # the prompt ends; then the input times out
        CallState.RECORDING: lambda: RecordingDone(None, 0),
        CallState.DIALING: lambda: DialFailed("no_answer"),
        CallState.WAITING_HTTP: lambda: HttpResponse(d.call._http_id, error="down"),
        CallState.TALKING: lambda: TalkEnded("caller"),
    }
    for _ in range(2000):
        if d.call.ended:
            return
        timer = d.call.get_timer()
        if timer is not None:
            d.advance((timer - d.now).total_seconds())
            continue
        reply = replies.get(d.call.state)
        if reply is None:
            raise AssertionError(f"the call is stuck in {d.call.state} after {d.texts()[-3:]}")
        d.send(reply())
    raise AssertionError("the call did not end")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=scenarios,
    caller=st.sampled_from([CALLER, VIP_CALLER, "74951234567", "12025550100", ""]),
    script=st.lists(st.tuples(events, st.floats(0, 30)), max_size=40),
)
def test_random_events_never_raise_and_every_call_ends(
    ops: list[dict[str, Any]], caller: str, script: list[tuple[Event, float]]
) -> None:
    d = Driver(config(ops, segments=SEGMENTS), now=NOW)
    d.arrive(caller)
    for event, gap in script:
        d.advance(gap)
        d.send(event)
    finish(d)
    assert d.call.ended
    assert isinstance(d.call.outcome, Hangup | Reject)
    assert d.call.get_timer() is None
    json.dumps([s.data for s in d.call.details])  # the details can be stored as they are
    for step in d.call.details:
        CallStep.model_validate(step.as_call_step("caller"))
    times = [s.at for s in d.call.details]
    assert times == sorted(times)
    terminal = [a for a in d.log if isinstance(a, Hangup | Reject)]
    assert len(terminal) == 1  # exactly one terminal action, and it is the last word
    assert d.send(Digit("1")) == []
    assert d.call.handle_timer(d.now + dt.timedelta(days=1)) == []
