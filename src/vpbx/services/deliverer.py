"""The outbox's deliverer: one asyncio task per switch node that claims due rows
(`vpbx.services.outbox`), sends them (webhooks over HTTP with httpx behind the SSRF guard,
voicemail mails over SMTP through the mailer), and records each outcome.

It never runs on a call's path: calls only put rows in (in their own transactions); a receiver
that is slow or down costs a lease and a retry, never a call's time. At most `concurrency`
deliveries are in flight; each is bounded by its timeout. A row is marked delivered only after
the receiver's 2xx (the SMTP server's acceptance); a node killed between the two sends the row
again after its restart (at least once: the receiver drops the repeat by `X-Vpbx-Event-Id`).

A failed row is tried again by its kind's `RetryPolicy` (exponential backoff for webhooks until
the configured age, the `smtp_retry_delays` for mails) and given up with the last reason kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from typing import Protocol

import httpx

from vpbx.domain.outbox import (
    SIGNATURE_HEADER,
    Attempt,
    OutboxKind,
    OutboxState,
    RetryPolicy,
    signature_header,
)
from vpbx.services.mailer import MailResult
from vpbx.services.net_guard import NetGuard, UrlRefused
from vpbx.services.outbox import ClaimedRow, NewRow, Outcome, SqlOutbox

__all__ = ["Deliverer", "Sender", "WebhookSender"]

log = logging.getLogger("vpbx.services.deliverer")

Clock = Callable[[], dt.datetime]
#: one attempt of a mail: the message as stored → the outcome
MailSend = Callable[[EmailMessage], Awaitable[Attempt]]
#: how much of a failing receiver's answer is kept as the reason
REASON_BODY = 200


class Sender(Protocol):
    """Sends one webhook row (`WebhookSender`; a fake in tests)."""

    async def send(self, row: ClaimedRow, url: str, secret: str, attempt: int) -> Attempt: ...

    async def aclose(self) -> None: ...


class WebhookSender:
    """POSTs a webhook row's body to the webhook's URL, signed, through the SSRF guard; never
    follows a redirect (the guard checked only the first address)."""

    def __init__(
        self,
        guard: NetGuard,
        timeout: float = 10.0,
        *,
        wall: Callable[[], float] = time.time,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.wall = wall
        self._client = client
        self._own = client is None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._own:
            await client.aclose()

    async def send(self, row: ClaimedRow, url: str, secret: str, attempt: int) -> Attempt:
        try:
            pinned = await asyncio.wait_for(self.guard.pin(url), self.timeout)
        except UrlRefused as refused:
            return Attempt(False, None, f"адрес запрещён / URL refused: {refused}")
        except TimeoutError:
            return Attempt(False, None, f"DNS: no answer within {self.timeout:g} s")
        body = row.payload.encode("utf-8")
        headers = {
            **pinned.headers,
            "Content-Type": "application/json",
            "User-Agent": "vpbx-webhooks/1",
            "X-Vpbx-Event": row.event_type,
            "X-Vpbx-Event-Id": row.event_id,
            "X-Vpbx-Delivery": str(row.id),
            "X-Vpbx-Attempt": str(attempt),
        }
        if secret:
            headers[SIGNATURE_HEADER] = signature_header(secret, int(self.wall()), body)
        try:
            async with asyncio.timeout(self.timeout):
                request = self.client.build_request(
                    "POST", pinned.url, content=body, headers=headers, extensions=pinned.extensions
                )
                response = await self.client.send(request, stream=True)
                try:
                    status = response.status_code
                    if 200 <= status < 300:
                        return Attempt(True, status)
                    if 300 <= status < 400:
                        where = response.headers.get("location", "")
                        reason = f"HTTP {status}: redirect to {where!r} not followed"
                        return Attempt(False, status, reason)
                    text = await _head(response)
                    return Attempt(False, status, f"HTTP {status}: {text}".rstrip(": "))
                finally:
                    await response.aclose()
        except TimeoutError:
            return Attempt(False, None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as error:
            return Attempt(False, None, f"{type(error).__name__}: {error}"[:500])


async def _head(response: httpx.Response) -> str:
    """The first bytes of an error answer (a receiver's page must not fill the log)."""
    got = b""
    async for chunk in response.aiter_bytes():
        got += chunk
        if len(got) >= REASON_BODY:
            break
    return got[:REASON_BODY].decode("utf-8", "replace").strip()


class Deliverer:
    """Claims, sends and marks outbox rows; one per switch node (built in `vpbx.app`)."""

    def __init__(
        self,
        outbox: SqlOutbox,
        *,
        webhooks: Sender | None = None,
        mail: MailSend | None = None,
        node: str = "",
        clock: Clock,
        webhook_policy: RetryPolicy = RetryPolicy(),
        mail_policy: RetryPolicy = RetryPolicy(delays=()),
        concurrency: int = 16,
        lease: float = 120.0,
        poll: float = 1.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"deliverer: concurrency must be >= 1, got {concurrency}")
        if not lease > 0:
            raise ValueError(f"deliverer: lease must be > 0, got {lease}")
        self.outbox = outbox
        self.webhooks = webhooks
        self.mail = mail
        self.node = node
        self.clock = clock
        self.webhook_policy = webhook_policy
        self.mail_policy = mail_policy
        self.concurrency = concurrency
        self.lease = lease
        self.poll = poll
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[Outcome]] = set()
        self._finished: list[Outcome] = []
        self._waiters: dict[int, list[asyncio.Future[MailResult]]] = {}
        #: outcomes recorded since the start (tests, the benchmark)
        self.delivered = 0
        self.given_up = 0

    # -- the loop --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        """Rows were put in (a call's events, a mail): look now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = 2.0) -> None:
        """Stop claiming; let deliveries in flight end for `grace` seconds and record them. A
        delivery cut off stays leased to this node and is sent again after the restart."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=grace)
        for pending in list(self._inflight):
            pending.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._flush()
        if self.webhooks is not None:
            await self.webhooks.aclose()

    async def _run(self) -> None:
        try:
            released = await self.outbox.release(self.node, self.clock())
        except Exception:
            log.exception("outbox leases of the previous run not released")
        else:
            if released:
                log.warning(
                    "outbox rows in flight when the node stopped are sent again",
                    extra={"rows": released, "node": self.node},
                )
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox deliverer step failed")
                await asyncio.sleep(self.poll)

    async def _step(self) -> None:
        self._wake.clear()
        await self._flush()
        free = self.concurrency - len(self._inflight)
        claimed: list[ClaimedRow] = []
        if free > 0:
            claimed = await self.outbox.claim(self.node, self.clock(), free, self.lease)
            for work in await self._prepared(claimed):
                task = asyncio.ensure_future(work)
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if len(claimed) == free:
                return  # more may be due: claim again once a slot is free
        timeout = self.poll
        if free > len(claimed):
            due = await self.outbox.next_due(self.clock())
            if due is not None:
                wait = (due - self.clock()).total_seconds()
                timeout = min(self.poll, max(wait, 0.02))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    def _done(self, task: asyncio.Task[Outcome]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is None:
            self._finished.append(task.result())
        self._wake.set()

    async def _flush(self) -> None:
        finished, self._finished = self._finished, []
        if not finished:
            return
        try:
            await self.outbox.finish(finished, self.clock())
        except BaseException:
            self._finished = finished + self._finished  # recorded at the next step
            raise
        for outcome in finished:
            if outcome.state is OutboxState.DELIVERED:
                self.delivered += 1
            elif outcome.state is OutboxState.GIVEN_UP:
                self.given_up += 1
            else:
                continue
            result = MailResult(
                outcome.state is OutboxState.DELIVERED, outcome.attempts, outcome.reason
            )
            for waiter in self._waiters.pop(outcome.row_id, []):
                if not waiter.done():
                    waiter.set_result(result)

    # -- one batch, for tests and tools (no background task) -------------------------------------

    async def run_once(self) -> list[Outcome]:
        """Claim what is due now, deliver it, record the outcomes; what was recorded."""
        claimed = await self.outbox.claim(self.node, self.clock(), self.concurrency, self.lease)
        outcomes = list(await asyncio.gather(*await self._prepared(claimed)))
        self._finished += outcomes
        await self._flush()
        return outcomes

    # -- one attempt -----------------------------------------------------------------------------

    async def _prepared(self, rows: Sequence[ClaimedRow]) -> list[Awaitable[Outcome]]:
        hooks = await self.outbox.webhooks(
            [r.webhook_id for r in rows if r.kind is OutboxKind.WEBHOOK and r.webhook_id]
        )
        return [self._attempt(row, hooks) for row in rows]

    async def _attempt(self, row: ClaimedRow, hooks: dict[int, tuple[str, str, bool]]) -> Outcome:
        number = row.attempts + 1
        try:
            # a delivery never outlives its lease: another node would send it meanwhile
            async with asyncio.timeout(self.lease * 0.8):
                result = await self._send(row, hooks, number)
        except TimeoutError:
            result = Attempt(False, None, f"not done within {self.lease * 0.8:g} s")
        except Exception as error:
            log.exception("outbox delivery crashed", extra={"row": row.id})
            result = Attempt(False, None, f"{type(error).__name__}: {error}")
        if result.delivered:
            log.debug(
                "outbox row delivered",
                extra={"row": row.id, "kind": row.kind.value, "attempt": number},
            )
            return Outcome(row.id, OutboxState.DELIVERED, number, result.status, "", None)
        policy = self.mail_policy if row.kind is OutboxKind.MAIL else self.webhook_policy
        fate = policy.after_failure(
            number, row.created_at, self.clock(), permanent=result.permanent
        )
        state = OutboxState.GIVEN_UP if fate.given_up else OutboxState.PENDING
        log.warning(
            "outbox delivery failed",
            extra={
                "row": row.id,
                "kind": row.kind.value,
                "target": row.target,
                "attempt": number,
                "error": result.reason,
                "retry_at": None if fate.retry_at is None else fate.retry_at.isoformat(),
            },
        )
        return Outcome(row.id, state, number, result.status, result.reason, fate.retry_at)

    async def _send(
        self, row: ClaimedRow, hooks: dict[int, tuple[str, str, bool]], number: int
    ) -> Attempt:
        if row.kind is OutboxKind.MAIL:
            if self.mail is None:
                return Attempt(False, None, "no mailer on this node")
            message = email.message_from_string(row.payload, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            return await self.mail(message)
        if self.webhooks is None:
            return Attempt(False, None, "no webhook sender on this node")
        hook = hooks.get(row.webhook_id or 0)
        if hook is None:
            return Attempt(False, None, "уведомление удалено / the webhook was deleted", True)
        url, secret, enabled = hook
        if not enabled:
            return Attempt(False, None, "уведомление выключено / the webhook is disabled", True)
        return await self.webhooks.send(row, url, secret, number)

    # -- mails (vpbx.services.mailer.MailQueue) --------------------------------------------------

    async def put_mail(
        self, message: EmailMessage, account_id: int | None = None
    ) -> asyncio.Future[MailResult]:
        """Store a mail in the outbox; the future gets its fate in this process (delivered, or
        given up after the retry delays). After a restart the mail is still sent; nobody in the
        new process waits for it."""
        text = message.as_string()
        row = NewRow(
            OutboxKind.MAIL,
            str(message.get("To", "")),
            "voicemail_mail",
            text,
            account_id=account_id,
        )
        (row_id,) = await self.outbox.add([row], self.clock())
        future: asyncio.Future[MailResult] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(row_id, []).append(future)
        self.wake()
        return future
