"""The composition root: settings → engine → directory, registrar, SIP endpoint, PBX → API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.api.app import create_api
from vpbx.media.errors import MediaError
from vpbx.media.ports import PortPool
from vpbx.media.prompts import PromptCache
from vpbx.media.system_messages import SystemMessages
from vpbx.media.tts import Tts
from vpbx.services.mailer import Mailer
from vpbx.settings import Settings
from vpbx.sip.registrar import AuthGuard
from vpbx.storage.db import make_async_engine
from vpbx.switch.b2bua import B2BCall, Contact
from vpbx.switch.call_store import CallStore
from vpbx.switch.directory import Directory
from vpbx.switch.endpoint import SipEndpoint
from vpbx.switch.media import MediaPlant
from vpbx.switch.pbx import Pbx
from vpbx.switch.plain_calls import plain_call_record
from vpbx.switch.prompt_library import PromptLibrary
from vpbx.switch.registrar_service import Registrar
from vpbx.switch.runner import ScenarioRunner
from vpbx.switch.trunk_client import TrunkRegistrations

log = logging.getLogger("vpbx")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Application:
    settings: Settings
    engine: AsyncEngine
    api: FastAPI
    endpoint: SipEndpoint
    pbx: Pbx
    trunks: TrunkRegistrations
    system_messages: SystemMessages
    runner: ScenarioRunner
    store: CallStore
    mailer: Mailer

    async def prepare_system_messages(self) -> None:
        """FILE-1: the default system messages are generated (TTS) at install, once."""
        try:
            made = await self.system_messages.ensure_defaults()
        except MediaError as error:
            log.error("system messages could not be generated", extra={"error": str(error)})
            return
        if made:
            log.info("system messages generated", extra={"names": [m.value for m in made]})

    async def start_sip(self) -> None:
        self.store.start()
        await self.runner.start()
        await self.endpoint.start(self.pbx)
        # Port 0 (tests) is only known once bound: the Contact/Via we advertise follows it.
        self.pbx.me.port = self.endpoint.port
        await self.trunks.start()

    async def stop(self) -> None:
        await self.trunks.stop()
        await self.pbx.stop()
        await self.runner.stop()
        await self.mailer.aclose()
        await self.store.stop()
        await self.endpoint.stop()
        await self.engine.dispose()


def build(settings: Settings) -> Application:
    engine = make_async_engine(settings.resolved_database_url())
    directory = Directory(engine)
    endpoint = SipEndpoint(settings.sip_host, settings.sip_port)
    guard = AuthGuard(ban_seconds=settings.sip_auth_ban_seconds)
    registrar = Registrar(directory, realm=settings.sip_realm, guard=guard)
    me = Contact(settings.public_host, settings.sip_port)
    media = MediaPlant(
        PortPool(settings.rtp_port_min, settings.rtp_port_max),
        settings.rtp_host or settings.sip_host,
        settings.public_host,
    )
    pbx = Pbx(endpoint, directory, registrar, me, media)
    trunks = TrunkRegistrations(endpoint, directory, me)
    data = settings.data_dir.resolve()
    tts = Tts(data / "tts")
    system = SystemMessages(data / "system", tts)
    store = CallStore(engine, data / "files", utc_now)
    mailer = Mailer(settings.smtp())
    prompts = PromptLibrary(engine, system, tts, PromptCache())
    runner = ScenarioRunner(pbx, engine, prompts, store, mailer, data / "work", utc_now)
    pbx.controllers = runner
    pbx.plain_call_ended = _report_plain_call(store)

    def changed(account_id: int) -> None:
        # a saved configuration change reaches the next call at once, not after the caches' TTL
        runner.snapshots.invalidate(account_id)
        directory.invalidate(account_id)

    api = create_api(engine, utc_now, data / "files", on_change=changed)
    return Application(settings, engine, api, endpoint, pbx, trunks, system, runner, store, mailer)


def _report_plain_call(store: CallStore) -> Callable[[B2BCall], None]:
    """Internal and outgoing calls (no scenario) still get their row in the calls report."""
    tasks: set[asyncio.Task[int]] = set()

    def written(task: asyncio.Task[int]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call report not written", exc_info=task.exception())

    def ended(call: B2BCall) -> None:
        task = asyncio.ensure_future(store.save(plain_call_record(call)))
        tasks.add(task)
        task.add_done_callback(written)

    return ended


async def serve(
    application: Application, stop: asyncio.Event | None = None, *, own_process: bool = False
) -> None:
    """SIP and HTTP in one process until `stop` is set (or the task is cancelled).

    `own_process`: the process does nothing else (`vpbx run`): its garbage collector is tuned
    for serving calls (`tune_garbage_collector`)."""
    import uvicorn

    settings = application.settings
    if settings.generate_system_messages:
        await application.prepare_system_messages()
    await application.start_sip()
    if own_process:
        tune_garbage_collector()
    log.info("sip started", extra={"host": settings.sip_host, "port": application.endpoint.port})
    config = uvicorn.Config(
        application.api,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    try:
        if stop is None:
            await serving
        else:
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({serving, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            server.should_exit = True
            await serving
    finally:
        with contextlib.suppress(Exception):
            await application.stop()


def tune_garbage_collector() -> None:
    """What start-up built (settings, tables, prompts, TTS caches) lives as long as the
    process: out of the collector's sight, a collection under load walks only what calls
    create. Each call makes thousands of short-lived objects: collecting the youngest
    generation every 700 allocations ran the collector hundreds of times a second (p99
    INVITE→180 at 30 calls/s went from 219 ms to 10 ms with both; docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def run_forever(application: Application) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(application, own_process=True))
