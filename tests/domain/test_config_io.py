"""Config as code (ACC-3): a whole account exported, imported elsewhere, exported again — equal.

The rich account holds every exported resource, built the way an admin would (entities edited
after others refer to them, a scenario changed to insert one made later, an employee moved
between groups from his own card), so the export is not in a convenient order by construction.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.domain.conftest import Tenant, Tenants, clock
from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import Forbidden, ValidationFailed
from vpbx.domain.passwords import verify_password
from vpbx.services.config_io import ORDER, export_account, import_account
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine


def workday(start: str, end: str) -> list[dict[str, Any]]:
    return [{"weekday": d, "intervals": [{"start": start, "end": end}]} for d in range(1, 6)]


async def build_rich_account(tenant: Tenant) -> dict[str, int]:
    """Every exported resource, with every kind of reference between them."""
    c = tenant.create
    ids: dict[str, int] = {}

    async def make(key: str, name: str, data: dict[str, Any], role: Role = Role.ADMIN) -> Any:
        out = await c(name, data, role)
        ids[key] = out["id"]
        return out

    await make("weekdays", "schedules", {"name": "Будни", "weekly": workday("09:00", "18:00")})
    await make(
        "shifts",
        "schedules",
        {
            "name": "Сутки через трое",
            "kind": "cycle",
            "cycle": {
                "on_days": 1,
                "off_days": 3,
                "start_date": "2025-01-01",
                "intervals": [{"start": "00:00", "end": "00:00"}],
            },
            "use_production_calendar": True,
            "active_from": "2025-01-01",
        },
    )
    await c("calendar-overrides", {"date": "2025-05-02", "working": False, "comment": "перенос"})
    await c("calendar-overrides", {"date": "2025-11-01", "working": True})
    await make("vip_tag", "tags", {"name": "VIP", "color": "#ff0000"})
    await make("spam_tag", "tags", {"name": "Спам"})
    await make("greeting", "files", {"name": "Приветствие", "text": "Здравствуйте!"})
    await make("hold", "files", {"name": "Музыка", "kind": "system", "system_name": "hold_music"})
    await make("whisper", "files", {"name": "Шёпот"})
    await make("vip", "contact-groups", {"name": "VIP"})
    await make("debtors", "contact-groups", {"name": "Должники"})
    await make(
        "regulars",
        "segments",
        {
            "name": "Постоянные",
            "conditions": {
                "contact_group_ids": [ids["vip"]],
                "regions": ["Москва"],
                "min_visits": 3,
                "tag_ids": [ids["vip_tag"]],
                "numbers": ["7495*", "79161234567"],
            },
        },
    )
    await make(
        "trunk",
        "trunks",
        {
            "name": "Провайдер",
            "host": "sip.provider.example",
            "port": 5080,
            "transport": "tcp",
            "allow_ips": ["203.0.113.5"],
            "username": "romashka",
            "password": "trunk-secret",
            "registration": True,
        },
    )
    await make("desk", "sip-lines", {"comment": "Ресепшн", "caller_id_mode": "random"})
    await make("fmc1", "fmc-lines", {"number": "79160000001", "channels": 2}, Role.OPERATOR)
    await make("fmc2", "fmc-lines", {"number": "79160000002", "blocked": False}, Role.OPERATOR)

    boss = await make(
        "boss",
        "employees",
        {
            "last_name": "Иванов",
            "first_name": "Иван",
            "email": "ivanov@romashka.example",
            "extension": "2001",
            "schedule_id": ids["weekdays"],
            "phones": [
                {"kind": "sip"},
                {"kind": "number", "number": "+7 (916) 000-00-11", "ring_timeout": 30},
                {"kind": "fmc", "fmc_line_id": ids["fmc1"]},
                {"kind": "sip_uri", "sip_uri": "office@pbx.example.ru:5080"},
            ],
        },
    )
    seller = await make(
        "seller",
        "employees",
        {
            "last_name": "Петров",
            "extension": "2002",
            "trainer_id": ids["boss"],
            "auto_call_trainer": True,
            "phones": [{"kind": "sip", "lines": 2}, {"kind": "number", "number": "79160000022"}],
        },
    )
    await make(
        "helper",
        "employees",
        {
            "last_name": "Сидоров",
            "phones": [{"kind": "number", "number": "79160000033"}],
            "rate_after_call": True,
            "join_queue": True,
        },
    )
    # The boss's trainer is made after him: a reference forward in id order.
    await tenant.update("employees", ids["boss"], {"trainer_id": ids["helper"]})
    await tenant.update("fmc-lines", ids["fmc1"], {"employee_id": ids["boss"]})

    bp, sp = boss["phones"], seller["phones"]
    await make(
        "sales",
        "groups",
        {
            "name": "Продажи",
            "extension": "2100",
            "member_ids": [ids["boss"], ids["seller"]],
            "schedule_id": ids["weekdays"],
            "simultaneous_lines": 2,
            "distribution": [
                {"employee_id": ids["seller"], "phone_id": sp[0]["id"], "percent": 40},
                {"employee_id": ids["boss"], "phone_id": bp[0]["id"], "percent": 40},
                {"employee_id": ids["boss"], "phone_id": bp[1]["id"], "percent": 10},
                {"employee_id": ids["boss"], "phone_id": bp[2]["id"], "percent": 10},
                {"employee_id": ids["boss"], "phone_id": bp[3]["id"], "enabled": False},
            ],
        },
    )
    await make("support", "groups", {"name": "Поддержка", "member_ids": [ids["seller"]]})
    await make("night", "groups", {"name": "Ночная", "type_sort": "T"})
    # From the employees' cards: the helper joins support and sales, the seller gets a new phone.
    await tenant.update("employees", ids["helper"], {"group_ids": [ids["support"], ids["sales"]]})
    await tenant.update(
        "employees",
        ids["seller"],
        {"phones": [*sp, {"kind": "fmc", "fmc_line_id": ids["fmc2"]}]},
    )
    await tenant.update("groups", ids["night"], {"member_ids": [ids["boss"], ids["helper"]]})

    await make("callers", "caller-lists", {"name": "Партнёры", "numbers": ["74951112233", "7812*"]})
    await make(
        "client",
        "contacts",
        {
            "last_name": "Смирнова",
            "first_name": "Анна",
            "email": "anna@client.example",
            "phones": ["+7 916 555-44-33"],
            "organization": "ООО Клиент",
            "group_ids": [ids["debtors"], ids["vip"]],
            "manager_id": ids["seller"],
        },
    )
    await make("other_client", "contacts", {"last_name": "Козлов", "group_ids": [ids["vip"]]})
    await c("blacklist", {"number": "74950000666", "comment": "спам"})

    # "Главный" is made first and changed later to insert "Справка", made after it.
    await make("main", "scenarios", {"name": "Главный"})
    await make(
        "info",
        "scenarios",
        {
            "name": "Справка",
            "entry": "say",
            "operations": [
                {
                    "key": "say",
                    "kind": "info",
                    "file_ids": [ids["greeting"]],
                    "exits": {"next": "vm"},
                },
                {"key": "vm", "kind": "voicemail", "emails": ["office@romashka.example"]},
            ],
        },
    )
    await tenant.replace("scenarios", ids["main"], main_scenario(ids))
    await make(
        "after_hours",
        "scenarios",
        {
            "name": "Нерабочее время",
            "entry": "ins",
            "operations": [{"key": "ins", "kind": "insert", "scenario_id": ids["info"]}],
        },
    )

    await make(
        "main_number",
        "numbers",
        {
            "number": "74950000001",
            "name": "Основной",
            "trunk_id": ids["trunk"],
            "region": "Москва",
            "rules": [
                {
                    "name": "VIP",
                    "callers": {"scope": "contact_groups", "contact_group_ids": [ids["vip"]]},
                    "scenario_id": ids["main"],
                },
                {
                    "name": "Партнёры",
                    "callers": {"scope": "lists", "caller_list_ids": [ids["callers"]]},
                    "schedule_id": ids["weekdays"],
                    "scenario_id": ids["main"],
                },
                {
                    "callers": {"scope": "contacts", "contact_ids": [ids["client"]]},
                    "scenario_id": ids["info"],
                },
                {"callers": {"scope": "unknown"}, "scenario_id": ids["main"], "enabled": False},
                {"schedule_id": ids["shifts"], "scenario_id": ids["main"]},
                {"scenario_id": ids["after_hours"]},
            ],
        },
    )
    await make(
        "ads",
        "numbers",
        {"number": "74950000002", "kind": "analytics", "forward_to": "74950000001"},
    )
    await tenant.update("sip-lines", ids["desk"], {"caller_id_number_id": ids["main_number"]})
    await tenant.update("fmc-lines", ids["fmc2"], {"caller_id_number_id": ids["ads"]})

    await c("talk-options", {"key": "1", "action": "run_scenario", "scenario_id": ids["info"]})
    await c("talk-options", {"key": "2", "action": "tag", "tag_id": ids["vip_tag"]})
    await c(
        "talk-options",
        {"key": "3", "action": "save_caller_id", "contact_group_id": ids["debtors"]},
    )
    await c("talk-options", {"key": "4", "action": "save_caller_id", "to_blacklist": True})
    await c("talk-options", {"key": "#", "action": "transfer"})
    await c("talk-options", {"key": "*", "action": "call_trainer"})
    await c(
        "cid-rules",
        {
            "action": "allow",
            "number_ids": [ids["main_number"], ids["ads"]],
            "employee_ids": [ids["seller"]],
            "comment": "продажи",
        },
    )
    await c("cid-rules", {"position": 1, "action": "deny", "number_ids": [ids["ads"]]})
    await c(
        "callback-rules",
        {
            "name": "Пропущенные на основном",
            "place": "number",
            "number_id": ids["main_number"],
            "how": {"method": "group", "group_id": ids["sales"]},
            "whisper": {"text": "Перезвон", "file_id": ids["whisper"], "call_data": True},
            "call_schedule_id": ids["weekdays"],
            "rule_schedule_id": ids["shifts"],
            "attempt_intervals": [0, 300, 900, 3600, 7200],
            "min_wait_seconds": 30,
            "max_concurrent": 5,
        },
    )
    await c(
        "callback-rules",
        {
            "name": "Из сценария",
            "position": 1,
            "place": "scenario",
            "scenario_id": ids["main"],
            "how": {"method": "scenario", "scenario_id": ids["info"]},
        },
    )
    await c(
        "callback-rules",
        {
            "name": "Переводы",
            "place": "transfer",
            "how": {"method": "employee", "employee_id": ids["boss"]},
        },
    )
    await c(
        "lead-callback-rules",
        {
            "name": "Заявки постоянных",
            "source": "segment",
            "segment_id": ids["regulars"],
            "how": {"method": "employee", "employee_id": ids["seller"]},
            "call_schedule_id": ids["weekdays"],
            "max_concurrent": 2,
        },
    )
    await c(
        "lead-callback-rules",
        {
            "name": "С сайта",
            "source": "site",
            "site": "romashka.example",
            "how": {"method": "tried"},
        },
    )
    await c(
        "webhooks",
        {
            "url": "https://crm.romashka.example/hook",
            "events": ["call_missed", "call_ended"],
            "secret": "hook-secret",
        },
    )
    await c(
        "users",
        {"login": "admin@romashka", "password": "admin-password", "role": "admin"},
    )
    await c(
        "users",
        {
            "login": "petrov@romashka",
            "password": "petrov-password",
            "role": "employee",
            "full_name": "Петров",
            "employee_id": ids["seller"],
        },
    )
    return ids


def main_scenario(ids: dict[str, int]) -> dict[str, Any]:
    """Every kind of operation, a menu with extension input and an insert of another scenario."""
    return {
        "name": "Главный",
        "entry": "auth",
        "operations": [
            {
                "key": "auth",
                "kind": "auth",
                "code": "0042",
                "prompt_file_id": ids["greeting"],
                "exits": {"yes": "visit", "no": "menu"},
            },
            {"key": "visit", "kind": "visit", "interval_hours": 48, "exits": {"first": "region"}},
            {
                "key": "region",
                "kind": "region",
                "branches": [{"region": "Москва", "target": "segment"}, {"region": "Тверь"}],
                "exits": {"others": "menu"},
            },
            {
                "key": "segment",
                "kind": "segment",
                "branches": [{"segment_id": ids["regulars"], "target": "pm"}],
                "exits": {"others": "menu", "no_segment": "ivr"},
            },
            {"key": "pm", "kind": "personal_manager", "exits": {"failed": "menu"}},
            {
                "key": "ivr",
                "kind": "interactive",
                "url": "https://crm.romashka.example/ivr",
                "method": "POST",
                "params": ["cdr_id", "numa"],
                "dtmf_length": 4,
                "codes": [{"code": 1, "target": "fwd"}, {"code": 2, "target": "info"}],
                "exits": {"fallback": "menu"},
            },
            {
                "key": "menu",
                "kind": "menu",
                "prompt_file_id": ids["greeting"],
                "prompt_text": "Нажмите 1 для отдела продаж",
                "hash_returns": True,
                "exits": {
                    "1": "fwd",
                    "2": "ext",
                    "0": "info",
                    "timeout": "fwd",
                    "invalid": "menu",
                    "extension_input": "menu_ext",
                },
            },
            {"key": "menu_ext", "kind": "extension", "from_menu": True},
            {
                "key": "ext",
                "kind": "extension",
                "prompt_file_id": ids["greeting"],
                "ringback_file_ids": [ids["hold"]],
                "exits": {"failed": "fwd", "invalid": "menu"},
            },
            {
                "key": "fwd",
                "kind": "forward",
                "targets": [
                    {"group_id": ids["sales"]},
                    {"employee_id": ids["boss"], "phone_id": None},
                    {"number": "74951234567"},
                ],
                "strategy": "custom",
                "distribution": {"percentage": True, "queue": True, "wrapup_seconds": 10},
                "ringback_file_ids": [ids["hold"], ids["greeting"]],
                "queue_message_file_id": ids["hold"],
                "operator_message_text": "Звонок с сайта",
                "tag_after_call": True,
                "exits": {"no_answer": "info"},
            },
            {"key": "info", "kind": "insert", "scenario_id": ids["info"]},
        ],
    }


async def export(engine: AsyncEngine, account_id: int) -> dict[str, Any]:
    async with engine.begin() as conn:
        return await export_account(EntityService(conn, Actor(Role.ADMIN, account_id), clock))


async def import_(
    engine: AsyncEngine, account_id: int, document: dict[str, Any], role: Role = Role.OPERATOR
) -> None:
    async with engine.begin() as conn:
        await import_account(EntityService(conn, Actor(role, account_id), clock), document)


def as_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@pytest.fixture
async def rich(tenants: Tenants) -> tuple[Tenant, dict[str, int]]:
    tenant = await tenants.new("Ромашка", sip_uri_transfer=True, timezone="Asia/Yekaterinburg")
    return tenant, await build_rich_account(tenant)


async def test_the_rich_account_has_every_exported_resource(
    rich: tuple[Tenant, dict[str, int]],
) -> None:
    tenant, _ids = rich
    document = await export(tenant.engine, tenant.account_id)
    assert [name for name in ORDER if not document[name]] == []
    assert document["vpbx_config"] == 1
    assert document["account"]["name"] == "Ромашка"
    kinds = {op["kind"] for s in document["scenarios"] for op in s["operations"]}
    assert kinds == {
        "auth",
        "voicemail",
        "info",
        "menu",
        "forward",
        "extension",
        "personal_manager",
        "insert",
        "interactive",
        "visit",
        "region",
        "segment",
    }
    phone_kinds = {p["kind"] for e in document["employees"] for p in e["phones"]}
    assert phone_kinds == {"sip", "number", "fmc", "sip_uri"}
    # References are document-local numbers 1..n, not database ids.
    for name in ORDER:
        assert [item["id"] for item in document[name]] == list(range(1, len(document[name]) + 1))


async def test_export_import_into_a_fresh_database_round_trips(
    rich: tuple[Tenant, dict[str, int]], other_db_url: str
) -> None:
    tenant, _ids = rich
    first = await export(tenant.engine, tenant.account_id)
    text = as_yaml(first)
    fresh = make_async_engine(other_db_url)
    try:
        # Ids in the fresh database differ from the source's: other accounts come first there.
        other = Tenants(fresh)
        await other.new("Чужой")
        target = await other.new("Новый")
        await import_(fresh, target.account_id, yaml.safe_load(text))
        second = await export(fresh, target.account_id)

        # What the import made works like the original: the users log in with their passwords.
        async with fresh.connect() as conn:
            hashes = dict(
                (await conn.execute(sa.select(t.users.c.login, t.users.c.password_hash))).all()
            )
        assert verify_password("admin-password", hashes["admin@romashka"])
        assert verify_password("petrov-password", hashes["petrov@romashka"])
    finally:
        await fresh.dispose()
    assert second == first
    assert as_yaml(second) == text


async def test_export_import_across_backends_round_trips(
    rich: tuple[Tenant, dict[str, int]], other_backend_db_url: str
) -> None:
    tenant, _ids = rich
    first = await export(tenant.engine, tenant.account_id)
    other = make_async_engine(other_backend_db_url)
    try:
        target = await Tenants(other).new("Новый")
        await import_(other, target.account_id, yaml.safe_load(as_yaml(first)))
        second = await export(other, target.account_id)
    finally:
        await other.dispose()
    assert second == first


async def test_import_into_the_same_account_round_trips(
    rich: tuple[Tenant, dict[str, int]],
) -> None:
    tenant, _ids = rich
    first = await export(tenant.engine, tenant.account_id)
    await import_(tenant.engine, tenant.account_id, yaml.safe_load(as_yaml(first)))
    second = await export(tenant.engine, tenant.account_id)
    assert second == first
    assert as_yaml(second) == as_yaml(first)
    # Replaced, not added to.
    assert await tenant.count(t.employees) == len(first["employees"])
    assert await tenant.count(t.sip_lines) == len(first["sip-lines"])
    assert await tenant.count(t.users) == len(first["users"])


async def test_secrets_travel_with_the_export(rich: tuple[Tenant, dict[str, int]]) -> None:
    tenant, _ids = rich
    document = await export(tenant.engine, tenant.account_id)
    assert document["trunks"][0]["password"] == "trunk-secret"
    assert all(line["login"] and line["password"] for line in document["sip-lines"])
    assert all(user["password_hash"].startswith("scrypt$") for user in document["users"])


def broken(document: dict[str, Any], section: str, index: int, **change: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed[section][index].update(change)
    return changed


BROKEN = [
    ("employees", 1, {"schedule_id": 99}, "employees.1.schedule_id"),
    ("employees", 0, {"trainer_id": 99}, "employees.0.trainer_id"),
    ("contacts", 0, {"group_ids": [1, 99]}, "contacts.0.group_ids.1"),
    ("numbers", 0, {"number": "12345"}, "numbers.0.number"),
    ("employees", 2, {"extension": "881"}, "employees.2.extension"),
    ("employees", 2, {"extension": "2001"}, "employees.2.extension"),  # taken by the boss
    ("groups", 0, {"name": ""}, "groups.0.name"),
    ("callback-rules", 0, {"max_concurrent": 6}, "callback-rules.0.max_concurrent"),
    ("fmc-lines", 0, {"channels": 3}, "fmc-lines.0.channels"),
    ("fmc-lines", 1, {"caller_id_number_id": 99}, "fmc-lines.1.caller_id_number_id"),
    ("sip-lines", 0, {"caller_id_number_id": 99}, "sip-lines.0.caller_id_number_id"),
    ("users", 1, {"employee_id": 99}, "users.1.employee_id"),
]


async def test_a_broken_document_changes_nothing(rich: tuple[Tenant, dict[str, int]]) -> None:
    """Every case on one rich account (building it is the slow part): each broken document is
    refused naming its entry, and the account exports exactly as before."""
    tenant, _ids = rich
    before = await export(tenant.engine, tenant.account_id)
    for section, index, change, field in BROKEN:
        with pytest.raises(ValidationFailed) as caught:
            await import_(
                tenant.engine, tenant.account_id, broken(before, section, index, **change)
            )
        named = [v.field for v in caught.value.violations]
        assert field in named, f"{section}.{index} {change}: {caught.value.message}"
        assert await export(tenant.engine, tenant.account_id) == before, (section, change)


async def test_broken_scenarios_are_named_by_their_place_in_the_document(
    rich: tuple[Tenant, dict[str, int]],
) -> None:
    tenant, _ids = rich
    before = await export(tenant.engine, tenant.account_id)
    # The main scenario (1) inserts the info scenario (2), which is created first on import;
    # errors still name the entries as the document numbers them.
    assert before["scenarios"][0]["name"] == "Главный"
    cases = {
        "scenarios.0.operations.0.code": ("code", "12a"),
        "scenarios.0.operations.0.exits.yes": ("exits", {"yes": "nowhere"}),
        "scenarios.0.operations.10.scenario_id": ("scenario_id", 99),
    }
    for field, (key, value) in cases.items():
        document = copy.deepcopy(before)
        operation = document["scenarios"][0]["operations"][0 if key != "scenario_id" else 10]
        operation[key] = value
        with pytest.raises(ValidationFailed) as caught:
            await import_(tenant.engine, tenant.account_id, document)
        assert field in [v.field for v in caught.value.violations], caught.value.message
    # An insertion cycle written into the document is refused too.
    document = copy.deepcopy(before)
    document["scenarios"][1]["operations"] = [{"key": "back", "kind": "insert", "scenario_id": 1}]
    document["scenarios"][1]["entry"] = "back"
    with pytest.raises(ValidationFailed) as caught:
        await import_(tenant.engine, tenant.account_id, document)
    assert [v.error_id for v in caught.value.violations] == ["insert_cycle"]
    assert caught.value.violations[0].field.startswith("scenarios.")
    assert await export(tenant.engine, tenant.account_id) == before


async def test_import_refuses_unknown_sections_and_versions(tenants: Tenants) -> None:
    tenant = await tenants.new()
    with pytest.raises(ValidationFailed) as caught:
        await import_(tenant.engine, tenant.account_id, {"vpbx_config": 2})
    assert [v.field for v in caught.value.violations] == ["vpbx_config"]
    with pytest.raises(ValidationFailed) as caught:
        await import_(tenant.engine, tenant.account_id, {"vpbx_config": 1, "phones": []})
    assert [v.field for v in caught.value.violations] == ["phones"]


async def test_fmc_lines_in_a_document_need_the_operator(
    rich: tuple[Tenant, dict[str, int]], tenants: Tenants
) -> None:
    tenant, _ids = rich
    document = await export(tenant.engine, tenant.account_id)
    # An admin may neither create FMC lines from a document nor remove the account's own.
    target = await tenants.new("Новый")
    with pytest.raises(Forbidden, match="fmc-lines"):
        await import_(tenant.engine, target.account_id, document, role=Role.ADMIN)
    assert await target.count(t.fmc_lines) == 0
    without_fmc = {k: v for k, v in document.items() if k != "fmc-lines"}
    with pytest.raises(Forbidden, match="fmc-lines"):
        await import_(tenant.engine, tenant.account_id, without_fmc, role=Role.ADMIN)
    assert await export(tenant.engine, tenant.account_id) == document
    # Roles that may not change the configuration may not import it.
    for role in (Role.SUPERVISOR, Role.EMPLOYEE):
        with pytest.raises(Forbidden):
            await import_(tenant.engine, tenant.account_id, {"vpbx_config": 1}, role=role)
