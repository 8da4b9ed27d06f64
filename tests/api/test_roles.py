"""ACC-2: what each role may do, per resource; authentication answers 401 alike for every failure.

admin: everything in its account (but FMC lines are created and deleted by the operator only);
supervisor: reads the configuration, reports (calls) and recordings (files), writes nothing;
employee: only his own calls and files, no configuration; operator: accounts and FMC lines.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api import rich
from tests.api.conftest import Api, unique, utcnow
from vpbx.api.app import PREFIX
from vpbx.domain.actor import Role
from vpbx.domain.passwords import token_digest
from vpbx.services.catalog import CATALOG, Resource
from vpbx.storage import tables as t

WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Office:
    account_id: int
    admin: str
    supervisor: str
    employee: str
    ids: dict[str, int]
    mark: str
    #: the employee user's own employee id, and another employee's
    me: int
    other: int
    own_calls: set[int]
    own_files: set[int]
    others_calls: set[int]
    others_files: set[int]


@pytest.fixture(scope="module")
def office(api: Api) -> Office:
    mark = f"roles{unique()}"
    account_id, admin = api.new_account(f"Roles {mark}")
    ids = api.seed_rich(admin, mark)
    me = ids["employees"]
    other = api.create(
        "employees", admin, {"last_name": f"{mark} Petrova", "phones": [{"kind": "sip"}]}
    )["id"]
    now = utcnow()
    own_calls = {ids["calls"], api.insert(t.calls, rich.call_row(account_id, ids, mark, now, me))}
    others_calls = {
        api.insert(t.calls, rich.call_row(account_id, ids, mark, now, other)),
        api.insert(t.calls, rich.call_row(account_id, ids, mark, now, None)),
    }
    for call in (own_calls | others_calls) - {ids["calls"]}:  # seed_rich gave that one a step
        api.insert(t.call_steps, rich.call_step_row(call, mark, now))
    own_files = {api.insert(t.files, rich.file_row(account_id, mark, now, me, ids["calls"]))}
    others_files = {
        ids["files"],  # uploaded through the API: no employee
        api.insert(t.files, rich.file_row(account_id, mark, now, other, None)),
    }
    return Office(
        account_id=account_id,
        admin=admin,
        supervisor=api.user(admin, "supervisor"),
        employee=api.user(admin, "employee", employee_id=me),
        ids=ids,
        mark=mark,
        me=me,
        other=other,
        own_calls=own_calls,
        own_files=own_files,
        others_calls=others_calls,
        others_files=others_files,
    )


def _write(api: Api, method: str, res: Resource, office: Office, token: str) -> httpx.Response:
    """A well-formed write of `res` (so only the role can refuse it)."""
    entity = f"/{res.name}/{office.ids[res.name]}"
    if method == "DELETE":
        return api.delete(entity, token, params={"confirm": "true"})
    body = rich.build(res.name, office.ids, office.mark, unique())
    if method == "POST":
        return api.post(f"/{res.name}", token, json=body)
    if method == "PUT":
        return api.put(entity, token, json=body)
    return api.patch(entity, token, json=rich.patch_of(res.name, body))


def _writes(res: Resource) -> tuple[str, ...]:
    return WRITES if res.api_writable else ("DELETE",)


def _check(problems: list[str], what: str, response: httpx.Response, expected: int) -> None:
    if response.status_code != expected:
        problems.append(f"{what}: {response.status_code} (expected {expected}) {response.text}")
    elif expected == 403 and response.json()["error_id"] != "forbidden":
        problems.append(f"{what}: {response.text}")


def _state(api: Api, office: Office) -> dict[str, Any]:
    """Every seeded entity as the admin sees it, and the number of rows per resource."""
    return {
        res.name: (
            api.ok(api.get(f"/{res.name}/{office.ids[res.name]}", office.admin)),
            api.count(res.name, office.admin),
        )
        for res in CATALOG
    }


def test_supervisor_reads_the_configuration_and_writes_nothing(api: Api, office: Office) -> None:
    before = _state(api, office)
    problems: list[str] = []
    for res in CATALOG:
        readable = Role.SUPERVISOR in res.readable_by
        entity_id = office.ids[res.name]
        expected = 200 if readable else 403
        _check(problems, f"GET {res.name}", api.get(f"/{res.name}", office.supervisor), expected)
        got = api.get(f"/{res.name}/{entity_id}", office.supervisor)
        _check(problems, f"GET {res.name}/id", got, expected)
        if readable and got.status_code == 200 and got.json() != before[res.name][0]:
            problems.append(f"GET {res.name}/id: supervisor sees {got.text}")
        for method in _writes(res):
            response = _write(api, method, res, office, office.supervisor)
            _check(problems, f"{method} {res.name}", response, 403)

    assert problems == []
    # Users hold logins: they are for admins only; everything else of the account is readable.
    assert {r.name for r in CATALOG if Role.SUPERVISOR not in r.readable_by} == {"users"}
    assert _state(api, office) == before


def test_supervisor_cannot_change_account_settings_or_import_config(
    api: Api, office: Office
) -> None:
    account = api.ok(api.get("/account", office.supervisor))
    assert account["id"] == office.account_id

    changed = api.put("/account", office.supervisor, json={**_settings(account), "name": "x"})
    assert changed.status_code == 403, changed.text
    imported = api.put(
        "/config", office.supervisor, content="tags: []\n", headers={"Content-Type": "text/yaml"}
    )
    assert imported.status_code == 403, imported.text
    # The YAML export carries secrets (trunk passwords, users' password hashes): admins only.
    exported = api.get("/config", office.supervisor)
    assert exported.status_code == 403, exported.text
    assert api.ok(api.get("/account", office.admin))["name"] == account["name"]


def _settings(account: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in account.items() if k != "id"}


def test_employee_has_no_access_to_the_configuration(api: Api, office: Office) -> None:
    before = _state(api, office)
    problems: list[str] = []
    for res in CATALOG:
        if res.own_rows_column is not None:
            continue  # calls and files: his own rows, below
        entity_id = office.ids[res.name]
        _check(problems, f"GET {res.name}", api.get(f"/{res.name}", office.employee), 403)
        got = api.get(f"/{res.name}/{entity_id}", office.employee)
        _check(problems, f"GET {res.name}/id", got, 403)
        for method in _writes(res):
            response = _write(api, method, res, office, office.employee)
            _check(problems, f"{method} {res.name}", response, 403)
    for path in ("/config", "/accounts"):
        _check(problems, f"GET {path}", api.get(path, office.employee), 403)

    assert problems == []
    assert {r.name for r in CATALOG if Role.EMPLOYEE in r.readable_by} == {"calls", "files"}
    assert _state(api, office) == before


@pytest.mark.parametrize(
    ("resource", "own", "others"),
    [("calls", "own_calls", "others_calls"), ("files", "own_files", "others_files")],
)
def test_employee_sees_only_his_own_calls_and_files(
    api: Api, office: Office, resource: str, own: str, others: str
) -> None:
    mine: set[int] = getattr(office, own)
    theirs: set[int] = getattr(office, others)

    page = api.ok(api.get(f"/{resource}", office.employee, params={"limit": 1000}))
    assert {item["id"] for item in page["items"]} == mine
    assert page["total"] == len(mine)
    assert {item["employee_id"] for item in page["items"]} == {office.me}
    # Filters cannot widen the view.
    by_other = api.ok(
        api.get(f"/{resource}", office.employee, params={"employee_id": office.other})
    )
    assert by_other["items"] == []
    assert by_other["total"] == 0
    for entity_id in mine:
        assert api.ok(api.get(f"/{resource}/{entity_id}", office.employee))["id"] == entity_id
    for entity_id in theirs:
        response = api.get(f"/{resource}/{entity_id}", office.employee)
        assert response.status_code == 404, response.text
    # The admin and the supervisor see all of them.
    for token in (office.admin, office.supervisor):
        everything = api.ok(api.get(f"/{resource}", token, params={"limit": 1000}))
        assert {item["id"] for item in everything["items"]} >= mine | theirs
    # Reading is all the employee may do.
    for entity_id in mine:
        response = api.delete(f"/{resource}/{entity_id}", office.employee)
        assert response.status_code == 403, response.text
    assert api.count(resource, office.admin) == len(mine | theirs)


def test_employee_reads_details_of_his_own_calls_only(api: Api, office: Office) -> None:
    for call in office.own_calls:
        steps = api.ok(api.get(f"/calls/{call}/details", office.employee))
        assert [s["kind"] for s in steps] == ["answer"]
    for call in office.others_calls:
        response = api.get(f"/calls/{call}/details", office.employee)
        assert response.status_code == 404, response.text
        assert office.mark not in response.text


def test_admin_reads_and_changes_everything_of_his_account(api: Api, office: Office) -> None:
    for res in CATALOG:
        assert api.ok(api.get(f"/{res.name}", office.admin))["total"] >= 1, res.name
    tag = api.ok(api.post("/tags", office.admin, json={"name": f"admin tag {unique()}"}), 201)
    renamed = api.ok(api.patch(f"/tags/{tag['id']}", office.admin, json={"color": "#000000"}))
    assert renamed["color"] == "#000000"
    replaced = api.ok(api.put(f"/tags/{tag['id']}", office.admin, json={"name": "admin tag 2"}))
    assert replaced == {"id": tag["id"], "name": "admin tag 2", "color": "#888888"}
    api.ok(api.delete(f"/tags/{tag['id']}", office.admin), 204)
    assert api.get(f"/tags/{tag['id']}", office.admin).status_code == 404


def test_fmc_lines_are_created_and_deleted_by_the_operator_only(api: Api, office: Office) -> None:
    body = {"number": rich.fmc_number(unique())}
    count = api.count("fmc-lines", office.admin)

    created = api.post("/fmc-lines", office.admin, json=body)
    assert created.status_code == 403, created.text
    assert created.json()["error_id"] == "forbidden"
    assert api.count("fmc-lines", office.admin) == count

    line = api.ok(
        api.post("/fmc-lines", api.operator_token, account_id=office.account_id, json=body), 201
    )
    assert line["blocked"] is True  # FMC-1: a new line starts blocked
    # The admin unblocks it (and may change its other settings).
    unblocked = api.ok(api.patch(f"/fmc-lines/{line['id']}", office.admin, json={"blocked": False}))
    assert unblocked["blocked"] is False
    assert api.ok(api.get(f"/fmc-lines/{line['id']}", office.admin))["blocked"] is False

    for token in (office.admin, office.supervisor, office.employee):
        refused = api.delete(f"/fmc-lines/{line['id']}", token, params={"confirm": "true"})
        assert refused.status_code == 403, refused.text
    assert api.get(f"/fmc-lines/{line['id']}", office.admin).status_code == 200

    api.ok(
        api.delete(f"/fmc-lines/{line['id']}", api.operator_token, account_id=office.account_id),
        204,
    )
    assert api.get(f"/fmc-lines/{line['id']}", office.admin).status_code == 404


def test_only_the_operator_lists_creates_and_deletes_accounts(api: Api, office: Office) -> None:
    for token in (office.admin, office.supervisor, office.employee):
        listed = api.get("/accounts", token)
        assert listed.status_code == 403, listed.text
        created = api.post("/accounts", token, json={"name": "mine now"})
        assert created.status_code == 403, created.text
        deleted = api.delete(f"/accounts/{office.account_id}", token)
        assert deleted.status_code == 403, deleted.text

    accounts = api.ok(api.get("/accounts", api.operator_token))
    assert office.account_id in {a["id"] for a in accounts}
    assert "mine now" not in {a["name"] for a in accounts}
    spare = api.ok(api.post("/accounts", api.operator_token, json={"name": "spare"}), 201)
    assert spare["name"] == "spare"
    api.ok(api.delete(f"/accounts/{spare['id']}", api.operator_token), 204)
    remaining = {a["id"] for a in api.ok(api.get("/accounts", api.operator_token))}
    assert spare["id"] not in remaining
    assert office.account_id in remaining


def test_the_operator_must_choose_an_account(api: Api, office: Office) -> None:
    response = api.get("/employees", api.operator_token)
    assert response.status_code == 403, response.text
    chosen = api.ok(api.get("/employees", api.operator_token, account_id=office.account_id))
    assert office.me in {e["id"] for e in chosen["items"]}


def _protected_routes(api: Api) -> list[tuple[str, str, str]]:
    """(method, path with ids filled in, first tag) of every route but health and login."""
    # /auth/refresh takes its refresh token in the body: no bearer. /health at the root is the
    # load balancers' (vpbx.api.operations).
    public = {"/health", f"{PREFIX}/health", f"{PREFIX}/auth/login", f"{PREFIX}/auth/refresh"}
    routes = []
    for path, item in api.openapi()["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item and path not in public:
                url = re.sub(r"\{[a-z_]+\}", "1", path)
                routes.append((method.upper(), url, item[method].get("tags", [""])[0]))
    return routes


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer"],
    ids=["missing", "unknown", "basic", "bearer-without-token"],
)
def test_every_route_but_health_and_login_needs_a_valid_token(
    api: Api, authorization: str | None
) -> None:
    routes = _protected_routes(api)
    if authorization is not None:
        # Every route is swept without a token (so none can be left unprotected); a bad token is
        # refused by the same dependency on every route: one route per tag is enough for it.
        tags = {}
        for route in routes:
            tags.setdefault(route[2], route)
        routes = list(tags.values())
    problems = []
    for method, path, _tag in routes:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = api.client.request(method, api.base_url + path, headers=headers)
        body = response.json()
        if response.status_code != 401 or body["error_id"] != "unauthorized":
            problems.append(f"{method} {path}: {response.status_code} {response.text}")
        elif response.headers.get("www-authenticate") != "Bearer":
            problems.append(f"{method} {path}: no WWW-Authenticate: Bearer")

    assert problems == []
    assert len(routes) > (100 if authorization is None else 25)


def test_an_expired_token_is_refused(api: Api, office: Office) -> None:
    token = api.login(*_new_login(api, office))
    assert api.get("/account", token).status_code == 200
    past = utcnow() - dt.timedelta(seconds=1)
    with api.db.begin() as conn:
        conn.execute(
            t.api_tokens.update()
            .where(t.api_tokens.c.token_hash == token_digest(token))
            .values(expires_at=past)
        )

    response = api.get("/account", token)
    assert response.status_code == 401
    assert response.json()["error_id"] == "unauthorized"


def _new_login(api: Api, office: Office) -> tuple[str, str]:
    login, password = f"expiring{unique()}", "expiring-pass-1"
    api.ok(
        api.post(
            "/users", office.admin, json={"login": login, "password": password, "role": "admin"}
        ),
        201,
    )
    return login, password


def test_wrong_password_and_unknown_login_answer_alike(api: Api, office: Office) -> None:
    login, password = _new_login(api, office)

    wrong_password = api.post("/auth/login", json={"login": login, "password": password + "x"})
    unknown_login = api.post("/auth/login", json={"login": login + "x", "password": password})

    assert wrong_password.status_code == unknown_login.status_code == 401
    assert wrong_password.json() == unknown_login.json()
    assert wrong_password.json()["error_id"] == "bad_credentials"
    assert wrong_password.content == unknown_login.content
    assert api.login(login, password)
