"""`vpbx` command line: run the PBX, migrate, seed, import/export configuration, operator tokens."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx import __version__, logs
from vpbx.cli.simulate import register as register_scenario_commands
from vpbx.cluster import NODE_PORT_OFFSET, node_count
from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import DomainError
from vpbx.notify import ConfigNotifier
from vpbx.seed import describe, is_empty, seed_demo
from vpbx.services import accounts
from vpbx.services.config_io import (
    ImportResult,
    apply_import,
    export_account,
    list_versions,
    parse_document,
    rollback,
)
from vpbx.services.entities import EntityService
from vpbx.settings import Settings
from vpbx.storage.db import make_async_engine
from vpbx.storage.migrate import upgrade
from vpbx.supervisor import ClusterError, Supervisor
from vpbx.switch.clock import utc_now

log = logging.getLogger("vpbx.cli")


def _migrate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url())


def _in_transaction(settings: Settings, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        engine = make_async_engine(settings.resolved_database_url())
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    _migrate(settings)
    print("database migrated to head")
    return 0


def _seed_if_empty(settings: Settings) -> str | None:
    async def work(conn: AsyncConnection) -> str | None:
        if not await is_empty(conn):
            return None
        demo = await seed_demo(conn, utc_now)
        http = f"http://{settings.http_host}:{settings.http_port}"
        return describe(demo, http, settings.public_host, settings.sip_port)

    result: str | None = _in_transaction(settings, work)
    return result


def cmd_seed(settings: Settings, _args: argparse.Namespace) -> int:
    _migrate(settings)
    text = _seed_if_empty(settings)
    print(text or "the database already has accounts: nothing seeded")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: the composition of the switch and the API costs seconds of imports that the
    # configuration commands (and the supervisor, which only spawns its children) do not need.
    from vpbx.app import run_api, run_switch

    # The supervisor migrated and seeded before starting its children.
    if args.only == "switch":
        run_switch(settings)
        return 0
    if args.only == "api":
        run_api(settings)
        return 0
    if args.nodes is not None:
        settings = settings.model_copy(update={"nodes": args.nodes})
    count = node_count(settings)
    _migrate(settings)
    text = _seed_if_empty(settings)
    http = f"http://{settings.http_host}:{settings.http_port}"
    print(text or f"vpbx {__version__}: using the existing database", flush=True)
    if count > 1:
        sip = (
            f"SIP: udp/tcp {settings.sip_host}:{settings.sip_port} (Kamailio, dispatching to "
            f"{count} switch nodes on ports {settings.sip_port + NODE_PORT_OFFSET}–"
            f"{settings.sip_port + NODE_PORT_OFFSET + count - 1}; no TLS in this mode)"
        )
    else:
        sip = f"SIP: udp/tcp {settings.sip_host}:{settings.sip_port}" + (
            f", tls port {settings.sip_tls_port}" if settings.sip_tls_port else ""
        )
    print(
        sip + "\n"
        f"API and cabinet: {http}/api/v1/docs  (OpenAPI: {http}/api/v1/openapi.json)\n"
        f"Health: {http}/health  Metrics: {http}/metrics",
        flush=True,
    )
    try:
        return Supervisor(settings).run()
    except ClusterError as error:
        print(f"vpbx run: {error}", file=sys.stderr, flush=True)
        return 2


def cmd_operator_token(settings: Settings, args: argparse.Namespace) -> int:
    _migrate(settings)

    async def work(conn: AsyncConnection) -> str:
        return await accounts.issue_token(conn, utc_now(), None, label=args.label, operator=True)

    print(_in_transaction(settings, work))
    return 0


def cmd_config_export(settings: Settings, args: argparse.Namespace) -> int:
    async def work(conn: AsyncConnection) -> dict[str, Any]:
        return await export_account(
            EntityService(conn, Actor(Role.OPERATOR, args.account), utc_now)
        )

    text = yaml.safe_dump(_in_transaction(settings, work), allow_unicode=True, sort_keys=False)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


def _print_import(result: ImportResult) -> None:
    """One line per section the import touches (or would touch)."""
    for name, change in result.sections.items():
        if change.kept:
            print(f"  {name}: kept as it is (not in the document)")
        elif change.created or change.changed or change.deleted:
            print(
                f"  {name}: {len(change.created)} created, {len(change.changed)} changed, "
                f"{len(change.deleted)} deleted"
            )
    if result.account_changed:
        print("  account: settings changed")


def cmd_config_import(settings: Settings, args: argparse.Namespace) -> int:
    source = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    document = parse_document(source)

    async def work(conn: AsyncConnection) -> ImportResult:
        svc = EntityService(
            conn, Actor(Role.OPERATOR, args.account), utc_now, url_allow=settings.allow_networks()
        )
        return await apply_import(
            svc, document, dry_run=args.dry_run, replace_missing=args.replace_missing
        )

    result: ImportResult = _in_transaction(settings, work)
    if args.dry_run:
        print(f"account {args.account}: dry run, nothing written; the import would change:")
    else:
        asyncio.run(_notify_switch(settings, args.account))
        print(
            f"account {args.account}: configuration imported; the previous one is version "
            f"{result.version_id} (vpbx config rollback --account {args.account})"
        )
    _print_import(result)
    return 0


def cmd_config_rollback(settings: Settings, args: argparse.Namespace) -> int:
    async def work(conn: AsyncConnection) -> ImportResult:
        svc = EntityService(
            conn, Actor(Role.OPERATOR, args.account), utc_now, url_allow=settings.allow_networks()
        )
        return await rollback(svc, args.version)

    result: ImportResult = _in_transaction(settings, work)
    asyncio.run(_notify_switch(settings, args.account))
    print(
        f"account {args.account}: configuration restored; the one it replaced is version "
        f"{result.version_id}"
    )
    _print_import(result)
    return 0


def cmd_config_versions(settings: Settings, args: argparse.Namespace) -> int:
    async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
        return await list_versions(EntityService(conn, Actor(Role.OPERATOR, args.account), utc_now))

    for version in _in_transaction(settings, work):
        print(
            f"{version['id']}\t{version['created_at']:%Y-%m-%d %H:%M:%S}Z\t"
            f"replaced by {version['source']}\t{version['size']} characters"
        )
    return 0


async def _notify_switch(settings: Settings, account_id: int) -> None:
    """A running switch drops its cached copy at once (else within its caches' TTL)."""
    notifier = ConfigNotifier(settings.notify_socket_path().resolve(), settings.redis_url)
    try:
        notifier.changed(account_id)
    finally:
        await notifier.aclose()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="vpbx", description="vpbx — a self-hostable virtual PBX")
    top.add_argument("--version", action="version", version=f"vpbx {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="migrate, seed a demo account if empty, and serve (switch and API processes)",
    )
    run.add_argument(
        "--only",
        choices=("switch", "api"),
        help="one process of the two (what `vpbx run` starts; no migration, no seed)",
    )
    run.add_argument(
        "--nodes",
        type=int,
        default=None,
        metavar="N",
        help="switch processes: 1 (default, VPBX_NODES) = one switch on the SIP port; N > 1 = N "
        "nodes behind Kamailio on the SIP port (needs VPBX_REDIS_URL); 0 = one per core",
    )
    run.set_defaults(func=cmd_run)
    sub.add_parser("migrate", help="migrate the database to the newest schema").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("seed", help="create the demo account if the database is empty").set_defaults(
        func=cmd_seed
    )
    token = sub.add_parser("operator-token", help="issue an installation operator API token")
    token.add_argument("--label", default="cli")
    token.set_defaults(func=cmd_operator_token)
    config = sub.add_parser("config", help="export or import an account's configuration (YAML)")
    config_sub = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = config_sub.add_parser("export", help="write the account configuration as YAML")
    export.add_argument("--account", type=int, required=True)
    export.add_argument("-o", "--output", default="-")
    export.set_defaults(func=cmd_config_export)
    imp = config_sub.add_parser(
        "import", help="import the account configuration from YAML (the previous one is kept)"
    )
    imp.add_argument("--account", type=int, required=True)
    imp.add_argument("file", help="YAML file, or - for standard input")
    imp.add_argument(
        "--dry-run", action="store_true", help="print what would change, write nothing"
    )
    imp.add_argument(
        "--replace-missing",
        action="store_true",
        help="empty the sections the document omits (default: keep them)",
    )
    imp.set_defaults(func=cmd_config_import)
    back = config_sub.add_parser(
        "rollback", help="restore the configuration an import replaced (default: the last one)"
    )
    back.add_argument("--account", type=int, required=True)
    back.add_argument("--version", type=int, default=None, help="a version id (config versions)")
    back.set_defaults(func=cmd_config_rollback)
    versions = config_sub.add_parser("versions", help="list the stored previous configurations")
    versions.add_argument("--account", type=int, required=True)
    versions.set_defaults(func=cmd_config_versions)
    register_scenario_commands(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    logs.configure(settings.log_level, settings.log_json)
    try:
        result: int = args.func(settings, args)
    except DomainError as error:
        print(f"error ({error.error_id}): {error.message}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
