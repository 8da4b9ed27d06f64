"""Bad input and faults on live calls, end to end with real peers.

The trunk caller (SIPp) gives up in every state of a call: while the employee's phone rings
(CANCEL), while queued behind a busy employee, during a prompt, while the employee who answered
hears the operator message (CANCEL, the caller not connected yet), during the rating prompt,
during a voicemail recording; the employee hangs up during the operator message. The SMTP
server is down when a voicemail is mailed. A phone answers with an SDP vpbx cannot use.
A trunk never answers an outgoing call and the phone gives up.

Each test shows that the call is cleaned up (no call, dialog, distribution claim or RTP port
left behind), that its calls-report row is written (GET /api/v1/calls) with the details saying
what happened, and that nothing else is affected: a normal call placed right after still works
end to end (the trunk calls, the employee's baresip answers, SIPp hears the employee's tone).
"""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import soundfile

from tests.peers.baresip import BaresipPhone
from tests.peers.ports import free_port
from tests.peers.rtp_pcap import silence, tone
from tests.peers.sipp import SCENARIOS, SippResult, SippServer, sipp_args, start_sipp
from tests.peers.trunk_caller import TrunkCaller, TrunkCallResult
from tests.switch.harness import (
    NUMBER,
    TRUNK_IP,
    RunningPbx,
    Setup,
    line_phone,
    running_pbx,
    tone_file,
)
from tests.switch.observe import api_get, details, heard
from vpbx.media.tones import dominant_frequency
from vpbx.services.entities import EntityService

CALLER_TONE = 500.0  # what the trunk caller says
EMPLOYEE_TONE = 1000.0  # what employee 1's phone says
SECOND_TONE = 1400.0  # what employee 2's phone says
CHECK_NUMBER = "74951112244"  # ruled to the plain Forward scenario: the call after the fault
OUTSIDE = "79161234567"
LONG_TEXT = (
    "Здравствуйте! Вы позвонили в компанию. Все разговоры записываются для контроля качества "
    "обслуживания. Пожалуйста, дождитесь ответа оператора, мы обязательно вам поможем. "
    "Спасибо, что выбрали нашу компанию, оставайтесь на линии."
)
VOICEMAIL_TO = ["boss@example.com"]


# -- the calls report over HTTP -------------------------------------------------------------------


def call_rows(pbx: RunningPbx) -> list[dict[str, Any]]:
    """Every row of the calls report of a finished call, oldest first (a call in progress has
    its row too, «Идёт», from its start)."""
    page = api_get(pbx, "/calls", limit=200)
    done = [row for row in page["items"] if row["status"] != "active"]
    return sorted(done, key=lambda row: row["id"])


def wait_rows(pbx: RunningPbx, count: int, timeout: float = 8) -> list[dict[str, Any]]:
    """Until the report holds `count` rows (the writer works in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = call_rows(pbx)
        if len(rows) >= count:
            assert len(rows) == count, rows
            return rows
        assert time.monotonic() < deadline, f"{len(rows)} rows, expected {count}: {rows}"
        time.sleep(0.2)


def kinds(steps: list[dict[str, Any]]) -> list[str]:
    return [step["kind"] for step in steps]


def show(steps: list[dict[str, Any]]) -> str:
    return "\n".join(f"{s['kind']}: {s['text']} {s['data']}" for s in steps)


def last_call(pbx: RunningPbx, timeout: float = 5) -> str:
    """The newest row and its details, once written (for failure messages)."""
    deadline = time.monotonic() + timeout
    rows = call_rows(pbx)
    while not rows and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = call_rows(pbx)
    if not rows:
        return "no row"
    return f"{rows[-1]}\n{show(details(pbx, rows[-1]['id']))}"


# -- the switch's own state -----------------------------------------------------------------------


def assert_cleaned_up(pbx: RunningPbx, timeout: float = 5) -> None:
    """No call, dialog, call logic, distribution claim or waiter, RTP port is left."""
    app = pbx.application
    assert app is not None

    async def leftovers() -> dict[str, Any]:
        state: Any = app.runner.distributor.state
        found = {
            "calls": list(app.pbx.calls),
            "dialogs": list(app.pbx.by_dialog),
            "call logic": list(app.runner.calls),
            "distributed": list(app.runner.distributor.calls()),
            # InProcessState: lines claimed and queue waiters
            "claimed lines": dict(getattr(state, "_busy", {})),
            "waiters": list(getattr(state, "_waiters", {})),
            "rtp ports": app.pbx.media.pairs_in_use,
        }
        return {name: value for name, value in found.items() if value}

    deadline = time.monotonic() + timeout
    while left := pbx.run(leftovers()):
        assert time.monotonic() < deadline, f"left behind: {left}"
        time.sleep(0.1)


# -- peers ----------------------------------------------------------------------------------------


def drain(phone: BaresipPhone) -> list[str]:
    """Forget the phone's events so far (returns their types)."""
    seen = []
    while not phone.events.empty():
        seen.append(str(phone.events.get_nowait().get("type")))
    return seen


class CancellingCaller(TrunkCaller):
    """The trunk caller that CANCELs `hold` seconds after the 180 (trunk_caller_cancels.xml)."""

    @property
    def scenario(self) -> Path:
        return SCENARIOS / "trunk_caller_cancels.xml"


def trunk_call(
    pbx: RunningPbx, workdir: Path, number: str, seconds: float, **kwargs: Any
) -> TrunkCaller:
    """A trunk caller saying CALLER_TONE for `seconds` (started by the `with` or `.start()`)."""
    return TrunkCaller(
        workdir, pbx.sip_port, number, [tone(CALLER_TONE, seconds)], ip=TRUNK_IP, **kwargs
    )


def check_call_works(
    pbx: RunningPbx,
    workdir: Path,
    phone: BaresipPhone,
    *,
    number: str = CHECK_NUMBER,
    employee_tone: float = EMPLOYEE_TONE,
    rows_before: int,
    manual: bool = False,
) -> dict[str, Any]:
    """After the fault: a trunk call, the employee's phone answers, each hears the other; the
    call's row is written as answered; then nothing is left. Returns the row."""
    stray = drain(phone)
    assert "CALL_INCOMING" not in stray, f"the phone rang for a call that was over: {stray}"
    with trunk_call(pbx, workdir, number, 3.0) as caller:
        try:
            if manual:
                phone.wait_event("CALL_INCOMING", timeout=15)
                phone.command("accept")
            phone.wait_event("CALL_ESTABLISHED", timeout=15)
        except AssertionError as error:
            caller.stop()
            raise AssertionError(
                f"the normal call after the fault was not taken:\n{last_call(pbx)}"
            ) from error
        result = caller.wait()
    phone.wait_event("CALL_CLOSED", timeout=10)
    result.assert_ok()
    assert result.received.seconds > 2.0, result.report()
    assert abs(dominant_frequency(result.samples[4000:]) - employee_tone) < 15
    assert abs(dominant_frequency(heard(phone)[4000:]) - CALLER_TONE) < 15
    row = wait_rows(pbx, rows_before + 1)[-1]
    assert row["status"] == "answered", row
    assert row["called"] == number
    assert_cleaned_up(pbx)
    return row


@contextmanager
def phones(*devices: BaresipPhone) -> Iterator[None]:
    try:
        yield
    finally:
        for device in devices:
            device.stop()


# -- configuration --------------------------------------------------------------------------------


def with_scenario(
    operations: list[dict[str, Any]], entry: str | None = None
) -> Callable[[EntityService, Setup], Any]:
    """NUMBER runs a scenario of `operations`; CHECK_NUMBER keeps the plain Forward to the
    group (for the call placed after the fault)."""

    async def customize(svc: EntityService, setup: Setup) -> None:
        scenario = await svc.create(
            "scenarios",
            {"name": "Fault", "entry": entry or operations[0]["key"], "operations": operations},
        )
        fault_id = scenario.model_dump()["id"]
        await svc.update("numbers", setup.number_id, {"rules": [{"scenario_id": fault_id}]})
        await svc.create(
            "numbers", {"number": CHECK_NUMBER, "rules": [{"scenario_id": setup.scenario_id}]}
        )

    return customize


def forward_op(setup: Setup, **extra: Any) -> dict[str, Any]:
    return {"key": "fwd", "kind": "forward", "targets": [{"group_id": setup.group_id}], **extra}


def forward_scenario(**extra: Any) -> Callable[[EntityService, Setup], Any]:
    """NUMBER runs a Forward to the group with `extra` settings (queue, operator message,
    rating...); CHECK_NUMBER keeps the plain one."""

    async def customize(svc: EntityService, setup: Setup) -> None:
        await with_scenario([forward_op(setup, **extra)])(svc, setup)

    return customize


# -- 1. the caller hangs up in every state --------------------------------------------------------


def test_caller_cancels_while_the_phone_rings(tmp_path: Path) -> None:
    """CANCEL while the employee's phone rings: the phone stops ringing (CALL_CLOSED), the
    trunk gets 200 for the CANCEL and 487 for the INVITE; the row is «missed»."""
    with running_pbx(tmp_path, customize=forward_scenario()) as pbx:
        phone = line_phone(
            pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE), answermode="manual"
        )
        with phones(phone):
            pbx.wait_registered(0)
            caller = CancellingCaller(
                tmp_path / "trunk", pbx.sip_port, NUMBER, [silence(1.0)], hold=2.0, ip=TRUNK_IP
            )
            with caller:
                phone.wait_event("CALL_INCOMING", timeout=15)
                result = caller.wait()
            result.assert_ok()
            phone.wait_event("CALL_CLOSED", timeout=10)
            [row] = wait_rows(pbx, 1)
            assert row["status"] == "missed", row
            assert row["direction"] == "incoming"
            assert row["answered_at"] is None
            assert row["talk_seconds"] == 0
            assert row["employee_id"] is None
            assert row["wait_seconds"] >= 1.5, row
            steps = details(pbx, row["id"])
            assert "caller_hangup" in kinds(steps), show(steps)
            assert_cleaned_up(pbx)
            check_call_works(pbx, tmp_path / "check", phone, rows_before=1, manual=True)


def test_caller_hangs_up_while_queued(tmp_path: Path) -> None:
    """The only employee talks on call A; call B waits in the queue (it hears the queue
    message) and hangs up: B's row is «missed», A goes on unaffected to its end."""
    forward = forward_scenario(distribution={"queue": True})
    with running_pbx(tmp_path, customize=forward) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
        with phones(phone):
            pbx.wait_registered(0)
            with trunk_call(pbx, tmp_path / "a", NUMBER, 14.0, hold=13.0) as call_a:
                phone.wait_event("CALL_ESTABLISHED", timeout=15)
                call_b = trunk_call(pbx, tmp_path / "b", NUMBER, 10.0, hold=4.0, timeout=20)
                result_b = call_b.start().wait()
                result_b.assert_ok()
                [row_b] = wait_rows(pbx, 1)
                disturbed = drain(phone)
                assert "CALL_INCOMING" not in disturbed, f"the busy phone rang: {disturbed}"
                result_a = call_a.wait()
            result_a.assert_ok()
            phone.wait_event("CALL_CLOSED", timeout=10)
            # B was answered to hear the queue message (speech), then left.
            assert result_b.received.seconds > 2.0, result_b.report()
            assert row_b["status"] == "missed", row_b
            assert row_b["employee_id"] is None
            steps = details(pbx, row_b["id"])
            assert any(s["data"].get("kind") == "queued" for s in steps), show(steps)
            assert "caller_hangup" in kinds(steps), show(steps)
            # A: the employee's tone to the end, and the employee heard A to the end.
            assert result_a.received.seconds > 11, result_a.report()
            assert abs(dominant_frequency(result_a.samples[-3 * 8000 :]) - EMPLOYEE_TONE) < 15
            assert abs(dominant_frequency(heard(phone)[-3 * 8000 :]) - CALLER_TONE) < 15
            rows = wait_rows(pbx, 2)
            # rows are numbered as calls start (A first), not as they end
            (row_a,) = [row for row in rows if row["id"] != row_b["id"]]
            assert row_a["status"] == "answered", row_a
            assert row_a["employee_id"] == pbx.lines[0].employee_id
            assert row_a["talk_seconds"] > 11, row_a
            assert_cleaned_up(pbx)
            check_call_works(pbx, tmp_path / "check", phone, rows_before=2)


@pytest.mark.parametrize("prompt", ["info", "menu"])
def test_caller_hangs_up_during_a_prompt(tmp_path: Path, prompt: str) -> None:
    """A long spoken prompt (InfoMessage text, or a Menu's prompt_text) before the forward:
    the caller hangs up 2 s into it; the phone never rings; the row is «missed»."""
    first: dict[str, Any]
    if prompt == "info":
        first = {"key": "hello", "kind": "info", "text": LONG_TEXT, "exits": {"next": "fwd"}}
    else:
        first = {
            "key": "hello",
            "kind": "menu",
            "prompt_text": LONG_TEXT,
            "timeout": 10,
            "exits": {"1": "fwd", "timeout": "fwd"},
        }

    async def customize(svc: EntityService, setup: Setup) -> None:
        await with_scenario([first, forward_op(setup)])(svc, setup)

    with running_pbx(tmp_path, customize=customize) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
        with phones(phone):
            pbx.wait_registered(0)
            result = trunk_call(pbx, tmp_path / "trunk", NUMBER, 3.0, hold=2.0).run()
            result.assert_ok()
            # It heard the prompt (speech, not a tone) until it hung up.
            assert result.received.seconds > 1.5, result.report()
            [row] = wait_rows(pbx, 1)
            assert row["status"] == "missed", row
            assert row["employee_id"] is None
            steps = details(pbx, row["id"])
            assert "caller_hangup" in kinds(steps), show(steps)
            assert "distribution" not in kinds(steps), show(steps)
            assert_cleaned_up(pbx)
            check_call_works(pbx, tmp_path / "check", phone, rows_before=1)


def test_employee_hangs_up_during_the_operator_message(tmp_path: Path) -> None:
    """The employee answers, hears the operator message and hangs up before the caller is
    connected: the call ends and the employee's phone is free for the next call (the
    distribution used to keep the answered phone claimed: «Все линии номера заняты»)."""
    forward = forward_scenario(operator_message_text=LONG_TEXT)
    with running_pbx(tmp_path, customize=forward) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
        with phones(phone):
            pbx.wait_registered(0)
            caller = trunk_call(pbx, tmp_path / "trunk", NUMBER, 3.0, hangs_up=False, timeout=10)
            with caller:
                phone.wait_event("CALL_ESTABLISHED", timeout=15)
                time.sleep(2)
                phone.command("hangup")
                phone.wait_event("CALL_CLOSED", timeout=10)
                caller.wait(timeout=10)  # the caller is refused (never connected)
            [row] = wait_rows(pbx, 1)
            assert row["talk_seconds"] == 0, row
            assert_cleaned_up(pbx)
            check_call_works(pbx, tmp_path / "check", phone, rows_before=1)


def test_caller_cancels_while_the_employee_hears_the_operator_message(tmp_path: Path) -> None:
    """The employee answered and hears the operator message (SCN-FWD) before the caller is
    connected; the caller, still unanswered, CANCELs: the employee's leg is hung up at once
    and the call is over (row written, nothing left). It used to be answered 200/487 and
    ignored: the employee was bridged to nobody."""
    forward = forward_scenario(operator_message_text=LONG_TEXT)
    with running_pbx(tmp_path, customize=forward) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
        with phones(phone):
            pbx.wait_registered(0)
            caller = CancellingCaller(
                tmp_path / "trunk", pbx.sip_port, NUMBER, [silence(1.0)], hold=3.0, ip=TRUNK_IP
            )
            with caller:
                phone.wait_event("CALL_ESTABLISHED", timeout=15)
                result = caller.wait()
            result.assert_ok()  # 200 for the CANCEL, 487 for the INVITE
            try:
                phone.wait_event("CALL_CLOSED", timeout=4)
                hung_up = True
            except AssertionError:
                hung_up = False  # left on a dead call: end it before failing (a clean stop)
                phone.command("hangup")
                phone.wait_event("CALL_CLOSED", timeout=10)
            [row] = wait_rows(pbx, 1)
            steps = details(pbx, row["id"])
            assert hung_up, f"the employee was left on the call after the CANCEL\n{show(steps)}"
            assert row["talk_seconds"] == 0, row
            assert "caller_hangup" in kinds(steps), show(steps)
            assert_cleaned_up(pbx)
            check_call_works(pbx, tmp_path / "check", phone, rows_before=1)


def test_caller_hangs_up_during_the_rating_prompt(tmp_path: Path) -> None:
    """The employee hangs up first; the caller hears the rating prompt and hangs up without
    rating: the row is «answered» by the employee, with no rating."""
    with running_pbx(tmp_path, customize=forward_scenario(rate_after_call=True)) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
        with phones(phone):
            pbx.wait_registered(0)
            with trunk_call(pbx, tmp_path / "trunk", NUMBER, 8.0, hold=6.0) as caller:
                phone.wait_event("CALL_ESTABLISHED", timeout=15)
                time.sleep(2)
                phone.command("hangup")
                phone.wait_event("CALL_CLOSED", timeout=10)
                result = caller.wait()
            result.assert_ok()
            [row] = wait_rows(pbx, 1)
            assert row["status"] == "answered", row
            assert row["employee_id"] == pbx.lines[0].employee_id
            assert row["rating"] is None
            assert 1.5 < row["talk_seconds"] < 4, row
            steps = details(pbx, row["id"])
            assert "caller_hangup" in kinds(steps), show(steps)
            # the caller heard the employee, then the prompt (speech) until he hung up
            assert result.received.seconds > 4.5, result.report()
            assert_cleaned_up(pbx)
            check_call_works(pbx, tmp_path / "check", phone, rows_before=1)


def voicemail_file(pbx: RunningPbx, row: dict[str, Any]) -> dict[str, Any]:
    """The row's voicemail in the file base: listed, with a duration, saying CALLER_TONE."""
    files = api_get(pbx, "/files", kind="voicemail")["items"]
    assert len(files) == 1, files
    [found] = files
    assert row["recording_file_ids"] == [found["id"]], (row, found)
    assert found["duration_seconds"] > 1.0, found
    audio = api_get(pbx, f"/files/{found['id']}/content", variant="converted")
    samples, rate = soundfile.read(io.BytesIO(audio.content), dtype="int16")
    assert rate == 8000
    assert abs(dominant_frequency(samples[2000:]) - CALLER_TONE) < 15
    return dict(found)


def leave_voicemail(pbx: RunningPbx, workdir: Path) -> tuple[TrunkCallResult, dict[str, Any]]:
    """The caller hears the greeting and the beep, says CALLER_TONE, hangs up mid-recording."""
    result = trunk_call(pbx, workdir, NUMBER, 12.0, hold=8.0).run()
    result.assert_ok()
    [row] = wait_rows(pbx, 1)
    return result, row


def voicemail_scenario() -> Callable[[EntityService, Setup], Any]:
    return with_scenario(
        [{"key": "vm", "kind": "voicemail", "emails": VOICEMAIL_TO, "max_seconds": 60}]
    )


def test_caller_hangs_up_during_the_voicemail_recording(tmp_path: Path) -> None:
    """Hanging up is how a voicemail ends: the recording is kept in the file base, the row
    lists it, the details have the «mail» step (SMTP is not configured here)."""
    with running_pbx(tmp_path, customize=voicemail_scenario()) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
        with phones(phone):
            pbx.wait_registered(0)
            result, row = leave_voicemail(pbx, tmp_path / "trunk")
            # the greeting (speech) and the 1 kHz beep were heard before the recording
            assert result.received.seconds > 2.0, result.report()
            assert row["status"] == "voicemail", row
            voicemail_file(pbx, row)
            steps = details(pbx, row["id"])
            assert "voicemail" in kinds(steps), show(steps)
            mail = [s for s in steps if s["kind"] == "mail"]
            assert mail, show(steps)
            assert "с записью" in mail[0]["text"], show(steps)
            assert VOICEMAIL_TO[0] in mail[0]["text"]
            assert_cleaned_up(pbx)
            check_call_works(pbx, tmp_path / "check", phone, rows_before=1)


# -- 2. the SMTP server is down -------------------------------------------------------------------


def test_voicemail_is_kept_when_the_smtp_server_is_down(tmp_path: Path) -> None:
    """Nobody listens on the SMTP port: three attempts (retry delays 0.2, 0.2) fail; the
    voicemail stays in the file base and the details say «не доставлено», attempts 3."""
    settings = {
        "smtp_host": "127.0.0.1",
        "smtp_port": free_port(),  # nobody listens there
        "smtp_retry_delays": "0.2,0.2",
    }
    with running_pbx(tmp_path, customize=voicemail_scenario(), settings=settings) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
        with phones(phone):
            pbx.wait_registered(0)
            _result, row = leave_voicemail(pbx, tmp_path / "trunk")
            voicemail_file(pbx, row)
            deadline = time.monotonic() + 10
            while True:  # the mail's result is added to the details after the row
                steps = details(pbx, row["id"])
                results = [s for s in steps if s["kind"] == "mail_result"]
                if results:
                    break
                assert time.monotonic() < deadline, show(steps)
                time.sleep(0.2)
            [outcome] = results
            assert "не доставлено" in outcome["text"], outcome
            assert outcome["data"]["delivered"] is False
            assert outcome["data"]["attempts"] == 3, outcome
            assert outcome["data"]["error"], outcome
            assert pbx.application is not None
            assert pbx.application.mailer.pending == 0
            assert_cleaned_up(pbx)
            check_call_works(pbx, tmp_path / "check", phone, rows_before=1)


# -- 3. a phone answers with a broken SDP ---------------------------------------------------------


def start_sipp_on(
    scenario: str, workdir: Path, port: int, *, target: str | None, extra: list[str]
) -> SippServer:
    """SIPp on a chosen local port (the registered line's contact)."""
    args = sipp_args(
        scenario,
        target,
        calls=1,
        rate=10,
        transport="u1",
        timeout=30,
        extra=extra,
        port=port,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return SippServer(process, workdir, "127.0.0.1", port)


def sipp_report(result: SippResult) -> str:
    return (
        f"exit {result.returncode}\n{result.stdout[-1500:]}\n{result.errors()}\n"
        + (result.messages()[-4000:])
    )


@pytest.mark.parametrize(
    "broken_line",
    ["m=audio 6000 RTP/AVP 18", "this is not SDP at all"],
    ids=["g729-only", "garbage"],
)
def test_a_phone_answering_with_a_broken_sdp_is_hung_up_and_the_next_one_rung(
    tmp_path: Path, broken_line: str
) -> None:
    """Employee 1's "phone" is SIPp: it answers 200 with an unusable SDP; vpbx ACKs and BYEs it
    and rings employee 2 (strategy priority); the caller talks to employee 2."""

    async def customize(svc: EntityService, setup: Setup) -> None:
        first, second = (employee["id"] for employee in setup.staff)
        targets = [{"employee_id": first}, {"employee_id": second}]
        await with_scenario(
            [{"key": "fwd", "kind": "forward", "targets": targets, "strategy": "priority"}]
        )(svc, setup)
        # The check call afterwards rings employee 2 only: SIPp is gone from employee 1's
        # registered contact by then.
        only_second = {"key": "fwd", "kind": "forward", "targets": [{"employee_id": second}]}
        await svc.replace(
            "scenarios",
            setup.scenario_id,
            {"name": "Forward", "entry": "fwd", "operations": [only_second]},
        )

    with running_pbx(tmp_path, employees=2, customize=customize) as pbx:
        line = pbx.lines[0]
        port = free_port()
        target = f"127.0.0.1:{pbx.sip_port}"
        registered = start_sipp_on(
            "line_register.xml",
            tmp_path / "register",
            port,
            target=target,
            extra=["-s", line.login, "-au", line.login, "-ap", line.password],
        ).finish(timeout=20)
        assert registered.returncode == 0, sipp_report(registered)
        pbx.wait_registered(0)
        uas = start_sipp_on(
            "phone_answers_broken_sdp.xml",
            tmp_path / "uas",
            port,
            target=None,
            extra=["-s", line.login, "-key", "broken_line", broken_line],
        )
        with uas:
            time.sleep(0.3)  # let SIPp bind its port again
            phone = line_phone(pbx, tmp_path, 1, tone_file(tmp_path / "e2.wav", SECOND_TONE))
            with phones(phone):
                pbx.wait_registered(1)
                with trunk_call(pbx, tmp_path / "trunk", NUMBER, 4.0) as caller:
                    phone.wait_event("CALL_ESTABLISHED", timeout=20)
                    result = caller.wait()
                phone.wait_event("CALL_CLOSED", timeout=10)
                broken = uas.finish(timeout=10)
                assert broken.returncode == 0, sipp_report(broken)
                messages = broken.messages()
                assert "ACK sip:" in messages, messages[-3000:]
                assert "BYE sip:" in messages, messages[-3000:]
                result.assert_ok()
                assert result.received.seconds > 3.0, result.report()
                assert abs(dominant_frequency(result.samples[4000:]) - SECOND_TONE) < 15
                [row] = wait_rows(pbx, 1)
                assert row["status"] == "answered", row
                assert row["employee_id"] == pbx.lines[1].employee_id, row
                steps = details(pbx, row["id"])
                failed = [
                    s
                    for s in steps
                    if s["data"].get("kind") == "ring_ended"
                    and s["data"].get("employee_id") == pbx.lines[0].employee_id
                ]
                assert failed, show(steps)
                assert "ошибка" in failed[0]["text"], show(steps)
                assert_cleaned_up(pbx)
                check_call_works(
                    pbx, tmp_path / "check", phone, employee_tone=SECOND_TONE, rows_before=1
                )


# -- 4. a trunk that never answers an outgoing call -----------------------------------------------


def test_an_outgoing_call_the_trunk_never_answers_is_cancelled(tmp_path: Path) -> None:
    """The phone dials out; the provider rings (100, 180) and never answers; the phone hangs up
    after 3 s: vpbx CANCELs toward the trunk; the row is outgoing and «missed»."""
    provider = start_sipp("provider_never_answers.xml", tmp_path / "provider", ip=TRUNK_IP)
    with provider:
        trunk = {"port": provider.port, "outbound": True}
        with running_pbx(tmp_path, trunk=trunk) as pbx:
            phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
            with phones(phone):
                pbx.wait_registered(0)
                phone.command("dial", f"sip:{OUTSIDE}@127.0.0.1:{pbx.sip_port}")
                phone.wait_event("CALL_RINGING", timeout=15)
                time.sleep(3)
                phone.command("hangup")
                phone.wait_event("CALL_CLOSED", timeout=10)
                cancelled = provider.finish(timeout=15)
                assert cancelled.returncode == 0, sipp_report(cancelled)
                assert "CANCEL sip:" in cancelled.messages()
                [row] = wait_rows(pbx, 1)
                assert row["direction"] == "outgoing", row
                assert row["status"] == "missed", row
                assert row["called"] == OUTSIDE
                assert row["employee_id"] == pbx.lines[0].employee_id
                assert row["answered_at"] is None
                assert row["wait_seconds"] >= 2.5, row
                steps = details(pbx, row["id"])
                rings = [s for s in steps if s["kind"] == "ring"]
                assert len(rings) == 1, show(steps)
                assert "не ответил (487)" in rings[0]["text"], show(steps)
                assert_cleaned_up(pbx)
                check_call_works(pbx, tmp_path / "check", phone, number=NUMBER, rows_before=1)
