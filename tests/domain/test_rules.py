"""The rules of the manual, enforced by the domain layer.

Pure validators (EMP-2, EMP-3, XFR-3, SCN-AUTH, CB-1, FMC-1) are checked on their own; every
rule that needs the account (uniqueness, FMC format, SIP lines, references, ACC-4 deletion) is
checked through `EntityService` on a real database, as [sqlite] and [postgres].
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError

from tests.domain.conftest import Tenant, Tenants, clock
from vpbx.domain.actor import Role
from vpbx.domain.entities.callback import CallbackRule, CallbackTask, TaskStatus
from vpbx.domain.entities.people import FmcLine
from vpbx.domain.errors import Conflict, Forbidden, InUse, NotFound, ValidationFailed
from vpbx.domain.fields import (
    DigitCode,
    Extension,
    PhoneNumber,
    SipUri,
    fmc_extension_ok,
)
from vpbx.services import hooks
from vpbx.services.catalog import BY_NAME
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

PHONE = "74951234567"

# -- document builders -------------------------------------------------------------------------


def employee(
    last_name: str = "Иванов", extension: str | None = None, **more: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "last_name": last_name,
        "phones": [{"kind": "number", "number": PHONE}],
    }
    if extension is not None:
        doc["extension"] = extension
    return doc | more


def fwd_scenario(name: str, group_id: int) -> dict[str, Any]:
    return {
        "name": name,
        "entry": "fwd",
        "operations": [{"key": "fwd", "kind": "forward", "targets": [{"group_id": group_id}]}],
    }


def insert_scenario(name: str, *inserted: int) -> dict[str, Any]:
    ops = [{"key": f"ins{n}", "kind": "insert", "scenario_id": s} for n, s in enumerate(inserted)]
    return {"name": name, "entry": ops[0]["key"] if ops else None, "operations": ops}


def info_scenario(name: str, file_ids: list[int] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"key": "hello", "kind": "info"}
    op |= {"file_ids": file_ids} if file_ids else {"text": "Здравствуйте"}
    return {"name": name, "entry": "hello", "operations": [op]}


def callback_rule(**more: Any) -> dict[str, Any]:
    return {"name": "Перезвон", "how": {"method": "tried"}} | more


def fields_of(error: ValidationFailed) -> list[str]:
    return [v.field for v in error.violations]


def error_ids(error: ValidationFailed) -> list[str]:
    return [v.error_id for v in error.violations]


async def refused(
    tenant: Tenant, name: str, data: dict[str, Any], role: Role = Role.ADMIN
) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        await tenant.create(name, data, role)
    assert caught.value.status == 422
    return caught.value


def valid(adapter: TypeAdapter[Any], value: str) -> Any:
    return adapter.validate_python(value)


EXTENSION = TypeAdapter(Extension)
PHONE_NUMBER = TypeAdapter(PhoneNumber)
SIP_URI = TypeAdapter(SipUri)
DIGIT_CODE = TypeAdapter(DigitCode)


# -- EMP-2: extensions (pure) ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1", "101", "2101", "21010", "99999", "80", "808", "8"])
def test_extension_accepts_up_to_five_digits(value: str) -> None:
    assert valid(EXTENSION, value) == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "digits only"),
        ("12a", "digits only"),
        ("1 2", "digits only"),
        ("+101", "digits only"),
        ("-1", "digits only"),
        ("1.5", "digits only"),
        ("١٢٣", "digits only"),  # Arabic-Indic digits are not 0-9
        ("101\n", "digits only"),
        ("123456", "at most 5"),
        ("000000", "at most 5"),
        ("88", "88"),
        ("881", "88"),
        ("88000", "88"),
    ],
)
def test_extension_refused(value: str, why: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(why)):
        valid(EXTENSION, value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2000", True),
        ("2101", True),
        ("29999", True),
        ("20000", True),
        ("200", False),
        ("2", False),
        ("101", False),
        ("3101", False),
        ("12101", False),
        ("200000", False),
    ],
)
def test_fmc_extension_format_is_2xxx_or_2xxxx(value: str, ok: bool) -> None:
    assert fmc_extension_ok(value) is ok


# -- EMP-3: phone numbers (pure) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+7 (495) 123-45-67", "74951234567"),
        ("74951234567", "74951234567"),
        ("7 495 123 45 67", "74951234567"),
        ("+7-495-123-45-67", "74951234567"),
        ("+44 20 7946 0958", "442079460958"),
        ("1234567890", "1234567890"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_phone_normalized_to_international_digits(given: str, stored: str) -> None:
    assert valid(PHONE_NUMBER, given) == stored


@pytest.mark.parametrize(
    "value",
    [
        "12345",
        "",
        "+",
        "123456789",  # 9 digits
        "1234567890123456",  # 16 digits
        "04951234567",  # no country code starts with 0
        "+7 495 ABC 45 67",
        "7495.123.45.67",
        "74951234567 доб. 5",
    ],
)
def test_phone_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="international format"):
        valid(PHONE_NUMBER, value)


# -- XFR-3: SIP URI (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("101@pbx.example.ru", "101@pbx.example.ru"),  # number@server
        ("101@pbx.example.ru:5060", "101@pbx.example.ru:5060"),  # number@server:port
        ("office@pbx.example.ru", "office@pbx.example.ru"),  # letters@server
        ("office@10.0.0.1:5080", "office@10.0.0.1:5080"),  # letters@server:port
        ("Reception@PBX.example.ru", "Reception@PBX.example.ru"),
        ("sip:101@pbx.example.ru", "101@pbx.example.ru"),
    ],
)
def test_sip_uri_accepted(given: str, stored: str) -> None:
    assert valid(SIP_URI, given) == stored


@pytest.mark.parametrize(
    "value",
    ["user@pbx.example.ru", "101@user.example.ru", "USER1@pbx.ru", "superuser@pbx.ru"],
)
def test_sip_uri_with_the_word_user_refused(value: str) -> None:
    with pytest.raises(ValidationError, match='"user"'):
        valid(SIP_URI, value)


@pytest.mark.parametrize("value", ["ivan_petrov@pbx.ru", "101@pbx_1.ru", "_@pbx.ru"])
def test_sip_uri_with_underscore_refused(value: str) -> None:
    with pytest.raises(ValidationError, match='"_"'):
        valid(SIP_URI, value)


@pytest.mark.parametrize(
    "value",
    [
        "101",
        "@pbx.ru",
        "101@",
        "101@@pbx.ru",
        "a b@pbx.ru",
        "101@pbx.ru:",
        "101@pbx.ru:abc",
        "101@pbx.ru:0",
        "101@pbx.ru:70000",
        "101@pbx.ru:5060:5060",
        "101@-pbx.ru",
    ],
)
def test_sip_uri_malformed_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="SIP URI"):
        valid(SIP_URI, value)


# -- SCN-AUTH: code (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "0000", "1234", "9" * 32])
def test_auth_code_digits_accepted(value: str) -> None:
    assert valid(DIGIT_CODE, value) == value


@pytest.mark.parametrize("value", ["12a", "12 34", "-1", "12.3", "١٢٣", "#1", "1*"])
def test_auth_code_non_digits_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="digits only"):
        valid(DIGIT_CODE, value)


def test_auth_code_empty_refused() -> None:
    with pytest.raises(ValidationError):
        valid(DIGIT_CODE, "")


# -- CB-1 and FMC-1 limits (pure) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("more", "ok"),
    [
        ({"attempt_intervals": [0]}, True),
        ({"attempt_intervals": [0, 60, 300, 900, 3600]}, True),
        ({"attempt_intervals": [0, 60, 300, 900, 3600, 7200]}, False),
        ({"attempt_intervals": []}, False),
        ({"min_wait_seconds": 0}, True),
        ({"min_wait_seconds": 60}, True),
        ({"min_wait_seconds": 61}, False),
        ({"min_wait_seconds": -1}, False),
        ({"max_concurrent": 1}, True),
        ({"max_concurrent": 5}, True),
        ({"max_concurrent": 6}, False),
        ({"max_concurrent": 0}, False),
        ({"place": "transfer", "min_wait_seconds": 0}, True),
        ({"place": "transfer", "min_wait_seconds": 10}, False),
        ({"place": "any", "min_wait_seconds": 10}, True),
    ],
)
def test_callback_rule_limits(more: dict[str, Any], ok: bool) -> None:
    data = callback_rule(**more)
    if ok:
        CallbackRule.model_validate(data)
    else:
        with pytest.raises(ValidationError):
            CallbackRule.model_validate(data)


@pytest.mark.parametrize(("channels", "ok"), [(1, True), (2, True), (0, False), (3, False)])
def test_fmc_channels_one_or_two(channels: int, ok: bool) -> None:
    data = {"number": "79161234567", "channels": channels}
    if ok:
        assert FmcLine.model_validate(data).channels == channels
    else:
        with pytest.raises(ValidationError, match="channels"):
            FmcLine.model_validate(data)


# -- field rules through the service: the violation names the field -----------------------------


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("employees", employee(extension="881"), "extension"),
        ("employees", employee(extension="123456"), "extension"),
        ("employees", employee(extension="10a"), "extension"),
        ("employees", {"last_name": "", "phones": [{"kind": "sip"}]}, "last_name"),
        ("employees", {"phones": [{"kind": "sip"}]}, "last_name"),
        ("employees", {"last_name": "Иванов"}, "phones"),
        ("employees", {"last_name": "Иванов", "phones": []}, "phones"),
        (
            "employees",
            {"last_name": "Иванов", "phones": [{"kind": "number", "number": "12345"}]},
            "phones.0.number",
        ),
        (
            "employees",
            {"last_name": "Иванов", "phones": [{"kind": "sip_uri", "sip_uri": "user@pbx.ru"}]},
            "phones.0.sip_uri",
        ),
        (
            "employees",
            {"last_name": "Иванов", "phones": [{"kind": "sip_uri", "sip_uri": "a_b@pbx.ru"}]},
            "phones.0.sip_uri",
        ),
        ("groups", {"name": "Продажи", "extension": "88"}, "extension"),
        ("contacts", {"last_name": "Петров", "phones": ["12345"]}, "phones.0"),
        ("blacklist", {"number": "+7 (495) 12"}, "number"),
        (
            "scenarios",
            {
                "name": "Вход",
                "entry": "auth",
                "operations": [{"key": "auth", "kind": "auth", "code": "12a"}],
            },
            "operations.0.code",
        ),
        ("callback-rules", callback_rule(attempt_intervals=[0] * 6), "attempt_intervals"),
        ("callback-rules", callback_rule(min_wait_seconds=61), "min_wait_seconds"),
        ("callback-rules", callback_rule(max_concurrent=6), "max_concurrent"),
    ],
)
async def test_service_refuses_invalid_field(
    tenants: Tenants, name: str, data: dict[str, Any], field: str
) -> None:
    tenant = await tenants.new()
    error = await refused(tenant, name, data)
    assert field in fields_of(error)
    assert await tenant.count(BY_NAME[name].table) == 0


async def test_service_refuses_min_wait_for_place_transfer(tenants: Tenants) -> None:
    tenant = await tenants.new()
    error = await refused(
        tenant, "callback-rules", callback_rule(place="transfer", min_wait_seconds=5)
    )
    assert "min_wait_seconds" in str(error)
    await tenant.create("callback-rules", callback_rule(place="transfer"))
    await tenant.create("callback-rules", callback_rule(min_wait_seconds=60, max_concurrent=5))


async def test_service_normalizes_phones(tenants: Tenants) -> None:
    tenant = await tenants.new()
    data = employee(phones=[{"kind": "number", "number": "+7 (495) 123-45-67"}])
    out = await tenant.create("employees", data)
    assert out["phones"][0]["number"] == "74951234567"
    assert (await tenant.get("employees", out["id"]))["phones"][0]["number"] == "74951234567"
    contact = await tenant.create(
        "contacts", {"last_name": "Петров", "phones": ["+7 (916) 000-00-01"]}
    )
    assert contact["phones"] == ["79160000001"]


@pytest.mark.parametrize(("channels", "ok"), [(1, True), (2, True), (3, False), (0, False)])
async def test_service_fmc_channels(tenants: Tenants, channels: int, ok: bool) -> None:
    tenant = await tenants.new()
    data = {"number": "79161234567", "channels": channels}
    if ok:
        out = await tenant.create("fmc-lines", data, Role.OPERATOR)
        assert out["channels"] == channels
    else:
        error = await refused(tenant, "fmc-lines", data, Role.OPERATOR)
        assert fields_of(error) == ["channels"]


async def test_fmc_lines_are_added_by_the_operator_only(tenants: Tenants) -> None:
    tenant = await tenants.new()
    with pytest.raises(Forbidden):
        await tenant.create("fmc-lines", {"number": "79161234567"})
    line = await tenant.create("fmc-lines", {"number": "79161234567"}, Role.OPERATOR)
    assert line["blocked"] is True
    assert line["connected"] is True


# -- EMP-2: extensions in the account ----------------------------------------------------------


async def test_extension_unique_across_employees_and_groups(tenants: Tenants) -> None:
    tenant = await tenants.new()
    first = await tenant.create("employees", employee("Иванов", "101"))
    error = await refused(tenant, "employees", employee("Петров", "101"))
    assert fields_of(error) == ["extension"]
    assert error_ids(error) == ["extension_taken"]
    error = await refused(tenant, "groups", {"name": "Продажи", "extension": "101"})
    assert error_ids(error) == ["extension_taken"]
    assert "employee" in str(error)

    group = await tenant.create("groups", {"name": "Продажи", "extension": "102"})
    error = await refused(tenant, "employees", employee("Петров", "102"))
    assert error_ids(error) == ["extension_taken"]
    assert "group" in str(error)
    with pytest.raises(ValidationFailed):
        await tenant.create("groups", {"name": "Поддержка", "extension": "102"})
    with pytest.raises(ValidationFailed):
        await tenant.update("employees", first["id"], {"extension": "102"})
    with pytest.raises(ValidationFailed):
        await tenant.update("groups", group["id"], {"extension": "101"})

    # Saving an entity again with its own extension is not a clash.
    await tenant.update("employees", first["id"], {"first_name": "Иван"})
    await tenant.update("groups", group["id"], {"name": "Отдел продаж"})
    # Another account may use the same extensions.
    other = await tenants.new("Лютик")
    await other.create("employees", employee("Сидоров", "101"))
    await other.create("groups", {"name": "Продажи", "extension": "102"})
    # Once freed, an extension can be taken again.
    await tenant.update("employees", first["id"], {"extension": None})
    await tenant.create("employees", employee("Петров", "101"))


async def test_fmc_line_refused_while_an_extension_is_not_2xxx(tenants: Tenants) -> None:
    tenant = await tenants.new()
    worker = await tenant.create("employees", employee("Иванов", "101"))
    error = await refused(tenant, "fmc-lines", {"number": "79161234567"}, Role.OPERATOR)
    assert error_ids(error) == ["extension_fmc_format"]
    assert "101" in str(error)
    assert f"employee {worker['id']}" in str(error)
    assert await tenant.count(t.fmc_lines) == 0

    group = await tenant.create("groups", {"name": "Продажи", "extension": "55"})
    await tenant.update("employees", worker["id"], {"extension": "2101"})
    error = await refused(tenant, "fmc-lines", {"number": "79161234567"}, Role.OPERATOR)
    assert "55" in str(error)
    assert f"group {group['id']}" in str(error)
    assert "2101" not in str(error)

    await tenant.update("groups", group["id"], {"extension": "20055"})
    await tenant.create("fmc-lines", {"number": "79161234567"}, Role.OPERATOR)


async def test_with_fmc_lines_every_extension_is_2xxx_or_2xxxx(tenants: Tenants) -> None:
    tenant = await tenants.new()
    await tenant.create("fmc-lines", {"number": "79161234567"}, Role.OPERATOR)
    for bad in ("101", "3101", "200", "20"):
        error = await refused(tenant, "employees", employee("Иванов", bad))
        assert error_ids(error) == ["extension_fmc_format"]
    error = await refused(tenant, "groups", {"name": "Продажи", "extension": "101"})
    assert error_ids(error) == ["extension_fmc_format"]
    worker = await tenant.create("employees", employee("Иванов", "2101"))
    await tenant.create("employees", employee("Петров", "21010"))
    await tenant.create("employees", employee("Без номера"))
    await tenant.create("groups", {"name": "Продажи", "extension": "2200"})
    with pytest.raises(ValidationFailed):
        await tenant.update("employees", worker["id"], {"extension": "101"})
    # Another account without FMC lines is not affected.
    other = await tenants.new("Лютик")
    await other.create("employees", employee("Сидоров", "101"))


# -- EMP-1, EMP-3: phones and SIP lines ---------------------------------------------------------


async def test_sip_phone_gets_a_generated_sip_line(tenants: Tenants) -> None:
    tenant = await tenants.new()
    out = await tenant.create(
        "employees", employee(phones=[{"kind": "sip"}, {"kind": "number", "number": PHONE}])
    )
    sip, number = out["phones"]
    assert sip["sip_line_id"] is not None
    assert number["sip_line_id"] is None
    assert sip["id"] != number["id"]
    line = await tenant.get("sip-lines", sip["sip_line_id"])
    assert re.fullmatch(r"[0-9]{7}", line["login"])
    assert line["password"] == "••••"  # masked for every role: an admin reveals it
    revealed = await tenant.run(lambda s: s.reveal("sip-lines", sip["sip_line_id"]))
    assert len(revealed["password"]) >= 12
    assert line["mode"] == "in_out"
    assert await tenant.count(t.sip_lines) == 1
    # Saving again keeps the line and the phone ids; no second line appears.
    again = await tenant.update("employees", out["id"], {"first_name": "Иван"})
    assert again["phones"] == out["phones"]
    assert await tenant.count(t.sip_lines) == 1


async def test_sip_logins_unique_in_the_installation(
    tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The generator draws the same first candidate for both accounts: the second one skips it.
    draws = iter([0, 0, 1, 2, 3])
    monkeypatch.setattr(hooks.secrets, "randbelow", lambda _n: next(draws))
    first, second = await tenants.new("Ромашка"), await tenants.new("Лютик")
    a = await first.create("employees", employee(phones=[{"kind": "sip"}]))
    b = await second.create("employees", employee(phones=[{"kind": "sip"}]))
    login_a = (await first.get("sip-lines", a["phones"][0]["sip_line_id"]))["login"]
    login_b = (await second.get("sip-lines", b["phones"][0]["sip_line_id"]))["login"]
    assert (login_a, login_b) == ("1000000", "1000001")
    monkeypatch.undo()

    for tenant in (first, second):
        await tenant.create("employees", employee(phones=[{"kind": "sip"}] * 3))
        await tenant.create("sip-lines", {"comment": "аппарат на ресепшн"})
    logins = await tenants.rows(sa.select(t.sip_lines.c.login))
    assert len(logins) == 10
    assert len({row.login for row in logins}) == 10


async def test_a_sip_line_belongs_to_one_employee(tenants: Tenants) -> None:
    tenant = await tenants.new()
    first = await tenant.create("employees", employee(phones=[{"kind": "sip"}]))
    line_id = first["phones"][0]["sip_line_id"]
    phones = [{"kind": "number", "number": PHONE}, {"kind": "sip", "sip_line_id": line_id}]
    error = await refused(tenant, "employees", employee("Петров", phones=phones))
    assert fields_of(error) == ["phones.1.sip_line_id"]
    assert "Иванов" in str(error)
    # A free line may be given explicitly.
    free = await tenant.create("sip-lines", {})
    second = await tenant.create(
        "employees", employee("Петров", phones=[{"kind": "sip", "sip_line_id": free["id"]}])
    )
    assert second["phones"][0]["sip_line_id"] == free["id"]
    with pytest.raises(ValidationFailed):
        await tenant.update(
            "employees", second["id"], {"phones": [{"kind": "sip", "sip_line_id": line_id}]}
        )


async def test_fmc_line_belongs_to_one_employee(tenants: Tenants) -> None:
    tenant = await tenants.new()
    line = await tenant.create("fmc-lines", {"number": "79161234567"}, Role.OPERATOR)
    phone = {"kind": "fmc", "fmc_line_id": line["id"]}
    await tenant.create("employees", employee(phones=[phone]))
    error = await refused(tenant, "employees", employee("Петров", phones=[phone]))
    assert fields_of(error) == ["phones.0.fmc_line_id"]


async def test_an_fmc_lines_employee_and_his_phones_follow_each_other(tenants: Tenants) -> None:
    """FMC-1: assigning the line's employee puts it in his card (and takes it out of the
    previous holder's); a phone added in the employee's card names him on the line."""
    tenant = await tenants.new()
    line = await tenant.create("fmc-lines", {"number": "79161234567"}, Role.OPERATOR)
    first = await tenant.create("employees", employee("Первый"))
    second = await tenant.create("employees", employee("Второй"))
    await tenant.update("fmc-lines", line["id"], {"employee_id": first["id"], "channels": 2})
    phones = (await tenant.get("employees", first["id"]))["phones"]
    assert [(p["kind"], p["fmc_line_id"], p["lines"]) for p in phones] == [
        ("number", None, 1),
        ("fmc", line["id"], 2),
    ]
    await tenant.update("fmc-lines", line["id"], {"employee_id": second["id"]})
    assert [p["kind"] for p in (await tenant.get("employees", first["id"]))["phones"]] == ["number"]
    assert [p["kind"] for p in (await tenant.get("employees", second["id"]))["phones"]] == [
        "number",
        "fmc",
    ]
    # the holder's only phone cannot be taken away (EMP-1)
    only = await tenant.create("fmc-lines", {"number": "79161234568"}, Role.OPERATOR)
    alone = await tenant.create(
        "employees", employee("Один", phones=[{"kind": "fmc", "fmc_line_id": only["id"]}])
    )
    assert (await tenant.get("fmc-lines", only["id"]))["employee_id"] == alone["id"]
    with pytest.raises(ValidationFailed) as caught:
        await tenant.update("fmc-lines", only["id"], {"employee_id": None})
    assert error_ids(caught.value) == ["fmc_only_phone"]
    assert (await tenant.get("fmc-lines", only["id"]))["employee_id"] == alone["id"]
    # the card gives the line up: the line names nobody
    await tenant.update("employees", second["id"], {"phones": [employee()["phones"][0]]})
    assert (await tenant.get("fmc-lines", line["id"]))["employee_id"] is None


async def test_a_line_already_in_a_card_but_naming_nobody_is_adopted_not_taken_away(
    tenants: Tenants,
) -> None:
    """Data from before lines named their holder: an employee's card holds the line while the
    line names nobody. Saving the line (unblocking it) keeps it in his card and names him."""
    tenant = await tenants.new()
    line = await tenant.create("fmc-lines", {"number": "79161234567"}, Role.OPERATOR)
    phone = {"kind": "fmc", "fmc_line_id": line["id"]}
    holder = await tenant.create("employees", employee("Давний", phones=[phone]))
    async with tenant.engine.begin() as conn:  # as it was stored before
        await conn.execute(
            sa.update(t.fmc_lines).where(t.fmc_lines.c.id == line["id"]).values(employee_id=None)
        )
    saved = await tenant.update("fmc-lines", line["id"], {"blocked": False})
    assert saved["employee_id"] == holder["id"]
    phones = (await tenant.get("employees", holder["id"]))["phones"]
    assert [p["fmc_line_id"] for p in phones] == [line["id"]]


async def test_an_fmc_line_in_use_is_deleted_with_the_confirmation_and_leaves_the_card(
    tenants: Tenants,
) -> None:
    tenant = await tenants.new()
    line = await tenant.create("fmc-lines", {"number": "79161234567"}, Role.OPERATOR)
    holder = await tenant.create("employees", employee("Держатель"))
    await tenant.update("fmc-lines", line["id"], {"employee_id": holder["id"]})
    with pytest.raises(InUse) as caught:  # ACC-4: his card uses it
        await tenant.run(lambda s: s.delete("fmc-lines", line["id"]), Role.OPERATOR)
    assert [(u.section, u.name) for u in caught.value.usages] == [("Сотрудники", "Держатель")]
    await tenant.run(lambda s: s.delete("fmc-lines", line["id"], confirm=True), Role.OPERATOR)
    phones = (await tenant.get("employees", holder["id"]))["phones"]
    assert [p["kind"] for p in phones] == ["number"]
    assert await tenant.count(t.fmc_lines) == 0


async def test_sip_uri_phones_need_the_account_option(tenants: Tenants) -> None:
    phones = [{"kind": "sip_uri", "sip_uri": "sip:office@pbx.example.ru:5080"}]
    without = await tenants.new("Без опции")
    error = await refused(without, "employees", employee(phones=phones))
    assert fields_of(error) == ["phones.0.sip_uri"]
    assert error_ids(error) == ["sip_uri_option"]

    with_option = await tenants.new("С опцией", sip_uri_transfer=True)
    out = await with_option.create("employees", employee(phones=phones))
    assert out["phones"][0]["sip_uri"] == "office@pbx.example.ru:5080"
    error = await refused(
        with_option, "employees", employee(phones=[{"kind": "sip_uri", "sip_uri": "my_pbx@a.ru"}])
    )
    assert fields_of(error) == ["phones.0.sip_uri"]


# -- scenarios: graph and insertion ------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "field", "error_id"),
    [
        (
            {
                "name": "s",
                "entry": "hi",
                "operations": [{"key": "hi", "kind": "info", "text": "x", "exits": {"next": "no"}}],
            },
            "operations.0.exits.next",
            "dangling_exit",
        ),
        (
            {"name": "s", "operations": [{"key": "hi", "kind": "info", "text": "x"}]},
            "entry",
            "invalid",
        ),
        (
            {
                "name": "s",
                "entry": "nope",
                "operations": [{"key": "hi", "kind": "info", "text": "x"}],
            },
            "entry",
            "invalid",
        ),
        (
            {
                "name": "s",
                "entry": "menu",
                "operations": [
                    {"key": "menu", "kind": "menu", "exits": {"extension_input": "ext"}},
                    {"key": "ext", "kind": "extension"},
                ],
            },
            "operations.0.exits.extension_input",
            "menu_extension_input",
        ),
        (
            {
                "name": "s",
                "entry": "menu",
                "operations": [
                    {"key": "menu", "kind": "menu", "exits": {"extension_input": "bye"}},
                    {"key": "bye", "kind": "info", "text": "До свидания"},
                ],
            },
            "operations.0.exits.extension_input",
            "menu_extension_input",
        ),
    ],
)
async def test_scenario_graph_violations_refused(
    tenants: Tenants, scenario: dict[str, Any], field: str, error_id: str
) -> None:
    tenant = await tenants.new()
    error = await refused(tenant, "scenarios", scenario)
    assert (field, error_id) in [(v.field, v.error_id) for v in error.violations]


async def test_menu_extension_input_accepts_the_menu_extension_operation(tenants: Tenants) -> None:
    tenant = await tenants.new()
    out = await tenant.create(
        "scenarios",
        {
            "name": "Меню",
            "entry": "menu",
            "operations": [
                {"key": "menu", "kind": "menu", "exits": {"extension_input": "ext", "1": "ext2"}},
                {"key": "ext", "kind": "extension", "from_menu": True},
                {"key": "ext2", "kind": "extension", "exits": {"failed": "menu"}},
            ],
        },
    )
    assert out["operations"][1]["from_menu"] is True


async def test_insertion_cycles_refused(tenants: Tenants) -> None:
    tenant = await tenants.new()
    b = await tenant.create("scenarios", info_scenario("B"))
    a = await tenant.create("scenarios", insert_scenario("A", b["id"]))
    error = await refused_update(tenant, b["id"], insert_scenario("B", a["id"]))
    assert error_ids(error) == ["insert_cycle"]
    assert f"scenario {a['id']}" in str(error)
    # Self-insertion.
    error = await refused_update(tenant, b["id"], insert_scenario("B", b["id"]))
    assert error_ids(error) == ["insert_cycle"]
    # A longer cycle: A → B → C → A.
    c = await tenant.create("scenarios", insert_scenario("C", a["id"]))
    error = await refused_update(tenant, b["id"], insert_scenario("B", c["id"]))
    assert error_ids(error) == ["insert_cycle"]
    # B is unchanged; a diamond (D inserts A and C) is no cycle.
    assert (await tenant.get("scenarios", b["id"]))["operations"][0]["kind"] == "info"
    await tenant.create("scenarios", insert_scenario("D", a["id"], c["id"]))


async def refused_update(
    tenant: Tenant, scenario_id: int, data: dict[str, Any]
) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        await tenant.replace("scenarios", scenario_id, data)
    return caught.value


# -- tenants -----------------------------------------------------------------------------------


async def test_references_to_another_account_refused(tenants: Tenants) -> None:
    mine, theirs = await tenants.new("Ромашка"), await tenants.new("Лютик")
    schedule = await theirs.create("schedules", {"name": "Будни"})
    group = await theirs.create("groups", {"name": "Чужая"})
    scenario = await theirs.create("scenarios", info_scenario("Чужой"))

    error = await refused(mine, "employees", employee(schedule_id=schedule["id"]))
    assert [(v.field, v.error_id) for v in error.violations] == [
        ("schedule_id", "unknown_reference")
    ]
    error = await refused(mine, "scenarios", fwd_scenario("Мой", group["id"]))
    assert fields_of(error) == ["operations.0.targets.0.group_id"]
    own_scenario = await mine.create("scenarios", info_scenario("Мой"))
    error = await refused(
        mine,
        "numbers",
        {
            "number": "74950000001",
            "rules": [
                {"scenario_id": own_scenario["id"]},
                {"scenario_id": scenario["id"], "schedule_id": schedule["id"]},
            ],
        },
    )
    assert sorted(fields_of(error)) == ["rules.1.scenario_id", "rules.1.schedule_id"]
    assert set(error_ids(error)) == {"unknown_reference"}
    # Nor can another account's entity be read, changed or deleted.
    with pytest.raises(NotFound):
        await mine.get("schedules", schedule["id"])
    with pytest.raises(NotFound):
        await mine.update("schedules", schedule["id"], {"name": "Моё"})
    with pytest.raises(NotFound):
        await mine.delete("groups", group["id"])
    assert (await theirs.get("groups", group["id"]))["name"] == "Чужая"


async def test_virtual_number_unique_in_the_installation(tenants: Tenants) -> None:
    mine, theirs = await tenants.new("Ромашка"), await tenants.new("Лютик")
    scenario = await theirs.create("scenarios", info_scenario("Их"))
    await theirs.create(
        "numbers", {"number": "74950000001", "rules": [{"scenario_id": scenario["id"]}]}
    )
    with pytest.raises(Conflict) as caught:
        await mine.create("numbers", {"number": "+7 495 000-00-01"})
    assert caught.value.status == 409
    assert caught.value.field == "number"


# -- ACC-4: deleting what is used ---------------------------------------------------------------


async def in_use(tenant: Tenant, name: str, entity_id: int) -> InUse:
    with pytest.raises(InUse) as caught:
        await tenant.delete(name, entity_id)
    assert caught.value.status == 409
    await tenant.get(name, entity_id)  # still there
    return caught.value


async def test_group_used_in_two_scenarios_lists_both(tenants: Tenants) -> None:
    tenant = await tenants.new()
    group = await tenant.create("groups", {"name": "Продажи"})
    await tenant.create("scenarios", fwd_scenario("Днём", group["id"]))
    await tenant.create("scenarios", fwd_scenario("Ночью", group["id"]))
    error = await in_use(tenant, "groups", group["id"])
    assert [(u.section, u.name) for u in error.usages] == [
        ("Сценарии", "Днём"),
        ("Сценарии", "Ночью"),
    ]
    assert "Днём" in error.message
    assert "Ночью" in error.message
    assert "operations.0.targets.0.group_id" in error.message


async def test_schedule_used_by_employee_and_rule_lists_both(tenants: Tenants) -> None:
    tenant = await tenants.new()
    schedule = await tenant.create("schedules", {"name": "Будни"})
    await tenant.create("employees", employee("Иванов", schedule_id=schedule["id"]))
    scenario = await tenant.create("scenarios", info_scenario("Приветствие"))
    await tenant.create(
        "numbers",
        {
            "number": "74950000001",
            "name": "Основной",
            "rules": [{"schedule_id": schedule["id"], "scenario_id": scenario["id"]}],
        },
    )
    await tenant.create("callback-rules", callback_rule(call_schedule_id=schedule["id"]))
    error = await in_use(tenant, "schedules", schedule["id"])
    places = {(u.section, u.name, u.where) for u in error.usages}
    assert places == {
        ("Сотрудники", "Иванов", "schedule_id"),
        ("Виртуальные номера и правила", "74950000001 Основной", "rules.0.schedule_id"),
        ("Автоперезвон", "Перезвон", "call_schedule_id"),
    }
    for name in ("Иванов", "74950000001", "Перезвон"):
        assert name in error.message


async def test_file_used_in_scenario_refused(tenants: Tenants) -> None:
    tenant = await tenants.new()
    sound = await tenant.create("files", {"name": "Приветствие"})
    await tenant.create("scenarios", info_scenario("Вход", [sound["id"]]))
    error = await in_use(tenant, "files", sound["id"])
    assert [(u.name, u.where) for u in error.usages] == [("Вход", "operations.0.file_ids.0")]
    unused = await tenant.create("files", {"name": "Музыка"})
    await tenant.delete("files", unused["id"])


async def test_scenario_used_by_number_rule_refused(tenants: Tenants) -> None:
    tenant = await tenants.new()
    scenario = await tenant.create("scenarios", info_scenario("Приветствие"))
    number = await tenant.create(
        "numbers", {"number": "74950000001", "rules": [{"scenario_id": scenario["id"]}]}
    )
    error = await in_use(tenant, "scenarios", scenario["id"])
    assert [(u.section, u.where) for u in error.usages] == [
        ("Виртуальные номера и правила", "rules.0.scenario_id")
    ]
    assert "74950000001" in error.message
    # Once the rule is gone the scenario may go.
    await tenant.update("numbers", number["id"], {"rules": []})
    await tenant.delete("scenarios", scenario["id"])
    with pytest.raises(NotFound):
        await tenant.get("scenarios", scenario["id"])


async def test_inserted_scenario_refused(tenants: Tenants) -> None:
    tenant = await tenants.new()
    inner = await tenant.create("scenarios", info_scenario("Внутренний"))
    await tenant.create("scenarios", insert_scenario("Внешний", inner["id"]))
    error = await in_use(tenant, "scenarios", inner["id"])
    assert [u.name for u in error.usages] == ["Внешний"]


async def test_group_membership_does_not_block_and_is_cleaned(tenants: Tenants) -> None:
    tenant = await tenants.new()
    worker = await tenant.create("employees", employee("Иванов"))
    group = await tenant.create("groups", {"name": "Продажи", "member_ids": [worker["id"]]})
    other = await tenant.create("groups", {"name": "Поддержка", "member_ids": [worker["id"]]})
    assert (await tenant.get("employees", worker["id"]))["group_ids"] == [group["id"], other["id"]]
    await tenant.delete("groups", group["id"])
    assert (await tenant.get("employees", worker["id"]))["group_ids"] == [other["id"]]


async def test_deleting_a_member_cleans_the_group(tenants: Tenants) -> None:
    tenant = await tenants.new()
    phones = [{"kind": "sip"}, {"kind": "number", "number": PHONE}]
    first = await tenant.create("employees", employee("Иванов", phones=phones))
    second = await tenant.create("employees", employee("Петров", phones=phones))
    rows = [
        {"employee_id": first["id"], "phone_id": first["phones"][0]["id"], "percent": 30},
        {"employee_id": second["id"], "phone_id": second["phones"][0]["id"], "percent": 40},
        {"employee_id": first["id"], "phone_id": first["phones"][1]["id"], "percent": 30},
        {"employee_id": second["id"], "phone_id": second["phones"][1]["id"], "percent": 0},
    ]
    group = await tenant.create(
        "groups",
        {"name": "Продажи", "member_ids": [first["id"], second["id"]], "distribution": rows},
    )
    await tenant.delete("employees", first["id"])
    cleaned = await tenant.get("groups", group["id"])
    assert cleaned["member_ids"] == [second["id"]]
    assert [r["employee_id"] for r in cleaned["distribution"]] == [second["id"], second["id"]]
    # The shares left are scaled back to 100 % (GRP-2), so the group can be saved again.
    assert [r["percent"] for r in cleaned["distribution"]] == [100, 0]
    await tenant.update("groups", group["id"], {"name": "Отдел продаж"})


async def test_group_distribution_follows_changes_made_on_the_employee_card(
    tenants: Tenants,
) -> None:
    tenant = await tenants.new()
    first = await tenant.create("employees", employee("Иванов", phones=[{"kind": "sip"}]))
    second = await tenant.create("employees", employee("Петров"))
    group = await tenant.create(
        "groups",
        {
            "name": "Продажи",
            "member_ids": [first["id"]],
            "type_sort": "T",
            "distribution": [
                {"employee_id": first["id"], "phone_id": first["phones"][0]["id"], "percent": 100}
            ],
        },
    )
    # Joining from the card: the new member's phone gets a row at 0 %, numbers first (T).
    await tenant.update("employees", second["id"], {"group_ids": [group["id"]]})
    rows = (await tenant.get("groups", group["id"]))["distribution"]
    assert [(r["employee_id"], r["percent"]) for r in rows] == [
        (second["id"], 0),
        (first["id"], 100),
    ]
    # A new phone gets a row; a removed phone loses its row and its share goes to the others.
    phones = [*second["phones"], {"kind": "sip"}]
    second = await tenant.update("employees", second["id"], {"phones": phones})
    rows = (await tenant.get("groups", group["id"]))["distribution"]
    assert len(rows) == 3
    await tenant.update(
        "groups",
        group["id"],
        {
            "distribution": [
                {"employee_id": first["id"], "phone_id": first["phones"][0]["id"], "percent": 50},
                {"employee_id": second["id"], "phone_id": second["phones"][0]["id"], "percent": 30},
                {"employee_id": second["id"], "phone_id": second["phones"][1]["id"], "percent": 20},
            ]
        },
    )
    await tenant.update("employees", second["id"], {"phones": second["phones"][:1]})
    rows = (await tenant.get("groups", group["id"]))["distribution"]
    assert [r["phone_id"] for r in rows] == [second["phones"][0]["id"], first["phones"][0]["id"]]
    assert [r["percent"] for r in rows] == pytest.approx([37.5, 62.5])
    # Leaving from the card removes his rows.
    await tenant.update("employees", second["id"], {"group_ids": []})
    rows = (await tenant.get("groups", group["id"]))["distribution"]
    assert [(r["employee_id"], r["percent"]) for r in rows] == [(first["id"], 100)]
    await tenant.update("groups", group["id"], {"name": "Отдел продаж"})  # still valid


async def test_contact_group_membership_does_not_block_and_is_cleaned(tenants: Tenants) -> None:
    tenant = await tenants.new()
    vip = await tenant.create("contact-groups", {"name": "VIP"})
    debtors = await tenant.create("contact-groups", {"name": "Должники"})
    contact = await tenant.create(
        "contacts", {"last_name": "Петров", "group_ids": [vip["id"], debtors["id"]]}
    )
    await tenant.delete("contact-groups", vip["id"])
    assert (await tenant.get("contacts", contact["id"]))["group_ids"] == [debtors["id"]]
    # A strong use of a contact group (a number rule's callers) does block.
    scenario = await tenant.create("scenarios", info_scenario("Должникам"))
    await tenant.create(
        "numbers",
        {
            "number": "74950000001",
            "rules": [
                {
                    "scenario_id": scenario["id"],
                    "callers": {"scope": "contact_groups", "contact_group_ids": [debtors["id"]]},
                }
            ],
        },
    )
    error = await in_use(tenant, "contact-groups", debtors["id"])
    assert [u.where for u in error.usages] == ["rules.0.callers.contact_group_ids.0"]


async def test_number_used_as_caller_id_deleted_on_confirm(tenants: Tenants) -> None:
    tenant = await tenants.new()
    number = await tenant.create("numbers", {"number": "74950000001"})
    line = await tenant.create("sip-lines", {"caller_id_number_id": number["id"]})
    error = await in_use(tenant, "numbers", number["id"])
    assert [(u.section, u.where) for u in error.usages] == [("SIP-линии", "caller_id_number_id")]
    assert line["login"] in error.message  # the line is named by its login
    assert (await tenant.get("sip-lines", line["id"]))["mode"] == "in_out"

    await tenant.delete("numbers", number["id"], confirm=True)
    with pytest.raises(NotFound):
        await tenant.get("numbers", number["id"])
    after = await tenant.get("sip-lines", line["id"])
    assert after["mode"] == "in_only"
    assert after["caller_id_number_id"] is None
    assert after["login"] == line["login"]


async def test_confirm_does_not_override_other_uses(tenants: Tenants) -> None:
    tenant = await tenants.new()
    number = await tenant.create("numbers", {"number": "74950000001"})
    line = await tenant.create("sip-lines", {"caller_id_number_id": number["id"]})
    await tenant.create("cid-rules", {"action": "allow", "number_ids": [number["id"]]})
    with pytest.raises(InUse) as caught:
        await tenant.delete("numbers", number["id"], confirm=True)
    assert [u.section for u in caught.value.usages] == ["Правила выбора АОН"]
    # The refused deletion changed nothing, the line included.
    assert (await tenant.get("sip-lines", line["id"]))["caller_id_number_id"] == number["id"]


async def test_deleting_a_callback_rule_cancels_its_pending_tasks(tenants: Tenants) -> None:
    tenant = await tenants.new()
    rule = await tenant.create("callback-rules", callback_rule())
    other = await tenant.create("callback-rules", callback_rule(name="Другое"))
    tasks = BY_NAME["callback-tasks"]
    ids = {}
    for rule_id, status in itertools.product(
        (rule["id"], other["id"]), (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.DONE)
    ):
        task = CallbackTask(rule_id=rule_id, caller=PHONE, status=status)
        out = await tenant.run(lambda s, task=task: s.save(tasks, task, None))
        ids[(rule_id, status)] = out.model_dump()["id"]

    await tenant.delete("callback-rules", rule["id"])  # tasks do not block (CB-3)
    statuses = {
        key: (await tenant.run(lambda s, i=task_id: s.get("callback-tasks", i))).model_dump()[
            "status"
        ]
        for key, task_id in ids.items()
    }
    assert statuses == {
        (rule["id"], TaskStatus.PENDING): "cancelled",
        (rule["id"], TaskStatus.RUNNING): "cancelled",
        (rule["id"], TaskStatus.DONE): "done",
        (other["id"], TaskStatus.PENDING): "pending",
        (other["id"], TaskStatus.RUNNING): "running",
        (other["id"], TaskStatus.DONE): "done",
    }


# -- bad input loses nothing -------------------------------------------------------------------


async def test_failed_create_leaves_no_rows_even_when_the_transaction_goes_on(
    tenants: Tenants,
) -> None:
    tenant = await tenants.new()  # without the SIP URI option
    phones = [{"kind": "sip"}, {"kind": "sip_uri", "sip_uri": "office@pbx.example.ru"}]
    async with tenants.engine.begin() as conn:
        svc = EntityService(conn, tenant.actor(), clock)
        with pytest.raises(ValidationFailed):
            await svc.create("employees", employee(phones=phones))
        await svc.create("tags", {"name": "Выжил"})  # the transaction is still usable
    assert await tenant.count(t.employees) == 0
    assert await tenant.count(t.sip_lines) == 0  # no orphan line of the refused phone
    assert await tenant.count(t.tags) == 1


async def test_failed_create_rolls_back_with_the_transaction(tenants: Tenants) -> None:
    tenant = await tenants.new()
    await tenant.create("employees", employee("Иванов", "101"))

    async def two_creates() -> None:
        async with tenants.engine.begin() as conn:
            svc = EntityService(conn, tenant.actor(), clock)
            await svc.create("employees", employee("Петров", phones=[{"kind": "sip"}]))
            await svc.create("employees", employee("Сидоров", "101", phones=[{"kind": "sip"}]))

    with pytest.raises(ValidationFailed):
        await two_creates()
    assert await tenant.count(t.employees) == 1
    assert await tenant.count(t.sip_lines) == 0


async def test_refused_update_changes_nothing(tenants: Tenants) -> None:
    tenant = await tenants.new()
    worker = await tenant.create("employees", employee("Иванов", "101"))
    with pytest.raises(ValidationFailed):
        await tenant.update(
            "employees",
            worker["id"],
            {"last_name": "Петров", "phones": [{"kind": "sip"}], "extension": "88"},
        )
    assert await tenant.get("employees", worker["id"]) == worker
    assert await tenant.count(t.sip_lines) == 0


# -- write-only fields -------------------------------------------------------------------------


async def test_trunk_password_is_stored_write_only_and_kept_by_a_patch(tenants: Tenants) -> None:
    tenant = await tenants.new()
    data = {
        "name": "Провайдер",
        "host": "sip.provider.example",
        "username": "ромашка",
        "password": "s3cret-pass",
        "registration": True,
    }
    trunk = await tenant.create("trunks", data)
    assert "password" not in trunk
    stored = sa.select(t.trunks.c.password).where(t.trunks.c.id == trunk["id"])
    assert await tenants.scalar(stored) == "s3cret-pass"
    await tenant.update("trunks", trunk["id"], {"enabled": False})
    assert await tenants.scalar(stored) == "s3cret-pass"
    await tenant.update("trunks", trunk["id"], {"password": "new-pass"})
    assert await tenants.scalar(stored) == "new-pass"


async def test_patching_the_members_alone_drops_the_removed_members_rows(tenants: Tenants) -> None:
    """GRP-3 through PATCH: the new members are enough; the kept shares go back to 100 %."""
    tenant = await tenants.new()
    first = await tenant.create("employees", employee("Иванов", phones=[{"kind": "sip"}]))
    second = await tenant.create("employees", employee("Петров", phones=[{"kind": "sip"}]))
    rows = [
        {"employee_id": first["id"], "phone_id": first["phones"][0]["id"], "percent": 50},
        {"employee_id": second["id"], "phone_id": second["phones"][0]["id"], "percent": 50},
    ]
    group = await tenant.create(
        "groups",
        {"name": "Продажи", "member_ids": [first["id"], second["id"]], "distribution": rows},
    )
    changed = await tenant.update("groups", group["id"], {"member_ids": [second["id"]]})
    assert changed["member_ids"] == [second["id"]]
    assert [(r["employee_id"], r["percent"]) for r in changed["distribution"]] == [
        (second["id"], 100)
    ]
    # An explicit table naming someone who is not a member is still refused, naming the row.
    with pytest.raises(ValidationFailed) as refused:
        await tenant.update(
            "groups", group["id"], {"member_ids": [second["id"]], "distribution": rows}
        )
    assert fields_of(refused.value) == ["distribution.0"]
