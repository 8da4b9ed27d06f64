"""Every operation with every exit (SCN-*): table-driven; the clock is fake (Driver.advance)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.scenario.helpers import CALLER, NOW, VIP_CALLER, Driver, config, scenario
from vpbx.domain.entities.addressbook import Segment
from vpbx.domain.regions import NumberRange
from vpbx.scenario.actions import (
    Bridge,
    CancelDial,
    CollectDigits,
    Dial,
    DialTarget,
    Hangup,
    OfferTagging,
    Play,
    Record,
    SendMail,
    StoreRating,
)
from vpbx.scenario.engine import CallState
from vpbx.scenario.events import (
    Answered,
    CallerHungUp,
    DialFailed,
    Digit,
    RecordingDone,
    TalkEnded,
)
from vpbx.scenario.snapshot import CallerFacts, PastContact

END = {"key": "end_yes", "kind": "info", "text": "yes"}


def ends(key: str) -> dict[str, Any]:
    return {"key": key, "kind": "info", "text": key}


def at_op(d: Driver) -> str | None:
    op = d.call._op
    return op.key if op is not None else None


# -- Authorization (SCN-AUTH) ---------------------------------------------------------------

AUTH = [
    {
        "key": "auth",
        "kind": "auth",
        "code": "4321",
        "inter_digit_timeout": 3,
        "exits": {"yes": "ok", "no": "bad"},
    },
    ends("ok"),
    ends("bad"),
]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("4321", "ok"),  # input ends when the interval elapses
        ("4321#", "ok"),  # or at #
        ("1234", "bad"),
        ("43210", "bad"),  # longer is wrong
        ("432", "bad"),
        ("", "bad"),  # nothing entered
    ],
    ids=["right", "right-hash", "wrong", "longer", "shorter", "nothing"],
)
def test_authorization_exits(keys: str, expected: str) -> None:
    d = Driver(config(AUTH))
    d.arrive()
    d.played()
    d.keys(keys)
    d.advance(3)
    assert at_op(d) == expected
    shown = [t for t in d.texts() if t.startswith("авторизация")]
    assert shown
    assert "4321" not in shown[0]


def test_authorization_interval_is_between_digits() -> None:
    d = Driver(config(AUTH))
    d.arrive()
    d.played()
    d.keys("43", gap=2.9)
    d.keys("21", gap=2.9)
    d.advance(2.9)
    assert at_op(d) == "auth"
    d.advance(0.2)
    assert at_op(d) == "ok"


def test_authorization_default_prompt_is_spoken() -> None:
    out = Driver(config(AUTH)).arrive()
    assert isinstance(out[1], Play)
    assert out[1].text


# -- Voicemail (SCN-VM) ---------------------------------------------------------------------

VM = [{"key": "vm", "kind": "voicemail", "emails": ["boss@example.com"], "max_seconds": 60}]


@pytest.mark.parametrize(
    ("recorded", "file_id"),
    [(RecordingDone(55, 12.5), 55), (RecordingDone(None, 0.0), None)],
    ids=["message-left", "nothing-left"],
)
def test_voicemail_mails_even_when_nothing_was_recorded(
    recorded: RecordingDone, file_id: int | None
) -> None:
    d = Driver(config(VM), now=dt.datetime(2025, 3, 12, 7, 5, 9, tzinfo=dt.UTC))
    out = d.arrive()
    assert out[1] == Play(system="voicemail_greeting")
    assert d.played() == [Record(60)]
    d.advance(20)
    out = d.send(recorded)
    # subject = caller number + the call's time (account zone: 10:05:09 in Moscow)
    assert out[0] == SendMail(("boss@example.com",), f"{CALLER} 12.03.2025 10:05:09", file_id)
    assert isinstance(out[1], Hangup)
    assert out[1].status == "voicemail"


def test_voicemail_caller_hangs_up_while_recording_still_mails() -> None:
    d = Driver(config(VM))
    d.arrive()
    d.played()
    out = d.send(CallerHungUp())
    assert isinstance(out[0], SendMail)
    assert out[0].file_id is None
    assert isinstance(out[-1], Hangup)


def test_voicemail_caller_hangs_up_during_the_greeting_still_mails() -> None:
    d = Driver(config(VM))
    d.arrive()  # the greeting is playing: nothing recorded yet
    out = d.send(CallerHungUp())
    assert isinstance(out[0], SendMail)
    assert out[0].file_id is None
    assert out[0].to == ("boss@example.com",)
    assert isinstance(out[-1], Hangup)
    assert out[-1].status == "voicemail"


def test_voicemail_next_exit() -> None:
    ops = [{**VM[0], "exits": {"next": "bye"}}, ends("bye")]
    d = Driver(config(ops))
    d.arrive()
    d.played()
    d.send(RecordingDone(1, 3))
    assert at_op(d) == "bye"


def test_voicemail_own_prompt() -> None:
    ops = [{**VM[0], "prompt_file_id": 100}]
    out = Driver(config(ops)).arrive()
    assert out[1] == Play(file_ids=(100,))


# -- Info message (SCN-INFO) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("linked", "expected"), [(True, "next_op"), (False, None)], ids=["next", "unlinked-ends"]
)
def test_info_message(linked: bool, expected: str | None) -> None:
    info: dict[str, Any] = {"key": "info", "kind": "info", "file_ids": [100, 101], "text": "Привет"}
    if linked:
        info["exits"] = {"next": "next_op"}
    d = Driver(config([info, ends("next_op")]))
    out = d.arrive()
    assert out[1] == Play(file_ids=(100, 101), text="Привет")
    d.played()
    if expected is None:
        assert d.outcome is not None
        assert d.outcome.reason == "unlinked_exit"
    else:
        assert at_op(d) == expected
    assert "проигрывание: 'hello.wav', '10sec.mp3', текст «Привет»" in d.texts()


# -- Forward (SCN-FWD) ----------------------------------------------------------------------

FWD: dict[str, Any] = {
    "key": "fwd",
    "kind": "forward",
    "targets": [{"group_id": 10}, {"employee_id": 1, "phone_id": "p1"}, {"number": "74951112233"}],
    "strategy": "fastest",
    "ringback_file_ids": [101],
    "distribution": {"queue": True, "ring_timeout": 25, "wrapup_seconds": 30},
    "queue_message_file_id": 100,
    "operator_message_text": "Звонок с сайта",
    "exits": {"no_answer": "vm"},
}


def forward_call(**changes: Any) -> Driver:
    op = {**FWD, **changes}
    d = Driver(config([op, {"key": "vm", "kind": "voicemail", "emails": ["a@b.ru"]}]))
    d.arrive()
    return d


def test_forward_emits_dial_with_everything_the_distribution_needs() -> None:
    d = Driver(config([FWD, ends("vm")]))
    out = d.arrive()
    assert out[1] == Dial(
        (
            DialTarget(group_id=10),
            DialTarget(employee_id=1, phone_id="p1"),
            DialTarget(number="74951112233"),
        ),
        operation="fwd",
        scenario_id=1,
        strategy="fastest",
        ring_timeout=25,
        queue=True,
        wrapup_seconds=30,
        ringback_file_ids=(101,),
        queue_message_file_id=100,
        operator_message_text="Звонок с сайта",
    )


def test_forward_operator_file_beats_text() -> None:
    d = Driver(config([{**FWD, "operator_message_file_id": 102}, ends("vm")]))
    dial = d.arrive()[1]
    assert isinstance(dial, Dial)
    assert dial.operator_message_file_id == 102
    assert dial.operator_message_text == ""


def test_forward_answered_bridges_and_ends_after_the_talk() -> None:
    d = forward_call()
    assert d.send(Answered(1, "p1")) == [Bridge(1, "p1")]
    out = d.send(TalkEnded("caller"))
    assert isinstance(out[-1], Hangup)
    assert out[-1].status == "answered"
    assert "ответил Иванов Иван (телефон p1)" in d.texts()


def test_forward_nobody_answered_takes_the_exit() -> None:
    d = forward_call()
    d.send(DialFailed("no_answer", ("Иванов Иван: не ответил", "Петрова Анна: занят")))
    assert at_op(d) == "vm"
    assert any("Петрова Анна: занят" in t for t in d.texts())


def test_forward_without_exit_ends_the_call() -> None:
    d = forward_call(exits={})
    d.send(DialFailed("no_answer"))
    assert d.outcome is not None
    assert d.outcome.reason == "unlinked_exit"


def test_forward_caller_hangs_up_while_ringing_cancels() -> None:
    d = forward_call()
    out = d.send(CallerHungUp())
    assert out[0] == CancelDial()
    assert isinstance(out[1], Hangup)


@pytest.mark.parametrize(
    ("op_rates", "employee", "expected"),
    [
        (True, 1, True),  # the operation asks for a rating
        (False, 2, True),  # Петрова has "rate after call"
        (False, 1, False),
    ],
    ids=["operation", "employee", "neither"],
)
def test_rating_after_the_talk(op_rates: bool, employee: int, expected: bool) -> None:
    d = forward_call(rate_after_call=op_rates)
    d.send(Answered(employee, "p1"))
    out = d.send(TalkEnded("employee"))
    if not expected:
        assert isinstance(out[-1], Hangup)
        return
    assert Play(system="rate_prompt", barge_in=True) in out
    assert CollectDigits(1, 10.0, "") in out
    d.advance(1)
    out = d.send(Digit("4"))
    assert StoreRating(employee, 4) in out
    assert isinstance(out[-1], Hangup)
    assert d.call.rating == 4


def test_rating_ignores_other_keys_and_times_out() -> None:
    d = forward_call(rate_after_call=True)
    d.send(Answered(1, "p1"))
    d.send(TalkEnded("employee"))
    assert d.send(Digit("9")) == []
    out = d.advance(10)
    assert isinstance(out[-1], Hangup)
    assert d.call.rating is None


def test_no_rating_when_the_caller_hangs_up() -> None:
    d = forward_call(rate_after_call=True)
    d.send(Answered(1, "p1"))
    out = d.send(TalkEnded("caller"))
    assert isinstance(out[-1], Hangup)


def test_tagging_is_offered_after_the_talk() -> None:
    d = forward_call(tag_after_call=True)
    d.send(Answered(2, "p1"))
    assert OfferTagging(2) in d.send(TalkEnded("caller"))


# -- Forward to extension, standalone (SCN-EXT) ---------------------------------------------

EXT = [
    {
        "key": "ext",
        "kind": "extension",
        "inter_digit_timeout": 4,
        "ringback_file_ids": [101],
        "exits": {"failed": "ctl", "invalid": "wrong"},
    },
    ends("ctl"),
    ends("wrong"),
]


@pytest.mark.parametrize(
    ("keys", "event", "expected"),
    [
        ("101", Answered(1, "p1"), CallState.TALKING),
        ("101", DialFailed("busy"), "ctl"),
        ("200", DialFailed("no_answer"), "ctl"),
        ("999", None, "wrong"),
        ("", None, "wrong"),
    ],
    ids=["answered", "failed", "group-failed", "not-found", "nothing"],
)
def test_extension_exits(keys: str, event: Any, expected: Any) -> None:
    d = Driver(config(EXT))
    d.arrive()
    d.played()
    d.keys(keys)
    d.advance(4)
    if event is not None:
        d.send(event)
    if isinstance(expected, CallState):
        assert d.call.state is expected
    else:
        assert at_op(d) == expected


def test_extension_rings_the_employee_with_ringback() -> None:
    d = Driver(config(EXT))
    d.arrive()
    d.played()
    out = d.keys("102#")
    assert Dial((DialTarget(employee_id=2),), "ext", 1, ringback_file_ids=(101,)) in out


def test_standalone_extension_not_found_unlinked_ends_the_call() -> None:
    ops = [{**EXT[0], "exits": {}}]
    d = Driver(config(ops))
    d.arrive()
    d.played()
    d.keys("999#")
    assert d.outcome is not None
    assert d.outcome.reason == "unlinked_exit"


# -- Personal manager (SCN-PM) --------------------------------------------------------------

PM = [
    {"key": "pm", "kind": "personal_manager", "ring_timeout": 15, "exits": {"failed": "dept"}},
    ends("dept"),
]


@pytest.mark.parametrize(
    ("caller", "event", "expected"),
    [
        (VIP_CALLER, Answered(2, "p1"), CallState.TALKING),
        (VIP_CALLER, DialFailed("busy"), "dept"),  # manager busy / does not answer
        ("79990000002", None, "dept"),  # a contact without a manager
        ("79990000003", None, "dept"),  # a manager who is no longer an employee
        (CALLER, None, "dept"),  # not in the address book
    ],
    ids=["answers", "busy", "no-manager", "manager-gone", "unknown-caller"],
)
def test_personal_manager_exits(caller: str, event: Any, expected: Any) -> None:
    d = Driver(config(PM))
    out = d.arrive(caller)
    if caller == VIP_CALLER:
        assert out[1] == Dial((DialTarget(employee_id=2),), "pm", 1, ring_timeout=15)
    if event is not None:
        d.send(event)
    if isinstance(expected, CallState):
        assert d.call.state is expected
    else:
        assert at_op(d) == expected


# -- Insert scenario (SCN-INS) --------------------------------------------------------------


def test_insert_runs_the_other_scenario() -> None:
    common = scenario([{"key": "hi", "kind": "info", "text": "общая часть"}], name="Общий")
    cfg = config([{"key": "ins", "kind": "insert", "scenario_id": 2}], scenarios=[(2, common)])
    d = Driver(cfg)
    out = d.arrive()
    assert out[1] == Play(text="общая часть")
    assert "вставка сценария 'Общий'" in d.texts()


def test_insert_cycle_at_run_time_is_stopped() -> None:
    loop = scenario([{"key": "back", "kind": "insert", "scenario_id": 1}], name="Цикл")
    cfg = config([{"key": "ins", "kind": "insert", "scenario_id": 2}], scenarios=[(2, loop)])
    d = Driver(cfg)
    out = d.arrive()
    assert isinstance(out[-1], Hangup)
    assert out[-1].reason == "loop"


# -- Distribution by visit number (SCN-VISIT) -----------------------------------------------

VISIT = [
    {"key": "v", "kind": "visit", "interval_hours": 48, "exits": {"first": "f", "repeat": "r"}},
    ends("f"),
    ends("r"),
]


def past(hours_ago: float, kind: str = "call") -> PastContact:
    return PastContact(NOW - dt.timedelta(hours=hours_ago), kind)


@pytest.mark.parametrize(
    ("history", "all_kinds", "expected"),
    [
        ((), False, "f"),
        ((past(5),), False, "r"),
        ((past(49),), False, "f"),  # outside the interval
        ((past(5, "lead"),), False, "f"),  # only calls count by default
        ((past(5, "lead"),), True, "r"),  # "count all communication types"
    ],
    ids=["never", "recent-call", "old-call", "lead-not-counted", "lead-counted"],
)
def test_visit_exits(history: tuple[PastContact, ...], all_kinds: bool, expected: str) -> None:
    ops = [{**VISIT[0], "count_all_communications": all_kinds}, *VISIT[1:]]
    d = Driver(config(ops), facts=CallerFacts(past=history))
    d.arrive()
    assert at_op(d) == expected


# -- Distribution by region (SCN-REGION) ----------------------------------------------------

REGION = [
    {
        "key": "reg",
        "kind": "region",
        "branches": [
            {"region": "Москва", "target": "msk"},
            {"region": "Московская обл.", "target": "mo"},
            {"region": "Свердловская область", "target": "ekb"},
            {"region": "Санкт-Петербург"},
        ],
        "exits": {"others": "rest"},
    },
    ends("msk"),
    ends("mo"),
    ends("ekb"),
    ends("rest"),
]
EKB_MOBILE = NumberRange(912, 0, 9999999, "МТС", "Свердловская обл.")


@pytest.mark.parametrize(
    ("caller", "ranges", "expected"),
    [
        ("74951234567", (), "msk"),  # 495 is Moscow (phonenumbers says oblast: corrected)
        ("74961234567", (), "mo"),  # 496 is the oblast
        ("73432123456", (), "ekb"),  # a landline by phonenumbers
        ("79121234567", (EKB_MOBILE,), "ekb"),  # a mobile by the numbering plan
        ("79161234567", (), "rest"),  # a mobile without the plan: unknown
        ("12025550100", (), "rest"),  # abroad
        ("78121234567", (), None),  # a branch without a target ends the call
    ],
    ids=["495", "496", "landline", "mobile-plan", "mobile-unknown", "foreign", "unlinked-branch"],
)
def test_region_exits(caller: str, ranges: tuple[NumberRange, ...], expected: str | None) -> None:
    d = Driver(config(REGION), facts=CallerFacts(ranges=ranges))
    d.arrive(caller)
    if expected is None:
        assert d.outcome is not None
        assert d.outcome.reason == "unlinked_exit"
    else:
        assert at_op(d) == expected


# -- Distribution by segment (SCN-SEGMENT) --------------------------------------------------

SEGMENTS = [
    (50, Segment.model_validate({"name": "VIP", "conditions": {"contact_group_ids": [30]}})),
    (51, Segment.model_validate({"name": "Москва", "conditions": {"regions": ["г. Москва"]}})),
    (52, Segment.model_validate({"name": "Частые", "conditions": {"min_visits": 3}})),
    (53, Segment.model_validate({"name": "Питер", "conditions": {"numbers": ["7812*"]}})),
]
SEGMENT = [
    {
        "key": "seg",
        "kind": "segment",
        "branches": [
            {"segment_id": 50, "target": "vip"},
            {"segment_id": 51, "target": "msk"},
            {"segment_id": 52, "target": "often"},
        ],
        "exits": {"no_segment": "none", "others": "rest"},
    },
    ends("vip"),
    ends("msk"),
    ends("often"),
    ends("none"),
    ends("rest"),
]


@pytest.mark.parametrize(
    ("caller", "history", "expected"),
    [
        (VIP_CALLER, (), "vip"),
        ("74951234567", (), "msk"),
        (CALLER, (past(1), past(2), past(3)), "often"),
        (CALLER, (past(1),), "none"),  # in no segment at all
        ("78121234567", (), "rest"),  # in a segment the operation has no branch for
    ],
    ids=["contact-group", "region", "visits", "no-segment", "others"],
)
def test_segment_exits(caller: str, history: tuple[PastContact, ...], expected: str) -> None:
    d = Driver(config(SEGMENT, segments=SEGMENTS), facts=CallerFacts(past=history))
    d.arrive(caller)
    assert at_op(d) == expected


# -- every state: the caller hangs up -------------------------------------------------------

STATES: list[tuple[str, list[dict[str, Any]], Callable[[Driver], object]]] = [
    ("playing", [ends("x")], lambda d: None),
    ("collecting", AUTH, lambda d: d.played()),
    ("dialing", [FWD, ends("vm")], lambda d: None),
    ("talking", [FWD, ends("vm")], lambda d: d.send(Answered(1, "p1"))),
]


@pytest.mark.parametrize(("name", "ops", "setup"), STATES, ids=[s[0] for s in STATES])
def test_caller_hangs_up_in_any_state(
    name: str, ops: list[dict[str, Any]], setup: Callable[[Driver], object]
) -> None:
    d = Driver(config(ops))
    d.arrive()
    setup(d)
    out = d.send(CallerHungUp())
    assert isinstance(out[-1], Hangup)
    assert d.call.ended
    assert d.call.get_timer() is None
    assert d.send(Digit("1")) == []  # nothing after the end


def test_an_account_override_of_a_system_message_is_named() -> None:
    cfg = config(VM)
    cfg = type(cfg)(
        **{
            **{f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
            "system_files": {"voicemail_greeting": 100},
        }
    )
    d = Driver(cfg)
    d.arrive()
    assert any("файл аккаунта 'hello.wav'" in t for t in d.texts())
