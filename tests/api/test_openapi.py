"""The served OpenAPI document is valid and describes every resource; the health check answers."""

from __future__ import annotations

from tests.api.conftest import Api, spec_check
from vpbx.api.app import PREFIX
from vpbx.services.catalog import CATALOG


def test_served_openapi_document_is_valid(api: Api) -> None:
    spec = api.openapi()

    # openapi-spec-validator, in a process of its own started with the server (see SpecCheck).
    status, errors = spec_check(spec).result()

    assert status == 0, errors
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"]


def test_every_catalogue_resource_has_its_paths(api: Api) -> None:
    paths = api.openapi()["paths"]

    for res in CATALOG:
        collection = paths.get(f"{PREFIX}/{res.name}")
        item = paths.get(f"{PREFIX}/{res.name}/{{entity_id}}")
        assert collection is not None, f"{res.name}: no list path"
        assert item is not None, f"{res.name}: no item path"
        writable = res.api_writable
        # POST /calls is CallAPI's (API-1: start a call), not the creation of a report row
        expected_post = writable or res.name == "calls"
        assert ("post" in collection) is expected_post, res.name
        assert "get" in collection, res.name
        assert {"get", "delete"} <= set(item), res.name
        assert ("put" in item) is writable, res.name
        assert ("patch" in item) is writable, res.name
        # Every operation documents the common error body.
        for operation in (*collection.values(), *item.values()):
            assert "ErrorBody" in str(operation["responses"].get("404", {})), res.name


def test_account_level_paths_are_documented(api: Api) -> None:
    paths = api.openapi()["paths"]

    expected = {
        "/auth/login": {"post"},
        "/account": {"get", "put"},
        "/accounts": {"get", "post"},
        "/accounts/{account_id}": {"delete"},
        "/calls/{call_id}/details": {"get"},
        "/config": {"get", "put"},
        "/health": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths.get(PREFIX + path, {})), path


def test_health(api: Api) -> None:
    response = api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"sqlite": "sqlite", "postgres": "postgresql"}[api.kind]
    assert body["version"]
