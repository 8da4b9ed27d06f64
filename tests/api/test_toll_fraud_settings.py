"""The toll-fraud guard's settings of an account: the defaults, a change through PUT /account and
through the YAML of the whole account, and 422 naming the field of a wrong value."""

from __future__ import annotations

from typing import Any

import yaml

from tests.api.conftest import Api, unique

YAML = {"Content-Type": "application/yaml"}


def _settings(account: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in account.items() if k != "id"}


def test_defaults_allow_russia_only_and_cap_calls_and_minutes(api: Api) -> None:
    _, admin = api.new_account(f"Toll defaults {unique()}")
    guard = api.ok(api.get("/account", admin))["toll_fraud"]
    assert guard == {
        "allowed_prefixes": ["73", "74", "78", "79"],
        "blocked_prefixes": ["7809"],
        "max_simultaneous_calls": 10,
        "max_minutes_per_hour": 600,
    }
    # The served document explains the fields in Russian.
    schema = api.openapi()["components"]["schemas"]["TollFraudPolicy"]
    assert "Разрешённые направления" in schema["properties"]["allowed_prefixes"]["description"]


def test_a_change_is_saved_and_a_wrong_value_is_refused_naming_the_field(api: Api) -> None:
    _, admin = api.new_account(f"Toll put {unique()}")
    account = _settings(api.ok(api.get("/account", admin)))
    wider = {
        "allowed_prefixes": ["7", "375"],
        "blocked_prefixes": ["7809", "7803"],
        "max_simultaneous_calls": 3,
        "max_minutes_per_hour": 120,
    }
    saved = api.ok(api.put("/account", admin, json=account | {"toll_fraud": wider}))
    assert saved["toll_fraud"] == wider

    for field, value in [
        ("allowed_prefixes", ["+44"]),
        ("blocked_prefixes", ["78O9"]),
        ("max_simultaneous_calls", -1),
        ("max_minutes_per_hour", "many"),
    ]:
        wrong = account | {"toll_fraud": wider | {field: value}}
        refused = api.put("/account", admin, json=wrong)
        assert refused.status_code == 422, refused.text
        fields = [e["field"] for e in refused.json()["errors"]]
        expected = f"toll_fraud.{field}" + (".0" if isinstance(value, list) else "")
        assert fields == [expected], refused.text
    assert api.ok(api.get("/account", admin))["toll_fraud"] == wider


def test_the_settings_travel_in_the_yaml_of_the_account(api: Api) -> None:
    _, admin = api.new_account(f"Toll yaml {unique()}")
    document = yaml.safe_load(api.get("/config", admin).text)
    assert document["account"]["toll_fraud"]["max_simultaneous_calls"] == 10
    document["account"]["toll_fraud"]["max_simultaneous_calls"] = 2
    changed = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    imported = api.put("/config", admin, content=changed, headers=YAML)
    # (204 before config imports answered their diff, 200 with it)
    assert imported.status_code in (200, 204), api.explain(imported)
    assert api.ok(api.get("/account", admin))["toll_fraud"]["max_simultaneous_calls"] == 2
    document["account"]["toll_fraud"]["allowed_prefixes"] = ["44", "+1"]
    broken = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    refused = api.put("/config", admin, content=broken, headers=YAML)
    assert refused.status_code == 422, api.explain(refused)
    # The account's section names its fields as PUT /account does.
    assert [e["field"] for e in refused.json()["errors"]] == ["toll_fraud.allowed_prefixes.1"]
