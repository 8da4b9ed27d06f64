"""Request bodies are limited (413 without reading them whole) and a URL the server will fetch
may not name an inside address (issue 11). On 5a8b3ed every body was read into memory (4 ×
100 MB posts: +430 MB RSS) and a loopback or metadata URL was saved and then requested."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import Api

MB = 1_048_576


@pytest.fixture(scope="module")
def admin(api: Api) -> str:
    _account, token = api.new_account("Limits")
    return token


def _too_large(api: Api, response: Any) -> None:
    assert response.status_code == 413, api.explain(response)
    assert response.json()["error_id"] == "request.too_large"
    assert "МБ" in response.json()["message"]


def test_a_body_over_the_default_limit_is_413(api: Api, admin: str) -> None:
    body = b'{"name": "' + b"x" * (2 * MB) + b'"}'
    headers = {"Content-Type": "application/json"}
    _too_large(api, api.post("/tags", admin, content=body, headers=headers))


def test_a_chunked_body_is_counted_as_it_arrives(api: Api, admin: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    headers = {"Content-Type": "application/json"}
    _too_large(api, api.post("/tags", admin, content=chunks(), headers=headers))


def test_the_config_import_has_a_larger_limit(api: Api, admin: str) -> None:
    # 2 MB of YAML (mostly a comment) passes where the default limit would refuse it.
    text = "# " + "x" * (2 * MB) + "\nvpbx_config: 1\ntags:\n  - {id: 1, name: big import}\n"
    response = api.put("/config", admin, content=text, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 200, api.explain(response)
    assert response.json()["sections"]["tags"]["created"] == [1]


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    api: Api, admin: str
) -> None:
    """Content-Length says 100 MB and nothing follows the headers: the 413 comes at once."""
    host, port = api.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        request = (
            f"PUT /api/v1/config HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {admin}\r\nContent-Type: application/yaml\r\n"
            f"Content-Length: {100 * MB}\r\n\r\n"
        )
        started = time.monotonic()
        sock.sendall(request.encode())
        answer = sock.recv(65536).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "request.too_large" in answer
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("resource", "body", "field"),
    [
        ("webhooks", {"url": "http://127.0.0.1:8080/hook", "events": ["call_ended"]}, "url"),
        ("webhooks", {"url": "http://[::1]/hook", "events": ["call_ended"]}, "url"),
        ("webhooks", {"url": "http://localhost/hook", "events": ["call_ended"]}, "url"),
        (
            "scenarios",
            {
                "name": "ssrf",
                "operations": [
                    {"key": "crm", "kind": "interactive",
                     "url": "http://169.254.169.254/latest/meta-data/"}
                ],
            },
            "operations.0.url",
        ),
        (
            "scenarios",
            {
                "name": "ssrf",
                "operations": [
                    {"key": "crm", "kind": "interactive", "url": "http://10.0.0.5/crm"}
                ],
            },
            "operations.0.url",
        ),
    ],
)  # fmt: skip
def test_a_saved_url_naming_an_inside_address_is_a_422(
    api: Api, admin: str, resource: str, body: dict[str, Any], field: str
) -> None:
    response = api.post(f"/{resource}", admin, json=body)
    assert response.status_code == 422, api.explain(response)
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field], errors
    assert "VPBX_HTTP_ALLOW_NETWORKS" in errors[0]["rule"]


def test_a_public_url_is_saved(api: Api, admin: str) -> None:
    body = {"url": "https://crm.example.com/hook", "events": ["call_ended"]}
    api.ok(api.post("/webhooks", admin, json=body), 201)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/ivx", "http://[::1]/ivx", "http://169.254.169.254/"]
)
def test_the_simulation_refuses_an_inside_crm_url(api: Api, admin: str, url: str) -> None:
    body = {"number": "74950000001", "caller": "79161234567", "crm_url": url}
    response = api.post("/simulate", admin, json=body)
    assert response.status_code == 422, api.explain(response)
    assert response.json()["errors"][0]["field"] == "crm_url"
