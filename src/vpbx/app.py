"""The composition root: settings → engine → directory, registrar, SIP endpoint, PBX → API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.api.app import create_api
from vpbx.media.errors import MediaError
from vpbx.media.ports import PortPool
from vpbx.media.system_messages import SystemMessages
from vpbx.media.tts import Tts
from vpbx.settings import Settings
from vpbx.sip.registrar import AuthGuard
from vpbx.storage.db import make_async_engine
from vpbx.switch.b2bua import Contact
from vpbx.switch.directory import Directory
from vpbx.switch.endpoint import SipEndpoint
from vpbx.switch.media import MediaPlant
from vpbx.switch.pbx import Pbx
from vpbx.switch.registrar_service import Registrar
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
        await self.endpoint.start(self.pbx)
        # Port 0 (tests) is only known once bound: the Contact/Via we advertise follows it.
        self.pbx.me.port = self.endpoint.port
        await self.trunks.start()

    async def stop(self) -> None:
        await self.trunks.stop()
        await self.pbx.stop()
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
    api = create_api(engine, utc_now, settings.data_dir.resolve() / "files")
    tts = Tts(settings.data_dir.resolve() / "tts")
    system = SystemMessages(settings.data_dir.resolve() / "system", tts)
    return Application(settings, engine, api, endpoint, pbx, trunks, system)


async def serve(application: Application, stop: asyncio.Event | None = None) -> None:
    """SIP and HTTP in one process until `stop` is set (or the task is cancelled)."""
    import uvicorn

    settings = application.settings
    if settings.generate_system_messages:
        await application.prepare_system_messages()
    await application.start_sip()
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


def run_forever(application: Application) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(application))
