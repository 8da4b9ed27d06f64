"""Error answers: 422 names each field and its rule, 409 names what conflicts or what uses the
entity, and a refused write leaves nothing behind."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.api import rich
from tests.api.conftest import Api, unique
from vpbx.storage import tables as t

ERROR_KEYS = {"error_id", "message", "errors", "usages"}


@dataclass
class Office:
    account_id: int
    admin: str


@pytest.fixture(scope="module")
def office(api: Api) -> Office:
    return Office(*api.new_account(f"Errors {unique()}"))


def _error(response: httpx.Response, status: int, error_id: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error_id"] == error_id, body
    assert body["message"]
    return body


def _field(body: dict[str, Any], field: str) -> dict[str, Any]:
    found = [e for e in body["errors"] if e["field"] == field]
    assert found, f"no error for {field}: {body['errors']}"
    return found[0]


def _counts(api: Api, token: str, *resources: str) -> dict[str, int]:
    return {name: api.count(name, token) for name in resources}


def test_extension_starting_with_88_is_refused(api: Api, office: Office) -> None:
    before = api.count("employees", office.admin)
    employee = {"last_name": "Pickup", "extension": "8812", "phones": [{"kind": "sip"}]}

    body = _error(api.post("/employees", office.admin, json=employee), 422, "validation_failed")

    error = _field(body, "extension")
    assert "88" in error["rule"]
    assert "extension" in body["message"]
    assert [e["field"] for e in body["errors"]] == ["extension"]
    assert api.count("employees", office.admin) == before
    # The same rule on a group, and on a change of an existing employee.
    group = api.post("/groups", office.admin, json={"name": "g", "extension": "881"})
    assert "88" in _field(_error(group, 422, "validation_failed"), "extension")["rule"]
    created = api.ok(
        api.post("/employees", office.admin, json=employee | {"extension": "812"}), 201
    )
    patched = api.patch(f"/employees/{created['id']}", office.admin, json={"extension": "8812"})
    assert "88" in _field(_error(patched, 422, "validation_failed"), "extension")["rule"]
    assert api.ok(api.get(f"/employees/{created['id']}", office.admin))["extension"] == "812"


def test_sip_uri_with_underscore_is_refused(api: Api) -> None:
    _, admin = api.new_account(f"Sip uri {unique()}")
    account = api.ok(api.get("/account", admin))
    settings = {k: v for k, v in account.items() if k != "id"} | {"sip_uri_transfer": True}
    assert api.ok(api.put("/account", admin, json=settings))["sip_uri_transfer"] is True

    def employee(uri: str) -> dict[str, Any]:
        return {"last_name": "Uri", "phones": [{"kind": "sip_uri", "sip_uri": uri}]}

    refused = api.post("/employees", admin, json=employee("my_user@example.com"))

    body = _error(refused, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["phones.0.sip_uri"]
    assert '"_"' in body["errors"][0]["rule"]
    assert api.count("employees", admin) == 0
    # With the option on, a well-formed SIP URI is accepted (the refusal was about the "_").
    accepted = api.ok(api.post("/employees", admin, json=employee("ivanov@example.com:5070")), 201)
    assert accepted["phones"][0]["sip_uri"] == "ivanov@example.com:5070"


def test_sip_uri_phone_needs_the_account_option(api: Api, office: Office) -> None:
    employee = {
        "last_name": "Uri",
        "phones": [{"kind": "sip_uri", "sip_uri": "ivanov@example.com"}],
    }

    body = _error(api.post("/employees", office.admin, json=employee), 422, "validation_failed")

    assert _field(body, "phones.0.sip_uri")["error_id"] == "sip_uri_option"
    assert "sip_uri_transfer" in body["errors"][0]["rule"]


def test_deleting_a_group_used_in_a_scenario_names_the_scenario(api: Api, office: Office) -> None:
    phone = {"kind": "number", "number": "79161234567"}
    employee = api.create("employees", office.admin, {"last_name": "Member", "phones": [phone]})
    group = api.create("groups", office.admin, {"name": "Support", "member_ids": [employee["id"]]})
    scenario = api.create(
        "scenarios",
        office.admin,
        {
            "name": "Support line",
            "entry": "fwd",
            "operations": [
                {"key": "fwd", "kind": "forward", "targets": [{"group_id": group["id"]}]}
            ],
        },
    )

    for params in ({}, {"confirm": "true"}):
        response = api.delete(f"/groups/{group['id']}", office.admin, params=params)
        body = _error(response, 409, "in_use")
        assert len(body["usages"]) == 1
        assert "Support line" in body["usages"][0]
        assert "operations.0.targets.0.group_id" in body["usages"][0]
        assert "Support line" in body["message"]
    assert api.ok(api.get(f"/groups/{group['id']}", office.admin))["name"] == "Support"

    # Membership is not a use: once the scenario is gone the group goes, and the employee stays.
    api.ok(api.delete(f"/scenarios/{scenario['id']}", office.admin), 204)
    api.ok(api.delete(f"/groups/{group['id']}", office.admin), 204)
    assert api.ok(api.get(f"/employees/{employee['id']}", office.admin))["group_ids"] == []


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_unknown_fields_are_refused(api: Api, office: Office, method: str) -> None:
    tag = api.create("tags", office.admin, {"name": f"tag {unique()}"})
    path = "/tags" if method == "POST" else f"/tags/{tag['id']}"
    before = api.count("tags", office.admin)

    response = api.request(
        method, path, office.admin, json={"name": "renamed", "colour": "#ffffff"}
    )

    body = _error(response, 422, "validation_failed")
    assert body["errors"] == [
        {
            "field": "colour",
            "rule": "unknown field (extra fields are not permitted)",
            "error_id": "extra_forbidden",
        }
    ]
    assert api.count("tags", office.admin) == before
    assert api.ok(api.get(f"/tags/{tag['id']}", office.admin)) == tag


def test_unknown_nested_field_is_named_by_its_path(api: Api, office: Office) -> None:
    employee = {"last_name": "Nested", "phones": [{"kind": "sip", "lines": 1, "speed_dial": 5}]}

    body = _error(api.post("/employees", office.admin, json=employee), 422, "validation_failed")

    assert _field(body, "phones.0.speed_dial")["error_id"] == "extra_forbidden"


def test_a_refused_create_leaves_nothing_behind(api: Api, office: Office) -> None:
    resources = ("employees", "sip-lines", "groups", "users")
    before = _counts(api, office.admin, *resources)
    with api.db.connect() as conn:
        lines_before = conn.execute(sa.select(sa.func.count()).select_from(t.sip_lines)).scalar()
    # The first phone makes the service create a SIP line; the second one is then refused
    # (no sip_uri_transfer in this account): the line must go with the refused employee.
    employee = {
        "last_name": "Rollback",
        "phones": [{"kind": "sip"}, {"kind": "sip_uri", "sip_uri": "rollback@example.com"}],
    }

    body = _error(api.post("/employees", office.admin, json=employee), 422, "validation_failed")

    assert [e["field"] for e in body["errors"]] == ["phones.1.sip_uri"]
    assert _counts(api, office.admin, *resources) == before
    with api.db.connect() as conn:
        lines_after = conn.execute(sa.select(sa.func.count()).select_from(t.sip_lines)).scalar()
    assert lines_after == lines_before
    # A refused user (too short a password) leaves no user and no login behind.
    user = {"login": f"short{unique()}", "password": "short", "role": "admin"}
    _error(api.post("/users", office.admin, json=user), 422, "validation_failed")
    login = api.post("/auth/login", json={"login": user["login"], "password": "short"})
    assert login.status_code == 401
    assert _counts(api, office.admin, *resources) == before


@pytest.mark.parametrize(
    "content",
    [b'{"name": "broken"', b"{'name': 'single quotes'}", b"name: yaml", b"\xff\xfe"],
    ids=["truncated", "single-quotes", "yaml", "not-utf8"],
)
def test_malformed_json_is_refused(api: Api, office: Office, content: bytes) -> None:
    before = api.count("tags", office.admin)

    response = api.post(
        "/tags", office.admin, content=content, headers={"Content-Type": "application/json"}
    )

    body = _error(response, 422, "validation_failed")
    # A syntax error is about the body, not about a field named after the character offset.
    assert [(e["field"], e["error_id"]) for e in body["errors"]] == [("(body)", "json_invalid")]
    assert "not valid JSON" in body["errors"][0]["rule"]
    assert "at character" in body["errors"][0]["rule"]
    assert api.count("tags", office.admin) == before


def test_a_body_that_is_not_an_object_is_refused(api: Api, office: Office) -> None:
    for content in ([{"name": "in a list"}], "just a string", None):
        response = api.post("/tags", office.admin, json=content)
        _error(response, 422, "validation_failed")
    missing = _error(api.post("/tags", office.admin), 422, "validation_failed")
    assert missing["errors"]


def test_a_virtual_number_belongs_to_one_account_only(api: Api, office: Office) -> None:
    number = rich.virtual_number(unique())
    _, other = api.new_account(f"Numbers {unique()}")
    mine = api.create("numbers", office.admin, {"number": number, "name": "mine"})

    taken = api.post("/numbers", other, json={"number": number, "name": "theirs"})

    body = _error(taken, 409, "conflict")
    assert _field(body, "number")["error_id"] == "conflict"
    assert number in body["message"]
    assert "mine" not in taken.text  # the conflict does not show the other account's entity
    assert api.count("numbers", other) == 0
    # Nor may a number be changed into a taken one, in the same account or another.
    second = api.create("numbers", other, {"number": rich.virtual_number(unique())})
    changed = api.patch(f"/numbers/{second['id']}", other, json={"number": number})
    _error(changed, 409, "conflict")
    again = api.post("/numbers", office.admin, json={"number": "+7 " + number[1:]})
    _error(again, 409, "conflict")
    assert api.ok(api.get(f"/numbers/{mine['id']}", office.admin))["number"] == number


def test_a_write_is_visible_as_soon_as_it_is_answered(api: Api, office: Office) -> None:
    # The request's transaction commits before the answer: the next request sees the write.
    for index in range(20):
        tag = api.create("tags", office.admin, {"name": f"visible {index} {unique()}"})
        assert api.get(f"/tags/{tag['id']}", office.admin).status_code == 200
        if index % 4 == 0:
            api.ok(api.delete(f"/tags/{tag['id']}", office.admin), 204)
            assert api.get(f"/tags/{tag['id']}", office.admin).status_code == 404


def test_a_trunk_password_is_stored_and_never_shown(api: Api, office: Office) -> None:
    trunk = {
        "name": "Provider",
        "host": "sip.example.net",
        "username": "acct",
        "password": "s3cret-trunk",
        "registration": True,
    }

    created = api.post("/trunks", office.admin, json=trunk)

    shown = api.ok(created, 201)
    assert "password" not in shown
    assert "s3cret-trunk" not in created.text
    assert "s3cret-trunk" not in api.get(f"/trunks/{shown['id']}", office.admin).text
    api.ok(api.patch(f"/trunks/{shown['id']}", office.admin, json={"name": "Provider 2"}))
    with api.db.connect() as conn:
        query = sa.select(t.trunks.c.password).where(t.trunks.c.id == shown["id"])
        stored = conn.execute(query).scalar_one()
    # A PATCH of another field keeps the password (the registration needs it).
    assert stored == "s3cret-trunk"


def test_ids_out_of_the_bigint_range_are_refused_on_every_route(api: Api, office: Office) -> None:
    huge = str(2**63)  # one more than the largest BIGINT id
    routes = [
        (method.upper(), path)
        for path, item in api.openapi()["paths"].items()
        if "{" in path
        for method in ("get", "put", "patch", "delete")
        if method in item
    ]
    problems = []
    for method, path in routes:
        url = api.base_url + re.sub(r"\{[a-z_]+\}", huge, path)
        response = api.client.request(method, url, headers=api.headers(office.admin), json={})
        if response.status_code != 422 or response.json()["error_id"] != "validation_failed":
            problems.append(f"{method} {path}: {response.status_code} {response.text[:200]}")

    assert problems == []
    assert len(routes) > 50
    # The operator's account header and the paging offset have the same bound.
    header = api.get("/tags", api.operator_token, headers={"X-Account-Id": huge})
    assert _field(_error(header, 422, "validation_failed"), "header.x-account-id")
    offset = api.get("/tags", office.admin, params={"offset": huge})
    assert _field(_error(offset, 422, "validation_failed"), "offset")


def test_the_operator_acting_in_a_missing_account_gets_404(api: Api) -> None:
    missing = 987_654_321
    for method, path, body in (
        ("GET", "/employees", None),
        ("POST", "/tags", {"name": "nowhere"}),
        ("GET", "/account", None),
        ("GET", "/config", None),
    ):
        response = api.request(method, path, api.operator_token, account_id=missing, json=body)
        assert str(missing) in _error(response, 404, "not_found")["message"]


def _once(api: Api, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
    """A request on a connection of its own: a 500 (a bug) closes the connection it came on."""
    with httpx.Client(timeout=30) as client:
        return client.request(method, api.api_url + path, headers=api.headers(token), **kw)


def test_a_login_with_a_nul_character_is_malformed_on_every_backend(api: Api) -> None:
    for credentials in ({"login": "adm\x00in", "password": "password-1"}, {"login": "admin"}):
        response = _once(api, "POST", "/auth/login", None, json=credentials)
        assert response.status_code == 422, api.explain(response)
        _error(response, 422, "validation_failed")


def test_a_nul_character_in_a_text_field_is_refused_on_every_backend(
    api: Api, office: Office
) -> None:
    # PostgreSQL text cannot hold U+0000: refused as invalid input (422), not a 500 there and
    # a stored value on SQLite.
    before = api.count("tags", office.admin)

    response = _once(api, "POST", "/tags", office.admin, json={"name": "nul\x00tag"})

    assert response.status_code == 422, api.explain(response)
    assert _field(response.json(), "name")
    assert api.count("tags", office.admin) == before


def test_a_list_filter_beyond_bigint_is_refused(api: Api, office: Office) -> None:
    response = _once(api, "GET", "/tags", office.admin, params={"id": str(2**63)})

    assert response.status_code == 422, api.explain(response)
    assert _field(response.json(), "id")
