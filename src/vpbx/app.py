"""The composition root: settings → engine → directory, registrar, SIP endpoint, PBX → API.

Three ways to compose (docs/decisions.md, "Processes"):
* `build_switch` + `run_switch`: the switch process of `vpbx run` (SIP, RTP, call cores on
  uvloop), with its status endpoint (/metrics, /health) and the listener of configuration
  changes; no HTTP API on its loop, so nothing the API does can stall a call;
* `api_from_environment`: the uvicorn factory of the API processes (the same settings from the
  environment), telling the switch of committed changes through `vpbx.notify`;
* `build` + `serve`: both in one process and one loop (the tests' harness), the API calling the
  switch's caches directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx import logs
from vpbx.api.app import create_api
from vpbx.api.cabinet import CabinetSettings, SipServer, default_web_dir
from vpbx.api.live import UnixLiveSource
from vpbx.api.operations import LocalSwitch, RemoteSwitch
from vpbx.domain.live import Roster
from vpbx.domain.outbox import RetryPolicy
from vpbx.domain.regions import load_geocoder
from vpbx.domain.switch_records import StoredBinding
from vpbx.media.errors import MediaError
from vpbx.media.kernel_rtp import KernelForwarder
from vpbx.media.park import SocketPark
from vpbx.media.ports import PortPool
from vpbx.media.prompts import PromptCache
from vpbx.media.system_messages import SystemMessages
from vpbx.media.tts import Tts
from vpbx.metrics import (
    LoopStalls,
    LoopWatch,
    Metrics,
    RtpCounters,
    SipCounters,
    StallCollector,
    SwitchCollector,
    SwitchMetrics,
    multiprocess_dir_from_environment,
)
from vpbx.notify import ConfigListener, ConfigNotifier
from vpbx.scenario import distribution as dist
from vpbx.services.auth import AuthPolicy
from vpbx.services.binding_channel import BindingChannel, SharedBindingStorage
from vpbx.services.call_log import CallRecord
from vpbx.services.call_writer import SqlCallWriter
from vpbx.services.callapi import CallApiLimits
from vpbx.services.callbacks import SqlCallbackTasks
from vpbx.services.caller_id_facts import SqlCallerIdSource
from vpbx.services.crm import CrmClient
from vpbx.services.deliverer import Deliverer, WebhookSender
from vpbx.services.directory_store import SqlDirectorySource
from vpbx.services.leads import LeadLimits
from vpbx.services.mailer import Mailer
from vpbx.services.net_guard import NetGuard
from vpbx.services.outbox import SqlOutbox
from vpbx.services.prompt_files import SqlPromptFiles
from vpbx.services.record_by_phone import RecordLimits
from vpbx.services.registrations import SqlBindingStorage
from vpbx.services.shared_state_redis import RedisState
from vpbx.services.snapshot_source import SqlSnapshotSource
from vpbx.services.talk_records import SqlTalkRecords
from vpbx.settings import Settings
from vpbx.sip.registrar import AuthGuard
from vpbx.stall_trace import StallTracer
from vpbx.storage.db import make_async_engine
from vpbx.switch.b2bua import B2BCall, Contact
from vpbx.switch.call_store import CallStore, CallTicket
from vpbx.switch.callbacks import CallbackScheduler
from vpbx.switch.caller_id import CallerIdPicker
from vpbx.switch.directory import Directory
from vpbx.switch.endpoint import SipEndpoint
from vpbx.switch.front_proxy import FrontProxies, parse_front_proxies
from vpbx.switch.live_feed import LiveFeed, roster_of
from vpbx.switch.media import MediaPlant
from vpbx.switch.originated import Originator
from vpbx.switch.pbx import Pbx
from vpbx.switch.plain_calls import plain_call_answer, plain_call_record, plain_call_start
from vpbx.switch.prompt_library import PromptLibrary
from vpbx.switch.registrar_service import Registrar
from vpbx.switch.registration_store import RegistrationStore
from vpbx.switch.runner import ScenarioRunner
from vpbx.switch.snapshots import SnapshotCache
from vpbx.switch.status import StatusServer
from vpbx.switch.toll_guard import TollGuard
from vpbx.switch.trunk_client import TrunkRegistrations
from vpbx.transport.certs import self_signed, server_context
from vpbx.transport.limits import connection_cap, descriptor_limit, raise_descriptor_limit
from vpbx.transport.listen import ListenError, bind_with_retry
from vpbx.transport.sip import ConnectionLimits, TlsListener

log = logging.getLogger("vpbx")


#: several nodes: how often a node's waiting callers look for a phone another node freed (a
#: phone freed on this node is seen at once); the longest a freed phone waits for a caller
#: queued on another node
SHARED_POLL_SECONDS = 0.25


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Application:
    settings: Settings
    engine: AsyncEngine
    #: the HTTP API on the switch's own loop (in-process composition only); None in the switch
    #: process of `vpbx run`
    api: FastAPI | None
    endpoint: SipEndpoint
    pbx: Pbx
    trunks: TrunkRegistrations
    system_messages: SystemMessages
    runner: ScenarioRunner
    store: CallStore
    mailer: Mailer
    metrics: Metrics
    loop_watch: LoopWatch
    #: the switch process's listener of configuration changes and its status endpoint
    listener: ConfigListener | None = None
    status: StatusServer | None = None
    #: tells the other switch nodes (Redis) of changes this node's talk options made
    peers: ConfigNotifier | None = None
    #: sends the outbox's webhooks and voicemail mails (API-2, SCN-VM) from this node
    deliverer: Deliverer | None = None
    #: runs the callback tasks and CallAPI calls (CB-1..3, API-1) on this node
    callbacks: CallbackScheduler | None = None
    #: CDR-4: this node's live view of its calls, served to the API processes
    live: LiveFeed | None = None
    #: several nodes (``VPBX_REDIS_URL``): the distribution's and lines' state they share, and
    #: the registrations each node tells the others of
    shared_state: RedisState | None = None
    shared_bindings: BindingChannel | None = None
    #: VPBX_STALL_TRACE_MS: what the loop runs while it is late (a diagnostic)
    stall_tracer: StallTracer | None = None

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
        self.loop_watch.start()
        if self.pbx.media.kernel is not None:
            # before any call: a crashed run's rules would still steal their ports' packets
            await self.pbx.media.kernel.start()
        if self.stall_tracer is not None:
            self.stall_tracer.start()
        if self.listener is not None:
            await self.listener.start()
        if self.status is not None:
            await self.status.start()
        if self.live is not None:
            await _start_live(self.live)
        # Bindings stored before a restart are ringable before the first request is read.
        await self.pbx.registrar.restore(asyncio.get_running_loop().time())
        if self.shared_state is not None:
            await _release_node(self.shared_state)
            # a restarted Redis gets this node's lines and queue places back
            self.shared_state.start_watch()
        self.store.start()
        if self.deliverer is not None:
            self.deliverer.start()
        await self.runner.start()
        await self.endpoint.start(self.pbx)
        if self.callbacks is not None:
            self.callbacks.start()
        # Port 0 (tests) is only known once bound: the Contact/Via we advertise follows it.
        self.pbx.me.port = self.endpoint.port
        self.pbx.me.tls_port = self.endpoint.transport.tls_port
        await self.trunks.start()
        if self.shared_bindings is not None:
            self.shared_bindings.start()

    async def stop(self) -> None:
        if self.shared_bindings is not None:
            await self.shared_bindings.stop()
        if self.status is not None:
            await self.status.stop()
        if self.live is not None:
            await self.live.stop()
        if self.listener is not None:
            await self.listener.stop()
        await self.loop_watch.stop()
        if self.stall_tracer is not None:
            self.stall_tracer.stop()
        await self.trunks.stop()
        if self.callbacks is not None:
            await self.callbacks.stop()
        await self.pbx.stop()
        if self.pbx.media.kernel is not None:
            await self.pbx.media.kernel.close()
        await self.runner.stop()
        await self.mailer.aclose()
        if self.deliverer is not None:
            await self.deliverer.stop()
        await self.store.stop()
        if self.peers is not None:
            await self.peers.aclose()
        if self.shared_state is not None:
            await self.shared_state.aclose()
        await self.endpoint.stop()
        await self.engine.dispose()


async def _start_live(feed: LiveFeed) -> None:
    # Calls go on without a live view: a socket that cannot be bound (its path too long for a
    # unix socket, a read-only folder) costs the view only.
    try:
        await feed.start()
    except OSError as error:
        log.error("live feed not started", extra={"error": str(error)})


async def _release_node(state: RedisState) -> None:
    """Several nodes: what this node's calls held in the shared state when it last stopped
    (killed mid-call: lines busy, callers at the head of queues) is let go before its first
    call. Redis unreachable: logged, and the node serves (its claims then fail as they would)."""
    try:
        released = await state.release_node()
    except Exception as error:
        log.error("shared distribution state not cleaned", extra={"error": str(error)})
        return
    if released:
        log.warning(
            "calls of the previous run let go in the shared state", extra={"calls": released}
        )


def live_socket_path(settings: Settings) -> Path:
    """CDR-4: the switch's live feed, beside its configuration socket."""
    path = settings.notify_socket_path().resolve()
    return path.with_name(f"{path.stem}-live{path.suffix}")


def build(settings: Settings) -> Application:
    """Switch and API in one process (the tests' composition): the API drops the switch's
    caches itself and reports the switch's health and metrics directly."""
    return _compose(settings, with_api=True)


def build_switch(settings: Settings) -> Application:
    """The switch process of `vpbx run`: no API on its loop; changes arrive by notification."""
    return _compose(settings, with_api=False)


def _compose(settings: Settings, *, with_api: bool) -> Application:
    engine = make_async_engine(settings.resolved_database_url())
    metrics = SwitchMetrics()
    # The switch holds no SQL: what it reads and writes goes through these services.
    directory = Directory(SqlDirectorySource(engine))
    endpoint = sip_endpoint(settings)
    sip_counters = SipCounters()
    endpoint.traffic = sip_counters
    endpoint.transport.security_event = metrics.security_event
    guard = AuthGuard(ban_seconds=settings.sip_auth_ban_seconds)
    # Several nodes (Redis): a committed binding is told to the other nodes (SIP-2).
    binding_storage = SharedBindingStorage(SqlBindingStorage(engine))
    registrar = Registrar(
        directory,
        realm=settings.sip_realm,
        guard=guard,
        store=RegistrationStore(binding_storage, utc_now, node=settings.node()),
        security_event=metrics.security_event,
        wall=utc_now,
    )
    me = Contact(settings.public_host, settings.sip_port)
    rtp = RtpCounters()
    media = MediaPlant(
        PortPool(settings.rtp_port_min, settings.rtp_port_max),
        settings.rtp_host or settings.sip_host,
        settings.public_host,
        opened=rtp.track,
        # issue 17: a new leg takes a rested open pair instead of binding two sockets
        park=SocketPark(),
    )
    media.srtp_required = _srtp_required(directory)
    # issue 17: bridged plain talk forwarded by the kernel where nft and CAP_NET_ADMIN allow
    media.kernel = KernelForwarder(
        mode=settings.kernel_rtp,
        port_min=settings.rtp_port_min,
        port_max=settings.rtp_port_max,
    )
    # Each account's configuration snapshot: one cache for the call logic and the switch's own
    # calls (internal, outgoing, pickups), so one invalidation reaches both.
    snapshots = SnapshotCache(SqlSnapshotSource(engine, utc_now))
    pbx = Pbx(endpoint, directory, registrar, me, media, snapshots, wall=utc_now)
    pbx.caller_ids = CallerIdPicker(SqlCallerIdSource(engine))
    trunks = TrunkRegistrations(endpoint, directory, me)
    data = settings.data_dir.resolve()
    tts = Tts(data / "tts")
    system = SystemMessages(data / "system", tts)
    mailer = Mailer(settings.smtp())
    # API-2 webhooks and voicemail mails leave through the durable outbox (this node's deliverer)
    deliverer = outbox_deliverer(settings, engine, mailer)
    writer = SqlCallWriter(engine, data / "files", on_events=deliverer.wake)
    node = settings.node()
    store = CallStore(writer, utc_now, work_dir=data / "work", node=node)
    prompts = PromptLibrary(SqlPromptFiles(engine), system, tts, PromptCache())
    # Lines in use per phone: one store for the distribution and the switch's plain calls;
    # with several nodes (Redis) one store for all of them: one queue, one FIFO (QUE-2).
    shared_state = (
        RedisState.from_url(
            settings.redis_url, f"vpbx:{settings.redis_prefix}:dist:", node=settings.node()
        )
        if settings.redis_url
        else None
    )
    lines: dist.SharedState = shared_state if shared_state is not None else dist.InProcessState()
    # TALK-4/6/7: what talk options write (tags on calls, contacts, the blacklist); told of
    # the configuration changes they make below, once `changed` exists.
    talk_records = SqlTalkRecords(engine, utc_now)
    # The CRM of interactive processing is behind the SSRF guard (inside networks as allowed).
    runner = ScenarioRunner(
        pbx,
        snapshots,
        prompts,
        store,
        mailer,
        data / "work",
        utc_now,
        # several nodes: a caller waiting here looks for phones other nodes freed this often
        dist.Distributor(lines, poll_interval=SHARED_POLL_SECONDS if shared_state else None),
        crm=CrmClient(guard=NetGuard(settings.allow_networks())),
        talk_records=talk_records,
    )
    # CB-1..3, API-1: the node's scheduler of callback tasks and CallAPI calls (the node's
    # name, as its deliverer's and call store's: its restart releases its own leases only)
    callbacks = CallbackScheduler(
        SqlCallbackTasks(engine), Originator(runner), snapshots, utc_now, node=node
    )
    runner.call_over = callbacks.call_over
    live = LiveFeed(live_socket_path(settings))
    runner.live = live
    live.supervise = runner.supervise  # TRN-1: the live view's supervisor joins a call
    # CDR-4: the employees' registrations, wrap-ups and schedules, pushed as they change
    registrar.presence = live.line_presence

    async def roster(account_id: int) -> Roster:
        config, _needs_facts = await snapshots.get(account_id)
        return roster_of(config)

    live.roster = roster
    pbx.lines = lines
    pbx.controllers = runner
    pbx.group_calls = runner.group_call
    pbx.plain_call_started, pbx.plain_call_ended = _report_plain_call(store)
    # Toll fraud: every leg to an outside number asks the guard first; refusals are security
    # events in /metrics and rows of the calls report.
    pbx.toll_guard = TollGuard(directory, security_event=metrics.security_event)
    pbx.toll_guard.cut = pbx.cut
    pbx.call_refused = _report_refused_call(store)

    revoking: set[asyncio.Task[int]] = set()

    def changed(account_id: int) -> None:
        # a saved configuration change reaches the next call at once, not after the caches' TTL
        snapshots.invalidate(account_id)
        directory.invalidate(account_id)
        live.config_changed(account_id)  # an employee's lines or schedule may have changed
        # a SIP line's new password (or its deletion) ends the registrations made with the old
        task = asyncio.ensure_future(registrar.revoke_changed(account_id))
        revoking.add(task)
        task.add_done_callback(_revoked(revoking))

    # A talk option's change (a caller blacklisted, a contact's manager) is made by the switch
    # itself: this node drops its caches at once; with Redis the other nodes are told too, as
    # the API tells them, so the next call from that number is refused on any node.
    peers = (
        ConfigNotifier(settings.notify_socket_path().resolve(), settings.redis_url)
        if settings.redis_url
        else None
    )

    def talk_changed(account_id: int) -> None:
        changed(account_id)
        if peers is not None:
            peers.changed(account_id)

    talk_records.on_change = talk_changed

    def registrations() -> int:
        return registrar.bindings.count(endpoint.now())

    metrics.register(
        SwitchCollector(
            calls_active=lambda: len(pbx.calls),
            calls_started=lambda: pbx.calls_started,
            registrations=registrations,
            sip=sip_counters,
            rtp=rtp,
        )
    )
    stalls = LoopStalls()
    metrics.register(StallCollector(stalls))
    watch = LoopWatch(metrics, tick=rtp.sweep, stalls=stalls)
    notified = [0]

    def health() -> dict[str, Any]:
        return {
            "calls": len(pbx.calls),
            "registrations": registrations(),
            "loop_lag_ms": round(watch.last * 1000, 3),
            **stalls.summary(),
            "config_notifications": notified[0],
        }

    shared_bindings = (
        _share_bindings(settings, registrar, binding_storage, endpoint.now)
        if settings.redis_url
        else None
    )
    if with_api:
        api = create_api(
            engine,
            utc_now,
            data / "files",
            on_change=changed,
            switch=LocalSwitch(health),
            metrics=metrics,
            live=UnixLiveSource(live.socket_path),
            **api_limits(settings),
        )
        return Application(
            settings, engine, api, endpoint, pbx, trunks, system, runner, store, mailer,
            metrics, watch, peers=peers, deliverer=deliverer, callbacks=callbacks, live=live,
            shared_state=shared_state, shared_bindings=shared_bindings,
        )  # fmt: skip

    def notification(account_id: int, channel: str) -> None:
        notified[0] += 1
        metrics.config_notifications.labels(channel=channel).inc()
        changed(account_id)
        log.info("configuration changed", extra={"account_id": account_id, "channel": channel})

    listener = ConfigListener(
        settings.notify_socket_path().resolve(), notification, settings.redis_url
    )
    status = StatusServer(
        settings.metrics_host, settings.metrics_port, metrics.exposition, health, stalls.report
    )
    tracer = (
        StallTracer(stalls.stalls.get_timer, settings.stall_trace_ms / 1000)
        if settings.stall_trace_ms > 0
        else None
    )
    return Application(
        settings, engine, None, endpoint, pbx, trunks, system, runner, store, mailer,
        metrics, watch, listener, status, peers, deliverer, callbacks, live, shared_state,
        shared_bindings, tracer,
    )  # fmt: skip


def _share_bindings(
    settings: Settings,
    registrar: Registrar,
    storage: SharedBindingStorage,
    now: Callable[[], float],
) -> BindingChannel:
    """SIP-2 across nodes: this node's committed bindings are published, the others' adopted.
    On each (re)subscription the lines this node holds nothing for are filled from the
    database (what was told while nobody listened); a line it holds is news on the channel or
    at the phone's next refresh (docs/decisions.md, "Several switch nodes")."""

    async def adopt(line_id: int, rows: list[StoredBinding]) -> None:
        await registrar.adopt(line_id, rows, now())

    async def resync() -> None:
        by_line: dict[int, list[StoredBinding]] = {}
        for row in await storage.load(utc_now()):
            by_line.setdefault(row.line_id, []).append(row)
        for line_id, rows in by_line.items():
            if not registrar.bindings.current(rows[0].login, now()):
                await registrar.adopt(line_id, rows, now())

    channel = BindingChannel(settings.redis_url, settings.node(), adopt, resync)
    storage.channel = channel
    return channel


def outbox_deliverer(settings: Settings, engine: AsyncEngine, mailer: Mailer) -> Deliverer:
    """The node's deliverer of the outbox: webhooks behind the SSRF guard (inside networks as
    allowed), mails through `mailer`, which from now on stores its mails in the outbox."""
    deliverer = Deliverer(
        SqlOutbox(engine),
        webhooks=WebhookSender(NetGuard(settings.allow_networks()), settings.webhook_timeout),
        mail=mailer.attempt,
        clock=utc_now,
        webhook_policy=RetryPolicy(
            base=settings.webhook_retry_base,
            cap=settings.webhook_retry_cap,
            give_up_after=settings.webhook_give_up_after,
        ),
        mail_policy=RetryPolicy(delays=mailer.settings.retry_delays),
        concurrency=settings.outbox_concurrency,
        node=settings.node(),
    )
    mailer.queue = deliverer
    return deliverer


def _srtp_required(directory: Directory) -> Callable[[str], Awaitable[bool]]:
    """Whether a line requires SRTP: a leg to its phone is offered on RTP/SAVP only."""

    async def required(login: str) -> bool:
        return await directory.line_encryption(login) == "srtp"

    return required


def sip_endpoint(settings: Settings) -> SipEndpoint:
    """The SIP endpoint with its connection caps (descriptors kept for RTP and the database,
    `vpbx.transport.limits`) and, when `sip_tls_port` is set, its TLS listener."""
    total = settings.sip_tcp_max_connections or connection_cap(
        descriptor_limit(),
        settings.rtp_port_max - settings.rtp_port_min + 1,
        settings.sip_fd_reserve,
    )
    tls: TlsListener | None = None
    if settings.sip_tls_port:
        if settings.sip_tls_cert:
            cert = Path(settings.sip_tls_cert)
            key = Path(settings.sip_tls_key or settings.sip_tls_cert)
        else:
            cert, key = self_signed(settings.data_dir.resolve() / "tls", settings.public_host)
        tls = TlsListener(settings.sip_tls_port, server_context(cert, key))
    endpoint = SipEndpoint(
        settings.sip_host,
        settings.sip_port,
        partial_timeout=settings.sip_tcp_partial_timeout,
        idle_timeout=settings.sip_tcp_idle_timeout,
        limits=ConnectionLimits(per_source=settings.sip_tcp_per_source, total=total),
        tls=tls,
    )
    endpoint.front = FrontProxies(parse_front_proxies(settings.front_proxies))
    return endpoint


def _report_plain_call(
    store: CallStore,
) -> tuple[Callable[[B2BCall], None], Callable[[B2BCall], None]]:
    """Internal and outgoing calls (no scenario) still get their row in the calls report,
    from the moment they start ringing (what is told when they start, when they end)."""
    tickets: dict[str, CallTicket] = {}
    save = _save_in_background(store)

    def started(call: B2BCall) -> None:
        tickets[call.id] = store.begin(
            plain_call_start(call), answer=lambda: plain_call_answer(call)
        )

    def ended(call: B2BCall) -> None:
        save(plain_call_record(call), tickets.pop(call.id, None))

    return started, ended


def _report_refused_call(store: CallStore) -> Callable[[CallRecord], None]:
    """An outgoing call the toll-fraud guard refused is written as a blocked row."""
    save = _save_in_background(store)

    def refused(record: CallRecord) -> None:
        save(record, None)

    return refused


def _save_in_background(store: CallStore) -> Callable[[CallRecord, CallTicket | None], None]:
    """`store.save` from a synchronous callback of the switch: the task is kept until it is
    done (the loop holds only weak references) and a failure is logged."""
    tasks: set[asyncio.Task[int]] = set()

    def written(task: asyncio.Task[int]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call report not written", exc_info=task.exception())

    def save(record: CallRecord, ticket: CallTicket | None) -> None:
        task = asyncio.ensure_future(store.save(record, ticket))
        tasks.add(task)
        task.add_done_callback(written)

    return save


def _revoked(tasks: set[asyncio.Task[int]]) -> Callable[[asyncio.Task[int]], None]:
    """The end of a registrations check after a configuration change: forgotten, or logged."""

    def done(task: asyncio.Task[int]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("registrations not checked after a change", exc_info=task.exception())

    return done


async def serve(
    application: Application, stop: asyncio.Event | None = None, *, own_process: bool = False
) -> None:
    """SIP and HTTP in one process until `stop` is set (or the task is cancelled).

    `own_process`: the process does nothing else (`vpbx run`): its garbage collector is tuned
    for serving calls (`tune_garbage_collector`)."""
    import uvicorn

    settings = application.settings
    assert application.api is not None, "serve() runs the in-process composition (build)"
    if settings.generate_system_messages:
        await application.prepare_system_messages()
    if own_process:
        tune_garbage_collector()
    await application.start_sip()
    if own_process:
        gc.freeze()  # what starting SIP built, without another walk (see tune_garbage_collector)
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
    create. The region geocoder's data is loaded first, to be frozen with the rest (and not
    loaded by the first call that asks a region).

    The thresholds bound each pause (issue 17, "No pauses": < 20 ms at 100 calls/s; the
    figures in docs/decisions.md). Nearly everything a collection walks is alive: a call's
    objects, its transactions lingering up to 32 s after it. A pause is as long as the list it
    walks, at ~0.2-1 µs an object on the benchmark machine:

    * generation 0 every 2,000 net allocations walks ~3,600 objects (~1 ms). At 20,000 it
      walked ~56,000 (p50 41 ms): the counter is allocations minus deallocations, so the
      list it walks is several times the threshold;
    * generation 1 after every 2 of those walks ~11,000 (max ~17,000). At 50 it came once a
      minute and walked everything the calls had kept since start-up: 262 ms;
    * generation 2 walks what outlived a generation-1 collection: the calls in progress, the
      lingering transactions, the parked RTP sockets (~27,000 objects idle after a load,
      ~55,000 just after 100 calls/s, more while it runs: tens of milliseconds). Python runs
      it after `threshold2` generation-1 collections (and only if the objects promoted since
      the last one exceed 25 % of those it kept): 1,000 makes it once every ~5 minutes at
      100 calls/s (~3 generation-1 collections a second), rarer at lower rates. Garbage in
      reference cycles waits that long at most (calls leave little: the collections above
      free ~1 object in 1,000 they walk).

    (Python's default, 700 allocations with nothing frozen, walked the start-up objects
    hundreds of times a second: p99 INVITE→180 at 30 calls/s was 219 ms.)

    Run before the SIP port opens: the full collection here takes ~130 ms, and after it the
    first requests waited that long (`/health` of a fresh `vpbx run` read a 130 ms loop stall).
    What starting SIP builds then is frozen by a second `gc.freeze()`, which walks nothing.
    """
    load_geocoder()
    gc.collect()
    gc.freeze()
    gc.set_threshold(2_000, 2, 1_000)


async def serve_switch(application: Application, stop: asyncio.Event) -> None:
    """The switch process: SIP, RTP and call cores until `stop` is set."""
    settings = application.settings
    if settings.generate_system_messages:
        await application.prepare_system_messages()
    try:
        # half a second of imports: before the SIP port serves, not in the first calls' way
        load_geocoder()
        tune_garbage_collector()
        await application.start_sip()
        gc.freeze()  # what starting SIP built, without another walk (see tune_garbage_collector)
        log.info(
            "switch started",
            extra={
                "host": settings.sip_host,
                "port": application.endpoint.port,
                "status_port": application.status.port if application.status else None,
                "pid": os.getpid(),
            },
        )
        await stop.wait()
        log.info("switch stopping", extra={"calls": len(application.pbx.calls)})
    finally:
        with contextlib.suppress(Exception):
            await application.stop()


def run_switch(settings: Settings) -> None:
    """`vpbx run --only switch`: the switch on uvloop until SIGTERM or SIGINT."""
    import uvloop

    # Before anything is opened: the connection cap is computed from the raised limit.
    raise_descriptor_limit()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve_switch(build_switch(settings), stop)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def api_from_environment() -> FastAPI:
    """The uvicorn factory of the API processes (`vpbx run --only api`): settings from the
    environment, as every worker process builds its own app."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_json)
    # /health asks the switch over HTTP on every probe of a balancer: not a log line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    engine = make_async_engine(settings.resolved_database_url())
    notifier = ConfigNotifier(settings.notify_socket_path().resolve(), settings.redis_url)
    metrics = Metrics(namespace="vpbx_api", multiprocess_dir=multiprocess_dir_from_environment())
    switch = RemoteSwitch(f"http://{settings.metrics_host}:{settings.metrics_port}")
    return create_api(
        engine,
        utc_now,
        settings.data_dir.resolve() / "files",
        on_change=notifier.changed,
        switch=switch,
        metrics=metrics,
        live=UnixLiveSource(live_socket_path(settings)),
        **api_limits(settings),
    )


def api_limits(settings: Settings) -> dict[str, Any]:
    """What `create_api` takes from the settings about input: body limits, allowed networks,
    token lifetimes and login limits; and the cabinet it serves."""
    return {
        "max_body": settings.http_max_body,
        "max_import_body": settings.http_max_import_body,
        "allow_networks": settings.allow_networks(),
        "cabinet": cabinet_settings(settings),
        "callapi": CallApiLimits(per_minute=settings.callapi_per_minute),
        "leads": LeadLimits(per_minute=settings.leads_per_minute),
        "record_by_phone": RecordLimits(per_minute=settings.record_by_phone_per_minute),
        "auth_policy": AuthPolicy(
            access_ttl=dt.timedelta(minutes=settings.auth_access_minutes),
            refresh_ttl=dt.timedelta(days=settings.auth_refresh_days),
            window=dt.timedelta(minutes=settings.auth_lockout_minutes),
            per_login=settings.auth_login_failures,
            per_source=settings.auth_source_failures,
        ),
    }


def cabinet_settings(settings: Settings) -> CabinetSettings:
    """The web cabinet the API serves at / and the SIP server its line cards show."""
    sip = SipServer(
        host=settings.public_host,
        port=settings.sip_port,
        tls_port=settings.sip_tls_port or None,
        realm=settings.sip_realm,
    )
    web_dir = Path(settings.web_dir) if settings.web_dir else default_web_dir()
    return CabinetSettings(web_dir=web_dir, sip=sip)


def run_api(settings: Settings) -> None:
    """`vpbx run --only api`: uvicorn with `VPBX_HTTP_WORKERS` workers (it handles SIGTERM),
    once the HTTP port is free: a dying API of a previous instance may hold it for a moment
    (`vpbx.transport.listen`). Exits with status 1 if it stays in use."""
    import uvicorn

    try:
        probe = bind_with_retry(
            settings.http_host, settings.http_port, clock=time.monotonic, sleep=time.sleep
        )
    except ListenError as error:
        log.error(
            "api not started: http port in use",
            extra={"host": settings.http_host, "port": settings.http_port, "error": str(error)},
        )
        raise SystemExit(1) from None
    # uvicorn binds its own socket (handing it one means driving its worker manager, whose
    # signature changed between releases). Between this close and its bind only a live server
    # starting right then could take the port, and then failing is right.
    probe.close()
    uvicorn.run(
        "vpbx.app:api_from_environment",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        workers=settings.http_workers,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        loop="uvloop",
        # the live view's streams (CDR-4) never end by themselves; a stop must not wait on them
        timeout_graceful_shutdown=3,
    )
