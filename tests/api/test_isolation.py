"""ACC-1: an account never sees, changes or references another account's data.

Accounts A and B are both seeded with every resource. The set of routes is taken from the served
OpenAPI document, so a route added later is either covered here or fails the coverage assertion.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import wave
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.api import rich
from tests.api.conftest import Api, unique
from vpbx.api.app import PREFIX
from vpbx.domain.actor import Role
from vpbx.domain.refs import iter_refs
from vpbx.services.audit import REVEALABLE
from vpbx.services.catalog import BY_NAME
from vpbx.storage import tables as t

METHODS = ("get", "put", "patch", "delete", "post")
MISSING_ID = 987_654_321


@dataclass
class Tenant:
    account_id: int
    token: str
    ids: dict[str, int]
    mark: str
    #: strings only this account's data contains (names, numbers, SIP credentials)
    secrets: list[str]
    #: GET of every seeded entity as this account, taken right after seeding
    snapshot: dict[str, Any]


def _snapshot(api: Api, token: str, ids: dict[str, int]) -> dict[str, Any]:
    shot = {name: api.ok(api.get(f"/{name}/{entity_id}", token)) for name, entity_id in ids.items()}
    shot["calls/details"] = api.ok(api.get(f"/calls/{ids['calls']}/details", token))
    shot["account"] = api.ok(api.get("/account", token))
    return shot


def _tenant(api: Api, name: str) -> Tenant:
    mark = f"{name.lower()}{secrets.token_hex(4)}"
    account_id, token = api.new_account(f"{name} {mark}")
    ids = api.seed_rich(token, mark)
    shot = _snapshot(api, token, ids)
    private = [
        mark,
        shot["numbers"]["number"],
        shot["fmc-lines"]["number"],
        shot["sip-lines"]["login"],
        # Masked in every answer: the secret itself comes from the admin's reveal.
        api.ok(api.post(f"/sip-lines/{ids['sip-lines']}/reveal-secret", token))["secrets"][
            "password"
        ],
        shot["users"]["login"],
    ]
    return Tenant(account_id, token, ids, mark, private, shot)


@pytest.fixture(scope="module")
def tenants(api: Api) -> tuple[Tenant, Tenant]:
    return _tenant(api, "Alpha"), _tenant(api, "Bravo")


def _leaks(response: httpx.Response, owner: Tenant) -> list[str]:
    return [s for s in owner.secrets if s in response.text]


def _routes(api: Api) -> list[tuple[str, str]]:
    paths = api.openapi()["paths"]
    return [(m, p) for p, item in paths.items() for m in METHODS if m in item]


def _wav() -> bytes:
    """A tenth of a second of silence: a valid audio upload."""
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\0\0" * 800)
    return out.getvalue()


#: Valid bodies of the writes below one entity: {(method, route): request arguments}.
SUB_WRITES: dict[tuple[str, str], dict[str, Any]] = {
    **{("post", f"/{name}/{{entity_id}}/reveal-secret"): {} for name in REVEALABLE},
    ("post", "/sip-lines/{entity_id}/regenerate-secret"): {},
    ("put", "/files/{entity_id}/content"): {
        "content": _wav(),
        "headers": {"Content-Type": "audio/wav"},
    },
    # TAG-1: an empty list is valid for any call, so only the call's account can refuse it
    ("put", "/calls/{call_id}/tags"): {"json": {"tag_ids": []}},
    # FILE-1: a short-lived link to one file's audio is only handed out for the account's files
    ("post", "/files/{entity_id}/link"): {},
}


def _id_route(method: str, path: str) -> tuple[str, str] | None:
    """(kind, resource) of a route with an id parameter this test knows how to call.

    kind: "entity" (/{resource}/{entity_id}, every method), "sub" (a route below one entity,
    like /calls/{call_id}/details: reads and deletes without a body, writes with the body from
    SUB_WRITES), "account" (/accounts/{account_id}).
    """
    rel = path.removeprefix(PREFIX)
    if rel == "/accounts/{account_id}":
        return "account", "accounts"
    if rel == "/config/versions/{version_id}" and method == "get":
        return "version", "config-versions"
    if rel == "/files/recordings-by-phone/{recording_id}" and method == "get":
        return "recording", "recordings-by-phone"  # FILE-1: a task of its own route
    found = re.fullmatch(r"/([a-z-]+)/\{[a-z_]+\}(/[a-z/-]+)?", rel)
    if found is None or found.group(1) not in BY_NAME:
        return None
    if found.group(2) is None:
        return "entity", found.group(1)
    if method in ("get", "delete") or (method, rel) in SUB_WRITES:
        return "sub", found.group(1)
    return None


def _call(
    api: Api,
    method: str,
    path: str,
    kind: str,
    resource: str,
    target_id: int,
    caller: Tenant,
    as_operator: bool,
) -> httpx.Response:
    url = re.sub(r"\{[a-z_]+\}", str(target_id), path.removeprefix(PREFIX))
    auth: dict[str, Any] = (
        {"token": api.operator_token, "account_id": caller.account_id}
        if as_operator
        else {"token": caller.token}
    )
    kwargs: dict[str, Any] = dict(SUB_WRITES.get((method, path.removeprefix(PREFIX)), {}))
    if kind == "entity" and method in ("put", "patch"):
        body = rich.build(resource, caller.ids, caller.mark, unique())
        kwargs["json"] = body if method == "put" else rich.patch_of(resource, body)
    if method == "delete" and kind == "entity":
        kwargs["params"] = {"confirm": "true"}
    return api.request(method.upper(), url, **auth, **kwargs)


def _versions_of(api: Api, account_id: int) -> set[int]:
    with api.db.connect() as conn:
        query = sa.select(t.config_versions.c.id).where(
            t.config_versions.c.account_id == account_id
        )
        return set(conn.execute(query).scalars())


def _expected_for_admin(method: str, kind: str, resource: str) -> int:
    if kind == "account":
        return 403  # only the operator deletes accounts, whatever the id
    if kind in ("version", "recording"):
        return 404
    creators = BY_NAME[resource].creatable_by
    if kind == "entity" and method == "delete" and creators and Role.ADMIN not in creators:
        return 403  # fmc-lines: only the operator deletes them, whatever the id
    return 404


def _same_error(leaked: httpx.Response, missing: httpx.Response, target_id: int) -> bool:
    """The answer for another account's id is the answer for an id that does not exist."""
    text = leaked.text.replace(str(target_id), "ID")
    return text == missing.text.replace(str(MISSING_ID), "ID")


def test_every_id_route_answers_404_with_another_accounts_ids(
    api: Api, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    routes = [(m, p) for m, p in _routes(api) if "{" in p]
    # A stored configuration version of A (what an import leaves), written directly: an import
    # would give A's entities new ids.
    version = api.insert(
        t.config_versions,
        {"account_id": a.account_id, "created_at": dt.datetime.now(dt.UTC), "source": "import",
         "document": f"vpbx_config: 1\naccount: {{name: {a.mark}}}\n"},
    )  # fmt: skip
    # A sound file A asked to record by phone (its name carries A's mark).
    recording = api.post(
        "/files/recordings-by-phone",
        a.token,
        json={"name": a.mark, "employee_id": a.ids["employees"]},
    )
    covered: list[tuple[str, str]] = []
    problems: list[str] = []
    for method, path in routes:
        if (method, path) == ("get", f"{PREFIX}/calendar/{{year}}"):
            # a year, not an id: the national production calendar, the same for every account
            if api.ok(api.get("/calendar/2025", b.token)) != api.ok(
                api.get("/calendar/2025", a.token)
            ):
                problems.append(f"GET {path}: another account sees another calendar")
            covered.append((method, path))
            continue
        if (method, path) == ("post", f"{PREFIX}/live/calls/{{call_id}}/supervise"):
            # TRN-1: a live call's id is the switch's, and the switch is asked for the asker's
            # own account only (tests/api/test_live.py, tests/switch/test_supervise_live.py);
            # this API has no switch: B is refused without a word of A
            response = api.post(
                path.removeprefix(PREFIX).replace("{call_id}", "0123abcd"),
                b.token,
                json={"mode": "listen"},
            )
            if response.status_code == 202 or _leaks(response, a):
                problems.append(f"POST {path} as B: {response.status_code} {response.text}")
            covered.append((method, path))
            continue
        known = _id_route(method, path)
        if known is None:
            problems.append(f"{method.upper()} {path}: not known to this test; cover it")
            continue
        kind, resource = known
        ids = {
            "account": a.account_id,
            "version": version,
            "recording": api.ok(recording, 202)["id"],
        }
        target = ids.get(kind) or a.ids[resource]
        callers = [(False, _expected_for_admin(method, kind, resource))]
        if kind != "account":  # the operator is installation-wide: he may delete account A
            callers.append((True, 404))
        for as_operator, expected in callers:
            who = "operator in B" if as_operator else "B's admin"
            response = _call(api, method, path, kind, resource, target, b, as_operator)
            if response.status_code != expected:
                problems.append(
                    f"{method.upper()} {path} as {who}: {response.status_code} (expected "
                    f"{expected}) {response.text[:300]}"
                )
            if leaks := _leaks(response, a):
                problems.append(f"{method.upper()} {path} as {who} shows A's {leaks}")
            if expected == 404 and not as_operator:
                missing = _call(api, method, path, kind, resource, MISSING_ID, b, as_operator)
                if not _same_error(response, missing, target):
                    problems.append(
                        f"{method.upper()} {path} as {who}: A's id answers {response.text!r}, "
                        f"a missing id {missing.text!r}"
                    )
        covered.append((method, path))

    assert problems == []
    assert len(covered) == len(routes)
    # Every resource's item routes and the call details are among them (the document is complete).
    assert {p for _, p in covered} >= {f"{PREFIX}/{name}/{{entity_id}}" for name in BY_NAME}
    # Nothing of A was changed or deleted by B's attempts.
    assert _snapshot(api, a.token, a.ids) == a.snapshot


def test_lists_show_none_of_another_accounts_rows(api: Api, tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    routes = [p for m, p in _routes(api) if m == "get" and "{" not in p]
    covered = []
    problems: list[str] = []
    for path in routes:
        rel = path.removeprefix(PREFIX)
        name = rel.lstrip("/")
        if name in BY_NAME:
            page = api.get(rel, b.token, params={"limit": 1000})
            items = api.ok(page)["items"]
            ids = {item["id"] for item in items}
            if a.ids[name] in ids or b.ids[name] not in ids:
                problems.append(f"GET {path}: ids {sorted(ids)}; A has {a.ids[name]}")
            # Filtering by A's id finds nothing; the account column cannot be filtered on.
            by_id = api.get(rel, b.token, params={"id": a.ids[name]})
            if api.ok(by_id)["total"] != 0 or by_id.json()["items"]:
                problems.append(f"GET {path}?id={a.ids[name]} as B: {by_id.text}")
            by_account = api.get(rel, b.token, params={"account_id": a.account_id})
            if by_account.status_code != 422:
                problems.append(f"GET {path}?account_id=A as B: {by_account.status_code}")
            responses = [page, by_id, by_account]
        elif rel == "/account":
            response = api.get(rel, b.token)
            if api.ok(response)["id"] != b.account_id:
                problems.append(f"GET {path} as B: {response.text}")
            responses = [response]
        elif rel == "/accounts":
            response = api.get(rel, b.token)
            if response.status_code != 403:
                problems.append(f"GET {path} as B's admin: {response.status_code}")
            responses = [response]
        elif rel == "/config":
            response = api.get(rel, b.token)
            if response.status_code != 200 or b.mark not in response.text:
                problems.append(f"GET {path} as B: {response.status_code} {response.text[:300]}")
            responses = [response]
        elif rel == "/config/versions":
            # A's stored version (written by the other test or an import) is never listed to B.
            response = api.get(rel, b.token)
            if response.status_code != 200 or any(
                v["id"] in _versions_of(api, a.account_id) for v in response.json()
            ):
                problems.append(f"GET {path} as B: {response.status_code} {response.text[:300]}")
            responses = [response]
        elif rel == "/calls/export.csv":
            # B's own call is exported (its contact name carries B's mark), none of A's.
            response = api.get(rel, b.token)
            if response.status_code != 200 or b.mark not in response.text:
                problems.append(f"GET {path} as B: {response.status_code} {response.text[:300]}")
            responses = [response]
        elif rel == "/dashboards":
            # B's own call and its employee are counted, none of A's; A's number as a filter
            # counts nothing (as in the report)
            now = dt.datetime.now(dt.UTC)
            period = {
                "from": (now - dt.timedelta(hours=12)).isoformat(),
                "to": (now + dt.timedelta(hours=12)).isoformat(),
            }
            response = api.get(rel, b.token, params=period)
            if response.status_code != 200 or b.mark not in response.text:
                problems.append(f"GET {path} as B: {response.status_code} {response.text[:300]}")
            elif response.json()["totals"]["total"] != 1:
                problems.append(f"GET {path} as B counts {response.json()['totals']}")
            by_number = api.get(rel, b.token, params=period | {"number_id": a.ids["numbers"]})
            if by_number.status_code != 200 or by_number.json()["totals"]["total"] != 0:
                problems.append(f"GET {path}?number_id=A as B: {by_number.text[:300]}")
            responses = [response, by_number]
        elif rel == "/audit":
            # B's own changes are there (their documents carry B's mark), none of A's.
            response = api.get(rel, b.token, params={"limit": 1000})
            if response.status_code != 200 or b.mark not in response.text:
                problems.append(f"GET {path} as B: {response.status_code} {response.text[:300]}")
            responses = [response]
        elif rel == "/health":
            responses = [api.get(rel)]
        elif rel == "/auth/me":
            # the signed-in user himself: B's admin is in B
            response = api.get(rel, b.token)
            if api.ok(response)["account_id"] != b.account_id:
                problems.append(f"GET {path} as B: {response.text}")
            responses = [response]
        elif rel == "/live/events":
            # CDR-4: this API has no switch (one `unavailable` event); the feed's isolation with
            # a real one is in tests/api/test_live.py (A's calls never reach B's stream)
            response = api.get(rel, b.token)
            if response.status_code != 200 or "event: unavailable" not in response.text:
                problems.append(f"GET {path} as B without a switch: {response.text[:300]}")
            responses = [response]
        elif rel == "/sip-server":
            # where phones register: the installation's, the same for every account
            response = api.get(rel, b.token)
            if response.status_code != 200 or response.json() != api.ok(api.get(rel, a.token)):
                problems.append(f"GET {path} as B: {response.status_code} {response.text}")
            responses = [response]
        else:
            problems.append(f"GET {path}: not known to this test; cover it")
            continue
        for response in responses:
            if leaks := _leaks(response, a):
                problems.append(f"GET {path} as B shows A's {leaks}")
        covered.append(path)

    assert problems == []
    assert len(covered) == len(routes)


def test_an_admin_cannot_choose_another_account_by_header(
    api: Api, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants

    # X-Account-Id is for the operator only; a cabinet user's own account always wins.
    response = api.get(f"/employees/{a.ids['employees']}", b.token, account_id=a.account_id)
    assert response.status_code == 404
    listed = api.ok(api.get("/employees", b.token, account_id=a.account_id))
    assert [e["id"] for e in listed["items"]] == [b.ids["employees"]]
    assert api.ok(api.get("/account", b.token, account_id=a.account_id))["id"] == b.account_id
    created = api.post("/tags", b.token, account_id=a.account_id, json={"name": "by header"})
    assert api.ok(created, 201)
    assert "by header" not in str(api.ok(api.get("/tags", a.token))["items"])
    assert "by header" in str(api.ok(api.get("/tags", b.token))["items"])


def _ref_paths(resource: str, body: dict[str, Any]) -> set[str]:
    return {ref.path for ref in iter_refs(BY_NAME[resource].doc.model_validate(body))}


def _post(api: Api, resource: str, caller: Tenant, body: dict[str, Any]) -> httpx.Response:
    if resource in rich.OPERATOR_CREATES:
        return api.post(f"/{resource}", api.operator_token, account_id=caller.account_id, json=body)
    return api.post(f"/{resource}", caller.token, json=body)


def _fields(response: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["error_id"] for e in response.json()["errors"]}


def test_bodies_cannot_reference_another_accounts_ids(
    api: Api, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    checked: list[str] = []
    problems: list[str] = []
    for resource in rich.ORDER:
        # B's own body, but every reference points at A's entities.
        body = rich.build(resource, a.ids, b.mark, unique())
        expected = _ref_paths(resource, body)
        if not expected:
            continue
        before = api.count(resource, b.token)
        for method, response in (
            ("POST", _post(api, resource, b, body)),
            ("PUT", api.put(f"/{resource}/{b.ids[resource]}", b.token, json=body)),
        ):
            if response.status_code != 422:
                problems.append(f"{method} {resource}: {response.status_code} {response.text}")
                continue
            fields = _fields(response)
            if fields != dict.fromkeys(expected, "unknown_reference"):
                problems.append(f"{method} {resource}: errors {fields}, expected {expected}")
            if leaks := _leaks(response, a):
                problems.append(f"{method} {resource} shows A's {leaks}")
        if api.count(resource, b.token) != before:
            problems.append(f"{resource}: a refused POST left a row behind")
        checked.append(resource)

    assert problems == []
    # Every resource that holds references was tried (and B's data is as it was).
    assert set(checked) == {
        r for r in rich.ORDER if _ref_paths(r, rich.build(r, a.ids, "", unique()))
    }
    assert len(checked) >= 10
    assert _snapshot(api, b.token, b.ids) == b.snapshot


def test_group_members_and_phone_lines_of_another_account_are_refused(
    api: Api, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    group = {"name": "stolen members", "member_ids": [a.ids["employees"]]}

    created = api.post("/groups", b.token, json=group)
    assert created.status_code == 422, created.text
    assert _fields(created) == {"member_ids.0": "unknown_reference"}
    patched = api.patch(
        f"/groups/{b.ids['groups']}", b.token, json={"member_ids": [a.ids["employees"]]}
    )
    assert patched.status_code == 422, patched.text
    assert _fields(patched) == {"member_ids.0": "unknown_reference"}

    sip_line = a.snapshot["employees"]["phones"][0]["sip_line_id"]
    employee = {
        "last_name": "Thief",
        "phones": [
            {"kind": "sip", "sip_line_id": sip_line},
            {"kind": "fmc", "fmc_line_id": a.ids["fmc-lines"]},
        ],
        "trainer_id": a.ids["employees"],
    }
    response = api.post("/employees", b.token, json=employee)
    assert response.status_code == 422, response.text
    assert _fields(response) == dict.fromkeys(
        ("phones.0.sip_line_id", "phones.1.fmc_line_id", "trainer_id"), "unknown_reference"
    )
    user = {"login": f"thief{unique()}", "password": "password-1", "role": "employee"}
    response = api.post("/users", b.token, json=user | {"employee_id": a.ids["employees"]})
    assert response.status_code == 422, response.text
    assert _fields(response) == {"employee_id": "unknown_reference"}
    assert api.ok(api.get(f"/groups/{b.ids['groups']}", b.token)) == b.snapshot["groups"]
