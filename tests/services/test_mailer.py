"""Voicemail mail against a real SMTP server (aiosmtpd on loopback), also while it is down."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import logging
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile as sf
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from tests.peers.ports import free_port
from vpbx.services.mailer import (
    NOT_CONFIGURED,
    Mailer,
    MailResult,
    SmtpSettings,
    parse_retry_delays,
    voicemail_subject,
)
from vpbx.settings import Settings

AT = datetime(2026, 11, 26, 10, 15, 0, tzinfo=ZoneInfo("Europe/Moscow"))
CALLER = "79161234567"
CALLED = "74951112233"
SENDER = "vpbx@pbx.example.ru"


class Inbox:
    """aiosmtpd handler keeping what arrived (it runs in the controller's thread)."""

    def __init__(self, refuse_recipients: bool = False) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []
        self.refuse_recipients = refuse_recipients

    async def handle_RCPT(
        self, server: object, session: object, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_recipients:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)  # decode_data=False, aiosmtpd's default
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(content, policy=email.policy.default)
            for _, _, content in self.envelopes
        ]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def server(inbox: Inbox) -> Iterator[Controller]:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    # Noise rather than a tone: a truncated or re-encoded attachment cannot match by accident.
    samples = np.random.default_rng(7).integers(-20000, 20000, size=4000, dtype=np.int16)
    path = tmp_path / "message.wav"
    sf.write(path, samples, 8000, subtype="PCM_16")
    return path


class Sleeps:
    """The injected sleep: records each delay instead of waiting it."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def settings(port: int, **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": SENDER,
        "timeout": 2.0,
        "retry_delays": (5, 30, 120),
    }
    values.update(overrides)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def mailer_records(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "vpbx.services.mailer" and r.getMessage() == message
    ]


async def test_voicemail_with_the_recording_arrives_as_a_wav_attachment(
    server: Controller, inbox: Inbox, wav: Path
) -> None:
    mailer = Mailer(settings(server.port))
    subject = voicemail_subject(CALLER, AT)
    message = mailer.voicemail_message(
        ["boss@example.ru", "deputy@example.ru"], subject, CALLER, CALLED, AT, wav
    )

    result = await mailer.send(message)

    assert result == MailResult(True, 1, "")
    [(mail_from, rcpt_tos, _)] = inbox.envelopes
    assert mail_from == SENDER
    assert rcpt_tos == ["boss@example.ru", "deputy@example.ru"]
    [received] = inbox.messages()
    assert received["Subject"] == subject
    assert CALLER in subject
    assert "26.11.2026 10:15:00" in subject
    assert received["To"] == "boss@example.ru, deputy@example.ru"
    body = received.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Голосовое сообщение от 79161234567 на 74951112233, 26.11.2026 10:15:00" in text
    assert "Voicemail from 79161234567" in text
    assert "не оставил" not in text
    [attachment] = list(received.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_filename() == "voicemail-79161234567-20261126-101500.wav"
    got, rate = sf.read(io.BytesIO(attachment.get_content()), dtype="int16")
    sent, sent_rate = sf.read(wav, dtype="int16")
    assert rate == sent_rate == 8000
    assert np.array_equal(got, sent)


async def test_a_mail_is_sent_when_the_caller_left_nothing(
    server: Controller, inbox: Inbox
) -> None:
    mailer = Mailer(settings(server.port))
    message = mailer.voicemail_message(
        "boss@example.ru", voicemail_subject(CALLER, AT), CALLER, CALLED, AT, None
    )

    result = await mailer.send(message)

    assert result.delivered
    [received] = inbox.messages()
    assert list(received.iter_attachments()) == []
    body = received.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Абонент не оставил сообщения / The caller left no message" in text
    assert CALLER in text


async def test_a_server_that_is_down_is_retried_after_each_delay_then_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nobody listens there
    sleeps = Sleeps()
    mailer = Mailer(settings(port), sleep=sleeps)
    message = mailer.voicemail_message("boss@example.ru", "s", CALLER, CALLED, AT, None)

    with caplog.at_level(logging.WARNING, logger="vpbx.services.mailer"):
        result = await mailer.send(message)

    assert sleeps.delays == [5, 30, 120]
    assert not result.delivered
    assert result.attempts == 4
    assert "SMTPConnect" in result.error
    assert str(port) in result.error
    failures = mailer_records(caplog, "voicemail mail failed")
    assert [r.attempt for r in failures] == [1, 2, 3, 4]  # type: ignore[attr-defined]
    assert [r.retry_in for r in failures] == [5, 30, 120, None]  # type: ignore[attr-defined]
    assert all(r.levelno == logging.WARNING and str(port) in r.error for r in failures)  # type: ignore[attr-defined]


async def test_a_server_that_comes_up_before_the_retry_gets_the_mail(
    inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    delays: list[float] = []

    async def start_server_instead_of_sleeping(delay: float) -> None:
        delays.append(delay)
        await asyncio.to_thread(controller.start)

    mailer = Mailer(settings(controller.port), sleep=start_server_instead_of_sleeping)
    message = mailer.voicemail_message("boss@example.ru", "s", CALLER, CALLED, AT, None)
    try:
        with caplog.at_level(logging.INFO, logger="vpbx.services.mailer"):
            result = await mailer.send(message)
    finally:
        if delays:
            controller.stop()

    assert result == MailResult(True, 2, "")
    assert delays == [5]
    assert len(inbox.envelopes) == 1
    assert [r.attempt for r in mailer_records(caplog, "voicemail mail failed")] == [1]  # type: ignore[attr-defined]
    assert [r.attempt for r in mailer_records(caplog, "voicemail mail sent")] == [2]  # type: ignore[attr-defined]


async def test_a_disabled_mailer_sends_nothing_and_says_why(
    server: Controller, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    mailer = Mailer(settings(server.port, host=""), sleep=sleeps)
    message = mailer.voicemail_message("boss@example.ru", "s", CALLER, CALLED, AT, None)

    with caplog.at_level(logging.WARNING, logger="vpbx.services.mailer"):
        result = await mailer.send(message)

    assert result == MailResult(False, 0, "SMTP не настроен / SMTP is not configured")
    assert result.error == NOT_CONFIGURED
    assert inbox.envelopes == []
    assert sleeps.delays == []
    [record] = mailer_records(caplog, "voicemail mail not sent")
    assert record.error == NOT_CONFIGURED  # type: ignore[attr-defined]


async def test_every_recipient_refused_with_5xx_stops_without_retrying() -> None:
    inbox = Inbox(refuse_recipients=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sleeps = Sleeps()
        mailer = Mailer(settings(controller.port), sleep=sleeps)
        message = mailer.voicemail_message("nobody@example.ru", "s", CALLER, CALLED, AT, None)
        result = await mailer.send(message)
    finally:
        controller.stop()

    assert not result.delivered
    assert result.attempts == 1
    assert sleeps.delays == []
    assert "nobody@example.ru: 550" in result.error
    assert inbox.envelopes == []


async def test_a_server_that_never_answers_times_out_and_is_reported() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # never greets
        await reader.read()

    tcp = await asyncio.start_server(silent, "127.0.0.1", free_port())
    port = tcp.sockets[0].getsockname()[1]
    try:
        mailer = Mailer(settings(port, timeout=0.2, retry_delays=()))
        message = mailer.voicemail_message("boss@example.ru", "s", CALLER, CALLED, AT, None)
        result = await mailer.send(message)
    finally:
        tcp.close()
        # Python 3.11's wait_closed does not wait for open connections: close them ourselves.
        for writer in connections:
            writer.close()
            await writer.wait_closed()
        await tcp.wait_closed()

    assert not result.delivered
    assert result.attempts == 1
    assert "Timeout" in result.error


async def test_deliver_reports_to_the_callback_and_aclose_cancels_what_is_pending(
    server: Controller, inbox: Inbox
) -> None:
    results: list[MailResult] = []
    mailer = Mailer(settings(server.port))
    message = mailer.voicemail_message("boss@example.ru", "s", CALLER, CALLED, AT, None)

    task = mailer.deliver(message, results.append)
    assert await task == MailResult(True, 1, "")
    assert results == [MailResult(True, 1, "")]
    assert len(inbox.envelopes) == 1
    assert mailer.pending == 0

    sleeping = asyncio.Event()

    async def wait_forever(delay: float) -> None:
        sleeping.set()
        await asyncio.Event().wait()

    down = Mailer(settings(free_port()), sleep=wait_forever)
    stuck = down.deliver(message, results.append)
    await asyncio.wait_for(sleeping.wait(), timeout=10)  # the first attempt has failed
    assert down.pending == 1
    await down.aclose()
    assert stuck.cancelled()
    assert down.pending == 0
    assert results == [MailResult(True, 1, "")]  # no result for a cancelled delivery
    with pytest.raises(RuntimeError, match="closed"):
        down.deliver(message)


async def test_a_callback_that_raises_does_not_lose_the_result(
    server: Controller, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(result: MailResult) -> None:
        raise RuntimeError("switch bug")

    mailer = Mailer(settings(server.port))
    message = mailer.voicemail_message("boss@example.ru", "s", CALLER, CALLED, AT, None)
    with caplog.at_level(logging.ERROR, logger="vpbx.services.mailer"):
        result = await mailer.deliver(message, broken)
    assert result.delivered
    assert len(mailer_records(caplog, "voicemail mail result callback failed")) == 1


def test_a_message_needs_a_recipient() -> None:
    mailer = Mailer(SmtpSettings(host="127.0.0.1"))
    with pytest.raises(ValueError, match="recipient"):
        mailer.voicemail_message([" "], "s", CALLER, CALLED, AT, None)


def test_settings_parse_the_smtp_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPBX_SMTP_HOST", "mail.example.ru")
    monkeypatch.setenv("VPBX_SMTP_PORT", "587")
    monkeypatch.setenv("VPBX_SMTP_STARTTLS", "true")
    monkeypatch.setenv("VPBX_SMTP_RETRY_DELAYS", " 1, 2.5 ,60")
    smtp = Settings().smtp()
    assert smtp.host == "mail.example.ru"
    assert smtp.port == 587
    assert smtp.starttls
    assert not smtp.use_tls
    assert smtp.retry_delays == (1.0, 2.5, 60.0)
    assert smtp.enabled
    assert Settings(smtp_retry_delays="").smtp().retry_delays == ()
    assert Settings(smtp_host="").smtp().enabled is False
    assert "secret" not in repr(Settings(smtp_password="secret").smtp())


def test_a_bad_retry_delay_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPBX_SMTP_RETRY_DELAYS", "5,x")
    with pytest.raises(ValueError, match="smtp_retry_delays") as refused:
        Settings()
    assert "'x'" in str(refused.value)
    for bad in ("5,,30", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match="smtp_retry_delays"):
            parse_retry_delays(bad)


def test_starttls_and_tls_together_are_refused() -> None:
    with pytest.raises(ValueError, match="starttls and use_tls"):
        Settings(smtp_starttls=True, smtp_tls=True).smtp()
