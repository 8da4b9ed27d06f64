"""Voicemail mails through the durable outbox (SCN-VM, issue 15), SQLite and PostgreSQL, with a
real SMTP server (aiosmtpd): a mail waiting for a retry while the server is down is in the
database, survives the stop of its node, and is sent once by the next one; a mail that cannot be
delivered is given up after the last retry delay with the reason, reported to the caller as
before; every recipient refused is given up at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.peers.ports import free_port
from tests.services.test_mailer import AT, CALLED, CALLER, Inbox, settings
from tests.services.test_webhook_delivery import utc_now, wait_until
from vpbx.domain.outbox import RetryPolicy
from vpbx.services.deliverer import Deliverer
from vpbx.services.mailer import Mailer, SmtpSettings
from vpbx.services.outbox import SqlOutbox
from vpbx.storage import tables as t


def node(engine: AsyncEngine, smtp: SmtpSettings) -> tuple[Mailer, Deliverer]:
    mailer = Mailer(smtp)
    deliverer = Deliverer(
        SqlOutbox(engine),
        mail=mailer.attempt,
        clock=utc_now,
        mail_policy=RetryPolicy(delays=smtp.retry_delays),
        poll=0.2,
    )
    mailer.queue = deliverer
    deliverer.start()
    return mailer, deliverer


async def states(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        query = sa.select(t.outbox.c.state, t.outbox.c.attempts).order_by(t.outbox.c.id)
        return [(r.state, r.attempts) for r in (await conn.execute(query)).all()]


async def test_a_mail_waiting_for_a_retry_survives_the_stop_of_its_node(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    port = free_port()
    smtp = settings(port, retry_delays=(0.1, 60))
    mailer, deliverer = node(engine, smtp)
    message = mailer.voicemail_message(["boss@example.ru"], "VM", CALLER, CALLED, AT, None)
    results: list[object] = []
    mailer.deliver(message, on_result=results.append)
    deadline = asyncio.get_running_loop().time() + 10
    while (await states(engine)) != [("pending", 2)]:  # down twice; the next try in 60 s
        assert asyncio.get_running_loop().time() < deadline, await states(engine)
        await asyncio.sleep(0.1)
    await mailer.aclose()
    await deliverer.stop()  # the node stops (its waiting mail is only in the database)
    assert results == []
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with engine.begin() as conn:  # the 60 s are over
            await conn.execute(sa.update(t.outbox).values(next_attempt_at=utc_now()))
        _mailer, again = node(engine, smtp)
        await wait_until(lambda: len(inbox.envelopes) == 1, 10, "the mail")
        await asyncio.sleep(0.5)
        await again.stop()
    finally:
        controller.stop()
    assert len(inbox.envelopes) == 1
    assert inbox.messages()[0]["Subject"] == "VM"
    assert await states(engine) == [("delivered", 3)]


async def test_given_up_after_the_last_delay_and_reported_as_before(engine: AsyncEngine) -> None:
    mailer, deliverer = node(engine, settings(free_port(), retry_delays=(0.1, 0.1)))
    message = mailer.voicemail_message(["boss@example.ru"], "VM", CALLER, CALLED, AT, None)
    try:
        result = await mailer.deliver(message)
    finally:
        await deliverer.stop()
    assert not result.delivered
    assert result.attempts == 3
    assert result.error
    assert await states(engine) == [("given_up", 3)]
    assert mailer.pending == 0


async def test_every_recipient_refused_is_given_up_at_once(engine: AsyncEngine) -> None:
    controller = Controller(Inbox(refuse_recipients=True), hostname="127.0.0.1", port=free_port())
    controller.start()
    mailer, deliverer = node(engine, settings(controller.port, retry_delays=(0.1, 0.1)))
    try:
        message = mailer.voicemail_message(["nobody@example.ru"], "VM", CALLER, CALLED, AT, None)
        result = await mailer.deliver(message)
    finally:
        await deliverer.stop()
        controller.stop()
    assert (result.delivered, result.attempts) == (False, 1)
    assert "550" in result.error
