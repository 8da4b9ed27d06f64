"""The call core (`CallLogic`) on a fake clock: the commands it answers to each event, with the
real distribution (in-process state) between its `Distribute` and its `DistAction`s."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.scenario.helpers import CALLER, NOW, NUMBER, Node, config
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, PhoneInfo

MOBILE = "79160000002"
OUTSIDE = "79035550000"

SIP_1 = PhoneInfo("p1", "sip", sip_line_id=11)
MOBILE_1 = PhoneInfo("p2", "number", number=MOBILE)
PEOPLE = (
    EmployeeInfo(1, "Иванов Иван", "101", ("p1", "p2"), phones=(SIP_1, MOBILE_1)),
    EmployeeInfo(2, "Петрова Анна", "102", ("p1",), phones=(PhoneInfo("p1", sip_line_id=12),)),
    EmployeeInfo(
        3, "Сидоров", "103", ("p1",), phones=(PhoneInfo("p1", "sip_uri", sip_uri="3@pbx.example"),)
    ),
)


def account(*ops: dict[str, Any], sip_uri: bool = False) -> ConfigSnapshot:
    base = config(list(ops))
    employees = {e.id: e for e in PEOPLE}
    return dataclasses.replace(base, employees=employees, sip_uri_allowed=sip_uri)


def forward(*targets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"key": "fwd", "kind": "forward", "targets": list(targets)}
    op.update(extra)
    return op


VOICEMAIL = {"key": "vm", "kind": "voicemail", "emails": ["boss@example.com"], "max_seconds": 30}


class Switch:
    """The switch's part for one call ("c1"), by hand: every phone is reachable; the
    distribution is real (`Node` with one call)."""

    def __init__(self, cfg: ConfigSnapshot) -> None:
        self.node = Node(cfg)
        self.node.call("c1", lambda _logic, _now: [])  # started by the test (`start`…)
        self.logic = self.node.calls["c1"]
        self.distributor = self.node.distributor
        self.commands = self.node.commands["c1"]

    @property
    def now(self) -> dt.datetime:
        return self.node.now

    @now.setter
    def now(self, value: dt.datetime) -> None:
        self.node.now = value

    def run(self, commands: list[io.Command]) -> list[io.Command]:
        """Carry out what needs no peer (phones found, the distribution) and keep the rest."""
        return self.node.run("c1", commands)

    def send(self, event: io.Input) -> list[io.Command]:
        return self.node.send("c1", event)

    def start(self) -> list[io.Command]:
        return self.run(self.logic.start(self.now))

    def later(self, seconds: float) -> list[io.Command]:
        out = self.node.later(seconds)
        timer = self.logic.next_timer()
        if timer is not None and timer <= self.now:
            out += self.send(io.TimerFired())
        return out


def of(kind: type[Any], commands: list[io.Command]) -> list[Any]:
    return [c for c in commands if isinstance(c, kind)]


def kinds(switch: Switch) -> list[str]:
    return [s.kind for s in switch.logic.details]


def test_a_forward_to_an_employee_and_a_number_rings_both_and_presents_the_virtual_number() -> None:
    switch = Switch(account(forward({"employee_id": 2}, {"number": OUTSIDE})))
    out = switch.start()
    [number] = of(io.RingNumber, out)
    [phone] = of(io.RingPhone, out)
    assert number.number == OUTSIDE
    assert number.caller_id == NUMBER  # XFR-2: never the caller's own number to the PSTN
    assert phone.employee_id == 2
    assert phone.caller_id == CALLER  # SIP lines see who calls
    # the outside number answers: the distribution lets the phone go, the engine bridges
    out = switch.send(io.RingAnswered(number.ring))
    assert of(io.ConnectCallee, out) == [io.ConnectCallee(number.ring)]
    cancels = [c.event for c in of(io.TellDistribution, out)]
    assert cancels == [dist.CallerHungUp("c1", answered_elsewhere=True)]
    assert "звонок принят на внешнем номере" in switch.logic.details[-1].text
    assert of(io.StopRing, out) == [io.StopRing(phone.ring)]
    switch.send(io.Connected())
    switch.now += dt.timedelta(seconds=7)
    switch.send(io.CalleeHungUp())
    summary = switch.logic.summary(switch.now)
    assert (summary.status, summary.talk_seconds) == ("answered", 7.0)


def test_a_number_phone_of_an_employee_is_shown_the_virtual_number() -> None:
    switch = Switch(account(forward({"employee_id": 1, "phone_id": "p2"})))
    [ring] = of(io.RingPhone, switch.start())
    assert (ring.phone.number, ring.caller_id) == (MOBILE, NUMBER)


def test_the_forward_fails_only_when_the_numbers_failed_and_the_distribution_gave_up() -> None:
    switch = Switch(
        account(
            forward({"employee_id": 2}, {"number": OUTSIDE}, exits={"no_answer": "vm"}),
            VOICEMAIL,
        )
    )
    out = switch.start()
    [number] = of(io.RingNumber, out)
    [phone] = of(io.RingPhone, out)
    out = switch.send(io.RingFailed(number.ring, 486))
    assert not of(io.StartRecording, out)  # the phone still rings
    out = switch.send(io.RingFailed(phone.ring, 480))
    assert "dial_failed" in kinds(switch)
    assert of(io.PlayToCaller, out)  # the voicemail greeting
    failed = next(s for s in switch.logic.details if s.kind == "dial_failed")
    assert f"{OUTSIDE}: 486" in failed.text


def test_a_refused_ring_is_explained_in_the_details() -> None:
    switch = Switch(account(forward({"number": OUTSIDE})))
    [number] = of(io.RingNumber, switch.start())
    data = (("rule", "destinations"), ("e164", OUTSIDE))
    switch.send(io.RingRefused(number.ring, "направление запрещено", "toll_fraud", data))
    step = next(s for s in switch.logic.details if s.kind == "toll_fraud")
    assert step.data == {"rule": "destinations", "e164": OUTSIDE}
    assert switch.logic.ended
    assert switch.logic.summary(switch.now).status == "missed"


def test_sip_uri_phones_ring_only_when_the_account_has_the_option() -> None:
    switch = Switch(account(forward({"employee_id": 3}), sip_uri=True))
    [ring] = of(io.RingPhone, switch.start())
    assert ring.phone.sip_uri == "3@pbx.example"
    refused = Switch(account(forward({"employee_id": 3}), sip_uri=False))
    refused.start()
    assert not of(io.RingPhone, refused.commands)
    assert any("XFR-3" in s.text for s in refused.logic.details)


def test_a_pickup_is_credited_to_the_employee_who_picked_up() -> None:
    switch = Switch(account(forward({"employee_id": 1, "phone_id": "p1"})))
    [ring] = of(io.RingPhone, switch.start())
    out = switch.send(io.RingAnswered(ring.ring, employee_id=2, phone_id="p1"))
    [told] = [c.event for c in of(io.TellDistribution, out)]
    assert told == dist.Answered("c1", 1, "p1", (2, "p1"))
    assert switch.logic.engine.answered_by == 2
    answered = [s for s in switch.logic.details if s.kind == "distribution" and "Петрова" in s.text]
    assert answered, [s.text for s in switch.logic.details]


def test_the_caller_hanging_up_while_recording_keeps_and_mails_the_message() -> None:
    switch = Switch(account(VOICEMAIL))
    switch.start()
    switch.send(io.PlaybackDone())  # the greeting
    assert of(io.StartRecording, switch.commands)
    out = switch.send(io.CallerHungUp())
    [stop] = of(io.StopRecording, out)
    assert stop.called == NUMBER
    assert not switch.logic.ended
    out = switch.send(io.RecordingSaved(55, 4.0))
    [mail] = of(io.SendVoicemail, out)
    assert mail.file_id == 55
    assert switch.logic.ended
    assert switch.logic.summary(switch.now).recording_file_ids == (55,)


def test_the_recording_stops_at_its_limit_on_the_fake_clock() -> None:
    switch = Switch(account(VOICEMAIL))
    switch.start()
    switch.send(io.PlaybackDone())
    assert switch.logic.next_timer() == NOW + dt.timedelta(seconds=30)
    assert not of(io.StopRecording, switch.later(29.9))
    assert of(io.StopRecording, switch.later(0.2))


def test_voicemail_after_a_forward_to_one_employee_is_his() -> None:
    switch = Switch(account(forward({"employee_id": 2}, exits={"no_answer": "vm"}), VOICEMAIL))
    [ring] = of(io.RingPhone, switch.start())
    switch.send(io.RingFailed(ring.ring, 486))
    switch.send(io.PlaybackDone())
    [stop] = of(io.StopRecording, switch.later(31))
    assert (stop.employee_id, stop.group_id) == (2, None)


def test_an_internal_call_to_a_group_extension_uses_the_groups_distribution() -> None:
    switch = Switch(account())
    switch.run(switch.logic.start_group(10, NOW))
    rung = [c.employee_id for c in of(io.RingPhone, switch.commands)]
    assert rung == [1]  # priority: the first member's first phone
    assert "группу 'Отдел продаж'" in switch.logic.details[0].text


EVENTS = st.sampled_from(
    [
        io.Digit("1"),
        io.PlaybackDone(),
        io.TimerFired(),
        io.RingAnswered(1),
        io.RingFailed(1, 486),
        io.RingFailed(2, 480),
        io.Connected(),
        io.CalleeHungUp(),
        io.RecordingSaved(None, 0.0),
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENTS, max_size=12))
def test_the_caller_hanging_up_in_any_state_ends_the_call_cleanly(events: list[Any]) -> None:
    switch = Switch(
        account(
            {
                "key": "menu",
                "kind": "menu",
                "exits": {"1": "fwd", "timeout": "vm"},
                "prompt_text": "Нажмите 1",
            },
            forward({"employee_id": 2}, {"number": OUTSIDE}, exits={"no_answer": "vm"}),
            VOICEMAIL,
        )
    )
    switch.start()
    for event in events:
        switch.now += dt.timedelta(seconds=1)
        switch.send(event)
    switch.now += dt.timedelta(seconds=1)
    out = switch.send(io.CallerHungUp())
    if of(io.StopRecording, out):
        switch.send(io.RecordingSaved(None, 0.0))
    switch.run(switch.logic.finish(switch.now))
    assert switch.logic.ended
    assert not switch.distributor.calls()  # the distribution holds nothing of the call
    assert any(isinstance(c, io.HangUp | io.RejectCall) for c in switch.commands)
    summary = switch.logic.summary(switch.now)
    assert summary.status in {"answered", "missed"}
