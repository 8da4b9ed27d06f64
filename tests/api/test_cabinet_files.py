"""The API serves the built cabinet at / (the SPA's routes fall back to index.html), leaves /api
alone, says clearly when the cabinet is not built; /auth/me and /sip-server for its screens."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Api
from vpbx.api.app import create_api
from vpbx.api.cabinet import CabinetSettings, SipServer
from vpbx.storage.db import make_async_engine

SIP = SipServer(host="pbx.example.test", port=5062, tls_port=5063, realm="office")


def _client(web_dir: Path | None) -> httpx.AsyncClient:
    engine = make_async_engine("sqlite:///:memory:")
    app = create_api(
        engine,
        lambda: dt.datetime.now(dt.UTC),
        cabinet=CabinetSettings(web_dir=web_dir, sip=SIP),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cabinet")


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>кабинет</html>", encoding="utf-8")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "assets" / "index-abc123.js.gz").write_bytes(gzip.compress(b"console.log(1)"))
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("not for the web")
    async with _client(tmp_path) as client:
        yield client


async def test_index_and_client_routes_answer_the_page(built: httpx.AsyncClient) -> None:
    for path in ("/", "/employees", "/employees/12/edit", "/login?next=%2Femployees"):
        response = await built.get(path)
        assert response.status_code == 200, path
        assert "кабинет" in response.text, path
        assert response.headers["cache-control"] == "no-cache", path


async def test_built_assets_are_served_and_cached_for_good(built: httpx.AsyncClient) -> None:
    asset = await built.get("/assets/index-abc123.js")
    icon = await built.get("/favicon.svg")

    assert asset.status_code == 200
    assert asset.text == "console.log(1)"
    assert "immutable" in asset.headers["cache-control"]
    assert asset.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert icon.status_code == 200
    assert icon.headers["cache-control"] == "no-cache"


async def test_assets_compressed_by_the_build_go_to_who_accepts_gzip(
    built: httpx.AsyncClient,
) -> None:
    packed = await built.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
    plain = await built.get("/assets/index-abc123.js", headers={"Accept-Encoding": "identity"})

    assert packed.headers["content-encoding"] == "gzip"
    assert packed.text == "console.log(1)"  # httpx decodes it
    assert packed.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "content-encoding" not in plain.headers
    assert plain.text == "console.log(1)"


async def test_a_missing_file_is_404_not_the_page(built: httpx.AsyncClient) -> None:
    for path in ("/assets/index-old.js", "/logo.png", "/../secret.txt", "/%2e%2e/secret.txt"):
        response = await built.get(path)
        assert response.status_code == 404, path
        assert "not for the web" not in response.text, path


async def test_api_paths_keep_their_json_answers(built: httpx.AsyncClient) -> None:
    unknown = await built.get("/api/v1/no-such-thing")
    wrong_method = await built.post("/api/v1/health")
    bare = await built.get("/api")
    post_page = await built.post("/employees")

    assert unknown.status_code == 404
    assert unknown.json()["error_id"] == "not_found"
    assert wrong_method.status_code == 405
    assert bare.status_code == 404
    assert bare.json()["error_id"] == "not_found"
    assert post_page.status_code in (404, 405)


async def test_without_a_build_the_page_says_how_to_build(tmp_path: Path) -> None:
    async with _client(tmp_path / "nothing-here") as client:
        response = await client.get("/employees")
        health_doc = await client.get("/api/v1/openapi.json")

    assert response.status_code == 503
    assert "Кабинет не собран" in response.text
    assert "make web" in response.text
    assert health_doc.status_code == 200


async def test_the_spa_is_not_in_the_openapi_document(built: httpx.AsyncClient) -> None:
    paths = (await built.get("/api/v1/openapi.json")).json()["paths"]

    assert [path for path in paths if not path.startswith("/api/v1/")] == ["/health"]
    assert "/api/v1/auth/me" in paths
    assert "/api/v1/sip-server" in paths


def test_me_names_the_role_and_ids(api: Api) -> None:
    account_id, admin = api.new_account("Кабинет")
    employee_id = api.create(
        "employees", admin, {"last_name": "Петров", "phones": [{"kind": "sip"}]}
    )["id"]
    employee = api.user(admin, "employee", employee_id)

    as_admin = api.ok(api.get("/auth/me", admin))
    as_employee = api.ok(api.get("/auth/me", employee))
    as_operator = api.ok(api.get("/auth/me", api.operator_token, account_id=account_id))

    assert as_admin["role"] == "admin"
    assert as_admin["account_id"] == account_id
    assert as_admin["employee_id"] is None
    assert as_employee == {
        "role": "employee",
        "account_id": account_id,
        "user_id": as_employee["user_id"],
        "employee_id": employee_id,
    }
    assert as_operator["role"] == "operator"
    assert as_operator["user_id"] is None
    assert api.get("/auth/me").status_code == 401


def test_sip_server_is_shown_to_every_signed_in_user(api: Api) -> None:
    _account_id, admin = api.new_account("Кабинет SIP")

    server = api.ok(api.get("/sip-server", admin))

    assert set(server) == {"host", "port", "tls_port", "realm"}
    assert isinstance(server["port"], int)
    assert api.get("/sip-server").status_code == 401
