"""Bad input answers 4xx with the field named, never 500 (issue 11: 25 cases found by probing
`make run`, each a 500 on 5a8b3ed): integers beyond 2^63−1, dates in year 1 or 9999 in report
filters and /simulate, wrong types and 2,000-deep nesting in PUT /config."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.api.conftest import Api

YAML = {"Content-Type": "application/yaml"}
BIG = 2**63
DATES = [
    "0001-01-01T00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
]


@pytest.fixture(scope="module")
def admin(api: Api) -> tuple[str, dict[str, int]]:
    _account, token = api.new_account("Bad input")
    return token, api.seed_rich(token)


def _refused(api: Api, response: Any, field: str) -> None:
    assert response.status_code == 422, api.explain(response)
    body = response.json()
    assert body["error_id"] == "validation_failed"
    assert any(e["field"] == field for e in body["errors"]), body


@pytest.mark.parametrize("path", ["/calls", "/files", "/calls/export.csv"])
@pytest.mark.parametrize("param", ["from", "to"])
@pytest.mark.parametrize("value", DATES)
def test_a_report_period_beyond_the_calendar_is_a_422(
    api: Api, admin: tuple[str, dict[str, int]], path: str, param: str, value: str
) -> None:
    response = api.get(path, admin[0], params={param: value})
    _refused(api, response, param)
    assert "1900" in response.json()["message"]


@pytest.mark.parametrize("value", [*DATES, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59"])
def test_a_simulated_call_beyond_the_calendar_is_a_422(
    api: Api, admin: tuple[str, dict[str, int]], value: str
) -> None:
    body = {"number": "74950000001", "caller": "79161234567", "at": value}
    _refused(api, api.post("/simulate", admin[0], json=body), "at")


@pytest.mark.parametrize(
    ("method", "resource", "body", "field"),
    [
        ("POST", "contacts", {"last_name": "x", "phones": ["79161234567"], "group_ids": [BIG]},
         "group_ids.0"),
        ("POST", "numbers", {"number": "74950009999", "rules": [{"scenario_id": BIG}]},
         "rules.0.scenario_id"),
        ("PATCH", "employees", {"trainer_id": BIG}, "trainer_id"),
    ],
)  # fmt: skip
def test_a_reference_beyond_bigint_is_a_422(
    api: Api,
    admin: tuple[str, dict[str, int]],
    method: str,
    resource: str,
    body: dict[str, Any],
    field: str,
) -> None:
    token, ids = admin
    path = f"/{resource}/{ids[resource]}" if method == "PATCH" else f"/{resource}"
    _refused(api, api.request(method, path, token, json=body), field)


def _document(api: Api, token: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(api.get("/config", token).text)
    return document


@pytest.fixture(scope="module")
def config_admin(api: Api) -> str:
    """An admin of an account without FMC lines (those are the operator's to import)."""
    account, token = api.new_account("Bad config")
    ids = api.seed_rich(token)
    # its employee has it among his phones: the deletion is confirmed (ACC-4)
    api.ok(
        api.delete(
            f"/fmc-lines/{ids['fmc-lines']}",
            api.operator_token,
            account_id=account,
            params={"confirm": "true"},
        ),
        204,
    )
    return token


@pytest.mark.parametrize(
    ("section", "value", "field"),
    [
        ("employees", 5, "employees"),
        ("employees", True, "employees"),
        ("employees", 1.5, "employees"),
        ("tags", [{"id": [1], "name": "x"}], "tags.0.id"),
        ("sip-lines", [{"id": 1, "login": [1], "password": "x"}], "sip-lines.0.login"),
        ("trunks", [{"id": 1, "name": "t", "host": "192.0.2.1", "password": {"a": 1}}],
         "trunks.0.password"),
    ],
)  # fmt: skip
def test_a_config_section_of_the_wrong_type_is_a_422(
    api: Api, config_admin: str, section: str, value: Any, field: str
) -> None:
    before = api.get("/config", config_admin).text
    document = _document(api, config_admin) | {section: value}
    response = api.put("/config", config_admin, content=yaml.safe_dump(document), headers=YAML)
    _refused(api, response, field)
    assert api.get("/config", config_admin).text == before


@pytest.mark.parametrize(
    "text",
    [
        "vpbx_config: 1\nemployees: " + "[" * 2000 + "]" * 2000,
        "vpbx_config: 1\naccount: " + "{a: " * 2000 + "1" + "}" * 2000,
        '{"vpbx_config": 1, "tags": ' + "[" * 2000 + "]" * 2000 + "}",
        "vpbx_config: 1\ntags:\n" + "".join(" " * i + "-\n" for i in range(1, 1500)),
        "vpbx_config: 1\n2020-01-01: 1\n",
        "vpbx_config: 1\n5: 1\n",
        "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nvpbx_config: 1\n",
    ],
    ids=["deep-flow-list", "deep-flow-map", "deep-json", "deep-block", "date-key", "int-key",
         "alias-bomb"],
)  # fmt: skip
def test_a_config_too_deep_or_malformed_is_a_422(api: Api, config_admin: str, text: str) -> None:
    token = config_admin
    before = api.get("/config", token).text
    response = api.put("/config", token, content=text, headers=YAML)
    assert response.status_code == 422, api.explain(response)
    assert response.json()["error_id"] == "validation_failed"
    assert api.get("/config", token).text == before


DEEP_OBJECT = '{"a": ' * 50_000 + "1" + "}" * 50_000


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/tags", '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("/scenarios", '{"name": "x", "operations": ' + DEEP_OBJECT + "}"),
        ("/tags", '{"name": 1' + "0" * 5000 + "}"),
    ],
    ids=["deep-list", "deep-object", "huge-number"],
)  # fmt: skip
def test_a_json_body_the_decoder_gives_up_on_is_a_400_in_words(
    api: Api, admin: tuple[str, dict[str, int]], path: str, body: str
) -> None:
    headers = {"Content-Type": "application/json"}
    response = api.post(path, admin[0], content=body.encode(), headers=headers)
    assert response.status_code == 400, api.explain(response)
    assert response.json()["error_id"] == "malformed_body"
    assert response.json()["message"].startswith("тело запроса")
