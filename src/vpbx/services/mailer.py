"""Voicemail by e-mail (SCN-VM): builds the message (WAV attached, or a «left no message» line) and
sends it over SMTP with aiosmtplib, retrying while the server is down. Never raises for SMTP or
network trouble: every attempt that fails is logged and the outcome is a `MailResult`.

With a `MailQueue` (the switch's composition: the outbox's deliverer) `deliver` stores the mail
in the database's outbox and the deliverer sends it (one `attempt` at a time, the retry delays
between them), so a mail waiting for a retry survives a restart of the switch. Without one (a
tool, a test) the retries wait in memory (`send`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from vpbx.domain.outbox import Attempt

__all__ = [
    "NOT_CONFIGURED",
    "MailQueue",
    "MailResult",
    "Mailer",
    "SmtpSettings",
    "parse_retry_delays",
    "voicemail_subject",
]

log = logging.getLogger("vpbx.services.mailer")

NOT_CONFIGURED = "SMTP не настроен / SMTP is not configured"
NO_MESSAGE = "Абонент не оставил сообщения / The caller left no message"

Sleep = Callable[[float], Awaitable[object]]


def parse_retry_delays(text: str) -> tuple[float, ...]:
    """Parse "5,30,120" → (5.0, 30.0, 120.0); empty → () (one attempt, no retry)."""
    if not text.strip():
        return ()
    delays: list[float] = []
    for part in text.split(","):
        item = part.strip()
        try:
            delay = float(item)
        except ValueError:
            raise ValueError(
                f"smtp_retry_delays: {item!r} is not a number of seconds in {text!r}"
                " (expected e.g. '5,30,120,600,1800')"
            ) from None
        # NaN and infinity parse as floats but would make asyncio.sleep never return.
        if not 0 <= delay < float("inf"):
            raise ValueError(f"smtp_retry_delays: {item!r} must be a finite number >= 0")
        delays.append(delay)
    return tuple(delays)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = ""
    port: int = 25
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = "vpbx@localhost"
    # starttls=False means plain SMTP even if the server offers STARTTLS: a local relay with a
    # self-signed certificate would otherwise fail certificate checks on every mail.
    starttls: bool = False
    use_tls: bool = False
    timeout: float = 10.0
    retry_delays: tuple[float, ...] = (5, 30, 120, 600, 1800)

    def __post_init__(self) -> None:
        if self.starttls and self.use_tls:
            raise ValueError("smtp: starttls and use_tls exclude each other (587 vs 465)")
        if not 0 < self.port < 65536:
            raise ValueError(f"smtp: port {self.port} is out of range")
        if not self.timeout > 0:
            raise ValueError(f"smtp: timeout must be > 0, got {self.timeout}")
        if any(not 0 <= delay < float("inf") for delay in self.retry_delays):
            raise ValueError(f"smtp: retry delays must be finite and >= 0: {self.retry_delays}")

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True, slots=True)
class MailResult:
    delivered: bool
    attempts: int
    error: str = ""


def voicemail_subject(caller: str, at: datetime) -> str:
    """The subject SCN-VM asks for: the caller's number and the time of the call."""
    return f"Голосовое сообщение от {caller or 'неизвестного номера'}, {at:%d.%m.%Y %H:%M:%S}"


def _file_part(text: str) -> str:
    # A caller id may be "anonymous", empty or carry SIP junk; keep a filename every client opens.
    return re.sub(r"[^0-9A-Za-z+]", "", text) or "unknown"


def _reason(error: BaseException) -> str:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{type(error).__name__}: {error.code} {error.message}"
    return f"{type(error).__name__}: {error}"


def _permanent(error: BaseException) -> bool:
    """Every recipient refused with 5xx: the address is wrong and will not become right by waiting.

    Other 5xx (sender refused, relay denied, authentication) are retried: those are the MTA's
    configuration, which an administrator may well fix within the retry window.
    """
    return isinstance(error, aiosmtplib.SMTPRecipientsRefused) and all(
        500 <= r.code < 600 for r in error.recipients
    )


class MailQueue(Protocol):
    """Where `Mailer.deliver` puts a mail to be sent (the durable outbox)."""

    async def put_mail(self, message: EmailMessage) -> asyncio.Future[MailResult]:
        """Store the mail; the future gets its fate (delivered, or given up)."""
        ...


class Mailer:
    """One per process (built in the composition root). `deliver` runs sends in the background."""

    def __init__(
        self,
        settings: SmtpSettings,
        sleep: Sleep = asyncio.sleep,
        queue: MailQueue | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        #: the durable outbox (None: retries wait in memory and die with the process)
        self.queue = queue
        # The loop keeps only weak references to tasks: without this set a pending delivery could
        # be garbage-collected mid-retry.
        self._tasks: set[asyncio.Task[MailResult]] = set()
        self._closed = False

    @property
    def settings(self) -> SmtpSettings:
        return self._settings

    def voicemail_message(
        self,
        to: str | Iterable[str],
        subject: str,
        caller: str,
        called: str,
        at: datetime,
        wav: Path | None,
    ) -> EmailMessage:
        """The voicemail mail; `at` is shown as given, so pass it in the account's time zone."""
        recipients = [to] if isinstance(to, str) else list(to)
        recipients = [address.strip() for address in recipients if address.strip()]
        if not recipients:
            raise ValueError("voicemail mail needs at least one recipient address")
        when = f"{at:%d.%m.%Y %H:%M:%S}"
        message = EmailMessage()
        message["From"] = self._settings.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=True)
        domain = parseaddr(self._settings.sender)[1].rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        lines = [
            f"Голосовое сообщение от {caller or 'неизвестного номера'} на {called}, {when}",
            f"Voicemail from {caller or 'an unknown number'} to {called}, {when}",
            "",
        ]
        if wav is None:
            lines.append(NO_MESSAGE)
        else:
            lines.append("Запись во вложении / The recording is attached")
        message.set_content("\n".join(lines) + "\n")
        if wav is not None:
            filename = f"voicemail-{_file_part(caller)}-{at:%Y%m%d-%H%M%S}.wav"
            message.add_attachment(
                wav.read_bytes(), maintype="audio", subtype="wav", filename=filename
            )
        return message

    async def send(self, message: EmailMessage) -> MailResult:
        """One attempt, then one more after each of `retry_delays`; the last error is reported."""
        s = self._settings
        recipients = message.get("To", "")
        if not s.enabled:
            log.warning(
                "voicemail mail not sent", extra={"recipients": recipients, "error": NOT_CONFIGURED}
            )
            return MailResult(False, 0, NOT_CONFIGURED)
        attempt = 0
        while True:
            attempt += 1
            outcome = await self.attempt(message)
            if outcome.delivered:
                log.info(
                    "voicemail mail sent", extra={"recipients": recipients, "attempt": attempt}
                )
                return MailResult(True, attempt, "")
            last = outcome.permanent or attempt > len(s.retry_delays)
            delay = None if last else s.retry_delays[attempt - 1]
            log.warning(
                "voicemail mail failed",
                extra={
                    "recipients": recipients,
                    "attempt": attempt,
                    "error": outcome.reason,
                    "retry_in": delay,
                    "permanent": outcome.permanent,
                },
            )
            if delay is None:
                return MailResult(False, attempt, outcome.reason)
            await self._sleep(delay)

    async def attempt(self, message: EmailMessage) -> Attempt:
        """One attempt (the outbox's deliverer retries): every recipient refused with 5xx is
        permanent, any other failure is worth another attempt."""
        s = self._settings
        if not s.enabled:
            return Attempt(False, None, NOT_CONFIGURED, permanent=True)
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password or None,
                use_tls=s.use_tls,
                start_tls=s.starttls,
                timeout=s.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as failure:
            code = getattr(failure, "code", None)
            return Attempt(
                False,
                code if isinstance(code, int) else None,
                _reason(failure),
                permanent=_permanent(failure),
            )
        return Attempt(True, 250)

    def deliver(
        self,
        message: EmailMessage,
        on_result: Callable[[MailResult], None] | None = None,
    ) -> asyncio.Task[MailResult]:
        """Send in the background; `on_result` gets the outcome (not called if cancelled)."""
        if self._closed:
            raise RuntimeError("Mailer is closed")
        task = asyncio.get_running_loop().create_task(
            self._deliver(message, on_result), name=f"voicemail mail to {message.get('To', '')}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(
        self, message: EmailMessage, on_result: Callable[[MailResult], None] | None
    ) -> MailResult:
        try:
            if self.queue is not None and self._settings.enabled:
                result = await (await self.queue.put_mail(message))
            else:
                result = await self.send(message)
        except Exception as error:
            # A bug of ours must still reach the caller as a result: nobody awaits this task.
            log.exception("voicemail mail crashed", extra={"recipients": message.get("To", "")})
            result = MailResult(False, 0, f"{type(error).__name__}: {error}")
        if on_result is not None:
            try:
                on_result(result)
            except Exception:
                log.exception("voicemail mail result callback failed")
        return result

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        """Cancel deliveries still waiting (at shutdown) and wait until they have stopped."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
