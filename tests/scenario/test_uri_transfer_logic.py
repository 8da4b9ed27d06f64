"""XFR-3 in the call core: a REFER naming another PBX's SIP URI is rung there when the account
has the option (the caller's own number shown: not a PSTN leg), is dialled by its user part
otherwise, and a URI the manual forbids is refused with the reason while the talk goes on."""

from __future__ import annotations

import dataclasses

from tests.scenario.helpers import CALLER
from tests.scenario.test_call_logic import of
from tests.scenario.test_transfer_logic import office, talking
from vpbx.scenario import call_io as io
from vpbx.scenario.snapshot import ConfigSnapshot


def with_uris() -> ConfigSnapshot:
    return dataclasses.replace(office(), sip_uri_allowed=True)


def test_a_refer_to_another_pbx_rings_its_sip_uri_showing_the_caller() -> None:
    switch, _ = talking(with_uris())
    out = switch.send(io.TransferAsked("7001", "7001@pbx.partner.example:5070"))
    assert of(io.HoldCaller, out)
    [ring] = of(io.RingUri, out)
    assert (ring.uri, ring.caller_id, ring.transfer) == (
        "7001@pbx.partner.example:5070",
        CALLER,
        True,
    )
    out = switch.send(io.RingAnswered(ring.ring))
    assert out.index(io.NotifyTransfer(200, "OK")) < out.index(io.CompleteTransfer(ring.ring))
    assert switch.logic.talker is None
    [done] = [d for d in switch.logic.details if d.kind == "transfer_done"]
    assert "SIP URI 7001@pbx.partner.example:5070" in done.text
    switch.send(io.CalleeHungUp())  # the other PBX's employee ends the talk
    assert switch.logic.engine.ended


def test_without_the_option_the_user_part_is_dialled_as_before() -> None:
    switch, _ = talking()  # sip_uri_allowed is off
    out = switch.send(io.TransferAsked("102", "102@pbx.partner.example"))
    assert not of(io.RingUri, out)
    [ring] = of(io.RingPhone, out)
    assert ring.employee_id == 2


def test_an_extension_of_the_account_wins_over_a_foreign_host() -> None:
    # a phone that names the PBX by another host name still reaches the colleague
    switch, _ = talking(with_uris())
    out = switch.send(io.TransferAsked("102", "102@pbx.other-name.example"))
    assert not of(io.RingUri, out)
    assert [r.employee_id for r in of(io.RingPhone, out)] == [2]


def test_a_uri_the_manual_forbids_is_notified_and_the_talk_goes_on() -> None:
    switch, _ = talking(with_uris())
    out = switch.send(io.TransferAsked("user_1", "user_1@pbx.partner.example"))
    assert not of(io.RingUri, out)
    [notify] = of(io.NotifyTransfer, out)
    assert notify.status == 404
    assert of(io.ReturnToEmployee, out)
    assert switch.logic.talking
    assert "user" in switch.logic.details[-1].text


def test_a_sip_uri_that_does_not_answer_returns_the_caller_to_the_employee() -> None:
    switch, _ = talking(with_uris())
    [ring] = of(io.RingUri, switch.send(io.TransferAsked("7001", "7001@10.0.0.5")))
    out = switch.send(io.RingFailed(ring.ring, 486))
    assert of(io.NotifyTransfer, out)[0].status == 486
    assert of(io.ReturnToEmployee, out)
    assert switch.logic.talker == 1
